// Index code of the special-case CUDA convolution kernels (csrc/cuda/conv_special.cu), free of CUDA
// headers so that the host test (tests/cuda_host/conv_special_test.cpp, run by
// tests/kernels/test_conv_cuda_host.py) runs these very functions against a naive convolution.
//
// Small-Cg input gradient: one thread per input pixel (n, ih, iw) of group g computes its Cg <= 4
// outputs dx[n, g*Cg + c, ih, iw], looping only over the kernel taps that reach an output:
//   tap kh hits output row oh = (ih + ph - kh*dh) / sh  iff  ih + ph - kh*dh >= 0, is divisible by sh
//   and oh < OH (the same along w). The hits form an arithmetic progression (tap_run).
// Terms are summed in (j, kh, kw) order, one FMA each, as the implicit GEMM does (its skipped taps
// are zeros), so the result has the same bits as conv_igemm_kernel's dgrad.
// Threads of a row are ordered by phase (polyphase order): slot r of a row with Tw = ceil(W / sw)
// is iw = (r / Tw) + sw * (r % Tw), so neighbouring threads share iw mod sw and hence the same
// w-taps (no divergence between the phases; dy reads along ow stay contiguous).
// Weights of the group are staged in shared memory as ws[(j*Kk + r)*CP + c] (CP = 4 for Cg = 3,
// else Cg: one 16/8-byte load gets a tap's Cg weights), r = kh*KW + kw, pad lanes zero.
#pragma once
#include "cuda/conv_igemm.h"

namespace flambeau::cuda::conv {

constexpr int kSmallCgMax = 4;

// Padded per-tap weight lane count in shared memory.
constexpr int small_cg_cp(int cg) { return cg == 3 ? 4 : cg; }

// Input gradient of a conv with few input channels per group (and not the depthwise direct case).
inline bool use_small_cg_dgrad(const Dims& d) {
  if (use_direct(d) || d.G <= 0 || d.C % d.G != 0) return false;
  const int64_t Cg = d.C / d.G;
  if (Cg < 1 || Cg > kSmallCgMax) return false;
  const int64_t Tw = (d.W + d.sw - 1) / d.sw;
  return d.H * d.sw * Tw < kIntLimit;  // pixel slots of an image (int inside the kernel)
}

// Taps k of one axis (K taps, stride s, dilation dil, OUT outputs) that reach t = input index +
// padding: k = first + a*step, output o = o_first - a*o_step, for a < count.
struct TapRun {
  int first, step, count, o_first, o_step;
};

FLB_HD int gcd_hd(int a, int b) {
  while (b != 0) {
    const int r = a % b;
    a = b;
    b = r;
  }
  return a;
}

FLB_HD TapRun tap_run(int t, int K, int s, int dil, int OUT) {
  const int g = gcd_hd(s, dil);
  TapRun run{0, s / g, 0, 0, dil / g};  // k -> k + step moves t - k*dil by step*dil = s*(dil/g)
  if (t < 0 || OUT <= 0 || K <= 0) return run;
  const int hi = t / dil < K - 1 ? t / dil : K - 1;  // k*dil <= t
  const int span = t - (OUT - 1) * s;                  // need k*dil >= span
  const int lo = span <= 0 ? 0 : (span + dil - 1) / dil;
  for (int k = lo; k <= hi && k < lo + run.step; ++k) {
    if ((t - k * dil) % s == 0) {
      run.first = k;
      run.count = (hi - k) / run.step + 1;
      run.o_first = (t - k * dil) / s;
      return run;
    }
  }
  return run;
}

// Pixel slot q (0 <= q < H * sw * Tw) of an image in polyphase order; ok == false past the row end.
struct PolyPix {
  int ih, iw;
  bool ok;
};
FLB_HD PolyPix poly_pixel(int q, int W, int sw, int Tw) {
  const int Wp = sw * Tw, ih = q / Wp, r = q - ih * Wp, ph = r / Tw, iw = ph + sw * (r - ph * Tw);
  return {ih, iw, iw < W};
}

// The kernel's persistent grid walks tiles t = (g, n, xt) in this order (groups slowest, so a block
// restages its weights only when g changes); tile xt of image n holds pixel slots
// [xt*block, (xt+1)*block).
struct SmallCgTile {
  int g, n, xt;
};
FLB_HD SmallCgTile small_cg_tile(int64_t t, int N, int tiles_per_img) {
  const int64_t per_group = (int64_t)N * tiles_per_img;
  const int g = (int)(t / per_group);
  const int64_t rest = t - g * per_group;
  const int n = (int)(rest / tiles_per_img);
  return {g, n, (int)(rest - (int64_t)n * tiles_per_img)};
}

// Shared-memory slot of the group's weight element s = (j*Cg + c)*Kk + r (global order, so the
// staging reads are contiguous).
template <int CG>
FLB_HD int small_cg_stage_slot(int s, int Kk) {
  const int r = s % Kk, jc = s / Kk, c = jc % CG, j = jc / CG;
  return (j * Kk + r) * small_cg_cp(CG) + c;
}

// The Cg sums of input pixel (ih, iw): dy_g points at dy[n, g*Og], WGet(j, r, T (&w)[CG]) fetches
// the tap's weights w[g*Og + j, 0..CG-1, r].
template <class T, int CG, class WGet>
FLB_HD void small_cg_dgrad_pixel(const Problem& p, const T* dy_g, int ih, int iw, const WGet& wget, T (&acc)[CG]) {
  const TapRun rh = tap_run(ih + p.ph, p.KH, p.sh, p.dh, p.OH);
  const TapRun rw = tap_run(iw + p.pw, p.KW, p.sw, p.dw, p.OW);
  for (int c = 0; c < CG; ++c) acc[c] = T(0);
  for (int j = 0; j < p.Og; ++j) {
    const T* dyj = dy_g + (int64_t)j * p.OHW;
    for (int a = 0; a < rh.count; ++a) {
      const int kh = rh.first + a * rh.step, oh = rh.o_first - a * rh.o_step;
      const T* dyr = dyj + oh * p.OW;
      for (int b = 0; b < rw.count; ++b) {
        const int kw = rw.first + b * rw.step, ow = rw.o_first - b * rw.o_step;
        const T v = dyr[ow];
        T wv[CG];
        wget(j, kh * p.KW + kw, wv);
        for (int c = 0; c < CG; ++c) acc[c] = fma_hd(v, wv[c], acc[c]);
      }
    }
  }
}

// Pointwise (1x1, stride 1, no padding, one group) float32 convolutions as batched GEMMs on the
// tuned matmul kernel: needs C and H*W multiples of 4 so every operand takes its 16-byte loads.
inline bool use_pointwise_gemm(const Dims& d) {
  return d.KH == 1 && d.KW == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0 && d.G == 1 && d.OH == d.H &&
         d.OW == d.W && d.C % 4 == 0 && (d.H * d.W) % 4 == 0 && d.N >= 1;
}

}  // namespace flambeau::cuda::conv

// Entry points (csrc/cuda/conv_special.cu), called by conv.cu after its argument checks with the
// device guard set; each returns false, doing nothing, when its case does not apply.
namespace flambeau {
struct Tensor;
}
namespace flambeau::cuda::conv {
bool special_dgrad(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const Dims& d);
bool pointwise_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const Dims& d);
bool pointwise_wgrad(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const Dims& d);
}  // namespace flambeau::cuda::conv
