"""Comparisons (eq, lt, ...), logical and bitwise ops, the bool-valued tests (isnan, isinf, ...)
and isclose/allclose/equal. None of these is differentiable: results are bool tensors.
"""
import numbers

from .. import _C
from .._dtype import _default_dtype, _BY_NAME
from .._promote import result_type_names, result_type_tensor_scalar, scalar_impl, scalar_dtype, can_cast_names, _FLOAT, _INT
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from ._dispatch import _as_tensor_operand, _devices_fixed, _write_out, _first_tensor, _cast, _TORCH_TYPE_NAMES


# ---------------------------------------------------------------- comparisons, logical, bitwise
def _compare(a, b, cfn):
    if not isinstance(a, Tensor):
        a, b = b, a
        cfn = _SWAPPED.get(cfn, cfn)
    ai = a._impl
    if isinstance(b, Tensor):
        bi = b._impl
        if ai.dtype != bi.dtype:
            dt = result_type_names(a, b)
            if ai.dtype != dt:
                ai = _C.to(ai, dt, ai.device, False)
            if bi.dtype != dt:
                bi = _C.to(bi, dt, bi.device, False)
        try:
            return _wrap(cfn(ai, bi))
        except Exception:
            fixed = _devices_fixed(ai, bi)
            if fixed is None:
                raise
            return _wrap(cfn(*fixed))
    if not isinstance(b, numbers.Number):
        t = _as_tensor_operand(b)
        if t is None:
            return NotImplemented
        return _compare(a, t, cfn)
    dt = result_type_tensor_scalar(ai.dtype, b)
    if ai.dtype != dt:
        ai = _C.to(ai, dt, ai.device, False)
    return _wrap(cfn(ai, scalar_impl(b, dt, ai.device)))


_SWAPPED = {_C.lt: _C.gt, _C.gt: _C.lt, _C.le: _C.ge, _C.ge: _C.le}


def _make_compare(cfn, name):
    def op(input, other, *, out=None):
        try:
            r = _compare(input, other, cfn)
        except TypeError as e:  # a complex operand of an ordering: PyTorch's words (not the kernel's)
            for x in (input, other):
                if isinstance(x, Tensor) and x._impl.dtype in ("complex64", "complex128"):
                    raise NotImplementedError(f"\"{name}_cpu\" not implemented for "
                                              f"'{_TORCH_TYPE_NAMES[x._impl.dtype]}'") from None
            raise e from None
        if r is NotImplemented:
            raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, not {type(other).__name__}")
        return _write_out(out, r) if out is not None else r
    op.__name__ = op.__qualname__ = name
    return op


eq = _make_compare(_C.eq, "eq")
ne = _make_compare(_C.ne, "ne")
lt = _make_compare(_C.lt, "lt")
le = _make_compare(_C.le, "le")
gt = _make_compare(_C.gt, "gt")
ge = _make_compare(_C.ge, "ge")
not_equal = ne
less = lt
less_equal = le
greater = gt
greater_equal = ge


def _logical(cfn, name):
    def op(input, other, *, out=None):
        if not isinstance(other, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
        input, other = _truth(input), _truth(other)
        r = _compare(input, other, cfn)
        if r is NotImplemented:
            raise TypeError(f"{name}(): argument 'other' must be Tensor, not {type(other).__name__}")
        return _write_out(out, r) if out is not None else r
    op.__name__ = op.__qualname__ = name
    return op


def _truth(x):
    """A complex operand of a logical op as its truth value, z != 0 (the kernels take real dtypes)."""
    if isinstance(x, Tensor) and x._impl.dtype in ("complex64", "complex128"):
        from .._complex.ops import ne as cne
        return cne(x, 0)
    return x


logical_and = _logical(_C.logical_and, "logical_and")
logical_or = _logical(_C.logical_or, "logical_or")
logical_xor = _logical(_C.logical_xor, "logical_xor")


def _bitwise(cfn, name):
    def op(input, other, *, out=None):
        t, _, _ = _first_tensor(input, other, name)
        for x in (input, other):
            dt = x._impl.dtype if isinstance(x, Tensor) else scalar_dtype(x)
            if dt in _FLOAT:
                raise RuntimeError(f"\"{name}_cpu\" not implemented for 'Float'" if dt == "float32"
                                   else f"\"{name}_cpu\" not implemented for 'Double'")
        r = _compare(input, other, cfn)
        if r is NotImplemented:
            raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, not {type(other).__name__}")
        return _write_out(out, r) if out is not None else r
    op.__name__ = op.__qualname__ = name
    return op


bitwise_and = _bitwise(_C.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(_C.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(_C.bitwise_xor, "bitwise_xor")


def _inplace_nograd(a, r):
    """Writes a non-differentiable result r into a (comparisons/logical/bitwise in place)."""
    from ._dispatch import check_no_internal_overlap
    check_no_internal_overlap(a._impl, "in-place comparison")
    if a._impl.dtype != r._impl.dtype and not can_cast_names(r._impl.dtype, a._impl.dtype):
        raise RuntimeError(f"result type {_BY_NAME[r._impl.dtype]} can't be cast to the desired output type "
                           f"{_BY_NAME[a._impl.dtype]}")
    _C.copy_(a._impl, r._impl)
    return a


class _CompareInplace(Function):
    """a.eq_(b) and the other in-place comparisons under autograd: self keeps requiring grad (as in
    PyTorch, whose derivative for them is zeros_like for both operands), but no gradient flows back
    through the 0/1 values: before this node, self kept its old history and passed grad_output through."""
    _grad_fn_name = "CompareBackward1"

    @staticmethod
    def forward(ctx, r, a, b):
        ctx.likes = (a, b if isinstance(b, Tensor) else None)
        return r

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        return (None,) + tuple(zeros_like(t) if t is not None and need else None
                               for t, need in zip(ctx.likes, ctx.needs_input_grad[1:]))


def _inplace_compare(a, r, b):
    """a.<cmp>_(b): writes the 0/1 result r into a (comparisons in place), with PyTorch's zero gradient
    when a graph is recorded."""
    from ._dispatch import check_no_internal_overlap, _check_inplace_leaf, _rebase
    if _gs.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        check_no_internal_overlap(a._impl, "in-place comparison")
        _check_inplace_leaf(a)
        if a._impl.dtype != r._impl.dtype and not can_cast_names(r._impl.dtype, a._impl.dtype):
            _inplace_nograd(a, r)  # raises the cast error
        r = _wrap(_C.to(r._impl, a._impl.dtype, r._impl.device, False))
        return _rebase(a, _CompareInplace.apply(r, a, b))
    return _inplace_nograd(a, r)


def _bool_unary(cfn, name):
    def op(input, *, out=None):
        r = _wrap(cfn(input._impl))
        return _write_out(out, r) if out is not None else r
    op.__name__ = op.__qualname__ = name
    return op


logical_not = _bool_unary(_C.logical_not, "logical_not")
isnan = _bool_unary(_C.isnan, "isnan")
isinf = _bool_unary(_C.isinf, "isinf")
isfinite = _bool_unary(_C.isfinite, "isfinite")


def bitwise_not(input, *, out=None):
    if input._impl.dtype in _FLOAT:
        raise RuntimeError("bitwise_not is only supported for integer and boolean tensors")
    r = _wrap(_C.bitwise_not(input._impl))
    return _write_out(out, r) if out is not None else r


def _check_inf_test(name, input, out):
    if input._impl.dtype in ("complex64", "complex128"):
        raise RuntimeError(f"{name} does not support complex inputs.")
    if out is not None and isinstance(out, Tensor) and out._impl.dtype != "bool":
        raise RuntimeError(f"{name} does not support non-boolean outputs.")


def isposinf(input, *, out=None):
    _check_inf_test("isposinf", input, out)
    r = logical_and(isinf(input), gt(input, 0))
    return _write_out(out, r) if out is not None else r


def isneginf(input, *, out=None):
    _check_inf_test("isneginf", input, out)
    r = logical_and(isinf(input), lt(input, 0))
    return _write_out(out, r) if out is not None else r


def isreal(input):
    return _wrap(_C.full(list(input._impl.shape), True, "bool", input._impl.device))


def signbit(input, *, out=None):
    if out is not None:
        if isinstance(out, Tensor) and out._impl.dtype != "bool":
            raise RuntimeError(f"signbit does not support non-boolean outputs. (out= of dtype {out._impl.dtype})")
        return _write_out(out, signbit(input))
    dt = input._impl.dtype
    if dt == "bool":
        return _wrap(_C.full(list(input._impl.shape), False, "bool", input._impl.device))
    neg = lt(input, 0)
    if dt in _INT:
        return neg
    # -0.0 has its sign bit set too: 1 / -0.0 is -inf. (A NaN's sign bit is not visible to these ops.)
    zero = eq(input.detach(), 0)
    return logical_or(neg, logical_and(zero, lt(_wrap(_C.reciprocal(input._impl)), 0)))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if not isinstance(other, Tensor):
        raise TypeError(f"isclose(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    if isinstance(other, Tensor) and input._impl.dtype != other._impl.dtype:
        raise RuntimeError(f"{_TORCH_TYPE_NAMES[input._impl.dtype]} did not match "
                           f"{_TORCH_TYPE_NAMES[other._impl.dtype]}")  # (PyTorch's words: Float did not match Long)
    if input._impl.dtype == "bool" or (input._impl.dtype in _INT and rtol == 0 and atol == 0):
        return eq(input, other)
    a = input if input._impl.dtype in _FLOAT else _cast(input, _default_dtype[0]._name)
    b = other if not isinstance(other, Tensor) or other._impl.dtype in _FLOAT else _cast(other, a._impl.dtype)
    tol = _ew.add(_ew.mul(_ew.abs(b) if isinstance(b, Tensor) else builtin_abs(b), rtol), atol)
    close = logical_or(eq(a, b), le(_ew.abs(_ew.sub(a, b)), tol))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b) if isinstance(b, Tensor) else (b != b)))
    return close


def builtin_abs(v):
    return v if v >= 0 else -v


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _all_true(isclose(input, other, rtol, atol, equal_nan))


def _all_true(t):
    return bool(_C.to_numpy(_C.to(_C.all(t._impl, [], False), "bool", "cpu", False)).item())


def equal(input, other):
    if input._impl.shape != other._impl.shape:
        return False
    return _all_true(eq(input, other))




from . import elementwise as _ew  # noqa: E402  (used at call time by isclose & co.)
