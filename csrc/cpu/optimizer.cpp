// Fused multi-tensor optimizer updates: SGD, Adam/AdamW, RMSprop, Adagrad.
//
// One call per optimizer step updates every parameter and its state in place, in one pass over
// memory: each element of param/grad/state is read once and written once, where the
// single-tensor PyTorch path (foreach=False) makes one pass per elementary op (mul_, add_, lerp_,
// addcmul_, sqrt, div, addcdiv_ ...). The work is the concatenation of all parameters, split
// evenly across threads whatever the individual sizes (multi_tensor_apply below), so a model made
// of many small tensors and a few big ones keeps every core busy; each thread's range is cut at
// tensor boundaries into calls of the per-ISA update loops.
//
// This file is the driver: per-parameter constants (computed in double as Python computes them,
// then rounded to the dtype where torch's kernels round them), thread split, and the choice of
// update loops: AVX-512 or AVX2 (csrc/cpu/simd/optim_avx512.cpp, optim_avx2.cpp) or the portable
// scalar loops compiled here from the same source (csrc/cpu/simd/optim_body.h, which documents the
// per-element arithmetic: torch's single-tensor path op for op, FMAs where torch fuses). Adam for
// example, per element:
//     g  = maximize ? -grad : grad;  g = fma(p, wd, g)  (Adam)  |  p *= 1 - lr * wd  (AdamW)
//     m  = lerp(m, g, 1 - beta1)                       (torch's lerp: two formulas around w = 0.5)
//     v  = fma((1 - beta2) * g, g, v * beta2)
//     vmax = max(vmax, v)                               (amsgrad; NaN propagates as torch.maximum)
//     p  = p + (-lr / bc1 * m) / (sqrt(v or vmax) / sqrt(bc2) + eps),  bc_i = 1 - beta_i^step
// The updates are memory-bound (Adam moves 7 x 4 bytes per float32 parameter): the vector loops
// exist so that sqrt and the divides do not become the bottleneck.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include "cpu/capability.h"
#include "cpu/norm_optim_kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/optim_simd.h"

namespace flambeau::cpu {

namespace {

// The portable loops: the scalar wrapper as the "vector" (no FMA instruction assumed: libm's fma).
namespace portable {
#include "cpu/simd/optim_body.h"
}  // namespace portable

template <class T>
const optim::Fns<T>* update_loops() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512) return optim::fns_f32_avx512();
    if (cap == Capability::AVX2) return optim::fns_f32_avx2();
    return portable::OptimTables<portable::ScalarW>::f32();
  } else {
    if (cap == Capability::AVX512) return optim::fns_f64_avx512();
    if (cap == Capability::AVX2) return optim::fns_f64_avx2();
    return portable::OptimTables<portable::ScalarW>::f64();
  }
}

// Calls body(k, begin, end) on element ranges of tensor k; the threads split the concatenation of
// all tensors into equal chunks.
template <class F>
void multi_tensor_apply(const std::vector<Tensor>& ts, F&& body) {
  const int64_t K = (int64_t)ts.size();
  std::vector<int64_t> start(K + 1, 0);
  for (int64_t k = 0; k < K; ++k) start[k + 1] = start[k] + ts[k].numel();
  parallel_for(start[K], kGrain, [&](int64_t b, int64_t e) {
    int64_t k = (int64_t)(std::upper_bound(start.begin(), start.end(), b) - start.begin()) - 1;
    while (b < e && k < K) {
      const int64_t hi = std::min(e, start[k + 1]);
      if (hi > b) body(k, b - start[k], hi - start[k]);
      b = std::max(b, hi);
      ++k;
    }
  });
}

// torch's lerp weight split: w and w - 1, and which formula applies.
template <class T>
void lerp_consts(double w, T& wt, T& wm1, bool& small) {
  small = std::abs(w) < 0.5;
  wt = (T)w;
  wm1 = (T)w - T(1);
}

template <class T>
void sgd_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
              const std::vector<char>& first, const SgdOptions& o) {
  const optim::Fns<T>* fns = update_loops<T>();
  optim::SgdK<T> base{(T)o.weight_decay, (T)o.momentum, (T)(1.0 - o.dampening), (T)(-o.lr),
                      o.weight_decay != 0, o.momentum != 0, false, o.nesterov, o.maximize};
  multi_tensor_apply(params, [&](int64_t k, int64_t b, int64_t e) {
    optim::SgdK<T> kk = base;
    kk.fresh = base.use_mom && first[k];
    fns->sgd(params[k].data<T>() + b, grads[k].data<T>() + b, base.use_mom ? bufs[k].data<T>() + b : nullptr, e - b,
             kk);
  });
}

template <class T>
void adam_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& m1,
               const std::vector<Tensor>& m2, const std::vector<Tensor>& mmax, const std::vector<double>& steps,
               const AdamOptions& o) {
  const optim::Fns<T>* fns = update_loops<T>();
  optim::AdamK<T> base{};
  lerp_consts<T>(1.0 - o.beta1, base.w1, base.w1m1, base.small);
  base.beta2 = (T)o.beta2;
  base.omb2 = (T)(1.0 - o.beta2);
  base.eps = (T)o.eps;
  base.wd = (T)o.weight_decay;
  base.decay = (T)(1.0 - o.lr * o.weight_decay);
  base.use_wd = o.weight_decay != 0;
  base.decoupled = o.decoupled;
  base.amsgrad = o.amsgrad;
  base.maximize = o.maximize;
  std::vector<optim::AdamK<T>> kc(params.size(), base);
  for (size_t k = 0; k < params.size(); ++k) {
    // As torch: bias_correction1 = 1 - beta1 ** step, step_size = lr / bc1, bc2 ** 0.5 (Python floats).
    const double bc1 = 1.0 - std::pow(o.beta1, steps[k]);
    const double bc2 = 1.0 - std::pow(o.beta2, steps[k]);
    kc[k].neg_step_size = (T)(-(o.lr / bc1));
    kc[k].bc2_sqrt = (T)std::pow(bc2, 0.5);
  }
  multi_tensor_apply(params, [&](int64_t k, int64_t b, int64_t e) {
    fns->adam(params[k].data<T>() + b, grads[k].data<T>() + b, m1[k].data<T>() + b, m2[k].data<T>() + b,
              o.amsgrad ? mmax[k].data<T>() + b : nullptr, e - b, kc[k]);
  });
}

template <class T>
void rmsprop_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sq,
                  const std::vector<Tensor>& ga, const std::vector<Tensor>& bufs, const RmspropOptions& o) {
  const optim::Fns<T>* fns = update_loops<T>();
  optim::RmspropK<T> kk{};
  kk.alpha = (T)o.alpha;
  kk.oma = (T)(1.0 - o.alpha);
  kk.eps = (T)o.eps;
  kk.wd = (T)o.weight_decay;
  kk.mom = (T)o.momentum;
  kk.neg_lr = (T)(-o.lr);
  lerp_consts<T>(1.0 - o.alpha, kk.wl, kk.wlm1, kk.small);
  kk.use_wd = o.weight_decay != 0;
  kk.centered = o.centered;
  kk.use_mom = o.momentum > 0;
  kk.maximize = o.maximize;
  multi_tensor_apply(params, [&](int64_t k, int64_t b, int64_t e) {
    fns->rmsprop(params[k].data<T>() + b, grads[k].data<T>() + b, sq[k].data<T>() + b,
                 kk.centered ? ga[k].data<T>() + b : nullptr, kk.use_mom ? bufs[k].data<T>() + b : nullptr, e - b,
                 kk);
  });
}

template <class T>
void adagrad_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sums,
                  const std::vector<double>& steps, const AdagradOptions& o) {
  const optim::Fns<T>* fns = update_loops<T>();
  std::vector<optim::AdagradK<T>> kc(params.size());
  for (size_t k = 0; k < params.size(); ++k) {
    // clr = lr / (1 + (step - 1) * lr_decay), as torch (Python floats)
    kc[k] = optim::AdagradK<T>{(T)(-(o.lr / (1.0 + (steps[k] - 1.0) * o.lr_decay))), (T)o.weight_decay, (T)o.eps,
                               o.weight_decay != 0, o.maximize};
  }
  multi_tensor_apply(params, [&](int64_t k, int64_t b, int64_t e) {
    fns->adagrad(params[k].data<T>() + b, grads[k].data<T>() + b, sums[k].data<T>() + b, e - b, kc[k]);
  });
}

DType list_dtype(const std::vector<Tensor>& params) { return params.empty() ? DType::Float32 : params[0].dtype; }

}  // namespace

void fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
               const std::vector<char>& first_step, const SgdOptions& o) {
  FLB_DISPATCH_FLOATING(list_dtype(params), "fused_sgd_",
                        [&] { sgd_impl<scalar_t>(params, grads, bufs, first_step, o); });
}

void fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<double>& steps, const AdamOptions& o) {
  FLB_DISPATCH_FLOATING(list_dtype(params), "fused_adam_", [&] {
    adam_impl<scalar_t>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o);
  });
}

void fused_rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                   const std::vector<Tensor>& bufs, const RmspropOptions& o) {
  FLB_DISPATCH_FLOATING(list_dtype(params), "fused_rmsprop_",
                        [&] { rmsprop_impl<scalar_t>(params, grads, square_avgs, grad_avgs, bufs, o); });
}

void fused_adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<double>& steps, const AdagradOptions& o) {
  FLB_DISPATCH_FLOATING(list_dtype(params), "fused_adagrad_",
                        [&] { adagrad_impl<scalar_t>(params, grads, state_sums, steps, o); });
}

}  // namespace flambeau::cpu
