// Deterministic block-level sums for the nn kernel files (activation.cu's PReLU weight gradient,
// loss.cu, normalization.cu). No atomics: each block folds its threads' partial sums with warp
// shuffles (a fixed butterfly) and then the warps' results in warp order, so the same block size
// gives the same bits on every run. Multi-block reductions write one partial per block to a
// temporary buffer and a second kernel folds the partials in index order.
//
// Every caller launches blocks of kRedBlock threads (a multiple of 32, at most 1024).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include "cuda/common.cuh"

namespace flambeau::cuda {

constexpr int kRedBlock = 256;

// Shape-fixed number of splits of a reduction of `count` elements into blocks: one block per
// `per_block` elements, between 1 and `cap`. Depends on the shape only, never on the device.
inline int64_t shape_splits(int64_t count, int64_t per_block, int64_t cap) {
  int64_t s = ceil_div(count, per_block);
  if (s < 1) s = 1;
  return s > cap ? cap : s;
}

#if defined(__CUDACC__)

template <class A>
__device__ __forceinline__ A warp_allsum(A v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Sums NV values per thread over the block; every thread gets the totals in v. `sh` is shared
// memory of at least NV * 32 A's. Contains __syncthreads (call from every thread of the block).
template <int NV, class A>
__device__ __forceinline__ void block_allsum(A (&v)[NV], A* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int k = 0; k < NV; ++k) v[k] = warp_allsum(v[k]);
  __syncthreads();  // sh may still be read from a previous call
  if (lane == 0)
#pragma unroll
    for (int k = 0; k < NV; ++k) sh[k * 32 + warp] = v[k];
  __syncthreads();
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    A s = A(0);
    for (int w = 0; w < nw; ++w) s += sh[k * 32 + w];  // warp order, same in every thread
    v[k] = s;
  }
}

// Folds partials[r * splits + s], s = 0..splits-1 in order, for rows r (one thread per row).
// out[r] = sum (as double); NV interleaved arrays: partials laid out [NV][rows][splits].
template <int NV>
__global__ void fold_partials_kernel(double* __restrict__ out, const double* __restrict__ partials, int64_t rows,
                                     int64_t splits) {
  for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const double* p = partials + (k * rows + r) * splits;
      double s = 0;
      for (int64_t i = 0; i < splits; ++i) s += p[i];
      out[k * rows + r] = s;
    }
  }
}

#endif

}  // namespace flambeau::cuda
