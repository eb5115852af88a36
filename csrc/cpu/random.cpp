// Creation kernels and Philox draws. Element i of a draw at stream offset `off` uses stream
// position off + i (core/philox.h), independent of threads and devices, so the CUDA kernels
// reproduce these numbers exactly.
#include <cmath>
#include "core/philox.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

namespace {
// Contiguous output assumed (the dispatch layer allocates it).
template <class F>
void generate(const Tensor& out, F&& f) {
  FLB_DISPATCH_ALL(out.dtype, "random", [&] {
    scalar_t* o = out.data<scalar_t>();
    parallel_for(out.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<scalar_t>(f(i));
    });
  });
}
}  // namespace

void arange(const Tensor& out, double start, double step) {
  if (out.dtype == DType::Int64) {
    int64_t s = (int64_t)start, st = (int64_t)step;
    int64_t* o = out.data<int64_t>();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = s + i * st;
    return;
  }
  generate(out, [=](int64_t i) { return start + (double)i * step; });
}

void linspace(const Tensor& out, double start, double end) {
  int64_t n = out.numel();
  double step = n > 1 ? (end - start) / (double)(n - 1) : 0.0;
  // As PyTorch: the first half counts up from start, the second half down from end (symmetric error).
  int64_t half = n / 2;
  generate(out, [=](int64_t i) { return (i < half || n == 1) ? start + step * (double)i : end - step * (double)(n - 1 - i); });
}

void rand(const Tensor& out, uint64_t seed, uint64_t offset, double low, double high) {
  const double span = high - low;
  if (out.dtype == DType::Float32) {
    float* o = out.data<float>();
    float l = (float)low, s = (float)span;
    parallel_for(out.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = philox_uniform_f(philox_word(seed, offset + i)) * s + l;
    });
    return;
  }
  generate(out, [=](int64_t i) {
    return (double)philox_uniform_f(philox_word(seed, offset + i)) * span + low;
  });
}

void randn(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  generate(out, [=](int64_t i) { return philox_normal(seed, offset + i) * std + mean; });
}

void randint(const Tensor& out, uint64_t seed, uint64_t offset, int64_t low, int64_t high) {
  uint64_t range = (uint64_t)(high - low);
  generate(out, [=](int64_t i) -> int64_t {
    uint64_t w = philox_word(seed, offset + i);
    if (range <= 0xFFFFFFFFull) return low + (int64_t)((w * range) >> 32);
    uint64_t w2 = ((uint64_t)philox_word(seed ^ 0x9E3779B97F4A7C15ull, offset + i) << 32) | w;
    return low + (int64_t)(w2 % range);
  });
}

void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset) {
  FLB_DISPATCH_FLOATING(p.dtype, "bernoulli", [&] {
    const scalar_t* pp = p.data<scalar_t>();
    generate(out, [=](int64_t i) { return philox_uniform_f(philox_word(seed, offset + i)) < (float)pp[i] ? 1 : 0; });
  });
}

void bernoulli_scalar(const Tensor& out, double p, uint64_t seed, uint64_t offset) {
  const float pf = (float)p;
  generate(out, [=](int64_t i) { return philox_uniform_f(philox_word(seed, offset + i)) < pf ? 1 : 0; });
}

}  // namespace flambeau::cpu
