// Op entry points for the volumetric (3-D) layers (csrc/ops/conv3d.cpp, csrc/ops/pooling3d.cpp):
// argument checks with PyTorch's rules and messages that name the op and the shapes, output shapes,
// allocation, dispatch to the CPU kernels (csrc/cpu/conv3d.cpp, csrc/cpu/pooling3d.cpp). CUDA tensors
// raise NotImplementedError (no CUDA kernels yet). Inputs may be non-contiguous; they are made
// contiguous here. Tensors are NCDHW, float32 or float64.
//
// Integer-list arguments (kernel_size, stride, padding, dilation, output_padding) take one value (used
// for the three axes) or three (depth, height, width). conv3d's padding may also take six values
// [front, back, top, bottom, left, right] (asymmetric, for padding='same' with even kernels).
#pragma once
#include <array>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>
#include "core/tensor.h"

namespace flambeau::ops {

using IntList = std::vector<int64_t>;
using OptTensor = std::optional<Tensor>;
using Grads3 = std::tuple<OptTensor, OptTensor, OptTensor>;

// ---- convolution
// input [N, C, D, H, W], weight [O, C/groups, KD, KH, KW], bias [O] or none -> [N, O, OD, OH, OW].
Tensor conv3d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups);
// Gradients of conv3d with respect to (input, weight, bias); output_mask says which to compute (the
// others come back as nullopt).
Grads3 conv3d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const IntList& stride,
                       const IntList& padding, const IntList& dilation, int64_t groups,
                       std::array<bool, 3> output_mask);
// input [N, Cin, D, H, W], weight [Cin, Cout/groups, KD, KH, KW], bias [Cout] or none ->
// [N, Cout, OD, OH, OW], OD = (D-1)*stride - 2*padding + dilation*(KD-1) + output_padding + 1.
Tensor conv_transpose3d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation);
Grads3 conv_transpose3d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                 const IntList& stride, const IntList& padding, const IntList& output_padding,
                                 int64_t groups, const IntList& dilation, std::array<bool, 3> output_mask);

// ---- pooling: input [N, C, D, H, W] or [C, D, H, W]
// stride empty = kernel_size. Returns (output, int64 indices into each D*H*W volume, or nullopt).
std::pair<Tensor, OptTensor> max_pool3d(const Tensor& input, const IntList& kernel_size, const IntList& stride,
                                        const IntList& padding, const IntList& dilation, bool ceil_mode,
                                        bool return_indices);
// Gradient of max_pool3d or adaptive_max_pool3d: scatters grad_output to `indices` in a zero tensor of
// `input_shape` (indices outside the volume, which max_pool3d gives windows holding no input element,
// get nothing, as in PyTorch).
Tensor max_pool3d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool3d(const Tensor& input, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);
Tensor avg_pool3d_backward(const Tensor& grad_output, const Shape& input_shape, const IntList& kernel_size,
                           const IntList& stride, const IntList& padding, bool ceil_mode, bool count_include_pad,
                           std::optional<int64_t> divisor_override);
Tensor adaptive_avg_pool3d(const Tensor& input, const IntList& output_size);
Tensor adaptive_avg_pool3d_backward(const Tensor& grad_output, const Shape& input_shape);
std::pair<Tensor, OptTensor> adaptive_max_pool3d(const Tensor& input, const IntList& output_size,
                                                 bool return_indices);
// max_unpool3d: input and indices [N, C, D, H, W] or [C, D, H, W] (int64 indices into each output
// volume) -> zeros of [..., output_size] with input written at the indices.
Tensor max_unpool3d(const Tensor& input, const Tensor& indices, const IntList& output_size);
// Its gradient: grad_output [..., output_size] read at the indices (shape of indices).
Tensor max_unpool3d_backward(const Tensor& grad_output, const Tensor& indices);

}  // namespace flambeau::ops
