// Quantized (int8) kernels for torch.ao.nn.quantized: Linear, Conv2d and the dynamic Linear.
//
// The arithmetic is fbgemm's (what PyTorch's x86/fbgemm engine runs), so that results agree with
// PyTorch's quantized modules:
//   * activations are uint8 (quint8, zero point a_zp), weights int8 (qint8, one zero point and scale
//     per output channel, or one for all); products accumulate exactly in int32 and the zero points
//     are taken out with row/column sums: raw = sum_k (a - a_zp)(w - w_zp).
//   * static output (requantize, fbgemm's ReQuantizeOutput with a float bias):
//       y = clamp(lrintf((float(raw) + bias[j] / act_times_w_scale[j]) * multiplier[j]) + out_zp,
//                 relu ? out_zp : 0, 255)
//     with act_times_w_scale = float(a_scale) * w_scale[j] and multiplier = that / float(out_scale),
//     computed by the caller in float32 as PyTorch does.
//   * dynamic output (ReQuantizeForFloat, its AVX2 form): y = fma(float(raw), a_scale * w_scale[j], bias[j]), where the
//     activation is quantized here with fbgemm's packing rule round(fma(x, 1/scale, zp)) and the
//     qparams of quant_utils::ChooseQuantizationParams (computed by the caller).
// fbgemm's AVX2 and AVX-512 kernels add pairs of adjacent u8*s8 products in int16 with saturation
// (vpmaddubsw); on a CPU with AVX-512 VNNI it runs vpdpbusd instead, which sums exactly. Both are
// reproduced, chosen by the same hardware test (cpu::hardware_has_avx512_vnni), so full-range
// activations give PyTorch's sums on either kind of CPU. PyTorch's qconfigs use reduce_range
// (activations in [0, 127]) so that saturation never happens in practice.
//
// The GEMM is the plain triple loop over K-contiguous rows of A (M x K) and W (N x K), int32
// accumulation (the compiler vectorises the dot product), parallel over rows. Conv2d is im2col
// (padding filled with the activation zero point, which is real 0) into the same GEMM, one group at a
// time.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>
#include "core/tensor.h"
#include "cpu/capability.h"
#include "cpu/parallel.h"
#include "cpu/simd/quantized_simd.h"

namespace flambeau::cpu {

namespace {

// The portable forms of the AVX2 leaf's dot products (quantized_simd.h). Saturating: fbgemm's vpmaddubsw
// sums each pair of adjacent products (k, k + 1) in int16 with saturation before the int32 accumulation
// (never reached with reduce_range activations). Exact: VNNI's vpdpbusd.
void dots_portable_exact(const uint8_t* a, const int8_t* w, int64_t K, int nb, int32_t* out) {
  for (int j = 0; j < nb; ++j) {
    const int8_t* wr = w + j * K;
    uint32_t acc = 0;
    for (int64_t k = 0; k < K; ++k) acc += (uint32_t)((int32_t)a[k] * (int32_t)wr[k]);
    out[j] = (int32_t)acc;
  }
}

void dots_portable(const uint8_t* a, const int8_t* w, int64_t K, int nb, int32_t* out) {
  for (int j = 0; j < nb; ++j) {
    const int8_t* wr = w + j * K;
    uint32_t acc = 0;
    int64_t k = 0;
    for (; k + 1 < K; k += 2) {
      int32_t pair = (int32_t)a[k] * (int32_t)wr[k] + (int32_t)a[k + 1] * (int32_t)wr[k + 1];
      acc += (uint32_t)std::max(-32768, std::min(32767, pair));
    }
    if (k < K) acc += (uint32_t)((int32_t)a[k] * (int32_t)wr[k]);
    out[j] = (int32_t)acc;
  }
}

// raw[m, n] = sum_k (a[m,k] - a_zp) * (w[n,k] - w_zp[n]) as int32 (wrapping as fbgemm's int32 does).
void qgemm_raw(const uint8_t* a, int64_t lda, const int8_t* w, int64_t M, int64_t N, int64_t K, int32_t a_zp,
               const int32_t* w_zp, int32_t* raw) {
  std::vector<int32_t> col_sum(N);
  for (int64_t n = 0; n < N; n++) {
    int32_t s = 0;
    const int8_t* wr = w + n * K;
    for (int64_t k = 0; k < K; k++) s += wr[k];
    col_sum[n] = s;
  }
  const bool saturate = !hardware_has_avx512_vnni();  // as fbgemm chooses its kernel
  const quantized_simd::DotsU8S8 dots = capability() == Capability::Default
                                            ? (saturate ? &dots_portable : &dots_portable_exact)
                                            : quantized_simd::dots_u8s8_avx2(saturate);
  parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, N * K)), [&](int64_t m0, int64_t m1) {
    int32_t dot[4];
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* ar = a + m * lda;
      int32_t row_sum = 0;
      for (int64_t k = 0; k < K; k++) row_sum += ar[k];
      for (int64_t n = 0; n < N; n++) {
        if (n % 4 == 0) dots(ar, w + n * K, K, (int)std::min<int64_t>(4, N - n), dot);
        const int32_t acc = dot[n % 4];
        uint32_t r = (uint32_t)acc - (uint32_t)(a_zp * (col_sum[n] - w_zp[n] * (int32_t)K)) -
                     (uint32_t)(row_sum * w_zp[n]);
        raw[m * N + n] = (int32_t)r;
      }
    }
  });
}

void requantize_u8(const int32_t* raw, int64_t M, int64_t N, int64_t ldy, const float* bias,
                   const float* act_times_w_scale, const float* multiplier, int32_t out_zp, bool relu, uint8_t* y) {
  const long lo = relu ? (long)out_zp : 0l;
  for (int64_t m = 0; m < M; m++) {
    for (int64_t n = 0; n < N; n++) {
      float raw_f = (float)raw[m * N + n];
      if (bias) raw_f += bias[n] / act_times_w_scale[n];
      float ab = raw_f * multiplier[n];
      long rounded = std::lrintf(ab) + out_zp;
      y[m * ldy + n] = (uint8_t)std::max(lo, std::min(255l, rounded));
    }
  }
}

const float* opt_data(const Tensor* t) { return t ? t->data<float>() : nullptr; }

}  // namespace

// x: [M, K] uint8 contiguous; w: [N, K] int8 contiguous; w_zp: [N] int32; bias, act_times_w_scale,
// multiplier: [N] float32 (bias optional). Returns [M, N] uint8.
Tensor quantized_linear(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp, bool relu) {
  const int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  Tensor y = empty({M, N}, DType::UInt8, x.device());
  std::vector<int32_t> raw((size_t)(M * N));
  qgemm_raw(x.data<uint8_t>(), K, w.data<int8_t>(), M, N, K, (int32_t)x_zp, w_zp.data<int32_t>(), raw.data());
  requantize_u8(raw.data(), M, N, N, opt_data(bias), act_times_w_scale.data<float>(), multiplier.data<float>(),
                (int32_t)out_zp, relu, y.data<uint8_t>());
  return y;
}

// x: [M, K] float32 contiguous, quantized here with (a_scale, a_zp) as fbgemm's PackAWithQuantRowOffset;
// w as above, w_scale [N] float32. Returns [M, N] float32.
Tensor quantized_linear_dynamic(const Tensor& x, double a_scale_d, int64_t a_zp, const Tensor& w, const Tensor& w_zp,
                                const Tensor& w_scale, const Tensor* bias, bool relu) {
  const int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  const float a_scale = (float)a_scale_d;
  const float inv = 1.0f / a_scale;
  const float zp_f = (float)a_zp;
  std::vector<uint8_t> xq((size_t)(M * K));
  const float* xs = x.data<float>();
  for (int64_t i = 0; i < M * K; i++) {
    float t = std::fma(xs[i], inv, zp_f);
    t = std::fmin(t, 2147483520.0f);  // fbgemm clips at the largest float below INT32_MAX before converting
    long r = std::lrintf(t);
    xq[i] = (uint8_t)std::max(0l, std::min(255l, r));
  }
  std::vector<int32_t> raw((size_t)(M * N));
  qgemm_raw(xq.data(), K, w.data<int8_t>(), M, N, K, (int32_t)a_zp, w_zp.data<int32_t>(), raw.data());
  Tensor y = empty({M, N}, DType::Float32, x.device());
  float* yd = y.data<float>();
  const float* ws = w_scale.data<float>();
  const float* b = opt_data(bias);
  for (int64_t m = 0; m < M; m++) {
    for (int64_t n = 0; n < N; n++) {
      const float scale = a_scale * ws[n];
      float res = b ? std::fma((float)raw[m * N + n], scale, b[n]) : (float)raw[m * N + n] * scale;
      if (relu) res = std::max(0.0f, res);
      yd[m * N + n] = res;
    }
  }
  return y;
}

// x: [B, C, H, W] uint8 contiguous; w: [O, C/groups, kh, kw] int8 contiguous; per-output-channel
// vectors as for quantized_linear. Returns [B, O, OH, OW] uint8.
Tensor quantized_conv2d(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool relu) {
  const int64_t B = x.sizes[0], C = x.sizes[1], H = x.sizes[2], W = x.sizes[3];
  const int64_t O = w.sizes[0], Cg = w.sizes[1], KH = w.sizes[2], KW = w.sizes[3];
  const int64_t sh = stride[0], sw = stride[1], ph = padding[0], pw = padding[1], dh = dilation[0], dw = dilation[1];
  const int64_t OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1;
  const int64_t OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
  const int64_t Og = O / groups, K = Cg * KH * KW, P = OH * OW;
  Tensor y = empty({B, O, OH, OW}, DType::UInt8, x.device());
  uint8_t* yd = y.data<uint8_t>();
  const uint8_t* xd = x.data<uint8_t>();
  const int8_t* wd = w.data<int8_t>();
  const int32_t* wzp = w_zp.data<int32_t>();
  const float* atws = act_times_w_scale.data<float>();
  const float* mult = multiplier.data<float>();
  const float* b = opt_data(bias);
  // The reduction runs over (kh, kw, c), channels innermost, as fbgemm's NHWC im2col: its int16
  // pair sums (see qgemm_raw) then pair the same products. The weight is reordered to match.
  std::vector<int8_t> wk((size_t)(O * K));
  for (int64_t o = 0; o < O; o++)
    for (int64_t c = 0; c < Cg; c++)
      for (int64_t i = 0; i < KH; i++)
        for (int64_t j = 0; j < KW; j++) wk[o * K + (i * KW + j) * Cg + c] = wd[((o * Cg + c) * KH + i) * KW + j];
  std::vector<uint8_t> cols((size_t)(P * K));  // im2col: one row of K per output position
  std::vector<int32_t> raw((size_t)(P * Og));
  std::vector<uint8_t> yt((size_t)(P * Og));
  for (int64_t bi = 0; bi < B; bi++) {
    for (int64_t g = 0; g < groups; g++) {
      for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
          uint8_t* row = cols.data() + (oh * OW + ow) * K;
          int64_t k = 0;
          for (int64_t i = 0; i < KH; i++) {
            int64_t ih = oh * sh - ph + i * dh;
            for (int64_t j = 0; j < KW; j++) {
              int64_t iw = ow * sw - pw + j * dw;
              const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
              for (int64_t c = 0; c < Cg; c++, k++) {
                row[k] = inside ? xd[(((bi * C) + g * Cg + c) * H + ih) * W + iw] : (uint8_t)x_zp;
              }
            }
          }
        }
      }
      qgemm_raw(cols.data(), K, wk.data() + g * Og * K, P, Og, K, (int32_t)x_zp, wzp + g * Og, raw.data());
      requantize_u8(raw.data(), P, Og, Og, b ? b + g * Og : nullptr, atws + g * Og, mult + g * Og, (int32_t)out_zp,
                    relu, yt.data());
      for (int64_t o = 0; o < Og; o++) {
        uint8_t* dst = yd + (bi * O + g * Og + o) * P;
        for (int64_t p = 0; p < P; p++) dst[p] = yt[p * Og + o];
      }
    }
  }
  return y;
}

// Quantization of float32 values (see ops/quantized_ops.h). Rounding is half to even, as nearbyint: for the
// 8-bit types the value is first clamped to integer bounds (which commutes with rounding), rounded by
// adding and subtracting 1.5 * 2^23 and converted through int32, all of which the compiler vectorises;
// int32 uses nearbyint in double.
template <bool FUSED, class D>
void quantize8(const float* xs, D* dst, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi) {
  const double inv_d = inv, zp_d = zp;
  for (int64_t i = i0; i < i1; ++i) {
    // before rounding: fbgemm's fma (exact in double, rounded once), or PyTorch's scalar float32 path
    float v = FUSED ? (float)((double)xs[i] * inv_d + zp_d) : xs[i] * inv + zp;
    v = std::min(std::max(v, lo), hi);
    v = (v + 12582912.0f) - 12582912.0f;
    dst[i] = (D)(int32_t)v;
  }
}

void quantize_per_tensor(const Tensor& x, float inv, int64_t zp, int64_t qmin, int64_t qmax, bool fused,
                         const Tensor& out) {
  const int64_t n = x.numel();
  const float* xs = x.data<float>();
  const float zp_f = (float)zp, lo = (float)qmin, hi = (float)qmax;
  auto run8 = [&](auto* dst) {
    parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
      if (fused) quantize8<true>(xs, dst, i0, i1, inv, zp_f, lo, hi);
      else quantize8<false>(xs, dst, i0, i1, inv, zp_f, lo, hi);
    });
  };
  if (out.dtype == DType::UInt8) return run8(out.data<uint8_t>());
  if (out.dtype == DType::Int8) return run8(out.data<int8_t>());
  int32_t* dst = out.data<int32_t>();
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = fused ? (float)((double)xs[i] * (double)inv + (double)zp) : xs[i] * inv + zp_f;
      dst[i] = (int32_t)std::max((double)qmin, std::min((double)qmax, std::nearbyint((double)v)));
    }
  });
}

}  // namespace flambeau::cpu
