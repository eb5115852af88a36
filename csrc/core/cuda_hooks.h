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

}  // namespace flambeau::cuda
