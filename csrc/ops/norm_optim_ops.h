// Op entry points for normalization, dropout and the fused optimizer updates: argument checks
// (naming the op and the shapes), output allocation, dispatch (CPU only for now). The Python names
// and signatures are in csrc/python/API.md, section "Normalization, dropout, fused optimizers".
#pragma once
#include <array>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>
#include "core/tensor.h"

namespace flambeau::ops {

using OptTensor = std::optional<Tensor>;

// Reserves n positions of the global Philox stream (csrc/ops/creation.cpp): (seed, first position).
std::pair<uint64_t, uint64_t> reserve_random(int64_t n);

// ---- batch norm: input (N, C, *). Returns (out, save_mean[C], save_invstd[C]).
// training: batch statistics, running stats (when given) updated in place with `momentum`.
// eval: running_mean/running_var required; save_* are the running mean and 1/sqrt(var + eps).
std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& input, const OptTensor& weight, const OptTensor& bias,
                                              const OptTensor& running_mean, const OptTensor& running_var,
                                              bool training, double momentum, double eps);
// Returns (grad_input, grad_weight, grad_bias); an entry is computed only when its mask bit is set
// (None otherwise). training=false: the evaluation-mode backward (statistics are constants).
std::tuple<OptTensor, OptTensor, OptTensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                const OptTensor& weight, const Tensor& save_mean,
                                                                const Tensor& save_invstd, bool training,
                                                                std::array<bool, 3> mask);

// ---- layer norm over the trailing dims `normalized_shape`. Returns (out, mean, rstd), mean/rstd
// shaped input.shape[:-len(normalized_shape)] + [1] * len(normalized_shape), as PyTorch's.
std::tuple<Tensor, Tensor, Tensor> layer_norm(const Tensor& input, const Shape& normalized_shape,
                                              const OptTensor& weight, const OptTensor& bias, double eps);
std::tuple<OptTensor, OptTensor, OptTensor> layer_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                const Shape& normalized_shape, const Tensor& mean,
                                                                const Tensor& rstd, const OptTensor& weight,
                                                                std::array<bool, 3> mask);

// ---- group norm: input (N, C, *), C divisible by num_groups. Returns (out, mean[N, G], rstd[N, G]).
std::tuple<Tensor, Tensor, Tensor> group_norm(const Tensor& input, int64_t num_groups, const OptTensor& weight,
                                              const OptTensor& bias, double eps);
std::tuple<OptTensor, OptTensor, OptTensor> group_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                int64_t num_groups, const Tensor& mean,
                                                                const Tensor& rstd, const OptTensor& weight,
                                                                std::array<bool, 3> mask);

// ---- dropout. Returns (out, seed, offset): the stream positions the mask came from, for the
// backward. p == 0 copies, p == 1 gives input * 0 (no random numbers drawn in either case).
// `out` may be the input itself (in-place) or another tensor of its shape and dtype.
std::tuple<Tensor, uint64_t, uint64_t> dropout(const Tensor& input, double p, const OptTensor& out);
Tensor dropout_backward(const Tensor& grad, double p, uint64_t seed, uint64_t offset);
// One draw per (dim 0, dim 1) entry, shared by all trailing elements (dropout1d/2d/3d); input >= 2-D.
std::tuple<Tensor, uint64_t, uint64_t> feature_dropout(const Tensor& input, double p, const OptTensor& out);
Tensor feature_dropout_backward(const Tensor& grad, double p, uint64_t seed, uint64_t offset);

// ---- fused optimizer steps (in place). Parallel lists, entry k for parameter k. state_steps: one
// 1-element float tensor per parameter, incremented by 1 by the call (torch's `step_t += 1`).
// Returns the momentum buffers: bufs[k] if given, else a new one holding the first step's value
// (empty list when momentum == 0).
std::vector<Tensor> fused_sgd_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               const std::vector<OptTensor>& momentum_buffers, double lr, double momentum,
                               double dampening, double weight_decay, bool nesterov, bool maximize);
void fused_adam_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<Tensor>& state_steps, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
                 bool decoupled);
void fused_rmsprop_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                    const std::vector<Tensor>& momentum_buffers, const std::vector<Tensor>& state_steps, double lr,
                    double alpha, double eps, double weight_decay, double momentum, bool centered, bool maximize);
void fused_adagrad_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& state_sums, const std::vector<Tensor>& state_steps, double lr,
                    double lr_decay, double weight_decay, double eps, bool maximize);

}  // namespace flambeau::ops
