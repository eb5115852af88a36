// max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d and their gradients: argument
// checks and output sizes exactly as PyTorch's (pooling_output_shape and pool2d_shape_check: the
// ceil_mode rule that the last window must start inside the input or the left padding, padding at most
// half the kernel), allocation, dispatch (kernels in csrc/cpu/pooling.cpp). Inputs are [N, C, H, W] or
// [C, H, W]; the kernels see them as N*C planes.
#include <string>
#include "core/copy.h"
#include "core/scalar.h"
#include "core/view.h"
#include "cpu/nn_kernels.h"
#include "ops/dispatch.h"
#include "ops/nn_ops.h"
#include "ops/spatial_args.h"

namespace flambeau::ops {

namespace {

using namespace spatial;

void check_float(const char* op, const Tensor& t) {
  FLB_CHECK(is_floating(t.dtype), TypeError, op, ": expected a float32 or float64 input, got ", dtype_name(t.dtype));
}

cpu::PoolGeometry pool_geometry(const char* op, const Shape& in, const IntList& kernel_size, const IntList& stride,
                                const IntList& padding, const IntList& dilation, bool ceil_mode) {
  check_pool_shape(op, in, 2);
  const Pair k = pair_arg(kernel_size, op, "kernel_size");
  const Pair s = stride.empty() ? k : pair_arg(stride, op, "stride");
  const Pair p = pair_arg(padding, op, "padding");
  const Pair d = pair_arg(dilation, op, "dilation");
  FLB_CHECK(k.h > 0 && k.w > 0, RuntimeError, op, ": kernel_size must be positive, got ", shape_str(kernel_size));
  FLB_CHECK(s.h > 0 && s.w > 0, RuntimeError, op, ": stride must be positive, got ", shape_str(stride));
  FLB_CHECK(d.h > 0 && d.w > 0, RuntimeError, op, ": dilation must be positive, got ", shape_str(dilation));
  FLB_CHECK(p.h >= 0 && p.w >= 0, RuntimeError, op, ": padding must be non-negative, got ", shape_str(padding));
  FLB_CHECK(p.h <= k.h / 2 && p.w <= k.w / 2, RuntimeError, op, ": padding ", shape_str(padding),
            " should be at most half of kernel_size ", shape_str(kernel_size));
  const int64_t H = in[in.size() - 2], W = in[in.size() - 1];
  cpu::PoolGeometry g;
  g.planes = planes_of(in, 2);
  g.H = H;
  g.W = W;
  g.OH = pooling_output_size(H, k.h, p.h, s.h, d.h, ceil_mode);
  g.OW = pooling_output_size(W, k.w, p.w, s.w, d.w, ceil_mode);
  FLB_CHECK(g.OH >= 1 && g.OW >= 1, RuntimeError, op, ": input ", shape_str(in), " gives output size ", g.OH, "x",
            g.OW, " (kernel_size ", k.h, "x", k.w, ", stride ", s.h, "x", s.w, ", padding ", p.h, "x", p.w,
            ", dilation ", d.h, "x", d.w, "), which is too small");
  g.kh = k.h;
  g.kw = k.w;
  g.sh = s.h;
  g.sw = s.w;
  g.ph = p.h;
  g.pw = p.w;
  g.dh = d.h;
  g.dw = d.w;
  return g;
}

Pair adaptive_size(const char* op, const IntList& output_size) {
  const Pair o = pair_arg(output_size, op, "output_size");
  FLB_CHECK(o.h >= 0 && o.w >= 0, RuntimeError, op, ": output_size must be non-negative, got ",
            shape_str(output_size));
  return o;
}

cpu::PoolGeometry adaptive_geometry(const Shape& in, int64_t oh, int64_t ow) {
  cpu::PoolGeometry g{};
  g.planes = planes_of(in, 2);
  g.H = in[in.size() - 2];
  g.W = in[in.size() - 1];
  g.OH = oh;
  g.OW = ow;
  return g;
}

// grad_output must be input_shape with the spatial dims replaced.
void check_grad(const char* op, const Tensor& grad, const Shape& in) {
  check_float(op, grad);
  check_grad_shape(op, grad, in, 2);
}

}  // namespace

std::pair<Tensor, OptTensor> max_pool2d(const Tensor& input, const IntList& kernel_size, const IntList& stride,
                                        const IntList& padding, const IntList& dilation, bool ceil_mode,
                                        bool return_indices) {
  const char* op = "max_pool2d";
  check_float(op, input);
  const cpu::PoolGeometry g = pool_geometry(op, input.sizes, kernel_size, stride, padding, dilation, ceil_mode);
  const Shape os = with_spatial(input.sizes, {g.OH, g.OW});
  Tensor out = empty(os, input.dtype, input.device());
  OptTensor idx;
  if (return_indices) idx = empty(os, DType::Int64, input.device());
  if (out.numel() == 0) return {out, idx};
  Tensor x = contiguous(input);
  FLB_BACKEND(input.device(), max_pool2d_forward, out, idx ? &*idx : nullptr, x, g);
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape) {
  const char* op = "max_pool2d_backward";
  check_pool_shape(op, input_shape, 2);
  check_grad(op, grad_output, input_shape);
  FLB_CHECK(indices.dtype == DType::Int64, TypeError, op, ": indices must be int64, got ", dtype_name(indices.dtype));
  FLB_CHECK(indices.sizes == grad_output.sizes, RuntimeError, op, ": indices shape ", shape_str(indices.sizes),
            " differs from grad_output shape ", shape_str(grad_output.sizes));
  FLB_CHECK(indices.device() == grad_output.device(), RuntimeError, op, ": indices are on ", indices.device().str(),
            " but grad_output is on ", grad_output.device().str());
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  if (grad_output.numel() == 0) {  // output_size had a zero: nothing flows back
    fill_(gi, Scalar::from_int(0));
    return gi;
  }
  Tensor gy = contiguous(grad_output), ind = contiguous(indices);
  const int64_t in_plane = input_shape[input_shape.size() - 1] * input_shape[input_shape.size() - 2];
  FLB_BACKEND(grad_output.device(), max_pool2d_backward, gi, gy, ind, in_plane);
  return gi;
}

Tensor avg_pool2d(const Tensor& input, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  check_float(op, input);
  const cpu::PoolGeometry g = pool_geometry(op, input.sizes, kernel_size, stride, padding, {1}, ceil_mode);
  FLB_CHECK(!divisor_override || *divisor_override != 0, RuntimeError, op, ": divisor_override must be non-zero");
  Tensor out = empty(with_spatial(input.sizes, {g.OH, g.OW}), input.dtype, input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input);
  FLB_BACKEND(input.device(), avg_pool2d_forward, out, x, g, count_include_pad, divisor_override.value_or(0));
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const IntList& kernel_size,
                           const IntList& stride, const IntList& padding, bool ceil_mode, bool count_include_pad,
                           std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d_backward";
  const cpu::PoolGeometry g = pool_geometry(op, input_shape, kernel_size, stride, padding, {1}, ceil_mode);
  FLB_CHECK(!divisor_override || *divisor_override != 0, RuntimeError, op, ": divisor_override must be non-zero");
  check_grad(op, grad_output, input_shape);
  const Shape os = with_spatial(input_shape, {g.OH, g.OW});
  FLB_CHECK(grad_output.sizes == os, RuntimeError, op, ": grad_output has shape ", shape_str(grad_output.sizes),
            ", expected ", shape_str(os));
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  Tensor gy = contiguous(grad_output);
  FLB_BACKEND(grad_output.device(), avg_pool2d_backward, gi, gy, g, count_include_pad,
               divisor_override.value_or(0));
  return gi;
}

Tensor adaptive_avg_pool2d(const Tensor& input, const IntList& output_size) {
  const char* op = "adaptive_avg_pool2d";
  check_float(op, input);
  check_pool_shape(op, input.sizes, 2);
  const Pair o = adaptive_size(op, output_size);
  Tensor out = empty(with_spatial(input.sizes, {o.h, o.w}), input.dtype, input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input);
  FLB_BACKEND(input.device(), adaptive_avg_pool2d_forward, out, x, adaptive_geometry(input.sizes, o.h, o.w));
  return out;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_pool_shape(op, input_shape, 2);
  check_grad(op, grad_output, input_shape);
  const int64_t oh = grad_output.sizes[grad_output.dim() - 2], ow = grad_output.sizes[grad_output.dim() - 1];
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  if (grad_output.numel() == 0) {  // output_size had a zero: nothing flows back
    fill_(gi, Scalar::from_int(0));
    return gi;
  }
  Tensor gy = contiguous(grad_output);
  FLB_BACKEND(grad_output.device(), adaptive_avg_pool2d_backward, gi, gy, adaptive_geometry(input_shape, oh, ow));
  return gi;
}

std::pair<Tensor, OptTensor> adaptive_max_pool2d(const Tensor& input, const IntList& output_size,
                                                 bool return_indices) {
  const char* op = "adaptive_max_pool2d";
  check_float(op, input);
  check_pool_shape(op, input.sizes, 2);
  const Pair o = adaptive_size(op, output_size);
  const Shape os = with_spatial(input.sizes, {o.h, o.w});
  Tensor out = empty(os, input.dtype, input.device());
  OptTensor idx;
  if (return_indices) idx = empty(os, DType::Int64, input.device());
  if (out.numel() == 0) return {out, idx};
  Tensor x = contiguous(input);
  FLB_BACKEND(input.device(), adaptive_max_pool2d_forward, out, idx ? &*idx : nullptr, x,
               adaptive_geometry(input.sizes, o.h, o.w));
  return {out, idx};
}

}  // namespace flambeau::ops
