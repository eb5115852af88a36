"""Complex implementations of the elementwise, reduction, comparison and matrix ops, composed of real
ops on the parts (core.py explains why that gives PyTorch's gradients). dispatch.py routes an op
here when one of its operands is complex; each function gets the op's usual arguments.
"""
import math

from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..autograd.grad_mode import _state as _gs
from .core import (COMPLEX, REAL_OF, parts, make, split, result_complex_dtype, as_complex_tensor, padd, psub, pmul,
                   is_complex_tensor, view_as_real, assemble)


def _unsupported(op, x):
    dt = x._impl.dtype if isinstance(x, Tensor) else type(x).__name__
    raise TypeError(f"{op}: not implemented for dtype {dt} (flambeau's complex support covers arithmetic, the "
                    "elementwise math functions, sums, products, norms, matrix products, comparisons for equality, "
                    "linalg and torch.fft)")


# ---------------------------------------------------------------- arithmetic
def add(input, other, *, alpha=1, out=None):
    cdt = result_complex_dtype(input, other)
    ar, ai = split(input, cdt)
    if alpha != 1:
        other = other * alpha if isinstance(other, Tensor) else complex(other) * complex(alpha)
    br, bi = split(other, cdt)
    return _finish(make(padd(ar, br), padd(ai, bi), REAL_OF[cdt]), out)


def sub(input, other, *, alpha=1, out=None):
    cdt = result_complex_dtype(input, other)
    ar, ai = split(input, cdt)
    if alpha != 1:
        other = other * alpha if isinstance(other, Tensor) else complex(other) * complex(alpha)
    br, bi = split(other, cdt)
    return _finish(make(psub(ar, br), psub(ai, bi), REAL_OF[cdt]), out)


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def mul(input, other, *, out=None):
    cdt = result_complex_dtype(input, other)
    ar, ai = split(input, cdt)
    br, bi = split(other, cdt)
    re = psub(pmul(ar, br), pmul(ai, bi))
    im = padd(pmul(ar, bi), pmul(ai, br))
    return _finish(make(re, im, REAL_OF[cdt]), out)


def _div_values(a, b):
    """a / b for complex tensors of one dtype, as PyTorch's CPU kernel (c10::complex's operator/,
    numpy's algorithm: Smith's division by the larger of |re b|, |im b|; b = 0 gives (re a / 0, im a / 0))."""
    ar, ai = parts(a)
    br, bi = parts(b)
    re, im = _smith(ar, ai, br, bi)
    return make(re, im)


def _fma(x, y, z):
    """x * y + z rounded (virtually always) once, as PyTorch's kernels compiled with FMA contraction
    compute it: float32 in float64 (the product exact there); float64 with the product's exact error
    (Veltkamp/Dekker) and the sum's (Knuth's TwoSum) added back; where those overflow, x * y + z."""
    if x._impl.dtype == "float32":
        r = x.double() * y.double() + (z.double() if hasattr(z, "_impl") else z)
        return r.float()
    from .._functions.pointwise import where
    p = x * y
    cx, cy = x * 134217729.0, y * 134217729.0
    xh, yh = cx - (cx - x), cy - (cy - y)
    xl, yl = x - xh, y - yh
    e = (((xh * yh - p) + xh * yl) + xl * yh) + xl * yl
    s = p + z
    bb = s - p
    t = (p - (s - bb)) + (z - bb)
    r = s + (t + e)
    ok = r.isfinite() & p.isfinite() & (z.isfinite() if hasattr(z, "_impl") else math.isfinite(z))
    return where(ok, r, p + z)


def _smith(ar, ai, br, bi):
    """(re, im) of (ar + i ai) / (br + i bi) by Smith's algorithm on real tensors (bi None: a real
    divisor, which PyTorch divides by as the complex br + 0i: inf / 1e30 keeps a NaN imaginary part)."""
    from .._functions.pointwise import where
    if bi is None:
        bi = br * 0.0
        bi = where(bi == bi, bi, 0.0)  # (0, also where br is inf or NaN)
    abr, abi = br.abs(), bi.abs()
    rat1 = bi / br
    scl1 = 1.0 / _fma(bi, rat1, br)
    zero = (abr == 0) & (abi == 0)
    re1 = where(zero, ar / abr, _fma(ai, rat1, ar) * scl1)
    im1 = where(zero, ai / abi, _fma(-ar, rat1, ai) * scl1)
    rat2 = br / bi
    scl2 = 1.0 / _fma(br, rat2, bi)
    re2 = _fma(ar, rat2, ai) * scl2
    im2 = _fma(ai, rat2, -ar) * scl2
    first = abr >= abi  # (False where either is NaN: the second branch, as in C)
    return where(first, re1, re2), where(first, im1, im2)


class _Div(Function):
    _grad_fn_name = "DivBackward0"

    @staticmethod
    def forward(ctx, a, b):
        with no_grad():
            out = _div_values(a.detach(), b.detach())
        ctx.a, ctx.b = a, b  # the inputs themselves: a double backward differentiates through them
        return out

    @staticmethod
    def backward(ctx, g):
        # PyTorch's: grad / conj(b) and -grad * conj((a / b) / b).
        a, b = ctx.a, ctx.b
        ga = div(g, conj(b))
        gb = neg(mul(g, conj(div(div(a, b), b))))
        return ga, gb


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is not None:
        raise RuntimeError(f"div with rounding_mode='{rounding_mode}' is not supported for complex tensors "
                           "(PyTorch: \"div_floor_cpu\" not implemented for 'ComplexFloat')")
    cdt = result_complex_dtype(input, other)
    like = input if isinstance(input, Tensor) else other
    if isinstance(other, Tensor) and other._impl.dtype not in COMPLEX and isinstance(input, Tensor):
        # complex / real: each part divided (what PyTorch's promoted division computes to the last bit
        # up to the scaling, and with the simpler gradient).
        ar, ai = split(input, cdt)
        b = other._cast(REAL_OF[cdt])
        if (input._rg or other._rg) and _gs.enabled:
            return _finish(make(ar / b, ai / b, REAL_OF[cdt]), out)
        if ai is None:
            ai = ar * 0.0
        re, im = _smith(ar, ai, b, None)  # the values of PyTorch's promoted complex division
        return _finish(make(re, im, REAL_OF[cdt]), out)
    a = as_complex_tensor(input, cdt, like)
    b = as_complex_tensor(other, cdt, like)
    if a._impl.shape != b._impl.shape:
        from .._functions.shape import broadcast_tensors
        a, b = broadcast_tensors(a, b)
    if (a._rg or b._rg) and _gs.enabled:
        return _finish(_Div.apply(a, b), out)
    return _finish(_div_values(a, b), out)


true_divide = divide = div


def neg(input, *, out=None):
    re, im = parts(input)
    return _finish(make(-re, -im), out)


negative = neg


def reciprocal(input, *, out=None):
    return _finish(div(1.0, input), out)


def conj(input):
    if not is_complex_tensor(input):
        return input
    re, im = parts(input)
    return make(re, -im)


def exp(input, *, out=None):
    from .._functions.elementwise import exp as rexp, cos, sin
    re, im = parts(input)
    e = rexp(re)
    return _finish(make(e * cos(im), e * sin(im)), out)


def log(input, *, out=None):
    from .._functions.elementwise import log as rlog, atan2
    re, im = parts(input)
    return _finish(make(rlog(_hypot(re, im)), atan2(im, re)), out)


def _hypot(re, im):
    """|re + i im| without overflow or underflow (as std::hypot): the larger part factored out.
    (flambeau.hypot squares its operands directly, so |1e30 + 1e30j| would be inf in float32.)"""
    from .._functions.elementwise import maximum, sqrt as rsqrt_, where
    ax, ay = re.abs(), im.abs()
    m = maximum(ax, ay)
    safe = where(m == 0, 1.0, m)
    u, v = ax / safe, ay / safe
    r = m * rsqrt_(u * u + v * v)
    # an infinite part makes the modulus infinite, even with a NaN other part (C's hypot)
    return where(ax.isinf() | ay.isinf(), float("inf"), r)


def _sqrt_values(z):
    """The principal square root (C99 csqrt's formula): t = sqrt((|z| + |x|) / 2); (t, y / 2t) for
    x >= 0, (|y| / 2t, copysign(t, y)) for x < 0."""
    from .._functions.elementwise import sqrt as rsqrt_, where
    x, y = parts(z)
    r = _hypot(x, y)
    t = rsqrt_((r + x.abs()) * 0.5)
    safe = where(t == 0, 1.0, t) if isinstance(t, Tensor) else t
    q = y / (2 * safe)
    pos = x >= 0
    re = where(pos, t, (q.abs()))
    im = where(pos, q, _copysign(t, y))
    zero = t == 0
    return make(where(zero, 0.0, re), where(zero, y, im))


def _copysign(a, b):
    from .._functions.misc import copysign
    return copysign(a, b)


class _Sqrt(Function):
    _grad_fn_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx, z):
        with no_grad():
            out = _sqrt_values(z.detach())
        ctx.z = z
        return out

    @staticmethod
    def backward(ctx, g):
        # PyTorch's: grad / (2 conj(sqrt(z))); sqrt recomputed from the input so that a double
        # backward differentiates through it (and no reference cycle holds the output).
        return div(g, mul(conj(sqrt(ctx.z)), 2.0))


def sqrt(input, *, out=None):
    if input._rg and _gs.enabled:
        return _finish(_Sqrt.apply(input), out)
    return _finish(_sqrt_values(input), out)


def rsqrt(input, *, out=None):
    return _finish(reciprocal(sqrt(input)), out)


def square(input, *, out=None):
    return _finish(mul(input, input), out)


def pow(input, exponent, *, out=None):
    cdt = result_complex_dtype(input, exponent)
    if not isinstance(exponent, Tensor):
        e = complex(exponent)
        if e.imag == 0 and isinstance(input, Tensor):
            k = e.real
            base = as_complex_tensor(input, cdt, input)
            # PyTorch's special cases of a scalar exponent (PowKernel.cpp) and the trivial ones.
            if k == 1:
                return _finish(base.clone(), out)
            if k == 2:
                return _finish(mul(base, base), out)
            if k == 3:
                return _finish(mul(mul(base, base), base), out)
            if k == 0.5:
                return _finish(sqrt(base), out)
            if k == -0.5:
                return _finish(reciprocal(sqrt(base)), out)
            if k == -1:
                return _finish(reciprocal(base), out)
            if k == -2:
                return _finish(reciprocal(mul(base, base)), out)
    like = input if isinstance(input, Tensor) else exponent
    base = as_complex_tensor(input, cdt, like)
    if not isinstance(exponent, Tensor) and complex(exponent) == 0:
        # z ** 0 = 1 everywhere, with a zero gradient (PyTorch's PowBackward0 masks exponent 0)
        if base._rg and _gs.enabled:
            return _finish(_OnesLike.apply(base), out)
        from .._creation import ones_like
        return _finish(ones_like(base), out)
    w = exponent if isinstance(exponent, Tensor) else complex(exponent)
    # PyTorch's std::pow is glibc's cpow, cexp(w * clog(z)). At z = 0 with Re(w) > 0 that is 0 (cexp's
    # special case for -inf); the composed exp would give NaN there, so those lanes are set to 0.
    r = exp(mul(w, log(base)))
    br, bi = parts(base)
    is0 = (br == 0) & (bi == 0)
    if bool(is0.any()):
        from .._functions.elementwise import where
        wr = split(w, cdt)[0] if isinstance(w, Tensor) else w.real
        zero = is0 & (wr > 0) if isinstance(wr, Tensor) else (is0 if wr > 0 else None)
        if zero is not None:
            rr, ri = parts(r)
            r = make(where(zero, 0.0, rr), where(zero, 0.0, ri))
    return _finish(r, out)


class _OnesLike(Function):
    _grad_fn_name = "PowBackward0"

    @staticmethod
    def forward(ctx, z):
        from .._creation import ones_like
        return ones_like(z.detach())

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        return zeros_like(g)


def float_power(input, exponent, *, out=None):
    from .._dtype import complex128
    ci = input.to(complex128) if isinstance(input, Tensor) else complex(input)
    ce = exponent.to(complex128) if isinstance(exponent, Tensor) else complex(exponent)
    return _finish(pow(ci, ce), out)


class _Abs(Function):
    _grad_fn_name = "AbsBackward0"

    @staticmethod
    def forward(ctx, z):
        with no_grad():
            x, y = parts(z.detach())
            r = _hypot(x, y)
        ctx.z = z
        return r

    @staticmethod
    def backward(ctx, g):
        # PyTorch's: grad * sgn(z), sgn(z) = z / |z| and 0 at 0.
        return mul(g, sgn(ctx.z))


def abs(input, *, out=None):
    if input._rg and _gs.enabled:
        return _finish(_Abs.apply(input), out)
    x, y = parts(input)
    return _finish(_hypot(x, y), out)


absolute = abs


def _sgn_values(z):
    from .._functions.elementwise import where
    x, y = parts(z)
    r = _hypot(x, y)
    zero = r == 0
    safe = where(zero, 1.0, r)
    return make(where(zero, 0.0, x / safe), where(zero, 0.0, y / safe))


class _Sgn(Function):
    """z / |z| (0 at 0) with PyTorch's sgn_backward: composing it of hypot and where would put hypot's
    0/0 gradient at z = 0 into the graph (NaN, also in abs's double backward)."""
    _grad_fn_name = "SgnBackward0"

    @staticmethod
    def forward(ctx, z):
        with no_grad():
            s = _sgn_values(z.detach())
        ctx.z, ctx.s = z, s
        return s

    @staticmethod
    def backward(ctx, g):
        # (g - sgn Re(conj(sgn) g)) / |z|, and 0 where z = 0
        from .._functions.elementwise import where
        z, s = ctx.z, ctx.s
        gr, gi = parts(g)
        sr, si = parts(s)
        proj = sr * gr + si * gi  # Re(conj(sgn) g)
        r = abs(z)
        zero = r == 0
        safe = where(zero, 1.0, r)
        return make(where(zero, 0.0, (gr - sr * proj) / safe), where(zero, 0.0, (gi - si * proj) / safe))


def sgn(input, *, out=None):
    if input._rg and _gs.enabled:
        return _finish(_Sgn.apply(input), out)
    return _finish(_sgn_values(input), out)


def angle(input, *, out=None):
    from .._functions.elementwise import atan2
    x, y = parts(input)
    return _finish(atan2(y, x), out)


def real(input):
    return parts(input)[0]


def imag(input):
    return parts(input)[1]


# ---------------------------------------------------------------- comparisons
def eq(input, other, *, out=None):
    cdt = result_complex_dtype(input, other)
    ar, ai = split(input, cdt)
    br, bi = split(other, cdt)
    return _finish(_part_eq(ar, br) & _part_eq(ai, bi), out)


def _part_eq(a, b):
    if a is None and b is None:
        return True
    if a is None:
        return b == 0
    if b is None:
        return a == 0
    if isinstance(a, Tensor):
        return a == b
    return b == a


def ne(input, other, *, out=None):
    return _finish(~eq(input, other), out)


not_equal = ne


def isnan(input):
    x, y = parts(input)
    return x.isnan() | y.isnan()


def isinf(input):
    x, y = parts(input)
    return x.isinf() | y.isinf()


def isfinite(input):
    x, y = parts(input)
    return x.isfinite() & y.isfinite()


def isreal(input):
    return parts(input)[1] == 0


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    # PyTorch's isclose for complex: |a - b| <= atol + |rtol * b| with complex moduli.
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}" if rtol < 0 else
                           f"atol must be greater than or equal to zero, but got {atol}")
    if isinstance(input, Tensor) and isinstance(other, Tensor) and input._impl.dtype != other._impl.dtype:
        from .._functions._dispatch import _TORCH_TYPE_NAMES as _TN
        raise RuntimeError(f"{_TN[input._impl.dtype]} did not match {_TN[other._impl.dtype]}")
    with no_grad():
        close = eq(input, other)
        if equal_nan:
            close = close | (isnan(input) & isnan(other))
        if rtol == 0 and atol == 0:
            return close
        allowed = abs(mul(other, rtol)) + atol
        actual = abs(sub(input, other))
        return close | (actual.isfinite() & (actual <= allowed))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other):
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(eq(input, other).all())


# ---------------------------------------------------------------- reductions
def _real_dims(z, dim):
    from .._utils import wrap_dim
    nd = z._impl.ndim
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(nd))
    if isinstance(dim, int):
        dim = [dim]
    return [wrap_dim(d, max(nd, 1)) for d in dim]


def _reduce(op, input, dim, keepdim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if not is_complex_tensor(input):
        return getattr(input, op)(dim=dim, keepdim=keepdim) if dim is not None else getattr(input, op)()
    if input._impl.ndim == 0:
        return input.clone()
    r = view_as_real(input)
    dims = _real_dims(input, dim)
    s = getattr(r, op)(dim=dims, keepdim=keepdim)
    return assemble(s)


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    return _finish(_reduce("sum", input, dim, keepdim, dtype), out)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    return _finish(_reduce("mean", input, dim, keepdim, dtype), out)


def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    _unsupported("nansum", input)


# ---------------------------------------------------------------- matrix products
_C10_NAMES = {"float32": "float", "float64": "double", "complex64": "c10::complex<float>",
              "complex128": "c10::complex<double>", "int64": "long int", "float16": "c10::Half",
              "bfloat16": "c10::BFloat16"}


def _same_dtype(tensors):
    """Matrix products take one dtype, as PyTorch's (no promotion): its error otherwise."""
    dts = [t._impl.dtype for t in tensors if isinstance(t, Tensor)]
    for d in dts[1:]:
        if d != dts[0]:
            shapes = " and ".join(str(list(t.shape)) for t in tensors if isinstance(t, Tensor))
            raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_C10_NAMES.get(dts[0], dts[0])} "
                               f"!= {_C10_NAMES.get(d, d)} (operands of shapes {shapes})")


def _promote_pair(a, b, op):
    _same_dtype((a, b))
    cdt = result_complex_dtype(a, b)
    return split(a, cdt), split(b, cdt), cdt


def _product(fn, a, b, out, promote=False):
    if promote:  # outer: PyTorch's promotes (it is a broadcast multiplication)
        cdt = result_complex_dtype(a, b)
        (ar, ai), (br, bi) = split(a, cdt), split(b, cdt)
    else:
        (ar, ai), (br, bi), cdt = _promote_pair(a, b, fn.__name__)
    re = psub(pmul2(fn, ar, br), pmul2(fn, ai, bi))
    im = padd(pmul2(fn, ar, bi), pmul2(fn, ai, br))
    return _finish(make(re, im, REAL_OF[cdt]), out)


def pmul2(fn, a, b):
    if a is None or b is None:
        return None
    return fn(a, b)


def matmul(input, other, *, out=None):
    from .._functions.linalg import matmul as rmatmul
    return _product(rmatmul, input, other, out)


def mm(input, mat2, *, out=None):
    from .._functions.linalg import mm as rmm
    return _product(rmm, input, mat2, out)


def bmm(input, mat2, *, out=None):
    from .._functions.linalg import bmm as rbmm
    return _product(rbmm, input, mat2, out)


def mv(input, vec, *, out=None):
    from .._functions.linalg import mv as rmv
    return _product(rmv, input, vec, out)


def dot(input, other, *, out=None):
    from .._functions.linalg import dot as rdot
    return _product(rdot, input, other, out)


def vdot(input, other, *, out=None):
    return dot(conj(input), other, out=out)


def inner(input, other, *, out=None):
    from .._functions.linalg import inner as rinner
    return _product(rinner, input, other, out)


def outer(input, vec2, *, out=None):
    from .._functions.linalg import outer as router
    return _product(router, input, vec2, out, promote=True)


def einsum(equation, *operands):
    """einsum with complex operands: the sum over every choice of real or imaginary part per operand,
    each term a real einsum (i^k for k imaginary parts chosen), so the real kernels do the work."""
    from .._functions.linalg import einsum as reinsum
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    _same_dtype(operands)
    cdt = result_complex_dtype(*operands)
    split_ops = [split(x, cdt) for x in operands]
    re = im = None
    for mask in range(1 << len(split_ops)):
        chosen = [p[(mask >> j) & 1] for j, p in enumerate(split_ops)]
        if any(c is None for c in chosen):
            continue
        term = reinsum(equation, *chosen)
        k = bin(mask).count("1") % 4  # i^k: 1, i, -1, -i
        if k == 0:
            re = padd(re, term)
        elif k == 1:
            im = padd(im, term)
        elif k == 2:
            re = psub(re, term)
        else:
            im = psub(im, term)
    return make(re, im, REAL_OF[cdt])


def scatter_add(input, dim, index, src):
    """scatter_add of complex tensors as the real scatter_add of their (re, im) pairs: the index,
    repeated over the pair dim, keeps each part in its place."""
    from .._functions.indexing import scatter_add as rscatter_add
    from .._utils import wrap_dim
    d = wrap_dim(dim, input._impl.ndim)
    idx = index.unsqueeze(-1).expand(*index.shape, 2)
    return assemble(rscatter_add(view_as_real(input), d, idx, view_as_real(src)))


# ---------------------------------------------------------------- helpers
def _finish(r, out):
    if out is None:
        return r
    if out._impl.dtype not in COMPLEX and is_complex_tensor(r):
        from .._functions._dispatch import _TORCH_TYPE_NAMES as _TN
        raise RuntimeError(f"result type {_TN[r._impl.dtype]} can't be cast to the desired output type "
                           f"{_TN[out._impl.dtype]} (out= of shape {list(out.shape)})")
    if tuple(out.shape) != tuple(r.shape):
        out.resize_(r.shape)
    out.copy_(r)
    return out
