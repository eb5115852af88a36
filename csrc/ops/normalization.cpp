// Batch norm, layer norm, group norm: checks, allocation, dispatch. Inputs of any layout are made
// contiguous (the kernels read planes and rows); outputs are fresh contiguous tensors. Running
// statistics are updated in place, through a contiguous copy written back when they are views.
#include <cmath>
#include "cpu/norm_optim_kernels.h"
#include "ops/dispatch.h"
#include "ops/norm_optim_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

void check_float_input(const Tensor& t, const char* op) {
  FLB_CHECK(is_floating(t.dtype), TypeError, op, ": expected a floating-point input, got ", dtype_name(t.dtype));
}

// A per-channel (or per-element) parameter: same device and dtype as the input, `numel` elements.
void check_param(const OptTensor& t, const Tensor& input, int64_t numel, const char* op, const char* name) {
  if (!t) return;
  check_same_device(*t, input, op);
  FLB_CHECK(t->dtype == input.dtype, TypeError, op, ": ", name, " has dtype ", dtype_name(t->dtype),
            " but input has dtype ", dtype_name(input.dtype));
  FLB_CHECK(t->numel() == numel, RuntimeError, op, ": ", name, " should contain ", numel, " elements not ", t->numel());
}

std::optional<Tensor> contig(const OptTensor& t) {
  if (!t) return std::nullopt;
  return contiguous(*t);
}

const Tensor* ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }

void check_grad(const Tensor& grad, const Tensor& input, const char* op) {
  check_same_device(grad, input, op);
  FLB_CHECK(grad.dtype == input.dtype, TypeError, op, ": grad_output has dtype ", dtype_name(grad.dtype),
            " but input has dtype ", dtype_name(input.dtype));
  FLB_CHECK(grad.sizes == input.sizes, RuntimeError, op, ": grad_output shape ", shape_str(grad.sizes),
            " differs from input shape ", shape_str(input.sizes));
}

void check_stat(const Tensor& t, const Tensor& input, int64_t numel, const char* op, const char* name) {
  check_param(t, input, numel, op, name);
}

Tensor zeros(const Shape& s, DType dt, Device dev) { return full(s, Scalar::from_int(0), dt, dev); }

// (N, C, S) of an (N, C, *) input.
void ncs(const Tensor& x, int64_t& N, int64_t& C, int64_t& S) {
  N = x.sizes[0];
  C = x.sizes[1];
  S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.sizes[d];
}

}  // namespace

// ------------------------------------------------------------------------------------ batch norm
std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& input, const OptTensor& weight, const OptTensor& bias,
                                              const OptTensor& running_mean, const OptTensor& running_var,
                                              bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_float_input(input, op);
  FLB_CHECK(input.dim() >= 2, RuntimeError, op, ": expected at least 2-D input (N, C, ...), got shape ",
            shape_str(input.sizes));
  int64_t N, C, S;
  ncs(input, N, C, S);
  check_param(weight, input, C, op, "weight");
  check_param(bias, input, C, op, "bias");
  check_param(running_mean, input, C, op, "running_mean");
  check_param(running_var, input, C, op, "running_var");
  FLB_CHECK(training || (running_mean && running_var), RuntimeError, op,
            ": running_mean and running_var must be defined in evaluation mode");
  FLB_CHECK(!training || N * S != 1, ValueError, "Expected more than 1 value per channel when training, got input size ",
            shape_str(input.sizes));
  FLB_CHECK(eps >= 0 && std::isfinite(eps), ValueError, op, ": eps must be finite and non-negative, got ", eps);

  const Device dev = input.device();
  Tensor out = empty(input.sizes, input.dtype, dev);
  Tensor save_mean = empty({C}, input.dtype, dev), save_invstd = empty({C}, input.dtype, dev);
  if (C == 0) return {out, save_mean, save_invstd};
  if (N * S == 0 && training) {
    // Nothing to normalise; running statistics untouched (as PyTorch).
    fill_(save_mean, Scalar::from_int(0));
    fill_(save_invstd, Scalar::from_int(0));
    return {out, save_mean, save_invstd};
  }
  Tensor x = contiguous(input);
  auto w = contig(weight), b = contig(bias);
  // Running stats are written in place: work on contiguous copies of views, copy back after.
  auto rm = contig(running_mean), rv = contig(running_var);
  FLB_BACKEND(dev, batch_norm_forward, out, save_mean, save_invstd, x, N, C, S, ptr(w), ptr(b), ptr(rm), ptr(rv),
               training, momentum, eps);
  if (training) {
    if (rm && rm->storage != running_mean->storage) copy_(*running_mean, *rm);
    if (rv && rv->storage != running_var->storage) copy_(*running_var, *rv);
  }
  return {out, save_mean, save_invstd};
}

std::tuple<OptTensor, OptTensor, OptTensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                const OptTensor& weight, const Tensor& save_mean,
                                                                const Tensor& save_invstd, bool training,
                                                                std::array<bool, 3> mask) {
  const char* op = "batch_norm_backward";
  check_float_input(input, op);
  FLB_CHECK(input.dim() >= 2, RuntimeError, op, ": expected at least 2-D input (N, C, ...), got shape ",
            shape_str(input.sizes));
  check_grad(grad_out, input, op);
  int64_t N, C, S;
  ncs(input, N, C, S);
  check_param(weight, input, C, op, "weight");
  check_stat(save_mean, input, C, op, "save_mean");
  check_stat(save_invstd, input, C, op, "save_invstd");
  const Device dev = input.device();
  OptTensor gi, gw, gb;
  if (mask[0]) gi = empty(input.sizes, input.dtype, dev);
  if (mask[1]) gw = empty({C}, input.dtype, dev);
  if (mask[2]) gb = empty({C}, input.dtype, dev);
  if (N * S == 0 || C == 0) {
    if (gw) fill_(*gw, Scalar::from_int(0));
    if (gb) fill_(*gb, Scalar::from_int(0));
    return {gi, gw, gb};
  }
  if (!mask[0] && !mask[1] && !mask[2]) return {gi, gw, gb};
  Tensor x = contiguous(input), dy = contiguous(grad_out);
  auto w = contig(weight);
  Tensor m = contiguous(save_mean), is = contiguous(save_invstd);
  FLB_BACKEND(dev, batch_norm_backward, ptr(gi), ptr(gw), ptr(gb), dy, x, N, C, S, ptr(w), m, is, training);
  return {gi, gw, gb};
}

// ------------------------------------------------------------------------------------ layer norm
namespace {
// (M, K) of a layer norm, with PyTorch's shape errors.
void ln_dims(const Tensor& input, const Shape& ns, const char* op, int64_t& M, int64_t& K) {
  FLB_CHECK(!ns.empty(), RuntimeError, op, ": Expected normalized_shape to be at least 1-dimensional, i.e., containing "
            "at least one element, but got normalized_shape = []");
  const int64_t nd = (int64_t)ns.size(), axis = input.dim() - nd;
  bool ok = axis >= 0;
  for (int64_t i = 0; ok && i < nd; ++i) ok = input.sizes[axis + i] == ns[i];
  FLB_CHECK(ok, RuntimeError, op, ": Given normalized_shape=", shape_str(ns), ", expected input with shape [*",
            [&] {
              std::string s;
              for (auto v : ns) s += ", " + std::to_string(v);
              return s;
            }(),
            "], but got input of size", shape_str(input.sizes));
  M = 1;
  K = 1;
  for (int64_t d = 0; d < axis; ++d) M *= input.sizes[d];
  for (int64_t d = axis; d < input.dim(); ++d) K *= input.sizes[d];
}

void ln_check_param(const OptTensor& t, const Tensor& input, const Shape& ns, const char* op, const char* name) {
  if (!t) return;
  check_same_device(*t, input, op);
  FLB_CHECK(t->dtype == input.dtype, TypeError, op, ": ", name, " has dtype ", dtype_name(t->dtype),
            " but input has dtype ", dtype_name(input.dtype));
  FLB_CHECK(t->sizes == ns, RuntimeError, op, ": Expected ", name, " to be of same shape as normalized_shape, but got ",
            name, " of shape ", shape_str(t->sizes), " and normalized_shape = ", shape_str(ns));
}

Shape ln_stat_shape(const Tensor& input, const Shape& ns) {
  const int64_t axis = input.dim() - (int64_t)ns.size();
  Shape s(input.sizes.begin(), input.sizes.begin() + axis);
  for (size_t i = 0; i < ns.size(); ++i) s.push_back(1);
  return s;
}
}  // namespace

std::tuple<Tensor, Tensor, Tensor> layer_norm(const Tensor& input, const Shape& normalized_shape,
                                              const OptTensor& weight, const OptTensor& bias, double eps) {
  const char* op = "layer_norm";
  check_float_input(input, op);
  int64_t M, K;
  ln_dims(input, normalized_shape, op, M, K);
  ln_check_param(weight, input, normalized_shape, op, "weight");
  ln_check_param(bias, input, normalized_shape, op, "bias");
  FLB_CHECK(eps >= 0 && std::isfinite(eps), ValueError, op, ": eps must be finite and non-negative, got ", eps);
  const Device dev = input.device();
  Tensor out = empty(input.sizes, input.dtype, dev);
  Shape ss = ln_stat_shape(input, normalized_shape);
  Tensor mean = empty(ss, input.dtype, dev), rstd = empty(ss, input.dtype, dev);
  if (M == 0) return {out, mean, rstd};
  Tensor x = contiguous(input);
  auto w = contig(weight), b = contig(bias);
  FLB_BACKEND(dev, layer_norm_forward, out, mean, rstd, x, M, K, ptr(w), ptr(b), eps);
  return {out, mean, rstd};
}

std::tuple<OptTensor, OptTensor, OptTensor> layer_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                const Shape& normalized_shape, const Tensor& mean,
                                                                const Tensor& rstd, const OptTensor& weight,
                                                                std::array<bool, 3> mask) {
  const char* op = "layer_norm_backward";
  check_float_input(input, op);
  int64_t M, K;
  ln_dims(input, normalized_shape, op, M, K);
  check_grad(grad_out, input, op);
  ln_check_param(weight, input, normalized_shape, op, "weight");
  check_stat(mean, input, M, op, "mean");
  check_stat(rstd, input, M, op, "rstd");
  const Device dev = input.device();
  OptTensor gi, gw, gb;
  if (mask[0]) gi = empty(input.sizes, input.dtype, dev);
  if (mask[1]) gw = empty(normalized_shape, input.dtype, dev);
  if (mask[2]) gb = empty(normalized_shape, input.dtype, dev);
  if (M == 0 || K == 0) {
    if (gw) fill_(*gw, Scalar::from_int(0));
    if (gb) fill_(*gb, Scalar::from_int(0));
    return {gi, gw, gb};
  }
  if (!mask[0] && !mask[1] && !mask[2]) return {gi, gw, gb};
  Tensor x = contiguous(input), dy = contiguous(grad_out), m = contiguous(mean), r = contiguous(rstd);
  auto w = contig(weight);
  FLB_BACKEND(dev, layer_norm_backward, ptr(gi), ptr(gw), ptr(gb), dy, x, M, K, m, r, ptr(w));
  return {gi, gw, gb};
}

// ------------------------------------------------------------------------------------ group norm
namespace {
void gn_dims(const Tensor& input, int64_t G, const char* op, int64_t& N, int64_t& C, int64_t& S) {
  FLB_CHECK(input.dim() >= 2, RuntimeError, op, ": Expected at least 2 dimensions for input tensor but received ",
            input.dim());
  FLB_CHECK(G > 0, RuntimeError, op, ": num_groups must be positive, got ", G);
  ncs(input, N, C, S);
  FLB_CHECK(C % G == 0, RuntimeError, op,
            ": Expected number of channels in input to be divisible by num_groups, but got input of shape ",
            shape_str(input.sizes), " and num_groups=", G);
}

void gn_check_param(const OptTensor& t, const Tensor& input, int64_t C, const char* op, const char* name) {
  if (!t) return;
  check_same_device(*t, input, op);
  FLB_CHECK(t->dtype == input.dtype, TypeError, op, ": ", name, " has dtype ", dtype_name(t->dtype),
            " but input has dtype ", dtype_name(input.dtype));
  FLB_CHECK(t->dim() == 1 && t->numel() == C, RuntimeError, op, ": Expected ", name,
            " to be a vector of size equal to the number of channels in input, but got ", name, " of shape ",
            shape_str(t->sizes), " and input of shape ", shape_str(input.sizes));
}
}  // namespace

std::tuple<Tensor, Tensor, Tensor> group_norm(const Tensor& input, int64_t num_groups, const OptTensor& weight,
                                              const OptTensor& bias, double eps) {
  const char* op = "group_norm";
  check_float_input(input, op);
  int64_t N, C, S;
  gn_dims(input, num_groups, op, N, C, S);
  gn_check_param(weight, input, C, op, "weight");
  gn_check_param(bias, input, C, op, "bias");
  FLB_CHECK(eps >= 0 && std::isfinite(eps), ValueError, op, ": eps must be finite and non-negative, got ", eps);
  const Device dev = input.device();
  Tensor out = empty(input.sizes, input.dtype, dev);
  Tensor mean = empty({N, num_groups}, input.dtype, dev), rstd = empty({N, num_groups}, input.dtype, dev);
  if (N == 0) return {out, mean, rstd};
  Tensor x = contiguous(input);
  auto w = contig(weight), b = contig(bias);
  FLB_BACKEND(dev, group_norm_forward, out, mean, rstd, x, N, C, S, num_groups, ptr(w), ptr(b), eps);
  return {out, mean, rstd};
}

std::tuple<OptTensor, OptTensor, OptTensor> group_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                                int64_t num_groups, const Tensor& mean,
                                                                const Tensor& rstd, const OptTensor& weight,
                                                                std::array<bool, 3> mask) {
  const char* op = "group_norm_backward";
  check_float_input(input, op);
  int64_t N, C, S;
  gn_dims(input, num_groups, op, N, C, S);
  check_grad(grad_out, input, op);
  gn_check_param(weight, input, C, op, "weight");
  check_stat(mean, input, N * num_groups, op, "mean");
  check_stat(rstd, input, N * num_groups, op, "rstd");
  const Device dev = input.device();
  OptTensor gi, gw, gb;
  if (mask[0]) gi = empty(input.sizes, input.dtype, dev);
  if (mask[1]) gw = empty({C}, input.dtype, dev);
  if (mask[2]) gb = empty({C}, input.dtype, dev);
  if (N == 0 || C == 0) {
    if (gw) fill_(*gw, Scalar::from_int(0));
    if (gb) fill_(*gb, Scalar::from_int(0));
    return {gi, gw, gb};
  }
  if (!mask[0] && !mask[1] && !mask[2]) return {gi, gw, gb};
  Tensor x = contiguous(input), dy = contiguous(grad_out), m = contiguous(mean), r = contiguous(rstd);
  auto w = contig(weight);
  FLB_BACKEND(dev, group_norm_backward, ptr(gi), ptr(gw), ptr(gb), dy, x, N, C, S, num_groups, m, r, ptr(w));
  return {gi, gw, gb};
}

}  // namespace flambeau::ops
