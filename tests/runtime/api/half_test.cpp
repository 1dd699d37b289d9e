// keops::half and keops::bfloat16: conversions against a nearest-value search in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <keops/half.h>

namespace {

// Every finite non-negative value of a 16-bit format, in increasing order with its bits.
struct Ladder {
  std::vector<double> values;
  std::vector<uint16_t> bits;
  double overflow;  // where rounding reaches infinity (halfway past the largest value)
};

template <class H>
Ladder ladder(uint16_t infinity_bits) {
  Ladder l;
  for (uint32_t b = 0; b < infinity_bits; ++b) {
    l.values.push_back(double(float(H::from_bits(uint16_t(b)))));
    l.bits.push_back(uint16_t(b));
  }
  const double top = l.values.back();
  l.overflow = top + (top - l.values[l.values.size() - 2]) / 2;
  return l;
}

// The bits nearest f (ties to the even bits), from the ladder.
uint16_t nearest_bits(const Ladder& l, float f, uint16_t infinity_bits) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= l.overflow) return uint16_t(sign | infinity_bits);
  const size_t above =
      size_t(std::lower_bound(l.values.begin(), l.values.end(), a) - l.values.begin());
  if (above == l.values.size()) return uint16_t(sign | l.bits.back());  // below the overflow
  if (above == 0 || l.values[above] == a) return uint16_t(sign | l.bits[above]);
  const double up = l.values[above] - a, down = a - l.values[above - 1];
  const size_t pick = up < down   ? above
                      : down < up ? above - 1
                                  : (l.bits[above] % 2 == 0 ? above : above - 1);
  return uint16_t(sign | l.bits[pick]);
}

// Floats worth testing: random bit patterns, and each ladder step's midpoint with its two
// float neighbours (where rounding decides).
std::vector<float> probes(const Ladder& l) {
  std::vector<float> out;
  std::mt19937 rng(7);
  for (int k = 0; k < 200000; ++k) {
    const uint32_t x = uint32_t(rng());
    float f;
    std::memcpy(&f, &x, 4);
    if (!std::isnan(f)) out.push_back(f);
  }
  for (size_t k = 0; k + 1 < l.values.size(); ++k) {
    const float mid = float((l.values[k] + l.values[k + 1]) / 2);
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      out.push_back(f);
      out.push_back(-f);
    }
  }
  return out;
}

template <class H>
void check_against_ladder(uint16_t infinity_bits) {
  const Ladder l = ladder<H>(infinity_bits);
  int wrong = 0;
  for (float f : probes(l))
    if (H(f).bits != nearest_bits(l, f, infinity_bits) && ++wrong < 5)
      CHECK_MESSAGE(false, "float ", f, " gave ", H(f).bits, " not ",
                    nearest_bits(l, f, infinity_bits));
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("half rounds float32 to the nearest float16, ties to even") {
  check_against_ladder<keops::half>(0x7c00);
  CHECK(float(keops::half(65504.0f)) == 65504.0f);
  CHECK(std::isinf(float(keops::half(65520.0f))));
  CHECK(float(keops::half(0x1p-24f)) == 0x1p-24f);  // the smallest subnormal
  CHECK(float(keops::half(0x1p-26f)) == 0.0f);
  CHECK(std::signbit(float(keops::half(-0.0f))));
}

TEST_CASE("bfloat16 rounds float32 to its upper half, ties to even") {
  check_against_ladder<keops::bfloat16>(0x7f80);
  CHECK(float(keops::bfloat16(1.0f + 0x1p-8f)) == 1.0f);  // a tie, to the even 1.0
  CHECK(float(keops::bfloat16(1.0f + 0x1p-8f + 0x1p-20f)) == 1.0f + 0x1p-7f);
}

TEST_CASE("every 16-bit value widens exactly and rounds back to itself") {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const keops::half h = keops::half::from_bits(uint16_t(b));
    const keops::bfloat16 g = keops::bfloat16::from_bits(uint16_t(b));
    if (std::isnan(float(h))) {
      CHECK(std::isnan(float(keops::half(float(h)))));
      CHECK((keops::half(float(h)).bits & 0x0200) != 0);  // quiet
    } else {
      REQUIRE(keops::half(float(h)).bits == b);
    }
    if (std::isnan(float(g)))
      CHECK(std::isnan(float(keops::bfloat16(float(g)))));
    else
      REQUIRE(keops::bfloat16(float(g)).bits == b);
  }
  CHECK(float(keops::half::from_bits(0x3c00)) == 1.0f);
  CHECK(float(keops::half::from_bits(0xc000)) == -2.0f);
  CHECK(float(keops::bfloat16::from_bits(0x3f80)) == 1.0f);
}
