// The elementwise launch framework used by copy.cu, elementwise.cu and random.cu.
//
// Every elementwise op is out[i] = f(in_1[i], ..., in_k[i]) over out's shape, with inputs already
// broadcast to that shape by the dispatch layer (stride-0 dims). Two kernel shapes:
//
//   * strided: one thread per element in a grid-stride loop; OffsetCalc turns the linear index
//     into an element offset per operand. After dims are coalesced, a contiguous tensor (or a
//     contiguous tensor with a broadcast scalar) is one dim, so this costs no division at all; a
//     bias-add [N, C] + [C] costs one 32-bit divide per element, well hidden behind memory.
//   * vec4 (float32 -> float32 only, when every non-scalar operand is contiguous and 16-byte
//     aligned): float4 loads and stores, a broadcast scalar operand read once. This is the hot path
//     for activations and optimizer-style arithmetic, where 128-bit accesses reach a higher
//     fraction of DRAM bandwidth than 32-bit ones.
//
// Functors are plain structs with a __device__ operator() (no extended lambdas needed).
#pragma once
#include <cstdint>
#include <type_traits>
#include "cuda/common.cuh"

namespace flambeau::cuda {

constexpr int kEwBlock = 256;

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

template <class Tout, class F>
__global__ void ew0_kernel(int64_t n, OffsetCalc<1> oc, Tout* out, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[1];
    oc.get(i, off);
    out[off[0]] = f(i);
  }
}

template <class Tout, class T1, class F>
__global__ void ew1_kernel(int64_t n, OffsetCalc<2> oc, Tout* out, const T1* a, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[2];
    oc.get(i, off);
    out[off[0]] = f(a[off[1]]);
  }
}

template <class Tout, class T1, class T2, class F>
__global__ void ew2_kernel(int64_t n, OffsetCalc<3> oc, Tout* out, const T1* a, const T2* b, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    oc.get(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

template <class Tout, class T1, class T2, class T3, class F>
__global__ void ew3_kernel(int64_t n, OffsetCalc<4> oc, Tout* out, const T1* a, const T2* b, const T3* c, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[4];
    oc.get(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]], c[off[3]]);
  }
}

// float32, contiguous: 4 elements per thread per iteration; the tail (n % 4) by the first threads.
template <class F>
__global__ void ew1_vec4_kernel(int64_t n, float* __restrict__ out, const float* __restrict__ a, F f) {
  const int64_t nv = n / 4;
  const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  float4* o4 = reinterpret_cast<float4*>(out);
  for (int64_t i = tid; i < nv; i += step) {
    float4 x = a4[i];
    float4 r;
    r.x = f(x.x); r.y = f(x.y); r.z = f(x.z); r.w = f(x.w);
    o4[i] = r;
  }
  for (int64_t i = nv * 4 + tid; i < n; i += step) out[i] = f(a[i]);
}

// a_scalar / b_scalar: that operand is one value broadcast over all n (read once).
template <class F>
__global__ void ew2_vec4_kernel(int64_t n, float* out, const float* a, const float* b, bool a_scalar,
                                bool b_scalar, F f) {
  const int64_t nv = n / 4;
  const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  const float as = a_scalar ? a[0] : 0.f, bs = b_scalar ? b[0] : 0.f;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* o4 = reinterpret_cast<float4*>(out);
  for (int64_t i = tid; i < nv; i += step) {
    float4 x = a_scalar ? make_float4(as, as, as, as) : a4[i];
    float4 y = b_scalar ? make_float4(bs, bs, bs, bs) : b4[i];
    float4 r;
    r.x = f(x.x, y.x); r.y = f(x.y, y.y); r.z = f(x.z, y.z); r.w = f(x.w, y.w);
    o4[i] = r;
  }
  for (int64_t i = nv * 4 + tid; i < n; i += step) out[i] = f(a_scalar ? as : a[i], b_scalar ? bs : b[i]);
}

// ---------------------------------------------------------------------------------------------
// Launchers
// ---------------------------------------------------------------------------------------------

namespace detail {

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Every stride 0 (or a single element): the tensor is one value broadcast over the output.
inline bool is_broadcast_scalar(const Tensor& t) {
  if (t.numel() <= 1) return true;
  for (size_t d = 0; d < t.sizes.size(); ++d)
    if (t.sizes[d] != 1 && t.strides[d] != 0) return false;
  return true;
}

inline bool vec4_ok(const Tensor& t) { return t.is_contiguous() && aligned16(t.data_ptr()); }

}  // namespace detail

// out[i] = f(i) where i is the row-major linear index of the element (used by creation and
// random kernels: the element's position in the draw does not depend on out's strides).
template <class Tout, class F>
void launch_index_fill(const Tensor& out, F f, const char* name) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int dev = out.device().index;
  DeviceGuard g(dev);
  auto oc = make_offset_calc<1>({&out}, name);
  ew0_kernel<Tout><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, stream(dev)>>>(n, oc, out.data<Tout>(), f);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
}

template <class Tout, class T1, class F>
void launch_unary(const Tensor& out, const Tensor& a, F f, const char* name) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int dev = out.device().index;
  check_on_device(a, dev, name, "input");
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  if constexpr (std::is_same_v<Tout, float> && std::is_same_v<T1, float>) {
    if (detail::vec4_ok(out) && detail::vec4_ok(a) && a.sizes == out.sizes) {
      unsigned grid = grid_for(ceil_div(n, 4), kEwBlock, dev);
      ew1_vec4_kernel<<<grid, kEwBlock, 0, s>>>(n, out.data<float>(), a.data<float>(), f);
      FLB_CUDA_CHECK_LAUNCH(name, dev);
      return;
    }
  }
  auto oc = make_offset_calc<2>({&out, &a}, name);
  ew1_kernel<Tout, T1><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, s>>>(n, oc, out.data<Tout>(), a.data<T1>(), f);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
}

template <class Tout, class T1, class T2, class F>
void launch_binary(const Tensor& out, const Tensor& a, const Tensor& b, F f, const char* name) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int dev = out.device().index;
  check_on_device(a, dev, name, "input");
  check_on_device(b, dev, name, "other");
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  if constexpr (std::is_same_v<Tout, float> && std::is_same_v<T1, float> && std::is_same_v<T2, float>) {
    const bool as = detail::is_broadcast_scalar(a), bs = detail::is_broadcast_scalar(b);
    if (detail::vec4_ok(out) && (as || (detail::vec4_ok(a) && a.sizes == out.sizes)) &&
        (bs || (detail::vec4_ok(b) && b.sizes == out.sizes)) && !(as && bs)) {
      unsigned grid = grid_for(ceil_div(n, 4), kEwBlock, dev);
      ew2_vec4_kernel<<<grid, kEwBlock, 0, s>>>(n, out.data<float>(), a.data<float>(), b.data<float>(), as, bs, f);
      FLB_CUDA_CHECK_LAUNCH(name, dev);
      return;
    }
  }
  auto oc = make_offset_calc<3>({&out, &a, &b}, name);
  ew2_kernel<Tout, T1, T2><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, s>>>(n, oc, out.data<Tout>(), a.data<T1>(),
                                                                         b.data<T2>(), f);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
}

template <class Tout, class T1, class T2, class T3, class F>
void launch_ternary(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f, const char* name) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int dev = out.device().index;
  check_on_device(a, dev, name, "input");
  check_on_device(b, dev, name, "input");
  check_on_device(c, dev, name, "input");
  DeviceGuard g(dev);
  auto oc = make_offset_calc<4>({&out, &a, &b, &c}, name);
  ew3_kernel<Tout, T1, T2, T3><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, stream(dev)>>>(
      n, oc, out.data<Tout>(), a.data<T1>(), b.data<T2>(), c.data<T3>(), f);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
}

}  // namespace flambeau::cuda
