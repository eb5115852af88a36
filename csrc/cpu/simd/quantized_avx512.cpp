// AVX-512BW leaf of the int8 kernels (contract in quantized_simd.h): the saturating GEMM (vpmaddubsw
// then vpmaddwd against ones, fbgemm's arithmetic on AVX-512 CPUs without VNNI; micro-kernel in
// quantized_tile_avx512.inc) and the epilogues and activation quantization, 16 lanes at a time with
// masked tails, used by both AVX-512 leaves (the VNNI GEMM lives in quantized_vnni_avx512.cpp).
// Each vector operation is the scalar one of quantized_scalar.h (the driver's portable form): vcvtdq2ps, vaddps, vmulps, vcvtps2dq
// and integer clamps for the requantization; vfmadd (one rounding, as std::fma) for the dequantization
// and the activation quantization; vmaxps/vminps with the constant second, so that NaN gives the constant
// as std::max(0, y) and std::fmin do.
#include <algorithm>
#include <cstdint>
#include "cpu/simd/quantized_requant_avx512.h"
#include "cpu/simd/quantized_simd.h"

#define QTILE_VNNI 0
#include "cpu/simd/quantized_tile_avx512.inc"

namespace flambeau::cpu::quantized_simd {
namespace {

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

void gemm_saturating(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0,
                     int64_t n1, int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                     int32_t* raw, int64_t ldr) {
  gemm_tiles(a, lda, m0, m1, packed, n0, n1, K, col_term, w_zp, row_sum, raw, ldr);
}

void requantize(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* bias_q, const float* multiplier,
                int32_t out_zp, int32_t lo, uint8_t* y, int64_t ldy) {
  const __m512i zp = _mm512_set1_epi32(out_zp), lo_c = _mm512_set1_epi32(lo - out_zp);
  const __m512i hi_c = _mm512_set1_epi32(255 - out_zp);
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t n = 0; n < N; n += 16) {
      const __mmask16 k = tail_mask(N - n);
      const __m512i r = requantize16(_mm512_maskz_loadu_epi32(k, raw + m * N + n), _mm512_maskz_loadu_ps(k, bias_q + n),
                                     _mm512_maskz_loadu_ps(k, multiplier + n), zp, lo_c, hi_c);
      _mm512_mask_cvtepi32_storeu_epi8(y + m * ldy + n, k, r);
    }
  }
}

void dequantize(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* scale, const float* bias,
                bool relu, float* y) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t n = 0; n < N; n += 16) {
      const __mmask16 k = tail_mask(N - n);
      const __m512 f = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, raw + m * N + n));
      const __m512 s = _mm512_maskz_loadu_ps(k, scale + n);
      __m512 r = bias ? _mm512_fmadd_ps(f, s, _mm512_maskz_loadu_ps(k, bias + n)) : _mm512_mul_ps(f, s);
      if (relu) r = _mm512_max_ps(r, zero);
      _mm512_mask_storeu_ps(y + m * N + n, k, r);
    }
  }
}

void quantize_u8(const float* x, int64_t i0, int64_t i1, float inv, float zp, uint8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp), clip = _mm512_set1_ps(2147483520.0f);
  const __m512i vhi = _mm512_set1_epi32(255), vzero = _mm512_setzero_si512();
  for (int64_t i = i0; i < i1; i += 16) {
    const __mmask16 k = tail_mask(i1 - i);
    const __m512 t = _mm512_min_ps(_mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), vinv, vzp), clip);
    const __m512i r = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(t), vzero), vhi);
    _mm512_mask_cvtepi32_storeu_epi8(q + i, k, r);
  }
}

// quantize_per_tensor into 8 bits (quantized_scalar.h's quantize8_1, lane for lane): fused, one float32
// vfmadd, fbgemm's arithmetic (quantize8_1 computes it as x * inv + zp in float64, the product exact,
// then rounded to float: the same value but where the float64 sum's own rounding lands on a float
// midpoint, which then changes the integer only if that midpoint's neighbour is k + 0.5; the float64
// widening here (two vcvtps2pd, vfmadd, vcvtpd2ps per half) held the loop at 0.85x PyTorch); else
// vmulps then vaddps (not contracted: fp-contract is off for this function). vminps(v, hi) turns NaN into
// hi (v < hi ? v : hi), then vmaxps(v, lo); vcvtps2dq rounds half to even and vpmovdb keeps the low byte.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
template <bool FUSED>
void quantize8_run(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, uint8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  auto bytes = [&](__m512 xv) {
    __m512 v;
    if constexpr (FUSED) {
      v = _mm512_fmadd_ps(xv, vinv, vzp);  // fbgemm's own vfmadd
    } else {
      v = _mm512_add_ps(_mm512_mul_ps(xv, vinv), vzp);
    }
    v = _mm512_max_ps(_mm512_min_ps(v, vhi), vlo);
    return _mm512_cvtps_epi32(v);
  };
  // Full vectors with plain loads and the register form of vpmovdb plus a 16-byte store: the masked
  // load and the masked memory form of vpmovdb on every vector ran at 0.85x PyTorch (4M floats).
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(bytes(_mm512_loadu_ps(x + i))));
  if (i < i1) {
    const __mmask16 k = tail_mask(i1 - i);
    _mm512_mask_cvtepi32_storeu_epi8(q + i, k, bytes(_mm512_maskz_loadu_ps(k, x + i)));
  }
}
#pragma GCC pop_options

void quantize8(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, bool fused, void* q) {
  if (fused) quantize8_run<true>(x, i0, i1, inv, zp, lo, hi, static_cast<uint8_t*>(q));
  else quantize8_run<false>(x, i0, i1, inv, zp, lo, hi, static_cast<uint8_t*>(q));
}

}  // namespace

QGemmLeaf leaf_avx512_saturating() {
  return {16, &gemm_saturating, &requantize, &dequantize, &quantize_u8, &quantize8};
}
QGemmLeaf leaf_avx512_vnni() { return {16, &gemm_avx512_vnni, &requantize, &dequantize, &quantize_u8, &quantize8}; }
QGemmLeaf leaf_avx512_amx() {
#ifdef FLAMBEAU_NO_AMX  // (a compiler without AMX: never called, cpu::hardware_has_amx_int8() is false)
  return leaf_avx512_vnni();
#else
  return {16, &gemm_amx, &requantize, &dequantize, &quantize_u8, &quantize8, &conv_rows_amx};
#endif
}

}  // namespace flambeau::cpu::quantized_simd
