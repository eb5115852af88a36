"""Complex tensors (complex64, complex128).

The core stores them and moves their bytes (copy, index, cat, flip, ...: FLB_DISPATCH_ALL_TYPES) and
has the FFT kernel; everything that computes on them is composed here of real ops on the parts of
view_as_real (core.py), so autograd follows PyTorch's complex convention without a second set of
backward formulas. Ops with a complex operand reach ops.py through dispatch.py; an op not listed
there raises a TypeError naming itself and the dtype instead of computing on the real parts.
"""
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from .core import view_as_real, view_as_complex, make, parts

__all__ = ["view_as_real", "view_as_complex", "complex", "polar"]


def _check_real_pair(a, b, op):
    """torch.complex's and torch.polar's dtype checks, in PyTorch's words and order (complex32, which
    flambeau lacks, refused as not implemented)."""
    from .._functions._dispatch import _TORCH_TYPE_NAMES as names
    da, db = a._impl.dtype, b._impl.dtype
    if da not in ("float16", "float32", "float64") or db not in ("float16", "float32", "float64"):
        raise RuntimeError(f"Expected both inputs to be Half, Float or Double tensors but got "
                           f"{names[da]} and {names[db]}")
    if da != db:
        raise RuntimeError(f"Expected object of scalar type {names[da]} but got scalar type {names[db]} for second "
                           "argument")
    if da == "float16":
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for 'Half' (flambeau has no complex32)")


def complex(real, imag, *, out=None):  # noqa: A001 - torch.complex
    """real + i imag for float32 (-> complex64) or float64 (-> complex128) tensors of one dtype."""
    for name, x in (("real", real), ("imag", imag)):
        if not isinstance(x, Tensor):
            raise TypeError(f"complex(): argument '{name}' must be Tensor, not {type(x).__name__}")
    _check_real_pair(real, imag, "complex")
    r = make(real, imag)
    return _out(r, out)


def polar(abs, angle, *, out=None):  # noqa: A002
    """abs * (cos(angle) + i sin(angle))."""
    from .._functions.elementwise import cos, sin
    for name, x in (("abs", abs), ("angle", angle)):
        if not isinstance(x, Tensor):
            raise TypeError(f"polar(): argument '{name}' must be Tensor, not {type(x).__name__}")
    _check_real_pair(abs, angle, "polar")
    from ..autograd.grad_mode import _state
    if (abs._rg or angle._rg) and _state.enabled:
        return _out(_Polar.apply(abs, angle), out)
    return _out(make(abs * cos(angle), abs * sin(angle)), out)


class _Polar(Function):
    """polar with PyTorch's backward (polar_backward): grad_abs = Re(conj(g) sgn(z)) and grad_angle =
    Re(conj(g) i z) for z the result; its sgn makes grad_abs flip sign where abs < 0 and vanish at 0
    (not the derivative there, but PyTorch's number)."""
    _grad_fn_name = "PolarBackward0"

    @staticmethod
    def forward(ctx, r, theta):
        from .._functions.elementwise import cos, sin
        with no_grad():
            z = make(r * cos(theta), r * sin(theta))
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        from .ops import sgn
        z, = ctx.saved_tensors
        gr, gi = parts(g)
        sr, si = parts(sgn(z))
        zr, zi = parts(z)
        return gr * sr + gi * si, gi * zr - gr * zi


def _out(r, out):
    if out is None:
        return r
    from .ops import _finish
    return _finish(r, out)


def install(namespace):
    from . import dispatch
    dispatch.install(namespace)
    namespace.update(view_as_real=view_as_real, view_as_complex=view_as_complex, complex=complex, polar=polar)
    from .._functions.stft import stft, istft
    namespace.update(stft=stft, istft=istft)
    Tensor.stft, Tensor.istft = stft, istft
    from .._dtype import complex64, complex128, cfloat, cdouble
    namespace.update(complex64=complex64, complex128=complex128, cfloat=cfloat, cdouble=cdouble)
