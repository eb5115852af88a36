// Elementwise ops: broadcast, allocate (or check `out`), dispatch.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include "core/layout.h"
#include "ops/dispatch.h"
#include "ops/narrow_int.h"
#include "ops/ops.h"

namespace flambeau::ops {

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  FLB_CHECK(a.device() == b.device(), RuntimeError, op,
            ": expected all tensors to be on the same device, but found at least two devices, ", a.device().str(),
            " and ", b.device().str(), "!");
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  FLB_CHECK(a.dtype == b.dtype, TypeError, op, ": expected both operands to have the same dtype, got ",
            dtype_name(a.dtype), " and ", dtype_name(b.dtype));
}

// An output that several elements alias (an expanded view) can't be written elementwise.
static void check_writable(const Tensor& out, const char* op) {
  if (out.numel() == 0) return;  // nothing is written (PyTorch accepts an empty expanded output)
  for (int64_t d = 0; d < out.dim(); ++d)
    FLB_CHECK(!(out.strides[d] == 0 && out.sizes[d] > 1), RuntimeError, op,
              ": unsupported operation: more than one element of the written-to tensor (shape ", shape_str(out.sizes),
              ") refers to a single memory location. Please clone() the tensor before performing the operation.");
}

// A fresh output takes its inputs' layout as PyTorch's TensorIterator gives it (core/layout.h: a
// transposed or channels_last input gives a transposed or channels_last result); `operands` are the
// inputs broadcast to `shape`, in the op's argument order (the first decides ties).
static Tensor prepare_out(const std::optional<Tensor>& out, const Shape& shape, DType dtype, Device device,
                          const char* op, std::initializer_list<const Tensor*> operands = {}) {
  if (!out) return operands.size() == 0 ? empty(shape, dtype, device) : empty_elementwise(shape, dtype, device, operands);
  const Tensor& o = *out;
  FLB_CHECK(o.sizes == shape, RuntimeError, op, ": output with shape ", shape_str(o.sizes),
            " doesn't match the broadcast shape ", shape_str(shape));
  FLB_CHECK(o.dtype == dtype, TypeError, op, ": result type ", dtype_name(dtype), " can't be cast to the desired output type ",
            dtype_name(o.dtype));
  FLB_CHECK(o.device() == device, RuntimeError, op, ": output is on ", o.device().str(), ", inputs on ", device.str());
  check_writable(o, op);
  o.bump_version();
  return o;
}

// ---- the narrow integers (ops/narrow_int.h)
template <class T>
static bool fits_int(const Scalar& v) {
  if (v.kind == Scalar::Bool) return true;
  constexpr double lo = (double)std::numeric_limits<T>::lowest(), hi = (double)std::numeric_limits<T>::max();
  if (v.kind == Scalar::Float) return !std::isnan(v.d) && v.d >= lo && v.d <= hi;  // +-inf and NaN overflow
  if constexpr (std::is_unsigned_v<T>) return v.i <= (int64_t)hi && v.i >= -(int64_t)hi;
  else return v.i >= (int64_t)lo && v.i <= (int64_t)hi;
}

void check_scalar_fits(const Scalar& v, DType dtype, const char* op) {
  bool ok = true;
  const char* cname = "";
  switch (dtype) {
    case DType::UInt8: ok = fits_int<uint8_t>(v), cname = "uint8_t"; break;
    case DType::Int8: ok = fits_int<int8_t>(v), cname = "int8_t"; break;
    case DType::Int16: ok = fits_int<int16_t>(v), cname = "int16_t"; break;
    case DType::Int32: ok = fits_int<int32_t>(v), cname = "int32_t"; break;
    default: break;
  }
  (void)op;
  FLB_CHECK(ok, RuntimeError, "value cannot be converted to type ", cname, " without overflow");
}

Scalar scalar_as(const Scalar& v, DType dtype) {
  Tensor t = empty({}, dtype, cpu_device());
  fill_(t, v);
  Tensor w = to(t, is_floating(dtype) ? DType::Float64 : (dtype == DType::Bool ? DType::Bool : DType::Int64),
                cpu_device(), false);
  if (w.dtype == DType::Float64) return Scalar::from_double(*w.data<double>());
  if (w.dtype == DType::Bool) return Scalar::from_bool(*w.data<bool>());
  return Scalar::from_int(*w.data<int64_t>());
}

// The int64 result r of an op on narrow-integer operands, stored back as `dt` (bool results stay
// bool) and written to `out` when given.
static Tensor narrow_result(Tensor r, DType dt, const std::optional<Tensor>& out, const char* op);

static bool unary_float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square: case UnaryOp::Relu:
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
    case UnaryOp::LogicalNot: case UnaryOp::IsNan: case UnaryOp::IsInf: case UnaryOp::IsFinite:
    case UnaryOp::BitwiseNot:
      return false;
    default:
      return true;
  }
}

Tensor unary(UnaryOp op, const Tensor& a, const std::optional<Tensor>& out) {
  const char* name = op_name(op);
  if (out) assert_no_partial_overlap(*out, a, name);  // as PyTorch, before anything is written
  if (unary_float_only(op))
    FLB_CHECK(is_floating(a.dtype), NotImplementedError, name, ": not implemented for ", dtype_name(a.dtype),
              " tensors (shape ", shape_str(a.sizes), "); expected a floating-point tensor");
  if (op == UnaryOp::BitwiseNot)
    FLB_CHECK(!is_floating(a.dtype), NotImplementedError, name, ": not implemented for floating-point tensors");
  if (a.dtype == DType::Bool)
    FLB_CHECK(op == UnaryOp::LogicalNot || op == UnaryOp::BitwiseNot || op == UnaryOp::IsNan || op == UnaryOp::IsInf ||
                  op == UnaryOp::IsFinite,
              NotImplementedError, name, ": not implemented for bool tensors (shape ", shape_str(a.sizes), ")");
  if (is_narrow_int(a.dtype)) return narrow_result(unary(op, widen_int(a), std::nullopt), a.dtype, out, name);
  DType rt = unary_returns_bool(op) ? DType::Bool : a.dtype;
  Tensor o = prepare_out(out, a.sizes, rt, a.device(), name, {&a});
  if (o.numel() == 0) return o;
  if (out && may_overlap(o, a) && !(o.storage == a.storage && o.offset == a.offset && o.strides == a.strides)) {
    Tensor src = clone(a);  // (a strided overlap PyTorch cannot judge either; a partial one was refused above)
    FLB_BACKEND(a.device(), unary, op, o, src);
    return o;
  }
  InMemoryOrder mo(o);
  FLB_BACKEND(a.device(), unary, op, mo(o), mo(a));
  return o;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const std::optional<Tensor>& out) {
  const char* name = op_name(op);
  if (out) {  // as PyTorch, before anything is written
    assert_no_partial_overlap(*out, a, name);
    assert_no_partial_overlap(*out, b, name);
  }
  check_same_device(a, b, name);
  check_same_dtype(a, b, name);
  bool is_float = is_floating(a.dtype);
  switch (op) {
    case BinaryOp::Atan2: case BinaryOp::TanhBackward: case BinaryOp::SigmoidBackward:
    case BinaryOp::Zeta: case BinaryOp::Igamma: case BinaryOp::Igammac: case BinaryOp::ChebyshevT:
    case BinaryOp::ChebyshevU: case BinaryOp::ChebyshevV: case BinaryOp::ChebyshevW:
    case BinaryOp::ShiftedChebyshevT: case BinaryOp::ShiftedChebyshevU: case BinaryOp::ShiftedChebyshevV:
    case BinaryOp::ShiftedChebyshevW: case BinaryOp::HermiteH: case BinaryOp::HermiteHe: case BinaryOp::LaguerreL:
    case BinaryOp::LegendreP: case BinaryOp::Hypot:
      FLB_CHECK(is_float, NotImplementedError, name, ": not implemented for ", dtype_name(a.dtype), " tensors");
      break;
    case BinaryOp::BitwiseAnd: case BinaryOp::BitwiseOr: case BinaryOp::BitwiseXor:
      FLB_CHECK(!is_float, NotImplementedError, name, ": not implemented for floating-point tensors");
      break;
    case BinaryOp::Sub: case BinaryOp::Div: case BinaryOp::Pow: case BinaryOp::Remainder: case BinaryOp::FloorDivide:
    case BinaryOp::Fmod:
      FLB_CHECK(a.dtype != DType::Bool, NotImplementedError, name, ": not implemented for bool tensors (shapes ",
                shape_str(a.sizes), " and ", shape_str(b.sizes), ")");
      break;
    default:
      break;
  }
  if (is_narrow_int(a.dtype))
    return narrow_result(binary(op, widen_int(a), widen_int(b), std::nullopt), a.dtype, out, name);
  DType rt = binary_returns_bool(op) ? DType::Bool : a.dtype;
  if (!out && a.sizes == b.sizes) {  // the common case: no broadcast, no out= (no expanded copies)
    Tensor o = empty_elementwise(a.sizes, rt, a.device(), {&a, &b});
    if (o.numel() == 0) return o;
    InMemoryOrder mo(o);
    FLB_BACKEND(a.device(), binary, op, mo(o), mo(a), mo(b));
    return o;
  }
  Shape shape = broadcast_shapes(a.sizes, b.sizes, name);
  Tensor ea = expand(a, shape), eb = expand(b, shape);
  Tensor o = prepare_out(out, shape, rt, a.device(), name, {&ea, &eb});
  if (o.numel() == 0) return o;
  // An output that partially overlaps an input would be read after being written: stage the input.
  auto safe = [&](const Tensor& x) {
    if (!may_overlap(o, x)) return x;
    if (o.storage == x.storage && o.offset == x.offset && o.strides == x.strides && o.sizes == x.sizes) return x;
    return clone(x);  // (a strided overlap PyTorch cannot judge either; a partial one was refused above)
  };
  if (out) ea = expand(safe(a), shape), eb = expand(safe(b), shape);
  InMemoryOrder mo(o);
  FLB_BACKEND(a.device(), binary, op, mo(o), mo(ea), mo(eb));
  return o;
}

Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi, const std::optional<Tensor>& out) {
  FLB_CHECK(a.dtype != DType::Bool, TypeError, "clamp: not supported for bool tensors");
  FLB_CHECK(lo || hi, RuntimeError, "clamp: at least one of 'min' or 'max' must not be None");
  if (is_narrow_int(a.dtype)) {
    // PyTorch checks the bounds fit the dtype, then compares with them cast to it (uint8: -128 -> 128).
    std::optional<Scalar> nl, nh;
    if (lo) check_scalar_fits(*lo, a.dtype, "clamp"), nl = scalar_as(*lo, a.dtype);
    if (hi) check_scalar_fits(*hi, a.dtype, "clamp"), nh = scalar_as(*hi, a.dtype);
    return narrow_result(clamp(widen_int(a), nl, nh, std::nullopt), a.dtype, out, "clamp");
  }
  Tensor o = prepare_out(out, a.sizes, a.dtype, a.device(), "clamp", {&a});
  if (o.numel() == 0) return o;
  const Scalar* pl = lo ? &*lo : nullptr;
  const Scalar* ph = hi ? &*hi : nullptr;
  InMemoryOrder mo(o);
  FLB_BACKEND(a.device(), clamp, mo(o), mo(a), pl, ph);
  return o;
}

static Tensor narrow_result(Tensor r, DType dt, const std::optional<Tensor>& out, const char* op) {
  if (r.dtype != DType::Bool) r = to(r, dt, r.device(), false);
  if (!out) return r;
  Tensor o = prepare_out(out, r.sizes, r.dtype, r.device(), op);
  if (o.numel() > 0) copy_(o, r);
  return o;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device(cond, a, "where");
  check_same_device(a, b, "where");
  check_same_dtype(a, b, "where");
  FLB_CHECK(cond.dtype == DType::Bool, TypeError, "where: expected condition to be a bool tensor, got ",
            dtype_name(cond.dtype));
  Shape shape = broadcast_shapes(broadcast_shapes(cond.sizes, a.sizes, "where"), b.sizes, "where");
  Tensor ec = expand(cond, shape), ea = expand(a, shape), eb = expand(b, shape);
  Tensor o = empty_elementwise(shape, a.dtype, a.device(), {&ec, &ea, &eb});
  if (o.numel() == 0) return o;
  InMemoryOrder mo(o);
  FLB_BACKEND(a.device(), where, mo(o), mo(ec), mo(ea), mo(eb));
  return o;
}

static Tensor ternary(TernaryOp op, const char* name, const Tensor& s, const Tensor& a, const Tensor& b, double value,
                      const std::optional<Tensor>& out) {
  if (out) {  // as PyTorch, before anything is written
    assert_no_partial_overlap(*out, s, name);
    assert_no_partial_overlap(*out, a, name);
    assert_no_partial_overlap(*out, b, name);
  }
  check_same_device(s, a, name);
  check_same_device(s, b, name);
  check_same_dtype(s, a, name);
  check_same_dtype(s, b, name);
  FLB_CHECK(is_floating(s.dtype), NotImplementedError, name, ": not implemented for ", dtype_name(s.dtype),
            " tensors (shapes ", shape_str(s.sizes), ", ", shape_str(a.sizes), " and ", shape_str(b.sizes),
            "); expected floating-point tensors");
  Shape shape = broadcast_shapes(broadcast_shapes(s.sizes, a.sizes, name), b.sizes, name);
  Tensor es = expand(s, shape), ea = expand(a, shape), eb = expand(b, shape);
  Tensor o = prepare_out(out, shape, s.dtype, s.device(), name, {&es, &ea, &eb});
  if (o.numel() == 0) return o;
  // An output partially overlapping an input would be read after being written: stage that input.
  auto safe = [&](const Tensor& x) {
    if (!may_overlap(o, x)) return x;
    if (o.storage == x.storage && o.offset == x.offset && o.strides == x.strides && o.sizes == x.sizes) return x;
    return clone(x);  // (a strided overlap PyTorch cannot judge either; a partial one was refused above)
  };
  if (out) es = expand(safe(s), shape), ea = expand(safe(a), shape), eb = expand(safe(b), shape);
  InMemoryOrder mo(o);
  FLB_BACKEND(o.device(), ternary, op, mo(o), mo(es), mo(ea), mo(eb), value);
  return o;
}

Tensor addcmul(const Tensor& s, const Tensor& a, const Tensor& b, double value, const std::optional<Tensor>& out) {
  return ternary(TernaryOp::Addcmul, "addcmul", s, a, b, value, out);
}

Tensor addcdiv(const Tensor& s, const Tensor& a, const Tensor& b, double value, const std::optional<Tensor>& out) {
  return ternary(TernaryOp::Addcdiv, "addcdiv", s, a, b, value, out);
}

Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight, const std::optional<Tensor>& out) {
  return ternary(TernaryOp::Lerp, "lerp", start, end, weight, 0.0, out);
}

Tensor threshold_backward(const Tensor& grad, const Tensor& x, double threshold) {
  check_same_device(grad, x, "threshold_backward");
  check_same_dtype(grad, x, "threshold_backward");
  FLB_CHECK(grad.sizes == x.sizes, RuntimeError, "threshold_backward: grad shape ", shape_str(grad.sizes),
            " differs from input shape ", shape_str(x.sizes));
  Tensor o = empty_elementwise(x.sizes, x.dtype, x.device(), {&x, &grad});
  if (o.numel() == 0) return o;
  InMemoryOrder mo(o);
  FLB_BACKEND(x.device(), threshold_backward, mo(o), mo(grad), mo(x), threshold);
  return o;
}

}  // namespace flambeau::ops
