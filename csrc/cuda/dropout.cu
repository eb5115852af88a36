// Dropout and feature dropout on CUDA: out = in * noise, noise = 1/(1-p) (kept) or 0 (dropped),
// the twin of csrc/cpu/dropout.cpp, producing the SAME mask for the same (seed, offset):
//     element i (row-major index of the contiguous tensor) is kept iff
//     (philox_word(seed, offset + i) >> 8) < thr,  thr = ceil((float)(1 - p) * 2^24)
// which is philox_uniform_f(word) < (float)(1 - p), i.e. bernoulli_scalar(1 - p) at the same stream
// state. Feature dropout draws one word per feature f at position offset + f. noise is formed as
// (T)(kept) * scale and multiplied once, as on the CPU, so values agree bit for bit (one IEEE
// multiply; nothing for nvcc to contract). p >= 1 gives in * 0 (NaN and inf become NaN, -x gives
// -0), also as the CPU.
//
// Parallelisation: the mask costs one Philox4x32-10 block per 4 elements, so a thread owns whole
// Philox blocks: thread t of the grid-stride loop takes block b = offset/4 + t, generates its four
// words once and handles the (up to) four elements whose positions fall in it (the first and last
// blocks may be partial when offset is not a multiple of 4). Adjacent threads touch adjacent
// 4-element groups: coalesced. Feature dropout: with inner >= 128, one block per feature (the word
// drawn once, threads stride the feature's contiguous elements); otherwise one thread per element
// that recomputes its feature's word (cheap next to a launch when inner is small).
//
// Fast path (float32, offset % 4 == 0, 16-byte aligned, the common case): dropout_vec4_kernel,
// one float4 in, one Philox block, one float4 out per thread and step. The general kernel above
// does 4 scalar loads per thread at a 16-byte stride across the warp, with per-element 64-bit
// position tests; it stays for double and for unaligned views or offsets.
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include "core/philox.h"
#include "cuda/kernels.h"
#include "cuda/loops.cuh"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

constexpr int kDropBlock = 256;

// ceil(keep * 2^24) with keep rounded to float first: identical to the CPU's keep_threshold.
inline uint32_t keep_threshold(double p) {
  const float keep = (float)(1.0 - p);
  return (uint32_t)std::ceil((double)keep * 16777216.0);
}

template <class T>
__device__ __forceinline__ T noise_of(uint32_t word, uint32_t thr, T scale) {
  return (T)((word >> 8) < thr) * scale;
}

template <class T>
__global__ void __launch_bounds__(kDropBlock)
dropout_kernel(T* out, const T* in, int64_t n, uint64_t seed, uint64_t offset, uint32_t thr, T scale) {
  const uint64_t first = offset >> 2, last = (offset + (uint64_t)n - 1) >> 2;
  const uint64_t nblocks = last - first + 1;
  for (uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; t < nblocks;
       t += (uint64_t)gridDim.x * blockDim.x) {
    const uint64_t b = first + t;
    const Philox4 r = philox_block(seed, b);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint64_t pos = 4 * b + (uint64_t)k;
      if (pos < offset) continue;
      const uint64_t i = pos - offset;
      if (i >= (uint64_t)n) break;
      out[i] = in[i] * noise_of<T>(r.v[k], thr, scale);
    }
  }
}

// float32, offset % 4 == 0, in and out 16-byte aligned: element 4v+k is stream position
// offset + 4v + k, i.e. word k of Philox block offset/4 + v, so one float4 load, one Philox block and
// one float4 store per thread and step (32-bit-free of per-element branches). The last n % 4
// elements (a partial block) are done by thread 0 with the same block formula. Same words, same
// threshold test, same single multiply as dropout_kernel: identical bits.
__global__ void __launch_bounds__(kDropBlock)
dropout_vec4_kernel(float4* __restrict__ out, const float4* __restrict__ in, int64_t nv, int tail, uint64_t seed,
                    uint64_t first_block, uint32_t thr, float scale) {
  const int64_t step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < nv; v += step) {
    const float4 x = in[v];  // issued before the Philox rounds: its latency hides behind them
    const Philox4 r = philox_block(seed, first_block + (uint64_t)v);
    float4 y;
    y.x = x.x * noise_of<float>(r.v[0], thr, scale);
    y.y = x.y * noise_of<float>(r.v[1], thr, scale);
    y.z = x.z * noise_of<float>(r.v[2], thr, scale);
    y.w = x.w * noise_of<float>(r.v[3], thr, scale);
    out[v] = y;
  }
  if (tail > 0 && blockIdx.x == 0 && threadIdx.x == 0) {
    const Philox4 r = philox_block(seed, first_block + (uint64_t)nv);
    const float* xs = reinterpret_cast<const float*>(in + nv);
    float* ys = reinterpret_cast<float*>(out + nv);
    for (int k = 0; k < tail; ++k) ys[k] = xs[k] * noise_of<float>(r.v[k], thr, scale);
  }
}

template <class T>
__global__ void __launch_bounds__(kDropBlock)
feature_dropout_rows_kernel(T* out, const T* in, int64_t features, int64_t inner, uint64_t seed, uint64_t offset,
                            uint32_t thr, T scale) {
  for (int64_t f = blockIdx.x; f < features; f += gridDim.x) {
    const T noise = noise_of<T>(philox_word(seed, offset + (uint64_t)f), thr, scale);
    const T* x = in + f * inner;
    T* y = out + f * inner;
    for (int64_t j = threadIdx.x; j < inner; j += blockDim.x) y[j] = x[j] * noise;
  }
}

template <class T>
__global__ void __launch_bounds__(kDropBlock)
feature_dropout_elems_kernel(T* out, const T* in, int64_t n, int64_t inner, uint64_t seed, uint64_t offset,
                             uint32_t thr, T scale) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t f = i / inner;
    out[i] = in[i] * noise_of<T>(philox_word(seed, offset + (uint64_t)f), thr, scale);
  }
}

template <class T>
__global__ void times_zero_kernel(T* out, const T* in, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = in[i] * T(0);
}

void check_args(const Tensor& out, const Tensor& in, const char* op) {
  FLB_CHECK(in.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", in.device().str());
  check_on_device(out, in.device().index, op, "output");
  check_same_shape(out, in, op);
  FLB_CHECK(out.dtype == in.dtype, TypeError, op, ": output dtype differs from input dtype");
  FLB_CHECK(in.is_contiguous() && out.is_contiguous(), ValueError, op,
            ": input and output must be contiguous (CUDA kernel precondition)");
}

template <class T>
void times_zero(const Tensor& out, const Tensor& in, int dev, cudaStream_t s) {
  const int64_t n = in.numel();
  times_zero_kernel<T><<<grid_for(n, kDropBlock, dev), kDropBlock, 0, s>>>(out.data<T>(), in.data<T>(), n);
  FLB_CUDA_CHECK_LAUNCH("times_zero_kernel", dev);
}

}  // namespace

void dropout(const Tensor& out, const Tensor& in, double p, uint64_t seed, uint64_t offset) {
  const char* op = "dropout";
  check_args(out, in, op);
  const int64_t n = in.numel();
  if (n == 0) return;
  const int dev = in.device().index;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(in.dtype, op, [&] {
    using T = scalar_t;
    if (p >= 1.0) {
      times_zero<T>(out, in, dev, s);
      return;
    }
    const uint32_t thr = keep_threshold(p);
    const T scale = T(1) / (T)(1.0 - p);
    if constexpr (std::is_same_v<T, float>) {
      const bool aligned = ((reinterpret_cast<uintptr_t>(out.data_ptr()) | reinterpret_cast<uintptr_t>(in.data_ptr())) &
                            15u) == 0;
      if (aligned && (offset & 3u) == 0) {  // one 16-byte load, one Philox block, one store per thread
        const int64_t nv = n / 4;
        dropout_vec4_kernel<<<grid_for(std::max<int64_t>(nv, 1), kDropBlock, dev), kDropBlock, 0, s>>>(
            reinterpret_cast<float4*>(out.data<float>()), reinterpret_cast<const float4*>(in.data<float>()), nv,
            (int)(n % 4), seed, offset >> 2, thr, scale);
        FLB_CUDA_CHECK_LAUNCH("dropout_vec4_kernel", dev);
        return;
      }
    }
    const int64_t nblocks = (int64_t)(((offset + (uint64_t)n - 1) >> 2) - (offset >> 2) + 1);
    dropout_kernel<T><<<grid_for(nblocks, kDropBlock, dev), kDropBlock, 0, s>>>(out.data<T>(), in.data<T>(), n,
                                                                                seed, offset, thr, scale);
    FLB_CUDA_CHECK_LAUNCH("dropout_kernel", dev);
  });
}

void feature_dropout(const Tensor& out, const Tensor& in, int64_t features, int64_t inner, double p, uint64_t seed,
                     uint64_t offset) {
  const char* op = "feature_dropout";
  check_args(out, in, op);
  const int64_t n = in.numel();
  FLB_CHECK(features * inner == n, ValueError, op, ": ", features, " features of ", inner,
            " elements don't match the input's ", n, " elements");
  if (n == 0) return;
  const int dev = in.device().index;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(in.dtype, op, [&] {
    using T = scalar_t;
    if (p >= 1.0) {
      times_zero<T>(out, in, dev, s);
      return;
    }
    const uint32_t thr = keep_threshold(p);
    const T scale = T(1) / (T)(1.0 - p);
    if (inner >= 128) {
      const unsigned grid = (unsigned)std::min<int64_t>(features, (int64_t)multiprocessor_count(dev) * 16);
      feature_dropout_rows_kernel<T><<<grid, kDropBlock, 0, s>>>(out.data<T>(), in.data<T>(), features, inner, seed,
                                                                 offset, thr, scale);
      FLB_CUDA_CHECK_LAUNCH("feature_dropout_rows_kernel", dev);
    } else {
      feature_dropout_elems_kernel<T><<<grid_for(n, kDropBlock, dev), kDropBlock, 0, s>>>(
          out.data<T>(), in.data<T>(), n, inner, seed, offset, thr, scale);
      FLB_CUDA_CHECK_LAUNCH("feature_dropout_elems_kernel", dev);
    }
  });
}

}  // namespace flambeau::cuda
