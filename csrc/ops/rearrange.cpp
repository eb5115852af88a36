// flip and tril/triu: checks, then the row kernels of cpu/rearrange.cpp. CUDA has no kernel for them
// yet and composes them from index_select / where, as the Python layer did before. roll: block
// copies, on any device.
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
    if (t.dim() > 0) dims.push_back(w);  // a 0-d tensor has nothing to flip: dim 0 / -1 only name it
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

Tensor roll(const Tensor& t, const std::vector<int64_t>& shifts, const Dims& dims_in) {
  if (t.dim() == 0) {
    for (int64_t d : dims_in) wrap_dim(d, 0, "roll");
    return clone(t);
  }
  if (dims_in.empty()) {  // the flattened tensor, rolled, in t's shape
    FLB_CHECK(shifts.size() == 1, RuntimeError, "roll: shifts and dimensions must align. shifts: ", shifts.size(),
              ", dims: 0");
    return view(roll(reshape(t, {t.numel()}), shifts, {0}), t.sizes);
  }
  FLB_CHECK(shifts.size() == dims_in.size(), RuntimeError, "roll: shifts and dimensions must align. shifts: ",
            shifts.size(), ", dims: ", dims_in.size());
  Tensor out = empty(t.sizes, t.dtype, t.device());
  if (out.numel() == 0) return out;
  // Along each rolled dim the output is two blocks: [s, n) from the input's [0, n - s) and [0, s)
  // from [n - s, n). With k rolled dims, 2^k block copies straight from t (a dim rolled twice adds
  // its shifts, as PyTorch's sequential rolls do).
  std::vector<int64_t> dims, shift;
  for (size_t i = 0; i < dims_in.size(); ++i) {
    const int64_t d = wrap_dim(dims_in[i], t.dim(), "roll");
    const int64_t n = t.sizes[(size_t)d];
    const int64_t s = ((shifts[i] % n) + n) % n;
    auto it = std::find(dims.begin(), dims.end(), d);
    if (it != dims.end()) {
      int64_t& acc = shift[(size_t)(it - dims.begin())];
      acc = (acc + s) % n;
    } else {
      dims.push_back(d);
      shift.push_back(s);
    }
  }
  const size_t k = dims.size();
  for (uint64_t mask = 0; mask < (uint64_t(1) << k); ++mask) {
    Tensor dst = out, src = t;
    bool empty_block = false;
    for (size_t i = 0; i < k; ++i) {
      const int64_t d = dims[i], n = t.sizes[(size_t)d], s = shift[i];
      const bool head = (mask >> i) & 1;  // the output's [0, s) block
      const int64_t len = head ? s : n - s;
      if (len == 0) { empty_block = true; break; }
      dst = slice(dst, d, head ? 0 : s, head ? s : n, 1);
      src = slice(src, d, head ? n - s : 0, head ? n : n - s, 1);
    }
    if (!empty_block) copy_(dst, src);
  }
  return out;
}

}  // namespace flambeau::ops
