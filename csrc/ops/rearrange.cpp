// flip and tril/triu: checks, then the row kernels of cpu/rearrange.cpp. CUDA has no kernel for them
// yet and composes them from index_select / where, as the Python layer did before.
#include <algorithm>
#include "core/copy.h"
#include "core/view.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

Tensor flip(const Tensor& t, const Dims& dims_in) {
  std::vector<bool> seen((size_t)std::max<int64_t>(t.dim(), 1), false);
  Dims dims;
  for (int64_t d : dims_in) {
    const int64_t w = wrap_dim(d, t.dim(), "flip");
    FLB_CHECK(!seen[(size_t)w], RuntimeError, "flip: dim ", w, " appears multiple times in the list of dims");
    seen[(size_t)w] = true;
    dims.push_back(w);
  }
  if (!t.device().is_cpu()) {
    Tensor x = t;
    for (int64_t d : dims) {
      const int64_t n = t.sizes[(size_t)d];
      x = index_select(x, d, arange((double)n - 1, -1.0, -1.0, DType::Int64, t.device()));
    }
    return dims.empty() ? clone(t) : x;
  }
  Tensor out = empty(t.sizes, t.dtype, t.device());
  if (out.numel() == 0) return out;
  Tensor flipped = t;  // the same storage read backwards along each flipped dim
  for (int64_t d : dims) {
    flipped.offset += (t.sizes[(size_t)d] - 1) * t.strides[(size_t)d];
    flipped.strides[(size_t)d] = -t.strides[(size_t)d];
  }
  cpu::flip_copy(out, flipped);
  return out;
}

// The CUDA composite: keep where (j - i) <= diagonal (tril) or >= diagonal (triu).
static Tensor tri_composite(const Tensor& t, int64_t diagonal, bool upper) {
  const int64_t R = t.sizes[t.dim() - 2], C = t.sizes[t.dim() - 1];
  Tensor rows = view(arange(0, (double)R, 1, DType::Int64, t.device()), {R, 1});
  Tensor cols = view(arange(0, (double)C, 1, DType::Int64, t.device()), {1, C});
  Tensor diff = binary(BinaryOp::Sub, cols, rows, std::nullopt);
  Tensor keep = binary(upper ? BinaryOp::Ge : BinaryOp::Le, diff, full({}, Scalar::from_int(diagonal), DType::Int64, t.device()),
                       std::nullopt);
  return where(keep, t, full({}, Scalar::from_int(0), t.dtype, t.device()));
}

Tensor tri(const Tensor& t, int64_t diagonal, bool upper, bool in_place) {
  const char* name = upper ? (in_place ? "triu_" : "triu") : (in_place ? "tril_" : "tril");
  FLB_CHECK(t.dim() >= 2, RuntimeError, name, ": input tensor must have at least 2 dimensions, got shape ",
            shape_str(t.sizes));
  if (in_place && t.device().is_cpu() && t.is_contiguous()) {
    t.bump_version();
    if (t.numel() > 0) cpu::tri(t, t, diagonal, upper);
    return t;
  }
  Tensor r;
  if (!t.device().is_cpu()) {
    r = tri_composite(t, diagonal, upper);
  } else {
    r = empty(t.sizes, t.dtype, t.device());
    if (r.numel() > 0) cpu::tri(r, t, diagonal, upper);
  }
  if (!in_place) return r;
  copy_(t, r);
  return t;
}

}  // namespace flambeau::ops
