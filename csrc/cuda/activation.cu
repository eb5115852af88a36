// Activation kernels on CUDA: every Act of ops/act_loss_enums.h forward and backward, PReLU
// (forward, and backward with its weight gradient) and GLU, with the formulas of
// csrc/cpu/activation.cpp (PyTorch's): same branch conventions at the edges, same NaN behaviour
// (relu/hardtanh/threshold propagate NaN through their compares exactly as the CPU's ?: chains),
// same choice of what backward reads. float32 math uses the float CUDA functions (expf, erff ...)
// and float64 the double ones (cuda/math.cuh), so results agree with the CPU's libm to a few ulp.
//
// Parallelisation: these are pure elementwise maps, bound by memory. They go through the
// elementwise framework of cuda/loops.cuh (one thread per element in a grid-stride loop; float4
// loads/stores for contiguous float32, OffsetCalc for strided and broadcast views, so no copies).
// The op is a run-time field of the functor switched on per element (a uniform branch), as in
// elementwise.cu: one kernel per (dtype, path) instead of one per op keeps compile time and binary
// size down; the switch is free next to the memory traffic.
//
// PReLU's weight gradient is a reduction over [outer, C, inner]: grid (splits, C) blocks each sum a
// fixed slice of channel c's outer*inner elements (double accumulators, also writing grad_in on
// the way), partials go to a temporary [C, splits] buffer and a second kernel adds them in split
// order: deterministic, no atomics, the split count fixed by the shape.
//
// GLU backward writes two outputs (the halves of grad_in). The op layer passes slices of one
// contiguous grad_in and of one input, so the two halves share strides: one OffsetCalc over
// (ga, g, a) and constant pointer offsets to gb and b.
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#include <cmath>
#include "cuda/block_reduce.cuh"
#include "cuda/kernels.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

__device__ __forceinline__ float d_erfc(float x) { return ::erfcf(x); }
__device__ __forceinline__ double d_erfc(double x) { return ::erfc(x); }

template <class T>
__device__ __forceinline__ T sigmoid_of(T x) { return T(1) / (T(1) + dm::exp(-x)); }

template <class T>
__device__ __forceinline__ T gelu_cdf(T x) {
  return x < T(0) ? T(0.5) * d_erfc(-x * T(M_SQRT1_2)) : T(0.5) * (T(1) + dm::erf(x * T(M_SQRT1_2)));
}

template <class T>
struct ActP {
  T a, b, c, d;
};

template <class T>
ActP<T> act_p(const ActParams& p) {
  return ActP<T>{(T)p.p[0], (T)p.p[1], (T)p.p[2], (T)p.p[3]};
}

template <class T>
__device__ __forceinline__ T act_fwd(Act op, T x, const ActP<T>& p) {
  switch (op) {
    case Act::Sigmoid: return sigmoid_of(x);
    case Act::Tanh: return dm::tanh(x);
    case Act::Relu: return x < T(0) ? T(0) : x;
    case Act::LeakyRelu: return x > T(0) ? x : x * p.a;
    case Act::Elu: return x <= T(0) ? dm::expm1(x * p.c) * (p.a * p.b) : x * p.b;
    case Act::Gelu: return x * gelu_cdf(x);
    case Act::GeluTanh: {
      const T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = T(0.044715);
      T inner = kBeta * (x + kKappa * x * x * x);
      return x / (T(1) + dm::exp(T(-2) * inner));
    }
    case Act::Silu: return x / (T(1) + dm::exp(-x));
    case Act::Mish: return x * dm::tanh(dm::log1p(dm::exp(x)));
    case Act::Softplus: return x * p.a > p.b ? x : dm::log1p(dm::exp(x * p.a)) / p.a;
    case Act::Softsign: return x / (T(1) + dm::fabs(x));
    case Act::Hardtanh: return x < p.a ? p.a : (x > p.b ? p.b : x);
    case Act::Hardsigmoid: {
      T y = x + T(3);
      y = y < T(0) ? T(0) : (y > T(6) ? T(6) : y);
      return y / T(6);
    }
    case Act::Hardswish: {
      T y = x + T(3);
      y = y < T(0) ? T(0) : (y > T(6) ? T(6) : y);
      return x * y / T(6);
    }
    case Act::Hardshrink: return (x >= -p.a && x <= p.a) ? T(0) : x;
    case Act::Softshrink: return x > p.a ? x - p.a : (x < -p.a ? x + p.a : T(0) * x);
    case Act::Tanhshrink: return x - dm::tanh(x);
    case Act::Threshold: return x <= p.a ? p.b : x;
    case Act::LogSigmoid: {
      T mn = x < T(0) ? x : T(0);
      return mn - dm::log1p(dm::exp(-dm::fabs(x)));
    }
    default: return x;
  }
}

template <class T>
__device__ __forceinline__ T act_bwd(Act op, T g, T s, const ActP<T>& p) {
  switch (op) {
    case Act::Sigmoid: return g * (T(1) - s) * s;
    case Act::Tanh: return g * (T(1) - s * s);
    case Act::Relu: return s <= T(0) ? T(0) : g;
    case Act::LeakyRelu: return s > T(0) ? g : g * p.a;
    case Act::Elu: {
      const T negcoef = p.a * p.b, poscoef = p.b, negiptcoef = p.c;
      if (p.d != T(0)) return s <= T(0) ? g * negiptcoef * (s + negcoef) : g * poscoef;
      return s <= T(0) ? g * negiptcoef * negcoef * dm::exp(s * negiptcoef) : g * poscoef;
    }
    case Act::Gelu: {
      const T kAlpha = T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
      T cdf = gelu_cdf(s);
      T pdf = kAlpha * dm::exp(s * s * T(-0.5));
      return g * (cdf + s * pdf);
    }
    case Act::GeluTanh: {
      const T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = T(0.044715);
      T x_sq = s * s, x_cube = x_sq * s;
      T inner = kBeta * (s + kKappa * x_cube);
      T th = dm::tanh(inner);
      T left = T(0.5) * s, right = T(1) + th;
      T left_derivative = T(0.5) * right;
      T tanh_derivative = T(1) - th * th;
      T inner_derivative = kBeta * (T(1) + T(3) * kKappa * x_sq);
      T right_derivative = left * tanh_derivative * inner_derivative;
      return g * (left_derivative + right_derivative);
    }
    case Act::Silu: {
      T sg = sigmoid_of(s);
      return g * sg * (T(1) + s * (T(1) - sg));
    }
    case Act::Mish: {
      T sg = sigmoid_of(s);
      T tsp = dm::tanh(dm::log1p(dm::exp(s)));
      return g * (tsp + s * sg * (T(1) - tsp * tsp));
    }
    case Act::Softplus: {
      T z = dm::exp(s * p.a);
      return s * p.a > p.b ? g : g * z / (z + T(1));
    }
    case Act::Softsign: {
      T d = T(1) + dm::fabs(s);
      return g / (d * d);
    }
    case Act::Hardtanh: return (s <= p.a || s >= p.b) ? T(0) : g;
    case Act::Hardsigmoid: return (s > T(-3) && s < T(3)) ? g * T(1.0f / 6.0f) : T(0);
    case Act::Hardswish:
      if (s <= T(-3)) return T(0);
      if (s < T(3)) return g * (s / T(3) + T(0.5));
      return g;
    case Act::Hardshrink:
    case Act::Softshrink: return (s >= -p.a && s <= p.a) ? T(0) : g;
    case Act::Tanhshrink: {
      T t = dm::tanh(s);
      return g * t * t;
    }
    case Act::Threshold: return s <= p.a ? T(0) : g;
    case Act::LogSigmoid: {
      bool neg = s < T(0);
      T max_deriv = neg ? T(1) : T(0), sign = neg ? T(1) : T(-1);
      T z = dm::exp(-dm::fabs(s));
      return g * (max_deriv - sign * (z / (T(1) + z)));
    }
    default: return g;
  }
}

template <class T>
struct ActFwdFn {
  Act op;
  ActP<T> p;
  __device__ __forceinline__ T operator()(T x) const { return act_fwd<T>(op, x, p); }
};

template <class T>
struct ActBwdFn {
  Act op;
  ActP<T> p;
  __device__ __forceinline__ T operator()(T g, T s) const { return act_bwd<T>(op, g, s, p); }
};

template <class T>
struct PreluFn {
  __device__ __forceinline__ T operator()(T v, T a) const { return v > T(0) ? v : a * v; }
};

template <class T>
struct GluFn {
  __device__ __forceinline__ T operator()(T u, T v) const { return u * sigmoid_of(v); }
};

// PReLU backward over channel c's elements [j0, j1) of outer*inner (element j: o = j / inner,
// i = j % inner, at (o*C + c)*inner + i); grid (splits, C).
template <class T>
__global__ void __launch_bounds__(kRedBlock)
prelu_bwd_kernel(T* __restrict__ gi, double* __restrict__ partial, const T* __restrict__ g, const T* __restrict__ x,
                 const T* __restrict__ w, int64_t C, int64_t inner, int64_t per_chan, int64_t chunk, int64_t splits) {
  __shared__ double sh[32];
  const int64_t c = blockIdx.y, sp = blockIdx.x;
  const T a = w[c];
  const int64_t j0 = sp * chunk, j1 = min(per_chan, j0 + chunk);
  double acc[1] = {0.0};
  for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const int64_t o = j / inner, i = j - o * inner;
    const int64_t k = (o * C + c) * inner + i;
    const T v = x[k], gv = g[k];
    const bool pos = v > T(0);
    gi[k] = pos ? gv : a * gv;
    acc[0] += pos ? 0.0 : (double)(v * gv);
  }
  block_allsum<1>(acc, sh);
  if (threadIdx.x == 0) partial[c * splits + sp] = acc[0];
}

template <class T>
__global__ void prelu_gw_kernel(T* __restrict__ gw, const double* __restrict__ partial, int64_t C, int64_t splits) {
  for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double s = 0;
    for (int64_t i = 0; i < splits; ++i) s += partial[c * splits + i];
    gw[c] = (T)s;
  }
}

// GLU backward: oc over (ga, g, a); gb = ga + dgb, b = a + db (elements).
template <class T>
__global__ void glu_bwd_kernel(int64_t n, OffsetCalc<3> oc, T* ga, int64_t dgb, const T* g, const T* a, int64_t db) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    oc.get(i, off);
    const T gv = g[off[1]], av = a[off[2]], bv = a[off[2] + db];
    const T sg = sigmoid_of(bv);
    ga[off[0]] = sg * gv;
    ga[off[0] + dgb] = (T(1) - sg) * sg * av * gv;
  }
}

void check_cuda(const Tensor& t, const char* op) {
  FLB_CHECK(t.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", t.device().str());
}

}  // namespace

void activation(Act op, const Tensor& out, const Tensor& x, const ActParams& p) {
  check_cuda(out, "activation");
  check_same_shape(out, x, "activation");
  FLB_DISPATCH_FLOATING(x.dtype, "activation", [&] {
    using T = scalar_t;
    launch_unary<T, T>(out, x, ActFwdFn<T>{op, act_p<T>(p)}, "activation");
  });
}

void activation_backward(Act op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& saved,
                         const ActParams& p) {
  check_cuda(grad_in, "activation_backward");
  check_same_shape(grad_in, saved, "activation_backward");
  check_same_shape(grad_out, saved, "activation_backward");
  FLB_DISPATCH_FLOATING(saved.dtype, "activation_backward", [&] {
    using T = scalar_t;
    launch_binary<T, T, T>(grad_in, grad_out, saved, ActBwdFn<T>{op, act_p<T>(p)}, "activation_backward");
  });
}

void prelu(const Tensor& out, const Tensor& x, const Tensor& w) {
  check_cuda(out, "prelu");
  FLB_DISPATCH_FLOATING(x.dtype, "prelu", [&] {
    using T = scalar_t;
    launch_binary<T, T, T>(out, x, w, PreluFn<T>{}, "prelu");
  });
}

void prelu_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                    const Tensor& w, int64_t outer, int64_t C, int64_t inner) {
  const char* op = "prelu_backward";
  check_cuda(x, op);
  const int dev = x.device().index;
  check_on_device(grad_in, dev, op, "grad_input");
  check_on_device(grad_w, dev, op, "grad_weight");
  check_on_device(grad_out, dev, op, "grad_output");
  check_on_device(w, dev, op, "weight");
  FLB_CHECK(x.is_contiguous() && grad_out.is_contiguous() && grad_in.is_contiguous() && w.is_contiguous(),
            ValueError, op, ": tensors must be contiguous (CUDA kernel precondition)");
  FLB_CHECK(outer * C * inner == x.numel() && grad_w.numel() == C && w.numel() == C, ValueError, op,
            ": layout [", outer, ", ", C, ", ", inner, "] doesn't match input ", shape_str(x.sizes));
  if (C == 0) return;
  FLB_CHECK(C <= 65535, NotImplementedError, op, ": more than 65535 channels are not supported on CUDA");
  const int64_t per_chan = outer * inner;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  // One block per 16K elements of a channel, at most 1024 splits: fixed by the shape.
  const int64_t splits = shape_splits(per_chan, 16384, 1024);
  const int64_t chunk = ceil_div(per_chan, splits);
  TempBuffer part((size_t)(C * splits) * sizeof(double), dev);
  FLB_DISPATCH_FLOATING(x.dtype, op, [&] {
    using T = scalar_t;
    dim3 grid((unsigned)splits, (unsigned)C);
    prelu_bwd_kernel<T><<<grid, kRedBlock, 0, s>>>(grad_in.data<T>(), part.get<double>(), grad_out.data<T>(),
                                                   x.data<T>(), w.data<T>(), C, inner, per_chan, chunk, splits);
    FLB_CUDA_CHECK_LAUNCH("prelu_bwd_kernel", dev);
    prelu_gw_kernel<T><<<grid_for(C, 256, dev), 256, 0, s>>>(grad_w.data<T>(), part.get<double>(), C, splits);
    FLB_CUDA_CHECK_LAUNCH("prelu_gw_kernel", dev);
  });
}

void glu(const Tensor& out, const Tensor& a, const Tensor& b) {
  check_cuda(out, "glu");
  FLB_DISPATCH_FLOATING(a.dtype, "glu", [&] {
    using T = scalar_t;
    launch_binary<T, T, T>(out, a, b, GluFn<T>{}, "glu");
  });
}

void glu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b) {
  const char* op = "glu_backward";
  check_cuda(ga, op);
  const int dev = ga.device().index;
  check_on_device(gb, dev, op, "grad_input");
  check_on_device(g, dev, op, "grad_output");
  check_on_device(a, dev, op, "input");
  check_on_device(b, dev, op, "input");
  check_same_shape(ga, g, op);
  check_same_shape(gb, g, op);
  check_same_shape(a, g, op);
  check_same_shape(b, g, op);
  FLB_CHECK(ga.strides == gb.strides && a.strides == b.strides && ga.storage == gb.storage &&
                a.storage == b.storage,
            NotImplementedError, op, ": the CUDA kernel expects both halves to be slices of one tensor");
  const int64_t n = g.numel();
  if (n == 0) return;
  DeviceGuard guard(dev);
  auto oc = make_offset_calc<3>({&ga, &g, &a}, op);
  const int64_t dgb = gb.offset - ga.offset, db = b.offset - a.offset;
  FLB_DISPATCH_FLOATING(a.dtype, op, [&] {
    using T = scalar_t;
    glu_bwd_kernel<T><<<grid_for(n, kEwBlock, dev), kEwBlock, 0, stream(dev)>>>(n, oc, ga.data<T>(), dgb,
                                                                               g.data<T>(), a.data<T>(), db);
    FLB_CUDA_CHECK_LAUNCH("glu_bwd_kernel", dev);
  });
}

}  // namespace flambeau::cuda
