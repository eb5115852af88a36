// Matrix products and the softmax family.
#include "ops/dispatch.h"
#include "ops/narrow_int.h"
#include "ops/ops.h"

namespace flambeau::ops {

Tensor mm(const Tensor& a, const Tensor& b) {
  check_same_device(a, b, "mm");
  FLB_CHECK(a.dim() == 2 && b.dim() == 2, RuntimeError, "mm: expected 2-D tensors, got shapes ", shape_str(a.sizes),
            " and ", shape_str(b.sizes));
  FLB_CHECK(a.sizes[1] == b.sizes[0], RuntimeError, "mm: mat1 and mat2 shapes cannot be multiplied (", a.sizes[0], "x",
            a.sizes[1], " and ", b.sizes[0], "x", b.sizes[1], ")");
  check_same_dtype(a, b, "mm");
  FLB_CHECK(a.dtype != DType::Bool, TypeError, "mm: not implemented for bool tensors");
  // The narrow integers: an int64 product, wrapped back (PyTorch's values; ops/narrow_int.h).
  if (is_narrow_int(a.dtype)) return to(mm(widen_int(a), widen_int(b)), a.dtype, a.device(), false);
  Tensor c = empty({a.sizes[0], b.sizes[1]}, a.dtype, a.device());
  if (c.numel() == 0) return c;
  if (a.sizes[1] == 0) {
    fill_(c, Scalar::from_int(0));
    return c;
  }
  FLB_BACKEND(a.device(), mm, c, a, b);
  return c;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_same_device(a, b, "bmm");
  FLB_CHECK(a.dim() == 3 && b.dim() == 3, RuntimeError, "bmm: expected 3-D tensors, got shapes ", shape_str(a.sizes),
            " and ", shape_str(b.sizes));
  FLB_CHECK(a.sizes[0] == b.sizes[0] && a.sizes[2] == b.sizes[1], RuntimeError, "bmm: shapes ", shape_str(a.sizes),
            " and ", shape_str(b.sizes), " cannot be multiplied");
  check_same_dtype(a, b, "bmm");
  FLB_CHECK(a.dtype != DType::Bool, TypeError, "bmm: not implemented for bool tensors");
  if (is_narrow_int(a.dtype)) return to(bmm(widen_int(a), widen_int(b)), a.dtype, a.device(), false);
  Tensor c = empty({a.sizes[0], a.sizes[1], b.sizes[2]}, a.dtype, a.device());
  if (c.numel() == 0) return c;
  if (a.sizes[2] == 0) {
    fill_(c, Scalar::from_int(0));
    return c;
  }
  FLB_BACKEND(a.device(), bmm, c, a, b);
  return c;
}

Tensor linear(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias) {
  check_same_device(x, w, "linear");
  check_same_dtype(x, w, "linear");
  FLB_CHECK(x.dim() == 2 && w.dim() == 2, RuntimeError, "linear: expected a 2-D input and weight, got shapes ",
            shape_str(x.sizes), " and ", shape_str(w.sizes));
  FLB_CHECK(x.sizes[1] == w.sizes[1], RuntimeError, "linear: mat1 and mat2 shapes cannot be multiplied (", x.sizes[0],
            "x", x.sizes[1], " and ", w.sizes[1], "x", w.sizes[0], ")");
  FLB_CHECK(is_floating(x.dtype), TypeError, "linear: expected floating-point tensors, got ", dtype_name(x.dtype));
  std::optional<Tensor> b;
  if (bias) {
    check_same_device(x, *bias, "linear");
    check_same_dtype(x, *bias, "linear");
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == w.sizes[0], RuntimeError, "linear: bias of shape ",
              shape_str(bias->sizes), " does not match weight of shape ", shape_str(w.sizes));
    b = contiguous(*bias);
  }
  if (!x.device().is_cuda() && x.sizes[1] == 0) {
    // K = 0 reads nothing: zeros, then the bias.
    Tensor out = mm(x, transpose(w, 0, 1));
    if (b) binary(BinaryOp::Add, out, *b, out);
    return out;
  }
  Tensor out = empty({x.sizes[0], w.sizes[0]}, x.dtype, x.device());
  if (out.numel() == 0) return out;
  // Both backends add the bias in the GEMM's epilogue (CUDA: K = 0 writes the bias alone).
  FLB_BACKEND(x.device(), linear, out, x, w, b ? &*b : nullptr);
  return out;
}

Tensor softmax(const Tensor& t, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  FLB_CHECK(is_floating(t.dtype), TypeError, name, ": expected a floating-point tensor, got ", dtype_name(t.dtype));
  int64_t d = wrap_dim(dim, t.dim(), name);
  Tensor in = contiguous(t);
  Tensor out = empty(t.sizes, t.dtype, t.device());
  if (out.numel() == 0) return out;
  FLB_BACKEND(t.device(), softmax, out, in, t.dim() ? d : 0, log);
  return out;
}

Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim, bool log) {
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  check_same_device(grad, out, name);
  check_same_dtype(grad, out, name);
  FLB_CHECK(grad.sizes == out.sizes, RuntimeError, name, ": grad shape ", shape_str(grad.sizes),
            " differs from output shape ", shape_str(out.sizes));
  int64_t d = wrap_dim(dim, out.dim(), name);
  Tensor g = contiguous(grad), y = contiguous(out);
  Tensor gi = empty(out.sizes, out.dtype, out.device());
  if (gi.numel() == 0) return gi;
  FLB_BACKEND(out.device(), softmax_backward, gi, g, y, out.dim() ? d : 0, log);
  return gi;
}

namespace {
void check_cdist_operands(const Tensor& x1, const Tensor& x2, double p, const char* name) {
  check_same_device(x1, x2, name);
  FLB_CHECK((x1.dim() == 3 || x1.dim() == 2) && x2.dim() == x1.dim(), RuntimeError, name,
            ": expected 3-D tensors [B, P, M] and [B, R, M] (or 2-D [P, M] and [R, M]), got ", shape_str(x1.sizes),
            " and ", shape_str(x2.sizes));
  FLB_CHECK(x1.sizes.back() == x2.sizes.back() && (x1.dim() == 2 || x1.sizes[0] == x2.sizes[0]), RuntimeError, name,
            ": shapes ", shape_str(x1.sizes), " and ", shape_str(x2.sizes),
            " differ in the batch or the number of columns");
  FLB_CHECK(is_floating(x1.dtype), TypeError, name, " only supports floating-point dtypes, X1 got: ",
            dtype_name(x1.dtype));
  check_same_dtype(x1, x2, name);
  FLB_CHECK(p >= 0, RuntimeError, name, " only supports non-negative p values");
}
}  // namespace

Tensor cdist(const Tensor& x1, const Tensor& x2, double p) {
  check_cdist_operands(x1, x2, p, "cdist");
  Shape os = x1.sizes;
  os.back() = x2.sizes[x2.dim() - 2];
  Tensor out = empty(os, x1.dtype, x1.device());
  if (out.numel() == 0) return out;
  FLB_CPU_ONLY(x1.device(), "cdist", cdist, out, contiguous(x1), contiguous(x2), p);
  return out;
}

Tensor cdist_backward(const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& dist, double p) {
  check_cdist_operands(x1, x2, p, "cdist_backward");
  Shape os = x1.sizes;
  os.back() = x2.sizes[x2.dim() - 2];
  FLB_CHECK(grad.sizes == os && dist.sizes == os, RuntimeError, "cdist_backward: grad ", shape_str(grad.sizes),
            " and dist ", shape_str(dist.sizes), " must both have shape ", shape_str(os));
  check_same_dtype(x1, grad, "cdist_backward");
  check_same_dtype(x1, dist, "cdist_backward");
  check_same_device(x1, grad, "cdist_backward");
  check_same_device(x1, dist, "cdist_backward");
  Tensor gx = empty(x1.sizes, x1.dtype, x1.device());
  if (gx.numel() == 0) return gx;
  FLB_CPU_ONLY(x1.device(), "cdist_backward", cdist_backward, gx, contiguous(grad), contiguous(x1), contiguous(x2),
               contiguous(dist), p);
  return gx;
}

namespace {
void check_pdist_operand(const Tensor& x, double p, const char* name) {
  FLB_CHECK(x.dim() == 2, RuntimeError, name, " only supports 2D tensors, got: ", x.dim(), "D");
  FLB_CHECK(is_floating(x.dtype), RuntimeError, name, " only supports floating-point dtypes");
  FLB_CHECK(p >= 0, RuntimeError, name, " only supports non-negative p values");
}
}  // namespace

Tensor pdist(const Tensor& x, double p) {
  check_pdist_operand(x, p, "pdist");
  const int64_t N = x.sizes[0];
  Tensor out = empty({N > 1 ? N * (N - 1) / 2 : 0}, x.dtype, x.device());
  if (out.numel() == 0) return out;
  FLB_CPU_ONLY(x.device(), "pdist", pdist, out, contiguous(x), p);
  return out;
}

Tensor pdist_backward(const Tensor& grad, const Tensor& x, const Tensor& dist, double p) {
  check_pdist_operand(x, p, "pdist_backward");
  const int64_t N = x.sizes[0], K = N > 1 ? N * (N - 1) / 2 : 0;
  FLB_CHECK(grad.dim() == 1 && grad.sizes[0] == K && dist.sizes == grad.sizes, RuntimeError,
            "pdist_backward: grad ", shape_str(grad.sizes), " and dist ", shape_str(dist.sizes), " must both have shape [",
            K, "]");
  check_same_dtype(x, grad, "pdist_backward");
  check_same_dtype(x, dist, "pdist_backward");
  check_same_device(x, grad, "pdist_backward");
  check_same_device(x, dist, "pdist_backward");
  Tensor gx = empty(x.sizes, x.dtype, x.device());
  if (gx.numel() == 0) return gx;
  if (K == 0) {
    fill_(gx, Scalar::from_int(0));
    return gx;
  }
  FLB_CPU_ONLY(x.device(), "pdist_backward", pdist_backward, gx, contiguous(grad), contiguous(x), contiguous(dist), p);
  return gx;
}

}  // namespace flambeau::ops
