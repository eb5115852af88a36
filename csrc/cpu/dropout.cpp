// Dropout kernels: out = in * noise, noise = 1/(1-p) (kept) or 0 (dropped), as PyTorch computes
// it (input * (bernoulli(1-p) / (1-p)), so a dropped inf or NaN gives NaN, a dropped -x gives -0).
//
// The mask is never stored. Element i (row-major index of the contiguous tensor) is kept iff
//     philox_uniform_f(philox_word(seed, offset + i)) < (float)(1 - p)
// i.e. exactly `bernoulli_scalar(shape, 1 - p)` at the same stream state, and what the CUDA
// kernel computes for the same (seed, offset). The backward regenerates the mask from the
// (seed, offset) the forward used: the same kernel applied to the gradient. Feature dropout
// (dropout1d/2d/3d) draws one number per feature, feature f at position offset + f.
//
// Philox produces 4 words per 128-bit block (positions 4b..4b+3 come from block b), so the loops
// walk whole blocks, each thread starting on its own chunk of the stream: the result does not
// depend on the thread count. The keep test is done on integers: philox_uniform_f(w) < keep
// exactly when (w >> 8) < thr = ceil(keep * 2^24), and the select is branchless (a data-dependent
// branch mispredicts on every other element at p = 0.5). With AVX2 / AVX-512 the blocks are
// generated 8 / 16 at a time in vector registers (csrc/cpu/simd/dropout_avx2.cpp, _avx512.cpp,
// same bits); the portable loop below does the rest (unaligned heads, tails, older CPUs).
#include <algorithm>
#include <cmath>
#include "core/philox.h"
#include "cpu/capability.h"
#include "cpu/norm_optim_kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/dropout_simd.h"

namespace flambeau::cpu {

namespace {

// ceil(keep * 2^24): the integer threshold equivalent to philox_uniform_f(w) < keep.
inline uint32_t keep_threshold(double p) {
  const float keep = (float)(1.0 - p);
  return (uint32_t)std::ceil((double)keep * 16777216.0);
}

template <class T>
inline T noise_of(uint32_t word, uint32_t thr, T scale) {
  return (T)((word >> 8) < thr) * scale;  // 1 * scale or 0 * scale = +0, without a branch
}

template <class T>
using SimdDrop = int64_t (*)(T*, const T*, int64_t, uint64_t, uint64_t, uint32_t, T);

template <class T>
SimdDrop<T> simd_kernel() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512) return dropout_simd::drop_f32_avx512();
    if (cap == Capability::AVX2) return dropout_simd::drop_f32_avx2();
  } else {
    if (cap == Capability::AVX512) return dropout_simd::drop_f64_avx512();
    if (cap == Capability::AVX2) return dropout_simd::drop_f64_avx2();
  }
  return nullptr;
}

template <class T>
void dropout_impl(T* out, const T* in, int64_t n, double p, uint64_t seed, uint64_t offset) {
  const uint32_t thr = keep_threshold(p);
  const T scale = T(1) / (T)(1.0 - p);
  const SimdDrop<T> simd = simd_kernel<T>();
  parallel_for(n, 16384, [=](int64_t b, int64_t e) {
    int64_t i = b;
    for (; i < e && ((offset + (uint64_t)i) & 3u); ++i)  // up to the next block boundary
      out[i] = in[i] * noise_of<T>(philox_word(seed, offset + (uint64_t)i), thr, scale);
    if (simd) i += simd(out + i, in + i, e - i, seed, offset + (uint64_t)i, thr, scale);
    for (; i + 4 <= e; i += 4) {
      const Philox4 r = philox_block(seed, (offset + (uint64_t)i) >> 2);
      for (int k = 0; k < 4; ++k) out[i + k] = in[i + k] * noise_of<T>(r.v[k], thr, scale);
    }
    for (; i < e; ++i) out[i] = in[i] * noise_of<T>(philox_word(seed, offset + (uint64_t)i), thr, scale);
  });
}

template <class T>
void feature_dropout_impl(T* out, const T* in, int64_t features, int64_t inner, double p, uint64_t seed,
                          uint64_t offset) {
  const uint32_t thr = keep_threshold(p);
  const T scale = T(1) / (T)(1.0 - p);
  parallel_for(features, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, inner)), [=](int64_t b, int64_t e) {
    for (int64_t f = b; f < e; ++f) {
      const T noise = noise_of<T>(philox_word(seed, offset + (uint64_t)f), thr, scale);
      const T* x = in + f * inner;
      T* y = out + f * inner;
      for (int64_t j = 0; j < inner; ++j) y[j] = x[j] * noise;
    }
  });
}

template <class T>
void times_zero(T* out, const T* in, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = in[i] * T(0);
  });
}

}  // namespace

void dropout(const Tensor& out, const Tensor& in, double p, uint64_t seed, uint64_t offset) {
  FLB_DISPATCH_FLOATING(in.dtype, "dropout", [&] {
    if (p >= 1.0) times_zero(out.data<scalar_t>(), in.data<scalar_t>(), in.numel());
    else dropout_impl(out.data<scalar_t>(), in.data<scalar_t>(), in.numel(), p, seed, offset);
  });
}

void feature_dropout(const Tensor& out, const Tensor& in, int64_t features, int64_t inner, double p, uint64_t seed,
                     uint64_t offset) {
  FLB_DISPATCH_FLOATING(in.dtype, "feature_dropout", [&] {
    if (p >= 1.0) times_zero(out.data<scalar_t>(), in.data<scalar_t>(), in.numel());
    else feature_dropout_impl(out.data<scalar_t>(), in.data<scalar_t>(), features, inner, p, seed, offset);
  });
}

}  // namespace flambeau::cpu
