// The elementwise and reduction op codes shared by the dispatch layer and both backends.
#pragma once
#include <cstdint>

namespace flambeau {

enum class UnaryOp : int {
  Neg, Abs, Exp, Log, Log2, Log10, Log1p, Expm1, Sqrt, Rsqrt, Sin, Cos, Tan, Tanh, Sigmoid, Relu,
  Sign, Floor, Ceil, Round, Trunc, Reciprocal, Erf, Square, LogicalNot, IsNan, IsInf, IsFinite, BitwiseNot,
  Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Erfc, Erfinv, Lgamma, Digamma, Trigamma,
  // torch.special's Bessel family, erfcx, log_ndtr, ndtri (core/special_functions.h), appended.
  BesselJ0, BesselJ1, BesselY0, BesselY1, ModifiedBesselI0, ModifiedBesselI1, ModifiedBesselK0, ModifiedBesselK1,
  ScaledModifiedBesselK0, ScaledModifiedBesselK1, SphericalBesselJ0, AiryAi, Erfcx, LogNdtr, Ndtri, I0, I0e, I1, I1e,
  Count
};

enum class BinaryOp : int {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Remainder, FloorDivide, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor, BitwiseAnd, BitwiseOr, BitwiseXor,
  // Fused backward helpers (grad, saved) -> grad_input: one pass instead of three.
  TanhBackward,     // g * (1 - y*y)
  SigmoidBackward,  // g * y * (1 - y)
  Fmod,             // C's fmod: the remainder with the dividend's sign (Remainder takes the divisor's)
  // torch.special's two-argument functions (core/special_functions.h): zeta(x, q), the regularized
  // incomplete gamma P(a, x) / Q(a, x), and the orthogonal polynomials p_n(x) (operands x, n).
  Zeta, Igamma, Igammac, ChebyshevT, ChebyshevU, ChebyshevV, ChebyshevW, ShiftedChebyshevT, ShiftedChebyshevU,
  ShiftedChebyshevV, ShiftedChebyshevW, HermiteH, HermiteHe, LaguerreL, LegendreP,
  Hypot,            // sqrt(x*x + y*y) without overflow or underflow (std::hypot), floating point only
  Count
};

// Three-operand pointwise ops (s, a, b; a scalar `value`), with PyTorch's CPU rounding:
//   Addcmul: fma(value*a, b, s)           Addcdiv: s + (value*a) / b
//   Lerp:    fma(c, a - s, base), where c = w, base = s when |w| < 0.5, else c = w - 1, base = a
//            (w is operand b: lerp(start = s, end = a, weight = b)); exact at w = 0 and w = 1.
enum class TernaryOp : int { Addcmul, Addcdiv, Lerp };

enum class ReduceOp : int { Sum, Prod, Max, Min, All, Any, Mean };

// scatter_reduce's combining step ("mean" is a Sum and a count, and include_self=False an Assign of the
// identity first: python/flambeau/_functions/scatter_reduce.py).
enum class ScatterReduce : int { Sum, Prod, Amax, Amin, Assign };

inline bool binary_returns_bool(BinaryOp op) {
  return op >= BinaryOp::Eq && op <= BinaryOp::LogicalXor;
}
inline bool unary_returns_bool(UnaryOp op) {
  return op == UnaryOp::LogicalNot || op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite;
}

}  // namespace flambeau
