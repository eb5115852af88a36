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
// vectors of the ISA); the runs cover columns [0, n).
using PackRunsF32 = void (*)(const float* src, const int64_t* off, int64_t kc, const PixelRun* runs, int64_t nruns,
                             int64_t n, int64_t nr, float* dst);
using PackRunsF64 = void (*)(const double* src, const int64_t* off, int64_t kc, const PixelRun* runs,
                             int64_t nruns, int64_t n, int64_t nr, double* dst);

// Direct single-channel correlation (depthwise / 1-channel convolutions; bodies in conv_direct.inc):
//   taps_run: out[j] = sum_{t < ntaps} w[t] * src[j + off[t]] for j < n (reads up to one block of
//             8 vectors past the end of the run: callers leave slack);
//   tap_dots: acc[t] += sum_{j < n} a[j] * b[j + off[t]] for t < ntaps.
using TapsRunF32 = void (*)(float* out, const float* src, const float* w, const int64_t* off, int64_t ntaps, int64_t n);
using TapsRunF64 = void (*)(double* out, const double* src, const double* w, const int64_t* off, int64_t ntaps,
                            int64_t n);
using TapDotsF32 = void (*)(const float* a, const float* b, const int64_t* off, int64_t ntaps, int64_t n, double* acc);
using TapDotsF64 = void (*)(const double* a, const double* b, const int64_t* off, int64_t ntaps, int64_t n,
                            double* acc);

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

}  // namespace flambeau::cpu::conv_simd
