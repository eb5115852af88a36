// Element types. float32 everywhere, float64 on the CPU (and CUDA) for gradient checks, int64 for
// indices and labels, bool for masks (one byte, as in numpy and PyTorch).
#pragma once
#include <cstdint>
#include <cstddef>
#include <string>
#include "core/error.h"

namespace flambeau {

enum class DType : int8_t { Bool = 0, Int64 = 1, Float32 = 2, Float64 = 3 };

inline size_t itemsize(DType t) {
  switch (t) {
    case DType::Bool: return 1;
    case DType::Int64: return 8;
    case DType::Float32: return 4;
    case DType::Float64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

inline DType dtype_from_name(const std::string& s) {
  if (s == "float32" || s == "float") return DType::Float32;
  if (s == "float64" || s == "double") return DType::Float64;
  if (s == "int64" || s == "long") return DType::Int64;
  if (s == "bool") return DType::Bool;
  throw TypeError("unsupported dtype '" + s + "' (flambeau supports float32, float64, int64, bool)");
}

inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

}  // namespace flambeau

// Runs the body with `scalar_t` bound to the C++ type of `dtype`.
#define FLB_DISPATCH_CASE(enum_v, T, ...) \
  case ::flambeau::DType::enum_v: {       \
    using scalar_t = T;                   \
    __VA_ARGS__();                        \
    break;                                \
  }

#define FLB_DISPATCH_ALL(dtype, opname, ...)                                              \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Bool, bool, __VA_ARGS__)                                          \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
    }                                                                                     \
  } while (0)

#define FLB_DISPATCH_NUMERIC(dtype, opname, ...)                                          \
  do {                                                                                    \
    switch (dtype) {                                                                      \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float32, float, __VA_ARGS__)                                      \
      FLB_DISPATCH_CASE(Float64, double, __VA_ARGS__)                                     \
      default:                                                                            \
        throw ::flambeau::TypeError(::flambeau::str_cat(opname, ": not implemented for dtype ", \
                                                        ::flambeau::dtype_name(dtype)));  \
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
