"""Order statistics: sort, argsort, topk, kthvalue, median, unique, searchsorted, bincount, histc,
and the scans cumprod, cummax, cummin.

CPU tensors use the C++ kernels (`_C.sort/topk/kthvalue/median/cumprod/cummax/cummin`,
csrc/cpu/sort.cpp and scan.cpp): stable, NaN counted as the largest value, ties resolved towards the
lower index. Other devices have no kernels yet: their *indices* are computed with numpy on a host
copy. Either way, when autograd is recording, the *values* are read with the differentiable `gather`
— which gives them the right gradient (scattered back to the chosen positions) for free.
"""
import math

import numpy as np

from . import _numpy_names as _np
from .. import _C
from .._tensor import Tensor, _wrap
from .._utils import wrap_dim
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .indexing import gather
from . import _dispatch as dsp
from .zero_link import LinkedIdentity, link_zero_to
from .reduction import return_types
from .shape import reshape, squeeze
from .._dtype import bool as _BOOL, _BY_NAME


def _on_cpu(t):
    return t._impl.device == "cpu"


def _picked(input, d, idx, v_impl):
    """The values chosen by `idx` along `d`: through `gather` when autograd records (for the gradient),
    else the kernel's own values."""
    if input._rg and _gs.enabled:
        return gather(input, d, idx)
    return _wrap(v_impl)


def _scan_picked(input, d, idx, v_impl):
    """cummax/cummin's values (_picked); an empty input: PyTorch's backward returns the input itself,
    so under create_graph=True that gradient requires grad (LinkedIdentity)."""
    if input._rg and _gs.enabled and input._impl.numel == 0:
        return LinkedIdentity.apply(input)
    return _picked(input, d, idx, v_impl)


def _host(t):
    impl = t._impl
    if impl.device != "cpu":
        impl = _C.to(impl, impl.dtype, "cpu", False)
    return _C.to_numpy(impl)


def _to_dev(arr, like):
    arr = np.asarray(arr)
    impl = _C.from_numpy(np.ascontiguousarray(arr).reshape(arr.shape))  # ascontiguousarray makes 0-d 1-d
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


def sort(input, dim=-1, descending=False, stable=False, *, out=None, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("sort", dim, axis, -1)
    if isinstance(dim, bool):  # sort(x, True) is sort(x, dim=-1, descending=True) in old code
        dim, descending = -1, dim
    nd = input._impl.ndim
    if nd == 0:
        return return_types.sort(input.clone(), _to_dev(np.zeros((), np.int64), input))
    d = wrap_dim(dim, nd)
    if _on_cpu(input):
        v, i = _C.sort(input._impl, d, bool(descending), bool(stable))
        idx = _wrap(i)
        return return_types.sort(_picked(input, d, idx, v), idx)
    idx = _to_dev(_order(_host(input), d, descending).astype(np.int64), input)
    return return_types.sort(gather(input, d, idx), idx)


def argsort(input, dim=-1, descending=False, stable=False, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("argsort", dim, axis, -1)
    nd = input._impl.ndim
    if nd == 0:
        return _to_dev(np.zeros((), np.int64), input)
    d = wrap_dim(dim, nd)
    if _on_cpu(input):
        return _wrap(_C.sort(input._impl, d, bool(descending), bool(stable))[1])
    return _to_dev(_order(_host(input), d, descending).astype(np.int64), input)


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None, axis=None):  # noqa: A002
    if axis is not None:
        dim = _np.numpy_dim("topk", dim, axis, -1)
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    if k < 0 or k > n:
        raise RuntimeError("selected index k out of range")
    if nd == 0:
        return return_types.topk(input.clone(), _to_dev(np.zeros((), np.int64), input))
    if _on_cpu(input):
        v, i = _C.topk(input._impl, int(k), d, bool(largest), bool(sorted))
        idx = _wrap(i)
        return return_types.topk(_picked(input, d, idx, v), idx)
    order = _order(_host(input), d, largest)
    idx = _to_dev(np.take(order, np.arange(k), axis=d).astype(np.int64), input)
    return return_types.topk(gather(input, d, idx), idx)


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim = _np.numpy_dim("kthvalue", dim, axis, -1)
        keepdim = _np.numpy_keepdim("kthvalue", keepdim, keepdims)
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    if n == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    if k < 1 or k > n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if nd == 0:
        return return_types.kthvalue(input.clone(), _to_dev(np.zeros((), np.int64), input))
    if _on_cpu(input):
        v, i = _C.kthvalue(input._impl, int(k), d, True)
        return _keepdim_result(input, d, _wrap(i), v, keepdim, return_types.kthvalue)
    order = _order(_host(input), d, False)
    idx = _to_dev(np.take(order, [k - 1], axis=d).astype(np.int64), input)
    vals = gather(input, d, idx)
    if not keepdim:
        vals, idx = squeeze(vals, d), squeeze(idx, d)
    return return_types.kthvalue(vals, idx)


def _keepdim_result(input, d, idx, v_impl, keepdim, rtype):
    """(values, indices) of a selection computed with keepdim=True, squeezed unless keepdim."""
    vals = _picked(input, d, idx, v_impl)
    if not keepdim:
        vals, idx = squeeze(vals, d), squeeze(idx, d)
    return rtype(vals, idx)


class _EvenlyDistribute(Function):
    """median() / nanmedian() over all elements under autograd: PyTorch's evenly_distribute_backward
    shares the gradient equally among all the elements equal to the result (NaN ones when it is NaN);
    the selection's own backward gave it all to the one element the kernel picked."""
    _grad_fn_name = "MedianBackward0"

    @staticmethod
    def forward(ctx, value, input):
        ctx.save_for_backward(input, value)
        return value

    @staticmethod
    def backward(ctx, g):
        from .compare import eq, isnan
        from .pointwise import where
        from .elementwise import div
        input, value = ctx.saved_tensors
        mask = isnan(input) if bool(isnan(value)) else eq(input, value)
        count = int(mask.sum())
        return None, where(mask, div(g, float(count)), 0.0)


def _median(input, dim, keepdim, ignore_nan):
    name = "nanmedian" if ignore_nan else "median"
    rtype = getattr(return_types, name)
    if dim is None:
        flat = reshape(input, (-1,))
        n = flat._impl.shape[0]
        if n == 0:  # NaN, converted to an integer dtype as x86 converts it (PyTorch fills NaN)
            from .. import _creation
            fill = _EMPTY_MEDIAN.get(input._impl.dtype, float("nan"))
            # in input's graph (an empty gradient), as PyTorch's
            return link_zero_to(_creation.full((), fill, dtype=input.dtype, device=input.device), input)
        if _gs.enabled and input._rg:
            return _EvenlyDistribute.apply(_median(input.detach(), None, keepdim, ignore_nan), input)
        if _on_cpu(input):
            return reshape(_median(flat, 0, False, ignore_nan)[0], ())
        return reshape(kthvalue(flat, (n - 1) // 2 + 1).values, ())
    nd = input._impl.ndim
    d = wrap_dim(dim, nd) if nd else 0
    n = input._impl.shape[d] if nd else 1
    if n == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    if _on_cpu(input) and nd:
        v, i = _C.median(input._impl, d, True, ignore_nan)
        return _keepdim_result(input, d, _wrap(i), v, keepdim, rtype)
    r = kthvalue(input, (n - 1) // 2 + 1, d if nd else 0, keepdim)
    return rtype(r[0], r[1])


_EMPTY_MEDIAN = {"int64": -2 ** 63, "int32": -2 ** 31, "int16": 0, "int8": 0, "uint8": 0, "bool": True}


def median(input, dim=None, keepdim=False, *, out=None, axis=None, keepdims=None):
    """The lower median (PyTorch's definition); a NaN in a slice makes its median NaN (at the first
    NaN). With dim returns (values, indices)."""
    if axis is not None or keepdims is not None:
        dim = _np.numpy_dim("median", dim, axis, None)
        keepdim = _np.numpy_keepdim("median", keepdim, keepdims)
    if dim is not None or input._impl.numel:  # (an empty one is NaN before PyTorch looks at the dtype)
        dsp.refuse_complex(input, '"median_cpu" not implemented for \'{T}\'' if dim is None else
                           '"median_out" not implemented for \'{T}\'')
    return _median(input, dim, keepdim, False)


def nanmedian(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """median ignoring NaNs (NaN only where a slice is all NaN). The host path (non-CPU devices)
    does not ignore them yet."""
    if axis is not None or keepdims is not None:
        dim = _np.numpy_dim("nanmedian", dim, axis, None)
        keepdim = _np.numpy_keepdim("nanmedian", keepdim, keepdims)
    if dim is not None or input._impl.numel:  # (an empty one is NaN before PyTorch looks at the dtype)
        dsp.refuse_complex(input, '"median_cpu" not implemented for \'{T}\'' if dim is None else
                           '"median_out" not implemented for \'{T}\'')
    return _median(input, dim, keepdim, True)


_UNIQUE_SORT_MIN = 8192


def _unique_flat(input, return_inverse, return_counts):
    """unique of the flattened input from flambeau's own sort (a radix sort for long rows): the sorted
    values, a mask of where each run of equal values starts, the runs' starts and lengths, and the
    inverse map scattered back through the sort's permutation. As PyTorch, NaNs never compare equal,
    so each NaN is its own value (np.unique, used before, merged them)."""
    from .shape import reshape as _reshape
    from .join import cat
    from .indexing import nonzero
    from .. import _creation as cr
    flat = _reshape(input.detach(), (-1,))
    n = flat._impl.shape[0]
    s, perm = sort(flat, stable=True)
    if n:
        keep = cat([cr.ones(1, dtype=_BOOL, device=input.device), s[1:] != s[:-1]])
    else:
        keep = cr.zeros(0, dtype=_BOOL, device=input.device)
    vals = s[keep]
    if not (return_inverse or return_counts):
        return vals
    out = [vals]
    if return_inverse:
        run = keep.long().cumsum(0) - 1          # run index of each sorted position
        inv = cr.empty(n, dtype=run.dtype, device=input.device)
        inv[perm] = run
        out.append(_reshape(inv, input._impl.shape))
    if return_counts:
        starts = nonzero(keep).reshape(-1)
        ends = cat([starts[1:], cr.tensor([n], dtype=starts.dtype, device=input.device)])
        out.append(ends - starts)
    return tuple(out)


class _NoDerivative(Function):
    """Links unique's values to its input with PyTorch's "not implemented" derivative: there the values
    require grad (so `.backward()` on them reaches the op and raises naming it, rather than failing
    with "does not require grad"), as its derivatives.yaml declares `self: not_implemented(...)`."""

    _builtin = True

    @staticmethod
    def forward(ctx, input, values, name):
        ctx.name = name
        return values

    @staticmethod
    def backward(ctx, g):
        raise NotImplementedError(f"the derivative for '{ctx.name}' is not implemented.")


def _link_values(input, res, name):
    """res (values, or a tuple whose first item is the values) with the values joined to input's graph."""
    if not (_gs.enabled and input._rg):
        return res
    if isinstance(res, tuple):
        return (_NoDerivative.apply(input, res[0], name),) + tuple(res[1:])
    return _NoDerivative.apply(input, res, name)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    return _link_values(input, _unique(input, return_inverse, return_counts, dim),
                        "_unique2" if dim is None else "unique_dim")


def _unique(input, return_inverse, return_counts, dim):
    # Large CPU inputs: flambeau's sort (np.unique of 64K int64: 0.42x PyTorch, this way 0.6x); small
    # ones and dim= through numpy, whose per-call cost is lower there. NaNs stay distinct either way.
    if dim is None and input._impl.device == "cpu" and input.numel() >= _UNIQUE_SORT_MIN:
        return _unique_flat(input, return_inverse, return_counts)
    arr = _host_float(input)  # bfloat16 as float32: exact, and converted back below
    res = np.unique(arr if dim is None else arr, return_inverse=return_inverse, return_counts=return_counts,
                    axis=None if dim is None else wrap_dim(dim, arr.ndim), equal_nan=False)
    if not (return_inverse or return_counts):
        return _same_dtype(_to_dev(res, input), input)
    out = [_same_dtype(_to_dev(res[0], input), input)]
    k = 1
    if return_inverse:
        inv = res[k].astype(np.int64)
        out.append(_to_dev(inv.reshape(arr.shape) if dim is None else inv, input))
        k += 1
    if return_counts:
        out.append(_to_dev(res[k].astype(np.int64), input))
    return tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    return _link_values(input, _unique_consecutive(input, return_inverse, return_counts, dim), "unique_consecutive")


def _unique_consecutive(input, return_inverse, return_counts, dim):
    if dim is not None:
        raise NotImplementedError("unique_consecutive(dim=...) is not supported by flambeau")
    arr = _host_float(input).reshape(-1)  # bfloat16 as float32: exact, and converted back below
    if arr.size == 0:
        keep = np.zeros(0, bool)
    else:
        keep = np.concatenate(([True], arr[1:] != arr[:-1]))
    vals = arr[keep]
    out = [_same_dtype(_to_dev(vals, input), input)]
    if return_inverse:
        out.append(_to_dev((np.cumsum(keep) - 1).astype(np.int64).reshape(input._impl.shape), input))
    if return_counts:
        starts = np.flatnonzero(keep)
        out.append(_to_dev(np.diff(np.append(starts, arr.size)).astype(np.int64), input))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """PyTorch's checks and its binary search: `!(mid >= v)` (left) or `!(mid > v)` (right) moves the
    lower end up, so NaNs (which compare false) and a NaN-ended sequence give PyTorch's positions, not
    numpy's. Both operands compared in their promoted dtype."""
    from .._promote import result_type_names
    op = "torch.searchsorted()"
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{op}: side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError(f"{op}: side and right can't be set to opposites, got side of left while right was True")
        right = side == "right"
    seq_shape = tuple(sorted_sequence._impl.shape)
    if not seq_shape:
        raise RuntimeError(f"{op}: boundaries tensor should have positive dimension, but got 0 dimension")
    scalar = not isinstance(input, Tensor)
    val_shape = () if scalar else tuple(input._impl.shape)
    if scalar and len(seq_shape) != 1:
        raise RuntimeError(f"{op}: input value can be a scalar only when boundaries tensor dimension is 1, but we "
                           f"got boundaries tensor dim({len(seq_shape)}) and input value's dim(0) numel(1)")
    if len(seq_shape) != 1 and seq_shape[:-1] != val_shape[:-1]:
        raise RuntimeError(f"{op}: boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries "
                           f"tensor and input value tensor must match, but we got boundaries tensor {list(seq_shape)} "
                           f"and input value tensor {list(val_shape)}")
    if sorter is not None and tuple(sorter._impl.shape) != seq_shape:
        raise RuntimeError(f"{op}: boundary and sorter must have the same size, but got boundary tensor "
                           f"{list(seq_shape)}and got sorter tensor {list(sorter._impl.shape)}")
    common = result_type_names(sorted_sequence, input)
    seq = _host_float(sorted_sequence.to(_BY_NAME[common]))
    if sorter is not None:
        srt = _host(sorter).astype(np.int64)
        n = seq_shape[-1]
        if srt.size and (srt.min() < 0 or srt.max() >= n):
            raise RuntimeError(f"{op}: sorter index out of range")
        seq = np.take_along_axis(seq, srt, axis=-1)
    if scalar:
        vals = np.asarray(input, dtype=seq.dtype)
    else:
        vals = _host_float(input.to(_BY_NAME[common]))
    res = _binary_search(seq, vals, right)
    return _to_dev(res.astype(np.int32 if out_int32 else np.int64), sorted_sequence)


def _binary_search(seq, vals, right):
    """PyTorch's cus_lower_bound/cus_upper_bound on every value at once (seq: 1-D, or rows matching
    vals' leading dims)."""
    n = seq.shape[-1]
    start = np.zeros(vals.shape, np.int64)
    end = np.full(vals.shape, n, np.int64)
    if n == 0 or vals.size == 0:
        return start
    with np.errstate(invalid="ignore"):
        while True:
            active = start < end
            if not active.any():
                return start
            mid = start + ((end - start) >> 1)
            m = np.minimum(mid, n - 1)
            midv = seq[m] if seq.ndim == 1 else np.take_along_axis(seq, m, axis=-1)
            up = ~(midv > vals) if right else ~(midv >= vals)
            start = np.where(active & up, mid + 1, start)
            end = np.where(active & ~up, mid, end)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    if boundaries._impl.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries._impl.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def bincount(input, weights=None, minlength=0):
    # PyTorch's checks and words (numpy's own errors, or a count of bools, came through before)
    dt = input._impl.dtype
    if dt not in ("uint8", "int8", "int16", "int32", "int64"):
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{dsp._TORCH_TYPE_NAMES[dt]}'")
    if minlength < 0:
        raise RuntimeError(f"minlength should be >= 0 (bincount got {minlength})")
    if input._impl.ndim != 1:
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs. (got shape {list(input.shape)})")
    if weights is not None and (weights._impl.ndim != 1 or weights._impl.shape[0] != input._impl.shape[0]):
        raise RuntimeError(f"weights should be 1-d and have the same length as input (bincount of shape "
                           f"{list(input.shape)} with weights of shape {list(weights.shape)})")
    arr = _host(input)
    if arr.size and arr.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = _host(weights) if weights is not None else None
    res = np.bincount(arr, weights=w, minlength=minlength)
    if w is None:
        res = res.astype(np.int64)
    elif weights._impl.dtype == "float32":
        res = res.astype(np.float32)
    return _to_dev(res, input)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    # PyTorch's argument checks (bins <= 0 made np.bincount fail or returned an empty tensor; max < min
    # counted nothing instead of raising; an infinite data range gave NaN bin positions)
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, but got {bins} (input of shape {list(input.shape)})")
    if float(min) > float(max):
        raise RuntimeError(f"histc: max must be larger than min (got min={min}, max={max})")
    dt = input._impl.dtype
    arr = _host_float(input).astype(np.float64).reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and arr.size:
        lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"histc: range of [{lo:g}, {hi:g}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    # PyTorch's kernel: bin = int((x - lo) * bins / (hi - lo)) in the input's floating dtype, each
    # operation rounded to it (c10::Half/BFloat16 arithmetic rounds every result; numpy's float64
    # edges put values next to an edge in the other bin), the last edge inclusive; the counts in
    # the input's dtype (float16 gave float32 counts)
    rnd = _ROUND.get(dt, _ROUND["float32"])
    x = rnd(arr)
    lo_t, hi_t = rnd(np.float64(lo)), rnd(np.float64(hi))
    sel = x[(x >= lo_t) & (x <= hi_t)]
    pos = rnd(rnd(rnd(sel - lo_t) * bins) / rnd(hi_t - lo_t)).astype(np.int64)
    counts = np.bincount(np.clip(pos, 0, bins - 1), minlength=bins).astype(np.float64)
    return _to_dev(counts.astype(np.float32 if dt in ("bfloat16", "float16") else np.float64), input).to(
        input.dtype if dt in _FLOATS else _BY_NAME["float32"])


def _round_bf16(a):
    """float64 values rounded to bfloat16 (nearest even), as float64."""
    b = np.asarray(a, np.float64).astype(np.float32)
    u = b.view(np.uint32).astype(np.uint64)
    nan = np.isnan(b)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    r = u.view(np.float32).astype(np.float64)
    return np.where(nan, np.nan, r)


_ROUND = {"float64": lambda a: np.asarray(a, np.float64),
          "float32": lambda a: np.asarray(a, np.float64).astype(np.float32).astype(np.float64),
          "float16": lambda a: np.asarray(a, np.float64).astype(np.float16).astype(np.float64),
          "bfloat16": _round_bf16}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _same_dtype(r, like):
    """r converted back to like's dtype where the host copy widened it (bfloat16)."""
    return r.to(like.dtype) if r._impl.dtype != like._impl.dtype else r


def _host_float(t):
    """_host, with bfloat16 (which numpy lacks) as float32."""
    if t._impl.dtype == "bfloat16":
        return _host(t.float())
    return _host(t)


def cumprod(input, dim=_np.REQUIRED, *, dtype=None, axis=None):
    """Cumulative product. CPU: `_C.cumprod` (float32 accumulated in double, as PyTorch), gradient by
    `Cumprod` (exact with zeros). Other devices: exact values from numpy, differentiable where the
    input has no zeros (via exp of cumsum of log|x| with the sign tracked separately)."""
    if axis is not None or dim is _np.REQUIRED:
        dim = _np.numpy_dim("cumprod", dim, axis, _np.REQUIRED)
    from . import elementwise as ew
    from .reduction import cumsum
    from ..autograd.grad_mode import _state
    if dtype is not None:
        input = input.to(dtype)
    d = wrap_dim(dim, input._impl.ndim) if input._impl.ndim else 0
    if _on_cpu(input):
        if input._rg and _state.enabled:
            return Cumprod.apply(input, d)
        from .reduction import _narrow_dtype
        return _narrow_dtype(_wrap(_C.cumprod(input._impl, d)), dtype)
    exact = _to_dev(np.cumprod(_host(input), axis=d) if input._impl.ndim else _host(input).copy(), input)
    if not (input._rg and _state.enabled):
        return exact
    # Differentiable surrogate with the exact forward value: r = sign * exp(cumsum(log|x|)) has the
    # right derivative (the sign is piecewise constant), and exact + (r - r.detach()) has r's gradient.
    s = ew.exp(cumsum(ew.log(ew.abs(input)), d))
    r = ew.mul(s, ew.div(exact, s).detach())
    return ew.add(exact, ew.sub(r, r.detach()))


class Cumprod(Function):
    """y = cumprod(x) along d (CPU). Where x has no zeros: PyTorch's sum_{i>=k}(g*y)_i / x_k (differentiable
    ops; the same bits as PyTorch's, overflows included: the O(n) recurrence in double gave a finite or inf
    gradient where PyTorch's is NaN). With zeros: `_C.cumprod_backward`, an O(n) recurrence that is exact
    there, or under create_graph PyTorch's O(n^2) product-omitting formula (_cumprod_grad_with_zeros).
    One element or none along d: the gradient is g itself, as PyTorch's."""
    _builtin = True
    _grad_fn_name = "CumprodBackward0"

    @staticmethod
    def forward(ctx, x, d):
        ctx.d = d
        ctx.save_for_backward(x)
        return _wrap(_C.cumprod(x._impl, d))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        d = ctx.d
        if x._impl.numel <= 1 or x._impl.shape[d] == 1:
            return g, None
        zero = _has_zero(x)
        if _gs.enabled and zero:
            return _cumprod_grad_with_zeros(g, x, d), None
        if not zero:  # PyTorch's formula, for its bits (an overflowing product gives its inf and NaN)
            from . import elementwise as ew
            gy = ew.mul(g, cumprod(x, d))
            return ew.div(_flip_cumsum(gy, d), x), None
        return _wrap(_C.cumprod_backward(g._impl, x._impl, d)), None


def _cumprod_grad_with_zeros(g, x, d):
    """cumprod's gradient where x has zeros, from differentiable ops (create_graph=True): PyTorch's
    O(n^2) formula, gx_k = sum_{i>=k} g_i * prod_{j<=i, j!=k} x_j (conjugated for complex x)."""
    from . import elementwise as ew
    from .reduction import prod, sum as _sum
    from .join import cat, stack
    from .shape import narrow
    if x.is_complex():
        x = x.conj()
    n = x._impl.shape[d]
    cols = []
    for k in range(n):
        after = cumprod(narrow(x, d, k + 1, n - k - 1), d)     # prod_{k<j<=i} x_j for i > k
        if k == 0:
            shape = list(x._impl.shape)
            shape[d] = 1
            ones = _wrap(_C.full(shape, 1, x._impl.dtype, x._impl.device))
            omitted = cat([ones, after], d)
        else:
            before = prod(narrow(x, d, 0, k), d, keepdim=True)  # prod_{j<k} x_j
            omitted = cat([before, ew.mul(before, after)], d)
        cols.append(_sum(ew.mul(narrow(g, d, k, n - k), omitted), d))
    return stack(cols, d)


def _has_zero(x):
    z = _C.eq(x._impl, _C.full([], 0, x._impl.dtype, x._impl.device))
    return bool(_C.to_numpy(_C.any(z, [], False)))


def _flip_cumsum(t, d):
    """sum over i >= k along d (reversed cumsum), differentiable."""
    from .reduction import Cumsum
    return Cumsum.apply(t, d, True)


def _scalar_dim(op, dim):
    """A 0-d input's scan dim: PyTorch takes -1 or 0 only."""
    if dim not in (-1, 0):
        raise IndexError(f"{op}(): Expected reduction dim -1 or 0 for scalar but got {dim}")
    return 0


def cummax(input, dim=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED:
        dim = _np.numpy_dim("cummax", dim, axis, _np.REQUIRED)
    d = wrap_dim(dim, input._impl.ndim) if input._impl.ndim else _scalar_dim("cummax", dim)
    if _on_cpu(input):
        v, i = _C.cummax(input._impl, d)
        idx = _wrap(i)
        return return_types.cummax(_scan_picked(input, d, idx, v), idx)
    arr = _host(input)
    vals = np.maximum.accumulate(arr, axis=d)
    n = arr.shape[d]
    pos = np.arange(n).reshape([-1 if i == d else 1 for i in range(arr.ndim)])
    hit = np.where(arr == vals, pos, -1)
    idx = np.maximum.accumulate(hit, axis=d).astype(np.int64)
    idx_t = _to_dev(idx, input)
    return return_types.cummax(gather(input, d, idx_t), idx_t)


def cummin(input, dim=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED:
        dim = _np.numpy_dim("cummin", dim, axis, _np.REQUIRED)
    d = wrap_dim(dim, input._impl.ndim) if input._impl.ndim else _scalar_dim("cummin", dim)
    if _on_cpu(input):
        v, i = _C.cummin(input._impl, d)
        idx = _wrap(i)
        return return_types.cummin(_scan_picked(input, d, idx, v), idx)
    arr = _host(input)
    vals = np.minimum.accumulate(arr, axis=d)
    n = arr.shape[d]
    pos = np.arange(n).reshape([-1 if i == d else 1 for i in range(arr.ndim)])
    hit = np.where(arr == vals, pos, -1)
    idx_t = _to_dev(np.maximum.accumulate(hit, axis=d).astype(np.int64), input)
    return return_types.cummin(gather(input, d, idx_t), idx_t)
