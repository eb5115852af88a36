// PyTorch's stride rules for new tensors (see layout.h). Each function follows the c10/ATen
// function of the same name step by step, so ties and size-1 dims come out as PyTorch's do.
#include "core/layout.h"
#include <algorithm>
#include <numeric>
#include "core/view.h"

namespace flambeau {

bool is_non_overlapping_and_dense(const Shape& sizes, const Shape& strides) {
  const int64_t nd = (int64_t)sizes.size();
  if (nd == 1) return sizes[0] < 2 || strides[0] == 1;
  std::vector<int64_t> perm(nd);
  std::iota(perm.begin(), perm.end(), 0);
  // Size-0/1 dims last; the others by increasing stride.
  std::sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
    if (sizes[a] < 2) return false;
    if (sizes[b] < 2) return true;
    return strides[a] < strides[b];
  });
  int64_t require = 1;
  for (int64_t i = 0; i < nd; ++i) {
    const int64_t s = sizes[perm[i]];
    if (s < 2) return true;
    if (strides[perm[i]] != require) return false;
    require *= s;
  }
  return true;
}

// The dims ordered fastest-moving first, as PyTorch orders them (TensorIterator's reorder_dimensions,
// at::infer_dense_strides): from row-major order, an insertion sort that moves a dim back while
// should_swap(earlier, it) says 1 (the earlier dim goes after it) and stops at the first -1; 0 (no
// opinion, e.g. a stride-0 dim) lets it pass.
template <class ShouldSwap>
static std::vector<size_t> dims_fastest_first(size_t nd, ShouldSwap should_swap) {
  std::vector<size_t> perm(nd);
  for (size_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
  for (size_t i = 1; i < nd; ++i) {
    size_t d1 = i;
    for (size_t d0 = i; d0-- > 0;) {
      const int c = should_swap(perm[d0], perm[d1]);
      if (c > 0) {
        std::swap(perm[d0], perm[d1]);
        d1 = d0;
      } else if (c < 0) {
        break;
      }
    }
  }
  return perm;
}

Shape infer_dense_strides(const Shape& sizes, const Shape& strides) {
  const size_t nd = sizes.size();
  if (nd == 0) return {};
  if (nd == 1) return {1};
  // 1: dim0 goes after dim1; -1: before; 0: no opinion (a stride-0 dim never moves).
  const std::vector<size_t> perm = dims_fastest_first(nd, [&](size_t d0, size_t d1) {
    const int64_t s0 = strides[d0], s1 = strides[d1];
    if (s0 == 0 || s1 == 0) return 0;
    if (s0 < s1) return -1;
    if (s0 > s1) return 1;
    return sizes[d0] > sizes[d1] ? 1 : 0;
  });
  Shape out(nd);
  int64_t cur = 1;
  for (size_t i = 0; i < nd; ++i) {
    out[perm[i]] = cur;
    if (sizes[perm[i]] > 1) cur *= sizes[perm[i]];
  }
  return out;
}

Shape preserve_strides(const Tensor& t) {
  if (is_non_overlapping_and_dense(t.sizes, t.strides)) return t.strides;
  return infer_dense_strides(t.sizes, t.strides);
}

Tensor empty_strided(const Shape& sizes, const Shape& strides, DType dtype, Device device) {
  check_shape(sizes, "empty_strided");
  FLB_CHECK(sizes.size() == strides.size(), RuntimeError, "empty_strided: sizes ", shape_str(sizes), " and strides ",
            shape_str(strides), " differ in length");
  int64_t span = 1;  // elements reached: 1 + sum((size - 1) * stride), or none
  for (size_t i = 0; i < sizes.size(); ++i) {
    FLB_CHECK(strides[i] >= 0, RuntimeError, "empty_strided: negative stride in ", shape_str(strides));
    if (sizes[i] == 0) span = 0;
  }
  if (span != 0)
    for (size_t i = 0; i < sizes.size(); ++i) span += (sizes[i] - 1) * strides[i];
  Tensor t;
  t.sizes = sizes;
  t.strides = strides;
  t.dtype = dtype;
  t.storage = allocate_storage((size_t)span * itemsize(dtype), device);
  return t;
}

Tensor empty_preserve(const Tensor& t, DType dtype, Device device) {
  if (t.is_contiguous()) return empty(t.sizes, dtype, device);
  return empty_strided(t.sizes, preserve_strides(t), dtype, device);
}

// c10's is_contiguous for channels_last: strides follow the order C, W, H, N.
static bool is_channels_last(const Tensor& t) {
  if (t.dim() != 4) return false;
  int64_t expected = 1;
  for (int64_t d : {1, 3, 2, 0}) {
    const int64_t s = t.sizes[d];
    if (s != 1) {
      if (t.strides[d] != expected) return false;
      expected *= s;
    }
  }
  return true;
}

static Shape channels_last_strides(const Shape& sizes) {
  Shape st(4);
  int64_t cur = 1;
  for (int64_t d : {1, 3, 2, 0}) {
    st[d] = cur;
    cur *= std::max<int64_t>(sizes[d], 1);
  }
  return st;
}

Shape elementwise_out_strides(const Shape& shape, std::initializer_list<const Tensor*> operands) {
  const size_t nd = shape.size();
  // TensorIterator's fast setup: operands of the output's shape that all share one layout.
  bool same_shape = true;
  for (const Tensor* op : operands) same_shape = same_shape && op->sizes == shape;
  if (same_shape && operands.size() > 0) {
    bool contig = true, cl = true, nod = true;
    const Shape& first = (*operands.begin())->strides;
    for (const Tensor* op : operands) {
      contig = contig && op->is_contiguous();
      cl = cl && is_channels_last(*op);
      nod = nod && is_non_overlapping_and_dense(op->sizes, op->strides) && op->strides == first;
    }
    if (contig) return contiguous_strides(shape);
    if (cl) return channels_last_strides(shape);
    if (nod) return first;
  }
  if (nd <= 1) return contiguous_strides(shape);
  // reorder_dimensions: perm[0] is the fastest dim; the first operand with an opinion decides.
  const std::vector<size_t> perm = dims_fastest_first(nd, [&](size_t d0, size_t d1) {
    for (const Tensor* op : operands) {
      const int64_t s0 = op->strides[d0], s1 = op->strides[d1];
      if (s0 == 0 || s1 == 0) continue;
      if (s0 < s1) return -1;
      if (s0 > s1) return 1;
      if (shape[d0] > shape[d1]) return 1;  // equal strides: the smaller dim goes first
    }
    return 0;
  });
  bool natural = true;
  for (size_t j = 0; j < nd; ++j) natural = natural && perm[j] == nd - 1 - j;
  if (natural) return contiguous_strides(shape);
  Shape out(nd);
  int64_t cur = 1;
  for (size_t j = 0; j < nd; ++j) {
    out[perm[j]] = cur;
    cur *= shape[perm[j]];
  }
  return out;
}

Tensor empty_elementwise(const Shape& shape, DType dtype, Device device, std::initializer_list<const Tensor*> operands) {
  // The usual case first, without building stride vectors: row-major operands give a row-major
  // output (an op on every tensor of a training step passes here).
  bool rowmajor = true;
  for (const Tensor* op : operands) rowmajor = rowmajor && op->is_contiguous();
  if (rowmajor || shape.size() <= 1) return empty(shape, dtype, device);
  Shape st = elementwise_out_strides(shape, operands);
  if (st == contiguous_strides(shape)) return empty(shape, dtype, device);
  return empty_strided(shape, st, dtype, device);
}

std::vector<int64_t> dense_memory_order(const Tensor& t) {
  if (t.is_contiguous() || !is_non_overlapping_and_dense(t.sizes, t.strides)) return {};
  std::vector<int64_t> order((size_t)t.dim());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return t.strides[a] > t.strides[b]; });
  return order;
}

}  // namespace flambeau
