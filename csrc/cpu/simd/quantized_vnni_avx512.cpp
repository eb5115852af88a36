// AVX-512 VNNI GEMM of the int8 kernels (contract in quantized_simd.h): vpdpbusd sums four u8 x s8
// products into each int32 lane exactly (wrapping), which is fbgemm's arithmetic on these CPUs. The
// only file built with -mavx512vnni (CMakeLists.txt); the driver calls it only where the hardware has
// VNNI and the AVX-512 capability is in force. The micro-kernel is quantized_tile_avx512.inc.
#include <algorithm>
#include <cstdint>
#include "cpu/simd/quantized_simd.h"

#define QTILE_VNNI 1
#include "cpu/simd/quantized_tile_avx512.inc"

namespace flambeau::cpu::quantized_simd {

void gemm_avx512_vnni(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0,
                      int64_t n1, int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                      int32_t* raw, int64_t ldr) {
  gemm_tiles(a, lda, m0, m1, packed, n0, n1, K, col_term, w_zp, row_sum, raw, ldr);
}

}  // namespace flambeau::cpu::quantized_simd
