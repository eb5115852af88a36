// Batch norm, layer norm and group norm on CUDA, forward and backward: the twins of
// csrc/cpu/normalization.cpp, with its formulas (see that file's comment):
//   statistics: shifted sums in double, sum(x - K) and sum((x - K)^2) with K a sample of the same
//     data (batch norm: x[n=0, c, s=0]; layer/group norm: the row's first element), mean = K + s/n,
//     var = max(0, q/n - (s/n)^2), rstd = 1/sqrt(var + eps); backward sums centred on the saved mean;
//   elementwise passes in the input dtype, with the CPU's exact centring (the mean split into a
//     high part in the dtype and a low part folded into the shift) and its order of operations.
//     The CPU's elementwise leaves are compiled without FMA contraction, so every multiply-add
//     here is spelled with _rn intrinsics (never contracted): given the same statistics, the
//     elementwise results are the same bits. Only the order of the double-precision sums differs
//     from the CPU's, so results agree to float rounding.
//
// Parallelisation, all deterministic (no atomics: fixed per-block partials folded in order):
//   * batch norm statistics / gradient sums: per channel c over N*S elements. S > 1: grid
//     (splits, C), block b of channel c sums a fixed chunk of the channel's planes (threads along s:
//     coalesced); S == 1 (2-D input [N, C]): the channels are contiguous, so a 32 x 8 block takes 32
//     channels side by side (coalesced across the warp) and a fixed range of rows per split. Split
//     counts depend on the shape only. Partials [2][C][splits] -> one thread per channel folds them
//     in order and computes the per-channel coefficients (and the running statistics), then one
//     elementwise pass writes y (or dx). Three launches, input read twice (the CPU fuses the
//     second read while the channel is in cache; on the GPU the re-read mostly hits L2 for
//     moderate sizes).
//   * layer norm forward / backward dx, float32 rows of K <= 1024 with >= 4 rows per SM: one warp
//     per row, the row (and dy) in registers (row_regs.cuh), the same statistics from the registers
//     (double sums: lane-serial, then a fixed butterfly): x read once, y / dx written once.
//   * otherwise layer norm forward / backward dx and group norm: one block per row (layer norm: M rows of K;
//     group norm: the N*G groups, each D*S contiguous elements): block-wide double sums (warp
//     shuffles, then warps in order), then the row's elementwise pass by the same block.
//   * layer norm dw/db: column sums over M rows: 32 x 8 blocks over (32 columns, a fixed range of
//     rows), partials per row-split, folded in order. Group norm dw/db: per-(n, c) sums saved by
//     the backward kernel, folded over n by one thread per channel (as the CPU).
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include "cuda/block_reduce.cuh"
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/nn_kernels.h"
#include "cuda/row_regs.cuh"

namespace flambeau::cuda {

namespace {

// ---- correctly rounded single operations (never contracted into FMAs)
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

constexpr int kColX = 32, kColY = 8;  // column-sum blocks: 32 columns x 8 row lanes

// ------------------------------------------------------------------------------------ shared sums
// Per-channel sums over (N, C, S > 1). GRAD = false: a = sum(x - K_c), b = sum((x - K_c)^2),
// K_c = x[c*S]. GRAD = true: a = sum(dy), b = sum(dy * (x - mean_c)).
template <class T, bool GRAD>
__device__ __forceinline__ void acc_one(double (&v)[2], T xv, T gv, double center) {
  if (GRAD) {
    const double g = (double)gv;
    v[0] += g;
    v[1] += g * ((double)xv - center);
  } else {
    const double d = (double)xv - center;
    v[0] += d;
    v[1] += d * d;
  }
}

template <bool GRAD>
__device__ __forceinline__ void acc_four(double (&v)[2], float4 a, float4 g, double center) {
  acc_one<float, GRAD>(v, a.x, g.x, center);
  acc_one<float, GRAD>(v, a.y, g.y, center);
  acc_one<float, GRAD>(v, a.z, g.z, center);
  acc_one<float, GRAD>(v, a.w, g.w, center);
}

// The block's threads add the contiguous span p[0, len) (and q[0, len) for GRAD) into their v.
// float32: scalar loads up to the first 16-byte boundary, then float4 loads, two in flight per
// thread and step (q must share p's alignment, else all scalar), then the scalar tail.
template <class T, bool GRAD>
__device__ __forceinline__ void span_sums(double (&v)[2], const T* __restrict__ p, const T* __restrict__ q,
                                          int64_t len, double center) {
  int64_t head = len;  // elements taken by scalar loads before the vector body
  if constexpr (std::is_same_v<T, float>) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (!GRAD || ((a ^ reinterpret_cast<uintptr_t>(q)) & 15u) == 0)
      head = min(len, (int64_t)(((16u - (unsigned)(a & 15u)) & 15u) / 4u));
  }
  for (int64_t i = threadIdx.x; i < head; i += blockDim.x) acc_one<T, GRAD>(v, p[i], GRAD ? q[i] : T(0), center);
  if constexpr (std::is_same_v<T, float>) {
    if (head < len) {
      const int64_t nv = (len - head) / 4, bd = blockDim.x;
      const float4* p4 = reinterpret_cast<const float4*>(p + head);
      const float4* q4 = GRAD ? reinterpret_cast<const float4*>(q + head) : p4;
      int64_t i = threadIdx.x;
      for (; i + bd < nv; i += 2 * bd) {
        const float4 a0 = p4[i], a1 = p4[i + bd];
        const float4 g0 = GRAD ? q4[i] : a0, g1 = GRAD ? q4[i + bd] : a1;
        acc_four<GRAD>(v, a0, g0, center);
        acc_four<GRAD>(v, a1, g1, center);
      }
      if (i < nv) acc_four<GRAD>(v, p4[i], GRAD ? q4[i] : p4[i], center);
      for (int64_t k = head + 4 * nv + threadIdx.x; k < len; k += bd)
        acc_one<T, GRAD>(v, p[k], GRAD ? q[k] : T(0), center);
    }
  }
}

// Grid (splits, C): block sp of channel c sums the channel's elements [sp*chunk, (sp+1)*chunk) of
// its N*S (plane n, position s), walking them plane by plane as contiguous spans: the (n, s)
// division is done once per block, not per element.
template <class T, bool GRAD>
__global__ void __launch_bounds__(kRedBlock)
channel_sums_kernel(double* __restrict__ part, const T* __restrict__ x, const T* __restrict__ dy,
                    const T* __restrict__ mean, int64_t N, int64_t C, int64_t S, int64_t chunk, int64_t splits) {
  __shared__ double sh[2 * 32];
  const int64_t c = blockIdx.y, sp = blockIdx.x;
  const double center = GRAD ? (double)mean[c] : (double)x[c * S];
  const int64_t count = N * S, j0 = sp * chunk, j1 = min(count, j0 + chunk);
  double v[2] = {0.0, 0.0};
  if (j0 < j1) {
    int64_t n = j0 / S, s0 = j0 - n * S;
    for (int64_t j = j0; j < j1; ++n, s0 = 0) {
      const int64_t len = min(S - s0, j1 - j);
      const int64_t base = (n * C + c) * S + s0;
      span_sums<T, GRAD>(v, x + base, GRAD ? dy + base : nullptr, len, center);
      j += len;
    }
  }
  block_allsum<2>(v, sh);
  if (threadIdx.x == 0) {
    part[(0 * C + c) * splits + sp] = v[0];
    part[(1 * C + c) * splits + sp] = v[1];
  }
}

// The same for S == 1 ([N, C], channels contiguous): block (32, 8) over 32 channels and a fixed
// range of rows per split (grid (ceil(C/32), splits)).
template <class T, bool GRAD>
__global__ void __launch_bounds__(kColX * kColY)
channel_sums_cols_kernel(double* __restrict__ part, const T* __restrict__ x, const T* __restrict__ dy,
                         const T* __restrict__ mean, int64_t N, int64_t C, int64_t rows_per_split, int64_t splits) {
  __shared__ double sa[kColY][kColX], sb[kColY][kColX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = (int64_t)blockIdx.x * kColX + tx, sp = blockIdx.y;
  const int64_t n0 = sp * rows_per_split, n1 = min(N, n0 + rows_per_split);
  double a = 0, b = 0;
  if (c < C) {
    const double center = GRAD ? (double)mean[c] : (double)x[c];
    for (int64_t n = n0 + ty; n < n1; n += kColY) {
      const int64_t k = n * C + c;
      if (GRAD) {
        const double g = (double)dy[k];
        a += g;
        b += g * ((double)x[k] - center);
      } else {
        const double d = (double)x[k] - center;
        a += d;
        b += d * d;
      }
    }
  }
  sa[ty][tx] = a;
  sb[ty][tx] = b;
  __syncthreads();
  if (ty == 0 && c < C) {
    double ra = 0, rb = 0;
    for (int r = 0; r < kColY; ++r) {  // fixed order
      ra += sa[r][tx];
      rb += sb[r][tx];
    }
    part[(0 * C + c) * splits + sp] = ra;
    part[(1 * C + c) * splits + sp] = rb;
  }
}

struct ChannelSplit {
  bool cols = false;
  int64_t splits = 1, chunk = 0;  // chunk: elements (S > 1) or rows (S == 1) per split
};

ChannelSplit channel_split(int64_t N, int64_t S) {
  ChannelSplit cs;
  if (S == 1) {
    cs.cols = true;
    cs.splits = shape_splits(N, 512, 256);
    cs.chunk = ceil_div(N, cs.splits);
  } else {
    // ~4096 elements per block (64 x 64 x 56 x 56: 49 splits x 64 channels = 3136 blocks, about three
    // full waves of 8 blocks per SM on 132 SMs); chunk a multiple of 4 so that with S % 4 == 0 every
    // span starts 16-byte aligned.
    cs.splits = shape_splits(N * S, 4096, 1024);
    cs.chunk = (ceil_div(N * S, cs.splits) + 3) / 4 * 4;
  }
  return cs;
}

// Launches the per-channel sums into part ([2][C][splits] doubles).
template <class T, bool GRAD>
void launch_channel_sums(double* part, const ChannelSplit& cs, const T* x, const T* dy, const T* mean, int64_t N,
                         int64_t C, int64_t S, int dev, cudaStream_t s) {
  if (cs.cols) {
    dim3 grid((unsigned)ceil_div(C, kColX), (unsigned)cs.splits);
    channel_sums_cols_kernel<T, GRAD><<<grid, dim3(kColX, kColY), 0, s>>>(part, x, dy, mean, N, C, cs.chunk,
                                                                          cs.splits);
    FLB_CUDA_CHECK_LAUNCH("channel_sums_cols_kernel", dev);
  } else {
    dim3 grid((unsigned)cs.splits, (unsigned)C);
    channel_sums_kernel<T, GRAD><<<grid, kRedBlock, 0, s>>>(part, x, dy, mean, N, C, S, cs.chunk, cs.splits);
    FLB_CUDA_CHECK_LAUNCH("channel_sums_kernel", dev);
  }
}

// ------------------------------------------------------------------------------------ batch norm
// coef: [3][C] of T: alpha, beta (forward) | aw, mdy, kk (backward).
template <class T>
__global__ void bn_finish_forward_kernel(T* __restrict__ coef, T* __restrict__ sm, T* __restrict__ si,
                                         T* __restrict__ rm, T* __restrict__ rv, const double* __restrict__ part,
                                         const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bb,
                                         int64_t C, int64_t S, int64_t splits, double M, T mom, double eps,
                                         bool training) {
  for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double mlo = 0;
    if (training) {
      double A = 0, B = 0;
      for (int64_t i = 0; i < splits; ++i) {
        A += part[(0 * C + c) * splits + i];
        B += part[(1 * C + c) * splits + i];
      }
      const double K = (double)x[c * S];
      const double dm = A / M, mean = K + dm;
      const double var = fmax(0.0, B / M - dm * dm);
      sm[c] = (T)mean;
      mlo = mean - (double)sm[c];
      si[c] = (T)(1.0 / sqrt(var + eps));
      if (rm) rm[c] = add_rn(mul_rn(mom, (T)mean), mul_rn(sub_rn(T(1), mom), rm[c]));
      if (rv) {
        const double unbiased = M > 1 ? var * M / (M - 1) : INFINITY;
        rv[c] = (T)((double)mom * unbiased + (double)mul_rn(sub_rn(T(1), mom), rv[c]));
      }
    } else {
      sm[c] = rm[c];
      si[c] = T(1) / sqrt_rn(add_rn(rv[c], (T)eps));
    }
    const T alpha = mul_rn(si[c], w ? w[c] : T(1));
    coef[c] = alpha;
    coef[C + c] = sub_rn(bb ? bb[c] : T(0), mul_rn((T)mlo, alpha));
  }
}

// y = (x - m_c) * alpha_c + beta_c over (N, C, S); c = (e / S) % C.
template <class T>
__global__ void bn_apply_kernel(T* __restrict__ y, const T* __restrict__ x, const T* __restrict__ sm,
                                const T* __restrict__ coef, int64_t total, int64_t C, int64_t S) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (e / S) % C;
    y[e] = add_rn(mul_rn(sub_rn(x[e], sm[c]), coef[c]), coef[C + c]);
  }
}

// The same for float32 with S % 4 == 0, every pointer 16-byte aligned and total < 2^31: one float4
// per thread and step (its four elements share a plane since S % 4 == 0), channel from 32-bit
// divides once per float4. Same per-element operations: same bits.
__global__ void __launch_bounds__(256)
bn_apply_vec4_kernel(float4* __restrict__ y, const float4* __restrict__ x, const float* __restrict__ sm,
                     const float* __restrict__ coef, uint32_t nv, uint32_t S4, uint32_t C) {
  for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < nv; v += gridDim.x * blockDim.x) {
    const float4 a = x[v];
    const uint32_t c = (v / S4) % C;
    const float m = sm[c], al = coef[c], be = coef[C + c];
    float4 r;
    r.x = add_rn(mul_rn(sub_rn(a.x, m), al), be);
    r.y = add_rn(mul_rn(sub_rn(a.y, m), al), be);
    r.z = add_rn(mul_rn(sub_rn(a.z, m), al), be);
    r.w = add_rn(mul_rn(sub_rn(a.w, m), al), be);
    y[v] = r;
  }
}

// Whether the float4 elementwise kernels apply: S % 4 == 0, 16-byte aligned, 32-bit indices.
inline bool bn_vec4_ok(int64_t S, int64_t total, std::initializer_list<const void*> ptrs) {
  if (S % 4 != 0 || total <= 0 || total > (int64_t)INT32_MAX) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) & 15u) return false;
  return true;
}

template <class T>
__global__ void bn_finish_backward_kernel(T* __restrict__ coef, T* __restrict__ gw, T* __restrict__ gb,
                                          const double* __restrict__ part, const T* __restrict__ invstd,
                                          const T* __restrict__ w, int64_t C, int64_t splits, double M,
                                          bool have_sums) {
  for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double A = 0, B = 0;
    if (have_sums)
      for (int64_t i = 0; i < splits; ++i) {
        A += part[(0 * C + c) * splits + i];
        B += part[(1 * C + c) * splits + i];
      }
    const double is = (double)invstd[c];
    if (gw) gw[c] = (T)(B * is);
    if (gb) gb[c] = (T)A;
    coef[c] = mul_rn(invstd[c], w ? w[c] : T(1));  // aw
    coef[C + c] = (T)(A / M);                       // mdy
    coef[2 * C + c] = (T)(B * is * is / M);         // kk
  }
}

// training: dx = ((dy - mdy) - (x - mean) * kk) * aw; eval: dx = dy * aw.
template <class T>
__global__ void bn_dx_kernel(T* __restrict__ dx, const T* __restrict__ dy, const T* __restrict__ x,
                             const T* __restrict__ mean, const T* __restrict__ coef, int64_t total, int64_t C,
                             int64_t S, bool training) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (e / S) % C;
    const T aw = coef[c];
    if (training)
      dx[e] = mul_rn(sub_rn(sub_rn(dy[e], coef[C + c]), mul_rn(sub_rn(x[e], mean[c]), coef[2 * C + c])), aw);
    else
      dx[e] = mul_rn(dy[e], aw);
  }
}

// float32 twin of bn_dx_kernel under bn_vec4_ok (x is not read in eval mode).
template <bool TRAINING>
__global__ void __launch_bounds__(256)
bn_dx_vec4_kernel(float4* __restrict__ dx, const float4* __restrict__ dy, const float4* __restrict__ x,
                  const float* __restrict__ mean, const float* __restrict__ coef, uint32_t nv, uint32_t S4,
                  uint32_t C) {
  for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < nv; v += gridDim.x * blockDim.x) {
    const float4 g = dy[v];
    const uint32_t c = (v / S4) % C;
    const float aw = coef[c];
    float4 r;
    if (TRAINING) {
      const float4 a = x[v];
      const float mdy = coef[C + c], kk = coef[2 * C + c], m = mean[c];
      r.x = mul_rn(sub_rn(sub_rn(g.x, mdy), mul_rn(sub_rn(a.x, m), kk)), aw);
      r.y = mul_rn(sub_rn(sub_rn(g.y, mdy), mul_rn(sub_rn(a.y, m), kk)), aw);
      r.z = mul_rn(sub_rn(sub_rn(g.z, mdy), mul_rn(sub_rn(a.z, m), kk)), aw);
      r.w = mul_rn(sub_rn(sub_rn(g.w, mdy), mul_rn(sub_rn(a.w, m), kk)), aw);
    } else {
      r.x = mul_rn(g.x, aw);
      r.y = mul_rn(g.y, aw);
      r.z = mul_rn(g.z, aw);
      r.w = mul_rn(g.w, aw);
    }
    dx[v] = r;
  }
}

// ------------------------------------------------------------------------------------ row statistics
// Block-wide (mean, rstd) of a contiguous row of n elements, as the CPU's row_stats; every thread
// gets the result. Contains __syncthreads.
template <class T>
__device__ __forceinline__ void block_row_stats(const T* xr, int64_t n, double eps, double* sh, double& mean,
                                                double& rstd) {
  if (n == 0) {
    mean = 0;
    rstd = 1.0 / sqrt(eps);
    return;
  }
  const double K = (double)xr[0];
  double v[2] = {0.0, 0.0};
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = (double)xr[i] - K;
    v[0] += d;
    v[1] += d * d;
  }
  block_allsum<2>(v, sh);
  const double dm = v[0] / (double)n;
  mean = K + dm;
  const double var = fmax(0.0, v[1] / (double)n - dm * dm);
  rstd = 1.0 / sqrt(var + eps);
}

// ------------------------------------------------------------------------------------ layer norm
template <class T>
__global__ void __launch_bounds__(kRedBlock)
ln_forward_kernel(T* __restrict__ y, T* __restrict__ mo, T* __restrict__ ro, const T* __restrict__ x,
                  const T* __restrict__ w, const T* __restrict__ b, int64_t M, int64_t K, double eps) {
  __shared__ double sh[2 * 32];
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* xr = x + r * K;
    T* yr = y + r * K;
    double mean, rstd;
    block_row_stats(xr, K, eps, sh, mean, rstd);
    if (threadIdx.x == 0) {
      mo[r] = (T)mean;
      ro[r] = (T)rstd;
    }
    const T mt = (T)mean, ml = (T)(mean - (double)mt), a = (T)rstd;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      T v = mul_rn(sub_rn(sub_rn(xr[i], mt), ml), a);
      if (w) v = mul_rn(v, w[i]);
      if (b) v = add_rn(v, b[i]);
      yr[i] = v;
    }
  }
}

// dx of one row (block per row): g = dy * w (or dy), sums in double, dx = g*a + (x - m)*bc + cd.
template <class T>
__global__ void __launch_bounds__(kRedBlock)
ln_backward_dx_kernel(T* __restrict__ dx, const T* __restrict__ dy, const T* __restrict__ x,
                      const T* __restrict__ mean, const T* __restrict__ rstd, const T* __restrict__ w, int64_t M,
                      int64_t K) {
  __shared__ double sh[2 * 32];
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* xr = x + r * K;
    const T* gr = dy + r * K;
    const double m = (double)mean[r], rs = (double)rstd[r];
    double v[2] = {0.0, 0.0};  // sum(g), sum(g * (x - mean))
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const T g = w ? mul_rn(gr[i], w[i]) : gr[i];
      const double gd = (double)g;
      v[0] += gd;
      v[1] += gd * ((double)xr[i] - m);
    }
    block_allsum<2>(v, sh);
    const T a = (T)rs, bc = (T)(-v[1] * rs * rs * rs / (double)K), cd = (T)(-v[0] * rs / (double)K), mt = mean[r];
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const T g = w ? mul_rn(gr[i], w[i]) : gr[i];
      dx[r * K + i] = add_rn(add_rn(mul_rn(g, a), mul_rn(sub_rn(xr[i], mt), bc)), cd);
    }
  }
}

// ---- layer norm, one warp per row, the row in registers (float32, 1 <= K <= kLnRegMaxK)
// The same statistics as block_row_stats (shift K0 = the row's first element, sums of d and d^2
// in double, the same mean/var/rstd formulas) and the same elementwise expressions as the block
// kernels below; only the order of the double sums differs (lane-serial, then a fixed butterfly).
// x (and dy) are read once, y (dx) written once; 16-byte chunks when row_regs.cuh allows.
constexpr int kLnWarpBlock = 128;  // 4 rows per block
constexpr int64_t kLnRegMaxK = 1024;

template <int VEC, int CH>
__global__ void __launch_bounds__(kLnWarpBlock, 4)
ln_forward_reg_kernel(float* __restrict__ y, float* __restrict__ mo, float* __restrict__ ro,
                      const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, int64_t M,
                      int K, double eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kLnWarpBlock / 32);
  for (int64_t r = (int64_t)blockIdx.x * (kLnWarpBlock / 32) + threadIdx.x / 32; r < M; r += warps_total) {
    float v[CH][VEC];
    rr_load<float, VEC, CH>(v, x + r * K, K, lane, 0.f);
    const double K0 = (double)__shfl_sync(0xffffffffu, v[0][0], 0);  // element 0 sits in lane 0, chunk 0
    double s1 = 0.0, s2 = 0.0;
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const double d = rr_index<VEC>(c, lane) < K ? (double)v[c][j] - K0 : 0.0;  // padding adds 0
        s1 += d;
        s2 += d * d;
      }
    s1 = warp_allsum(s1);
    s2 = warp_allsum(s2);
    const double dm = s1 / (double)K;
    const double mean = K0 + dm;
    const double var = fmax(0.0, s2 / (double)K - dm * dm);
    const double rstd = 1.0 / sqrt(var + eps);
    if (lane == 0) {
      mo[r] = (float)mean;
      ro[r] = (float)rstd;
    }
    const float mt = (float)mean, ml = (float)(mean - (double)mt), a = (float)rstd;
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int k = rr_index<VEC>(c, lane);
      if (k < K) {
        float wv[VEC], bv[VEC];
        if (w) rr_load_chunk<float, VEC>(wv, w + k);
        if (b) rr_load_chunk<float, VEC>(bv, b + k);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          float t = mul_rn(sub_rn(sub_rn(v[c][j], mt), ml), a);
          if (w) t = mul_rn(t, wv[j]);
          if (b) t = add_rn(t, bv[j]);
          v[c][j] = t;
        }
      }
    }
    rr_store<float, VEC, CH>(y + r * K, v, K, lane);
  }
}

template <int VEC, int CH>
__global__ void __launch_bounds__(kLnWarpBlock, 3)
ln_backward_dx_reg_kernel(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ x,
                          const float* __restrict__ mean, const float* __restrict__ rstd,
                          const float* __restrict__ w, int64_t M, int K) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kLnWarpBlock / 32);
  for (int64_t r = (int64_t)blockIdx.x * (kLnWarpBlock / 32) + threadIdx.x / 32; r < M; r += warps_total) {
    float gv[CH][VEC], xv[CH][VEC];
    rr_load<float, VEC, CH>(gv, dy + r * K, K, lane, 0.f);
    rr_load<float, VEC, CH>(xv, x + r * K, K, lane, 0.f);
    const float mt = mean[r];
    const double m = (double)mt, rs = (double)rstd[r];
    double s1 = 0.0, s2 = 0.0;  // sum(g), sum(g * (x - mean))
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int k = rr_index<VEC>(c, lane);
      if (k < K) {
        float wv[VEC];
        if (w) rr_load_chunk<float, VEC>(wv, w + k);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const float g = w ? mul_rn(gv[c][j], wv[j]) : gv[c][j];
          gv[c][j] = g;
          const double gd = (double)g;
          s1 += gd;
          s2 += gd * ((double)xv[c][j] - m);
        }
      }
    }
    s1 = warp_allsum(s1);
    s2 = warp_allsum(s2);
    const float a = (float)rs, bc = (float)(-s2 * rs * rs * rs / (double)K), cd = (float)(-s1 * rs / (double)K);
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j)
        gv[c][j] = add_rn(add_rn(mul_rn(gv[c][j], a), mul_rn(sub_rn(xv[c][j], mt), bc)), cd);
    rr_store<float, VEC, CH>(dx + r * K, gv, K, lane);
  }
}

// Launches the forward (BWD false: o = y, a = x, p0 = mean out, p1 = rstd out, w, b) or backward
// dx (BWD true: o = dx, a = dy, c = x, p0 = mean, p1 = rstd, w) register kernel for K <= 32 * E.
template <bool BWD, int VEC, int E>
void ln_reg_launch_e(float* o, const float* a, const float* c, float* p0, float* p1, const float* w, const float* b,
                     int64_t M, int K, double eps, unsigned grid, cudaStream_t s, int dev) {
  if constexpr (BWD) {
    ln_backward_dx_reg_kernel<VEC, E / VEC><<<grid, kLnWarpBlock, 0, s>>>(o, a, c, p0, p1, w, M, K);
    FLB_CUDA_CHECK_LAUNCH("ln_backward_dx_reg_kernel", dev);
  } else {
    ln_forward_reg_kernel<VEC, E / VEC><<<grid, kLnWarpBlock, 0, s>>>(o, p0, p1, a, w, b, M, K, eps);
    FLB_CUDA_CHECK_LAUNCH("ln_forward_reg_kernel", dev);
  }
}

template <bool BWD, int VEC>
void ln_reg_launch_vec(float* o, const float* a, const float* c, float* p0, float* p1, const float* w,
                       const float* b, int64_t M, int K, double eps, unsigned grid, cudaStream_t s, int dev) {
  if (K <= 32 * 4) return ln_reg_launch_e<BWD, VEC, 4>(o, a, c, p0, p1, w, b, M, K, eps, grid, s, dev);
  if (K <= 32 * 8) return ln_reg_launch_e<BWD, VEC, 8>(o, a, c, p0, p1, w, b, M, K, eps, grid, s, dev);
  if (K <= 32 * 16) return ln_reg_launch_e<BWD, VEC, 16>(o, a, c, p0, p1, w, b, M, K, eps, grid, s, dev);
  return ln_reg_launch_e<BWD, VEC, 32>(o, a, c, p0, p1, w, b, M, K, eps, grid, s, dev);  // K <= kLnRegMaxK
}

// (templated on T so that the float64 instantiation of the dispatch compiles; it does nothing)
template <bool BWD, class T>
void ln_reg_launch(T* o, const T* a, const T* c, T* p0, T* p1, const T* w, const T* b, int64_t M, int64_t K,
                   double eps, cudaStream_t s, int dev) {
  if constexpr (std::is_same_v<T, float>) {
    const unsigned grid = grid_for(ceil_div(M, kLnWarpBlock / 32) * kLnWarpBlock, kLnWarpBlock, dev);
    if (rr_vec_ok<float>(K, {o, a, c, w, b}))
      ln_reg_launch_vec<BWD, 4>(o, a, c, p0, p1, w, b, M, (int)K, eps, grid, s, dev);
    else
      ln_reg_launch_vec<BWD, 1>(o, a, c, p0, p1, w, b, M, (int)K, eps, grid, s, dev);
  }
}

// The register kernels take float32 rows of 1..kLnRegMaxK with enough rows to fill the GPU.
template <class T>
bool ln_use_reg(int64_t M, int64_t K, int dev) {
  return std::is_same_v<T, float> && K >= 1 && K <= kLnRegMaxK && M >= (int64_t)multiprocessor_count(dev) * 4;
}

// Column partials of dw = sum_r dy * ((x - m_r) * rs_r), db = sum_r dy: grid (ceil(K/32), splits),
// block (32, 8); part [2][K][splits].
template <class T>
__global__ void __launch_bounds__(kColX * kColY)
ln_param_cols_kernel(double* __restrict__ part, const T* __restrict__ dy, const T* __restrict__ x,
                     const T* __restrict__ mean, const T* __restrict__ rstd, int64_t M, int64_t K,
                     int64_t rows_per_split, int64_t splits) {
  __shared__ double sa[kColY][kColX], sb[kColY][kColX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = (int64_t)blockIdx.x * kColX + tx, sp = blockIdx.y;
  const int64_t r0 = sp * rows_per_split, r1 = min(M, r0 + rows_per_split);
  double pw = 0, pb = 0;
  if (j < K)
    for (int64_t r = r0 + ty; r < r1; r += kColY) {
      const double g = (double)dy[r * K + j];
      pw += g * (((double)x[r * K + j] - (double)mean[r]) * (double)rstd[r]);
      pb += g;
    }
  sa[ty][tx] = pw;
  sb[ty][tx] = pb;
  __syncthreads();
  if (ty == 0 && j < K) {
    double rw = 0, rb = 0;
    for (int q = 0; q < kColY; ++q) {
      rw += sa[q][tx];
      rb += sb[q][tx];
    }
    part[(0 * K + j) * splits + sp] = rw;
    part[(1 * K + j) * splits + sp] = rb;
  }
}

// o0[r] = sum_i part[0][r][i], o1[r] = sum_i part[1][r][i] (either may be null), cast to T.
template <class T>
__global__ void fold2_kernel(T* __restrict__ o0, T* __restrict__ o1, const double* __restrict__ part, int64_t rows,
                             int64_t splits) {
  for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < splits; ++i) {
      a += part[(0 * rows + r) * splits + i];
      b += part[(1 * rows + r) * splits + i];
    }
    if (o0) o0[r] = (T)a;
    if (o1) o1[r] = (T)b;
  }
}

// ------------------------------------------------------------------------------------ group norm
template <class T>
__global__ void __launch_bounds__(kRedBlock)
gn_forward_kernel(T* __restrict__ y, T* __restrict__ mo, T* __restrict__ ro, const T* __restrict__ x,
                  const T* __restrict__ w, const T* __restrict__ bb, int64_t N, int64_t C, int64_t S, int64_t G,
                  double eps) {
  __shared__ double sh[2 * 32];
  const int64_t D = C / G, len = D * S;
  for (int64_t t = blockIdx.x; t < N * G; t += gridDim.x) {
    const int64_t n = t / G, g = t - n * G;
    const int64_t off = (n * C + g * D) * S;
    double mean, rstd;
    block_row_stats(x + off, len, eps, sh, mean, rstd);
    const T mt = (T)mean, rt = (T)rstd, ml = (T)(mean - (double)mt);
    if (threadIdx.x == 0) {
      mo[t] = mt;
      ro[t] = rt;
    }
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const int64_t c = g * D + i / S;
      const T a = mul_rn(rt, w ? w[c] : T(1));
      const T cst = bb ? bb[c] : T(0);
      y[off + i] = add_rn(mul_rn(sub_rn(x[off + i], mt), a), sub_rn(cst, mul_rn(ml, a)));
    }
  }
}

// Per (n, g): per-channel sums sdy/sdx (saved for dw/db), then dx.
template <class T>
__global__ void __launch_bounds__(kRedBlock)
gn_backward_kernel(T* __restrict__ dx, double* __restrict__ sdy, double* __restrict__ sdx, const T* __restrict__ dy,
                   const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ rstd,
                   const T* __restrict__ w, int64_t N, int64_t C, int64_t S, int64_t G) {
  __shared__ double sh[2 * 32];
  const int64_t D = C / G, len = D * S;
  for (int64_t t = blockIdx.x; t < N * G; t += gridDim.x) {
    const int64_t n = t / G, g = t - n * G;
    const double m = (double)mean[t], rs = (double)rstd[t];
    double dbg = 0, dsg = 0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t c = g * D + d, off = (n * C + c) * S;
      double v[2] = {0.0, 0.0};
      for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
        const double gv = (double)dy[off + i];
        v[0] += gv;
        v[1] += gv * ((double)x[off + i] - m);
      }
      block_allsum<2>(v, sh);
      if (threadIdx.x == 0) {
        sdy[n * C + c] = v[0];
        sdx[n * C + c] = v[1];
      }
      const double wc = w ? (double)w[c] : 1.0;
      dbg += wc * v[0];
      dsg += wc * v[1];
    }
    if (!dx) continue;
    const T bc = (T)(-dsg * rs * rs * rs / (double)len), cd = (T)(-dbg * rs / (double)len), mt = mean[t];
    const int64_t off = (n * C + g * D) * S;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const int64_t c = g * D + i / S;
      const T a = mul_rn(rstd[t], w ? w[c] : T(1));
      dx[off + i] = add_rn(add_rn(mul_rn(dy[off + i], a), mul_rn(sub_rn(x[off + i], mt), bc)), cd);
    }
  }
}

template <class T>
__global__ void gn_params_kernel(T* __restrict__ gw, T* __restrict__ gb, const double* __restrict__ sdy,
                                 const double* __restrict__ sdx, const T* __restrict__ rstd, int64_t N, int64_t C,
                                 int64_t G) {
  const int64_t D = C / G;
  for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double sw = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sw += sdx[n * C + c] * (double)rstd[n * G + c / D];
      sb += sdy[n * C + c];
    }
    if (gw) gw[c] = (T)sw;
    if (gb) gb[c] = (T)sb;
  }
}

// ------------------------------------------------------------------------------------ host helpers
template <class T>
T* opt_data(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

void check_contig(const Tensor* t, int dev, const char* op, const char* name) {
  if (!t) return;
  check_on_device(*t, dev, op, name);
  FLB_CHECK(t->is_contiguous(), ValueError, op, ": ", name, " must be contiguous (CUDA kernel precondition)");
}

unsigned row_grid(int64_t rows, int dev) {
  const int64_t cap = (int64_t)multiprocessor_count(dev) * 8;
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(rows, cap));
}

}  // namespace

void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& input,
                        int64_t N, int64_t C, int64_t S, const Tensor* weight, const Tensor* bias,
                        const Tensor* running_mean, const Tensor* running_var, bool training, double momentum,
                        double eps) {
  const char* op = "batch_norm";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&out, "output"}, {&save_mean, "save_mean"},
                         {&save_invstd, "save_invstd"}, {&input, "input"}, {weight, "weight"}, {bias, "bias"},
                         {running_mean, "running_mean"}, {running_var, "running_var"}})
    check_contig(t, dev, op, name);
  FLB_CHECK(training || (running_mean && running_var), ValueError, op, ": evaluation needs running statistics");
  if (C == 0) return;
  FLB_CHECK(C <= 65535 || S == 1, NotImplementedError, op, ": more than 65535 channels are not supported on CUDA");
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  const int64_t total = N * C * S;
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    ChannelSplit cs = channel_split(N, S);
    TempBuffer part(training && N * S > 0 ? (size_t)(2 * C * cs.splits) * sizeof(double) : 0, dev);
    if (training && N * S > 0)
      launch_channel_sums<T, false>(part.get<double>(), cs, x, nullptr, nullptr, N, C, S, dev, s);
    TempBuffer coef((size_t)(2 * C) * sizeof(T), dev);
    bn_finish_forward_kernel<T><<<grid_for(C, 256, dev), 256, 0, s>>>(
        coef.get<T>(), save_mean.data<T>(), save_invstd.data<T>(), opt_data<T>(running_mean),
        opt_data<T>(running_var), part.get<double>(), x, opt_data<T>(weight), opt_data<T>(bias), C, S, cs.splits,
        (double)(N * S), (T)momentum, eps, training);
    FLB_CUDA_CHECK_LAUNCH("bn_finish_forward_kernel", dev);
    if (total == 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (bn_vec4_ok(S, total, {out.data_ptr(), x})) {
        const int64_t nv = total / 4;
        bn_apply_vec4_kernel<<<grid_for(nv, 256, dev), 256, 0, s>>>(
            reinterpret_cast<float4*>(out.data<float>()), reinterpret_cast<const float4*>(x), save_mean.data<float>(),
            coef.get<float>(), (uint32_t)nv, (uint32_t)(S / 4), (uint32_t)C);
        FLB_CUDA_CHECK_LAUNCH("bn_apply_vec4_kernel", dev);
        return;
      }
    }
    bn_apply_kernel<T><<<grid_for(total, 256, dev), 256, 0, s>>>(out.data<T>(), x, save_mean.data<T>(),
                                                                 coef.get<T>(), total, C, S);
    FLB_CUDA_CHECK_LAUNCH("bn_apply_kernel", dev);
  });
}

void batch_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         const Tensor* weight, const Tensor& mean, const Tensor& invstd, bool training) {
  const char* op = "batch_norm_backward";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{grad_input, "grad_input"},
                         {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}, {&grad_out, "grad_output"},
                         {&input, "input"}, {weight, "weight"}, {&mean, "mean"}, {&invstd, "invstd"}})
    check_contig(t, dev, op, name);
  if (C == 0) return;
  FLB_CHECK(C <= 65535 || S == 1, NotImplementedError, op, ": more than 65535 channels are not supported on CUDA");
  const bool need_sums = grad_weight || grad_bias || (grad_input && training);
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  const int64_t total = N * C * S;
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const T* dy = grad_out.data<T>();
    ChannelSplit cs = channel_split(N, S);
    const bool sums = need_sums && N * S > 0;
    TempBuffer part(sums ? (size_t)(2 * C * cs.splits) * sizeof(double) : 0, dev);
    if (sums) launch_channel_sums<T, true>(part.get<double>(), cs, x, dy, mean.data<T>(), N, C, S, dev, s);
    TempBuffer coef((size_t)(3 * C) * sizeof(T), dev);
    bn_finish_backward_kernel<T><<<grid_for(C, 256, dev), 256, 0, s>>>(
        coef.get<T>(), opt_data<T>(grad_weight), opt_data<T>(grad_bias), part.get<double>(), invstd.data<T>(),
        opt_data<T>(weight), C, cs.splits, (double)(N * S), sums);
    FLB_CUDA_CHECK_LAUNCH("bn_finish_backward_kernel", dev);
    if (!grad_input || total == 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (bn_vec4_ok(S, total, {grad_input->data_ptr(), dy, x})) {
        const int64_t nv = total / 4;
        const unsigned grid = grid_for(nv, 256, dev);
        float4* dx4 = reinterpret_cast<float4*>(grad_input->data<float>());
        const float4* dy4 = reinterpret_cast<const float4*>(dy);
        const float4* x4 = reinterpret_cast<const float4*>(x);
        if (training)
          bn_dx_vec4_kernel<true><<<grid, 256, 0, s>>>(dx4, dy4, x4, mean.data<float>(), coef.get<float>(),
                                                       (uint32_t)nv, (uint32_t)(S / 4), (uint32_t)C);
        else
          bn_dx_vec4_kernel<false><<<grid, 256, 0, s>>>(dx4, dy4, x4, mean.data<float>(), coef.get<float>(),
                                                        (uint32_t)nv, (uint32_t)(S / 4), (uint32_t)C);
        FLB_CUDA_CHECK_LAUNCH("bn_dx_vec4_kernel", dev);
        return;
      }
    }
    bn_dx_kernel<T><<<grid_for(total, 256, dev), 256, 0, s>>>(grad_input->data<T>(), dy, x, mean.data<T>(),
                                                              coef.get<T>(), total, C, S, training);
    FLB_CUDA_CHECK_LAUNCH("bn_dx_kernel", dev);
  });
}

void layer_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input, int64_t M,
                        int64_t K, const Tensor* weight, const Tensor* bias, double eps) {
  const char* op = "layer_norm";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&out, "output"}, {&mean, "mean"}, {&rstd, "rstd"},
                         {&input, "input"}, {weight, "weight"}, {bias, "bias"}})
    check_contig(t, dev, op, name);
  if (M == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    if (ln_use_reg<T>(M, K, dev)) {
      ln_reg_launch<false, T>(out.data<T>(), input.data<T>(), nullptr, mean.data<T>(), rstd.data<T>(),
                              opt_data<T>(weight), opt_data<T>(bias), M, K, eps, stream(dev), dev);
      return;
    }
    ln_forward_kernel<T><<<row_grid(M, dev), kRedBlock, 0, stream(dev)>>>(
        out.data<T>(), mean.data<T>(), rstd.data<T>(), input.data<T>(), opt_data<T>(weight), opt_data<T>(bias), M,
        K, eps);
    FLB_CUDA_CHECK_LAUNCH("ln_forward_kernel", dev);
  });
}

void layer_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t M, int64_t K, const Tensor& mean,
                         const Tensor& rstd, const Tensor* weight) {
  const char* op = "layer_norm_backward";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{grad_input, "grad_input"},
                         {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}, {&grad_out, "grad_output"},
                         {&input, "input"}, {weight, "weight"}, {&mean, "mean"}, {&rstd, "rstd"}})
    check_contig(t, dev, op, name);
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const T* dy = grad_out.data<T>();
    bool dx_done = false;
    if (grad_input && ln_use_reg<T>(M, K, dev)) {
      ln_reg_launch<true, T>(grad_input->data<T>(), dy, x, mean.data<T>(), rstd.data<T>(), opt_data<T>(weight),
                             nullptr, M, K, 0.0, s, dev);
      dx_done = true;
    }
    if (grad_input && M > 0 && K > 0 && !dx_done) {
      ln_backward_dx_kernel<T><<<row_grid(M, dev), kRedBlock, 0, s>>>(grad_input->data<T>(), dy, x, mean.data<T>(),
                                                                      rstd.data<T>(), opt_data<T>(weight), M, K);
      FLB_CUDA_CHECK_LAUNCH("ln_backward_dx_kernel", dev);
    }
    if ((grad_weight || grad_bias) && K > 0) {
      // Row splits fixed by the shape: at most 64, as the CPU's blocks.
      const int64_t splits = std::max<int64_t>(1, std::min<int64_t>(M, 64));
      const int64_t rows_per = M > 0 ? ceil_div(M, splits) : 0;
      TempBuffer part((size_t)(2 * K * splits) * sizeof(double), dev);
      dim3 grid((unsigned)ceil_div(K, kColX), (unsigned)splits);
      ln_param_cols_kernel<T><<<grid, dim3(kColX, kColY), 0, s>>>(part.get<double>(), dy, x, mean.data<T>(),
                                                                 rstd.data<T>(), M, K, rows_per, splits);
      FLB_CUDA_CHECK_LAUNCH("ln_param_cols_kernel", dev);
      fold2_kernel<T><<<grid_for(K, 256, dev), 256, 0, s>>>(opt_data<T>(grad_weight), opt_data<T>(grad_bias),
                                                            part.get<double>(), K, splits);
      FLB_CUDA_CHECK_LAUNCH("fold2_kernel", dev);
    }
  });
}

void group_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input, int64_t N,
                        int64_t C, int64_t S, int64_t G, const Tensor* weight, const Tensor* bias, double eps) {
  const char* op = "group_norm";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&out, "output"}, {&mean, "mean"}, {&rstd, "rstd"},
                         {&input, "input"}, {weight, "weight"}, {bias, "bias"}})
    check_contig(t, dev, op, name);
  FLB_CHECK(G > 0 && C % G == 0, ValueError, op, ": ", C, " channels can't be split into ", G, " groups");
  if (N * G == 0) return;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    gn_forward_kernel<T><<<row_grid(N * G, dev), kRedBlock, 0, stream(dev)>>>(
        out.data<T>(), mean.data<T>(), rstd.data<T>(), input.data<T>(), opt_data<T>(weight), opt_data<T>(bias), N, C,
        S, G, eps);
    FLB_CUDA_CHECK_LAUNCH("gn_forward_kernel", dev);
  });
}

void group_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S, int64_t G,
                         const Tensor& mean, const Tensor& rstd, const Tensor* weight) {
  const char* op = "group_norm_backward";
  FLB_CHECK(input.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = input.device().index;
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{grad_input, "grad_input"},
                         {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}, {&grad_out, "grad_output"},
                         {&input, "input"}, {weight, "weight"}, {&mean, "mean"}, {&rstd, "rstd"}})
    check_contig(t, dev, op, name);
  FLB_CHECK(G > 0 && C % G == 0, ValueError, op, ": ", C, " channels can't be split into ", G, " groups");
  if (C == 0) return;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    TempBuffer sums((size_t)(2 * N * C) * sizeof(double), dev);
    double* sdy = sums.get<double>();
    double* sdx = sdy + N * C;
    if (N > 0) {
      gn_backward_kernel<T><<<row_grid(N * G, dev), kRedBlock, 0, s>>>(
          grad_input ? grad_input->data<T>() : nullptr, sdy, sdx, grad_out.data<T>(), input.data<T>(),
          mean.data<T>(), rstd.data<T>(), opt_data<T>(weight), N, C, S, G);
      FLB_CUDA_CHECK_LAUNCH("gn_backward_kernel", dev);
    }
    if (grad_weight || grad_bias) {
      gn_params_kernel<T><<<grid_for(C, 256, dev), 256, 0, s>>>(opt_data<T>(grad_weight), opt_data<T>(grad_bias),
                                                                sdy, sdx, rstd.data<T>(), N, C, G);
      FLB_CUDA_CHECK_LAUNCH("gn_params_kernel", dev);
    }
  });
}

}  // namespace flambeau::cuda
