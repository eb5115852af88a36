// AVX2 leaf of the int8 GEMM (contract in quantized_simd.h). Saturating: vpmaddubsw is fbgemm's AVX2
// instruction, so its int16 saturation of each pair of products is the arithmetic itself, not an
// emulation; 32 bytes of K per step for up to 4 weight rows sharing one activation load, the tail
// (K mod 32, an even start) in scalar code with the same pairing and saturation. Exact (what fbgemm's
// VNNI kernels compute): both operands widened to int16 and multiplied-added in pairs into int32
// (vpmaddwd: a pair of u8 x s8 products cannot overflow int32), 16 bytes of K per step.
#include <immintrin.h>
#include <algorithm>
#include "cpu/simd/quantized_simd.h"

namespace flambeau::cpu::quantized_simd {
namespace {

int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <int NB>
void dots(const uint8_t* a, const int8_t* w, int64_t K, int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k));
    for (int j = 0; j < NB; ++j) {
      const __m256i vw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * K + k));
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(va, vw), ones));
    }
  }
  for (int j = 0; j < NB; ++j) {
    uint32_t s = (uint32_t)hsum(acc[j]);
    const int8_t* wr = w + j * K;
    int64_t t = k;
    for (; t + 1 < K; t += 2) {
      int32_t pair = (int32_t)a[t] * wr[t] + (int32_t)a[t + 1] * wr[t + 1];
      s += (uint32_t)std::max(-32768, std::min(32767, pair));
    }
    if (t < K) s += (uint32_t)((int32_t)a[t] * wr[t]);
    out[j] = (int32_t)s;
  }
}

template <int NB>
void dots_exact(const uint8_t* a, const int8_t* w, int64_t K, int32_t* out) {
  __m256i acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m256i va = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k)));
    for (int j = 0; j < NB; ++j) {
      const __m256i vw = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j * K + k)));
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(va, vw));
    }
  }
  for (int j = 0; j < NB; ++j) {
    uint32_t s = (uint32_t)hsum(acc[j]);
    const int8_t* wr = w + j * K;
    for (int64_t t = k; t < K; ++t) s += (uint32_t)((int32_t)a[t] * wr[t]);
    out[j] = (int32_t)s;
  }
}

void dots_any(const uint8_t* a, const int8_t* w, int64_t K, int nb, int32_t* out) {
  switch (nb) {
    case 4: return dots<4>(a, w, K, out);
    case 3: return dots<3>(a, w, K, out);
    case 2: return dots<2>(a, w, K, out);
    default: return dots<1>(a, w, K, out);
  }
}

void dots_exact_any(const uint8_t* a, const int8_t* w, int64_t K, int nb, int32_t* out) {
  switch (nb) {
    case 4: return dots_exact<4>(a, w, K, out);
    case 3: return dots_exact<3>(a, w, K, out);
    case 2: return dots_exact<2>(a, w, K, out);
    default: return dots_exact<1>(a, w, K, out);
  }
}

}  // namespace

DotsU8S8 dots_u8s8_avx2(bool saturate) { return saturate ? &dots_any : &dots_exact_any; }

}  // namespace flambeau::cpu::quantized_simd
