// Dropout with Philox4x32-10 in AVX2 registers: 8 Philox blocks (32 stream positions) per step,
// one block per 32-bit lane (see dropout_avx512.cpp for the scheme and dropout_simd.h for the
// contract). Keep decisions come out as four 8-bit masks in block-major order; interleaving their
// bits gives the 32-bit keep mask in element order.
#include <immintrin.h>
#include "cpu/simd/dropout_simd.h"

namespace flambeau::cpu::dropout_simd {
namespace {

inline __m256i mulhi(__m256i a, __m256i m) {
  __m256i even = _mm256_mul_epu32(a, m);
  __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(m, 32));
  return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Bit i of x (8 bits) to bit 4i.
inline uint32_t spread4(uint32_t x) {
  x &= 0xFFu;
  x = (x | (x << 12)) & 0x000F000Fu;
  x = (x | (x << 6)) & 0x03030303u;
  x = (x | (x << 3)) & 0x11111111u;
  return x;
}

inline uint32_t word_mask(__m256i w, __m256i thr) {
  // word >> 8 < 2^24, so a signed compare is exact.
  return (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(thr, _mm256_srli_epi32(w, 8))));
}

// The four words of blocks block .. block + 7, one block per lane (c0..c3 = words 0..3).
inline void philox8(uint64_t seed, uint64_t block, __m256i& c0, __m256i& c1, __m256i& c2, __m256i& c3) {
  alignas(32) uint32_t lo[8], hi[8];
  for (int j = 0; j < 8; ++j) {
    uint64_t b = block + (uint64_t)j;
    lo[j] = (uint32_t)b;
    hi[j] = (uint32_t)(b >> 32);
  }
  c0 = _mm256_load_si256((const __m256i*)lo), c1 = _mm256_load_si256((const __m256i*)hi);
  c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  const __m256i M0 = _mm256_set1_epi32((int)0xD2511F53u), M1 = _mm256_set1_epi32((int)0xCD9E8D57u);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    __m256i hi0 = mulhi(c0, M0), lo0 = _mm256_mullo_epi32(c0, M0);
    __m256i hi1 = mulhi(c2, M1), lo1 = _mm256_mullo_epi32(c2, M1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
    c1 = lo1;
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// Stream order: the 8 x 4 words transposed from word-major registers to block-major memory (two
// levels of 32/64-bit unpacks give, per 128-bit half, the 4 words of one block).
int64_t philox_blocks(uint32_t* words, uint64_t seed, uint64_t block0, int64_t nblocks) {
  int64_t j = 0;
  for (; j + 8 <= nblocks; j += 8) {
    __m256i c0, c1, c2, c3;
    philox8(seed, block0 + (uint64_t)j, c0, c1, c2, c3);
    const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);  // blocks 0,1 | 4,5 ; 2,3 | 6,7
    const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    const __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);  // block 0 | block 4
    const __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
    uint32_t* o = words + 4 * j;
    _mm256_storeu_si256((__m256i*)o, _mm256_permute2x128_si256(b04, b15, 0x20));        // blocks 0, 1
    _mm256_storeu_si256((__m256i*)(o + 8), _mm256_permute2x128_si256(b26, b37, 0x20));  // blocks 2, 3
    _mm256_storeu_si256((__m256i*)(o + 16), _mm256_permute2x128_si256(b04, b15, 0x31)); // blocks 4, 5
    _mm256_storeu_si256((__m256i*)(o + 24), _mm256_permute2x128_si256(b26, b37, 0x31)); // blocks 6, 7
  }
  return j;
}

inline uint32_t keep_mask(uint64_t seed, uint64_t block, __m256i thr) {
  __m256i c0, c1, c2, c3;
  philox8(seed, block, c0, c1, c2, c3);
  return spread4(word_mask(c0, thr)) | (spread4(word_mask(c1, thr)) << 1) | (spread4(word_mask(c2, thr)) << 2) |
         (spread4(word_mask(c3, thr)) << 3);
}

int64_t drop_f32(float* out, const float* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr, float scale) {
  const __m256i t = _mm256_set1_epi32((int)thr);
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint32_t m = keep_mask(seed, (pos0 + (uint64_t)i) >> 2, t);
    for (int j = 0; j < 4; ++j) {
      __m256i sel = _mm256_and_si256(_mm256_set1_epi32((int)((m >> (8 * j)) & 0xFFu)), bits);
      __m256 noise = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(sel, bits)), s);
      _mm256_storeu_ps(out + i + 8 * j, _mm256_mul_ps(_mm256_loadu_ps(in + i + 8 * j), noise));
    }
  }
  return i;
}

int64_t drop_f64(double* out, const double* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr,
                 double scale) {
  const __m256i t = _mm256_set1_epi32((int)thr);
  const __m256d s = _mm256_set1_pd(scale);
  const __m256i bits = _mm256_setr_epi64x(1, 2, 4, 8);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint32_t m = keep_mask(seed, (pos0 + (uint64_t)i) >> 2, t);
    for (int j = 0; j < 8; ++j) {
      __m256i sel = _mm256_and_si256(_mm256_set1_epi64x((long long)((m >> (4 * j)) & 0xFu)), bits);
      __m256d noise = _mm256_and_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(sel, bits)), s);
      _mm256_storeu_pd(out + i + 4 * j, _mm256_mul_pd(_mm256_loadu_pd(in + i + 4 * j), noise));
    }
  }
  return i;
}

}  // namespace

PhiloxBlocksFn philox_blocks_avx2() { return &philox_blocks; }
DropF32 drop_f32_avx2() { return &drop_f32; }
DropF64 drop_f64_avx2() { return &drop_f64; }

}  // namespace flambeau::cpu::dropout_simd
