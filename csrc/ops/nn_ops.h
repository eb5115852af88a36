// Op entry points for convolution and pooling (csrc/ops/conv.cpp, csrc/ops/pooling.cpp): argument
// checks (dims, dtypes, devices, channel counts, sizes, strides, padding), output shapes, allocation,
// and dispatch. Every check runs before any memory is touched and raises a RuntimeError (TypeError for
// dtypes) that names the op and the shapes, as PyTorch's messages do. Inputs may be non-contiguous;
// they are made contiguous here. Tensors are NCHW.
//
// Integer-list arguments (kernel_size, stride, padding, dilation, output_padding) take one value (used
// for both axes) or two (height, width). conv2d's padding may also take four values
// [top, bottom, left, right] (asymmetric, for padding='same' with even kernels).
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
// input [N, C, H, W], weight [O, C/groups, KH, KW], bias [O] or none -> [N, O, OH, OW].
// F.unfold of a 4-D input ([N, C*KH*KW, L]) and F.fold of such columns into [N, C, H, W], on the CPU;
// kernel, dilation, padding, stride are (h, w) pairs.
Tensor unfold2d(const Tensor& input, const IntList& kernel, const IntList& dilation, const IntList& padding,
                const IntList& stride);
Tensor fold2d(const Tensor& col, const IntList& output_size, const IntList& kernel, const IntList& dilation,
              const IntList& padding, const IntList& stride);
Tensor conv2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups);
// Gradients of conv2d with respect to (input, weight, bias); output_mask says which to compute (the
// others come back as nullopt).
Grads3 conv2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const IntList& stride,
                       const IntList& padding, const IntList& dilation, int64_t groups,
                       std::array<bool, 3> output_mask);
// input [N, Cin, H, W], weight [Cin, Cout/groups, KH, KW], bias [Cout] or none -> [N, Cout, OH, OW],
// OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1. PyTorch's argument order.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation);
Grads3 conv_transpose2d_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                 const IntList& stride, const IntList& padding, const IntList& output_padding,
                                 int64_t groups, const IntList& dilation, std::array<bool, 3> output_mask);

// ---- pooling: input [N, C, H, W] or [C, H, W]
// stride empty = kernel_size. Returns (output, int64 indices into each H*W plane, or nullopt).
std::pair<Tensor, OptTensor> max_pool2d(const Tensor& input, const IntList& kernel_size, const IntList& stride,
                                        const IntList& padding, const IntList& dilation, bool ceil_mode,
                                        bool return_indices);
// Gradient of max_pool2d or adaptive_max_pool2d: scatters grad_output to `indices` in a zero tensor
// of `input_shape`.
Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape);
// divisor_override: 0 or none means none.
Tensor avg_pool2d(const Tensor& input, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);
Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const IntList& kernel_size,
                           const IntList& stride, const IntList& padding, bool ceil_mode, bool count_include_pad,
                           std::optional<int64_t> divisor_override);
// output_size: two non-negative ints.
Tensor adaptive_avg_pool2d(const Tensor& input, const IntList& output_size);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape);
std::pair<Tensor, OptTensor> adaptive_max_pool2d(const Tensor& input, const IntList& output_size,
                                                 bool return_indices);

}  // namespace flambeau::ops
