// Test support for gradients: host argument arrays, <op(args), e>, and a gradient checked
// against central finite differences; the shared formulas of the gradient tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <keops/keops.h>

namespace keops::test {

// Host arrays with their shapes, passed to a Genred as its arguments.
struct Arrays {
  struct Array {
    int64_t rows, cols;
    std::vector<double> values;
  };
  std::vector<Array> arrays;

  Arrays& add_random(int64_t rows, int64_t cols, std::mt19937_64& rng, double lo = -1.0,
                     double hi = 1.0) {
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> values(size_t(rows * cols));
    for (double& v : values) v = u(rng);
    arrays.push_back({rows, cols, std::move(values)});
    return *this;
  }
  std::vector<View<const double>> views() const {
    std::vector<View<const double>> v;
    for (const Array& a : arrays) v.push_back({a.values.data(), a.rows, a.cols});
    return v;
  }
};

// <op(args), e>.
inline double pairing(const Genred& op, const Arrays& args, const std::vector<double>& e) {
  const auto out = op(args.views());
  double total = 0;
  for (size_t k = 0; k < e.size(); ++k) total += out.values[k] * e[k];
  return total;
}

// Max |op.grad(var)(args, e) - central differences of <op(args), e> in args[k]| over
// max(1, max |difference|), for a random e.
inline double gradient_error(const Genred& op, Arrays args, const std::string& var, size_t k,
                             std::mt19937_64& rng) {
  const auto out = op(args.views());
  Arrays with_e = args;
  with_e.add_random(out.rows, out.cols, rng);
  const std::vector<double>& e = with_e.arrays.back().values;
  const Genred g = op.grad(var);
  CHECK(g.arg_count() == op.arg_count() + 1);
  const auto analytic = g(with_e.views());
  const Arrays::Array& x = args.arrays[k];
  REQUIRE(analytic.rows == x.rows);
  REQUIRE(analytic.cols == x.cols);
  const double h = 1e-6;
  double error = 0, scale = 1;
  for (size_t q = 0; q < x.values.size(); ++q) {
    double& coordinate = args.arrays[k].values[q];
    const double saved = coordinate;
    coordinate = saved + h;
    const double up = pairing(op, args, e);
    coordinate = saved - h;
    const double down = pairing(op, args, e);
    coordinate = saved;
    const double difference = (up - down) / (2 * h);
    error = std::max(error, std::fabs(analytic.values[q] - difference));
    scale = std::max(scale, std::fabs(difference));
  }
  return error / scale;
}

// x = Vi(2), y = Vj(2), p = Pm(1): one argument of each category.
inline const std::vector<std::string> kGradAliases = {"x = Vi(2)", "y = Vj(2)", "p = Pm(1)"};
inline constexpr const char* kScalarF = "Sin((x|y) + p) - p * SqDist(x, y)";
inline constexpr const char* kVectorF = "Concat(p * SqDist(x, y), Sin((x|y) + p))";
inline constexpr const char* kWeights = "Exp(y - p * x)";  // positive, as LogSumExpWeight needs

}  // namespace keops::test
