// Loss kernels on CUDA, forward and backward: fused softmax-cross-entropy (class indices with
// weight / ignore_index / label_smoothing, and class probabilities), NLL, the pointwise losses
// (MSE, L1, SmoothL1, Huber, BCE, BCEWithLogits, KLDiv with and without log target),
// multi-margin and cosine-embedding. The twins of csrc/cpu/loss.cpp, with its formulas: the
// stable log-sum-exp (row max m, NaN anywhere makes m NaN, an all -inf row uses m = 0, then
// l = log(sum exp(x - m)) in double, lse = m + l, and the loss (m - x_t) + l formed before any large
// value is added), PyTorch's weighted mean (divided by the sum of target weights), ignored rows
// contributing 0, BCE's log clamp at -100 and its input/target range flags.
//
// Layout and parallelisation. Class-scored inputs are contiguous [N, C, inner]; row i = (n, j)
// has its C logits at n*C*inner + j + c*inner.
//   * Row passes (cross-entropy forward, NLL, class-probability forward/backward, multi-margin,
//     cosine): for inner == 1 and cross-entropy, one warp per row (lanes stride the C contiguous
//     logits, shuffle reductions); index cross-entropy with C % 4 == 0 (float; % 2 double),
//     16-byte aligned rows and C <= 1024 floats keeps the row in registers (16-byte loads, one
//     read of the logits); everywhere else one thread per row, which for inner > 1 makes
//     adjacent threads read adjacent positions j (coalesced).
//   * Index cross-entropy backward, inner == 1: one warp per row (row coefficients once, 16-byte
//     packs when aligned); inner > 1 and NLL backward: one thread per element, which recomputes
//     its row's few coefficients.
//   * Pointwise losses: contiguous same-shape 16-byte-aligned operands use 16-byte packs; else
//     one thread per element of the broadcast shape, OffsetCalc mapping the linear index to
//     offsets in the (possibly broadcast) inputs; outputs are contiguous.
//   * Reductions (Sum / Mean, and the total target weight): each block folds its threads' double
//     partials in a fixed order (cuda/block_reduce.cuh) and writes one partial; the grid size is
//     fixed by the shape, and a one-warp kernel folds the partials (lane k: k, k+32, ... in
//     order, then a fixed butterfly) and writes the 0-d loss. Deterministic, no atomics (except
//     an integer OR for BCE's range flags).
// Host results: total_weight (cross-entropy, NLL) and BCE's range flags are copied back with one
// synchronous D2H copy each (the op API returns them as host values).
//
// Summation order differs from the CPU's blocks, so reduced losses agree to rounding; the
// per-element gradient formulas are the CPU's (its scalar path for inner == 1).
//
// Verified on an H100 (tools/check_cuda_losses.py, the CUDA loss tests, bench_cuda.py; 2026-11-23).
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <limits>
#include "core/view.h"
#include "cuda/block_reduce.cuh"
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

constexpr int kMaxRedBlocks = 1024;

// Blocks of kRedBlock threads for `work` items (one item per thread), fixed by the shape.
inline unsigned red_blocks(int64_t work, int64_t items_per_block = kRedBlock) {
  return (unsigned)shape_splits(work, items_per_block, kMaxRedBlocks);
}

// ---------------------------------------------------------------- shared finishing
// loss[0] = mean ? s0 / (use_s1 ? s1 : denom) : s0 over the block partials (2 per block, in order);
// tw_out (may be null) = s1.
template <class T>
__global__ void loss_final_kernel(T* loss, double* tw_out, const double* part, int64_t nblocks, bool write_loss,
                                  bool mean, bool use_s1, double denom) {
  // One warp (launched with 32 threads): lane k adds partials k, k+32, ... in order, then a fixed
  // butterfly. Deterministic (fixed by nblocks); the loads of a lane are independent, so the fold
  // costs a few L2 round trips instead of one per partial.
  if (blockIdx.x != 0 || threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  double s0 = 0, s1 = 0;
#pragma unroll 8
  for (int64_t b = lane; b < nblocks; b += 32) {
    s0 += part[2 * b];
    s1 += part[2 * b + 1];
  }
  s0 = warp_allsum(s0);
  s1 = warp_allsum(s1);
  if (lane != 0) return;
  if (tw_out) *tw_out = s1;
  if (write_loss) {
    double v = s0;
    if (mean) v = v / (use_s1 ? s1 : denom);
    *loss = (T)v;
  }
}

// 16 bytes of T (4 floats / 2 doubles): one LDG.128 / STG.128.
template <class T>
struct alignas(16) Pack {
  static constexpr int kN = 16 / (int)sizeof(T);
  T v[kN];
};

inline bool aligned16(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Block-level fold of (a, b) and one write of the block's partial.
__device__ __forceinline__ void write_block_partial(double a, double b, double* part, double* sh) {
  double v[2] = {a, b};
  block_allsum<2>(v, sh);
  if (threadIdx.x == 0) {
    part[2 * blockIdx.x] = v[0];
    part[2 * blockIdx.x + 1] = v[1];
  }
}

// Launches the final fold and (optionally) reads s1 back to the host.
template <class T>
void finish_reduction(const Tensor* loss, double* total_weight, const double* part, int64_t nblocks, bool mean,
                      bool use_s1, double denom, int dev, cudaStream_t s) {
  TempBuffer tw(total_weight ? sizeof(double) : 0, dev);
  loss_final_kernel<T><<<1, 32, 0, s>>>(loss ? loss->data<T>() : nullptr, total_weight ? tw.get<double>() : nullptr,
                                        part, nblocks, loss != nullptr, mean, use_s1, denom);
  FLB_CUDA_CHECK_LAUNCH("loss_final_kernel", dev);
  if (total_weight) memcpy_d2h(total_weight, tw.get<double>(), sizeof(double), dev);
}

// Sum of the class weights (double, block-ordered): the label-smoothing term's W.
template <class T>
__global__ void __launch_bounds__(kRedBlock) weight_sum_kernel(double* out, const T* w, int64_t C) {
  __shared__ double sh[32];
  double v[1] = {0.0};
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) v[0] += (double)w[c];
  block_allsum<1>(v, sh);
  if (threadIdx.x == 0) *out = v[0];
}

// ---------------------------------------------------------------- cross-entropy, index targets
// Row statistics over L lanes (L = 32: a warp; L = 1: one thread): max with NaN propagation
// (all -inf -> 0), sum of exp(x - m) in double, and (smoothing) sum_c w_c (m - x_c).
template <int L, class T>
__device__ __forceinline__ void row_lse(const T* xr, int64_t stride, int64_t C, const T* w, bool smooth, int lane,
                                        T& m_out, double& l_out, double& sacc_out) {
  T mx = -(T)INFINITY;
  bool nan = false;
  for (int64_t c = lane; c < C; c += L) {
    const T v = xr[c * stride];
    nan |= v != v;
    mx = v > mx ? v : mx;
  }
  if (L > 1) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const T o = __shfl_xor_sync(0xffffffffu, mx, off);
      mx = o > mx ? o : mx;
    }
    nan = __any_sync(0xffffffffu, nan);
  }
  if (nan) mx = (T)NAN;
  if (mx == -(T)INFINITY) mx = T(0);
  double s = 0, sacc = 0;
  for (int64_t c = lane; c < C; c += L) {
    const T v = xr[c * stride];
    s += (double)dm::exp(v - mx);
    if (smooth) sacc += w ? (double)(w[c] * (mx - v)) : (double)(mx - v);
  }
  if (L > 1) {
    s = warp_allsum(s);
    if (smooth) sacc = warp_allsum(sacc);
  }
  m_out = mx;
  l_out = log(s);
  sacc_out = sacc;
}

// Forward of one row given its statistics; returns the loss and sets wt (0 for ignored rows).
template <class T>
__device__ __forceinline__ double ce_row_loss(int64_t t, double xt, double m, double l, double sacc,
                                              const T* w, double W, double ls, int64_t ignore, int64_t C,
                                              double& wt) {
  if (t == ignore) {
    wt = 0;
    return 0.0;
  }
  wt = w ? (double)w[t] : 1.0;
  const double keep = 1.0 - ls, smooth = ls / (double)C;
  double r = keep * wt * ((m - xt) + l);
  if (ls > 0) r += smooth * (W * l + sacc);
  return r;
}

// L = 32: one warp per row (inner == 1); L = 1: one thread per row. Grid-stride over rows.
template <int L, class T>
__global__ void __launch_bounds__(kRedBlock)
ce_forward_kernel(T* __restrict__ out, double* __restrict__ lse, double* __restrict__ part, const T* __restrict__ x,
                  const int64_t* __restrict__ tg, const T* __restrict__ w, const double* __restrict__ Wsum,
                  int64_t rows, int64_t C, int64_t inner, double ls, int64_t ignore, bool none) {
  __shared__ double sh[2 * 32];
  const int lane = L > 1 ? (threadIdx.x & 31) : 0;
  const int64_t per_block = kRedBlock / L;
  const int64_t first = (int64_t)blockIdx.x * per_block + threadIdx.x / L, step = (int64_t)gridDim.x * per_block;
  const double W = ls > 0 ? (w ? *Wsum : (double)C) : 0.0;
  double acc = 0, wacc = 0;
  // Warps loop together (the row count per warp is uniform within the warp).
  for (int64_t i = first; i < rows; i += step) {
    const int64_t n = i / inner, j = i - n * inner;
    const T* xr = x + n * C * inner + j;
    T m;
    double l, sacc;
    row_lse<L, T>(xr, inner, C, w, ls > 0, lane, m, l, sacc);
    if (lane == 0) {
      lse[i] = (double)m + l;
      const int64_t t = tg[i];
      const double xt = (t >= 0 && t < C) ? (double)xr[t * inner] : 0.0;
      double wt;
      const double r = ce_row_loss<T>(t, xt, (double)m, l, sacc, w, W, ls, ignore, C, wt);
      if (none) out[i] = (T)r;
      acc += r;
      wacc += wt;
    }
  }
  write_block_partial(acc, wacc, part, sh);
}

// inner == 1, C % Pack::kN == 0, 16-byte aligned logits, C <= 32 * V * Pack::kN: one warp per row,
// the row read once from memory into registers (V packs per lane, 16-byte loads), then the same
// statistics as row_lse<32> from the registers: NaN-propagating max, sum of exp(x - m) added
// in double per element, the smoothing sum, and ce_row_loss. Grid-stride over rows as above.
template <int V, class T>
__global__ void __launch_bounds__(kRedBlock)
ce_forward_vec_kernel(T* __restrict__ out, double* __restrict__ lse, double* __restrict__ part,
                      const T* __restrict__ x, const int64_t* __restrict__ tg, const T* __restrict__ w,
                      const double* __restrict__ Wsum, int64_t rows, int64_t C, double ls, int64_t ignore,
                      bool none) {
  constexpr int P = Pack<T>::kN;
  __shared__ double sh[2 * 32];
  const int lane = threadIdx.x & 31;
  const int64_t per_block = kRedBlock / 32;
  const int64_t first = (int64_t)blockIdx.x * per_block + threadIdx.x / 32, step = (int64_t)gridDim.x * per_block;
  const double W = ls > 0 ? (w ? *Wsum : (double)C) : 0.0;
  const bool smooth = ls > 0;
  const int np = (int)(C / P);
  double acc = 0, wacc = 0;
  for (int64_t i = first; i < rows; i += step) {
    const T* xr = x + i * C;
    const Pack<T>* xp = reinterpret_cast<const Pack<T>*>(xr);
    Pack<T> r[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int q = lane + 32 * k;
      if (q < np) r[k] = xp[q];
    }
    T mx = -(T)INFINITY;
    bool nan = false;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      if (lane + 32 * k < np) {
#pragma unroll
        for (int e = 0; e < P; ++e) {
          const T v = r[k].v[e];
          nan |= v != v;
          mx = v > mx ? v : mx;
        }
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const T o = __shfl_xor_sync(0xffffffffu, mx, off);
      mx = o > mx ? o : mx;
    }
    nan = __any_sync(0xffffffffu, nan);
    if (nan) mx = (T)NAN;
    if (mx == -(T)INFINITY) mx = T(0);
    double s = 0, sacc = 0;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int q = lane + 32 * k;
      if (q < np) {
#pragma unroll
        for (int e = 0; e < P; ++e) {
          const T v = r[k].v[e];
          s += (double)dm::exp(v - mx);
          if (smooth) sacc += w ? (double)(w[q * P + e] * (mx - v)) : (double)(mx - v);
        }
      }
    }
    s = warp_allsum(s);
    if (smooth) sacc = warp_allsum(sacc);
    if (lane == 0) {
      const double l = log(s);
      lse[i] = (double)mx + l;
      const int64_t t = tg[i];
      const double xt = (t >= 0 && t < C) ? (double)xr[t] : 0.0;
      double wt;
      const double rl = ce_row_loss<T>(t, xt, (double)mx, l, sacc, w, W, ls, ignore, C, wt);
      if (none) out[i] = (T)rl;
      acc += rl;
      wacc += wt;
    }
  }
  write_block_partial(acc, wacc, part, sh);
}

// One thread per element of grad_in [N, C, inner]:
//   g = A p + B - [w && ls] scale*smooth*w_c - (c == t) K,  p = exp(x - lse).
template <class T>
__global__ void ce_backward_kernel(T* __restrict__ gi, const T* __restrict__ go, const T* __restrict__ x,
                                   const int64_t* __restrict__ tg, const double* __restrict__ lse,
                                   const T* __restrict__ w, const double* __restrict__ Wsum, int64_t total, int64_t C,
                                   int64_t inner, double ls, int64_t ignore, bool none, double norm) {
  const double W = w ? *Wsum : (double)C;
  const double keep = 1.0 - ls, smooth = ls / (double)C;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = e / (C * inner), rem = e - n * C * inner, c = rem / inner, j = rem - c * inner;
    const int64_t i = n * inner + j, t = tg[i];
    if (t == ignore) {
      gi[e] = T(0);
      continue;
    }
    const double scale = (double)(none ? go[i] : go[0]) * norm;
    const double wt = w ? (double)w[t] : 1.0;
    const double A = scale * (keep * wt + smooth * W);
    const double B = w ? 0.0 : -scale * smooth;
    const T p = dm::exp((T)((double)x[e] - lse[i]));
    T g = (T)(A * (double)p + B);
    if (w && ls > 0) g -= (T)(scale * smooth) * w[c];
    if (c == t) g = (T)((double)g - scale * keep * wt);
    gi[e] = g;
  }
}

// inner == 1: one warp per row of grad_in; the row's coefficients (target, scale, A, B, lse) are
// read once per row, the logits read once and the gradient written once (16-byte packs when VEC:
// C % Pack::kN == 0 and x, gi 16-byte aligned; else one element per lane). Per element the
// formula of ce_backward_kernel, operation for operation.
template <bool VEC, class T>
__global__ void __launch_bounds__(256)
ce_backward_rows_kernel(T* __restrict__ gi, const T* __restrict__ go, const T* __restrict__ x,
                        const int64_t* __restrict__ tg, const double* __restrict__ lse, const T* __restrict__ w,
                        const double* __restrict__ Wsum, int64_t rows, int64_t C, double ls, int64_t ignore,
                        bool none, double norm) {
  constexpr int P = Pack<T>::kN;
  const double W = w ? *Wsum : (double)C;
  const double keep = 1.0 - ls, smooth = ls / (double)C;
  const int lane = threadIdx.x & 31;
  const int64_t first = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int64_t step = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const bool wsmooth = w && ls > 0;
  for (int64_t i = first; i < rows; i += step) {
    const int64_t t = tg[i];
    const T* xr = x + i * C;
    T* gr = gi + i * C;
    if (t == ignore) {
      if (VEC) {
        Pack<T> z;
#pragma unroll
        for (int e = 0; e < P; ++e) z.v[e] = T(0);
        for (int64_t q = lane; q < C / P; q += 32) reinterpret_cast<Pack<T>*>(gr)[q] = z;
      } else {
        for (int64_t c = lane; c < C; c += 32) gr[c] = T(0);
      }
      continue;
    }
    const double scale = (double)(none ? go[i] : go[0]) * norm;
    const double wt = w ? (double)w[t] : 1.0;
    const double A = scale * (keep * wt + smooth * W);
    const double B = w ? 0.0 : -scale * smooth;
    const double K = scale * keep * wt;
    const T sw = (T)(scale * smooth);
    const double l = lse[i];
    auto elem = [&](T xv, int64_t c) -> T {
      const T p = dm::exp((T)((double)xv - l));
      T g = (T)(A * (double)p + B);
      if (wsmooth) g -= sw * w[c];
      if (c == t) g = (T)((double)g - K);
      return g;
    };
    if (VEC) {
      const int64_t np = C / P;
      const Pack<T>* xp = reinterpret_cast<const Pack<T>*>(xr);
      Pack<T>* gp = reinterpret_cast<Pack<T>*>(gr);
      // Two packs per lane per step: two 16-byte loads in flight before the math.
      for (int64_t q = lane; q < np; q += 64) {
        const bool has2 = q + 32 < np;
        const Pack<T> a = xp[q];
        Pack<T> b = a;
        if (has2) b = xp[q + 32];
        Pack<T> ga, gb;
#pragma unroll
        for (int e = 0; e < P; ++e) ga.v[e] = elem(a.v[e], q * P + e);
        gp[q] = ga;
        if (has2) {
#pragma unroll
          for (int e = 0; e < P; ++e) gb.v[e] = elem(b.v[e], (q + 32) * P + e);
          gp[q + 32] = gb;
        }
      }
    } else {
      for (int64_t c = lane; c < C; c += 32) gr[c] = elem(xr[c], c);
    }
  }
}

// ---------------------------------------------------------------- cross-entropy, probabilities
// L = 32 (inner == 1): one warp per row, lanes stride the contiguous logits and targets; L = 1:
// one thread per row (inner > 1: adjacent threads read adjacent positions). Same per-element
// formulas and double sums; the warp's sums are folded by a fixed butterfly.
template <int L, class T>
__global__ void __launch_bounds__(kRedBlock)
ce_prob_forward_kernel(T* __restrict__ out, double* __restrict__ lse, double* __restrict__ part,
                       const T* __restrict__ x, const T* __restrict__ tp, const T* __restrict__ w, int64_t rows,
                       int64_t C, int64_t inner, double ls, bool none) {
  __shared__ double sh[2 * 32];
  const double keep = 1.0 - ls, smooth = ls / (double)C;
  const int lane = L > 1 ? (threadIdx.x & 31) : 0;
  const int64_t per_block = kRedBlock / L;
  const int64_t first = (int64_t)blockIdx.x * per_block + threadIdx.x / L, step = (int64_t)gridDim.x * per_block;
  double acc = 0;
  for (int64_t i = first; i < rows; i += step) {
    const int64_t n = i / inner, j = i - n * inner, base = n * C * inner + j;
    T m;
    double l, sacc;
    row_lse<L, T>(x + base, inner, C, nullptr, false, lane, m, l, sacc);
    double r = 0;
    for (int64_t c = lane; c < C; c += L) {
      double a = (double)tp[base + c * inner] * keep + smooth;
      if (w) a *= (double)w[c];
      r += a * (((double)m - (double)x[base + c * inner]) + l);
    }
    if (L > 1) r = warp_allsum(r);
    if (lane == 0) {
      lse[i] = (double)m + l;
      if (none) out[i] = (T)r;
      acc += r;
    }
  }
  write_block_partial(acc, 0.0, part, sh);
}

// L as in ce_prob_forward_kernel (grid of rows * L threads).
template <int L, class T>
__global__ void ce_prob_backward_kernel(T* __restrict__ gi, T* __restrict__ gt, const T* __restrict__ go,
                                        const T* __restrict__ x, const T* __restrict__ tp,
                                        const double* __restrict__ lse, const T* __restrict__ w, int64_t rows,
                                        int64_t C, int64_t inner, double ls, bool none, double norm) {
  const double keep = 1.0 - ls, smooth = ls / (double)C;
  const int lane = L > 1 ? (threadIdx.x & 31) : 0;
  const int64_t first = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / L;
  const int64_t step = ((int64_t)gridDim.x * blockDim.x) / L;
  for (int64_t i = first; i < rows; i += step) {
    const int64_t n = i / inner, j = i - n * inner, base = n * C * inner + j;
    const double scale = (double)(none ? go[i] : go[0]) * norm;
    const double l = lse[i];
    double asum = 0;
    for (int64_t c = lane; c < C; c += L) {
      double a = (double)tp[base + c * inner] * keep + smooth;
      if (w) a *= (double)w[c];
      asum += a;
    }
    if (L > 1) asum = warp_allsum(asum);
    for (int64_t c = lane; c < C; c += L) {
      const int64_t k = base + c * inner;
      const double wc = w ? (double)w[c] : 1.0;
      if (gi) {
        const double a = ((double)tp[k] * keep + smooth) * wc;
        const T p = dm::exp((T)((double)x[k] - l));
        gi[k] = (T)(scale * ((double)p * asum - a));
      }
      if (gt) gt[k] = (T)(scale * keep * wc * (l - (double)x[k]));
    }
  }
}

// ---------------------------------------------------------------- NLL
template <class T>
__global__ void __launch_bounds__(kRedBlock)
nll_forward_kernel(T* __restrict__ out, double* __restrict__ part, const T* __restrict__ x,
                   const int64_t* __restrict__ tg, const T* __restrict__ w, int64_t rows, int64_t C, int64_t inner,
                   int64_t ignore, bool none) {
  __shared__ double sh[2 * 32];
  double acc = 0, wacc = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < rows; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = tg[i];
    if (t == ignore) {
      if (none) out[i] = T(0);
      continue;
    }
    const int64_t n = i / inner, j = i - n * inner;
    const T wt = w ? w[t] : T(1);
    const T r = -x[(n * C + t) * inner + j] * wt;
    if (none) out[i] = r;
    acc += (double)r;
    wacc += (double)wt;
  }
  write_block_partial(acc, wacc, part, sh);
}

template <class T>
__global__ void nll_backward_kernel(T* __restrict__ gi, const T* __restrict__ go, const int64_t* __restrict__ tg,
                                    const T* __restrict__ w, int64_t total, int64_t C, int64_t inner, int64_t ignore,
                                    bool none, double norm) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = e / (C * inner), rem = e - n * C * inner, c = rem / inner, j = rem - c * inner;
    const int64_t i = n * inner + j, t = tg[i];
    if (t == ignore || t != c) {
      gi[e] = T(0);
      continue;
    }
    const double wt = w ? (double)w[t] : 1.0;
    gi[e] = (T)(-wt * (double)(none ? go[i] : go[0]) * norm);
  }
}

// ---------------------------------------------------------------- pointwise losses
template <class T>
__device__ __forceinline__ T log_sigmoid(T x) {
  const T mn = x < T(0) ? x : T(0);
  return mn - dm::log1p(dm::exp(-dm::fabs(x)));
}

template <class T>
__device__ __forceinline__ T point_value(PointLoss K, T x, T t, T pw, bool hpw, T param, int& bad) {
  switch (K) {
    case PointLoss::MSE: {
      const T d = x - t;
      return d * d;
    }
    case PointLoss::L1: return dm::fabs(x - t);
    case PointLoss::SmoothL1: {
      const T z = dm::fabs(x - t);
      const T zc = z < param ? z : param;
      return T(0.5) * zc * zc / param + (z - zc);
    }
    case PointLoss::Huber: {
      const T z = dm::fabs(x - t);
      const T zc = z < param ? z : param;
      return T(0.5) * zc * zc + param * (z - zc);
    }
    case PointLoss::BCE: {
      bad |= (!(x >= T(0) && x <= T(1)) ? 1 : 0) | (!(t >= T(0) && t <= T(1)) ? 2 : 0);
      T l1 = dm::log1p(-x), l0 = dm::log(x);
      l1 = l1 < T(-100) ? T(-100) : l1;
      l0 = l0 < T(-100) ? T(-100) : l0;
      return (t - T(1)) * l1 - t * l0;
    }
    case PointLoss::BCEWithLogits: {
      T ls = log_sigmoid(x);
      if (hpw) ls *= (pw - T(1)) * t + T(1);
      return (T(1) - t) * x - ls;
    }
    case PointLoss::KLDiv: {
      const T xl = (t == T(0) && !(t != t)) ? T(0) : t * dm::log(t);
      return xl - t * x;
    }
    default: return dm::exp(t) * (t - x);  // KLDivLogTarget
  }
}

template <class T>
__device__ __forceinline__ void point_grad(PointLoss K, T x, T t, T pw, bool hpw, T param, T& gx, T& gt) {
  switch (K) {
    case PointLoss::MSE:
      gx = T(2) * (x - t);
      gt = -gx;
      return;
    case PointLoss::L1: {
      const T d = x - t;
      const T sg = (T)(d > T(0)) - (T)(d < T(0));
      gx = d != d ? d : sg;
      gt = -gx;
      return;
    }
    case PointLoss::SmoothL1: {
      const T one = param / param;
      T q = (x - t) / param;
      q = q < -one ? -one : q;
      gx = q > one ? one : q;
      gt = -gx;
      return;
    }
    case PointLoss::Huber: {
      T d = x - t;
      d = d < -param ? -param : d;
      gx = d > param ? param : d;
      gt = -gx;
      return;
    }
    case PointLoss::BCE: {
      T den = (T(1) - x) * x;
      den = den < T(1e-12) ? T(1e-12) : den;
      gx = (x - t) / den;
      gt = -dm::log(x / (T(1) - x));
      return;
    }
    case PointLoss::BCEWithLogits: {
      const T sg = T(1) / (T(1) + dm::exp(-x));
      if (hpw) {
        const T ls = log_sigmoid(x);
        const T pt = pw * t;
        gx = (pt + T(1) - t) * sg - pt;
        gt = (ls - x) - ls * pw;
      } else {
        gx = sg - t;
        gt = -x;
      }
      return;
    }
    case PointLoss::KLDiv:
      gx = -t;
      gt = t == T(0) ? (T)NAN : dm::log(t) + T(1) - x;
      return;
    default: {  // KLDivLogTarget
      const T e = dm::exp(t);
      gx = -e;
      gt = e * (t - x + T(1));
      return;
    }
  }
}

// oc over (x, t, w, pw) (absent ones alias x); out contiguous (None) or null.
template <class T>
__global__ void __launch_bounds__(kRedBlock)
point_forward_kernel(T* __restrict__ out, double* __restrict__ part, int* __restrict__ bad_flag, OffsetCalc<4> oc,
                     const T* x, const T* t, const T* w, const T* pw, int64_t n, PointLoss K, T param) {
  __shared__ double sh[2 * 32];
  double acc = 0, wacc = 0;
  int bad = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[4];
    oc.get(i, off);
    T v = point_value<T>(K, x[off[0]], t[off[1]], pw ? pw[off[3]] : T(0), pw != nullptr, param, bad);
    if (w) {
      const T wk = w[off[2]];
      v *= wk;
      wacc += (double)wk;
    }
    if (out) out[i] = v;
    else acc += (double)v;
  }
  if (bad) atomicOr(bad_flag, bad);
  if (part) write_block_partial(acc, wacc, part, sh);
}

// oc over (x, t, w, pw); gx/gt contiguous (may be null); grad elementwise (contiguous) unless
// g_scalar (one broadcast value).
template <class T>
__global__ void point_backward_kernel(T* __restrict__ gxo, T* __restrict__ gto, const T* __restrict__ g,
                                      bool g_scalar, OffsetCalc<4> oc, const T* x, const T* t, const T* w,
                                      const T* pw, int64_t n, PointLoss K, T param, T tscale) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[4];
    oc.get(i, off);
    T gx, gt;
    point_grad<T>(K, x[off[0]], t[off[1]], pw ? pw[off[3]] : T(0), pw != nullptr, param, gx, gt);
    T f = (g_scalar ? g[0] : g[i]) * tscale;
    if (w) f *= w[off[2]];
    if (gxo) gxo[i] = gx * f;
    if (gto) gto[i] = gt * f;
  }
}

// Contiguous, same-shape operands, all 16-byte aligned: the same per-element work as
// point_forward_kernel on 16-byte packs (x, t, w, pw and, for None, out), the n % kN tail
// element by element. Each thread still adds its own elements' double values in its own order
// and the block fold is the same, so the reduction stays fixed by the shape.
template <class T>
__global__ void __launch_bounds__(kRedBlock)
point_forward_vec_kernel(T* __restrict__ out, double* __restrict__ part, int* __restrict__ bad_flag,
                         const T* __restrict__ x, const T* __restrict__ t, const T* __restrict__ w,
                         const T* __restrict__ pw, int64_t n, PointLoss K, T param) {
  constexpr int P = Pack<T>::kN;
  __shared__ double sh[2 * 32];
  double acc = 0, wacc = 0;
  int bad = 0;
  const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t np = n / P;
  const bool hpw = pw != nullptr;
  for (int64_t q = tid; q < np; q += stride) {
    const Pack<T> xv = reinterpret_cast<const Pack<T>*>(x)[q];
    const Pack<T> tv = reinterpret_cast<const Pack<T>*>(t)[q];
    Pack<T> wv, pv, ov;
    if (w) wv = reinterpret_cast<const Pack<T>*>(w)[q];
    if (hpw) pv = reinterpret_cast<const Pack<T>*>(pw)[q];
#pragma unroll
    for (int e = 0; e < P; ++e) {
      T v = point_value<T>(K, xv.v[e], tv.v[e], hpw ? pv.v[e] : T(0), hpw, param, bad);
      if (w) {
        const T wk = wv.v[e];
        v *= wk;
        wacc += (double)wk;
      }
      if (out) ov.v[e] = v;
      else acc += (double)v;
    }
    if (out) reinterpret_cast<Pack<T>*>(out)[q] = ov;
  }
  for (int64_t i = np * P + tid; i < n; i += stride) {
    T v = point_value<T>(K, x[i], t[i], hpw ? pw[i] : T(0), hpw, param, bad);
    if (w) {
      const T wk = w[i];
      v *= wk;
      wacc += (double)wk;
    }
    if (out) out[i] = v;
    else acc += (double)v;
  }
  if (bad) atomicOr(bad_flag, bad);
  if (part) write_block_partial(acc, wacc, part, sh);
}

// Contiguous, aligned twin of point_backward_kernel (g contiguous or one broadcast value).
template <class T>
__global__ void __launch_bounds__(256)
point_backward_vec_kernel(T* __restrict__ gxo, T* __restrict__ gto, const T* __restrict__ g, bool g_scalar,
                          const T* __restrict__ x, const T* __restrict__ t, const T* __restrict__ w,
                          const T* __restrict__ pw, int64_t n, PointLoss K, T param, T tscale) {
  constexpr int P = Pack<T>::kN;
  const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t np = n / P;
  const bool hpw = pw != nullptr;
  const T g0 = g_scalar ? g[0] : T(0);
  for (int64_t q = tid; q < np; q += stride) {
    const Pack<T> xv = reinterpret_cast<const Pack<T>*>(x)[q];
    const Pack<T> tv = reinterpret_cast<const Pack<T>*>(t)[q];
    Pack<T> wv, pv, gv, ox, ot;
    if (w) wv = reinterpret_cast<const Pack<T>*>(w)[q];
    if (hpw) pv = reinterpret_cast<const Pack<T>*>(pw)[q];
    if (!g_scalar) gv = reinterpret_cast<const Pack<T>*>(g)[q];
#pragma unroll
    for (int e = 0; e < P; ++e) {
      T gx, gt;
      point_grad<T>(K, xv.v[e], tv.v[e], hpw ? pv.v[e] : T(0), hpw, param, gx, gt);
      T f = (g_scalar ? g0 : gv.v[e]) * tscale;
      if (w) f *= wv.v[e];
      ox.v[e] = gx * f;
      ot.v[e] = gt * f;
    }
    if (gxo) reinterpret_cast<Pack<T>*>(gxo)[q] = ox;
    if (gto) reinterpret_cast<Pack<T>*>(gto)[q] = ot;
  }
  for (int64_t i = np * P + tid; i < n; i += stride) {
    T gx, gt;
    point_grad<T>(K, x[i], t[i], hpw ? pw[i] : T(0), hpw, param, gx, gt);
    T f = (g_scalar ? g0 : g[i]) * tscale;
    if (w) f *= w[i];
    if (gxo) gxo[i] = gx * f;
    if (gto) gto[i] = gt * f;
  }
}

// ---------------------------------------------------------------- multi-margin
template <class T>
__global__ void __launch_bounds__(kRedBlock)
margin_forward_kernel(T* __restrict__ out, double* __restrict__ part, const T* __restrict__ x,
                      const int64_t* __restrict__ tg, const T* __restrict__ w, int64_t N, int64_t C, int p, T mg,
                      bool none) {
  __shared__ double sh[2 * 32];
  double acc = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const T* xr = x + i * C;
    const int64_t t = tg[i];
    const T xt = xr[t];
    T s = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (c == t) continue;
      const T z = mg - xt + xr[c];
      if (z > T(0)) {
        T h = p == 1 ? z : z * z;
        if (w) h *= w[t];
        s += h;
      }
    }
    s /= (T)C;
    if (none) out[i] = s;
    acc += (double)s;
  }
  write_block_partial(acc, 0.0, part, sh);
}

template <class T>
__global__ void margin_backward_kernel(T* __restrict__ gi, const T* __restrict__ go, const T* __restrict__ x,
                                       const int64_t* __restrict__ tg, const T* __restrict__ w, int64_t N, int64_t C,
                                       int p, T mg, T g0, bool none) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const T* xr = x + i * C;
    T* gr = gi + i * C;
    const int64_t t = tg[i];
    const T xt = xr[t];
    const T gscale = none ? go[i] : go[0];
    T gt = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (c == t) continue;
      const T z = mg - xt + xr[c];
      if (z > T(0)) {
        T h = p == 1 ? g0 : T(2) * g0 * z;
        if (w) h *= w[t];
        gt -= h;
        gr[c] = h * gscale;
      } else {
        gr[c] = T(0);
      }
    }
    gr[t] = gt * gscale;
  }
}

// ---------------------------------------------------------------- cosine embedding
template <class T>
__device__ __forceinline__ void cos_sums(const T* ar, const T* br, int64_t D, double& prod, double& m1, double& m2) {
  prod = 0, m1 = 0, m2 = 0;
  for (int64_t d = 0; d < D; ++d) {
    prod += (double)ar[d] * br[d];
    m1 += (double)ar[d] * ar[d];
    m2 += (double)br[d] * br[d];
  }
  m1 += 1e-12;
  m2 += 1e-12;
}

template <class T>
__global__ void __launch_bounds__(kRedBlock)
cos_forward_kernel(T* __restrict__ out, double* __restrict__ part, const T* __restrict__ a, const T* __restrict__ b,
                   const T* __restrict__ tg, int64_t N, int64_t D, double margin, bool none) {
  __shared__ double sh[2 * 32];
  double acc = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    double prod, m1, m2;
    cos_sums(a + i * D, b + i * D, D, prod, m1, m2);
    const double cs = prod / sqrt(m1 * m2);
    double r = 0;
    if (tg[i] == T(1)) r = 1.0 - cs;
    else if (tg[i] == T(-1)) r = fmax(0.0, cs - margin);
    if (none) out[i] = (T)r;
    acc += r;
  }
  write_block_partial(acc, 0.0, part, sh);
}

template <class T>
__global__ void cos_backward_kernel(T* __restrict__ ga, T* __restrict__ gb, const T* __restrict__ go,
                                    const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ tg,
                                    int64_t N, int64_t D, double margin, bool none, double norm) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const T* ar = a + i * D;
    const T* br = b + i * D;
    double prod, m1, m2;
    cos_sums(ar, br, D, prod, m1, m2);
    const double den = sqrt(m1 * m2);
    const double cs = prod / den;
    double dl = 0;
    if (tg[i] == T(1)) dl = -1;
    else if (tg[i] == T(-1) && cs - margin >= 0) dl = 1;
    dl *= (double)(none ? go[i] : go[0]) * norm;
    for (int64_t d = 0; d < D; ++d) {
      if (ga) ga[i * D + d] = (T)(dl * ((double)br[d] / den - cs * (double)ar[d] / m1));
      if (gb) gb[i * D + d] = (T)(dl * ((double)ar[d] / den - cs * (double)br[d] / m2));
    }
  }
}

// ---------------------------------------------------------------- host helpers
int device_of_input(const Tensor& t, const char* op) {
  FLB_CHECK(t.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", t.device().str());
  return t.device().index;
}

void check_c(const Tensor* t, int dev, const char* op, const char* name) {
  if (!t) return;
  check_on_device(*t, dev, op, name);
  FLB_CHECK(t->is_contiguous(), ValueError, op, ": ", name, " must be contiguous (CUDA kernel precondition)");
}

template <class T>
const T* opt_data(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

}  // namespace

// ---------------------------------------------------------------- entry points
void cross_entropy(const Tensor& loss, const Tensor& lse_t, double* total_weight, const Tensor& input,
                   const Tensor& target, const Tensor* weight, int64_t ignore_index, double ls,
                   Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  const char* op = "cross_entropy";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&loss, "loss"}, {&lse_t, "lse"}, {&input, "input"},
                         {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const bool none = reduction == Reduction::None;
  const int64_t rows = N * inner;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    TempBuffer wsum(weight ? sizeof(double) : 0, dev);
    if (weight && C > 0) {
      weight_sum_kernel<T><<<1, kRedBlock, 0, s>>>(wsum.get<double>(), weight->data<T>(), C);
      FLB_CUDA_CHECK_LAUNCH("weight_sum_kernel", dev);
    } else if (weight) {
      FLB_CUDA_CHECK(cudaMemsetAsync(wsum.get<double>(), 0, sizeof(double), s));
    }
    const bool warp_rows = inner == 1;
    const unsigned blocks = red_blocks(rows, warp_rows ? kRedBlock / 32 : kRedBlock);
    TempBuffer part((size_t)blocks * 2 * sizeof(double), dev);
    // Row in registers: 16-byte packs, at most 8 per lane (C <= 1024 floats / 512 doubles).
    constexpr int P = Pack<T>::kN;
    const int64_t packs = C / P;
    const bool vec = warp_rows && C > 0 && C % P == 0 && aligned16(input.data<T>()) && packs <= 32 * 8;
    auto launch_vec = [&](auto vtag) {
      constexpr int V = decltype(vtag)::value;
      ce_forward_vec_kernel<V, T><<<blocks, kRedBlock, 0, s>>>(
          none ? loss.data<T>() : nullptr, lse_t.data<double>(), part.get<double>(), input.data<T>(),
          target.data<int64_t>(), opt_data<T>(weight), wsum.get<double>(), rows, C, ls, ignore_index, none);
    };
    if (vec) {
      if (packs <= 32) launch_vec(std::integral_constant<int, 1>{});
      else if (packs <= 64) launch_vec(std::integral_constant<int, 2>{});
      else if (packs <= 128) launch_vec(std::integral_constant<int, 4>{});
      else launch_vec(std::integral_constant<int, 8>{});
    } else if (warp_rows)
      ce_forward_kernel<32, T><<<blocks, kRedBlock, 0, s>>>(none ? loss.data<T>() : nullptr, lse_t.data<double>(),
                                                            part.get<double>(), input.data<T>(),
                                                            target.data<int64_t>(), opt_data<T>(weight),
                                                            wsum.get<double>(), rows, C, inner, ls, ignore_index,
                                                            none);
    else
      ce_forward_kernel<1, T><<<blocks, kRedBlock, 0, s>>>(none ? loss.data<T>() : nullptr, lse_t.data<double>(),
                                                           part.get<double>(), input.data<T>(),
                                                           target.data<int64_t>(), opt_data<T>(weight),
                                                           wsum.get<double>(), rows, C, inner, ls, ignore_index,
                                                           none);
    FLB_CUDA_CHECK_LAUNCH("ce_forward_kernel", dev);
    finish_reduction<T>(none ? nullptr : &loss, total_weight, part.get<double>(), blocks,
                        reduction == Reduction::Mean, true, 0.0, dev, s);
  });
}

void cross_entropy_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                            const Tensor& target, const Tensor& lse_t, const Tensor* weight, int64_t ignore_index,
                            double ls, Reduction reduction, double total_weight, int64_t N, int64_t C,
                            int64_t inner) {
  const char* op = "cross_entropy_backward";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&grad_in, "grad_input"}, {&grad_out, "grad_output"},
                         {&input, "input"}, {&target, "target"}, {&lse_t, "lse"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const int64_t total = N * C * inner;
  if (total == 0) return;
  const bool none = reduction == Reduction::None;
  const double norm = reduction == Reduction::Mean ? 1.0 / total_weight : 1.0;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    TempBuffer wsum(weight ? sizeof(double) : 0, dev);
    if (weight) {
      weight_sum_kernel<T><<<1, kRedBlock, 0, s>>>(wsum.get<double>(), weight->data<T>(), C);
      FLB_CUDA_CHECK_LAUNCH("weight_sum_kernel", dev);
    }
    if (inner == 1) {  // one warp per row: logits read once, grad written once
      const int64_t rows = N;
      const bool vec = C % Pack<T>::kN == 0 && aligned16(input.data<T>()) && aligned16(grad_in.data<T>());
      const unsigned blocks = grid_for(rows * 32, 256, dev);
      if (vec)
        ce_backward_rows_kernel<true, T><<<blocks, 256, 0, s>>>(
            grad_in.data<T>(), grad_out.data<T>(), input.data<T>(), target.data<int64_t>(), lse_t.data<double>(),
            opt_data<T>(weight), wsum.get<double>(), rows, C, ls, ignore_index, none, norm);
      else
        ce_backward_rows_kernel<false, T><<<blocks, 256, 0, s>>>(
            grad_in.data<T>(), grad_out.data<T>(), input.data<T>(), target.data<int64_t>(), lse_t.data<double>(),
            opt_data<T>(weight), wsum.get<double>(), rows, C, ls, ignore_index, none, norm);
      FLB_CUDA_CHECK_LAUNCH("ce_backward_rows_kernel", dev);
      return;
    }
    ce_backward_kernel<T><<<grid_for(total, 256, dev), 256, 0, s>>>(
        grad_in.data<T>(), grad_out.data<T>(), input.data<T>(), target.data<int64_t>(), lse_t.data<double>(),
        opt_data<T>(weight), wsum.get<double>(), total, C, inner, ls, ignore_index, none, norm);
    FLB_CUDA_CHECK_LAUNCH("ce_backward_kernel", dev);
  });
}

void cross_entropy_prob(const Tensor& loss, const Tensor& lse_t, const Tensor& input, const Tensor& target,
                        const Tensor* weight, double ls, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  const char* op = "cross_entropy";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&loss, "loss"}, {&lse_t, "lse"}, {&input, "input"},
                         {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const bool none = reduction == Reduction::None;
  const int64_t rows = N * inner;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const bool warp_rows = inner == 1;
    const unsigned blocks = red_blocks(rows, warp_rows ? kRedBlock / 32 : kRedBlock);
    TempBuffer part((size_t)blocks * 2 * sizeof(double), dev);
    if (warp_rows)
      ce_prob_forward_kernel<32, T><<<blocks, kRedBlock, 0, s>>>(
          none ? loss.data<T>() : nullptr, lse_t.data<double>(), part.get<double>(), input.data<T>(),
          target.data<T>(), opt_data<T>(weight), rows, C, inner, ls, none);
    else
      ce_prob_forward_kernel<1, T><<<blocks, kRedBlock, 0, s>>>(
          none ? loss.data<T>() : nullptr, lse_t.data<double>(), part.get<double>(), input.data<T>(),
          target.data<T>(), opt_data<T>(weight), rows, C, inner, ls, none);
    FLB_CUDA_CHECK_LAUNCH("ce_prob_forward_kernel", dev);
    if (!none)
      finish_reduction<T>(&loss, nullptr, part.get<double>(), blocks, reduction == Reduction::Mean, false,
                          (double)rows, dev, s);
  });
}

void cross_entropy_prob_backward(const Tensor* grad_in, const Tensor* grad_target, const Tensor& grad_out,
                                 const Tensor& input, const Tensor& target, const Tensor& lse_t, const Tensor* weight,
                                 double ls, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  const char* op = "cross_entropy_backward";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{grad_in, "grad_input"},
                         {grad_target, "grad_target"}, {&grad_out, "grad_output"}, {&input, "input"},
                         {&target, "target"}, {&lse_t, "lse"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const int64_t rows = N * inner;
  if (rows == 0 || C == 0 || (!grad_in && !grad_target)) return;
  const bool none = reduction == Reduction::None;
  const double norm = reduction == Reduction::Mean ? 1.0 / (double)rows : 1.0;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    T* gid = grad_in ? grad_in->data<T>() : nullptr;
    T* gtd = grad_target ? grad_target->data<T>() : nullptr;
    if (inner == 1)
      ce_prob_backward_kernel<32, T><<<grid_for(rows * 32, 256, dev), 256, 0, stream(dev)>>>(
          gid, gtd, grad_out.data<T>(), input.data<T>(), target.data<T>(), lse_t.data<double>(), opt_data<T>(weight),
          rows, C, inner, ls, none, norm);
    else
      ce_prob_backward_kernel<1, T><<<grid_for(rows, 256, dev), 256, 0, stream(dev)>>>(
          gid, gtd, grad_out.data<T>(), input.data<T>(), target.data<T>(), lse_t.data<double>(), opt_data<T>(weight),
          rows, C, inner, ls, none, norm);
    FLB_CUDA_CHECK_LAUNCH("ce_prob_backward_kernel", dev);
  });
}

void nll_loss(const Tensor& loss, double* total_weight, const Tensor& input, const Tensor& target,
              const Tensor* weight, int64_t ignore_index, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  const char* op = "nll_loss";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&loss, "loss"}, {&input, "input"},
                         {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const bool none = reduction == Reduction::None;
  const int64_t rows = N * inner;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const unsigned blocks = red_blocks(rows);
    TempBuffer part((size_t)blocks * 2 * sizeof(double), dev);
    nll_forward_kernel<T><<<blocks, kRedBlock, 0, s>>>(none ? loss.data<T>() : nullptr, part.get<double>(),
                                                       input.data<T>(), target.data<int64_t>(), opt_data<T>(weight),
                                                       rows, C, inner, ignore_index, none);
    FLB_CUDA_CHECK_LAUNCH("nll_forward_kernel", dev);
    finish_reduction<T>(none ? nullptr : &loss, total_weight, part.get<double>(), blocks,
                        reduction == Reduction::Mean, true, 0.0, dev, s);
  });
}

void nll_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& target, const Tensor* weight,
                       int64_t ignore_index, Reduction reduction, double total_weight, int64_t N, int64_t C,
                       int64_t inner) {
  const char* op = "nll_loss_backward";
  const int dev = device_of_input(grad_in, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&grad_in, "grad_input"}, {&grad_out, "grad_output"},
                         {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const int64_t total = N * C * inner;
  if (total == 0) return;
  const bool none = reduction == Reduction::None;
  const double norm = reduction == Reduction::Mean ? 1.0 / total_weight : 1.0;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(grad_in.dtype, op, [&] {
    using T = scalar_t;
    nll_backward_kernel<T><<<grid_for(total, 256, dev), 256, 0, stream(dev)>>>(
        grad_in.data<T>(), grad_out.data<T>(), target.data<int64_t>(), opt_data<T>(weight), total, C, inner,
        ignore_index, none, norm);
    FLB_CUDA_CHECK_LAUNCH("nll_backward_kernel", dev);
  });
}

int point_loss(PointLoss kind, const Tensor& out, const Tensor& x, const Tensor& t, const Tensor* w,
               const Tensor* pos_weight, double param, Reduction reduction, double denom) {
  const char* op = "point_loss";
  if (kind == PointLoss::SmoothL1 && param == 0) kind = PointLoss::L1;
  const int dev = device_of_input(x, op);
  check_on_device(t, dev, op, "target");
  check_c(&out, dev, op, "output");
  if (w) check_on_device(*w, dev, op, "weight");
  if (pos_weight) check_on_device(*pos_weight, dev, op, "pos_weight");
  check_same_shape(x, t, op);
  const bool none = reduction == Reduction::None;
  if (none) check_same_shape(out, x, op);
  const bool hpw = pos_weight != nullptr && kind == PointLoss::BCEWithLogits;
  const Tensor& wt = w ? *w : x;
  const Tensor& pwt = hpw ? *pos_weight : x;
  if (w) check_same_shape(*w, x, op);
  if (hpw) check_same_shape(*pos_weight, x, op);
  const int64_t n = x.numel();
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  int bad = 0;
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    auto oc = make_offset_calc<4>(x.sizes, {&x.strides, &t.strides, &wt.strides, &pwt.strides}, op);
    const unsigned blocks = red_blocks(n);
    TempBuffer part(none ? 0 : (size_t)blocks * 2 * sizeof(double), dev);
    TempBuffer flag(sizeof(int), dev);
    FLB_CUDA_CHECK(cudaMemsetAsync(flag.get<int>(), 0, sizeof(int), s));
    const T* xd = x.data<T>();
    const T* td = t.data<T>();
    const T* wd = w ? w->data<T>() : nullptr;
    const T* pd = hpw ? pos_weight->data<T>() : nullptr;
    T* od = none ? out.data<T>() : nullptr;
    const bool vec = x.is_contiguous() && t.is_contiguous() && (!w || w->is_contiguous()) &&
                     (!hpw || pos_weight->is_contiguous()) && aligned16(xd) && aligned16(td) && aligned16(wd) &&
                     aligned16(pd) && aligned16(od);
    if (n > 0 && vec) {
      point_forward_vec_kernel<T><<<blocks, kRedBlock, 0, s>>>(od, none ? nullptr : part.get<double>(),
                                                               flag.get<int>(), xd, td, wd, pd, n, kind, (T)param);
      FLB_CUDA_CHECK_LAUNCH("point_forward_vec_kernel", dev);
    } else if (n > 0) {
      point_forward_kernel<T><<<blocks, kRedBlock, 0, s>>>(
          none ? out.data<T>() : nullptr, none ? nullptr : part.get<double>(), flag.get<int>(), oc, x.data<T>(),
          t.data<T>(), w ? w->data<T>() : nullptr, hpw ? pos_weight->data<T>() : nullptr, n, kind, (T)param);
      FLB_CUDA_CHECK_LAUNCH("point_forward_kernel", dev);
    }
    if (!none) {
      if (n == 0) {  // empty input: sums are 0 (Mean: 0 / 0 = NaN, as the CPU)
        FLB_CUDA_CHECK(cudaMemsetAsync(part.get<double>(), 0, (size_t)blocks * 2 * sizeof(double), s));
      }
      finish_reduction<T>(&out, nullptr, part.get<double>(), blocks, reduction == Reduction::Mean, denom < 0, denom,
                          dev, s);
    }
    if (kind == PointLoss::BCE) memcpy_d2h(&bad, flag.get<int>(), sizeof(int), dev);
  });
  return bad;
}

void point_loss_backward(PointLoss kind, const Tensor* grad_x, const Tensor* grad_t, const Tensor& grad_out,
                         const Tensor& x, const Tensor& t, const Tensor* w, const Tensor* pos_weight, double param,
                         double scale) {
  const char* op = "point_loss_backward";
  if (kind == PointLoss::SmoothL1 && param == 0) kind = PointLoss::L1;
  const int dev = device_of_input(x, op);
  check_on_device(t, dev, op, "target");
  check_on_device(grad_out, dev, op, "grad_output");
  check_c(grad_x, dev, op, "grad_input");
  check_c(grad_t, dev, op, "grad_target");
  if (w) check_on_device(*w, dev, op, "weight");
  if (pos_weight) check_on_device(*pos_weight, dev, op, "pos_weight");
  check_same_shape(x, t, op);
  check_same_shape(grad_out, x, op);
  const bool hpw = pos_weight != nullptr && kind == PointLoss::BCEWithLogits;
  const Tensor& wt = w ? *w : x;
  const Tensor& pwt = hpw ? *pos_weight : x;
  const int64_t n = x.numel();
  if (n == 0 || (!grad_x && !grad_t)) return;
  // grad_out is one broadcast value (reduced loss) or elementwise; an elementwise view that is not
  // contiguous is made contiguous (the kernel indexes it linearly).
  bool g_scalar = true;
  for (size_t d = 0; d < grad_out.sizes.size(); ++d)
    if (grad_out.sizes[d] != 1 && grad_out.strides[d] != 0) g_scalar = false;
  const Tensor g = (g_scalar || grad_out.is_contiguous()) ? grad_out : contiguous(grad_out);
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    const T* xd = x.data<T>();
    const T* td = t.data<T>();
    const T* wd = w ? w->data<T>() : nullptr;
    const T* pd = hpw ? pos_weight->data<T>() : nullptr;
    T* gxd = grad_x ? grad_x->data<T>() : nullptr;
    T* gtd = grad_t ? grad_t->data<T>() : nullptr;
    const bool vec = x.is_contiguous() && t.is_contiguous() && (!w || w->is_contiguous()) &&
                     (!hpw || pos_weight->is_contiguous()) && aligned16(xd) && aligned16(td) && aligned16(wd) &&
                     aligned16(pd) && aligned16(gxd) && aligned16(gtd) && (g_scalar || aligned16(g.data<T>()));
    if (vec) {
      point_backward_vec_kernel<T><<<grid_for(ceil_div(n, Pack<T>::kN), 256, dev), 256, 0, stream(dev)>>>(
          gxd, gtd, g.data<T>(), g_scalar, xd, td, wd, pd, n, kind, (T)param, (T)scale);
      FLB_CUDA_CHECK_LAUNCH("point_backward_vec_kernel", dev);
      return;
    }
    auto oc = make_offset_calc<4>(x.sizes, {&x.strides, &t.strides, &wt.strides, &pwt.strides}, op);
    point_backward_kernel<T><<<grid_for(n, 256, dev), 256, 0, stream(dev)>>>(
        grad_x ? grad_x->data<T>() : nullptr, grad_t ? grad_t->data<T>() : nullptr, g.data<T>(), g_scalar, oc,
        x.data<T>(), t.data<T>(), w ? w->data<T>() : nullptr, hpw ? pos_weight->data<T>() : nullptr, n, kind,
        (T)param, (T)scale);
    FLB_CUDA_CHECK_LAUNCH("point_backward_kernel", dev);
  });
}

void multi_margin_loss(const Tensor& out, const Tensor& input, const Tensor& target, const Tensor* weight, int p,
                       double margin, Reduction reduction, int64_t N, int64_t C) {
  const char* op = "multi_margin_loss";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&out, "output"}, {&input, "input"},
                         {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  const bool none = reduction == Reduction::None;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const unsigned blocks = red_blocks(N);
    TempBuffer part((size_t)blocks * 2 * sizeof(double), dev);
    margin_forward_kernel<T><<<blocks, kRedBlock, 0, s>>>(none ? out.data<T>() : nullptr, part.get<double>(),
                                                          input.data<T>(), target.data<int64_t>(),
                                                          opt_data<T>(weight), N, C, p, (T)margin, none);
    FLB_CUDA_CHECK_LAUNCH("margin_forward_kernel", dev);
    if (!none)
      finish_reduction<T>(&out, nullptr, part.get<double>(), blocks, reduction == Reduction::Mean, false, (double)N,
                          dev, s);
  });
}

void multi_margin_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                                const Tensor& target, const Tensor* weight, int p, double margin,
                                Reduction reduction, int64_t N, int64_t C) {
  const char* op = "multi_margin_loss_backward";
  const int dev = device_of_input(input, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&grad_in, "grad_input"}, {&grad_out, "grad_output"},
                         {&input, "input"}, {&target, "target"}, {weight, "weight"}})
    check_c(t, dev, op, name);
  if (N == 0 || C == 0) return;
  const bool none = reduction == Reduction::None;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(input.dtype, op, [&] {
    using T = scalar_t;
    const T g0 = reduction == Reduction::Mean ? T(1) / (T)(N * C) : T(1) / (T)C;
    margin_backward_kernel<T><<<grid_for(N, 256, dev), 256, 0, stream(dev)>>>(
        grad_in.data<T>(), grad_out.data<T>(), input.data<T>(), target.data<int64_t>(), opt_data<T>(weight), N, C,
        p, (T)margin, g0, none);
    FLB_CUDA_CHECK_LAUNCH("margin_backward_kernel", dev);
  });
}

void cosine_embedding_loss(const Tensor& out, const Tensor& x1, const Tensor& x2, const Tensor& target,
                           double margin, Reduction reduction, int64_t N, int64_t D) {
  const char* op = "cosine_embedding_loss";
  const int dev = device_of_input(x1, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&out, "output"}, {&x1, "input1"}, {&x2, "input2"},
                         {&target, "target"}})
    check_c(t, dev, op, name);
  const bool none = reduction == Reduction::None;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  FLB_DISPATCH_FLOATING(x1.dtype, op, [&] {
    using T = scalar_t;
    const unsigned blocks = red_blocks(N);
    TempBuffer part((size_t)blocks * 2 * sizeof(double), dev);
    cos_forward_kernel<T><<<blocks, kRedBlock, 0, s>>>(none ? out.data<T>() : nullptr, part.get<double>(),
                                                       x1.data<T>(), x2.data<T>(), target.data<T>(), N, D, margin,
                                                       none);
    FLB_CUDA_CHECK_LAUNCH("cos_forward_kernel", dev);
    if (!none)
      finish_reduction<T>(&out, nullptr, part.get<double>(), blocks, reduction == Reduction::Mean, false, (double)N,
                          dev, s);
  });
}

void cosine_embedding_loss_backward(const Tensor* g1, const Tensor* g2, const Tensor& grad_out, const Tensor& x1,
                                    const Tensor& x2, const Tensor& target, double margin, Reduction reduction,
                                    int64_t N, int64_t D) {
  const char* op = "cosine_embedding_loss_backward";
  const int dev = device_of_input(x1, op);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{g1, "grad_input1"}, {g2, "grad_input2"},
                         {&grad_out, "grad_output"}, {&x1, "input1"}, {&x2, "input2"}, {&target, "target"}})
    check_c(t, dev, op, name);
  if (N == 0 || (!g1 && !g2)) return;
  const bool none = reduction == Reduction::None;
  const double norm = reduction == Reduction::Mean ? 1.0 / (double)N : 1.0;
  DeviceGuard guard(dev);
  FLB_DISPATCH_FLOATING(x1.dtype, op, [&] {
    using T = scalar_t;
    cos_backward_kernel<T><<<grid_for(N, 256, dev), 256, 0, stream(dev)>>>(
        g1 ? g1->data<T>() : nullptr, g2 ? g2->data<T>() : nullptr, grad_out.data<T>(), x1.data<T>(), x2.data<T>(),
        target.data<T>(), N, D, margin, none, norm);
    FLB_CUDA_CHECK_LAUNCH("cos_backward_kernel", dev);
  });
}

}  // namespace flambeau::cuda
