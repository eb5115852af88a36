"""Composites of existing ops that PyTorch exposes as functions and Tensor methods: diff, cross, kron,
block_diag, cov/corrcoef, quantile, mode, isin, unravel_index, combinations, vander, h/v/dsplit,
rad2deg/deg2rad, logit, sinc, heaviside, copysign, logaddexp2, the strided view Tensor.unfold, the
in-place shape ops (squeeze_, t_, ...), fill_diagonal_, sum_to_size, Tensor.new and the window
functions (hann_window, ...). The nn.functional ops PyTorch also has at top level are in
nn_toplevel.py.

Everything here is built from ops that already record their own gradients, so the composites are
differentiable by construction; the few with a gradient PyTorch defines differently (copysign) or
not at all (heaviside) have a small Function. Order statistics with no kernel (mode, isin) are
computed on a host copy with numpy, as sorting.py does for other devices.
"""
import builtins
import itertools
import math
import numbers
import warnings

import numpy as np

from . import _numpy_names as _np
from .. import _C
from .._dtype import _BY_NAME, _default_dtype, _to_dtype, Size
from .._promote import result_type_names, _FLOAT, _INT
from .._tensor import Tensor, _wrap, _wrap_view
from .._utils import wrap_dim, parse_size
from ..autograd.function import Function, _is_fw_leaf, _take_history
from ..autograd.grad_mode import _state as _gs
from . import elementwise as ew, pointwise as pw, compare as cmp, reduction as red, shape as sh
from . import join as jn, indexing as ix, sorting as so, linalg as la
from ._dispatch import _cast, _TORCH_TYPE_NAMES, refuse_complex
from ..amp import _cast as _amp_cast

_TYPE = _TORCH_TYPE_NAMES  # 'float32' -> 'Float', as PyTorch names dtypes in messages


def _float_of(t):
    """t itself when floating, else t cast to the default float dtype (int -> float promotion)."""
    return t if t._impl.dtype in _FLOAT else _cast(t, _default_dtype[0]._name)


def _check_tensor(x, op, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _inplace(self, fn, *args, **kwargs):
    """self = fn(self, *args) as an in-place op: computed out of place and written back (under autograd
    self takes over the result's history, see _tensor_methods._assign_result). When a graph is recorded
    the op reads a snapshot of self, since its backward may need the value being overwritten."""
    from .._tensor_methods import _assign_result
    from ._dispatch import _snapshot, _check_inplace_leaf, check_no_internal_overlap, check_overlap
    op = getattr(fn, "__name__", "in-place op").rstrip("_") + "_"
    check_no_internal_overlap(self._impl, op)  # before computing anything
    check_overlap(self, args, op)  # (computed out of place: `_C` never sees both)
    if _gs.enabled and (self._rg or builtins.any(isinstance(a, Tensor) and a._rg for a in args)):
        _check_inplace_leaf(self)
        return _assign_result(self, fn(_snapshot(self), *args, **kwargs), op)
    return _assign_result(self, fn(self, *args, **kwargs), op)


# ---------------------------------------------------------------- shape helpers
def ravel(input):
    """input flattened to 1-D: a view when the layout allows (as reshape), else a copy."""
    return sh.reshape(input, (-1,))


def is_same_size(input, other):
    return input._impl.shape == other._impl.shape


def is_nonzero(input):
    n = input._impl.numel
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(input.item())


def is_signed(input):
    return input._impl.dtype not in ("bool", "uint8")


def is_inference(input):
    """Whether `input` was allocated inside inference_mode (or is a view of such a tensor); sparse: False."""
    impl = input._impl
    return type(impl) is _C.TensorImpl and impl.is_inference


def sum_to_size(input, *size):
    shape = parse_size(size, "sum_to_size")
    ishape = input._impl.shape
    if sh._reduce_dims_for(ishape, shape) is None:
        raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(ishape)}}}.")
    return sh._sum_to(input, tuple(shape))


# ---------------------------------------------------------------- Tensor.unfold: a strided view
def _unfold_geometry(impl, d, size, step):
    shape, stride = list(impl.shape), list(impl.stride)
    if not shape:
        return [size], [1]
    n = (shape[d] - size) // step + 1
    return (shape[:d] + [n] + shape[d + 1:] + [size],
            stride[:d] + [step * stride[d]] + stride[d + 1:] + [stride[d]])


def _unfold_impl(impl, d, size, step):
    size_, stride_ = _unfold_geometry(impl, d, size, step)
    return _C.as_strided(impl, size_, stride_, impl.storage_offset)


def _unfold_backward(g, shape, d, size, step):
    """Gradient of unfold: each window element's gradient added back at its source position
    (windows overlap when step < size), by one differentiable index_add."""
    if not shape:
        return sh.reshape(g, ()) if size == 1 else _wrap(_C.full([], 0, g._impl.dtype, g._impl.device))
    n = g._impl.shape[d]
    from .._creation import zeros, arange
    z = zeros(tuple(shape), dtype=g.dtype, device=g.device)
    if n == 0 or size == 0:
        return z
    dev = g.device
    idx = ew.add(ew.mul(arange(n, device=dev).reshape(n, 1), step), arange(size, device=dev).reshape(1, size))
    gm = sh.movedim(g, -1, d + 1)  # shape[:d] + (n, size) + shape[d+1:]
    gm = sh.reshape(gm, tuple(shape[:d]) + (n * size,) + tuple(shape[d + 1:]))
    return ix.index_add(z, d, sh.reshape(idx, (-1,)), gm)


class Unfold(Function):
    _builtin = True
    _grad_fn_name = "UnfoldBackward0"

    @staticmethod
    def forward(ctx, x, d, size, step):
        ctx.shape = x._impl.shape
        ctx.args = (d, size, step)
        return _wrap_view(_unfold_impl(x._impl, d, size, step), x)

    @staticmethod
    def backward(ctx, g):
        d, size, step = ctx.args
        return _unfold_backward(g, ctx.shape, d, size, step), None, None, None


def unfold(input, dimension, size, step):
    """Tensor.unfold: every slice of `size` elements along `dimension`, `step` apart, as a new last
    dim. A view sharing input's storage (the window dim strides by `step` elements)."""
    shape = input._impl.shape
    nd = len(shape)
    d = wrap_dim(dimension, nd)
    size, step = int(size), int(step)
    if size < 0:
        raise RuntimeError(f"unfold: size is {size} but must be >= 0 (input shape {list(shape)})")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0 (input shape {list(shape)})")
    n = shape[d] if nd else 1
    if size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size} "
                           f"(input shape {list(shape)})")
    if input._rg and _gs.enabled:
        return Unfold.apply(input, d, size, step)
    return _wrap_view(_unfold_impl(input._impl, d, size, step), input)


# ---------------------------------------------------------------- in-place shape ops
def _inplace_view(self, fn, *args):
    """self becomes fn(self, *args), a view of its own storage, in place (PyTorch's squeeze_, t_, ...).

    The new geometry replaces self's `_impl`; under autograd self takes over the view's history (so
    gradients flow back through the view op), a leaf requiring grad raises as in PyTorch, and the
    storage's version is bumped so a backward that saved the old tensor detects the change."""
    rec = self._rg and _gs.enabled and not (_gs.fw_gate and self._fw is None)
    if rec and self.grad_fn is None and not _is_fw_leaf(self):
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    r = fn(self, *args)
    old = self._impl
    self._impl = r._impl
    old.bump_version()
    if rec:
        _take_history(self, r)
        if r._fw is not None or self._fw is not None:
            _inplace_view_tangent(self, r)
    return self


def _inplace_view_tangent(self, r):
    """The tangent follows an in-place view op as in PyTorch: the tangent object itself takes the
    new geometry (r's tangent is that view of it), unless it must stay differentiable in reverse
    mode, where it is replaced (autograd/forward_ad.py)."""
    from ..autograd import forward_ad
    old, new = self._fw, r._fw
    if old is not None and new is not None and not old._rg and not new._rg and \
            new._impl.same_storage(old._impl):
        old._impl = new._impl
        return
    if new is None:
        self._fw = None
    else:
        forward_ad.set_tangent(self, new)


def squeeze_(self, dim=None):
    return _inplace_view(self, sh.squeeze, dim)


def unsqueeze_(self, dim):
    return _inplace_view(self, sh.unsqueeze, dim)


def t_(self):
    return _inplace_view(self, sh.t)


def transpose_(self, dim0, dim1):
    return _inplace_view(self, sh.transpose, dim0, dim1)


swapaxes_ = swapdims_ = transpose_


def as_strided_(self, size, stride, storage_offset=None):
    return _inplace_view(self, sh.as_strided, size, stride, storage_offset)


# ---------------------------------------------------------------- diff, cross, kron, block_diag
def diff(input, n=1, dim=-1, prepend=None, append=None, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("diff", dim, axis, -1)
    _check_tensor(input, "diff")
    nd = input._impl.ndim
    if nd == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    if n == 0 and prepend is None and append is None:  # PyTorch returns the copy before looking at dim
        return sh.clone(input)
    d = wrap_dim(dim, nd)
    x = input
    if prepend is not None or append is not None:
        parts = []
        for t in (prepend, input, append):
            if t is None:
                continue
            if t._impl.ndim != nd:
                raise RuntimeError("diff expects prepend or append to be the same dimension as input")
            for k in range(nd):
                if k != d and t._impl.shape[k] != input._impl.shape[k]:
                    raise RuntimeError(
                        "diff expects the shape of tensor to prepend or append to match that of input except "
                        f"along the differencing dimension; input.size({k}) = {input._impl.shape[k]}, but got "
                        f"tensor.size({k}) = {t._impl.shape[k]}")
            parts.append(t)
        if n == 0:
            return sh.clone(input)
        x = jn.cat(parts, d)
    if n == 0:
        return sh.clone(input)
    length = x._impl.shape[d]
    for _ in range(builtins.min(n, length)):
        length -= 1
        hi, lo = sh.narrow(x, d, 1, length), sh.narrow(x, d, 0, length)
        x = cmp.logical_xor(hi, lo) if x._impl.dtype == "bool" else ew.sub(hi, lo)
    return x


def _cross(input, other, d, dim_label):
    a_shape, b_shape = input._impl.shape, other._impl.shape
    if input._impl.dtype != other._impl.dtype:
        raise RuntimeError(f"linalg.cross: expected both inputs to have the same dtype, but got "
                           f"{_TYPE[input._impl.dtype]} and {_TYPE[other._impl.dtype]}")
    if a_shape[d] != 3 or b_shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim_label} must have length 3. Got {a_shape[d]} and "
                           f"{b_shape[d]} (input shapes {list(a_shape)} and {list(b_shape)})")
    a = [sh.select(input, d, i) for i in range(3)]
    b = [sh.select(other, d, i) for i in range(3)]
    c = [ew.sub(ew.mul(a[1], b[2]), ew.mul(a[2], b[1])),
         ew.sub(ew.mul(a[2], b[0]), ew.mul(a[0], b[2])),
         ew.sub(ew.mul(a[0], b[1]), ew.mul(a[1], b[0]))]
    return jn.stack(c, d)


def _cross_ndim(input, other):
    _check_tensor(input, "cross")
    _check_tensor(other, "cross", "other")
    if input._impl.ndim != other._impl.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions (got shapes "
                           f"{list(input._impl.shape)} and {list(other._impl.shape)}).")
    return input._impl.ndim


def linalg_cross(input, other, *, dim=-1):
    nd = _cross_ndim(input, other)
    d = wrap_dim(dim, nd)
    return _cross(input, other, d, dim)


def cross(input, other, dim=None):
    """torch.cross: linalg.cross along `dim`; without dim, along the first dim of size 3 (deprecated)."""
    nd = _cross_ndim(input, other)
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the "
                      "dim explicitly or simply use torch.linalg.cross.\nThe default value of dim will change "
                      "to agree with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        shape = input._impl.shape
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input (shape {list(shape)})")
    d = wrap_dim(dim, nd)
    return _cross(input, other, d, dim)


def kron(input, other):
    _check_tensor(input, "kron")
    _check_tensor(other, "kron", "other")
    sa, sb = input._impl.shape, other._impl.shape
    nd = builtins.max(len(sa), len(sb))
    sa = (1,) * (nd - len(sa)) + tuple(sa)
    sb = (1,) * (nd - len(sb)) + tuple(sb)
    ra, rb = [], []
    for x, y in zip(sa, sb):
        ra += [x, 1]
        rb += [1, y]
    r = ew.mul(sh.reshape(input, tuple(ra)), sh.reshape(other, tuple(rb)))
    return sh.reshape(r, tuple(x * y for x, y in zip(sa, sb)))


def block_diag(*tensors):
    from .._creation import zeros, empty
    if not tensors:
        return empty(1, 0)
    for i, t in enumerate(tensors):
        _check_tensor(t, "block_diag", f"tensors[{i}]")
        if t._impl.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t._impl.ndim} dimensions".replace("torch.", ""))
        if t._impl.device != tensors[0]._impl.device:
            raise RuntimeError(f"block_diag: input tensors must all be on the same device. Input 0 is on device "
                               f"{tensors[0]._impl.device} and input {i} is on device {t._impl.device}")
    dt = result_type_names(*tensors) if len({t._impl.dtype for t in tensors}) > 1 else tensors[0]._impl.dtype
    mats = []
    for t in tensors:
        t = _cast(t, dt)
        nd = t._impl.ndim
        mats.append(sh.reshape(t, (1, 1)) if nd == 0 else (sh.reshape(t, (1, -1)) if nd == 1 else t))
    total = builtins.sum(m._impl.shape[1] for m in mats)
    dtype, dev = _BY_NAME[dt], tensors[0].device
    rows, col = [], 0
    for m in mats:
        r, c = m._impl.shape
        parts = []
        if col:
            parts.append(zeros(r, col, dtype=dtype, device=dev))
        parts.append(m)
        if total - col - c:
            parts.append(zeros(r, total - col - c, dtype=dtype, device=dev))
        rows.append(jn.cat(parts, 1) if len(parts) > 1 else m)
        col += c
    return jn.cat(rows, 0) if len(rows) > 1 else sh.clone(rows[0])


# ---------------------------------------------------------------- cov, corrcoef
def cov(input, *, correction=1, fweights=None, aweights=None):
    _check_tensor(input, "cov")
    nd = input._impl.ndim
    if nd > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with {nd} "
                           "dimensions")
    if input._impl.dtype == "bool":
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = sh.reshape(input, (1, -1)) if nd < 2 else input
    n_obs = x._impl.shape[1]
    w = None
    if fweights is not None:
        f = fweights
        if f._impl.ndim > 1:
            raise RuntimeError(f"cov(): expected fweights to have one or fewer dimensions but got fweights with "
                               f"{f._impl.ndim} dimensions")
        if f._impl.dtype not in _INT:
            raise RuntimeError(f"cov(): expected fweights to have integral dtype but got fweights with "
                               f"{_TYPE[f._impl.dtype]} dtype")
        if f._impl.numel != n_obs:
            raise RuntimeError(f"cov(): expected fweights to have the same numel as there are observations in the "
                               f"input but got {f._impl.numel} != {n_obs}")
        if n_obs and red.amin(f).item() < 0:
            raise RuntimeError("cov(): fweights cannot be negative")
        w = f
    if aweights is not None:
        a = aweights
        if a._impl.ndim > 1:
            raise RuntimeError(f"cov(): expected aweights to have one or fewer dimensions but got aweights with "
                               f"{a._impl.ndim} dimensions")
        if a._impl.dtype not in _FLOAT:
            raise RuntimeError(f"cov(): expected aweights to have floating point dtype but got aweights with "
                               f"{_TYPE[a._impl.dtype]} dtype")
        if a._impl.numel != n_obs:
            raise RuntimeError(f"cov(): expected aweights to have the same numel as there are observations in the "
                               f"input but got {a._impl.numel} != {n_obs}")
        if n_obs and red.amin(a).item() < 0:
            raise RuntimeError("cov(): aweights cannot be negative")
        w = a if w is None else ew.mul(w, a)
    if w is not None:
        w_sum = red.sum(w)
        if w_sum.item() == 0:
            raise RuntimeError("cov(): weights sum to zero, can't be normalized")
        avg = ew.div(red.sum(ew.mul(x, w), 1), w_sum)
        if correction != 0:
            if aweights is not None:
                norm = ew.sub(w_sum, ew.div(ew.mul(red.sum(ew.mul(w, aweights)), correction), w_sum))
            else:
                norm = ew.sub(w_sum, correction)
        else:
            norm = w_sum
        norm_v = norm.item()
    else:
        if x._impl.dtype in ("complex64", "complex128"):
            import flambeau
            avg = flambeau.div(flambeau.sum(x, 1), n_obs)
        else:
            avg = ew.div(red.sum(x, 1), n_obs)
        norm_v = n_obs - correction
        norm = norm_v
    if norm_v <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm = 0
    if x._impl.dtype in ("complex64", "complex128"):  # x x^H, as PyTorch's
        import flambeau
        xc = flambeau.sub(x, sh.unsqueeze(avg, 1))
        c = flambeau.mm(xc, flambeau.conj(sh.t(ew.mul(xc, w) if w is not None else xc)))
        return sh.squeeze(flambeau.div(c, norm))
    xc = ew.sub(x, sh.unsqueeze(avg, 1))
    c = la.mm(xc, sh.t(ew.mul(xc, w) if w is not None else xc))
    return sh.squeeze(ew.div(c, norm))


def corrcoef(input):
    _check_tensor(input, "corrcoef")
    nd = input._impl.ndim
    if nd > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got an input with {nd} "
                           "dimensions")
    c = cov(input)
    if c._impl.dtype in ("complex64", "complex128"):  # the same on complex values; parts clipped separately
        import flambeau
        if c._impl.ndim == 0:
            return flambeau.div(c, c)
        sd = flambeau.sqrt(sh.diagonal(c))
        c = flambeau.div(flambeau.div(c, sh.reshape(sd, (-1, 1))), sh.reshape(sd, (1, -1)))
        return flambeau.complex(pw.clamp(c.real, -1, 1), pw.clamp(c.imag, -1, 1))
    if c._impl.ndim == 0:
        return ew.div(c, c)
    sd = ew.sqrt(sh.diagonal(c))
    c = ew.div(c, sh.reshape(sd, (-1, 1)))
    c = ew.div(c, sh.reshape(sd, (1, -1)))
    return pw.clamp(c, -1, 1)


# ---------------------------------------------------------------- quantile, mode
_INTERP = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan, op):
    _check_tensor(input, op)
    dt = input._impl.dtype
    if input._impl.numel == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    if dt not in _FLOAT:
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERP:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest, but "
                           f"got {interpolation}")
    dev = input._impl.device
    if isinstance(q, Tensor):
        if q._impl.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q._impl.dtype != dt:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        if q._impl.device != dev:
            raise RuntimeError(f"{op}() q tensor must be on the same device as the input tensor")
        qv = so._host(q)
        if not bool(np.all((qv >= 0) & (qv <= 1))):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
        qt = q.detach()
    else:
        if not isinstance(q, numbers.Real) or isinstance(q, bool):
            raise TypeError(f"{op}(): argument 'q' must be a float or a Tensor, not {type(q).__name__}")
        if not 0 <= q <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
        qt = _wrap(_C.scalar_tensor(float(q), dt, dev))
    shape = list(input._impl.shape)
    nd = len(shape)
    # Output shape: q's dim (if any) first, then the input's shape reduced over dim.
    if dim is not None and nd > 0:
        d = wrap_dim(dim, nd)
        out_shape = shape[:d] + ([1] if keepdim else []) + shape[d + 1:]
    else:
        if dim is not None:
            wrap_dim(dim, nd)
        d = None
        out_shape = [1] * nd if keepdim else []
    if d is None:
        srt = so.sort(sh.reshape(input, (-1,))).values
    elif d == nd - 1:
        srt = so.sort(input).values
    else:
        srt = so.sort(sh.transpose(sh.unsqueeze(input, -1), d, -1)).values
    n = srt._impl.shape[-1]
    srt = sh.reshape(srt, tuple(out_shape) + (n,))
    q1 = sh.reshape(qt, (-1,))  # (Q,)
    if ignore_nan:
        cnt = red.sum(cmp.logical_not(cmp.isnan(srt)), -1, True)
        ranks = ew.mul(q1, ew.sub(cnt, 1))
        ranks = pw.where(cmp.lt(ranks, 0), 0.0, ranks)
    else:
        last = n - 1
        anynan = red.any(cmp.isnan(srt), -1, True)
        ranks = ew.mul(q1, float(last))
        ranks, anynan = sh.broadcast_tensors(ranks, anynan)
        ranks = pw.where(anynan, float(last), ranks)
    if interpolation == "lower":
        ranks = ew.floor(ranks)
    elif interpolation == "higher":
        ranks = ew.ceil(ranks)
    elif interpolation == "nearest":
        ranks = ew.round(ranks)
    below = ranks.long()
    vals = ix.gather(srt, -1, below)
    if interpolation in ("linear", "midpoint"):
        weights = 0.5 if interpolation == "midpoint" else ew.sub(ranks, below)
        above = ew.ceil(ranks).long()
        vals = pw.lerp(vals, ix.gather(srt, -1, above), weights)
    if not isinstance(q, Tensor) or q._impl.ndim == 0:
        return sh.squeeze(vals, -1)
    return sh.movedim(vals, -1, 0)


@_amp_cast.fp32_op
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    r = _quantile(input, q, dim, keepdim, interpolation, False, "quantile")
    return _out(out, r)


@_amp_cast.fp32_op
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    r = _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")
    return _out(out, r)


def _out(out, r):
    if out is None:
        return r
    from ._dispatch import _write_out
    return _write_out(out, r)


def _mode_1d(v):
    """(index of the mode) of a 1-D numpy array, as PyTorch's CPU kernel: values sorted, the longest
    run of equal values wins (the first, i.e. smallest, among equally long runs; NaN never equals
    NaN), and the index is that of the value's last occurrence."""
    order = np.argsort(v, kind="stable")
    s = v[order]
    n = s.size
    best_len, best_end, run = 0, 0, 0
    for i in range(n):
        run += 1
        if i == n - 1 or not (s[i] == s[i + 1]):
            if run > best_len:
                best_len, best_end = run, i
            run = 0
    val = s[best_end]
    if val != val:  # a NaN run has length 1: its own index
        return int(order[best_end])
    return int(np.flatnonzero(v == val).max())


def mode(input, dim=-1, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim = _np.numpy_dim("mode", dim, axis, -1)
        keepdim = _np.numpy_keepdim("mode", keepdim, keepdims)
    _check_tensor(input, "mode")
    refuse_complex(input, '"mode_cpu" not implemented for \'{T}\'')
    nd = input._impl.ndim
    d = wrap_dim(dim, nd)
    if nd == 0:
        return red.return_types.mode(sh.clone(input), so._to_dev(np.zeros((), np.int64), input))
    shape = input._impl.shape
    out_shape = tuple(shape[:d]) + tuple(shape[d + 1:])
    n_out = int(np.prod(out_shape, dtype=np.int64))
    if shape[d] == 0 and n_out != 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size (input shape {list(shape)}).")
    if n_out == 0:
        idx = np.zeros(out_shape, np.int64)
    else:
        # (bfloat16, which numpy lacks, as float32: every value exact, so the same counts and order)
        host = so._host(input if input._impl.dtype != "bfloat16" else sh._to(input, "float32", input._impl.device))
        rows = np.moveaxis(host, d, -1).reshape(n_out, shape[d])
        idx = np.array([_mode_1d(row) for row in rows], dtype=np.int64).reshape(out_shape)
    idx_t = sh.unsqueeze(so._to_dev(idx, input), d)
    vals = ix.gather(input, d, idx_t)  # differentiable: the gradient goes to the chosen element
    if not keepdim:
        vals, idx_t = sh.squeeze(vals, d), sh.squeeze(idx_t, d)
    return red.return_types.mode(vals, idx_t)


# ---------------------------------------------------------------- isin, unravel_index, combinations
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): at least one of 'elements' and 'test_elements' must be a Tensor")
    like = elements if isinstance(elements, Tensor) else test_elements
    for x in (elements, test_elements):
        if isinstance(x, Tensor) and x._impl.dtype == "bool":
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    e = so._host(elements) if isinstance(elements, Tensor) else np.asarray(elements)
    t = so._host(test_elements) if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    r = np.isin(e, t, invert=bool(invert))
    return so._to_dev(np.asarray(r, dtype=np.bool_).reshape(e.shape), like)


def unravel_index(indices, shape):
    from .._creation import tensor
    if not isinstance(indices, Tensor):
        if isinstance(indices, numbers.Integral) and not isinstance(indices, bool):
            indices = tensor(int(indices))
        else:
            raise TypeError(f"unravel_index(): expected 'indices' to be a Tensor, got {type(indices).__name__}")
    if indices._impl.dtype not in _INT:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {_BY_NAME[indices._impl.dtype]}")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    elif isinstance(shape, (tuple, list, Size)):
        for s in shape:
            if not isinstance(s, numbers.Integral) or isinstance(s, bool):
                raise TypeError(f"expected 'shape' sequence to only contain ints, but got {type(s)}")
        shape = tuple(int(s) for s in shape)
    else:
        raise TypeError(f"expected 'shape' to be int or sequence of ints, but got {type(shape)}")
    if any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {tuple(shape)}")
    coefs = list(reversed(list(itertools.accumulate(reversed(shape[1:] + (1,)), lambda a, b: a * b))))
    dev = indices.device
    r = ew.remainder(ew.floor_divide(sh.unsqueeze(indices, -1), tensor(coefs, dtype=_BY_NAME["int64"], device=dev)),
                     tensor(list(shape), dtype=_BY_NAME["int64"], device=dev))
    return jn.unbind(r, -1)


def combinations(input, r=2, with_replacement=False):
    _check_tensor(input, "combinations")
    if input._impl.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input._impl.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    from .._creation import tensor
    if r == 0:
        return _wrap(_C.empty([0], input._impl.dtype, input._impl.device))
    n = input._impl.shape[0]
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(range(n), r)), dtype=np.int64).reshape(-1)
    rows = idx.size // r
    sel = ix.index_select(input, 0, tensor(idx, device=input.device))
    return sh.reshape(sel, (rows, r))


# ---------------------------------------------------------------- vander
def _powers(x, n):
    """[x^1 .. x^(n-1)] along a new last dim, by cumprod as PyTorch (int/bool promote to int64)."""
    if x._impl.dtype == "bool" or x._impl.dtype in _INT:
        x = _cast(x, "int64")
    shape = tuple(x._impl.shape) + (n - 1,)
    return so.cumprod(sh.expand(sh.unsqueeze(x, -1), *shape), -1)


def vander(x, N=None, increasing=False):
    _check_tensor(x, "vander", "x")
    if x._impl.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x._impl.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    from .._creation import ones
    dt = "int64" if x._impl.dtype == "bool" or x._impl.dtype in _INT else x._impl.dtype
    if n == 0:
        return _wrap(_C.empty([x._impl.shape[0], 0], dt, x._impl.device))
    first = ones(x._impl.shape[0], 1, dtype=_BY_NAME[dt], device=x.device)
    r = jn.cat([first, _powers(x, n)], 1) if n > 1 else first
    return r if increasing else jn.flip(r, (1,))


def linalg_vander(x, *, N=None):
    _check_tensor(x, "linalg.vander", "x")
    if x._impl.dtype == "bool":
        raise RuntimeError("linalg.vander supports floating point, complex, and integer tensors, but got Bool")
    x_ = sh.unsqueeze(x, -1) if x._impl.ndim == 0 else x
    n = x_._impl.shape[-1] if N is None else int(N)
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    from .._creation import ones
    p = _powers(x_, n)
    first = ones(*(tuple(x_._impl.shape) + (1,)), dtype=p.dtype, device=x.device)
    return jn.cat([first, p], -1)


# ---------------------------------------------------------------- hsplit, vsplit, dsplit
def _dir_split(input, sections, op, min_dim, dim):
    nd = input._impl.ndim
    if nd < min_dim:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dim} dimension, but got a tensor with "
                           f"{nd} dimensions!".replace("torch.", "flambeau."))
    if isinstance(sections, numbers.Integral) and not isinstance(sections, bool):
        size = input._impl.shape[dim]
        if sections == 0 or size % sections != 0:
            raise RuntimeError(f"flambeau.{op} attempted to split along dimension {dim}, but the size of the "
                               f"dimension {size} is not divisible by the split_size {sections}!")
    return tuple(jn.tensor_split(input, sections, dim))


def hsplit(input, indices_or_sections):
    nd = input._impl.ndim
    return _dir_split(input, indices_or_sections, "hsplit", 1, 0 if nd == 1 else 1)


def vsplit(input, indices_or_sections):
    return _dir_split(input, indices_or_sections, "vsplit", 2, 0)


def dsplit(input, indices_or_sections):
    return _dir_split(input, indices_or_sections, "dsplit", 3, 2)


# ---------------------------------------------------------------- pointwise composites
_M_180_PI = 57.295779513082320876798154814105170332405472466564
_M_PI_180 = 0.017453292519943295769236907684886127134428718885417


def rad2deg(input, *, out=None):
    return _out(out, ew.mul(_float_of(input), _M_180_PI))


def deg2rad(input, *, out=None):
    return _out(out, ew.mul(_float_of(input), _M_PI_180))


def rad2deg_(input):
    return _inplace(input, rad2deg)


def deg2rad_(input):
    return _inplace(input, deg2rad)


def _logit_bounds(x, eps):
    dt = np.float32 if x._impl.dtype == "float32" else np.float64
    lo = float(dt(eps))
    return lo, float(dt(1) - dt(eps))  # 1 - eps rounded as the kernel computes it, in the input's dtype


def _logit_value(x, eps):
    if eps is not None and eps >= 0:
        x = pw.clamp(x, *_logit_bounds(x, eps))
    return ew.log(ew.div(x, ew.rsub(x, 1.0)))


class _Logit(Function):
    """logit with PyTorch's logit_backward: g / (x (1 - x)), NaN outside [0, 1] without eps, and 0
    outside [eps, 1 - eps] with it (the clamp's side). The composite's chain rule gave a finite number
    outside [0, 1] and other roundings inside."""
    _grad_fn_name = "LogitBackward0"

    @staticmethod
    def forward(ctx, x, eps):
        ctx.eps = eps
        ctx.save_for_backward(x)
        return _logit_value(x, eps)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        eps = ctx.eps
        r = ew.div(g, ew.mul(x, ew.rsub(x, 1.0)))
        if eps is not None and eps >= 0:
            lo, hi = _logit_bounds(x, eps)
            return pw.where(cmp.logical_or(cmp.lt(x, lo), cmp.gt(x, hi)), 0.0, r), None
        return pw.where(cmp.logical_or(cmp.lt(x, 0.0), cmp.gt(x, 1.0)), float("nan"), r), None


def logit(input, eps=None, *, out=None):
    """log(z / (1 - z)) with z = input clamped to [eps, 1 - eps] when eps is given (and >= 0)."""
    x = _float_of(input)
    if _gs.enabled and x._rg:
        return _out(out, _Logit.apply(x, eps))
    return _out(out, _logit_value(x, eps))


def logit_(input, eps=None):
    return _inplace(input, logit, eps)


def _sinc_value(x):
    dt = x._impl.dtype
    if dt in ("float16", "bfloat16"):  # PyTorch computes in float32 and rounds once (each step rounded before)
        x = _cast(x, "float32")
    zero = cmp.eq(x, 0)
    px = ew.mul(pw.where(zero, 1.0, x), math.pi)
    return _cast(pw.where(zero, 1.0, ew.div(ew.sin(px), px)), dt)


class _Sinc(Function):
    """sinc with PyTorch's derivative, (pi x cos(pi x) - sin(pi x)) / (pi x x), 0 at x = 0, in its order
    of operations: the composite's chain rule (cos(px) pi / px - sin(px) pi / px^2) cancels differently
    near 0 (float32 at x = 8e-5: 1.5e-3 where PyTorch has 0). Its backward is built of differentiable
    ops, so second order follows PyTorch's too. float32 evaluates the derivative in float64 and rounds it
    once: near 0 the difference px cos(px) - sin(px) is all rounding error in float32 (PyTorch's gives 0 at
    x = 8e-5 where its cos rounds to 1, a correctly rounded cos gives -1.4e-3; the derivative is -2.7e-4)."""
    _grad_fn_name = "SincBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _sinc_value(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        dt = x._impl.dtype
        xd = _cast(x, "float64")
        px = ew.mul(xd, math.pi)
        d = ew.div(ew.sub(ew.mul(px, ew.cos(px)), ew.sin(px)), ew.mul(px, xd))
        return ew.mul(_cast(pw.where(cmp.eq(xd, 0), 0.0, d), dt), g)


def sinc(input, *, out=None):
    """sin(pi x) / (pi x), 1 at x = 0 (gradient 0 there, as PyTorch's)."""
    x = _float_of(input)
    if _gs.enabled and x._rg and x._impl.dtype in ("float32", "float64"):
        return _out(out, _Sinc.apply(x))
    return _out(out, _sinc_value(x))


def sinc_(input):
    return _inplace(input, sinc)


class _Heaviside(Function):
    @staticmethod
    def forward(ctx, input, values):
        return _heaviside_values(input.detach(), values.detach())

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("the derivative for 'heaviside' is not implemented.")


def _heaviside_values(input, values):
    r = pw.where(cmp.eq(input, 0), values, cmp.gt(input, 0))
    return _cast(r, input._impl.dtype)


def heaviside(input, values, *, out=None):
    _check_tensor(input, "heaviside")
    _check_tensor(values, "heaviside", "values")
    if input._impl.dtype != values._impl.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    if (input._rg or values._rg) and _gs.enabled:
        r = _Heaviside.apply(input, values)
    else:
        r = _heaviside_values(input, values)
    return _out(out, r)


def heaviside_(input, values):
    return _inplace(input, heaviside, values)


class _Copysign(Function):
    _builtin = True
    _grad_fn_name = "CopysignBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a._impl.shape, b._impl.shape)
        r = _copysign_values(a.detach(), b.detach())
        ctx.save_for_backward(a, r)
        return r

    @staticmethod
    def backward(ctx, g):
        a, r = ctx.saved_tensors
        sa, sb = ctx.shapes
        nig = ctx.needs_input_grad
        ga = gb = None
        if nig[0]:  # as PyTorch: grad * result / self, 0 where self == 0
            ratio = pw.where(cmp.eq(a, 0), 0.0, ew.div(r, a))
            ga = sh._sum_to(ew.mul(g, ratio), sa)
        if nig[1]:
            from .._creation import zeros
            gb = zeros(tuple(sb), dtype=g.dtype, device=g.device)
        return ga, gb


def _copysign_values(a, b):
    mag = ew.abs(a)
    return pw.where(cmp.signbit(b), ew.neg(mag), mag)


def copysign(input, other, *, out=None):
    _check_tensor(input, "copysign")
    if not isinstance(other, Tensor):
        if not isinstance(other, numbers.Number):
            raise TypeError(f"copysign(): argument 'other' must be Tensor or Number, not {type(other).__name__}")
        other = _wrap(_C.scalar_tensor(other, "float64" if isinstance(other, float) else
                                       ("bool" if isinstance(other, bool) else "int64"), input._impl.device))
        dt = result_type_names(input, other.item())
    else:
        dt = result_type_names(input, other)
    if dt not in _FLOAT:
        dt = _default_dtype[0]._name
    a, b = _cast(input, dt), _cast(other, dt)
    if (a._rg or b._rg) and _gs.enabled:
        r = _Copysign.apply(a, b)
    else:
        r = _copysign_values(a, b)
    return _out(out, r)


def copysign_(input, other):
    return _inplace(input, copysign, other)


def logaddexp2(input, other, *, out=None):
    """log2(2**input + 2**other), computed stably around the larger operand."""
    _check_tensor(input, "logaddexp2")
    _check_tensor(other, "logaddexp2", "other")
    dt = result_type_names(input, other)
    if dt not in _FLOAT:
        raise NotImplementedError(f"\"logaddexp2_cpu\" not implemented for '{_TYPE[dt]}'")
    a, b = _cast(input, dt), _cast(other, dt)
    m = ew.maximum(a, b).detach()
    m = pw.where(cmp.isfinite(m), m, 0.0)
    s = ew.add(pw.exp2(ew.sub(a, m)), pw.exp2(ew.sub(b, m)))
    return _out(out, ew.add(ew.log2(s), m))


def xlogy_(input, other):
    return _inplace(input, pw.xlogy, other)


def hypot_(input, other):
    return _inplace(input, pw.hypot, other)


def float_power_(input, exponent):
    if input._impl.dtype != "float64":
        raise RuntimeError(f"the base given to float_power_ has dtype {_TYPE[input._impl.dtype]} but the operation's "
                           "result requires dtype Double")
    return _inplace(input, ew.float_power, exponent)


def cumsum_(input, dim, *, dtype=None):
    import flambeau  # (the complex-routed scan: complex tensors raised)
    return _inplace(input, flambeau.cumsum, dim, dtype=dtype)


def cumprod_(input, dim, *, dtype=None):
    import flambeau
    return _inplace(input, flambeau.cumprod, dim, dtype=dtype)


# ---------------------------------------------------------------- fill_diagonal_, Tensor.new
def fill_diagonal_(self, fill_value, wrap=False):
    """The main diagonal (all indices equal) set to fill_value; for a tall matrix with wrap=True
    the diagonal restarts every ncols + 1 rows, as numpy's and PyTorch's (for contiguous input)."""
    shape = self._impl.shape
    nd = len(shape)
    if nd < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1 (got shape {list(shape)})")
    h, w = shape[0], shape[1]
    if nd > 2 and builtins.any(s != h for s in shape[1:]):
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length (got shape "
                           f"{list(shape)})")
    size = builtins.min(h, w)
    if wrap and nd == 2 and h > w + 1:
        step = w + 1
        flat = np.arange(0, h * w, step, dtype=np.int64)
        rows, cols = flat // w, flat % w
    else:
        rows = cols = np.arange(size, dtype=np.int64)
    if rows.size == 0:
        return self
    from .._creation import tensor
    from .._indexing import setitem
    dev = self.device
    r = tensor(rows, device=dev)
    idx = (r,) * nd if nd > 2 or rows is cols else (r, tensor(cols, device=dev))
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    setitem(self, idx, fill_value)
    return self


def new(self, *args, device=None):
    """Legacy Tensor.new: same dtype (and device) as self. new() is empty, new(2, 3) / new(Size)
    uninitialised of that shape, new(sequence) copies the data, new(tensor) aliases it."""
    from .._creation import tensor
    from .._dtype import _device_str
    dt = self._impl.dtype
    dev = self._impl.device if device is None else _device_str(device)
    if len(args) == 1 and isinstance(args[0], Tensor):
        src = args[0]
        if src._impl.dtype != dt:
            raise TypeError(f"new(): expected a tensor of dtype {_BY_NAME[dt]}, got {src.dtype}")
        return _wrap(src._impl)
    if len(args) == 1 and not isinstance(args[0], (numbers.Integral, Size)):
        data = args[0]
        if isinstance(data, numbers.Number):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return tensor(data, dtype=_BY_NAME[dt], device=dev)
    shape = parse_size(args, "new") if args else (0,)
    return _wrap(_C.empty(list(shape), dt, dev))


# ---------------------------------------------------------------- window functions
def _window_checks(name, window_length, dtype):
    dt = _default_dtype[0] if dtype is None else _to_dtype(dtype)
    if dt._name not in _FLOAT:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
    return dt


def _window(name, window_length, periodic, dtype, device, requires_grad, body):
    from .._creation import ones, arange, empty, _wants_meta, _on_meta
    dt = _window_checks(name, window_length, dtype)
    if _wants_meta(device):
        return _on_meta(empty(window_length, dtype=dt, device="cpu"), requires_grad)
    if window_length == 0:
        r = empty(0, dtype=dt, device=device)
    elif window_length == 1:
        r = ones(1, dtype=dt, device=device)
    else:
        n = window_length + 1 if periodic else window_length
        r = body(arange(n, dtype=dt, device=device), n)
        if periodic:
            r = sh.narrow(r, 0, 0, n - 1)
        r = sh.contiguous(r)
    if requires_grad:
        r.requires_grad_(True)
    return r


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   pin_memory=False, requires_grad=False):
    def body(t, n):
        return ew.add(ew.mul(ew.cos(ew.mul(t, math.pi * 2.0 / (n - 1))), -beta), alpha)
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad, body)


def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                requires_grad=False):
    _window_checks("hann_window", window_length, dtype)
    return hamming_window(window_length, periodic, 0.5, 0.5, dtype=dtype, device=device,
                          requires_grad=requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                    requires_grad=False):
    def body(t, n):
        w = ew.mul(t, math.pi / (n - 1))
        return ew.add(ew.sub(ew.mul(ew.cos(ew.mul(w, 4)), 0.08), ew.mul(ew.cos(ew.mul(w, 2)), 0.5)), 0.42)
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad, body)


def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False,
                    requires_grad=False):
    def body(t, n):
        w = ew.mul(t, 2.0 / (n - 1))
        half = ((n - 1) >> 1) + 1
        return jn.cat([sh.narrow(w, 0, 0, half), ew.rsub(sh.narrow(w, 0, half, n - half), 2.0)], 0)
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad, body)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  pin_memory=False, requires_grad=False):
    """I0(beta * sqrt(1 - ((k - a) / a)^2)) / I0(beta), a = (N - 1) / 2; computed in float64 with
    numpy's i0 (flambeau has no i0 kernel) and rounded to the dtype."""
    def body(t, n):
        a = (n - 1) / 2.0
        k = np.arange(n, dtype=np.float64)
        v = np.i0(beta * np.sqrt(np.abs(1 - ((k - a) / a) ** 2))) / np.i0(beta)
        from .._creation import tensor
        return tensor(v, dtype=t.dtype, device=t.device)
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad, body)


# ---------------------------------------------------------------- Tensor methods of nn ops
def prelu(input, weight):
    from ..nn import functional as F  # nn is imported after the core
    return F.prelu(input, weight)


def hardshrink(input, lambd=0.5):
    from ..nn import functional as F
    return F.hardshrink(input, lambd)


# Tensor methods bound by _tensor_methods.py.
TENSOR_METHODS = """ravel unfold diff cross kron cov corrcoef is_nonzero is_same_size is_inference sum_to_size
    new fill_diagonal_ quantile nanquantile mode hsplit vsplit dsplit rad2deg deg2rad rad2deg_ deg2rad_ logit
    logit_ sinc sinc_ heaviside heaviside_ copysign copysign_ logaddexp2 xlogy_ hypot_ float_power_ cumsum_
    cumprod_ squeeze_ unsqueeze_ t_ transpose_ swapaxes_ swapdims_ as_strided_ prelu hardshrink""".split()
