// Activation kernels with AVX-512 registers (16 float lanes): the primitives for cpu/simd/act_vec.inc,
// which holds the math and the op bodies shared with activation_avx2.cpp. Only built with AVX-512
// flags and only called when the CPU has AVX-512 (cpu/capability.cpp). Everything is in an
// anonymous namespace; only the function pointers below leave this file.
#include <immintrin.h>
#include <math.h>  // ::sinf, ::cosf (unary_vec.inc's fallback for large arguments)
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu::simd {
namespace {

constexpr int W = 16;
using vf = __m512;
using vm = __mmask16;

inline vf ld(const float* p) { return _mm512_loadu_ps(p); }
inline void st(float* p, vf v) { _mm512_storeu_ps(p, v); }
// Non-temporal store (p aligned to 64 bytes): bypasses the cache, no read-for-ownership.
inline void st_nt(float* p, vf v) { _mm512_stream_ps(p, v); }
inline void nt_fence() { _mm_sfence(); }
inline vf set1(float v) { return _mm512_set1_ps(v); }
// The first n (0 <= n < W) lanes, the others 0 (loaded) / untouched (stored); masked lanes never fault.
inline vf ldn(const float* p, int64_t n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
inline void stn(float* p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
// The first n (0 <= n < W) lanes from p, the others `fill` (-inf for a max or a sum of exp).
inline vf ldn_or(const float* p, int64_t n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << n) - 1), p);
}
inline vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf div_(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf fma_(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
// 1 / b: 14-bit estimate and one Newton step (relative error ~2^-27, i.e. within an ulp of the
// correctly rounded quotient), several times the throughput of a 512-bit vdivps.
// b = +-inf gives +-0 (the Newton step alone would give inf * 0 = NaN); NaN stays NaN.
inline vf rcp_(vf b) {
  vf r = _mm512_rcp14_ps(b);
  r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(1.0f)), r);
  __mmask16 inf = _mm512_fpclass_ps_mask(b, 0x08 | 0x10);  // +inf | -inf
  return _mm512_mask_blend_ps(inf, r, _mm512_setzero_ps());
}
// 1 / b for finite b of moderate size (no +-inf fix-up): rcp14 and one Newton step.
inline vf rcp_fin(vf b) {
  vf r = _mm512_rcp14_ps(b);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(1.0f)), r);
}
// a / b for finite moderate b: a * rcp_fin(b) (within ~1 ulp; vdivps zmm is several times slower).
inline vf fdiv_(vf a, vf b) { return _mm512_mul_ps(a, rcp_fin(b)); }
inline vf fms_(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }
// y = m 2^e with m in [sqrt(1/2), sqrt(2)), for positive normal y (the caller keeps zero, subnormal,
// inf and NaN away), from the bits in three integer steps: t = bits(y) - bits(sqrt(1/2)) (rounded up
// one), e = t >> 23, m = bits(y) - (t's exponent field), so m > float(sqrt 2) is halved, as before.
inline vf frexp_(vf y, vf& e) {
  __m512i ix = _mm512_castps_si512(y);
  __m512i t = _mm512_sub_epi32(ix, _mm512_set1_epi32(0x3F3504F4));
  e = _mm512_cvtepi32_ps(_mm512_srai_epi32(t, 23));
  return _mm512_castsi512_ps(_mm512_sub_epi32(ix, _mm512_and_si512(t, _mm512_set1_epi32((int)0xFF800000))));
}
inline vf fnma_(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf vabs(vf a) { return _mm512_abs_ps(a); }
// min(|a|, c) for c > 0 in one vrangeps (imm 0b1010: the operand of smaller magnitude, sign cleared);
// a NaN a gives NaN.
inline vf absmin_(vf a, vf c) { return _mm512_range_ps(a, c, 0x0A); }
inline vf vneg(vf a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000))); }
inline vm lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline vm le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
inline vm gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline vm ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline vm isnan_(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
inline vm mand(vm a, vm b) { return (vm)(a & b); }
inline vm mor(vm a, vm b) { return (vm)(a | b); }
inline bool any_(vm a) { return a != 0; }
inline bool all_(vm a) { return a == (vm)0xFFFF; }
inline vf sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
// The float whose bit pattern is the integer nearest a (0 <= a < 2^31, ties to even): for a in
// [0, 2^24) the value a 2^-149, subnormal below 2^23, formed without a floating-point operation.
inline vf int_bits(vf a) { return _mm512_castsi512_ps(_mm512_cvtps_epi32(a)); }
inline vf roundn(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vf floor_(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline vf ceil_(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline vf trunc_(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
inline vf sqrt_(vf a) { return _mm512_sqrt_ps(a); }  // correctly rounded, as std::sqrt
inline vm eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline vf scale2n(vf y, vf n) { return _mm512_scalef_ps(y, n); }
inline vf scale2n_shifted(vf y, vf ns) {  // as AVX2's: ns = n + 1.5 * 2^23
  return _mm512_scalef_ps(y, _mm512_sub_ps(ns, _mm512_set1_ps(12582912.0f)));
}
inline vf copysign_(vf mag, vf sgn) {
  const __m512i s = _mm512_set1_epi32((int)0x80000000);
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(mag), _mm512_castps_si512(sgn), s, 0xD8));  // s ? sgn : mag, bitwise
}
inline float hmax(vf a) { return _mm512_reduce_max_ps(a); }
struct Dacc { __m512d lo, hi; };
inline Dacc dacc_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
inline void dacc_add(Dacc& d, vf v) {
  d.lo = _mm512_add_pd(d.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  d.hi = _mm512_add_pd(d.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
// d += a * b lane by lane in float64: the product of two floats is exact there, so this is the
// float64 sum of the exact products (the softmax backward's sum of g * y).
inline void dacc_add_prod(Dacc& d, vf a, vf b) {
  auto lo = [](vf v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); };
  auto hi = [](vf v) { return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))); };
  d.lo = _mm512_fmadd_pd(lo(a), lo(b), d.lo);
  d.hi = _mm512_fmadd_pd(hi(a), hi(b), d.hi);
}
// a += b lane by lane.
inline void dacc_merge(Dacc& a, const Dacc& b) {
  a.lo = _mm512_add_pd(a.lo, b.lo);
  a.hi = _mm512_add_pd(a.hi, b.hi);
}
// The W float64 lanes, in lane order (per-position sums of the softmax tiles).
inline void dacc_st(double* p, const Dacc& d) {
  _mm512_storeu_pd(p, d.lo);
  _mm512_storeu_pd(p + 8, d.hi);
}
inline Dacc dacc_ld(const double* p) { return {_mm512_loadu_pd(p), _mm512_loadu_pd(p + 8)}; }
// Fixed pairwise order (lo + hi, then halves): a short dependency chain for the many short rows of
// small-C cross-entropy, and the same bits on every call.
inline double dacc_sum(const Dacc& d) {
  __m512d s = _mm512_add_pd(d.lo, d.hi);
  __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
  __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

#include "cpu/simd/act_vec.inc"
#include "cpu/simd/unary_vec.inc"

}  // namespace

ActFwdF32Fn act_fwd_f32_avx512() { return &act_fwd; }
ActBwdF32Fn act_bwd_f32_avx512() { return &act_bwd; }
RowMaxF32Fn row_max_f32_avx512() { return &row_max; }
RowSumExpF32Fn row_sumexp_f32_avx512() { return &row_sumexp; }
RowSoftmaxAxpbF32Fn row_softmax_axpb_f32_avx512() { return &row_softmax_axpb; }
RowSoftmaxF32Fn row_softmax_f32_avx512() { return &row_softmax; }
RowSoftmaxBwdF32Fn row_softmax_bwd_f32_avx512() { return &row_softmax_bwd; }
CeTileFwdF32Fn ce_tile_fwd_f32_avx512() { return &ce_tile_fwd; }
CeTileBwdF32Fn ce_tile_bwd_f32_avx512() { return &ce_tile_bwd; }
SmTileFwdF32Fn sm_tile_fwd_f32_avx512() { return &sm_tile_fwd; }
SmTileBwdF32Fn sm_tile_bwd_f32_avx512() { return &sm_tile_bwd; }
BceF32Fn bce_f32_avx512() { return &bce_values; }
UnaryF32Fn unary_f32_avx512() { return &unary_math; }

}  // namespace flambeau::cpu::simd
