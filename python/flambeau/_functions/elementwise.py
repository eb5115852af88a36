"""Arithmetic (add, sub, mul, div, pow, maximum/minimum, remainder, floor_divide, atan2) and unary
math (exp, log, sqrt, tanh, sigmoid, relu, ...), one autograd Function per op.

When both operands already share a dtype and no graph is recorded, `a + b` is: one dtype
comparison, one `_C` call, one `_wrap` (the fast path the overhead benchmark measures). Backward
formulas are written with flambeau ops, so they are themselves differentiable and
`create_graph=True` works; where a fused `_C` backward kernel exists (sigmoid, tanh, relu) it is
used when no higher-order graph is being recorded.
"""
import math
import numbers

from .. import _C
from .._dtype import _default_dtype
from .._promote import result_type_names, result_type_tensor_scalar, scalar_impl, _FLOAT, _INT
from .._tensor import Tensor, _wrap
from .. import _sparse
from .._sparse import SparseCooTensor as _Sparse
from ..autograd.function import Function, apply_unary_kernel, apply_binary
from ..autograd.grad_mode import _state as _gs
from .shape import _sum_to
from .zero_link import link_zero_to
from ._dispatch import (check_no_internal_overlap, _cast, _as_tensor_operand, _write_out, _binary, _rbinary,
                        _first_tensor, _snapshot, _rebase,
                        _check_inplace_leaf, _TORCH_TYPE_NAMES)
from .compare import eq, ne, lt, gt, ge, le, logical_and


class _Binary(Function):
    _builtin = True
    _saves_self = True  # backward needs the first operand's value (in-place ops snapshot it)


# ---------------------------------------------------------------- arithmetic
class Add(_Binary):
    _grad_fn_name = "AddBackward0"
    _saves_self = False

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        return _wrap(_C.add(ai, bi))

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        return (_sum_to(g, sa) if nig[0] else None,
                _sum_to(g, sb) if nig[1] else None)


class Sub(_Binary):
    _grad_fn_name = "SubBackward0"
    _saves_self = False

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        return _wrap(_C.sub(ai, bi))

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        return (_sum_to(g, sa) if nig[0] else None,
                _sum_to(neg(g), sb) if nig[1] else None)


class Mul(_Binary):
    _grad_fn_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        nig = ctx.needs_input_grad
        # Save only what the needed gradients use: d(ab)/da needs b, d(ab)/db needs a. (Set directly:
        # save_for_backward's argument checks are for user Functions.)
        ctx.to_save = (a if nig[1] else None, b if nig[0] else None)
        return _wrap(_C.mul(ai, bi))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        return (_sum_to(mul(g, b), sa) if nig[0] else None,
                _sum_to(mul(g, a), sb) if nig[1] else None)


class Div(_Binary):
    _grad_fn_name = "DivBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        # The operands, not the result, as PyTorch's DivBackward0: writing into the result in place
        # (y = a / b; y.add_(1)) leaves the gradient computable, and writing into a or b is caught
        # by their version counters instead.
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return _wrap(_C.div(ai, bi))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        ga = _sum_to(div(g, b), sa) if nig[0] else None
        # PyTorch's div_tensor_other_backward: -grad * ((self / other) / other), rounded as it does
        gb = _sum_to(mul(neg(g), div(div(a, b), b)), sb) if nig[1] else None
        return ga, gb


def _record_same_float(Fn, a, b):
    """The recording hot path of a binary op on two plain tensors of one real floating dtype (at least one
    requiring grad, grad mode on): what _binary ends with for them, without its promotion and operand
    checks. None when the kernel refuses (devices, shapes): the general path then decides and raises the
    error in its words (recording nothing twice: a failed attempt leaves no output)."""
    dt = a._impl.dtype
    if dt in _FLOAT and b._impl.dtype == dt:
        try:
            return apply_binary(Fn, a, b)
        except Exception:
            pass
    return None


def add(input, other, *, alpha=1, out=None):
    if other.__class__ is Tensor and input.__class__ is Tensor and out is None and alpha.__class__ is int and \
            alpha == 1:
        # The hot path (two plain tensors, nothing to record), inlined. The kernel itself checks
        # that the dtypes match (and the devices); when it refuses, the general path below
        # promotes or raises the error in this function's words.
        if not ((input._rg or other._rg) and _gs.enabled):
            try:
                return _wrap(_C.add(input._impl, other._impl))
            except Exception:
                pass
        else:
            r = _record_same_float(Add, input, other)
            if r is not None:
                return r
    if other.__class__ is _Sparse or input.__class__ is _Sparse:  # dense + sparse, sparse + sparse
        return _write_out(out, _sparse.add(input, other, alpha=alpha)) if out is not None else \
            _sparse.add(input, other, alpha=alpha)
    check_alpha(input, other, alpha, "add")
    if alpha != 1:
        r = _fused_alpha(input, other, alpha)
        if r is not None:
            return _write_out(out, r) if out is not None else r
        other = _scaled_other(input, other, alpha)
    if out is not None:
        return _write_out(out, add(input, other), input, other, op="add")
    if input.__class__ is not Tensor and not isinstance(input, Tensor):
        return _rbinary(other, input, _C.add, Add)
    return _binary(input, other, _C.add, Add)


def check_alpha(input, other, alpha, op):
    """PyTorch's rules for add/sub's alpha: a float alpha with integral operands (which would make the
    result float, or be truncated in place) and a bool alpha with non-bool ones are refused."""
    if alpha.__class__ is int:
        return
    if alpha.__class__ is float and input.__class__ is Tensor and input._impl.dtype in _FLOAT:
        return  # (the common case, cheaply: a float input gives a float result whatever `other` is)
    t, o = (input, other) if isinstance(input, Tensor) else (other, input)
    if not isinstance(t, Tensor):
        return
    rt = result_type_names(t, o) if isinstance(o, Tensor) else result_type_tensor_scalar(t._impl.dtype, o)
    if isinstance(alpha, bool):
        if rt != "bool":
            raise RuntimeError(f"{op}: Boolean alpha only supported for Boolean results.")
    elif isinstance(alpha, numbers.Complex) and not isinstance(alpha, numbers.Real):
        if not rt.startswith("complex"):
            raise RuntimeError(f"{op}: For non-complex input tensors, argument alpha must not be a complex number.")
    elif not isinstance(alpha, numbers.Integral) and (rt in _INT or rt == "bool"):
        raise RuntimeError(f"{op}: For integral input tensors, argument alpha must not be a floating point number.")


def _scaled_other(input, other, alpha):
    """alpha * other for input +/- alpha * other, in the result's dtype: PyTorch's kernels cast `other` to the
    common dtype before scaling it, so a bfloat16 `other` added into float32 is scaled in float32, not rounded
    to bfloat16 first (Muon's param.add_(bf16 update, alpha=-lr))."""
    if isinstance(other, Tensor) and isinstance(input, Tensor):
        rt = result_type_names(input, other)
        if rt != other._impl.dtype and rt in _FLOAT:
            other = _cast(other, rt)
    return mul(other, alpha)


_FMA_DTYPES = frozenset(("float32", "float64"))
_HALF = ("float16", "bfloat16")
_pointwise = None  # the pointwise module (it imports this one), bound on first use


def _real(v):
    """Whether v is a real number (not a bool): add's alpha, or a number operand."""
    c = v.__class__
    return c is float or c is int or (c is not bool and not isinstance(v, complex) and isinstance(v, numbers.Real))


def _fused_alpha(input, other, alpha):
    """input + alpha * other rounded once, as PyTorch's CPU add kernel computes it for floating dtypes
    (Vectorized fmadd(other, alpha, input), alpha first rounded to the dtype; sub negates alpha); None where
    that does not apply (integral or complex results, a non-tensor input, a non-real alpha). Scaling
    `other` first and adding would round twice: 9-27% of the elements one ulp off PyTorch's. One kernel:
    addcmul(input, other, alpha) = fma(1 * other, alpha, input), differentiable as addcmul is. A
    float16/bfloat16 result of two tensors is computed so in float32 and rounded once to its dtype."""
    global _pointwise
    if not isinstance(input, Tensor) or not _real(alpha):
        return None
    ii = input._impl
    if isinstance(other, Tensor):
        oi = other._impl
        rt = ii.dtype if oi.dtype == ii.dtype else result_type_names(input, other)
        if rt in _HALF:
            alpha = float(_C.to_numpy(_C.to(scalar_impl(alpha, rt, "cpu"), "float64", "cpu", False)))  # rounded to rt
            return _cast(_fused_alpha(_cast(input, "float32"), _cast(other, "float32"), alpha), rt)
    elif _real(other):
        rt = result_type_tensor_scalar(ii.dtype, other)
    else:
        return None
    if rt not in _FMA_DTYPES:
        return None
    if _pointwise is None:
        from . import pointwise as _pointwise
    a = input if ii.dtype == rt else _cast(input, rt)
    b = (other if other._impl.dtype == rt else _cast(other, rt)) if isinstance(other, Tensor) else \
        _wrap(scalar_impl(other, rt, ii.device))
    return _pointwise.addcmul(a, b, _wrap(scalar_impl(alpha, rt, ii.device)))  # (the kernel's broadcast-b loop)


def _fused_alpha_(self, other, alpha, op):
    """self += alpha * other in place with _fused_alpha's rounding, in one kernel call; False where that
    does not apply (self not float32/float64, promotion, or a graph to record)."""
    si = self._impl
    if si.dtype not in _FMA_DTYPES or not _real(alpha):
        return False
    if isinstance(other, Tensor):
        oi = other._impl
        if oi.dtype != si.dtype or ((self._rg or other._rg) and _gs.enabled):
            return False
        b = oi
    elif _real(other):
        if self._rg and _gs.enabled:
            return False
        b = scalar_impl(other, si.dtype, si.device)
    else:
        return False
    check_no_internal_overlap(si, op)
    _C.addcmul(si, b, scalar_impl(alpha, si.dtype, si.device), 1.0, si)
    return True


def sub(input, other, *, alpha=1, out=None):
    if other.__class__ is Tensor and input.__class__ is Tensor and out is None and alpha.__class__ is int and \
            alpha == 1:
        # The hot path (two plain tensors, nothing to record), inlined. The kernel itself checks
        # that the dtypes match (and that they are not bool); when it refuses, the general path below
        # promotes or raises the error in this function's words.
        if not ((input._rg or other._rg) and _gs.enabled):
            try:
                return _wrap(_C.sub(input._impl, other._impl))
            except Exception:
                pass
        else:
            r = _record_same_float(Sub, input, other)
            if r is not None:
                return r
    if other.__class__ is _Sparse or input.__class__ is _Sparse:  # dense - sparse, sparse - sparse
        return _write_out(out, _sparse.add(input, other, alpha=-alpha, name="sub")) if out is not None else \
            _sparse.add(input, other, alpha=-alpha, name="sub")
    check_alpha(input, other, alpha, "sub")
    if alpha != 1:
        r = _fused_alpha(input, other, -alpha)
        if r is not None:
            return _write_out(out, r) if out is not None else r
        other = _scaled_other(input, other, alpha)
    if out is not None:
        return _write_out(out, sub(input, other), input, other, op="sub")
    _check_sub_bool(input, other)
    if not isinstance(input, Tensor):
        return _rbinary(other, input, _C.sub, Sub)
    return _binary(input, other, _C.sub, Sub)


subtract = sub


def _is_bool_operand(x):
    return x._impl.dtype == "bool" if isinstance(x, Tensor) else isinstance(x, bool)


def _check_sub_bool(a, b):
    ba, bb = _is_bool_operand(a), _is_bool_operand(b)
    if ba and bb:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    if ba or bb:
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")


def rsub(input, other, *, alpha=1):
    """other - alpha * input."""
    return sub(other, input, alpha=alpha) if isinstance(other, Tensor) else _rbinary(mul(input, alpha), other, _C.sub, Sub)


def mul(input, other, *, out=None):
    if other.__class__ is Tensor and input.__class__ is Tensor and out is None:
        # The hot path (two plain tensors, nothing to record), inlined. The kernel itself checks
        # that the dtypes match (and the devices); when it refuses, the general path below
        # promotes or raises the error in this function's words.
        if not ((input._rg or other._rg) and _gs.enabled):
            try:
                return _wrap(_C.mul(input._impl, other._impl))
            except Exception:
                pass
        else:
            r = _record_same_float(Mul, input, other)
            if r is not None:
                return r
    if out is not None:
        return _write_out(out, mul(input, other), input, other, op="mul")
    if not isinstance(input, Tensor):
        return _binary(other, input, _C.mul, Mul) if isinstance(other, Tensor) else input * other
    return _binary(input, other, _C.mul, Mul)


multiply = mul


def _true_div_dtype(a, b):
    """Promotes operands of true division so integer inputs divide as floats."""
    dt = result_type_names(a, b)
    if dt[0] == "c":  # complex: never cast to float (the kernel refuses it, and _binary hands it to flambeau/_complex)
        return dt
    return dt if dt in _FLOAT else _default_dtype[0]._name


def div(input, other, *, rounding_mode=None, out=None):
    if other.__class__ is Tensor and input.__class__ is Tensor and out is None and rounding_mode is None:
        # The hot path (two plain tensors of one dtype, nothing to record), inlined.
        # (an integer pair must promote to float first; a dtype mismatch is refused by the kernel)
        ai = input._impl
        if ai.dtype in _FLOAT and not ((input._rg or other._rg) and _gs.enabled):
            try:
                return _wrap(_C.div(ai, other._impl))
            except Exception:
                pass  # e.g. a 0-dim CPU tensor with a CUDA one: the general path below decides
    if out is not None:
        return _write_out(out, div(input, other, rounding_mode=rounding_mode), input, other, op="div")
    if rounding_mode is not None:
        if rounding_mode == "floor":
            if _gs.enabled and any(isinstance(t, Tensor) and t._rg for t in (input, other)):
                return _rounded_div_zero_grad(input, other, "floor")
            return floor_divide(input, other)
        if rounding_mode == "trunc":
            return _trunc_div(input, other)
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    if not isinstance(input, Tensor):
        b = other
        dt = _true_div_dtype(b, input)
        return _rbinary(_cast(b, dt), input if not isinstance(input, bool) else float(input), _C.div, Div)
    ai = input._impl
    if isinstance(other, Tensor):
        da = ai.dtype
        if da in _FLOAT and da == other._impl.dtype:
            return _binary(input, other, _C.div, Div)
        dt = _true_div_dtype(input, other)
        return _binary(_cast(input, dt), _cast(other, dt), _C.div, Div)
    if ai.dtype not in _FLOAT:
        if not isinstance(other, numbers.Number):
            t = _as_tensor_operand(other)
            if t is None:
                raise TypeError(f"div(): unsupported operand type '{type(other).__name__}'")
            return div(input, t)
        input = _cast(input, _true_div_dtype(input, other))
    return _binary(input, other, _C.div, Div)


divide = true_divide = div


class _RoundedDiv(Function):
    """div(..., rounding_mode='trunc' or 'floor') under autograd: PyTorch's derivative is zeros for both
    operands (trunc(a / b) through trunc's and div's backwards gave 0 / 0 = NaN where b is 0, and
    x.div_(y, rounding_mode='floor') passed the gradient through unchanged)."""
    _grad_fn_name = "DivBackward3"

    @staticmethod
    def forward(ctx, r, a, b):
        ctx.likes = (a, b)
        return r

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        nig = ctx.needs_input_grad
        return (None,) + tuple(zeros_like(t) if isinstance(t, Tensor) and need else None
                               for t, need in zip(ctx.likes, nig[1:]))


def _rounded_div_zero_grad(a, b, mode):
    """div(a, b, rounding_mode=mode) with a and/or b requiring grad: the value from the detached operands,
    with PyTorch's zero derivative (float results only: integer ones never require grad)."""
    r = div(a.detach() if isinstance(a, Tensor) else a, b.detach() if isinstance(b, Tensor) else b,
            rounding_mode=mode)
    return _RoundedDiv.apply(r, a, b) if r._impl.dtype in _FLOAT else r


def _trunc_div(a, b):
    dt = result_type_names(a, b)
    if dt == "bool":
        raise NotImplementedError("\"div_trunc_cpu\" not implemented for 'Bool'")
    if _gs.enabled and any(isinstance(t, Tensor) and t._rg for t in (a, b)) and dt in _FLOAT:
        return _rounded_div_zero_grad(a, b, "trunc")
    if dt not in _FLOAT and dt[0] != "c":
        # Integers exactly (the float quotient is wrong past 2^53: (2^62 + 7) / 5 was 4 off): a - fmod(a, b)
        # is a multiple of b, moved toward zero, so flooring its quotient truncates, with no overflow. fmod
        # refuses a zero divisor as PyTorch does (ZeroDivisionError).
        if not isinstance(a, Tensor):
            a = _wrap(scalar_impl(a, dt, b._impl.device))
        elif a._impl.dtype == "bool":  # (a bool dividend: sub refuses bool, and the quotient is an integer)
            a = _cast(a, dt)
        return floor_divide(sub(a, fmod(a, b)), b)
    q = div(a, b)
    r = trunc(q)
    return r if dt in _FLOAT else _cast(r.detach(), dt)


def _is_zero(t):
    """t == 0, complex included (the C comparison kernels take real dtypes only)."""
    if t._impl.dtype[0] == "c":
        return logical_and(eq(t.real, 0), eq(t.imag, 0))
    return eq(t, 0)


class Pow(_Binary):
    _grad_fn_name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        out = _wrap(_C.pow(ai, bi))
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        ga = gb = None
        if nig[0]:
            # d(a^b)/da = b * a^(b-1), and 0 where b == 0 (even at a == 0).
            ga = _pw.where(_is_zero(b), 0.0, mul(g, mul(b, pow(a, sub(b, 1)))))
            ga = _sum_to(ga, sa)
        if nig[1]:
            # d(a^b)/db = a^b * log(a), and 0 where a == 0 and b >= 0 (PyTorch's convention).
            # (complex exponents compare their real part, as PyTorch's pow_backward_exponent; they reach
            # this Function only on empty operands, the complex path composes exp(w log z) otherwise)
            zero = logical_and(_is_zero(a), ge(b.real if b._impl.dtype[0] == "c" else b, 0))
            # g multiplies outside the mask, as PyTorch's pow_backward_exponent: a NaN / inf g (in a
            # second-order pass, 0 * log(0) from the mask's own backward) stays NaN where a == 0.
            gb = _sum_to(mul(g, _pw.where(zero, 0.0, mul(out, log(a)))), sb)
        return ga, gb


def _pow_scalar_impl(xi, c, dt):
    """The kernel's x ** c for a Python number c, with PyTorch's sign for a float32 x and an odd integer c
    beyond 2^24: its exponent stays a double there (-1 ** (2^40 - 1) is -1), while c as a float32 scalar
    is even (the kernel gave 1)."""
    r = _C.pow(xi, scalar_impl(c, dt, xi.device))
    if dt == "float32" and not isinstance(c, (bool, complex)) and not -16777216 <= c <= 16777216 and \
            math.isfinite(c) and math.fmod(float(c), 2.0) != 0:
        from .misc import copysign
        r = copysign(_wrap(r), _wrap(xi))._impl
    return r


class PowScalar(Function):
    """x ** c for a Python number c: the common case (x ** 2, x ** 0.5), with one saved tensor."""
    _builtin = True
    _grad_fn_name = "PowBackward0"
    _saves_self = True

    @staticmethod
    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return _wrap(_pow_scalar_impl(x._impl, c, x._impl.dtype))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        c = ctx.c
        if c == 0:
            return mul(g, 0.0), None
        if c == 1:
            return g, None
        if c == 2:
            return mul(g, mul(x, 2.0)), None
        return mul(g, mul(pow(x, c - 1), c)), None


def pow(input, exponent, *, out=None):
    if out is not None:
        return _write_out(out, pow(input, exponent), input, exponent, op="pow")
    if not isinstance(input, Tensor):
        return _rbinary(exponent, input, _C.pow, Pow)
    if isinstance(exponent, numbers.Number) and not isinstance(exponent, bool):
        ai = input._impl
        dt = result_type_tensor_scalar(ai.dtype, exponent)
        if dt in _INT and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        x = _cast(input, dt)
        if x._rg and _gs.enabled:
            return PowScalar.apply(x, exponent)
        return _wrap(_pow_scalar_impl(x._impl, exponent, dt))
    return _binary(input, exponent, _C.pow, Pow)


def float_power(input, exponent):
    """pow computed in float64, as PyTorch's float_power."""
    a = _cast(input, "float64") if isinstance(input, Tensor) else float(input)
    b = _cast(exponent, "float64") if isinstance(exponent, Tensor) else float(exponent)
    return pow(a, b)


class Maximum(_Binary):
    _grad_fn_name = "MaximumBackward0"
    _cfn = staticmethod(_C.maximum)

    @staticmethod
    def _wins(a, b):
        return gt(a, b)

    @classmethod
    def forward(cls, ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        ctx.save_for_backward(a, b)
        return _wrap(cls._cfn(ai, bi))

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        # Ties split the gradient evenly, as in PyTorch.
        wins = cls._wins(a, b)
        tie = eq(a, b)
        half = mul(g, 0.5)
        ga = _sum_to(_pw.where(tie, half, _pw.where(wins, g, 0.0)), sa) if nig[0] else None
        gb = _sum_to(_pw.where(tie, half, _pw.where(wins, 0.0, g)), sb) if nig[1] else None
        return ga, gb


class Minimum(Maximum):
    _grad_fn_name = "MinimumBackward0"
    _cfn = staticmethod(_C.minimum)

    @staticmethod
    def _wins(a, b):
        return lt(a, b)


def maximum(input, other, *, out=None):
    if not isinstance(other, Tensor):
        raise TypeError(f"maximum(): argument 'other' must be Tensor, not {type(other).__name__}")
    r = _binary(input, other, _C.maximum, Maximum)
    return _write_out(out, r) if out is not None else r


def minimum(input, other, *, out=None):
    if not isinstance(other, Tensor):
        raise TypeError(f"minimum(): argument 'other' must be Tensor, not {type(other).__name__}")
    r = _binary(input, other, _C.minimum, Minimum)
    return _write_out(out, r) if out is not None else r


def fmax(input, other, *, out=None):
    """maximum that ignores NaN: the other operand where one is NaN (NaN only where both are). The gradient
    goes to input where input >= other or other is NaN (ties included), else to other, as in PyTorch."""
    return _nan_ignoring_pick(input, other, ge, "fmax", out)


def fmin(input, other, *, out=None):
    """minimum that ignores NaN; ties and NaN handled as fmax."""
    return _nan_ignoring_pick(input, other, le, "fmin", out)


def _nan_ignoring_pick(input, other, keeps_input, name, out):
    if not isinstance(other, Tensor) or not isinstance(input, Tensor):
        bad = other if isinstance(input, Tensor) else input
        raise TypeError(f"{name}(): argument '{'other' if isinstance(input, Tensor) else 'input'}' must be Tensor, "
                        f"not {type(bad).__name__}")
    if input._impl.dtype in ("complex64", "complex128") or other._impl.dtype in ("complex64", "complex128"):
        raise RuntimeError(f"{name} not implemented for complex tensors.")  # PyTorch's words
    from .compare import isnan, logical_or
    r = _pw.where(logical_or(keeps_input(input, other), isnan(other)), input, other)
    return _write_out(out, r) if out is not None else r


def _remainder_forward(ctx, a, b, cfn):
    ai, bi = a._impl, b._impl
    ctx.shapes = (ai.shape, bi.shape)
    ctx.save_for_backward(a, b)
    return _wrap(cfn(ai, bi))


def _remainder_backward(ctx, g, quotient):
    """remainder and fmod are a - q(a / b) * b with q floor or trunc: gradients g and -g * q(a / b)."""
    a, b = ctx.saved_tensors
    sa, sb = ctx.shapes
    nig = ctx.needs_input_grad
    ga = _sum_to(g, sa) if nig[0] else None
    gb = _sum_to(mul(neg(g), quotient(a, b)), sb) if nig[1] else None
    return ga, gb


class Remainder(_Binary):
    """Python's remainder (the divisor's sign)."""
    _grad_fn_name = "RemainderBackward0"

    @staticmethod
    def forward(ctx, a, b):
        return _remainder_forward(ctx, a, b, _C.remainder)

    @staticmethod
    def backward(ctx, g):
        # (div's floor rounding has PyTorch's zero derivative; floor_divide's backward raises)
        return _remainder_backward(ctx, g, lambda a, b: div(a, b, rounding_mode="floor"))


def _zero_division(name, input, other):
    """The kernels' "ZeroDivisionError: integer division or remainder by zero", naming the op and shapes."""
    shapes = " and ".join(str(list(x.shape)) if isinstance(x, Tensor) else repr(x) for x in (input, other))
    return RuntimeError(f"ZeroDivisionError: {name} of integers by zero (operands {shapes})")


def _integer_division_op(name, kernel, fn, input, other, out):
    """remainder/fmod: the binary op (a Python number first goes the reflected way), its integer division
    by zero reported with the op's name and the shapes."""
    try:
        if not isinstance(input, Tensor):
            r = _rbinary(other, input, kernel, fn)
        else:
            r = _binary(input, other, kernel, fn)
    except RuntimeError as e:
        if str(e).startswith("ZeroDivisionError"):
            raise _zero_division(name, input, other) from None
        raise
    return _write_out(out, r) if out is not None else r


def remainder(input, other, *, out=None):
    return _integer_division_op("remainder", _C.remainder, Remainder, input, other, out)


class Fmod(_Binary):
    """C's fmod (the dividend's sign), the C++ Fmod kernel (std::fmod on floats, a truncating remainder on
    integers)."""
    _grad_fn_name = "FmodBackward0"

    @staticmethod
    def forward(ctx, a, b):
        return _remainder_forward(ctx, a, b, _C.fmod)

    @staticmethod
    def backward(ctx, g):
        return _remainder_backward(ctx, g, lambda a, b: div(a, b, rounding_mode="trunc"))


def fmod(input, other, *, out=None):
    """C-style remainder (sign of the dividend), as C's fmod."""
    return _integer_division_op("fmod", _C.fmod, Fmod, input, other, out)


class _NoGrad(Function):
    """Ops without a derivative: results never require grad."""
    _builtin = True


class _FloorDivide(Function):
    """floor_divide of operands requiring grad: as in PyTorch the (float) result requires grad, and
    backward raises, since PyTorch has no derivative for it (before, the result did not require grad,
    and x.floor_divide_(y) kept x's history, passing the gradient through as if nothing happened)."""
    _grad_fn_name = "FloorDivideBackward0"

    @staticmethod
    def forward(ctx, r, *operands):
        return r

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("derivative for floor_divide is not implemented")


def floor_divide(input, other, *, out=None):
    try:
        if not isinstance(input, Tensor):
            t, s, _ = _first_tensor(input, other, "floor_divide")
            r = _rbinary(t.detach(), s, _C.floor_divide, _NoGrad)
        else:
            r = _binary(input.detach(), other.detach() if isinstance(other, Tensor) else other, _C.floor_divide,
                        _NoGrad)
    except RuntimeError as e:
        if str(e).startswith("ZeroDivisionError"):
            raise _zero_division("floor_divide", input, other) from None
        raise
    if _gs.enabled and r._impl.dtype in _FLOAT and any(isinstance(t, Tensor) and t._rg for t in (input, other)):
        r = _FloorDivide.apply(r, *(t for t in (input, other) if isinstance(t, Tensor)))
    return _write_out(out, r) if out is not None else r


class Atan2(_Binary):
    _grad_fn_name = "Atan2Backward0"

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        ctx.save_for_backward(a, b)
        return _wrap(_C.atan2(ai, bi))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        # PyTorch's atan2_backward: g * b * recip and g * -a * recip, recip = 1 / (a^2 + b^2) taken
        # as 0 where a^2 + b^2 is 0 (at the origin, or where both squares underflow), not 0 * inf
        from .pointwise import where
        from .compare import eq
        den = add(mul(a, a), mul(b, b))
        recip = where(eq(den, 0), 0.0, reciprocal(den))
        ga = _sum_to(mul(mul(g, b), recip), sa) if nig[0] else None
        gb = _sum_to(mul(mul(g, neg(a)), recip), sb) if nig[1] else None
        return ga, gb


def atan2(input, other, *, out=None):
    dt = _true_div_dtype(input, other)
    r = _binary(_cast(input, dt), _cast(other, dt) if isinstance(other, Tensor) else other, _C.atan2, Atan2)
    return _write_out(out, r) if out is not None else r


arctan2 = atan2


class Hypot(_Binary):
    """sqrt(a*a + b*b) by the C++ Hypot kernel (std::hypot: no overflow for |a| near the float32 limit,
    where squaring would give inf). Gradients as PyTorch's: g * a / r and g * b / r (NaN at the origin)."""
    _grad_fn_name = "HypotBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        r = _wrap(_C.hypot(ai, bi))
        ctx.save_for_backward(a, b, r)
        return r

    @staticmethod
    def backward(ctx, g):
        a, b, r = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        ga = _sum_to(div(mul(g, a), r), sa) if nig[0] else None
        gb = _sum_to(div(mul(g, b), r), sb) if nig[1] else None
        return ga, gb


def hypot(input, other, *, out=None):
    """Both operands tensors, as PyTorch's; promoted to their common dtype, which must be floating
    (integer operands raise, as PyTorch's "hypot_cpu" not implemented for 'Long')."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("hypot(): argument 'input' and 'other' must be Tensor, not "
                        f"{type(input).__name__} and {type(other).__name__}")
    dt = result_type_names(input, other)
    r = _binary(_cast(input, dt), _cast(other, dt), _C.hypot, Hypot)
    return _write_out(out, r) if out is not None else r


# ---------------------------------------------------------------- unary
class _Unary(Function):
    """y = f(x) with a backward formula in terms of (g, x) or (g, y), chosen by `_save`."""
    _builtin = True
    _save = 1  # 0: nothing, 1: the input, 2: the output
    _saves_self = True
    _cfn = None

    @classmethod
    def forward(cls, ctx, x):
        y = _wrap(cls._cfn(x._impl))
        s = cls._save
        if s == 1:
            ctx.save_for_backward(x)
        elif s == 2:
            ctx.save_for_backward(y)
        return y

    @classmethod
    def backward(cls, ctx, g):
        t = ctx.saved_tensors
        return cls._grad(g, t[0] if t else None)


def _unary_class(name, cfn, grad, save, grad_fn_name=None):
    return type(name, (_Unary,), {
        "_cfn": staticmethod(cfn), "_grad": staticmethod(grad), "_save": save,
        "_saves_self": save == 1, "_grad_fn_name": grad_fn_name or name + "Backward0"})


def _sigmoid_grad(g, y):
    if _gs.enabled:
        return mul(g, mul(y, rsub(y, 1.0)))
    return _wrap(_C.sigmoid_backward(g._impl, y._impl))


def _tanh_grad(g, y):
    if _gs.enabled:
        return mul(g, rsub(mul(y, y), 1.0))
    return _wrap(_C.fused_tanh_backward(g._impl, y._impl))


def _relu_grad(g, y):
    if _gs.enabled:  # PyTorch's threshold_backward(grad, result, 0): grad where not result <= 0 (NaN
        # passes grad), and it requires grad with the result
        return link_zero_to(_pw.where(le(y, 0), 0.0, g), y)
    return _wrap(_C.threshold_backward(g._impl, y._impl, 0))


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

Neg = _unary_class("Neg", _C.neg, lambda g, x: neg(g), 0)
Abs = _unary_class("Abs", _C.abs, lambda g, x: mul(g, sign(x)), 1)
Exp = _unary_class("Exp", _C.exp, lambda g, y: mul(g, y), 2)
Log = _unary_class("Log", _C.log, lambda g, x: div(g, x), 1)
Log2 = _unary_class("Log2", _C.log2, lambda g, x: div(g, mul(x, _LN2)), 1)
Log10 = _unary_class("Log10", _C.log10, lambda g, x: div(g, mul(x, _LN10)), 1)
Log1p = _unary_class("Log1p", _C.log1p, lambda g, x: div(g, add(x, 1.0)), 1)
Expm1 = _unary_class("Expm1", _C.expm1, lambda g, y: mul(g, add(y, 1.0)), 2)
Sqrt = _unary_class("Sqrt", _C.sqrt, lambda g, y: div(g, mul(y, 2.0)), 2)
Rsqrt = _unary_class("Rsqrt", _C.rsqrt, lambda g, y: mul(mul(g, -0.5), mul(y, mul(y, y))), 2)
Sin = _unary_class("Sin", _C.sin, lambda g, x: mul(g, cos(x)), 1)
Cos = _unary_class("Cos", _C.cos, lambda g, x: mul(g, neg(sin(x))), 1)
Tan = _unary_class("Tan", _C.tan, lambda g, y: mul(g, add(mul(y, y), 1.0)), 2)
Tanh = _unary_class("Tanh", _C.tanh, _tanh_grad, 2)
Sigmoid = _unary_class("Sigmoid", _C.sigmoid, _sigmoid_grad, 2)
Relu = _unary_class("Relu", _C.relu, _relu_grad, 2, "ReluBackward0")
Reciprocal = _unary_class("Reciprocal", _C.reciprocal, lambda g, y: mul(neg(g), mul(y, y)), 2)
Erf = _unary_class("Erf", _C.erf, lambda g, x: mul(g, mul(exp(neg(mul(x, x))), _TWO_OVER_SQRT_PI)), 1)
Square = _unary_class("Square", _C.square, lambda g, x: mul(g, mul(x, 2.0)), 1, "PowBackward0")
# Piecewise-constant functions: zero gradient (PyTorch keeps them in the graph, so do we).
Sign = _unary_class("Sign", _C.sign, lambda g, x: mul(g, 0.0), 0)
Floor = _unary_class("Floor", _C.floor, lambda g, x: mul(g, 0.0), 0)
Ceil = _unary_class("Ceil", _C.ceil, lambda g, x: mul(g, 0.0), 0)
Round = _unary_class("Round", _C.round, lambda g, x: mul(g, 0.0), 0)
Trunc = _unary_class("Trunc", _C.trunc, lambda g, x: mul(g, 0.0), 0)


def _complex_unary(name):
    """flambeau/_complex's implementation of unary op `name`, if it has one. The public ops reach it
    through _complex/dispatch.py's wrappers; the backward formulas here call this module's functions
    directly, and a complex gradient can reach them (the real-looking node of a mixed real/complex op)."""
    from .._complex import dispatch
    return dispatch.TRY.get(name)


# What PyTorch says when these unary ops get a complex tensor (its NotImplementedError; flambeau's complex
# routes, flambeau/_complex, take the ops that PyTorch computes).
_COMPLEX_REFUSALS = {
    "floor": "floor is not supported for complex inputs", "ceil": "ceil is not supported for complex inputs",
    "trunc": "trunc is not supported for complex inputs", "fix": "trunc is not supported for complex inputs",
    "round": "\"round_vml_cpu\" not implemented for '{T}'",
    "sign": "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use torch.sgn instead.",
    "erf": "\"erf_vml_cpu\" not implemented for '{T}'", "erfinv": "\"erfinv_vml_cpu\" not implemented for '{T}'",
    "lgamma": "\"lgamma_vml_cpu\" not implemented for '{T}'", "digamma": "\"digamma\" not implemented for '{T}'"}
_TORCH_COMPLEX_NAMES = {"complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _make_unary(name, Fn, float_only=False, int_identity=False, on_bool=None):
    """Builds op(input, *, out=None) and op_(input). float_only ops promote integer/bool inputs to
    the default dtype; int_identity ops (floor, ...) return integer inputs unchanged; on_bool
    says what PyTorch does with a bool input when it differs: an exception to raise, 'identity',
    or a dtype name to promote to."""
    cfn, save = Fn._cfn, Fn._save

    def _bool_input(xi):
        if isinstance(on_bool, BaseException):
            raise type(on_bool)(*on_bool.args)
        if on_bool == "identity":
            return _wrap(_C.clone(xi))
        return None

    def op(input, *, out=None):
        xi = input._impl
        dt = xi.dtype
        if dt not in _FLOAT:
            if dt[0] == "c":  # complex: never cast to a real dtype silently (flambeau/_complex routes its ops)
                impl = _complex_unary(name)
                if impl is not None:  # reached from inside a backward (Sub's neg(g) of a complex g, ...)
                    return impl(input) if out is None else impl(input, out=out)
                msg = _COMPLEX_REFUSALS.get(name)
                if msg is not None:  # PyTorch's words
                    raise NotImplementedError(msg.format(T=_TORCH_COMPLEX_NAMES[dt]))
                raise TypeError(f"{name}: not implemented for dtype {dt}")
            if float_only:
                input = _wrap(_C.to(xi, _default_dtype[0]._name, xi.device, False))
                xi = input._impl
            elif dt == "bool" and on_bool is not None:
                r = _bool_input(xi)
                if r is None:
                    input = _wrap(_C.to(xi, on_bool, xi.device, False))
                    xi = input._impl
                else:
                    return _write_out(out, r) if out is not None else r
            elif int_identity and dt in _INT:
                r = _wrap(_C.clone(xi))  # floor/ceil/round/trunc of an integer is the integer
                return _write_out(out, r) if out is not None else r
        if input._rg and _gs.enabled:
            r = apply_unary_kernel(Fn, input, cfn, save)
        else:
            if out is not None and isinstance(out, Tensor) and not out._rg:
                oi = out._impl
                if oi.dtype == xi.dtype and oi.shape == xi.shape and oi.device == xi.device:
                    cfn(xi, oi)  # straight into out: no temporary and no second pass
                    return out
            r = _wrap(cfn(xi))
        return _write_out(out, r, input, op=name) if out is not None else r

    def op_(input):
        xi = input._impl
        dt = xi.dtype
        if dt not in _FLOAT:
            if dt[0] == "c" and name in _COMPLEX_REFUSALS:  # PyTorch's words (others: flambeau/_complex's routes)
                raise NotImplementedError(_COMPLEX_REFUSALS[name].format(T=_TORCH_COMPLEX_NAMES[dt]))
            if float_only:
                raise RuntimeError(f"result type {_TORCH_TYPE_NAMES[_default_dtype[0]._name]} can't be cast to the "
                                   f"desired output type {_TORCH_TYPE_NAMES[dt]} ({name}_ into a tensor of shape "
                                   f"{list(xi.shape)})")
            if dt == "bool" and on_bool is not None:
                if _bool_input(xi) is not None:
                    return input
                raise RuntimeError(f"result type {_TORCH_TYPE_NAMES[on_bool]} can't be cast to the desired output "
                                   f"type Bool")
            if int_identity and dt in _INT:
                return input
        if input._rg and _gs.enabled:
            _check_inplace_leaf(input)
            src = _snapshot(input) if Fn._saves_self else input
            return _rebase(input, Fn.apply(src))
        cfn(xi, out=xi)
        return input

    op.__name__ = op.__qualname__ = name
    op_.__name__ = op_.__qualname__ = name + "_"
    return op, op_


def _not_impl_bool(kernel):
    return NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


neg, neg_ = _make_unary("neg", Neg, on_bool=RuntimeError(
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` "
    "or `logical_not()` operator instead."))
abs, abs_ = _make_unary("abs", Abs, on_bool=_not_impl_bool("abs_cpu"))  # noqa: A001
exp, exp_ = _make_unary("exp", Exp, True)
log, log_ = _make_unary("log", Log, True)
log2, log2_ = _make_unary("log2", Log2, True)
log10, log10_ = _make_unary("log10", Log10, True)
log1p, log1p_ = _make_unary("log1p", Log1p, True)
expm1, expm1_ = _make_unary("expm1", Expm1, True)
sqrt, sqrt_ = _make_unary("sqrt", Sqrt, True)
rsqrt, rsqrt_ = _make_unary("rsqrt", Rsqrt, True)
sin, sin_ = _make_unary("sin", Sin, True)
cos, cos_ = _make_unary("cos", Cos, True)
tan, tan_ = _make_unary("tan", Tan, True)
tanh, tanh_ = _make_unary("tanh", Tanh, True)
sigmoid, sigmoid_ = _make_unary("sigmoid", Sigmoid, True)
relu, relu_ = _make_unary("relu", Relu, on_bool=RuntimeError("Boolean inputs not supported for relu"))
reciprocal, reciprocal_ = _make_unary("reciprocal", Reciprocal, True)
erf, erf_ = _make_unary("erf", Erf, True)
square, square_ = _make_unary("square", Square, on_bool="int64")
sign, sign_ = _make_unary("sign", Sign, on_bool="identity")
floor, floor_ = _make_unary("floor", Floor, int_identity=True, on_bool=_not_impl_bool("floor_vml_cpu"))
ceil, ceil_ = _make_unary("ceil", Ceil, int_identity=True, on_bool=_not_impl_bool("ceil_vml_cpu"))
trunc, trunc_ = _make_unary("trunc", Trunc, int_identity=True, on_bool=_not_impl_bool("trunc_vml_cpu"))
fix, fix_ = trunc, trunc_
negative, negative_ = neg, neg_
absolute, absolute_ = abs, abs_
sgn = sign

negative = neg


_round0, round_0_ = _make_unary("round", Round, int_identity=True, on_bool=_not_impl_bool("round_vml_cpu"))


def round(input, *, decimals=0, out=None):  # noqa: A001
    if decimals == 0:
        return _round0(input, out=out)
    s = 10.0 ** decimals
    r = div(_round0(mul(input, s)), s)
    return _write_out(out, r) if out is not None else r


def round_(input, *, decimals=0):
    if decimals == 0:
        return round_0_(input)
    return input.copy_(round(input, decimals=decimals))




from . import pointwise as _pw  # noqa: E402  (after our names: pointwise is built from them)


def where(condition, input=None, other=None, *, out=None):
    """Kept here for modules that import it from elementwise; the op lives in pointwise.py."""
    return _pw.where(condition, input, other, out=out)
