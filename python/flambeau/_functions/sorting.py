"""Order statistics: sort, argsort, topk, kthvalue, median, unique, searchsorted, bincount, histc.

`_C` has no sorting kernels, so the *indices* are computed with numpy on a host copy (these ops
are data-dependent and rarely hot), and the *values* are then read with the differentiable
`gather` — which gives them the right gradient (scattered back to the chosen positions) for free.
"""
import numpy as np

from .. import _C
from .._tensor import Tensor, _wrap
from .._utils import wrap_dim
from .indexing import gather
from .reduction import return_types
from .shape import reshape, squeeze


def _host(t):
    impl = t._impl
    if impl.device != "cpu":
        impl = _C.to(impl, impl.dtype, "cpu", False)
    return _C.to_numpy(impl)


def _to_dev(arr, like):
    impl = _C.from_numpy(np.ascontiguousarray(arr))
    dev = like._impl.device
    if dev != "cpu":
        impl = _C.to(impl, impl.dtype, dev, False)
    return _wrap(impl)


def _order(x, axis, descending):
    """Stable argsort along axis; NaN counts as the largest value (PyTorch's convention)."""
    if x.dtype == np.bool_:
        x = x.astype(np.int8)
    if descending:
        if x.dtype.kind == "f":
            key = np.where(np.isnan(x), -np.inf, -x)
            idx = np.argsort(key, axis=axis, kind="stable")
            # -inf from NaN ties with real -(+inf); put NaNs first among them as PyTorch does.
            return idx
        return np.argsort(-x.astype(np.int64) if x.dtype != np.int64 else np.negative(x), axis=axis, kind="stable")
    return np.argsort(x, axis=axis, kind="stable")


def sort(input, dim=-1, descending=False, stable=False, *, out=None):
    if isinstance(dim, bool):  # sort(x, True) is sort(x, dim=-1, descending=True) in old code
        dim, descending = -1, dim
    nd = input._impl.ndim
    if nd == 0:
        return return_types.sort(input.clone(), _to_dev(np.zeros((), np.int64), input))
    d = wrap_dim(dim, nd)
    idx = _to_dev(_order(_host(input), d, descending).astype(np.int64), input)
    return return_types.sort(gather(input, d, idx), idx)


def argsort(input, dim=-1, descending=False, stable=False):
    nd = input._impl.ndim
    if nd == 0:
        return _to_dev(np.zeros((), np.int64), input)
    d = wrap_dim(dim, nd)
    return _to_dev(_order(_host(input), d, descending).astype(np.int64), input)


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):  # noqa: A002
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    if k < 0 or k > n:
        raise RuntimeError("selected index k out of range")
    if nd == 0:
        return return_types.topk(input.clone(), _to_dev(np.zeros((), np.int64), input))
    order = _order(_host(input), d, largest)
    idx = _to_dev(np.take(order, np.arange(k), axis=d).astype(np.int64), input)
    return return_types.topk(gather(input, d, idx), idx)


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    if k < 1 or k > n:
        raise IndexError(f"kthvalue(): selected number k out of range for dimension {d}")
    if nd == 0:
        return return_types.kthvalue(input.clone(), _to_dev(np.zeros((), np.int64), input))
    order = _order(_host(input), d, False)
    idx = _to_dev(np.take(order, [k - 1], axis=d).astype(np.int64), input)
    vals = gather(input, d, idx)
    if not keepdim:
        vals, idx = squeeze(vals, d), squeeze(idx, d)
    return return_types.kthvalue(vals, idx)


def median(input, dim=None, keepdim=False, *, out=None):
    """The lower median (PyTorch's definition); with dim returns (values, indices)."""
    if dim is None:
        flat = reshape(input, (-1,))
        n = flat._impl.shape[0]
        if n == 0:
            from .. import _creation
            return _creation.full((), float("nan"), dtype=input.dtype, device=input.device)
        return reshape(kthvalue(flat, (n - 1) // 2 + 1).values, ())
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    r = kthvalue(input, (n - 1) // 2 + 1, d if nd else 0, keepdim)
    return return_types.median(r[0], r[1])


def nanmedian(input, dim=None, keepdim=False):
    return median(input, dim, keepdim)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    arr = _host(input)
    res = np.unique(arr if dim is None else arr, return_inverse=return_inverse, return_counts=return_counts,
                    axis=None if dim is None else wrap_dim(dim, arr.ndim))
    if not (return_inverse or return_counts):
        return _to_dev(res, input)
    out = [_to_dev(res[0], input)]
    k = 1
    if return_inverse:
        inv = res[k].astype(np.int64)
        out.append(_to_dev(inv.reshape(arr.shape) if dim is None else inv, input))
        k += 1
    if return_counts:
        out.append(_to_dev(res[k].astype(np.int64), input))
    return tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        raise NotImplementedError("unique_consecutive(dim=...) is not supported by flambeau")
    arr = _host(input).reshape(-1)
    if arr.size == 0:
        keep = np.zeros(0, bool)
    else:
        keep = np.concatenate(([True], arr[1:] != arr[:-1]))
    vals = arr[keep]
    out = [_to_dev(vals, input)]
    if return_inverse:
        out.append(_to_dev((np.cumsum(keep) - 1).astype(np.int64).reshape(_host(input).shape), input))
    if return_counts:
        starts = np.flatnonzero(keep)
        out.append(_to_dev(np.diff(np.append(starts, arr.size)).astype(np.int64), input))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    if side is not None:
        right = side == "right"
    seq = _host(sorted_sequence)
    vals = _host(input) if isinstance(input, Tensor) else np.asarray(input)
    s = "right" if right else "left"
    if seq.ndim == 1:
        res = np.searchsorted(seq, vals, side=s)
    else:
        res = np.stack([np.searchsorted(seq[i], vals[i], side=s)
                        for i in np.ndindex(*seq.shape[:-1])]).reshape(vals.shape)
    return _to_dev(res.astype(np.int64), sorted_sequence)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    return searchsorted(boundaries, input, right=right)


def bincount(input, weights=None, minlength=0):
    arr = _host(input)
    if arr.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = _host(weights) if weights is not None else None
    res = np.bincount(arr, weights=w, minlength=minlength)
    if w is None:
        res = res.astype(np.int64)
    elif weights._impl.dtype == "float32":
        res = res.astype(np.float32)
    return _to_dev(res, input)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    arr = _host(input).astype(np.float64).reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and arr.size:
        lo, hi = float(arr.min()), float(arr.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    counts, _ = np.histogram(arr[(arr >= lo) & (arr <= hi)], bins=bins, range=(lo, hi))
    return _to_dev(counts.astype(_host(input).dtype if input._impl.dtype in ("float32", "float64") else np.float32), input)


def cumprod(input, dim, *, dtype=None):
    """Cumulative product. Differentiable where the input has no zeros (via exp of cumsum of log|x|
    with the sign tracked separately); exact values come from numpy."""
    from . import elementwise as ew
    from .reduction import cumsum
    from ..autograd.grad_mode import _state
    if dtype is not None:
        input = input.to(dtype)
    d = wrap_dim(dim, input._impl.ndim) if input._impl.ndim else 0
    exact = _to_dev(np.cumprod(_host(input), axis=d) if input._impl.ndim else _host(input).copy(), input)
    if not (input._rg and _state.enabled):
        return exact
    # Differentiable surrogate with the exact forward value: r = sign * exp(cumsum(log|x|)) has the
    # right derivative (the sign is piecewise constant), and exact + (r - r.detach()) has r's gradient.
    s = ew.exp(cumsum(ew.log(ew.abs(input)), d))
    r = ew.mul(s, ew.div(exact, s).detach())
    return ew.add(exact, ew.sub(r, r.detach()))


def cummax(input, dim):
    d = wrap_dim(dim, input._impl.ndim)
    arr = _host(input)
    vals = np.maximum.accumulate(arr, axis=d)
    n = arr.shape[d]
    pos = np.arange(n).reshape([-1 if i == d else 1 for i in range(arr.ndim)])
    hit = np.where(arr == vals, pos, -1)
    idx = np.maximum.accumulate(hit, axis=d).astype(np.int64)
    idx_t = _to_dev(idx, input)
    return return_types.cummax(gather(input, d, idx_t), idx_t)


def cummin(input, dim):
    d = wrap_dim(dim, input._impl.ndim)
    arr = _host(input)
    vals = np.minimum.accumulate(arr, axis=d)
    n = arr.shape[d]
    pos = np.arange(n).reshape([-1 if i == d else 1 for i in range(arr.ndim)])
    hit = np.where(arr == vals, pos, -1)
    idx_t = _to_dev(np.maximum.accumulate(hit, axis=d).astype(np.int64), input)
    return return_types.cummin(gather(input, d, idx_t), idx_t)
