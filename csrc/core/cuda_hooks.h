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

}  // namespace flambeau::cuda
