// 3-D pooling and scatter_reduce on CUDA (pooling3d.cu, index.cu): same signatures as the CPU kernels
// (cpu/vol_kernels.h, cpu/kernels.h), so the ops call either through FLB_BACKEND. Written without a
// GPU and first run (tests and compute-sanitizer) on an H100 in session 17.
#pragma once
#include <cstdint>
#include "core/tensor.h"
#include "cpu/vol_kernels.h"
#include "ops/op_enums.h"

namespace flambeau::cuda {

using cpu::Pool3dGeometry;

// ---- 3-D pooling (pooling3d.cu); the op layer (csrc/ops/pooling3d.cpp) has checked dtypes and shapes,
// allocated the outputs on the input's device and made every tensor contiguous.

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

// ---- scatter_reduce's combining step (index.cu, scatter_add's deterministic machinery with another
// combine): self[..., index[j], ...] = op(self[...], src[j]) along dim, in the CPU's order.
void scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce op);

}  // namespace flambeau::cuda
