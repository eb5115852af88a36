// Per-thread scratch buffers for the GEMM and convolution drivers (cpu/gemm.cpp, conv.cpp,
// conv3d.cpp): one `thread_local Scratch` per use, kept between calls (a training loop would otherwise
// page-fault fresh scratch in on every call) and grown as needed, 64-byte aligned for the SIMD
// leaves. A failed allocation throws std::bad_alloc (which the bindings turn into MemoryError) and
// leaves the buffer empty, never half-valid.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace flambeau::cpu {

struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(ptr); }
  // At least count elements of T (one when count is 0).
  template <class T>
  T* get(int64_t count) {
    const size_t need = ((size_t)std::max<int64_t>(count, 1) * sizeof(T) + 63) & ~size_t(63);
    if (need > bytes) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, need);
      if (!ptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
      bytes = need;
    }
    return static_cast<T*>(ptr);
  }
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace flambeau::cpu
