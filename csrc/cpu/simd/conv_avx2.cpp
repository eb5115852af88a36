// AVX2 packer for the implicit-GEMM convolution (contract in conv_simd.h, caller csrc/cpu/conv.cpp).
// As conv_avx512.cpp with ymm registers: NR = 16 floats / 8 doubles = two ymm; runs that do not fill
// whole vectors use vmaskmov loads (masked-off lanes never fault) and store_first.
//
// ODR: everything is in an anonymous namespace and uses only intrinsics (see simd.h).
#include <immintrin.h>

#include "cpu/simd/conv_simd.h"

namespace flambeau::cpu::conv_simd {
namespace {

#include "cpu/simd/avx2_store_first.inc"

struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int VL = 8;
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_store_ps(p, v); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V zero() { return _mm256_setzero_ps(); }
  static __m256i mask(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left > VL ? VL : left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V mloadu(__m256i m, const T* p) { return _mm256_maskload_ps(p, m); }
  static void storen(T* p, V v, int64_t n) { store_first(p, v, n); }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int VL = 4;
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_store_pd(p, v); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V zero() { return _mm256_setzero_pd(); }
  static __m256i mask(int64_t left) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(left > VL ? VL : left), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V mloadu(__m256i m, const T* p) { return _mm256_maskload_pd(p, m); }
  static void storen(T* p, V v, int64_t n) { store_first(p, v, n); }
};

template <class S>
void pack_runs(const typename S::T* src, const int64_t* off, int64_t kc, const PixelRun* runs, int64_t nruns,
               int64_t n, int64_t nr, typename S::T* dst) {
  using T = typename S::T;
  constexpr int VL = S::VL;
  if (nruns == 1 && runs[0].dst == 0 && runs[0].len == nr && nr == 2 * VL) {
    const T* s = src + runs[0].base;
    for (int64_t k = 0; k < kc; ++k) {
      const T* r = s + off[k];
      const auto a = S::loadu(r), b = S::loadu(r + VL);
      S::store(dst + k * nr, a);
      S::store(dst + k * nr + VL, b);
    }
    return;
  }
  // A whole micro-panel (as conv_avx512.cpp's register path decides: nr is NR and either n < nr or the
  // runs cover all nr columns) belongs to this call alone, row by row in order: a run's last partial
  // vector may then be stored whole, with the masked load's zeros past the run, when it stays inside
  // the row (the next run rewrites those columns, or they are the zero columns [n, nr)). Otherwise
  // (nr used as a row pitch, several images side by side) only the runs' columns may be written.
  int64_t covered = 0;
  for (int64_t q = 0; q < nruns; ++q) covered += runs[q].len;
  const bool whole = nr == 2 * VL && (n < nr || covered == nr);
  if (n < nr)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < nr; j += VL) S::store(dst + k * nr + j, S::zero());
  // Run by run, the rows inner, with the run's fields, its tail mask and store choice in locals: row
  // by row over the runs, every store (through T*, and -fno-strict-aliasing) made the loop reload
  // the runs and rebuild the mask, and the packer took 15% of the 32->64 14x14 forward. Columns of
  // a later run that an earlier run's whole tail vector covered are rewritten by that later run, as
  // in row order.
  for (int64_t q = 0; q < nruns; ++q) {
    const int64_t len = runs[q].len, nfull = len / VL * VL, rem = len - nfull;
    const T* const s0 = src + runs[q].base;
    T* const d0 = dst + runs[q].dst;
    const int64_t pitch = nr;
    const int64_t* const offs = off;
    if (rem == 0) {
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = s0 + offs[k];
        T* d = d0 + k * pitch;
        for (int64_t j = 0; j < nfull; j += VL) S::storeu(d + j, S::loadu(s + j));
      }
      continue;
    }
    // Whole vectors plainly, the last partial one by store_first (a masked store is microcoded on
    // AMD: lenet-sized runs of 8 took 3x the micro-kernel's time with every vector masked).
    const auto m = S::mask(rem);
    if (whole && runs[q].dst + nfull + VL <= nr) {
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = s0 + offs[k];
        T* d = d0 + k * pitch;
        for (int64_t j = 0; j < nfull; j += VL) S::storeu(d + j, S::loadu(s + j));
        S::storeu(d + nfull, S::mloadu(m, s + nfull));
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = s0 + offs[k];
        T* d = d0 + k * pitch;
        for (int64_t j = 0; j < nfull; j += VL) S::storeu(d + j, S::loadu(s + j));
        S::storen(d + nfull, S::mloadu(m, s + nfull), rem);
      }
    }
  }
}

void pack_f32(const float* src, const int64_t* off, int64_t kc, const PixelRun* runs, int64_t nruns, int64_t n,
              int64_t nr, float* dst) {
  pack_runs<F32>(src, off, kc, runs, nruns, n, nr, dst);
}

void pack_f64(const double* src, const int64_t* off, int64_t kc, const PixelRun* runs, int64_t nruns, int64_t n,
              int64_t nr, double* dst) {
  pack_runs<F64>(src, off, kc, runs, nruns, n, nr, dst);
}


// Direct single-channel correlation (conv_direct.inc), 32-byte vectors.
namespace f32 {
using Elem = float;
typedef float Vec __attribute__((vector_size(32), aligned(4), may_alias));
constexpr int kLanes = 32 / 4;
#include "cpu/simd/conv_direct.inc"
}  // namespace f32
namespace f64 {
using Elem = double;
typedef double Vec __attribute__((vector_size(32), aligned(8), may_alias));
constexpr int kLanes = 32 / 8;
#include "cpu/simd/conv_direct.inc"
}  // namespace f64

}  // namespace

PackRunsF32 pack_runs_f32_avx2() { return &pack_f32; }
PackRunsF64 pack_runs_f64_avx2() { return &pack_f64; }
TapsRunF32 taps_run_f32_avx2() { return &f32::taps_run_body; }
TapsRunF64 taps_run_f64_avx2() { return &f64::taps_run_body; }
TapDotsF32 tap_dots_f32_avx2() { return &f32::tap_dots_body; }
TapDotsF64 tap_dots_f64_avx2() { return &f64::tap_dots_body; }
TapsRowsF32 taps_rows_f32_avx2() { return &f32::taps_rows_body; }
TapsRowsF64 taps_rows_f64_avx2() { return &f64::taps_rows_body; }
TapDotsRowsF32 tap_dots_rows_f32_avx2() { return &f32::tap_dots_rows_body; }
TapDotsRowsF64 tap_dots_rows_f64_avx2() { return &f64::tap_dots_rows_body; }

}  // namespace flambeau::cpu::conv_simd
