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
// plain cumulative sums, as in keopscore); the value is r(n-1, m-1).
double soft_dtw(const double* x, int n, const double* y, int m, double gamma) {
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
  return at(n - 1, m - 1);
}

}  // namespace

void eval_special(const Node& n, const ArgValues& a, double* out) {
  switch (n.op) {
    case Op::BSpline:
      return bspline(a[0], n.args[0]->dim, a[1][0], int(n.ints[0]), out, n.dim);
    case Op::SoftDTW_SqDist:
      out[0] = soft_dtw(a[0], n.args[0]->dim, a[1], n.args[1]->dim, a[2][0]);
      return;
    default:
      KEOPS_CHECK(false, "not a special function");
  }
}

}  // namespace keops::ir::detail
