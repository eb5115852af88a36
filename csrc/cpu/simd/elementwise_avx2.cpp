// Contiguous float32 add/sub/mul/div with AVX2 registers (8 lanes). Only built with AVX2 flags
// and only called when the CPU has AVX2 (cpu/capability.cpp). IEEE results are identical to the
// scalar loops, so every capability gives the same bits.
#include <immintrin.h>
#include "cpu/simd/simd.h"

namespace flambeau::cpu::simd {
namespace {

template <int OP>
inline __m256 apply(__m256 x, __m256 y) {
  if constexpr (OP == 0) return _mm256_add_ps(x, y);
  else if constexpr (OP == 1) return _mm256_sub_ps(x, y);
  else if constexpr (OP == 2) return _mm256_mul_ps(x, y);
  else return _mm256_div_ps(x, y);
}

template <int OP>
inline float apply1(float x, float y) {
  if constexpr (OP == 0) return x + y;
  else if constexpr (OP == 1) return x - y;
  else if constexpr (OP == 2) return x * y;
  else return x / y;
}

template <int OP>
void run(float* o, const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, apply<OP>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) o[i] = apply1<OP>(a[i], b[i]);
}

template <int OP>
void run_scalar(float* o, const float* a, float b, int64_t n) {
  const __m256 vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, apply<OP>(_mm256_loadu_ps(a + i), vb));
  for (; i < n; ++i) o[i] = apply1<OP>(a[i], b);
}

void binary(int op, float* o, const float* a, const float* b, int64_t n) {
  switch (op) {
    case 0: run<0>(o, a, b, n); break;
    case 1: run<1>(o, a, b, n); break;
    case 2: run<2>(o, a, b, n); break;
    default: run<3>(o, a, b, n); break;
  }
}

void binary_scalar(int op, float* o, const float* a, float b, int64_t n) {
  switch (op) {
    case 0: run_scalar<0>(o, a, b, n); break;
    case 1: run_scalar<1>(o, a, b, n); break;
    case 2: run_scalar<2>(o, a, b, n); break;
    default: run_scalar<3>(o, a, b, n); break;
  }
}

}  // namespace

BinaryF32Fn binary_f32_avx2() { return &binary; }
BinaryScalarF32Fn binary_scalar_f32_avx2() { return &binary_scalar; }

}  // namespace flambeau::cpu::simd
