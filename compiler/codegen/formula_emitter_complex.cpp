// Emission of the complex ops on interleaved (re, im) pairs; a binary op broadcasts a single
// complex number (dim 2) against a vector (reference: evaluator_complex.cpp).
#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/codegen/math_extra.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;

namespace {

struct Cplx {
  Value* re;
  Value* im;
};

// Complex number k of v, broadcasting a single one.
Cplx complex_at(const Vals& v, size_t k) {
  return v.size() == 2 ? Cplx{v[0], v[1]} : Cplx{v[2 * k], v[2 * k + 1]};
}

// Components of one argument may differ in width (Concat of a parameter and a variable), so
// every operation combining two of them goes through Arith.

// The complex numbers f(k) for k < count, interleaved.
template <class F>
Vals interleaved(size_t count, F f) {
  Vals out;
  for (size_t k = 0; k < count; ++k) {
    const Cplx z = f(k);
    out.push_back(z.re);
    out.push_back(z.im);
  }
  return out;
}

// The reals f(k) for k < count.
template <class F>
Vals reals(size_t count, F f) {
  Vals out(count);
  for (size_t k = 0; k < count; ++k) out[k] = f(k);
  return out;
}

Cplx mult(Arith& a, Cplx f, Cplx g) {
  return {a.sub(a.mul(f.re, g.re), a.mul(f.im, g.im)), a.add(a.mul(f.re, g.im), a.mul(f.im, g.re))};
}

Value* square_abs(Arith& a, Cplx z) { return a.add(a.mul(z.re, z.re), a.mul(z.im, z.im)); }

// As keopscore: f * conj(g) scaled by 1 / |g|^2.
Cplx divide(Arith& a, Cplx f, Cplx g) {
  const Cplx num = mult(a, f, {g.re, a.b.CreateFNeg(g.im)});
  Value* inv = a.div(a.cst(g.re, 1.0), square_abs(a, g));
  return {a.mul(inv, num.re), a.mul(inv, num.im)};
}

}  // namespace

Vals emit_complex(Arith& a, ir::Expr e, const ArgVals& args) {
  llvm::IRBuilderBase& b = a.b;
  const Vals& f = *args[0];
  const size_t out_count = size_t(e->dim) / 2;  // complex outputs, for complex results
  auto binary = [&](auto&& op) {
    return interleaved(out_count,
                       [&](size_t k) { return op(complex_at(f, k), complex_at(*args[1], k)); });
  };
  auto each_input = [&](auto&& op) {  // op on each complex number of f
    return [&, op](size_t k) { return op(Cplx{f[2 * k], f[2 * k + 1]}); };
  };
  switch (e->op) {
    case Op::ComplexAdd:
      return binary([&](Cplx x, Cplx y) { return Cplx{a.add(x.re, y.re), a.add(x.im, y.im)}; });
    case Op::ComplexSubtract:
      return binary([&](Cplx x, Cplx y) { return Cplx{a.sub(x.re, y.re), a.sub(x.im, y.im)}; });
    case Op::ComplexMult:
      return binary([&](Cplx x, Cplx y) { return mult(a, x, y); });
    case Op::ComplexDivide:
      return binary([&](Cplx x, Cplx y) { return divide(a, x, y); });
    case Op::ComplexExp:  // exp(re) (cos(im), sin(im))
      return interleaved(out_count, each_input([&](Cplx z) {
                           Value* r = emit_exp(b, z.re);
                           return Cplx{a.mul(r, emit_cos(b, z.im)), a.mul(r, emit_sin(b, z.im))};
                         }));
    case Op::Conj:
      return interleaved(out_count, each_input([&](Cplx z) {
                           return Cplx{z.re, b.CreateFNeg(z.im)};
                         }));
    case Op::ComplexReal:
      return reals(size_t(e->dim), each_input([](Cplx z) { return z.re; }));
    case Op::ComplexImag:
      return reals(size_t(e->dim), each_input([](Cplx z) { return z.im; }));
    case Op::ComplexAbs:
      return reals(size_t(e->dim),
                   each_input([&](Cplx z) { return emit_sqrt(b, square_abs(a, z)); }));
    case Op::ComplexSquareAbs:
      return reals(size_t(e->dim), each_input([&](Cplx z) { return square_abs(a, z); }));
    case Op::ComplexAngle:
      return reals(size_t(e->dim), each_input([&](Cplx z) {
                     auto [im, re] = a.same(z.im, z.re);
                     return emit_atan2(b, im, re);
                   }));
    case Op::Real2Complex:
      return interleaved(f.size(), [&](size_t k) { return Cplx{f[k], a.cst(f[k], 0.0)}; });
    case Op::Imag2Complex:
      return interleaved(f.size(), [&](size_t k) { return Cplx{a.cst(f[k], 0.0), f[k]}; });
    case Op::ComplexExp1j:  // (cos f, sin f)
      return interleaved(f.size(), [&](size_t k) {
        return Cplx{emit_cos(b, f[k]), emit_sin(b, f[k])};
      });
    case Op::ComplexSum: {
      Cplx sum{f[0], f[1]};
      for (size_t k = 1; k < f.size() / 2; ++k)
        sum = {a.add(sum.re, f[2 * k]), a.add(sum.im, f[2 * k + 1])};
      return {sum.re, sum.im};
    }
    case Op::ComplexSumT:  // dim / 2 copies of f
      return interleaved(out_count, [&](size_t) { return Cplx{f[0], f[1]}; });
    case Op::ComplexRealScal:
      return reals(size_t(e->dim), [&](size_t k) { return a.mul(f[0], (*args[1])[k]); });
    default:
      KEOPS_CHECK(false, "not a complex op");
      return {};
  }
}

}  // namespace keops::codegen::detail
