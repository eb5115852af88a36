// Order statistics (sort, topk, kthvalue, median) and scans (cumsum, cumprod, cummax, cummin) along
// one dim: checks with PyTorch's messages, output allocation, dispatch to the CPU kernels in
// csrc/cpu/sort.cpp and csrc/cpu/scan.cpp.
//
// Shape handling lives here so the kernels see only the easy case: a 0-d input is viewed as [1]
// (PyTorch accepts dim 0 and -1 for it and returns 0-d results), outputs are fresh contiguous
// tensors, and empty inputs return before any kernel runs. There are no CUDA kernels yet but cumsum's
// (gated, csrc/cuda/scan.cu): FLB_CPU_ONLY raises NotImplementedError for CUDA tensors, and the Python
// layer keeps its host path for them.
#include "core/view.h"
#include "cpu/sort_kernels.h"
#include "ops/dispatch.h"
#include "ops/gated_dispatch.h"
#ifdef FLAMBEAU_WITH_CUDA
#include "cuda/gated_kernels.h"
#endif
#include "ops/narrow_int.h"
#include "ops/sort_ops.h"

namespace flambeau::ops {

namespace {

// The input as seen by the kernels (0-d -> [1]) and the wrapped dim.
struct Prep {
  Tensor x;
  int64_t dim;
  bool scalar;
};
Prep prep(const Tensor& x, int64_t dim, const char* op) {
  int64_t d = wrap_dim(dim, x.dim(), op);
  if (x.dim() == 0) return {view(x, Shape{1}), 0, true};
  return {x, d, false};
}

Shape with_size(Shape s, int64_t dim, int64_t n) {
  s[dim] = n;
  return s;
}

// Results of a reduction-like op computed with size 1 at dim: drop it unless keepdim (or 0-d input).
TensorPair finish_reduced(TensorPair r, const Prep& p, const Shape& in_shape, bool keepdim) {
  if (p.scalar) return {view(r.first, Shape{}), view(r.second, Shape{})};
  if (!keepdim) {
    Shape s;
    for (int64_t d = 0; d < (int64_t)in_shape.size(); ++d)
      if (d != p.dim) s.push_back(in_shape[d]);
    return {view(r.first, s), view(r.second, s)};
  }
  return r;
}

// The narrow integers are sorted and scanned as int64 (ops/narrow_int.h); values go back to their dtype.
TensorPair narrow_values(TensorPair r, DType dt) { return {to(r.first, dt, r.first.device(), false), r.second}; }

void check_nonempty_dim(const Prep& p, const char* op) {
  FLB_CHECK(p.x.sizes[p.dim] > 0, IndexError, op, "(): Expected reduction dim ", p.dim, " to have non-zero size.");
}

}  // namespace

TensorPair sort(const Tensor& x, int64_t dim, bool descending, bool /*stable: always stable*/) {
  if (is_narrow_int(x.dtype)) return narrow_values(sort(widen_int(x), dim, descending, true), x.dtype);
  Prep p = prep(x, dim, "sort");
  Tensor values = empty(p.x.sizes, x.dtype, x.device());
  Tensor indices = empty(p.x.sizes, DType::Int64, x.device());
  if (values.numel() > 0) FLB_CPU_ONLY(x.device(), "sort", sort, values, indices, p.x, p.dim, descending);
  if (p.scalar) return {view(values, Shape{}), view(indices, Shape{})};
  return {values, indices};
}

TensorPair topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool /*sorted: always sorted*/) {
  if (is_narrow_int(x.dtype)) return narrow_values(topk(widen_int(x), k, dim, largest, true), x.dtype);
  Prep p = prep(x, dim, "topk");
  const int64_t n = p.x.sizes[p.dim];
  FLB_CHECK(k >= 0 && k <= n, RuntimeError, "selected index k out of range");
  Shape s = with_size(p.x.sizes, p.dim, k);
  Tensor values = empty(s, x.dtype, x.device());
  Tensor indices = empty(s, DType::Int64, x.device());
  if (values.numel() > 0) FLB_CPU_ONLY(x.device(), "topk", topk, values, indices, p.x, k, p.dim, largest);
  if (p.scalar) return {view(values, Shape{}), view(indices, Shape{})};
  return {values, indices};
}

TensorPair kthvalue(const Tensor& x, int64_t k, int64_t dim, bool keepdim) {
  if (is_narrow_int(x.dtype)) return narrow_values(kthvalue(widen_int(x), k, dim, keepdim), x.dtype);
  Prep p = prep(x, dim, "kthvalue");
  check_nonempty_dim(p, "kthvalue");
  FLB_CHECK(k >= 1 && k <= p.x.sizes[p.dim], RuntimeError, "kthvalue(): selected number k out of range for dimension ",
            p.dim);
  Shape s = with_size(p.x.sizes, p.dim, 1);
  Tensor values = empty(s, x.dtype, x.device());
  Tensor indices = empty(s, DType::Int64, x.device());
  if (values.numel() > 0) FLB_CPU_ONLY(x.device(), "kthvalue", kthvalue, values, indices, p.x, k, p.dim);
  return finish_reduced({values, indices}, p, x.sizes, keepdim);
}

TensorPair median(const Tensor& x, int64_t dim, bool keepdim, bool ignore_nan) {
  const char* name = ignore_nan ? "nanmedian" : "median";
  if (is_narrow_int(x.dtype)) return narrow_values(median(widen_int(x), dim, keepdim, ignore_nan), x.dtype);
  Prep p = prep(x, dim, name);
  check_nonempty_dim(p, name);
  Shape s = with_size(p.x.sizes, p.dim, 1);
  Tensor values = empty(s, x.dtype, x.device());
  Tensor indices = empty(s, DType::Int64, x.device());
  if (values.numel() > 0) FLB_CPU_ONLY(x.device(), name, median, values, indices, p.x, p.dim, ignore_nan);
  return finish_reduced({values, indices}, p, x.sizes, keepdim);
}

Tensor cumsum(const Tensor& x, int64_t dim, bool reverse) {
  if (is_narrow_int(x.dtype)) return cumsum(widen_int(x), dim, reverse);  // int64, as PyTorch's
  Prep p = prep(x, dim, "cumsum");
  Tensor out = empty(p.x.sizes, is_floating(x.dtype) ? x.dtype : DType::Int64, x.device());
  if (out.numel() > 0) FLB_GATED_BACKEND(x.device(), "cumsum", cumsum, out, p.x, p.dim, reverse);
  return p.scalar ? view(out, Shape{}) : out;
}

Tensor cumprod(const Tensor& x, int64_t dim) {
  if (is_narrow_int(x.dtype)) return cumprod(widen_int(x), dim);  // int64, as PyTorch's
  Prep p = prep(x, dim, "cumprod");
  Tensor out = empty(p.x.sizes, is_floating(x.dtype) ? x.dtype : DType::Int64, x.device());
  if (out.numel() > 0) FLB_CPU_ONLY(x.device(), "cumprod", cumprod, out, p.x, p.dim);
  return p.scalar ? view(out, Shape{}) : out;
}

Tensor cumprod_backward(const Tensor& grad, const Tensor& x, int64_t dim) {
  FLB_CHECK(is_floating(x.dtype), TypeError, "cumprod_backward: expected a floating-point input, got ",
            dtype_name(x.dtype));
  FLB_CHECK(grad.dtype == x.dtype, TypeError, "cumprod_backward: grad has dtype ", dtype_name(grad.dtype),
            ", input has ", dtype_name(x.dtype));
  FLB_CHECK(grad.sizes == x.sizes, ValueError, "cumprod_backward: grad shape ", shape_str(grad.sizes),
            " != input shape ", shape_str(x.sizes));
  FLB_CHECK(grad.device() == x.device(), ValueError, "cumprod_backward: grad and input are on different devices");
  Prep p = prep(x, dim, "cumprod_backward");
  Tensor g = p.scalar ? view(grad, Shape{1}) : grad;
  Tensor out = empty(p.x.sizes, x.dtype, x.device());
  if (out.numel() > 0) FLB_CPU_ONLY(x.device(), "cumprod_backward", cumprod_backward, out, g, p.x, p.dim);
  return p.scalar ? view(out, Shape{}) : out;
}

TensorPair cummax_cummin(const Tensor& x, int64_t dim, bool is_max) {
  const char* name = is_max ? "cummax" : "cummin";
  if (is_narrow_int(x.dtype)) return narrow_values(cummax_cummin(widen_int(x), dim, is_max), x.dtype);
  Prep p = prep(x, dim, name);
  Tensor values = empty(p.x.sizes, x.dtype, x.device());
  Tensor indices = empty(p.x.sizes, DType::Int64, x.device());
  if (values.numel() > 0) FLB_CPU_ONLY(x.device(), name, cummax_cummin, values, indices, p.x, p.dim, is_max);
  if (p.scalar) return {view(values, Shape{}), view(indices, Shape{})};
  return {values, indices};
}

}  // namespace flambeau::ops
