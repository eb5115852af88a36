#include "core/tensor.h"
#include <cstdlib>
#include <cstring>
#include <limits>
#include "core/cpu_allocator.h"
#include "core/cuda_hooks.h"

namespace flambeau {

Shape contiguous_strides(const Shape& sizes) {
  Shape st(sizes.size());
  int64_t acc = 1;
  for (int64_t i = (int64_t)sizes.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= sizes[i] > 0 ? sizes[i] : 1;
  }
  return st;
}

int64_t shape_numel(const Shape& sizes) {
  int64_t n = 1;
  for (auto s : sizes) n *= s;
  return n;
}

void check_shape(const Shape& sizes, const char* op) {
  int64_t n = 1;
  for (auto s : sizes) {
    FLB_CHECK(s >= 0, RuntimeError, op, ": negative dimension in shape ", shape_str(sizes));
    if (s != 0 && n > std::numeric_limits<int64_t>::max() / s)
      throw RuntimeError(str_cat(op, ": shape ", shape_str(sizes), " has too many elements"));
    n *= s;
  }
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // as c10: an empty tensor is contiguous whatever its strides
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (sizes[i] == 1) continue;
    if (sizes[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= sizes[i];
  }
  return true;
}

static thread_local bool tls_inference_mode = false;

bool inference_mode_enabled() { return tls_inference_mode; }
void set_inference_mode(bool enabled) { tls_inference_mode = enabled; }

void throw_inplace_on_inference_tensor() {
  throw RuntimeError(
      "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone to get a normal "
      "tensor before doing inplace update.See https://github.com/pytorch/rfcs/pull/17 for more details.");
}

std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device) {
  auto st = std::make_shared<Storage>();
  st->inference = tls_inference_mode;
  st->nbytes = nbytes;
  st->device = device;
  if (device.is_cpu()) {
    // 64-byte aligned (a cache line and an AVX-512 register), from the caching allocator.
    size_t cls = 0;
    st->data = cpu_alloc::allocate(nbytes, &cls);
    st->deleter = [cls](void* q) { cpu_alloc::release(q, cls); };
  } else {
    int dev = device.index;
    st->data = cuda::allocate(nbytes, dev);
    st->deleter = [dev](void* q) { cuda::release(q, dev); };
  }
  return st;
}

Tensor empty(const Shape& sizes, DType dtype, Device device) {
  check_shape(sizes, "empty");
  Tensor t;
  t.sizes = sizes;
  t.strides = contiguous_strides(sizes);
  t.dtype = dtype;
  t.storage = allocate_storage((size_t)shape_numel(sizes) * itemsize(dtype), device);
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t.sizes, t.dtype, t.device()); }

Tensor from_blob(void* data, const Shape& sizes, const Shape& strides, DType dtype, Device device,
                 std::function<void(void*)> deleter) {
  Tensor t;
  t.storage = std::make_shared<Storage>();
  t.storage->inference = tls_inference_mode;
  t.storage->data = data;
  t.storage->device = device;
  // Bytes spanned by the view (for bookkeeping only; the owner knows the real size).
  int64_t span = 1;
  for (size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] > 0) span += (sizes[i] - 1) * (strides[i] < 0 ? -strides[i] : strides[i]);
  t.storage->nbytes = (size_t)span * itemsize(dtype);
  t.storage->deleter = std::move(deleter);
  t.sizes = sizes;
  t.strides = strides;
  t.dtype = dtype;
  return t;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = ndim > 0 ? ndim : 1;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  FLB_CHECK(dim >= -n && dim < n, IndexError, op, ": dimension ", dim, " out of range (expected to be in range of [",
            -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

}  // namespace flambeau
