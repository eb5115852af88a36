// Element types. float32 everywhere, float64 on the CPU (and CUDA) for gradient checks, int64 for
// indices and labels, bool for masks (one byte, as in numpy and PyTorch), and the narrow integers
// uint8/int8/int16/int32 for data pipelines (images, labels from numpy).
//
// The narrow integers are storage types: kernels that only move bytes (copy, index, gather, cat,
// where, pad, ...) are instantiated for them (FLB_DISPATCH_ALL_TYPES); arithmetic, comparisons and
// reductions on them are computed by the ops layer in int64 and stored back with wraparound
// (ops/narrow_int.h), which gives PyTorch's results exactly. Every other dispatch macro throws
// "<op>: not implemented for dtype int32" for a type it does not list, never silently skipping.
//
// float16 and bfloat16 (core/half.h) are storage types in the same way: FLB_DISPATCH_ALL_TYPES moves
// and converts them; every compute op reaches them through python/half_compute.cpp, which converts
// the half arguments to float32, runs the float32 op and rounds the floating results back once
// (PyTorch's CPU "opmath" rule). The compute dispatch macros throw for them.
//
// complex64 and complex128 (core/complex.h) are storage types too: FLB_DISPATCH_ALL_TYPES moves and
// converts them (to a real type: the real part, as PyTorch; from one: imaginary part zero); their
// arithmetic is composed in Python over view_as_real, and the compute macros throw for them.
#pragma once
#include <cstdint>
#include <cstddef>
#include <string>
#include "core/error.h"
#include "core/complex.h"
#include "core/half.h"

namespace flambeau {

enum class DType : int8_t { Bool = 0, Int64 = 1, Float32 = 2, Float64 = 3, UInt8 = 4, Int8 = 5, Int16 = 6, Int32 = 7,
                          Float16 = 8, BFloat16 = 9, Complex64 = 10, Complex128 = 11 };

inline size_t itemsize(DType t) {
  switch (t) {
    case DType::Bool: return 1;
    case DType::Int64: return 8;
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::UInt8: return 1;
    case DType::Int8: return 1;
    case DType::Int16: return 2;
    case DType::Int32: return 4;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
    case DType::Complex64: return 8;
    case DType::Complex128: return 16;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Complex64: return "complex64";
    case DType::Complex128: return "complex128";
  }
  return "?";
}

inline DType dtype_from_name(const std::string& s) {
  if (s == "float32" || s == "float") return DType::Float32;
  if (s == "float64" || s == "double") return DType::Float64;
  if (s == "int64" || s == "long") return DType::Int64;
  if (s == "bool") return DType::Bool;
  if (s == "int32" || s == "int") return DType::Int32;
  if (s == "int16" || s == "short") return DType::Int16;
  if (s == "int8") return DType::Int8;
  if (s == "uint8") return DType::UInt8;
  if (s == "float16" || s == "half") return DType::Float16;
  if (s == "bfloat16") return DType::BFloat16;
  if (s == "complex64" || s == "cfloat") return DType::Complex64;
  if (s == "complex128" || s == "cdouble") return DType::Complex128;
  throw TypeError("unsupported dtype '" + s +
                  "' (flambeau supports float32, float64, float16, bfloat16, complex64, complex128, int64, int32, int16, "
                  "int8, uint8, bool)");
}

// float32 and float64: the floating types kernels compute in. float16/bfloat16 are floating too
// (is_floating_point) but are computed in float32 (see the top of this file).
inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }
inline bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }
inline bool is_floating_point(DType t) { return is_floating(t) || is_half(t); }
// uint8, int8, int16, int32: computed in int64 by the ops layer (see the top of this file).
inline bool is_narrow_int(DType t) {
  return t == DType::UInt8 || t == DType::Int8 || t == DType::Int16 || t == DType::Int32;
}
inline bool is_integral(DType t) { return t == DType::Int64 || is_narrow_int(t); }
inline bool is_complex(DType t) { return t == DType::Complex64 || t == DType::Complex128; }

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::Int16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<ComplexFloat> { static constexpr DType value = DType::Complex64; };
template <> struct dtype_of<ComplexDouble> { static constexpr DType value = DType::Complex128; };

}  // namespace flambeau

// Runs the body with `scalar_t` bound to the C++ type of `dtype`.
#define FLB_DISPATCH_CASE(enum_v, T, ...) \
  case ::flambeau::DType::enum_v: {       \
    using scalar_t = T;                   \
    __VA_ARGS__();                        \
    break;                                \
  }

#define FLB_DISPATCH_NOT_IMPLEMENTED(dtype, opname)                                       \
  default:                                                                                \
    throw ::flambeau::TypeError(::flambeau::str_cat(opname, ": not implemented for dtype ", \
                                                    ::flambeau::dtype_name(dtype)))

// bool, int64, float32, float64: the compute types. The narrow integers throw (the ops layer
// computes them in int64 before a kernel is reached; a kernel reached with one is a bug, not a
// silent no-op).
#define FLB_DISPATCH_ALL(dtype, opname, ...)                                              \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Bool, bool, __VA_ARGS__)                                          \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
      FLB_DISPATCH_NOT_IMPLEMENTED(dtype, opname);                                        \
    }                                                                                     \
  } while (0)

// Every dtype: for kernels that move or convert elements (copy, fill, index, gather, where, pad)
// or only compare them with zero (nonzero).
#define FLB_DISPATCH_ALL_TYPES(dtype, opname, ...)                                        \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Bool, bool, __VA_ARGS__)                                          \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
      FLB_DISPATCH_CASE(UInt8, uint8_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Int8, int8_t, __VA_ARGS__)                                        \
      FLB_DISPATCH_CASE(Int16, int16_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float16, ::flambeau::Half, __VA_ARGS__)                           \
      FLB_DISPATCH_CASE(BFloat16, ::flambeau::BFloat16, __VA_ARGS__)                      \
      FLB_DISPATCH_CASE(Complex64, ::flambeau::ComplexFloat, __VA_ARGS__)                 \
      FLB_DISPATCH_CASE(Complex128, ::flambeau::ComplexDouble, __VA_ARGS__)               \
      FLB_DISPATCH_NOT_IMPLEMENTED(dtype, opname);                                        \
    }                                                                                     \
  } while (0)

#define FLB_DISPATCH_NUMERIC(dtype, opname, ...)                                          \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
      FLB_DISPATCH_NOT_IMPLEMENTED(dtype, opname);                                        \
    }                                                                                     \
  } while (0)

#define FLB_DISPATCH_FLOATING(dtype, opname, ...)                                         \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
      default:                                                                            \
        throw ::flambeau::TypeError(::flambeau::str_cat(opname, ": expected a floating-point tensor, got ", \
                                                        ::flambeau::dtype_name(dtype)));  \
    }                                                                                     \
  } while (0)
