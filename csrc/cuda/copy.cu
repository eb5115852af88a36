// copy: dst[i] = convert<Dst>(src[i]) for two views of the same shape on one CUDA device (src may
// be broadcast with stride 0), with any dtype pair (the narrow integers included); fill: dst[i] = value.
//
// Same dtype and both contiguous is a cudaMemcpyAsync (the copy engine's path, full bandwidth);
// everything else is the strided elementwise kernel of loops.h, which also covers transposes and
// broadcasts without staging. Conversion follows the CPU build: static_cast, except into bool
// (x != 0). Crossing devices (host <-> device, device <-> device) is the caller's job (core copy_
// stages through memcpy_h2d/d2h/d2d); this file only sees one device.
//
// fill of a contiguous tensor with a value whose bytes are all zero is a cudaMemsetAsync.
#include <cstring>
#include "cuda/kernels.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"

namespace flambeau::cuda {

namespace {

template <class To, class From>
struct ConvertFn {
  __device__ __forceinline__ To operator()(From v) const { return dm::convert<To, From>(v); }
};

template <class T>
struct ConstFn {
  T v;
  __device__ __forceinline__ T operator()(int64_t) const { return v; }
};

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  FLB_CHECK(dst.device().is_cuda(), RuntimeError, "copy: cuda::copy needs a CUDA destination, got ",
            dst.device().str());
  const int dev = dst.device().index;
  check_on_device(src, dev, "copy", "source");
  check_same_shape(dst, src, "copy");
  const int64_t n = dst.numel();
  if (n == 0) return;
  if (dst.dtype == src.dtype && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.data_ptr() == src.data_ptr()) return;
    DeviceGuard g(dev);
    FLB_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), (size_t)n * dst.element_size(),
                                   cudaMemcpyDeviceToDevice, stream(dev)));
    if (sync_after_launch()) FLB_CUDA_CHECK(cudaStreamSynchronize(stream(dev)));
    return;
  }
  FLB_DISPATCH_ALL_TYPES(dst.dtype, "copy", [&] {
    using To = scalar_t;
    FLB_DISPATCH_ALL_TYPES(src.dtype, "copy", [&] {
      using From = scalar_t;
      launch_unary<To, From>(dst, src, ConvertFn<To, From>{}, "copy");
    });
  });
}

void fill(const Tensor& dst, const Scalar& value) {
  FLB_CHECK(dst.device().is_cuda(), RuntimeError, "fill_: cuda::fill needs a CUDA tensor, got ", dst.device().str());
  const int dev = dst.device().index;
  const int64_t n = dst.numel();
  if (n == 0) return;
  FLB_DISPATCH_ALL_TYPES(dst.dtype, "fill_", [&] {
    const scalar_t v = value.to<scalar_t>();
    unsigned char bytes[sizeof(scalar_t)];
    std::memcpy(bytes, &v, sizeof(scalar_t));
    bool zero = true;
    for (size_t i = 0; i < sizeof(scalar_t); ++i) zero = zero && bytes[i] == 0;
    if (zero && dst.is_contiguous()) {
      DeviceGuard g(dev);
      FLB_CUDA_CHECK(cudaMemsetAsync(dst.data_ptr(), 0, (size_t)n * sizeof(scalar_t), stream(dev)));
      if (sync_after_launch()) FLB_CUDA_CHECK(cudaStreamSynchronize(stream(dev)));
      return;
    }
    launch_index_fill<scalar_t>(dst, ConstFn<scalar_t>{v}, "fill_");
  });
}

}  // namespace flambeau::cuda
