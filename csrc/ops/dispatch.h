// FLB_BACKEND(device, fn, args...): calls cpu::fn or cuda::fn. Without CUDA built, a CUDA tensor
// can't exist (allocation throws first), but the call still fails cleanly.
#pragma once
#include "core/error.h"
#include "cpu/kernels.h"
#ifdef FLAMBEAU_WITH_CUDA
#include "cuda/kernels.h"
#include "cuda/nn_kernels.h"
#define FLB_BACKEND(device, fn, ...)                 \
  do {                                               \
    if ((device).is_cuda()) ::flambeau::cuda::fn(__VA_ARGS__); \
    else ::flambeau::cpu::fn(__VA_ARGS__);           \
  } while (0)
#else
#define FLB_BACKEND(device, fn, ...)                                                  \
  do {                                                                                \
    if ((device).is_cuda()) throw ::flambeau::RuntimeError(#fn ": flambeau was built without CUDA"); \
    ::flambeau::cpu::fn(__VA_ARGS__);                                                 \
  } while (0)
#endif

// FLB_CPU_ONLY(device, "op", cpu_fn, args...): for ops whose CUDA kernel is not written yet; a CUDA
// tensor gets a clear NotImplementedError instead of a wrong answer.
#define FLB_CPU_ONLY(device, opname, fn, ...)                                                     \
  do {                                                                                            \
    if ((device).is_cuda())                                                                       \
      throw ::flambeau::NotImplementedError(std::string(opname) + ": no CUDA kernel yet (CPU only)"); \
    ::flambeau::cpu::fn(__VA_ARGS__);                                                             \
  } while (0)
