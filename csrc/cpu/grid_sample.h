// CPU kernel entry points for grid_sample (csrc/cpu/grid_sample.cpp). The op layer
// (csrc/ops/grid_sample.cpp) has already checked dtypes (float32/float64, input and grid alike),
// devices, shapes and the mode / padding arguments, allocated the outputs, and made every tensor
// passed here contiguous: input [N, C, H, W], grid [N, OH, OW, 2] (x = width coordinate first, as
// PyTorch's), output and grad_output [N, C, OH, OW]; or, volumetric, input [N, C, D, H, W], grid
// [N, OD, OH, OW, 3] (x, y, z), output [N, C, OD, OH, OW] (bilinear = trilinear, or nearest).
#pragma once
#include <cstdint>
#include "core/tensor.h"
#include "cpu/simd/grid_sample_simd.h"  // GridInterp, GridPadding, GridSampleGeometry

namespace flambeau::cpu {

// out[n, c, oh, ow] = input[n, c] sampled at grid[n, oh, ow] (overwrites out).
void grid_sample2d_forward(const Tensor& out, const Tensor& input, const Tensor& grid, const GridSampleGeometry& g);
// grad_input (may be null; overwritten: zeroed, then accumulated) and grad_grid (may be null;
// overwritten) of <grad_out, grid_sample(input, grid)>.
void grid_sample2d_backward(const Tensor* grad_input, const Tensor* grad_grid, const Tensor& grad_out,
                            const Tensor& input, const Tensor& grid, const GridSampleGeometry& g);
// The same for 5-D input (g.D, g.OD set; mode bilinear or nearest).
void grid_sample3d_forward(const Tensor& out, const Tensor& input, const Tensor& grid, const GridSampleGeometry& g);
void grid_sample3d_backward(const Tensor* grad_input, const Tensor* grad_grid, const Tensor& grad_out,
                            const Tensor& input, const Tensor& grid, const GridSampleGeometry& g);

}  // namespace flambeau::cpu
