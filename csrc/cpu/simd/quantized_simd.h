// The contract between the int8 GEMM driver (csrc/cpu/quantized.cpp, baseline x86-64) and its SIMD
// leaves (quantized_avx2.cpp, quantized_avx512.cpp, quantized_vnni_avx512.cpp).
//
// Arithmetic. For a uint8 activation row a and an int8 weight row w, accumulated in wrapping int32,
//   saturating: sum over pairs p of sat16(a[2p] * w[2p] + a[2p + 1] * w[2p + 1]) (+ a last unpaired
//               product): fbgemm's vpmaddubsw arithmetic (AVX2 and AVX-512 CPUs without VNNI);
//   exact:      sum_k a[k] * w[k]: fbgemm's vpdpbusd arithmetic (CPUs with AVX-512 VNNI).
// Wrapping int32 addition is associative, so only the pairing (2p, 2p + 1) is part of the result; the
// kernels may sum in any order.
//
// Packed weights (pack_weights in the driver): panels of `nr` output columns (nr = the leaf's vector
// width in int32 lanes: 8 for AVX2, 16 for AVX-512; 1 for the driver's portable form, whose rows stay
// contiguous); inside a panel, groups of 4 consecutive k, each group holding nr columns x 4 bytes:
//   packed[((panel * K4 + g) * nr + c) * 4 + r] = w[panel * nr + c][4 * g + r], zero outside N x K,
// with K4 = ceil(K / 4). One vector load is then nr columns x 4 k, which is what vpdpbusd (4 products per
// int32 lane) and vpmaddubsw + vpmaddwd (two pairs per lane, the pairs (4g, 4g+1) and (4g+2, 4g+3), so
// fbgemm's pairing) consume against 4 activation bytes broadcast to every lane. The zero padding makes
// the products past K vanish (and never saturate), so the last group needs no special arithmetic, only a
// load that stays inside the activation row.
//
// The packed buffer carries kPackSlack zero bytes past its last panel: the AMX leaf's last B tile of a
// panel whose K is not a multiple of 64 reads a whole tile (1 KB) from its last block (against zero
// activations, so the bytes past the panel add nothing, but they must be readable).
//
// gemm: rows [m0, m1) and columns [n0, n1) (n0 a multiple of nr) of raw[m, n] = sum_k a[m, k] w[n, k] - col_term[n] - row_sum[m] * w_zp[n]
// (wrapping), stored to raw[m * ldr + n]: the int32 accumulator with the zero points taken out
// (col_term[n] = a_zp * (colsum_w[n] - w_zp[n] * K), row_sum[m] = sum_k a[m, k]).
//
// The epilogues (requantize, dequantize) and the activation quantization are the driver's scalar loops
// vectorised, bit for bit: the same float operations in the same order, lrintf's round-half-even being
// vcvtps2dq's under the default rounding mode, and the clamps placed so that values beyond int32 and
// NaN end where lrintf + clamp put them (see the driver's comments).
// Plain function pointers only, so no code built with AVX flags can be inlined into baseline callers.
#pragma once
#include <cstdint>

namespace flambeau::cpu::quantized_simd {

constexpr int64_t kPackSlack = 1024;

// conv_rows: Conv2d's implicit im2col, its epilogue fused. GEMM rows are positions whose k runs in nb
// blocks of kc bytes (kc 32 or 64) that need not be contiguous: row q's block b is the kc bytes at
// a + q * rs + koff[b] (a padded NHWC image: block b is a tap's channels), against K = nb * kc packed
// weights. For rows [q0, q1) and all N columns it takes the zero points out as gemm does, requantizes as
// requantize does, and writes the outputs transposed, as NCHW: row q = oh * Wp + ow is an output when
// ow < OW, and goes to y[n * ldy + oh * OW + ow]; the other rows are dropped. Every tile reads 16 rows:
// the caller keeps the rows up to 31 past q1 readable.
using QConvRows = void (*)(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, int64_t q0,
                           int64_t q1, const int8_t* packed, int64_t N, const int32_t* col_term, const int32_t* w_zp,
                           const int32_t* row_sum, const float* bias_q, const float* multiplier, int32_t out_zp,
                           int32_t lo, int64_t Wp, int64_t OW, uint8_t* y, int64_t ldy);

struct QGemmLeaf {
  int nr;  // columns per packed panel
  void (*gemm)(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0, int64_t n1,
               int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
               int64_t ldr);
  // y[m * ldy + n] = clamp(lrintf((float(raw[m * N + n]) + bias_q[n]) * multiplier[n]) + out_zp, lo, 255)
  // for rows [m0, m1), bias_q[n] = bias[n] / act_times_w_scale[n] (0 without bias).
  void (*requantize)(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* bias_q,
                     const float* multiplier, int32_t out_zp, int32_t lo, uint8_t* y, int64_t ldy);
  // y[m * N + n] = relu?(fma(float(raw), scale[n], bias[n])) (bias null: float(raw) * scale[n]).
  void (*dequantize)(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* scale, const float* bias,
                     bool relu, float* y);
  // q[i] = clamp(lrintf(fmin(fma(x[i], inv, zp), 2147483520)), 0, 255) for i in [i0, i1).
  void (*quantize_u8)(const float* x, int64_t i0, int64_t i1, float inv, float zp, uint8_t* q);
  // quantize_per_tensor into int8 / uint8 storage: q[i] = low byte of quantize8_1(x[i], inv, zp, lo, hi,
  // fused) (quantized_scalar.h) for i in [i0, i1); q points at int8_t or uint8_t.
  void (*quantize8)(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, bool fused,
                    void* q);
  QConvRows conv_rows = nullptr;  // the AMX leaf only
};

QGemmLeaf leaf_avx2(bool saturate);
QGemmLeaf leaf_avx512_saturating();  // AVX-512BW, vpmaddubsw (CPUs without VNNI)
QGemmLeaf leaf_avx512_vnni();        // AVX-512 VNNI, vpdpbusd (exact); its epilogues are the AVX-512BW ones
QGemmLeaf leaf_avx512_amx();         // AMX-INT8, tdpbusd (exact, as vpdpbusd); the same epilogues

// The VNNI GEMM alone (quantized_vnni_avx512.cpp, the only file built with -mavx512vnni), wrapped into a
// QGemmLeaf by quantized_avx512.cpp.
void gemm_avx512_vnni(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0,
                      int64_t n1, int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                      int32_t* raw, int64_t ldr);

// The AMX GEMMs (quantized_amx_avx512.cpp, the only file built with -mamx-tile -mamx-int8), wrapped into a
// QGemmLeaf by quantized_avx512.cpp. Each loads its tile configuration and releases the tiles itself.
void gemm_amx(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0, int64_t n1,
              int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum, int32_t* raw,
              int64_t ldr);
void conv_rows_amx(const uint8_t* a, int64_t rs, const int64_t* koff, int64_t nb, int kc, int64_t q0, int64_t q1,
                   const int8_t* packed, int64_t N, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                   const float* bias_q, const float* multiplier, int32_t out_zp, int32_t lo, int64_t Wp, int64_t OW,
                   uint8_t* y, int64_t ldy);

}  // namespace flambeau::cpu::quantized_simd
