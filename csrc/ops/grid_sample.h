// Op entry points for grid_sample (csrc/ops/grid_sample.cpp): argument checks with PyTorch's rules
// and messages that name the op and the shapes, output allocation, dispatch to the CPU kernels
// (csrc/cpu/grid_sample.cpp). CUDA tensors raise NotImplementedError (no CUDA kernel yet).
//
// input [N, C, H, W] (float32 or float64; H, W > 0; N, C may be 0), grid [N, OH, OW, 2] of the same
// dtype and device -> [N, C, OH, OW]; or input [N, C, D, H, W], grid [N, OD, OH, OW, 3] ->
// [N, C, OD, OH, OW] (bilinear is then trilinear; no bicubic). mode: "bilinear" | "nearest" |
// "bicubic"; padding_mode: "zeros" | "border" | "reflection". Inputs may be non-contiguous.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <utility>
#include "core/tensor.h"

namespace flambeau::ops {

Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode, const std::string& padding_mode,
                   bool align_corners);
// (grad_input, grad_grid) of grid_sample; output_mask says which to compute (the other is nullopt).
std::pair<std::optional<Tensor>, std::optional<Tensor>> grid_sample_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& grid, const std::string& mode,
    const std::string& padding_mode, bool align_corners, std::array<bool, 2> output_mask);

}  // namespace flambeau::ops
