// Elementwise kernels: every unary and binary op of op_enums.h over the strided walk of loops.h.
// The op is chosen once per call (a switch outside the loop), so each inner loop is a tight,
// auto-vectorisable loop over one lambda. Contiguous float32 add/sub/mul/div go to the SIMD leaf
// files when the CPU has AVX2/AVX-512. Semantics follow PyTorch: NaN propagates through
// maximum/minimum/relu/clamp, remainder and floor_divide round toward -inf like Python, integer
// division by zero raises.
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include "core/view.h"
#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/loops.h"
#include "cpu/simd/act_simd.h"
#include "cpu/simd/simd.h"
#include "core/special_math.h"
#include "core/special_functions.h"

namespace flambeau::cpu {

namespace {

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// torch.maximum / minimum: a NaN operand wins (a's first), else the larger / smaller (b on ties).
// Written as three selects, not branches, so that the loop vectorises (compare + blend); with the
// early returns it ran one element at a time (maximum on 1M floats: 0.70x PyTorch).
template <class T>
inline T max_nan(T a, T b) {
  T r = a > b ? a : b;
  r = b != b ? b : r;
  return a != a ? a : r;
}
template <class T>
inline T min_nan(T a, T b) {
  T r = a < b ? a : b;
  r = b != b ? b : r;
  return a != a ? a : r;
}

template <class T>
inline T float_floor_divide(T a, T b) {
  if (b == 0) return a / b;
  T mod = std::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= T(1);
  T floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
  } else {
    floordiv = std::copysign(T(0), a / b);
  }
  return floordiv;
}

inline int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp) {
    if (exp & 1) result *= base;
    exp >>= 1;
    base *= base;
  }
  return result;
}

// One value for every element: a single element, or broadcast with every stride 0 (a Python scalar).
bool is_scalar_operand(const Tensor& b) {
  bool zero_strides = true;
  for (auto st : b.strides) zero_strides = zero_strides && st == 0;
  return (zero_strides || b.numel() == 1) && b.numel() > 0;
}

static_assert((int)UnaryOp::Exp == simd::kUExp && (int)UnaryOp::Log1p == simd::kULog1p &&
                  (int)UnaryOp::Sin == simd::kUSin && (int)UnaryOp::Tanh == simd::kUTanh &&
                  (int)UnaryOp::Relu == simd::kURelu && (int)UnaryOp::Floor == simd::kUFloor &&
                  (int)UnaryOp::Reciprocal == simd::kUReciprocal && (int)UnaryOp::Erf == simd::kUErf &&
                  (int)UnaryOp::Neg == simd::kUNeg && (int)UnaryOp::Abs == simd::kUAbs &&
                  (int)UnaryOp::Square == simd::kUSquare && (int)UnaryOp::Asin == simd::kUAsin &&
                  (int)UnaryOp::Atanh == simd::kUAtanh && (int)UnaryOp::Erfinv == simd::kUErfinv,
              "UnaryOp and simd::UnaryId must agree");

// float32 / float64 unary math through the SIMD leaves (float32: cpu/simd/unary_vec.inc, float64:
// cpu/simd/math_f64_vec.inc); false when the op has no vector body or the CPU capability is the
// portable one. A strided operand or output (a chunk of an LSTM's gates, a transposed view, tanh_ on
// a slice) goes through a contiguous copy into the same leaf, rather than the scalar loop, which gave
// other bits (libm's) and ran 16x slower (tanh of a [32, 128] view with row stride 512: 57 us against
// 3.5 contiguous). The copy is a fresh tensor, so an output overlapping the operand stays safe.
template <class T>
bool simd_unary(UnaryOp op, const Tensor& out, const Tensor& a) {
  constexpr DType kD = std::is_same_v<T, float> ? DType::Float32 : DType::Float64;
  if (out.dtype != kD || a.dtype != kD || out.numel() != a.numel()) return false;
  const Capability cap = capability();
  if (cap == Capability::Default) return false;
  bool (*fn)(int, T*, const T*, int64_t);
  if constexpr (std::is_same_v<T, float>) {
    // The transcendental functions taken in float64 and rounded once (PyTorch's bits wherever
    // PyTorch's float32 result is correctly rounded); the rest in the float32 leaf.
    fn = cap == Capability::AVX512 ? simd::unary_f32_f64_avx512() : simd::unary_f32_f64_avx2();
    if (!fn((int)op, nullptr, nullptr, 0))
      fn = cap == Capability::AVX512 ? simd::unary_f32_avx512() : simd::unary_f32_avx2();
  } else {
    fn = cap == Capability::AVX512 ? simd::unary_f64_avx512() : simd::unary_f64_avx2();
  }
  if (!fn((int)op, nullptr, nullptr, 0)) return false;  // no vector body for this op
  const Tensor ac = a.is_contiguous() ? a : contiguous(a);
  const Tensor oc = out.is_contiguous() ? out : empty(out.sizes, out.dtype, out.device());
  T* o = oc.data<T>();
  const T* x = ac.data<T>();
  constexpr int64_t grain = std::is_same_v<T, float> ? kGrain / 4 : kGrain / 8;
  parallel_for(out.numel(), grain, [&](int64_t s, int64_t e) { fn((int)op, o + s, x + s, e - s); });
  if (!out.is_contiguous()) copy(out, oc);
  return true;
}

// out[i] = f(a[i], b[i] or b[0]) by a float64-leaf function fn(o, x, y, y_scalar, n): out and a
// contiguous, b a scalar or contiguous of the same size, the work split in thread chunks. False
// (touching nothing) when the layout does not fit.
template <class T, class Fn>
bool leaf_binary(const Tensor& out, const Tensor& a, const Tensor& b, Fn fn) {
  if (!out.is_contiguous() || !a.is_contiguous() || out.numel() != a.numel() || b.dtype != a.dtype) return false;
  const bool b_scalar = is_scalar_operand(b);
  if (!b_scalar && !(b.is_contiguous() && b.numel() == out.numel())) return false;
  T* o = out.data<T>();
  const T* x = a.data<T>();
  const T* y = b.data<T>();
  parallel_for(out.numel(), kGrain / 8, [&](int64_t s, int64_t e) { fn(o + s, x + s, b_scalar ? y : y + s, b_scalar, e - s); });
  return true;
}

// float32 x ** y for the exponents without a cheap form (cpu/simd/math_f64_vec.inc, v_pow).
bool simd_pow_f32(const Tensor& out, const Tensor& a, const Tensor& b) {
  const Capability cap = capability();
  if (cap == Capability::Default || out.dtype != DType::Float32 || a.dtype != DType::Float32) return false;
  return leaf_binary<float>(out, a, b, cap == Capability::AVX512 ? simd::pow_f32_avx512() : simd::pow_f32_avx2());
}

// float32 fmod and hypot in the float64 leaves (cpu/simd/math_f64_vec.inc, v_fmod_f32, v_hypot_f32):
// the same bits as the scalar loops (fmod is exact; hypot is glibc's hypotf formula).
bool simd_fmod_hypot_f32(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Capability cap = capability();
  if (cap == Capability::Default || out.dtype != DType::Float32 || a.dtype != DType::Float32) return false;
  const bool avx512 = cap == Capability::AVX512;
  if (op == BinaryOp::Fmod) return leaf_binary<float>(out, a, b, avx512 ? simd::fmod_f32_avx512() : simd::fmod_f32_avx2());
  return leaf_binary<float>(out, a, b, avx512 ? simd::hypot_f32_avx512() : simd::hypot_f32_avx2());
}

// atan2 of float32 / float64 in the float64 leaves (cpu/simd/math_f64_vec.inc, v_atan2).
template <class T>
bool simd_atan2(const Tensor& out, const Tensor& a, const Tensor& b) {
  const Capability cap = capability();
  if constexpr (std::is_same_v<T, float>)
    return cap != Capability::Default &&
           leaf_binary<T>(out, a, b, cap == Capability::AVX512 ? simd::atan2_f32_avx512() : simd::atan2_f32_avx2());
  else if constexpr (std::is_same_v<T, double>)
    return cap != Capability::Default &&
           leaf_binary<T>(out, a, b, cap == Capability::AVX512 ? simd::atan2_f64_avx512() : simd::atan2_f64_avx2());
  else
    return false;
}

// Broadcast operands (x + row, x * column, outer products): the strided walk's rows go to the leaves
// when they are unit-stride, or one operand is constant along them (for a constant first operand
// only the commutative add and mul, computed as y op x). a[:, :1] + b[:1, :] of [1024, 1024] ran
// the scalar walk at 0.7x PyTorch, outer() at 0.6x.
bool simd_binary_f32_rows(int op, const Tensor& out, const Tensor& a, const Tensor& b, Capability cap) {
  if (out.numel() < 4096) return false;
  StridedWalk<3> w({&out, &a, &b});
  if (w.sizes.empty()) return false;
  const size_t last = w.sizes.size() - 1;
  const int64_t so = w.strides[0][last], sa = w.strides[1][last], sb = w.strides[2][last];
  const bool ok = so == 4 && ((sa == 4 && (sb == 4 || sb == 0)) || (sa == 0 && sb == 4 && (op == 0 || op == 2)));
  if (!ok) return false;
  auto fn = cap == Capability::AVX512 ? simd::binary_f32_avx512() : simd::binary_f32_avx2();
  auto sfn = cap == Capability::AVX512 ? simd::binary_scalar_f32_avx512() : simd::binary_scalar_f32_avx2();
  w.run(base_ptrs<3>({&out, &a, &b}), [=](std::array<char*, 3>& p, int64_t n, const std::array<int64_t, 3>& s) {
    float* o = reinterpret_cast<float*>(p[0]);
    const float* x = reinterpret_cast<const float*>(p[1]);
    const float* y = reinterpret_cast<const float*>(p[2]);
    if (s[1] == 4 && s[2] == 4) fn(op, o, x, y, n);
    else if (s[1] == 4) sfn(op, o, x, *y, n);
    else sfn(op, o, y, *x, n);
  });
  return true;
}

// Contiguous float64 operands (b may be a scalar) in the AVX2 leaf, 4 lanes (it serves the AVX-512
// capability too): the baseline loops (SSE2) ran at 0.43-0.9x PyTorch on 65536 float64 (Zen 3).
// Same bits.
bool simd_binary_f64(int op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype != DType::Float64 || a.dtype != DType::Float64 || b.dtype != DType::Float64) return false;
  if (capability() == Capability::Default || !out.is_contiguous() || !a.is_contiguous()) return false;
  const bool b_scalar = is_scalar_operand(b);
  if (!b_scalar && !b.is_contiguous()) return false;
  const int64_t n = out.numel();
  if (a.numel() != n || (!b_scalar && b.numel() != n)) return false;
  double* o = out.data<double>();
  const double* x = a.data<double>();
  if (b_scalar) {
    const auto fn = simd::binary_scalar_f64_avx2();
    const double y = *b.data<double>();
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { fn(op, o + s, x + s, y, e - s); });
  } else {
    const auto fn = simd::binary_f64_avx2();
    const double* y = b.data<double>();
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { fn(op, o + s, x + s, y + s, e - s); });
  }
  return true;
}

bool simd_binary(BinaryOp op_in, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype != DType::Float32 && out.dtype != DType::Float64) return false;
  int op;  // the leaves' op codes (cpu/simd/simd.h)
  switch (op_in) {
    case BinaryOp::Add: op = 0; break;
    case BinaryOp::Sub: op = 1; break;
    case BinaryOp::Mul: op = 2; break;
    case BinaryOp::Div: op = 3; break;
    case BinaryOp::Maximum: op = 4; break;  // branch-free selects in baseline SSE2 were 0.69x PyTorch
    case BinaryOp::Minimum: op = 5; break;
    default: return false;
  }
  if (out.dtype == DType::Float64) return simd_binary_f64(op, out, a, b);
  if (!out.is_contiguous()) return false;
  Capability cap = capability();
  if (cap == Capability::Default) return false;
  const bool b_scalar = is_scalar_operand(b);
  if (!a.is_contiguous() || (!b_scalar && !b.is_contiguous())) return simd_binary_f32_rows(op, out, a, b, cap);
  int64_t n = out.numel();
  float* o = out.data<float>();
  const float* x = a.data<float>();
  if (b_scalar) {
    auto fn = cap == Capability::AVX512 ? simd::binary_scalar_f32_avx512() : simd::binary_scalar_f32_avx2();
    float y = *b.data<float>();
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { fn((int)op, o + s, x + s, y, e - s); });
  } else {
    auto fn = cap == Capability::AVX512 ? simd::binary_f32_avx512() : simd::binary_f32_avx2();
    const float* y = b.data<float>();
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { fn((int)op, o + s, x + s, y + s, e - s); });
  }
  return true;
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& out, const Tensor& a) {
  constexpr bool F = std::is_floating_point_v<T>;
  constexpr bool B = std::is_same_v<T, bool>;
  auto same = [&](auto f) { unary_loop<T, T>(out, a, f); };
  auto to_bool = [&](auto f) { unary_loop<bool, T>(out, a, f); };
  switch (op) {
    case UnaryOp::LogicalNot: return to_bool([](T x) { return !(x != T(0)); });
    case UnaryOp::IsNan: return to_bool([](T x) { return is_nan(x); });
    case UnaryOp::IsInf:
      if constexpr (F) return to_bool([](T x) { return std::isinf(x); });
      else return to_bool([](T) { return false; });
    case UnaryOp::IsFinite:
      if constexpr (F) return to_bool([](T x) { return std::isfinite(x); });
      else return to_bool([](T) { return true; });
    default: break;
  }
  if constexpr (B) {
    if (op == UnaryOp::BitwiseNot) return same([](bool x) { return !x; });
    throw TypeError(str_cat("unary op ", (int)op, " is not supported for bool tensors"));
  } else {
    switch (op) {
      case UnaryOp::Neg: return same([](T x) { return T(-x); });
      case UnaryOp::Abs:
        if constexpr (F) return same([](T x) { return std::fabs(x); });  // abs(-0.0) = +0.0
        else return same([](T x) { return x < 0 ? T(-x) : x; });
      case UnaryOp::Sign: return same([](T x) { return T((T(0) < x) - (x < T(0))); });
      case UnaryOp::Square: return same([](T x) { return T(x * x); });
      case UnaryOp::Relu: return same([](T x) { return x < T(0) ? T(0) : x; });  // NaN and -0 kept, as PyTorch
      default: break;
    }
    if constexpr (!F) {
      switch (op) {
        case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
          return same([](T x) { return x; });
        case UnaryOp::BitwiseNot: return same([](T x) { return T(~x); });
        default: throw TypeError(str_cat("unary op ", (int)op, " needs a floating-point tensor"));
      }
    } else {
      using D = std::conditional_t<std::is_same_v<T, float>, double, T>;
      switch (op) {
        // The float32 transcendental functions in double, rounded once, as the SIMD leaves'
        // unary_f32 (correctly rounded but in rare near-ties; glibc's float versions of tanh, erf,
        // erfc, sinh, cosh, atan are not).
        case UnaryOp::Exp: return same([](T x) { return T(std::exp(D(x))); });
        case UnaryOp::Log: return same([](T x) { return T(std::log(D(x))); });
        case UnaryOp::Log2: return same([](T x) { return T(std::log2(D(x))); });
        case UnaryOp::Log10: return same([](T x) { return T(std::log10(D(x))); });
        case UnaryOp::Log1p: return same([](T x) { return T(std::log1p(D(x))); });
        case UnaryOp::Expm1: return same([](T x) { return T(std::expm1(D(x))); });
        case UnaryOp::Sqrt: return same([](T x) { return std::sqrt(x); });
        case UnaryOp::Rsqrt: return same([](T x) { return T(1) / std::sqrt(x); });
        case UnaryOp::Sin: return same([](T x) { return T(std::sin(D(x))); });
        case UnaryOp::Cos: return same([](T x) { return T(std::cos(D(x))); });
        case UnaryOp::Tan: return same([](T x) { return std::tan(x); });
        case UnaryOp::Tanh: return same([](T x) { return T(std::tanh(D(x))); });
        case UnaryOp::Sigmoid: return same([](T x) { return T(1) / (T(1) + std::exp(-x)); });
        case UnaryOp::Floor: return same([](T x) { return std::floor(x); });
        case UnaryOp::Ceil: return same([](T x) { return std::ceil(x); });
        case UnaryOp::Round: return same([](T x) { return std::nearbyint(x); });
        case UnaryOp::Trunc: return same([](T x) { return std::trunc(x); });
        case UnaryOp::Reciprocal: return same([](T x) { return T(1) / x; });
        case UnaryOp::Erf: return same([](T x) { return T(std::erf(D(x))); });
        case UnaryOp::Asin: return same([](T x) { return std::asin(x); });
        case UnaryOp::Acos: return same([](T x) { return std::acos(x); });
        case UnaryOp::Atan: return same([](T x) { return T(std::atan(D(x))); });
        case UnaryOp::Sinh: return same([](T x) { return T(std::sinh(D(x))); });
        case UnaryOp::Cosh: return same([](T x) { return T(std::cosh(D(x))); });
        case UnaryOp::Asinh: return same([](T x) { return std::asinh(x); });
        case UnaryOp::Acosh: return same([](T x) { return std::acosh(x); });
        case UnaryOp::Atanh: return same([](T x) { return std::atanh(x); });
        case UnaryOp::Erfc: return same([](T x) { return T(std::erfc(D(x))); });
        // lgamma_r: std::lgamma writes the global signgam, a data race under OpenMP.
        case UnaryOp::Lgamma:
          if constexpr (std::is_same_v<T, float>) return same([](float x) { int s; return lgammaf_r(x, &s); });
          else return same([](double x) { int s; return lgamma_r(x, &s); });
        case UnaryOp::Erfinv: return same([](T x) { return T(special::erfinv((double)x, sizeof(T) == 4 ? 1 : 2)); });
        case UnaryOp::Digamma: return same([](T x) { return T(special::digamma((double)x)); });
        case UnaryOp::Trigamma: return same([](T x) { return T(special::trigamma((double)x)); });
        default:
          // torch.special's Bessel / Airy / erfcx / log_ndtr / ndtri family: float64, rounded once.
          if (special::is_special_unary(op)) return same([op](T x) { return T(special::unary(op, (double)x)); });
          throw TypeError(str_cat("unary op ", (int)op, " is not supported for floating-point tensors"));
      }
    }
  }
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  constexpr bool F = std::is_floating_point_v<T>;
  constexpr bool B = std::is_same_v<T, bool>;
  auto same = [&](auto f) { binary_loop<T, T>(out, a, b, f); };
  auto to_bool = [&](auto f) { binary_loop<bool, T>(out, a, b, f); };
  switch (op) {
    case BinaryOp::Eq: return to_bool([](T x, T y) { return x == y; });
    case BinaryOp::Ne: return to_bool([](T x, T y) { return x != y; });
    case BinaryOp::Lt: return to_bool([](T x, T y) { return x < y; });
    case BinaryOp::Le: return to_bool([](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return to_bool([](T x, T y) { return x > y; });
    case BinaryOp::Ge: return to_bool([](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return to_bool([](T x, T y) { return (x != T(0)) && (y != T(0)); });
    case BinaryOp::LogicalOr: return to_bool([](T x, T y) { return (x != T(0)) || (y != T(0)); });
    case BinaryOp::LogicalXor: return to_bool([](T x, T y) { return (x != T(0)) != (y != T(0)); });
    case BinaryOp::Maximum: return same([](T x, T y) { return max_nan(x, y); });
    case BinaryOp::Minimum: return same([](T x, T y) { return min_nan(x, y); });
    default: break;
  }
  if constexpr (B) {
    switch (op) {
      case BinaryOp::Add: case BinaryOp::BitwiseOr: return same([](bool x, bool y) { return x || y; });
      case BinaryOp::Mul: case BinaryOp::BitwiseAnd: return same([](bool x, bool y) { return x && y; });
      case BinaryOp::BitwiseXor: return same([](bool x, bool y) { return x != y; });
      default: throw TypeError(str_cat("binary op ", (int)op, " is not supported for bool tensors"));
    }
  } else {
    switch (op) {
      case BinaryOp::Add: return same([](T x, T y) { return T(x + y); });
      case BinaryOp::Sub: return same([](T x, T y) { return T(x - y); });
      case BinaryOp::Mul: return same([](T x, T y) { return T(x * y); });
      default: break;
    }
    if constexpr (F) {
      switch (op) {
        case BinaryOp::Div: return same([](T x, T y) { return x / y; });
        case BinaryOp::Pow: {
          // A scalar exponent among PyTorch's special cases takes its cheap form, as PyTorch does
          // (x ** 2 is x * x, x ** 0.5 is sqrt(x), ...): a libm pow per element was 50x slower
          // than PyTorch's x ** 2. Other exponents (and tensor exponents) call std::pow.
          if (is_scalar_operand(b)) {
            const T e = *b.data<T>();
            // The forms that are one unary op go to its vector leaf when the layout allows (same
            // bits: x * x, correctly rounded sqrt and division); x ** 2 in the baseline loop's
            // broadcast walk ran at 0.75x PyTorch on 1M floats (Zen 3).
            const UnaryOp as_unary = e == T(2) ? UnaryOp::Square : e == T(0.5) ? UnaryOp::Sqrt
                                     : e == T(-1) ? UnaryOp::Reciprocal : e == T(-0.5) ? UnaryOp::Rsqrt
                                                                                       : UnaryOp::Count;
            if (as_unary != UnaryOp::Count && simd_unary<T>(as_unary, out, a)) return;
            if (e == T(2)) return same([](T x, T) { return T(x * x); });
            if (e == T(1)) return same([](T x, T) { return x; });
            if (e == T(3)) return same([](T x, T) { return T(x * x * x); });
            if (e == T(0.5)) return same([](T x, T) { return std::sqrt(x); });
            if (e == T(-1)) return same([](T x, T) { return T(1) / x; });
            if (e == T(-2)) return same([](T x, T) { return T(1) / (x * x); });
            if (e == T(-0.5)) return same([](T x, T) { return T(1) / std::sqrt(x); });
          }
          if constexpr (std::is_same_v<T, float>)
            if (simd_pow_f32(out, a, b)) return;
          return same([](T x, T y) { return std::pow(x, y); });
        }
        case BinaryOp::Remainder:
          return same([](T x, T y) {
            T r = std::fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return r;
          });
        case BinaryOp::Fmod:
          if constexpr (std::is_same_v<T, float>)
            if (simd_fmod_hypot_f32(op, out, a, b)) return;
          return same([](T x, T y) { return std::fmod(x, y); });
        case BinaryOp::Hypot:
          if constexpr (std::is_same_v<T, float>) {
            if (simd_fmod_hypot_f32(op, out, a, b)) return;
            // glibc's hypotf, inlined so the loop needs no libm call per element: the squares are exact in
            // double and cannot overflow there, one sqrt, rounded once; an infinite operand wins over NaN.
            return same([](float x, float y) {
              const float r = float(std::sqrt(double(x) * x + double(y) * y));
              return (std::isinf(x) || std::isinf(y)) ? INFINITY : r;
            });
          }
          return same([](T x, T y) { return std::hypot(x, y); });
        case BinaryOp::FloorDivide: return same([](T x, T y) { return float_floor_divide(x, y); });
        case BinaryOp::Atan2:
          if (simd_atan2<T>(out, a, b)) return;
          return same([](T x, T y) { return std::atan2(x, y); });
        case BinaryOp::TanhBackward: return same([](T g, T y) { return g * (T(1) - y * y); });
        case BinaryOp::SigmoidBackward: return same([](T g, T y) { return g * (T(1) - y) * y; });
        default:
          // zeta, the incomplete gamma functions and the orthogonal polynomials (float64, rounded once).
          if (special::is_special_binary(op))
            return same([op](T x, T y) { return special::binary<T>(op, x, y); });
          throw TypeError(str_cat("binary op ", (int)op, " is not supported for floating-point tensors"));
      }
    } else {
      // Integer ops that can fault: check the divisor/exponent first, then compute.
      std::atomic<bool> bad{false};
      switch (op) {
        case BinaryOp::Div:
        case BinaryOp::FloorDivide:
        case BinaryOp::Remainder:
        case BinaryOp::Fmod: {
          bool floor_mode = op == BinaryOp::FloorDivide || op == BinaryOp::Remainder;
          bool rem = op == BinaryOp::Remainder || op == BinaryOp::Fmod;
          same([&](T x, T y) -> T {
            if (y == 0) { bad.store(true, std::memory_order_relaxed); return 0; }
            if (y == -1) return rem ? T(0) : T(0 - (uint64_t)x);  // avoids INT64_MIN / -1 overflow trap
            T q = x / y, r = x % y;
            if (floor_mode && r != 0 && ((r < 0) != (y < 0))) { q -= 1; r += y; }
            return rem ? r : q;
          });
          if (bad) throw RuntimeError("ZeroDivisionError: integer division or remainder by zero");
          return;
        }
        case BinaryOp::Pow:
          // Negative exponents truncate toward zero, as PyTorch's integer pow: 1 and -1 stay +-1,
          // everything else (0 included) becomes 0.
          return same([](T x, T y) -> T {
            if (y < 0) {
              if (x == 1) return 1;
              if (x == -1) return (y & 1) ? -1 : 1;
              return 0;
            }
            return int_pow(x, y);
          });
        case BinaryOp::BitwiseAnd: return same([](T x, T y) { return T(x & y); });
        case BinaryOp::BitwiseOr: return same([](T x, T y) { return T(x | y); });
        case BinaryOp::BitwiseXor: return same([](T x, T y) { return T(x ^ y); });
        default: throw TypeError(str_cat(op_name(op), ": needs floating-point tensors, got ", dtype_name(out.dtype)));
      }
    }
  }
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& a) {
  if (simd_unary<float>(op, out, a) || simd_unary<double>(op, out, a)) return;
  FLB_DISPATCH_ALL(a.dtype, op_name(op), [&] { unary_typed<scalar_t>(op, out, a); });
}

// An operand laid out across the output's order (x + y.t(): its last-dim stride is a row length)
// makes the strided walk gather one element per cache line. For 4-byte elements the transposing copy
// (cpu/copy.cpp, 8x8 register blocks) is several times faster than that gather, so such an operand
// is first copied into the output's order (x + y.t() on [1024, 1024]: 0.6x PyTorch before). Only
// for a same-shape operand without broadcast dims, of at least kRepackNumel elements, into a
// contiguous output; the copy is a fresh tensor, so an output overlapping the operand stays safe.
static constexpr int64_t kRepackNumel = 1 << 16;
static bool worth_repacking(const Tensor& out, const Tensor& t) {
  if (t.element_size() != 4 || t.dim() < 2 || t.numel() < kRepackNumel || t.sizes != out.sizes) return false;
  if (t.strides.back() == 1) return false;
  for (auto st : t.strides)
    if (st == 0) return false;
  return true;
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.is_contiguous() && (worth_repacking(out, a) || worth_repacking(out, b))) {
    const Tensor a2 = worth_repacking(out, a) ? contiguous(a) : a;
    const Tensor b2 = worth_repacking(out, b) ? contiguous(b) : b;
    return binary(op, out, a2, b2);
  }
  if (simd_binary(op, out, a, b)) return;
  FLB_DISPATCH_ALL(a.dtype, op_name(op), [&] { binary_typed<scalar_t>(op, out, a, b); });
}

namespace {
#include "cpu/simd/ternary_vec.inc"  // the baseline copy, for CPUs without AVX2 (std::fma by libm)
}  // namespace

void ternary(TernaryOp op, const Tensor& out, const Tensor& s, const Tensor& a, const Tensor& b, double value) {
  const Capability cap = capability();
  StridedWalk<4> w({&out, &s, &a, &b});
  auto run = [&](auto* tag, auto fn) {
    using T = std::remove_pointer_t<decltype(tag)>;
    w.run(base_ptrs<4>({&out, &s, &a, &b}), [&](std::array<char*, 4>& p, int64_t n, const std::array<int64_t, 4>& st) {
      const int64_t el[4] = {st[0] / (int64_t)sizeof(T), st[1] / (int64_t)sizeof(T), st[2] / (int64_t)sizeof(T),
                             st[3] / (int64_t)sizeof(T)};
      fn((int)op, reinterpret_cast<T*>(p[0]), reinterpret_cast<const T*>(p[1]), reinterpret_cast<const T*>(p[2]),
         reinterpret_cast<const T*>(p[3]), n, el, value);
    });
  };
  if (out.dtype == DType::Float32)
    run((float*)nullptr, cap == Capability::AVX512 ? simd::ternary_f32_avx512()
                         : cap == Capability::AVX2 ? simd::ternary_f32_avx2() : &ternary_f32);
  else if (out.dtype == DType::Float64)
    run((double*)nullptr, cap == Capability::AVX512 ? simd::ternary_f64_avx512()
                          : cap == Capability::AVX2 ? simd::ternary_f64_avx2() : &ternary_f64);
  else
    throw TypeError(str_cat("addcmul/addcdiv/lerp: expected a floating-point tensor, got ", dtype_name(out.dtype)));
}

namespace {

// Contiguous float32/float64 clamp in the elementwise leaves (cpu/simd/clamp_vec.inc: 8 or 16
// lanes, the same bits as the loop below); false for other types or without AVX2.
template <class T>
bool clamp_simd(T*, const T*, T, T, int64_t) {
  return false;
}
template <class T, class Fn>
bool clamp_simd_run(Fn fn, T* o, const T* x, T lo, T hi, int64_t n) {
  parallel_for(n, kGrain * 4 / (int64_t)sizeof(T), [=](int64_t b, int64_t e) { fn(o + b, x + b, lo, hi, e - b); });
  return true;
}
bool clamp_simd(float* o, const float* x, float lo, float hi, int64_t n) {
  const Capability cap = capability();
  if (cap == Capability::Default) return false;
  return clamp_simd_run(cap == Capability::AVX512 ? simd::clamp_f32_avx512() : simd::clamp_f32_avx2(), o, x, lo, hi, n);
}
bool clamp_simd(double* o, const double* x, double lo, double hi, int64_t n) {
  const Capability cap = capability();
  if (cap == Capability::Default) return false;
  return clamp_simd_run(cap == Capability::AVX512 ? simd::clamp_f64_avx512() : simd::clamp_f64_avx2(), o, x, lo, hi, n);
}

}  // namespace

void clamp(const Tensor& out, const Tensor& a, const Scalar* lo, const Scalar* hi) {
  FLB_DISPATCH_NUMERIC(a.dtype, "clamp", [&] {
    using T = scalar_t;
    const bool has_lo = lo != nullptr, has_hi = hi != nullptr;
    const T l = has_lo ? lo->to<T>() : T(0), h = has_hi ? hi->to<T>() : T(0);
    // One branch-free body per case (NaN fails both comparisons and passes through): the loops
    // vectorise, where one body testing has_lo/has_hi per element ran 7x slower than PyTorch.
    if (out.is_contiguous() && a.is_contiguous() && out.numel() == a.numel() && (has_lo || has_hi)) {
      T* o = out.data<T>();
      const T* x = a.data<T>();
      using Lim = std::numeric_limits<T>;  // a missing bound is the type's end (inf for floats: -inf stays)
      const T lo_ = has_lo ? l : (Lim::has_infinity ? -Lim::infinity() : Lim::lowest());
      const T hi_ = has_hi ? h : (Lim::has_infinity ? Lim::infinity() : Lim::max());
      if (clamp_simd(o, x, lo_, hi_, out.numel())) return;
      parallel_for(out.numel(), kGrain, [=](int64_t b, int64_t e) {
        // By value and restrict: captured by reference, every pointer and bound was reloaded per
        // element (the store might alias them) and the loop ran scalar at 2 ns per element.
        T* __restrict op = o;
        const T* __restrict xp = x;
        const T lo = lo_, hi = hi_;
        _Pragma("omp simd")  // (a #pragma cannot sit inside the dispatch macro's argument)
        for (int64_t i = b; i < e; ++i) {
          T v = xp[i] < lo ? lo : xp[i];
          op[i] = v > hi ? hi : v;
        }
      });
      return;
    }
    if (has_lo && has_hi) unary_loop<T, T>(out, a, [=](T x) { x = x < l ? l : x; return x > h ? h : x; });
    else if (has_lo) unary_loop<T, T>(out, a, [=](T x) { return x < l ? l : x; });
    else if (has_hi) unary_loop<T, T>(out, a, [=](T x) { return x > h ? h : x; });
    else unary_loop<T, T>(out, a, [](T x) { return x; });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  FLB_DISPATCH_ALL_TYPES(out.dtype, "where", [&] {
    using T = scalar_t;
    StridedWalk<4> w({&out, &cond, &a, &b});
    w.run(base_ptrs<4>({&out, &cond, &a, &b}), [&](std::array<char*, 4>& p, int64_t n, const std::array<int64_t, 4>& s) {
      constexpr int64_t E = sizeof(T);
      // Unit-stride rows (a or b may be a scalar): a select the compiler vectorises, with locals that
      // a store cannot alias (the strided form below ran at 0.75x PyTorch on [1024, 1024]).
      // (Up to 8-byte elements: complex128's 16 bytes take the strided loop below.)
      if (E <= 8 && s[0] == E && s[1] == 1 && ((s[2] == E && (s[3] == E || s[3] == 0)) || (s[2] == 0 && s[3] == E))) {
        // On the bits, by a mask from the condition byte: a random condition made the select a
        // mispredicted branch per element (3 ns each).
        using U = std::conditional_t<E == 8, uint64_t, std::conditional_t<E == 4, uint32_t, std::conditional_t<E == 2, uint16_t, uint8_t>>>;
        U* __restrict o = reinterpret_cast<U*>(p[0]);
        const uint8_t* __restrict c = reinterpret_cast<const uint8_t*>(p[1]);
        const U* __restrict x = reinterpret_cast<const U*>(p[2]);
        const U* __restrict y = reinterpret_cast<const U*>(p[3]);
        // xs, ys: the operands' element strides as compile-time 0 or 1, so each layout gets its own
        // vectorised loop from this one body (a scalar operand is read once).
        auto select = [&](auto xs, auto ys) {
          for (int64_t i = 0; i < n; ++i) {
            const U m = U(0) - U(c[i] != 0);
            o[i] = (x[i * xs] & m) | (y[i * ys] & ~m);
          }
        };
        using Zero = std::integral_constant<int64_t, 0>;
        using One = std::integral_constant<int64_t, 1>;
        if (s[3] == 0) select(One{}, Zero{});
        else if (s[2] == 0) select(Zero{}, One{});  // masked_fill: where(mask, value, x)
        else select(One{}, One{});
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                     ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                     : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
}

void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& x, double threshold) {
  FLB_DISPATCH_FLOATING(out.dtype, "threshold_backward", [&] {
    using T = scalar_t;
    const T th = (T)threshold;
    binary_loop<T, T>(out, grad, x, [th](T g, T v) { return v <= th ? T(0) : g; });
  });
}

}  // namespace flambeau::cpu
