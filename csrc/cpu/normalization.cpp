// Normalization kernels: batch norm, layer norm and group norm, forward and backward.
//
// All three normalise x to xhat = (x - mean) * rstd, rstd = 1/sqrt(var + eps) (biased variance),
// then y = xhat * w + b; they differ only in which elements share statistics:
//   batch norm   (N, C, S): per channel c, over the N*S elements x[n, c, s]
//   layer norm   (M, K)   : per row, over its K trailing elements
//   group norm   (N, C, S): per (n, group), over the C/G channels x S elements of the group,
//                            which are contiguous in memory
// and all three have the same backward: with g = dy * w,
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))            (the means over the same set)
//   dw = sum(dy * xhat), db = sum(dy)                            (over everything sharing w)
//
// Statistics are one pass, numerically stable: sums of (x - K) and (x - K)^2 in double, with the
// shift K a sample of the same data (so close to the mean: no cancellation in q/n - (s/n)^2), via
// the SSE2 helpers of norm_optim_vec.h (for 2-D batch norm, blocks of 8 rows are first summed in
// the dtype: 8 terms cost at most a few float ulps, and the double work drops 8-fold). The
// backward sums are centred on the saved mean, also in double. The elementwise loops are in
// csrc/cpu/simd/norm_body.h, built for SSE2, AVX2 and AVX-512 (same bits on each). Elementwise passes run in the input's dtype as y = (x - mean) * (rstd * w) + b: PyTorch
// computes x * alpha + (b - mean * alpha), which agrees to float rounding on ordinary data but
// loses the low digits of y when |mean| >> std (x * alpha and mean * alpha cancel); x - mean is
// exact there, so ours stays accurate on badly centred data.
//
// Determinism: reductions across threads are split into tasks fixed by the shape alone (never by
// the thread count) and combined in task order, so the same input gives the same bits on any
// number of threads. Batch norm tasks: for S > 1, (channel, block of n) planes of ~16K elements;
// for S == 1 (2-D input, channels contiguous in a row) blocks of rows accumulated into
// per-channel arrays (vectorised across channels). With enough channels for every thread, batch
// norm runs channel by channel instead (by_channel; same blocks, same bits): statistics, then the elementwise pass over
// the same channel while it is still in cache, so memory sees one read of the input (and of the
// gradient) plus the output write; PyTorch's CPU forward makes three passes (mean, variance,
// normalise).
#include <algorithm>
#include <cmath>
#include <vector>
#include "cpu/capability.h"
#include "cpu/norm_optim_kernels.h"
#include "cpu/norm_optim_vec.h"
#include "cpu/parallel.h"
#include "cpu/simd/norm_simd.h"

namespace flambeau::cpu {

namespace {

constexpr int64_t kTask = 16384;  // elements per reduction task (fixed: bits independent of threads)
constexpr int64_t kRowFold = 8;   // rows of a 2-D batch norm summed in float registers before double

template <class T>
const T* opt_data(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grain (in tasks) for parallel_for so that tiny problems stay on one thread.
inline int64_t task_grain(int64_t work_per_task) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, work_per_task)); }

// The elementwise loops (csrc/cpu/simd/norm_body.h): portable here, AVX2 / AVX-512 builds of the
// same source in csrc/cpu/simd/norm_avx2.cpp, norm_avx512.cpp, chosen once per call.
namespace portable {
#include "cpu/simd/norm_body.h"
}  // namespace portable

template <class T>
const norm::Fns<T>* loops() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512) return norm::fns_f32_avx512();
    if (cap == Capability::AVX2) return norm::fns_f32_avx2();
    return portable::NormTables::f32();
  } else {
    if (cap == Capability::AVX512) return norm::fns_f64_avx512();
    if (cap == Capability::AVX2) return norm::fns_f64_avx2();
    return portable::NormTables::f64();
  }
}

// Two per-channel sums (A[c], B[c]) over an (N, C, S) tensor, split into shape-fixed tasks.
//   plane(c, n0, n1, a, b): adds the sums of planes (n, c), n0 <= n < n1, into a and b   (S > 1)
//   rows(n0, n1, c0, c1, pa, pb): adds rows n0..n1, channels c0..c1 into pa[c], pb[c]    (S == 1)
template <class PlaneFn, class RowFn>
void channel_reduce(int64_t N, int64_t C, int64_t S, PlaneFn&& plane, RowFn&& rows, std::vector<double>& A,
                    std::vector<double>& B) {
  A.assign(C, 0.0);
  B.assign(C, 0.0);
  if (N == 0 || C == 0 || S == 0) return;
  if (S > 1) {
    const int64_t nb = std::max<int64_t>(1, kTask / S);  // planes per task
    const int64_t NB = ceil_div(N, nb);
    std::vector<double> pa(NB * C), pb(NB * C);
    parallel_for(C * NB, task_grain(nb * S), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t c = t / NB, blk = t % NB;
        double a = 0, q = 0;
        plane(c, blk * nb, std::min(N, blk * nb + nb), a, q);
        pa[t] = a;
        pb[t] = q;
      }
    });
    for (int64_t c = 0; c < C; ++c)
      for (int64_t blk = 0; blk < NB; ++blk) {
        A[c] += pa[c * NB + blk];
        B[c] += pb[c * NB + blk];
      }
    return;
  }
  constexpr int64_t CW = 4096;  // channels per task
  // rows per task: 4x the plane tasks (each task's partials are C doubles to zero and combine)
  int64_t rb = std::max<int64_t>(1, 4 * kTask / std::min(C, CW));
  if (ceil_div(N, rb) > 64) rb = ceil_div(N, 64);
  const int64_t NB = ceil_div(N, rb), NCB = ceil_div(C, CW);
  std::vector<double> pa(NB * C, 0.0), pb(NB * C, 0.0);
  parallel_for(NB * NCB, task_grain(rb * std::min(C, CW)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t blk = t / NCB, cb = t % NCB;
      int64_t c0 = cb * CW, c1 = std::min(C, c0 + CW);
      rows(blk * rb, std::min(N, blk * rb + rb), c0, c1, pa.data() + blk * C, pb.data() + blk * C);
    }
  });
  for (int64_t blk = 0; blk < NB; ++blk)
    for (int64_t c = 0; c < C; ++c) {
      A[c] += pa[blk * C + c];
      B[c] += pb[blk * C + c];
    }
}

// y[n, c, s] = f(c, x...) over an (N, C, S) tensor: parallel over planes (S > 1) or rows (S == 1).
// body(c, offset, count) handles `count` contiguous elements of channel c starting at `offset`;
// rowbody(offset) handles one full row of C channels (S == 1).
template <class PlaneFn, class RowFn>
void channel_map(int64_t N, int64_t C, int64_t S, PlaneFn&& body, RowFn&& rowbody) {
  if (N == 0 || C == 0 || S == 0) return;
  if (S > 1) {
    parallel_for(N * C, task_grain(S), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) body(p % C, p * S, S);
    });
  } else {
    parallel_for(N, task_grain(C), [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) rowbody(n * C);
    });
  }
}

// The sums of channel c alone, in the same fixed blocks of planes and the same order as
// channel_reduce (so both give the same bits).
template <class PlaneFn>
void channel_sums(int64_t N, int64_t S, int64_t c, PlaneFn&& plane, double& A, double& B) {
  const int64_t nb = std::max<int64_t>(1, kTask / S);
  A = 0;
  B = 0;
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    double a = 0, q = 0;
    plane(c, n0, std::min(N, n0 + nb), a, q);
    A += a;
    B += q;
  }
}

// Batch norm over (N, C, S > 1) with enough channels to keep every thread busy runs channel by
// channel: the statistics pass and the elementwise pass over one channel follow each other, so
// the second finds the channel (N*S elements) in cache instead of re-reading it from memory.
inline bool by_channel(int64_t C, int64_t S) {
  const int64_t T = max_threads();
  return S > 1 && (C % T == 0 || C >= 4 * T);
}

// ------------------------------------------------------------------------------------ batch norm
template <class T>
void bn_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& input, int64_t N,
                int64_t C, int64_t S, const Tensor* weight, const Tensor* bias, const Tensor* running_mean,
                const Tensor* running_var, bool training, double momentum, double eps) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  T* y = out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* bb = opt_data<T>(bias);
  T* rm = running_mean ? running_mean->data<T>() : nullptr;
  T* rv = running_var ? running_var->data<T>() : nullptr;
  T* sm = save_mean.data<T>();
  T* si = save_invstd.data<T>();
  const double M = (double)(N * S);
  const T mom = (T)momentum;
  // y = (x - hi) * alpha + beta: the mean as hi + lo in the dtype, lo folded into beta; (x - hi) is
  // exact for x near the mean, so the centring keeps full precision even when the float32 mean
  // cannot (|mean| >> std).
  std::vector<T> alpha(C), beta(C), Kt(C);
  std::vector<double> K(C);
  if (training) {  // (training implies N * S > 1)
    for (int64_t c = 0; c < C; ++c) {
      Kt[c] = x[c * S];  // the shift: a sample of channel c
      K[c] = (double)Kt[c];
    }
  }
  // Statistics of channel c from its shifted sums (training), then the affine coefficients.
  auto finish = [&](int64_t c, double A, double B) {
    double mlo = 0;
    if (training) {
      const double dm = A / M, mean = K[c] + dm;
      const double var = std::max(0.0, B / M - dm * dm);
      sm[c] = (T)mean;
      mlo = mean - (double)sm[c];
      si[c] = (T)(1.0 / std::sqrt(var + eps));
      // As PyTorch: running_mean in the dtype, the unbiased variance in double.
      if (rm) rm[c] = mom * (T)mean + (T(1) - mom) * rm[c];
      if (rv) {
        const double unbiased = M > 1 ? var * M / (M - 1) : INFINITY;
        rv[c] = (T)((double)mom * unbiased + (double)((T(1) - mom) * rv[c]));
      }
    } else {
      sm[c] = rm[c];
      si[c] = T(1) / std::sqrt(rv[c] + (T)eps);
    }
    alpha[c] = si[c] * (w ? w[c] : T(1));
    beta[c] = (bb ? bb[c] : T(0)) - (T)mlo * alpha[c];
  };
  auto plane_stats = [&](int64_t c, int64_t n0, int64_t n1, double& a, double& b) {
    for (int64_t n = n0; n < n1; ++n) shifted_sums(x + (n * C + c) * S, S, K[c], a, b);
  };
  if (training && by_channel(C, S)) {
    parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double A, B;
        channel_sums(N, S, c, plane_stats, A, B);
        finish(c, A, B);
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * S;
          L->affine_plane(y + off, x + off, S, sm[c], alpha[c], beta[c]);
        }
      }
    });
    return;
  }
  if (training) {
    std::vector<double> A, B;
    channel_reduce(
        N, C, S, plane_stats,
        [&](int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* pa, double* pb) {
          for (int64_t n = n0; n < n1; n += kRowFold)
            L->shifted_rows(x + n * C + c0, C, std::min(kRowFold, n1 - n), Kt.data() + c0, pa + c0, pb + c0, c1 - c0);
        },
        A, B);
    for (int64_t c = 0; c < C; ++c) finish(c, A[c], B[c]);
  } else {
    for (int64_t c = 0; c < C; ++c) finish(c, 0, 0);
  }
  const T* al = alpha.data();
  const T* be = beta.data();
  channel_map(
      N, C, S, [&](int64_t c, int64_t off, int64_t cnt) { L->affine_plane(y + off, x + off, cnt, sm[c], al[c], be[c]); },
      [&](int64_t off) { L->affine_row(y + off, x + off, C, (const T*)sm, al, be); });
}

template <class T>
void bn_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias, const Tensor& grad_out,
                 const Tensor& input, int64_t N, int64_t C, int64_t S, const Tensor* weight, const Tensor& mean_t,
                 const Tensor& invstd_t, bool training) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  const T* dy = grad_out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* mean = mean_t.data<T>();
  const T* invstd = invstd_t.data<T>();
  T* dx = grad_input ? grad_input->data<T>() : nullptr;
  T* gw = grad_weight ? grad_weight->data<T>() : nullptr;
  T* gb = grad_bias ? grad_bias->data<T>() : nullptr;
  const bool need_sums = gw || gb || (dx && training);
  const double M = (double)(N * S);
  // Per channel, from A = sum(dy) and B = sum(dy * (x - mean)):
  //   training: dx = ((dy - A/M) - (x - mean) * k) * aw, k = B * invstd^2 / M, aw = invstd * w
  //   eval:     dx = dy * aw
  //   grad_weight = B * invstd, grad_bias = A
  std::vector<T> aw(C), mdy(C), kk(C);
  auto finish = [&](int64_t c, double A, double B) {
    const double is = (double)invstd[c];
    if (gw) gw[c] = (T)(B * is);
    if (gb) gb[c] = (T)A;
    aw[c] = invstd[c] * (w ? w[c] : T(1));
    mdy[c] = (T)(A / M);
    kk[c] = (T)(B * is * is / M);
  };
  auto plane_sums = [&](int64_t c, int64_t n0, int64_t n1, double& a, double& b) {
    const double m = (double)mean[c];
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t off = (n * C + c) * S;
      grad_sums(dy + off, x + off, S, m, a, b);
    }
  };
  auto dx_plane = [&](int64_t c, int64_t off, int64_t cnt) {
    if (training) L->bn_dx_plane(dx + off, dy + off, x + off, cnt, mdy[c], kk[c], mean[c], aw[c]);
    else L->scale_plane(dx + off, dy + off, cnt, aw[c]);
  };
  if (need_sums && by_channel(C, S)) {
    parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double A, B;
        channel_sums(N, S, c, plane_sums, A, B);
        finish(c, A, B);
        if (dx)
          for (int64_t n = 0; n < N; ++n) dx_plane(c, (n * C + c) * S, S);
      }
    });
    return;
  }
  if (need_sums) {
    std::vector<double> A, B;
    channel_reduce(
        N, C, S, plane_sums,
        [&](int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* pa, double* pb) {
          for (int64_t n = n0; n < n1; n += kRowFold)
            L->grad_rows(dy + n * C + c0, x + n * C + c0, C, std::min(kRowFold, n1 - n), mean + c0, pa + c0, pb + c0,
                      c1 - c0);
        },
        A, B);
    for (int64_t c = 0; c < C; ++c) finish(c, A[c], B[c]);
  } else {
    for (int64_t c = 0; c < C; ++c) finish(c, 0, 0);
  }
  if (!dx) return;
  const T *awp = aw.data(), *mp = mdy.data(), *kp = kk.data();
  channel_map(N, C, S, dx_plane, [&](int64_t off) {
    if (training) L->bn_dx_row(dx + off, dy + off, x + off, C, mp, kp, mean, awp);
    else L->scale_row(dx + off, dy + off, C, awp);
  });
}

// ------------------------------------------------------------------------------------ layer norm
// Statistics of one contiguous row of n elements: (mean, rstd) in double.
template <class T>
inline void row_stats(const T* xr, int64_t n, double eps, double& mean, double& rstd) {
  if (n == 0) {
    mean = 0;
    rstd = 1.0 / std::sqrt(eps);
    return;
  }
  double K = (double)xr[0], s = 0, q = 0;
  shifted_sums(xr, n, K, s, q);
  double dm = s / (double)n;
  mean = K + dm;
  double var = std::max(0.0, q / (double)n - dm * dm);
  rstd = 1.0 / std::sqrt(var + eps);
}

template <class T>
void ln_forward(const Tensor& out, const Tensor& mean_t, const Tensor& rstd_t, const Tensor& input, int64_t M,
                int64_t K, const Tensor* weight, const Tensor* bias, double eps) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  T* y = out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* b = opt_data<T>(bias);
  T* mo = mean_t.data<T>();
  T* ro = rstd_t.data<T>();
  parallel_for(M, task_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * K;
      T* yr = y + r * K;
      double mean, rstd;
      row_stats(xr, K, eps, mean, rstd);
      mo[r] = (T)mean;
      ro[r] = (T)rstd;
      // y = (x - mean) * rstd * w + b (exact centring, see batch norm)
      const T mt = (T)mean, ml = (T)(mean - (double)mt);  // mean = hi + lo, as batch norm
      L->ln_row(yr, xr, w, b, K, mt, ml, (T)rstd);
    }
  });
}

template <class T>
void ln_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias, const Tensor& grad_out,
                 const Tensor& input, int64_t M, int64_t K, const Tensor& mean_t, const Tensor& rstd_t,
                 const Tensor* weight) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  const T* dy = grad_out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* mean = mean_t.data<T>();
  const T* rstd = rstd_t.data<T>();
  T* dx = grad_input ? grad_input->data<T>() : nullptr;
  const bool params = grad_weight || grad_bias;
  // Row blocks fixed by the shape; per-block partial sums of dw/db, combined in block order.
  const int64_t NB = params ? std::max<int64_t>(1, std::min<int64_t>(M, 64)) : M;
  const int64_t rb = ceil_div(M, NB);
  std::vector<double> pw(params ? NB * K : 0, 0.0), pbias(params ? NB * K : 0, 0.0);
  parallel_for(NB, task_grain(rb * K), [&](int64_t b0, int64_t b1) {
    std::vector<T> g(dx && w ? K : 0);
    for (int64_t blk = b0; blk < b1; ++blk) {
      double* pwb = params ? pw.data() + blk * K : nullptr;
      double* pbb = params ? pbias.data() + blk * K : nullptr;
      for (int64_t r = blk * rb; r < std::min(M, blk * rb + rb); ++r) {
        const T* xr = x + r * K;
        const T* gr = dy + r * K;
        const double m = (double)mean[r], rs = (double)rstd[r];
        if (dx) {
          const T* gw = gr;
          if (w) {
            L->mul_rows(g.data(), gr, w, K);
            gw = g.data();
          }
          double sg = 0, sgx = 0;  // sum(g), sum(g * (x - mean))
          grad_sums(gw, xr, K, m, sg, sgx);
          const T a = (T)rs, bc = (T)(-sgx * rs * rs * rs / (double)K), cd = (T)(-sg * rs / (double)K),
                  mt = mean[r];
          L->norm_dx(dx + r * K, gw, xr, K, a, mt, bc, cd);
        }
        if (params) L->param_grad_row(gr, xr, m, rs, pwb, pbb, K);
      }
    }
  });
  if (!params) return;
  T* gw = grad_weight ? grad_weight->data<T>() : nullptr;
  T* gb = grad_bias ? grad_bias->data<T>() : nullptr;
  parallel_for(K, task_grain(NB), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double sw = 0, sb = 0;
      for (int64_t blk = 0; blk < NB; ++blk) {
        sw += pw[blk * K + j];
        sb += pbias[blk * K + j];
      }
      if (gw) gw[j] = (T)sw;
      if (gb) gb[j] = (T)sb;
    }
  });
}

// ------------------------------------------------------------------------------------ group norm
template <class T>
void gn_forward(const Tensor& out, const Tensor& mean_t, const Tensor& rstd_t, const Tensor& input, int64_t N,
                int64_t C, int64_t S, int64_t G, const Tensor* weight, const Tensor* bias, double eps) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  T* y = out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* bb = opt_data<T>(bias);
  T* mo = mean_t.data<T>();
  T* ro = rstd_t.data<T>();
  const int64_t D = C / G, len = D * S;
  // One task per (n, g): statistics, then the D planes of the group while they are in cache.
  parallel_for(N * G, task_grain(len), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / G, g = t % G;
      const int64_t off = (n * C + g * D) * S;
      double mean, rstd;
      row_stats(x + off, len, eps, mean, rstd);
      const T mt = (T)mean, rt = (T)rstd, ml = (T)(mean - (double)mt);
      mo[t] = mt;
      ro[t] = rt;
      for (int64_t d = 0; d < D; ++d) {
        const int64_t c = g * D + d;
        const T a = rt * (w ? w[c] : T(1));
        const T cst = bb ? bb[c] : T(0);
        L->affine_plane(y + off + d * S, x + off + d * S, S, mt, a, cst - ml * a);
      }
    }
  });
}

template <class T>
void gn_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias, const Tensor& grad_out,
                 const Tensor& input, int64_t N, int64_t C, int64_t S, int64_t G, const Tensor& mean_t,
                 const Tensor& rstd_t, const Tensor* weight) {
  const norm::Fns<T>* L = loops<T>();
  const T* x = input.data<T>();
  const T* dy = grad_out.data<T>();
  const T* w = opt_data<T>(weight);
  const T* mean = mean_t.data<T>();
  const T* rstd = rstd_t.data<T>();
  T* dx = grad_input ? grad_input->data<T>() : nullptr;
  const int64_t D = C / G, len = D * S;
  // Per (n, c): sum(dy) and sum(dy * (x - mean)) over the plane; then per group the coefficients.
  std::vector<double> sdy(N * C), sdx(N * C);
  parallel_for(N * G, task_grain(len), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / G, g = t % G;
      const double m = (double)mean[t], rs = (double)rstd[t];
      double dbg = 0, dsg = 0;  // sums of w * sdy, w * sdx over the group's channels
      for (int64_t d = 0; d < D; ++d) {
        const int64_t c = g * D + d, off = (n * C + c) * S;
        double a = 0, q = 0;
        grad_sums(dy + off, x + off, S, m, a, q);
        sdy[n * C + c] = a;
        sdx[n * C + c] = q;
        const double wc = w ? (double)w[c] : 1.0;
        dbg += wc * a;
        dsg += wc * q;
      }
      if (!dx) continue;
      const T bc = (T)(-dsg * rs * rs * rs / (double)len), cd = (T)(-dbg * rs / (double)len), mt = mean[t];
      for (int64_t d = 0; d < D; ++d) {
        const int64_t c = g * D + d, off = (n * C + c) * S;
        L->norm_dx(dx + off, dy + off, x + off, S, rstd[t] * (w ? w[c] : T(1)), mt, bc, cd);
      }
    }
  });
  if (!grad_weight && !grad_bias) return;
  T* gw = grad_weight ? grad_weight->data<T>() : nullptr;
  T* gb = grad_bias ? grad_bias->data<T>() : nullptr;
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sw += sdx[n * C + c] * (double)rstd[n * G + c / D];
      sb += sdy[n * C + c];
    }
    if (gw) gw[c] = (T)sw;
    if (gb) gb[c] = (T)sb;
  }
}

}  // namespace

void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& input,
                        int64_t N, int64_t C, int64_t S, const Tensor* weight, const Tensor* bias,
                        const Tensor* running_mean, const Tensor* running_var, bool training, double momentum,
                        double eps) {
  FLB_DISPATCH_FLOATING(input.dtype, "batch_norm", [&] {
    bn_forward<scalar_t>(out, save_mean, save_invstd, input, N, C, S, weight, bias, running_mean, running_var,
                         training, momentum, eps);
  });
}

void batch_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         const Tensor* weight, const Tensor& mean, const Tensor& invstd, bool training) {
  FLB_DISPATCH_FLOATING(input.dtype, "batch_norm_backward", [&] {
    bn_backward<scalar_t>(grad_input, grad_weight, grad_bias, grad_out, input, N, C, S, weight, mean, invstd,
                          training);
  });
}

void layer_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input, int64_t M,
                        int64_t K, const Tensor* weight, const Tensor* bias, double eps) {
  FLB_DISPATCH_FLOATING(input.dtype, "layer_norm",
                        [&] { ln_forward<scalar_t>(out, mean, rstd, input, M, K, weight, bias, eps); });
}

void layer_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t M, int64_t K, const Tensor& mean,
                         const Tensor& rstd, const Tensor* weight) {
  FLB_DISPATCH_FLOATING(input.dtype, "layer_norm_backward", [&] {
    ln_backward<scalar_t>(grad_input, grad_weight, grad_bias, grad_out, input, M, K, mean, rstd, weight);
  });
}

void group_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input, int64_t N,
                        int64_t C, int64_t S, int64_t G, const Tensor* weight, const Tensor* bias, double eps) {
  FLB_DISPATCH_FLOATING(input.dtype, "group_norm",
                        [&] { gn_forward<scalar_t>(out, mean, rstd, input, N, C, S, G, weight, bias, eps); });
}

void group_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S, int64_t G,
                         const Tensor& mean, const Tensor& rstd, const Tensor* weight) {
  FLB_DISPATCH_FLOATING(input.dtype, "group_norm_backward", [&] {
    gn_backward<scalar_t>(grad_input, grad_weight, grad_bias, grad_out, input, N, C, S, G, mean, rstd, weight);
  });
}

}  // namespace flambeau::cpu
