// Contiguous float32 and float64 add/sub/mul/div/maximum/minimum with AVX2 registers, the 4-byte transpose,
// float32 <-> float64 conversion, and the
// addcmul/addcdiv/lerp rows of ternary_vec.inc. Only built with AVX2 flags
// and only called when the CPU has AVX2 (cpu/capability.cpp). IEEE results are identical to the
// scalar loops, so every capability gives the same bits.
#include <immintrin.h>
#include <cmath>
#include "cpu/simd/simd.h"

namespace flambeau::cpu::simd {
namespace {

// The register type of each element type: float (8 lanes) and double (4 lanes), the same code.
struct PS {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V ld(const T* p) { return _mm256_loadu_ps(p); }
  static void st(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V add(V x, V y) { return _mm256_add_ps(x, y); }
  static V sub(V x, V y) { return _mm256_sub_ps(x, y); }
  static V mul(V x, V y) { return _mm256_mul_ps(x, y); }
  static V div(V x, V y) { return _mm256_div_ps(x, y); }
  static V max(V x, V y) { return _mm256_max_ps(x, y); }
  static V min(V x, V y) { return _mm256_min_ps(x, y); }
  static V nan_wins(V r, V x) { return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }
};
struct PD {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static V ld(const T* p) { return _mm256_loadu_pd(p); }
  static void st(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V add(V x, V y) { return _mm256_add_pd(x, y); }
  static V sub(V x, V y) { return _mm256_sub_pd(x, y); }
  static V mul(V x, V y) { return _mm256_mul_pd(x, y); }
  static V div(V x, V y) { return _mm256_div_pd(x, y); }
  static V max(V x, V y) { return _mm256_max_pd(x, y); }
  static V min(V x, V y) { return _mm256_min_pd(x, y); }
  static V nan_wins(V r, V x) { return _mm256_blendv_pd(r, x, _mm256_cmp_pd(x, x, _CMP_UNORD_Q)); }
};

template <class S, int OP>
inline typename S::V apply(typename S::V x, typename S::V y) {
  if constexpr (OP == 0) return S::add(x, y);
  else if constexpr (OP == 1) return S::sub(x, y);
  else if constexpr (OP == 2) return S::mul(x, y);
  else if constexpr (OP == 3) return S::div(x, y);
  else  // 4 maximum, 5 minimum: max(x, y) is x > y ? x : y (y when either is NaN); a NaN x wins
    return S::nan_wins(OP == 4 ? S::max(x, y) : S::min(x, y), x);
}

template <class T, int OP>
inline T apply1(T x, T y) {
  if constexpr (OP == 0) return x + y;
  else if constexpr (OP == 1) return x - y;
  else if constexpr (OP == 2) return x * y;
  else if constexpr (OP == 3) return x / y;
  else {  // as cpu/elementwise.cpp's max_nan / min_nan
    T r = OP == 4 ? (x > y ? x : y) : (x < y ? x : y);
    r = y != y ? y : r;
    return x != x ? x : r;
  }
}

template <class S, int OP>
void run(typename S::T* o, const typename S::T* a, const typename S::T* b, int64_t n) {
  constexpr int W = S::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) S::st(o + i, apply<S, OP>(S::ld(a + i), S::ld(b + i)));
  for (; i < n; ++i) o[i] = apply1<typename S::T, OP>(a[i], b[i]);
}

template <class S, int OP>
void run_scalar(typename S::T* o, const typename S::T* a, typename S::T b, int64_t n) {
  constexpr int W = S::W;
  const typename S::V vb = S::set1(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) S::st(o + i, apply<S, OP>(S::ld(a + i), vb));
  for (; i < n; ++i) o[i] = apply1<typename S::T, OP>(a[i], b);
}

template <class S>
void binary_t(int op, typename S::T* o, const typename S::T* a, const typename S::T* b, int64_t n) {
  switch (op) {
    case 0: run<S, 0>(o, a, b, n); break;
    case 1: run<S, 1>(o, a, b, n); break;
    case 2: run<S, 2>(o, a, b, n); break;
    case 3: run<S, 3>(o, a, b, n); break;
    case 4: run<S, 4>(o, a, b, n); break;
    default: run<S, 5>(o, a, b, n); break;
  }
}

template <class S>
void binary_scalar_t(int op, typename S::T* o, const typename S::T* a, typename S::T b, int64_t n) {
  switch (op) {
    case 0: run_scalar<S, 0>(o, a, b, n); break;
    case 1: run_scalar<S, 1>(o, a, b, n); break;
    case 2: run_scalar<S, 2>(o, a, b, n); break;
    case 3: run_scalar<S, 3>(o, a, b, n); break;
    case 4: run_scalar<S, 4>(o, a, b, n); break;
    default: run_scalar<S, 5>(o, a, b, n); break;
  }
}

void binary(int op, float* o, const float* a, const float* b, int64_t n) { binary_t<PS>(op, o, a, b, n); }
void binary_scalar(int op, float* o, const float* a, float b, int64_t n) { binary_scalar_t<PS>(op, o, a, b, n); }
void binary_f64(int op, double* o, const double* a, const double* b, int64_t n) { binary_t<PD>(op, o, a, b, n); }
void binary_scalar_f64(int op, double* o, const double* a, double b, int64_t n) {
  binary_scalar_t<PD>(op, o, a, b, n);
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
BinaryF64Fn binary_f64_avx2() { return &binary_f64; }
BinaryScalarF64Fn binary_scalar_f64_avx2() { return &binary_scalar_f64; }

}  // namespace flambeau::cpu::simd
