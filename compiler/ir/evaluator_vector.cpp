// Reference semantics of the vector ops: reductions over components, norms, distances,
// slicing, injection and one-hot encoding (keopscore formulas/maths/*.py).
#include <algorithm>
#include <cmath>
#include <functional>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"

namespace keops::ir::detail {
namespace {

// The index of the first maximum (better = greater) or minimum (better = less),
// scanning from component 0 and replacing only on a strict improvement, as keopscore's
// Max/ArgMax do: ties go to the lowest index, a NaN in component 0 wins, later NaNs lose.
template <class Better>
int best_index(const double* f, int dim, Better better) {
  int best = 0;
  for (int k = 1; k < dim; ++k)
    if (better(f[k], f[best])) best = k;
  return best;
}

int argmax(const double* f, int dim) { return best_index(f, dim, std::greater<double>()); }
int argmin(const double* f, int dim) { return best_index(f, dim, std::less<double>()); }

double sqnorm(const double* f, int dim) {
  double s = 0;
  for (int k = 0; k < dim; ++k) s += f[k] * f[k];
  return s;
}

// WeightedSqNorm(s, f): keopscore's SqNormIso (s of dim 1), SqNormDiag (dim d) or
// SymSqNorm (dim d*d, row-major), chosen in that order as WeightedSqNorm.py does.
double weighted_sqnorm(const double* s, int s_dim, const double* f, int d) {
  double acc = 0;
  if (s_dim == 1) return s[0] * sqnorm(f, d);
  if (s_dim == d) {
    for (int k = 0; k < d; ++k) acc += s[k] * f[k] * f[k];
    return acc;
  }
  for (int k = 0; k < d; ++k)
    for (int l = 0; l < d; ++l) acc += s[k * d + l] * f[k] * f[l];
  return acc;
}

}  // namespace

void eval_vector(const Node& n, const ArgValues& a, double* out) {
  const double* f = a[0];
  const int fd = n.args[0]->dim;
  switch (n.op) {
    case Op::Sum: {
      double s = 0;
      for (int k = 0; k < fd; ++k) s += f[k];
      out[0] = s;
      return;
    }
    case Op::Max:
      out[0] = f[argmax(f, fd)];
      return;
    case Op::Min:
      out[0] = f[argmin(f, fd)];
      return;
    case Op::ArgMax:
      out[0] = argmax(f, fd);
      return;
    case Op::ArgMin:
      out[0] = argmin(f, fd);
      return;
    case Op::SqNorm2:
      out[0] = sqnorm(f, fd);
      return;
    case Op::Norm2:
      out[0] = std::sqrt(sqnorm(f, fd));
      return;
    case Op::Normalize: {
      // Rsqrt(SqNorm2(f)) * f, so the zero vector stays zero.
      const double s = sqnorm(f, fd), scale = s == 0 ? 0.0 : 1.0 / std::sqrt(s);
      for (int k = 0; k < fd; ++k) out[k] = scale * f[k];
      return;
    }
    case Op::SqDist: {
      double s = 0;
      for (int k = 0; k < fd; ++k) s += (f[k] - a[1][k]) * (f[k] - a[1][k]);
      out[0] = s;
      return;
    }
    case Op::Scalprod: {
      double s = 0;
      for (int k = 0; k < fd; ++k) s += f[k] * a[1][k];
      out[0] = s;
      return;
    }
    case Op::WeightedSqNorm:
      out[0] = weighted_sqnorm(f, fd, a[1], n.args[1]->dim);
      return;
    case Op::WeightedSqDist: {
      const int d = n.args[1]->dim;
      std::vector<double> diff(size_t(d), 0.0);
      for (int k = 0; k < d; ++k) diff[k] = a[1][k] - a[2][k];
      out[0] = weighted_sqnorm(f, fd, diff.data(), d);
      return;
    }
    case Op::Concat:
      std::copy(f, f + fd, out);
      std::copy(a[1], a[1] + n.args[1]->dim, out + fd);
      return;
    case Op::Elem:
      out[0] = f[n.ints[0]];
      return;
    case Op::Extract:
      std::copy(f + n.ints[0], f + n.ints[0] + n.ints[1], out);
      return;
    case Op::ElemT:
      std::fill(out, out + n.dim, 0.0);
      out[n.ints[1]] = f[0];
      return;
    case Op::ExtractT:
      std::fill(out, out + n.dim, 0.0);
      std::copy(f, f + fd, out + n.ints[0]);
      return;
    case Op::SumT:
      std::fill(out, out + n.dim, f[0]);
      return;
    case Op::OneHot: {
      // keopscore writes out[(int)(f + .5)] = 1 without a bound check; we truncate the same
      // way (so -0.7 selects 0) and give all zeros where it would write out of bounds.
      std::fill(out, out + n.dim, 0.0);
      const double pos = std::trunc(f[0] + 0.5);
      if (pos >= 0 && pos < n.dim) out[size_t(pos)] = 1.0;
      return;
    }
    default:
      KEOPS_CHECK(false, "not a vector op");
  }
}

}  // namespace keops::ir::detail
