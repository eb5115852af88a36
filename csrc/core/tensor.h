// The tensor: a shared Storage plus offset, sizes, strides (in elements), dtype. A view shares the
// storage and differs only in metadata. Storage owns its memory through a deleter, so memory that
// came from numpy or DLPack is released by its owner, never by us.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace flambeau {

using Shape = std::vector<int64_t>;

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;
  // Autograd's version counter (PyTorch's VariableVersion) for every tensor of this storage that has no
  // counter of its own (Tensor::own_version): bumped by each write through one of them, shared by views;
  // autograd compares it to detect a saved tensor modified in place.
  std::atomic<int64_t> version{0};
  // Every write into this memory, whichever counter it bumped: what caches of derived data (packed weights)
  // key on, since a write through `x.data` leaves x's version alone.
  std::atomic<int64_t> writes{0};
  // Allocated while inference_mode was on (PyTorch's inference tensors): its tensors, views included, may
  // not be written in place or saved for backward outside inference_mode.
  bool inference = false;
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter) deleter(data);
  }
};

// inference_mode's flag, per thread as in PyTorch (the Python inference_mode block sets it): storages made
// while it is on are inference storages.
bool inference_mode_enabled();
void set_inference_mode(bool enabled);
[[noreturn]] void throw_inplace_on_inference_tensor();

struct Tensor {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape sizes;
  Shape strides;       // in elements
  DType dtype = DType::Float32;
  // A version counter of its own, shared only by views of this tensor: set by variable_data() (`x.data`),
  // whose in-place writes PyTorch hides from x's autograd checks. Null: the storage's counter.
  std::shared_ptr<std::atomic<int64_t>> own_version;

  Device device() const { return storage->device; }
  int64_t dim() const { return (int64_t)sizes.size(); }
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : sizes) n *= s;
    return n;
  }
  size_t element_size() const { return itemsize(dtype); }
  bool is_contiguous() const;
  void* data_ptr() const { return static_cast<char*>(storage->data) + offset * (int64_t)itemsize(dtype); }
  template <class T>
  T* data() const { return reinterpret_cast<T*>(data_ptr()); }
  int64_t size(int64_t d) const { return sizes[d]; }
  // Called by every op before it writes into existing memory: the one place that refuses an in-place write
  // to an inference tensor outside inference_mode.
  void bump_version() const {
    if (storage->inference && !inference_mode_enabled()) throw_inplace_on_inference_tensor();
    storage->writes.fetch_add(1, std::memory_order_relaxed);
    (own_version ? *own_version : storage->version).fetch_add(1, std::memory_order_relaxed);
  }
  int64_t version() const { return (own_version ? *own_version : storage->version).load(std::memory_order_relaxed); }
  // The same data and geometry with a fresh version counter (PyTorch's variable_data(), behind `x.data`).
  Tensor variable_data() const {
    Tensor t = *this;
    t.own_version = std::make_shared<std::atomic<int64_t>>(0);
    return t;
  }
  // The same data and geometry with a counter of its own starting at `version`: `x.data = y` gives x y's
  // data but keeps x's version (PyTorch's set_data keeps x's counter), and later writes through y or x are
  // no longer seen by the other's autograd checks.
  Tensor with_own_version(int64_t version) const {
    Tensor t = *this;
    t.own_version = std::make_shared<std::atomic<int64_t>>(version);
    return t;
  }
  bool is_inference() const { return storage->inference; }
};

// A tensor an op has just allocated and filled with in-place kernels (full, rand, clone, to): nothing else
// has seen its storage, so its version restarts at 0, as a new PyTorch tensor's (PyTorch counts only the
// in-place ops a user calls, not those inside other ops).
inline const Tensor& fresh_version(const Tensor& t) {
  t.storage->version.store(0, std::memory_order_relaxed);
  return t;
}

Shape contiguous_strides(const Shape& sizes);
int64_t shape_numel(const Shape& sizes);
// Checks sizes are non-negative and the element count fits; names `op` in the error.
void check_shape(const Shape& sizes, const char* op);

// Allocation: 64-byte aligned on the CPU, the caching allocator on CUDA. Contents uninitialised.
std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device);
Tensor empty(const Shape& sizes, DType dtype, Device device);
Tensor empty_like(const Tensor& t);
// Wraps memory owned elsewhere; `deleter` runs when the last view is gone.
Tensor from_blob(void* data, const Shape& sizes, const Shape& strides, DType dtype, Device device,
                 std::function<void(void*)> deleter);

// Wraps a negative dim and checks range: "op: dim 3 out of range for a 2-d tensor".
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace flambeau
