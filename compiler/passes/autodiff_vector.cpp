// Derivative rules of the vector ops: reductions over components, norms, distances,
// slicing and injection (each slicing op's adjoint is its transposed op).
#include "compiler/passes/autodiff_rules.h"
#include "compiler/support/check.h"

namespace keops::passes::detail {
namespace {

// The derivative shares of WeightedSqNorm(w, x) with adjoint e, for the evaluator's three
// weight kinds (chosen in its order: dim 1, then dim(x), then dim(x)^2).
Expr weight_share(const Step& s, Expr w, Expr x, Expr e) {
  if (w->dim == 1) return s.mul(e, s.make(Op::SqNorm2, {x}));      // w |x|^2
  if (w->dim == x->dim) return s.mul(e, s.make(Op::Square, {x}));  // sum_k w_k x_k^2
  return s.mul(e, s.make(Op::TensorProd, {x, x}));                 // x^T W x: dW = x x^T
}

Expr vector_share(const Step& s, Expr w, Expr x, Expr e) {
  if (w->dim == 1) return s.mul(s.mul(s.num(2), s.mul(e, w)), x);
  if (w->dim == x->dim) return s.mul(s.mul(s.num(2), e), s.mul(w, x));
  // d(x^T W x) = (W + W^T) x: W need not be symmetric.
  return s.mul(e, s.add(s.make(Op::MatVecMult, {w, x}), s.make(Op::VecMatMult, {x, w})));
}

}  // namespace

void rule_vector(Step& s) {
  const Expr e = s.adjoint(), F = s.node();
  const Expr a = s.arg(0);
  const int n = a->dim;
  // Max and Min: e flows to the selected component only.
  auto select = [&](Op arg_op) {
    s.send(0,
           [&] { return n == 1 ? e : s.mul(e, s.make(Op::OneHot, {s.make(arg_op, {a})}, {n})); });
  };
  switch (F->op) {
    case Op::Sum:  // every component gets e
      s.send(0, [&] { return n == 1 ? e : s.make(Op::SumT, {e}, {n}); });
      return;
    case Op::Max:
      return select(Op::ArgMax);
    case Op::Min:
      return select(Op::ArgMin);
    case Op::SqNorm2:  // d|a|^2 = 2 a
      s.send(0, [&] { return s.mul(s.mul(s.num(2), e), a); });
      return;
    case Op::Norm2:  // d|a| = a/|a| = Normalize(a), 0 at 0
      s.send(0, [&] { return s.mul(e, s.make(Op::Normalize, {a})); });
      return;
    case Op::Normalize:  // F = r a, r = |a|^-1: J = r (I - F F^T), symmetric
      s.send(0, [&] {
        const Expr r = s.make(Op::Rsqrt, {s.make(Op::SqNorm2, {a})});
        return s.mul(r, s.sub(e, s.mul(s.make(Op::Scalprod, {F, e}), F)));
      });
      return;
    case Op::SqDist: {  // d|a - b|^2 = 2 (a - b) (da - db)
      const auto share = [&] { return s.mul(s.mul(s.num(2), e), s.sub(a, s.arg(1))); };
      s.send(0, share);
      s.send(1, [&] { return s.neg(share()); });
      return;
    }
    case Op::Scalprod:  // d(a|b) = (b|da) + (a|db)
      s.send(0, [&] { return s.mul(e, s.arg(1)); });
      s.send(1, [&] { return s.mul(e, a); });
      return;
    case Op::WeightedSqNorm:
      s.send(0, [&] { return weight_share(s, a, s.arg(1), e); });
      s.send(1, [&] { return vector_share(s, a, s.arg(1), e); });
      return;
    case Op::WeightedSqDist: {  // WeightedSqNorm(w, f - g)
      const auto x = [&] { return s.sub(s.arg(1), s.arg(2)); };
      s.send(0, [&] { return weight_share(s, a, x(), e); });
      s.send(1, [&] { return vector_share(s, a, x(), e); });
      s.send(2, [&] { return s.neg(vector_share(s, a, x(), e)); });
      return;
    }
    case Op::Concat:  // each part gets its slice
      s.send(0, [&] { return s.make(Op::Extract, {e}, {0, n}); });
      s.send(1, [&] { return s.make(Op::Extract, {e}, {n, s.arg(1)->dim}); });
      return;
    case Op::Elem:  // adjoint of Elem is ElemT
      s.send(0, [&] { return n == 1 ? e : s.make(Op::ElemT, {e}, {n, F->ints[0]}); });
      return;
    case Op::Extract:  // adjoint of Extract is ExtractT
      s.send(0, [&] { return s.make(Op::ExtractT, {e}, {F->ints[0], n}); });
      return;
    case Op::ElemT:
      s.send(0, [&] { return s.make(Op::Elem, {e}, {F->ints[1]}); });
      return;
    case Op::ExtractT:
      s.send(0, [&] { return s.make(Op::Extract, {e}, {F->ints[0], n}); });
      return;
    case Op::SumT:  // adjoint of broadcasting is summing
      s.send(0, [&] { return s.make(Op::Sum, {e}); });
      return;
    case Op::ArgMax:  // integer valued: zero derivative
    case Op::ArgMin:
    case Op::OneHot:
      return;
    default:
      KEOPS_CHECK(false, "not a vector op");
  }
}

}  // namespace keops::passes::detail
