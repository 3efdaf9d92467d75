// Element conversions from stored little-endian file dtypes, shared by the format readers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cnnzoo::io::detail {

// memcpy per element: file data carries no alignment guarantee.
template <class From, class To>
void convert_plain(const unsigned char* src, To* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, src + i * sizeof(From), sizeof(From));
    dst[i] = static_cast<To>(v);
  }
}

inline float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf and nan keep their payload
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else {
    // Zero or subnormal: mantissa * 2^-24 is exact in float.
    float f = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline void convert_f16(const unsigned char* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = half_to_float(h);
  }
}

inline void convert_bf16(const unsigned char* src, float* dst, size_t n) {
  // bfloat16 is the top half of a float32.
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    std::memcpy(&dst[i], &bits, 4);
  }
}

template <class To>
void convert_bool(const unsigned char* src, To* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = src[i] ? To(1) : To(0);
}

}  // namespace cnnzoo::io::detail
