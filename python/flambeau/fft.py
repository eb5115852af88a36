"""torch.fft: discrete Fourier transforms, as PyTorch's (names, arguments, norms, dtypes, gradients).

Every transform is built from one primitive, the complex-to-complex DFT along one dim (the C++
kernel csrc/cpu/fft.cpp: mixed radix for small prime factors, Bluestein for large ones, computed in
double). Its gradient is the adjoint transform (the opposite direction with the same scale). The real
transforms are compositions of it that autograd differentiates: rfft is the complex DFT of the real
input keeping the n // 2 + 1 non-redundant bins; irfft rebuilds the Hermitian spectrum and keeps
the real part of its inverse (which ignores the imaginary part of the zero and Nyquist bins, as
pocketfft's c2r does); hfft/ihfft are irfft/rfft of the conjugate with the norm swapped.
CUDA tensors are transformed on the host and the result moved back.
"""
import math

from . import _C
from ._tensor import Tensor, _wrap
from ._utils import wrap_dim as _wrap_dim_scalar_ok
from .autograd.function import Function
from .autograd.grad_mode import _state as _gs

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_COMPLEX_OF = {"float32": "complex64", "float64": "complex128", "complex64": "complex64",
               "complex128": "complex128"}
_TORCH_NAMES = {"float16": "Half", "bfloat16": "BFloat16", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def wrap_dim(dim, ndim):
    """A transform's dim (PyTorch's maybe_wrap_dim without wrap_scalar: a 0-d tensor has no dim to
    transform; the shared wrap_dim accepts 0 and -1 there, and the transform then failed indexing its shape)."""
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return _wrap_dim_scalar_ok(dim, ndim)


# ---------------------------------------------------------------- the primitive

def _c2c_impl(xi, dim, inverse, scale):
    """DFT of complex impl xi along dim (an impl; the C++ kernel works on the last dim)."""
    dev = xi.device
    if dev != "cpu":
        xi = _C.to(xi, xi.dtype, "cpu", False)
    nd = xi.ndim
    last = dim == nd - 1
    perm = [i for i in range(nd) if i != dim] + [dim]
    src = xi if last else _C.permute(xi, perm)
    out = _C.fft_c2c(src, inverse, scale)
    if not last:
        inv = [0] * nd
        for i, p in enumerate(perm):
            inv[p] = i
        out = _C.permute(out, inv)
    if dev != "cpu":
        out = _C.to(out, out.dtype, dev, False)
    return out


class _C2C(Function):
    _grad_fn_name = "FftC2CBackward0"

    @staticmethod
    def forward(ctx, x, dim, inverse, scale):
        ctx.args = (dim, inverse, scale)
        return _wrap(_c2c_impl(x._impl, dim, inverse, scale))

    @staticmethod
    def backward(ctx, g):
        # The adjoint of scale * DFT is scale * (the unnormalised DFT of the opposite sign).
        dim, inverse, scale = ctx.args
        return _c2c(g, dim, not inverse, scale), None, None, None


def _c2c(x, dim, inverse, scale):
    if x._rg and _gs.enabled:
        return _C2C.apply(x, dim, inverse, scale)
    return _wrap(_c2c_impl(x._impl, dim, inverse, scale))


# ---------------------------------------------------------------- argument handling
def _norm_scale(norm, n, inverse):
    if norm is None or norm == "backward":
        return 1.0 / n if inverse else 1.0
    if norm == "ortho":
        return 1.0 / math.sqrt(n)
    if norm == "forward":
        return 1.0 if inverse else 1.0 / n
    raise RuntimeError(f'Invalid normalization mode: "{norm}"')


_SWAP_NORM = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def _swap_norm(norm):
    if norm not in _SWAP_NORM:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return _SWAP_NORM[norm]


def _check_tensor(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"fft_{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def _floating(x, op):
    """Real input as a floating tensor (integers and bools become the default dtype, as PyTorch)."""
    dt = x._impl.dtype
    if dt in ("float32", "float64"):
        return x
    if dt in ("float16", "bfloat16"):
        raise RuntimeError(f"Unsupported dtype {_TORCH_NAMES[dt]}")
    if dt in ("complex64", "complex128"):
        raise RuntimeError(f"{op} expects a real input tensor, but got {_TORCH_NAMES[dt]}")
    from ._dtype import get_default_dtype
    return x.to(get_default_dtype())


def _to_complex(x):
    dt = x._impl.dtype
    if dt in ("complex64", "complex128"):
        return x
    x = _floating(x, "fft")
    return x._cast(_COMPLEX_OF[x._impl.dtype])


def _check_n(n):
    if n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")


def _resize(x, dim, n):
    """x trimmed or zero-padded to n along dim (differentiable)."""
    size = x._impl.shape[dim]
    if n == size:
        return x
    if n < size:
        return x.narrow(dim, 0, n)
    from ._functions.join import cat
    from ._creation import zeros
    shape = list(x._impl.shape)
    shape[dim] = n - size
    from ._dtype import _BY_NAME
    pad = zeros(shape, dtype=_BY_NAME[x._impl.dtype], device=x._impl.device)
    return cat([x, pad], dim)


def _out(r, out):
    if out is None:
        return r
    from ._complex.ops import _finish
    return _finish(r, out)


def _dims_and_sizes(x, s, dim, op, default_all=True):
    """PyTorch's rules for (s, dim) of the n-dimensional transforms: dims wrapped and unique, s the
    sizes of those dims when not given."""
    nd = x._impl.ndim
    if dim is not None:
        dims = [dim] if isinstance(dim, int) else list(dim)
        dims = [wrap_dim(d, nd) for d in dims]
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{op} dims must be unique")
        if s is not None:
            s = list(s)
            if len(s) != len(dims):
                raise RuntimeError("When given, dim and shape arguments must have the same length")
    elif s is not None:
        s = list(s)
        if len(s) > nd:
            raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has {nd} dimensions.")
        dims = list(range(nd - len(s), nd))
    else:
        dims = list(range(nd)) if default_all else [nd - 2, nd - 1]
    if s is None:
        s = [None] * len(dims)
    return dims, s


# ---------------------------------------------------------------- one-dimensional
def _c2c_1d(input, n, dim, norm, inverse, op, out):
    _check_tensor(input, op)
    x = _to_complex(input)
    d = wrap_dim(dim, x._impl.ndim)
    n = x._impl.shape[d] if n is None else n
    _check_n(n)
    x = _resize(x, d, n)
    return _out(_c2c(x, d, inverse, _norm_scale(norm, n, inverse)), out)


def fft(input, n=None, dim=-1, norm=None, *, out=None):
    return _c2c_1d(input, n, dim, norm, False, "fft", out)


def ifft(input, n=None, dim=-1, norm=None, *, out=None):
    return _c2c_1d(input, n, dim, norm, True, "ifft", out)


def _rfft_dim(x, d, n, norm, inverse=False):
    """The non-redundant half of the DFT of real x along d."""
    _check_n(n)
    x = _resize(x, d, n)
    c = x._cast(_COMPLEX_OF[x._impl.dtype])
    r = _c2c(c, d, inverse, _norm_scale(norm, n, inverse)).narrow(d, 0, n // 2 + 1)
    return _real_dc_nyquist(r, d, n)


def _real_dc_nyquist(X, d, n):
    """X with the imaginary parts of its DC bin and (n even) Nyquist bin along d exactly 0: what a real
    transform's first and middle bins are (PyTorch's r2c writes them as such; the complex transform of
    x + 0i made them NaN next to an infinity, inf * 0), and all a c2r transform reads of them."""
    from ._complex.core import parts, make
    from ._functions.pointwise import where
    from . import _creation
    half = X._impl.shape[d]
    if half == 0:
        return X
    keep = [i != 0 and not (n % 2 == 0 and i == n // 2) for i in range(half)]
    shape = [1] * X._impl.ndim
    shape[d] = half
    mask = _creation.tensor(keep, device=X.device).reshape(shape)
    re, im = parts(X)
    return make(re, where(mask, im, 0.0))


def rfft(input, n=None, dim=-1, norm=None, *, out=None):
    _check_tensor(input, "rfft")
    x = _floating(input, "rfft")
    d = wrap_dim(dim, x._impl.ndim)
    n = x._impl.shape[d] if n is None else n
    return _out(_rfft_dim(x, d, n, norm), out)


def _irfft_dim(X, d, n, norm, forward_sign=False):
    """The real signal of length n whose half spectrum along d is X (trimmed or zero-padded to n // 2 + 1)."""
    from ._complex.ops import conj
    _check_n(n)
    half = n // 2 + 1
    X = _real_dc_nyquist(_resize(X, d, half), d, n)  # (their imaginary parts are not read: NaN there is ignored)
    tail = n - half
    if tail > 0:
        X = _full_hermitian(X, d, tail, conj)
    y = _c2c(X, d, not forward_sign, _norm_scale(norm, n, not forward_sign))
    return y.real.contiguous()


def _full_hermitian(X, d, tail, conj):
    from ._functions.join import cat, flip
    mirrored = conj(flip(X.narrow(d, 1, tail), [d]))
    return cat([X, mirrored], d)


def irfft(input, n=None, dim=-1, norm=None, *, out=None):
    _check_tensor(input, "irfft")
    X = _to_complex(input)
    d = wrap_dim(dim, X._impl.ndim)
    n = 2 * (X._impl.shape[d] - 1) if n is None else n
    r = _irfft_dim(X, d, n, norm)
    if X._impl.shape[d] == 0:  # (zeros padded from nothing): in input's graph, as PyTorch's
        from ._functions.zero_link import link_zero_to
        r = link_zero_to(r, input)
    return _out(r, out)


def hfft(input, n=None, dim=-1, norm=None, *, out=None):
    from ._complex.ops import conj
    _check_tensor(input, "hfft")
    X = _to_complex(input)
    d = wrap_dim(dim, X._impl.ndim)
    n = 2 * (X._impl.shape[d] - 1) if n is None else n
    return _out(_irfft_dim(conj(X), d, n, _swap_norm(norm)), out)


def ihfft(input, n=None, dim=-1, norm=None, *, out=None):
    from ._complex.ops import conj
    _check_tensor(input, "ihfft")
    x = _floating(input, "ihfft")
    d = wrap_dim(dim, x._impl.ndim)
    n = x._impl.shape[d] if n is None else n
    return _out(conj(_rfft_dim(x, d, n, _swap_norm(norm))), out)


# ---------------------------------------------------------------- n-dimensional
def _c2c_nd(input, s, dim, norm, inverse, op, out, default_all=True):
    _check_tensor(input, op)
    x = _to_complex(input)
    dims, sizes = _dims_and_sizes(x, s, dim, op, default_all)
    for d, n in zip(dims, sizes):
        n = x._impl.shape[d] if n is None or n == -1 else n
        _check_n(n)
        x = _resize(x, d, n)
        x = _c2c(x, d, inverse, _norm_scale(norm, n, inverse))
    return _out(x, out)


def fftn(input, s=None, dim=None, norm=None, *, out=None):
    return _c2c_nd(input, s, dim, norm, False, "fftn", out)


def ifftn(input, s=None, dim=None, norm=None, *, out=None):
    return _c2c_nd(input, s, dim, norm, True, "ifftn", out)


def fft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return _c2c_nd(input, s, dim, norm, False, "fft2", out)


def ifft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return _c2c_nd(input, s, dim, norm, True, "ifft2", out)


def _rfftn(input, s, dim, norm, op, out):
    _check_tensor(input, op)
    x = _floating(input, op)
    dims, sizes = _dims_and_sizes(x, s, dim, op)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    sizes = [x._impl.shape[d] if n is None or n == -1 else n for d, n in zip(dims, sizes)]
    for d, n in zip(dims[:-1], sizes[:-1]):
        _check_n(n)
        x = _resize(x, d, n)
    y = _rfft_dim(x, dims[-1], sizes[-1], norm)
    for d, n in zip(dims[:-1], sizes[:-1]):
        y = _c2c(y, d, False, _norm_scale(norm, n, False))
    return _out(y, out)


def rfftn(input, s=None, dim=None, norm=None, *, out=None):
    return _rfftn(input, s, dim, norm, "rfftn", out)


def rfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return _rfftn(input, s, dim, norm, "rfft2", out)


def _irfftn(input, s, dim, norm, op, out, conj_input=False):
    _check_tensor(input, op)
    X = _to_complex(input)
    if conj_input:
        from ._complex.ops import conj
        X = conj(X)
    dims, sizes = _dims_and_sizes(X, s, dim, op)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    last = dims[-1]
    n_last = sizes[-1]
    if n_last is None or n_last == -1:
        n_last = 2 * (X._impl.shape[last] - 1)
    for d, n in zip(dims[:-1], sizes[:-1]):
        n = X._impl.shape[d] if n is None or n == -1 else n
        _check_n(n)
        X = _resize(X, d, n)
        X = _c2c(X, d, True, _norm_scale(norm, n, True))
    return _out(_irfft_dim(X, last, n_last, norm), out)


def irfftn(input, s=None, dim=None, norm=None, *, out=None):
    return _irfftn(input, s, dim, norm, "irfftn", out)


def irfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return _irfftn(input, s, dim, norm, "irfft2", out)


def hfftn(input, s=None, dim=None, norm=None, *, out=None):
    # hfftn(x) = irfftn(conj(x)) with the norm swapped (the forward transform of a Hermitian signal)
    return _irfftn(input, s, dim, _swap_norm(norm), "hfftn", out, conj_input=True)


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return _irfftn(input, s, dim, _swap_norm(norm), "hfft2", out, conj_input=True)


def ihfftn(input, s=None, dim=None, norm=None, *, out=None):
    from ._complex.ops import conj
    return _out(conj(_rfftn(input, s, dim, _swap_norm(norm), "ihfftn", None)), out)


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    from ._complex.ops import conj
    return _out(conj(_rfftn(input, s, dim, _swap_norm(norm), "ihfft2", None)), out)


# ---------------------------------------------------------------- helpers
def fftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """[0, 1, ..., (n - 1) // 2, -(n // 2), ..., -1] / (d * n), computed as PyTorch's (arange, then one
    multiplication by 1 / (n * d))."""
    from ._creation import arange
    r = arange(n, dtype=dtype, device=device)
    k = (n + 1) // 2
    if n > k:
        r[k:] -= n
    r = r * (1.0 / (n * d))
    r.requires_grad_(requires_grad)
    return _out(r, out)


def rfftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    from ._creation import arange
    r = arange(n // 2 + 1, dtype=dtype, device=device) * (1.0 / (n * d))
    r.requires_grad_(requires_grad)
    return _out(r, out)


def _shift(input, dim, inverse):
    from ._functions.join import roll
    nd = input._impl.ndim
    if dim is None:
        dims = list(range(nd))
    else:
        dims = [wrap_dim(d, nd) for d in ([dim] if isinstance(dim, int) else dim)]
    if not dims:
        return input
    shape = input._impl.shape
    shifts = [((shape[d] + 1) // 2 if inverse else shape[d] // 2) for d in dims]
    return roll(input, shifts, dims)


def fftshift(input, dim=None):
    return _shift(input, dim, False)


def ifftshift(input, dim=None):
    return _shift(input, dim, True)
