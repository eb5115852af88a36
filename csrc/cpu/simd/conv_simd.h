// Packing for the implicit-GEMM convolution (csrc/cpu/conv.cpp), in the SIMD leaf files
// conv_avx2.cpp and conv_avx512.cpp. Only plain types and function pointers cross the boundary (see
// simd.h for why).
#pragma once
#include <cstdint>

namespace flambeau::cpu::conv_simd {

// A contiguous stretch of one micro-panel's pixels: panel columns [dst, dst + len) read source
// elements base + [0, len) of each row.
struct PixelRun {
  int32_t dst, len;
  int64_t base;
};

// Packs a GEMM B micro-panel of kc rows and nr columns straight from the convolution's source:
//   dst[k*nr + run.dst + j] = src[off[k] + run.base + j]   (j < run.len, every run, k < kc)
// and zeroes columns [n, nr) of every row. dst is 64-byte aligned; nr is the kernel set's NR (two
// vectors of the ISA); the runs cover columns [0, n). Also used with n == nr as a row pitch and runs
// covering only part of each row (several images side by side, one call each, dst not necessarily
// aligned): then only the runs' columns are written.
using PackRunsF32 = void (*)(const float* src, const int64_t* off, int64_t kc, const PixelRun* runs, int64_t nruns,
                             int64_t n, int64_t nr, float* dst);
using PackRunsF64 = void (*)(const double* src, const int64_t* off, int64_t kc, const PixelRun* runs,
                             int64_t nruns, int64_t n, int64_t nr, double* dst);

// Direct single-channel correlation (depthwise / 1-channel convolutions; bodies in conv_direct.inc):
//   taps_run: out[j] = sum_{t < ntaps} w[t] * src[j + off[t]] for j < n (reads up to one block of
//             8 vectors past the end of the run: callers leave slack);
//   tap_dots: acc[t] += sum_{j < n} a[j] * b[j + off[t]] for t < ntaps;
//   taps_rows / tap_dots_rows: the same row by row, rows with their own pitches (conv_direct.inc).
using TapsRunF32 = void (*)(float* out, const float* src, const float* w, const int64_t* off, int64_t ntaps, int64_t n);
using TapsRunF64 = void (*)(double* out, const double* src, const double* w, const int64_t* off, int64_t ntaps,
                            int64_t n);
using TapDotsF32 = void (*)(const float* a, const float* b, const int64_t* off, int64_t ntaps, int64_t n, double* acc);
using TapDotsF64 = void (*)(const double* a, const double* b, const int64_t* off, int64_t ntaps, int64_t n,
                            double* acc);

using TapsRowsF32 = void (*)(float* out, int64_t ldo, const float* src, int64_t lds, const float* w, const int64_t* off,
                             int64_t ntaps, int64_t rows, int64_t cols, int accumulate, float start);
using TapsRowsF64 = void (*)(double* out, int64_t ldo, const double* src, int64_t lds, const double* w,
                             const int64_t* off, int64_t ntaps, int64_t rows, int64_t cols, int accumulate,
                             double start);
using TapDotsRowsF32 = void (*)(const float* a, int64_t lda, const float* b, int64_t ldb, const int64_t* off,
                                int64_t ntaps, int64_t rows, int64_t cols, double* acc);
using TapDotsRowsF64 = void (*)(const double* a, int64_t lda, const double* b, int64_t ldb, const int64_t* off,
                                int64_t ntaps, int64_t rows, int64_t cols, double* acc);

// Rows of a zero-padded copy (the implicit GEMM's source, stride 1): for r < rows, j < wq,
//   dst[r*wq + j] = src[r*lds + j] if jlo <= j < jhi, else 0
// (src is never read outside [jlo, jhi) of a row). AVX-512 only (masked loads); null elsewhere.
using PadRowsF32 = void (*)(float* dst, int64_t wq, const float* src, int64_t lds, int64_t rows, int64_t jlo,
                            int64_t jhi);
using PadRowsF64 = void (*)(double* dst, int64_t wq, const double* src, int64_t lds, int64_t rows, int64_t jlo,
                            int64_t jhi);
// The same for stride 2, split into the two column phases: with the padded row
//   prow[c] = src[r*lds + c] if lo <= c < hi, else 0,
// dst0[r*wq + j] = prow[2j] and dst1[r*wq + j] = prow[2j + 1] for j < wq.
using PadRows2F32 = void (*)(float* dst0, float* dst1, int64_t wq, const float* src, int64_t lds, int64_t rows,
                             int64_t lo, int64_t hi);
using PadRows2F64 = void (*)(double* dst0, double* dst1, int64_t wq, const double* src, int64_t lds, int64_t rows,
                             int64_t lo, int64_t hi);
// dst[r*ldd + j] += src[r*lds + j] for r < rows, j < n (col2im's row blocks). AVX-512 only.
using AddRowsF32 = void (*)(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t n);
using AddRowsF64 = void (*)(double* dst, int64_t ldd, const double* src, int64_t lds, int64_t rows, int64_t n);
AddRowsF32 add_rows_f32_avx512();
AddRowsF64 add_rows_f64_avx512();
PadRowsF32 pad_rows_f32_avx512();
PadRowsF64 pad_rows_f64_avx512();
PadRows2F32 pad_rows2_f32_avx512();
PadRows2F64 pad_rows2_f64_avx512();

PackRunsF32 pack_runs_f32_avx512();
PackRunsF64 pack_runs_f64_avx512();
PackRunsF32 pack_runs_f32_avx2();
PackRunsF64 pack_runs_f64_avx2();
TapsRunF32 taps_run_f32_avx512();
TapsRunF64 taps_run_f64_avx512();
TapDotsF32 tap_dots_f32_avx512();
TapDotsF64 tap_dots_f64_avx512();
TapsRunF32 taps_run_f32_avx2();
TapsRunF64 taps_run_f64_avx2();
TapDotsF32 tap_dots_f32_avx2();
TapDotsF64 tap_dots_f64_avx2();
TapsRowsF32 taps_rows_f32_avx512();
TapsRowsF64 taps_rows_f64_avx512();
TapDotsRowsF32 tap_dots_rows_f32_avx512();
TapDotsRowsF64 tap_dots_rows_f64_avx512();
TapsRowsF32 taps_rows_f32_avx2();
TapsRowsF64 taps_rows_f64_avx2();
TapDotsRowsF32 tap_dots_rows_f32_avx2();
TapDotsRowsF64 tap_dots_rows_f64_avx2();

}  // namespace flambeau::cpu::conv_simd
