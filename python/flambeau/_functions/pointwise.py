"""Pointwise ops built from others (exp2, sinh, nan_to_num, ..., differentiable by
construction), and clamp/where/addcmul/addcdiv/lerp, which have their own kernels and Functions.
"""
import math

from .. import _C
from .._dtype import _default_dtype, _BY_NAME
from .._promote import (result_type_names, result_type_tensor_scalar, scalar_impl, can_cast_names, check_fits, _FLOAT,
                       _INT)
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .shape import _sum_to
from ._dispatch import (_cast, _write_out, check_overlap, _check_inplace_leaf, _snapshot, _rebase, _scalar_like,
                        _TORCH_TYPE_NAMES)
from .compare import eq, le, ge, gt, logical_and, logical_not, isnan, isinf, isposinf, isneginf, _inplace_nograd
from .elementwise import (add, sub, rsub, mul, div, neg, exp, log, log1p, abs, sqrt, trunc, erf, pow, atan2,
                          maximum, minimum, hypot)


def positive(input):
    if input._impl.dtype == "bool":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


# ---------------------------------------------------------------- composites (differentiable by construction)
def exp2(input, *, out=None):
    r = pow(2.0, input if input._impl.dtype in _FLOAT else _cast(input, _default_dtype[0]._name))
    return _write_out(out, r) if out is not None else r


def frac(input, *, out=None):
    if input._impl.dtype not in _FLOAT:
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{_TORCH_TYPE_NAMES[input._impl.dtype]}'")
    r = sub(input, trunc(input))
    return _write_out(out, r) if out is not None else r


def _float_pair(name, input, other, half_in_float=False):
    """The operands of a binary float op (xlogy, logaddexp) cast to the dtype it computes in, and
    its result dtype: PyTorch's promotion, integers and bools to the default float (an integer operand
    of a bfloat16 op rounded to bfloat16 first). half_in_float: float16/bfloat16 computed in float32
    and rounded once at the end, as PyTorch's logaddexp kernel; without it each step rounds to the
    half type, as c10's Half/BFloat16 arithmetic in xlogy's kernel (log(y) rounded, then x * it)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'input' and 'other' must be Tensor or Number, not "
                        f"{type(input).__name__} and {type(other).__name__}")
    dt = result_type_names(input, other)
    if dt in ("complex64", "complex128"):
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_TORCH_TYPE_NAMES[dt]}'")
    if dt not in _FLOAT:
        dt = _default_dtype[0]._name
    cdt = "float32" if half_in_float and dt in ("float16", "bfloat16") else dt
    like = input if isinstance(input, Tensor) else other
    x = _cast(_cast(input, dt), cdt) if isinstance(input, Tensor) else _wrap(scalar_impl(input, cdt, like._impl.device))
    y = _cast(_cast(other, dt), cdt) if isinstance(other, Tensor) else _wrap(scalar_impl(other, cdt, like._impl.device))
    return x, y, dt


def _xlogy_value(x, y):
    """input * log(other), 0 where input is 0, NaN where other is NaN (PyTorch's order of the rules)."""
    return where(isnan(y), float("nan"), where(eq(x, 0), 0.0, mul(x, log(y))))


class _Xlogy(Function):
    """xlogy with PyTorch's derivatives: d/dx = xlogy(g, y), and 0 where x == 0 and y <= 0 (the
    composite's where/mul gave 0 * log(0) = NaN there); with a Python number for y (xlogy.Scalar_Other)
    PyTorch masks where x == 0 unless y > 0, so a NaN number gives 0 there too. d/dy = g * x / y. Not
    `_builtin`: the engine sums broadcast gradients back and casts them to each input's dtype."""
    _grad_fn_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx, x, y, y_number=False):
        ctx.save_for_backward(x, y)
        ctx.y_number = y_number
        return _xlogy_value(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nig = ctx.needs_input_grad
        gx = gy = None
        if nig[0]:
            keep = logical_not(gt(y, 0)) if ctx.y_number else le(y, 0)
            gx = where(logical_and(eq(x, 0), keep), 0.0, xlogy(g, y))
        if nig[1]:
            gy = div(mul(g, x), y)
        return gx, gy, None


def xlogy(input, other, *, out=None):
    """input * log(other) (PyTorch's promotion: _float_pair; complex refused as PyTorch's kernel)."""
    x, y, dt = _float_pair("xlogy", input, other)
    r = _Xlogy.apply(x, y, not isinstance(other, Tensor)) if _gs.enabled and (x._rg or y._rg) else _xlogy_value(x, y)
    r = _cast(r, dt)
    return _write_out(out, r) if out is not None else r


def logaddexp(input, other, *, out=None):
    _check_tensors("logaddexp", input=input, other=other)
    if (isinstance(input, Tensor) and input._impl.dtype[0] == "c") or (
            isinstance(other, Tensor) and other._impl.dtype[0] == "c"):
        from .._complex.elementwise import logaddexp as clogaddexp
        r = clogaddexp(input, other)
        return _write_out(out, r) if out is not None else r
    dt = result_type_names(input, other) if isinstance(input, Tensor) and isinstance(other, Tensor) else None
    if dt is not None and dt not in _FLOAT:
        raise NotImplementedError(f"\"logaddexp_cpu\" not implemented for '{_TORCH_TYPE_NAMES[dt]}'")
    x, y, dt = _float_pair("logaddexp", input, other, half_in_float=True)
    r = _Logaddexp.apply(x, y) if _gs.enabled and (x._rg or y._rg) else _logaddexp_value(x, y)
    r = _cast(r, dt)
    return _write_out(out, r) if out is not None else r


def _logaddexp_value(x, y):
    # PyTorch's kernel: a where both are the same infinity, else max + log1p(exp(-|a - b|))
    r = add(maximum(x, y), log1p(exp(neg(abs(sub(x, y))))))
    return where(logical_and(isinf(x), eq(x, y)), x, r)


class _Logaddexp(Function):
    """logaddexp with PyTorch's derivatives, g / (1 + exp(y - x)) and g / (1 + exp(x - y)). The
    composite's max/abs are kinked where x == y: first order split evenly there (right), but its second
    order lost the curvature (0 where PyTorch's is g/4-scaled), and logcumsumexp, a scan of logaddexp,
    inherited that at ties. Not `_builtin`: the engine sums broadcast gradients back and casts them."""
    _grad_fn_name = "LogaddexpBackward0"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _logaddexp_value(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nig = ctx.needs_input_grad
        gx = div(g, add(exp(sub(y, x)), 1.0)) if nig[0] else None
        gy = div(g, add(exp(sub(x, y)), 1.0)) if nig[1] else None
        return gx, gy


# ---------------------------------------------------------------- addcmul, addcdiv, lerp: one kernel each
# _C.addcmul/addcdiv/lerp round as PyTorch's CPU kernels do (addcmul and lerp with one fma) and take
# tensors of one float dtype and device; they raise TypeError/NotImplementedError, before touching
# anything, for mixed or integer dtypes, which then take the composites below (they promote like
# PyTorch). A shape or device mismatch is an error either way.
_PROMOTE = (TypeError, NotImplementedError)


def _addc_forward(ctx, cfn, s, a, b, value):
    """Addcmul's and Addcdiv's forward: the kernel, with what both backwards need."""
    ctx.value = value
    ctx.shapes = (s._impl.shape, a._impl.shape, b._impl.shape)
    # only what the needed gradients read, as PyTorch saves: x.addcmul_(y, z) must not fail in
    # backward because y or z (not requiring grad) shares x's storage and was overwritten
    nig = ctx.needs_input_grad
    need_a = nig[2]
    need_b = nig[1] or (nig[2] and cfn is _C.addcdiv)
    ctx.save_for_backward(a if need_a else None, b if need_b else None)
    return _wrap(cfn(s._impl, a._impl, b._impl, value))


class Addcmul(Function):
    @staticmethod
    def forward(ctx, s, a, b, value):
        return _addc_forward(ctx, _C.addcmul, s, a, b, value)

    @staticmethod
    def backward(ctx, g):  # as PyTorch: d/da = g * (b * value), d/db = g * (a * value)
        a, b = ctx.saved_tensors
        ss, sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        gs = _sum_to(g, ss) if nig[0] else None
        ga = _sum_to(mul(g, mul(b, ctx.value)), sa) if nig[1] else None
        gb = _sum_to(mul(g, mul(a, ctx.value)), sb) if nig[2] else None
        return gs, ga, gb, None


class Addcdiv(Function):
    @staticmethod
    def forward(ctx, s, a, b, value):
        return _addc_forward(ctx, _C.addcdiv, s, a, b, value)

    @staticmethod
    def backward(ctx, g):  # d/da = g * (value / b), d/db = -g * value * a / (b * b)
        a, b = ctx.saved_tensors
        ss, sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        gs = _sum_to(g, ss) if nig[0] else None
        ga = _sum_to(mul(g, div(ctx.value, b)), sa) if nig[1] else None
        gb = _sum_to(div(mul(mul(neg(g), ctx.value), a), mul(b, b)), sb) if nig[2] else None
        return gs, ga, gb, None


class Lerp(Function):
    @staticmethod
    def forward(ctx, s, e, w):
        ctx.shapes = (s._impl.shape, e._impl.shape, w._impl.shape)
        nig = ctx.needs_input_grad  # save only what the needed gradients read (see _addc_forward)
        ctx.save_for_backward(s if nig[2] else None, e if nig[2] else None, w if nig[0] or nig[1] else None)
        return _wrap(_C.lerp(s._impl, e._impl, w._impl))

    @staticmethod
    def backward(ctx, g):  # d/ds = g * (1 - w), d/de = g * w, d/dw = g * (e - s)
        s, e, w = ctx.saved_tensors
        ss, se, sw = ctx.shapes
        nig = ctx.needs_input_grad
        gs = _sum_to(mul(g, rsub(w, 1.0)), ss) if nig[0] else None
        ge = _sum_to(mul(g, w), se) if nig[1] else None
        gw = _sum_to(mul(g, sub(e, s)), sw) if nig[2] else None
        return gs, ge, gw


def _ternary(Fn, cfn, s, a, b, extra, out):
    """The kernel's result (written into `out`), or None where the operands need the promoting
    composite. `b` may be a number (lerp's weight)."""
    if not (isinstance(s, Tensor) and isinstance(a, Tensor)):
        return None
    bt = isinstance(b, Tensor)
    if (s._rg or a._rg or (bt and b._rg)) and _gs.enabled:
        b = b if bt else _number_operand(s, b)
        si, ai, bi = s._impl, a._impl, b._impl
        if si.dtype not in _FLOAT or ai.dtype != si.dtype or bi.dtype != si.dtype:
            return None
        r = Fn.apply(s, a, b, *extra)
        return _write_out(out, r) if out is not None else r
    if out is not None:
        if not isinstance(out, Tensor):
            raise TypeError(f"out must be a Tensor, got {type(out).__name__}")
        if out._rg and _gs.enabled:
            raise RuntimeError("functions with out=... arguments don't support automatic differentiation, but one "
                               "of the arguments requires grad.")
    try:
        r = _wrap(cfn(s._impl, a._impl, b._impl if bt else b, *extra))
    except _PROMOTE:
        return None
    return _write_out(out, r) if out is not None else r


def _number_operand(input, v):
    """A number operand as a 0-d tensor of input's dtype (lerp's weight under autograd)."""
    dt = input._impl.dtype if input._impl.dtype in _FLOAT else _default_dtype[0]._name
    return _wrap(scalar_impl(v, dt, input._impl.device))


def _check_tensors(op, **named):
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")


# PyTorch's clamp_ and lerp name types in C++'s words
_C_INT_NAMES = {"bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short int", "int32": "int",
                "int64": "long int"}
_C_FLOAT_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
                  "complex64": "c10::complex<float>", "complex128": "c10::complex<double>"}


def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input), rounded as PyTorch's CPU kernel."""
    _check_tensors("lerp", input=input, end=end)
    if isinstance(out, Tensor):  # an out partially overlapping an operand: PyTorch's refusal, before computing
        check_overlap(out, (input, end, weight), "lerp")
    # PyTorch takes no mixed dtypes here. flambeau promotes mixed numeric ones (a deliberate extension, see
    # test_pointwise_ternary), but a bool end or weight is refused in PyTorch's words (it reached sub's
    # "Subtraction ... with a bool tensor")
    for what, x in (("end", end), ("weight", weight)):
        if isinstance(x, Tensor) and x._impl.dtype == "bool" and input._impl.dtype != "bool":
            names = {**_C_INT_NAMES, **_C_FLOAT_NAMES}
            raise RuntimeError(f"expected dtype {names[input._impl.dtype]} for `{what}` but got dtype "
                               f"{names[x._impl.dtype]}")
    r = _ternary(Lerp, _C.lerp, input, end, weight, (), out)
    if r is not None:
        return r
    r = add(input, mul(weight, sub(end, input)))
    return _write_out(out, r) if out is not None else r


_INT_BOOL = _INT | {"bool"}


def _common_float(input, tensor1, tensor2):
    """The three operands cast to their promoted dtype when it is floating and they differ (the
    kernel then rounds as PyTorch's: mixed float64/float32/uint8 operands were computed in float32
    by the composite), else None."""
    dts = {input._impl.dtype, tensor1._impl.dtype, tensor2._impl.dtype}
    if len(dts) == 1:
        return None
    dt = result_type_names(input, tensor1, tensor2)
    if dt not in _FLOAT:
        return None
    return _cast(input, dt), _cast(tensor1, dt), _cast(tensor2, dt), dt


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    _check_tensors("addcmul", input=input, tensor1=tensor1, tensor2=tensor2)
    if isinstance(out, Tensor):
        check_overlap(out, (input, tensor1, tensor2), "addcmul")
    r = _ternary(Addcmul, _C.addcmul, input, tensor1, tensor2, (float(value),), out)
    if r is not None:
        return r
    c = _common_float(input, tensor1, tensor2)
    if c is not None:
        r = _ternary(Addcmul, _C.addcmul, c[0], c[1], c[2], (float(value),), out)
        if r is not None:
            return r
    dt = result_type_names(input, tensor1, tensor2)
    if dt == "bool":
        raise NotImplementedError("\"addcmul_cpu_out\" not implemented for 'Bool'")
    if dt in _INT:  # PyTorch converts value to the integer dtype (truncating): addcmul(i, a, b, value=0.5) is i
        check_fits(value, dt)
        value = int(value)
        # computed in that dtype (a uint8 tensor1 times a negative value wrapped in uint8)
        input, tensor1, tensor2 = _cast(input, dt), _cast(tensor1, dt), _cast(tensor2, dt)
    r = add(input, mul(mul(tensor1, value), tensor2) if value != 1 else mul(tensor1, tensor2))
    return _write_out(out, r) if out is not None else r


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    _check_tensors("addcdiv", input=input, tensor1=tensor1, tensor2=tensor2)
    if isinstance(out, Tensor):
        check_overlap(out, (input, tensor1, tensor2), "addcdiv")
    r = _ternary(Addcdiv, _C.addcdiv, input, tensor1, tensor2, (float(value),), out)
    if r is not None:
        return r
    if tensor1._impl.dtype in _INT_BOOL and tensor2._impl.dtype in _INT_BOOL:
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a "
            "true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + value "
            "* torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / "
            "tensor2) for float inputs. The future addcdiv behavior is just the latter implementation: (input + value "
            "* tensor1 / tensor2), for all dtypes.")
    c = _common_float(input, tensor1, tensor2)
    if c is not None:
        r = _ternary(Addcdiv, _C.addcdiv, c[0], c[1], c[2], (float(value),), out)
        if r is not None:
            return r
    r = add(input, div(mul(tensor1, value), tensor2) if value != 1 else div(tensor1, tensor2))
    return _write_out(out, r) if out is not None else r


_FINFO_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38,
              "float64": 1.7976931348623157e308}


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    if out is not None and isinstance(out, Tensor) and out._impl.dtype != input._impl.dtype:
        raise RuntimeError(f"nan_to_num: dtype of out: {_TORCH_TYPE_NAMES[out._impl.dtype]} should be same as input: "
                           f"{_TORCH_TYPE_NAMES[input._impl.dtype]}")
    r = _nan_to_num(input, nan, posinf, neginf)
    return _write_out(out, r) if out is not None else r


def _nan_to_num(input, nan, posinf, neginf):
    if input._impl.dtype in ("complex64", "complex128"):  # real and imaginary parts each, as PyTorch
        import flambeau
        parts = _nan_to_num(flambeau.view_as_real(input), nan, posinf, neginf)
        return flambeau.view_as_complex(parts.contiguous())
    if input._impl.dtype not in _FLOAT:
        return clone_(input)
    big = _FINFO_MAX[input._impl.dtype]  # the dtype's own largest finite value (float16: 65504)
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    r = where(isnan(input), nan, input)
    r = where(isposinf(input), posinf, r)
    return where(isneginf(input), neginf, r)


def clone_(t):
    from .shape import clone
    return clone(t)


# ---------------------------------------------------------------- clamp, where
class Clamp(Function):
    _builtin = True
    _grad_fn_name = "ClampBackward1"
    _saves_self = True

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return _wrap(_C.clamp(x._impl, lo, hi))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        if lo is not None and hi is not None:
            mask = logical_and(ge(x, lo), le(x, hi))
        elif lo is not None:
            mask = ge(x, lo)
        else:
            mask = le(x, hi)
        return where(mask, g, 0.0), None, None


def _clamp_values(x, lo, hi):
    """min(max(x, lo), hi) with tensor bounds (NaN propagates, hi wins where lo > hi), as PyTorch."""
    r = x if lo is None else maximum(x, lo)
    return r if hi is None else minimum(r, hi)


class ClampTensor(Function):
    """clamp with tensor bounds. PyTorch's gradients: to x where lo <= x <= hi (ties included), to lo where
    x < lo (and lo < hi when both), to hi where x > hi (or hi < lo); maximum/minimum would split ties."""
    _builtin = True
    _grad_fn_name = "ClampBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        from ..autograd.grad_mode import no_grad
        with no_grad():
            return _clamp_values(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        from .compare import gt, lt, logical_or
        x, lo, hi = ctx.saved_tensors
        nig = ctx.needs_input_grad
        if lo is not None and hi is not None:
            keep = logical_and(ge(x, lo), le(x, hi))
            to_lo = logical_and(lt(x, lo), lt(lo, hi))
            to_hi = logical_or(gt(x, hi), lt(hi, lo))
        else:
            keep = ge(x, lo) if lo is not None else le(x, hi)
            to_lo = lt(x, lo) if lo is not None else None
            to_hi = gt(x, hi) if hi is not None else None
        # _builtin: the engine does not cast, and g has the promoted result dtype (a float64 bound on a
        # float32 input): each gradient goes back in its own input's dtype, as PyTorch's.
        gx = _cast(_sum_to(where(keep, g, 0.0), x.shape), x._impl.dtype) if nig[0] else None
        glo = _cast(_sum_to(where(to_lo, g, 0.0), lo.shape), lo._impl.dtype) if nig[1] else None
        ghi = _cast(_sum_to(where(to_hi, g, 0.0), hi.shape), hi._impl.dtype) if nig[2] else None
        return gx, glo, ghi


def _nan_bound(input, lo, hi):
    """A NaN scalar bound on a floating input: PyTorch's clamp then gives NaN everywhere, which the
    tensor-bound path does (the scalar kernel's min/max would ignore the NaN bound)."""
    return input._impl.dtype not in ("complex64", "complex128") and \
        any(isinstance(v, float) and v != v for v in (lo, hi))


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None".replace("torch.", ""))
    if isinstance(min, Tensor) or isinstance(max, Tensor) or _nan_bound(input, min, max):
        if _nan_bound(input, min, max) and input._impl.dtype not in _FLOAT:  # an integer input: float result
            input = _cast(input, result_type_tensor_scalar(input._impl.dtype, math.nan))
        lo = None if min is None else (min if isinstance(min, Tensor) else _scalar_like(input, min))
        hi = None if max is None else (max if isinstance(max, Tensor) else _scalar_like(input, max))
        if _gs.enabled and any(t is not None and t._rg for t in (input, lo, hi)):
            r = ClampTensor.apply(input, lo, hi)
        else:
            r = _clamp_values(input, lo, hi)
        return _write_out(out, r, input, lo, hi, op="clamp") if out is not None else r
    xi = input._impl
    dt = xi.dtype
    for v in (min, max):
        if v is not None:
            dt = result_type_tensor_scalar(dt, v)
    x = _cast(input, dt)
    if x._rg and _gs.enabled:
        r = Clamp.apply(x, min, max)
    else:
        r = _wrap(_C.clamp(x._impl, min, max))
    return _write_out(out, r, input, op="clamp") if out is not None else r


clip = clamp




def clamp_(input, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("clamp_: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor) or (input._rg and _gs.enabled) or \
            _nan_bound(input, min, max):
        if input._rg and _gs.enabled:
            _check_inplace_leaf(input)
            return _rebase(input, clamp(_snapshot(input), min, max))
        return _inplace_nograd(input, clamp(input, min, max))
    xi = input._impl
    for v in (min, max):
        if v is not None and not can_cast_names(result_type_tensor_scalar(xi.dtype, v), xi.dtype):
            raise RuntimeError(f"result type Float can't be cast to the desired output type {_C_INT_NAMES[xi.dtype]}")
    _C.clamp(xi, min, max, out=xi)
    return input


clip_ = clamp_


def clamp_min(input, min, *, out=None):  # noqa: A002
    r = clamp(input, min=min)
    return _write_out(out, r) if out is not None else r


def clamp_max(input, max, *, out=None):  # noqa: A002
    r = clamp(input, max=max)
    return _write_out(out, r) if out is not None else r


def clamp_min_(input, min):  # noqa: A002
    return clamp_(input, min=min)


def clamp_max_(input, max):  # noqa: A002
    return clamp_(input, max=max)


class Where(Function):
    _builtin = True
    _grad_fn_name = "WhereBackward0"

    @staticmethod
    def forward(ctx, cond, a, b):
        ai, bi = a._impl, b._impl
        ctx.shapes = (ai.shape, bi.shape)
        ctx.save_for_backward(cond)
        return _wrap(_C.where(cond._impl, ai, bi))

    @staticmethod
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        ga = _sum_to(where(cond, g, 0.0), sa) if nig[1] else None
        gb = _sum_to(where(cond, 0.0, g), sb) if nig[2] else None
        return None, ga, gb


def where(condition, input=None, other=None, *, out=None):
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(condition).__name__}")
    ci = condition._impl
    if ci.dtype == "uint8":  # accepted with PyTorch's deprecation warning, read as != 0
        import warnings
        warnings.warn("where received a uint8 condition tensor. This behavior is deprecated and will be removed in "
                      "a future version of PyTorch. Use a boolean condition instead.", UserWarning, stacklevel=2)
        condition = _wrap(_C.to(ci, "bool", ci.device, False))
        ci = condition._impl
    if ci.dtype != "bool":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_TORCH_TYPE_NAMES[ci.dtype]}")
    ta = isinstance(input, Tensor)
    tb = isinstance(other, Tensor)
    if out is not None:
        # PyTorch's out= overload takes tensors only, and refuses an out partially overlapping an operand
        _check_tensors("where", input=input, other=other)
        if isinstance(out, Tensor):
            check_overlap(out, (condition, input, other), "where")
    if ta and tb and input._impl.dtype == other._impl.dtype:
        dt = input._impl.dtype
    else:
        dt = result_type_names(input, other)
    dev = input._impl.device if ta else (other._impl.device if tb else ci.device)
    a = _cast(input, dt) if ta else _wrap(scalar_impl(input, dt, dev))
    b = _cast(other, dt) if tb else _wrap(scalar_impl(other, dt, dev))
    if (a._rg or b._rg) and _gs.enabled:
        r = Where.apply(condition, a, b)
    else:
        r = _wrap(_C.where(ci, a._impl, b._impl))
    return _write_out(out, r) if out is not None else r


