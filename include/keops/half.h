// keops::half and keops::bfloat16: 16-bit floats, the element types of half-precision Views.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace keops {

namespace detail {

inline uint32_t float_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}

inline float bits_float(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// IEEE binary16 bits of f, rounded to nearest even (overflow to infinity, NaN kept quiet).
inline uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // 65520 and up: infinity
  if (magnitude < 0x38800000u) {
    // Below 2^-14 (a subnormal half): adding 0.5 leaves float's ulp there, 2^-24, which is
    // the subnormals' step, so the float addition rounds to nearest even for us.
    const uint32_t units = float_bits(bits_float(magnitude) + 0.5f) - 0x3f000000u;
    return uint16_t(sign | units);
  }
  const uint32_t odd = (magnitude >> 13) & 1u;
  return uint16_t(sign | ((magnitude - (112u << 23) + 0xfffu + odd) >> 13));
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t magnitude = h & 0x7fffu;
  if (magnitude < 0x0400u)  // zero or subnormal: magnitude * 2^-24, exact
    return bits_float(float_bits(float(magnitude) * 0x1p-24f) | sign);
  const uint32_t rebias = magnitude >= 0x7c00u ? 0x70000000u : 0x38000000u;
  return bits_float(((magnitude << 13) + rebias) | sign);
}

// bfloat16 bits of f: its upper half, rounded to nearest even (NaN kept quiet).
inline uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

inline float bfloat16_bits_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }

}  // namespace detail

// IEEE binary16 (float16: 11 significant bits, magnitudes 6.1e-5 to 65504, subnormals down
// to 6.0e-8), bit-compatible with numpy.float16, torch.float16 and CUDA's __half. Kernels
// widen it to float32 as they load it and compute in float32; outputs are rounded to it.
struct half {
  uint16_t bits = 0;

  half() = default;
  explicit half(float f) : bits(detail::float_to_half_bits(f)) {}
  operator float() const { return detail::half_bits_to_float(bits); }
  static half from_bits(uint16_t b) {
    half h;
    h.bits = b;
    return h;
  }
};

// bfloat16 (8 significant bits, float32's range), bit-compatible with torch.bfloat16 and
// CUDA's __nv_bfloat16; computed on in float32 as half is.
struct bfloat16 {
  uint16_t bits = 0;

  bfloat16() = default;
  explicit bfloat16(float f) : bits(detail::float_to_bfloat16_bits(f)) {}
  operator float() const { return detail::bfloat16_bits_to_float(bits); }
  static bfloat16 from_bits(uint16_t b) {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};

static_assert(sizeof(half) == 2 && sizeof(bfloat16) == 2, "16-bit floats are 2 bytes");

// The name of an element type of Views: "float16", "bfloat16", "float32" or "float64".
template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::is_same_v<T, half>)
    return "float16";
  else if constexpr (std::is_same_v<T, bfloat16>)
    return "bfloat16";
  else
    return sizeof(T) == 4 ? "float32" : "float64";
}

}  // namespace keops
