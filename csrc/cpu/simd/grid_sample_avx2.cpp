// The grid_sample kernels' loops (csrc/cpu/simd/grid_sample_body.h) compiled for AVX2 + FMA (FMA
// contraction turned off: every fused multiply-add is explicit, see grid_sample_body.h), called by
// csrc/cpu/grid_sample.cpp when the CPU has it. Same bits as the portable build.
#pragma GCC optimize("fp-contract=off")
#include <cstdint>
#include "cpu/simd/grid_sample_simd.h"

namespace flambeau::cpu::grid_sample_simd {
namespace {
#include "cpu/simd/grid_sample_body.h"
}  // namespace

void forward_rows_f32_avx2(float* out, const float* in, const float* grid, const GridSampleGeometry& g, int64_t r0,
                           int64_t r1) {
  forward_rows<float>(out, in, grid, g, r0, r1);
}
void forward_rows_f64_avx2(double* out, const double* in, const double* grid, const GridSampleGeometry& g,
                           int64_t r0, int64_t r1) {
  forward_rows<double>(out, in, grid, g, r0, r1);
}
void backward_points_f32_avx2(float* gin, float* ggrid, const float* gout, const float* in, const float* grid,
                              const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1) {
  backward_points<float>(gin, ggrid, gout, in, grid, g, n, p0, p1);
}
void backward_points_f64_avx2(double* gin, double* ggrid, const double* gout, const double* in, const double* grid,
                              const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1) {
  backward_points<double>(gin, ggrid, gout, in, grid, g, n, p0, p1);
}

}  // namespace flambeau::cpu::grid_sample_simd
