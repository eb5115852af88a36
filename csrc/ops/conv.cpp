// conv2d and conv_transpose2d: argument checks, output shapes, allocation, dispatch (kernels in
// csrc/cpu/conv.cpp and csrc/cuda/conv.cu; the CUDA ones ran on an H100, see csrc/cuda/GPU_STATUS.md). conv_transpose2d reuses the three conv2d kernels with the roles swapped: its
// forward is conv2d's input gradient, its input gradient is conv2d's forward, and its weight
// gradient is conv2d's weight gradient with input and grad_output exchanged.
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

void check_tensors(const char* op, const Tensor& input, const Tensor& weight, const OptTensor& bias) {
  FLB_CHECK(input.dim() == 4, RuntimeError, op, ": expected a 4-D input [N, C, H, W], got shape ",
            shape_str(input.sizes));
  FLB_CHECK(weight.dim() == 4, RuntimeError, op, ": expected a 4-D weight, got shape ", shape_str(weight.sizes));
  FLB_CHECK(input.device() == weight.device(), RuntimeError, op, ": input is on ", input.device().str(),
            " but weight is on ", weight.device().str());
  FLB_CHECK(is_floating(input.dtype), TypeError, op, ": expected a float32 or float64 input, got ",
            dtype_name(input.dtype));
  FLB_CHECK(input.dtype == weight.dtype, TypeError, op, ": input is ", dtype_name(input.dtype), " but weight is ",
            dtype_name(weight.dtype));
  if (bias) {
    FLB_CHECK(bias->device() == input.device(), RuntimeError, op, ": input is on ", input.device().str(),
              " but bias is on ", bias->device().str());
    FLB_CHECK(bias->dtype == input.dtype, TypeError, op, ": input is ", dtype_name(input.dtype), " but bias is ",
              dtype_name(bias->dtype));
  }
}

struct ConvArgs {
  Pair stride, dilation;
  int64_t pad_t, pad_b, pad_l, pad_r;
};

ConvArgs conv_args(const char* op, const IntList& stride, const IntList& padding, const IntList& dilation,
                   bool allow_asymmetric) {
  ConvArgs a;
  a.stride = pair_arg(stride, op, "stride");
  a.dilation = pair_arg(dilation, op, "dilation");
  if (allow_asymmetric && padding.size() == 4) {
    a.pad_t = padding[0];
    a.pad_b = padding[1];
    a.pad_l = padding[2];
    a.pad_r = padding[3];
  } else {
    FLB_CHECK(padding.size() == 1 || padding.size() == 2, RuntimeError, op, ": padding must be one int or a pair ",
              "of ints", allow_asymmetric ? " (or [top, bottom, left, right])" : "", ", got ", shape_str(padding));
    Pair p = pair_arg(padding, op, "padding");
    a.pad_t = a.pad_b = p.h;
    a.pad_l = a.pad_r = p.w;
  }
  FLB_CHECK(a.stride.h > 0 && a.stride.w > 0, RuntimeError, op, ": stride must be positive, got ", shape_str(stride));
  FLB_CHECK(a.dilation.h > 0 && a.dilation.w > 0, RuntimeError, op, ": dilation must be positive, got ",
            shape_str(dilation));
  FLB_CHECK(a.pad_t >= 0 && a.pad_b >= 0 && a.pad_l >= 0 && a.pad_r >= 0, RuntimeError, op,
            ": negative padding is not supported, got ", shape_str(padding));
  return a;
}

// Checks conv2d's arguments and returns its geometry (the output size included).
cpu::ConvGeometry conv2d_geometry(const Tensor& input, const Tensor& weight, const OptTensor& bias,
                                  const IntList& stride, const IntList& padding, const IntList& dilation,
                                  int64_t groups, const char* op = "conv2d") {
  check_tensors(op, input, weight, bias);
  const ConvArgs a = conv_args(op, stride, padding, dilation, true);
  FLB_CHECK(groups > 0, RuntimeError, op, ": groups must be positive, got ", groups);
  const int64_t N = input.sizes[0], C = input.sizes[1], H = input.sizes[2], W = input.sizes[3];
  const int64_t O = weight.sizes[0], Cg = weight.sizes[1], KH = weight.sizes[2], KW = weight.sizes[3];
  FLB_CHECK(O > 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has no output channels");
  FLB_CHECK(O % groups == 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has ", O,
            " output channels, not divisible by groups=", groups);
  FLB_CHECK(C == Cg * groups, RuntimeError, op, ": input ", shape_str(input.sizes), " has ", C,
            " channels, weight ", shape_str(weight.sizes), " expects ", Cg * groups, " (groups=", groups, ")");
  FLB_CHECK(KH > 0 && KW > 0, RuntimeError, op, ": kernel size must be positive, got weight ",
            shape_str(weight.sizes));
  if (bias)
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == O, RuntimeError, op, ": bias ", shape_str(bias->sizes),
              " should be 1-D with ", O, " elements (weight ", shape_str(weight.sizes), ")");
  FLB_CHECK(N == 0 || C == 0 || (H > 0 && W > 0), RuntimeError, op, ": input ", shape_str(input.sizes),
            " has an empty spatial dimension");
  const int64_t hp = H + a.pad_t + a.pad_b, wp = W + a.pad_l + a.pad_r;
  const int64_t ekh = a.dilation.h * (KH - 1) + 1, ekw = a.dilation.w * (KW - 1) + 1;
  FLB_CHECK(hp >= ekh && wp >= ekw, RuntimeError, op, ": kernel ", KH, "x", KW, " (dilation ", a.dilation.h, "x",
            a.dilation.w, ", effective ", ekh, "x", ekw, ") is larger than the padded input ", hp, "x", wp,
            " (input ", shape_str(input.sizes), ")");
  cpu::ConvGeometry g;
  g.N = N;
  g.C = C;
  g.H = H;
  g.W = W;
  g.O = O;
  g.KH = KH;
  g.KW = KW;
  g.OH = (hp - ekh) / a.stride.h + 1;
  g.OW = (wp - ekw) / a.stride.w + 1;
  g.stride_h = a.stride.h;
  g.stride_w = a.stride.w;
  g.pad_h = a.pad_t;
  g.pad_w = a.pad_l;
  g.dil_h = a.dilation.h;
  g.dil_w = a.dilation.w;
  g.groups = groups;
  return g;
}

// conv_transpose2d's arguments, returned as the geometry of the conv2d it is the adjoint of: that
// conv's input is our output [N, Cout, OH, OW] and its output is our input [N, Cin, H, W].
cpu::ConvGeometry conv_transpose2d_geometry(const Tensor& input, const Tensor& weight, const OptTensor& bias,
                                            const IntList& stride, const IntList& padding,
                                            const IntList& output_padding, int64_t groups, const IntList& dilation) {
  const char* op = "conv_transpose2d";
  check_tensors(op, input, weight, bias);
  const ConvArgs a = conv_args(op, stride, padding, dilation, false);
  const Pair op_ = pair_arg(output_padding, op, "output_padding");
  FLB_CHECK(op_.h >= 0 && op_.w >= 0, RuntimeError, op, ": negative output_padding is not supported, got ",
            shape_str(output_padding));
  FLB_CHECK((op_.h < a.stride.h || op_.h < a.dilation.h) && (op_.w < a.stride.w || op_.w < a.dilation.w),
            RuntimeError, op, ": output_padding ", shape_str(output_padding),
            " must be smaller than either stride or dilation (stride ", shape_str(stride), ", dilation ",
            shape_str(dilation), ")");
  FLB_CHECK(groups > 0, RuntimeError, op, ": groups must be positive, got ", groups);
  const int64_t N = input.sizes[0], Cin = input.sizes[1], H = input.sizes[2], W = input.sizes[3];
  const int64_t WI = weight.sizes[0], Coutg = weight.sizes[1], KH = weight.sizes[2], KW = weight.sizes[3];
  FLB_CHECK(Cin == WI, RuntimeError, op, ": input ", shape_str(input.sizes), " has ", Cin, " channels, weight ",
            shape_str(weight.sizes), " expects ", WI);
  FLB_CHECK(WI > 0 && WI % groups == 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has ", WI,
            " input channels, not a positive multiple of groups=", groups);
  FLB_CHECK(Coutg > 0, RuntimeError, op, ": weight ", shape_str(weight.sizes), " has no output channels");
  FLB_CHECK(KH > 0 && KW > 0, RuntimeError, op, ": kernel size must be positive, got weight ",
            shape_str(weight.sizes));
  const int64_t Cout = Coutg * groups;
  if (bias)
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == Cout, RuntimeError, op, ": bias ", shape_str(bias->sizes),
              " should be 1-D with ", Cout, " elements (weight ", shape_str(weight.sizes), ", groups=", groups, ")");
  FLB_CHECK(N == 0 || (H > 0 && W > 0), RuntimeError, op, ": input ", shape_str(input.sizes),
            " has an empty spatial dimension");
  const int64_t OH = (H - 1) * a.stride.h - 2 * a.pad_t + a.dilation.h * (KH - 1) + op_.h + 1;
  const int64_t OW = (W - 1) * a.stride.w - 2 * a.pad_l + a.dilation.w * (KW - 1) + op_.w + 1;
  FLB_CHECK(OH > 0 && OW > 0, RuntimeError, op, ": input ", shape_str(input.sizes), " with weight ",
            shape_str(weight.sizes), " gives output size ", OH, "x", OW, ", which is too small");
  cpu::ConvGeometry g;
  g.N = N;
  g.C = Cout;
  g.H = OH;
  g.W = OW;
  g.O = Cin;
  g.KH = KH;
  g.KW = KW;
  g.OH = H;
  g.OW = W;
  g.stride_h = a.stride.h;
  g.stride_w = a.stride.w;
  g.pad_h = a.pad_t;
  g.pad_w = a.pad_l;
  g.dil_h = a.dilation.h;
  g.dil_w = a.dilation.w;
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

static cpu::ConvGeometry window_geometry(const char* op, int64_t N, int64_t C, int64_t H, int64_t W, const IntList& k,
                                         const IntList& d, const IntList& p, const IntList& s) {
  FLB_CHECK(k.size() == 2 && d.size() == 2 && p.size() == 2 && s.size() == 2, RuntimeError, op,
            ": kernel_size, dilation, padding and stride must be pairs");
  FLB_CHECK(k[0] > 0 && k[1] > 0, RuntimeError, op, ": kernel_size must be positive, got (", k[0], ", ", k[1], ")");
  FLB_CHECK(d[0] > 0 && d[1] > 0, RuntimeError, op, ": dilation must be positive, got (", d[0], ", ", d[1], ")");
  FLB_CHECK(p[0] >= 0 && p[1] >= 0, RuntimeError, op, ": padding must be non-negative, got (", p[0], ", ", p[1], ")");
  FLB_CHECK(s[0] > 0 && s[1] > 0, RuntimeError, op, ": stride must be positive, got (", s[0], ", ", s[1], ")");
  cpu::ConvGeometry g{};
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = C, g.groups = 1;
  g.KH = k[0], g.KW = k[1], g.dil_h = d[0], g.dil_w = d[1], g.pad_h = p[0], g.pad_w = p[1];
  g.stride_h = s[0], g.stride_w = s[1];
  g.OH = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
  g.OW = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
  FLB_CHECK(H + 2 * p[0] - d[0] * (k[0] - 1) - 1 >= 0 && W + 2 * p[1] - d[1] * (k[1] - 1) - 1 >= 0, RuntimeError, op,
            ": the calculated shape of the array of sliding blocks is (", g.OH, ", ", g.OW,
            "), which is too small (non-positive)");
  return g;
}

Tensor unfold2d(const Tensor& input, const IntList& kernel, const IntList& dilation, const IntList& padding,
                const IntList& stride) {
  FLB_CHECK(input.dim() == 4, RuntimeError, "unfold: expected a 4-D input, got ", shape_str(input.sizes));
  FLB_CHECK(input.device().is_cpu(), RuntimeError, "unfold: this kernel is CPU-only");
  FLB_CHECK(is_floating(input.dtype), RuntimeError, "unfold: expected a floating-point input, got ", dtype_name(input.dtype));
  const cpu::ConvGeometry g = window_geometry("unfold", input.sizes[0], input.sizes[1], input.sizes[2], input.sizes[3],
                                              kernel, dilation, padding, stride);
  Tensor col = empty({g.N, g.C * g.KH * g.KW, g.OH * g.OW}, input.dtype, input.device());
  if (col.numel() > 0) cpu::unfold2d(col, contiguous(input), g);
  return col;
}

Tensor fold2d(const Tensor& col, const IntList& output_size, const IntList& kernel, const IntList& dilation,
              const IntList& padding, const IntList& stride) {
  FLB_CHECK(col.dim() == 3, RuntimeError, "fold: expected a 3-D input (N, C*KH*KW, L), got ", shape_str(col.sizes));
  FLB_CHECK(col.device().is_cpu(), RuntimeError, "fold: this kernel is CPU-only");
  FLB_CHECK(is_floating(col.dtype), RuntimeError, "fold: expected a floating-point input, got ", dtype_name(col.dtype));
  FLB_CHECK(output_size.size() == 2 && output_size[0] > 0 && output_size[1] > 0, RuntimeError,
            "fold: output_size must be a pair of positive sizes");
  FLB_CHECK(kernel.size() == 2 && kernel[0] > 0 && kernel[1] > 0, RuntimeError, "fold: kernel_size must be positive");
  const int64_t KK = kernel[0] * kernel[1];
  FLB_CHECK(col.sizes[1] % KK == 0, RuntimeError, "fold: expected size of input's dimension 1 to be divisible by the "
            "product of kernel_size, but got input.size(1)=", col.sizes[1], " and kernel_size=(", kernel[0], ", ",
            kernel[1], ")");
  const cpu::ConvGeometry g = window_geometry("fold", col.sizes[0], col.sizes[1] / KK, output_size[0], output_size[1],
                                              kernel, dilation, padding, stride);
  FLB_CHECK(col.sizes[2] == g.OH * g.OW, RuntimeError, "fold: given output_size=(", output_size[0], ", ",
            output_size[1], "), kernel_size=(", kernel[0], ", ", kernel[1], "), dilation=(", dilation[0], ", ",
            dilation[1], "), padding=(", padding[0], ", ", padding[1], "), stride=(", stride[0], ", ", stride[1],
            "), expected size of input's dimension 2 to match the calculated number of sliding blocks ", g.OH,
            " * ", g.OW, " = ", g.OH * g.OW, ", but got input.size(2)=", col.sizes[2], ".");
  Tensor x = empty({g.N, g.C, g.H, g.W}, col.dtype, col.device());
  if (x.numel() > 0) cpu::fold2d(x, contiguous(col), g);
  return x;
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups) {
  const cpu::ConvGeometry g = conv2d_geometry(input, weight, bias, stride, padding, dilation, groups);
  Tensor out = empty({g.N, g.O, g.OH, g.OW}, input.dtype, input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input), w = contiguous(weight);
  OptTensor b;
  if (bias) b = contiguous(*bias);
  FLB_BACKEND(input.device(), conv2d_forward, out, x, w, b ? &*b : nullptr, g);
  return out;
}

Grads3 conv2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const IntList& stride,
                       const IntList& padding, const IntList& dilation, int64_t groups,
                       std::array<bool, 3> output_mask) {
  const char* op = "conv2d_backward";
  const cpu::ConvGeometry g = conv2d_geometry(input, weight, std::nullopt, stride, padding, dilation, groups, op);
  check_grad_output(op, grad_output, input, {g.N, g.O, g.OH, g.OW});
  Tensor dy = contiguous(grad_output);
  OptTensor gi, gw, gb;
  if (output_mask[0]) {
    gi = empty(input.sizes, input.dtype, input.device());
    if (gi->numel() > 0) {
      Tensor w = contiguous(weight);
      FLB_BACKEND(input.device(), conv2d_backward_input, *gi, dy, w, g);
    }
  }
  if (output_mask[1]) {
    gw = empty(weight.sizes, weight.dtype, weight.device());
    if (gw->numel() > 0) {
      if (g.N == 0) {
        zero(*gw);
      } else {
        Tensor x = contiguous(input);
        FLB_BACKEND(input.device(), conv2d_backward_weight, *gw, dy, x, g);
      }
    }
  }
  if (output_mask[2]) {
    gb = empty({g.O}, input.dtype, input.device());
    FLB_BACKEND(input.device(), conv2d_backward_bias, *gb, dy);
  }
  return {gi, gw, gb};
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation) {
  const cpu::ConvGeometry g =
      conv_transpose2d_geometry(input, weight, bias, stride, padding, output_padding, groups, dilation);
  Tensor out = empty({g.N, g.C, g.H, g.W}, input.dtype, input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input), w = contiguous(weight);
  FLB_BACKEND(input.device(), conv2d_backward_input, out, x, w, g);
  if (bias) FLB_BACKEND(input.device(), conv2d_add_bias, out, contiguous(*bias));
  return out;
}

Grads3 conv_transpose2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                 const IntList& stride, const IntList& padding, const IntList& output_padding,
                                 int64_t groups, const IntList& dilation, std::array<bool, 3> output_mask) {
  const char* op = "conv_transpose2d_backward";
  const cpu::ConvGeometry g =
      conv_transpose2d_geometry(input, weight, std::nullopt, stride, padding, output_padding, groups, dilation);
  check_grad_output(op, grad_output, input, {g.N, g.C, g.H, g.W});
  Tensor dy = contiguous(grad_output);
  OptTensor gi, gw, gb;
  if (output_mask[0]) {
    gi = empty(input.sizes, input.dtype, input.device());
    if (gi->numel() > 0) {
      Tensor w = contiguous(weight);
      FLB_BACKEND(input.device(), conv2d_forward, *gi, dy, w, nullptr, g);
    }
  }
  if (output_mask[1]) {
    gw = empty(weight.sizes, weight.dtype, weight.device());
    if (gw->numel() > 0) {
      if (g.N == 0) {
        zero(*gw);
      } else {
        Tensor x = contiguous(input);
        FLB_BACKEND(input.device(), conv2d_backward_weight, *gw, x, dy, g);
      }
    }
  }
  if (output_mask[2]) {
    gb = empty({g.C}, input.dtype, input.device());
    FLB_BACKEND(input.device(), conv2d_backward_bias, *gb, dy);
  }
  return {gi, gw, gb};
}

}  // namespace flambeau::ops
