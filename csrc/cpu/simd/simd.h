// Function tables filled by the SIMD leaf files (elementwise_avx2.cpp, elementwise_avx512.cpp). Only
// plain function pointers cross the boundary: no templates or inline functions are shared with the
// leaf files, so the linker can never pick an AVX-512 body for a baseline caller.
#pragma once
#include <cstdint>

namespace flambeau::cpu::simd {

// op: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum (NaN propagating, as max_nan / min_nan). Contiguous float32 arrays; o may alias a or b.
using BinaryF32Fn = void (*)(int op, float* o, const float* a, const float* b, int64_t n);
// Same with b a single broadcast scalar.
using BinaryScalarF32Fn = void (*)(int op, float* o, const float* a, float b, int64_t n);

// Both on float64 (the AVX2 build serves the AVX-512 capability too).
using BinaryF64Fn = void (*)(int op, double* o, const double* a, const double* b, int64_t n);
using BinaryScalarF64Fn = void (*)(int op, double* o, const double* a, double b, int64_t n);
BinaryF64Fn binary_f64_avx2();
BinaryScalarF64Fn binary_scalar_f64_avx2();


// Transpose of a block of 4-byte elements (float32, int32): out[i*ldo + j] = in[j*ldi + i] for
// i < ni, j < nj (strides in elements). x.t().contiguous() and permute(...).contiguous(), one tile at
// a time (cpu/copy.cpp). The AVX2 build serves the AVX-512 capability too (8x8 register blocks).
using Transpose32Fn = void (*)(uint32_t* out, int64_t ldo, const uint32_t* in, int64_t ldi, int64_t ni, int64_t nj);
Transpose32Fn transpose32_avx2();

// Contiguous float32 <-> float64 conversion (x.double(), x.float()), round to nearest as a cast. The
// AVX2 build serves the AVX-512 capability too (memory-bound at 4 lanes).
using F32ToF64Fn = void (*)(double* o, const float* x, int64_t n);
using F64ToF32Fn = void (*)(float* o, const double* x, int64_t n);
F32ToF64Fn f32_to_f64_avx2();
F64ToF32Fn f64_to_f32_avx2();

// The smallest and largest of x[0..n), n > 0 (index bounds checks: gather, scatter, index_select).
// AVX2 has the 64-bit compare SSE2 lacks; AVX-512 has the 64-bit min and max themselves.
using MinMaxI64Fn = void (*)(const int64_t* x, int64_t n, int64_t* lo, int64_t* hi);
MinMaxI64Fn minmax_i64_avx2();
MinMaxI64Fn minmax_i64_avx512();

// Addcmul / addcdiv / lerp (op = (int)TernaryOp) over one row: o[i*st[0]] = f(s[i*st[1]], a[i*st[2]],
// b[i*st[3]]), strides in elements; `value` scales addcmul/addcdiv (cpu/simd/ternary_vec.inc).
using TernaryF32Fn = void (*)(int op, float* o, const float* s, const float* a, const float* b, int64_t n,
                              const int64_t* st, double value);
using TernaryF64Fn = void (*)(int op, double* o, const double* s, const double* a, const double* b, int64_t n,
                              const int64_t* st, double value);
TernaryF32Fn ternary_f32_avx2();
TernaryF64Fn ternary_f64_avx2();
TernaryF32Fn ternary_f32_avx512();
TernaryF64Fn ternary_f64_avx512();

// Clamp of a contiguous row (cpu/simd/clamp_vec.inc); o may be x (not otherwise overlapping).
using ClampF32Fn = void (*)(float* o, const float* x, float lo, float hi, int64_t n);
using ClampF64Fn = void (*)(double* o, const double* x, double lo, double hi, int64_t n);
ClampF32Fn clamp_f32_avx2();
ClampF64Fn clamp_f64_avx2();
ClampF32Fn clamp_f32_avx512();
ClampF64Fn clamp_f64_avx512();

BinaryF32Fn binary_f32_avx2();
BinaryScalarF32Fn binary_scalar_f32_avx2();
BinaryF32Fn binary_f32_avx512();
BinaryScalarF32Fn binary_scalar_f32_avx512();

}  // namespace flambeau::cpu::simd
