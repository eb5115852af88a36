// CPU kernel entry points for activations (csrc/cpu/activation.cpp) and losses (csrc/cpu/loss.cpp).
// As in cpu/kernels.h, the dispatch layer (csrc/ops/activation.cpp, csrc/ops/loss.cpp) has already
// checked dtypes, devices, shapes and arguments, allocated the outputs and broadcast the inputs
// (stride-0 views) to the output's shape; these functions only compute. Every op is one pass over
// memory: no composition of elementwise kernels, no materialised intermediates.
#pragma once
#include <cstdint>
#include "core/tensor.h"
#include "ops/act_loss_enums.h"

namespace flambeau::cpu {

// ---------------------------------------------------------------- activations
// out = f(x); out and x have the same shape (x may be strided or broadcast; out may be x: in place).
void activation(Act op, const Tensor& out, const Tensor& x, const ActParams& p);
// grad_in = grad_out * f'(saved). `saved` is what PyTorch's backward reads: the output y for
// Sigmoid, Tanh, Relu (and for in-place Elu/LeakyRelu/Hardtanh/Threshold), the input x otherwise.
void activation_backward(Act op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& saved,
                         const ActParams& p);

// PReLU: out = x > 0 ? x : w * x, with w already broadcast (stride-0 view) to x's shape.
void prelu(const Tensor& out, const Tensor& x, const Tensor& w_expanded);
// Backward over contiguous x, grad viewed as [outer, C, inner] (C = weight.numel(); C == 1 means a
// single shared weight, then inner = numel). Writes grad_in (contiguous, x's shape) and grad_w ([C]):
// grad_in = x > 0 ? g : w[c] * g ; grad_w[c] = sum over outer, inner of (x > 0 ? 0 : x * g).
void prelu_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                    const Tensor& w, int64_t outer, int64_t C, int64_t inner);

// GLU: out = a * sigmoid(b), where a, b are the two halves of the input (strided views, out's shape).
void glu(const Tensor& out, const Tensor& a, const Tensor& b);
// ga = g * sigmoid(b); gb = g * a * sigmoid(b) * (1 - sigmoid(b)); ga/gb are views into grad_in.
void glu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b);

// ---------------------------------------------------------------- losses
// Cross-entropy with class-index targets, fused log-softmax + NLL. input contiguous [N, C, inner]
// (unbatched (C,) input is N = 1, inner = 1), target contiguous int64 [N, inner] already checked to
// be in [0, C) or == ignore_index, weight contiguous [C] or null.
// Writes lse ([N*inner] float64: the log-sum-exp of each row, saved for backward) and
//   reduction None: loss [N*inner] (input dtype), ignored rows 0;
//   Mean/Sum: loss a 0-d tensor; *total_weight = sum of target weights of non-ignored rows.
// loss_i = (1-ls) * w[t_i] * (lse_i - x_{i,t_i}) + (ls/C) * sum_c w_c * (lse_i - x_{i,c}); mean
// divides the sum by total_weight (PyTorch's semantics, label-smoothing term included).
void cross_entropy(const Tensor& loss, const Tensor& lse, double* total_weight, const Tensor& input,
                   const Tensor& target, const Tensor* weight, int64_t ignore_index, double label_smoothing,
                   Reduction reduction, int64_t N, int64_t C, int64_t inner);
// grad_in [N, C, inner] contiguous from grad_out (reduction None: [N*inner] contiguous; else 0-d),
// in one pass over the logits (softmax recomputed from the saved lse).
void cross_entropy_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                            const Tensor& target, const Tensor& lse, const Tensor* weight, int64_t ignore_index,
                            double label_smoothing, Reduction reduction, double total_weight, int64_t N, int64_t C,
                            int64_t inner);
// Cross-entropy with class-probability targets (target has input's shape, contiguous):
// loss_i = -sum_c w_c * t'_c * (x_c - lse_i), t' = t * (1 - ls) + ls / C; mean divides by N*inner.
void cross_entropy_prob(const Tensor& loss, const Tensor& lse, const Tensor& input, const Tensor& target,
                        const Tensor* weight, double label_smoothing, Reduction reduction, int64_t N, int64_t C,
                        int64_t inner);
// grad_in (may be null) and grad_target (may be null), both [N, C, inner] contiguous.
void cross_entropy_prob_backward(const Tensor* grad_in, const Tensor* grad_target, const Tensor& grad_out,
                                 const Tensor& input, const Tensor& target, const Tensor& lse, const Tensor* weight,
                                 double label_smoothing, Reduction reduction, int64_t N, int64_t C, int64_t inner);

// NLL loss over log-probabilities, same layout and target conventions as cross_entropy.
void nll_loss(const Tensor& loss, double* total_weight, const Tensor& input, const Tensor& target,
              const Tensor* weight, int64_t ignore_index, Reduction reduction, int64_t N, int64_t C, int64_t inner);
void nll_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& target, const Tensor* weight,
                       int64_t ignore_index, Reduction reduction, double total_weight, int64_t N, int64_t C,
                       int64_t inner);

// Pointwise regression/binary losses. x, t (and w when given) are broadcast to one shape (the
// loss's shape for reduction None). `param` is beta (smooth_l1), delta (huber), unused otherwise.
// For Mean, `denom` is what the sum is divided by (numel, or the weight sum; computed by the caller
// or, when denom < 0, by the kernel as the sum of w in the same pass).
// Returns 0, or (after writing everything) bit 1 when BCE met an input outside [0, 1] and bit 2 for
// a target outside [0, 1]; the caller raises.
int point_loss(PointLoss kind, const Tensor& out, const Tensor& x, const Tensor& t, const Tensor* w,
               const Tensor* pos_weight, double param, Reduction reduction, double denom);
// grad_x and/or grad_t (either may be null), x's broadcast shape, from grad_out (already broadcast:
// elementwise for None, stride-0 scalar otherwise) times `scale` (1/denom for Mean, else 1).
void point_loss_backward(PointLoss kind, const Tensor* grad_x, const Tensor* grad_t, const Tensor& grad_out,
                         const Tensor& x, const Tensor& t, const Tensor* w, const Tensor* pos_weight, double param,
                         double scale);

// Multi-class margin loss; input contiguous [N, C], target int64 [N] (checked), weight [C] or null.
void multi_margin_loss(const Tensor& out, const Tensor& input, const Tensor& target, const Tensor* weight, int p,
                       double margin, Reduction reduction, int64_t N, int64_t C);
void multi_margin_loss_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& input,
                                const Tensor& target, const Tensor* weight, int p, double margin,
                                Reduction reduction, int64_t N, int64_t C);

// Cosine embedding loss; x1, x2 contiguous [N, D], target contiguous [N] (input dtype).
void cosine_embedding_loss(const Tensor& out, const Tensor& x1, const Tensor& x2, const Tensor& target,
                           double margin, Reduction reduction, int64_t N, int64_t D);
void cosine_embedding_loss_backward(const Tensor* g1, const Tensor* g2, const Tensor& grad_out, const Tensor& x1,
                                    const Tensor& x2, const Tensor& target, double margin, Reduction reduction,
                                    int64_t N, int64_t D);

}  // namespace flambeau::cpu
