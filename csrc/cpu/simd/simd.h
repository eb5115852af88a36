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

BinaryF32Fn binary_f32_avx2();
BinaryScalarF32Fn binary_scalar_f32_avx2();
BinaryF32Fn binary_f32_avx512();
BinaryScalarF32Fn binary_scalar_f32_avx512();

}  // namespace flambeau::cpu::simd
