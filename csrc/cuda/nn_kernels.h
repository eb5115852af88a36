// CUDA entry points of the neural-network ops: activations and losses (cuda/activation.cu,
// cuda/loss.cu), dropout (cuda/dropout.cu), fused optimizer steps (cuda/optimizer.cu),
// normalization (cuda/normalization.cu), pooling (cuda/pooling.cu) and convolution (cuda/conv.cu). Same names, signatures
// and preconditions as the CPU kernels they mirror (cpu/act_loss_kernels.h,
// cpu/norm_optim_kernels.h, cpu/nn_kernels.h), whose comments document each function; the
// option structs are the CPU ones. Every tensor lives on one CUDA device; kernels run on
// cuda::stream(device). Host-side results (total_weight, point_loss's flags) are read back with
// one synchronous copy, as documented per file.
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#pragma once
#include <cstdint>
#include <vector>
#include "core/tensor.h"
#include "cpu/act_loss_kernels.h"
#include "cpu/nn_kernels.h"
#include "cpu/norm_optim_kernels.h"
#include "ops/act_loss_enums.h"

namespace flambeau::cuda {

using cpu::AdagradOptions;
using cpu::AdamOptions;
using cpu::ConvGeometry;
using cpu::PoolGeometry;
using cpu::RmspropOptions;
using cpu::SgdOptions;

// ---------------------------------------------------------------- activations (activation.cu)
void activation(Act op, const Tensor& out, const Tensor& x, const ActParams& p);
void activation_backward(Act op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& saved,
                         const ActParams& p);
void prelu(const Tensor& out, const Tensor& x, const Tensor& w_expanded);
void prelu_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                    const Tensor& w, int64_t outer, int64_t C, int64_t inner);
void glu(const Tensor& out, const Tensor& a, const Tensor& b);
void glu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b);

// ---------------------------------------------------------------- losses (loss.cu)
void cross_entropy(const Tensor& loss, const Tensor& lse, double* total_weight, const Tensor& input,
                   const Tensor& target, const Tensor* weight, int64_t ignore_index, double label_smoothing,
                   Reduction reduction, int64_t N, int64_t C, int64_t inner);
void cross_entropy_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                            const Tensor& target, const Tensor& lse, const Tensor* weight, int64_t ignore_index,
                            double label_smoothing, Reduction reduction, double total_weight, int64_t N, int64_t C,
                            int64_t inner);
void cross_entropy_prob(const Tensor& loss, const Tensor& lse, const Tensor& input, const Tensor& target,
                        const Tensor* weight, double label_smoothing, Reduction reduction, int64_t N, int64_t C,
                        int64_t inner);
void cross_entropy_prob_backward(const Tensor* grad_in, const Tensor* grad_target, const Tensor& grad_out,
                                 const Tensor& input, const Tensor& target, const Tensor& lse, const Tensor* weight,
                                 double label_smoothing, Reduction reduction, int64_t N, int64_t C, int64_t inner);
void nll_loss(const Tensor& loss, double* total_weight, const Tensor& input, const Tensor& target,
              const Tensor* weight, int64_t ignore_index, Reduction reduction, int64_t N, int64_t C, int64_t inner);
void nll_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& target, const Tensor* weight,
                       int64_t ignore_index, Reduction reduction, double total_weight, int64_t N, int64_t C,
                       int64_t inner);
int point_loss(PointLoss kind, const Tensor& out, const Tensor& x, const Tensor& t, const Tensor* w,
               const Tensor* pos_weight, double param, Reduction reduction, double denom);
void point_loss_backward(PointLoss kind, const Tensor* grad_x, const Tensor* grad_t, const Tensor& grad_out,
                         const Tensor& x, const Tensor& t, const Tensor* w, const Tensor* pos_weight, double param,
                         double scale);
void multi_margin_loss(const Tensor& out, const Tensor& input, const Tensor& target, const Tensor* weight, int p,
                       double margin, Reduction reduction, int64_t N, int64_t C);
void multi_margin_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                                const Tensor& target, const Tensor* weight, int p, double margin,
                                Reduction reduction, int64_t N, int64_t C);
void cosine_embedding_loss(const Tensor& out, const Tensor& x1, const Tensor& x2, const Tensor& target,
                           double margin, Reduction reduction, int64_t N, int64_t D);
void cosine_embedding_loss_backward(const Tensor* g1, const Tensor* g2, const Tensor& grad_out, const Tensor& x1,
                                    const Tensor& x2, const Tensor& target, double margin, Reduction reduction,
                                    int64_t N, int64_t D);

// ---------------------------------------------------------------- dropout (dropout.cu)
void dropout(const Tensor& out, const Tensor& in, double p, uint64_t seed, uint64_t offset);
void feature_dropout(const Tensor& out, const Tensor& in, int64_t features, int64_t inner, double p,
                     uint64_t seed, uint64_t offset);

// ---------------------------------------------------------------- fused optimizers (optimizer.cu)
void fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& bufs, const std::vector<char>& first_step, const SgdOptions& o);
void fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<double>& steps,
                const AdamOptions& o);
void fused_rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                   const std::vector<Tensor>& bufs, const RmspropOptions& o);
void fused_adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<double>& steps,
                   const AdagradOptions& o);

// ---------------------------------------------------------------- normalization (normalization.cu)
void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd,
                        const Tensor& input, int64_t N, int64_t C, int64_t S, const Tensor* weight,
                        const Tensor* bias, const Tensor* running_mean, const Tensor* running_var,
                        bool training, double momentum, double eps);
void batch_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         const Tensor* weight, const Tensor& mean, const Tensor& invstd, bool training);
void layer_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input,
                        int64_t M, int64_t K, const Tensor* weight, const Tensor* bias, double eps);
void layer_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t M, int64_t K,
                         const Tensor& mean, const Tensor& rstd, const Tensor* weight);
void group_norm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& input,
                        int64_t N, int64_t C, int64_t S, int64_t G, const Tensor* weight,
                        const Tensor* bias, double eps);
void group_norm_backward(const Tensor* grad_input, const Tensor* grad_weight, const Tensor* grad_bias,
                         const Tensor& grad_out, const Tensor& input, int64_t N, int64_t C, int64_t S,
                         int64_t G, const Tensor& mean, const Tensor& rstd, const Tensor* weight);

// ---------------------------------------------------------------- convolution (conv.cu)
// Contiguous NCHW operands (checked); geometries whose in-kernel indices would not fit in int raise
// NotImplementedError. The weight and bias gradients are deterministic (no float atomics).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g);
void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const ConvGeometry& g);
void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const ConvGeometry& g);
void conv2d_backward_bias(const Tensor& grad_b, const Tensor& grad_y);
void conv2d_add_bias(const Tensor& y, const Tensor& bias);

// ---------------------------------------------------------------- pooling (pooling.cu)
void max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g);
void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t in_plane_size);
void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override);
void adaptive_avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g);
void adaptive_avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g);
void adaptive_max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g);

}  // namespace flambeau::cuda
