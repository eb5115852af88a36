"""PyTorch's complex-number API: conj, real, imag, angle, ... on real tensors here, and on complex
tensors through flambeau/_complex (each function below hands a complex input over).

Generic code calls these on every tensor: `x.conj()` in attention and linear-algebra code, `x.real`,
`torch.angle` in signal code, `resolve_conj()` before `.numpy()`. On a real tensor PyTorch returns the
tensor itself (conj, real, resolve_conj, resolve_neg, conj_physical), reports no lazy conjugate or
negative bit, raises for `imag`, and gives angle = pi below zero, 0 at or above (also -0.0) and NaN
for NaN, with a zero gradient.

On complex tensors conj is an eager copy, not PyTorch's lazy conjugate view: is_conj() is always
False and resolve_conj() returns its input, which is consistent (the values are already conjugated).
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


def _is_complex(x):
    return x._impl.dtype in ("complex64", "complex128")


def conj(input):
    _tensor_arg(input, "conj")
    if _is_complex(input):
        from .._complex.ops import conj as cconj
        return cconj(input)
    return input


def conj_physical(input, *, out=None):
    _tensor_arg(input, "conj_physical")
    if _is_complex(input):
        input = conj(input)
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, input.clone())
    return input


def conj_physical_(input):
    _tensor_arg(input, "conj_physical_")
    if _is_complex(input):
        from .._tensor_methods import _assign_result
        return _assign_result(input, conj(input))
    return input


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
    _tensor_arg(input, "real")
    if _is_complex(input):  # a view of the real parts, sharing memory (as PyTorch)
        from .._complex.ops import real as creal
        return creal(input)
    return input


def imag(input):
    _tensor_arg(input, "imag")
    if _is_complex(input):
        from .._complex.ops import imag as cimag
        return cimag(input)
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
    if _is_complex(input):
        from .._complex.ops import angle as cangle
        return cangle(input, out=out)
    x = input if input.dtype.is_floating_point else input.to(get_default_dtype())
    if x._rg and _gs.enabled:
        r = _Angle.apply(x)
    else:
        r = _angle_values(x)
    if out is not None:  # resized to the result's shape and cast as PyTorch's out= (copy_ broadcast into it)
        from ._dispatch import _write_out
        return _write_out(out, r)
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
    Tensor.real = property(real, _set_real)
    Tensor.imag = property(imag, _set_imag)


def _set_real(self, value):
    # z.real = v writes into the real parts (a real tensor's .real is the tensor itself)
    real(self).copy_(value) if isinstance(value, Tensor) else real(self).fill_(value)


def _set_imag(self, value):
    imag(self).copy_(value) if isinstance(value, Tensor) else imag(self).fill_(value)
