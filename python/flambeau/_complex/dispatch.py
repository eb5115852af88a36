"""Routes ops with a complex operand to their complex implementation (ops.py).

Each routed op is wrapped once, at import: the wrapper looks at the leading operands and calls the
complex implementation when one is a complex tensor (or a complex Python number); otherwise it calls
the original function unchanged. The check comes first rather than as a fallback on the real op's
error because several real ops convert a non-floating input to float32 before computing, which for
a complex input would silently drop the imaginary part.
"""
import functools

from .. import _tensor_methods as _tm  # noqa: F401  (the methods being wrapped are attached first)
from .._tensor import Tensor
from ..autograd.grad_mode import _state as _gs
from . import ops
from .core import COMPLEX, is_complex_number

# name -> complex implementation; wrapped as flambeau.<name> and Tensor.<name> where those exist.
ROUTES = {
    "add": ops.add, "sub": ops.sub, "subtract": ops.sub, "mul": ops.mul, "multiply": ops.mul, "div": ops.div,
    "divide": ops.div, "true_divide": ops.div, "neg": ops.neg, "negative": ops.neg, "reciprocal": ops.reciprocal,
    "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "rsqrt": ops.rsqrt, "square": ops.square, "pow": ops.pow,
    "float_power": ops.float_power, "abs": ops.abs, "absolute": ops.abs, "sgn": ops.sgn, "eq": ops.eq, "ne": ops.ne,
    "not_equal": ops.ne, "isnan": ops.isnan, "isinf": ops.isinf, "isfinite": ops.isfinite, "isreal": ops.isreal,
    "isclose": ops.isclose, "allclose": ops.allclose, "equal": ops.equal, "sum": ops.sum, "mean": ops.mean,
    "matmul": ops.matmul, "mm": ops.mm, "bmm": ops.bmm, "mv": ops.mv, "dot": ops.dot, "vdot": ops.vdot,
    "inner": ops.inner, "outer": ops.outer, "rsub": ops.rsub,
}

# Argument names that may hold the second operand when passed by keyword.
_OTHER_KW = ("other", "exponent", "mat2", "vec", "vec2", "tensor")


def _is_complex_operand(x):
    impl = getattr(x, "_impl", None)
    if impl is not None:
        return impl.dtype in COMPLEX
    return is_complex_number(x)


def route(orig, cimpl):
    @functools.wraps(orig)
    def op(*args, **kwargs):
        if args:
            if _is_complex_operand(args[0]) or (len(args) > 1 and _is_complex_operand(args[1])):
                return cimpl(*args, **kwargs)
        elif "input" in kwargs and _is_complex_operand(kwargs["input"]):
            return cimpl(*args, **kwargs)
        if kwargs:
            for k in _OTHER_KW:
                if k in kwargs and _is_complex_operand(kwargs[k]):
                    return cimpl(*args, **kwargs)
        return orig(*args, **kwargs)
    op._complex_route = cimpl
    return op


def _route_einsum(orig):
    @functools.wraps(orig)
    def einsum(equation, *operands):
        ops_ = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
        if any(_is_complex_operand(x) for x in ops_):
            return ops.einsum(equation, *ops_)
        return orig(equation, *operands)
    return einsum


def _swap(cimpl):
    def op(self, other):
        return cimpl(other, self)
    return op


def _inplace(orig, cimpl):
    """x.op_(y): a complex x gets the out-of-place complex result written back (autograd-aware)."""
    @functools.wraps(orig)
    def op(self, *args, **kwargs):
        if self._impl.dtype in COMPLEX:
            src = self
            if self._rg and _gs.enabled:
                # the composite saves views of its operands for backward; computing from a snapshot
                # keeps them valid once the result is written into self (as PyTorch saves the old self)
                src = self.clone()
                args = tuple(src if a is self else a for a in args)
            return _tm._assign_result(self, cimpl(src, *args, **kwargs))
        if args and _is_complex_operand(args[0]):
            raise RuntimeError(f"result type {_torch_name(args[0])} can't be cast to the desired output type "
                               f"{_tm.dsp._TORCH_TYPE_NAMES.get(self._impl.dtype, self._impl.dtype)}")
        return orig(self, *args, **kwargs)
    return op


def _torch_name(x):
    if isinstance(x, Tensor):
        return _tm.dsp._TORCH_TYPE_NAMES[x._impl.dtype]
    return "ComplexFloat"


_INPLACE = {"add_": ops.add, "sub_": ops.sub, "subtract_": ops.sub, "mul_": ops.mul, "multiply_": ops.mul,
            "div_": ops.div, "divide_": ops.div, "true_divide_": ops.div, "neg_": ops.neg, "negative_": ops.neg,
            "exp_": ops.exp, "log_": ops.log, "sqrt_": ops.sqrt, "rsqrt_": ops.rsqrt, "square_": ops.square,
            "pow_": ops.pow, "reciprocal_": ops.reciprocal, "sgn_": ops.sgn}
_INPLACE_OPERATORS = {"__iadd__": ops.add, "__isub__": ops.sub, "__imul__": ops.mul, "__itruediv__": ops.div,
                      "__idiv__": ops.div}


def install(namespace):
    """Wraps the routed ops in the flambeau namespace and on Tensor."""
    for name, cimpl in ROUTES.items():
        if name in namespace and callable(namespace[name]):
            namespace[name] = route(namespace[name], cimpl)
        if hasattr(Tensor, name):
            setattr(Tensor, name, route(getattr(Tensor, name), cimpl))
    for name, cimpl in _INPLACE.items():
        if hasattr(Tensor, name):
            setattr(Tensor, name, _inplace(getattr(Tensor, name), cimpl))
    for name, cimpl in _INPLACE_OPERATORS.items():
        if hasattr(Tensor, name):
            setattr(Tensor, name, _inplace(getattr(Tensor, name), cimpl))
    if "einsum" in namespace:
        namespace["einsum"] = _route_einsum(namespace["einsum"])
    T = Tensor
    T.__add__ = route(T.__add__, ops.add)
    T.__radd__ = route(T.__radd__, _swap(ops.add))
    T.__sub__ = route(T.__sub__, ops.sub)
    T.__rsub__ = route(T.__rsub__, _swap(ops.sub))
    T.__mul__ = route(T.__mul__, ops.mul)
    T.__rmul__ = route(T.__rmul__, _swap(ops.mul))
    T.__truediv__ = T.__div__ = route(T.__truediv__, ops.div)
    T.__rtruediv__ = T.__rdiv__ = route(T.__rtruediv__, _swap(ops.div))
    T.__pow__ = route(T.__pow__, ops.pow)
    T.__rpow__ = route(T.__rpow__, _swap(ops.pow))
    T.__matmul__ = route(T.__matmul__, ops.matmul)
    T.__rmatmul__ = route(T.__rmatmul__, _swap(ops.matmul))
    T.__neg__ = route(T.__neg__, ops.neg)
    T.__abs__ = route(T.__abs__, ops.abs)
    T.__eq__ = route(T.__eq__, ops.eq)
    T.__ne__ = route(T.__ne__, ops.ne)
