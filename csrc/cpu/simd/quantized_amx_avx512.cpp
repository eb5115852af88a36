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
// The rows' k blocks need not be contiguous: gemm_amx_rows takes a byte offset per block, which lets
// Conv2d read its taps straight from a padded NHWC image (implicit im2col). Blocks of kc < 64 bytes (a
// convolution's Cg channels per tap) load as tiles of kc columns (A) and kc / 4 rows (B).
#include <immintrin.h>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
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

// Rows [m0, m1) x columns [n0, n1) in blocks of 32 x 32, rows outer: a block's A rows stay in L1 while
// the column blocks pass. Every A tile reads 16 full rows: the caller makes rows up to a multiple of 32
// past m1 readable (their sums are computed and dropped).
void rows_blocks(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, int64_t m0, int64_t m1,
                 const int8_t* packed, int64_t pstride, int64_t n0, int64_t n1, const int32_t* col_term,
                 const int32_t* w_zp, const int32_t* row_sum, int32_t* raw, int64_t ldr) {
  alignas(64) int32_t acc[32 * 32];
  for (int64_t m = m0; m < m1; m += 32) {
    const int rows = (int)std::min<int64_t>(32, m1 - m);
    for (int64_t n = n0; n < n1; n += 32) {
      const int cols = (int)std::min<int64_t>(32, n1 - n);
      pick_block(rows > 16 ? 2 : 1, cols > 16 ? 2 : 1)(a + m * rs, rs, koff, nb, kc, packed + (n / 16) * pstride,
                                                       pstride, acc);
      store(acc, rows, cols, col_term + n, w_zp + n, row_sum + m, raw + m * ldr + n, ldr);
    }
  }
}

}  // namespace

void gemm_amx(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0, int64_t n1,
              int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
              int64_t ldr) {
  if (m0 >= m1 || n0 >= n1) return;
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

void gemm_amx_rows(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, int64_t m0, int64_t m1,
                   const int8_t* packed, int64_t n0, int64_t n1, const int32_t* col_term, const int32_t* w_zp,
                   const int32_t* row_sum, int32_t* raw, int64_t ldr) {
  if (m0 >= m1 || n0 >= n1) return;
  TileScope tiles(kc);
  rows_blocks(a, rs, koff, nb, kc, m0, m1, packed, nb * kc * 16, n0, n1, col_term, w_zp, row_sum, raw, ldr);
}

}  // namespace flambeau::cpu::quantized_simd
