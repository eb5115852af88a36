// Advanced indexing with NumPy's rules: integer index tensors broadcast together; bool masks stand
// for their nonzero coordinates; when the indexed dims are adjacent the result dims replace them in
// place, otherwise they come first. Every index is bounds-checked (and negatives wrapped) before a
// kernel runs, on whatever device the tensors live.
#include <algorithm>
#include <numeric>
#include <tuple>
#include "ops/dispatch.h"
#include "ops/narrow_int.h"
#ifdef FLAMBEAU_WITH_CUDA
#include "cuda/pool3d_scatter_kernels.h"
#endif
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

int64_t scalar_of(const Tensor& t) {
  Tensor host = to(t, DType::Int64, cpu_device(), false);
  return *host.data<int64_t>();
}

// A fresh contiguous int64 index of `shape`, bounds-checked against `size` and wrapped.
// check = false: an index that no kernel will read (the indexing result is empty), left unchecked as
// PyTorch leaves it (its bounds checks run inside the kernel's loop): zeros(3, 0)[tensor([7])] is [1, 0].
Tensor prepare_index(const Tensor& idx, const Shape& shape, int64_t size, int64_t dim, bool allow_negative,
                     const char* op, bool copy, bool check = true) {
  // copy = false (gather, scatter_add: their kernels read any strides): the index itself, unless
  // negative entries must be wrapped into a copy (an 8 MB clone per gather of 1M elements was a third
  // of its time).
  Tensor c = copy ? clone(expand(idx, shape)) : expand(idx, shape);
  if (c.numel() == 0 || !check) return c;
  int64_t lo, hi;
  if (c.device().is_cpu() && c.is_contiguous()) {  // one pass for both (two reductions cost a fifth of a gather)
    std::tie(lo, hi) = cpu::index_range(c);
  } else {
    lo = scalar_of(reduce(ReduceOp::Min, c, {}, false));
    hi = scalar_of(reduce(ReduceOp::Max, c, {}, false));
  }
  int64_t bad = hi >= size ? hi : lo;
  FLB_CHECK(hi < size && lo >= (allow_negative ? -size : 0), IndexError, op, ": index ", bad,
            " is out of bounds for dimension ", dim, " with size ", size);
  if (lo < 0) {
    if (!copy) c = clone(c);
    // idx += (idx < 0) * size
    Tensor neg = binary(BinaryOp::Lt, c, full({}, Scalar::from_int(0), DType::Int64, c.device()), std::nullopt);
    Tensor negl = to(neg, DType::Int64, c.device(), false);
    Tensor add = binary(BinaryOp::Mul, negl, full({}, Scalar::from_int(size), DType::Int64, c.device()), std::nullopt);
    binary(BinaryOp::Add, c, add, c);
  }
  return c;
}

struct IndexPlan {
  std::vector<int64_t> adv_dims;   // dims of the source that are indexed, ascending
  std::vector<Tensor> idx;         // prepared (contiguous, wrapped) index per adv dim
  Shape bshape;                    // broadcast shape of the indices
  std::vector<int64_t> perm;       // source dims: adv first, then the rest
  bool adjacent = true;
  Shape result_shape;              // user-visible result shape
  std::vector<int64_t> result_perm;  // result_perm[i] = dim of the permuted result for result dim i
};

IndexPlan plan_index(const Tensor& t, const std::vector<std::optional<Tensor>>& indices, const char* op) {
  FLB_CHECK((int64_t)indices.size() <= t.dim(), IndexError, op, ": too many indices for tensor of dimension ", t.dim(),
            " (got ", indices.size(), ")");
  // Expand bool masks into one int64 index per masked dim.
  std::vector<std::optional<Tensor>> full_idx;
  int64_t pos = 0;
  for (auto& e_in : indices) {
    if (!e_in) {
      full_idx.push_back(std::nullopt);
      pos++;
      continue;
    }
    check_same_device(t, *e_in, op);
    // As PyTorch: int32 indices act as int64, uint8 ones as bool masks (deprecated there, with a
    // warning the Python layer gives); int8 and int16 are refused below.
    std::optional<Tensor> e = e_in;
    if (e->dtype == DType::Int32) e = widen_int(*e);
    else if (e->dtype == DType::UInt8) e = to(*e, DType::Bool, e->device(), false);
    if (e->dtype == DType::Bool) {
      int64_t k = e->dim();
      FLB_CHECK(pos + k <= t.dim(), IndexError, op, ": too many indices for tensor of dimension ", t.dim());
      for (int64_t j = 0; j < k; ++j)
        FLB_CHECK(e->sizes[j] == t.sizes[pos + j], IndexError, op, ": the shape of the mask ", shape_str(e->sizes),
                  " at index ", j, " does not match the shape of the indexed tensor ", shape_str(t.sizes),
                  " at index ", pos + j);
      if (k == 0) {
        // A 0-d mask adds a dim of size 1 (True) or 0 (False); the caller handles it with unsqueeze.
        throw IndexError(str_cat(op, ": 0-dim bool index is handled by the Python layer"));
      }
      Tensor nz = nonzero(*e);
      for (int64_t j = 0; j < k; ++j) full_idx.push_back(select(nz, 1, j));
      pos += k;
    } else {
      FLB_CHECK(e->dtype == DType::Int64, IndexError, op,
                ": tensors used as indices must be long, int, byte or bool tensors, got ", dtype_name(e->dtype));
      full_idx.push_back(*e);
      pos++;
    }
  }
  FLB_CHECK((int64_t)full_idx.size() <= t.dim(), IndexError, op, ": too many indices for tensor of dimension ", t.dim());
  IndexPlan p;
  Shape bshape;
  bool first = true;
  for (size_t d = 0; d < full_idx.size(); ++d)
    if (full_idx[d]) {
      p.adv_dims.push_back((int64_t)d);
      if (!first) {
        Shape prev = bshape;
        try {
          bshape = broadcast_shapes(bshape, full_idx[d]->sizes, op);
        } catch (const RuntimeError&) {
          throw IndexError(str_cat(op, ": shape mismatch: indexing tensors could not be broadcast together with shapes ",
                                   shape_str(prev), ", ", shape_str(full_idx[d]->sizes)));
        }
      } else {
        bshape = full_idx[d]->sizes;
      }
      first = false;
    }
  p.bshape = bshape;
  for (size_t j = 1; j < p.adv_dims.size(); ++j)
    if (p.adv_dims[j] != p.adv_dims[j - 1] + 1) p.adjacent = false;
  // PyTorch checks the bounds in the kernel, which an empty result never runs: unchecked then, except
  // for a nonempty index into a dim of size 0 (no index fits there; PyTorch checks that one up front).
  int64_t result_numel = shape_numel(bshape), indexed_empty = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const bool adv = std::find(p.adv_dims.begin(), p.adv_dims.end(), d) != p.adv_dims.end();
    if (!adv) result_numel *= t.sizes[d];
    else if (t.sizes[d] == 0) indexed_empty = 1;
  }
  const bool check = result_numel > 0 || (indexed_empty && shape_numel(bshape) > 0);
  for (auto d : p.adv_dims)
    p.idx.push_back(prepare_index(*full_idx[d], bshape, t.sizes[d], d, true, op, true, check));
  p.perm = p.adv_dims;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (std::find(p.adv_dims.begin(), p.adv_dims.end(), d) == p.adv_dims.end()) p.perm.push_back(d);
  // Permuted result: bshape + rest dims. User result: same, unless adjacent with leading rest dims.
  int64_t nb = (int64_t)bshape.size(), k = (int64_t)p.adv_dims.size();
  int64_t nrest = t.dim() - k;
  int64_t lead = (p.adjacent && !p.adv_dims.empty()) ? p.adv_dims[0] : 0;
  for (int64_t i = 0; i < lead; ++i) p.result_perm.push_back(nb + i);
  for (int64_t i = 0; i < nb; ++i) p.result_perm.push_back(i);
  for (int64_t i = lead; i < nrest; ++i) p.result_perm.push_back(nb + i);
  Shape perm_shape = bshape;
  for (int64_t i = k; i < t.dim(); ++i) perm_shape.push_back(t.sizes[p.perm[i]]);
  for (auto r : p.result_perm) p.result_shape.push_back(perm_shape[r]);
  return p;
}

}  // namespace

Tensor index(const Tensor& t, const std::vector<std::optional<Tensor>>& indices) {
  IndexPlan p = plan_index(t, indices, "index");
  if (p.adv_dims.empty()) return t;
  Tensor src = permute(t, p.perm);
  Shape perm_shape = p.bshape;
  for (int64_t i = (int64_t)p.adv_dims.size(); i < t.dim(); ++i) perm_shape.push_back(src.sizes[i]);
  Tensor out = empty(perm_shape, t.dtype, t.device());
  if (out.numel() > 0) FLB_BACKEND(t.device(), index_gather, out, src, p.idx);
  return permute(out, p.result_perm);
}

Tensor& index_put_(Tensor& t, const std::vector<std::optional<Tensor>>& indices, const Tensor& values, bool accumulate) {
  check_same_device(t, values, "index_put_");
  check_same_dtype(t, values, "index_put_");
  for (int64_t d = 0; d < t.dim() && t.numel() > 0; ++d)
    FLB_CHECK(!(t.strides[d] == 0 && t.sizes[d] > 1), RuntimeError,
              "index_put_: unsupported operation: the written-to tensor (shape ", shape_str(t.sizes),
              ") has elements that share memory; clone() it first");
  IndexPlan p = plan_index(t, indices, "index_put_");
  t.bump_version();
  if (p.adv_dims.empty()) {
    if (accumulate) binary(BinaryOp::Add, t, values, t);
    else copy_(t, values);
    return t;
  }
  Tensor v = expand(values, p.result_shape);  // checks shapes, e.g. "shape mismatch"
  if (may_overlap(t, v)) {
    assert_no_overlap(t, values, "index_put_");  // (as PyTorch; a strided overlap it cannot judge: from a copy)
    v = clone(v);
  }
  // Into the permuted order: inverse of result_perm.
  std::vector<int64_t> inv(p.result_perm.size());
  for (size_t i = 0; i < p.result_perm.size(); ++i) inv[p.result_perm[i]] = (int64_t)i;
  Tensor vp = permute(v, inv);
  Tensor dst = permute(t, p.perm);
  if (v.numel() > 0) FLB_BACKEND(t.device(), index_put, dst, vp, p.idx, accumulate);
  return t;
}

Tensor one_hot(const Tensor& t, int64_t num_classes) {
  FLB_CHECK(t.dtype == DType::Int64, RuntimeError, "one_hot is only applicable to index tensor of type LongTensor.");
  FLB_CHECK(t.device().is_cpu(), RuntimeError, "one_hot: the C++ kernel is CPU-only (the Python layer composes it elsewhere)");
  const Tensor c = contiguous(t);
  const int64_t n = c.numel();
  int64_t lo = 0, hi = -1;
  if (n > 0) std::tie(lo, hi) = cpu::index_range(c);  // one pass for both bounds
  if (num_classes == -1) {
    FLB_CHECK(n > 0, RuntimeError, "Can not infer total number of classes from empty tensor.");
    num_classes = hi + 1;
  }
  FLB_CHECK(n == 0 || lo >= 0, RuntimeError, "Class values must be non-negative.");
  FLB_CHECK(n == 0 || hi < num_classes, RuntimeError, "Class values must be smaller than num_classes.");
  Shape shape = t.sizes;
  shape.push_back(num_classes);
  Tensor out = full(shape, Scalar::from_int(0), DType::Int64, t.device());
  int64_t* o = out.data<int64_t>();
  const int64_t* idx = c.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i * num_classes + idx[i]] = 1;
  return out;
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  check_same_device(x, mask, "masked_select");
  FLB_CHECK(mask.dtype == DType::Bool, RuntimeError, "masked_select: expected a bool mask, got ", dtype_name(mask.dtype));
  FLB_CHECK(x.sizes == mask.sizes, RuntimeError, "masked_select: the mask's shape ", shape_str(mask.sizes),
            " does not match the input's ", shape_str(x.sizes));
  if (x.device().is_cpu()) return cpu::masked_select(contiguous(x), contiguous(mask));
  // Other devices: the coordinates of the hits, then an advanced index (0-d operands as 1-D).
  const Tensor xs = x.dim() == 0 ? reshape(x, {1}) : x, ms = mask.dim() == 0 ? reshape(mask, {1}) : mask;
  Tensor nz = nonzero(ms);
  std::vector<std::optional<Tensor>> idx;
  for (int64_t j = 0; j < ms.dim(); ++j) idx.push_back(select(nz, 1, j));
  return index(xs, idx);
}

Tensor nonzero(const Tensor& t) {
  if (t.device().is_cpu()) return cpu::nonzero(t);
#ifdef FLAMBEAU_WITH_CUDA
  return cuda::nonzero(t);
#else
  throw RuntimeError("nonzero: flambeau was built without CUDA");
#endif
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  FLB_CHECK(!ts.empty(), RuntimeError, "cat: expected a non-empty list of tensors");
  // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
  const Tensor* ref = nullptr;
  for (auto& t : ts)
    if (!(t.dim() == 1 && t.sizes[0] == 0)) { ref = &t; break; }
  if (!ref) return empty({0}, ts[0].dtype, ts[0].device());
  FLB_CHECK(ref->dim() > 0, RuntimeError, "cat: zero-dimensional tensor cannot be concatenated");
  int64_t d = wrap_dim(dim, ref->dim(), "cat");
  Shape shape = ref->sizes;
  shape[d] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    if (t.dim() == 1 && t.sizes[0] == 0) continue;
    check_same_device(*ref, t, "cat");
    check_same_dtype(*ref, t, "cat");
    FLB_CHECK(t.dim() == ref->dim(), RuntimeError, "cat: tensors must have same number of dimensions: got ", ref->dim(),
              " and ", t.dim());
    for (int64_t j = 0; j < t.dim(); ++j)
      FLB_CHECK(j == d || t.sizes[j] == ref->sizes[j], RuntimeError, "cat: sizes of tensors must match except in dimension ",
                d, ". Expected size ", ref->sizes[j], " but got size ", t.sizes[j], " for tensor number ", i,
                " in the list (shapes ", shape_str(ref->sizes), " and ", shape_str(t.sizes), ")");
    shape[d] += t.sizes[d];
  }
  Tensor out = empty(shape, ref->dtype, ref->device());
  if (out.device().is_cpu() && out.numel() > 0) {
    // Parts made of contiguous, evenly spaced blocks t[o] (contiguous tensors, chunks of one): the
    // output rows are written whole, in order (one slice per input, each a strided copy, was 0.74x
    // PyTorch for cat([x, y], 1) of [1024, 1024]; along dim 0, one slice and copy_ per input made
    // stack() of 128 CIFAR images 0.54x).
    std::vector<Tensor> parts;
    bool all_blocks = true;
    for (auto& t : ts) {
      if (t.dim() == 1 && t.sizes[0] == 0) continue;
      all_blocks = all_blocks && cpu::block_pitch(t, d) >= 0;
      parts.push_back(t);
    }
    if (all_blocks) {
      cpu::cat_rows(out, parts, d);
      return out;
    }
  }
  int64_t at = 0;
  for (auto& t : ts) {
    if (t.dim() == 1 && t.sizes[0] == 0) continue;
    copy_(slice(out, d, at, at + t.sizes[d], 1), t);
    at += t.sizes[d];
  }
  return out;
}

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& idx_in, bool allow_negative) {
  FLB_CHECK(idx_in.dim() <= 1, IndexError, "index_select: index must be 1-D, got shape ", shape_str(idx_in.sizes));
  FLB_CHECK(idx_in.dtype == DType::Int64 || idx_in.dtype == DType::Int32, IndexError,
            "index_select: index must be an int64 or int32 tensor, got ", dtype_name(idx_in.dtype));
  const Tensor idx_t = widen_int(idx_in);
  check_same_device(t, idx_t, "index_select");
  const int64_t d = wrap_dim(dim, t.dim(), "index_select");
  const int64_t size = t.dim() == 0 ? 1 : t.sizes[d];
  // Negative entries are an error for index_select itself (as in PyTorch); x[idx] wraps them, and as an
  // advanced index leaves them unchecked when the result is empty (see plan_index).
  const bool check = !allow_negative || (t.numel() > 0 || size == 0);
  Tensor i1 = prepare_index(reshape(idx_t, {-1}), {idx_t.numel()}, size, d, allow_negative, "index_select", true,
                            check);
  if (t.dim() == 0) return reshape(index(reshape(t, {1}), {i1}), {});
  if (t.device().is_cpu()) {  // a copy of whole slices (the general advanced index was 0.13x PyTorch)
    Shape os = t.sizes;
    os[d] = i1.numel();
    Tensor out = empty(os, t.dtype, t.device());
    if (out.numel() > 0) cpu::index_select(out, contiguous(t), d, i1);
    return out;
  }
  std::vector<std::optional<Tensor>> idx(d, std::nullopt);
  idx.push_back(i1);
  return index(t, idx);
}

// PyTorch's gather/scatter shape checks: none for an empty index; a 0-d index counts as 1-D.
static void check_gather_shapes(const Tensor& t, int64_t d, const Tensor& index, const char* op) {
  FLB_CHECK(index.dtype == DType::Int64 || index.dtype == DType::Int32, TypeError, op,
            ": expected an int64 (or int32) index, got ", dtype_name(index.dtype));
  if (index.numel() == 0) return;
  FLB_CHECK(index.dim() == t.dim(), RuntimeError, op, ": index tensor must have the same number of dimensions as input "
            "tensor (index shape ", shape_str(index.sizes), ", input shape ", shape_str(t.sizes), ")");
  for (int64_t j = 0; j < t.dim(); ++j)
    if (j != d)
      FLB_CHECK(index.sizes[j] <= t.sizes[j], RuntimeError, op, ": size of index ", shape_str(index.sizes),
                " does not fit input ", shape_str(t.sizes), " at dimension ", j);
}

Tensor gather(const Tensor& t, int64_t dim, const Tensor& index) {
  check_same_device(t, index, "gather");
  int64_t d = wrap_dim(dim, t.dim(), "gather");
  if (t.dim() == 0) {
    Tensor r = gather(reshape(t, {1}), 0, reshape(index, {-1}));
    return reshape(r, index.sizes);
  }
  if (index.dim() == 0 && t.dim() == 1) return reshape(gather(t, d, reshape(index, {1})), {});
  check_gather_shapes(t, d, index, "gather");
  Tensor out = empty(index.sizes, t.dtype, t.device());
  if (t.device().is_cpu()) {
    // The CPU kernel checks the bounds as it reads (no index may be negative here); only when it
    // reports a bad index does prepare_index run, to raise its error.
    if (out.numel() == 0 || cpu::gather(out, t, d, widen_int(index))) return out;
    prepare_index(widen_int(index), index.sizes, t.sizes[d], d, false, "gather", false);
    throw RuntimeError("gather: an index is out of bounds");  // not reached: prepare_index raised
  }
  Tensor idx = prepare_index(widen_int(index), index.sizes, t.sizes[d], d, false, "gather", false);
  if (out.numel() > 0) FLB_BACKEND(t.device(), gather, out, t, d, idx);
  return out;
}

Tensor& scatter_add_(Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  check_same_device(t, index, "scatter_add_");
  check_same_device(t, src, "scatter_add_");
  check_same_dtype(t, src, "scatter_add_");
  FLB_CHECK(t.dim() > 0, RuntimeError, "scatter_add_: expected a tensor with at least one dim");
  int64_t d = wrap_dim(dim, t.dim(), "scatter_add_");
  if (index.dim() == 0 && t.dim() == 1) {  // as a 1-element index (and src, if 0-d too)
    Tensor s1 = src.dim() == 0 ? reshape(src, {1}) : src;
    return scatter_add_(t, d, reshape(index, {1}), s1);
  }
  check_gather_shapes(t, d, index, "scatter_add_");
  if (index.numel() == 0) {  // nothing to write, no shape checks (as PyTorch; still a write for autograd)
    t.bump_version();
    return t;
  }
  for (int64_t j = 0; j < t.dim(); ++j)
    FLB_CHECK(index.sizes[j] <= src.sizes[j], RuntimeError, "scatter_add_: index ", shape_str(index.sizes),
              " is larger than src ", shape_str(src.sizes), " at dimension ", j);
  Tensor idx = prepare_index(widen_int(index), index.sizes, t.sizes[d], d, false, "scatter_add_", false);
  if (is_narrow_int(t.dtype)) {  // in int64, stored back wrapping (ops/narrow_int.h)
    Tensor w = widen_int(t);
    scatter_add_(w, d, idx, widen_int(src));
    copy_(t, w);
    return t;
  }
  if (may_overlap(t, src)) assert_no_overlap(t, src, "scatter_add_");  // (as PyTorch; else from a copy)
  Tensor s = may_overlap(t, src) ? clone(src) : src;
  t.bump_version();
  if (idx.numel() > 0) FLB_BACKEND(t.device(), scatter_add, t, d, idx, s);
  return t;
}

Tensor& scatter_reduce_(Tensor& t, int64_t dim, const Tensor& index, const Tensor& src, const std::string& reduce) {
  const char* op = "scatter_reduce_";
  ScatterReduce r;
  if (reduce == "sum") r = ScatterReduce::Sum;
  else if (reduce == "prod") r = ScatterReduce::Prod;
  else if (reduce == "amax") r = ScatterReduce::Amax;
  else if (reduce == "amin") r = ScatterReduce::Amin;
  else if (reduce == "assign") r = ScatterReduce::Assign;
  else throw ValueError(str_cat(op, ": reduce argument must be either sum, prod, mean, amax or amin, got ", reduce));
  check_same_device(t, index, op);
  check_same_device(t, src, op);
  check_same_dtype(t, src, op);
  FLB_CHECK(t.dtype != DType::Bool, NotImplementedError, op, ": not implemented for bool tensors");
  FLB_CHECK(t.dim() > 0, RuntimeError, op, ": expected a tensor with at least one dim");
  int64_t d = wrap_dim(dim, t.dim(), op);
  if (index.dim() == 0 && t.dim() == 1) {  // as a 1-element index (and src, if 0-d too)
    Tensor s1 = src.dim() == 0 ? reshape(src, {1}) : src;
    return scatter_reduce_(t, d, reshape(index, {1}), s1, reduce);
  }
  check_gather_shapes(t, d, index, op);
  if (index.numel() == 0) {  // nothing to write, no shape checks (as PyTorch; still a write for autograd)
    t.bump_version();
    return t;
  }
  for (int64_t j = 0; j < t.dim(); ++j)
    FLB_CHECK(index.sizes[j] <= src.sizes[j], RuntimeError, op, ": index ", shape_str(index.sizes),
              " is larger than src ", shape_str(src.sizes), " at dimension ", j);
  Tensor idx = prepare_index(widen_int(index), index.sizes, t.sizes[d], d, false, op, false);
  if (is_narrow_int(t.dtype)) {  // in int64, stored back wrapping (ops/narrow_int.h)
    Tensor w = widen_int(t);
    scatter_reduce_(w, d, idx, widen_int(src), reduce);
    copy_(t, w);
    return t;
  }
  if (may_overlap(t, src)) assert_no_overlap(t, src, op);  // (as PyTorch; else from a copy)
  Tensor s = may_overlap(t, src) ? clone(src) : src;
  t.bump_version();
  if (idx.numel() > 0) FLB_BACKEND(t.device(), scatter_reduce, t, d, idx, s, r);
  return t;
}

}  // namespace flambeau::ops
