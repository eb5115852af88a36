// The contract between the int8 GEMM driver (csrc/cpu/quantized.cpp, baseline x86-64) and its AVX2 leaf
// (csrc/cpu/simd/quantized_avx2.cpp): for the nb <= 4 rows w_j = w + j * K of an int8 weight matrix and
// a uint8 activation row `a`, accumulated in wrapping int32,
//   saturating: out[j] = sum over pairs p of sat16(a[2p] * w_j[2p] + a[2p + 1] * w_j[2p + 1])
//               (+ a last unpaired product): fbgemm's vpmaddubsw arithmetic (AVX2 and AVX-512 CPUs);
//   exact:      out[j] = sum_k a[k] * w_j[k]: fbgemm's vpdpbusd arithmetic (CPUs with AVX-512 VNNI).
// Plain function pointers only, so no code built with AVX flags can be inlined into baseline callers.
#pragma once
#include <cstdint>

namespace flambeau::cpu::quantized_simd {

using DotsU8S8 = void (*)(const uint8_t* a, const int8_t* w, int64_t K, int nb, int32_t* out);

DotsU8S8 dots_u8s8_avx2(bool saturate);

}  // namespace flambeau::cpu::quantized_simd
