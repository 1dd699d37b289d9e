// Reference semantics of the special functions: keopscore's BSpline (Cox-de Boor) and
// SoftDTW_SqDist (soft dynamic time warping of two scalar series).
#include <algorithm>
#include <cmath>
#include <vector>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"

namespace keops::ir::detail {
namespace {

// BSpline(knots, x, order): the n_knots - order - 1 B-spline basis functions of this order
// at x. keopscore runs the recursion in place on a buffer of n_knots - 1 order-0 splines
// (indicators of t_j <= x < t_j+1) and keeps the first ones; an empty knot span gives a
// ratio of 0 instead of 0/0.
void bspline(const double* t, int n_knots, double x, int order, double* out, int out_dim) {
  const int span_count = n_knots - 1;
  std::vector<double> b(static_cast<size_t>(span_count));
  for (int j = 0; j < span_count; ++j) b[j] = (t[j] <= x && x < t[j + 1]) ? 1.0 : 0.0;
  auto omega = [&](int i, int k) { return t[i] < t[i + k] ? (x - t[i]) / (t[i + k] - t[i]) : 0.0; };
  for (int k = 1; k <= order; ++k)
    for (int i = 0; i < span_count - k; ++i)
      b[i] = omega(i, k) * b[i] + (1.0 - omega(i + 1, k)) * b[i + 1];
  std::copy_n(b.begin(), out_dim, out);
}

// SoftDTW_SqDist(x, y, gamma): r(i, j) = (x_i - y_j)^2 + softmin_gamma of r(i-1, j-1),
// r(i-1, j), r(i, j-1), where only existing neighbours count (the first row and column are
// plain cumulative sums, as in keopscore); the value is r(n-1, m-1). The whole table, column
// by column.
std::vector<double> soft_dtw_table(const double* x, int n, const double* y, int m, double gamma) {
  std::vector<double> r(size_t(n) * size_t(m));
  auto at = [&](int i, int j) -> double& { return r[size_t(j) * size_t(n) + size_t(i)]; };
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < n; ++i) {
      const double d = (x[i] - y[j]) * (x[i] - y[j]);
      if (i == 0 && j == 0)
        at(i, j) = d;
      else if (j == 0)
        at(i, j) = d + at(i - 1, 0);
      else if (i == 0)
        at(i, j) = d + at(0, j - 1);
      else {
        const double a = at(i - 1, j - 1), b = at(i - 1, j), c = at(i, j - 1);
        const double lo = std::fmin(std::fmin(a, b), c);
        at(i, j) = d + lo -
                   gamma * std::log(std::exp((lo - a) / gamma) + std::exp((lo - b) / gamma) +
                                    std::exp((lo - c) / gamma));
      }
    }
  return r;
}

// SoftDTW_SqDist_Grad(x, y, gamma): the derivatives of r(n-1, m-1), backwards through the
// table: e(i, j) = dR / dr(i, j) is 1 at the end, and elsewhere the sum over the cells s that
// have (i, j) as a neighbour of e(s) exp((r(s) - d(s) - r(i, j)) / gamma), the softmin's weight
// of r(i, j) in s (1 in the first row and column, whose cells are sums). Then
// dR/dx_i = sum_j e(i, j) 2 (x_i - y_j), dR/dy_j = -sum_i e(i, j) 2 (x_i - y_j), and dR/dgamma
// = sum over the cells with three neighbours u_k of e (s - sum_k p_k u_k) / gamma, where
// s = r - d is the cell's softmin and p_k = exp((s - u_k) / gamma) its weights.
void soft_dtw_grad(const double* x, int n, const double* y, int m, double gamma, double* out) {
  const std::vector<double> r = soft_dtw_table(x, n, y, m, gamma);
  auto at = [&](int i, int j) { return r[size_t(j) * size_t(n) + size_t(i)]; };
  auto d = [&](int i, int j) { return (x[i] - y[j]) * (x[i] - y[j]); };
  std::vector<double> e(r.size(), 0.0);
  auto adjoint = [&](int i, int j) -> double& { return e[size_t(j) * size_t(n) + size_t(i)]; };
  std::fill_n(out, n + m + 1, 0.0);
  for (int j = m - 1; j >= 0; --j)
    for (int i = n - 1; i >= 0; --i) {
      double a = i == n - 1 && j == m - 1 ? 1.0 : 0.0;
      const int successors[3][2] = {{i + 1, j}, {i, j + 1}, {i + 1, j + 1}};
      for (const auto& s : successors)
        if (s[0] < n && s[1] < m)
          a += adjoint(s[0], s[1]) * std::exp((at(s[0], s[1]) - d(s[0], s[1]) - at(i, j)) / gamma);
      adjoint(i, j) = a;
      const double g = 2 * (x[i] - y[j]);
      out[i] += a * g;
      out[n + j] -= a * g;
      if (i > 0 && j > 0) {
        const double soft = at(i, j) - d(i, j);
        double weighted = 0;
        for (double u : {at(i - 1, j - 1), at(i - 1, j), at(i, j - 1)})
          weighted += std::exp((soft - u) / gamma) * u;
        out[n + m] += a * (soft - weighted) / gamma;
      }
    }
}

}  // namespace

void eval_special(const Node& n, const ArgValues& a, double* out) {
  switch (n.op) {
    case Op::BSpline:
      return bspline(a[0], n.args[0]->dim, a[1][0], int(n.ints[0]), out, n.dim);
    case Op::SoftDTW_SqDist:
      out[0] = soft_dtw_table(a[0], n.args[0]->dim, a[1], n.args[1]->dim, a[2][0]).back();
      return;
    case Op::SoftDTW_SqDist_Grad:
      return soft_dtw_grad(a[0], n.args[0]->dim, a[1], n.args[1]->dim, a[2][0], out);
    default:
      KEOPS_CHECK(false, "not a special function");
  }
}

}  // namespace keops::ir::detail
