// copy_, fill_ and to(): the only place that moves data between devices. Host<->device transfers
// stage through contiguous buffers; the strided/casting part runs on whichever side holds the
// strided tensor.
#include "core/copy.h"
#include <algorithm>
#include "core/cuda_hooks.h"
#include "core/layout.h"
#include "core/view.h"
#include "ops/dispatch.h"

namespace flambeau {

bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.storage != b.storage || a.numel() == 0 || b.numel() == 0) return false;
  auto range = [](const Tensor& t) {
    int64_t lo = t.offset, hi = t.offset;
    for (int64_t d = 0; d < t.dim(); ++d) {
      int64_t ext = (t.sizes[d] - 1) * t.strides[d];
      if (ext > 0) hi += ext; else lo += ext;
    }
    return std::make_pair(lo * (int64_t)t.element_size(), (hi + 1) * (int64_t)t.element_size());
  };
  auto ra = range(a), rb = range(b);
  return ra.first < rb.second && rb.first < ra.second;
}

MemOverlap overlap_status(const Tensor& a, const Tensor& b) {
  if (a.storage != b.storage || a.numel() == 0 || b.numel() == 0) return MemOverlap::No;
  if (a.offset == b.offset && a.sizes == b.sizes && a.strides == b.strides && a.dtype == b.dtype)
    return MemOverlap::Full;  // (PyTorch: the same TensorImpl)
  if (!is_non_overlapping_and_dense(a.sizes, a.strides) || !is_non_overlapping_and_dense(b.sizes, b.strides))
    return MemOverlap::TooHard;
  // Dense: each covers exactly [offset + lowest stride extent, ... + numel) of its elements, in bytes.
  auto begin = [](const Tensor& t) {
    int64_t lo = t.offset;
    for (int64_t d = 0; d < t.dim(); ++d)
      if (t.strides[d] < 0) lo += (t.sizes[d] - 1) * t.strides[d];
    return lo * (int64_t)t.element_size();
  };
  int64_t ab = begin(a), bb = begin(b);
  int64_t ae = ab + a.numel() * (int64_t)a.element_size(), be = bb + b.numel() * (int64_t)b.element_size();
  if (ab == bb && ae == be) return a.strides == b.strides ? MemOverlap::Full : MemOverlap::Partial;
  return ab < be && bb < ae ? MemOverlap::Partial : MemOverlap::No;
}

static void throw_overlap(const Tensor& out, const Tensor& in, const char* op) {
  throw RuntimeError(str_cat(op, ": unsupported operation: some elements of the input tensor and the written-to tensor "
                             "refer to a single memory location. Please clone() the tensor before performing the "
                             "operation. (written-to tensor of shape ", shape_str(out.sizes), ", input of shape ",
                             shape_str(in.sizes), ")"));
}

void assert_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op) {
  if (out.storage == in.storage && overlap_status(out, in) == MemOverlap::Partial) throw_overlap(out, in, op);
}

void assert_no_overlap(const Tensor& out, const Tensor& in, const char* op) {
  if (out.storage != in.storage) return;
  MemOverlap s = overlap_status(out, in);
  if (s == MemOverlap::Partial || s == MemOverlap::Full) throw_overlap(out, in, op);
}

static bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage == b.storage && a.offset == b.offset && a.sizes == b.sizes && a.strides == b.strides &&
         a.dtype == b.dtype;
}

void copy_(const Tensor& dst, const Tensor& src_in) {
  Tensor src = expand(src_in, dst.sizes);  // checks broadcastability, names expand
  // Writing into memory we are about to read: PyTorch refuses it where it can tell (x[1:] = x[:-1]);
  // where it cannot (strided views), we read from a private copy below.
  assert_no_partial_overlap(dst, src_in, "copy_");
  dst.bump_version();
  if (dst.numel() == 0) return;
  if (same_view(dst, src)) return;
  if (may_overlap(dst, src)) src = clone(src);
  Device dd = dst.device(), sd = src.device();
  if (dd == sd) {
    // A dense dst in another order (a transposed or channels_last copy) and its source, walked in
    // dst's memory order: dst is then row-major and a like-strided source too (core/layout.h).
    InMemoryOrder mo(dst);
    FLB_BACKEND(dd, copy, mo(dst), mo(src));
    return;
  }
  if (sd.is_cpu() && dd.is_cuda()) {
    // Cast and lay out on the host, then one contiguous transfer.
    Tensor host = empty(dst.sizes, dst.dtype, sd);
    cpu::copy(host, src);
    if (dst.is_contiguous()) {
      cuda::memcpy_h2d(dst.data_ptr(), host.data_ptr(), host.numel() * host.element_size(), dd.index);
    } else {
      Tensor dev = empty(dst.sizes, dst.dtype, dd);
      cuda::memcpy_h2d(dev.data_ptr(), host.data_ptr(), host.numel() * host.element_size(), dd.index);
      FLB_BACKEND(dd, copy, dst, dev);
    }
    return;
  }
  if (sd.is_cuda() && dd.is_cpu()) {
    Tensor dev = src;
    if (!src.is_contiguous()) {
      dev = empty(src.sizes, src.dtype, sd);
      FLB_BACKEND(sd, copy, dev, src);
    }
    Tensor host = empty(src.sizes, src.dtype, dd);
    cuda::memcpy_d2h(host.data_ptr(), dev.data_ptr(), host.numel() * host.element_size(), sd.index);
    cpu::copy(dst, host);
    return;
  }
  // CUDA to another CUDA device: through the host.
  Tensor host = empty(src.sizes, src.dtype, cpu_device());
  copy_(host, src);
  copy_(dst, host);
}

void fill_(const Tensor& dst, const Scalar& value) {
  dst.bump_version();
  if (dst.numel() == 0) return;
  FLB_BACKEND(dst.device(), fill, dst, value);
}

Tensor to(const Tensor& t, DType dtype, Device device, bool copy) {
  if (!copy && t.dtype == dtype && t.device() == device) return t;
  Tensor out = empty(t.sizes, dtype, device);
  copy_(out, t);
  return fresh_version(out);
}

}  // namespace flambeau
