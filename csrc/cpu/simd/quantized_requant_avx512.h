// The static requantization of 16 int32 sums (QGemmLeaf::requantize's contract, quantized_simd.h), for
// the AVX-512 files only (quantized_avx512.cpp's epilogue and the AMX Conv2d's fused one), so that both
// run the same instructions: vcvtdq2ps, vaddps, vmulps, vcvtps2dq (round half to even; INT32_MIN past
// int32 and for NaN), then clamp(r + out_zp, lo, 255) computed as clamp(r, lo - out_zp, 255 - out_zp)
// + out_zp: the same integers (clamping commutes with adding out_zp, and the bounds lie in [-255, 255],
// so INT32_MIN gives lo as before), one vpmaxsd fewer than clamping r to +-65536 first so that the
// addition cannot wrap.
#pragma once
#include <immintrin.h>

namespace flambeau::cpu::quantized_simd {

// lo_c = lo - out_zp, hi_c = 255 - out_zp (broadcast).
inline __m512i requantize16(__m512i raw, __m512 bias_q, __m512 multiplier, __m512i out_zp, __m512i lo_c,
                            __m512i hi_c) {
  const __m512 f = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(raw), bias_q), multiplier);
  return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(f), lo_c), hi_c), out_zp);
}

}  // namespace flambeau::cpu::quantized_simd
