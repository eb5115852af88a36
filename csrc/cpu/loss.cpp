// Loss kernels, forward and backward, each one pass over its inputs.
//
// Cross-entropy is log-softmax + NLL fused: one pass per row finds the max, one sums exp(x - max)
// (both in L1 for rows up to tens of thousands of classes), and the loss comes straight from
// lse = max + log(sum) without writing probabilities. The row's lse (float64) is the only thing
// saved for backward, which recomputes p = exp(x - lse) and writes the gradient in one pass.
// Logits in the thousands are exact to float rounding: x - max is formed before exp and the loss
// (max - x_t) + log(sum) before any large value is added. Rows of N-d inputs (N, C, d1, ...) are
// strided by d1*...; those are processed in tiles of consecutive positions so that every read of
// the input is contiguous.
//
// Determinism: every reduction (loss sums, weight sums, PReLU-style gradients) adds fixed-size
// blocks in float64, then the block partials in order: same bits for any thread count.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>
#include "cpu/act_loss_kernels.h"
#include "cpu/capability.h"
#include "cpu/loops.h"
#include "cpu/parallel.h"
#include "cpu/row_simd.h"

namespace flambeau::cpu {

RowFns row_fns() {
  RowFns r;
  switch (capability()) {
    case Capability::AVX512:
      r.max = simd::row_max_f32_avx512(), r.sumexp = simd::row_sumexp_f32_avx512();
      r.axpb = simd::row_softmax_axpb_f32_avx512();
      r.tile_fwd = simd::ce_tile_fwd_f32_avx512(), r.tile_bwd = simd::ce_tile_bwd_f32_avx512();
      break;
    case Capability::AVX2:
      r.max = simd::row_max_f32_avx2(), r.sumexp = simd::row_sumexp_f32_avx2();
      r.axpb = simd::row_softmax_axpb_f32_avx2();
      r.tile_fwd = simd::ce_tile_fwd_f32_avx2(), r.tile_bwd = simd::ce_tile_bwd_f32_avx2();
      break;
    default: break;
  }
  return r;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sums f(begin, end, acc) over [0, n) in fixed blocks; acc is a double[K] the block adds into.
template <int K, class F>
std::array<double, K> block_sums(int64_t n, int64_t block, int64_t work_per_item, F f) {
  using Acc = std::array<double, K>;
  const std::vector<Acc> part = fixed_block_results<Acc>(n, block, work_per_item, [&](int64_t b, int64_t e) {
    Acc acc{};
    f(b, e, acc.data());
    return acc;
  });
  Acc total{};
  for (const Acc& p : part)
    for (int k = 0; k < K; ++k) total[k] += p[k];
  return total;
}

// N-d tiles (see ce_tile_fwd/ce_tile_bwd in cpu/simd/act_vec.inc for the float32 leaves, which these
// match): J positions of one sample at a time, C planes `stride` apart. Planes 2^k bytes apart share
// cache sets (a 128x128 map puts all 21 planes of a tile in one L2 set group), so the forward reads
// the input once into a contiguous buffer and works there; the backward reads it once, in place.
inline int64_t tile_width(int64_t C) {
  return C <= 64 ? 256 : std::max<int64_t>(16, (16384 / C) & ~int64_t(15));
}

// Forward: buf = the planes ([C][J]), m = per-position max (all -inf: 0; NaN: NaN), and l = log of
// the sum of exp(x - m) (summed in T for C <= 64, as PyTorch does; in float64 for more).
template <class T>
inline void tile_fwd(const T* x, int64_t stride, int64_t C, int64_t nj, int64_t J, T* buf, T* m, double* l,
                     const RowFns& rf) {
  if constexpr (std::is_same_v<T, float>) {
    if (rf.tile_fwd) {
      alignas(64) float lf[256];
      rf.tile_fwd(x, stride, C, nj, J, buf, m, lf, l);
      if (C <= 64)
        for (int64_t j = 0; j < nj; ++j) l[j] = (double)lf[j];
      else
        for (int64_t j = 0; j < nj; ++j) l[j] = std::log(l[j]);
      return;
    }
  }
  alignas(64) T nan[256];  // 0, or a NaN met in that position (selects only: vectorises)
  for (int64_t j = 0; j < nj; ++j) m[j] = -std::numeric_limits<T>::infinity(), nan[j] = T(0);
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * stride;
    T* bc = buf + c * J;
    for (int64_t j = 0; j < nj; ++j) {
      T v = xc[j];
      bc[j] = v;
      nan[j] = v != v ? v : nan[j];
      m[j] = v > m[j] ? v : m[j];
    }
  }
  for (int64_t j = 0; j < nj; ++j) {
    if (nan[j] != nan[j]) m[j] = nan[j];
    if (std::isinf(m[j]) && m[j] < 0) m[j] = 0;
  }
  alignas(64) T sf[256];
  for (int64_t j = 0; j < nj; ++j) sf[j] = 0, l[j] = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T* bc = buf + c * J;
    if (C <= 64)
      for (int64_t j = 0; j < nj; ++j) sf[j] += std::exp(bc[j] - m[j]);
    else
      for (int64_t j = 0; j < nj; ++j) l[j] += (double)std::exp(bc[j] - m[j]);
  }
  for (int64_t j = 0; j < nj; ++j) l[j] = C <= 64 ? (double)std::log(sf[j]) : std::log(l[j]);
}

// Backward: g = A p + B - S w_c - (tf == c) K with p = exp((x - m) - l) (S null: no S term).
template <class T>
inline void tile_bwd(T* g, const T* x, int64_t stride, int64_t C, int64_t nj, const T* m, const T* l, const T* A,
                     const T* B, const T* tf, const T* K, const T* S, const T* w, const RowFns& rf) {
  if constexpr (std::is_same_v<T, float>) {
    if (rf.tile_bwd) {
      rf.tile_bwd(g, x, stride, C, nj, m, l, A, B, tf, K, S, w);
      return;
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * stride;
    T* gc = g + c * stride;
    const T cf = (T)c, wc = S ? w[c] : T(0);
    for (int64_t j = 0; j < nj; ++j) {
      T p = std::exp((xc[j] - m[j]) - l[j]);
      T o = A[j] * p + B[j];
      if (S) o -= S[j] * wc;
      gc[j] = o - (tf[j] == cf ? K[j] : T(0));
    }
  }
}

// sum_c w_c (m - x_c) over a contiguous row (w null: weights 1), in 8 lanes of T added in double at
// the end: vectorises, fixed order (the label-smoothing term, itself scaled by ls / C).
template <class T>
inline double row_dev_sum(const T* x, const T* w, T m, int64_t C) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  if (w) {
    for (; c + 8 <= C; c += 8)
      for (int j = 0; j < 8; ++j) acc[j] += w[c + j] * (m - x[c + j]);
    for (; c < C; ++c) acc[c & 7] += w[c] * (m - x[c]);
  } else {
    for (; c + 8 <= C; c += 8)
      for (int j = 0; j < 8; ++j) acc[j] += m - x[c + j];
    for (; c < C; ++c) acc[c & 7] += m - x[c];
  }
  double r = 0;
  for (int j = 0; j < 8; ++j) r += (double)acc[j];
  return r;
}

// max and sum of exp(x - max) of a contiguous row; NaN anywhere gives a NaN max.
template <class T>
inline void row_max_sum(const T* x, int64_t C, const RowFns& rf, T& m, double& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (rf.max) {
      m = rf.max(x, C);
      if (std::isinf(m) && m < 0) m = 0;  // all -inf: exp gives 0s, lse = -inf
      s = rf.sumexp(x, m, C);
      return;
    }
  }
  T mx = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (int64_t c = 0; c < C; ++c) {
    nan |= x[c] != x[c];
    mx = x[c] > mx ? x[c] : mx;
  }
  if (nan) mx = std::numeric_limits<T>::quiet_NaN();
  if (std::isinf(mx) && mx < 0) mx = 0;
  double acc = 0;
  for (int64_t c = 0; c < C; ++c) acc += (double)std::exp(x[c] - mx);
  m = mx;
  s = acc;
}

// gr = A * exp(x - lse) + B over a contiguous float32 row with the SIMD leaf: p_c = exp(x_c - m) *
// exp(m - lse), m the row max (an exact float), the second factor folded into A. False when there is
// no leaf for this dtype/capability.
template <class T>
inline bool row_softmax_grad(T* gr, const T* xr, int64_t C, double lse, double A, double B, const RowFns& rf) {
  if constexpr (std::is_same_v<T, float>) {
    if (!rf.axpb) return false;
    float m = rf.max(xr, C);
    if (std::isinf(m) && m < 0) m = 0;
    double f = std::exp((double)m - lse);
    rf.axpb(gr, xr, m, (float)(A * f), (float)B, C);
    return true;
  } else {
    return false;
  }
}

// Per-row loss pieces shared by the index-target forward kernels.
struct CEOpts {
  const double* w = nullptr;  // class weights as double, or null
  double wsum = 0;            // sum of the class weights (C when unweighted)
  double ls = 0;              // label smoothing
  int64_t ignore = -100;
  int64_t C = 0;
};

template <class T>
std::vector<double> weights_as_double(const Tensor* w, int64_t C) {
  std::vector<double> out;
  if (!w) return out;
  out.resize((size_t)C);
  const T* p = w->data<T>();
  for (int64_t c = 0; c < C; ++c) out[c] = (double)p[c];
  return out;
}

}  // namespace

// ---------------------------------------------------------------- cross-entropy, index targets
void cross_entropy(const Tensor& loss, const Tensor& lse_t, double* total_weight, const Tensor& input,
                   const Tensor& target, const Tensor* weight, int64_t ignore_index, double ls,
                   Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  FLB_DISPATCH_FLOATING(input.dtype, "cross_entropy", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const int64_t* tg = target.data<int64_t>();
    double* lse = lse_t.data<double>();
    std::vector<double> wv = weights_as_double<T>(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    double W = 0;
    if (w) for (int64_t c = 0; c < C; ++c) W += w[c];
    else W = (double)C;
    const bool none = reduction == Reduction::None;
    T* out = none ? loss.data<T>() : nullptr;
    std::vector<T> wt_T(weight ? (size_t)C : 0);
    if (weight) for (int64_t c = 0; c < C; ++c) wt_T[c] = weight->data<T>()[c];
    RowFns rf = row_fns();
    const double keep = 1.0 - ls, smooth = ls / (double)C;
    int64_t rows = N * inner;

    // Loss of one row from m (its max), l = lse - m, x_t, and (smoothing) sacc = sum_c w_c (m - x_c).
    auto finish = [&](int64_t i, double xt, double m, double l, double sacc, double& wt) -> double {
      int64_t t = tg[i];
      if (t == ignore_index) {
        wt = 0;
        return 0.0;
      }
      wt = w ? w[t] : 1.0;
      double r = keep * wt * ((m - xt) + l);  // nll = lse - x_t, without adding large values first
      if (ls > 0) r += smooth * (W * l + sacc);  // sum_c w_c (lse - x_c)
      return r;
    };

    // Rows of up to 16 classes go through the tile path too (transposed, W rows per vector): one
    // row at a time they are a chain of dependent vector steps with most lanes idle.
    const bool rows_t = inner == 1 && C <= 16 && std::is_same_v<T, float> && rf.tile_fwd != nullptr;
    if (inner == 1 && !rows_t) {
      int64_t block = std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1));
      auto sums = block_sums<2>(rows, block, C, [&](int64_t b, int64_t e, double* acc) {
        for (int64_t i = b; i < e; ++i) {
          const T* xr = x + i * C;
          T m;
          double s;
          row_max_sum<T>(xr, C, rf, m, s);
          double l = std::log(s);
          lse[i] = (double)m + l;
          double sacc = 0;
          if (ls > 0) sacc = row_dev_sum<T>(xr, w ? wt_T.data() : nullptr, m, C);
          int64_t t = tg[i];
          double xt = (t >= 0 && t < C) ? (double)xr[t] : 0.0;
          double wt;
          double r = finish(i, xt, (double)m, l, sacc, wt);
          if (none) out[i] = (T)r;
          acc[0] += r;
          acc[1] += wt;
        }
      });
      if (total_weight) *total_weight = sums[1];
      if (!none) {
        double v = reduction == Reduction::Mean ? sums[0] / sums[1] : sums[0];
        *loss.data<T>() = (T)v;
      }
      return;
    }
    // N-d: tiles of J consecutive positions of one sample (see tile_fwd): the input is read once,
    // into a contiguous [C][J] buffer, and the max, the sum of exps, the target logit and the
    // smoothing sums all come from there.
    const int64_t J = tile_width(C);
    const int64_t Ne = rows_t ? 1 : N, Ie = rows_t ? N : inner;  // rows: one "sample" of N positions
    int64_t tiles_per_n = (Ie + J - 1) / J;
    int64_t units = Ne * tiles_per_n;
    const int64_t ig = ignore_index;
    const double* wc = w;
    const double Wsum = W;
    auto sums = block_sums<2>(units, 4, C * J, [&](int64_t b, int64_t e, double* acc) {
      std::vector<T> bufv((size_t)(C * J * (rows_t ? 2 : 1)));
      T* buf = bufv.data();
      alignas(64) T mx[256], sacc[256];
      alignas(64) double l[256];
      for (int64_t u = b; u < e; ++u) {
        int64_t n = u / tiles_per_n, j0 = (u % tiles_per_n) * J, nj = std::min(Ie, j0 + J) - j0;
        if (rows_t) {
          T* tb = buf + C * J;
          for (int64_t j = 0; j < nj; ++j)
            for (int64_t c = 0; c < C; ++c) tb[c * J + j] = x[(j0 + j) * C + c];
          tile_fwd<T>(tb, J, C, nj, J, buf, mx, l, rf);
        } else {
          tile_fwd<T>(x + n * C * inner + j0, inner, C, nj, J, buf, mx, l, rf);
        }
        if (ls > 0) {
          for (int64_t j = 0; j < nj; ++j) sacc[j] = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T wc = w ? wt_T[c] : T(1);
            const T* bc = buf + c * J;
            for (int64_t j = 0; j < nj; ++j) sacc[j] += wc * (mx[j] - bc[j]);
          }
        }
        // Per position: lse, and the loss from m, l = lse - m, x_t (read from buf) and the smoothing
        // sum; the options are hoisted into locals so that this loop keeps them in registers.
        const int64_t r0 = n * Ie + j0;
        const int64_t* tr = tg + r0;
        double* lr = lse + r0;
        double a0 = 0, a1 = 0;
        for (int64_t j = 0; j < nj; ++j) {
          const double m = (double)mx[j], lj = l[j];
          lr[j] = m + lj;
          const int64_t t = tr[j];
          double r = 0, wt = 0;
          if (t != ig) {  // t in [0, C): checked by the op
            wt = wc ? wc[t] : 1.0;
            r = keep * wt * ((m - (double)buf[t * J + j]) + lj);  // lse - x_t, large values added last
            if (ls > 0) r += smooth * (Wsum * lj + (double)sacc[j]);  // sum_c w_c (lse - x_c)
          }
          if (none) out[r0 + j] = (T)r;
          a0 += r;
          a1 += wt;
        }
        acc[0] += a0;
        acc[1] += a1;
      }
    });
    if (total_weight) *total_weight = sums[1];
    if (!none) {
      double v = reduction == Reduction::Mean ? sums[0] / sums[1] : sums[0];
      *loss.data<T>() = (T)v;
    }
  });
}

void cross_entropy_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                            const Tensor& target, const Tensor& lse_t, const Tensor* weight, int64_t ignore_index,
                            double ls, Reduction reduction, double total_weight, int64_t N, int64_t C,
                            int64_t inner) {
  FLB_DISPATCH_FLOATING(input.dtype, "cross_entropy_backward", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const int64_t* tg = target.data<int64_t>();
    const double* lse = lse_t.data<double>();
    T* gi = grad_in.data<T>();
    const T* go = grad_out.data<T>();
    const bool none = reduction == Reduction::None;
    std::vector<double> wv = weights_as_double<T>(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    double W = 0;
    if (w) for (int64_t c = 0; c < C; ++c) W += w[c];
    else W = (double)C;
    const double keep = 1.0 - ls, smooth = ls / (double)C;
    const double norm = reduction == Reduction::Mean ? 1.0 / total_weight : 1.0;
    std::vector<T> wt_T(weight ? (size_t)C : 0);
    if (weight) for (int64_t c = 0; c < C; ++c) wt_T[c] = weight->data<T>()[c];
    RowFns rf = row_fns();
    int64_t rows = N * inner;

    // Row coefficients: gi_c = A p_c + B - (c == t) K - [weighted smoothing] scale*smooth*w_c.
    struct Coef { double A, B, K, scale; bool zero; };
    auto coef = [&](int64_t i) -> Coef {
      int64_t t = tg[i];
      if (t == ignore_index) return {0, 0, 0, 0, true};
      double scale = (double)(none ? go[i] : go[0]) * norm;
      double wt = w ? w[t] : 1.0;
      double A = scale * (keep * wt + smooth * W);
      double B = w ? 0.0 : -scale * smooth;
      return {A, B, scale * keep * wt, scale, false};
    };

    if (inner == 1) {
      int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1));
      parallel_for(rows, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const T* xr = x + i * C;
          T* gr = gi + i * C;
          Coef k = coef(i);
          if (k.zero) {
            for (int64_t c = 0; c < C; ++c) gr[c] = T(0);
            continue;
          }
          if (!row_softmax_grad<T>(gr, xr, C, lse[i], k.A, k.B, rf)) {
            const double l = lse[i];
            for (int64_t c = 0; c < C; ++c) {
              T p = std::exp((T)((double)xr[c] - l));
              gr[c] = (T)(k.A * (double)p + k.B);
            }
          }
          if (w && ls > 0) {
            const T a = (T)(k.scale * smooth);
            const T* wt = wt_T.data();
            for (int64_t c = 0; c < C; ++c) gr[c] -= a * wt[c];
          }
          int64_t t = tg[i];
          gr[t] = (T)((double)gr[t] - k.K);
        }
      });
      return;
    }
    // N-d tiles, as in the forward, but straight from the input: one read of x, one write of the
    // gradient. p = exp((x - m) - l) with m = lse rounded to T and l = lse - m (tiny, exact to
    // float64): x - m is exact near the top of the row, as with the row max, so logits in the
    // thousands keep float accuracy without a second pass for the max.
    const int64_t J = tile_width(C);
    int64_t tiles_per_n = (inner + J - 1) / J;
    int64_t units = N * tiles_per_n;
    const bool wls = w && ls > 0;
    const int64_t ig = ignore_index;
    const double* wc = w;
    const double Wsum = W, scale0 = none ? 0.0 : (double)go[0] * norm;
    parallel_for(units, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C * J)), [&](int64_t b, int64_t e) {
      alignas(64) T mf[256], lf[256], Af[256], Bf[256], Kf[256], Sf[256], tf[256];
      for (int64_t u = b; u < e; ++u) {
        int64_t n = u / tiles_per_n, j0 = (u % tiles_per_n) * J, nj = std::min(inner, j0 + J) - j0;
        int64_t base = n * C * inner + j0;
        int64_t r0 = n * inner + j0;
        const int64_t* tr = tg + r0;
        const double* lr = lse + r0;
        for (int64_t j = 0; j < nj; ++j) {
          const int64_t t = tr[j];
          const double scale = none ? (double)go[r0 + j] * norm : scale0;
          const bool live = t != ig;  // an ignored row: all coefficients 0 (even when norm is inf)
          const double wt = live ? (wc ? wc[t] : 1.0) : 0.0;
          Af[j] = live ? (T)(scale * (keep * wt + smooth * Wsum)) : T(0);
          Bf[j] = live && !wc ? (T)(-scale * smooth) : T(0);
          Kf[j] = live ? (T)(scale * keep * wt) : T(0);
          Sf[j] = live ? (T)(scale * smooth) : T(0);
          tf[j] = t == ig ? T(-1) : (T)t;
          const double L = lr[j];
          T m = (T)L;
          if (!std::isfinite(m)) m = 0;  // -inf (all -inf row), NaN: p = exp(x - lse) as it comes
          mf[j] = m, lf[j] = (T)(L - (double)m);
        }
        tile_bwd<T>(gi + base, x + base, inner, C, nj, mf, lf, Af, Bf, tf, Kf, wls ? Sf : nullptr,
                    wls ? wt_T.data() : nullptr, rf);
      }
    });
  });
}

// ---------------------------------------------------------------- cross-entropy, probability targets
void cross_entropy_prob(const Tensor& loss, const Tensor& lse_t, const Tensor& input, const Tensor& target,
                        const Tensor* weight, double ls, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  FLB_DISPATCH_FLOATING(input.dtype, "cross_entropy", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const T* tp = target.data<T>();
    double* lse = lse_t.data<double>();
    std::vector<double> wv = weights_as_double<T>(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const bool none = reduction == Reduction::None;
    T* out = none ? loss.data<T>() : nullptr;
    RowFns rf = row_fns();
    const double keep = 1.0 - ls, smooth = ls / (double)C;
    int64_t rows = N * inner;
    // One row at (n, j): elements x[base + c * inner].
    auto do_row = [&](int64_t i) -> double {
      int64_t n = i / inner, j = i % inner, base = n * C * inner + j;
      T m;
      double s;
      if (inner == 1) {
        row_max_sum<T>(x + base, C, rf, m, s);
      } else {
        T mx = -std::numeric_limits<T>::infinity();
        bool nan = false;
        for (int64_t c = 0; c < C; ++c) {
          T v = x[base + c * inner];
          nan |= v != v;
          mx = v > mx ? v : mx;
        }
        if (nan) mx = std::numeric_limits<T>::quiet_NaN();
        if (std::isinf(mx) && mx < 0) mx = 0;
        double acc = 0;
        for (int64_t c = 0; c < C; ++c) acc += (double)std::exp(x[base + c * inner] - mx);
        m = mx;
        s = acc;
      }
      double ls_m = std::log(s);  // lse - m
      lse[i] = (double)m + ls_m;
      // loss = sum_c a_c (lse - x_c) = sum_c a_c ((m - x_c) + (lse - m))
      double r = 0;
      for (int64_t c = 0; c < C; ++c) {
        double a = (double)tp[base + c * inner] * keep + smooth;
        if (w) a *= w[c];
        r += a * (((double)m - (double)x[base + c * inner]) + ls_m);
      }
      return r;
    };
    int64_t block = std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1));
    auto sums = block_sums<1>(rows, block, C, [&](int64_t b, int64_t e, double* acc) {
      for (int64_t i = b; i < e; ++i) {
        double r = do_row(i);
        if (none) out[i] = (T)r;
        acc[0] += r;
      }
    });
    if (!none) {
      double v = reduction == Reduction::Mean ? (rows == 0 ? kNaN : sums[0] / (double)rows) : sums[0];
      *loss.data<T>() = (T)v;
    }
  });
}

void cross_entropy_prob_backward(const Tensor* grad_in, const Tensor* grad_target, const Tensor& grad_out,
                                 const Tensor& input, const Tensor& target, const Tensor& lse_t, const Tensor* weight,
                                 double ls, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  FLB_DISPATCH_FLOATING(input.dtype, "cross_entropy_backward", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const T* tp = target.data<T>();
    const double* lse = lse_t.data<double>();
    const T* go = grad_out.data<T>();
    T* gi = grad_in ? grad_in->data<T>() : nullptr;
    T* gt = grad_target ? grad_target->data<T>() : nullptr;
    std::vector<double> wv = weights_as_double<T>(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const bool none = reduction == Reduction::None;
    const double keep = 1.0 - ls, smooth = ls / (double)C;
    int64_t rows = N * inner;
    const double norm = reduction == Reduction::Mean ? 1.0 / (double)rows : 1.0;
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        int64_t n = i / inner, j = i % inner, base = n * C * inner + j;
        double scale = (double)(none ? go[i] : go[0]) * norm;
        const double l = lse[i];
        // gi_c = scale (p_c sum_k a_k - a_c); gt_c = scale * keep * w_c (lse - x_c)
        double asum = 0;
        for (int64_t c = 0; c < C; ++c) {
          double a = (double)tp[base + c * inner] * keep + smooth;
          if (w) a *= w[c];
          asum += a;
        }
        for (int64_t c = 0; c < C; ++c) {
          int64_t k = base + c * inner;
          double wc = w ? w[c] : 1.0;
          if (gi) {
            double a = ((double)tp[k] * keep + smooth) * wc;
            T p = std::exp((T)((double)x[k] - l));
            gi[k] = (T)(scale * ((double)p * asum - a));
          }
          if (gt) gt[k] = (T)(scale * keep * wc * (l - (double)x[k]));
        }
      }
    });
  });
}

// ---------------------------------------------------------------- NLL
void nll_loss(const Tensor& loss, double* total_weight, const Tensor& input, const Tensor& target,
              const Tensor* weight, int64_t ignore_index, Reduction reduction, int64_t N, int64_t C, int64_t inner) {
  FLB_DISPATCH_FLOATING(input.dtype, "nll_loss", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const int64_t* tg = target.data<int64_t>();
    const T* w = weight ? weight->data<T>() : nullptr;
    const bool none = reduction == Reduction::None;
    T* out = none ? loss.data<T>() : nullptr;
    int64_t rows = N * inner;
    auto sums = block_sums<2>(rows, 16384, 1, [&](int64_t b, int64_t e, double* acc) {
      for (int64_t i = b; i < e; ++i) {
        int64_t t = tg[i];
        if (t == ignore_index) {
          if (none) out[i] = T(0);
          continue;
        }
        int64_t n = i / inner, j = i % inner;
        T wt = w ? w[t] : T(1);
        T r = -x[(n * C + t) * inner + j] * wt;
        if (none) out[i] = r;
        acc[0] += (double)r;
        acc[1] += (double)wt;
      }
    });
    if (total_weight) *total_weight = sums[1];
    if (!none) {
      double v = reduction == Reduction::Mean ? sums[0] / sums[1] : sums[0];
      *loss.data<T>() = (T)v;
    }
  });
}

void nll_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& target, const Tensor* weight,
                       int64_t ignore_index, Reduction reduction, double total_weight, int64_t N, int64_t C,
                       int64_t inner) {
  FLB_DISPATCH_FLOATING(grad_in.dtype, "nll_loss_backward", [&] {
    using T = scalar_t;
    const int64_t* tg = target.data<int64_t>();
    const T* w = weight ? weight->data<T>() : nullptr;
    const T* go = grad_out.data<T>();
    T* gi = grad_in.data<T>();
    const bool none = reduction == Reduction::None;
    const double norm = reduction == Reduction::Mean ? 1.0 / total_weight : 1.0;
    parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C * inner)), [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        T* g = gi + n * C * inner;
        for (int64_t k = 0; k < C * inner; ++k) g[k] = T(0);
        for (int64_t j = 0; j < inner; ++j) {
          int64_t i = n * inner + j, t = tg[i];
          if (t == ignore_index) continue;
          double wt = w ? (double)w[t] : 1.0;
          g[t * inner + j] = (T)(-wt * (double)(none ? go[i] : go[0]) * norm);
        }
      }
    });
  });
}

// ---------------------------------------------------------------- pointwise losses
namespace {

// Walks [begin, end) of the flat index of a StridedWalk serially (the caller cuts fixed blocks).
template <int N, class Inner>
void walk_range(const StridedWalk<N>& w, const std::array<char*, N>& base, int64_t begin, int64_t end, Inner&& inner) {
  int64_t nd = (int64_t)w.sizes.size();
  if (nd == 0) {
    std::array<char*, N> p = base;
    std::array<int64_t, N> z{};
    if (begin < end) inner(p, 1, z);
    return;
  }
  std::array<int64_t, N> ist;
  for (int k = 0; k < N; ++k) ist[k] = w.strides[k][nd - 1];
  int64_t row = w.sizes[nd - 1];
  std::vector<int64_t> idx(nd);
  std::array<char*, N> p = base;
  int64_t rem = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = rem % w.sizes[d];
    rem /= w.sizes[d];
    for (int k = 0; k < N; ++k) p[k] += idx[d] * w.strides[k][d];
  }
  int64_t left = end - begin;
  while (left > 0) {
    int64_t n = std::min(row - idx[nd - 1], left);
    inner(p, n, ist);
    left -= n;
    if (left == 0) break;
    for (int k = 0; k < N; ++k) p[k] -= idx[nd - 1] * ist[k];
    idx[nd - 1] = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d]++;
      for (int k = 0; k < N; ++k) p[k] += w.strides[k][d];
      if (idx[d] < w.sizes[d]) break;
      for (int k = 0; k < N; ++k) p[k] -= w.sizes[d] * w.strides[k][d];
      idx[d] = 0;
    }
  }
}

template <class T>
inline T log_sigmoid(T x) {
  T mn = x < T(0) ? x : T(0);
  return mn - std::log1p(std::exp(-std::abs(x)));
}

// Unweighted per-element loss. `ls` is log_sigmoid(x) (BCEWithLogits only, computed by the chunk's
// pre-pass). `bad` gets bit 1 for a BCE input outside [0, 1], bit 2 for a target.
template <PointLoss K, class T, bool HPW>
inline T point_value(T x, T t, T pw, T ls, T param, int& bad) {
  if constexpr (K == PointLoss::MSE) {
    T d = x - t;
    return d * d;
  } else if constexpr (K == PointLoss::L1) {
    return std::abs(x - t);
  } else if constexpr (K == PointLoss::SmoothL1) {  // beta > 0 (beta == 0 runs as L1)
    // Written with min instead of a branch (same value to rounding) so that the loop vectorises:
    // z < beta: 0.5 z^2 / beta; else 0.5 beta + (z - beta) = z - 0.5 beta.
    T z = std::abs(x - t);
    T zc = z < param ? z : param;
    return T(0.5) * zc * zc / param + (z - zc);
  } else if constexpr (K == PointLoss::Huber) {  // z < delta: 0.5 z^2; else delta (z - 0.5 delta)
    T z = std::abs(x - t);
    T zc = z < param ? z : param;
    return T(0.5) * zc * zc + param * (z - zc);
  } else if constexpr (K == PointLoss::BCE) {
    bad |= (!(x >= T(0) && x <= T(1)) ? 1 : 0) | (!(t >= T(0) && t <= T(1)) ? 2 : 0);
    T l1 = std::log1p(-x), l0 = std::log(x);
    l1 = l1 < T(-100) ? T(-100) : l1;
    l0 = l0 < T(-100) ? T(-100) : l0;
    return (t - T(1)) * l1 - t * l0;
  } else if constexpr (K == PointLoss::BCEWithLogits) {
    if constexpr (HPW) ls *= (pw - T(1)) * t + T(1);
    return (T(1) - t) * x - ls;
  } else if constexpr (K == PointLoss::KLDiv) {
    T xl = (t == T(0) && !(t != t)) ? T(0) : t * std::log(t);  // xlogy(t, t)
    return xl - t * x;
  } else {  // KLDivLogTarget
    return std::exp(t) * (t - x);
  }
}

// d loss / d x and d loss / d t of the unweighted element; sg = sigmoid(x), ls = log_sigmoid(x)
// (BCEWithLogits only, from the chunk's pre-pass).
template <PointLoss K, class T, bool HPW, bool WT = true>
inline void point_grad(T x, T t, T pw, T sg, T ls, T param, T& gx, T& gt) {
  if constexpr (K == PointLoss::MSE) {
    gx = T(2) * (x - t);
    gt = -gx;
  } else if constexpr (K == PointLoss::L1) {  // sign(x - t), NaN kept; selects only (vectorises)
    T d = x - t;
    T sg = (T)(d > T(0)) - (T)(d < T(0));
    gx = d != d ? d : sg;
    gt = -gx;
  } else if constexpr (K == PointLoss::SmoothL1) {  // beta > 0: clamp(d / beta, -1, 1)
    // (GCC 12 won't if-convert a select against a literal constant here; param / param is a
    // loop-invariant 1 it can't fold, and the loop then vectorises.)
    const T one = param / param;
    T q = (x - t) / param;
    q = q < -one ? -one : q;
    gx = q > one ? one : q;
    gt = -gx;
  } else if constexpr (K == PointLoss::Huber) {  // clamp(d, -delta, delta)
    T d = x - t;
    d = d < -param ? -param : d;
    gx = d > param ? param : d;
    gt = -gx;
  } else if constexpr (K == PointLoss::BCE) {
    T den = (T(1) - x) * x;
    den = den < T(1e-12) ? T(1e-12) : den;
    gx = (x - t) / den;
    // Only when the target's gradient is wanted: a libm call per element (it sets errno, so the
    // compiler may not drop it even unused) kept the input-gradient loop scalar and slow.
    if constexpr (WT) gt = -std::log(x / (T(1) - x));
    else gt = T(0);
  } else if constexpr (K == PointLoss::BCEWithLogits) {
    if constexpr (HPW) {
      T pt = pw * t;
      gx = (pt + T(1) - t) * sg - pt;
      gt = (ls - x) - ls * pw;  // log_sigmoid(-x) - pw * log_sigmoid(x)
    } else {
      gx = sg - t;
      gt = -x;
    }
  } else if constexpr (K == PointLoss::KLDiv) {
    gx = -t;
    // xlogy(t, t)'s gradient is log(t) + t / t: NaN at t == 0, as in PyTorch.
    gt = t == T(0) ? std::numeric_limits<T>::quiet_NaN() : std::log(t) + T(1) - x;
  } else {  // KLDivLogTarget
    T e = std::exp(t);
    gx = -e;
    gt = e * (t - x + T(1));
  }
}

// Elements are processed in chunks of kChunk: an optional vectorised pre-pass (log-sigmoid /
// sigmoid of the logits for BCEWithLogits, through the SIMD leaf for float32), the values into a
// chunk buffer, then the sum into 8 float64 lanes (fixed order: deterministic, vectorisable).
constexpr int64_t kChunk = 256;

struct LeafAct {
  simd::ActFwdF32Fn fwd = nullptr;
  simd::BceF32Fn bce = nullptr;
};
LeafAct leaf_act() {
  LeafAct l;
  switch (capability()) {
    case Capability::AVX512: l.fwd = simd::act_fwd_f32_avx512(); l.bce = simd::bce_f32_avx512(); break;
    case Capability::AVX2: l.fwd = simd::act_fwd_f32_avx2(); l.bce = simd::bce_f32_avx2(); break;
    default: break;
  }
  return l;
}

// BCE values of a contiguous float32 chunk through the SIMD leaf (vectorised log / log1p), the
// vectors it declines (a lane outside [2^-126, 1]) by the scalar formula. The range flags are
// gathered here in a plain loop (it vectorises). False when there is no leaf.
template <class T>
bool bce_prepass(T* out, const T* x, const T* t, int64_t m, const LeafAct& leaf, int& bad) {
  if constexpr (std::is_same_v<T, float>) {
    if (!leaf.bce) return false;
    int b1 = 0, b2 = 0;
    for (int64_t k = 0; k < m; ++k) {
      b1 |= !(x[k] >= 0.0f && x[k] <= 1.0f);
      b2 |= !(t[k] >= 0.0f && t[k] <= 1.0f);
    }
    bad |= (b1 ? 1 : 0) | (b2 ? 2 : 0);
    int64_t k = 0;
    while (k < m) {
      k += leaf.bce(out + k, x + k, t + k, m - k);
      if (k >= m) break;
      int64_t e = std::min<int64_t>(m, k + 16);  // one vector's worth (or less) by the scalar formula
      for (; k < e; ++k) {
        int dummy = 0;
        out[k] = point_value<PointLoss::BCE, T, false>(x[k], t[k], T(0), T(0), T(0), dummy);
      }
    }
    return true;
  } else {
    (void)out, (void)x, (void)t, (void)m, (void)leaf, (void)bad;
    return false;
  }
}

// out[k] = f(x[k * sx]) for the pre-pass: log_sigmoid (which = 0) or sigmoid (which = 1).
template <class T>
void prepass(int which, T* out, const T* x, int64_t sx, int64_t m, const LeafAct& leaf) {
  static const double zero[4] = {0, 0, 0, 0};
  if constexpr (std::is_same_v<T, float>) {
    if (leaf.fwd && sx == 1 && leaf.fwd(which == 0 ? simd::kLogSigmoid : simd::kSigmoid, zero, out, x, m)) return;
  }
  if (which == 0)
    for (int64_t k = 0; k < m; ++k) out[k] = log_sigmoid(x[k * sx]);
  else
    for (int64_t k = 0; k < m; ++k) out[k] = T(1) / (T(1) + std::exp(-x[k * sx]));
}

inline void add8(double* acc, const double* v, int64_t m) {
  int64_t k = 0;
  for (; k + 8 <= m; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += v[k + j];
  for (; k < m; ++k) acc[k & 7] += v[k];
}

template <PointLoss K, class T, bool HW, bool HPW, bool NONE>
struct PointFwd {
  // One run of n elements with element strides (sx, st, sw, spw, so).
  static void run(int64_t n, const T* x, int64_t sx, const T* t, int64_t stt, const T* w, int64_t sw, const T* pw,
                  int64_t spw, T* o, int64_t so, T param, double* acc, double* wacc, int& bad, const LeafAct& leaf) {
    alignas(64) T ls[kChunk];
    alignas(64) double val[kChunk];
    alignas(64) double wv[kChunk];
    const bool contig = sx == 1 && stt == 1 && (!HW || sw == 1) && (!HPW || spw == 1) && (!NONE || so == 1);
    int lbad = 0;
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      int64_t m = std::min(kChunk, n - c0);
      if constexpr (K == PointLoss::BCEWithLogits) prepass<T>(0, ls, x + c0 * sx, sx, m, leaf);
      bool pre = false;  // BCE: ls[] holds the values themselves
      if constexpr (K == PointLoss::BCE)
        if (contig) pre = bce_prepass<T>(ls, x + c0, t + c0, m, leaf, lbad);
      if (contig) {
        const T* xc = x + c0;
        const T* tc = t + c0;
        for (int64_t k = 0; k < m; ++k) {
          T v = pre ? ls[k] : point_value<K, T, HPW>(xc[k], tc[k], HPW ? pw[c0 + k] : T(0), ls[k], param, lbad);
          if constexpr (HW) {
            T wk = w[c0 + k];
            v *= wk;
            wv[k] = (double)wk;
          }
          if constexpr (NONE) o[c0 + k] = v;
          else val[k] = (double)v;
        }
      } else {
        for (int64_t k = 0; k < m; ++k) {
          int64_t i = c0 + k;
          T v = point_value<K, T, HPW>(x[i * sx], t[i * stt], HPW ? pw[i * spw] : T(0), ls[k], param, lbad);
          if constexpr (HW) {
            T wk = w[i * sw];
            v *= wk;
            wv[k] = (double)wk;
          }
          if constexpr (NONE) o[i * so] = v;
          else val[k] = (double)v;
        }
      }
      if constexpr (!NONE) add8(acc, val, m);
      if constexpr (HW) add8(wacc, wv, m);
    }
    bad |= lbad;
  }
};

template <PointLoss K, class T, bool HW, bool HPW, bool NONE>
int point_loss_typed(const Tensor& out, const Tensor& x, const Tensor& t, const Tensor* w, const Tensor* pw,
                     double param_d, Reduction reduction, double denom) {
  const T param = (T)param_d;
  // Operands: 0 shape/out, 1 x, 2 t, 3 w, 4 pw (missing ones alias x and are never read).
  const Tensor& o0 = NONE ? out : x;
  std::array<const Tensor*, 5> ts = {&o0, &x, &t, HW ? w : &x, HPW ? pw : &x};
  StridedWalk<5> walk(ts);
  auto base = base_ptrs<5>(ts);
  LeafAct leaf = leaf_act();
  int64_t n = x.numel();
  const int64_t B = 16384;
  int64_t nb = (n + B - 1) / B;
  std::vector<int> bad_blocks((size_t)std::max<int64_t>(nb, 1), 0);
  auto sums = block_sums<2>(n, B, 1, [&](int64_t b, int64_t e, double* res) {
    int bad = 0;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, wacc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    constexpr int64_t E = sizeof(T);
    walk_range<5>(walk, base, b, e, [&](std::array<char*, 5>& p, int64_t len, const std::array<int64_t, 5>& st) {
      PointFwd<K, T, HW, HPW, NONE>::run(len, (const T*)p[1], st[1] / E, (const T*)p[2], st[2] / E, (const T*)p[3],
                                         st[3] / E, (const T*)p[4], st[4] / E, (T*)p[0], st[0] / E, param, acc,
                                         wacc, bad, leaf);
    });
    double s = 0, ws = 0;
    for (int j = 0; j < 8; ++j) s += acc[j], ws += wacc[j];
    res[0] = s;
    res[1] = ws;
    bad_blocks[b / B] = bad;
  });
  if (!NONE) {
    double v = sums[0];
    if (reduction == Reduction::Mean) {
      double d = denom < 0 ? sums[1] : denom;
      v = v / d;  // empty input: 0 / 0 = NaN, as PyTorch
    }
    *out.data<T>() = (T)v;
  }
  int bad = 0;
  for (int c : bad_blocks) bad |= c;
  return bad;
}

template <PointLoss K, class T, bool HW, bool HPW, bool WX, bool WT>
void point_loss_backward_typed(const Tensor* gx_t, const Tensor* gt_t, const Tensor& go, const Tensor& x,
                               const Tensor& t, const Tensor* w, const Tensor* pw, double param_d, double scale) {
  const T param = (T)param_d;
  const T tscale = (T)scale;
  const Tensor& shape = gx_t ? *gx_t : *gt_t;
  std::array<const Tensor*, 7> ts = {gx_t ? gx_t : &shape, gt_t ? gt_t : &shape, &go, &x, &t, HW ? w : &x,
                                     HPW ? pw : &x};
  StridedWalk<7> walk(ts);
  constexpr bool want_x = WX, want_t = WT;
  LeafAct leaf = leaf_act();
  walk.run(base_ptrs<7>(ts), [&](std::array<char*, 7>& p, int64_t len, const std::array<int64_t, 7>& st) {
    constexpr int64_t E = sizeof(T);
    T* ox = (T*)p[0];
    T* ot = (T*)p[1];
    const T* g = (const T*)p[2];
    const T* xp = (const T*)p[3];
    const T* tp = (const T*)p[4];
    const T* wp = (const T*)p[5];
    const T* pwp = (const T*)p[6];
    const int64_t sox = st[0] / E, sot = st[1] / E, sg = st[2] / E, sx = st[3] / E, stt = st[4] / E, sw = st[5] / E,
                  spw = st[6] / E;
    alignas(64) T sgm[kChunk];
    alignas(64) T lsg[kChunk];
    const bool contig = sox == 1 && sot == 1 && (sg == 1 || sg == 0) && sx == 1 && stt == 1 && (!HW || sw == 1) &&
                        (!HPW || spw == 1);
    for (int64_t c0 = 0; c0 < len; c0 += kChunk) {
      int64_t m = std::min(kChunk, len - c0);
      if constexpr (K == PointLoss::BCEWithLogits) {
        prepass<T>(1, sgm, xp + c0 * sx, sx, m, leaf);
        if constexpr (want_t && HPW) prepass<T>(0, lsg, xp + c0 * sx, sx, m, leaf);
      }
      if (contig) {
        // grad_out is either elementwise (reduction 'none') or one broadcast value
        const T g0 = g[0] * tscale;
        const T* gc = sg ? g : nullptr;
        auto body = [&](auto G) {
          for (int64_t k = 0; k < m; ++k) {
            int64_t i = c0 + k;
            T gx, gt;
            point_grad<K, T, HPW, want_t>(xp[i], tp[i], HPW ? pwp[i] : T(0), sgm[k], lsg[k], param, gx, gt);
            T f;
            if constexpr (decltype(G)::value) f = gc[i] * tscale;
            else f = g0;
            if constexpr (HW) f *= wp[i];
            if constexpr (want_x) ox[i] = gx * f;
            if constexpr (want_t) ot[i] = gt * f;
          }
        };
        if (gc) body(std::true_type{});
        else body(std::false_type{});
      } else {
        for (int64_t k = 0; k < m; ++k) {
          int64_t i = c0 + k;
          T gx, gt;
          point_grad<K, T, HPW, want_t>(xp[i * sx], tp[i * stt], HPW ? pwp[i * spw] : T(0), sgm[k], lsg[k], param, gx,
                                        gt);
          T f = g[i * sg] * tscale;
          if constexpr (HW) f *= wp[i * sw];
          if constexpr (want_x) ox[i * sox] = gx * f;
          if constexpr (want_t) ot[i * sot] = gt * f;
        }
      }
    }
  }, kGrain / 4);
}

template <class T, class F>
auto by_kind(PointLoss k, F&& f) {
  switch (k) {
    case PointLoss::MSE: return f(std::integral_constant<PointLoss, PointLoss::MSE>{});
    case PointLoss::L1: return f(std::integral_constant<PointLoss, PointLoss::L1>{});
    case PointLoss::SmoothL1: return f(std::integral_constant<PointLoss, PointLoss::SmoothL1>{});
    case PointLoss::Huber: return f(std::integral_constant<PointLoss, PointLoss::Huber>{});
    case PointLoss::BCE: return f(std::integral_constant<PointLoss, PointLoss::BCE>{});
    case PointLoss::BCEWithLogits: return f(std::integral_constant<PointLoss, PointLoss::BCEWithLogits>{});
    case PointLoss::KLDiv: return f(std::integral_constant<PointLoss, PointLoss::KLDiv>{});
    default: return f(std::integral_constant<PointLoss, PointLoss::KLDivLogTarget>{});
  }
}

}  // namespace

int point_loss(PointLoss kind, const Tensor& out, const Tensor& x, const Tensor& t, const Tensor* w,
               const Tensor* pos_weight, double param, Reduction reduction, double denom) {
  if (kind == PointLoss::SmoothL1 && param == 0) kind = PointLoss::L1;  // PyTorch: beta == 0 is l1_loss
  int ok = 0;
  const bool hw = w != nullptr, hpw = pos_weight != nullptr && kind == PointLoss::BCEWithLogits;
  const bool none = reduction == Reduction::None;
  FLB_DISPATCH_FLOATING(x.dtype, "loss", [&] {
    using T = scalar_t;
    ok = by_kind<T>(kind, [&](auto Kc) {
      constexpr PointLoss K = decltype(Kc)::value;
      auto go = [&](auto HW, auto HPW, auto NONE) {
        return point_loss_typed<K, T, decltype(HW)::value, decltype(HPW)::value, decltype(NONE)::value>(
            out, x, t, w, pos_weight, param, reduction, denom);
      };
      using F = std::false_type;
      using Tr = std::true_type;
      if constexpr (K == PointLoss::BCEWithLogits) {
        if (hpw) {
          if (hw) return none ? go(Tr{}, Tr{}, Tr{}) : go(Tr{}, Tr{}, F{});
          return none ? go(F{}, Tr{}, Tr{}) : go(F{}, Tr{}, F{});
        }
      }
      if (hw) return none ? go(Tr{}, F{}, Tr{}) : go(Tr{}, F{}, F{});
      return none ? go(F{}, F{}, Tr{}) : go(F{}, F{}, F{});
    });
  });
  return ok;
}

void point_loss_backward(PointLoss kind, const Tensor* grad_x, const Tensor* grad_t, const Tensor& grad_out,
                         const Tensor& x, const Tensor& t, const Tensor* w, const Tensor* pos_weight, double param,
                         double scale) {
  if (kind == PointLoss::SmoothL1 && param == 0) kind = PointLoss::L1;
  const bool hw = w != nullptr, hpw = pos_weight != nullptr && kind == PointLoss::BCEWithLogits;
  FLB_DISPATCH_FLOATING(x.dtype, "loss_backward", [&] {
    using T = scalar_t;
    by_kind<T>(kind, [&](auto Kc) {
      constexpr PointLoss K = decltype(Kc)::value;
      auto go = [&](auto HW, auto HPW) {
        constexpr bool hw_ = decltype(HW)::value, hpw_ = decltype(HPW)::value;
        if (grad_x && grad_t)
          point_loss_backward_typed<K, T, hw_, hpw_, true, true>(grad_x, grad_t, grad_out, x, t, w, pos_weight, param,
                                                                 scale);
        else if (grad_x)
          point_loss_backward_typed<K, T, hw_, hpw_, true, false>(grad_x, grad_t, grad_out, x, t, w, pos_weight,
                                                                  param, scale);
        else
          point_loss_backward_typed<K, T, hw_, hpw_, false, true>(grad_x, grad_t, grad_out, x, t, w, pos_weight,
                                                                  param, scale);
        return 0;
      };
      using F = std::false_type;
      using Tr = std::true_type;
      if constexpr (K == PointLoss::BCEWithLogits)
        if (hpw) return hw ? go(Tr{}, Tr{}) : go(F{}, Tr{});
      return hw ? go(Tr{}, F{}) : go(F{}, F{});
    });
  });
}

// ---------------------------------------------------------------- multi-margin
void multi_margin_loss(const Tensor& out, const Tensor& input, const Tensor& target, const Tensor* weight, int p,
                       double margin, Reduction reduction, int64_t N, int64_t C) {
  FLB_DISPATCH_FLOATING(input.dtype, "multi_margin_loss", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const int64_t* tg = target.data<int64_t>();
    const T* w = weight ? weight->data<T>() : nullptr;
    const bool none = reduction == Reduction::None;
    T* o = none ? out.data<T>() : nullptr;
    const T mg = (T)margin;
    auto sums = block_sums<1>(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), C,
                              [&](int64_t b, int64_t e, double* acc) {
      for (int64_t i = b; i < e; ++i) {
        const T* xr = x + i * C;
        int64_t t = tg[i];
        T xt = xr[t];
        T s = 0;
        for (int64_t c = 0; c < C; ++c) {
          if (c == t) continue;
          T z = mg - xt + xr[c];
          if (z > T(0)) {
            T h = p == 1 ? z : z * z;
            if (w) h *= w[t];
            s += h;
          }
        }
        s /= (T)C;
        if (none) o[i] = s;
        acc[0] += (double)s;
      }
    });
    if (!none) {
      double v = reduction == Reduction::Mean ? sums[0] / (double)N : sums[0];
      *out.data<T>() = (T)v;
    }
  });
}

void multi_margin_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                                const Tensor& target, const Tensor* weight, int p, double margin,
                                Reduction reduction, int64_t N, int64_t C) {
  FLB_DISPATCH_FLOATING(input.dtype, "multi_margin_loss_backward", [&] {
    using T = scalar_t;
    const T* x = input.data<T>();
    const int64_t* tg = target.data<int64_t>();
    const T* w = weight ? weight->data<T>() : nullptr;
    const T* go = grad_out.data<T>();
    T* gi = grad_in.data<T>();
    const bool none = reduction == Reduction::None;
    const T g0 = reduction == Reduction::Mean ? T(1) / (T)(N * C) : T(1) / (T)C;
    const T mg = (T)margin;
    parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* xr = x + i * C;
        T* gr = gi + i * C;
        int64_t t = tg[i];
        T xt = xr[t];
        T gscale = none ? go[i] : go[0];
        T gt = 0;
        for (int64_t c = 0; c < C; ++c) {
          if (c == t) continue;
          T z = mg - xt + xr[c];
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
    });
  });
}

// ---------------------------------------------------------------- cosine embedding
// x1 . x2 and the squared norms of one row (plus PyTorch's 1e-12), in double, shared by the
// forward and the backward so both see the same cosine.
template <typename T>
inline void cosine_row_terms(const T* ar, const T* br, int64_t D, double& prod, double& m1, double& m2) {
  prod = 0, m1 = 0, m2 = 0;
  for (int64_t d = 0; d < D; ++d) {
    prod += (double)ar[d] * br[d];
    m1 += (double)ar[d] * ar[d];
    m2 += (double)br[d] * br[d];
  }
  m1 += 1e-12;
  m2 += 1e-12;
}

void cosine_embedding_loss(const Tensor& out, const Tensor& x1, const Tensor& x2, const Tensor& target,
                           double margin, Reduction reduction, int64_t N, int64_t D) {
  FLB_DISPATCH_FLOATING(x1.dtype, "cosine_embedding_loss", [&] {
    using T = scalar_t;
    const T* a = x1.data<T>();
    const T* b = x2.data<T>();
    const T* tg = target.data<T>();
    const bool none = reduction == Reduction::None;
    T* o = none ? out.data<T>() : nullptr;
    auto sums = block_sums<1>(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), D,
                              [&](int64_t b0, int64_t e, double* acc) {
      for (int64_t i = b0; i < e; ++i) {
        const T* ar = a + i * D;
        const T* br = b + i * D;
        double prod, m1, m2;
        cosine_row_terms(ar, br, D, prod, m1, m2);
        double cs = prod / std::sqrt(m1 * m2);
        double r = 0;
        if (tg[i] == T(1)) r = 1.0 - cs;
        else if (tg[i] == T(-1)) r = std::max(0.0, cs - margin);
        if (none) o[i] = (T)r;
        acc[0] += r;
      }
    });
    if (!none) {
      double v = reduction == Reduction::Mean ? (N == 0 ? kNaN : sums[0] / (double)N) : sums[0];
      *out.data<T>() = (T)v;
    }
  });
}

void cosine_embedding_loss_backward(const Tensor* g1, const Tensor* g2, const Tensor& grad_out, const Tensor& x1,
                                    const Tensor& x2, const Tensor& target, double margin, Reduction reduction,
                                    int64_t N, int64_t D) {
  FLB_DISPATCH_FLOATING(x1.dtype, "cosine_embedding_loss_backward", [&] {
    using T = scalar_t;
    const T* a = x1.data<T>();
    const T* b = x2.data<T>();
    const T* tg = target.data<T>();
    const T* go = grad_out.data<T>();
    T* ga = g1 ? g1->data<T>() : nullptr;
    T* gb = g2 ? g2->data<T>() : nullptr;
    const bool none = reduction == Reduction::None;
    const double norm = reduction == Reduction::Mean ? 1.0 / (double)N : 1.0;
    parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t b0, int64_t e) {
      for (int64_t i = b0; i < e; ++i) {
        const T* ar = a + i * D;
        const T* br = b + i * D;
        double prod, m1, m2;
        cosine_row_terms(ar, br, D, prod, m1, m2);
        double den = std::sqrt(m1 * m2);
        double cs = prod / den;
        double dl = 0;  // d loss / d cos
        if (tg[i] == T(1)) dl = -1;
        else if (tg[i] == T(-1) && cs - margin >= 0) dl = 1;
        dl *= (double)(none ? go[i] : go[0]) * norm;
        for (int64_t d = 0; d < D; ++d) {
          if (ga) ga[i * D + d] = (T)(dl * ((double)br[d] / den - cs * (double)ar[d] / m1));
          if (gb) gb[i * D + d] = (T)(dl * ((double)ar[d] / den - cs * (double)br[d] / m2));
        }
      }
    });
  });
}

}  // namespace flambeau::cpu
