"""Complex trigonometric, hyperbolic, their inverses, sigmoid and the log/exp variants, composed of
real ops on the parts (core.py: composition gives PyTorch's conjugate-Wirtinger gradients).

The formulas are the numerically careful ones: sin/cos/sinh/cosh by their real-part expansions,
tan/tanh by Kahan's formula (no cancellation in 1 + tan^2 and no overflow of cosh^2 for large |Im|),
the inverse functions by Kahan's square-root forms ("Branch cuts for complex elementary functions",
1987), which put the branch cuts where C99 (and so PyTorch's std:: calls) puts them, log1p/expm1 as
c10's complex overloads, log2/log10/exp2 as PyTorch's (log(z) / log(b), exp(ln 2 * z)).
"""
import math

from .core import parts, make
from . import ops as _ops


def _r():
    """The real functions (flambeau's namespace: some live outside _functions.elementwise)."""
    import flambeau
    return flambeau


def _where(c, a, b):
    from .._functions.pointwise import where
    return where(c, a, b)


# ---------------------------------------------------------------- on parts: (x, y) -> (re, im)
def _sin_parts(x, y):
    e = _r()
    return e.sin(x) * e.cosh(y), e.cos(x) * e.sinh(y)


def _sinh_parts(x, y):
    e = _r()
    return e.sinh(x) * e.cos(y), e.cosh(x) * e.sin(y)


def _tan_parts(x, y):
    """Kahan: t = tan x, s = sinh y, b = 1 + t^2, den = 1 + b s^2; tan z = (t + i b cosh(y) s) / den.
    Beyond |y| = 20 the imaginary part is sign(y) to working precision (and b cosh(y) s / den would
    be inf / inf once s^2 overflows)."""
    e = _r()
    t, s = e.tan(x), e.sinh(y)
    b = t * t + 1.0
    den = b * (s * s) + 1.0
    im = _where(y.abs() > 20.0, e.sign(y), b * e.cosh(y) * s / den)
    return t / den, im


def _atanh_parts(x, y):
    """re = log1p(4x / ((1 - x)^2 + y^2)) / 4, im = atan2(2y, (1 - x)(1 + x) - y^2) / 2."""
    e = _r()
    one_m = 1.0 - x
    re = e.log1p(x * 4.0 / (one_m * one_m + y * y)) * 0.25
    im = e.atan2(y * 2.0, one_m * (1.0 + x) - y * y) * 0.5
    return re, im


def _rot(fn, x, y):
    """f(z) = -i g(iz) for g given on parts: iz = (-y, x), and -i (a + ib) = (b, -a)."""
    a, b = fn(-y, x)
    return b, -a


# ---------------------------------------------------------------- the ops
def _unary(parts_fn):
    def op(input, *, out=None):
        x, y = parts(input)
        re, im = parts_fn(x, y)
        return _ops._finish(make(re, im), out)
    return op


sin = _unary(_sin_parts)
sinh = _unary(_sinh_parts)
tan = _unary(_tan_parts)
atanh = _unary(_atanh_parts)
tanh = _unary(lambda x, y: _rot(_tan_parts, x, y))
atan = _unary(lambda x, y: _rot(_atanh_parts, x, y))


def _cos_parts(x, y):
    e = _r()
    return e.cos(x) * e.cosh(y), -(e.sin(x) * e.sinh(y))


def _cosh_parts(x, y):
    e = _r()
    return e.cosh(x) * e.cos(y), e.sinh(x) * e.sin(y)


cos = _unary(_cos_parts)
cosh = _unary(_cosh_parts)


def _sqrt_1pm(z):
    """(sqrt(1 - z), sqrt(1 + z)) as parts."""
    return parts(_ops.sqrt(_ops.rsub(z, 1.0))), parts(_ops.sqrt(_ops.add(z, 1.0)))


def asin(input, *, out=None):
    # Kahan: re = atan2(x, Re(sqrt(1 - z) sqrt(1 + z))), im = asinh(Im(conj(sqrt(1 - z)) sqrt(1 + z)))
    e = _r()
    x, _ = parts(input)
    (ar, ai), (br, bi) = _sqrt_1pm(input)
    re = e.atan2(x, ar * br - ai * bi)
    im = e.asinh(ar * bi - ai * br)
    return _ops._finish(make(re, im), out)


def acos(input, *, out=None):
    # Kahan: re = 2 atan2(Re sqrt(1 - z), Re sqrt(1 + z)), im = asinh(Im(conj(sqrt(1 + z)) sqrt(1 - z)))
    e = _r()
    (ar, ai), (br, bi) = _sqrt_1pm(input)
    re = e.atan2(ar, br) * 2.0
    im = e.asinh(br * ai - bi * ar)
    return _ops._finish(make(re, im), out)


def asinh(input, *, out=None):
    # asinh(z) = -i asin(iz)
    x, y = parts(input)
    a_r, a_i = parts(asin(make(-y, x)))
    return _ops._finish(make(a_i, -a_r), out)


def acosh(input, *, out=None):
    # Kahan: re = asinh(Re(conj(sqrt(z - 1)) sqrt(z + 1))), im = 2 atan2(Im sqrt(z - 1), Re sqrt(z + 1))
    e = _r()
    ar, ai = parts(_ops.sqrt(_ops.sub(input, 1.0)))
    br, bi = parts(_ops.sqrt(_ops.add(input, 1.0)))
    re = e.asinh(ar * br + ai * bi)
    im = e.atan2(ai, br) * 2.0
    return _ops._finish(make(re, im), out)


def sigmoid(input, *, out=None):
    # PyTorch's: 1 / (1 + exp(-z))
    return _ops._finish(_ops.reciprocal(_ops.add(_ops.exp(_ops.neg(input)), 1.0)), out)


def _log_base(ln_b):
    def op(input, *, out=None):
        lr, li = parts(_ops.log(input))
        return _ops._finish(make(lr / ln_b, li / ln_b), out)
    return op


log2 = _log_base(math.log(2.0))
log10 = _log_base(math.log(10.0))


def exp2(input, *, out=None):
    # PyTorch's: 2^z = exp(ln 2 * z)
    x, y = parts(input)
    return _ops._finish(_ops.exp(make(x * math.log(2.0), y * math.log(2.0))), out)


def log1p(input, *, out=None):
    """c10's: theta = atan2(y, x + 1); log|1 + z| = log1p(x (2 + x) + y^2) / 2 for |z| < 0.5 (no
    cancellation near z = 0), log(hypot(x + 1, y)) otherwise."""
    e = _r()
    x, y = parts(input)
    theta = e.atan2(y, x + 1.0)
    small = _ops._hypot(x, y) < 0.5
    r = x * (x + 2.0) + y * y
    near = e.log1p(r) * 0.5
    near = _where(r == 0, x, near)
    far = e.log(_ops._hypot(x + 1.0, y))
    return _ops._finish(make(_where(small, near, far), theta), out)


def expm1(input, *, out=None):
    """c10's: (expm1(x) cos y - 2 sin(y / 2)^2, exp(x) sin y)."""
    e = _r()
    x, y = parts(input)
    a = e.sin(y * 0.5)
    re = e.expm1(x) * e.cos(y) - a * a * 2.0
    return _ops._finish(make(re, e.exp(x) * e.sin(y)), out)


UNARY = {"sin": sin, "cos": cos, "tan": tan, "sinh": sinh, "cosh": cosh, "tanh": tanh, "asin": asin, "acos": acos,
         "atan": atan, "asinh": asinh, "acosh": acosh, "atanh": atanh, "arcsin": asin, "arccos": acos,
         "arctan": atan, "arcsinh": asinh, "arccosh": acosh, "arctanh": atanh, "sigmoid": sigmoid, "log2": log2,
         "log10": log10, "log1p": log1p, "expm1": expm1}


def sinc(input, *, out=None):
    """sin(pi z) / (pi z), 1 at z = 0 (PyTorch's)."""
    x, y = parts(input)
    pz = make(x * math.pi, y * math.pi)
    r = _ops.div(sin(pz), pz)
    zero = (x == 0) & (y == 0)
    rr, ri = parts(r)
    return _ops._finish(make(_where(zero, 1.0, rr), _where(zero, 0.0, ri)), out)


def logsumexp(input, dim, keepdim=False, *, out=None):
    """log(sum(exp(z))) with the largest real part (detached; 0 where infinite) taken out first."""
    e = _r()
    x, _ = parts(input)
    m = e.amax(x.detach(), dim, keepdim=True)
    m = _where(m.isfinite(), m, 0.0)
    s = _ops.sum(_ops.exp(_ops.sub(input, m)), dim, keepdim=True)
    r = _ops.add(_ops.log(s), m)
    if not keepdim:
        from .reductions import _wrap_dim
        dims = [dim] if isinstance(dim, int) else list(dim)
        for d in sorted((_wrap_dim(d, input.ndim) for d in dims), reverse=True):
            r = r.squeeze(d)
    return _ops._finish(r, out)


def logaddexp(input, other, *, out=None):
    """PyTorch's complex rule (ATen's _log_add_exp_helper): min/max by real part (an operand with a
    NaN part is both, the second one first); NaN + NaNj if min has a NaN part; min itself when both
    real parts are -inf; log(exp(min) + exp(max)) when both are +inf; log1p(exp(min - max)) + max
    otherwise."""
    from .core import result_complex_dtype, as_complex_tensor
    e = _r()
    cdt = result_complex_dtype(input, other)
    like = input if hasattr(input, "_impl") else other
    x, y = as_complex_tensor(input, cdt, like), as_complex_tensor(other, cdt, like)
    x, y = e.broadcast_tensors(x, y)
    xr, xi = parts(x)
    yr, yi = parts(y)
    ynan, xnan = e.isnan(yr) | e.isnan(yi), e.isnan(xr) | e.isnan(xi)
    take_x = ~ynan & (xnan | (xr < yr))   # min is x (then max is y), but for NaNs (both the same)
    take_xmax = ~ynan & (xnan | ~(xr < yr))

    def pick(c, a, b):
        ar, ai = parts(a)
        br, bi = parts(b)
        return make(_where(c, ar, br), _where(c, ai, bi))

    mn, mx = pick(take_x, x, y), pick(take_xmax, x, y)
    mnr, mni = parts(mn)
    mxr, _ = parts(mx)
    gen = _ops.add(log1p(_ops.exp(_ops.sub(mn, mx))), mx)
    both_inf = ~e.isfinite(mnr) & (mnr == mxr)
    pinf = _ops.log(_ops.add(_ops.exp(mn), _ops.exp(mx)))
    r = pick(both_inf & (mnr < 0), mn, pick(both_inf, pinf, gen))
    rr, ri = parts(r)
    bad = e.isnan(mnr) | e.isnan(mni)
    r = make(_where(bad, float("nan"), rr), _where(bad, float("nan"), ri))
    return _ops._finish(r, out)
