// Shared plumbing for every CUDA file: error checks that throw flambeau exceptions, the one stream
// per device, device guards, grid-size helpers, temporary device buffers, and the device-side
// strided-offset calculator that lets a kernel walk any view (transposed, sliced, broadcast with
// stride 0) without a copy.
//
// Conventions every launcher follows:
//   * DeviceGuard g(t.device().index) first, so the launch goes to the tensor's device;
//   * every launch goes to cuda::stream(device) (one stream per device, so work on a device runs in
//     the order it was issued, and the caching allocator may reuse memory in stream order);
//   * FLB_CUDA_CHECK_LAUNCH() right after each <<<...>>>: it reads cudaGetLastError() and, when the
//     environment has FLAMBEAU_CUDA_SYNC=1, synchronises the stream so an asynchronous fault is
//     reported by the launch that caused it;
//   * grids come from grid_for(): 1-D grid-stride loops, capped at a few waves of the device.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <cstring>
#include <limits>
#include <array>
#include "core/cuda_hooks.h"
#include "core/error.h"
#include "core/tensor.h"

namespace flambeau::cuda {

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

// Throws RuntimeError("CUDA error: <text> (<name>) from <what> at <file>:<line>"), clearing the
// runtime's non-sticky error state first.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
// cudaGetLastError() after a launch (and a stream synchronise under FLAMBEAU_CUDA_SYNC=1).
void check_launch(const char* kernel, int device, const char* file, int line);
// FLAMBEAU_CUDA_SYNC=1 in the environment (read once).
bool sync_after_launch();
// unverified_kernels(): FLAMBEAU_CUDA_UNVERIFIED=1, declared in core/cuda_hooks.h (the ops layer and
// the bindings ask it too).

}  // namespace flambeau::cuda

#define FLB_CUDA_CHECK(call)                                                        \
  do {                                                                              \
    cudaError_t flb_err_ = (call);                                                  \
    if (flb_err_ != cudaSuccess)                                                    \
      ::flambeau::cuda::throw_cuda_error(flb_err_, #call, __FILE__, __LINE__);      \
  } while (0)

// Call right after a kernel launch; `name` is the kernel (a string literal), `dev` its device.
#define FLB_CUDA_CHECK_LAUNCH(name, dev) ::flambeau::cuda::check_launch(name, dev, __FILE__, __LINE__)

namespace flambeau::cuda {

// ---------------------------------------------------------------------------------------------
// Devices and streams
// ---------------------------------------------------------------------------------------------

// Throws a clear RuntimeError unless `device` names a present GPU.
void check_device(int device);
// The flambeau stream of `device` (created on first use; blocking w.r.t. the legacy default
// stream, so code that uses stream 0 on the same device stays ordered with us).
cudaStream_t stream(int device);
int multiprocessor_count(int device);

// Makes `device` current for the guard's lifetime and restores the previous device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
  int cur_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Grid sizes
// ---------------------------------------------------------------------------------------------

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n items with `block` threads each: enough for n, at most
// `waves` full occupancies of the device (a grid-stride loop covers the rest), at least 1.
inline unsigned grid_for(int64_t n, int block, int device, int waves = 8) {
  int64_t want = ceil_div(n, block);
  int64_t cap = (int64_t)multiprocessor_count(device) * (2048 / block) * waves;
  if (cap < 1) cap = 1;
  int64_t g = want < cap ? want : cap;
  return (unsigned)(g < 1 ? 1 : g);
}

// ---------------------------------------------------------------------------------------------
// Temporary device memory (from the caching allocator, so cheap after warm-up). Released in
// stream order: work already queued that uses it finishes before any later reuse.
// ---------------------------------------------------------------------------------------------

class TempBuffer {
 public:
  TempBuffer(size_t nbytes, int device) : nbytes_(nbytes), device_(device) {
    ptr_ = nbytes ? allocate(nbytes, device) : nullptr;
  }
  ~TempBuffer() {
    if (ptr_) release(ptr_, device_);
  }
  TempBuffer(const TempBuffer&) = delete;
  TempBuffer& operator=(const TempBuffer&) = delete;
  template <class T>
  T* get() const { return static_cast<T*>(ptr_); }
  size_t nbytes() const { return nbytes_; }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
  int device_ = 0;
};

// A device-side error slot for kernels that validate data they read (index values, integer
// divisors). Kernels record the first offending value with record_error(); raised() copies the
// slot back (one small synchronous D2H) and tells the launcher whether to throw.
struct ErrorSlot {
  int64_t flag;   // 0: no error
  int64_t value;  // the offending value
  int64_t aux;    // e.g. the dimension it indexed
};

class DeviceErrorFlag {
 public:
  explicit DeviceErrorFlag(int device);
  ErrorSlot* get() const { return buf_.get<ErrorSlot>(); }
  // Synchronous: waits for the kernels issued so far on the device's stream.
  bool raised(ErrorSlot* host_copy);

 private:
  TempBuffer buf_;
  int device_;
};

#if defined(__CUDACC__)
__device__ __forceinline__ void record_error(ErrorSlot* slot, int64_t value, int64_t aux) {
  if (atomicCAS(reinterpret_cast<unsigned long long*>(&slot->flag), 0ull, 1ull) == 0ull) {
    slot->value = value;
    slot->aux = aux;
  }
}
#endif

// ---------------------------------------------------------------------------------------------
// Strided offsets
// ---------------------------------------------------------------------------------------------

// Views with more dims than this (after dropping size-1 dims and merging contiguous ones) are
// rejected with NotImplementedError; 16 covers every practical tensor.
constexpr int kMaxDims = 16;

// Maps a linear (row-major) index over a shape to element offsets into N operands that share the
// shape but have their own strides. Passed to kernels by value (sizes once, strides per operand).
// When the element count fits in 32 bits the index is unravelled with 32-bit divisions, which are
// several times cheaper than 64-bit ones on the GPU; offsets are always accumulated in 64 bits.
template <int N>
struct OffsetCalc {
  int ndim = 0;
  bool narrow = true;  // all sizes and the element count fit in uint32
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

#if defined(__CUDACC__)
  // The unravel loops are kept rolled (#pragma unroll 1): ndim is a run-time value, and unrolled
  // copies of a division loop only bloat every kernel. Scalar accumulators, not an array: with an
  // array nvcc ignores the pragma.
  __device__ __forceinline__ void get(int64_t linear, int64_t (&off)[N]) const {
    static_assert(N >= 1 && N <= 4, "OffsetCalc supports 1 to 4 operands");
    int64_t o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    constexpr int k1 = N > 1 ? 1 : 0, k2 = N > 2 ? 2 : 0, k3 = N > 3 ? 3 : 0;
    int64_t rem;
    if (narrow) {
      uint32_t r = (uint32_t)linear;
#pragma unroll 1
      for (int d = ndim - 1; d > 0; --d) {
        const uint32_t s = (uint32_t)sizes[d];
        const uint32_t q = r / s;
        const int64_t i = (int64_t)(r - q * s);
        r = q;
        o0 += i * strides[0][d];
        if (N > 1) o1 += i * strides[k1][d];
        if (N > 2) o2 += i * strides[k2][d];
        if (N > 3) o3 += i * strides[k3][d];
      }
      rem = (int64_t)r;
    } else {
      int64_t r = linear;
#pragma unroll 1
      for (int d = ndim - 1; d > 0; --d) {
        const int64_t s = sizes[d];
        const int64_t q = r / s;
        const int64_t i = r - q * s;
        r = q;
        o0 += i * strides[0][d];
        if (N > 1) o1 += i * strides[k1][d];
        if (N > 2) o2 += i * strides[k2][d];
        if (N > 3) o3 += i * strides[k3][d];
      }
      rem = r;
    }
    // Dim 0 needs no division (rem < sizes[0]); with ndim == 0 the strides are 0 and rem is 0.
    off[0] = o0 + rem * strides[0][0];
    if (N > 1) off[k1] = o1 + rem * strides[k1][0];
    if (N > 2) off[k2] = o2 + rem * strides[k2][0];
    if (N > 3) off[k3] = o3 + rem * strides[k3][0];
  }
  // Single-operand convenience.
  __device__ __forceinline__ int64_t get1(int64_t linear) const {
    int64_t off[N];
    get(linear, off);
    return off[0];
  }
#endif
};

// Builds an OffsetCalc over `sizes` for N stride vectors (in elements). Size-1 dims are dropped and
// neighbouring dims merged when every operand is contiguous across them, so contiguous tensors
// become one dim and need no division at all. `what` names the op in the error.
template <int N>
OffsetCalc<N> make_offset_calc(const Shape& sizes, const std::array<const Shape*, N>& strides, const char* what) {
  OffsetCalc<N> oc;
  int64_t numel = 1;
  for (auto s : sizes) numel *= s;
  // Merge from the innermost dim outwards into a temporary (innermost first).
  int64_t ms[64];
  int64_t mst[N][64];
  int nd = 0;
  FLB_CHECK(sizes.size() <= 64, NotImplementedError, what, ": tensors with more than 64 dims are not supported");
  for (int64_t d = (int64_t)sizes.size() - 1; d >= 0; --d) {
    int64_t sz = sizes[d];
    if (sz == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if ((*strides[k])[d] != mst[k][nd - 1] * ms[nd - 1]) merge = false;
      if (merge) {
        ms[nd - 1] *= sz;
        continue;
      }
    }
    ms[nd] = sz;
    for (int k = 0; k < N; ++k) mst[k][nd] = (*strides[k])[d];
    ++nd;
  }
  FLB_CHECK(nd <= kMaxDims, NotImplementedError, what, ": views with more than ", kMaxDims,
            " non-mergeable dims are not supported on CUDA (shape ", shape_str(sizes), ")");
  oc.ndim = nd;
  for (int i = 0; i < nd; ++i) {
    oc.sizes[i] = ms[nd - 1 - i];
    for (int k = 0; k < N; ++k) oc.strides[k][i] = mst[k][nd - 1 - i];
  }
  for (int i = nd; i < kMaxDims; ++i) {
    oc.sizes[i] = 1;
    for (int k = 0; k < N; ++k) oc.strides[k][i] = 0;
  }
  oc.narrow = numel <= (int64_t)std::numeric_limits<uint32_t>::max();
  return oc;
}

// Offsets of N tensors that share tensor 0's shape.
template <int N>
OffsetCalc<N> make_offset_calc(const std::array<const Tensor*, N>& ts, const char* what) {
  std::array<const Shape*, N> st;
  for (int k = 0; k < N; ++k) st[k] = &ts[k]->strides;
  return make_offset_calc<N>(ts[0]->sizes, st, what);
}

// Preconditions shared by launchers.
inline void check_on_device(const Tensor& t, int device, const char* op, const char* name) {
  FLB_CHECK(t.device().is_cuda() && t.device().index == device, RuntimeError, op, ": expected ", name,
            " on cuda:", device, ", got ", t.device().str());
}
inline void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  FLB_CHECK(a.sizes == b.sizes, ValueError, op, ": shape mismatch ", shape_str(a.sizes), " vs ", shape_str(b.sizes));
}

}  // namespace flambeau::cuda
