// The gated CUDA kernels: written and host- or compile-tested without a GPU, never run on one. The ops
// call them only when cuda::unverified_kernels() is on (FLAMBEAU_CUDA_UNVERIFIED=1, FLB_GATED_BACKEND in
// csrc/ops/gated_dispatch.h; csrc/cuda/GPU_STATUS.md says how to check them). Same signatures as the
// CPU kernels; once a kernel has passed on a GPU its declaration moves to kernels.h / nn_kernels.h (or a
// header of its own) and its op to FLB_BACKEND.
#pragma once
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cuda {

// ---- cumsum along `dim` (scan.cu): out (contiguous, x's shape; int64 for integer and bool inputs) =
// prefix sums (suffix sums when `reverse`), one sequential double / int64 chain per line, the CPU's bits.
void cumsum(const Tensor& out, const Tensor& x, int64_t dim, bool reverse);

}  // namespace flambeau::cuda
