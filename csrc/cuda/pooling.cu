// 2-D pooling on CUDA: max (with indices), average, adaptive average and adaptive max, forward and
// backward, over contiguous NCHW tensors viewed as `planes` = N*C independent H x W planes. The
// windows, the NaN rule (`v > max || isnan(v)`: a NaN wins, the first maximum is kept), the
// divisors and the order of every sum are those of csrc/cpu/pooling.cpp, so results are
// bit-identical to the CPU's, not just equal to rounding.
//
// Parallelisation and why:
//   * forward (all four): one thread per output element (grid-stride over planes*OH*OW); the thread
//     walks its window exactly as the CPU loop does. Adjacent threads take adjacent outputs of one
//     row, so their window reads overlap and coalesce. Global average pooling (output 1x1) keeps the
//     CPU's 8-lane summation order (sum_lanes) in one thread per plane, so it stays bit-identical.
//   * avg / adaptive-avg backward: a gather, one thread per INPUT element, which adds the
//     contributions of the outputs whose windows contain it in (oh, ow) order, starting from 0:
//     exactly the CPU scatter's order for that element, with no atomics and no races.
//   * max backward: the indices may be anything in range (the CPU checks them after the pass), so
//     it is a scatter. One warp per plane: the warp zeroes its plane, then takes the plane's outputs
//     32 at a time; lanes that hit the same input element form a group (__match_any_sync) whose
//     lowest lane adds the group's values in lane order, and chunks follow one another in order.
//     That is the CPU's sequential order per element: bit-identical and deterministic, without
//     float atomics. An out-of-range index is skipped and recorded in a device error flag; the
//     launcher reads the flag back (one synchronisation) and raises IndexError like the CPU.
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#include <cmath>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

constexpr int kPoolBlock = 256;

template <class T>
__device__ __forceinline__ bool gt_or_nan(T v, T m) {
  return v > m || v != v;
}

__host__ __device__ __forceinline__ int64_t start_index(int64_t o, int64_t out, int64_t in) {
  return (o / out) * in + ((o % out) * in) / out;
}
__host__ __device__ __forceinline__ int64_t end_index(int64_t o, int64_t out, int64_t in) {
  return 1 + ((o + 1) * in - 1) / out;
}

struct AvgWindow {
  int64_t h0, h1, w0, w1, div;
};

__device__ __forceinline__ AvgWindow avg_window(int64_t oh, int64_t ow, const PoolGeometry& g, bool cip, int64_t dov) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, (int64_t)0);
  w0 = max(w0, (int64_t)0);
  h1 = min(h1, g.H);
  w1 = min(w1, g.W);
  AvgWindow a{h0, h1, w0, w1, 0};
  if (h0 >= h1 || w0 >= w1) return a;
  a.div = dov ? dov : cip ? pool_size : (h1 - h0) * (w1 - w0);
  return a;
}

// ---------------------------------------------------------------- max pooling
template <class T>
__global__ void max_pool_kernel(T* __restrict__ y, int64_t* __restrict__ ind, const T* __restrict__ x,
                                PoolGeometry g, int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / out_plane, r = e - p * out_plane, oh = r / g.OW, ow = r - oh * g.OW;
    const T* xp = x + p * in_plane;
    int64_t ih0 = oh * g.sh - g.ph;
    const int64_t ih1 = min(ih0 + (g.kh - 1) * g.dh + 1, g.H);
    while (ih0 < 0) ih0 += g.dh;
    int64_t iw0 = ow * g.sw - g.pw;
    const int64_t iw1 = min(iw0 + (g.kw - 1) * g.dw + 1, g.W);
    while (iw0 < 0) iw0 += g.dw;
    int64_t best = ih0 * g.W + iw0;
    T m = -(T)INFINITY;
    for (int64_t ih = ih0; ih < ih1; ih += g.dh) {
      const T* row = xp + ih * g.W;
      for (int64_t iw = iw0; iw < iw1; iw += g.dw) {
        const T v = row[iw];
        if (gt_or_nan(v, m)) {
          m = v;
          best = ih * g.W + iw;
        }
      }
    }
    y[e] = m;
    if (ind) ind[e] = best;
  }
}

template <class T>
__global__ void adaptive_max_kernel(T* __restrict__ y, int64_t* __restrict__ ind, const T* __restrict__ x,
                                    PoolGeometry g, int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / out_plane, r = e - p * out_plane, oh = r / g.OW, ow = r - oh * g.OW;
    const T* xp = x + p * in_plane;
    const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
    const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
    int64_t best = h0 * g.W + w0;
    T m = -(T)INFINITY;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) {
        const T v = xp[ih * g.W + iw];
        if (gt_or_nan(v, m)) {
          m = v;
          best = ih * g.W + iw;
        }
      }
    y[e] = m;
    if (ind) ind[e] = best;
  }
}

// One warp per plane; see the file comment.
constexpr int kWarpsPerBlock = kPoolBlock / 32;

template <class T>
__global__ void __launch_bounds__(kPoolBlock)
max_pool_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, const int64_t* __restrict__ ind,
                         int64_t planes, int64_t in_plane, int64_t out_plane, ErrorSlot* err) {
  __shared__ T sv[kPoolBlock];
  const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
  const int64_t warps_total = (int64_t)gridDim.x * kWarpsPerBlock;
  for (int64_t p = (int64_t)blockIdx.x * kWarpsPerBlock + wib; p < planes; p += warps_total) {
    T* gxp = gx + p * in_plane;
    const T* gyp = gy + p * out_plane;
    const int64_t* ip = ind + p * out_plane;
    for (int64_t k = lane; k < in_plane; k += 32) gxp[k] = T(0);
    __syncwarp();
    for (int64_t c0 = 0; c0 < out_plane; c0 += 32) {
      const int64_t i = c0 + lane;
      const bool active = i < out_plane;
      int64_t k = active ? ip[i] : -1;
      T v = active ? gyp[i] : T(0);
      if (active && (k < 0 || k >= in_plane)) {
        record_error(err, k, in_plane);
        k = -1;  // skipped, as the CPU
      }
      // Lanes with the same target (inactive and skipped lanes share k = -1 and do nothing).
      const unsigned grp = __match_any_sync(0xffffffffu, (unsigned long long)k);
      const int leader = __ffs(grp) - 1;
      // Sequential per-target accumulation in lane order: stage the values in shared memory and
      // let each leader walk its group (gx[k] + v_a + v_b ..., the CPU's order).
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

// ---------------------------------------------------------------- average pooling
template <class T>
__global__ void avg_pool_kernel(T* __restrict__ y, const T* __restrict__ x, PoolGeometry g, bool cip, int64_t dov,
                                int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / out_plane, r = e - p * out_plane, oh = r / g.OW, ow = r - oh * g.OW;
    const AvgWindow a = avg_window(oh, ow, g, cip, dov);
    if (a.div == 0) {
      y[e] = T(0);
      continue;
    }
    const T* xp = x + p * in_plane;
    T s = 0;
    for (int64_t ih = a.h0; ih < a.h1; ++ih)
      for (int64_t iw = a.w0; iw < a.w1; ++iw) s += xp[ih * g.W + iw];
    y[e] = s / T(a.div);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, PoolGeometry g, bool cip,
                                         int64_t dov, int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / in_plane, r = e - p * in_plane, ih = r / g.W, iw = r - ih * g.W;
    const T* gyp = gy + p * out_plane;
    // Candidate outputs: window start oh*sh - ph <= ih and start + kh > ih.
    const int64_t oh_lo = max((int64_t)0, (ih + g.ph - g.kh) / g.sh - 1);
    const int64_t oh_hi = min(g.OH - 1, (ih + g.ph) / g.sh);
    const int64_t ow_lo = max((int64_t)0, (iw + g.pw - g.kw) / g.sw - 1);
    const int64_t ow_hi = min(g.OW - 1, (iw + g.pw) / g.sw);
    T acc = T(0);
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const AvgWindow a = avg_window(oh, ow, g, cip, dov);
        if (a.div == 0 || ih < a.h0 || ih >= a.h1 || iw < a.w0 || iw >= a.w1) continue;
        acc += gyp[oh * g.OW + ow] / T(a.div);
      }
    gx[e] = acc;
  }
}

// ---------------------------------------------------------------- adaptive average pooling
// Global pooling: the CPU's sum_lanes (8 interleaved partial sums, fixed order), one thread per plane.
template <class T>
__global__ void global_avg_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t planes, int64_t H, int64_t W) {
  const int64_t n = H * W;
  for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < planes; p += (int64_t)gridDim.x * blockDim.x) {
    const T* a = x + p * n;
    T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
#pragma unroll
      for (int j = 0; j < 8; ++j) s[j] += a[i + j];
    T r = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) r += s[j];
    for (; i < n; ++i) r += a[i];
    y[p] = r / T(H) / T(W);
  }
}

template <class T>
__global__ void adaptive_avg_kernel(T* __restrict__ y, const T* __restrict__ x, PoolGeometry g, int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / out_plane, r = e - p * out_plane, oh = r / g.OW, ow = r - oh * g.OW;
    const T* xp = x + p * in_plane;
    const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
    const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
    T s = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += xp[ih * g.W + iw];
    y[e] = s / T(h1 - h0) / T(w1 - w0);
  }
}

// First output index (along one axis) whose adaptive window contains i.
__device__ __forceinline__ int64_t first_cover(int64_t i, int64_t out, int64_t in) {
  int64_t o = (i * out) / in;
  if (o > out - 1) o = out - 1;
  while (o > 0 && end_index(o - 1, out, in) > i) --o;
  return o;
}

template <class T>
__global__ void adaptive_avg_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy, PoolGeometry g,
                                             int64_t total) {
  const int64_t out_plane = g.OH * g.OW, in_plane = g.H * g.W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = e / in_plane, r = e - p * in_plane, ih = r / g.W, iw = r - ih * g.W;
    const T* gyp = gy + p * out_plane;
    T acc = T(0);
    for (int64_t oh = first_cover(ih, g.OH, g.H); oh < g.OH && start_index(oh, g.OH, g.H) <= ih; ++oh) {
      const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = first_cover(iw, g.OW, g.W); ow < g.OW && start_index(ow, g.OW, g.W) <= iw; ++ow) {
        const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
        if (iw < w0 || iw >= w1) continue;
        acc += gyp[oh * g.OW + ow] / T(h1 - h0) / T(w1 - w0);
      }
    }
    gx[e] = acc;
  }
}

// ---------------------------------------------------------------- host helpers
void check_pool(const Tensor& y, const Tensor& x, const char* op, const char* yname, const char* xname) {
  FLB_CHECK(x.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", x.device().str());
  check_on_device(y, x.device().index, op, yname);
  FLB_CHECK(x.is_contiguous() && y.is_contiguous(), ValueError, op, ": ", xname, " and ", yname,
            " must be contiguous (CUDA kernel precondition)");
  FLB_CHECK(x.dtype == y.dtype, TypeError, op, ": dtypes differ");
}

void check_geometry(const Tensor& y, const Tensor& x, const PoolGeometry& g, const char* op) {
  FLB_CHECK(x.numel() == g.planes * g.H * g.W && y.numel() == g.planes * g.OH * g.OW, ValueError, op,
            ": tensor sizes don't match the pooling geometry (input ", shape_str(x.sizes), ", output ",
            shape_str(y.sizes), ")");
}

}  // namespace

void max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g) {
  const char* op = "max_pool2d";
  check_pool(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  if (indices) {
    check_on_device(*indices, x.device().index, op, "indices");
    FLB_CHECK(indices->is_contiguous() && indices->numel() == y.numel() && indices->dtype == DType::Int64,
              ValueError, op, ": indices must be contiguous int64 of the output's size");
  }
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    max_pool_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, stream(dev)>>>(
        y.data<T>(), indices ? indices->data<int64_t>() : nullptr, x.data<T>(), g, total);
    FLB_CUDA_CHECK_LAUNCH("max_pool_kernel", dev);
  });
}

void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t in_plane_size) {
  const char* op = "max_pool2d_backward";
  check_pool(grad_x, grad_y, op, "grad_input", "grad_output");
  const int dev = grad_y.device().index;
  check_on_device(indices, dev, op, "indices");
  FLB_CHECK(indices.is_contiguous() && indices.dtype == DType::Int64 && indices.numel() == grad_y.numel(), ValueError,
            op, ": indices must be contiguous int64 of grad_output's size");
  const int64_t out_plane = grad_y.dim() >= 2 ? grad_y.sizes[grad_y.dim() - 1] * grad_y.sizes[grad_y.dim() - 2] : 1;
  const int64_t planes = out_plane ? grad_y.numel() / out_plane : 0;
  FLB_CHECK(grad_x.numel() == planes * in_plane_size || out_plane == 0, ValueError, op, ": grad_input has ",
            grad_x.numel(), " elements, expected ", planes, " planes of ", in_plane_size);
  if (grad_x.numel() == 0) return;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  if (planes == 0) {
    FLB_CUDA_CHECK(cudaMemsetAsync(grad_x.data_ptr(), 0, grad_x.numel() * grad_x.element_size(), s));
    return;
  }
  DeviceErrorFlag flag(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    const unsigned grid = (unsigned)std::min<int64_t>(ceil_div(planes, kWarpsPerBlock),
                                                      (int64_t)multiprocessor_count(dev) * 16);
    max_pool_backward_kernel<T><<<grid, kPoolBlock, 0, s>>>(grad_x.data<T>(), grad_y.data<T>(),
                                                            indices.data<int64_t>(), planes, in_plane_size,
                                                            out_plane, flag.get());
    FLB_CUDA_CHECK_LAUNCH("max_pool_backward_kernel", dev);
  });
  ErrorSlot e{};
  FLB_CHECK(!flag.raised(&e), IndexError, "max_pool2d_backward: an index is out of range for input planes of ",
            in_plane_size, " elements");
}

void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
  const char* op = "avg_pool2d";
  check_pool(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    avg_pool_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, stream(dev)>>>(
        y.data<T>(), x.data<T>(), g, count_include_pad, divisor_override, total);
    FLB_CUDA_CHECK_LAUNCH("avg_pool_kernel", dev);
  });
}

void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
  const char* op = "avg_pool2d_backward";
  check_pool(grad_x, grad_y, op, "grad_input", "grad_output");
  check_geometry(grad_y, grad_x, g, op);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  const int dev = grad_y.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    avg_pool_backward_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, stream(dev)>>>(
        grad_x.data<T>(), grad_y.data<T>(), g, count_include_pad, divisor_override, total);
    FLB_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel", dev);
  });
}

void adaptive_avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g) {
  const char* op = "adaptive_avg_pool2d";
  check_pool(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    if (g.OH == 1 && g.OW == 1) {
      global_avg_kernel<T><<<grid_for(g.planes, kPoolBlock, dev), kPoolBlock, 0, s>>>(y.data<T>(), x.data<T>(),
                                                                                       g.planes, g.H, g.W);
      FLB_CUDA_CHECK_LAUNCH("global_avg_kernel", dev);
      return;
    }
    adaptive_avg_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, s>>>(y.data<T>(), x.data<T>(), g,
                                                                                    total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_avg_kernel", dev);
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_pool(grad_x, grad_y, op, "grad_input", "grad_output");
  check_geometry(grad_y, grad_x, g, op);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  const int dev = grad_y.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_y.dtype, op, [&] {
    using T = scalar_t;
    adaptive_avg_backward_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, stream(dev)>>>(
        grad_x.data<T>(), grad_y.data<T>(), g, total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_avg_backward_kernel", dev);
  });
}

void adaptive_max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g) {
  const char* op = "adaptive_max_pool2d";
  check_pool(y, x, op, "output", "input");
  check_geometry(y, x, g, op);
  if (indices) {
    check_on_device(*indices, x.device().index, op, "indices");
    FLB_CHECK(indices->is_contiguous() && indices->numel() == y.numel() && indices->dtype == DType::Int64,
              ValueError, op, ": indices must be contiguous int64 of the output's size");
  }
  const int64_t total = y.numel();
  if (total == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    adaptive_max_kernel<T><<<grid_for(total, kPoolBlock, dev), kPoolBlock, 0, stream(dev)>>>(
        y.data<T>(), indices ? indices->data<int64_t>() : nullptr, x.data<T>(), g, total);
    FLB_CUDA_CHECK_LAUNCH("adaptive_max_kernel", dev);
  });
}

}  // namespace flambeau::cuda
