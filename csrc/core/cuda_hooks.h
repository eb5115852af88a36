// The CUDA backend seen from code that must compile without it. csrc/cuda/*.cu implement these
// when CUDA is built; csrc/cuda/no_cuda.cpp implements them as "not built" otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cuda {

bool is_built();
int device_count();            // 0 when no driver or no GPU; never throws
void synchronize(int device);  // -1: the current device
void* allocate(size_t nbytes, int device);
void release(void* ptr, int device);
size_t memory_allocated(int device);
size_t max_memory_allocated(int device);
void reset_peak_memory_stats(int device);
void empty_cache();
// Copies between host and device (or device and device) for contiguous buffers.
void memcpy_h2d(void* dst, const void* src, size_t nbytes, int device);
void memcpy_d2h(void* dst, const void* src, size_t nbytes, int device);
void memcpy_d2d(void* dst, const void* src, size_t nbytes, int device);
// TF32 tensor cores for float32 mm/bmm/linear (flambeau.backends.cuda.matmul.allow_tf32). Off by
// default, as in PyTorch: float32 products are then computed in full float32 FMAs.
void set_matmul_allow_tf32(bool allow);
bool matmul_allow_tf32();
// FLAMBEAU_CUDA_UNVERIFIED=1 in the environment (read once): take the kernel paths written and
// host-tested without a GPU but not yet run on one (listed in csrc/cuda/GPU_STATUS.md). Off by
// default: users get only kernels that have passed the test suite on a GPU; a GPU session runs the
// suite with it on, and once the paths pass, their gate is removed. Ops whose only CUDA kernel is
// gated send CUDA tensors through the host while it is off (python/flambeau/_functions/host_route.py
// asks through _C.cuda_unverified_kernels). Always false without CUDA.
bool unverified_kernels();

}  // namespace flambeau::cuda
