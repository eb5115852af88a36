// conv3d and conv_transpose3d: argument checks, output shapes, allocation, dispatch (kernels in
// csrc/cpu/conv3d.cpp; CPU only for now). As for the 2-D ops (csrc/ops/conv.cpp), conv_transpose3d
// reuses the three conv3d kernels with the roles swapped: its forward is conv3d's input gradient, its
// input gradient is conv3d's forward, and its weight gradient is conv3d's weight gradient with input
// and grad_output exchanged.
#include <string>
#include "core/copy.h"
#include "core/scalar.h"
#include "core/view.h"
#include "cpu/vol_kernels.h"
#include "ops/dispatch.h"
#include "ops/vol_ops.h"
#include "ops/spatial_args.h"

namespace flambeau::ops {

namespace {

using namespace spatial;

void check_tensors(const char* op, const Tensor& input, const Tensor& weight, const OptTensor& bias) {
  FLB_CHECK(input.dim() == 5, RuntimeError, op, ": expected a 5-D input [N, C, D, H, W], got shape ",
            shape_str(input.sizes));
  FLB_CHECK(weight.dim() == 5, RuntimeError, op, ": expected a 5-D weight, got shape ", shape_str(weight.sizes));
  FLB_CHECK(input.device() == weight.device(), RuntimeError, op, ": input is on ", input.device().str(),
            " but weight is on ", weight.device().str());
  FLB_CHECK(input.dtype == DType::Float32 || input.dtype == DType::Float64, TypeError, op,
            ": expected a float32 or float64 input, got ", dtype_name(input.dtype));
  FLB_CHECK(input.dtype == weight.dtype, TypeError, op, ": input is ", dtype_name(input.dtype), " but weight is ",
            dtype_name(weight.dtype));
  if (bias) {
    FLB_CHECK(bias->device() == input.device(), RuntimeError, op, ": input is on ", input.device().str(),
              " but bias is on ", bias->device().str());
    FLB_CHECK(bias->dtype == input.dtype, TypeError, op, ": input is ", dtype_name(input.dtype), " but bias is ",
              dtype_name(bias->dtype));
  }
  FLB_CHECK(!input.device().is_cuda(), NotImplementedError, op, ": no CUDA kernel yet (CPU only)");
}

struct ConvArgs {
  Triple stride, dilation, pad0, pad1;  // pad0: front/top/left, pad1: back/bottom/right
};

ConvArgs conv_args(const char* op, const IntList& stride, const IntList& padding, const IntList& dilation,
                   bool allow_asymmetric) {
  ConvArgs a;
  a.stride = triple_arg(stride, op, "stride");
  a.dilation = triple_arg(dilation, op, "dilation");
  if (allow_asymmetric && padding.size() == 6) {
    a.pad0 = {padding[0], padding[2], padding[4]};
    a.pad1 = {padding[1], padding[3], padding[5]};
  } else {
    FLB_CHECK(padding.size() == 1 || padding.size() == 3, RuntimeError, op,
              ": padding must be one int or a tuple of three ints",
              allow_asymmetric ? " (or [front, back, top, bottom, left, right])" : "", ", got ", shape_str(padding));
    a.pad0 = a.pad1 = triple_arg(padding, op, "padding");
  }
  FLB_CHECK(a.stride.d > 0 && a.stride.h > 0 && a.stride.w > 0, RuntimeError, op, ": stride must be positive, got ",
            shape_str(stride));
  FLB_CHECK(a.dilation.d > 0 && a.dilation.h > 0 && a.dilation.w > 0, RuntimeError, op,
            ": dilation must be positive, got ", shape_str(dilation));
  FLB_CHECK(a.pad0.d >= 0 && a.pad0.h >= 0 && a.pad0.w >= 0 && a.pad1.d >= 0 && a.pad1.h >= 0 && a.pad1.w >= 0,
            RuntimeError, op, ": negative padding is not supported, got ", shape_str(padding));
  return a;
}

// Checks conv3d's arguments and returns its geometry (the output size included).
cpu::Conv3dGeometry conv3d_geometry(const Tensor& input, const Tensor& weight, const OptTensor& bias,
                                    const IntList& stride, const IntList& padding, const IntList& dilation,
                                    int64_t groups, const char* op = "conv3d") {
  check_tensors(op, input, weight, bias);
  const ConvArgs a = conv_args(op, stride, padding, dilation, true);
  FLB_CHECK(groups > 0, RuntimeError, op, ": groups must be positive, got ", groups);
  const int64_t N = input.sizes[0], C = input.sizes[1], D = input.sizes[2], H = input.sizes[3], W = input.sizes[4];
  const int64_t O = weight.sizes[0], Cg = weight.sizes[1];
  const int64_t KD = weight.sizes[2], KH = weight.sizes[3], KW = weight.sizes[4];
  FLB_CHECK(O > 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has no output channels");
  FLB_CHECK(O % groups == 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has ", O,
            " output channels, not divisible by groups=", groups);
  FLB_CHECK(C == Cg * groups, RuntimeError, op, ": input ", shape_str(input.sizes), " has ", C,
            " channels, weight ", shape_str(weight.sizes), " expects ", Cg * groups, " (groups=", groups, ")");
  FLB_CHECK(Cg > 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has no input channels");
  FLB_CHECK(KD > 0 && KH > 0 && KW > 0, RuntimeError, op, ": kernel size must be positive, got weight ",
            shape_str(weight.sizes));
  if (bias)
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == O, RuntimeError, op, ": bias ", shape_str(bias->sizes),
              " should be 1-D with ", O, " elements (weight ", shape_str(weight.sizes), ")");
  FLB_CHECK(D > 0 && H > 0 && W > 0, RuntimeError, op, ": input ", shape_str(input.sizes),
            " has an empty spatial dimension");
  const int64_t dp = D + a.pad0.d + a.pad1.d, hp = H + a.pad0.h + a.pad1.h, wp = W + a.pad0.w + a.pad1.w;
  const int64_t ekd = a.dilation.d * (KD - 1) + 1, ekh = a.dilation.h * (KH - 1) + 1,
                ekw = a.dilation.w * (KW - 1) + 1;
  FLB_CHECK(dp >= ekd && hp >= ekh && wp >= ekw, RuntimeError, op, ": kernel ", KD, "x", KH, "x", KW, " (dilation ",
            a.dilation.d, "x", a.dilation.h, "x", a.dilation.w, ", effective ", ekd, "x", ekh, "x", ekw,
            ") is larger than the padded input ", dp, "x", hp, "x", wp, " (input ", shape_str(input.sizes), ")");
  cpu::Conv3dGeometry g;
  g.N = N, g.C = C, g.D = D, g.H = H, g.W = W, g.O = O;
  g.KD = KD, g.KH = KH, g.KW = KW;
  g.OD = (dp - ekd) / a.stride.d + 1;
  g.OH = (hp - ekh) / a.stride.h + 1;
  g.OW = (wp - ekw) / a.stride.w + 1;
  g.sd = a.stride.d, g.sh = a.stride.h, g.sw = a.stride.w;
  g.pd = a.pad0.d, g.ph = a.pad0.h, g.pw = a.pad0.w;
  g.dd = a.dilation.d, g.dh = a.dilation.h, g.dw = a.dilation.w;
  g.groups = groups;
  return g;
}

// conv_transpose3d's arguments, returned as the geometry of the conv3d it is the adjoint of: that
// conv's input is our output [N, Cout, OD, OH, OW] and its output is our input [N, Cin, D, H, W].
cpu::Conv3dGeometry conv_transpose3d_geometry(const Tensor& input, const Tensor& weight, const OptTensor& bias,
                                              const IntList& stride, const IntList& padding,
                                              const IntList& output_padding, int64_t groups,
                                              const IntList& dilation, const char* op = "conv_transpose3d") {
  check_tensors(op, input, weight, bias);
  const ConvArgs a = conv_args(op, stride, padding, dilation, false);
  const Triple op_ = triple_arg(output_padding, op, "output_padding");
  FLB_CHECK(op_.d >= 0 && op_.h >= 0 && op_.w >= 0, RuntimeError, op,
            ": negative output_padding is not supported, got ", shape_str(output_padding));
  FLB_CHECK((op_.d < a.stride.d || op_.d < a.dilation.d) && (op_.h < a.stride.h || op_.h < a.dilation.h) &&
                (op_.w < a.stride.w || op_.w < a.dilation.w),
            RuntimeError, op, ": output_padding ", shape_str(output_padding),
            " must be smaller than either stride or dilation (stride ", shape_str(stride), ", dilation ",
            shape_str(dilation), ")");
  FLB_CHECK(groups > 0, RuntimeError, op, ": groups must be positive, got ", groups);
  const int64_t N = input.sizes[0], Cin = input.sizes[1], D = input.sizes[2], H = input.sizes[3], W = input.sizes[4];
  const int64_t WI = weight.sizes[0], Coutg = weight.sizes[1];
  const int64_t KD = weight.sizes[2], KH = weight.sizes[3], KW = weight.sizes[4];
  FLB_CHECK(Cin == WI, RuntimeError, op, ": input ", shape_str(input.sizes), " has ", Cin, " channels, weight ",
            shape_str(weight.sizes), " expects ", WI);
  FLB_CHECK(WI > 0 && WI % groups == 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has ", WI,
            " input channels, not a positive multiple of groups=", groups);
  FLB_CHECK(Coutg > 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has no output channels");
  FLB_CHECK(KD > 0 && KH > 0 && KW > 0, RuntimeError, op, ": kernel size must be positive, got weight ",
            shape_str(weight.sizes));
  const int64_t Cout = Coutg * groups;
  if (bias)
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == Cout, RuntimeError, op, ": bias ", shape_str(bias->sizes),
              " should be 1-D with ", Cout, " elements (weight ", shape_str(weight.sizes), ", groups=", groups, ")");
  FLB_CHECK(D > 0 && H > 0 && W > 0, RuntimeError, op, ": input ", shape_str(input.sizes),
            " has an empty spatial dimension");
  const int64_t OD = (D - 1) * a.stride.d - 2 * a.pad0.d + a.dilation.d * (KD - 1) + op_.d + 1;
  const int64_t OH = (H - 1) * a.stride.h - 2 * a.pad0.h + a.dilation.h * (KH - 1) + op_.h + 1;
  const int64_t OW = (W - 1) * a.stride.w - 2 * a.pad0.w + a.dilation.w * (KW - 1) + op_.w + 1;
  FLB_CHECK(OD > 0 && OH > 0 && OW > 0, RuntimeError, op, ": input ", shape_str(input.sizes), " with weight ",
            shape_str(weight.sizes), " gives output size ", OD, "x", OH, "x", OW, ", which is too small");
  cpu::Conv3dGeometry g;
  g.N = N, g.C = Cout, g.D = OD, g.H = OH, g.W = OW, g.O = Cin;
  g.KD = KD, g.KH = KH, g.KW = KW;
  g.OD = D, g.OH = H, g.OW = W;
  g.sd = a.stride.d, g.sh = a.stride.h, g.sw = a.stride.w;
  g.pd = a.pad0.d, g.ph = a.pad0.h, g.pw = a.pad0.w;
  g.dd = a.dilation.d, g.dh = a.dilation.h, g.dw = a.dilation.w;
  g.groups = groups;
  return g;
}

void check_grad_output(const char* op, const Tensor& grad, const Tensor& input, const Shape& expect) {
  FLB_CHECK(grad.device() == input.device(), RuntimeError, op, ": grad_output is on ", grad.device().str(),
            " but input is on ", input.device().str());
  FLB_CHECK(grad.dtype == input.dtype, TypeError, op, ": grad_output is ", dtype_name(grad.dtype), " but input is ",
            dtype_name(input.dtype));
  FLB_CHECK(grad.sizes == expect, RuntimeError, op, ": grad_output has shape ", shape_str(grad.sizes),
            ", expected ", shape_str(expect));
}

void zero(const Tensor& t) {
  if (t.numel() > 0) fill_(t, Scalar::from_int(0));
}

}  // namespace

Tensor conv3d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups) {
  const cpu::Conv3dGeometry g = conv3d_geometry(input, weight, bias, stride, padding, dilation, groups);
  Tensor out = empty({g.N, g.O, g.OD, g.OH, g.OW}, input.dtype, input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input), w = contiguous(weight);
  OptTensor b;
  if (bias) b = contiguous(*bias);
  FLB_CPU_ONLY(input.device(), "conv3d", conv3d_forward, out, x, w, b ? &*b : nullptr, g);
  return out;
}

Grads3 conv3d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const IntList& stride,
                       const IntList& padding, const IntList& dilation, int64_t groups,
                       std::array<bool, 3> output_mask) {
  const char* op = "conv3d_backward";
  const cpu::Conv3dGeometry g = conv3d_geometry(input, weight, std::nullopt, stride, padding, dilation, groups, op);
  check_grad_output(op, grad_output, input, {g.N, g.O, g.OD, g.OH, g.OW});
  Tensor dy = contiguous(grad_output);
  OptTensor gi, gw, gb;
  if (output_mask[0]) {
    gi = empty(input.sizes, input.dtype, input.device());
    if (gi->numel() > 0) FLB_CPU_ONLY(input.device(), op, conv3d_backward_input, *gi, dy, contiguous(weight), g);
  }
  if (output_mask[1]) {
    gw = empty(weight.sizes, weight.dtype, weight.device());
    if (g.N == 0) zero(*gw);
    else FLB_CPU_ONLY(input.device(), op, conv3d_backward_weight, *gw, dy, contiguous(input), g);
  }
  if (output_mask[2]) {
    gb = empty({g.O}, input.dtype, input.device());
    FLB_CPU_ONLY(input.device(), op, conv3d_backward_bias, *gb, dy);
  }
  return {gi, gw, gb};
}

Tensor conv_transpose3d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation) {
  const char* op = "conv_transpose3d";
  const cpu::Conv3dGeometry g =
      conv_transpose3d_geometry(input, weight, bias, stride, padding, output_padding, groups, dilation);
  Tensor out = empty({g.N, g.C, g.D, g.H, g.W}, input.dtype, input.device());
  if (out.numel() == 0) return out;
  FLB_CPU_ONLY(input.device(), op, conv3d_backward_input, out, contiguous(input), contiguous(weight), g);
  if (bias) FLB_CPU_ONLY(input.device(), op, conv3d_add_bias, out, contiguous(*bias));
  return out;
}

Grads3 conv_transpose3d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                 const IntList& stride, const IntList& padding, const IntList& output_padding,
                                 int64_t groups, const IntList& dilation, std::array<bool, 3> output_mask) {
  const char* op = "conv_transpose3d_backward";
  const cpu::Conv3dGeometry g = conv_transpose3d_geometry(input, weight, std::nullopt, stride, padding,
                                                          output_padding, groups, dilation, op);
  check_grad_output(op, grad_output, input, {g.N, g.C, g.D, g.H, g.W});
  Tensor dy = contiguous(grad_output);
  OptTensor gi, gw, gb;
  if (output_mask[0]) {
    gi = empty(input.sizes, input.dtype, input.device());
    if (gi->numel() > 0) FLB_CPU_ONLY(input.device(), op, conv3d_forward, *gi, dy, contiguous(weight), nullptr, g);
  }
  if (output_mask[1]) {
    gw = empty(weight.sizes, weight.dtype, weight.device());
    if (g.N == 0) zero(*gw);
    else FLB_CPU_ONLY(input.device(), op, conv3d_backward_weight, *gw, contiguous(input), dy, g);
  }
  if (output_mask[2]) {
    gb = empty({g.C}, input.dtype, input.device());
    FLB_CPU_ONLY(input.device(), op, conv3d_backward_bias, *gb, dy);
  }
  return {gi, gw, gb};
}

}  // namespace flambeau::ops
