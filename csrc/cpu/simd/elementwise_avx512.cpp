// Contiguous float32 add/sub/mul/div/maximum/minimum with AVX512 registers (16 lanes), and the addcmul/addcdiv/lerp
// rows of ternary_vec.inc. Only built with AVX512 flags
// and only called when the CPU has AVX512 (cpu/capability.cpp). IEEE results are identical to the
// scalar loops, so every capability gives the same bits.
#include <immintrin.h>
#include <cmath>
#include "cpu/simd/simd.h"

namespace flambeau::cpu::simd {
namespace {

template <int OP>
inline __m512 apply(__m512 x, __m512 y) {
  if constexpr (OP == 0) return _mm512_add_ps(x, y);
  else if constexpr (OP == 1) return _mm512_sub_ps(x, y);
  else if constexpr (OP == 2) return _mm512_mul_ps(x, y);
  else if constexpr (OP == 3) return _mm512_div_ps(x, y);
  else {  // 4 maximum, 5 minimum: max_ps(x, y) is x > y ? x : y (y when either is NaN); a NaN x wins
    const __m512 r = OP == 4 ? _mm512_max_ps(x, y) : _mm512_min_ps(x, y);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, x);
  }
}

template <int OP>
inline float apply1(float x, float y) {
  if constexpr (OP == 0) return x + y;
  else if constexpr (OP == 1) return x - y;
  else if constexpr (OP == 2) return x * y;
  else if constexpr (OP == 3) return x / y;
  else {  // as cpu/elementwise.cpp's max_nan / min_nan
    float r = OP == 4 ? (x > y ? x : y) : (x < y ? x : y);
    r = y != y ? y : r;
    return x != x ? x : r;
  }
}

template <int OP>
void run(float* o, const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, apply<OP>(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  for (; i < n; ++i) o[i] = apply1<OP>(a[i], b[i]);
}

template <int OP>
void run_scalar(float* o, const float* a, float b, int64_t n) {
  const __m512 vb = _mm512_set1_ps(b);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, apply<OP>(_mm512_loadu_ps(a + i), vb));
  for (; i < n; ++i) o[i] = apply1<OP>(a[i], b);
}

void binary(int op, float* o, const float* a, const float* b, int64_t n) {
  switch (op) {
    case 0: run<0>(o, a, b, n); break;
    case 1: run<1>(o, a, b, n); break;
    case 2: run<2>(o, a, b, n); break;
    case 3: run<3>(o, a, b, n); break;
    case 4: run<4>(o, a, b, n); break;
    default: run<5>(o, a, b, n); break;
  }
}

void binary_scalar(int op, float* o, const float* a, float b, int64_t n) {
  switch (op) {
    case 0: run_scalar<0>(o, a, b, n); break;
    case 1: run_scalar<1>(o, a, b, n); break;
    case 2: run_scalar<2>(o, a, b, n); break;
    case 3: run_scalar<3>(o, a, b, n); break;
    case 4: run_scalar<4>(o, a, b, n); break;
    default: run_scalar<5>(o, a, b, n); break;
  }
}

// The index bounds check's min and max (index_select, index_put, scatter_add): vpminsq / vpmaxsq, which
// AVX2 lacks (its leaf compares and blends: one dependent chain each, latency-bound), in four pairs of
// accumulators. scatter_add(1) of [1024, 1024] spent a quarter of its time in the AVX2 pass.
void minmax_i64(const int64_t* x, int64_t n, int64_t* lo, int64_t* hi) {
  int64_t l = x[0], h = x[0], i = 0;
  if (n >= 32) {
    __m512i l0 = _mm512_loadu_si512(x), l1 = _mm512_loadu_si512(x + 8), l2 = _mm512_loadu_si512(x + 16),
            l3 = _mm512_loadu_si512(x + 24);
    __m512i h0 = l0, h1 = l1, h2 = l2, h3 = l3;
    for (i = 32; i + 32 <= n; i += 32) {
      const __m512i a0 = _mm512_loadu_si512(x + i), a1 = _mm512_loadu_si512(x + i + 8),
                    a2 = _mm512_loadu_si512(x + i + 16), a3 = _mm512_loadu_si512(x + i + 24);
      l0 = _mm512_min_epi64(l0, a0), l1 = _mm512_min_epi64(l1, a1), l2 = _mm512_min_epi64(l2, a2), l3 = _mm512_min_epi64(l3, a3);
      h0 = _mm512_max_epi64(h0, a0), h1 = _mm512_max_epi64(h1, a1), h2 = _mm512_max_epi64(h2, a2), h3 = _mm512_max_epi64(h3, a3);
    }
    l = _mm512_reduce_min_epi64(_mm512_min_epi64(_mm512_min_epi64(l0, l1), _mm512_min_epi64(l2, l3)));
    h = _mm512_reduce_max_epi64(_mm512_max_epi64(_mm512_max_epi64(h0, h1), _mm512_max_epi64(h2, h3)));
  }
  for (; i < n; ++i) {
    l = x[i] < l ? x[i] : l;
    h = x[i] > h ? x[i] : h;
  }
  *lo = l;
  *hi = h;
}

#include "cpu/simd/ternary_vec.inc"
#include "cpu/simd/clamp_vec.inc"

}  // namespace

BinaryF32Fn binary_f32_avx512() { return &binary; }
MinMaxI64Fn minmax_i64_avx512() { return &minmax_i64; }
TernaryF32Fn ternary_f32_avx512() { return &ternary_f32; }
ClampF32Fn clamp_f32_avx512() { return &clamp_f32; }
ClampF64Fn clamp_f64_avx512() { return &clamp_f64; }
TernaryF64Fn ternary_f64_avx512() { return &ternary_f64; }
BinaryScalarF32Fn binary_scalar_f32_avx512() { return &binary_scalar; }

}  // namespace flambeau::cpu::simd
