// 3-D pooling on CUDA: max (with indices), average, adaptive average and adaptive max, forward and
// backward, over contiguous NCDHW tensors viewed as `planes` = N*C independent D x H x W volumes.
// Written and host-tested without a GPU; first run on an H100 in session 17 (tests/test_host_routed_ops.py
// on cuda, compute-sanitizer).
//
// What each thread computes is a body of csrc/cuda/pool3d_index.h, which reproduces the CPU kernels'
// (csrc/cpu/pooling3d.cpp) order of operations, so results are bit-identical to the CPU's; the bodies
// run on the host against the CPU loops in tests/cuda_host/pool3d_test.cpp.
//
// Parallelisation and why (as 2-D pooling, csrc/cuda/pooling.cu):
//   * forwards: one thread per output element (grid-stride); adjacent threads take adjacent outputs
//     of a row, so their window reads overlap and coalesce. Global average pooling (one output per
//     volume) keeps the CPU's 16-lane summation in one thread per volume (bit-identical; slow for
//     big volumes, which the GPU run should time).
//   * avg / adaptive-avg backward: gathers, one thread per INPUT element, adding the shares of the
//     outputs whose windows contain it in output order from 0: the CPU scatter's order for that
//     element, deterministic, without atomics.
//   * max backward: the indices may be any position in the volume (max_pool3d and adaptive_max_pool3d
//     share it, with no geometry), so it is a scatter: one warp per volume, 32 outputs at a time,
//     lanes with the same target grouped by __match_any_sync and added by the group's lowest lane in
//     lane order: the CPU's sequential order, deterministic, no float atomics (pooling.cu's verified
//     2-D scheme). An index outside the volume is skipped, as the CPU's 3-D kernel does (max_pool3d
//     gives one to a dilated window that holds no input element).
#include <algorithm>
#include "cuda/common.cuh"
#include "cuda/pool3d_index.h"
#include "cuda/pool3d_scatter_kernels.h"
#include "core/dtype.h"

namespace flambeau::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kWarpsPerBlock = kBlock / 32;

pool3d::Geom geom(const Pool3dGeometry& g) {
  return {g.planes, g.D, g.H, g.W, g.OD, g.OH, g.OW, g.kd, g.kh, g.kw,
          g.sd, g.sh, g.sw, g.pd, g.ph, g.pw, g.dd, g.dh, g.dw};
}

#define FLB_GRID_STRIDE(e, total) \
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < (total); e += (int64_t)gridDim.x * blockDim.x)

template <class T>
__global__ void max_pool3d_kernel(T* __restrict__ y, int64_t* __restrict__ ind, const T* __restrict__ x,
                                  pool3d::Geom g, int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::max_pool_at(e, y, ind, x, g);
}

template <class T>
__global__ void adaptive_max_pool3d_kernel(T* __restrict__ y, int64_t* __restrict__ ind, const T* __restrict__ x,
                                           pool3d::Geom g, int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::adaptive_max_at(e, y, ind, x, g);
}

template <class T>
__global__ void avg_pool3d_kernel(T* __restrict__ y, const T* __restrict__ x, pool3d::Geom g, bool cip, int64_t dov,
                                  int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::avg_pool_at(e, y, x, g, cip, dov);
}

template <class T>
__global__ void avg_pool3d_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, pool3d::Geom g, bool cip,
                                           int64_t dov, int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::avg_pool_backward_at(e, gx, gy, g, cip, dov);
}

template <class T>
__global__ void adaptive_avg_pool3d_kernel(T* __restrict__ y, const T* __restrict__ x, pool3d::Geom g,
                                           int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::adaptive_avg_at(e, y, x, g);
}

template <class T>
__global__ void global_avg_pool3d_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t planes, int64_t vol) {
  FLB_GRID_STRIDE(p, planes) pool3d::global_avg_at(p, y, x, vol);
}

template <class T>
__global__ void adaptive_avg_pool3d_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, pool3d::Geom g,
                                                    int64_t total) {
  FLB_GRID_STRIDE(e, total) pool3d::adaptive_avg_backward_at(e, gx, gy, g);
}

#undef FLB_GRID_STRIDE

// One warp per volume; see the file comment (pooling.cu's max_pool_backward_kernel, skipping bad
// indices instead of reporting them).
template <class T>
__global__ void __launch_bounds__(kBlock)
max_pool3d_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, const int64_t* __restrict__ ind,
                           int64_t planes, int64_t in_vol, int64_t out_vol) {
  __shared__ T sv[kBlock];
  const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
  const int64_t warps_total = (int64_t)gridDim.x * kWarpsPerBlock;
  for (int64_t p = (int64_t)blockIdx.x * kWarpsPerBlock + wib; p < planes; p += warps_total) {
    T* gxp = gx + p * in_vol;
    const T* gyp = gy + p * out_vol;
    const int64_t* ip = ind + p * out_vol;
    for (int64_t k = lane; k < in_vol; k += 32) gxp[k] = T(0);
    __syncwarp();
    for (int64_t c0 = 0; c0 < out_vol; c0 += 32) {
      const int64_t i = c0 + lane;
      const bool active = i < out_vol;
      int64_t k = active ? ip[i] : -1;
      if (k >= in_vol) k = -1;  // skipped, as the CPU (negative ones too)
      const T v = active ? gyp[i] : T(0);
      const unsigned grp = __match_any_sync(0xffffffffu, (unsigned long long)k);
      const int leader = __ffs(grp) - 1;
      sv[threadIdx.x] = v;
      __syncwarp();
      if (lane == leader && k >= 0) {
        T cur = gxp[k];
        const int base = wib * 32;
        for (int src = 0; src < 32; ++src)
          if ((grp >> src) & 1u) cur += sv[base + src];
        gxp[k] = cur;
      }
      __syncwarp();  // stores visible to the warp before the next chunk; sv reusable
    }
  }
}

// ---------------------------------------------------------------- host helpers
void check_pair(const Tensor& y, const Tensor& x, const char* op, const char* yname, const char* xname) {
  FLB_CHECK(x.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", x.device().str());
  check_on_device(y, x.device().index, op, yname);
  FLB_CHECK(x.is_contiguous() && y.is_contiguous(), ValueError, op, ": ", xname, " and ", yname,
            " must be contiguous (CUDA kernel precondition)");
  FLB_CHECK(x.dtype == y.dtype, TypeError, op, ": dtypes differ");
}

// x is the input-shaped tensor, y the output-shaped one.
void check_geometry(const Tensor& y, const Tensor& x, const Pool3dGeometry& g, const char* op) {
  FLB_CHECK(x.numel() == g.planes * g.D * g.H * g.W && y.numel() == g.planes * g.OD * g.OH * g.OW, ValueError, op,
            ": tensor sizes don't match the pooling geometry (input ", shape_str(x.sizes), ", output ",
            shape_str(y.sizes), ")");
}

void check_indices(const Tensor* indices, const Tensor& y, int dev, const char* op) {
  if (!indices) return;
  check_on_device(*indices, dev, op, "indices");
  FLB_CHECK(indices->is_contiguous() && indices->numel() == y.numel() && indices->dtype == DType::Int64, ValueError,
            op, ": indices must be contiguous int64 of the output's size");
}

}  // namespace

void max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g) {
  const char* op = "max_pool3d";
  check_pair(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int dev = x.device().index;
  check_indices(indices, y, dev, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    max_pool3d_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, stream(dev)>>>(
        y.data<T>(), indices ? indices->data<int64_t>() : nullptr, x.data<T>(), geom(g), total);
    FLB_CUDA_CHECK_LAUNCH("max_pool3d_kernel", dev);
  });
}

void max_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                         int64_t in_volume, int64_t out_volume) {
  const char* op = "max_pool3d_backward";
  check_pair(grad_x, grad_y, op, "grad_input", "grad_output");
  const int dev = grad_y.device().index;
  check_on_device(indices, dev, op, "indices");
  FLB_CHECK(indices.is_contiguous() && indices.dtype == DType::Int64 && indices.numel() == grad_y.numel(), ValueError,
            op, ": indices must be contiguous int64 of grad_output's size");
  FLB_CHECK(grad_x.numel() == planes * in_volume && grad_y.numel() == planes * out_volume, ValueError, op,
            ": tensor sizes don't match ", planes, " volumes of ", in_volume, " -> ", out_volume, " elements");
  if (grad_x.numel() == 0) return;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    const unsigned grid = (unsigned)std::min<int64_t>(ceil_div(planes, kWarpsPerBlock),
                                                      (int64_t)multiprocessor_count(dev) * 16);
    max_pool3d_backward_kernel<T><<<grid, kBlock, 0, s>>>(grad_x.data<T>(), grad_y.data<T>(), indices.data<int64_t>(),
                                                          planes, in_volume, out_volume);
    FLB_CUDA_CHECK_LAUNCH("max_pool3d_backward_kernel", dev);
  });
}

void avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
  const char* op = "avg_pool3d";
  check_pair(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    avg_pool3d_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, stream(dev)>>>(
        y.data<T>(), x.data<T>(), geom(g), count_include_pad, divisor_override, total);
    FLB_CUDA_CHECK_LAUNCH("avg_pool3d_kernel", dev);
  });
}

void avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
  const char* op = "avg_pool3d_backward";
  check_pair(grad_x, grad_y, op, "grad_input", "grad_output");
  check_geometry(grad_y, grad_x, g, op);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  const int dev = grad_y.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    avg_pool3d_backward_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, stream(dev)>>>(
        grad_x.data<T>(), grad_y.data<T>(), geom(g), count_include_pad, divisor_override, total);
    FLB_CUDA_CHECK_LAUNCH("avg_pool3d_backward_kernel", dev);
  });
}

void adaptive_avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g) {
  const char* op = "adaptive_avg_pool3d";
  check_pair(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    if (g.OD * g.OH * g.OW == 1) {
      global_avg_pool3d_kernel<T><<<grid_for(g.planes, kBlock, dev), kBlock, 0, s>>>(y.data<T>(), x.data<T>(),
                                                                                      g.planes, g.D * g.H * g.W);
      FLB_CUDA_CHECK_LAUNCH("global_avg_pool3d_kernel", dev);
      return;
    }
    adaptive_avg_pool3d_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, s>>>(y.data<T>(), x.data<T>(), geom(g),
                                                                                   total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_avg_pool3d_kernel", dev);
  });
}

void adaptive_avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g) {
  const char* op = "adaptive_avg_pool3d_backward";
  check_pair(grad_x, grad_y, op, "grad_input", "grad_output");
  check_geometry(grad_y, grad_x, g, op);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  const int dev = grad_y.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    adaptive_avg_pool3d_backward_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, stream(dev)>>>(
        grad_x.data<T>(), grad_y.data<T>(), geom(g), total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_avg_pool3d_backward_kernel", dev);
  });
}

void adaptive_max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g) {
  const char* op = "adaptive_max_pool3d";
  check_pair(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int dev = x.device().index;
  check_indices(indices, y, dev, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    adaptive_max_pool3d_kernel<T><<<grid_for(total, kBlock, dev), kBlock, 0, stream(dev)>>>(
        y.data<T>(), indices ? indices->data<int64_t>() : nullptr, x.data<T>(), geom(g), total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_max_pool3d_kernel", dev);
  });
}

}  // namespace flambeau::cuda
