// Activation ops: checks, allocation, dispatch (CPU kernels in cpu/activation.cpp).
#include <cmath>
#include "core/copy.h"
#include "core/layout.h"
#include "core/view.h"
#include "cpu/act_loss_kernels.h"
#include "ops/act_loss_ops.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

void check_float(const Tensor& t, const char* op, const char* what = "input") {
  FLB_CHECK(is_floating(t.dtype), TypeError, op, ": expected a floating-point ", what, ", got ", dtype_name(t.dtype),
            " with shape ", shape_str(t.sizes));
}

void check_out(const Tensor& out, const Tensor& x, const char* op) {
  FLB_CHECK(out.sizes == x.sizes, ValueError, op, ": output with shape ", shape_str(out.sizes),
            " doesn't match the input shape ", shape_str(x.sizes));
  FLB_CHECK(out.dtype == x.dtype, TypeError, op, ": output dtype ", dtype_name(out.dtype), " differs from input dtype ",
            dtype_name(x.dtype));
  check_same_device(out, x, op);
  for (int64_t d = 0; d < out.dim() && out.numel() > 0; ++d)
    FLB_CHECK(!(out.strides[d] == 0 && out.sizes[d] > 1), RuntimeError, op,
              ": unsupported operation: more than one element of the written-to tensor (shape ", shape_str(out.sizes),
              ") refers to a single memory location. Please clone() the tensor before performing the operation.");
}

void check_params(Act op, const char* name, const ActParams& p) {
  switch (op) {
    case Act::Hardtanh:
      FLB_CHECK(p.p[0] <= p.p[1], ValueError, name, ": min_val cannot be greater than max_val (got min_val=", p.p[0],
                ", max_val=", p.p[1], ")");
      break;
    case Act::Softshrink:
      FLB_CHECK(p.p[0] >= 0, RuntimeError, name, ": lambda must be greater or equal to 0, but found to be ", p.p[0],
                ".");
      break;
    case Act::Elu:
      FLB_CHECK(p.p[2] == p.p[2] && p.p[2] != 0 && std::isfinite(p.p[2]), RuntimeError, name,
                ": input_scale must be finite and non-zero (celu: alpha cannot be 0), got ", p.p[2]);
      break;
    default:
      break;
  }
}

}  // namespace

Tensor activation(Act op, const char* name, const Tensor& x, const ActParams& p, const std::optional<Tensor>& out) {
  check_float(x, name);
  check_params(op, name, p);
  if (out) assert_no_partial_overlap(*out, x, name);  // as PyTorch, before anything is written
  // A fresh output keeps x's layout (transposed, channels_last), as PyTorch's (core/layout.h).
  Tensor o = out ? *out : empty_elementwise(x.sizes, x.dtype, x.device(), {&x});
  if (out) check_out(o, x, name);
  if (o.numel() == 0) return o;
  // An output that overlaps the input other than exactly (same view) would be read after written.
  if (out && may_overlap(o, x) && !(o.storage == x.storage && o.offset == x.offset && o.strides == x.strides)) {
    Tensor src = clone(x);  // (a strided overlap PyTorch cannot judge either; a partial one was refused above)
    FLB_BACKEND(x.device(), activation, op, o, src, p);
    return o;
  }
  InMemoryOrder mo(o);  // kernels then see row-major operands
  FLB_BACKEND(x.device(), activation, op, mo(o), mo(x), p);
  return o;
}

Tensor activation_backward(Act op, const char* name, const Tensor& grad, const Tensor& saved, const ActParams& p) {
  // The op's name for messages, built only when a check fails.
  auto full_name = [&] { return std::string(name) + "_backward"; };
  if (!is_floating(saved.dtype)) check_float(saved, full_name().c_str(), "saved tensor");
  if (grad.device() != saved.device()) check_same_device(grad, saved, full_name().c_str());
  if (grad.dtype != saved.dtype) check_same_dtype(grad, saved, full_name().c_str());
  FLB_CHECK(grad.sizes == saved.sizes, ValueError, full_name(), ": grad shape ", shape_str(grad.sizes),
            " differs from the saved tensor's shape ", shape_str(saved.sizes));
  if (op == Act::Hardtanh || op == Act::Softshrink || op == Act::Elu) check_params(op, full_name().c_str(), p);
  Tensor gi = empty_elementwise(saved.sizes, saved.dtype, saved.device(), {&grad, &saved});
  if (gi.numel() == 0) return gi;
  InMemoryOrder mo(gi);
  FLB_BACKEND(saved.device(), activation_backward, op, mo(gi), mo(grad),
              mo(saved), p);
  return gi;
}

// ---- PReLU: weight has 1 element or one per channel (dim 1; a 1-D input has a single channel).
static int64_t prelu_channels(const Tensor& x, const Tensor& w) {
  check_float(x, "prelu");
  check_same_device(x, w, "prelu");
  check_same_dtype(x, w, "prelu");
  FLB_CHECK(w.dim() <= 1, RuntimeError, "prelu: expected `weight` to be a scalar or 1D tensor, but got: ndim = ",
            w.dim(), " (shape ", shape_str(w.sizes), ")");
  int64_t wn = w.numel();
  if (wn == 1) return 1;
  FLB_CHECK(x.dim() > 0, RuntimeError, "prelu: zero-dim input with a weight of ", wn,
            " elements (a zero-dim input takes a single weight)");
  int64_t ch = x.dim() >= 2 ? x.sizes[1] : 1;  // as PyTorch: a 1-D input has one channel
  FLB_CHECK(wn == ch, RuntimeError,
            "prelu: mismatch of parameter numbers and input channel size. Found parameter numbers = ", wn,
            " and channel size = ", ch, " (input shape ", shape_str(x.sizes), ")");
  return wn;
}

static Tensor prelu_weight_view(const Tensor& x, const Tensor& w, int64_t C) {
  if (C == 1) return expand(reshape(w, {}), x.sizes);
  Shape s(x.dim(), 1);
  s[x.dim() >= 2 ? 1 : 0] = C;
  return expand(reshape(w, s), x.sizes);
}

Tensor prelu(const Tensor& x, const Tensor& w) {
  int64_t C = prelu_channels(x, w);
  Tensor o = empty(x.sizes, x.dtype, x.device());
  if (o.numel() == 0) return o;
  Tensor wv = prelu_weight_view(x, w, C);
  FLB_BACKEND(x.device(), prelu, o, x, wv);
  return o;
}

std::pair<Tensor, Tensor> prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& w) {
  int64_t C = prelu_channels(x, w);
  check_same_device(grad, x, "prelu_backward");
  check_same_dtype(grad, x, "prelu_backward");
  FLB_CHECK(grad.sizes == x.sizes, ValueError, "prelu_backward: grad shape ", shape_str(grad.sizes),
            " differs from input shape ", shape_str(x.sizes));
  Tensor gi = empty(x.sizes, x.dtype, x.device());
  Tensor gw = empty(w.sizes, w.dtype, w.device());
  if (x.numel() == 0) {
    fill_(gw, Scalar::from_double(0));
    return {gi, gw};
  }
  int64_t outer = 1, inner = 1;
  if (C > 1) {
    int64_t cd = x.dim() >= 2 ? 1 : 0;
    for (int64_t d = 0; d < cd; ++d) outer *= x.sizes[d];
    for (int64_t d = cd + 1; d < x.dim(); ++d) inner *= x.sizes[d];
  } else {
    inner = x.numel();
  }
  Tensor xc = contiguous(x), gc = contiguous(grad), wc = contiguous(w);
  FLB_BACKEND(x.device(), prelu_backward, gi, gw, gc, xc, wc, outer, C, inner);
  return {gi, gw};
}

// ---- GLU: halves along dim.
static int64_t glu_dim(const Tensor& x, int64_t dim, const char* op) {
  check_float(x, op);
  FLB_CHECK(x.dim() > 0, RuntimeError, op, ": glu does not support scalars because halving size must be even");
  int64_t d = wrap_dim(dim, x.dim(), op);
  FLB_CHECK(x.sizes[d] % 2 == 0, RuntimeError, op, ": Halving dimension must be even, but dimension ", d, " is size ",
            x.sizes[d], " (input shape ", shape_str(x.sizes), ")");
  return d;
}

Tensor glu(const Tensor& x, int64_t dim) {
  int64_t d = glu_dim(x, dim, "glu");
  int64_t h = x.sizes[d] / 2;
  Shape os = x.sizes;
  os[d] = h;
  Tensor o = empty(os, x.dtype, x.device());
  if (o.numel() == 0) return o;
  Tensor a = slice(x, d, 0, h, 1), b = slice(x, d, h, 2 * h, 1);
  FLB_BACKEND(x.device(), glu, o, a, b);
  return o;
}

Tensor glu_backward(const Tensor& grad, const Tensor& x, int64_t dim) {
  int64_t d = glu_dim(x, dim, "glu_backward");
  check_same_device(grad, x, "glu_backward");
  check_same_dtype(grad, x, "glu_backward");
  int64_t h = x.sizes[d] / 2;
  Shape os = x.sizes;
  os[d] = h;
  FLB_CHECK(grad.sizes == os, ValueError, "glu_backward: grad shape ", shape_str(grad.sizes), " differs from ",
            shape_str(os), " (input ", shape_str(x.sizes), ", dim ", d, ")");
  Tensor gi = empty(x.sizes, x.dtype, x.device());
  if (gi.numel() == 0) return gi;
  Tensor a = slice(x, d, 0, h, 1), b = slice(x, d, h, 2 * h, 1);
  Tensor ga = slice(gi, d, 0, h, 1), gb = slice(gi, d, h, 2 * h, 1);
  FLB_BACKEND(x.device(), glu_backward, ga, gb, grad, a, b);
  return gi;
}

}  // namespace flambeau::ops
