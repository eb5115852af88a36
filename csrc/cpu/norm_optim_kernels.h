// CPU kernels for normalization (batch/layer/group norm), dropout and the fused multi-tensor
// optimizer updates. Called only from csrc/ops/{normalization,dropout,optimizer}.cpp, which check
// every argument first: the kernels assume contiguous tensors of one floating dtype (float32 or
// float64) with the shapes documented here. Optional tensors are passed as nullable pointers.
#pragma once
#include <cstdint>
#include <vector>
#include "core/tensor.h"

namespace flambeau::cpu {

// ---- normalization (csrc/cpu/normalization.cpp)

// Input viewed as (N, C, S), S = product of the trailing dims. Writes out (same shape),
// save_mean[C], save_invstd[C]. training: batch statistics (biased variance) and, when given,
// running_mean/running_var updated in place (unbiased variance, factor `momentum`); N*S >= 1.
// Evaluation: the running statistics normalise, save_* receive them (mean, 1/sqrt(var + eps)).
void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd,
                        const Tensor& input, int64_t N, int64_t C, int64_t S, const Tensor* weight,
                        const Tensor* bias, const Tensor* running_mean, const Tensor* running_var,
                        bool training, double momentum, double eps);
// grad_input / grad_weight / grad_bias may each be null (not wanted). mean/invstd: what the
// forward saved. training=false: the statistics were constants (evaluation-mode backward).
void batch_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         const Tensor* weight, const Tensor& mean, const Tensor& invstd, bool training);

// Input viewed as (M, K): statistics over each row of K elements. mean/rstd: M elements.
void layer_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input,
                        int64_t M, int64_t K, const Tensor* weight, const Tensor* bias, double eps);
void layer_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t M, int64_t K,
                         const Tensor& mean, const Tensor& rstd, const Tensor* weight);

// Input viewed as (N, C, S) with C = G groups of C/G channels; mean/rstd: N*G elements.
void group_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input,
                        int64_t N, int64_t C, int64_t S, int64_t G, const Tensor* weight,
                        const Tensor* bias, double eps);
void group_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         int64_t G, const Tensor& mean, const Tensor& rstd, const Tensor* weight);

// ---- dropout (csrc/cpu/dropout.cpp)

// out[i] = in[i] * noise(i), noise = 1/(1-p) where the element is kept and 0 where dropped;
// element i (row-major index) is kept iff philox_uniform_f(philox_word(seed, offset + i)) <
// (float)(1 - p). The backward is the same call on the gradient. 0 < p < 1; out may alias in.
void dropout(const Tensor& out, const Tensor& in, double p, uint64_t seed, uint64_t offset);
// Same with one draw per feature: in viewed as (features, inner); feature f uses position
// offset + f and scales or zeroes its `inner` elements together (dropout1d/2d/3d).
void feature_dropout(const Tensor& out, const Tensor& in, int64_t features, int64_t inner, double p,
                     uint64_t seed, uint64_t offset);

// ---- fused optimizer updates (csrc/cpu/optimizer.cpp)
// Lists are parallel (entry k of each belongs to parameter k); every tensor of entry k has the
// parameter's numel and dtype. One call updates everything in place, threads splitting the
// concatenated elements. Per-parameter step counts arrive already incremented.

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
// bufs empty when momentum == 0; first_step[k] != 0: bufs[k] is fresh and receives the gradient.
void fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& bufs, const std::vector<char>& first_step, const SgdOptions& o);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;  // decoupled: AdamW
};
// max_exp_avg_sqs empty unless amsgrad.
void fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<double>& steps,
                const AdamOptions& o);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
// grad_avgs empty unless centered; bufs empty unless momentum > 0.
void fused_rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                   const std::vector<Tensor>& bufs, const RmspropOptions& o);

struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};
void fused_adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<double>& steps,
                   const AdagradOptions& o);

}  // namespace flambeau::cpu
