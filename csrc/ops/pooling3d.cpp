// max_pool3d, avg_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d, max_unpool3d and their gradients:
// argument checks and output sizes as PyTorch's (pooling_output_shape and pool3d_shape_check: the
// ceil_mode rule that the last window must start inside the input or the left padding, padding at most
// half the kernel), allocation, dispatch (kernels in csrc/cpu/pooling3d.cpp; the CUDA kernels of
// csrc/cuda/pooling3d.cu; max_unpool3d is CPU only). Inputs are
// [N, C, D, H, W] or [C, D, H, W]; the kernels see them as N*C volumes.
#include <string>
#include "core/copy.h"
#include "core/scalar.h"
#include "core/view.h"
#include "cpu/vol_kernels.h"
#include "ops/dispatch.h"
#ifdef FLAMBEAU_WITH_CUDA
#include "cuda/pool3d_scatter_kernels.h"
#endif
#include "ops/vol_ops.h"
#include "ops/spatial_args.h"

namespace flambeau::ops {

namespace {

using namespace spatial;

// cuda_kernel: the op has a CUDA kernel; otherwise CUDA tensors are refused here.
void check_input(const char* op, const Tensor& t, bool cuda_kernel = true) {
  FLB_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, TypeError, op,
            ": expected a float32 or float64 input, got ", dtype_name(t.dtype));
  FLB_CHECK(cuda_kernel || !t.device().is_cuda(), NotImplementedError, op, ": no CUDA kernel yet (CPU only)");
}

int64_t volume_of(const Shape& s) { return s[s.size() - 3] * s[s.size() - 2] * s[s.size() - 1]; }

cpu::Pool3dGeometry pool_geometry(const char* op, const Shape& in, const IntList& kernel_size, const IntList& stride,
                                  const IntList& padding, const IntList& dilation, bool ceil_mode) {
  check_pool_shape(op, in, 3);
  const Triple k = triple_arg(kernel_size, op, "kernel_size");
  const Triple s = stride.empty() ? k : triple_arg(stride, op, "stride");
  const Triple p = triple_arg(padding, op, "padding");
  const Triple d = triple_arg(dilation, op, "dilation");
  FLB_CHECK(k.d > 0 && k.h > 0 && k.w > 0, RuntimeError, op, ": kernel_size must be positive, got ",
            shape_str(kernel_size));
  FLB_CHECK(s.d > 0 && s.h > 0 && s.w > 0, RuntimeError, op, ": stride must be positive, got ", shape_str(stride));
  FLB_CHECK(d.d > 0 && d.h > 0 && d.w > 0, RuntimeError, op, ": dilation must be positive, got ",
            shape_str(dilation));
  FLB_CHECK(p.d >= 0 && p.h >= 0 && p.w >= 0, RuntimeError, op, ": padding must be non-negative, got ",
            shape_str(padding));
  FLB_CHECK(p.d <= k.d / 2 && p.h <= k.h / 2 && p.w <= k.w / 2, RuntimeError, op, ": padding ", shape_str(padding),
            " should be at most half of kernel_size ", shape_str(kernel_size));
  const int64_t D = in[in.size() - 3], H = in[in.size() - 2], W = in[in.size() - 1];
  cpu::Pool3dGeometry g;
  g.planes = planes_of(in, 3);
  g.D = D, g.H = H, g.W = W;
  g.OD = pooling_output_size(D, k.d, p.d, s.d, d.d, ceil_mode);
  g.OH = pooling_output_size(H, k.h, p.h, s.h, d.h, ceil_mode);
  g.OW = pooling_output_size(W, k.w, p.w, s.w, d.w, ceil_mode);
  FLB_CHECK(g.OD >= 1 && g.OH >= 1 && g.OW >= 1, RuntimeError, op, ": input ", shape_str(in), " gives output size ",
            g.OD, "x", g.OH, "x", g.OW, " (kernel_size ", k.d, "x", k.h, "x", k.w, ", stride ", s.d, "x", s.h, "x",
            s.w, ", padding ", p.d, "x", p.h, "x", p.w, ", dilation ", d.d, "x", d.h, "x", d.w,
            "), which is too small");
  g.kd = k.d, g.kh = k.h, g.kw = k.w;
  g.sd = s.d, g.sh = s.h, g.sw = s.w;
  g.pd = p.d, g.ph = p.h, g.pw = p.w;
  g.dd = d.d, g.dh = d.h, g.dw = d.w;
  return g;
}

Triple adaptive_size(const char* op, const IntList& output_size) {
  const Triple o = triple_arg(output_size, op, "output_size");
  FLB_CHECK(o.d >= 0 && o.h >= 0 && o.w >= 0, RuntimeError, op, ": output_size must be non-negative, got ",
            shape_str(output_size));
  return o;
}

cpu::Pool3dGeometry adaptive_geometry(const Shape& in, int64_t od, int64_t oh, int64_t ow) {
  cpu::Pool3dGeometry g{};
  g.planes = planes_of(in, 3);
  g.D = in[in.size() - 3];
  g.H = in[in.size() - 2];
  g.W = in[in.size() - 1];
  g.OD = od, g.OH = oh, g.OW = ow;
  return g;
}

// grad_output must be input_shape with the spatial dims replaced.
void check_grad(const char* op, const Tensor& grad, const Shape& in) {
  check_input(op, grad);
  check_grad_shape(op, grad, in, 3);
}

void zero(const Tensor& t) {
  if (t.numel() > 0) fill_(t, Scalar::from_int(0));
}

}  // namespace

std::pair<Tensor, OptTensor> max_pool3d(const Tensor& input, const IntList& kernel_size, const IntList& stride,
                                        const IntList& padding, const IntList& dilation, bool ceil_mode,
                                        bool return_indices) {
  const char* op = "max_pool3d";
  check_input(op, input);
  const cpu::Pool3dGeometry g = pool_geometry(op, input.sizes, kernel_size, stride, padding, dilation, ceil_mode);
  const Shape os = with_spatial(input.sizes, {g.OD, g.OH, g.OW});
  Tensor out = empty(os, input.dtype, input.device());
  OptTensor idx;
  if (return_indices) idx = empty(os, DType::Int64, input.device());
  if (out.numel() == 0) return {out, idx};
  FLB_BACKEND(input.device(), max_pool3d_forward, out, idx ? &*idx : nullptr, contiguous(input), g);
  return {out, idx};
}

Tensor max_pool3d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape) {
  const char* op = "max_pool3d_backward";
  check_pool_shape(op, input_shape, 3);
  check_grad(op, grad_output, input_shape);
  FLB_CHECK(indices.dtype == DType::Int64, TypeError, op, ": indices must be int64, got ", dtype_name(indices.dtype));
  FLB_CHECK(indices.sizes == grad_output.sizes, RuntimeError, op, ": indices shape ", shape_str(indices.sizes),
            " differs from grad_output shape ", shape_str(grad_output.sizes));
  FLB_CHECK(indices.device() == grad_output.device(), RuntimeError, op, ": indices are on ", indices.device().str(),
            " but grad_output is on ", grad_output.device().str());
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  if (grad_output.numel() == 0) {  // output_size had a zero: nothing flows back
    zero(gi);
    return gi;
  }
  // An index outside the volume gets no gradient: max_pool3d returns one (value -inf) for a dilated
  // window whose taps all fall in the padding, and PyTorch's backward skips it the same way.
  const int64_t in_vol = volume_of(input_shape), out_vol = volume_of(grad_output.sizes);
  FLB_BACKEND(gi.device(), max_pool3d_backward, gi, contiguous(grad_output), contiguous(indices),
                    planes_of(input_shape, 3), in_vol, out_vol);
  return gi;
}

Tensor avg_pool3d(const Tensor& input, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool3d";
  check_input(op, input);
  const cpu::Pool3dGeometry g = pool_geometry(op, input.sizes, kernel_size, stride, padding, {1}, ceil_mode);
  FLB_CHECK(!divisor_override || *divisor_override != 0, RuntimeError, op, ": divisor must be not zero");
  Tensor out = empty(with_spatial(input.sizes, {g.OD, g.OH, g.OW}), input.dtype, input.device());
  if (out.numel() == 0) return out;
  FLB_BACKEND(input.device(), avg_pool3d_forward, out, contiguous(input), g, count_include_pad,
                  divisor_override.value_or(0));
  return out;
}

Tensor avg_pool3d_backward(const Tensor& grad_output, const Shape& input_shape, const IntList& kernel_size,
                           const IntList& stride, const IntList& padding, bool ceil_mode, bool count_include_pad,
                           std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool3d_backward";
  const cpu::Pool3dGeometry g = pool_geometry(op, input_shape, kernel_size, stride, padding, {1}, ceil_mode);
  FLB_CHECK(!divisor_override || *divisor_override != 0, RuntimeError, op, ": divisor must be not zero");
  check_grad(op, grad_output, input_shape);
  const Shape os = with_spatial(input_shape, {g.OD, g.OH, g.OW});
  FLB_CHECK(grad_output.sizes == os, RuntimeError, op, ": grad_output has shape ", shape_str(grad_output.sizes),
            ", expected ", shape_str(os));
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  FLB_BACKEND(grad_output.device(), avg_pool3d_backward, gi, contiguous(grad_output), g, count_include_pad,
                  divisor_override.value_or(0));
  return gi;
}

Tensor adaptive_avg_pool3d(const Tensor& input, const IntList& output_size) {
  const char* op = "adaptive_avg_pool3d";
  check_input(op, input);
  check_pool_shape(op, input.sizes, 3);
  const Triple o = adaptive_size(op, output_size);
  Tensor out = empty(with_spatial(input.sizes, {o.d, o.h, o.w}), input.dtype, input.device());
  if (out.numel() == 0) return out;
  FLB_BACKEND(input.device(), adaptive_avg_pool3d_forward, out, contiguous(input),
                  adaptive_geometry(input.sizes, o.d, o.h, o.w));
  return out;
}

Tensor adaptive_avg_pool3d_backward(const Tensor& grad_output, const Shape& input_shape) {
  const char* op = "adaptive_avg_pool3d_backward";
  check_pool_shape(op, input_shape, 3);
  check_grad(op, grad_output, input_shape);
  const int64_t nd = grad_output.dim();
  const int64_t od = grad_output.sizes[nd - 3], oh = grad_output.sizes[nd - 2], ow = grad_output.sizes[nd - 1];
  Tensor gi = empty(input_shape, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  if (grad_output.numel() == 0) {  // output_size had a zero: nothing flows back
    zero(gi);
    return gi;
  }
  FLB_BACKEND(grad_output.device(), adaptive_avg_pool3d_backward, gi, contiguous(grad_output),
                  adaptive_geometry(input_shape, od, oh, ow));
  return gi;
}

std::pair<Tensor, OptTensor> adaptive_max_pool3d(const Tensor& input, const IntList& output_size,
                                                 bool return_indices) {
  const char* op = "adaptive_max_pool3d";
  check_input(op, input);
  check_pool_shape(op, input.sizes, 3);
  const Triple o = adaptive_size(op, output_size);
  const Shape os = with_spatial(input.sizes, {o.d, o.h, o.w});
  Tensor out = empty(os, input.dtype, input.device());
  OptTensor idx;
  if (return_indices) idx = empty(os, DType::Int64, input.device());
  if (out.numel() == 0) return {out, idx};
  FLB_BACKEND(input.device(), adaptive_max_pool3d_forward, out, idx ? &*idx : nullptr, contiguous(input),
                  adaptive_geometry(input.sizes, o.d, o.h, o.w));
  return {out, idx};
}

Tensor max_unpool3d(const Tensor& input, const Tensor& indices, const IntList& output_size) {
  const char* op = "max_unpool3d";
  check_input(op, input, false);
  FLB_CHECK(input.dim() == 4 || input.dim() == 5, RuntimeError, op,
            ": expected a 4-D [C, D, H, W] or 5-D [N, C, D, H, W] input, got shape ", shape_str(input.sizes));
  for (int64_t d = input.dim() - 4; d < input.dim(); ++d)
    FLB_CHECK(input.sizes[d] > 0, RuntimeError, op, ": expected input to have non-zero size for non-batch ",
              "dimensions, but got ", shape_str(input.sizes), " with dimension ", d, " being empty");
  FLB_CHECK(indices.dtype == DType::Int64, TypeError, op, ": expected indices to be int64, got ",
            dtype_name(indices.dtype));
  FLB_CHECK(indices.sizes == input.sizes, RuntimeError, op, ": expected indices to have the shape of input ",
            shape_str(input.sizes), ", got ", shape_str(indices.sizes));
  FLB_CHECK(indices.device() == input.device(), RuntimeError, op, ": indices are on ", indices.device().str(),
            " but input is on ", input.device().str());
  FLB_CHECK(output_size.size() == 3 && output_size[0] > 0 && output_size[1] > 0 && output_size[2] > 0, RuntimeError,
            op, ": output_size must be three positive sizes (depth, height, width), got ", shape_str(output_size));
  const Shape os = with_spatial(input.sizes, {output_size[0], output_size[1], output_size[2]});
  Tensor out = empty(os, input.dtype, input.device());
  if (out.numel() == 0) return out;
  const int64_t out_vol = volume_of(os);
  const int64_t bad = cpu::max_unpool3d_forward(out, contiguous(input), contiguous(indices), planes_of(input.sizes, 3),
                                                volume_of(input.sizes), out_vol);
  FLB_CHECK(bad < 0, RuntimeError, op, ": found an invalid max index ", bad, " (output volumes are of size ",
            output_size[0], "x", output_size[1], "x", output_size[2], ") for input of shape ",
            shape_str(input.sizes));
  return out;
}

Tensor max_unpool3d_backward(const Tensor& grad_output, const Tensor& indices) {
  const char* op = "max_unpool3d_backward";
  check_input(op, grad_output, false);
  FLB_CHECK(indices.dtype == DType::Int64, TypeError, op, ": expected indices to be int64, got ",
            dtype_name(indices.dtype));
  FLB_CHECK((indices.dim() == 4 || indices.dim() == 5) && grad_output.dim() == indices.dim(), RuntimeError, op,
            ": grad_output ", shape_str(grad_output.sizes), " and indices ", shape_str(indices.sizes),
            " must both be 4-D or 5-D");
  for (int64_t d = 0; d + 3 < indices.dim(); ++d)
    FLB_CHECK(grad_output.sizes[d] == indices.sizes[d], RuntimeError, op, ": grad_output ",
              shape_str(grad_output.sizes), " does not match indices ", shape_str(indices.sizes));
  Tensor gi = empty(indices.sizes, grad_output.dtype, grad_output.device());
  if (gi.numel() == 0) return gi;
  cpu::max_unpool3d_backward(gi, contiguous(grad_output), contiguous(indices), planes_of(indices.sizes, 3),
                             volume_of(indices.sizes), volume_of(grad_output.sizes));
  return gi;
}

}  // namespace flambeau::ops
