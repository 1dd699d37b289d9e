// Reference semantics of the complex ops, on interleaved (re, im) pairs (keopscore's
// formulas/complex). A binary op broadcasts a single complex number (dim 2) against a vector.
#include <cmath>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"

namespace keops::ir::detail {
namespace {

struct Cplx {
  double re, im;
};

// Complex number k of argument `arg`, broadcasting a dim-2 argument.
Cplx at(const Node& n, const ArgValues& a, size_t arg, int k) {
  const double* p = n.args[arg]->dim == 2 ? a[arg] : a[arg] + 2 * k;
  return {p[0], p[1]};
}

void put(double* out, int k, Cplx z) {
  out[2 * k] = z.re;
  out[2 * k + 1] = z.im;
}

Cplx mult(Cplx f, Cplx g) { return {f.re * g.re - f.im * g.im, f.re * g.im + f.im * g.re}; }

// keopscore: ComplexMult(Real2Complex(Inv(ComplexSquareAbs(g))), ComplexMult(f, Conj(g))).
Cplx divide(Cplx f, Cplx g) {
  const Cplx num = mult(f, {g.re, -g.im});
  const double inv = 1.0 / (g.re * g.re + g.im * g.im);
  return {inv * num.re, inv * num.im};
}

Cplx binary(Op op, Cplx f, Cplx g) {
  switch (op) {
    case Op::ComplexAdd:
      return {f.re + g.re, f.im + g.im};
    case Op::ComplexSubtract:
      return {f.re - g.re, f.im - g.im};
    case Op::ComplexMult:
      return mult(f, g);
    case Op::ComplexDivide:
      return divide(f, g);
    default:
      KEOPS_CHECK(false, "not a binary complex op");
  }
  return {};
}

double square_abs(Cplx z) { return z.re * z.re + z.im * z.im; }

}  // namespace

void eval_complex(const Node& n, const ArgValues& a, double* out) {
  const int in_dim = n.args[0]->dim;
  const double* f = a[0];
  switch (n.op) {
    case Op::ComplexAdd:
    case Op::ComplexSubtract:
    case Op::ComplexMult:
    case Op::ComplexDivide:
      for (int k = 0; k < n.dim / 2; ++k) put(out, k, binary(n.op, at(n, a, 0, k), at(n, a, 1, k)));
      return;
    case Op::ComplexExp:
      for (int k = 0; k < in_dim / 2; ++k) {
        const double r = std::exp(f[2 * k]);
        put(out, k, {r * std::cos(f[2 * k + 1]), r * std::sin(f[2 * k + 1])});
      }
      return;
    case Op::Conj:
      for (int k = 0; k < in_dim / 2; ++k) put(out, k, {f[2 * k], -f[2 * k + 1]});
      return;
    case Op::ComplexReal:
      for (int k = 0; k < n.dim; ++k) out[k] = f[2 * k];
      return;
    case Op::ComplexImag:
      for (int k = 0; k < n.dim; ++k) out[k] = f[2 * k + 1];
      return;
    case Op::ComplexAbs:
      for (int k = 0; k < n.dim; ++k) out[k] = std::sqrt(square_abs({f[2 * k], f[2 * k + 1]}));
      return;
    case Op::ComplexSquareAbs:
      for (int k = 0; k < n.dim; ++k) out[k] = square_abs({f[2 * k], f[2 * k + 1]});
      return;
    case Op::ComplexAngle:  // Atan2(ComplexImag(f), ComplexReal(f))
      for (int k = 0; k < n.dim; ++k) out[k] = std::atan2(f[2 * k + 1], f[2 * k]);
      return;
    case Op::Real2Complex:
      for (int k = 0; k < in_dim; ++k) put(out, k, {f[k], 0.0});
      return;
    case Op::Imag2Complex:
      for (int k = 0; k < in_dim; ++k) put(out, k, {0.0, f[k]});
      return;
    case Op::ComplexExp1j:
      for (int k = 0; k < in_dim; ++k) put(out, k, {std::cos(f[k]), std::sin(f[k])});
      return;
    case Op::ComplexSum: {
      Cplx s{0, 0};
      for (int k = 0; k < in_dim / 2; ++k) s = {s.re + f[2 * k], s.im + f[2 * k + 1]};
      put(out, 0, s);
      return;
    }
    case Op::ComplexSumT:
      for (int k = 0; k < n.dim / 2; ++k) put(out, k, {f[0], f[1]});
      return;
    case Op::ComplexRealScal:
      for (int k = 0; k < n.dim; ++k) out[k] = f[0] * a[1][k];
      return;
    default:
      KEOPS_CHECK(false, "not a complex op");
  }
}

}  // namespace keops::ir::detail
