// Contiguous float32 add/sub/mul/div/maximum/minimum with AVX2 registers (8 lanes), the 4-byte transpose,
// float32 <-> float64 conversion, and the
// addcmul/addcdiv/lerp rows of ternary_vec.inc. Only built with AVX2 flags
// and only called when the CPU has AVX2 (cpu/capability.cpp). IEEE results are identical to the
// scalar loops, so every capability gives the same bits.
#include <immintrin.h>
#include <cmath>
#include "cpu/simd/simd.h"

namespace flambeau::cpu::simd {
namespace {

template <int OP>
inline __m256 apply(__m256 x, __m256 y) {
  if constexpr (OP == 0) return _mm256_add_ps(x, y);
  else if constexpr (OP == 1) return _mm256_sub_ps(x, y);
  else if constexpr (OP == 2) return _mm256_mul_ps(x, y);
  else if constexpr (OP == 3) return _mm256_div_ps(x, y);
  else {  // 4 maximum, 5 minimum: max_ps(x, y) is x > y ? x : y (y when either is NaN); a NaN x wins
    const __m256 r = OP == 4 ? _mm256_max_ps(x, y) : _mm256_min_ps(x, y);
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
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

// 8 rows of 8 in registers, transposed by the usual three rounds (pairs of lanes, 64-bit halves,
// 128-bit halves): moves only, so every bit pattern (NaN payloads included) is copied as is.
inline void transpose8x8(__m256* r) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

void transpose32(uint32_t* out, int64_t ldo, const uint32_t* in, int64_t ldi, int64_t ni, int64_t nj) {
  float* o = reinterpret_cast<float*>(out);
  const float* x = reinterpret_cast<const float*>(in);
  int64_t i0 = 0;
  for (; i0 + 8 <= ni; i0 += 8) {
    int64_t j0 = 0;
    for (; j0 + 8 <= nj; j0 += 8) {
      __m256 r[8];
      for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(x + (j0 + k) * ldi + i0);
      transpose8x8(r);
      for (int k = 0; k < 8; ++k) _mm256_storeu_ps(o + (i0 + k) * ldo + j0, r[k]);
    }
    for (; j0 < nj; ++j0)
      for (int k = 0; k < 8; ++k) out[(i0 + k) * ldo + j0] = in[j0 * ldi + i0 + k];
  }
  for (; i0 < ni; ++i0)
    for (int64_t j = 0; j < nj; ++j) out[i0 * ldo + j] = in[j * ldi + i0];
}

// vcvtps2pd / vcvtpd2ps on 4 lanes; the baseline loop's SSE2 did 2 and ran at 0.55-0.68x PyTorch
// ([1024, 1024], Zen 3). Plain loops: the compiler vectorises them with this file's flags.
void f32_to_f64(double* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[i];
}
void f64_to_f32(float* __restrict o, const double* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = (float)x[i];
}

// Plain loops again: with AVX2 GCC vectorises the int64 min/max with vpcmpgtq (the baseline build's
// scalar cmovs made the bounds check of gather(1) on [1024, 1024] cost two thirds of the gather).
void minmax_i64(const int64_t* __restrict x, int64_t n, int64_t* lo, int64_t* hi) {
  int64_t l = x[0], h = x[0];
  for (int64_t i = 1; i < n; ++i) {
    l = x[i] < l ? x[i] : l;
    h = x[i] > h ? x[i] : h;
  }
  *lo = l;
  *hi = h;
}

#include "cpu/simd/ternary_vec.inc"
#include "cpu/simd/clamp_vec.inc"

}  // namespace

Transpose32Fn transpose32_avx2() { return &transpose32; }
F32ToF64Fn f32_to_f64_avx2() { return &f32_to_f64; }
F64ToF32Fn f64_to_f32_avx2() { return &f64_to_f32; }
MinMaxI64Fn minmax_i64_avx2() { return &minmax_i64; }
BinaryF32Fn binary_f32_avx2() { return &binary; }
TernaryF32Fn ternary_f32_avx2() { return &ternary_f32; }
ClampF32Fn clamp_f32_avx2() { return &clamp_f32; }
ClampF64Fn clamp_f64_avx2() { return &clamp_f64; }
TernaryF64Fn ternary_f64_avx2() { return &ternary_f64; }
BinaryScalarF32Fn binary_scalar_f32_avx2() { return &binary_scalar; }

}  // namespace flambeau::cpu::simd
