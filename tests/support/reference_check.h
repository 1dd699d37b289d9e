// Test support: runs a Genred on random data and compares it with the float64 reference evaluator.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

namespace keops::test {

// Random data for each argument of a formula, with rows from its category.
template <class T>
struct RandomArgs {
  std::vector<std::vector<T>> data;
  std::vector<View<const T>> views;
};

struct ComparisonReport {
  double max_abs_error = 0;  // max |out - ref|
  double max_ref = 0;        // max |ref|
  // Max-norm relative error: what the tolerances of the issues mean.
  double relative() const { return max_ref > 0 ? max_abs_error / max_ref : max_abs_error; }
  bool indices_equal = true;
};

// Uniform data in [lo, hi] for every argument of `genred_formula`/`aliases`.
template <class T>
RandomArgs<T> random_args(const std::string& formula, const std::vector<std::string>& aliases,
                          int64_t nx, int64_t ny, uint64_t seed, double lo = 0.1, double hi = 1.0);

// Runs Genred(formula, aliases, reduction, axis, options) on args and the reference on the
// same values (converted to double), and reports the difference. With edge_rows > 0 the
// reference runs only for the first and last edge_rows output rows (it is slow), which
// still covers the first tile and the partial last one.
template <class T>
ComparisonReport compare_with_reference(const std::string& formula,
                                        const std::vector<std::string>& aliases,
                                        const std::string& reduction, int axis,
                                        const Options& options, const RandomArgs<T>& args,
                                        int64_t nx, int64_t ny, int64_t edge_rows = 0);

}  // namespace keops::test
