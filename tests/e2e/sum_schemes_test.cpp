// Sum schemes on 1e7 float32 terms of mixed magnitude: each one's error against a long-double sum.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

namespace {

// The relative error of Genred("b", Sum over j) with these options, one output row.
double relative_error(const std::vector<float>& b, long double exact, keops::SumScheme scheme,
                      bool float64_accumulator) {
  keops::Options o;
  o.sum_scheme = scheme;
  o.float64_accumulator = float64_accumulator;
  o.nx = 1;
  const keops::Genred op("b", {"b = Vj(1)"}, "Sum", 1, o);
  const auto got = op({keops::View<const float>{b.data(), int64_t(b.size()), 1}});
  return double(std::fabs((static_cast<long double>(got.values[0]) - exact) / exact));
}

}  // namespace

TEST_CASE("sum schemes on 1e7 float32 terms: Block beats Direct, Kahan and float64 by 10x") {
  // Magnitudes 1e4, 1 and 1e-3 with random signs, biased positive so the sum does not cancel.
  const size_t n = 10'000'000;
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<float> unit(0.5f, 1.5f);
  const float magnitudes[] = {1e4f, 1.0f, 1e-3f};
  std::vector<float> b(n);
  long double exact = 0;
  for (float& v : b) {
    v = magnitudes[rng() % 3] * unit(rng) * (rng() % 5 < 3 ? 1.0f : -1.0f);
    exact += v;
  }

  const double direct = relative_error(b, exact, keops::SumScheme::Direct, false);
  const double block = relative_error(b, exact, keops::SumScheme::Block, false);
  const double kahan = relative_error(b, exact, keops::SumScheme::Kahan, false);
  const double float64 = relative_error(b, exact, keops::SumScheme::Direct, true);
  MESSAGE("relative error of a float32 sum of 1e7 terms: Direct ", direct, ", Block ", block,
          ", Kahan ", kahan, ", Direct + float64 accumulator ", float64);
  CHECK(block < direct);
  CHECK(kahan * 10 < direct);
  CHECK(float64 * 10 < direct);
}
