// Derivative rules of the special functions: BSpline in its point, SoftDTW_SqDist through its
// recursion unrolled into ordinary ops, or through SoftDTW_SqDist_Grad for long series.
#include <string>

#include "compiler/passes/autodiff.h"
#include "compiler/passes/autodiff_rules.h"
#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::passes::detail {
namespace {

// dB_{i,p}/dx = p B_{i,p-1} / (t_{i+p} - t_i) - p B_{i+1,p-1} / (t_{i+p+1} - t_{i+1}), a ratio
// over an empty span being 0 (as the evaluator's omega), for the degree-p splines of BSpline.
void rule_bspline(Step& s) {
  if (s.needs(0))
    throw Error("in BSpline: the derivative with respect to the knots is not supported yet");
  const int64_t order = s.node()->ints[0];
  if (order == 0) return;  // piecewise constant
  s.send(1, [&] {
    const Expr knots = s.arg(0), x = s.arg(1);
    const int64_t count = s.node()->dim + 1;  // splines of degree order - 1
    const Expr lower = s.make(Op::BSpline, {knots, x}, {order - 1});
    const Expr span = s.sub(s.make(Op::Extract, {knots}, {order, count}),
                            s.make(Op::Extract, {knots}, {0, count}));
    const Expr ratio = s.make(Op::IfElse, {s.neg(span), s.num(0), s.div(lower, span)});
    const Expr slope =
        s.mul(s.num(double(order)), s.sub(s.make(Op::Extract, {ratio}, {0, count - 1}),
                                          s.make(Op::Extract, {ratio}, {1, count - 1})));
    return s.make(Op::Scalprod, {s.adjoint(), slope});
  });
}

// SoftDTW_SqDist(x, y, gamma) written with ordinary ops, cell by cell as the evaluator
// computes it: r(i, j) = (x_i - y_j)^2 + softmin of the existing neighbours.
Expr unrolled_soft_dtw(const Step& s, Expr x, Expr y, Expr gamma) {
  const int n = x->dim, m = y->dim;
  auto component = [&](Expr v, int k) { return v->dim == 1 ? v : s.make(Op::Elem, {v}, {k}); };
  std::vector<Expr> r(size_t(n) * size_t(m));
  auto at = [&](int i, int j) -> Expr& { return r[size_t(j) * size_t(n) + size_t(i)]; };
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < n; ++i) {
      const Expr d = s.make(Op::Square, {s.sub(component(x, i), component(y, j))});
      if (i == 0 && j == 0) {
        at(i, j) = d;
      } else if (i == 0 || j == 0) {
        at(i, j) = s.add(d, j == 0 ? at(i - 1, 0) : at(0, j - 1));
      } else {
        const Expr neighbours[] = {at(i - 1, j - 1), at(i - 1, j), at(i, j - 1)};
        const Expr lo = s.make(
            Op::Min, {s.make(Op::Concat,
                             {s.make(Op::Concat, {neighbours[0], neighbours[1]}), neighbours[2]})});
        Expr sum = nullptr;
        for (Expr nb : neighbours) {
          const Expr term = s.make(Op::Exp, {s.div(s.sub(lo, nb), gamma)});
          sum = sum ? s.add(sum, term) : term;
        }
        at(i, j) = s.sub(s.add(d, lo), s.mul(gamma, s.make(Op::Log, {sum})));
      }
    }
  return at(n - 1, m - 1);
}

// Long series: the three derivatives from one SoftDTW_SqDist_Grad node, scaled by the adjoint.
void rule_soft_dtw_looped(Step& s) {
  const Expr x = s.arg(0), y = s.arg(1);
  const Expr gradient = s.make(Op::SoftDTW_SqDist_Grad, {x, y, s.arg(2)});
  const int64_t starts[3] = {0, x->dim, x->dim + y->dim}, dims[3] = {x->dim, y->dim, 1};
  for (size_t k = 0; k < 3; ++k) {
    bool repeated = false;  // SoftDTW_SqDist(x, x, g) sends x both shares
    for (size_t j = 0; j < k; ++j) repeated = repeated || s.arg(j) == s.arg(k);
    if (repeated) continue;
    s.send(k, [&] {
      Expr share = s.mul(s.adjoint(), s.make(Op::Extract, {gradient}, {starts[k], dims[k]}));
      for (size_t j = k + 1; j < 3; ++j)
        if (s.arg(j) == s.arg(k))
          share = s.add(share,
                        s.mul(s.adjoint(), s.make(Op::Extract, {gradient}, {starts[j], dims[j]})));
      return share;
    });
  }
}

void rule_soft_dtw(Step& s) {
  const Expr x = s.arg(0), y = s.arg(1), gamma = s.arg(2);
  if (int64_t(x->dim) * y->dim > kMaxSoftDtwCells)
    throw Error("in SoftDTW_SqDist: the derivative is not supported yet for series of " +
                std::to_string(x->dim) + " x " + std::to_string(y->dim) + " cells (at most " +
                std::to_string(kMaxSoftDtwCells) + " cells)");
  if (int64_t(x->dim) * y->dim > kUnrolledSoftDtwCells) return rule_soft_dtw_looped(s);
  std::vector<Expr> targets, constants;
  for (size_t k = 0; k < 3; ++k) (s.needs(k) ? targets : constants).push_back(s.arg(k));
  const auto adjoint =
      backprop(s.ctx(), unrolled_soft_dtw(s, x, y, gamma), s.adjoint(), targets, constants);
  // One share per distinct argument node: SoftDTW_SqDist(x, x, g) must not count x twice.
  for (size_t k = 0; k < 3; ++k) {
    bool repeated = false;
    for (size_t j = 0; j < k; ++j) repeated = repeated || s.arg(j) == s.arg(k);
    const auto found = adjoint.find(s.arg(k));
    if (!repeated && found != adjoint.end()) s.send(k, [&] { return found->second; });
  }
}

}  // namespace

void rule_special(Step& s) {
  switch (s.node()->op) {
    case Op::BSpline:
      return rule_bspline(s);
    case Op::SoftDTW_SqDist:
      return rule_soft_dtw(s);
    case Op::SoftDTW_SqDist_Grad:
      throw Error(
          "in SoftDTW_SqDist_Grad: derivatives of SoftDTW_SqDist of order 2 and more "
          "are supported for series of at most " +
          std::to_string(kUnrolledSoftDtwCells) + " cells, not " + std::to_string(s.arg(0)->dim) +
          " x " + std::to_string(s.arg(1)->dim));
    default:
      KEOPS_CHECK(false, "not a special function");
  }
}

}  // namespace keops::passes::detail
