// AMX-INT8 GEMM of the int8 kernels (contract and packed layout in quantized_simd.h): tdpbusd sums u8 x s8
// products exactly into int32 (wrapping), as vpdpbusd does, so it gives the VNNI leaf's sums bit for bit at
// about four times its rate (1.65 vs 0.40 TMAC/s on one Sapphire Rapids core). The only file built with
// -mamx-tile -mamx-int8 (CMakeLists.txt); the driver calls it only where cpu::int8_amx_enabled(), i.e.
// CPUID has AMX-INT8 and Linux granted the tile data permission.
//
// Tiles: 16 rows x 64 bytes. An A tile is 16 activation rows x 64 k (a row stride apart), a B tile 16
// groups of 4 k x 16 output columns: exactly 16 consecutive 64-byte groups of a packed panel of 16
// columns (nr = 16, the AVX-512 leaves' layout), so the weights packed for the VNNI leaf serve as they
// are. A block is 2 x 2 tiles of 16 x 16 int32 sums (32 rows x 32 columns: tmm0-3), fed by two A tiles
// (tmm4-5) and two B tiles (tmm6-7) per 64 k: 4 tdpbusd per 4 tile loads.
//
// The rows' k blocks need not be contiguous: conv_rows_amx takes a byte offset per block, which lets
// Conv2d read its taps straight from a padded NHWC image (implicit im2col), and blocks of kc = 32 bytes
// (32 channels per tap) load as tiles of 32 columns (A) and 8 rows (B). Its epilogue is fused: each
// 32 x 32 block of sums is requantized (the AVX-512 epilogue's instructions, quantized_requant_avx512.h),
// transposed as bytes and stored straight into the NCHW output, so that neither the int32 sums nor an
// NHWC output make a pass through memory.
#include <immintrin.h>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "cpu/simd/quantized_requant_avx512.h"
#include "cpu/simd/quantized_simd.h"

namespace flambeau::cpu::quantized_simd {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads the tile configuration for blocks of kc bytes (4 <= kc <= 64, a multiple of 4) on entry and
// releases the tiles on exit, so that a thread carries no AMX state between calls (the kernel then
// saves and restores 8 KB less on each of its context switches).
struct TileScope {
  explicit TileScope(int kc) {
    TileConfig cfg;
    for (int t = 0; t < 4; ++t) {  // C: 16 rows x 16 int32
      cfg.rows[t] = 16;
      cfg.colsb[t] = 64;
    }
    for (int t = 4; t < 6; ++t) {  // A: 16 rows x kc bytes
      cfg.rows[t] = 16;
      cfg.colsb[t] = (uint16_t)kc;
    }
    for (int t = 6; t < 8; ++t) {  // B: kc / 4 groups x 16 columns x 4 bytes
      cfg.rows[t] = (uint8_t)(kc / 4);
      cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;
};

// acc[32][32] (int32, 128-byte rows) = sum over blocks b of A(b) . B(b) for MT x NT tiles of the block:
// A rows r (r < 16 * MT) of block b at a + r * rs + koff[b], kc bytes; B panel v's block b at
// wp + v * pstride + b * kc * 16 (kc / 4 groups of 64 bytes).
template <int MT, int NT>
void block(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, const int8_t* wp, int64_t pstride,
           int32_t* acc) {
  _tile_zero(0);
  if (NT > 1) _tile_zero(1);
  if (MT > 1) _tile_zero(2);
  if (MT > 1 && NT > 1) _tile_zero(3);
  const int64_t bstep = (int64_t)kc * 16;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ab = a + koff[b];
    const int8_t* wb = wp + b * bstep;
    _tile_loadd(4, ab, rs);
    _tile_loadd(6, wb, 64);
    if (MT > 1) _tile_loadd(5, ab + 16 * rs, rs);
    if (NT > 1) _tile_loadd(7, wb + pstride, 64);
    _tile_dpbusd(0, 4, 6);
    if (NT > 1) _tile_dpbusd(1, 4, 7);
    if (MT > 1) _tile_dpbusd(2, 5, 6);
    if (MT > 1 && NT > 1) _tile_dpbusd(3, 5, 7);
  }
  _tile_stored(0, acc, 128);
  if (NT > 1) _tile_stored(1, acc + 16, 128);
  if (MT > 1) _tile_stored(2, acc + 16 * 32, 128);
  if (MT > 1 && NT > 1) _tile_stored(3, acc + 16 * 32 + 16, 128);
}

using BlockFn = void (*)(const uint8_t*, int64_t, const int64_t*, int64_t, int, const int8_t*, int64_t, int32_t*);

BlockFn pick_block(int mt, int nt) {
  if (mt > 1) return nt > 1 ? &block<2, 2> : &block<2, 1>;
  return nt > 1 ? &block<1, 2> : &block<1, 1>;
}

// raw[r * ldr + c] = acc[r][c] - col_term[c] - row_sum[r] * w_zp[c] for r < rows, c < cols (wrapping),
// the VNNI tile's store.
void store(const int32_t* acc, int rows, int cols, const int32_t* col_term, const int32_t* w_zp,
           const int32_t* row_sum, int32_t* raw, int64_t ldr) {
  for (int v = 0; v * 16 < cols; ++v) {
    const int left = cols - 16 * v;
    const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    const __m512i ct = _mm512_maskz_loadu_epi32(mask, col_term + 16 * v);
    const __m512i zp = _mm512_maskz_loadu_epi32(mask, w_zp + 16 * v);
    for (int r = 0; r < rows; ++r) {
      const __m512i corr = _mm512_add_epi32(ct, _mm512_mullo_epi32(_mm512_set1_epi32(row_sum[r]), zp));
      const __m512i s = _mm512_load_si512(acc + r * 32 + 16 * v);
      _mm512_mask_storeu_epi32(raw + r * ldr + 16 * v, mask, _mm512_sub_epi32(s, corr));
    }
  }
}

}  // namespace

void gemm_amx(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0, int64_t n1,
              int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
              int64_t ldr) {
  if (m0 >= m1 || n0 >= n1) return;
  // A last block of at most 8 rows goes to the VNNI tile (same packing, same exact sums): a tile pass
  // costs the same for 1 row as for 16, and the 512 x 512 Linear took 8.5 us for one row on AMX
  // against 4.7 on VNNI (equal at 8 rows, AMX ahead from 16: 11 vs 15 us).
  const int64_t tail = (m1 - m0) % 32, amx_end = tail && tail <= 8 ? m1 - tail : m1;
  if (amx_end < m1) gemm_avx512_vnni(a, lda, amx_end, m1, packed, n0, n1, K, col_term, w_zp, row_sum, raw, ldr);
  m1 = amx_end;
  if (m0 >= m1) return;
  const int64_t pstride = (K + 3) / 4 * 64, Kp = (K + 63) / 64 * 64;
  // Blocks of 32 rows that a tile cannot read in place go through a zero-filled copy of 32 rows x Kp
  // bytes: the last, partial one (its tiles would read past row m1, maybe past the buffer), and all of
  // them when K is not a multiple of 64 (the last tile column would read past each row). Zero activations
  // add nothing whatever weight bytes the tile meets past K (the packed weights carry a tile's worth of
  // slack for that: kPackSlack in quantized_simd.h).
  thread_local std::vector<int64_t> koff;
  thread_local std::vector<uint8_t> buf;
  koff.resize((size_t)(Kp / 64));
  for (int64_t b = 0; b < Kp / 64; ++b) koff[b] = 64 * b;
  TileScope tiles(64);
  alignas(64) int32_t acc[32 * 32];
  for (int64_t m = m0; m < m1; m += 32) {
    const int rows = (int)std::min<int64_t>(32, m1 - m);
    const uint8_t* src = a + m * lda;
    int64_t rs = lda;
    if (rows < 32 || K % 64) {
      buf.resize((size_t)(32 * Kp));
      for (int r = 0; r < 32; ++r) {
        uint8_t* dst = buf.data() + r * Kp;
        const int64_t n = r < rows ? K : 0;
        if (n) std::memcpy(dst, src + r * lda, (size_t)n);
        std::memset(dst + n, 0, (size_t)(Kp - n));
      }
      src = buf.data();
      rs = Kp;
    }
    for (int64_t n = n0; n < n1; n += 32) {
      const int cols = (int)std::min<int64_t>(32, n1 - n);
      pick_block(rows > 16 ? 2 : 1, cols > 16 ? 2 : 1)(src, rs, koff.data(), Kp / 64, 64, packed + (n / 16) * pstride,
                                                       pstride, acc);
      store(acc, rows, cols, col_term + n, w_zp + n, row_sum + m, raw + m * ldr + n, ldr);
    }
  }
}

void conv_rows_amx(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, int64_t q0, int64_t q1,
                   const int8_t* packed, int64_t N, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                   const float* bias_q, const float* multiplier, int32_t out_zp, int32_t lo, int64_t Wp, int64_t OW,
                   uint8_t* y, int64_t ldy) {
  if (q0 >= q1 || N <= 0) return;
  TileScope tiles(kc);
  const int64_t pstride = nb * kc * 16;
  const __m512i vzp = _mm512_set1_epi32(out_zp), lo_c = _mm512_set1_epi32(lo - out_zp);
  const __m512i hi_c = _mm512_set1_epi32(255 - out_zp);
  bool zp_free = true;  // symmetric weights: no row term (vpmulld is 2 uops of 10 cycles' latency)
  for (int64_t n = 0; n < N; ++n) zp_free = zp_free && w_zp[n] == 0;
  alignas(64) int32_t acc[32 * 32];
  alignas(64) uint8_t blk[16 * 64];
  struct Seg {
    int s, len;   // rows s .. s + len - 1 of the block
    int64_t p;    // the output position of row s
  };
  Seg segs[33];
  for (int64_t m = q0; m < q1; m += 32) {
    const int rows = (int)std::min<int64_t>(32, q1 - m);
    // The block's outputs: runs of rows inside one output row (ow < OW).
    int ns = 0;
    for (int64_t q = m; q < m + rows;) {
      const int64_t oh = q / Wp, ow = q % Wp, end = std::min(m + rows, (oh + 1) * Wp);
      if (ow < OW) segs[ns++] = {(int)(q - m), (int)(std::min(end, oh * Wp + OW) - q), oh * OW + ow};
      q = end;
    }
    if (ns == 0) continue;  // no outputs among these rows (padded columns only)
    const int mt = rows > 16 ? 2 : 1;
    for (int64_t n = 0; n < N; n += 32) {
      const int cols = (int)std::min<int64_t>(32, N - n);
      pick_block(mt, cols > 16 ? 2 : 1)(a + m * rs, rs, koff, nb, kc, packed + (n / 16) * pstride, pstride, acc);
      // Zero points out and requantized, as bytes: blk row i, lane 2 * v + h holds row 16 * h + i's
      // columns 16 * v .. 16 * v + 15, so that each 128-bit lane is a 16 x 16 block for the transpose below.
      for (int v = 0; v < 2; ++v) {
        const int left = cols - 16 * v;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        const int64_t c = n + 16 * v;
        const __m512i ct = _mm512_maskz_loadu_epi32(mask, col_term + c), zp = _mm512_maskz_loadu_epi32(mask, w_zp + c);
        const __m512 bq = _mm512_maskz_loadu_ps(mask, bias_q + c), mu = _mm512_maskz_loadu_ps(mask, multiplier + c);
        for (int h = 0; h < mt; ++h) {
          const int32_t* ah = acc + 16 * h * 32 + 16 * v;
          uint8_t* bh = blk + (2 * v + h) * 16;
          for (int i = 0; i < 16; ++i) {
            __m512i corr = ct;
            if (!zp_free) {
              const int r = 16 * h + i;
              corr = _mm512_add_epi32(ct, _mm512_mullo_epi32(_mm512_set1_epi32(r < rows ? row_sum[m + r] : 0), zp));
            }
            const __m512i raw = _mm512_sub_epi32(_mm512_load_si512(ah + i * 32), corr);
            _mm_store_si128(reinterpret_cast<__m128i*>(bh + i * 64),
                            _mm512_cvtepi32_epi8(requantize16(raw, bq, mu, vzp, lo_c, hi_c)));
          }
        }
      }
      // Four 16 x 16 byte transposes at once, one per lane (transpose16_u8's unpacks, lane by lane): t[c]
      // ends with column c of each block, i.e. channel n + c (low half) and n + 16 + c (high half), rows
      // 0 .. 31 of the block.
      __m512i t[16], u[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) t[i] = _mm512_load_si512(blk + i * 64);
#pragma GCC unroll 16
      for (int i = 0; i < 8; ++i) {
        u[2 * i] = _mm512_unpacklo_epi8(t[2 * i], t[2 * i + 1]);
        u[2 * i + 1] = _mm512_unpackhi_epi8(t[2 * i], t[2 * i + 1]);
      }
#pragma GCC unroll 16
      for (int j = 0; j < 4; ++j) {
        t[4 * j + 0] = _mm512_unpacklo_epi16(u[4 * j], u[4 * j + 2]);
        t[4 * j + 1] = _mm512_unpackhi_epi16(u[4 * j], u[4 * j + 2]);
        t[4 * j + 2] = _mm512_unpacklo_epi16(u[4 * j + 1], u[4 * j + 3]);
        t[4 * j + 3] = _mm512_unpackhi_epi16(u[4 * j + 1], u[4 * j + 3]);
      }
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h)
        for (int q = 0; q < 4; ++q) {
          u[8 * h + 2 * q] = _mm512_unpacklo_epi32(t[8 * h + q], t[8 * h + 4 + q]);
          u[8 * h + 2 * q + 1] = _mm512_unpackhi_epi32(t[8 * h + q], t[8 * h + 4 + q]);
        }
#pragma GCC unroll 16
      for (int x = 0; x < 8; ++x) {
        const int c = (x / 2) * 4 + (x % 2) * 2;
        t[c] = _mm512_unpacklo_epi64(u[x], u[8 + x]);
        t[c + 1] = _mm512_unpackhi_epi64(u[x], u[8 + x]);
      }
      uint8_t* yn = y + n * ldy;
      for (int e = 0; e < ns; ++e) {  // masked-off bytes are neither written nor faulted on
        const __mmask32 k = (__mmask32)((segs[e].len >= 32 ? ~0u : (1u << segs[e].len) - 1) << segs[e].s);
        uint8_t* ye = yn + segs[e].p - segs[e].s;
        const int c_lo = std::min(cols, 16), c_hi = cols - 16;
#pragma GCC unroll 16
        for (int c = 0; c < 16; ++c) {  // unrolled, so that t stays in registers
          if (c < c_lo) _mm256_mask_storeu_epi8(ye + c * ldy, k, _mm512_castsi512_si256(t[c]));
          if (c < c_hi) _mm256_mask_storeu_epi8(ye + (16 + c) * ldy, k, _mm512_extracti64x4_epi64(t[c], 1));
        }
      }
    }
  }
}

}  // namespace flambeau::cpu::quantized_simd
