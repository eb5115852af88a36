// Softmax and log-softmax along one dim, forward and backward, for contiguous float32/float64
// tensors viewed as [outer, n, inner] (the softmax dim in the middle).
//
// Forward, per line of n elements (stride `inner` apart):
//   m = max(x), s = sum(exp(x - m));  softmax: y = exp(x - m) * (1/s);  log: y = (x - m) - log(s)
// (not x - (m + log(s)): for logits in the thousands, m + log(s) rounds to m's ulp, ~6e-5 in float32,
// and the largest outputs, near 0, lose all their digits; x - m is exact there)
// computed in one read pass with the online rescaling trick (a running (max, sum) pair, rescaled
// when the max grows) plus one write pass. A line of all -inf gives NaN, and any NaN or +inf gives
// NaN, exactly as the CPU build and PyTorch.
// Backward: softmax:  dx = y * (g - sum(g * y));  log_softmax: dx = g - exp(y) * sum(g).
//
// Four kernel shapes, picked by the launcher:
//   * inner == 1, float32, n <= 2048 (backward: n <= 1024), many lines (or n <= 32): one warp per
//     line with the line in registers (row_regs.cuh): x read once, y written once; 16-byte chunks
//     when n % 4 == 0 and the pointers are 16-byte aligned. Max pass, then s = sum(exp(x - m)) over
//     the elements that are not -inf, from the registers (same special cases, see the kernel).
//   * inner == 1, n <= 1024 (float64, or float32 lines too long for the above): one warp per line (lines of a class dimension: 10 .. 1024 logits);
//     4 lines per 128-thread block, lanes stride the line, warp-shuffle reductions.
//   * inner == 1, n > 1024, or few lines: one block (512 threads) per line; warp shuffles, then
//     shared memory across warps. Also used for inner > 1 when there are too few lines to give
//     every thread its own (stride-`inner` reads, but the whole GPU busy).
//   * inner > 1 and many lines: one thread per line; adjacent threads take adjacent inner
//     positions, so every step of the loop over n reads consecutive addresses (coalesced).
// Accumulation is in the input type (float for float32), as PyTorch's CUDA kernels do; the CPU
// build uses double, so results agree to rounding, not bit for bit. Reduction order is fixed by
// the shape, so results are deterministic.
#include <cmath>
#include <type_traits>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"
#include "cuda/row_regs.cuh"

namespace flambeau::cuda {

namespace {

constexpr int kWarpBlock = 128;   // 4 warps, 4 lines per block
constexpr int kRowBlock = 512;

template <class T>
struct MS {
  T m, s;
};

// Online (max, sum of exp) update with one element. Mirrors the CPU's arithmetic: each element
// contributes exp(x - m_final); a NaN makes the sum NaN, a +inf makes it NaN (exp(inf - inf)).
template <class T>
__device__ __forceinline__ void ms_add(MS<T>& a, T x) {
  if (x != x) {
    a.s = x;  // NaN poisons the sum (the max ignores NaN, like fmax)
    return;
  }
  if (x == -(T)INFINITY) return;  // contributes exp(-inf) = 0
  if (x > a.m) {
    a.s = a.s * dm::exp(a.m - x) + dm::exp(x - x);  // exp(x - x) is NaN for x = +inf, as on the CPU
    a.m = x;
  } else {
    a.s = a.s + dm::exp(x - a.m);
  }
}

template <class T>
__device__ __forceinline__ MS<T> ms_combine(MS<T> a, MS<T> b) {
  T m = a.m > b.m ? a.m : b.m;
  if (m == -(T)INFINITY) return MS<T>{m, a.s + b.s};  // both empty so far (sums are 0 or NaN)
  T sa = a.m == -(T)INFINITY ? (a.s != a.s ? a.s : (T)0) : a.s * dm::exp(a.m - m);
  T sb = b.m == -(T)INFINITY ? (b.s != b.s ? b.s : (T)0) : b.s * dm::exp(b.m - m);
  return MS<T>{m, sa + sb};
}

template <class T>
__device__ __forceinline__ MS<T> ms_shfl_xor(MS<T> v, int mask) {
  MS<T> o;
  o.m = __shfl_xor_sync(0xffffffffu, v.m, mask);
  o.s = __shfl_xor_sync(0xffffffffu, v.s, mask);
  return o;
}

template <class T>
__device__ __forceinline__ MS<T> warp_ms(MS<T> v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = ms_combine(v, ms_shfl_xor(v, off));
  return v;  // every lane holds the result
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Final per-line constants: the shift m (0 for an all -inf line, as the CPU) and 1/s or log(s).
template <class T>
__device__ __forceinline__ void finish(MS<T> a, bool log, T& m, T& c) {
  m = a.m == -(T)INFINITY ? (T)0 : a.m;
  c = log ? dm::log(a.s) : (T)1 / a.s;
}

template <class T>
__device__ __forceinline__ T fwd_out(T x, T m, T c, bool log) {
  return log ? (x - m) - c : dm::exp(x - m) * c;
}

// Backward's per-line sum: sum(g * y) for softmax, sum(g) for log_softmax.
template <class T>
__device__ __forceinline__ T bwd_term(T g, T y, bool log) { return log ? g : g * y; }
template <class T>
__device__ __forceinline__ T bwd_out(T g, T y, T s, bool log) { return log ? g - dm::exp(y) * s : y * (g - s); }

// ---------------------------------------------------------------------------------------------
// One warp per line (inner == 1)
// ---------------------------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kWarpBlock) softmax_warp_kernel(T* __restrict__ y, const T* __restrict__ x,
                                                                  int64_t lines, int64_t n, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kWarpBlock / 32);
  for (int64_t line = (int64_t)blockIdx.x * (kWarpBlock / 32) + threadIdx.x / 32; line < lines; line += warps_total) {
    const T* xl = x + line * n;
    T* yl = y + line * n;
    MS<T> a{-(T)INFINITY, (T)0};
    for (int64_t k = lane; k < n; k += 32) ms_add(a, xl[k]);
    a = warp_ms(a);
    T m, c;
    finish(a, log, m, c);
    for (int64_t k = lane; k < n; k += 32) yl[k] = fwd_out(xl[k], m, c, log);
  }
}

template <class T>
__global__ void __launch_bounds__(kWarpBlock) softmax_bwd_warp_kernel(T* __restrict__ gi, const T* __restrict__ g,
                                                                      const T* __restrict__ y, int64_t lines,
                                                                      int64_t n, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kWarpBlock / 32);
  for (int64_t line = (int64_t)blockIdx.x * (kWarpBlock / 32) + threadIdx.x / 32; line < lines; line += warps_total) {
    const int64_t base = line * n;
    T s = 0;
    for (int64_t k = lane; k < n; k += 32) s += bwd_term(g[base + k], y[base + k], log);
    s = warp_sum(s);
    for (int64_t k = lane; k < n; k += 32) gi[base + k] = bwd_out(g[base + k], y[base + k], s, log);
  }
}

// ---------------------------------------------------------------------------------------------
// One warp per line, the line in registers (inner == 1, n <= 32 * VEC * CH): x read once, y
// written once. Two passes over the registers: the max (NaN ignored, as fmax), then
// s = sum(exp(x - m)) over the elements that are not -inf (they contribute 0; an all -inf line
// keeps s = 0 as the online code does). Any NaN makes s NaN; a +inf makes m = +inf and
// exp(inf - inf) = NaN, so s NaN: the same special cases as the online (max, sum) pair above.
// Softmax keeps e = exp(x - m) from the sum pass: for a finite m that is exactly the write pass's
// exp(x - m); for m = -inf (all -inf/NaN) or +inf every output is NaN either way (0 * inf,
// 0 * NaN, NaN), as before.
// ---------------------------------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const T o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;  // lanes' maxima are never NaN (NaN never wins a comparison)
  }
  return v;
}

template <class T, int VEC, int CH, bool log>
__global__ void __launch_bounds__(kWarpBlock) softmax_reg_kernel(T* __restrict__ y, const T* __restrict__ x,
                                                                 int64_t lines, int n) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kWarpBlock / 32);
  for (int64_t line = (int64_t)blockIdx.x * (kWarpBlock / 32) + threadIdx.x / 32; line < lines; line += warps_total) {
    T r[CH][VEC];
    rr_load<T, VEC, CH>(r, x + line * n, n, lane, -(T)INFINITY);  // padding: -inf, skipped below
    T mx = -(T)INFINITY;
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) mx = r[c][j] > mx ? r[c][j] : mx;
    mx = warp_max(mx);
    T s = 0;
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const T v = r[c][j];
        const T e = v == -(T)INFINITY ? (T)0 : dm::exp(v - mx);
        s += e;
        if (!log) r[c][j] = e;
      }
    s = warp_sum(s);
    T m, cst;
    finish(MS<T>{mx, s}, log, m, cst);
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) r[c][j] = log ? (r[c][j] - m) - cst : r[c][j] * cst;
    rr_store<T, VEC, CH>(y + line * n, r, n, lane);
  }
}

template <class T, int VEC, int CH, bool log>
__global__ void __launch_bounds__(kWarpBlock) softmax_bwd_reg_kernel(T* __restrict__ gi, const T* __restrict__ g,
                                                                     const T* __restrict__ y, int64_t lines, int n) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = (int64_t)gridDim.x * (kWarpBlock / 32);
  for (int64_t line = (int64_t)blockIdx.x * (kWarpBlock / 32) + threadIdx.x / 32; line < lines; line += warps_total) {
    T rg[CH][VEC], ry[CH][VEC];
    rr_load<T, VEC, CH>(rg, g + line * n, n, lane, (T)0);  // padding: g = y = 0 adds 0 to either sum
    rr_load<T, VEC, CH>(ry, y + line * n, n, lane, (T)0);
    T s = 0;
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) s += bwd_term(rg[c][j], ry[c][j], log);
    s = warp_sum(s);
#pragma unroll
    for (int c = 0; c < CH; ++c)
#pragma unroll
      for (int j = 0; j < VEC; ++j) rg[c][j] = bwd_out(rg[c][j], ry[c][j], s, log);
    rr_store<T, VEC, CH>(gi + line * n, rg, n, lane);
  }
}

// Longest line for the register kernels: forward 64 floats per lane; backward (two arrays, g and
// y) half that. float32 only: the double instances called exp/log's slow-path subroutines with
// values live in registers and spilled to local memory; float64 keeps the kernels below.
template <class T, bool BWD>
constexpr int64_t kRegMaxN = std::is_same_v<T, float> ? 2048 / (BWD ? 2 : 1) : 0;

// Launches the register kernel with the smallest per-lane bound E in {4, 8, 16, 32, 64} that holds
// n (E <= kRegMaxN / 32), 16-byte chunks when every pointer allows them. BWD picks the kernel.
template <class T, bool BWD, int VEC, int E>
void launch_reg_e(T* o, const T* a, const T* b, int64_t lines, int n, bool log, unsigned grid, cudaStream_t s,
                  int dev) {
  if constexpr (BWD) {
    if (log) softmax_bwd_reg_kernel<T, VEC, E / VEC, true><<<grid, kWarpBlock, 0, s>>>(o, a, b, lines, n);
    else softmax_bwd_reg_kernel<T, VEC, E / VEC, false><<<grid, kWarpBlock, 0, s>>>(o, a, b, lines, n);
    FLB_CUDA_CHECK_LAUNCH("softmax_bwd_reg_kernel", dev);
  } else {
    if (log) softmax_reg_kernel<T, VEC, E / VEC, true><<<grid, kWarpBlock, 0, s>>>(o, a, lines, n);
    else softmax_reg_kernel<T, VEC, E / VEC, false><<<grid, kWarpBlock, 0, s>>>(o, a, lines, n);
    FLB_CUDA_CHECK_LAUNCH("softmax_reg_kernel", dev);
  }
}

template <class T, bool BWD, int VEC>
void launch_reg_vec(T* o, const T* a, const T* b, int64_t lines, int n, bool log, unsigned grid, cudaStream_t s,
                    int dev) {
  if (n <= 32 * 4) return launch_reg_e<T, BWD, VEC, 4>(o, a, b, lines, n, log, grid, s, dev);
  if (n <= 32 * 8) return launch_reg_e<T, BWD, VEC, 8>(o, a, b, lines, n, log, grid, s, dev);
  if (n <= 32 * 16) return launch_reg_e<T, BWD, VEC, 16>(o, a, b, lines, n, log, grid, s, dev);
  // (the launcher checked n <= kRegMaxN<T, BWD>)
  if constexpr (kRegMaxN<T, BWD> >= 32 * 32) {
    if (n <= 32 * 32) return launch_reg_e<T, BWD, VEC, 32>(o, a, b, lines, n, log, grid, s, dev);
  }
  if constexpr (kRegMaxN<T, BWD> >= 32 * 64) {
    return launch_reg_e<T, BWD, VEC, 64>(o, a, b, lines, n, log, grid, s, dev);
  }
}

template <class T, bool BWD>
void launch_reg(T* o, const T* a, const T* b, int64_t lines, int64_t n, bool log, int dev, cudaStream_t s) {
  const unsigned grid = grid_for(ceil_div(lines, kWarpBlock / 32) * kWarpBlock, kWarpBlock, dev);
  if (rr_vec_ok<T>(n, {o, a, b}))
    launch_reg_vec<T, BWD, kVec16<T>>(o, a, b, lines, (int)n, log, grid, s, dev);
  else
    launch_reg_vec<T, BWD, 1>(o, a, b, lines, (int)n, log, grid, s, dev);
}

// ---------------------------------------------------------------------------------------------
// One block per line (any inner: element k of line (o, i) is at o*n*inner + k*inner + i)
// ---------------------------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kRowBlock) softmax_block_kernel(T* __restrict__ y, const T* __restrict__ x,
                                                                  int64_t lines, int64_t n, int64_t inner,
                                                                  bool log) {
  __shared__ MS<T> part[kRowBlock / 32];
  __shared__ T consts[2];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const int64_t base = o * n * inner + i;
    MS<T> a{-(T)INFINITY, (T)0};
    for (int64_t k = threadIdx.x; k < n; k += kRowBlock) ms_add(a, x[base + k * inner]);
    a = warp_ms(a);
    if (lane == 0) part[warp] = a;
    __syncthreads();
    if (warp == 0) {
      MS<T> b = lane < kRowBlock / 32 ? part[lane] : MS<T>{-(T)INFINITY, (T)0};
      b = warp_ms(b);
      if (lane == 0) finish(b, log, consts[0], consts[1]);
    }
    __syncthreads();
    const T m = consts[0], c = consts[1];
    for (int64_t k = threadIdx.x; k < n; k += kRowBlock) y[base + k * inner] = fwd_out(x[base + k * inner], m, c, log);
    __syncthreads();  // part/consts are reused by the next line
  }
}

template <class T>
__global__ void __launch_bounds__(kRowBlock) softmax_bwd_block_kernel(T* __restrict__ gi, const T* __restrict__ g,
                                                                      const T* __restrict__ y, int64_t lines,
                                                                      int64_t n, int64_t inner, bool log) {
  __shared__ T part[kRowBlock / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const int64_t base = o * n * inner + i;
    T s = 0;
    for (int64_t k = threadIdx.x; k < n; k += kRowBlock) s += bwd_term(g[base + k * inner], y[base + k * inner], log);
    s = warp_sum(s);
    if (lane == 0) part[warp] = s;
    __syncthreads();
    T tot = 0;
#pragma unroll
    for (int w = 0; w < kRowBlock / 32; ++w) tot += part[w];  // same order in every thread
    for (int64_t k = threadIdx.x; k < n; k += kRowBlock) {
      const int64_t j = base + k * inner;
      gi[j] = bwd_out(g[j], y[j], tot, log);
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------------------------------------
// One thread per line (inner > 1, many lines)
// ---------------------------------------------------------------------------------------------

template <class T>
__global__ void softmax_column_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t lines, int64_t n,
                                      int64_t inner, bool log) {
  for (int64_t line = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; line < lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const int64_t base = o * n * inner + i;
    MS<T> a{-(T)INFINITY, (T)0};
    for (int64_t k = 0; k < n; ++k) ms_add(a, x[base + k * inner]);
    T m, c;
    finish(a, log, m, c);
    for (int64_t k = 0; k < n; ++k) y[base + k * inner] = fwd_out(x[base + k * inner], m, c, log);
  }
}

template <class T>
__global__ void softmax_bwd_column_kernel(T* __restrict__ gi, const T* __restrict__ g, const T* __restrict__ y,
                                          int64_t lines, int64_t n, int64_t inner, bool log) {
  for (int64_t line = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; line < lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const int64_t base = o * n * inner + i;
    T s = 0;
    for (int64_t k = 0; k < n; ++k) s += bwd_term(g[base + k * inner], y[base + k * inner], log);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = base + k * inner;
      gi[j] = bwd_out(g[j], y[j], s, log);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers
// ---------------------------------------------------------------------------------------------

struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};

Lines lines_of(const Tensor& t, int64_t dim, const char* op) {
  FLB_CHECK((t.dim() == 0 && (dim == 0 || dim == -1)) || (dim >= 0 && dim < t.dim()), IndexError, op, ": dim ", dim,
            " out of range for a ", t.dim(), "-d tensor");
  Lines l;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < dim) l.outer *= t.sizes[d];
    else if (d == dim) l.n = t.sizes[d];
    else l.inner *= t.sizes[d];
  }
  return l;
}

enum class Shape3 { Reg, Warp, Block, Column };

template <class T, bool BWD>
Shape3 pick(const Lines& L, int dev) {
  const int64_t lines = L.outer * L.inner;
  const int64_t sms = multiprocessor_count(dev);
  if (L.inner == 1) {
    // The register kernels: a row per warp held in registers (row_regs.cuh).
    if ((L.n <= 32 || lines >= sms * 4) && L.n <= kRegMaxN<T, BWD>) return Shape3::Reg;
    if (L.n <= 1024 && lines >= sms * 4) return Shape3::Warp;  // (few lines: a block each is faster)
    return Shape3::Block;
  }
  // inner > 1: a thread per line if that fills the GPU, else a block per line.
  return lines >= sms * 256 || L.n <= 4 ? Shape3::Column : Shape3::Block;
}

void check_softmax_tensor(const Tensor& t, int dev, const char* op, const char* name) {
  check_on_device(t, dev, op, name);
  FLB_CHECK(t.is_contiguous(), ValueError, op, ": ", name, " must be contiguous (CUDA kernel precondition), shape ",
            shape_str(t.sizes), " strides ", shape_str(t.strides));
}

}  // namespace

void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  FLB_CHECK(in.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = in.device().index;
  check_softmax_tensor(in, dev, op, "input");
  check_softmax_tensor(out, dev, op, "output");
  check_same_shape(out, in, op);
  FLB_CHECK(out.dtype == in.dtype, TypeError, op, ": output dtype differs from input dtype");
  Lines L = lines_of(in, dim, op);
  const int64_t lines = L.outer * L.inner;
  if (lines == 0 || L.n == 0) return;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(in.dtype, op, [&] {
    using T = scalar_t;
    switch (pick<T, false>(L, dev)) {
      case Shape3::Reg:
        if constexpr (kRegMaxN<T, false> > 0)
          launch_reg<T, false>(out.data<T>(), in.data<T>(), nullptr, lines, L.n, log, dev, s);
        break;
      case Shape3::Warp: {
        unsigned grid = grid_for(ceil_div(lines, kWarpBlock / 32) * kWarpBlock, kWarpBlock, dev);
        softmax_warp_kernel<T><<<grid, kWarpBlock, 0, s>>>(out.data<T>(), in.data<T>(), lines, L.n, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_warp_kernel", dev);
        break;
      }
      case Shape3::Block: {
        unsigned grid = (unsigned)std::min<int64_t>(lines, (int64_t)multiprocessor_count(dev) * 8);
        softmax_block_kernel<T><<<grid, kRowBlock, 0, s>>>(out.data<T>(), in.data<T>(), lines, L.n, L.inner, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_block_kernel", dev);
        break;
      }
      case Shape3::Column: {
        softmax_column_kernel<T><<<grid_for(lines, 256, dev), 256, 0, s>>>(out.data<T>(), in.data<T>(), lines, L.n,
                                                                          L.inner, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_column_kernel", dev);
        break;
      }
    }
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  FLB_CHECK(out.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = out.device().index;
  check_softmax_tensor(grad_in, dev, op, "grad_input");
  check_softmax_tensor(grad_out, dev, op, "grad_output");
  check_softmax_tensor(out, dev, op, "output");
  check_same_shape(grad_in, out, op);
  check_same_shape(grad_out, out, op);
  FLB_CHECK(grad_in.dtype == out.dtype && grad_out.dtype == out.dtype, TypeError, op, ": dtypes differ");
  Lines L = lines_of(out, dim, op);
  const int64_t lines = L.outer * L.inner;
  if (lines == 0 || L.n == 0) return;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(out.dtype, op, [&] {
    using T = scalar_t;
    switch (pick<T, true>(L, dev)) {
      case Shape3::Reg:
        if constexpr (kRegMaxN<T, true> > 0)
          launch_reg<T, true>(grad_in.data<T>(), grad_out.data<T>(), out.data<T>(), lines, L.n, log, dev, s);
        break;
      case Shape3::Warp: {
        unsigned grid = grid_for(ceil_div(lines, kWarpBlock / 32) * kWarpBlock, kWarpBlock, dev);
        softmax_bwd_warp_kernel<T><<<grid, kWarpBlock, 0, s>>>(grad_in.data<T>(), grad_out.data<T>(), out.data<T>(),
                                                               lines, L.n, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_bwd_warp_kernel", dev);
        break;
      }
      case Shape3::Block: {
        unsigned grid = (unsigned)std::min<int64_t>(lines, (int64_t)multiprocessor_count(dev) * 8);
        softmax_bwd_block_kernel<T><<<grid, kRowBlock, 0, s>>>(grad_in.data<T>(), grad_out.data<T>(), out.data<T>(),
                                                               lines, L.n, L.inner, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_bwd_block_kernel", dev);
        break;
      }
      case Shape3::Column: {
        softmax_bwd_column_kernel<T><<<grid_for(lines, 256, dev), 256, 0, s>>>(
            grad_in.data<T>(), grad_out.data<T>(), out.data<T>(), lines, L.n, L.inner, log);
        FLB_CUDA_CHECK_LAUNCH("softmax_bwd_column_kernel", dev);
        break;
      }
    }
  });
}

}  // namespace flambeau::cuda
