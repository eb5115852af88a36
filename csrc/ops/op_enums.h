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

// PyTorch's names of the ops, for error messages ("le: not implemented for dtype complex64").
inline const char* op_name(UnaryOp op) {
  static constexpr const char* names[] = {
      "neg", "abs", "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh",
      "sigmoid", "relu", "sign", "floor", "ceil", "round", "trunc", "reciprocal", "erf", "square", "logical_not",
      "isnan", "isinf", "isfinite", "bitwise_not", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
      "atanh", "erfc", "erfinv", "lgamma", "digamma", "trigamma", "special_bessel_j0", "special_bessel_j1",
      "special_bessel_y0", "special_bessel_y1", "special_modified_bessel_i0", "special_modified_bessel_i1",
      "special_modified_bessel_k0", "special_modified_bessel_k1", "special_scaled_modified_bessel_k0",
      "special_scaled_modified_bessel_k1", "special_spherical_bessel_j0", "special_airy_ai", "special_erfcx",
      "special_log_ndtr", "special_ndtri", "i0", "special_i0e", "special_i1", "special_i1e"};
  static_assert(sizeof(names) / sizeof(names[0]) == (int)UnaryOp::Count, "one name per UnaryOp");
  const int i = (int)op;
  return i >= 0 && i < (int)UnaryOp::Count ? names[i] : "unary";
}

inline const char* op_name(BinaryOp op) {
  static constexpr const char* names[] = {
      "add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "floor_divide", "atan2", "eq", "ne",
      "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
      "bitwise_xor", "tanh_backward", "sigmoid_backward", "fmod", "special_zeta", "igamma", "igammac",
      "special_chebyshev_polynomial_t", "special_chebyshev_polynomial_u", "special_chebyshev_polynomial_v",
      "special_chebyshev_polynomial_w", "special_shifted_chebyshev_polynomial_t",
      "special_shifted_chebyshev_polynomial_u", "special_shifted_chebyshev_polynomial_v",
      "special_shifted_chebyshev_polynomial_w", "special_hermite_polynomial_h", "special_hermite_polynomial_he",
      "special_laguerre_polynomial_l", "special_legendre_polynomial_p", "hypot"};
  static_assert(sizeof(names) / sizeof(names[0]) == (int)BinaryOp::Count, "one name per BinaryOp");
  const int i = (int)op;
  return i >= 0 && i < (int)BinaryOp::Count ? names[i] : "binary";
}

inline bool binary_returns_bool(BinaryOp op) {
  return op >= BinaryOp::Eq && op <= BinaryOp::LogicalXor;
}
inline bool unary_returns_bool(UnaryOp op) {
  return op == UnaryOp::LogicalNot || op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite;
}

}  // namespace flambeau
