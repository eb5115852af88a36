// Float64 vector math (unary ops, activations, softmax rows, float32 pow) with AVX-512 registers (8
// double lanes): the primitives for cpu/simd/math_f64_vec.inc, which holds the math and the bodies
// shared with math_f64_avx2.cpp.
// Only built with AVX-512 flags and only called when the CPU has AVX-512 (cpu/capability.cpp).
#include <immintrin.h>
#include <math.h>  // ::log (once per softmax row), ::sin/::cos (arguments beyond the vector reduction)
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu::simd {
namespace {

constexpr int W = 8;
using vd = __m512d;
using vm = __mmask8;

inline vd ld(const double* p) { return _mm512_loadu_pd(p); }
inline void st(double* p, vd v) { _mm512_storeu_pd(p, v); }
// Non-temporal store (p aligned to 64 bytes): bypasses the cache, no read-for-ownership.
inline void st_nt(double* p, vd v) { _mm512_stream_pd(p, v); }
inline void nt_fence() { _mm_sfence(); }
inline vd set1(double v) { return _mm512_set1_pd(v); }
// W floats as doubles, and back (rounded to nearest; overflow to inf, subnormals as IEEE).
inline vd ld_f32(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline void st_f32(float* p, vd v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
inline vd add(vd a, vd b) { return _mm512_add_pd(a, b); }
inline vd sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
inline vd mul(vd a, vd b) { return _mm512_mul_pd(a, b); }
inline vd div_(vd a, vd b) { return _mm512_div_pd(a, b); }
inline vd fma_(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
inline vd fnma_(vd a, vd b, vd c) { return _mm512_fnmadd_pd(a, b, c); }  // c - a b
inline vd fms_(vd a, vd b, vd c) { return _mm512_fmsub_pd(a, b, c); }    // a b - c
// If either operand is NaN, min/max return the second (b): callers pass x second to keep its NaN.
inline vd vmin(vd a, vd b) { return _mm512_min_pd(a, b); }
inline vd vmax(vd a, vd b) { return _mm512_max_pd(a, b); }
inline vd vabs(vd a) { return _mm512_abs_pd(a); }
inline vd vneg(vd a) {
  return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64((long long)0x8000000000000000ull)));
}
inline vd copysign_(vd mag, vd sgn) {
  const __m512i s = _mm512_set1_epi64((long long)0x8000000000000000ull);
  return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(mag), _mm512_castpd_si512(sgn), s, 0xD8));
}
// a with the low 32 bits of its significand cleared (fdlibm's SET_LOW_WORD(z, 0)): z * z is exact.
inline vd hi_half(vd a) {
  return _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64((long long)0xFFFFFFFF00000000ull)));
}
inline vm lt(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
inline vm le(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_LE_OQ); }
inline vm gt(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
inline vm ge(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_GE_OQ); }
inline vm eq(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
inline vm ne(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_NEQ_UQ); }  // true if either is NaN
inline vm isnan_(vd a) { return _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q); }
inline vm signbit_(vd a) { return _mm512_movepi64_mask(_mm512_castpd_si512(a)); }  // sign bit set (-0 too)
inline vm mand(vm a, vm b) { return (vm)(a & b); }
inline vm mor(vm a, vm b) { return (vm)(a | b); }
inline bool all_(vm a) { return a == (vm)0xFF; }
inline bool any_(vm a) { return a != 0; }
inline vd sel(vm m, vd a, vd b) { return _mm512_mask_blend_pd(m, b, a); }
inline vd pick(vm m, double a, double b) { return sel(m, set1(a), set1(b)); }  // sel between constants
inline vm mnot(vm a) { return (vm)~a; }
inline int64_t popcnt_(vm a) { return __builtin_popcount(a); }
// Lane compaction for erf/erfc's range sort (math_f64_vec.inc, erf_run_compact): the lanes of m
// packed to p[0..popcnt(m)) (a full vector is stored: p has W slots), and the reverse, src's lanes
// outside m kept.
#define FLB_F64_COMPRESS 1
inline int64_t compress_st(double* p, vm m, vd v) {
  _mm512_storeu_pd(p, _mm512_maskz_compress_pd(m, v));
  return popcnt_(m);
}
inline vd expand_ld(vd src, vm m, const double* p) { return _mm512_mask_expand_pd(src, m, _mm512_loadu_pd(p)); }
// For m = j + 1.5 2^52 (j integral, |j| < 2^51): the lanes whose j has bit b set (the low bits of
// m's significand are j's two's complement bits), and v with its sign flipped where j has bit b set.
inline vm jbit(vd m, int b) { return _mm512_test_epi64_mask(_mm512_castpd_si512(m), _mm512_set1_epi64(1ll << b)); }
inline vd flip_by_jbit(vd v, vd m, int b) {
  // bit b shifted to the sign, then v ^ (that & sign mask) in one vpternlogq (0x78: A ^ (B & C)).
  const __m512i s = _mm512_slli_epi64(_mm512_castpd_si512(m), 63 - b);
  return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(v), s, _mm512_set1_epi64(1ll << 63), 0x78));
}
inline vd sqrt_(vd a) { return _mm512_sqrt_pd(a); }
// 1/d to 14 bits (vrcp14pd; 0 for d = inf), and the Newton steps that take it to float64's last bits.
inline vd rcp_approx(vd d) { return _mm512_rcp14_pd(d); }
constexpr int kRcpSteps = 2;
inline vd roundn(vd a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vd floor_(vd a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline vd ceil_(vd a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline vd trunc_(vd a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
// y 2^n for integral n, rounded once (subnormal results and overflow to inf included).
inline vd scale2n(vd y, vd n) { return _mm512_scalef_pd(y, n); }
// y 2^floor(t) (scalef floors its second operand), rounded once.
inline vd scale2floor(vd y, vd t) { return _mm512_scalef_pd(y, t); }
// tab[i], i = the low 4 bits of z's bit pattern, per lane: one two-table permute.
inline vd lookup16(const double* tab, vd z) {
  return _mm512_permutex2var_pd(_mm512_load_pd(tab), _mm512_castpd_si512(z), _mm512_load_pd(tab + 8));
}
// y = m 2^e with m in [sqrt(1/2), sqrt(2)) for positive normal y: t = bits(y) - bits(sqrt(1/2)),
// e = t >> 52 (arithmetic), m = bits(y) - (t's exponent field).
inline vd frexp_(vd y, vd& e) {
  __m512i ix = _mm512_castpd_si512(y);
  __m512i t = _mm512_sub_epi64(ix, _mm512_set1_epi64(0x3FE6A09E667F3BCDll));
  e = _mm512_cvtepi64_pd(_mm512_srai_epi64(t, 52));
  return _mm512_castsi512_pd(_mm512_sub_epi64(ix, _mm512_and_si512(t, _mm512_set1_epi64((long long)0xFFF0000000000000ull))));
}

#include "cpu/simd/math_f64_vec.inc"

}  // namespace

UnaryF64Fn unary_f64_avx512() { return &unary_math; }
UnaryF32Fn unary_f32_f64_avx512() { return &unary_f32; }
BoxMullerFn box_muller_avx512() { return &box_muller; }
ActFwdF64Fn act_fwd_f64_avx512() { return &act_fwd; }
ActBwdF64Fn act_bwd_f64_avx512() { return &act_bwd; }
PowF32Fn pow_f32_avx512() { return &pow_f32; }
PowF32Fn fmod_f32_avx512() { return &fmod_f32; }
PowF32Fn hypot_f32_avx512() { return &hypot_f32; }
Atan2F32Fn atan2_f32_avx512() { return &atan2_run<float>; }
Atan2F64Fn atan2_f64_avx512() { return &atan2_run<double>; }
RowSoftmaxF64Fn row_softmax_f64_avx512() { return &row_softmax; }
RowSoftmaxBwdF64Fn row_softmax_bwd_f64_avx512() { return &row_softmax_bwd; }
RowLogSumExpF64Fn row_logsumexp_f64_avx512() { return &row_logsumexp; }

}  // namespace flambeau::cpu::simd
