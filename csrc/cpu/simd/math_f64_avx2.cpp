// Float64 vector math (unary ops, activations, softmax rows, float32 pow) with AVX2 + FMA registers
// (4 double lanes): the primitives for cpu/simd/math_f64_vec.inc, which holds the math and the bodies
// shared with math_f64_avx512.cpp.
// Only built with AVX2/FMA flags and only called when the CPU has them (cpu/capability.cpp). AVX2
// lacks the 64-bit integer conversions and scalef of AVX-512; frexp_ and scale2n below build them from
// exponent-field arithmetic and give the same values.
#include <immintrin.h>
#include <math.h>  // ::log (once per softmax row), ::sin/::cos (arguments beyond the vector reduction)
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu::simd {
namespace {

constexpr int W = 4;
using vd = __m256d;
using vm = __m256d;  // all-ones lanes

inline vd ld(const double* p) { return _mm256_loadu_pd(p); }
inline void st(double* p, vd v) { _mm256_storeu_pd(p, v); }
// Non-temporal store (p aligned to 32 bytes): bypasses the cache, no read-for-ownership.
inline void st_nt(double* p, vd v) { _mm256_stream_pd(p, v); }
inline void nt_fence() { _mm_sfence(); }
inline vd set1(double v) { return _mm256_set1_pd(v); }
// W floats as doubles, and back (rounded to nearest; overflow to inf, subnormals as IEEE).
inline vd ld_f32(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
inline void st_f32(float* p, vd v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
inline vd add(vd a, vd b) { return _mm256_add_pd(a, b); }
inline vd sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
inline vd mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
inline vd div_(vd a, vd b) { return _mm256_div_pd(a, b); }
inline vd fma_(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
inline vd fnma_(vd a, vd b, vd c) { return _mm256_fnmadd_pd(a, b, c); }  // c - a b
inline vd fms_(vd a, vd b, vd c) { return _mm256_fmsub_pd(a, b, c); }    // a b - c
// If either operand is NaN, min/max return the second (b): callers pass x second to keep its NaN.
inline vd vmin(vd a, vd b) { return _mm256_min_pd(a, b); }
inline vd vmax(vd a, vd b) { return _mm256_max_pd(a, b); }
inline vd vabs(vd a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
inline vd vneg(vd a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
inline vd copysign_(vd mag, vd sgn) {
  const vd s = _mm256_set1_pd(-0.0);
  return _mm256_or_pd(_mm256_andnot_pd(s, mag), _mm256_and_pd(s, sgn));
}
// a with the low 32 bits of its significand cleared (fdlibm's SET_LOW_WORD(z, 0)): z * z is exact.
inline vd hi_half(vd a) {
  return _mm256_and_pd(a, _mm256_castsi256_pd(_mm256_set1_epi64x((long long)0xFFFFFFFF00000000ull)));
}
inline vm lt(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
inline vm le(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_LE_OQ); }
inline vm gt(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
inline vm ge(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_GE_OQ); }
inline vm eq(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
inline vm ne(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_NEQ_UQ); }  // true if either is NaN
inline vm isnan_(vd a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
inline vm signbit_(vd a) { return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), _mm256_castpd_si256(a))); }  // sign bit set (-0 too)
inline vm mand(vm a, vm b) { return _mm256_and_pd(a, b); }
inline vm mor(vm a, vm b) { return _mm256_or_pd(a, b); }
inline bool all_(vm a) { return _mm256_movemask_pd(a) == 0xF; }
inline bool any_(vm a) { return _mm256_movemask_pd(a) != 0; }
inline vd sel(vm m, vd a, vd b) { return _mm256_blendv_pd(b, a, m); }
// sel between two constants as b ^ (m & (a ^ b)): two one-cycle logic ops, where vblendvpd is three
// uops on Intel's recent cores (sin/cos pick their kernel's coefficients so, six per vector).
inline vd pick(vm m, double a, double b) {
  const vd d = _mm256_xor_pd(_mm256_set1_pd(a), _mm256_set1_pd(b));  // folded by the compiler
  return _mm256_xor_pd(_mm256_set1_pd(b), _mm256_and_pd(m, d));
}
// For m = j + 1.5 2^52 (j integral, |j| < 2^51): the lanes whose j has bit b set (the low bits of
// m's significand are j's two's complement bits), and v with its sign flipped where j has bit b set.
inline vm jbit(vd m, int b) {
  const __m256i k = _mm256_set1_epi64x(1ll << b);
  return _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(_mm256_castpd_si256(m), k), k));
}
inline vd flip_by_jbit(vd v, vd m, int b) {
  const __m256i s = _mm256_slli_epi64(_mm256_and_si256(_mm256_castpd_si256(m), _mm256_set1_epi64x(1ll << b)), 63 - b);
  return _mm256_xor_pd(v, _mm256_castsi256_pd(s));
}
inline vd sqrt_(vd a) { return _mm256_sqrt_pd(a); }
// 1/d to 12 bits from the float reciprocal (vrcpps; 0 for d beyond FLT_MAX), and the Newton steps
// that take it to float64's last bits (AVX-512: vrcp14pd, one step less; the two leaves' quotients
// may differ in float64's last bit, which changes a float32 result only in a near-tie).
inline vd rcp_approx(vd d) { return _mm256_cvtps_pd(_mm_rcp_ps(_mm256_cvtpd_ps(d))); }
constexpr int kRcpSteps = 3;
inline vd roundn(vd a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vd floor_(vd a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline vd ceil_(vd a) { return _mm256_round_pd(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
inline vd trunc_(vd a) { return _mm256_round_pd(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
// 2^n for integral n in [-1022, 1023]: n + 1023 lands in the low bits of 2^52 + (n + 1023), and the
// shift moves it into the exponent field.
inline vd pow2i(vd n) {
  __m256i b = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(0x1p52 + 1023.0)));
  return _mm256_castsi256_pd(_mm256_slli_epi64(b, 52));
}
// y 2^n for integral |n| <= 2044 and y in [0.5, 2] (what the callers pass), rounded once: 2^n as
// 2^n1 2^n2 with both halves normal; y 2^n1 stays normal (n1 >= -1022 / 2 - 1), so only the second
// product rounds, as AVX-512's scalef. NaN n or y gives NaN.
inline vd scale2n(vd y, vd n) {
  n = _mm256_min_pd(_mm256_set1_pd(2044.0), _mm256_max_pd(_mm256_set1_pd(-2044.0), n));
  vd n1 = floor_(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
  return _mm256_mul_pd(_mm256_mul_pd(y, pow2i(n1)), pow2i(_mm256_sub_pd(n, n1)));
}
// y 2^floor(t), as AVX-512's scalef.
inline vd scale2floor(vd y, vd t) { return scale2n(y, floor_(t)); }
// tab[i], i = the low 4 bits of z's bit pattern, per lane (AVX-512: one permute).
inline vd lookup16(const double* tab, vd z) {
  return _mm256_i64gather_pd(tab, _mm256_and_si256(_mm256_castpd_si256(z), _mm256_set1_epi64x(15)), 8);
}
// y = m 2^e with m in [sqrt(1/2), sqrt(2)) for positive normal y, as in math_f64_avx512.cpp; the
// arithmetic shift of t by 52 is its logical shift u (12 bits) with u >= 2048 meaning u - 4096.
inline vd frexp_(vd y, vd& e) {
  __m256i ix = _mm256_castpd_si256(y);
  __m256i t = _mm256_sub_epi64(ix, _mm256_set1_epi64x(0x3FE6A09E667F3BCDll));
  __m256i u = _mm256_srli_epi64(t, 52);
  vd ud = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(u, _mm256_castpd_si256(_mm256_set1_pd(0x1p52)))),
                        _mm256_set1_pd(0x1p52));
  e = _mm256_sub_pd(ud, _mm256_and_pd(_mm256_cmp_pd(ud, _mm256_set1_pd(2048.0), _CMP_GE_OQ), _mm256_set1_pd(4096.0)));
  return _mm256_castsi256_pd(_mm256_sub_epi64(ix, _mm256_and_si256(t, _mm256_set1_epi64x((long long)0xFFF0000000000000ull))));
}

#include "cpu/simd/math_f64_vec.inc"

}  // namespace

UnaryF64Fn unary_f64_avx2() { return &unary_math; }
UnaryF32Fn unary_f32_f64_avx2() { return &unary_f32; }
BoxMullerFn box_muller_avx2() { return &box_muller; }
ActFwdF64Fn act_fwd_f64_avx2() { return &act_fwd; }
ActBwdF64Fn act_bwd_f64_avx2() { return &act_bwd; }
PowF32Fn pow_f32_avx2() { return &pow_f32; }
PowF32Fn fmod_f32_avx2() { return &fmod_f32; }
PowF32Fn hypot_f32_avx2() { return &hypot_f32; }
Atan2F32Fn atan2_f32_avx2() { return &atan2_run<float>; }
Atan2F64Fn atan2_f64_avx2() { return &atan2_run<double>; }
RowSoftmaxF64Fn row_softmax_f64_avx2() { return &row_softmax; }
RowSoftmaxBwdF64Fn row_softmax_bwd_f64_avx2() { return &row_softmax_bwd; }
RowLogSumExpF64Fn row_logsumexp_f64_avx2() { return &row_logsumexp; }

}  // namespace flambeau::cpu::simd
