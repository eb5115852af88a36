// AVX-512 GEMM micro-kernels (float and double), called by the driver in csrc/cpu/gemm.cpp.
//
// What one call computes (the contract is in csrc/cpu/gemm_kernels.h): an m x n tile of C,
//   C = alpha * (A_panel @ B_panel) + beta * C + bias_n[j] + bias_m[i]
// from a packed A micro-panel (kc steps of MR values: one column of the tile's rows of A per step) and
// a packed B micro-panel (kc steps of NR values: one row of the tile's columns of B per step); the
// float kernel_row_a variants read a row-major A in place instead (see kernel_body).
//
// Register tile. C is row-major, so vectors run along a row of C (N): each k step loads NR/VL vectors of
// B and, for each of the MR rows, broadcasts one A value and does NR/VL FMAs into that row's
// accumulators. The tile is as tall as the register file allows: 32 zmm registers hold
// MR*NR/VL accumulators + NR/VL B vectors + 1 broadcast.
//   float : 14 x 32 (2 zmm per row): 28 accumulators, 2 B vectors, 1 broadcast = 31 registers.
//   double: 14 x 16 (2 zmm per row): the same shape in registers, 8 doubles per zmm.
// (The packers below transpose A and B panels in registers too: 16 x 16 floats / 8 x 8 doubles.)
// Per k step that is 28 FMAs for 2 vector loads + 14 broadcast loads: the two FMA ports stay the
// bottleneck (14 cycles) while the two load ports have room (8 cycles) for loads and prefetches. A
// squarer tile (8 x 48, 12 x 32) spends more loads per FMA or leaves accumulators unused.
//
// Front end. Written that way, a k step is 46 instructions (28 FMA, 14 vbroadcastss, 2 loads, 2
// prefetches) for 14 cycles of FMA work: 3.3 per cycle against the core's 4-wide allocation. On a quiet
// core that is enough (0.93-0.95 of the FMA peak), but this is a KVM guest, and for long stretches
// (even with our own guest idle) the kernel ran at 0.56-0.65 of the register-only FMA peak measured at
// the same moment: most likely the host running something on our core's sibling hyperthread, which
// halves the allocation slots and hurts a front-end-bound loop far more than the FMA-only one (the
// guest has no PMU to confirm it). So the
// first kEmbRows rows skip the broadcast: each of their two FMAs takes a[i] as an embedded-broadcast
// memory operand (vfmadd231ps m32{1to16}, one micro-fused instruction; the same arithmetic, so the same
// bits). A row done that way costs one instruction less and one load more; with 6 such rows a k step
// is 40 instructions and 24 loads (of the 2 x 14 the load ports can take), which measured 0.61-0.72
// (median) under that contention against 0.55-0.64, and 0.94 against 0.88-0.91 on a quiet core. Fewer rows
// help less; more (8, 10, 14) run into the load ports (benchmarks/gemm/bench_kernel_emb.cpp,
// RESULTS-gemm.md). Kernels with one vector per row (n <= VL) do every row that way: one load per row
// either way, and one instruction instead of two.
//
// Edges. Every m in 1..14 has its own instantiation (kernel<M, NV>), so a ragged last row-panel costs
// only its own rows' FMAs; columns are masked loads/stores, and NV=1 (n <= VL) skips the second
// vector's FMAs. The packed panels keep the full MR/NR strides (zero-padded by the packer).
//
// Memory. The driver keeps the A micro-panel (14 x kc) hot while it walks the B micro-panels of the
// thread's L2-resident B block, so B streams from L2: we prefetch it 8 k steps ahead into L1, and we
// prefetch the C tile before the k loop so that the read-modify-write at the end does not stall.
//
// ODR: everything here is in an anonymous namespace inside flambeau::cpu::gemm_avx512 and uses only
// intrinsics (always-inline builtins) and inline asm, never a template or inline function shared with
// baseline code.

// GCC 12 warns inside its own AVX-512 shuffle intrinsics (their _mm512_undefined_ps() pass-through is
// "maybe uninitialized"); a known false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/gemm_kernels.h"

namespace flambeau::cpu::gemm_avx512 {
namespace {

#include "cpu/simd/gemv_body.inc"

using gemm_detail::KernelSet;

struct F32 {
  using T = float;
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int VL = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_load_ps(p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // c += broadcast(*p) * b as one instruction with an embedded-broadcast memory operand (see kernel).
  static V fmadd_bcast(const T* p, V b, V c) {
    asm("vfmadd231ps %[m]%{1to16%}, %[b], %[c]" : [c] "+v"(c) : [b] "v"(b), [m] "m"(*p));
    return c;
  }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // c + a*b in the lanes of m, c elsewhere.
  static V mfmadd(Mask m, V a, V b, V c) { return _mm512_mask3_fmadd_ps(a, b, c, m); }
  // The sum of the 32 values lo[0..15], hi[0..15] (as t[0..31]) by the tree t[l] += t[l + w], w = 16,
  // 8, 4, 2, 1: the order of gemv_body.inc's loop for L = 32, so the same bits.
  static T tree_sum(V lo, V hi) {
    const V v = _mm512_add_ps(lo, hi);
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
  }
  static V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V mloadu(Mask m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void mstoreu(T* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  // Lanes [0, left) on (left may be <= 0 or >= VL).
  static Mask mask(int64_t left) {
    return left >= VL ? (Mask)0xFFFF : left <= 0 ? (Mask)0 : (Mask)((1u << left) - 1);
  }
  // r[c] <- column c of the 16 x 16 block whose rows are r[0..15]: 4 rounds of in-register shuffles
  // (unpack pairs, shuffle quads, then two rounds of 128-bit lane shuffles).
  static void transpose(V r[16]) {
    V t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // r[4i+j], lane L: rows 4i..4i+3 of column 4L+j
      r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
      t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
      t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
      t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
      r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
      r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
      r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
    }
  }
};

struct F64 {
  using T = double;
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int VL = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_load_pd(p); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V fmadd_bcast(const T* p, V b, V c) {
    asm("vfmadd231pd %[m]%{1to8%}, %[b], %[c]" : [c] "+v"(c) : [b] "v"(b), [m] "m"(*p));
    return c;
  }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V mfmadd(Mask m, V a, V b, V c) { return _mm512_mask3_fmadd_pd(a, b, c, m); }
  // t[0..15] = lo, hi summed by the tree t[l] += t[l + w], w = 8, 4, 2, 1 (gemv_body.inc's order, L = 16).
  static T tree_sum(V lo, V hi) {
    const V v = _mm512_add_pd(lo, hi);
    const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
  static V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static V mloadu(Mask m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void mstoreu(T* p, Mask m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static Mask mask(int64_t left) {
    return left >= VL ? (Mask)0xFF : left <= 0 ? (Mask)0 : (Mask)((1u << left) - 1);
  }
  // r[c] <- column c of the 8 x 8 block whose rows are r[0..7].
  static void transpose(V r[8]) {
    V t[8], u[8];
    for (int i = 0; i < 4; ++i) {  // t[2i], lane L: rows 2i, 2i+1 of column 2L (t[2i+1]: 2L+1)
      t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3
      u[4 * h] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0x88);      // columns 0, 4
      u[4 * h + 1] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0x88);  // 1, 5
      u[4 * h + 2] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0xDD);  // 2, 6
      u[4 * h + 3] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0xDD);  // 3, 7
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm512_shuffle_f64x2(u[j], u[4 + j], 0x88);
      r[4 + j] = _mm512_shuffle_f64x2(u[j], u[4 + j], 0xDD);
    }
  }
};

constexpr int kMR = 14;
constexpr int kNV = 2;  // vectors per row of the tile: NR = kNV * VL
constexpr int kEmbRows = 6;  // rows whose FMAs take a[i] as an embedded-broadcast operand (see above)

// ROW_A: A is not packed: row i of the tile at a + i*lda, contiguous along k (gemm_kernels.h,
// MicroKernelRowA). The rows are addressed from five base pointers, one per three rows, and lda as
// a scaled index (base, base + 4*lda, base + 8*lda bytes for floats), so that the k loop needs five
// pointer increments rather than fourteen registers of addresses.
template <class S, int M, int NV, bool ROW_A>
void kernel_body(int64_t kc, const typename S::T* __restrict a, int64_t lda, const typename S::T* __restrict b,
                 typename S::T* __restrict c, int64_t ldc, int64_t n, typename S::T alpha, typename S::T beta,
                 const typename S::T* bias_n, const typename S::T* bias_m) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int VL = S::VL;
  constexpr int NR = kNV * VL;
  constexpr int B_PREFETCH = 8 * NR;  // elements: 8 k steps ahead

  // Touch the C tile now; its lines arrive while the k loop runs.
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + NV * VL - 1), _MM_HINT_T0);
  }

  V acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();

  constexpr int kBases = (M + 2) / 3;  // ROW_A: rows 3j, 3j+1, 3j+2 at ab[j], ab[j] + lda, ab[j] + 2*lda
  const T* ab[kBases];
#pragma GCC unroll 8
  for (int j = 0; j < kBases; ++j) ab[j] = a + (ROW_A ? 3 * j * lda : 0);

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * VL);
    _mm_prefetch((const char*)(b + B_PREFETCH), _MM_HINT_T0);
    _mm_prefetch((const char*)(b + B_PREFETCH + 64 / sizeof(T)), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const T* ai_ptr = ROW_A ? ab[i / 3] + (i % 3) * lda : a + i;
      if (NV == 1 || i < kEmbRows) {  // a[i] loaded by each FMA, no broadcast instruction (see above)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd_bcast(ai_ptr, bv[v], acc[i][v]);
      } else {
        V ai = S::set1(*ai_ptr);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
      }
    }
    if (ROW_A) {
#pragma GCC unroll 8
      for (int j = 0; j < kBases; ++j) ab[j] += 1;
    } else {
      a += kMR;
    }
    b += NR;
  }

  // Epilogue: C = alpha*acc + beta*C + bias_n + bias_m. beta == 0 never reads C.
  const V va = S::set1(alpha);
  const V vb = S::set1(beta);
  V bn[NV];
  typename S::Mask mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    mask[v] = S::mask(n - v * VL);
    bn[v] = bias_n ? S::mloadu(mask[v], bias_n + v * VL) : S::zero();
  }
  const bool full = n == NV * VL;
#pragma GCC unroll 16
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
        S::mstoreu(ci + v * VL, mask[v], r);
      }
    }
  }
}

template <class S, int M, int NV>
void kernel(int64_t kc, const typename S::T* a, const typename S::T* b, typename S::T* c, int64_t ldc, int64_t n,
            typename S::T alpha, typename S::T beta, const typename S::T* bias_n, const typename S::T* bias_m) {
  kernel_body<S, M, NV, false>(kc, a, 0, b, c, ldc, n, alpha, beta, bias_n, bias_m);
}

template <class S, int M, int NV>
void kernel_row_a(int64_t kc, const typename S::T* a, int64_t lda, const typename S::T* b, typename S::T* c,
                  int64_t ldc, int64_t n, typename S::T alpha, typename S::T beta, const typename S::T* bias_n,
                  const typename S::T* bias_m) {
  kernel_body<S, M, NV, true>(kc, a, lda, b, c, ldc, n, alpha, beta, bias_n, bias_m);
}

// Packing (contract in gemm_kernels.h): dst[k*P + i] = src[i*si + k*sk], zero rows m..P-1.
//   sk == 1: each row is contiguous along k, so VL rows x VL k values are loaded as VL vectors,
//            transposed in registers and stored as VL destination rows (P/VL groups of lanes each).
//   si == 1: each k is contiguous: a (masked) vector copy per group of VL lanes.
//   other:   scalar gather.
template <class S, int P>
void pack(const typename S::T* src, int64_t si, int64_t sk, int64_t m, int64_t kc, typename S::T* dst) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int VL = S::VL;
  constexpr int G = (P + VL - 1) / VL;  // groups of VL rows
  if (sk == 1 && m > 1) {
    for (int64_t k0 = 0; k0 < kc; k0 += VL) {
      const int64_t kn = kc - k0 < VL ? kc - k0 : VL;
      const auto kmask = S::mask(kn);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        V r[VL];
#pragma GCC unroll 16
        for (int t = 0; t < VL; ++t) {
          const int64_t i = g * VL + t;
          r[t] = i < m ? S::mloadu(kmask, src + i * si + k0) : S::zero();
        }
        S::transpose(r);
        const auto lanes = S::mask(P - g * VL);
        T* d = dst + k0 * P + g * VL;
        if (kn == VL) {
#pragma GCC unroll 16
          for (int kk = 0; kk < VL; ++kk) S::mstoreu(d + kk * P, lanes, r[kk]);
        } else {
          for (int kk = 0; kk < kn; ++kk) S::mstoreu(d + kk * P, lanes, r[kk]);
        }
      }
    }
    return;
  }
  if (si == 1) {
    for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const V v = S::mloadu(S::mask(m - g * VL), src + k * sk + g * VL);
        S::mstoreu(dst + k * P + g * VL, S::mask(P - g * VL), v);
      }
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    for (int64_t i = 0; i < m; ++i) dst[k * P + i] = src[i * si + k * sk];
    for (int64_t i = m; i < P; ++i) dst[k * P + i] = T(0);
  }
}

// GEMV with the matrix's rows along K: y[i] = sum_k a[i*lda + k] x[k], the same arithmetic in the same
// order as gemv_body.inc's gemv_dot (partial sums per k mod 2*VL in two vectors, the tail's lanes
// masked, then the pairwise tree), so the same bits, but the tail and the tree stay in registers: the
// compiler's version of that loop went through the stack for them, which cost more than the FMAs for
// rows of a few hundred elements. kDotRows rows at a time share each load of x.
template <class S, int R>
void gemv_dot_rows_simd(int64_t K, const typename S::T* a, int64_t lda, const typename S::T* x,
                        typename S::T* y) {
  using V = typename S::V;
  constexpr int VL = S::VL;
  V lo[R], hi[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = S::zero();
  int64_t k = 0;
  for (; k + 2 * VL <= K; k += 2 * VL) {
    const V x0 = S::loadu(x + k), x1 = S::loadu(x + k + VL);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      lo[r] = S::fmadd(S::loadu(a + r * lda + k), x0, lo[r]);
      hi[r] = S::fmadd(S::loadu(a + r * lda + k + VL), x1, hi[r]);
    }
  }
  if (k < K) {
    const auto m0 = S::mask(K - k), m1 = S::mask(K - k - VL);
    const V x0 = S::mloadu(m0, x + k), x1 = S::mloadu(m1, x + k + VL);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      lo[r] = S::mfmadd(m0, S::mloadu(m0, a + r * lda + k), x0, lo[r]);
      hi[r] = S::mfmadd(m1, S::mloadu(m1, a + r * lda + k + VL), x1, hi[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) y[r] = S::tree_sum(lo[r], hi[r]);
}

template <class S>
void gemv_dot_simd(int64_t m, int64_t K, const typename S::T* a, int64_t lda, const typename S::T* x,
                   typename S::T* y) {
  int64_t i = 0;
  for (; i + kDotRows <= m; i += kDotRows) gemv_dot_rows_simd<S, kDotRows>(K, a + i * lda, lda, x, y + i);
  for (; i < m; ++i) gemv_dot_rows_simd<S, 1>(K, a + i * lda, lda, x, y + i);
}

// Table of kernel<M, NV> for M = 1..kMR and NV = 1..kNV, built by template recursion.
template <class S, int M>
void fill_rows(KernelSet<typename S::T>& ks) {
  if constexpr (M >= 1) {
    ks.kernel[M - 1][0] = &kernel<S, M, 1>;
    ks.kernel[M - 1][1] = &kernel<S, M, 2>;
    if constexpr (sizeof(typename S::T) == 4) {  // float only: see kernel_body's addressing
      ks.kernel_row_a[M - 1][0] = &kernel_row_a<S, M, 1>;
      ks.kernel_row_a[M - 1][1] = &kernel_row_a<S, M, 2>;
    }
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
  ks.gemv_dot = &gemv_dot_simd<S>;
  ks.gemv_axpy = &gemv_axpy<typename S::T>;
  return ks;
}

}  // namespace

// Blocking (Cascade Lake: 32 KiB L1D, 1 MiB L2 per core, shared L3). The thread's B block, kc x nc,
// stays in its L2: float 384 x 480 (720 KiB; the driver may stretch kc by 1/8 to even out the k
// blocks), double 256 x 352 (704 KiB). The A block (mc x kc, shared by the threads) lives in L3.
// Measurements: benchmarks/gemm/RESULTS-gemm.md.
const KernelSet<float>* sgemm_kernels() {
  static const KernelSet<float> ks = make_set<F32>("avx512 14x32", 384, 3066, 480);
  return &ks;
}

const KernelSet<double>* dgemm_kernels() {
  static const KernelSet<double> ks = make_set<F64>("avx512 14x16", 256, 1512, 352);
  return &ks;
}

}  // namespace flambeau::cpu::gemm_avx512
