// CUDA kernel entry points for the volumetric (3-D) pooling layers (csrc/cuda/pooling3d.cu), the same
// signatures as the CPU's (csrc/cpu/vol_kernels.h): the op layer (csrc/ops/pooling3d.cpp) has checked
// dtypes and shapes, allocated the outputs on the input's device and made every tensor contiguous.
// Written without a GPU and gated: the ops call them only when cuda::unverified_kernels() is on
// (FLAMBEAU_CUDA_UNVERIFIED=1, csrc/cuda/GPU_STATUS.md).
#pragma once
#include <cstdint>
#include "core/tensor.h"
#include "cpu/vol_kernels.h"

namespace flambeau::cuda {

using cpu::Pool3dGeometry;

void max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g);
// grad_x[plane, indices[i]] += grad_y[plane, i] (grad_x overwritten first); an index outside
// [0, in_volume) is skipped, as on the CPU.
void max_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                         int64_t in_volume, int64_t out_volume);
void avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g, bool count_include_pad,
                         int64_t divisor_override);
void adaptive_avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g);
void adaptive_avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g);
void adaptive_max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g);

}  // namespace flambeau::cuda
