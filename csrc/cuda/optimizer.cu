// Fused multi-tensor optimizer steps on CUDA: SGD (momentum, dampening, nesterov, weight decay,
// maximize), Adam / AdamW (amsgrad), RMSprop (centered, momentum), Adagrad. The twins of
// csrc/cpu/optimizer.cpp, with the per-element arithmetic of csrc/cpu/simd/optim_body.h op for op:
// every multiply-add the CPU fuses is a __fma_rn here, every product the CPU rounds separately
// (its rounded()) is a __fmul_rn / __dmul_rn, and every other op is spelled with an _rn intrinsic
// too, so nvcc cannot contract anything the CPU keeps apart. sqrt and division are IEEE
// correctly rounded on the GPU (no fast-math), so float32 and float64 results match the CPU's
// portable loops bit for bit (the CPU's vector loops produce the same bits by construction).
// The per-parameter constants (step size from the bias corrections, Adagrad's decayed lr) are
// computed on the host in double exactly as the CPU driver does, then rounded to the dtype.
//
// Parallelisation: one launch per step updates every parameter. The host cuts each parameter into
// chunks of kChunk elements and uploads two small tables to the device (one allocation from the
// caching allocator, one H2D copy): per parameter its pointers, size and constants; per chunk its
// parameter and start. Block b processes chunk b (threads stride the chunk: coalesced loads and
// stores), so a model of many small tensors and a few big ones costs one launch and keeps every SM
// busy, the CUDA form of the CPU's multi_tensor_apply. The update is memory-bound (Adam reads and
// writes ~7 values per parameter element).
//
// Ran on an H100: csrc/cuda/GPU_STATUS.md says what has and what has not.
#include <cmath>
#include <cstring>
#include <vector>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/nn_kernels.h"

namespace flambeau::cuda {

namespace {

constexpr int kOptBlock = 512;
constexpr int64_t kChunk = 32768;

// ---- correctly rounded single operations (never contracted)
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

template <class T>
__device__ __forceinline__ T max_nan(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  return a > b ? a : b;
}

// torch's lerp(start, end, w), as FLB_OPTIM_LERP in optim_body.h.
template <class T>
__device__ __forceinline__ T lerp(T start, T end, bool small, T w, T wm1) {
  const T d = sub_rn(end, start);
  return small ? fma_rn(w, d, start) : fma_rn(wm1, d, end);
}

enum class Algo : int { Sgd, Adam, Rmsprop, Adagrad };

// One parameter: its tensors (state slots by algorithm, unused ones null) and per-parameter constants.
template <class T>
struct TensorDesc {
  T* p;
  const T* g;
  T* s0;  // SGD buf | Adam exp_avg | RMSprop square_avg | Adagrad state_sum
  T* s1;  // Adam exp_avg_sq | RMSprop grad_avg
  T* s2;  // Adam max_exp_avg_sq | RMSprop momentum buffer
  int64_t n;
  T c0;   // Adam neg_step_size | Adagrad neg_clr
  T c1;   // Adam bc2_sqrt
  int fresh;  // SGD: first step, buf = grad
};

struct ChunkDesc {
  int64_t tensor;
  int64_t start;
};

// Constants shared by every parameter (already rounded to T where the CPU rounds them).
template <class T>
struct Consts {
  // SGD
  T wd, mom, damp1, neg_lr;
  // Adam
  T w1, w1m1, beta2, omb2, eps, decay;
  // RMSprop
  T alpha, oma, wl, wlm1;
  bool small, use_wd, use_mom, nesterov, maximize, decoupled, amsgrad, centered;
};

template <class T>
__device__ __forceinline__ void sgd_elem(const TensorDesc<T>& d, int64_t i, const Consts<T>& k) {
  T gi = d.g[i];
  if (k.maximize) gi = -gi;
  const T pi = d.p[i];
  if (k.use_wd) gi = fma_rn(pi, k.wd, gi);
  if (k.use_mom) {
    const T bi = d.fresh ? gi : fma_rn(gi, k.damp1, mul_rn(d.s0[i], k.mom));
    d.s0[i] = bi;
    gi = k.nesterov ? fma_rn(bi, k.mom, gi) : bi;
  }
  d.p[i] = fma_rn(gi, k.neg_lr, pi);
}

template <class T>
__device__ __forceinline__ void adam_elem(const TensorDesc<T>& d, int64_t i, const Consts<T>& k) {
  T gi = d.g[i];
  if (k.maximize) gi = -gi;
  T pi = d.p[i];
  if (k.use_wd) {
    if (k.decoupled) pi = mul_rn(pi, k.decay);
    else gi = fma_rn(pi, k.wd, gi);
  }
  const T mi = lerp(d.s0[i], gi, k.small, k.w1, k.w1m1);
  d.s0[i] = mi;
  T vi = fma_rn(mul_rn(k.omb2, gi), gi, mul_rn(d.s1[i], k.beta2));
  d.s1[i] = vi;
  if (k.amsgrad) {
    vi = max_nan(d.s2[i], vi);
    d.s2[i] = vi;
  }
  const T den = add_rn(div_rn(sqrt_rn(vi), d.c1), k.eps);
  d.p[i] = add_rn(pi, div_rn(mul_rn(d.c0, mi), den));
}

template <class T>
__device__ __forceinline__ void rmsprop_elem(const TensorDesc<T>& d, int64_t i, const Consts<T>& k) {
  T gi = d.g[i];
  if (k.maximize) gi = -gi;
  const T pi = d.p[i];
  if (k.use_wd) gi = fma_rn(pi, k.wd, gi);
  const T si = fma_rn(mul_rn(k.oma, gi), gi, mul_rn(d.s0[i], k.alpha));
  d.s0[i] = si;
  T avg;
  if (k.centered) {
    const T ai = lerp(d.s1[i], gi, k.small, k.wl, k.wlm1);
    d.s1[i] = ai;
    avg = sqrt_rn(fma_rn(-ai, ai, si));
  } else {
    avg = sqrt_rn(si);
  }
  avg = add_rn(avg, k.eps);
  if (k.use_mom) {
    const T bi = add_rn(mul_rn(d.s2[i], k.mom), div_rn(gi, avg));
    d.s2[i] = bi;
    d.p[i] = fma_rn(bi, k.neg_lr, pi);
  } else {
    d.p[i] = add_rn(pi, div_rn(mul_rn(k.neg_lr, gi), avg));
  }
}

template <class T>
__device__ __forceinline__ void adagrad_elem(const TensorDesc<T>& d, int64_t i, const Consts<T>& k) {
  T gi = d.g[i];
  if (k.maximize) gi = -gi;
  const T pi = d.p[i];
  if (k.use_wd) gi = fma_rn(pi, k.wd, gi);
  const T si = fma_rn(gi, gi, d.s0[i]);
  d.s0[i] = si;
  const T sd = add_rn(sqrt_rn(si), k.eps);
  d.p[i] = add_rn(pi, div_rn(mul_rn(d.c0, gi), sd));
}

template <Algo A, class T>
__global__ void __launch_bounds__(kOptBlock)
multi_tensor_kernel(const TensorDesc<T>* __restrict__ descs, const ChunkDesc* __restrict__ chunks, Consts<T> k) {
  const ChunkDesc c = chunks[blockIdx.x];
  const TensorDesc<T> d = descs[c.tensor];
  const int64_t end = min(d.n, c.start + kChunk);
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    if constexpr (A == Algo::Sgd) sgd_elem(d, i, k);
    else if constexpr (A == Algo::Adam) adam_elem(d, i, k);
    else if constexpr (A == Algo::Rmsprop) rmsprop_elem(d, i, k);
    else adagrad_elem(d, i, k);
  }
}

// ---- host side

void check_list(const std::vector<Tensor>& v, const std::vector<Tensor>& params, int dev, const char* op,
                const char* name) {
  if (v.empty()) return;
  FLB_CHECK(v.size() == params.size(), ValueError, op, ": ", name, " has ", v.size(), " entries for ",
            params.size(), " params");
  for (size_t k = 0; k < v.size(); ++k) {
    check_on_device(v[k], dev, op, name);
    FLB_CHECK(v[k].is_contiguous() && v[k].numel() == params[k].numel() && v[k].dtype == params[k].dtype,
              ValueError, op, ": ", name, "[", k, "] must be contiguous with the parameter's size and dtype");
  }
}

// Uploads the tables and launches one kernel over every chunk of every parameter.
template <Algo A, class T>
void launch(const std::vector<TensorDesc<T>>& descs, const Consts<T>& k, int dev, const char* op) {
  std::vector<ChunkDesc> chunks;
  for (size_t t = 0; t < descs.size(); ++t)
    for (int64_t s = 0; s < descs[t].n; s += kChunk) chunks.push_back(ChunkDesc{(int64_t)t, s});
  if (chunks.empty()) return;
  FLB_CHECK(chunks.size() <= 0x7fffffffu, NotImplementedError, op, ": too many elements for one launch");
  const size_t dbytes = descs.size() * sizeof(TensorDesc<T>);
  const size_t dpad = (dbytes + 15) & ~size_t(15);
  const size_t cbytes = chunks.size() * sizeof(ChunkDesc);
  std::vector<unsigned char> host(dpad + cbytes);
  std::memcpy(host.data(), descs.data(), dbytes);
  std::memcpy(host.data() + dpad, chunks.data(), cbytes);
  DeviceGuard g(dev);
  TempBuffer buf(host.size(), dev);
  memcpy_h2d(buf.get<unsigned char>(), host.data(), host.size(), dev);
  const auto* dd = reinterpret_cast<const TensorDesc<T>*>(buf.get<unsigned char>());
  const auto* cd = reinterpret_cast<const ChunkDesc*>(buf.get<unsigned char>() + dpad);
  multi_tensor_kernel<A, T><<<(unsigned)chunks.size(), kOptBlock, 0, stream(dev)>>>(dd, cd, k);
  FLB_CUDA_CHECK_LAUNCH("multi_tensor_kernel", dev);
}

int list_device(const std::vector<Tensor>& params, const char* op) {
  FLB_CHECK(params[0].device().is_cuda(), RuntimeError, op, ": expected CUDA tensors, got ",
            params[0].device().str());
  const int dev = params[0].device().index;
  for (size_t k = 0; k < params.size(); ++k) {
    check_on_device(params[k], dev, op, "params");
    FLB_CHECK(params[k].is_contiguous() && params[k].dtype == params[0].dtype, ValueError, op, ": params[", k,
              "] must be contiguous and of one dtype");
  }
  return dev;
}

template <class T>
void lerp_consts(double w, T& wt, T& wm1, bool& small) {
  small = std::abs(w) < 0.5;
  wt = (T)w;
  wm1 = (T)w - T(1);
}

template <class T>
void sgd_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
              const std::vector<char>& first, const SgdOptions& o, int dev) {
  Consts<T> k{};
  k.wd = (T)o.weight_decay;
  k.mom = (T)o.momentum;
  k.damp1 = (T)(1.0 - o.dampening);
  k.neg_lr = (T)(-o.lr);
  k.use_wd = o.weight_decay != 0;
  k.use_mom = o.momentum != 0;
  k.nesterov = o.nesterov;
  k.maximize = o.maximize;
  std::vector<TensorDesc<T>> d(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    d[i] = TensorDesc<T>{params[i].data<T>(), grads[i].data<T>(), k.use_mom ? bufs[i].data<T>() : nullptr,
                         nullptr, nullptr, params[i].numel(), T(0), T(0), (k.use_mom && first[i]) ? 1 : 0};
  launch<Algo::Sgd, T>(d, k, dev, "fused_sgd_");
}

template <class T>
void adam_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& m1,
               const std::vector<Tensor>& m2, const std::vector<Tensor>& mmax, const std::vector<double>& steps,
               const AdamOptions& o, int dev) {
  Consts<T> k{};
  lerp_consts<T>(1.0 - o.beta1, k.w1, k.w1m1, k.small);
  k.beta2 = (T)o.beta2;
  k.omb2 = (T)(1.0 - o.beta2);
  k.eps = (T)o.eps;
  k.wd = (T)o.weight_decay;
  k.decay = (T)(1.0 - o.lr * o.weight_decay);
  k.use_wd = o.weight_decay != 0;
  k.decoupled = o.decoupled;
  k.amsgrad = o.amsgrad;
  k.maximize = o.maximize;
  std::vector<TensorDesc<T>> d(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const double bc1 = 1.0 - std::pow(o.beta1, steps[i]);
    const double bc2 = 1.0 - std::pow(o.beta2, steps[i]);
    d[i] = TensorDesc<T>{params[i].data<T>(), grads[i].data<T>(), m1[i].data<T>(), m2[i].data<T>(),
                         o.amsgrad ? mmax[i].data<T>() : nullptr, params[i].numel(), (T)(-(o.lr / bc1)),
                         (T)std::pow(bc2, 0.5), 0};
  }
  launch<Algo::Adam, T>(d, k, dev, o.decoupled ? "fused_adamw_" : "fused_adam_");
}

template <class T>
void rmsprop_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sq,
                  const std::vector<Tensor>& ga, const std::vector<Tensor>& bufs, const RmspropOptions& o, int dev) {
  Consts<T> k{};
  k.alpha = (T)o.alpha;
  k.oma = (T)(1.0 - o.alpha);
  k.eps = (T)o.eps;
  k.wd = (T)o.weight_decay;
  k.mom = (T)o.momentum;
  k.neg_lr = (T)(-o.lr);
  lerp_consts<T>(1.0 - o.alpha, k.wl, k.wlm1, k.small);
  k.use_wd = o.weight_decay != 0;
  k.centered = o.centered;
  k.use_mom = o.momentum > 0;
  k.maximize = o.maximize;
  std::vector<TensorDesc<T>> d(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    d[i] = TensorDesc<T>{params[i].data<T>(), grads[i].data<T>(), sq[i].data<T>(),
                         k.centered ? ga[i].data<T>() : nullptr, k.use_mom ? bufs[i].data<T>() : nullptr,
                         params[i].numel(), T(0), T(0), 0};
  launch<Algo::Rmsprop, T>(d, k, dev, "fused_rmsprop_");
}

template <class T>
void adagrad_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sums,
                  const std::vector<double>& steps, const AdagradOptions& o, int dev) {
  Consts<T> k{};
  k.wd = (T)o.weight_decay;
  k.eps = (T)o.eps;
  k.use_wd = o.weight_decay != 0;
  k.maximize = o.maximize;
  std::vector<TensorDesc<T>> d(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    d[i] = TensorDesc<T>{params[i].data<T>(), grads[i].data<T>(), sums[i].data<T>(), nullptr, nullptr,
                         params[i].numel(), (T)(-(o.lr / (1.0 + (steps[i] - 1.0) * o.lr_decay))), T(0), 0};
  launch<Algo::Adagrad, T>(d, k, dev, "fused_adagrad_");
}

}  // namespace

void fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
               const std::vector<char>& first_step, const SgdOptions& o) {
  const char* op = "fused_sgd_";
  if (params.empty()) return;
  const int dev = list_device(params, op);
  check_list(grads, params, dev, op, "grads");
  FLB_CHECK(!grads.empty(), ValueError, op, ": grads missing");
  if (o.momentum != 0) {
    check_list(bufs, params, dev, op, "momentum_buffers");
    FLB_CHECK(bufs.size() == params.size() && first_step.size() == params.size(), ValueError, op,
              ": momentum buffers missing");
  }
  FLB_DISPATCH_FLOATING(params[0].dtype, op, [&] { sgd_impl<scalar_t>(params, grads, bufs, first_step, o, dev); });
}

void fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<double>& steps, const AdamOptions& o) {
  const char* op = o.decoupled ? "fused_adamw_" : "fused_adam_";
  if (params.empty()) return;
  const int dev = list_device(params, op);
  check_list(grads, params, dev, op, "grads");
  check_list(exp_avgs, params, dev, op, "exp_avgs");
  check_list(exp_avg_sqs, params, dev, op, "exp_avg_sqs");
  FLB_CHECK(grads.size() == params.size() && exp_avgs.size() == params.size() &&
                exp_avg_sqs.size() == params.size() && steps.size() == params.size(),
            ValueError, op, ": state lists missing");
  if (o.amsgrad) {
    check_list(max_exp_avg_sqs, params, dev, op, "max_exp_avg_sqs");
    FLB_CHECK(max_exp_avg_sqs.size() == params.size(), ValueError, op, ": max_exp_avg_sqs missing");
  }
  FLB_DISPATCH_FLOATING(params[0].dtype, op, [&] {
    adam_impl<scalar_t>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o, dev);
  });
}

void fused_rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                   const std::vector<Tensor>& bufs, const RmspropOptions& o) {
  const char* op = "fused_rmsprop_";
  if (params.empty()) return;
  const int dev = list_device(params, op);
  check_list(grads, params, dev, op, "grads");
  check_list(square_avgs, params, dev, op, "square_avgs");
  FLB_CHECK(grads.size() == params.size() && square_avgs.size() == params.size(), ValueError, op,
            ": state lists missing");
  if (o.centered) {
    check_list(grad_avgs, params, dev, op, "grad_avgs");
    FLB_CHECK(grad_avgs.size() == params.size(), ValueError, op, ": grad_avgs missing");
  }
  if (o.momentum > 0) {
    check_list(bufs, params, dev, op, "momentum_buffers");
    FLB_CHECK(bufs.size() == params.size(), ValueError, op, ": momentum_buffers missing");
  }
  FLB_DISPATCH_FLOATING(params[0].dtype, op,
                        [&] { rmsprop_impl<scalar_t>(params, grads, square_avgs, grad_avgs, bufs, o, dev); });
}

void fused_adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<double>& steps, const AdagradOptions& o) {
  const char* op = "fused_adagrad_";
  if (params.empty()) return;
  const int dev = list_device(params, op);
  check_list(grads, params, dev, op, "grads");
  check_list(state_sums, params, dev, op, "state_sums");
  FLB_CHECK(grads.size() == params.size() && state_sums.size() == params.size() && steps.size() == params.size(),
            ValueError, op, ": state lists missing");
  FLB_DISPATCH_FLOATING(params[0].dtype, op,
                        [&] { adagrad_impl<scalar_t>(params, grads, state_sums, steps, o, dev); });
}

}  // namespace flambeau::cuda
