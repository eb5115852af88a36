// Activation kernels with AVX2 + FMA registers (8 float lanes): the primitives for
// cpu/simd/act_vec.inc, which holds the math and the op bodies shared with activation_avx512.cpp.
// Only built with AVX2/FMA flags and only called when the CPU has them (cpu/capability.cpp).
// Everything is in an anonymous namespace; only the function pointers below leave this file.
#include <immintrin.h>
#include <math.h>  // ::sinf, ::cosf (unary_vec.inc's fallback for large arguments)
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu::simd {
namespace {

#include "cpu/simd/avx2_store_first.inc"

constexpr int W = 8;
using vf = __m256;
using vm = __m256;  // all-ones lanes

inline vf ld(const float* p) { return _mm256_loadu_ps(p); }
inline void st(float* p, vf v) { _mm256_storeu_ps(p, v); }
// Non-temporal store (p aligned to the vector width): bypasses the cache, no read-for-ownership.
inline void st_nt(float* p, vf v) { _mm256_stream_ps(p, v); }
inline void nt_fence() { _mm_sfence(); }
inline vf set1(float v) { return _mm256_set1_ps(v); }
// The first n (0 <= n < W) lanes, the others 0 (loaded) / untouched (stored); masked lanes never fault.
inline __m256i lanes_below(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline vf ldn(const float* p, int64_t n) { return _mm256_maskload_ps(p, lanes_below(n)); }
inline void stn(float* p, vf v, int64_t n) { store_first(p, v, n); }
// The first n (0 <= n < W) lanes from p, the others `fill` (-inf for a max or a sum of exp).
inline vf ldn_or(const float* p, int64_t n, float fill) {
  const __m256i m = lanes_below(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
inline vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf div_(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf fma_(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
// 1 / b: a true division (256-bit vdivps is cheap enough; rcpps has only 12 bits).
inline vf rcp_(vf b) { return _mm256_div_ps(_mm256_set1_ps(1.0f), b); }
inline vf rcp_fin(vf b) { return _mm256_div_ps(_mm256_set1_ps(1.0f), b); }
inline vf fdiv_(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf fms_(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
// y = m 2^e, m in [sqrt(1/2), sqrt(2)), for positive normal y: as in activation_avx512.cpp.
inline vf frexp_(vf y, vf& e) {
  __m256i ix = _mm256_castps_si256(y);
  __m256i t = _mm256_sub_epi32(ix, _mm256_set1_epi32(0x3F3504F4));
  e = _mm256_cvtepi32_ps(_mm256_srai_epi32(t, 23));
  return _mm256_castsi256_ps(_mm256_sub_epi32(ix, _mm256_and_si256(t, _mm256_set1_epi32((int)0xFF800000))));
}
inline vf fnma_(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline vf absmin_(vf a, vf c) { return _mm256_min_ps(c, vabs(a)); }  // NaN a: the second operand
inline vf vneg(vf a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
inline vm lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline vm le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
inline vm gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline vm ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline vm isnan_(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
inline vm mand(vm a, vm b) { return _mm256_and_ps(a, b); }
inline vm mor(vm a, vm b) { return _mm256_or_ps(a, b); }
inline bool any_(vm a) { return _mm256_movemask_ps(a) != 0; }
inline bool all_(vm a) { return _mm256_movemask_ps(a) == 0xFF; }
inline vf sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
// The float whose bit pattern is the integer nearest a (0 <= a < 2^31, ties to even): for a in
// [0, 2^24) the value a 2^-149, subnormal below 2^23, formed without a floating-point operation.
inline vf int_bits(vf a) { return _mm256_castsi256_ps(_mm256_cvtps_epi32(a)); }
inline vf roundn(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vf floor_(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline vf ceil_(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline vf trunc_(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
inline vf sqrt_(vf a) { return _mm256_sqrt_ps(a); }  // correctly rounded, as std::sqrt
inline vm eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
// y * 2^n in two steps (2^(n>>1) * 2^(n - (n>>1))), each factor a normal float for n in [-150, 128].
inline vf scale2n(vf y, vf n) {
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i n1 = _mm256_srai_epi32(ni, 1);
  __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}
// y * 2^n for integral n in [-126, 0] when y * 2^n is known to be a normal float or y is 0 with n = 0
// (gelu's |x| <= 12), given ns = n + 1.5 * 2^23 (the rounding shifter's output, which holds n in its low
// mantissa bits): shifting those up by 23 drops the rest, and adding them to y's exponent field scales
// it; two integer operations against scale2n's nine.
inline vf scale2n_shifted(vf y, vf ns) {
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(ns), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), e));
}
inline vf copysign_(vf mag, vf sgn) {
  const vf s = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sgn));
}
inline float hmax(vf a) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a);
  float m = t[0];
  for (int i = 1; i < 8; ++i) m = t[i] > m ? t[i] : m;
  return m;
}
struct Dacc { __m256d lo, hi; };
inline Dacc dacc_zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
inline void dacc_add(Dacc& d, vf v) {
  d.lo = _mm256_add_pd(d.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  d.hi = _mm256_add_pd(d.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
// d += a * b lane by lane in float64 (exact products): as in activation_avx512.cpp.
inline void dacc_add_prod(Dacc& d, vf a, vf b) {
  d.lo = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm256_cvtps_pd(_mm256_castps256_ps128(b)), d.lo);
  d.hi = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)), d.hi);
}
// a += b lane by lane.
inline void dacc_merge(Dacc& a, const Dacc& b) {
  a.lo = _mm256_add_pd(a.lo, b.lo);
  a.hi = _mm256_add_pd(a.hi, b.hi);
}
// The W float64 lanes, in lane order (per-position sums of the softmax tiles).
inline void dacc_st(double* p, const Dacc& d) {
  _mm256_storeu_pd(p, d.lo);
  _mm256_storeu_pd(p + 4, d.hi);
}
inline Dacc dacc_ld(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
// Fixed pairwise order (lo + hi, then halves): a short dependency chain for the many short rows of
// small-C cross-entropy, and the same bits on every call.
inline double dacc_sum(const Dacc& d) {
  __m256d a = _mm256_add_pd(d.lo, d.hi);
  __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

#include "cpu/simd/act_vec.inc"
#include "cpu/simd/unary_vec.inc"

}  // namespace

ActFwdF32Fn act_fwd_f32_avx2() { return &act_fwd; }
ActBwdF32Fn act_bwd_f32_avx2() { return &act_bwd; }
RowMaxF32Fn row_max_f32_avx2() { return &row_max; }
RowSumExpF32Fn row_sumexp_f32_avx2() { return &row_sumexp; }
RowSoftmaxAxpbF32Fn row_softmax_axpb_f32_avx2() { return &row_softmax_axpb; }
RowSoftmaxF32Fn row_softmax_f32_avx2() { return &row_softmax; }
RowSoftmaxBwdF32Fn row_softmax_bwd_f32_avx2() { return &row_softmax_bwd; }
CeTileFwdF32Fn ce_tile_fwd_f32_avx2() { return &ce_tile_fwd; }
CeTileBwdF32Fn ce_tile_bwd_f32_avx2() { return &ce_tile_bwd; }
SmTileFwdF32Fn sm_tile_fwd_f32_avx2() { return &sm_tile_fwd; }
SmTileBwdF32Fn sm_tile_bwd_f32_avx2() { return &sm_tile_bwd; }
BceF32Fn bce_f32_avx2() { return &bce_values; }
UnaryF32Fn unary_f32_avx2() { return &unary_math; }

}  // namespace flambeau::cpu::simd
