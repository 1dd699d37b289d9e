// Test support: a 16-bit output against float64's, rounded once (up to float32's accumulation).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include <keops/half.h>

namespace keops::test {

// Unit roundoff of a 16-bit format.
template <class H>
constexpr double roundoff() {
  return std::is_same_v<H, keops::half> ? 0x1p-11 : 0x1p-8;
}

// Each value within 1.01 units of roundoff of float64's, plus `margin` times the largest
// finite float64 value (float32's accumulation); infinities must match.
template <class H>
void check_rounded_once(const std::vector<H>& got, const std::vector<double>& want,
                        double margin = 1e-5) {
  REQUIRE(got.size() == want.size());
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::isfinite(w) ? std::fabs(w) : 0.0);
  int wrong = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    const double g = double(float(got[q])), w = want[q];
    if (std::isinf(w) && g == w) continue;
    const double bound = 1.01 * roundoff<H>() * std::fabs(w) + margin * scale;
    if (!(std::fabs(g - w) <= bound) && ++wrong <= 3)
      CHECK_MESSAGE(false, "value ", q, ": ", g, " where float64 gives ", w);
  }
  CHECK(wrong == 0);
}

}  // namespace keops::test
