// Emission of the special functions: BSpline (Cox-de Boor) and SoftDTW_SqDist, unrolled at
// compile time over the knots and the cells of the DTW table (reference:
// evaluator_special.cpp).
#include <vector>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;
using P = llvm::CmpInst::Predicate;

namespace {

// BSpline(knots, x, order): the first knots - order - 1 B-splines of this order at x. The
// order-0 splines are the indicators of t_j <= x < t_j+1; each order mixes neighbours with the
// ratios omega(i, k) = (x - t_i) / (t_i+k - t_i), taken as 0 on an empty span (not 0/0).
Vals bspline(Arith& a, const Vals& t, Value* x, int64_t order, size_t out_dim) {
  Value* zero = a.cst(x, 0.0);
  Value* one = a.cst(x, 1.0);
  Vals basis(t.size() - 1);
  for (size_t j = 0; j < basis.size(); ++j)
    basis[j] = a.select(a.cmp(P::FCMP_OLE, t[j], x),
                        a.select(a.cmp(P::FCMP_OLT, x, t[j + 1]), one, zero), zero);
  for (size_t k = 1; k <= size_t(order); ++k) {
    Vals omega(basis.size() - k + 1);  // omega(i, k) for i <= the last basis[i + 1] read
    for (size_t i = 0; i < omega.size(); ++i)
      omega[i] = a.select(a.cmp(P::FCMP_OLT, t[i], t[i + k]),
                          a.div(a.sub(x, t[i]), a.sub(t[i + k], t[i])), zero);
    for (size_t i = 0; i + k < basis.size(); ++i)
      basis[i] = a.add(a.mul(omega[i], basis[i]), a.mul(a.sub(one, omega[i + 1]), basis[i + 1]));
  }
  basis.resize(out_dim);
  return basis;
}

// SoftDTW_SqDist(x, y, gamma): r(i, j) = (x_i - y_j)^2 + softmin of the existing neighbours
// r(i-1, j-1), r(i-1, j), r(i, j-1) (the first row and column are cumulative sums), and the
// value is r(n-1, m-1). softmin_gamma(u) = lo - gamma log sum_k exp((lo - u_k) / gamma) with
// lo = min u_k, so every exponent is <= 0 and the one at the minimum is exactly 1.
Value* soft_dtw(Arith& a, const Vals& x, const Vals& y, Value* gamma) {
  llvm::IRBuilderBase& b = a.b;
  Value* inv_gamma = a.div(a.cst(gamma, 1.0), gamma);
  auto min = [&](Value* u, Value* v) {  // minnum: a NaN loses, as std::fmin
    auto [p, q] = a.same(u, v);
    return b.CreateMinNum(p, q);
  };
  const size_t n = x.size(), m = y.size();
  std::vector<Vals> r(n, Vals(m));
  for (size_t j = 0; j < m; ++j)
    for (size_t i = 0; i < n; ++i) {
      Value* diff = a.sub(x[i], y[j]);
      Value* d = a.mul(diff, diff);
      if (i == 0 && j == 0) {
        r[i][j] = d;
      } else if (i == 0 || j == 0) {
        r[i][j] = a.add(d, i == 0 ? r[0][j - 1] : r[i - 1][0]);
      } else {
        Value* const neighbours[] = {r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]};
        Value* lo = min(min(neighbours[0], neighbours[1]), neighbours[2]);
        Value* sum = nullptr;
        for (Value* u : neighbours) {
          Value* term = emit_exp(b, a.mul(a.sub(lo, u), inv_gamma));
          sum = sum ? a.add(sum, term) : term;
        }
        r[i][j] = a.sub(a.add(d, lo), a.mul(gamma, emit_log(b, sum)));
      }
    }
  return r[n - 1][m - 1];
}

}  // namespace

Vals emit_special(Arith& a, ir::Expr e, const ArgVals& args) {
  switch (e->op) {
    case Op::BSpline:
      return bspline(a, *args[0], (*args[1])[0], e->ints[0], size_t(e->dim));
    case Op::SoftDTW_SqDist:
      return {soft_dtw(a, *args[0], *args[1], (*args[2])[0])};
    default:
      KEOPS_CHECK(false, "not a special function");
      return {};
  }
}

}  // namespace keops::codegen::detail
