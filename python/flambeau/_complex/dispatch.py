"""Routes ops with a complex operand to their complex implementation (ops.py).

Each routed op is wrapped once, at import: the wrapper looks at the leading operands and calls the
complex implementation when one is a complex tensor (or a complex Python number); otherwise it calls
the original function unchanged. The check comes first rather than as a fallback on the real op's
error because several real ops convert a non-floating input to float32 before computing, which for
a complex input would silently drop the imaginary part.
"""
import functools

from .. import _C
from .. import _tensor_methods as _tm  # noqa: F401  (the methods being wrapped are attached first)
from .._tensor import Tensor
from ..autograd.grad_mode import _state as _gs
from . import ops, elementwise, reductions, products, linalg as clinalg, svd as csvd, lu as clu
from .core import COMPLEX, is_complex_number

# name -> complex implementation; wrapped as flambeau.<name> and Tensor.<name> where those exist.
# TRY: the hot ops, whose real implementation raises for a complex operand before touching anything
# (the C++ compute kernels refuse complex; tests/test_complex_dtype.py checks that each one does): the
# real op runs first and the complex one only after it raised, so real tensors pay nothing for the
# check (reading a tensor's dtype costs ~0.4 us, a visible part of a small op).
# (add, sub, mul, div and their operators need no wrapper: _functions/_dispatch.py's _binary/_rbinary
# call the complex implementation after the real path refused a complex operand; see BINARY below.)
TRY = {
    "neg": ops.neg, "negative": ops.neg, "reciprocal": ops.reciprocal,
    "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "rsqrt": ops.rsqrt, "square": ops.square, "pow": ops.pow,
    "abs": ops.abs, "absolute": ops.abs, "eq": ops.eq, "ne": ops.ne, "not_equal": ops.ne, "sum": ops.sum,
    "mean": ops.mean, "matmul": ops.matmul, "mm": ops.mm, "bmm": ops.bmm, "mv": ops.mv, "dot": ops.dot,
    "inner": ops.inner, "outer": ops.outer,
}
TRY.update(elementwise.UNARY)
# kernel -> complex implementation, for _functions/_dispatch.py's _binary/_rbinary
BINARY = {_C.add: ops.add, _C.sub: ops.sub, _C.mul: ops.mul, _C.div: ops.div}  # sin, ..., expm1: the real ops raise TypeError for a complex input
# CHECK: ops whose real implementation would give an answer for complex input (isnan of a non-float
# is all False, float_power casts to float64, ...): the operands' dtypes are looked at first.
CHECK = {
    "float_power": ops.float_power, "sgn": ops.sgn, "isnan": ops.isnan, "isinf": ops.isinf,
    "isfinite": ops.isfinite, "isreal": ops.isreal, "isclose": ops.isclose, "allclose": ops.allclose,
    "equal": ops.equal, "vdot": ops.vdot, "exp2": elementwise.exp2, "prod": reductions.prod,
    "cumsum": reductions.cumsum, "cumprod": reductions.cumprod, "trace": reductions.trace, "var": reductions.var,
    "std": reductions.std, "var_mean": reductions.var_mean, "std_mean": reductions.std_mean,
    "norm": reductions.norm, "scatter_add": ops.scatter_add,
    "sinc": elementwise.sinc, "logsumexp": elementwise.logsumexp, "all": reductions.all, "any": reductions.any,
    "logical_not": reductions.logical_not, "count_nonzero": reductions.count_nonzero,
}


def _refuse(name):
    def op(input, *args, **kwargs):
        ops._unsupported(name, input)
    return op


# REFUSE: ops PyTorch does not define for complex input whose real implementation would cast a complex
# input to a real dtype (or sort/compare its bytes) and return a number: a TypeError instead.
REFUSE = ("copysign", "deg2rad", "rad2deg", "histc", "i0", "logit", "isin", "searchsorted", "bucketize", "unique",
          "unique_consecutive", "copysign_", "deg2rad_", "rad2deg_", "i0_", "logit_")
CHECK.update({name: _refuse(name) for name in REFUSE})
# ANY: ops with several tensor operands, any of which may be the complex one.
ANY = {
    "addmm": products.addmm, "baddbmm": products.baddbmm, "addbmm": products.addbmm, "addmv": products.addmv,
    "addr": products.addr, "kron": products.kron, "tensordot": products.tensordot, "cross": products.cross,
    "addcmul": products.addcmul, "addcdiv": products.addcdiv, "lerp": products.lerp,
    "masked_fill": products.masked_fill, "diff": products.diff, "dist": products.dist, "where": products.where,
}
# flambeau.linalg's functions (wrapped in that module; ANY-style).
LINALG = {
    "vector_norm": reductions.vector_norm, "norm": reductions.linalg_norm, "matrix_norm": reductions.matrix_norm,
    "cross": products.linalg_cross, "vecdot": products.vecdot, "matmul": ops.matmul,
}
LINALG.update(clinalg.ROUTES)
LINALG["logdet"] = clinalg.logdet
# torch.<name> / Tensor.<name> spellings of the complex linalg ops
ANY.update({"det": clinalg.det, "logdet": clinalg.logdet, "inverse": clinalg.inv, "matrix_exp": clinalg.matrix_exp,
            "pinverse": lambda input, rcond=1e-15: clinalg.pinv(input, rtol=rcond), "slogdet": clinalg.slogdet_legacy,
            "svd": csvd.svd_legacy, "lu": clu.lu_legacy, "lu_solve": clu.lu_solve_legacy, "lu_unpack": clu.lu_unpack})
ROUTES = dict(TRY, **CHECK)
ROUTES.update(ANY)

# Argument names that may hold the second operand when passed by keyword.
_OTHER_KW = ("other", "exponent", "mat2", "vec", "vec2", "tensor")
# What a real op raises when handed a complex operand.
_REFUSALS = (TypeError, RuntimeError, ValueError, KeyError, NotImplementedError)


def _is_complex_operand(x):
    impl = getattr(x, "_impl", None)
    if impl is not None:
        return impl.dtype in COMPLEX
    return is_complex_number(x)


def _has_complex(args, kwargs):
    if args:
        if _is_complex_operand(args[0]) or (len(args) > 1 and _is_complex_operand(args[1])):
            return True
    elif "input" in kwargs and _is_complex_operand(kwargs["input"]):
        return True
    if kwargs:
        for k in _OTHER_KW:
            if k in kwargs and _is_complex_operand(kwargs[k]):
                return True
    return False


def route(orig, cimpl):
    """The op checking its operands' dtypes first (CHECK ops)."""
    @functools.wraps(orig)
    def op(*args, **kwargs):
        if _has_complex(args, kwargs):
            return cimpl(*args, **kwargs)
        return orig(*args, **kwargs)
    op._complex_route = cimpl
    return op


def _any_complex(args, kwargs):
    for a in args:
        if _is_complex_operand(a) or (isinstance(a, (list, tuple)) and any(_is_complex_operand(b) for b in a)):
            return True
    return any(_is_complex_operand(v) for v in kwargs.values()) if kwargs else False


def route_any(orig, cimpl):
    """The op checking every operand's dtype first (ANY ops: addmm(input, mat1, mat2), ...)."""
    @functools.wraps(orig)
    def op(*args, **kwargs):
        if _any_complex(args, kwargs):
            return cimpl(*args, **kwargs)
        return orig(*args, **kwargs)
    op._complex_route = cimpl
    return op


def route_after(orig, cimpl):
    """The op trying the real implementation first (TRY ops)."""
    @functools.wraps(orig)
    def op(*args, **kwargs):
        try:
            return orig(*args, **kwargs)
        except _REFUSALS:
            if not _has_complex(args, kwargs):
                raise
        return cimpl(*args, **kwargs)
    op._complex_route = cimpl
    return op


def route_operator(orig, cimpl):
    """route_after for the binary operators (self, other): no argument packing on their hot path."""
    def op(self, other):
        try:
            return orig(self, other)
        except _REFUSALS:
            if not (_is_complex_operand(self) or _is_complex_operand(other)):
                raise
        return cimpl(self, other)
    op.__name__ = op.__qualname__ = getattr(orig, "__name__", "op")
    op.__wrapped__ = orig
    return op


def route_unary_operator(orig, cimpl):
    def op(self):
        try:
            return orig(self)
        except _REFUSALS:
            if not _is_complex_operand(self):
                raise
        return cimpl(self)
    op.__name__ = op.__qualname__ = getattr(orig, "__name__", "op")
    op.__wrapped__ = orig
    return op


def _route_einsum(orig):
    @functools.wraps(orig)
    def einsum(equation, *operands):
        ops_ = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
        if any(_is_complex_operand(x) for x in ops_):
            return ops.einsum(equation, *ops_)
        return orig(equation, *operands)
    return einsum


def _route_linear(orig, cimpl):
    """route_any for F.linear, trying its real common case first (_linear_common: dense real floating
    tensors only, None for anything else): the operand scan would cost every nn.Linear call ~0.5 us."""
    from .._functions.linear import _linear_common

    @functools.wraps(orig)
    def op(*args, **kwargs):
        if not kwargs and 2 <= len(args) <= 3:
            r = _linear_common(args[0], args[1], args[2] if len(args) == 3 else None)
            if r is not None:
                return r
        if _any_complex(args, kwargs):
            return cimpl(*args, **kwargs)
        return orig(*args, **kwargs)
    op._complex_route = cimpl
    return op


def _swap(cimpl):
    def op(self, other):
        return cimpl(other, self)
    return op


def _inplace(orig, cimpl):
    """x.op_(y): a complex x gets the out-of-place complex result written back (autograd-aware). The
    real in-place op runs first: it refuses a complex self (and a complex operand of a real self, with
    PyTorch's "can't be cast" error) before writing anything."""
    @functools.wraps(orig)
    def op(self, *args, **kwargs):
        try:
            return orig(self, *args, **kwargs)
        except _REFUSALS:
            if self._impl.dtype not in COMPLEX:
                raise
        src = self
        if self._rg and _gs.enabled:
            # the composite saves views of its operands for backward; computing from a snapshot
            # keeps them valid once the result is written into self (as PyTorch saves the old self)
            src = self.clone()
            args = tuple(src if a is self else a for a in args)
        return _tm._assign_result(self, cimpl(src, *args, **kwargs))
    return op


_NOT_METHODS = ("where",)  # Tensor.where(self, condition, other): its own argument order


def _inplace_when(orig, cimpl, when):
    """self.op_(...) computed out of place and written back when self is complex and when(...) holds
    (masked_fill_ with a complex value: the real in-place op would refuse the value)."""
    @functools.wraps(orig)
    def op(self, *args, **kwargs):
        if self._impl.dtype in COMPLEX and when(self, *args, **kwargs):
            return _tm._assign_result(self, cimpl(self.clone() if self._rg and _gs.enabled else self, *args, **kwargs))
        return orig(self, *args, **kwargs)
    return op


def _route_list(orig, cimpl):
    @functools.wraps(orig)
    def op(tensors, *args, **kwargs):
        if any(_is_complex_operand(t) for t in tensors):
            return cimpl(tensors, *args, **kwargs)
        return orig(tensors, *args, **kwargs)
    return op


_INPLACE = {"add_": ops.add, "sub_": ops.sub, "subtract_": ops.sub, "mul_": ops.mul, "multiply_": ops.mul,
            "div_": ops.div, "divide_": ops.div, "true_divide_": ops.div, "neg_": ops.neg, "negative_": ops.neg,
            "exp_": ops.exp, "log_": ops.log, "sqrt_": ops.sqrt, "rsqrt_": ops.rsqrt, "square_": ops.square,
            "pow_": ops.pow, "reciprocal_": ops.reciprocal, "sgn_": ops.sgn, "scatter_add_": ops.scatter_add}
_INPLACE_OPERATORS = {"__iadd__": ops.add, "__isub__": ops.sub, "__imul__": ops.mul, "__itruediv__": ops.div,
                      "__idiv__": ops.div}


def install(namespace):
    """Wraps the routed ops in the flambeau namespace and on Tensor."""
    for name, cimpl in ROUTES.items():
        wrap = route_after if name in TRY else route_any if name in ANY else route
        if name in namespace and callable(namespace[name]):
            namespace[name] = wrap(namespace[name], cimpl)
        if hasattr(Tensor, name) and name not in _NOT_METHODS:
            setattr(Tensor, name, wrap(getattr(Tensor, name), cimpl))
    Tensor.where = route_any(Tensor.where, lambda self, condition, other: products.where(condition, self, other))
    for name, cimpl in _INPLACE.items():
        if hasattr(Tensor, name):
            setattr(Tensor, name, _inplace(getattr(Tensor, name), cimpl))
    for name, cimpl in _INPLACE_OPERATORS.items():
        if hasattr(Tensor, name):
            setattr(Tensor, name, _inplace(getattr(Tensor, name), cimpl))
    from .. import linalg
    for name, cimpl in LINALG.items():
        if hasattr(linalg, name):
            setattr(linalg, name, route_any(getattr(linalg, name), cimpl))
    linalg.eig, linalg.eigvals = clinalg.eig, clinalg.eigvals  # real and complex input: one kernel
    from ..nn import functional as F
    F.linear = _route_linear(F.linear, products.linear)
    F.sigmoid = route(F.sigmoid, elementwise.sigmoid)
    F.tanh = route(F.tanh, elementwise.tanh)
    linalg.multi_dot = _route_list(linalg.multi_dot, products.multi_dot)
    Tensor.masked_fill_ = _inplace_when(Tensor.masked_fill_, products.masked_fill,
                                        lambda self, mask, value: products.is_complex_fill(value))
    # the real exp2_/sinc_ would cast a complex self: checked first
    for name, cimpl in (("exp2_", elementwise.exp2), ("sinc_", elementwise.sinc)):
        if hasattr(Tensor, name):
            setattr(Tensor, name, _inplace_when(getattr(Tensor, name), cimpl, lambda self: True))
    for name, cimpl in elementwise.UNARY.items():
        if hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _inplace(getattr(Tensor, name + "_"), cimpl))
    if "einsum" in namespace:
        namespace["einsum"] = _route_einsum(namespace["einsum"])
    from .._functions import _dispatch as dsp
    dsp.COMPLEX_BINARY.update(BINARY)  # +, -, *, / (and add/sub/mul/div): no wrapper on the real hot path
    T = Tensor
    T.__rtruediv__ = T.__rdiv__ = route_operator(T.__rtruediv__, _swap(ops.div))
    T.__pow__ = route_operator(T.__pow__, ops.pow)
    T.__rpow__ = route_operator(T.__rpow__, _swap(ops.pow))
    T.__matmul__ = route_operator(T.__matmul__, ops.matmul)
    T.__rmatmul__ = route_operator(T.__rmatmul__, _swap(ops.matmul))
    T.__neg__ = route_unary_operator(T.__neg__, ops.neg)
    T.__abs__ = route_unary_operator(T.__abs__, ops.abs)
    T.__eq__ = route_operator(T.__eq__, ops.eq)
    T.__ne__ = route_operator(T.__ne__, ops.ne)
