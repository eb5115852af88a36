"""PyTorch's complex-number API on real tensors (flambeau has no complex dtypes).

Generic code calls these on every tensor: `x.conj()` in attention and linear-algebra code, `x.real`,
`torch.angle` in signal code, `resolve_conj()` before `.numpy()`. On a real tensor PyTorch returns the
tensor itself (conj, real, resolve_conj, resolve_neg, conj_physical), reports no lazy conjugate or
negative bit, raises for `imag`, and gives angle = pi below zero, 0 at or above (also -0.0) and NaN
for NaN, with a zero gradient. Complex input cannot be created, so nothing here handles it.
"""
import math

from .._creation import zeros_like
from .._dtype import get_default_dtype
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs


def _tensor_arg(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def conj(input):
    return _tensor_arg(input, "conj")


def conj_physical(input, *, out=None):
    _tensor_arg(input, "conj_physical")
    if out is not None:
        out.copy_(input)
        return out
    return input


def conj_physical_(input):
    return _tensor_arg(input, "conj_physical_")


def resolve_conj(input):
    return _tensor_arg(input, "resolve_conj")


def resolve_neg(input):
    return _tensor_arg(input, "resolve_neg")


def is_conj(input):
    _tensor_arg(input, "is_conj")
    return False


def is_neg(input):
    _tensor_arg(input, "is_neg")
    return False


def real(input):
    return _tensor_arg(input, "real")


def imag(input):
    _tensor_arg(input, "imag")
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def _angle_values(x):
    from .pointwise import where
    from .._creation import full_like
    pi = full_like(x, math.pi)
    zero = full_like(x, 0.0)
    return where(x.isnan(), x, where(x < 0, pi, zero))


class _Angle(Function):
    _grad_fn_name = "AngleBackward0"

    @staticmethod
    def forward(ctx, x):
        return _angle_values(x.detach())

    @staticmethod
    def backward(ctx, g):
        return zeros_like(g)  # piecewise constant: PyTorch returns zeros for real input


def angle(input, *, out=None):
    _tensor_arg(input, "angle")
    x = input if input.dtype.is_floating_point else input.to(get_default_dtype())
    if x._rg and _gs.enabled:
        r = _Angle.apply(x)
    else:
        r = _angle_values(x)
    if out is not None:
        out.copy_(r)
        return out
    return r


TOP_LEVEL = ["conj", "conj_physical", "conj_physical_", "resolve_conj", "resolve_neg", "is_conj", "is_neg", "real",
             "imag", "angle"]
TENSOR_METHODS = ["conj", "conj_physical", "conj_physical_", "resolve_conj", "resolve_neg", "is_conj", "is_neg",
                  "angle"]


def attach_methods():
    g = globals()
    for name in TENSOR_METHODS:
        setattr(Tensor, name, g[name])
    # `x.real` / `x.imag` are attributes in PyTorch
    Tensor.real = property(real)
    Tensor.imag = property(imag)
