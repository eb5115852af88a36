// Creation kernels (arange, linspace) and Philox draws (rand, randn, randint, bernoulli,
// bernoulli_scalar): the CUDA twins of cpu/random.cpp, producing the same numbers.
//
// Element i (row-major position in `out`) of a draw at stream offset `off` uses Philox stream
// position off + i (core/philox.h, shared source with the CPU), so the two devices agree without
// sharing state. Each thread computes its elements independently (grid-stride loop); `out` may be
// any strided view, the position is always the row-major one.
//
// Bitwise agreement with the CPU needs the same floating-point operations in the same order.
// nvcc contracts a * b + c into one FMA (one rounding instead of two) where the CPU build (baseline
// x86-64, no FMA) rounds twice, so every multiply-add here is spelled with the _rn intrinsics,
// which are never contracted. The normal draw (philox_normal) runs in double; CUDA's double
// log/sin/cos are within 1 ulp of glibc's, so float32 randn matches bit for bit (a 1-ulp double
// difference changes the float rounding with probability ~2^-29) and float64 randn agrees to a few
// ulp (log, sqrt and cos each round differently: 2 ulp measured on an H100, tests/kernels/test_dropout.py).
#include "core/philox.h"
#include "cuda/kernels.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"

namespace flambeau::cuda {

namespace {

template <class T>
struct ArangeIntFn {
  int64_t start, step;
  __device__ __forceinline__ T operator()(int64_t i) const {
    return dm::convert<T>(dm::wadd(start, dm::wmul(i, step)));
  }
};

template <class T>
struct ArangeFn {
  double start, step;
  __device__ __forceinline__ T operator()(int64_t i) const {
    return dm::convert<T>(__dadd_rn(start, __dmul_rn((double)i, step)));
  }
};

template <class T>
struct LinspaceFn {
  double start, end, step;
  int64_t n, half;
  __device__ __forceinline__ T operator()(int64_t i) const {
    double v = (i < half || n == 1) ? __dadd_rn(start, __dmul_rn(step, (double)i))
                        : __dsub_rn(end, __dmul_rn(step, (double)(n - 1 - i)));
    return dm::convert<T>(v);
  }
};

struct RandF32Fn {
  uint64_t seed, offset;
  float low, span;
  __device__ __forceinline__ float operator()(int64_t i) const {
    float u = philox_uniform_f(philox_word(seed, offset + (uint64_t)i));
    return __fadd_rn(__fmul_rn(u, span), low);
  }
};

template <class T>
struct RandFn {
  uint64_t seed, offset;
  double low, span;
  __device__ __forceinline__ T operator()(int64_t i) const {
    double u = (double)philox_uniform_f(philox_word(seed, offset + (uint64_t)i));
    return dm::convert<T>(__dadd_rn(__dmul_rn(u, span), low));
  }
};

template <class T>
struct RandnFn {
  uint64_t seed, offset;
  double mean, std;
  __device__ __forceinline__ T operator()(int64_t i) const {
    double z = philox_normal(seed, offset + (uint64_t)i);
    return dm::convert<T>(__dadd_rn(__dmul_rn(z, std), mean));
  }
};

template <class T>
struct RandintFn {
  uint64_t seed, offset;
  int64_t low;
  uint64_t range;
  __device__ __forceinline__ T operator()(int64_t i) const {
    const uint64_t pos = offset + (uint64_t)i;
    const uint64_t w = philox_word(seed, pos);
    int64_t v;
    if (range <= 0xFFFFFFFFull) {
      v = dm::wadd(low, (int64_t)((w * range) >> 32));
    } else {
      const uint64_t w2 = ((uint64_t)philox_word(seed ^ 0x9E3779B97F4A7C15ull, pos) << 32) | w;
      v = dm::wadd(low, (int64_t)(w2 % range));
    }
    return dm::convert<T>(v);
  }
};

template <class T>
struct BernoulliScalarFn {
  uint64_t seed, offset;
  float p;
  __device__ __forceinline__ T operator()(int64_t i) const {
    return dm::convert<T>(philox_uniform_f(philox_word(seed, offset + (uint64_t)i)) < p ? 1 : 0);
  }
};

// bernoulli with a probability tensor: out and p share a shape; oc gives (out, p) offsets.
template <class T, class P>
__global__ void bernoulli_kernel(T* out, const P* p, int64_t n, OffsetCalc<2> oc, uint64_t seed, uint64_t offset) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[2];
    oc.get(i, off);
    const float u = philox_uniform_f(philox_word(seed, offset + (uint64_t)i));
    out[off[0]] = dm::convert<T>(u < (float)p[off[1]] ? 1 : 0);
  }
}

void check_out(const Tensor& out, const char* op) {
  FLB_CHECK(out.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", out.device().str());
}

}  // namespace

void arange(const Tensor& out, double start, double step) {
  check_out(out, "arange");
  if (out.dtype == DType::Int64) {
    launch_index_fill<int64_t>(out, ArangeIntFn<int64_t>{(int64_t)start, (int64_t)step}, "arange");
    return;
  }
  FLB_DISPATCH_ALL(out.dtype, "arange",
                   [&] { launch_index_fill<scalar_t>(out, ArangeFn<scalar_t>{start, step}, "arange"); });
}

void linspace(const Tensor& out, double start, double end) {
  check_out(out, "linspace");
  const int64_t n = out.numel();
  const double step = n > 1 ? (end - start) / (double)(n - 1) : 0.0;
  FLB_DISPATCH_ALL(out.dtype, "linspace", [&] {
    launch_index_fill<scalar_t>(out, LinspaceFn<scalar_t>{start, end, step, n, n / 2}, "linspace");
  });
}

void rand(const Tensor& out, uint64_t seed, uint64_t offset, double low, double high) {
  check_out(out, "rand");
  const double span = high - low;
  if (out.dtype == DType::Float32) {
    launch_index_fill<float>(out, RandF32Fn{seed, offset, (float)low, (float)span}, "rand");
    return;
  }
  FLB_DISPATCH_ALL(out.dtype, "rand",
                   [&] { launch_index_fill<scalar_t>(out, RandFn<scalar_t>{seed, offset, low, span}, "rand"); });
}

void randn(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  check_out(out, "randn");
  FLB_DISPATCH_ALL(out.dtype, "randn",
                   [&] { launch_index_fill<scalar_t>(out, RandnFn<scalar_t>{seed, offset, mean, std}, "randn"); });
}

void randint(const Tensor& out, uint64_t seed, uint64_t offset, int64_t low, int64_t high) {
  check_out(out, "randint");
  const uint64_t range = (uint64_t)high - (uint64_t)low;
  FLB_DISPATCH_ALL(out.dtype, "randint", [&] {
    launch_index_fill<scalar_t>(out, RandintFn<scalar_t>{seed, offset, low, range}, "randint");
  });
}

void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset) {
  check_out(out, "bernoulli");
  const int dev = out.device().index;
  check_on_device(p, dev, "bernoulli", "p");
  check_same_shape(out, p, "bernoulli");
  const int64_t n = out.numel();
  if (n == 0) return;
  DeviceGuard g(dev);
  auto oc = make_offset_calc<2>({&out, &p}, "bernoulli");
  FLB_DISPATCH_FLOATING(p.dtype, "bernoulli", [&] {
    using P = scalar_t;
    FLB_DISPATCH_ALL(out.dtype, "bernoulli", [&] {
      using T = scalar_t;
      bernoulli_kernel<T, P><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, stream(dev)>>>(out.data<T>(), p.data<P>(), n,
                                                                                      oc, seed, offset);
      FLB_CUDA_CHECK_LAUNCH("bernoulli_kernel", dev);
    });
  });
}

void bernoulli_scalar(const Tensor& out, double p, uint64_t seed, uint64_t offset) {
  check_out(out, "bernoulli_scalar");
  FLB_DISPATCH_ALL(out.dtype, "bernoulli_scalar", [&] {
    launch_index_fill<scalar_t>(out, BernoulliScalarFn<scalar_t>{seed, offset, (float)p}, "bernoulli");
  });
}

}  // namespace flambeau::cuda
