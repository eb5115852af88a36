"""torch.special's Bessel, Airy, error-function and orthogonal-polynomial families and the Hurwitz zeta,
each one C++ kernel (csrc/core/special_functions.h, shared by the CPU and CUDA elementwise kernels).

Autograd follows PyTorch function by function:
- erfcx, log_ndtr and ndtri have PyTorch's derivative formulas (as composites of differentiable ops, so
  higher derivatives work);
- zeta(x, q) is differentiable in q (-x zeta(x + 1, q)); asking for the gradient in x raises PyTorch's
  NotImplementedError at backward time;
- the Bessel/Airy functions and the polynomials are not differentiable in PyTorch: their results never
  require grad (no graph is recorded), as there.
dtypes: integer and bool inputs compute in the default float dtype; float16/bfloat16 raise PyTorch's
"... not implemented for 'Half'" (PyTorch's kernels for these functions take float32/float64 only).
"""
import math
import numbers

from .. import _C
from .._dtype import _default_dtype
from .._promote import result_type_names, scalar_impl, _FLOAT
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from ._dispatch import _cast, _write_out, _TORCH_TYPE_NAMES
from .elementwise import _unary_class, _make_unary, add, sub, mul, div, neg, exp
from .shape import _sum_to

_HALF = ("float16", "bfloat16")
_SQRT_2PI = math.sqrt(2 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _check_not_half(name, impl):
    if impl.dtype in _HALF:
        dev = "cuda" if str(impl.device).startswith("cuda") else "cpu"
        raise NotImplementedError(f"\"{name}_{dev}\" not implemented for '{_TORCH_TYPE_NAMES[impl.dtype]}'")


def _float_input(name, input):
    """input as a floating tensor (integers and bool in the default dtype), after PyTorch's checks."""
    if not isinstance(input, Tensor):
        raise TypeError(f"special_{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    _check_not_half(name, input._impl)
    if input._impl.dtype not in _FLOAT:
        input = _cast(input, _default_dtype[0]._name)
    return input


# ---------------------------------------------------------------- not differentiable (as in PyTorch)
def _make_plain_unary(name, cfn):
    def op(input, *, out=None):
        x = _float_input(name, input)
        r = _wrap(cfn(x._impl))
        return _write_out(out, r) if out is not None else r

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.special.{name} (not differentiable, as in PyTorch)."
    return op


bessel_j0 = _make_plain_unary("bessel_j0", _C.special_bessel_j0)
bessel_j1 = _make_plain_unary("bessel_j1", _C.special_bessel_j1)
bessel_y0 = _make_plain_unary("bessel_y0", _C.special_bessel_y0)
bessel_y1 = _make_plain_unary("bessel_y1", _C.special_bessel_y1)
modified_bessel_i0 = _make_plain_unary("modified_bessel_i0", _C.special_modified_bessel_i0)
modified_bessel_i1 = _make_plain_unary("modified_bessel_i1", _C.special_modified_bessel_i1)
modified_bessel_k0 = _make_plain_unary("modified_bessel_k0", _C.special_modified_bessel_k0)
modified_bessel_k1 = _make_plain_unary("modified_bessel_k1", _C.special_modified_bessel_k1)
scaled_modified_bessel_k0 = _make_plain_unary("scaled_modified_bessel_k0", _C.special_scaled_modified_bessel_k0)
scaled_modified_bessel_k1 = _make_plain_unary("scaled_modified_bessel_k1", _C.special_scaled_modified_bessel_k1)
spherical_bessel_j0 = _make_plain_unary("spherical_bessel_j0", _C.special_spherical_bessel_j0)
airy_ai = _make_plain_unary("airy_ai", _C.special_airy_ai)


# ---------------------------------------------------------------- erfcx, log_ndtr, ndtri (PyTorch's formulas)
def _erfcx_grad(g, x):
    # (2 x erfcx(x) - 2/sqrt(pi)) g
    return mul(sub(mul(mul(x, 2.0), erfcx(x)), _TWO_OVER_SQRT_PI), g)


def _log_ndtr_grad(g, x):
    # g / sqrt(2 pi) exp(-(log_ndtr(x) + x^2 / 2)): the normal density over the CDF, in log space
    return mul(div(g, _SQRT_2PI), exp(neg(add(log_ndtr(x), div(mul(x, x), 2.0)))))


def _ndtri_grad(g, y):
    # g sqrt(2 pi) exp(y^2 / 2), y = ndtri(x): the reciprocal of the density at y
    return mul(mul(g, _SQRT_2PI), exp(div(mul(y, y), 2.0)))


Erfcx = _unary_class("Erfcx", _C.special_erfcx, _erfcx_grad, 1, "SpecialErfcxBackward0")
LogNdtr = _unary_class("LogNdtr", _C.special_log_ndtr, _log_ndtr_grad, 1, "SpecialLogNdtrBackward0")
Ndtri = _unary_class("Ndtri", _C.special_ndtri, _ndtri_grad, 2, "SpecialNdtriBackward0")
_erfcx, _ = _make_unary("erfcx", Erfcx, True)
_log_ndtr, _ = _make_unary("log_ndtr", LogNdtr, True)
_ndtri, _ = _make_unary("ndtri", Ndtri, True)


def erfcx(input, *, out=None):
    """exp(x^2) erfc(x), finite where erfc underflows."""
    return _erfcx(_float_input("erfcx", input), out=out)


def log_ndtr(input, *, out=None):
    """log of the standard normal CDF, accurate in the lower tail."""
    return _log_ndtr(_float_input("log_ndtr", input), out=out)


def ndtri(input, *, out=None):
    """The inverse of the standard normal CDF (-inf at 0, inf at 1, NaN outside [0, 1])."""
    return _ndtri(_float_input("ndtri", input), out=out)


# ---------------------------------------------------------------- two-argument functions
def _binary_operands(name, a, b, names):
    """(a, b) as tensors of their common floating dtype (PyTorch's promotion; integers -> the default
    float dtype); one of them may be a Python number, not both."""
    at, bt = isinstance(a, Tensor), isinstance(b, Tensor)
    if not at and not bt:
        raise TypeError(f"special_{name}() received an invalid combination of arguments - got "
                        f"({type(a).__name__}, {type(b).__name__}), but expected one of: (Tensor {names[0]}, "
                        f"Tensor {names[1]}), (Number {names[0]}, Tensor {names[1]}), (Tensor {names[0]}, "
                        f"Number {names[1]})")
    for v, is_t, nm in ((a, at, names[0]), (b, bt, names[1])):
        if not is_t and (not isinstance(v, numbers.Number) or isinstance(v, complex)):
            raise TypeError(f"special_{name}(): argument '{nm}' must be Tensor or Number, not {type(v).__name__}")
    dt = result_type_names(a, b)
    for t in (a, b):
        if isinstance(t, Tensor):
            _check_not_half(name, t._impl)
    if dt in _HALF:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_TORCH_TYPE_NAMES[dt]}'")
    if dt not in _FLOAT:
        dt = _default_dtype[0]._name
    dev = (a if at else b)._impl.device
    a = _cast(a, dt) if at else _wrap(scalar_impl(a, dt, dev))
    b = _cast(b, dt) if bt else _wrap(scalar_impl(b, dt, dev))
    return a, b


def _make_polynomial(name, cfn):
    def op(input, n, *, out=None):
        x, nn = _binary_operands(name, input, n, ("x", "n"))
        r = _wrap(cfn(x._impl, nn._impl))
        return _write_out(out, r) if out is not None else r

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"torch.special.{name}(input, n): the polynomial of degree n (n is truncated to an integer; "
                  f"0 for n < 0), elementwise and broadcast; not differentiable, as in PyTorch.")
    return op


chebyshev_polynomial_t = _make_polynomial("chebyshev_polynomial_t", _C.special_chebyshev_polynomial_t)
chebyshev_polynomial_u = _make_polynomial("chebyshev_polynomial_u", _C.special_chebyshev_polynomial_u)
chebyshev_polynomial_v = _make_polynomial("chebyshev_polynomial_v", _C.special_chebyshev_polynomial_v)
chebyshev_polynomial_w = _make_polynomial("chebyshev_polynomial_w", _C.special_chebyshev_polynomial_w)
shifted_chebyshev_polynomial_t = _make_polynomial("shifted_chebyshev_polynomial_t",
                                                  _C.special_shifted_chebyshev_polynomial_t)
shifted_chebyshev_polynomial_u = _make_polynomial("shifted_chebyshev_polynomial_u",
                                                  _C.special_shifted_chebyshev_polynomial_u)
shifted_chebyshev_polynomial_v = _make_polynomial("shifted_chebyshev_polynomial_v",
                                                  _C.special_shifted_chebyshev_polynomial_v)
shifted_chebyshev_polynomial_w = _make_polynomial("shifted_chebyshev_polynomial_w",
                                                  _C.special_shifted_chebyshev_polynomial_w)
hermite_polynomial_h = _make_polynomial("hermite_polynomial_h", _C.special_hermite_polynomial_h)
hermite_polynomial_he = _make_polynomial("hermite_polynomial_he", _C.special_hermite_polynomial_he)
laguerre_polynomial_l = _make_polynomial("laguerre_polynomial_l", _C.special_laguerre_polynomial_l)
legendre_polynomial_p = _make_polynomial("legendre_polynomial_p", _C.special_legendre_polynomial_p)


class Zeta(Function):
    """zeta(x, q): differentiable in q, as PyTorch (d/dq zeta(x, q) = -x zeta(x + 1, q))."""
    _builtin = True
    _grad_fn_name = "SpecialZetaBackward0"

    @staticmethod
    def forward(ctx, x, q):
        ctx.shapes = (x._impl.shape, q._impl.shape)
        ctx.save_for_backward(x, q)
        return _wrap(_C.special_zeta(x._impl, q._impl))

    @staticmethod
    def backward(ctx, g):
        x, q = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        gq = mul(mul(g, neg(x)), zeta(add(x, 1.0), q))
        return None, _sum_to(gq, ctx.shapes[1])


def zeta(input, other, *, out=None):
    """The Hurwitz zeta function sum_k (k + other)^-input (the Riemann zeta at other = 1)."""
    x, q = _binary_operands("zeta", input, other, ("input", "other"))
    if _gs.enabled and (x._rg or q._rg):
        r = Zeta.apply(x, q)
    else:
        r = _wrap(_C.special_zeta(x._impl, q._impl))
    return _write_out(out, r) if out is not None else r
