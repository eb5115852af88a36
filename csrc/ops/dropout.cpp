// Dropout and feature dropout: checks, the Philox stream reservation, dispatch. The mask is a
// function of (seed, offset, element index), so the forward returns the (seed, offset) it used
// and the backward regenerates the mask from them instead of storing it.
#include "cpu/norm_optim_kernels.h"
#include "ops/dispatch.h"
#include "ops/norm_optim_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

void check_p(double p, const char* op) {
  FLB_CHECK(p >= 0.0 && p <= 1.0, ValueError, op, ": dropout probability has to be between 0 and 1, but got ", p);
}

void check_input(const Tensor& t, const char* op) {
  FLB_CHECK(is_floating(t.dtype), TypeError, op, ": expected a floating-point tensor, got ", dtype_name(t.dtype));
}

// The tensor the kernel writes: `out` itself when given and contiguous, else a fresh one.
Tensor target(const Tensor& input, const OptTensor& out, const char* op) {
  if (!out) return empty(input.sizes, input.dtype, input.device());
  check_same_device(*out, input, op);
  FLB_CHECK(out->dtype == input.dtype, TypeError, op, ": out has dtype ", dtype_name(out->dtype),
            " but input has dtype ", dtype_name(input.dtype));
  FLB_CHECK(out->sizes == input.sizes, ValueError, op, ": out has shape ", shape_str(out->sizes),
            " but input has shape ", shape_str(input.sizes));
  return out->is_contiguous() ? *out : empty(input.sizes, input.dtype, input.device());
}

Tensor finish(const Tensor& result, const OptTensor& out) {
  if (out && result.storage != out->storage) {
    copy_(*out, result);
    return *out;
  }
  return result;
}

// features = size(0) * size(1), inner = the rest.
void feature_dims(const Tensor& t, const char* op, int64_t& features, int64_t& inner) {
  FLB_CHECK(t.dim() >= 2, ValueError, op, ": expected an input with at least 2 dimensions (N, C, ...), got shape ",
            shape_str(t.sizes));
  features = t.sizes[0] * t.sizes[1];
  inner = 1;
  for (int64_t d = 2; d < t.dim(); ++d) inner *= t.sizes[d];
}

}  // namespace

std::tuple<Tensor, uint64_t, uint64_t> dropout(const Tensor& input, double p, const OptTensor& out) {
  const char* op = "dropout";
  check_p(p, op);
  check_input(input, op);
  Tensor y = target(input, out, op);
  if (input.numel() == 0) return {finish(y, out), 0, 0};
  if (p == 0.0) {
    copy_(y, input);
    return {finish(y, out), 0, 0};
  }
  Tensor x = contiguous(input);
  uint64_t seed = 0, offset = 0;
  if (p < 1.0) std::tie(seed, offset) = reserve_random(x.numel());
  FLB_BACKEND(input.device(), dropout, y, x, p, seed, offset);
  return {finish(y, out), seed, offset};
}

Tensor dropout_backward(const Tensor& grad, double p, uint64_t seed, uint64_t offset) {
  const char* op = "dropout_backward";
  check_p(p, op);
  check_input(grad, op);
  Tensor g = contiguous(grad);
  Tensor dx = empty(grad.sizes, grad.dtype, grad.device());
  if (grad.numel() == 0) return dx;
  if (p == 0.0) {
    copy_(dx, g);
    return dx;
  }
  FLB_BACKEND(grad.device(), dropout, dx, g, p, seed, offset);
  return dx;
}

std::tuple<Tensor, uint64_t, uint64_t> feature_dropout(const Tensor& input, double p, const OptTensor& out) {
  const char* op = "feature_dropout";
  check_p(p, op);
  check_input(input, op);
  int64_t features, inner;
  feature_dims(input, op, features, inner);
  Tensor y = target(input, out, op);
  if (input.numel() == 0) return {finish(y, out), 0, 0};
  if (p == 0.0) {
    copy_(y, input);
    return {finish(y, out), 0, 0};
  }
  Tensor x = contiguous(input);
  uint64_t seed = 0, offset = 0;
  if (p < 1.0) std::tie(seed, offset) = reserve_random(features);
  FLB_BACKEND(input.device(), feature_dropout, y, x, features, inner, p, seed, offset);
  return {finish(y, out), seed, offset};
}

Tensor feature_dropout_backward(const Tensor& grad, double p, uint64_t seed, uint64_t offset) {
  const char* op = "feature_dropout_backward";
  check_p(p, op);
  check_input(grad, op);
  int64_t features, inner;
  feature_dims(grad, op, features, inner);
  Tensor g = contiguous(grad);
  Tensor dx = empty(grad.sizes, grad.dtype, grad.device());
  if (grad.numel() == 0) return dx;
  if (p == 0.0) {
    copy_(dx, g);
    return dx;
  }
  FLB_BACKEND(grad.device(), feature_dropout, dx, g, features, inner, p, seed, offset);
  return dx;
}

}  // namespace flambeau::ops
