// AVX2 leaf of the int8 kernels (contract and packed layout in quantized_simd.h).
//
// GEMM, register-blocked: a tile is 4 activation rows x NV panels of 8 columns, int32 accumulators in
// ymm registers; each step of 4 k loads the NV weight vectors (8 columns x 4 bytes) once and broadcasts
// each row's 4 activation bytes once.
//   Saturating (fbgemm's AVX2 arithmetic): vpmaddubsw sums the pairs (4g, 4g+1) and (4g+2, 4g+3) of each
//   column in int16 with saturation, vpmaddwd against ones adds the two pairs into int32: 4 x 2 tile,
//   8 accumulators.
//   Exact (fbgemm's VNNI arithmetic, reached here only when the capability is capped at AVX2 on a VNNI
//   CPU): the weights are widened to int16 (vpmovsxbw, 4 columns x 4 k per half) and multiplied-added in
//   pairs with the widened activation word (a pair of u8 x s8 products cannot overflow int32), two
//   partial sums per column folded at the end (vphaddd): 4 x 1 tile, 8 accumulators.
// The epilogues and the activation quantization run 8 lanes at a time, the scalar forms of
// quantized_scalar.h on the tails (the same operations, so the same bits).
#include <immintrin.h>
#include <algorithm>
#include <cstring>
#include "cpu/simd/quantized_scalar.h"
#include "cpu/simd/quantized_simd.h"

namespace flambeau::cpu::quantized_simd {
namespace {

constexpr int kMR = 4;

inline int32_t load_a(const uint8_t* p, int n) {  // n = 4, or K mod 4 for the zero-filled last group
  int32_t v = 0;
  std::memcpy(&v, p, (size_t)n);
  return v;
}

// raw = acc - (col_term + row_sum * w_zp) for the tile's ncols (<= 8) columns of one panel.
inline void store_raw(__m256i acc, const int32_t* col_term, const int32_t* w_zp, int32_t row_sum, int ncols,
                      int32_t* raw) {
  if (ncols == 8) {
    const __m256i ct = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_term));
    const __m256i zp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w_zp));
    const __m256i corr = _mm256_add_epi32(ct, _mm256_mullo_epi32(_mm256_set1_epi32(row_sum), zp));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(raw), _mm256_sub_epi32(acc, corr));
    return;
  }
  alignas(32) int32_t t[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), acc);
  for (int c = 0; c < ncols; ++c)
    raw[c] = (int32_t)((uint32_t)t[c] - ((uint32_t)col_term[c] + (uint32_t)row_sum * (uint32_t)w_zp[c]));
}

template <int MR, int NV>
void tile_saturating(const uint8_t* a, int64_t lda, const int8_t* wp, int64_t pstride, int64_t K, int ncols,
                     const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
                     int64_t ldr) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_si256();
  auto step = [&](int64_t g, int nb) {
    __m256i w[NV];
    for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + v * pstride + g * 32));
    for (int r = 0; r < MR; ++r) {
      const __m256i av = _mm256_set1_epi32(load_a(a + r * lda + 4 * g, nb));
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(_mm256_maddubs_epi16(av, w[v]), ones));
    }
  };
  for (int64_t g = 0; g < K / 4; ++g) step(g, 4);
  if (K % 4) step(K / 4, (int)(K % 4));
  for (int v = 0; v < NV; ++v)
    for (int r = 0; r < MR; ++r)
      store_raw(acc[r][v], col_term + 8 * v, w_zp + 8 * v, row_sum[r], std::min(8, ncols - 8 * v),
                raw + r * ldr + 8 * v);
}

template <int MR, int NV>
void tile_exact(const uint8_t* a, int64_t lda, const int8_t* wp, int64_t pstride, int64_t K, int ncols,
                const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw, int64_t ldr) {
  static_assert(NV == 1, "the exact AVX2 tile is one panel wide (two accumulators per panel)");
  (void)pstride;
  __m256i lo[MR], hi[MR];  // columns 0-3 and 4-7, two partial sums (k pairs) per column
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  auto step = [&](int64_t g, int nb) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + g * 32));
    const __m256i wl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));
    const __m256i wh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));
    for (int r = 0; r < MR; ++r) {
      const __m256i av =
          _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(load_a(a + r * lda + 4 * g, nb))));
      lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(av, wl));
      hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(av, wh));
    }
  };
  for (int64_t g = 0; g < K / 4; ++g) step(g, 4);
  if (K % 4) step(K / 4, (int)(K % 4));
  for (int r = 0; r < MR; ++r) {
    // hadd: [c0 c1 c4 c5 | c2 c3 c6 c7]; the 64-bit permute puts the columns in order.
    const __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[r], hi[r]), _MM_SHUFFLE(3, 1, 2, 0));
    store_raw(s, col_term, w_zp, row_sum[r], ncols, raw + r * ldr);
  }
}

using TileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int64_t, int64_t, int, const int32_t*,
                        const int32_t*, const int32_t*, int32_t*, int64_t);

template <bool SAT>
TileFn pick_tile(int mr, int nv) {
  if (!SAT) {
    switch (mr) {
      case 1: return &tile_exact<1, 1>;
      case 2: return &tile_exact<2, 1>;
      case 3: return &tile_exact<3, 1>;
      default: return &tile_exact<4, 1>;
    }
  }
  switch (mr) {
    case 1: return nv == 1 ? &tile_saturating<1, 1> : &tile_saturating<1, 2>;
    case 2: return nv == 1 ? &tile_saturating<2, 1> : &tile_saturating<2, 2>;
    case 3: return nv == 1 ? &tile_saturating<3, 1> : &tile_saturating<3, 2>;
    default: return nv == 1 ? &tile_saturating<4, 1> : &tile_saturating<4, 2>;
  }
}

template <bool SAT>
void gemm(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0, int64_t n1,
          int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
          int64_t ldr) {
  constexpr int kNV = SAT ? 2 : 1;
  const int64_t pstride = (K + 3) / 4 * 32;  // bytes per panel of 8 columns
  for (int64_t n = n0; n < n1; n += kNV * 8) {
    const int ncols = (int)std::min<int64_t>(kNV * 8, n1 - n);
    const int nv = (ncols + 7) / 8;
    const int8_t* wp = packed + (n / 8) * pstride;
    const TileFn full = pick_tile<SAT>(kMR, nv);
    for (int64_t m = m0; m < m1; m += kMR) {
      const int mr = (int)std::min<int64_t>(kMR, m1 - m);
      (mr == kMR ? full : pick_tile<SAT>(mr, nv))(a + m * lda, lda, wp, pstride, K, ncols, col_term + n, w_zp + n,
                                                  row_sum + m, raw + m * ldr + n, ldr);
    }
  }
}

// The low byte of each int32 lane (values already in [0, 255]) into 8 consecutive bytes.
inline void store_u8x8(uint8_t* dst, __m256i r) {
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i t = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(r, pick), _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(t));
}

void requantize(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* bias_q, const float* multiplier,
                int32_t out_zp, int32_t lo, uint8_t* y, int64_t ldy) {
  const __m256i zp = _mm256_set1_epi32(out_zp), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(255);
  const __m256i big = _mm256_set1_epi32(65536), nbig = _mm256_set1_epi32(-65536);
  for (int64_t m = m0; m < m1; ++m) {
    const int32_t* rr = raw + m * N;
    uint8_t* yr = y + m * ldy;
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
      __m256 f = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rr + n)));
      f = _mm256_mul_ps(_mm256_add_ps(f, _mm256_loadu_ps(bias_q + n)), _mm256_loadu_ps(multiplier + n));
      __m256i r = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(f), nbig), big);
      r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), vlo), vhi);
      store_u8x8(yr + n, r);
    }
    for (; n < N; ++n) yr[n] = requantize1(rr[n], bias_q[n], multiplier[n], out_zp, lo);
  }
}

void dequantize(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* scale, const float* bias,
                bool relu, float* y) {
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t m = m0; m < m1; ++m) {
    const int32_t* rr = raw + m * N;
    float* yr = y + m * N;
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
      const __m256 f = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rr + n)));
      const __m256 s = _mm256_loadu_ps(scale + n);
      __m256 r = bias ? _mm256_fmadd_ps(f, s, _mm256_loadu_ps(bias + n)) : _mm256_mul_ps(f, s);
      if (relu) r = _mm256_max_ps(r, zero);
      _mm256_storeu_ps(yr + n, r);
    }
    for (; n < N; ++n) yr[n] = dequantize1(rr[n], scale[n], bias ? bias + n : nullptr, relu);
  }
}

void quantize_u8(const float* x, int64_t i0, int64_t i1, float inv, float zp, uint8_t* q) {
  const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp), clip = _mm256_set1_ps(2147483520.0f);
  const __m256i vhi = _mm256_set1_epi32(255), vzero = _mm256_setzero_si256();
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 t = _mm256_min_ps(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), vinv, vzp), clip);
    store_u8x8(q + i, _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(t), vzero), vhi));
  }
  for (; i < i1; ++i) q[i] = quantize_u8_1(x[i], inv, zp);
}

// quantize_per_tensor into 8 bits, 8 lanes: quantize8_1 (quantized_scalar.h) vectorised as the AVX-512
// leaf's quantize8_run (see there), the tail through quantize8_1 itself; fp-contract is off for both.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
template <bool FUSED>
void quantize8_run(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, uint8_t* q) {
  const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const __m256d dinv = _mm256_set1_pd(inv), dzp = _mm256_set1_pd(zp);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    __m256 v;
    if constexpr (FUSED) {
      const __m128 a = _mm256_cvtpd_ps(_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xv)), dinv, dzp));
      const __m128 b = _mm256_cvtpd_ps(_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)), dinv, dzp));
      v = _mm256_insertf128_ps(_mm256_castps128_ps256(a), b, 1);
    } else {
      v = _mm256_add_ps(_mm256_mul_ps(xv, vinv), vzp);
    }
    v = _mm256_max_ps(_mm256_min_ps(v, vhi), vlo);
    store_u8x8(q + i, _mm256_cvtps_epi32(v));
  }
  for (; i < i1; ++i) q[i] = (uint8_t)quantize8_1(x[i], inv, zp, lo, hi, FUSED);
}
#pragma GCC pop_options

void quantize8(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, bool fused, void* q) {
  if (fused) quantize8_run<true>(x, i0, i1, inv, zp, lo, hi, static_cast<uint8_t*>(q));
  else quantize8_run<false>(x, i0, i1, inv, zp, lo, hi, static_cast<uint8_t*>(q));
}

}  // namespace

QGemmLeaf leaf_avx2(bool saturate) {
  return {8, saturate ? &gemm<true> : &gemm<false>, &requantize, &dequantize, &quantize_u8, &quantize8};
}

}  // namespace flambeau::cpu::quantized_simd
