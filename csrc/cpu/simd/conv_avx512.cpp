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
  static V mloadu_merge(V old, M m, const T* p) { return _mm512_mask_loadu_ps(old, m, p); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // Even / odd lanes of the 32 floats (a, b).
  static V evens(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
  }
  static V odds(V a, V b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b);
  }
  static M mask(int64_t left) { return left >= VL ? (M)0xFFFF : left <= 0 ? (M)0 : (M)((1u << left) - 1); }
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
  static V mloadu_merge(V old, M m, const T* p) { return _mm512_mask_loadu_pd(old, m, p); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V evens(V a, V b) { return _mm512_permutex2var_pd(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b); }
  static V odds(V a, V b) { return _mm512_permutex2var_pd(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b); }
  static M mask(int64_t left) { return left >= VL ? (M)0xFF : left <= 0 ? (M)0 : (M)((1u << left) - 1); }
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
  // The register path below stores every column of [0, nr) of each row (zero outside the runs). That
  // is right only for a whole micro-panel: n < nr (columns [n, nr) are to be zeroed anyway) or runs
  // that cover all nr columns. With n == nr and runs covering less, the caller is using nr as a row
  // pitch and fills the rest of the row itself (backward_weight_impl puts several images side by side
  // in one col row, one call per image at dst + i*np): only the runs' columns may be written there,
  // and a whole-vector store would clobber the other images' columns and, for the last image, run
  // past the end of the buffer (heap corruption), besides needing a 64-byte aligned dst.
  int64_t covered = 0;
  for (int64_t q = 0; q < nruns; ++q) covered += runs[q].len;
  if (nr != 2 * VL || nruns > 2 * VL || (n >= nr && covered != nr)) {  // the general loop
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
    return;
  }
  // Several runs (the panel straddles output rows: 8-wide rows put 4 runs in a 32-float panel): each
  // of the row's two vectors is assembled in a register by merge-masked loads, one per run segment
  // in it (lanes outside every run stay zero), then stored whole. Lane j of vector v is panel column
  // v*VL + j, i.e. source element base + (v*VL + j - dst) of the run that holds it.
  using M = typename S::M;
  int64_t seg_off[4 * VL];
  M seg_mask[4 * VL];
  int nseg[2] = {0, 0};
  int ns = 0;
  for (int v = 0; v < 2; ++v) {
    for (int64_t q = 0; q < nruns; ++q) {
      const PixelRun& r = runs[q];
      const int64_t a = r.dst > v * VL ? r.dst : v * VL;
      const int64_t b = r.dst + r.len < (v + 1) * VL ? r.dst + r.len : (v + 1) * VL;
      if (a >= b) continue;
      seg_mask[ns] = (M)(S::mask(b - v * VL) & ~S::mask(a - v * VL));
      seg_off[ns] = r.base - r.dst + v * VL;
      ++ns;
      ++nseg[v];
    }
  }
  const int n0 = nseg[0], n1 = ns;
  for (int64_t k = 0; k < kc; ++k) {
    const T* s = src + off[k];
    auto a = S::zero(), b = S::zero();
    for (int i = 0; i < n0; ++i) a = S::mloadu_merge(a, seg_mask[i], s + seg_off[i]);
    for (int i = n0; i < n1; ++i) b = S::mloadu_merge(b, seg_mask[i], s + seg_off[i]);
    S::store(dst + k * nr, a);
    S::store(dst + k * nr + VL, b);
  }
}

template <class S>
void pad_rows(typename S::T* dst, int64_t wq, const typename S::T* src, int64_t lds, int64_t rows, int64_t jlo,
              int64_t jhi) {
  constexpr int VL = S::VL;
  for (int64_t r = 0; r < rows; ++r) {
    typename S::T* d = dst + r * wq;
    const typename S::T* s = src + r * lds;
    for (int64_t j = 0; j < wq; j += VL) {
      // Lanes j + [0, VL) that lie in [jlo, jhi) (and below wq) are loaded, the rest are zero.
      const auto m = (typename S::M)(S::mask(jhi - j) & ~S::mask(jlo - j));
      const auto keep = S::mask(wq - j);
      S::mstoreu(d + j, keep, S::mloadu(m, s + j));
    }
  }
}

void pad_rows_f32(float* dst, int64_t wq, const float* src, int64_t lds, int64_t rows, int64_t jlo, int64_t jhi) {
  pad_rows<F32>(dst, wq, src, lds, rows, jlo, jhi);
}

void pad_rows_f64(double* dst, int64_t wq, const double* src, int64_t lds, int64_t rows, int64_t jlo,
                  int64_t jhi) {
  pad_rows<F64>(dst, wq, src, lds, rows, jlo, jhi);
}

template <class S>
void add_rows(typename S::T* dst, int64_t ldd, const typename S::T* src, int64_t lds, int64_t rows, int64_t n) {
  constexpr int VL = S::VL;
  for (int64_t r = 0; r < rows; ++r) {
    typename S::T* d = dst + r * ldd;
    const typename S::T* s = src + r * lds;
    for (int64_t j = 0; j < n; j += VL) {
      const auto m = S::mask(n - j);
      S::mstoreu(d + j, m, S::add(S::mloadu(m, d + j), S::mloadu(m, s + j)));
    }
  }
}

void add_rows_f32(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t n) {
  add_rows<F32>(dst, ldd, src, lds, rows, n);
}

void add_rows_f64(double* dst, int64_t ldd, const double* src, int64_t lds, int64_t rows, int64_t n) {
  add_rows<F64>(dst, ldd, src, lds, rows, n);
}

template <class S>
void pad_rows2(typename S::T* dst0, typename S::T* dst1, int64_t wq, const typename S::T* src, int64_t lds,
               int64_t rows, int64_t lo, int64_t hi) {
  constexpr int VL = S::VL;
  for (int64_t r = 0; r < rows; ++r) {
    const typename S::T* s = src + r * lds;
    for (int64_t j = 0; j < wq; j += VL) {
      // Padded columns c = 2j + [0, 2*VL): two masked loads, then deinterleaved.
      const int64_t c = 2 * j;
      const auto ma = (typename S::M)(S::mask(hi - c) & ~S::mask(lo - c));
      const auto mb = (typename S::M)(S::mask(hi - c - VL) & ~S::mask(lo - c - VL));
      const auto a = S::mloadu(ma, s + c), b = S::mloadu(mb, s + c + VL);
      const auto keep = S::mask(wq - j);
      S::mstoreu(dst0 + r * wq + j, keep, S::evens(a, b));
      S::mstoreu(dst1 + r * wq + j, keep, S::odds(a, b));
    }
  }
}

void pad_rows2_f32(float* dst0, float* dst1, int64_t wq, const float* src, int64_t lds, int64_t rows, int64_t lo,
                   int64_t hi) {
  pad_rows2<F32>(dst0, dst1, wq, src, lds, rows, lo, hi);
}

void pad_rows2_f64(double* dst0, double* dst1, int64_t wq, const double* src, int64_t lds, int64_t rows, int64_t lo,
                   int64_t hi) {
  pad_rows2<F64>(dst0, dst1, wq, src, lds, rows, lo, hi);
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
PadRowsF32 pad_rows_f32_avx512() { return &pad_rows_f32; }
AddRowsF32 add_rows_f32_avx512() { return &add_rows_f32; }
AddRowsF64 add_rows_f64_avx512() { return &add_rows_f64; }
PadRowsF64 pad_rows_f64_avx512() { return &pad_rows_f64; }
PadRows2F32 pad_rows2_f32_avx512() { return &pad_rows2_f32; }
PadRows2F64 pad_rows2_f64_avx512() { return &pad_rows2_f64; }
PackRunsF64 pack_runs_f64_avx512() { return &pack_f64; }
TapsRunF32 taps_run_f32_avx512() { return &f32::taps_run_body; }
TapsRunF64 taps_run_f64_avx512() { return &f64::taps_run_body; }
TapDotsF32 tap_dots_f32_avx512() { return &f32::tap_dots_body; }
TapDotsF64 tap_dots_f64_avx512() { return &f64::tap_dots_body; }
TapsRowsF32 taps_rows_f32_avx512() { return &f32::taps_rows_body; }
TapsRowsF64 taps_rows_f64_avx512() { return &f64::taps_rows_body; }
TapDotsRowsF32 tap_dots_rows_f32_avx512() { return &f32::tap_dots_rows_body; }
TapDotsRowsF64 tap_dots_rows_f64_avx512() { return &f64::tap_dots_rows_body; }

}  // namespace flambeau::cpu::conv_simd
