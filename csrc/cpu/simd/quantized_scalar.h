// The scalar element operations of the int8 kernels' epilogues and activation quantization, shared by
// the baseline driver (csrc/cpu/quantized.cpp) and the tails of its SIMD leaves, so that every lane of
// every form computes the same bits. Anonymous namespace: each file gets its own copy, built with its own
// flags (an inline function shared across files could be linked from an AVX-built copy into baseline
// code). No expression here can be contracted into an FMA: a product is never followed by an addition
// except through the explicit std::fma.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace flambeau::cpu::quantized_simd {
namespace {

// vcvtps2dq, which fbgemm's requantization runs: round half to even (the default rounding mode), and
// the "integer indefinite" INT32_MIN for NaN and values outside int32.
inline int32_t cvt_ps_i32(float f) {
  if (!(f >= -2147483648.0f && f < 2147483648.0f)) return INT32_MIN;
  return (int32_t)std::lrintf(f);
}

// fbgemm's ReQuantizeOutput (float bias): clamp(cvt((float(raw) + bias / act_times_w_scale) * multiplier)
// + out_zp, lo, 255), lo = out_zp under ReLU, else 0. fbgemm adds the zero point in saturating int16 after
// packing; clamping the rounded value to +-2^16 first gives the same bytes without an int32 overflow.
inline uint8_t requantize1(int32_t raw, float bias_q, float multiplier, int32_t out_zp, int32_t lo) {
  const float ab = ((float)raw + bias_q) * multiplier;
  const int32_t r = std::max(-65536, std::min(65536, cvt_ps_i32(ab))) + out_zp;
  return (uint8_t)std::max(lo, std::min(255, r));
}

// ReQuantizeForFloat: fma(float(raw), a_scale * w_scale, bias), or the product alone without a bias;
// ReLU as std::max(0, y) (NaN and -0 give +0, as vmaxps(y, 0) does).
inline float dequantize1(int32_t raw, float scale, const float* bias, bool relu) {
  const float y = bias ? std::fma((float)raw, scale, *bias) : (float)raw * scale;
  return relu ? std::max(0.0f, y) : y;
}

// fbgemm's activation packing for the dynamic Linear: round(fma(x, 1 / scale, zp)), the float first
// clipped at the largest float below INT32_MAX (fmin: NaN becomes that bound, so 255), then to [0, 255].
inline uint8_t quantize_u8_1(float x, float inv, float zp) {
  const float t = std::fmin(std::fma(x, inv, zp), 2147483520.0f);
  return (uint8_t)std::max(0, std::min(255, cvt_ps_i32(t)));
}

// quantize_per_tensor's element for the 8-bit storages: v = fused ? float(double(x) * inv + zp) (fbgemm's:
// the product of two floats is exact in float64, so with or without contraction into an fma there is one
// rounding there, then one to float) or x * inv + zp in float32 (PyTorch's scalar path: the product
// rounded first, so the files that use this are built without contraction), clamped to [lo, hi] with
// NaN going to hi (PyTorch's qmax: fbgemm's vminps against a bound first), rounded half to even. The
// caller keeps the low byte of the int32.
inline int32_t quantize8_1(float x, float inv, float zp, float lo, float hi, bool fused) {
  float v;
  if (fused) {
    v = (float)((double)x * (double)inv + (double)zp);
  } else {
    const float p = x * inv;
    v = p + zp;
  }
  v = v < hi ? v : hi;
  v = v > lo ? v : lo;
  return cvt_ps_i32(v);
}

}  // namespace
}  // namespace flambeau::cpu::quantized_simd
