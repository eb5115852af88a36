// Loss ops: checks (shapes, dtypes, devices, target ranges, options), allocation and dispatch to the
// fused CPU kernels of cpu/loss.cpp. Semantics are PyTorch's (torch.nn.functional), including the
// weighted mean (divides by the sum of the target weights), ignore_index and label smoothing.
#include <cmath>
#include "core/copy.h"
#include "core/view.h"
#include "cpu/act_loss_kernels.h"
#include "ops/act_loss_ops.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

Reduction parse_reduction(const std::string& s, const char* op, bool* batchmean) {
  if (batchmean) *batchmean = false;
  if (s == "none") return Reduction::None;
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  if (batchmean && s == "batchmean") {
    *batchmean = true;
    return Reduction::Mean;
  }
  throw ValueError(str_cat(op, ": ", s, " is not a valid value for reduction"));
}

namespace {

void check_float(const Tensor& t, const char* op, const char* what) {
  FLB_CHECK(is_floating(t.dtype), TypeError, op, ": expected a floating-point ", what, ", got ", dtype_name(t.dtype),
            " with shape ", shape_str(t.sizes));
}

void check_like(const Tensor& t, const Tensor& input, const char* op, const char* what) {
  FLB_CHECK(t.device() == input.device(), RuntimeError, op, ": expected all tensors to be on the same device, but ",
            what, " is on ", t.device().str(), " and input on ", input.device().str());
  FLB_CHECK(t.dtype == input.dtype, TypeError, op, ": expected ", what, " to have the input's dtype ",
            dtype_name(input.dtype), ", got ", dtype_name(t.dtype));
}

// Layout of a class-scored input (C,) or (N, C, d1, ...): rows = N * inner.
struct ClassLayout {
  int64_t N = 1, C = 0, inner = 1;
  Shape loss_shape;  // input's shape without the class dim
};

ClassLayout class_layout(const Tensor& input, const char* op) {
  FLB_CHECK(input.dim() >= 1, ValueError, op, ": expected an input with 1 or more dimensions (got 0, shape [])");
  ClassLayout L;
  if (input.dim() == 1) {
    L.C = input.sizes[0];
    return L;
  }
  L.N = input.sizes[0];
  L.C = input.sizes[1];
  L.loss_shape.push_back(L.N);
  for (int64_t d = 2; d < input.dim(); ++d) {
    L.inner *= input.sizes[d];
    L.loss_shape.push_back(input.sizes[d]);
  }
  return L;
}

// Index targets: shape (N, d1, ...) for batched input, () or (1,) for unbatched; int64.
void check_index_target(const Tensor& input, const Tensor& target, const ClassLayout& L, const char* op) {
  FLB_CHECK(target.device() == input.device(), RuntimeError, op,
            ": expected all tensors to be on the same device, but target is on ", target.device().str(),
            " and input on ", input.device().str());
  FLB_CHECK(target.dtype == DType::Int64, RuntimeError, op,
            ": expected target of dtype int64 (class indices) or of the input's floating dtype (class "
            "probabilities), got ",
            dtype_name(target.dtype));
  if (input.dim() == 1) {
    FLB_CHECK(target.dim() == 0 || (target.dim() == 1 && target.sizes[0] == 1), ValueError, op,
              ": expected a 0-d target (or one of shape [1]) for an unbatched input of shape ", shape_str(input.sizes),
              ", got target of shape ", shape_str(target.sizes));
    return;
  }
  FLB_CHECK(target.dim() >= 1 && target.sizes[0] == L.N, ValueError, op, ": Expected input batch_size (", L.N,
            ") to match target batch_size (", target.dim() ? target.sizes[0] : 0, ") (input shape ",
            shape_str(input.sizes), ", target shape ", shape_str(target.sizes), ")");
  FLB_CHECK(target.sizes == L.loss_shape, RuntimeError, op, ": expected target size ", shape_str(L.loss_shape),
            ", got ", shape_str(target.sizes), " (input shape ", shape_str(input.sizes), ")");
}

// Every target in [0, C) or equal to ignore_index (when `allow_ignore`).
// A CUDA target is copied to the host for the check (one synchronous copy of the labels).
void check_target_range(const Tensor& target, int64_t C, int64_t ignore_index, bool allow_ignore, const char* op) {
  const Tensor tc = target.device().is_cuda() ? to(target, DType::Int64, cpu_device(), false) : target;
  const int64_t* t = tc.data<int64_t>();
  int64_t n = tc.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = t[i];
    if ((v < 0 || v >= C) && !(allow_ignore && v == ignore_index))
      throw IndexError(str_cat(op, ": target ", v, " is out of bounds for ", C, " classes"));
  }
}

void check_class_weight(const std::optional<Tensor>& w, const Tensor& input, int64_t C, const char* op) {
  if (!w) return;
  check_like(*w, input, op, "weight");
  FLB_CHECK(w->dim() == 1 && w->numel() == C, RuntimeError, op,
            ": weight tensor should be defined either for all ", C,
            " classes or no classes but got weight tensor of shape: ", shape_str(w->sizes));
}

}  // namespace

// ---------------------------------------------------------------- cross-entropy
std::tuple<Tensor, Tensor, double> cross_entropy(const Tensor& input, const Tensor& target,
                                                 const std::optional<Tensor>& weight, const std::string& reduction,
                                                 int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy";
  check_float(input, op, "input");
  ClassLayout L = class_layout(input, op);
  Reduction red = parse_reduction(reduction, op);
  FLB_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, RuntimeError, op,
            ": label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  check_class_weight(weight, input, L.C, op);
  const bool prob = is_floating(target.dtype);
  if (prob) {
    check_like(target, input, op, "target (class probabilities)");
    FLB_CHECK(target.sizes == input.sizes, RuntimeError, op, ": expected target size ", shape_str(input.sizes),
              " (class probabilities), got ", shape_str(target.sizes));
  } else {
    check_index_target(input, target, L, op);
  }
  Tensor x = contiguous(input), t = contiguous(target);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  if (!prob) check_target_range(t, L.C, ignore_index, true, op);
  int64_t rows = L.N * L.inner;
  Shape loss_shape = input.dim() == 1 ? (prob ? Shape{} : target.sizes) : L.loss_shape;
  Tensor loss = empty(red == Reduction::None ? loss_shape : Shape{}, input.dtype, input.device());
  Tensor lse = empty({rows}, DType::Float64, input.device());
  double total_weight = (double)rows;
  if (prob)
    FLB_BACKEND(input.device(), cross_entropy_prob, loss, lse, x, t, w ? &*w : nullptr, label_smoothing, red, L.N, L.C, L.inner);
  else
    FLB_BACKEND(input.device(), cross_entropy, loss, lse, &total_weight, x, t, w ? &*w : nullptr, ignore_index, label_smoothing, red, L.N,
                       L.C, L.inner);
  return {loss, lse, total_weight};
}

static void check_loss_grad(const Tensor& grad, const Tensor& input, Reduction red, const Shape& loss_shape,
                            const char* op) {
  check_like(grad, input, op, "grad");
  if (red == Reduction::None)
    FLB_CHECK(grad.sizes == loss_shape, ValueError, op, ": grad shape ", shape_str(grad.sizes),
              " differs from the loss shape ", shape_str(loss_shape));
  else
    FLB_CHECK(grad.numel() == 1, ValueError, op, ": expected a one-element grad for a reduced loss, got shape ",
              shape_str(grad.sizes));
}

std::pair<std::optional<Tensor>, std::optional<Tensor>> cross_entropy_backward(
    const Tensor& grad, const Tensor& input, const Tensor& target, const Tensor& lse,
    const std::optional<Tensor>& weight, const std::string& reduction, int64_t ignore_index, double label_smoothing,
    double total_weight, bool input_grad, bool target_grad) {
  const char* op = "cross_entropy_backward";
  check_float(input, op, "input");
  ClassLayout L = class_layout(input, op);
  Reduction red = parse_reduction(reduction, op);
  check_class_weight(weight, input, L.C, op);
  const bool prob = is_floating(target.dtype);
  if (prob) {
    check_like(target, input, op, "target (class probabilities)");
    FLB_CHECK(target.sizes == input.sizes, RuntimeError, op, ": expected target size ", shape_str(input.sizes),
              ", got ", shape_str(target.sizes));
  } else {
    check_index_target(input, target, L, op);
    FLB_CHECK(!target_grad, ValueError, op, ": class-index targets have no gradient");
  }
  int64_t rows = L.N * L.inner;
  FLB_CHECK(lse.dtype == DType::Float64 && lse.numel() == rows && lse.device() == input.device(), ValueError, op,
            ": saved log-sum-exp must be float64 with ", rows, " elements (got ", dtype_name(lse.dtype), " ",
            shape_str(lse.sizes), ")");
  Shape loss_shape = input.dim() == 1 ? (prob ? Shape{} : target.sizes) : L.loss_shape;
  check_loss_grad(grad, input, red, loss_shape, op);
  Tensor x = contiguous(input), t = contiguous(target), g = contiguous(grad), l = contiguous(lse);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  if (!prob) check_target_range(t, L.C, ignore_index, true, op);
  std::optional<Tensor> gi, gt;
  if (input_grad) gi = empty(input.sizes, input.dtype, input.device());
  if (target_grad) gt = empty(input.sizes, input.dtype, input.device());
  if (input.numel() == 0 || (!gi && !gt)) return {gi, gt};
  if (prob)
    FLB_BACKEND(input.device(), cross_entropy_prob_backward, gi ? &*gi : nullptr, gt ? &*gt : nullptr, g, x, t, l, w ? &*w : nullptr,
                                     label_smoothing, red, L.N, L.C, L.inner);
  else
    FLB_BACKEND(input.device(), cross_entropy_backward, *gi, g, x, t, l, w ? &*w : nullptr, ignore_index, label_smoothing, red, total_weight,
                                L.N, L.C, L.inner);
  return {gi, gt};
}

// ---------------------------------------------------------------- NLL
std::pair<Tensor, double> nll_loss(const Tensor& input, const Tensor& target, const std::optional<Tensor>& weight,
                                   const std::string& reduction, int64_t ignore_index) {
  const char* op = "nll_loss";
  check_float(input, op, "input");
  ClassLayout L = class_layout(input, op);
  Reduction red = parse_reduction(reduction, op);
  check_class_weight(weight, input, L.C, op);
  check_index_target(input, target, L, op);
  Tensor x = contiguous(input), t = contiguous(target);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  check_target_range(t, L.C, ignore_index, true, op);
  Shape loss_shape = input.dim() == 1 ? target.sizes : L.loss_shape;
  Tensor loss = empty(red == Reduction::None ? loss_shape : Shape{}, input.dtype, input.device());
  double tw = 0;
  FLB_BACKEND(input.device(), nll_loss, loss, &tw, x, t, w ? &*w : nullptr, ignore_index, red, L.N, L.C, L.inner);
  return {loss, tw};
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                         const std::optional<Tensor>& weight, const std::string& reduction, int64_t ignore_index,
                         double total_weight) {
  const char* op = "nll_loss_backward";
  check_float(input, op, "input");
  ClassLayout L = class_layout(input, op);
  Reduction red = parse_reduction(reduction, op);
  check_class_weight(weight, input, L.C, op);
  check_index_target(input, target, L, op);
  Shape loss_shape = input.dim() == 1 ? target.sizes : L.loss_shape;
  check_loss_grad(grad, input, red, loss_shape, op);
  Tensor t = contiguous(target), g = contiguous(grad);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  check_target_range(t, L.C, ignore_index, true, op);
  Tensor gi = empty(input.sizes, input.dtype, input.device());
  if (gi.numel() == 0) return gi;
  FLB_BACKEND(input.device(), nll_loss_backward, gi, g, t, w ? &*w : nullptr, ignore_index, red, total_weight, L.N, L.C, L.inner);
  return gi;
}

// ---------------------------------------------------------------- pointwise losses
static const char* point_name(PointLoss k) {
  switch (k) {
    case PointLoss::MSE: return "mse_loss";
    case PointLoss::L1: return "l1_loss";
    case PointLoss::SmoothL1: return "smooth_l1_loss";
    case PointLoss::Huber: return "huber_loss";
    case PointLoss::BCE: return "binary_cross_entropy";
    case PointLoss::BCEWithLogits: return "binary_cross_entropy_with_logits";
    default: return "kl_div";
  }
}

namespace {
struct PointPlan {
  Shape shape;
  Reduction red;
  bool batchmean = false;
  double denom = 0;  // Mean: divide by this; < 0: by the sum of the weights
};

PointPlan plan_point(PointLoss kind, const char* op, const Tensor& input, const Tensor& target,
                     const std::optional<Tensor>& weight, const std::optional<Tensor>& pos_weight, double param,
                     const std::string& reduction) {
  PointPlan P;
  check_float(input, op, "input");
  check_like(target, input, op, "target");
  bool is_kl = kind == PointLoss::KLDiv || kind == PointLoss::KLDivLogTarget;
  P.red = parse_reduction(reduction, op, is_kl ? &P.batchmean : nullptr);
  if (kind == PointLoss::BCE || kind == PointLoss::BCEWithLogits)
    FLB_CHECK(target.sizes == input.sizes, ValueError, op, ": target size (", shape_str(target.sizes),
              ") must be the same as input size (", shape_str(input.sizes), ")");
  if (kind == PointLoss::SmoothL1)
    FLB_CHECK(param >= 0, RuntimeError, op, ": smooth_l1_loss does not support negative values for beta (got ", param,
              ")");
  if (kind == PointLoss::Huber)
    FLB_CHECK(param > 0, RuntimeError, op, ": huber_loss does not support non-positive values for delta (got ", param,
              ")");
  P.shape = broadcast_shapes(input.sizes, target.sizes, op);
  auto check_bcast = [&](const std::optional<Tensor>& w, const char* what) {
    if (!w) return;
    check_like(*w, input, op, what);
    Shape b = broadcast_shapes(w->sizes, P.shape, op);
    FLB_CHECK(b == P.shape, ValueError, op, ": ", what, " of shape ", shape_str(w->sizes),
              " can't be broadcast to the loss shape ", shape_str(P.shape));
  };
  check_bcast(weight, "weight");
  check_bcast(pos_weight, "pos_weight");
  int64_t numel = shape_numel(P.shape);
  if (P.batchmean) P.denom = input.dim() > 0 ? (double)input.sizes[0] : 1.0;
  else if (weight && (kind == PointLoss::MSE || kind == PointLoss::L1)) P.denom = -1;
  else P.denom = (double)numel;
  return P;
}
}  // namespace

Tensor point_loss(PointLoss kind, const Tensor& input, const Tensor& target, const std::optional<Tensor>& weight,
                  const std::optional<Tensor>& pos_weight, double param, const std::string& reduction) {
  const char* op = point_name(kind);
  PointPlan P = plan_point(kind, op, input, target, weight, pos_weight, param, reduction);
  Tensor out = empty(P.red == Reduction::None ? P.shape : Shape{}, input.dtype, input.device());
  Tensor x = expand(input, P.shape), t = expand(target, P.shape);
  std::optional<Tensor> w, pw;
  if (weight) w = expand(*weight, P.shape);
  if (pos_weight) pw = expand(*pos_weight, P.shape);
  int bad = 0;
#ifdef FLAMBEAU_WITH_CUDA
  if (input.device().is_cuda())
    bad = cuda::point_loss(kind, out, x, t, w ? &*w : nullptr, pw ? &*pw : nullptr, param, P.red, P.denom);
  else
#else
  if (input.device().is_cuda()) throw RuntimeError(str_cat(op, ": flambeau was built without CUDA"));
#endif
    bad = cpu::point_loss(kind, out, x, t, w ? &*w : nullptr, pw ? &*pw : nullptr, param, P.red, P.denom);
  FLB_CHECK(!(bad & 1), RuntimeError, op, ": all elements of input should be between 0 and 1");
  FLB_CHECK(!(bad & 2), RuntimeError, op, ": all elements of target should be between 0 and 1");
  return out;
}

std::pair<std::optional<Tensor>, std::optional<Tensor>> point_loss_backward(
    PointLoss kind, const Tensor& grad, const Tensor& input, const Tensor& target,
    const std::optional<Tensor>& weight, const std::optional<Tensor>& pos_weight, double param,
    const std::string& reduction, bool input_grad, bool target_grad) {
  std::string name = std::string(point_name(kind)) + "_backward";
  const char* op = name.c_str();
  PointPlan P = plan_point(kind, op, input, target, weight, pos_weight, param, reduction);
  check_loss_grad(grad, input, P.red, P.shape, op);
  std::optional<Tensor> gx, gt;
  if (input_grad) gx = empty(P.shape, input.dtype, input.device());
  if (target_grad) gt = empty(P.shape, input.dtype, input.device());
  if (shape_numel(P.shape) == 0 || (!gx && !gt)) return {gx, gt};
  Tensor x = expand(input, P.shape), t = expand(target, P.shape);
  std::optional<Tensor> w, pw;
  if (weight) w = expand(*weight, P.shape);
  if (pos_weight) pw = expand(*pos_weight, P.shape);
  Tensor g = P.red == Reduction::None ? grad : expand(reshape(grad, {}), P.shape);
  double scale = 1.0;
  if (P.red == Reduction::Mean) {
    double denom = P.denom;
    if (denom < 0) {
      Tensor s = reduce(ReduceOp::Sum, to(*w, DType::Float64, w->device(), false), {}, false);
      if (s.device().is_cuda()) s = to(s, DType::Float64, cpu_device(), false);
      denom = *s.data<double>();
    }
    scale = 1.0 / denom;
  }
  FLB_BACKEND(input.device(), point_loss_backward, kind, gx ? &*gx : nullptr, gt ? &*gt : nullptr, g, x, t, w ? &*w : nullptr,
                           pw ? &*pw : nullptr, param, scale);
  return {gx, gt};
}

// ---------------------------------------------------------------- multi-margin
namespace {
struct MarginPlan {
  int64_t N, C;
  Shape loss_shape;
  Reduction red;
};
MarginPlan plan_margin(const char* op, const Tensor& input, const Tensor& target, int64_t p,
                       const std::optional<Tensor>& weight, const std::string& reduction) {
  check_float(input, op, "input");
  MarginPlan M;
  M.red = parse_reduction(reduction, op);
  FLB_CHECK(p == 1 || p == 2, ValueError, op, ": only p == 1 and p == 2 supported (got p=", p, ")");
  FLB_CHECK((input.dim() == 2 && input.sizes[1] != 0) || (input.dim() == 1 && input.sizes[0] != 0), ValueError, op,
            ": expected a non-empty vector or matrix with optional 0-dim batch size, but got input of shape ",
            shape_str(input.sizes));
  FLB_CHECK(target.device() == input.device(), RuntimeError, op, ": target is on ", target.device().str(),
            ", input on ", input.device().str());
  FLB_CHECK(target.dtype == DType::Int64, TypeError, op, ": expected target of dtype int64, got ",
            dtype_name(target.dtype));
  if (input.dim() == 2) {
    M.N = input.sizes[0], M.C = input.sizes[1];
    FLB_CHECK(target.dim() == 1 && target.sizes[0] == M.N, ValueError, op, ": inconsistent target size, expected ",
              M.N, " but got ", shape_str(target.sizes), " (input shape ", shape_str(input.sizes), ")");
    M.loss_shape = {M.N};
  } else {
    M.N = 1, M.C = input.sizes[0];
    FLB_CHECK(target.numel() == 1 && target.dim() <= 1, ValueError, op,
              ": inconsistent target size, expected 1 but got ", shape_str(target.sizes), " (input shape ",
              shape_str(input.sizes), ")");
    M.loss_shape = target.sizes;
  }
  if (weight) {
    check_like(*weight, input, op, "weight");
    FLB_CHECK(weight->dim() == 1 && weight->numel() == M.C, ValueError, op, ": weight must be one-dimensional with ",
              M.C, " elements, got shape ", shape_str(weight->sizes));
  }
  return M;
}
}  // namespace

Tensor multi_margin_loss(const Tensor& input, const Tensor& target, int64_t p, double margin,
                         const std::optional<Tensor>& weight, const std::string& reduction) {
  const char* op = "multi_margin_loss";
  MarginPlan M = plan_margin(op, input, target, p, weight, reduction);
  Tensor x = contiguous(input), t = contiguous(target);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  check_target_range(t, M.C, 0, false, op);
  Tensor out = empty(M.red == Reduction::None ? M.loss_shape : Shape{}, input.dtype, input.device());
  if (M.red == Reduction::None && M.N == 0) return out;
  FLB_BACKEND(input.device(), multi_margin_loss, out, x, t, w ? &*w : nullptr, (int)p, margin, M.red, M.N, M.C);
  return out;
}

Tensor multi_margin_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target, int64_t p,
                                  double margin, const std::optional<Tensor>& weight, const std::string& reduction) {
  const char* op = "multi_margin_loss_backward";
  MarginPlan M = plan_margin(op, input, target, p, weight, reduction);
  check_loss_grad(grad, input, M.red, M.loss_shape, op);
  Tensor x = contiguous(input), t = contiguous(target), g = contiguous(grad);
  std::optional<Tensor> w;
  if (weight) w = contiguous(*weight);
  check_target_range(t, M.C, 0, false, op);
  Tensor gi = empty(input.sizes, input.dtype, input.device());
  if (gi.numel() == 0) return gi;
  FLB_BACKEND(input.device(), multi_margin_loss_backward, gi, g, x, t, w ? &*w : nullptr, (int)p, margin, M.red, M.N, M.C);
  return gi;
}

// ---------------------------------------------------------------- cosine embedding
namespace {
struct CosPlan {
  int64_t N, D;
  Shape loss_shape;
  Reduction red;
};
CosPlan plan_cos(const char* op, const Tensor& x1, const Tensor& x2, const Tensor& target,
                 const std::string& reduction) {
  check_float(x1, op, "input1");
  check_like(x2, x1, op, "input2");
  check_like(target, x1, op, "target");
  CosPlan P;
  P.red = parse_reduction(reduction, op);
  FLB_CHECK(x1.sizes == x2.sizes, ValueError, op, ": input1 and input2 must have the same shape, got ",
            shape_str(x1.sizes), " and ", shape_str(x2.sizes));
  FLB_CHECK(target.dim() <= 1, ValueError, op, ": 0D or 1D target tensor expected, multi-target not supported (got ",
            shape_str(target.sizes), ")");
  if (target.dim() == 0) {
    FLB_CHECK(x1.dim() == 1, ValueError, op, ": 0D target tensor expects 1D input tensors, but found inputs with sizes ",
              shape_str(x1.sizes), " and ", shape_str(x2.sizes), ".");
    P.N = 1, P.D = x1.sizes[0];
  } else {
    FLB_CHECK(x1.dim() == 2, ValueError, op, ": 1D target tensor expects 2D input tensors, but found inputs with sizes ",
              shape_str(x1.sizes), " and ", shape_str(x2.sizes), ".");
    FLB_CHECK(target.sizes[0] == x1.sizes[0], ValueError, op, ": target of shape ", shape_str(target.sizes),
              " doesn't match the batch of inputs of shape ", shape_str(x1.sizes));
    P.N = x1.sizes[0], P.D = x1.sizes[1];
  }
  P.loss_shape = target.sizes;
  return P;
}
}  // namespace

Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& target, double margin,
                             const std::string& reduction) {
  const char* op = "cosine_embedding_loss";
  CosPlan P = plan_cos(op, x1, x2, target, reduction);
  Tensor a = contiguous(x1), b = contiguous(x2), t = contiguous(target);
  Tensor out = empty(P.red == Reduction::None ? P.loss_shape : Shape{}, x1.dtype, x1.device());
  if (P.red == Reduction::None && P.N == 0) return out;
  FLB_BACKEND(x1.device(), cosine_embedding_loss, out, a, b, t, margin, P.red, P.N, P.D);
  return out;
}

std::pair<std::optional<Tensor>, std::optional<Tensor>> cosine_embedding_loss_backward(
    const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& target, double margin,
    const std::string& reduction, bool grad1, bool grad2) {
  const char* op = "cosine_embedding_loss_backward";
  CosPlan P = plan_cos(op, x1, x2, target, reduction);
  check_loss_grad(grad, x1, P.red, P.loss_shape, op);
  std::optional<Tensor> g1, g2;
  if (grad1) g1 = empty(x1.sizes, x1.dtype, x1.device());
  if (grad2) g2 = empty(x2.sizes, x2.dtype, x2.device());
  if (x1.numel() == 0 || (!g1 && !g2)) return {g1, g2};
  Tensor a = contiguous(x1), b = contiguous(x2), t = contiguous(target), g = contiguous(grad);
  FLB_BACKEND(x1.device(), cosine_embedding_loss_backward, g1 ? &*g1 : nullptr, g2 ? &*g2 : nullptr, g, a, b, t, margin, P.red, P.N, P.D);
  return {g1, g2};
}

}  // namespace flambeau::ops
