// FLB_GATED_BACKEND(device, "op", fn, args...): calls cpu::fn, or for a CUDA tensor cuda::fn when the
// CUDA kernel is enabled. For ops whose CUDA kernel was written and host-tested without a GPU and is
// gated (cuda::unverified_kernels(), FLAMBEAU_CUDA_UNVERIFIED=1; csrc/cuda/GPU_STATUS.md): with the
// gate off a CUDA tensor gets a clear NotImplementedError (the Python layer sends CUDA tensors through
// the host instead, python/flambeau/_functions/host_route.py). Once the kernel has passed on a GPU,
// the op moves to FLB_BACKEND.
#pragma once
#include <string>
#include "core/cuda_hooks.h"
#include "core/error.h"
#include "ops/dispatch.h"

namespace flambeau::ops {

// Throws NotImplementedError for a CUDA tensor unless the gated CUDA kernels are enabled.
inline void check_cuda_gate(const Device& device, const char* op) {
  if (device.is_cuda() && !cuda::unverified_kernels())
    throw NotImplementedError(std::string(op) + ": no verified CUDA kernel yet (CPU only; FLAMBEAU_CUDA_UNVERIFIED=1 "
                                                "enables the one not yet run on a GPU)");
}

}  // namespace flambeau::ops

#define FLB_GATED_BACKEND(device, opname, fn, ...)             \
  do {                                                         \
    ::flambeau::ops::check_cuda_gate((device), (opname));      \
    FLB_BACKEND(device, fn, __VA_ARGS__);                      \
  } while (0)
