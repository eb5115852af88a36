// The contract between the sparse-times-dense driver (csrc/cpu/sparse.cpp, baseline x86-64) and its
// AVX2 leaf (csrc/cpu/simd/sparse_avx2.cpp): y[j] = fma(a, x[j], y[j]) for j < n, each element one
// fused multiply-add (rounded once), as the BLAS axpy PyTorch's CPU sparse kernels call. Plain
// function pointers only, so no code built with AVX flags can be inlined into baseline callers.
#pragma once
#include <cstdint>

namespace flambeau::cpu::sparse_simd {

using AxpyF32 = void (*)(int64_t n, float a, const float* x, float* y);
using AxpyF64 = void (*)(int64_t n, double a, const double* x, double* y);

AxpyF32 axpy_f32_avx2();
AxpyF64 axpy_f64_avx2();

}  // namespace flambeau::cpu::sparse_simd
