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

static bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage == b.storage && a.offset == b.offset && a.sizes == b.sizes && a.strides == b.strides &&
         a.dtype == b.dtype;
}

void copy_(const Tensor& dst, const Tensor& src_in) {
  Tensor src = expand(src_in, dst.sizes);  // checks broadcastability, names expand
  dst.bump_version();
  if (dst.numel() == 0) return;
  if (same_view(dst, src)) return;
  // Writing into memory we are about to read (x[1:] = x[:-1]): read from a private copy.
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
