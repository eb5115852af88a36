// The contract between F.pdist's forward and backward (csrc/cpu/distance.cpp, baseline x86-64) and its AVX2 build
// (csrc/cpu/simd/pdist_avx2.cpp; the loops are in pdist_body.h), which serves the AVX-512 capability
// too: PyTorch registers no AVX-512 build of this kernel (its REGISTER_DISPATCH leaves AVX-512 to the
// AVX2 one), so 8 float32 / 4 float64 lanes are its arithmetic on every AVX2 or AVX-512 CPU.
//
// Plain data and declarations only (no inline or template code), as gemm_kernels.h explains.
#pragma once
#include <cstdint>

namespace flambeau::cpu::pdist_simd {

// p = 0, 1, 2 and inf; other p stay on the portable path (their pow has no vector form here).
enum Norm : int { kZero = 0, kOne = 1, kTwo = 2, kInf = 3 };

// The distances of `count` consecutive pairs of the condensed order (row-major over i < j), starting
// at the pair (i, j), of the rows of x [N, M] (contiguous, M >= 1), into out[0 .. count).
using F32Fn = void (*)(float* out, const float* x, int64_t N, int64_t M, int norm, int64_t i, int64_t j,
                       int64_t count);
using F64Fn = void (*)(double* out, const double* x, int64_t N, int64_t M, int norm, int64_t i, int64_t j,
                       int64_t count);

F32Fn f32_avx2();
F64Fn f64_avx2();

// The backward for p = 1, 2, inf (pdist_backward_body.h): columns [c0, c1) of gx [N, M] (zero there on
// entry) from x [N, M], grad and dist [N (N - 1) / 2], all contiguous.
using BwdF32Fn = void (*)(float* gx, const float* x, const float* grad, const float* dist, int64_t N, int64_t M,
                          int norm, int64_t c0, int64_t c1);
using BwdF64Fn = void (*)(double* gx, const double* x, const double* grad, const double* dist, int64_t N, int64_t M,
                          int norm, int64_t c0, int64_t c1);
BwdF32Fn bwd_f32_avx2();
BwdF64Fn bwd_f64_avx2();

}  // namespace flambeau::cpu::pdist_simd
