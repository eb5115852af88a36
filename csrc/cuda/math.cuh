// Device-side math used by several kernel files: float/double overloads that call the right CUDA
// math function explicitly (expf for float, exp for double: no silent promotion to double), NaN
// tests that do not depend on fast-math, dtype conversion with PyTorch's rule for bool, and
// wrapping int64 arithmetic (signed overflow is undefined in C++; two's-complement wrap is what
// the CPU build gets in practice and what PyTorch documents).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <type_traits>
#include "core/convert.h"

namespace flambeau::cuda::dm {

#define FLB_DM_UNARY(name, fname, dname)                                                      \
  __device__ __forceinline__ float name(float x) { return ::fname(x); }                       \
  __device__ __forceinline__ double name(double x) { return ::dname(x); }

FLB_DM_UNARY(exp, expf, exp)
FLB_DM_UNARY(log, logf, log)
FLB_DM_UNARY(log2, log2f, log2)
FLB_DM_UNARY(log10, log10f, log10)
FLB_DM_UNARY(log1p, log1pf, log1p)
FLB_DM_UNARY(expm1, expm1f, expm1)
FLB_DM_UNARY(sqrt, sqrtf, sqrt)
FLB_DM_UNARY(sin, sinf, sin)
FLB_DM_UNARY(cos, cosf, cos)
FLB_DM_UNARY(tan, tanf, tan)
FLB_DM_UNARY(tanh, tanhf, tanh)
FLB_DM_UNARY(floor, floorf, floor)
FLB_DM_UNARY(ceil, ceilf, ceil)
FLB_DM_UNARY(rint, rintf, rint)  // round half to even, like std::nearbyint in the default mode
FLB_DM_UNARY(trunc, truncf, trunc)
FLB_DM_UNARY(erf, erff, erf)
FLB_DM_UNARY(fabs, fabsf, fabs)
FLB_DM_UNARY(asin, asinf, asin)
FLB_DM_UNARY(acos, acosf, acos)
FLB_DM_UNARY(atan, atanf, atan)
FLB_DM_UNARY(sinh, sinhf, sinh)
FLB_DM_UNARY(cosh, coshf, cosh)
FLB_DM_UNARY(asinh, asinhf, asinh)
FLB_DM_UNARY(acosh, acoshf, acosh)
FLB_DM_UNARY(atanh, atanhf, atanh)
FLB_DM_UNARY(erfc, erfcf, erfc)
FLB_DM_UNARY(lgamma, lgammaf, lgamma)
#undef FLB_DM_UNARY

#define FLB_DM_BINARY(name, fname, dname)                                                     \
  __device__ __forceinline__ float name(float x, float y) { return ::fname(x, y); }           \
  __device__ __forceinline__ double name(double x, double y) { return ::dname(x, y); }

FLB_DM_BINARY(fmod, fmodf, fmod)
FLB_DM_BINARY(pow, powf, pow)
FLB_DM_BINARY(atan2, atan2f, atan2)
FLB_DM_BINARY(hypot, hypotf, hypot)
FLB_DM_BINARY(copysign, copysignf, copysign)
#undef FLB_DM_BINARY

template <class T>
__device__ __forceinline__ bool isnan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}
template <class T>
__device__ __forceinline__ bool isinf(T x) {
  if constexpr (std::is_floating_point_v<T>) return fabs(x) == (T)INFINITY;
  else return false;
}
template <class T>
__device__ __forceinline__ bool isfinite(T x) {
  if constexpr (std::is_floating_point_v<T>) return fabs(x) < (T)INFINITY;  // false for NaN
  else return true;
}

// Conversion as in PyTorch and the CPU build: static_cast, except into bool (x != 0) and floating ->
// narrow integers (core/convert.h).
template <class To, class From>
__device__ __forceinline__ To convert(From v) {
  return ::flambeau::convert_element<To, From>(v);
}

// Wrapping int64 arithmetic.
__device__ __forceinline__ int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
__device__ __forceinline__ int64_t wsub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
__device__ __forceinline__ int64_t wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
__device__ __forceinline__ int64_t wneg(int64_t a) { return (int64_t)(0 - (uint64_t)a); }

// Generic add/mul for accumulators: wrapping for int64, logical for bool, plain for floats.
template <class T>
__device__ __forceinline__ T gadd(T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) return wadd(a, b);
  else if constexpr (std::is_same_v<T, bool>) return a || b;
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(wadd((int64_t)a, (int64_t)b));  // narrow ints wrap
  else return a + b;
}
template <class T>
__device__ __forceinline__ T gmul(T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) return wmul(a, b);
  else if constexpr (std::is_same_v<T, bool>) return a && b;
  else return a * b;
}

}  // namespace flambeau::cuda::dm
