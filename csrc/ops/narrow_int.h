// The narrow integer dtypes (uint8, int8, int16, int32) in the ops layer.
//
// Their kernels only move bytes (FLB_DISPATCH_ALL_TYPES in copy, index, gather, where, pad, ...).
// Arithmetic, comparisons, reductions, sort and scans on them are computed here in int64 and the
// result stored back in the narrow type, wrapping: PyTorch's results exactly (its own kernels
// compute in the narrow type, where +, -, * wrap the same way modulo 2^bits, and /, %, comparisons
// and min/max see the same values), without instantiating every compute kernel for four more
// types. Narrow-int math is not meant to be fast.
#pragma once
#include "core/copy.h"
#include "core/scalar.h"
#include "core/tensor.h"

namespace flambeau::ops {

// t as int64 when it is a narrow integer (a converted copy), else t itself.
inline Tensor widen_int(const Tensor& t) {
  return is_narrow_int(t.dtype) ? to(t, DType::Int64, t.device(), false) : t;
}

// Raises PyTorch's "value cannot be converted to type uint8_t without overflow" (RuntimeError) when
// `v` does not fit an integer `dtype` by c10::overflows' rule: integers within [min, max], and for
// an unsigned type also down to -max (-1 is 255 in uint8); floats within [min, max] (not NaN or
// infinite). PyTorch checks where a value is stored (full, fill_, masked_fill, clamp bounds),
// not for scalar operands of arithmetic, which wrap (uint8 tensor + 300). Only the narrow integers
// are checked (int64 keeps its former behaviour); other dtypes pass.
void check_scalar_fits(const Scalar& v, DType dtype, const char* op);

// v as stored in a `dtype` element and read back (uint8: 300 -> 44, -1 -> 255): the bound a narrow
// clamp compares with, as PyTorch casts the bounds to the input's dtype.
Scalar scalar_as(const Scalar& v, DType dtype);

}  // namespace flambeau::ops
