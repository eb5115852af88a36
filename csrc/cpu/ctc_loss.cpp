// Connectionist temporal classification loss (Graves, Fernandez, Gomez, Schmidhuber, ICML 2006),
// forward and backward, with torch.nn.functional.ctc_loss's semantics.
//
// For batch element b with input length L_in and target l (length S), the extended target l' has
// 2S + 1 states: blanks at even s, l[(s - 1) / 2] at odd s. In log space,
//   alpha_0(0) = lp_0(blank), alpha_0(1) = lp_0(l'_1), alpha_0(s > 1) = -inf,
//   alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2) if l'_s != l'_{s-2}])
//                + lp_t(l'_s),
//   nll = -logsumexp(alpha_{L_in-1}(2S), alpha_{L_in-1}(2S-1))   (-alpha_{L_in-1}(0) when S = 0),
// with L_in = 0 giving nll = 0 for an empty target and +inf otherwise. The skip condition compares
// l'_s with l'_{s-2} (as torch does), so repeated labels need a blank between them and a target that
// contains the blank label itself is handled as torch handles it. beta runs the same recursion
// backwards from beta_{L_in-1}(2S) = lp(blank), beta_{L_in-1}(2S-1) = lp(l'_{2S-1}); like alpha it
// includes lp_t(l'_s), so alpha_t(s) + beta_t(s) counts lp_t(l'_s) twice.
//
// The gradient is torch's (ctc_loss_backward_cpu), not the plain derivative with respect to
// log_probs: with lcab_t(c) = logsumexp over s with l'_s = c of alpha_t(s) + beta_t(s),
//   grad_t(c) = (exp(lp_t(c)) - exp(lcab_t(c) + nll - lp_t(c))) * grad_out_b       for t < L_in,
//   grad_t(c) = 0                                                                  for t >= L_in.
// The second term is the true derivative; the first adds softmax(lp) to it, which log_softmax's
// backward removes again (the two agree on the logits when log_probs = log_softmax(logits)).
// zero_infinity zeroes the gradient of elements whose nll is +inf; without it those gradients are
// NaN, as torch's are. At the last time step torch assigns (not log-adds) the two final states'
// products to lcab, so a target ending in the blank label keeps only the 2S-1 term; we do the same.
//
// Layout: log_probs [T, N, C] contiguous (one row of C log-probabilities per (t, b)); log_alpha
// [N, T, 2 * max_target + 1] float64, kept for the backward. All arithmetic is float64, also for
// float32 inputs (loss and gradient rounded once at the end). Batch elements are independent, so
// the batch is split among OpenMP threads; each thread has its own beta rows and per-class
// accumulators, and each element is computed by one thread in a fixed order: results do not
// depend on the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/ctc_loss.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b) + exp(c)) with torch's handling of all -inf (-> -inf, no NaN).
inline double lse3(double a, double b, double c) {
  double m = a;
  if (b > m) m = b;
  if (c > m) m = c;
  if (m == kNegInf) m = 0.0;
  return std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m)) + m;
}

inline double lse2(double a, double b) {
  double m = std::max(a, b);
  if (m == kNegInf) m = 0.0;
  return std::log(std::exp(a - m) + std::exp(b - m)) + m;
}

// The extended target l' of element b (2S + 1 labels) and skip[s] = (s > 1 && l'_s != l'_{s-2}).
void extended_target(const CtcProblem& p, const int64_t* targets, int64_t b, std::vector<int64_t>& lab,
                     std::vector<char>& skip) {
  const int64_t S = p.target_lengths[b], L = 2 * S + 1;
  const int64_t* tg = targets + p.target_offsets[b];
  lab.assign(L, p.blank);
  skip.assign(L, 0);
  for (int64_t k = 0; k < S; ++k) lab[2 * k + 1] = tg[k];
  for (int64_t s = 2; s < L; ++s) skip[s] = lab[s] != lab[s - 2];
}

// Work of one batch element, in elementary steps: splits the batch among threads only when it pays.
int64_t grain_for(const CtcProblem& p) {
  const int64_t per = std::max<int64_t>(1, p.T * (2 * p.max_target + 1 + p.C));
  return std::max<int64_t>(1, kGrain / (8 * per));
}

template <class T>
void forward_impl(const CtcProblem& p, const Tensor& log_probs, const Tensor& targets, bool zero_infinity,
                  const Tensor& loss_t, const Tensor& nll_t, const Tensor& log_alpha_t) {
  const T* lp = log_probs.data<T>();
  const int64_t* tg = targets.numel() ? targets.data<int64_t>() : nullptr;
  T* loss = loss_t.data<T>();
  double* nll = nll_t.data<double>();
  double* alpha_all = log_alpha_t.data<double>();
  const int64_t Tn = p.T, N = p.N, C = p.C, Lmax = 2 * p.max_target + 1;

  parallel_for(N, grain_for(p), [&](int64_t b0, int64_t b1) {
    std::vector<int64_t> lab;
    std::vector<char> skip;
    for (int64_t b = b0; b < b1; ++b) {
      double* la = alpha_all + b * Tn * Lmax;
      std::fill(la, la + Tn * Lmax, kNegInf);
      const int64_t len = p.input_lengths[b], S = p.target_lengths[b], L = 2 * S + 1;
      double ll;
      if (len == 0) {
        ll = S == 0 ? 0.0 : kNegInf;
      } else {
        extended_target(p, tg, b, lab, skip);
        auto lp_row = [&](int64_t t) { return lp + (t * N + b) * C; };
        const T* lp0 = lp_row(0);
        la[0] = (double)lp0[p.blank];
        if (S > 0) la[1] = (double)lp0[lab[1]];
        for (int64_t t = 1; t < len; ++t) {
          const double* prev = la + (t - 1) * Lmax;
          double* cur = la + t * Lmax;
          const T* lpt = lp_row(t);
          for (int64_t s = 0; s < L; ++s) {
            const double a2 = s > 0 ? prev[s - 1] : kNegInf;
            // lse2 is lse3 with a -inf third term, bit for bit, one exp cheaper
            const double a = skip[s] ? lse3(prev[s], a2, prev[s - 2]) : lse2(prev[s], a2);
            cur[s] = a + (double)lpt[lab[s]];
          }
        }
        const double* last = la + (len - 1) * Lmax;
        ll = S == 0 ? last[0] : lse2(last[2 * S], last[2 * S - 1]);
      }
      const double v = -ll;
      nll[b] = v;
      loss[b] = (zero_infinity && v == kInf) ? T(0) : (T)v;
    }
  });
}

template <class T>
void backward_impl(const CtcProblem& p, const Tensor& grad_out_t, const Tensor& log_probs, const Tensor& targets,
                   const Tensor& nll_t, const Tensor& log_alpha_t, bool zero_infinity, const Tensor& grad_t) {
  const T* lp = log_probs.data<T>();
  const int64_t* tg = targets.numel() ? targets.data<int64_t>() : nullptr;
  const double* gout = grad_out_t.data<double>();
  const double* nll_all = nll_t.data<double>();
  const double* alpha_all = log_alpha_t.data<double>();
  T* grad = grad_t.data<T>();
  const int64_t Tn = p.T, N = p.N, C = p.C, Lmax = 2 * p.max_target + 1;

  parallel_for(N, grain_for(p), [&](int64_t b0, int64_t b1) {
    std::vector<int64_t> lab;
    std::vector<char> skip;
    std::vector<double> beta_next, beta_cur, ab;
    // lcab[c] for the current time step (-inf for classes that no state of the target carries);
    // mx/sum: the per-class max and sum of exp(ab - max) for the log-sum over states.
    std::vector<double> lcab(C, kNegInf), mx(C, kNegInf), sum(C, 0.0);
    for (int64_t b = b0; b < b1; ++b) {
      auto grad_row = [&](int64_t t) { return grad + (t * N + b) * C; };
      const double nll = nll_all[b];
      const int64_t len = p.input_lengths[b], S = p.target_lengths[b], L = 2 * S + 1;
      const int64_t first_zero = (zero_infinity && nll == kInf) ? 0 : len;
      for (int64_t t = first_zero; t < Tn; ++t) std::fill(grad_row(t), grad_row(t) + C, T(0));
      if (first_zero == 0) continue;  // covers len == 0 too

      extended_target(p, tg, b, lab, skip);
      const double* la = alpha_all + b * Tn * Lmax;
      const double gr = gout[b];
      auto lp_row = [&](int64_t t) { return lp + (t * N + b) * C; };
      // grad_t(c) from lcab (classes outside the target keep lcab = -inf), then lcab is reset.
      auto finish_row = [&](int64_t t) {
        const T* lpt = lp_row(t);
        T* g = grad_row(t);
        for (int64_t c = 0; c < C; ++c) {
          const double l = (double)lpt[c];
          g[c] = (T)((std::exp(l) - std::exp(lcab[c] + nll - l)) * gr);
        }
        for (int64_t s = 0; s < L; ++s) lcab[lab[s]] = kNegInf;
      };

      beta_next.assign(L, kNegInf);
      beta_cur.assign(L, kNegInf);
      ab.resize(L);
      {  // t = len - 1: only the two final states start a path backwards.
        const int64_t t = len - 1;
        const T* lpt = lp_row(t);
        const double* lat = la + t * Lmax;
        beta_next[2 * S] = (double)lpt[p.blank];
        lcab[p.blank] = lat[2 * S] + beta_next[2 * S];
        if (S > 0) {
          beta_next[2 * S - 1] = (double)lpt[lab[2 * S - 1]];
          lcab[lab[2 * S - 1]] = lat[2 * S - 1] + beta_next[2 * S - 1];  // assigned, as torch does
        }
        finish_row(t);
      }
      for (int64_t t = len - 2; t >= 0; --t) {
        const T* lpt = lp_row(t);
        const double* lat = la + t * Lmax;
        for (int64_t s = L - 1; s >= 0; --s) {
          const double b2 = s < L - 1 ? beta_next[s + 1] : kNegInf;
          const double bs = (s < L - 2 && skip[s + 2]) ? lse3(beta_next[s], b2, beta_next[s + 2])
                                                       : lse2(beta_next[s], b2);
          beta_cur[s] = bs + (double)lpt[lab[s]];
          ab[s] = lat[s] + beta_cur[s];
        }
        // lcab[c] = logsumexp of ab[s] over the states s labelled c: the max, then one exp per state.
        for (int64_t s = 0; s < L; ++s) {
          const int64_t c = lab[s];
          if (ab[s] > mx[c]) mx[c] = ab[s];
        }
        for (int64_t s = 0; s < L; ++s) {
          const int64_t c = lab[s];
          if (mx[c] != kNegInf) sum[c] += std::exp(ab[s] - mx[c]);
        }
        for (int64_t s = 0; s < L; ++s) {
          const int64_t c = lab[s];
          lcab[c] = mx[c] == kNegInf ? kNegInf : std::log(sum[c]) + mx[c];
        }
        for (int64_t s = 0; s < L; ++s) {
          mx[lab[s]] = kNegInf;
          sum[lab[s]] = 0.0;
        }
        finish_row(t);
        std::swap(beta_next, beta_cur);
      }
    }
  });
}

}  // namespace

void ctc_loss_forward(const CtcProblem& p, const Tensor& log_probs, const Tensor& targets, bool zero_infinity,
                      const Tensor& loss, const Tensor& nll, const Tensor& log_alpha) {
  if (log_probs.dtype == DType::Float64)
    forward_impl<double>(p, log_probs, targets, zero_infinity, loss, nll, log_alpha);
  else
    forward_impl<float>(p, log_probs, targets, zero_infinity, loss, nll, log_alpha);
}

void ctc_loss_backward(const CtcProblem& p, const Tensor& grad_out, const Tensor& log_probs, const Tensor& targets,
                       const Tensor& nll, const Tensor& log_alpha, bool zero_infinity, const Tensor& grad) {
  if (log_probs.dtype == DType::Float64)
    backward_impl<double>(p, grad_out, log_probs, targets, nll, log_alpha, zero_infinity, grad);
  else
    backward_impl<float>(p, grad_out, log_probs, targets, nll, log_alpha, zero_infinity, grad);
}

}  // namespace flambeau::cpu
