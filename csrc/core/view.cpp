#include "core/view.h"
#include <algorithm>
#include <optional>
#include "core/copy.h"

namespace flambeau {

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      FLB_CHECK(infer_at < 0, RuntimeError, op, ": only one dimension can be inferred in shape ", shape_str(shape));
      infer_at = (int64_t)i;
    } else {
      FLB_CHECK(shape[i] >= 0, RuntimeError, op, ": invalid shape dimension ", shape[i], " in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    FLB_CHECK(known != 0 && numel % known == 0, RuntimeError, op, ": shape '", shape_str(shape),
              "' is invalid for input of size ", numel);
    out[infer_at] = numel / known;
  } else {
    FLB_CHECK(known == numel, RuntimeError, op, ": shape '", shape_str(shape), "' is invalid for input of size ", numel);
  }
  return out;
}

// PyTorch's rule for when a view can be expressed with strides: the new shape must split or merge
// only dimensions that are laid out contiguously with respect to each other.
static std::optional<Shape> view_strides(const Shape& old_sizes, const Shape& old_strides, const Shape& new_sizes) {
  Shape new_strides(new_sizes.size());
  if (old_sizes.empty()) {
    std::fill(new_strides.begin(), new_strides.end(), 1);
    return new_strides;
  }
  int64_t numel = shape_numel(old_sizes);
  if (numel == 0) {
    if (old_sizes == new_sizes) return old_strides;
    return contiguous_strides(new_sizes);
  }
  int64_t view_d = (int64_t)new_sizes.size() - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = (int64_t)old_sizes.size() - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_sizes[tensor_d];
    if (tensor_d == 0 ||
        (old_sizes[tensor_d - 1] != 1 && old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

Tensor view(const Tensor& t, const Shape& shape) {
  Shape sizes = infer_shape(shape, t.numel(), "view");
  auto st = view_strides(t.sizes, t.strides, sizes);
  FLB_CHECK(st.has_value(), RuntimeError, "view: size ", shape_str(shape), " is not compatible with input of size ",
            shape_str(t.sizes), " and stride ", shape_str(t.strides),
            " (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
  Tensor out = t;
  out.sizes = sizes;
  out.strides = *st;
  return out;
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  Shape sizes = infer_shape(shape, t.numel(), "reshape");
  auto st = view_strides(t.sizes, t.strides, sizes);
  if (st) {
    Tensor out = t;
    out.sizes = sizes;
    out.strides = *st;
    return out;
  }
  Tensor c = clone(t);
  c.sizes = sizes;
  c.strides = contiguous_strides(sizes);
  return c;
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t n = t.dim();
  FLB_CHECK((int64_t)dims.size() == n, RuntimeError, "permute: number of dims ", dims.size(),
            " does not match the tensor's ", n, " dims (shape ", shape_str(t.sizes), ")");
  std::vector<bool> seen(n, false);
  Tensor out = t;
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    FLB_CHECK(!seen[d], RuntimeError, "permute: repeated dim ", dims[i], " in ", shape_str(dims));
    seen[d] = true;
    out.sizes[i] = t.sizes[d];
    out.strides[i] = t.strides[d];
  }
  return out;
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  Tensor out = t;
  if (t.dim() == 0) {
    wrap_dim(d0, 0, "transpose");
    wrap_dim(d1, 0, "transpose");
    return out;
  }
  d0 = wrap_dim(d0, t.dim(), "transpose");
  d1 = wrap_dim(d1, t.dim(), "transpose");
  std::swap(out.sizes[d0], out.sizes[d1]);
  std::swap(out.strides[d0], out.strides[d1]);
  return out;
}

Tensor expand(const Tensor& t, const Shape& shape) {
  int64_t n = (int64_t)shape.size(), m = t.dim();
  FLB_CHECK(n >= m, RuntimeError, "expand: the number of sizes provided (", n,
            ") must be greater or equal to the number of dimensions in the tensor (", m, ")");
  Tensor out = t;
  out.sizes.assign(n, 0);
  out.strides.assign(n, 0);
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t j = i - (n - m);
    int64_t want = shape[i];
    if (j >= 0) {
      int64_t have = t.sizes[j];
      if (want == -1) want = have;
      FLB_CHECK(have == want || have == 1, RuntimeError, "expand: the expanded size of the tensor (", want,
                ") must match the existing size (", have, ") at non-singleton dimension ", i,
                ".  Target sizes: ", shape_str(shape), ".  Tensor sizes: ", shape_str(t.sizes));
      out.sizes[i] = want;
      out.strides[i] = (have == want) ? t.strides[j] : 0;
    } else {
      FLB_CHECK(want >= 0, RuntimeError, "expand: the expanded size ", want,
                " is not allowed in a leading, non-existing dimension ", i);
      out.sizes[i] = want;
      out.strides[i] = 0;
    }
  }
  return out;
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t stop, int64_t step) {
  FLB_CHECK(t.dim() > 0, IndexError, "slice: cannot slice a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "slice");
  FLB_CHECK(step > 0, RuntimeError, "slice: step must be positive, got ", step);
  int64_t n = t.sizes[dim];
  // Python slice semantics: clamp out-of-range bounds.
  if (start < 0) start += n;
  if (stop < 0) stop += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  stop = std::min(std::max<int64_t>(stop, start), n);
  Tensor out = t;
  out.offset += start * t.strides[dim];
  out.sizes[dim] = (stop - start + step - 1) / step;
  out.strides[dim] = t.strides[dim] * step;
  return out;
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  FLB_CHECK(t.dim() > 0, IndexError, "select: invalid index of a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "select");
  int64_t n = t.sizes[dim];
  FLB_CHECK(index >= -n && index < n, IndexError, "index ", index, " is out of bounds for dimension ", dim,
            " with size ", n);
  if (index < 0) index += n;
  Tensor out = t;
  out.offset += index * t.strides[dim];
  out.sizes.erase(out.sizes.begin() + dim);
  out.strides.erase(out.strides.begin() + dim);
  return out;
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  int64_t n = t.dim() + 1;
  FLB_CHECK(dim >= -n && dim < n, IndexError, "unsqueeze: dimension ", dim, " out of range (expected to be in range of [",
            -n, ", ", n - 1, "])");
  if (dim < 0) dim += n;
  Tensor out = t;
  int64_t st = dim < t.dim() ? t.sizes[dim] * t.strides[dim] : 1;
  out.sizes.insert(out.sizes.begin() + dim, 1);
  out.strides.insert(out.strides.begin() + dim, st);
  return out;
}

Tensor squeeze(const Tensor& t, const std::vector<int64_t>& dims) {
  std::vector<bool> drop(t.dim(), false);
  if (dims.empty()) {
    for (int64_t i = 0; i < t.dim(); ++i) drop[i] = t.sizes[i] == 1;
  } else {
    for (auto d : dims) {
      if (t.dim() == 0) { wrap_dim(d, 0, "squeeze"); continue; }
      int64_t w = wrap_dim(d, t.dim(), "squeeze");
      drop[w] = t.sizes[w] == 1;
    }
  }
  Tensor out = t;
  out.sizes.clear();
  out.strides.clear();
  for (int64_t i = 0; i < t.dim(); ++i)
    if (!drop[i]) {
      out.sizes.push_back(t.sizes[i]);
      out.strides.push_back(t.strides[i]);
    }
  return out;
}

Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset) {
  FLB_CHECK(sizes.size() == strides.size(), RuntimeError, "as_strided: sizes ", shape_str(sizes), " and strides ",
            shape_str(strides), " differ in length");
  check_shape(sizes, "as_strided");
  FLB_CHECK(offset >= 0, RuntimeError, "as_strided: negative storage offset ", offset);
  // Bounds: the largest element reached must lie inside the storage.
  int64_t hi = offset, lo = offset;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 0) empty = true;
    if (strides[i] >= 0) hi += (sizes[i] - 1) * strides[i]; else lo += (sizes[i] - 1) * strides[i];
  }
  int64_t capacity = (int64_t)(t.storage->nbytes / itemsize(t.dtype));
  FLB_CHECK(empty || (lo >= 0 && hi < capacity), RuntimeError, "as_strided: sizes ", shape_str(sizes), " strides ",
            shape_str(strides), " offset ", offset, " reach outside a storage of ", capacity, " elements");
  Tensor out = t;
  out.sizes = sizes;
  out.strides = strides;
  out.offset = offset;
  return out;
}

// Tensor.view(dtype): the same bytes read as another dtype. With equal element sizes only the dtype
// changes; otherwise the last dim (stride 1) is split or merged by the size ratio, and the other
// strides and the offset are rescaled, as PyTorch's view(dtype), with its checks and messages.
Tensor view_dtype(const Tensor& t, DType dtype) {
  const int64_t from = (int64_t)itemsize(t.dtype), to = (int64_t)itemsize(dtype);
  Tensor out = t;
  out.dtype = dtype;
  if (from == to) return out;
  const char* a = dtype_name(t.dtype);
  const char* b = dtype_name(dtype);
  FLB_CHECK(t.dim() > 0, RuntimeError, "self.dim() cannot be 0 to view ", a, " as ", b, " (different element sizes)");
  FLB_CHECK(t.strides.back() == 1, RuntimeError, "self.stride(-1) must be 1 to view ", a, " as ", b,
            " (different element sizes), but got ", t.strides.back());
  const int64_t last = t.dim() - 1;
  if (from > to) {  // e.g. float32 -> int16: every element becomes `ratio` elements
    const int64_t ratio = from / to;
    out.sizes[last] *= ratio;
    for (int64_t d = 0; d < last; ++d) out.strides[d] *= ratio;
    out.offset *= ratio;
    return out;
  }
  const int64_t ratio = to / from;  // e.g. int16 -> float32: `ratio` elements become one
  FLB_CHECK(t.sizes[last] % ratio == 0, RuntimeError, "self.size(-1) must be divisible by ", ratio, " to view ", a,
            " as ", b, " (different element sizes), but got ", t.sizes[last]);
  FLB_CHECK(t.offset % ratio == 0, RuntimeError, "self.storage_offset() must be divisible by ", ratio, " to view ", a,
            " as ", b, " (different element sizes), but got ", t.offset);
  for (int64_t d = 0; d < last; ++d)
    FLB_CHECK(t.strides[d] % ratio == 0, RuntimeError, "self.stride(", d, ") must be divisible by ", ratio,
              " to view ", a, " as ", b, " (different element sizes), but got ", t.strides[d]);
  out.sizes[last] /= ratio;
  for (int64_t d = 0; d < last; ++d) out.strides[d] /= ratio;
  out.offset /= ratio;
  return out;
}

Tensor storage_as(const Tensor& t, DType dtype) {
  Tensor out = t;
  out.dtype = dtype;
  out.offset = 0;
  out.sizes = {(int64_t)(t.storage->nbytes / itemsize(dtype))};
  out.strides = {1};
  return out;
}

Tensor diagonal(const Tensor& t, int64_t offset, int64_t d0, int64_t d1) {
  FLB_CHECK(t.dim() >= 2, RuntimeError, "diagonal: expected a tensor with at least 2 dims, got shape ", shape_str(t.sizes));
  d0 = wrap_dim(d0, t.dim(), "diagonal");
  d1 = wrap_dim(d1, t.dim(), "diagonal");
  FLB_CHECK(d0 != d1, RuntimeError, "diagonal: dimensions cannot be identical ", d0, ", ", d1);
  int64_t len;
  Tensor out = t;
  if (offset >= 0) {
    len = std::max<int64_t>(std::min(t.sizes[d0], t.sizes[d1] - offset), 0);
    if (len > 0) out.offset += offset * t.strides[d1];
  } else {
    len = std::max<int64_t>(std::min(t.sizes[d0] + offset, t.sizes[d1]), 0);
    if (len > 0) out.offset -= offset * t.strides[d0];
  }
  int64_t st = t.strides[d0] + t.strides[d1];
  Shape sizes, strides;
  for (int64_t i = 0; i < t.dim(); ++i)
    if (i != d0 && i != d1) {
      sizes.push_back(t.sizes[i]);
      strides.push_back(t.strides[i]);
    }
  sizes.push_back(len);
  strides.push_back(st);
  out.sizes = sizes;
  out.strides = strides;
  return out;
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = empty(t.sizes, t.dtype, t.device());
  copy_(out, t);
  return fresh_version(out);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    FLB_CHECK(x == y || x == 1 || y == 1, RuntimeError, op, ": shapes ", shape_str(a), " and ", shape_str(b),
              " cannot be broadcast together (size ", x, " vs ", y, " at dimension ", i, ")");
    out[i] = (x == 1) ? y : x;
  }
  return out;
}

}  // namespace flambeau
