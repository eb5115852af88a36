// arange and linspace with fused multiply-adds (csrc/cpu/simd/range_body.h; contract in range_simd.h),
// compiled with -mavx2 -mfma so that std::fma is one instruction. Used for the AVX2 and AVX-512
// capabilities alike: PyTorch's AVX-512 build gives the same bits (its range kernels use 32-byte blocks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include "cpu/simd/range_simd.h"

namespace flambeau::cpu::range_simd {
namespace {
#include "cpu/simd/range_body.h"
}  // namespace

Kernels kernels_avx2() {
  return {&arange_fill<true, float>, &arange_fill<true, double>, &linspace_fill<true, float>,
          &linspace_fill<true, double>};
}

}  // namespace flambeau::cpu::range_simd
