// Elementwise kernels: every unary and binary op of ops/op_enums.h, clamp, where and
// threshold_backward, for the dtypes the CPU build supports, with the CPU build's (= PyTorch's)
// semantics:
//   * maximum/minimum/relu/clamp propagate NaN; sign(NaN) = 0 as in PyTorch;
//   * remainder and floor_divide round toward -inf like Python, for floats and int64;
//   * int64 add/sub/mul/pow wrap (two's complement); INT64_MIN / -1 wraps instead of trapping;
//     int pow with a negative exponent gives 0 (1 and -1 stay +-1), as PyTorch;
//   * int64 div/remainder/floor_divide by zero raise RuntimeError like the CPU: the kernel records
//     the fault in a device flag and the launcher reads it back (a synchronisation, paid only by
//     these three int64 ops);
//   * bool: add/bitwise_or = or, mul/bitwise_and = and, bitwise_xor = xor, bitwise_not = not;
//   * abs(-0.0) = +0.0 (fabs), as PyTorch.
// The op is a run-time argument switched on per element (see UnaryRt): one kernel per (dtype,
// output kind, path) rather than one per op. Measured: one instantiation per op took 45 s per
// architecture to compile, this takes a fraction of it, and the switch is free next to memory
// traffic. Contiguous float32 takes the float4 path; everything else the strided path.
#include <type_traits>
#include "cuda/kernels.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"
#include "core/special_math.h"
#include "core/special_functions.h"

namespace flambeau::cuda {

namespace {

template <class T>
constexpr bool kFloat = std::is_floating_point_v<T>;
template <class T>
constexpr bool kBool = std::is_same_v<T, bool>;
template <class T>
constexpr bool kInt = std::is_same_v<T, int64_t>;

// ---------------------------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------------------------

constexpr bool unary_bool_out(UnaryOp op) {
  return op == UnaryOp::LogicalNot || op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite;
}

// Which (op, dtype) pairs exist (mirrors cpu/elementwise.cpp).
template <UnaryOp OP, class T>
constexpr bool unary_ok() {
  if (unary_bool_out(OP)) return true;
  if (kBool<T>) return OP == UnaryOp::BitwiseNot;
  if (OP == UnaryOp::Neg || OP == UnaryOp::Abs || OP == UnaryOp::Sign || OP == UnaryOp::Square ||
      OP == UnaryOp::Relu)
    return true;
  if (kInt<T>)
    return OP == UnaryOp::Floor || OP == UnaryOp::Ceil || OP == UnaryOp::Round || OP == UnaryOp::Trunc ||
           OP == UnaryOp::BitwiseNot;
  return OP != UnaryOp::BitwiseNot;  // floats: everything else
}

template <UnaryOp OP, class T>
struct UnaryFn {
  using out_t = std::conditional_t<unary_bool_out(OP), bool, T>;
  __device__ __forceinline__ out_t operator()(T x) const {
    if constexpr (OP == UnaryOp::LogicalNot) return !(x != T(0));
    else if constexpr (OP == UnaryOp::IsNan) return dm::isnan(x);
    else if constexpr (OP == UnaryOp::IsInf) return dm::isinf(x);
    else if constexpr (OP == UnaryOp::IsFinite) return dm::isfinite(x);
    else if constexpr (kBool<T>) return !x;  // BitwiseNot
    else if constexpr (OP == UnaryOp::Neg) {
      if constexpr (kInt<T>) return dm::wneg(x); else return -x;
    } else if constexpr (OP == UnaryOp::Abs) {
      if constexpr (kInt<T>) return x < 0 ? dm::wneg(x) : x; else return dm::fabs(x);
    } else if constexpr (OP == UnaryOp::Sign) return T((T(0) < x) - (x < T(0)));
    else if constexpr (OP == UnaryOp::Square) {
      if constexpr (kInt<T>) return dm::wmul(x, x); else return x * x;
    } else if constexpr (OP == UnaryOp::Relu) return dm::isnan(x) ? x : (x > T(0) ? x : T(0));
    else if constexpr (kInt<T>) {
      if constexpr (OP == UnaryOp::BitwiseNot) return ~x;
      else return x;  // floor/ceil/round/trunc of an integer
    } else {
      if constexpr (OP == UnaryOp::Exp) return dm::exp(x);
      else if constexpr (OP == UnaryOp::Log) return dm::log(x);
      else if constexpr (OP == UnaryOp::Log2) return dm::log2(x);
      else if constexpr (OP == UnaryOp::Log10) return dm::log10(x);
      else if constexpr (OP == UnaryOp::Log1p) return dm::log1p(x);
      else if constexpr (OP == UnaryOp::Expm1) return dm::expm1(x);
      else if constexpr (OP == UnaryOp::Sqrt) return dm::sqrt(x);
      else if constexpr (OP == UnaryOp::Rsqrt) return T(1) / dm::sqrt(x);
      else if constexpr (OP == UnaryOp::Sin) return dm::sin(x);
      else if constexpr (OP == UnaryOp::Cos) return dm::cos(x);
      else if constexpr (OP == UnaryOp::Tan) return dm::tan(x);
      else if constexpr (OP == UnaryOp::Tanh) return dm::tanh(x);
      else if constexpr (OP == UnaryOp::Sigmoid) return T(1) / (T(1) + dm::exp(-x));
      else if constexpr (OP == UnaryOp::Floor) return dm::floor(x);
      else if constexpr (OP == UnaryOp::Ceil) return dm::ceil(x);
      else if constexpr (OP == UnaryOp::Round) return dm::rint(x);
      else if constexpr (OP == UnaryOp::Trunc) return dm::trunc(x);
      else if constexpr (OP == UnaryOp::Reciprocal) return T(1) / x;
      else if constexpr (OP == UnaryOp::Erf) return dm::erf(x);
      else if constexpr (OP == UnaryOp::Asin) return dm::asin(x);
      else if constexpr (OP == UnaryOp::Acos) return dm::acos(x);
      else if constexpr (OP == UnaryOp::Atan) return dm::atan(x);
      else if constexpr (OP == UnaryOp::Sinh) return dm::sinh(x);
      else if constexpr (OP == UnaryOp::Cosh) return dm::cosh(x);
      else if constexpr (OP == UnaryOp::Asinh) return dm::asinh(x);
      else if constexpr (OP == UnaryOp::Acosh) return dm::acosh(x);
      else if constexpr (OP == UnaryOp::Atanh) return dm::atanh(x);
      else if constexpr (OP == UnaryOp::Erfc) return dm::erfc(x);
      else if constexpr (OP == UnaryOp::Lgamma) return dm::lgamma(x);
      // float64 evaluation, one rounding for float32, the same code as the CPU (core/special_math.h).
      else if constexpr (OP == UnaryOp::Erfinv) return T(special::erfinv((double)x, sizeof(T) == 4 ? 1 : 2));
      else if constexpr (OP == UnaryOp::Digamma) return T(special::digamma((double)x));
      else if constexpr (OP == UnaryOp::Trigamma) return T(special::trigamma((double)x));
      else if constexpr (special::is_special_unary(OP)) return T(special::unary(OP, (double)x));
      else return x;  // not reached: excluded by unary_ok
    }
  }
};

#define FLB_UNARY_OPS(X)                                                                            \
  X(Neg) X(Abs) X(Exp) X(Log) X(Log2) X(Log10) X(Log1p) X(Expm1) X(Sqrt) X(Rsqrt) X(Sin) X(Cos) X(Tan) \
  X(Tanh) X(Sigmoid) X(Relu) X(Sign) X(Floor) X(Ceil) X(Round) X(Trunc) X(Reciprocal) X(Erf) X(Square) \
  X(LogicalNot) X(IsNan) X(IsInf) X(IsFinite) X(BitwiseNot) X(Asin) X(Acos) X(Atan) X(Sinh) X(Cosh)    \
  X(Asinh) X(Acosh) X(Atanh) X(Erfc) X(Erfinv) X(Lgamma) X(Digamma) X(Trigamma) X(BesselJ0) X(BesselJ1)  \
  X(BesselY0) X(BesselY1) X(ModifiedBesselI0) X(ModifiedBesselI1) X(ModifiedBesselK0) X(ModifiedBesselK1) \
  X(ScaledModifiedBesselK0) X(ScaledModifiedBesselK1) X(SphericalBesselJ0) X(AiryAi) X(Erfcx) X(LogNdtr)   \
  X(Ndtri) X(I0) X(I0e) X(I1) X(I1e)

// The op is a run-time value, switched on per element (a uniform branch: every thread takes the
// same case). One kernel per (dtype, output kind) instead of one per op keeps compile time and
// binary size down; the switch costs a few instructions per element, far below what memory
// bandwidth leaves free. Pairs unary_ok rejects are never reached (the host checks first).
template <class T, bool BOOL_OUT>
struct UnaryRt {
  using out_t = std::conditional_t<BOOL_OUT, bool, T>;
  UnaryOp op;
  __device__ __forceinline__ out_t operator()(T x) const {
    switch (op) {
#define FLB_CASE(name)                                                                        \
  case UnaryOp::name:                                                                         \
    if constexpr (unary_ok<UnaryOp::name, T>() && unary_bool_out(UnaryOp::name) == BOOL_OUT) \
      return UnaryFn<UnaryOp::name, T>{}(x);                                                  \
    else                                                                                      \
      break;
      FLB_UNARY_OPS(FLB_CASE)
#undef FLB_CASE
      default: break;
    }
    return out_t();
  }
};

template <class T>
bool unary_ok_rt(UnaryOp op) {
  switch (op) {
#define FLB_CASE(name) \
  case UnaryOp::name:  \
    return unary_ok<UnaryOp::name, T>();
    FLB_UNARY_OPS(FLB_CASE)
#undef FLB_CASE
    default: return false;
  }
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& out, const Tensor& a) {
  FLB_CHECK((int)op >= 0 && (int)op < (int)UnaryOp::Count, ValueError, "unary: unknown op code ", (int)op);
  if (!unary_ok_rt<T>(op)) {
    if (kBool<T>) throw TypeError(str_cat(op_name(op), ": not supported for bool tensors"));
    if (kInt<T>) throw TypeError(str_cat(op_name(op), ": needs a floating-point tensor"));
    throw TypeError(str_cat(op_name(op), ": not supported for floating-point tensors"));
  }
  if (unary_bool_out(op)) launch_unary<bool, T>(out, a, UnaryRt<T, true>{op}, "unary");
  else launch_unary<T, T>(out, a, UnaryRt<T, false>{op}, "unary");
}

// ---------------------------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------------------------

constexpr bool binary_bool_out(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::LogicalXor; }

template <BinaryOp OP, class T>
constexpr bool binary_ok() {
  if (binary_bool_out(OP) || OP == BinaryOp::Maximum || OP == BinaryOp::Minimum) return true;
  if (kBool<T>)
    return OP == BinaryOp::Add || OP == BinaryOp::BitwiseOr || OP == BinaryOp::Mul || OP == BinaryOp::BitwiseAnd ||
           OP == BinaryOp::BitwiseXor;
  if (OP == BinaryOp::Add || OP == BinaryOp::Sub || OP == BinaryOp::Mul) return true;
  if (kFloat<T>)
    return OP == BinaryOp::Div || OP == BinaryOp::Pow || OP == BinaryOp::Remainder || OP == BinaryOp::Fmod ||
           OP == BinaryOp::FloorDivide || OP == BinaryOp::Atan2 || OP == BinaryOp::Hypot || OP == BinaryOp::TanhBackward ||
           OP == BinaryOp::SigmoidBackward || special::is_special_binary(OP);
  return OP == BinaryOp::Div || OP == BinaryOp::FloorDivide || OP == BinaryOp::Remainder || OP == BinaryOp::Fmod ||
         OP == BinaryOp::Pow ||
         OP == BinaryOp::BitwiseAnd || OP == BinaryOp::BitwiseOr || OP == BinaryOp::BitwiseXor;
}

template <class T>
__device__ __forceinline__ T float_floor_divide(T a, T b) {
  if (b == 0) return a / b;
  T mod = dm::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= T(1);
  T floordiv;
  if (div != 0) {
    floordiv = dm::floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
  } else {
    floordiv = dm::copysign(T(0), a / b);
  }
  return floordiv;
}

__device__ __forceinline__ int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp) {
    if (exp & 1) result = dm::wmul(result, base);
    exp >>= 1;
    base = dm::wmul(base, base);
  }
  return result;
}

template <BinaryOp OP, class T>
struct BinaryFn {
  using out_t = std::conditional_t<binary_bool_out(OP), bool, T>;
  ErrorSlot* err = nullptr;  // int64 div/remainder/floor_divide report division by zero here

  __device__ __forceinline__ out_t operator()(T x, T y) const {
    if constexpr (OP == BinaryOp::Eq) return x == y;
    else if constexpr (OP == BinaryOp::Ne) return x != y;
    else if constexpr (OP == BinaryOp::Lt) return x < y;
    else if constexpr (OP == BinaryOp::Le) return x <= y;
    else if constexpr (OP == BinaryOp::Gt) return x > y;
    else if constexpr (OP == BinaryOp::Ge) return x >= y;
    else if constexpr (OP == BinaryOp::LogicalAnd) return (x != T(0)) && (y != T(0));
    else if constexpr (OP == BinaryOp::LogicalOr) return (x != T(0)) || (y != T(0));
    else if constexpr (OP == BinaryOp::LogicalXor) return (x != T(0)) != (y != T(0));
    else if constexpr (OP == BinaryOp::Maximum) {
      if (dm::isnan(x)) return x;
      if (dm::isnan(y)) return y;
      return x > y ? x : y;
    } else if constexpr (OP == BinaryOp::Minimum) {
      if (dm::isnan(x)) return x;
      if (dm::isnan(y)) return y;
      return x < y ? x : y;
    } else if constexpr (kBool<T>) {
      if constexpr (OP == BinaryOp::Add || OP == BinaryOp::BitwiseOr) return x || y;
      else if constexpr (OP == BinaryOp::Mul || OP == BinaryOp::BitwiseAnd) return x && y;
      else return x != y;  // BitwiseXor
    } else if constexpr (kInt<T>) {
      if constexpr (OP == BinaryOp::Add) return dm::wadd(x, y);
      else if constexpr (OP == BinaryOp::Sub) return dm::wsub(x, y);
      else if constexpr (OP == BinaryOp::Mul) return dm::wmul(x, y);
      else if constexpr (OP == BinaryOp::BitwiseAnd) return x & y;
      else if constexpr (OP == BinaryOp::BitwiseOr) return x | y;
      else if constexpr (OP == BinaryOp::BitwiseXor) return x ^ y;
      else if constexpr (OP == BinaryOp::Pow) {
        // Negative exponents truncate toward zero, as PyTorch: 1 and -1 stay +-1, the rest is 0.
        if (y < 0) {
          if (x == 1) return 1;
          if (x == -1) return (y & 1) ? -1 : 1;
          return 0;
        }
        return int_pow(x, y);
      } else {  // Div (truncating), FloorDivide, Remainder
        if (y == 0) {
          record_error(err, x, 0);
          return 0;
        }
        constexpr bool rem = OP == BinaryOp::Remainder || OP == BinaryOp::Fmod;
        constexpr bool floor_mode = OP == BinaryOp::FloorDivide || OP == BinaryOp::Remainder;
        if (y == -1) return rem ? int64_t(0) : dm::wneg(x);
        int64_t q = x / y, r = x % y;
        if (floor_mode && r != 0 && ((r < 0) != (y < 0))) {
          q -= 1;
          r += y;
        }
        return rem ? r : q;
      }
    } else {  // floating point
      if constexpr (OP == BinaryOp::Add) return x + y;
      else if constexpr (OP == BinaryOp::Sub) return x - y;
      else if constexpr (OP == BinaryOp::Mul) return x * y;
      else if constexpr (OP == BinaryOp::Div) return x / y;
      else if constexpr (OP == BinaryOp::Pow) return dm::pow(x, y);
      else if constexpr (OP == BinaryOp::Remainder) {
        T r = dm::fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      } else if constexpr (OP == BinaryOp::Fmod) return dm::fmod(x, y);
      else if constexpr (OP == BinaryOp::FloorDivide) return float_floor_divide(x, y);
      else if constexpr (OP == BinaryOp::Atan2) return dm::atan2(x, y);
      else if constexpr (OP == BinaryOp::Hypot) return dm::hypot(x, y);
      else if constexpr (OP == BinaryOp::TanhBackward) return x * (T(1) - y * y);
      else if constexpr (OP == BinaryOp::SigmoidBackward) return x * (T(1) - y) * y;
      // torch.special's binary functions (core/special_functions.h).
      else if constexpr (special::is_special_binary(OP)) return special::binary<T>(OP, x, y);
      else return x;  // not reached: excluded by binary_ok
    }
  }
};

#define FLB_BINARY_OPS(X)                                                                           \
  X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Maximum) X(Minimum) X(Remainder) X(FloorDivide) X(Atan2) X(Eq)  \
  X(Ne) X(Lt) X(Le) X(Gt) X(Ge) X(LogicalAnd) X(LogicalOr) X(LogicalXor) X(BitwiseAnd) X(BitwiseOr)    \
  X(BitwiseXor) X(TanhBackward) X(SigmoidBackward) X(Fmod) X(Zeta) X(Igamma) X(Igammac) X(ChebyshevT) X(ChebyshevU)   \
  X(ChebyshevV) X(ChebyshevW) X(ShiftedChebyshevT) X(ShiftedChebyshevU) X(ShiftedChebyshevV)              \
  X(ShiftedChebyshevW) X(HermiteH) X(HermiteHe) X(LaguerreL) X(LegendreP) X(Hypot)

// Run-time op switch, as for unary ops above.
template <class T, bool BOOL_OUT>
struct BinaryRt {
  using out_t = std::conditional_t<BOOL_OUT, bool, T>;
  BinaryOp op;
  ErrorSlot* err;  // non-null only for the int64 ops that can fault
  __device__ __forceinline__ out_t operator()(T x, T y) const {
    switch (op) {
#define FLB_CASE(name)                                                                           \
  case BinaryOp::name:                                                                           \
    if constexpr (binary_ok<BinaryOp::name, T>() && binary_bool_out(BinaryOp::name) == BOOL_OUT) { \
      BinaryFn<BinaryOp::name, T> f;                                                             \
      f.err = err;                                                                               \
      return f(x, y);                                                                            \
    } else {                                                                                     \
      break;                                                                                     \
    }
      FLB_BINARY_OPS(FLB_CASE)
#undef FLB_CASE
      default: break;
    }
    return out_t();
  }
};

template <class T>
bool binary_ok_rt(BinaryOp op) {
  switch (op) {
#define FLB_CASE(name) \
  case BinaryOp::name: \
    return binary_ok<BinaryOp::name, T>();
    FLB_BINARY_OPS(FLB_CASE)
#undef FLB_CASE
    default: return false;
  }
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  FLB_CHECK((int)op >= 0 && (int)op < (int)BinaryOp::Count, ValueError, "binary: unknown op code ", (int)op);
  if (!binary_ok_rt<T>(op)) {
    if (kBool<T>) throw TypeError(str_cat(op_name(op), ": not supported for bool tensors"));
    if (kInt<T>) throw TypeError(str_cat(op_name(op), ": needs floating-point tensors, got ", dtype_name(out.dtype)));
    throw TypeError(str_cat(op_name(op), ": not supported for floating-point tensors"));
  }
  if (binary_bool_out(op)) {
    launch_binary<bool, T, T>(out, a, b, BinaryRt<T, true>{op, nullptr}, "binary");
    return;
  }
  const bool checked = kInt<T> && (op == BinaryOp::Div || op == BinaryOp::FloorDivide || op == BinaryOp::Remainder ||
                                 op == BinaryOp::Fmod);
  if (!checked) {
    launch_binary<T, T, T>(out, a, b, BinaryRt<T, false>{op, nullptr}, "binary");
    return;
  }
  if (out.numel() == 0) return;
  const int dev = out.device().index;
  DeviceGuard g(dev);
  DeviceErrorFlag flag(dev);
  launch_binary<T, T, T>(out, a, b, BinaryRt<T, false>{op, flag.get()}, "binary");
  if (flag.raised(nullptr)) throw RuntimeError("ZeroDivisionError: integer division or remainder by zero");
}

// ---------------------------------------------------------------------------------------------
// clamp, where, threshold_backward
// ---------------------------------------------------------------------------------------------

template <class T>
struct ClampFn {
  T lo, hi;
  bool has_lo, has_hi;
  __device__ __forceinline__ T operator()(T x) const {
    if (dm::isnan(x)) return x;
    if (has_lo) x = x < lo ? lo : x;
    if (has_hi) x = x > hi ? hi : x;
    return x;
  }
};

template <class T>
struct WhereFn {
  __device__ __forceinline__ T operator()(bool c, T a, T b) const { return c ? a : b; }
};

// Addcmul / addcdiv / lerp rounded as the CPU kernels (cpu/simd/ternary_vec.inc) and PyTorch's CPU:
// addcmul is one fma of (value * a) and b onto s, lerp one fma from the nearer end. Written with
// explicit fma so nvcc's contraction cannot pick a different grouping (a separate multiply and add
// round twice and differ from the CPU in the last bit).
template <class T>
struct AddcmulFn {
  T v;
  __device__ __forceinline__ T operator()(T s, T a, T b) const { return fma(v * a, b, s); }
};

template <class T>
struct AddcdivFn {
  T v;
  __device__ __forceinline__ T operator()(T s, T a, T b) const {
    const T q = (v * a) / b;  // IEEE division (no -prec-div=false in this build)
    return s + q;
  }
};

template <class T>
struct LerpFn {
  __device__ __forceinline__ T operator()(T s, T e, T w) const {
    const bool small = fabs(w) < T(0.5);
    return fma(small ? w : w - T(1), e - s, small ? s : e);
  }
};

template <class T>
struct ThresholdBackwardFn {
  T th;
  __device__ __forceinline__ T operator()(T g, T x) const { return x <= th ? T(0) : g; }
};

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& a) {
  FLB_DISPATCH_ALL(a.dtype, op_name(op), [&] { unary_typed<scalar_t>(op, out, a); });
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  FLB_CHECK(a.dtype == b.dtype, TypeError, "binary: operands have different dtypes (", dtype_name(a.dtype), ", ",
            dtype_name(b.dtype), ")");
  FLB_DISPATCH_ALL(a.dtype, op_name(op), [&] { binary_typed<scalar_t>(op, out, a, b); });
}

void clamp(const Tensor& out, const Tensor& a, const Scalar* lo, const Scalar* hi) {
  FLB_DISPATCH_NUMERIC(a.dtype, "clamp", [&] {
    using T = scalar_t;
    ClampFn<T> f{lo ? lo->to<T>() : T(0), hi ? hi->to<T>() : T(0), lo != nullptr, hi != nullptr};
    launch_unary<T, T>(out, a, f, "clamp");
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  FLB_CHECK(cond.dtype == DType::Bool, TypeError, "where: condition must be a bool tensor, got ",
            dtype_name(cond.dtype));
  FLB_DISPATCH_ALL_TYPES(out.dtype, "where", [&] {
    using T = scalar_t;
    launch_ternary<T, bool, T, T>(out, cond, a, b, WhereFn<T>{}, "where");
  });
}

void ternary(TernaryOp op, const Tensor& out, const Tensor& s, const Tensor& a, const Tensor& b, double value) {
  FLB_DISPATCH_FLOATING(out.dtype, "ternary", [&] {
    using T = scalar_t;
    switch (op) {
      case TernaryOp::Addcmul: launch_ternary<T, T, T, T>(out, s, a, b, AddcmulFn<T>{T(value)}, "addcmul"); break;
      case TernaryOp::Addcdiv: launch_ternary<T, T, T, T>(out, s, a, b, AddcdivFn<T>{T(value)}, "addcdiv"); break;
      case TernaryOp::Lerp: launch_ternary<T, T, T, T>(out, s, a, b, LerpFn<T>{}, "lerp"); break;
    }
  });
}

void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& x, double threshold) {
  FLB_DISPATCH_FLOATING(out.dtype, "threshold_backward", [&] {
    using T = scalar_t;
    launch_binary<T, T, T>(out, grad, x, ThresholdBackwardFn<T>{(T)threshold}, "threshold_backward");
  });
}

}  // namespace flambeau::cuda
