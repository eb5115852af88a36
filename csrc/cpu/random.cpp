// Creation kernels and Philox draws. Element i of a draw at stream offset `off` uses stream
// position off + i (core/philox.h), independent of threads and devices, so the CUDA kernels
// reproduce these numbers (uniform draws exactly; normals to within an ulp of float64: the vector
// log/sin/cos here and CUDA's are not libm's, and a float32 result is the same float but for a
// rounding boundary).
#include <algorithm>
#include <cmath>
#include "core/philox.h"
#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/act_simd.h"
#include "cpu/simd/dropout_simd.h"
#include "cpu/simd/range_simd.h"

namespace flambeau::cpu {

namespace {
// Contiguous output assumed (the dispatch layer allocates it).
// (A local restrict pointer and f by value: with the captures read through references, the
// -fno-strict-aliasing build reloaded them after every store, and arange(1M) ran at 0.2x PyTorch.)
template <class F>
void generate(const Tensor& out, F f) {
  FLB_DISPATCH_ALL(out.dtype, "random", [&] {
    scalar_t* const o0 = out.data<scalar_t>();
    parallel_for(out.numel(), 4096, [o0, f](int64_t b, int64_t e) {
      scalar_t* __restrict o = o0;
      const F g = f;
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<scalar_t>(g(i));
    });
  });
}
}  // namespace

namespace {
#include "cpu/simd/range_body.h"

// The length of PyTorch's at::parallel_for chunks over an n-element range kernel (grain 32768, then
// as many chunks as threads, OpenMP's team being the thread count flambeau.set_num_threads sets):
// arange restarts its vector blocks at each (range_body.h).
int64_t torch_chunk(int64_t n) {
  const int64_t threads = max_threads();
  if (n <= kGrain || threads <= 1) return n;
  const int64_t nt = std::min<int64_t>(threads, (n + kGrain - 1) / kGrain);
  return (n + nt - 1) / nt;
}

range_simd::Kernels range_kernels() {
  if (capability() != Capability::Default) return range_simd::kernels_avx2();
  return {&arange_fill<false, float>, &arange_fill<false, double>, &linspace_fill<false, float>,
          &linspace_fill<false, double>};
}
}  // namespace

void arange(const Tensor& out, double start, double step) {
  const int64_t n = out.numel();
  if (out.dtype == DType::Int64) {
    const int64_t s = (int64_t)start, st = (int64_t)step;
    generate(out, [s, st](int64_t i) { return s + i * st; });
    return;
  }
  if (out.dtype == DType::Float32 || out.dtype == DType::Float64) {
    const range_simd::Kernels k = range_kernels();
    const int64_t chunk = torch_chunk(n);
    const bool f32 = out.dtype == DType::Float32;
    void* const o = f32 ? (void*)out.data<float>() : (void*)out.data<double>();
    parallel_for(n, 4096, [=](int64_t b, int64_t e) {
      if (f32) k.arange_f32((float*)o, b, e, n, chunk, start, step);
      else k.arange_f64((double*)o, b, e, n, chunk, start, step);
    });
    return;
  }
  generate(out, [start, step](int64_t i) { return start + (double)i * step; });
}

void linspace(const Tensor& out, double start, double end) {
  const int64_t n = out.numel();
  // PyTorch fills one step with start (its kernel would divide by zero steps - 1).
  if (n == 1) {
    generate(out, [start](int64_t) { return start; });
    return;
  }
  // As PyTorch: the first half counts up from start, the second half down from end (symmetric
  // error), each element one multiply-add, fused where PyTorch's kernel is (range_body.h).
  const int64_t half = n / 2;
  const bool fused = capability() != Capability::Default;
  if (out.dtype == DType::Float32 || out.dtype == DType::Float64) {
    const range_simd::Kernels k = range_kernels();
    if (out.dtype == DType::Float32) {
      float* const o = out.data<float>();
      const float s = (float)start, en = (float)end, step = (en - s) / (float)(n - 1);
      parallel_for(n, 4096, [=](int64_t b, int64_t e) { k.linspace_f32(o, b, e, n, s, en, step); });
    } else {
      double* const o = out.data<double>();
      const double step = (end - start) / (double)(n - 1);
      parallel_for(n, 4096, [=](int64_t b, int64_t e) { k.linspace_f64(o, b, e, n, start, end, step); });
    }
    return;
  }
  // Integer results (int64; the narrow ones convert from it) truncate, so the last bit of the double
  // matters: two roundings made linspace(213, -171, 16) give -43 where PyTorch's AVX2 build gives -42.
  const double step = (end - start) / (double)(n - 1);
  generate(out, [=](int64_t i) {
    return i < half ? (fused ? std::fma(step, (double)i, start) : step * (double)i + start)
                    : (fused ? std::fma(-step, (double)(n - 1 - i), end) : end - step * (double)(n - 1 - i));
  });
}

// PyTorch's logspace (aten/src/ATen/native/RangeFactories.cpp, baseline code, no FMA): start and end
// rounded to the dtype, step = (end - start) / (steps - 1) in double, element i = pow(base, start +
// step * i) for the first half and pow(base, end - step * (steps - 1 - i)) after, in double (glibc's
// pow, the same library PyTorch calls), stored in the dtype; one step is pow(base, start) unrounded.
void logspace(const Tensor& out, double start, double end, double base) {
  const int64_t n = out.numel();
  auto fill = [&](auto* o, auto s, auto e) {
    if (n == 1) {
      o[0] = (decltype(s))std::pow(base, start);
      return;
    }
    const double step = (double)(e - s) / (double)(n - 1);
    const int64_t half = n / 2;
    parallel_for(n, 2048, [=](int64_t b, int64_t en) {
      for (int64_t i = b; i < en; ++i)
        o[i] = (decltype(s))(i < half ? std::pow(base, (double)s + step * (double)i)
                                      : std::pow(base, (double)e - step * (double)(n - 1 - i)));
    });
  };
  if (out.dtype == DType::Float32) fill(out.data<float>(), (float)start, (float)end);
  else fill(out.data<double>(), start, end);
}

namespace {
// Draws in fixed chunks of kChunkBlocks Philox blocks (4 stream positions each), in parallel: each
// chunk's words come from the SIMD leaf (8 or 16 blocks per step) when the CPU has one, the rest from
// philox_block, and f(words, first position of the chunk, [p0, p1) wanted) writes the outputs. One
// block per element before (every word recomputed its whole block) made rand 0.49x PyTorch.
constexpr int64_t kChunkBlocks = 256;

template <class F>
void by_chunks(int64_t n, uint64_t seed, uint64_t offset, F&& f) {
  if (n <= 0) return;
  const uint64_t b0 = offset / 4, b1 = (offset + (uint64_t)n + 3) / 4;
  const int64_t nchunks = (int64_t)((b1 - b0 + kChunkBlocks - 1) / kChunkBlocks);
  const Capability cap = capability();
  const dropout_simd::PhiloxBlocksFn leaf = cap == Capability::AVX512 ? dropout_simd::philox_blocks_avx512()
                                            : cap == Capability::AVX2 ? dropout_simd::philox_blocks_avx2()
                                                                      : nullptr;
  parallel_for(nchunks, std::max<int64_t>(1, 4096 / (4 * kChunkBlocks)), [&](int64_t c0, int64_t c1) {
    alignas(64) uint32_t words[4 * kChunkBlocks];
    for (int64_t c = c0; c < c1; ++c) {
      const uint64_t cb = b0 + (uint64_t)c * kChunkBlocks;
      const int64_t nb = (int64_t)std::min<uint64_t>(kChunkBlocks, b1 - cb);
      int64_t done = leaf ? leaf(words, seed, cb, nb) : 0;
      for (; done < nb; ++done) {
        const Philox4 blk = philox_block(seed, cb + (uint64_t)done);
        for (int w = 0; w < 4; ++w) words[4 * done + w] = blk.v[w];
      }
      const uint64_t first = cb * 4;  // stream position of words[0]
      const uint64_t p0 = std::max<uint64_t>(first, offset), p1 = std::min<uint64_t>(first + 4 * (uint64_t)nb, offset + (uint64_t)n);
      f(words, first, p0, p1);
    }
  });
}

// out[i] = f(word at stream position offset + i, i), any output dtype.
template <class F>
void from_words(const Tensor& out, uint64_t seed, uint64_t offset, F&& f) {
  FLB_DISPATCH_ALL(out.dtype, "random", [&] {
    scalar_t* o = out.data<scalar_t>();
    by_chunks(out.numel(), seed, offset, [&](const uint32_t* w, uint64_t first, uint64_t p0, uint64_t p1) {
      for (uint64_t p = p0; p < p1; ++p) o[p - offset] = static_cast<scalar_t>(f(w[p - first], (int64_t)(p - offset)));
    });
  });
}
}  // namespace

void rand(const Tensor& out, uint64_t seed, uint64_t offset, double low, double high) {
  const double span = high - low;
  if (out.dtype == DType::Float32) {  // in float, as the CUDA kernel
    const float l = (float)low, s = (float)span;
    from_words(out, seed, offset, [l, s](uint32_t w, int64_t) { return philox_uniform_f(w) * s + l; });
    return;
  }
  from_words(out, seed, offset, [span, low](uint32_t w, int64_t) { return (double)philox_uniform_f(w) * span + low; });
}

// Normals: Box-Muller on the chunk's word pairs, in the float64 SIMD leaf when the CPU has one (a
// pair's log, sqrt, sin and cos once, where philox_normal recomputes them per element: 0.19x
// PyTorch), else philox_normal's libm calls per pair.
void randn(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  if (out.dtype != DType::Float32 && out.dtype != DType::Float64) {
    generate(out, [=](int64_t i) { return philox_normal(seed, offset + i) * std + mean; });
    return;
  }
  const Capability cap = capability();
  const simd::BoxMullerFn bm = cap == Capability::AVX512 ? simd::box_muller_avx512()
                               : cap == Capability::AVX2 ? simd::box_muller_avx2()
                                                         : nullptr;
  by_chunks(out.numel(), seed, offset, [&](const uint32_t* w, uint64_t first, uint64_t p0, uint64_t p1) {
    alignas(64) double z[4 * kChunkBlocks];
    const int64_t npairs = (int64_t)((p1 - first + 1) / 2);  // the pairs up to the last wanted position
    if (bm) {
      bm(z, w, npairs);
    } else {
      for (int64_t j = 0; j < npairs; ++j) {
        z[2 * j] = philox_normal(seed, first + 2 * (uint64_t)j);
        z[2 * j + 1] = philox_normal(seed, first + 2 * (uint64_t)j + 1);
      }
    }
    if (out.dtype == DType::Float32) {
      float* o = out.data<float>();
      for (uint64_t p = p0; p < p1; ++p) o[p - offset] = (float)(z[p - first] * std + mean);
    } else {
      double* o = out.data<double>();
      for (uint64_t p = p0; p < p1; ++p) o[p - offset] = z[p - first] * std + mean;
    }
  });
}

void randint(const Tensor& out, uint64_t seed, uint64_t offset, int64_t low, int64_t high) {
  uint64_t range = (uint64_t)(high - low);
  if (range <= 0xFFFFFFFFull) {
    from_words(out, seed, offset, [=](uint32_t w, int64_t) -> int64_t { return low + (int64_t)(((uint64_t)w * range) >> 32); });
    return;
  }
  generate(out, [=](int64_t i) -> int64_t {
    uint64_t w = philox_word(seed, offset + i);
    uint64_t w2 = ((uint64_t)philox_word(seed ^ 0x9E3779B97F4A7C15ull, offset + i) << 32) | w;
    return low + (int64_t)(w2 % range);
  });
}

void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset) {
  FLB_DISPATCH_FLOATING(p.dtype, "bernoulli", [&] {
    const scalar_t* pp = p.data<scalar_t>();
    from_words(out, seed, offset, [=](uint32_t w, int64_t i) { return philox_uniform_f(w) < (float)pp[i] ? 1 : 0; });
  });
}

void bernoulli_scalar(const Tensor& out, double p, uint64_t seed, uint64_t offset) {
  const float pf = (float)p;
  from_words(out, seed, offset, [=](uint32_t w, int64_t) { return philox_uniform_f(w) < pf ? 1 : 0; });
}

}  // namespace flambeau::cpu
