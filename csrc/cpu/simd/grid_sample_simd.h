// The contract between the grid_sample kernels (csrc/cpu/grid_sample.cpp, baseline x86-64) and their
// AVX2 + FMA build (csrc/cpu/simd/grid_sample_avx2.cpp): the geometry and the per-build entry points
// (the loops themselves are in grid_sample_body.h).
//
// Plain data and declarations only (no inline or template code), as gemm_kernels.h explains.
#pragma once
#include <cstdint>

namespace flambeau::cpu {

// The integer codes are PyTorch's (torch.grid_sampler's interpolation_mode / padding_mode).
enum class GridInterp : int { Bilinear = 0, Nearest = 1, Bicubic = 2 };
enum class GridPadding : int { Zeros = 0, Border = 1, Reflection = 2 };

struct GridSampleGeometry {
  int64_t N, C, H, W;  // input
  int64_t OH, OW;      // grid / output spatial size
  int64_t D, OD;       // 5-D (volumetric) input depth and output depth; 1 for 4-D
  GridInterp mode;
  GridPadding padding;
  bool align_corners;
};

namespace grid_sample_simd {

// Output rows [r0, r1) of the flattened (n, oh); see grid_sample_body.h's forward_rows.
void forward_rows_f32_avx2(float* out, const float* in, const float* grid, const GridSampleGeometry& g, int64_t r0,
                           int64_t r1);
void forward_rows_f64_avx2(double* out, const double* in, const double* grid, const GridSampleGeometry& g,
                           int64_t r0, int64_t r1);
// Points [p0, p1) of sample n; see grid_sample_body.h's backward_points.
void backward_points_f32_avx2(float* gin, float* ggrid, const float* gout, const float* in, const float* grid,
                              const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1);
void backward_points_f64_avx2(double* gin, double* ggrid, const double* gout, const double* in, const double* grid,
                              const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1);

}  // namespace grid_sample_simd
}  // namespace flambeau::cpu
