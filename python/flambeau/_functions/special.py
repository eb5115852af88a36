"""Inverse trigonometric and hyperbolic functions, erfc/erfinv and the gamma family (lgamma, digamma,
polygamma, mvlgamma): one kernel each (_C.asin, ..., _C.trigamma; csrc/cpu/elementwise.cpp, with
digamma/trigamma/erfinv in csrc/core/special_math.h, shared with CUDA), each an autograd Function
with PyTorch's derivative formula, so higher derivatives compose.

polygamma(n, x) for n >= 2 is a composite: (-1)^(n+1) n! zeta(n+1, x), the Hurwitz zeta summed
directly until x + N >= 12 and closed by its Euler-Maclaurin tail (float64 accuracy for x > 0;
negative non-integer x shifts up by as many terms as it needs, up to 4096).
"""
import math

from .. import _C
from .._promote import _FLOAT
from .._dtype import _default_dtype
from ._dispatch import _cast
from .elementwise import (_unary_class, _make_unary, add, sub, mul, div, neg, exp, rsqrt, rsub, pow, floor, where,
                          log, sin)
from .compare import eq, le, lt, logical_and, isfinite
from .._tensor import _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs, no_grad as _no_grad

_SQRT_PI_HALF = math.sqrt(math.pi) / 2
_MINUS_TWO_OVER_SQRT_PI = -2.0 / math.sqrt(math.pi)


def _sq(y):
    return mul(y, y)


def _one_minus_sq(x):
    return rsub(mul(x, x), 1.0)


Asin = _unary_class("Asin", _C.asin, lambda g, x: mul(g, rsqrt(_one_minus_sq(x))), 1)
Acos = _unary_class("Acos", _C.acos, lambda g, x: neg(mul(g, rsqrt(_one_minus_sq(x)))), 1)
Atan = _unary_class("Atan", _C.atan, lambda g, x: div(g, add(mul(x, x), 1.0)), 1)
Sinh = _unary_class("Sinh", _C.sinh, lambda g, x: mul(g, cosh(x)), 1)
Cosh = _unary_class("Cosh", _C.cosh, lambda g, x: mul(g, sinh(x)), 1)
Asinh = _unary_class("Asinh", _C.asinh, lambda g, x: mul(g, rsqrt(add(mul(x, x), 1.0))), 1)
Acosh = _unary_class("Acosh", _C.acosh, lambda g, x: mul(g, rsqrt(sub(mul(x, x), 1.0))), 1)
Atanh = _unary_class("Atanh", _C.atanh, lambda g, x: div(g, _one_minus_sq(x)), 1)
Erfc = _unary_class("Erfc", _C.erfc, lambda g, x: mul(g, mul(exp(neg(mul(x, x))), _MINUS_TWO_OVER_SQRT_PI)), 1)
# (from the input, erfinv recomputed, as PyTorch's formula: the result may be written in place before backward)
Erfinv = _unary_class("Erfinv", _C.erfinv, lambda g, x: mul(g, mul(exp(_sq(erfinv(x))), _SQRT_PI_HALF)), 1)
Lgamma = _unary_class("Lgamma", _C.lgamma, lambda g, x: mul(g, digamma(x)), 1)
# (the derivative is polygamma(1, x) as PyTorch evaluates it: large and finite at the negative integers)
Digamma = _unary_class("Digamma", _C.digamma, lambda g, x: mul(g, _polygamma1(x)), 1)
Trigamma = _unary_class("Trigamma", _C.trigamma, lambda g, x: mul(g, _polygamma_n(2, x)), 1, "PolygammaBackward0")
# polygamma(1, x): the kernel's trigamma with PyTorch's values at the poles, one node whose derivative is
# polygamma(2, x) there too (-inf; a where() over the kernel's inf gave 0 * -inf = NaN)
Polygamma1 = _unary_class("Polygamma1", lambda xi: _trigamma_poles(_wrap(xi), _wrap(_C.trigamma(xi)))._impl,
                          lambda g, x: mul(g, _polygamma_n(2, x)), 1, "PolygammaBackward0")

asin, asin_ = _make_unary("asin", Asin, True)
acos, acos_ = _make_unary("acos", Acos, True)
atan, atan_ = _make_unary("atan", Atan, True)
sinh, sinh_ = _make_unary("sinh", Sinh, True)
cosh, cosh_ = _make_unary("cosh", Cosh, True)
asinh, asinh_ = _make_unary("asinh", Asinh, True)
acosh, acosh_ = _make_unary("acosh", Acosh, True)
atanh, atanh_ = _make_unary("atanh", Atanh, True)
erfc, erfc_ = _make_unary("erfc", Erfc, True)
erfinv, erfinv_ = _make_unary("erfinv", Erfinv, True)
lgamma, lgamma_ = _make_unary("lgamma", Lgamma, True)
digamma, digamma_ = _make_unary("digamma", Digamma, True)
_trigamma, _trigamma_ = _make_unary("polygamma", Trigamma, True)
_polygamma1, _ = _make_unary("polygamma", Polygamma1, True)

arcsin, arcsin_ = asin, asin_
arccos, arccos_ = acos, acos_
arctan, arctan_ = atan, atan_
arcsinh, arcsinh_ = asinh, asinh_
arccosh, arccosh_ = acosh, acosh_
arctanh, arctanh_ = atanh, atanh_

# B_2j / (2j)! for j = 1..8: the Euler-Maclaurin tail of the Hurwitz zeta.
_BERNOULLI_OVER_FACT = [b / math.factorial(2 * j) for j, b in enumerate(
    [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510], start=1)]


class _PolygammaN(Function):
    """polygamma(n, x) for n >= 2 (_polygamma_zeta's values), whose derivative is polygamma(n + 1, x): at the
    poles that is PyTorch's inf, where differentiating the composite's where() gave 0 * inf = NaN."""
    _builtin = True
    _grad_fn_name = "PolygammaBackward0"

    @staticmethod
    def forward(ctx, x, n):
        ctx.n = n
        ctx.save_for_backward(x)
        with _no_grad():
            return _polygamma_zeta(n, x.detach())

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return mul(g, _polygamma_n(ctx.n + 1, x)), None


def _polygamma_n(n, x):
    if x._impl.dtype not in _FLOAT:
        x = _cast(x, _default_dtype[0]._name)
    return _PolygammaN.apply(x, n) if x._rg and _gs.enabled else _polygamma_zeta(n, x)


def _polygamma_zeta(n, x):
    """psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 2, built from differentiable ops."""
    if x._impl.dtype not in _FLOAT:
        x = _cast(x, _default_dtype[0]._name)
    s = n + 1
    lo = float(x.detach().min()) if x.numel() else 12.0
    shift = 12 if not math.isfinite(lo) else min(4096, max(12, math.ceil(12 - lo)))
    acc = None
    for k in range(shift):
        t = pow(add(x, float(k)), -float(s))
        acc = t if acc is None else add(acc, t)
    y = add(x, float(shift))
    z2 = pow(y, -2.0)
    ys = pow(y, -float(s))
    acc = add(acc, add(div(mul(ys, y), s - 1.0), mul(ys, 0.5)))
    t = mul(div(ys, y), float(s))  # s y^(-s-1)
    for j, c in enumerate(_BERNOULLI_OVER_FACT, start=1):
        acc = add(acc, mul(t, c))
        t = mul(t, mul(z2, float((s + 2 * j - 1) * (s + 2 * j))))
    r = mul(acc, (-1.0) ** (n + 1) * math.factorial(n))
    # x too negative for the shift: NaN; the poles (non-positive integers, however negative: every
    # float beyond 2^24 is one): inf of the sign of (-1)^(n+1), as PyTorch's zeta(n + 1, x) = inf there.
    if shift == 4096:
        r = where(le(y, 11.5), math.nan, r)
    pole = logical_and(le(x, 0.0), eq(x, floor(x)))
    return where(pole, math.copysign(math.inf, (-1.0) ** (n + 1)), r)


def _trigamma_poles(x, r):
    """PyTorch's trigamma at the poles (0 excepted): its reflection -pi^2 / sin(pi x)^2 with pi x
    rounded to the dtype, whose sine is then tiny but not 0, so a large finite value (1.29e15 at -1 in
    float32) where flambeau's kernel returns inf: psi'(x) = pi^2 / sin(pi x)^2 - psi'(1 - x) there."""
    if x._impl.dtype not in _FLOAT:
        x = _cast(x, _default_dtype[0]._name)
    xd = x.detach()
    pole = logical_and(logical_and(lt(xd, 0.0), eq(xd, floor(xd))), isfinite(xd))
    if not pole.any().item():
        return r
    cdt = "float32" if x._impl.dtype in ("float16", "bfloat16") else x._impl.dtype
    xs = _cast(where(pole, xd, -0.5), cdt)  # (elsewhere a harmless value)
    s = sin(mul(xs, math.pi))
    pi2 = _wrap(_C.full([], math.pi, cdt, x._impl.device))
    v = sub(div(mul(pi2, pi2), mul(s, s)), _trigamma(rsub(xs, 1.0)))
    return where(pole, _cast(v, r._impl.dtype), r)


def polygamma(n, input, *, out=None):
    """The n-th derivative of digamma: digamma for n = 0, its own kernel for n = 1, a Hurwitz-zeta
    composite above (see the module docstring)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n (got n={n!r})")
    if n == 0:
        r = digamma(input)
    elif n == 1:
        r = _polygamma1(input)
    else:
        r = _polygamma_n(n, input)
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, r)
    return r


def polygamma_(input, n):
    """Tensor.polygamma_(n): in place, as PyTorch's method (n comes after self)."""
    from .misc import _inplace  # its backward needs the value being overwritten: computed from a snapshot
    return _inplace(input, lambda x: polygamma(n, x))


def mvlgamma(input, p):
    """log of the multivariate gamma function of dimension p: sum_i lgamma(x - i/2) + p(p-1)/4 log(pi)."""
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1 (got p={p})")
    # No domain check: PyTorch 2.x dropped its "elements must be greater than (p-1)/2" error and
    # returns the lgamma sum there too.
    x = input if input._impl.dtype in _FLOAT else _cast(input, _default_dtype[0]._name)
    acc = lgamma(x)
    for i in range(1, p):
        acc = add(acc, lgamma(sub(x, i / 2)))
    return add(acc, p * (p - 1) / 4 * math.log(math.pi))


def entr(input):
    """-x log x, 0 at 0, -inf below 0 (NaN stays NaN)."""
    x = input if input._impl.dtype in _FLOAT else _cast(input, _default_dtype[0]._name)
    r = neg(mul(x, log(where(eq(x, 0.0), 1.0, x))))
    # (each where has the tensor r as an operand: two Python numbers would make a float32 result, and
    # float16 input gave float32; NaN < 0 and NaN == 0 are false: NaN kept)
    return where(eq(x, 0.0), 0.0, where(lt(x, 0.0), -math.inf, r))
