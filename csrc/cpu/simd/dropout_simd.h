// The contract between the dropout driver (csrc/cpu/dropout.cpp) and its SIMD leaf kernels
// (csrc/cpu/simd/dropout_avx2.cpp, dropout_avx512.cpp): plain function pointers only, no inline or
// template code shared with baseline files.
//
// A kernel computes out[i] = in[i] * (keep(i) ? scale : 0) for i < m, where
//   keep(i) = (philox_word(seed, pos0 + i) >> 8) < thr      (the same as philox_uniform_f(w) < keep
//                                                             with thr = ceil(keep * 2^24))
// for the largest m <= n that is a multiple of its group size (64 elements for AVX-512, 32 for
// AVX2), and returns m; the caller does the rest. pos0 must be a multiple of 4 (a block boundary).
// out may alias in.
#pragma once
#include <cstdint>

namespace flambeau::cpu::dropout_simd {

using DropF32 = int64_t (*)(float* out, const float* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr,
                            float scale);
using DropF64 = int64_t (*)(double* out, const double* in, int64_t n, uint64_t seed, uint64_t pos0, uint32_t thr,
                            double scale);

// Philox blocks block0 .. block0 + m - 1 of `seed` written word by word in stream order
// (words[4j + w] = word w of block block0 + j, as philox_block), for the largest m <= nblocks that is
// a multiple of the leaf's lane count (8 AVX2, 16 AVX-512); returns m. For rand/randn/... (cpu/random.cpp).
using PhiloxBlocksFn = int64_t (*)(uint32_t* words, uint64_t seed, uint64_t block0, int64_t nblocks);
PhiloxBlocksFn philox_blocks_avx2();
PhiloxBlocksFn philox_blocks_avx512();

DropF32 drop_f32_avx2();
DropF64 drop_f64_avx2();
DropF32 drop_f32_avx512();
DropF64 drop_f64_avx512();

}  // namespace flambeau::cpu::dropout_simd
