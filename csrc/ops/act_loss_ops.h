// Activation and loss ops (csrc/ops/activation.cpp, csrc/ops/loss.cpp): argument checks, shape
// inference, output allocation and dispatch. Every check runs before any memory is touched and
// names the op and the shapes. CPU only for now (FLB_CPU_ONLY: a CUDA tensor gets a clear
// NotImplementedError).
#pragma once
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include "core/tensor.h"
#include "ops/act_loss_enums.h"

namespace flambeau::ops {

// ---- activations
// out = f(x). `out`, when given, must have x's shape and dtype (in-place ops pass x itself).
Tensor activation(Act op, const char* name, const Tensor& x, const ActParams& p, const std::optional<Tensor>& out);
// grad_in = grad * f'(saved) (saved = the input or the output, as documented in cpu/activation.cpp).
Tensor activation_backward(Act op, const char* name, const Tensor& grad, const Tensor& saved, const ActParams& p);
Tensor prelu(const Tensor& x, const Tensor& weight);
std::pair<Tensor, Tensor> prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight);
Tensor glu(const Tensor& x, int64_t dim);
Tensor glu_backward(const Tensor& grad, const Tensor& x, int64_t dim);

// ---- losses. `reduction` is 'none' | 'mean' | 'sum' (kl_div also 'batchmean').
Reduction parse_reduction(const std::string& s, const char* op, bool* batchmean = nullptr);
// Class-index targets (int64): returns (loss, lse, total_weight); class-probability targets
// (floating, input's shape): total_weight = number of rows.
std::tuple<Tensor, Tensor, double> cross_entropy(const Tensor& input, const Tensor& target,
                                                 const std::optional<Tensor>& weight, const std::string& reduction,
                                                 int64_t ignore_index, double label_smoothing);
std::pair<std::optional<Tensor>, std::optional<Tensor>> cross_entropy_backward(
    const Tensor& grad, const Tensor& input, const Tensor& target, const Tensor& lse,
    const std::optional<Tensor>& weight, const std::string& reduction, int64_t ignore_index, double label_smoothing,
    double total_weight, bool input_grad, bool target_grad);
std::pair<Tensor, double> nll_loss(const Tensor& input, const Tensor& target, const std::optional<Tensor>& weight,
                                   const std::string& reduction, int64_t ignore_index);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                         const std::optional<Tensor>& weight, const std::string& reduction, int64_t ignore_index,
                         double total_weight);
// Pointwise losses: input and target broadcast; weight / pos_weight broadcast to their shape.
Tensor point_loss(PointLoss kind, const Tensor& input, const Tensor& target, const std::optional<Tensor>& weight,
                  const std::optional<Tensor>& pos_weight, double param, const std::string& reduction);
// Gradients in the broadcast shape of input and target (the caller sums them to each shape).
std::pair<std::optional<Tensor>, std::optional<Tensor>> point_loss_backward(
    PointLoss kind, const Tensor& grad, const Tensor& input, const Tensor& target,
    const std::optional<Tensor>& weight, const std::optional<Tensor>& pos_weight, double param,
    const std::string& reduction, bool input_grad, bool target_grad);
Tensor multi_margin_loss(const Tensor& input, const Tensor& target, int64_t p, double margin,
                         const std::optional<Tensor>& weight, const std::string& reduction);
Tensor multi_margin_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target, int64_t p,
                                  double margin, const std::optional<Tensor>& weight, const std::string& reduction);
Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& target, double margin,
                             const std::string& reduction);
std::pair<std::optional<Tensor>, std::optional<Tensor>> cosine_embedding_loss_backward(
    const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& target, double margin,
    const std::string& reduction, bool grad1, bool grad2);

}  // namespace flambeau::ops
