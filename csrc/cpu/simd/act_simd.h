// Function tables filled by the activation SIMD leaf files (activation_avx2.cpp, activation_avx512.cpp).
// As in simd.h, only plain function pointers cross: this header declares nothing inline.
#pragma once
#include <cstdint>

namespace flambeau::cpu::simd {

// Op ids, equal to cpu::Act (checked by static_assert in cpu/activation.cpp).
enum ActId : int {
  kSigmoid = 0, kTanh, kRelu, kLeakyRelu, kElu, kGelu, kGeluTanh, kSilu, kMish, kSoftplus, kSoftsign, kHardtanh,
  kHardsigmoid, kHardswish, kHardshrink, kSoftshrink, kTanhshrink, kThreshold, kLogSigmoid, kActCount
};

// Contiguous float32 activation forward: out[i] = f(x[i]) for op = (int)cpu::Act, p = ActParams::p.
// Returns false (touching nothing) when the leaf has no vector version of `op`; the caller then runs
// the scalar loop. out may alias x.
using ActFwdF32Fn = bool (*)(int op, const double* p, float* out, const float* x, int64_t n);
// Contiguous float32 backward: gi[i] = g[i] * f'(s[i]) (s = saved input or output, as the scalar
// kernel). gi may alias g.
using ActBwdF32Fn = bool (*)(int op, const double* p, float* gi, const float* g, const float* s, int64_t n);
// Row helpers for the fused cross-entropy (cpu/loss.cpp), contiguous float32 rows:
// max of x[0..n) (NaN if any is NaN), and sum of exp(x[i] - m) accumulated in float64 per lane.
using RowMaxF32Fn = float (*)(const float* x, int64_t n);
using RowSumExpF32Fn = double (*)(const float* x, float m, int64_t n);
// out[i] = a * exp(x[i] - m) + b (the softmax-based gradient of a row); out may alias x.
using RowSoftmaxAxpbF32Fn = void (*)(float* out, const float* x, float m, float a, float b, int64_t n);

// Last-dim softmax / log-softmax (cpu/softmax.cpp) of `rows` contiguous float32 rows of n > 0, and
// its backward (y = the forward's output; gi may alias g). Described at row_softmax in act_vec.inc.
using RowSoftmaxF32Fn = void (*)(float* y, const float* x, int64_t rows, int64_t n, bool log);
using RowSoftmaxBwdF32Fn = void (*)(float* gi, const float* g, const float* y, int64_t rows, int64_t n, bool log);
RowSoftmaxF32Fn row_softmax_f32_avx2();
RowSoftmaxF32Fn row_softmax_f32_avx512();
RowSoftmaxBwdF32Fn row_softmax_bwd_f32_avx2();
RowSoftmaxBwdF32Fn row_softmax_bwd_f32_avx512();

// N-d cross-entropy tiles (the layout and contract are described at ce_tile_fwd/ce_tile_bwd in
// cpu/simd/act_vec.inc): C planes of nj consecutive positions, plane c at x + c * stride.
// Forward: copies the planes into buf ([C][J]), writes m[j] (per-position max, all -inf -> 0) and
// l[j] = log(sum exp(x - m)) (C <= 64, float sum) or sd[j] = the sum in float64 (C > 64).
using CeTileFwdF32Fn = void (*)(const float* x, int64_t stride, int64_t C, int64_t nj, int64_t J, float* buf,
                                float* m, float* l, double* sd);
// Backward: g[c*stride + j] = A[j] exp((x - m[j]) - l[j]) + B[j] - S[j] w[c] - (tf[j] == c ? K[j] : 0).
using CeTileBwdF32Fn = void (*)(float* g, const float* x, int64_t stride, int64_t C, int64_t nj, const float* m,
                                const float* l, const float* A, const float* B, const float* tf, const float* K,
                                const float* S, const float* w);
CeTileFwdF32Fn ce_tile_fwd_f32_avx2();
CeTileFwdF32Fn ce_tile_fwd_f32_avx512();
CeTileBwdF32Fn ce_tile_bwd_f32_avx2();
CeTileBwdF32Fn ce_tile_bwd_f32_avx512();

// Softmax / log-softmax over a non-last dim (cpu/softmax.cpp), same tile layout (described at
// sm_tile_fwd/sm_tile_bwd in cpu/simd/act_vec.inc): nj <= J <= 512 positions, C planes `stride` apart
// in x, y, g and gi alike. buf: C * J floats (forward); the backward uses none (J <= 2048 there).
// gi may alias g.
using SmTileFwdF32Fn = void (*)(float* y, const float* x, int64_t stride, int64_t C, int64_t nj, int64_t J,
                                float* buf, bool log);
using SmTileBwdF32Fn = void (*)(float* gi, const float* g, const float* y, int64_t stride, int64_t C, int64_t nj,
                                int64_t J, float* buf, bool log);
SmTileFwdF32Fn sm_tile_fwd_f32_avx2();
SmTileFwdF32Fn sm_tile_fwd_f32_avx512();
SmTileBwdF32Fn sm_tile_bwd_f32_avx2();
SmTileBwdF32Fn sm_tile_bwd_f32_avx512();

// Binary cross-entropy values of a contiguous float32 chunk, unweighted:
// out[i] = (t - 1) max(log1p(-x), -100) - t max(log(x), -100). Inputs with x outside [2^-126, 1]
// (zero, subnormal, out of range, NaN) are computed by the caller's scalar formula, which this
// leaves to it: returns the number of leading elements done (a multiple of W, or n).
using BceF32Fn = int64_t (*)(float* out, const float* x, const float* t, int64_t n);
BceF32Fn bce_f32_avx2();
BceF32Fn bce_f32_avx512();

// Foundation unary math on contiguous float32 (cpu/elementwise.cpp, the ops of flambeau.exp, log,
// tanh, asin, sinh, erfinv, ...): out[i] = f(x[i]) for op = (int)UnaryOp, whose values these ids repeat (checked by
// static_assert in cpu/elementwise.cpp). Returns false, touching nothing, when the leaf has no vector
// version of `op` (then the caller runs its scalar loop); n = 0 asks only that. out may alias x.
enum UnaryId : int {
  kUNeg = 0, kUAbs = 1, kUExp = 2, kULog, kULog2, kULog10, kULog1p, kUExpm1, kUSqrt, kURsqrt, kUSin, kUCos, kUTan, kUTanh, kUSigmoid,
  kURelu, kUSign, kUFloor, kUCeil, kURound, kUTrunc, kUReciprocal, kUErf, kUSquare,
  kUAsin = 29, kUAcos, kUAtan, kUSinh, kUCosh, kUAsinh, kUAcosh, kUAtanh, kUErfc, kUErfinv
};
using UnaryF32Fn = bool (*)(int op, float* out, const float* x, int64_t n);
UnaryF32Fn unary_f32_avx2();
UnaryF32Fn unary_f32_avx512();
// The same on contiguous float64 (cpu/simd/math_f64_vec.inc, leaves math_f64_avx2.cpp and
// math_f64_avx512.cpp): exp, log, log2, log10, log1p, expm1, tanh, sigmoid, sin, cos, erf and the exact ops; the
// two leaves give the same bits.
// Box-Muller pairs for randn (cpu/random.cpp): for pair j of Philox words a = w[2j], c = w[2j + 1],
// u1 = ((a >> 8) + 1) / 2^24, u2 = (c >> 8) / 2^24, r = sqrt(-2 log u1), t = 2 pi u2:
// out[2j] = r cos t, out[2j + 1] = r sin t (core/philox.h's philox_normal, with this file's vector
// log / sin / cos in place of libm's: within an ulp of float64 of it). Both leaves give the same bits.
using BoxMullerFn = void (*)(double* out, const uint32_t* w, int64_t npairs);
BoxMullerFn box_muller_avx2();
BoxMullerFn box_muller_avx512();
using UnaryF64Fn = bool (*)(int op, double* out, const double* x, int64_t n);
UnaryF64Fn unary_f64_avx2();
UnaryF64Fn unary_f64_avx512();
// Float32 unary math taken in float64 and rounded once (the same leaves, math_f64_vec.inc's unary_f32):
// exp, log, log2, log10, log1p, expm1, sin, cos, tanh, erf, erfc, atan, sinh, cosh, correctly rounded
// but in rare near-ties; the UnaryF32Fn contract (false for any other op). The two leaves agree but
// where tanh/sinh/cosh's float64 quotient lands within ~2^-26 ulp of a float midpoint.
UnaryF32Fn unary_f32_f64_avx2();
UnaryF32Fn unary_f32_f64_avx512();
// The activations of ActFwdF32Fn / ActBwdF32Fn on contiguous float64, from the same leaves (every op
// but gelu 'none', for which they return false).
using ActFwdF64Fn = bool (*)(int op, const double* p, double* out, const double* x, int64_t n);
using ActBwdF64Fn = bool (*)(int op, const double* p, double* gi, const double* g, const double* s, int64_t n);
ActFwdF64Fn act_fwd_f64_avx2();
ActFwdF64Fn act_fwd_f64_avx512();
ActBwdF64Fn act_bwd_f64_avx2();
ActBwdF64Fn act_bwd_f64_avx512();
// The forward leaves of the running CPU's capability, nullptr on the portable one (defined in the
// baseline cpu/activation.cpp; cpu/rnn.cpp uses them too).
ActFwdF32Fn act_fwd_f32_for_cpu();
ActFwdF64Fn act_fwd_f64_for_cpu();
// x ** y on contiguous float32, computed in float64 (correctly rounded but in rare near-ties, C99's
// special cases), from the same leaves: o[i] = x[i] ** (y_scalar ? y[0] : y[i]); o may alias x or y.
using PowF32Fn = void (*)(float* o, const float* x, const float* y, bool y_scalar, int64_t n);
PowF32Fn pow_f32_avx2();
PowF32Fn pow_f32_avx512();
// fmod(x, y) on contiguous float32 (exact, in float64; libm for quotients beyond 2^51), same form:
// o[i] = fmod(x[i], y_scalar ? y[0] : y[i]); o may alias x or y.
PowF32Fn fmod_f32_avx2();
PowF32Fn fmod_f32_avx512();
// hypot(x, y) on contiguous float32 in float64 (glibc's hypotf bits), same form.
PowF32Fn hypot_f32_avx2();
PowF32Fn hypot_f32_avx512();
// atan2(y, x) on contiguous float32 / float64 computed in float64 (fdlibm's atan; C99's cases), from
// the same leaves: o[i] = atan2(y[i], x_scalar ? x[0] : x[i]); o may alias y or x.
using Atan2F32Fn = void (*)(float* o, const float* y, const float* x, bool x_scalar, int64_t n);
using Atan2F64Fn = void (*)(double* o, const double* y, const double* x, bool x_scalar, int64_t n);
Atan2F32Fn atan2_f32_avx2();
Atan2F32Fn atan2_f32_avx512();
Atan2F64Fn atan2_f64_avx2();
Atan2F64Fn atan2_f64_avx512();
// Last-dim softmax / log-softmax rows and their backward on float64 (cpu/softmax.cpp), as the float32
// ones above; the two leaves give the same bits.
using RowSoftmaxF64Fn = void (*)(double* y, const double* x, int64_t rows, int64_t n, bool log);
using RowSoftmaxBwdF64Fn = void (*)(double* gi, const double* g, const double* y, int64_t rows, int64_t n, bool log);
RowSoftmaxF64Fn row_softmax_f64_avx2();
RowSoftmaxF64Fn row_softmax_f64_avx512();
RowSoftmaxBwdF64Fn row_softmax_bwd_f64_avx2();
RowSoftmaxBwdF64Fn row_softmax_bwd_f64_avx512();
// out[r] = logsumexp of row r (rows contiguous rows of n > 0 float64): cpu/reduce.cpp's last-dims case.
using RowLogSumExpF64Fn = void (*)(double* out, const double* x, int64_t rows, int64_t n);
RowLogSumExpF64Fn row_logsumexp_f64_avx2();
RowLogSumExpF64Fn row_logsumexp_f64_avx512();

ActFwdF32Fn act_fwd_f32_avx2();
ActBwdF32Fn act_bwd_f32_avx2();
RowMaxF32Fn row_max_f32_avx2();
RowSumExpF32Fn row_sumexp_f32_avx2();
RowSoftmaxAxpbF32Fn row_softmax_axpb_f32_avx2();
ActFwdF32Fn act_fwd_f32_avx512();
ActBwdF32Fn act_bwd_f32_avx512();
RowMaxF32Fn row_max_f32_avx512();
RowSumExpF32Fn row_sumexp_f32_avx512();
RowSoftmaxAxpbF32Fn row_softmax_axpb_f32_avx512();

}  // namespace flambeau::cpu::simd
