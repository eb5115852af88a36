// AVX2 + FMA axpy for the sparse-times-dense kernels (contract in sparse_simd.h): 8 (float) or 4
// (double) lanes per fused multiply-add, the tail with scalar fused multiply-adds, so every element
// is rounded once whichever path computes it (the same bits as the portable std::fma loop).
#include <immintrin.h>
#include <cmath>
#include "cpu/simd/sparse_simd.h"

namespace flambeau::cpu::sparse_simd {
namespace {

void axpy_f32(int64_t n, float a, const float* x, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
  for (; j < n; ++j) y[j] = std::fma(a, x[j], y[j]);
}

void axpy_f64(int64_t n, double a, const double* x, double* y) {
  const __m256d va = _mm256_set1_pd(a);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    _mm256_storeu_pd(y + j, _mm256_fmadd_pd(va, _mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j)));
  for (; j < n; ++j) y[j] = std::fma(a, x[j], y[j]);
}

}  // namespace

AxpyF32 axpy_f32_avx2() { return &axpy_f32; }
AxpyF64 axpy_f64_avx2() { return &axpy_f64; }

}  // namespace flambeau::cpu::sparse_simd
