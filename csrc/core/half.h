// float16 and bfloat16 storage: 16-bit structs with exact conversions to and from float32.
//
// These are storage types (core/dtype.h): kernels that move elements (copy, index, gather, where,
// pad, ...) are instantiated for them, arithmetic is done in float32 by the caller and rounded back
// once. The conversions are c10::Half's and c10::BFloat16's:
//  - float -> half: round to nearest, ties to even; overflow to +-inf (from 65520 on); subnormal
//    halves kept (no flush to zero); NaN -> sign | 0x7E00 (FP16's fp16_ieee_from_fp32_value).
//  - float -> bfloat16: round to nearest even on the top 16 bits; NaN -> 0x7FC0
//    (c10::detail::round_to_nearest_even).
//  - half/bfloat16 -> float: exact (NaN payloads kept).
//  - anything else (double, integers, bool) goes through float first, as c10's constructors take a
//    float: double -> half rounds twice, as in PyTorch.
// Written with integer operations only, so the result cannot depend on the compiler contracting
// float operations into FMAs (nvcc does by default) or on the FPU's flush-to-zero mode.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FLB_HALF_HD __host__ __device__ __forceinline__
#else
#define FLB_HALF_HD inline
#endif

namespace flambeau {

FLB_HALF_HD uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

FLB_HALF_HD float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

FLB_HALF_HD uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 (halfway past 65504) rounds to inf
  if (ax >= 0x38800000u) {                       // normal half (>= 2^-14): rebias, round 13 bits away
    const uint32_t e = ax - 0x38000000u;
    return (uint16_t)(sign | ((e + 0xfffu + ((e >> 13) & 1u)) >> 13));
  }
  if (ax <= 0x33000000u) return sign;  // <= 2^-25 (the tie rounds to even, zero)
  // Subnormal half: the value in units of 2^-24, rounded to nearest even (may round up to 2^-14,
  // whose encoding 0x0400 follows on naturally).
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - (ax >> 23);  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
  return (uint16_t)(sign | q);
}

FLB_HALF_HD float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf, NaN (payload kept)
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);
  uint32_t e = 113u;  // subnormal: normalise
  while (!(mant & 0x400u)) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

FLB_HALF_HD uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;  // NaN
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

FLB_HALF_HD float bfloat16_bits_to_float(uint16_t b) { return bits_float((uint32_t)b << 16); }

// The element types. Implicit conversions to and from float, as c10's: `Half h = 1.5f`,
// `float f = h`; arithmetic on them is float arithmetic (the result rounds when stored into one).
struct Half {
  uint16_t x;
  Half() = default;
  FLB_HALF_HD Half(float f) : x(float_to_half_bits(f)) {}
  FLB_HALF_HD operator float() const { return half_bits_to_float(x); }
  // c10's compound assignments: computed in float, rounded once (index_put_'s accumulate).
  FLB_HALF_HD Half& operator+=(float v) { return *this = Half(float(*this) + v); }
  FLB_HALF_HD Half& operator-=(float v) { return *this = Half(float(*this) - v); }
  FLB_HALF_HD Half& operator*=(float v) { return *this = Half(float(*this) * v); }
  FLB_HALF_HD Half& operator/=(float v) { return *this = Half(float(*this) / v); }
  static FLB_HALF_HD Half from_bits(uint16_t b) {
    Half h;
    h.x = b;
    return h;
  }
};

struct BFloat16 {
  uint16_t x;
  BFloat16() = default;
  FLB_HALF_HD BFloat16(float f) : x(float_to_bfloat16_bits(f)) {}
  FLB_HALF_HD operator float() const { return bfloat16_bits_to_float(x); }
  // c10's compound assignments: computed in float, rounded once (index_put_'s accumulate).
  FLB_HALF_HD BFloat16& operator+=(float v) { return *this = BFloat16(float(*this) + v); }
  FLB_HALF_HD BFloat16& operator-=(float v) { return *this = BFloat16(float(*this) - v); }
  FLB_HALF_HD BFloat16& operator*=(float v) { return *this = BFloat16(float(*this) * v); }
  FLB_HALF_HD BFloat16& operator/=(float v) { return *this = BFloat16(float(*this) / v); }
  static FLB_HALF_HD BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.x = b;
    return h;
  }
};

template <class T>
struct is_half_type {
  static constexpr bool value = false;
};
template <>
struct is_half_type<Half> {
  static constexpr bool value = true;
};
template <>
struct is_half_type<BFloat16> {
  static constexpr bool value = true;
};
template <class T>
constexpr bool is_half_type_v = is_half_type<T>::value;

}  // namespace flambeau
