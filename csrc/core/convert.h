// Element conversion, shared by the CPU and CUDA copy kernels and by Scalar::to: C++ static_cast,
// except
//  - into bool: x != 0 (PyTorch's rule);
//  - floating -> uint8/int8/int16/int32: through int32 with x86's out-of-range answer (INT32_MIN for
//    NaN, +-inf and values outside [-2^31, 2^31)), then wrapped to the narrow type. That is what
//    PyTorch's CPU build computes (static_cast<uint8_t>(float) compiles to cvttss2si and a
//    truncation): -1.0 -> 255, -3.7 -> 253, 300.0 -> 44, 1e10 -> 0 for uint8. A plain static_cast
//    of an out-of-range float is undefined behaviour; this one is defined and matches PyTorch.
// floating -> int64 stays a static_cast (the x86 answer for out-of-range values is INT64_MIN, as in
// PyTorch; guarding it would cost the vectorised x.long()).
#pragma once
#include <cstdint>
#include <type_traits>
#include "core/complex.h"
#include "core/half.h"

#if defined(__CUDACC__)
#define FLB_CONVERT_HD __host__ __device__ __forceinline__
#else
#define FLB_CONVERT_HD inline
#endif

namespace flambeau {

template <class F>
FLB_CONVERT_HD int32_t float_to_int32(F v) {
  // In range iff -2^31 <= v < 2^31 (NaN fails both comparisons); both bounds are exact in float.
  return (v >= F(-2147483648.0) && v < F(2147483648.0)) ? static_cast<int32_t>(v) : INT32_MIN;
}

template <class To, class From>
FLB_CONVERT_HD To convert_element(From v) {
  if constexpr (is_complex_type_v<From> && is_complex_type_v<To>) {
    using R = typename To::value_type;
    return To(static_cast<R>(v.re), static_cast<R>(v.im));
  } else if constexpr (is_complex_type_v<From>) {
    // complex -> real: the real part (PyTorch's cast, which warns in Python); -> bool: either part nonzero.
    if constexpr (std::is_same_v<To, bool>) return static_cast<bool>(v);
    else return convert_element<To, typename From::value_type>(v.re);
  } else if constexpr (is_complex_type_v<To>) {
    // real -> complex: through the part type by the real rules (float16 exactly, bool 0 or 1), imaginary zero.
    using R = typename To::value_type;
    return To(convert_element<R, From>(v), R(0));
  } else if constexpr (is_half_type_v<From> && is_half_type_v<To>) {
    if constexpr (std::is_same_v<To, From>) return v;
    else return To(static_cast<float>(v));
  } else if constexpr (is_half_type_v<From>) {
    // float16/bfloat16 -> anything: exactly to float, then float's rule (c10 converts the same way).
    return convert_element<To, float>(static_cast<float>(v));
  } else if constexpr (is_half_type_v<To>) {
    // anything -> float16/bfloat16: through float (c10's constructors take a float); bool is 0 or 1.
    return To(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To> && sizeof(To) <= 4) {
    // Integer -> narrower integer wraps (two's complement; defined since C++20, and what GCC, Clang
    // and nvcc have always done).
    return static_cast<To>(float_to_int32(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace flambeau
