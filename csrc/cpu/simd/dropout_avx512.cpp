// Dropout with Philox4x32-10 in AVX-512 registers: 16 Philox blocks (64 stream positions) per
// step, one block per 32-bit lane, the same rounds as core/philox.h (32x32 -> 64-bit products from
// vpmuludq on even and odd lanes, low halves from vpmulld). The 4 output words of each block are
// compared with the keep threshold as integers (word >> 8 < thr, exactly philox_uniform_f < keep),
// giving four 16-bit masks in block-major order; interleaving their bits gives the 64-bit keep
// mask in element order (element 4j + w = block j, word w), which then selects scale or 0 for
// four (float) or eight (double) vectors of the input. See dropout_simd.h for the contract.
#include <immintrin.h>
#include "cpu/simd/dropout_simd.h"

namespace flambeau::cpu::dropout_simd {
namespace {

inline __m512i mulhi(__m512i a, __m512i m) {
  __m512i even = _mm512_mul_epu32(a, m);                                           // lanes 0, 2, ...
  __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(m, 32));  // lanes 1, 3, ...
  return _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// Bit i of x (16 bits) to bit 4i.
inline uint64_t spread4(uint64_t x) {
  x &= 0xFFFFull;
  x = (x | (x << 24)) & 0x000000FF000000FFull;
  x = (x | (x << 12)) & 0x000F000F000F000Full;
  x = (x | (x << 6)) & 0x0303030303030303ull;
  x = (x | (x << 3)) & 0x1111111111111111ull;
  return x;
}

// The four words of blocks block .. block + 15, one block per lane (c0..c3 = words 0..3).
inline void philox16(uint64_t seed, uint64_t block, __m512i& c0, __m512i& c1, __m512i& c2, __m512i& c3) {
  alignas(64) uint32_t lo[16], hi[16];
  for (int j = 0; j < 16; ++j) {
    uint64_t b = block + (uint64_t)j;
    lo[j] = (uint32_t)b;
    hi[j] = (uint32_t)(b >> 32);
  }
  c0 = _mm512_load_si512(lo), c1 = _mm512_load_si512(hi);
  c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
  const __m512i M0 = _mm512_set1_epi32((int)0xD2511F53u), M1 = _mm512_set1_epi32((int)0xCD9E8D57u);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    __m512i hi0 = mulhi(c0, M0), lo0 = _mm512_mullo_epi32(c0, M0);
    __m512i hi1 = mulhi(c2, M1), lo1 = _mm512_mullo_epi32(c2, M1);
    c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
    c1 = lo1;
    c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// Stream order for blocks block0 ..: the 16 x 4 words of each step stored word-major, then written
// block by block (the words of block j are lane j of c0..c3).
int64_t philox_blocks(uint32_t* words, uint64_t seed, uint64_t block0, int64_t nblocks) {
  int64_t j = 0;
  for (; j + 16 <= nblocks; j += 16) {
    __m512i c0, c1, c2, c3;
    philox16(seed, block0 + (uint64_t)j, c0, c1, c2, c3);
    alignas(64) uint32_t w[4][16];
    _mm512_store_si512(w[0], c0);
    _mm512_store_si512(w[1], c1);
    _mm512_store_si512(w[2], c2);
    _mm512_store_si512(w[3], c3);
    uint32_t* o = words + 4 * j;
    for (int i = 0; i < 16; ++i)
      for (int q = 0; q < 4; ++q) o[4 * i + q] = w[q][i];
  }
  return j;
}

// The 64-bit keep mask of the 64 stream positions starting at block `block`.
inline uint64_t keep_mask(uint64_t seed, uint64_t block, __m512i thr) {
  __m512i c0, c1, c2, c3;
  philox16(seed, block, c0, c1, c2, c3);
  uint64_t m0 = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(c0, 8), thr);
  uint64_t m1 = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(c1, 8), thr);
  uint64_t m2 = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(c2, 8), thr);
  uint64_t m3 = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(c3, 8), thr);
  return spread4(m0) | (spread4(m1) << 1) | (spread4(m2) << 2) | (spread4(m3) << 3);
}

int64_t drop_f32(float* out, const float* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr, float scale) {
  const __m512i t = _mm512_set1_epi32((int)thr);
  const __m512 s = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t m = keep_mask(seed, (pos0 + (uint64_t)i) >> 2, t);
    for (int j = 0; j < 4; ++j) {
      __m512 noise = _mm512_maskz_mov_ps((__mmask16)(m >> (16 * j)), s);
      _mm512_storeu_ps(out + i + 16 * j, _mm512_mul_ps(_mm512_loadu_ps(in + i + 16 * j), noise));
    }
  }
  return i;
}

int64_t drop_f64(double* out, const double* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr,
                 double scale) {
  const __m512i t = _mm512_set1_epi32((int)thr);
  const __m512d s = _mm512_set1_pd(scale);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t m = keep_mask(seed, (pos0 + (uint64_t)i) >> 2, t);
    for (int j = 0; j < 8; ++j) {
      __m512d noise = _mm512_maskz_mov_pd((__mmask8)(m >> (8 * j)), s);
      _mm512_storeu_pd(out + i + 8 * j, _mm512_mul_pd(_mm512_loadu_pd(in + i + 8 * j), noise));
    }
  }
  return i;
}

}  // namespace

PhiloxBlocksFn philox_blocks_avx512() { return &philox_blocks; }
DropF32 drop_f32_avx512() { return &drop_f32; }
DropF64 drop_f64_avx512() { return &drop_f64; }

}  // namespace flambeau::cpu::dropout_simd
