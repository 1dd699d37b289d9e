// Derivative rules of the complex ops, as real maps on the interleaved (re, im) components.
// Multiplication by a complex w is the real matrix [[Re w, -Im w], [Im w, Re w]]; its
// transpose is multiplication by conj(w), so a holomorphic op with derivative w sends
// conj(w) * e to its argument.
#include "compiler/passes/autodiff_rules.h"
#include "compiler/support/check.h"

namespace keops::passes::detail {

void rule_complex(Step& s) {
  const Expr e = s.adjoint(), F = s.node();
  const Expr a = s.arg(0);
  const Expr b = F->args.size() > 1 ? s.arg(1) : nullptr;
  auto cmul = [&](Expr x, Expr y) { return s.make(Op::ComplexMult, {x, y}); };
  auto conj = [&](Expr x) { return s.make(Op::Conj, {x}); };
  // A single complex number broadcast against a vector gets the sum of the shares.
  auto fit = [&](Expr share, Expr arg) {
    return arg->dim == 2 && share->dim > 2 ? s.make(Op::ComplexSum, {share}) : share;
  };
  switch (F->op) {
    case Op::ComplexAdd:
      s.send(0, [&] { return fit(e, a); });
      s.send(1, [&] { return fit(e, b); });
      return;
    case Op::ComplexSubtract:
      s.send(0, [&] { return fit(e, a); });
      s.send(1, [&] { return s.neg(fit(e, b)); });
      return;
    case Op::ComplexMult:  // d(ab)/da = b, d(ab)/db = a
      s.send(0, [&] { return fit(cmul(conj(b), e), a); });
      s.send(1, [&] { return fit(cmul(conj(a), e), b); });
      return;
    case Op::ComplexDivide:  // d(a/b)/da = 1/b, d(a/b)/db = -F/b
      s.send(0, [&] { return fit(s.make(Op::ComplexDivide, {e, conj(b)}), a); });
      s.send(1, [&] {
        return s.neg(fit(s.make(Op::ComplexDivide, {cmul(e, conj(F)), conj(b)}), b));
      });
      return;
    case Op::ComplexExp:  // exp' = exp
      s.send(0, [&] { return cmul(conj(F), e); });
      return;
    case Op::Conj:  // diag(1, -1) per number: its own transpose
      s.send(0, [&] { return conj(e); });
      return;
    case Op::ComplexReal:
      s.send(0, [&] { return s.make(Op::Real2Complex, {e}); });
      return;
    case Op::ComplexImag:
      s.send(0, [&] { return s.make(Op::Imag2Complex, {e}); });
      return;
    case Op::Real2Complex:
      s.send(0, [&] { return s.make(Op::ComplexReal, {e}); });
      return;
    case Op::Imag2Complex:
      s.send(0, [&] { return s.make(Op::ComplexImag, {e}); });
      return;
    case Op::ComplexAbs:  // d|z| = (re, im)/|z|, 0 at 0 through Rsqrt
      s.send(0, [&] {
        const Expr scale = s.mul(e, s.make(Op::Rsqrt, {s.make(Op::ComplexSquareAbs, {a})}));
        return cmul(s.make(Op::Real2Complex, {scale}), a);
      });
      return;
    case Op::ComplexSquareAbs:  // d|z|^2 = 2 (re, im)
      s.send(0, [&] { return cmul(s.make(Op::Real2Complex, {s.mul(s.num(2), e)}), a); });
      return;
    case Op::ComplexAngle:  // d atan2(im, re) = (-im, re)/|z|^2 = i z/|z|^2
      s.send(0, [&] {
        const Expr scale = s.div(e, s.make(Op::ComplexSquareAbs, {a}));
        return cmul(s.make(Op::Imag2Complex, {scale}), a);
      });
      return;
    case Op::ComplexExp1j:  // d(cos a, sin a)/da = (-sin a, cos a) = Im(conj(F) e) paired
      s.send(0, [&] { return s.make(Op::ComplexImag, {cmul(conj(F), e)}); });
      return;
    case Op::ComplexSum:  // every number gets e
      s.send(0, [&] { return a->dim == 2 ? e : s.make(Op::ComplexSumT, {e}, {a->dim}); });
      return;
    case Op::ComplexSumT:
      s.send(0, [&] { return s.make(Op::ComplexSum, {e}); });
      return;
    case Op::ComplexRealScal:  // F = r z, r real
      s.send(0, [&] { return s.make(Op::Scalprod, {e, b}); });
      s.send(1, [&] { return s.mul(a, e); });
      return;
    default:
      KEOPS_CHECK(false, "not a complex op");
  }
}

}  // namespace keops::passes::detail
