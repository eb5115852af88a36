// Function tables filled by the SIMD leaf files (elementwise_avx2.cpp, elementwise_avx512.cpp). Only
// plain function pointers cross the boundary: no templates or inline functions are shared with the
// leaf files, so the linker can never pick an AVX-512 body for a baseline caller.
#pragma once
#include <cstdint>

namespace flambeau::cpu::simd {

// op: 0 add, 1 sub, 2 mul, 3 div. Contiguous float32 arrays; o may alias a or b.
using BinaryF32Fn = void (*)(int op, float* o, const float* a, const float* b, int64_t n);
// Same with b a single broadcast scalar.
using BinaryScalarF32Fn = void (*)(int op, float* o, const float* a, float b, int64_t n);

// Transpose of a block of 4-byte elements (float32, int32): out[i*ldo + j] = in[j*ldi + i] for
// i < ni, j < nj (strides in elements). x.t().contiguous() and permute(...).contiguous(), one tile at
// a time (cpu/copy.cpp). The AVX2 build serves the AVX-512 capability too (8x8 register blocks).
using Transpose32Fn = void (*)(uint32_t* out, int64_t ldo, const uint32_t* in, int64_t ldi, int64_t ni, int64_t nj);
Transpose32Fn transpose32_avx2();

BinaryF32Fn binary_f32_avx2();
BinaryScalarF32Fn binary_scalar_f32_avx2();
BinaryF32Fn binary_f32_avx512();
BinaryScalarF32Fn binary_scalar_f32_avx512();

}  // namespace flambeau::cpu::simd
