// AVX2 + FMA GEMM micro-kernels (float and double), called by the driver in csrc/cpu/gemm.cpp.
//
// What one call computes (the contract is in csrc/cpu/gemm_kernels.h): an m x n tile of C,
//   C = alpha * (A_panel @ B_panel) + beta * C + bias_n[j] + bias_m[i]
// from a packed A micro-panel (kc steps of MR values) and a packed B micro-panel (kc steps of NR values).
//
// Register tile. Vectors run along a row of C (C is row-major). With 16 ymm registers the classic
// Haswell shape is the best fit: 6 rows x 2 vectors = 12 accumulators, 2 B vectors, 1 broadcast.
//   float : 6 x 16 (8 floats per ymm)
//   double: 6 x 8  (4 doubles per ymm)
// Per k step: 12 FMAs for 2 vector loads + 6 broadcasts, so the two FMA ports stay the bottleneck.
// (8 x 8 fits too but does 8 FMAs per 10 loads; 4 x 24 leaves the FMA latency exposed.)
//
// Edges. Every m in 1..6 has its own instantiation; columns past n are handled with maskload /
// store_first (avx2_store_first.inc), and n <= 8 (float) / 4 (double) skips the second vector's FMAs.
//
// ODR: everything here is in an anonymous namespace inside flambeau::cpu::gemm_avx2 and uses only
// intrinsics, never a template or inline function shared with baseline code.
#include <immintrin.h>

#include "cpu/gemm_kernels.h"

namespace flambeau::cpu::gemm_avx2 {
namespace {

#include "cpu/simd/avx2_store_first.inc"
#include "cpu/simd/gemv_body.inc"

using gemm_detail::KernelSet;

struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int VL = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_load_ps(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  // Lane l is on when l < left.
  static __m256i mask(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V mloadu(__m256i m, const T* p) { return _mm256_maskload_ps(p, m); }
  static void storen(T* p, V v, int64_t n) { store_first(p, v, n); }
  // r[c] <- column c of the 8 x 8 block whose rows are r[0..7].
  static void transpose(V r[8]) {
    V t[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    V u[8];
    for (int h = 0; h < 2; ++h) {  // u[4h+j], lane L: rows 4h..4h+3 of column 4L+j
      u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
  }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int VL = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_load_pd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static __m256i mask(int64_t left) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(left), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V mloadu(__m256i m, const T* p) { return _mm256_maskload_pd(p, m); }
  static void storen(T* p, V v, int64_t n) { store_first(p, v, n); }
  // r[c] <- column c of the 4 x 4 block whose rows are r[0..3].
  static void transpose(V r[4]) {
    const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
};

constexpr int kMR = 6;
constexpr int kNV = 2;

template <class S, int M, int NV>
void kernel(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
            typename S::T* __restrict c, int64_t ldc, int64_t n, typename S::T alpha, typename S::T beta,
            const typename S::T* bias_n, const typename S::T* bias_m) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int VL = S::VL;
  constexpr int NR = kNV * VL;
  constexpr int B_PREFETCH = 8 * NR;  // elements: 8 k steps ahead

#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);

  V acc[M][NV];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * VL);
    _mm_prefetch((const char*)(b + B_PREFETCH), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      V ai = S::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += NR;
  }

  const V va = S::set1(alpha);
  const V vb = S::set1(beta);
  const bool full = n == NV * VL;
  __m256i mask[NV];
  V bn[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    mask[v] = S::mask(n - v * VL);
    bn[v] = bias_n ? S::mloadu(mask[v], bias_n + v * VL) : S::zero();
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
    V bm = bias_m ? S::set1(bias_m[i]) : S::zero();
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V r = S::add(S::fmadd(acc[i][v], va, bn[v]), bm);
      if (full) {
        if (beta != T(0)) r = S::fmadd(S::loadu(ci + v * VL), vb, r);
        S::storeu(ci + v * VL, r);
      } else {
        if (beta != T(0)) r = S::fmadd(S::mloadu(mask[v], ci + v * VL), vb, r);
        S::storen(ci + v * VL, r, n - v * VL);
      }
    }
  }
}

// Packing (contract in gemm_kernels.h): dst[k*P + i] = src[i*si + k*sk], zero rows m..P-1.
//   sk == 1: VL rows x VL k values loaded as VL vectors, transposed in registers, stored as VL rows.
//   si == 1: a (masked) vector copy per k.   other strides: scalar gather.
template <class S, int P>
void pack(const typename S::T* src, int64_t si, int64_t sk, int64_t m, int64_t kc, typename S::T* dst) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int VL = S::VL;
  constexpr int G = (P + VL - 1) / VL;
  if (sk == 1 && m > 1) {
    for (int64_t k0 = 0; k0 < kc; k0 += VL) {
      const int64_t kn = kc - k0 < VL ? kc - k0 : VL;
      const __m256i kmask = S::mask(kn);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        V r[VL];
#pragma GCC unroll 8
        for (int t = 0; t < VL; ++t) {
          const int64_t i = g * VL + t;
          r[t] = i < m ? S::mloadu(kmask, src + i * si + k0) : S::zero();
        }
        S::transpose(r);
        T* d = dst + k0 * P + g * VL;
        for (int kk = 0; kk < kn; ++kk) S::storen(d + kk * P, r[kk], P - g * VL);  // all VL lanes or the last P % VL
      }
    }
    return;
  }
  if (si == 1) {
    for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const int64_t left = m - g * VL;
        const V v = left >= VL ? S::loadu(src + k * sk + g * VL)
                               : left > 0 ? S::mloadu(S::mask(left), src + k * sk + g * VL) : S::zero();
        S::storen(dst + k * P + g * VL, v, P - g * VL);
      }
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    for (int64_t i = 0; i < m; ++i) dst[k * P + i] = src[i * si + k * sk];
    for (int64_t i = m; i < P; ++i) dst[k * P + i] = T(0);
  }
}

template <class S, int M>
void fill_rows(KernelSet<typename S::T>& ks) {
  if constexpr (M >= 1) {
    ks.kernel[M - 1][0] = &kernel<S, M, 1>;
    ks.kernel[M - 1][1] = &kernel<S, M, 2>;
    fill_rows<S, M - 1>(ks);
  }
}

template <class S>
KernelSet<typename S::T> make_set(const char* name, int kc, int mc, int nc) {
  KernelSet<typename S::T> ks{};
  ks.name = name;
  ks.mr = kMR;
  ks.nr = kNV * S::VL;
  ks.vl = S::VL;
  ks.kc = kc;
  ks.mc = mc;
  ks.nc = nc;
  fill_rows<S, kMR>(ks);
  ks.pack_a = &pack<S, kMR>;
  ks.pack_b = &pack<S, kNV * S::VL>;
  ks.gemv_dot = &gemv_dot<typename S::T>;
  ks.gemv_axpy = &gemv_axpy<typename S::T>;
  return ks;
}

}  // namespace

// Blocking as for AVX-512 (see gemm_avx512.cpp), sized for the smaller L2 of AVX2-only cores (256 KiB
// on Haswell/Broadwell, 512 KiB on Zen 2/3): the thread's kc x nc B block is 192 KiB, A lives in L3.
const KernelSet<float>* sgemm_kernels() {
  static const KernelSet<float> ks = make_set<F32>("avx2 6x16", 256, 1536, 192);
  return &ks;
}

const KernelSet<double>* dgemm_kernels() {
  static const KernelSet<double> ks = make_set<F64>("avx2 6x8", 256, 768, 96);
  return &ks;
}

}  // namespace flambeau::cpu::gemm_avx2
