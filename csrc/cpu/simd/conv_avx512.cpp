// AVX-512 packer for the implicit-GEMM convolution (contract in conv_simd.h, caller csrc/cpu/conv.cpp).
//
// A B micro-panel row is NR = 32 floats / 16 doubles = two zmm. The common case (the NR pixels of the
// panel lie in one output row) is two unaligned loads and two aligned stores per row of col(x);
// panels that straddle output rows, or are cut short at the end of the image, use masked loads and
// stores per run (masked-off lanes never fault, so nothing past a run is touched).
//
// ODR: everything is in an anonymous namespace and uses only intrinsics (see simd.h).
#include <immintrin.h>

#include "cpu/simd/conv_simd.h"

namespace flambeau::cpu::conv_simd {
namespace {

struct F32 {
  using T = float;
  using V = __m512;
  using M = __mmask16;
  static constexpr int VL = 16;
  static V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, V v) { _mm512_store_ps(p, v); }
  static V zero() { return _mm512_setzero_ps(); }
  static V mloadu(M m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void mstoreu(T* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static M mask(int64_t left) { return left >= VL ? (M)0xFFFF : (M)((1u << left) - 1); }
};

struct F64 {
  using T = double;
  using V = __m512d;
  using M = __mmask8;
  static constexpr int VL = 8;
  static V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, V v) { _mm512_store_pd(p, v); }
  static V zero() { return _mm512_setzero_pd(); }
  static V mloadu(M m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void mstoreu(T* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static M mask(int64_t left) { return left >= VL ? (M)0xFF : (M)((1u << left) - 1); }
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
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * nr;
    const T* s = src + off[k];
    if (n < nr)
      for (int64_t j = 0; j < nr; j += VL) S::store(d + j, S::zero());
    for (int64_t q = 0; q < nruns; ++q) {
      const PixelRun& r = runs[q];
      for (int64_t j = 0; j < r.len; j += VL) {
        const auto m = S::mask(r.len - j);
        S::mstoreu(d + r.dst + j, m, S::mloadu(m, s + r.base + j));
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


// Direct single-channel correlation (conv_direct.inc), 64-byte vectors.
namespace f32 {
using Elem = float;
typedef float Vec __attribute__((vector_size(64), aligned(4), may_alias));
constexpr int kLanes = 64 / 4;
#include "cpu/simd/conv_direct.inc"
}  // namespace f32
namespace f64 {
using Elem = double;
typedef double Vec __attribute__((vector_size(64), aligned(8), may_alias));
constexpr int kLanes = 64 / 8;
#include "cpu/simd/conv_direct.inc"
}  // namespace f64

}  // namespace

PackRunsF32 pack_runs_f32_avx512() { return &pack_f32; }
PackRunsF64 pack_runs_f64_avx512() { return &pack_f64; }
TapsRunF32 taps_run_f32_avx512() { return &f32::taps_run_body; }
TapsRunF64 taps_run_f64_avx512() { return &f64::taps_run_body; }
TapDotsF32 tap_dots_f32_avx512() { return &f32::tap_dots_body; }
TapDotsF64 tap_dots_f64_avx512() { return &f64::tap_dots_body; }

}  // namespace flambeau::cpu::conv_simd
