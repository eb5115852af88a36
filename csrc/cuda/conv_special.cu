// Special cases of the CUDA convolution (csrc/cuda/conv.cu calls these first, after its checks),
// where the implicit GEMM wastes most of its tile:
//
// 1. Input gradient with few input channels per group (Cg <= 4, not the depthwise direct case):
//    the implicit GEMM's N = Cg fills 3 of 32..128 tile columns and, with stride s, gathers s*s
//    times more (zero) taps than exist. Here one thread per input pixel (n, ih, iw) of group g
//    computes its Cg sums, looping over the filters j of the group and only the taps that reach an
//    output (tap_run in conv_special.h), in (j, kh, kw) order with one FMA per term: the same bits
//    as the implicit GEMM. The group's weights sit in shared memory as ws[j][kh*KW+kw][CP] (CP = 4
//    for Cg = 3) so one 16-byte load gets a tap's weights (all lanes of a warp usually read the same
//    tap: a broadcast); when they do not fit (more than ~113 KB), they are read from global memory.
//    Threads of a row are in polyphase order (conv_special.h), so a warp shares its w-taps. The grid
//    is persistent: one wave of blocks walks (group, image, 256-slot tile) in order and restages
//    the weights only when the group changes. Each output is written by one thread: deterministic.
// 2. Pointwise float32 convolutions (1x1, stride 1, no padding, one group, C and H*W multiples of
//    4) on the tuned matmul kernel (cuda::bmm with stride-0 batch views, no copies):
//      forward  y[n] (O x HW) = W (O x C) @ x[n] (C x HW), then + bias (conv2d_add_bias: the GEMM's
//               epilogue bias is per column, here it is per row);
//      dgrad    dx[n] (C x HW) = W^T (C x O) @ dy[n] (O x HW);
//      wgrad    dW = sum_n dy[n] (O x HW) @ x[n]^T (HW x C): a batched product into per-image partial
//               buffers, folded in image order in double (fold_images_kernel). One GEMM over
//               [O, N*HW] would need dy and x transposed to (channel, image, pixel) first (a full
//               copy of both), so the batch is kept; the partials need N*O*C floats (at most 16M,
//               else the implicit GEMM's split-K runs).
//    Every GEMM output is one thread's sum in k order: deterministic. Other dtypes and shapes, and
//    every conv while matmul TF32 is allowed (the GEMM would round to TF32), stay on the implicit GEMM.
//
// First run on an H100 in session 17: tests/kernels/test_conv.py -k cuda and tools/verify_cuda_conv.py
// pass (bit-equal to the CPU); the stem's input gradient went from 37.9 ms to 2.5 ms.
#include <algorithm>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/conv_special.h"
#include "cuda/nn_kernels.h"
#include "core/view.h"

namespace flambeau::cuda::conv {

namespace {

constexpr int kSpecialBlock = 256;
constexpr int64_t kSmemCap = 113 * 1024;             // keeps at least two blocks per SM (sm_80/90)
constexpr int64_t kPartialBudget = int64_t(16) << 20;  // pointwise wgrad partials, elements

// ---------------------------------------------------------------- 1. small-Cg input gradient
template <class T, int CG>
struct SmemW {
  const T* ws;
  int Kk;
  __device__ __forceinline__ void operator()(int j, int r, T (&w)[CG]) const {
    constexpr int CP = small_cg_cp(CG);
    const T* p = ws + (j * Kk + r) * CP;
    if constexpr (sizeof(T) == 4 && CP == 4) {
      const float4 v = *reinterpret_cast<const float4*>(p);
      const float t[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int c = 0; c < CG; ++c) w[c] = t[c];
    } else if constexpr (sizeof(T) == 4 && CP == 2) {
      const float2 v = *reinterpret_cast<const float2*>(p);
      w[0] = v.x;
      w[1] = v.y;
    } else if constexpr (sizeof(T) == 8 && CP >= 2) {
#pragma unroll
      for (int h = 0; h < CP / 2; ++h) {
        const double2 v = *reinterpret_cast<const double2*>(p + 2 * h);
        if (2 * h < CG) w[2 * h] = v.x;
        if (2 * h + 1 < CG) w[2 * h + 1] = v.y;
      }
    } else {
#pragma unroll
      for (int c = 0; c < CG; ++c) w[c] = p[c];
    }
  }
};

template <class T, int CG>
struct GlobalW {
  const T* wg;  // w[g*Og]
  int Kk;
  __device__ __forceinline__ void operator()(int j, int r, T (&w)[CG]) const {
#pragma unroll
    for (int c = 0; c < CG; ++c) w[c] = wg[((int64_t)j * CG + c) * Kk + r];
  }
};

// Persistent grid over tiles t = (g, n, xt) (xt: kSpecialBlock pixel slots of image n).
template <class T, int CG, bool SMEM>
__global__ void __launch_bounds__(kSpecialBlock, 2)
small_cg_dgrad_kernel(Problem p, T* __restrict__ dx, const T* __restrict__ dy, const T* __restrict__ w, int Tw,
                      int tiles_per_img, int64_t total_tiles) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ws = reinterpret_cast<T*>(smem_raw);
  constexpr int CP = small_cg_cp(CG);
  const int slots = p.H * p.sw * Tw;
  const int64_t w_group = (int64_t)p.Og * CG * p.Kk;
  int staged = -1;
  for (int64_t t = blockIdx.x; t < total_tiles; t += gridDim.x) {  // block-uniform
    const SmallCgTile tile = small_cg_tile(t, p.N, tiles_per_img);
    const int g = tile.g, n = tile.n, xt = tile.xt;
    if constexpr (SMEM) {
      if (g != staged) {  // block-uniform: every thread reaches both barriers
        __syncthreads();  // the previous group's readers are done
        const T* wg = w + g * w_group;
        if constexpr (CP != CG) {
          for (int e = threadIdx.x; e < p.Og * p.Kk; e += blockDim.x)
#pragma unroll
            for (int c = CG; c < CP; ++c) ws[e * CP + c] = T(0);
        }
        for (int s = threadIdx.x; s < (int)w_group; s += blockDim.x) ws[small_cg_stage_slot<CG>(s, p.Kk)] = wg[s];
        __syncthreads();
        staged = g;
      }
    }
    const int q = xt * kSpecialBlock + (int)threadIdx.x;
    if (q >= slots) continue;
    const PolyPix px = poly_pixel(q, p.W, p.sw, Tw);
    if (!px.ok) continue;
    const T* dy_g = dy + ((int64_t)n * p.O + (int64_t)g * p.Og) * p.OHW;
    T acc[CG];
    if constexpr (SMEM) small_cg_dgrad_pixel<T, CG>(p, dy_g, px.ih, px.iw, SmemW<T, CG>{ws, p.Kk}, acc);
    else small_cg_dgrad_pixel<T, CG>(p, dy_g, px.ih, px.iw, GlobalW<T, CG>{w + g * w_group, p.Kk}, acc);
    T* dx_p = dx + ((int64_t)n * p.C + (int64_t)g * CG) * p.HW + (px.ih * p.W + px.iw);
#pragma unroll
    for (int c = 0; c < CG; ++c) dx_p[(int64_t)c * p.HW] = acc[c];
  }
}

template <class T, int CG, bool SMEM>
void launch_small_cg_kernel(const Problem& p, T* dx, const T* dy, const T* w, int Tw, int tiles_per_img,
                            int64_t total_tiles, size_t smem, int dev) {
  auto kernel = small_cg_dgrad_kernel<T, CG, SMEM>;
  if (smem > 48 * 1024)
    FLB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  int per_sm = 0;
  FLB_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kSpecialBlock, smem));
  const int64_t resident = (int64_t)std::max(per_sm, 1) * multiprocessor_count(dev);
  const unsigned grid = (unsigned)std::min<int64_t>(std::min(total_tiles, resident), int64_t(1) << 30);
  kernel<<<grid, kSpecialBlock, smem, stream(dev)>>>(p, dx, dy, w, Tw, tiles_per_img, total_tiles);
  FLB_CUDA_CHECK_LAUNCH("small_cg_dgrad_kernel", dev);
}

template <class T, int CG>
void run_small_cg(const Problem& p, T* dx, const T* dy, const T* w, int dev) {
  const int Tw = (p.W + p.sw - 1) / p.sw;
  const int64_t slots = (int64_t)p.H * p.sw * Tw;
  const int tiles_per_img = (int)ceil_div(slots, kSpecialBlock);
  const int64_t total_tiles = (int64_t)p.G * p.N * tiles_per_img;
  const int64_t smem = (int64_t)p.Og * p.Kk * small_cg_cp(CG) * (int64_t)sizeof(T);
  int optin = 0;
  FLB_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (smem <= std::min<int64_t>(optin, kSmemCap))
    launch_small_cg_kernel<T, CG, true>(p, dx, dy, w, Tw, tiles_per_img, total_tiles, (size_t)smem, dev);
  else
    launch_small_cg_kernel<T, CG, false>(p, dx, dy, w, Tw, tiles_per_img, total_tiles, 0, dev);
}

// ---------------------------------------------------------------- 2. pointwise GEMMs
Tensor strided(const Tensor& t, const Shape& sizes, const Shape& strides) {
  return as_strided(t, sizes, strides, t.offset);
}

// dw[i] = sum_{n < N} partials[n * count + i], images in order, in double.
__global__ void fold_images_kernel(float* __restrict__ dw, const float* __restrict__ partials, int64_t count,
                                   int64_t N) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += (double)partials[n * count + i];
    dw[i] = (float)s;
  }
}

// With flambeau.backends.cuda.matmul.allow_tf32 set, the GEMM would round to TF32; convolutions have
// always been true float32 here, so they then stay on the implicit GEMM.
bool pointwise_ok(const Tensor& t, const Dims& d) {
  return t.dtype == DType::Float32 && use_pointwise_gemm(d) && !matmul_allow_tf32();
}

}  // namespace

bool special_dgrad(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const Dims& d) {
  const int dev = grad_x.device().index;
  if (pointwise_ok(w, d)) {
    const int64_t N = d.N, C = d.C, O = d.O, P = d.H * d.W;
    // dx[n] (C x P) = W^T (C x O) @ dy[n] (O x P)
    bmm(strided(grad_x, {N, C, P}, {C * P, P, 1}), strided(w, {N, C, O}, {0, 1, C}),
        strided(grad_y, {N, O, P}, {O * P, P, 1}));
    return true;
  }
  if (!use_small_cg_dgrad(d)) return false;
  const Problem p = base_problem(d);
  FLB_DISPATCH_FLOATING(w.dtype, "conv2d_backward", [&] {
    using T = scalar_t;
    T* dx = grad_x.data<T>();
    const T* dy = grad_y.data<T>();
    const T* wp = w.data<T>();
    switch (p.Cg) {
      case 1: run_small_cg<T, 1>(p, dx, dy, wp, dev); break;
      case 2: run_small_cg<T, 2>(p, dx, dy, wp, dev); break;
      case 3: run_small_cg<T, 3>(p, dx, dy, wp, dev); break;
      default: run_small_cg<T, 4>(p, dx, dy, wp, dev); break;
    }
  });
  return true;
}

bool pointwise_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const Dims& d) {
  if (!pointwise_ok(x, d)) return false;
  const int64_t N = d.N, C = d.C, O = d.O, P = d.H * d.W;
  // y[n] (O x P) = W (O x C) @ x[n] (C x P)
  bmm(strided(y, {N, O, P}, {O * P, P, 1}), strided(w, {N, O, C}, {0, C, 1}), strided(x, {N, C, P}, {C * P, P, 1}));
  if (bias) conv2d_add_bias(y, *bias);
  return true;
}

bool pointwise_wgrad(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const Dims& d) {
  if (!pointwise_ok(x, d) || d.N * d.O * d.C > kPartialBudget) return false;
  const int dev = grad_w.device().index;
  const int64_t N = d.N, C = d.C, O = d.O, P = d.H * d.W, count = O * C;
  const Tensor dyv = strided(grad_y, {N, O, P}, {O * P, P, 1});
  const Tensor xtv = strided(x, {N, P, C}, {C * P, 1, P});  // x[n]^T
  if (N == 1) {
    bmm(strided(grad_w, {1, O, C}, {count, C, 1}), dyv, xtv);
    return true;
  }
  const Tensor partials = empty({N, O, C}, DType::Float32, grad_w.device());
  bmm(partials, dyv, xtv);
  fold_images_kernel<<<grid_for(count, 256, dev), 256, 0, stream(dev)>>>(grad_w.data<float>(),
                                                                         partials.data<float>(), count, N);
  FLB_CUDA_CHECK_LAUNCH("fold_images_kernel", dev);
  return true;
}

}  // namespace flambeau::cuda::conv
