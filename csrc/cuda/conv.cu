// 2-D convolution on CUDA: forward, input gradient (dgrad), weight gradient (wgrad), bias gradient
// and conv_transpose2d's bias, float32 and float64, contiguous NCHW tensors, every argument of the
// CPU kernels (stride, top/left padding with the bottom/right implied by OH/OW, dilation, groups,
// rectangular kernels, bias or none). conv_transpose2d needs nothing more: ops/conv.cpp calls these
// same entry points with the roles exchanged (its forward is dgrad, its input gradient is forward,
// its weight gradient is wgrad with input and grad_output swapped).
//
// Implicit GEMM, no im2col buffer. The three products are GEMMs over gathered operands (group g;
// Cg = C/G, Og = O/G, Kk = KH*KW, Kdim = Cg*Kk):
//
//   forward  M = N*OH*OW output pixels,  N = Og filters,       K = Kdim = (c, kh, kw)
//   dgrad    M = N*H*W input pixels,     N = Cg channels,      K = Og*Kk = (j, kh, kw)
//   wgrad    M = Og filters,             N = Kdim (c, kh, kw), K = N*OH*OW pixels (split-K)
//
// csrc/cuda/conv_igemm.h has the exact operand definitions and all index arithmetic, the tile
// loaders, the micro-tile update and the stores, as __host__ __device__ functions, plus the launch
// planner; the host test (tests/cuda_host/conv_igemm_test.cpp) runs them against a naive
// convolution. This file holds the kernels (loops over tiles, shared memory, barriers), the
// reductions and the launchers.
//
// The block tile: 256 threads compute a BM x BN tile of C; per k-step of BK = 8 they stage the
// BM x BK slice of A and the BK x BN slice of B in shared memory, gathering each element from the
// tensor by its (m, k) indices (zero for padding, for dgrad taps between strided outputs, and past
// the edges), then each thread accumulates a TM x TN register micro-tile (TM + TN shared loads feed
// TM*TN FMAs). Configurations 128x128 (8x8 per thread, float32 with many tiles), 64x64, 128x32
// (few filters per group) and 32x128 (wgrad with few filters), chosen from the shapes. The main loop
// has the tuned GEMM's structure (gemm_tile.cuh): each thread decomposes its pixel and reduction
// indices once per tile and advances them by BK per k-step without divisions; the next k-step is
// loaded into registers while the current one is computed from one of two shared buffers, one
// barrier per k-step; micro-tiles are runs of 4 rows/columns read as 16-byte vectors (conflict-free:
// conv_igemm.h). Forward and dgrad stores run along pixels (contiguous in NCHW), wgrad's along
// (c, kh, kw).
//
// Determinism: every output sums its K terms in order with one FMA each, whatever the tile. The
// weight gradient splits its pixel reduction into shape-determined ranges, each written to its own
// partial buffer, and fold_splits_kernel adds the partials in split order (in double): no float
// atomics anywhere, same bits on every run and every GPU. The bias gradient is one block per
// channel with a fixed-shape block reduction (double accumulation).
//
// Depthwise-like layers (C == groups, at most 8 filters per group) take direct kernels: one thread
// per output (forward) or input element (dgrad) walking its taps, and one block per weight element
// (wgrad) with a block reduction over the batch.
//
// Known gaps (performance, not correctness): dgrad with stride > 1 gathers sh*sw times more zeros
// than it needs (a polyphase split would skip them); no tensor cores (TF32); the 128x128 float
// kernel needs ~175 registers (one block per SM; capping it at 128 spills); the direct wgrad is one
// block per weight element.
//
// Ran on an H100 (csrc/cuda/GPU_STATUS.md; tools/verify_cuda_conv.py checks it).
#include <algorithm>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/block_reduce.cuh"
#include "cuda/conv_igemm.h"
#include "cuda/conv_special.h"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

using conv::Cfg;
using conv::Dims;
using conv::Launch;
using conv::Mode;
using conv::Plan;
using conv::Problem;
using conv::kPad;

// ---------------------------------------------------------------- implicit GEMM
// A, B, Cp: fwd x, w, y; dgrad dy, w, dx; wgrad dy, x, partials (or dw). Grid: x over M tiles, y over
// N tiles, z over (group, split) pairs, each a grid-stride loop (uniform across the block, so the
// barriers inside are reached by every thread).
template <class T, Mode MODE, int CFG>
__global__ void __launch_bounds__(conv::kThreads)
conv_igemm_kernel(Problem p, const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ Cp,
                  const T* __restrict__ bias) {
  using Cf = Cfg<CFG>;
  // Two buffers of each shared tile: k-step i is computed from buffer i % 2 while k-step i + 1,
  // already in registers, is written into the other one; one barrier per k-step.
  __shared__ __align__(16) T As[2][Cf::BK][Cf::BM + kPad];
  __shared__ __align__(16) T Bs[2][Cf::BK][Cf::BN + kPad];
  const int tid = threadIdx.x;
  const int tiles_m = (p.M + Cf::BM - 1) / Cf::BM, tiles_n = (p.Ncols + Cf::BN - 1) / Cf::BN;
  const int zs = p.G * p.splits;
  for (int z = blockIdx.z; z < zs; z += gridDim.z) {
    int g, s, kbeg, kend;
    conv::split_range(p, z, g, s, kbeg, kend);
    for (int tn = blockIdx.y; tn < tiles_n; tn += gridDim.y) {
      for (int tm = blockIdx.x; tm < tiles_m; tm += gridDim.x) {
        const int m0 = tm * Cf::BM, n0 = tn * Cf::BN;
        conv::TileLoader<T, MODE, CFG> ld;
        ld.init(p, g, m0, n0, kbeg, tid);
        T acc[Cf::TM][Cf::TN];
#pragma unroll
        for (int i = 0; i < Cf::TM; ++i)
#pragma unroll
          for (int j = 0; j < Cf::TN; ++j) acc[i][j] = T(0);
        // The previous tile's last barrier ended every read of both buffers.
        ld.fetch(p, A, B, g, m0, n0, kbeg, kend, tid);
        ld.stage(tid, As[0], Bs[0]);
        __syncthreads();
        int buf = 0;
        for (int k0 = kbeg; k0 < kend; k0 += Cf::BK) {
          const bool more = k0 + Cf::BK < kend;
          if (more) {
            ld.advance(p);
            ld.fetch(p, A, B, g, m0, n0, k0 + Cf::BK, kend, tid);
          }
          conv::tile_fma<T, CFG, MODE != Mode::Wgrad>(As[buf], Bs[buf], acc, tid);
          // Buffer buf ^ 1 was last read before the previous barrier.
          if (more) ld.stage(tid, As[buf ^ 1], Bs[buf ^ 1]);
          __syncthreads();
          buf ^= 1;
        }
        conv::tile_store<T, MODE, CFG>(p, Cp, bias, acc, g, s, m0, n0, tid);
      }
    }
  }
}

template <class T, Mode MODE, int CFG>
void launch_igemm(const Launch& L, const T* A, const T* B, T* Cp, const T* bias, int dev) {
  using Cf = Cfg<CFG>;
  const Problem& p = L.p;
  if (p.M == 0 || p.Ncols == 0) return;
  const int64_t tiles_m = ceil_div(p.M, Cf::BM), tiles_n = ceil_div(p.Ncols, Cf::BN);
  const dim3 grid((unsigned)std::min<int64_t>(tiles_m, int64_t(1) << 30), (unsigned)std::min<int64_t>(tiles_n, 65535),
                  (unsigned)std::min<int64_t>((int64_t)p.G * p.splits, 65535));
  conv_igemm_kernel<T, MODE, CFG><<<grid, conv::kThreads, 0, stream(dev)>>>(p, A + L.a_off, B + L.b_off,
                                                                            Cp + L.c_off, bias);
  FLB_CUDA_CHECK_LAUNCH("conv_igemm_kernel", dev);
}

template <class T, Mode MODE>
void run_plan(const Plan& plan, const T* A, const T* B, T* Cp, const T* bias, int dev) {
  for (const Launch& L : plan.launches) {
    switch (plan.cfg) {
      case 0:
        if constexpr (sizeof(T) == 4) launch_igemm<T, MODE, 0>(L, A, B, Cp, bias, dev);
        else launch_igemm<T, MODE, 1>(L, A, B, Cp, bias, dev);  // unreachable: cfg 0 is float only
        break;
      case 1: launch_igemm<T, MODE, 1>(L, A, B, Cp, bias, dev); break;
      case 2: launch_igemm<T, MODE, 2>(L, A, B, Cp, bias, dev); break;
      default: launch_igemm<T, MODE, 3>(L, A, B, Cp, bias, dev); break;
    }
  }
}

// dw[i] = sum_{s < splits} partials[s * count + i], in split order.
template <class T>
__global__ void fold_splits_kernel(T* __restrict__ dw, const T* __restrict__ partials, int64_t count, int64_t splits) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
    double s = 0;
    for (int64_t k = 0; k < splits; ++k) s += (double)partials[k * count + i];
    dw[i] = (T)s;
  }
}

// ---------------------------------------------------------------- direct kernels (C == groups)
constexpr int kDirectBlock = 256;

template <class T>
__global__ void direct_fwd_kernel(Problem p, T* __restrict__ y, const T* __restrict__ x, const T* __restrict__ w,
                                  const T* __restrict__ bias) {
  const int per_img = p.O * p.OHW;
  for (int n = blockIdx.y; n < p.N; n += gridDim.y) {
    const T* xi = x + (int64_t)n * p.C * p.HW;
    T* yi = y + (int64_t)n * per_img;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < per_img; e += gridDim.x * blockDim.x)
      yi[e] = conv::direct_fwd_elem(p, xi, w, bias, e);
  }
}

template <class T>
__global__ void direct_dgrad_kernel(Problem p, T* __restrict__ dx, const T* __restrict__ dy, const T* __restrict__ w) {
  const int per_img = p.C * p.HW;
  for (int n = blockIdx.y; n < p.N; n += gridDim.y) {
    const T* dyi = dy + (int64_t)n * p.O * p.OHW;
    T* dxi = dx + (int64_t)n * per_img;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < per_img; e += gridDim.x * blockDim.x)
      dxi[e] = conv::direct_dgrad_elem(p, dyi, w, e);
  }
}

// One block (kRedBlock threads) per weight element (o, kh, kw).
template <class T>
__global__ void __launch_bounds__(kRedBlock)
direct_wgrad_kernel(Problem p, T* __restrict__ dw, const T* __restrict__ dy, const T* __restrict__ x) {
  __shared__ double sh[32];
  const int64_t count = (int64_t)p.O * p.Kk;
  for (int64_t e = blockIdx.x; e < count; e += gridDim.x) {
    const int o = (int)(e / p.Kk), r = (int)(e - (int64_t)o * p.Kk);
    double v[1] = {conv::direct_wgrad_partial<T, double>(p, dy, x, o, r, threadIdx.x, blockDim.x)};
    block_allsum<1>(v, sh);
    if (threadIdx.x == 0) dw[e] = (T)v[0];
  }
}

// ---------------------------------------------------------------- bias
// grad_b[o] = sum_{n, q} dy[n, o, q]: one block per channel, fixed-shape reduction.
template <class T>
__global__ void __launch_bounds__(kRedBlock)
bias_grad_kernel(T* __restrict__ db, const T* __restrict__ dy, int64_t N, int64_t O, int64_t P) {
  __shared__ double sh[32];
  for (int64_t o = blockIdx.x; o < O; o += gridDim.x) {
    double v[1] = {0.0};
    for (int64_t n = 0; n < N; ++n) {
      const T* row = dy + (n * O + o) * P;
      for (int64_t q = threadIdx.x; q < P; q += blockDim.x) v[0] += (double)row[q];
    }
    block_allsum<1>(v, sh);
    if (threadIdx.x == 0) db[o] = (T)v[0];
  }
}

// y[n, c, q] += bias[c].
template <class T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t C, int64_t P, int64_t total) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    y[i] += bias[(i / P) % C];
}

// ---------------------------------------------------------------- host helpers
Dims dims_of(const cpu::ConvGeometry& g) {
  return Dims{g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.OH, g.OW, g.stride_h, g.stride_w,
              g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups};
}

void check_conv(const char* op, const Tensor& out, std::initializer_list<const Tensor*> ins, const Dims& d) {
  FLB_CHECK(out.device().is_cuda(), RuntimeError, op, ": expected CUDA tensors, got ", out.device().str());
  const int dev = out.device().index;
  FLB_CHECK(out.is_contiguous(), ValueError, op, ": tensors must be contiguous (CUDA kernel precondition)");
  for (const Tensor* t : ins) {
    check_on_device(*t, dev, op, "every operand");
    FLB_CHECK(t->is_contiguous(), ValueError, op, ": tensors must be contiguous (CUDA kernel precondition)");
    FLB_CHECK(t->dtype == out.dtype, TypeError, op, ": dtypes differ (", dtype_name(t->dtype), " vs ",
              dtype_name(out.dtype), ")");
  }
  FLB_CHECK(d.G > 0 && d.C % d.G == 0 && d.O % d.G == 0, ValueError, op, ": bad groups");
  const char* why = conv::unsupported(d);
  FLB_CHECK(why == nullptr, NotImplementedError, op, ": the CUDA kernels do not support this geometry (", why,
            "): input [", d.N, ", ", d.C, ", ", d.H, ", ", d.W, "], weight [", d.O, ", ", d.C / d.G, ", ", d.KH,
            ", ", d.KW, "], output ", d.OH, "x", d.OW);
}

unsigned direct_grid_x(int64_t per_img, int dev) { return grid_for(per_img, kDirectBlock, dev, 4); }

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const cpu::ConvGeometry& g) {
  const char* op = "conv2d";
  const Dims d = dims_of(g);
  if (bias) check_conv(op, y, {&x, &w, bias}, d);
  else check_conv(op, y, {&x, &w}, d);
  if (y.numel() == 0) return;
  const int dev = y.device().index;
  DeviceGuard guard(dev);
  if (conv::pointwise_forward(y, x, w, bias, d)) return;  // conv_special.cu
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    const T* b = bias ? bias->data<T>() : nullptr;
    const Plan plan = conv::plan_conv(Mode::Fwd, d, sizeof(T) == 4);
    if (plan.direct) {
      const Problem& p = plan.launches[0].p;
      const dim3 grid(direct_grid_x((int64_t)p.O * p.OHW, dev), (unsigned)std::min<int64_t>(d.N, 65535));
      direct_fwd_kernel<T><<<grid, kDirectBlock, 0, stream(dev)>>>(p, y.data<T>(), x.data<T>(), w.data<T>(), b);
      FLB_CUDA_CHECK_LAUNCH("direct_fwd_kernel", dev);
      return;
    }
    run_plan<T, Mode::Fwd>(plan, x.data<T>(), w.data<T>(), y.data<T>(), b, dev);
  });
}

void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const cpu::ConvGeometry& g) {
  const char* op = "conv2d_backward";
  const Dims d = dims_of(g);
  check_conv(op, grad_x, {&grad_y, &w}, d);
  if (grad_x.numel() == 0) return;
  const int dev = grad_x.device().index;
  DeviceGuard guard(dev);
  if (conv::special_dgrad(grad_x, grad_y, w, d)) return;  // conv_special.cu
  FLB_DISPATCH_FLOATING(w.dtype, op, [&] {
    using T = scalar_t;
    const Plan plan = conv::plan_conv(Mode::Dgrad, d, sizeof(T) == 4);
    if (plan.direct) {
      const Problem& p = plan.launches[0].p;
      const dim3 grid(direct_grid_x((int64_t)p.C * p.HW, dev), (unsigned)std::min<int64_t>(d.N, 65535));
      direct_dgrad_kernel<T><<<grid, kDirectBlock, 0, stream(dev)>>>(p, grad_x.data<T>(), grad_y.data<T>(),
                                                                     w.data<T>());
      FLB_CUDA_CHECK_LAUNCH("direct_dgrad_kernel", dev);
      return;
    }
    run_plan<T, Mode::Dgrad>(plan, grad_y.data<T>(), w.data<T>(), grad_x.data<T>(), nullptr, dev);
  });
}

void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const cpu::ConvGeometry& g) {
  const char* op = "conv2d_backward";
  const Dims d = dims_of(g);
  check_conv(op, grad_w, {&grad_y, &x}, d);
  if (grad_w.numel() == 0) return;
  const int dev = grad_w.device().index;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  if (d.N == 0) {
    FLB_CUDA_CHECK(cudaMemsetAsync(grad_w.data_ptr(), 0, grad_w.numel() * grad_w.element_size(), s));
    return;
  }
  if (conv::pointwise_wgrad(grad_w, grad_y, x, d)) return;  // conv_special.cu
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    const Plan plan = conv::plan_conv(Mode::Wgrad, d, sizeof(T) == 4);
    if (plan.direct) {
      const Problem& p = plan.launches[0].p;
      const int64_t count = d.O * d.KH * d.KW;
      const unsigned grid = (unsigned)std::min<int64_t>(count, int64_t(1) << 30);
      direct_wgrad_kernel<T><<<grid, kRedBlock, 0, s>>>(p, grad_w.data<T>(), grad_y.data<T>(), x.data<T>());
      FLB_CUDA_CHECK_LAUNCH("direct_wgrad_kernel", dev);
      return;
    }
    if (plan.total_splits == 1) {
      run_plan<T, Mode::Wgrad>(plan, grad_y.data<T>(), x.data<T>(), grad_w.data<T>(), nullptr, dev);
      return;
    }
    const int64_t count = grad_w.numel();
    TempBuffer ws((size_t)(plan.total_splits * count) * sizeof(T), dev);
    run_plan<T, Mode::Wgrad>(plan, grad_y.data<T>(), x.data<T>(), ws.get<T>(), nullptr, dev);
    fold_splits_kernel<T><<<grid_for(count, 256, dev), 256, 0, s>>>(grad_w.data<T>(), ws.get<T>(), count,
                                                                     plan.total_splits);
    FLB_CUDA_CHECK_LAUNCH("fold_splits_kernel", dev);
  });
}

void conv2d_backward_bias(const Tensor& grad_b, const Tensor& grad_y) {
  const char* op = "conv2d_backward";
  FLB_CHECK(grad_y.device().is_cuda() && grad_y.dim() == 4, ValueError, op, ": expected a 4-D CUDA grad_output");
  const int dev = grad_y.device().index;
  check_on_device(grad_b, dev, op, "grad_bias");
  FLB_CHECK(grad_y.is_contiguous() && grad_b.is_contiguous(), ValueError, op,
            ": tensors must be contiguous (CUDA kernel precondition)");
  const int64_t N = grad_y.sizes[0], O = grad_y.sizes[1], P = grad_y.sizes[2] * grad_y.sizes[3];
  FLB_CHECK(grad_b.numel() == O && grad_b.dtype == grad_y.dtype, ValueError, op, ": grad_bias must have ", O,
            " elements of grad_output's dtype");
  if (O == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    const unsigned grid = (unsigned)std::min<int64_t>(O, int64_t(1) << 30);
    bias_grad_kernel<T><<<grid, kRedBlock, 0, stream(dev)>>>(grad_b.data<T>(), grad_y.data<T>(), N, O, P);
    FLB_CUDA_CHECK_LAUNCH("bias_grad_kernel", dev);
  });
}

void conv2d_add_bias(const Tensor& y, const Tensor& bias) {
  const char* op = "conv_transpose2d";
  FLB_CHECK(y.device().is_cuda() && y.dim() == 4, ValueError, op, ": expected a 4-D CUDA output");
  const int dev = y.device().index;
  check_on_device(bias, dev, op, "bias");
  FLB_CHECK(y.is_contiguous() && bias.is_contiguous() && bias.dtype == y.dtype && bias.numel() == y.sizes[1],
            ValueError, op, ": bias must be contiguous with one element per output channel");
  const int64_t total = y.numel();
  if (total == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(y.dtype, op, [&] {
    using T = scalar_t;
    add_bias_kernel<T><<<grid_for(total, 256, dev), 256, 0, stream(dev)>>>(y.data<T>(), bias.data<T>(), y.sizes[1],
                                                                           y.sizes[2] * y.sizes[3], total);
    FLB_CUDA_CHECK_LAUNCH("add_bias_kernel", dev);
  });
}

}  // namespace flambeau::cuda
