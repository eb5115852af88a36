"""scatter_reduce and index_reduce: the combining step is one kernel (_C.scatter_reduce_ with "sum",
"prod", "amax", "amin" or "assign": csrc/cpu/index.cpp, scattered in the index's row-major order, so the
bits do not depend on the thread count); include_self=False first writes the reduction's identity to
every position the index reaches, and "mean" is a sum divided by the count of terms (floor division
for int64, as PyTorch).

Gradients follow PyTorch's scatter_reduce_backward: sum and mean pass the gradient through gather;
amax/amin share it evenly between every value (of self and of src) equal to the result; prod divides
the result by each factor, with a zero factor's gradient taken as the product of the others.
"""
import math

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs, no_grad
from ._dispatch import _TORCH_TYPE_NAMES
from . import _numpy_names as _np
from .._promote import _INT, _INT_LIMITS


_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_IDENTITY = {"sum": 0, "mean": 0, "prod": 1}
_ALIASES = {"max": "amax", "min": "amin"}  # PyTorch accepts these too


def _identity(reduce, dtype):
    if reduce in _IDENTITY:
        return _IDENTITY[reduce]
    if dtype in _INT_LIMITS:  # the narrow integers: their own limits
        lo, hi = _INT_LIMITS[dtype]
        return lo if reduce == "amax" else hi
    if dtype == "int64":
        return -(2 ** 63) if reduce == "amax" else 2 ** 63 - 1
    return -math.inf if reduce == "amax" else math.inf


def _forward(x, dim, index, src, reduce, include_self):
    """The result and, for mean, the count of terms per position (as x's dtype)."""
    xi = x._impl
    out = _C.clone(xi)
    if not include_self:
        fill = _C.full(list(src._impl.shape), _identity(reduce, xi.dtype), xi.dtype, xi.device)
        _C.scatter_reduce_(out, dim, index._impl, fill, "assign")
    _C.scatter_reduce_(out, dim, index._impl, src._impl, "sum" if reduce == "mean" else reduce)
    count = None
    if reduce == "mean":
        count = _C.full(list(xi.shape), 1 if include_self else 0, xi.dtype, xi.device)
        _C.scatter_add_(count, dim, index._impl, _C.full(list(src._impl.shape), 1, xi.dtype, xi.device))
        count = _C.clamp(count, 1, None)  # untouched positions (count 0) keep their value
        out = _C.floor_divide(out, count) if xi.dtype in _INT else _C.div(out, count)
    return out, count


class ScatterReduce(Function):
    _grad_fn_name = "ScatterReduceBackward0"

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce, include_self):
        out, count = _forward(x, dim, index, src, reduce, include_self)
        y = _wrap(out)
        ctx.args = (dim, reduce, include_self)
        ctx.count = None if count is None else _wrap(count)
        ctx.save_for_backward(x, index, src, y)
        return y

    @staticmethod
    def backward(ctx, g):
        from . import elementwise as ew, compare as cmp, indexing as ix
        x, index, src, y = ctx.saved_tensors
        dim, reduce, include_self = ctx.args
        with no_grad():
            zeros = ew.mul(g, 0.0)
        if reduce == "sum":
            gx, gs = g, ix.gather(g, dim, index)
        elif reduce == "mean":
            gx = ew.div(g, ctx.count)
            gs = ix.gather(gx, dim, index)
        elif reduce in ("amax", "amin"):
            # Every value equal to the result gets an equal share of its gradient (self's equality
            # counts even when include_self=False, as in PyTorch; its share is then dropped below).
            self_hit = cmp.eq(x, y).to(g.dtype)
            src_hit = cmp.eq(src, ix.gather(y, dim, index)).to(g.dtype)
            share = ew.div(g, ix.scatter_add(self_hit, dim, index, src_hit))
            gx = ew.mul(share, self_hit)
            gs = ew.mul(ix.gather(share, dim, index), src_hit)
        else:  # prod: the result over each factor, a zero factor's share being the product of the others
            x1 = ix.masked_fill(x, cmp.eq(x, 0), 1.0)
            with no_grad():
                prod_x1 = _wrap(_forward(x1, dim, index, src, "prod", include_self)[0])
            gx = ew.div(ew.mul(g, prod_x1), x1)
            zero_s = cmp.eq(src, 0)
            zeros_at = ix.gather(ix.scatter_add(zeros, dim, index, zero_s.to(g.dtype)), dim, index)
            single = cmp.logical_and(zero_s, cmp.eq(zeros_at, 1))
            with no_grad():
                prod_s1 = _wrap(_forward(x, dim, index, ix.masked_fill(src, single, 1.0), "prod", include_self)[0])
            gs = _where(single, ix.gather(ew.mul(g, prod_s1), dim, index),
                        ew.div(ix.gather(ew.mul(g, y), dim, index), ix.masked_fill(src, zero_s, 1.0)))
        if not include_self:
            # the positions the index reaches never saw self's value
            with no_grad():
                reached = ix.scatter_add(zeros, dim, index, ew.add(ew.mul(src.detach(), 0.0), 1.0))
            gx = _where(cmp.gt(reached, 0), 0.0, gx)
        return gx, None, None, gs, None, None


def _where(c, a, b):
    from .pointwise import where
    return where(c, a, b)


def _check(input, dim, index, src, reduce, op):
    reduce = _ALIASES.get(reduce, reduce)
    if reduce not in _REDUCES:
        raise RuntimeError(f"{op}: reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): argument 'src' must be Tensor, not {type(src).__name__}")
    if index._impl.dtype not in ("int64", "int32") and index._impl.numel:  # int32 read as int64 by the core;
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")  # an empty index of any dtype passes
    if input._impl.dtype != src._impl.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got "
                           f"{_TORCH_TYPE_NAMES[input._impl.dtype]} and {_TORCH_TYPE_NAMES[src._impl.dtype]})")
    nd = max(input.dim(), 1)
    if not -nd <= dim < nd:  # checked here: an empty index never reaches the kernel's check
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    return (dim + nd if dim < 0 else dim), reduce


def scatter_reduce(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=_np.REQUIRED, reduce=_np.REQUIRED, *,
                   include_self=True, out=None, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or src is _np.REQUIRED or \
            reduce is _np.REQUIRED:
        dim = _np.dim_args("scatter_reduce", dim, axis, index=index, src=src, reduce=reduce)
    d, reduce = _check(input, dim, index, src, reduce, "scatter_reduce")
    if not index._impl.numel and (index._impl.dtype not in ("int64", "int32") or index.dim() != input.dim()):
        # PyTorch skips the index's dtype and shape checks when it is empty: nothing is written
        from .shape import clone
        from .zero_link import link_zero_to
        r = link_zero_to(clone(input), src)  # (PyTorch's src gradient: a gather with the empty index)
    elif (input._rg or src._rg) and _gs.enabled:
        if input._impl.dtype not in ("float32", "float64", "float16", "bfloat16"):
            raise RuntimeError("scatter_reduce: only floating-point tensors can require gradients")
        r = ScatterReduce.apply(input, d, index, src, reduce, include_self)
    elif input._impl.ndim == 0:
        # a 0-d self, index and src: one element, reduced as the 1-element 1-d case (as PyTorch's)
        from .shape import reshape
        one = lambda t: reshape(t, (1,)) if t._impl.ndim == 0 else t  # noqa: E731
        r = reshape(_wrap(_forward(one(input), 0, one(index), one(src), reduce, include_self)[0]), ())
    else:
        r = _wrap(_forward(input, d, index, src, reduce, include_self)[0])
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, r)
    return r


def scatter_reduce_(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=_np.REQUIRED, reduce=_np.REQUIRED, *,
                    include_self=True, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or src is _np.REQUIRED or \
            reduce is _np.REQUIRED:
        dim = _np.dim_args("scatter_reduce_", dim, axis, index=index, src=src, reduce=reduce)
    from .._tensor_methods import _assign_result
    return _assign_result(input, scatter_reduce(input, dim, index, src, reduce, include_self=include_self))


def _index_as_scatter(input, dim, index, source, op):
    """index_reduce's 1-D index along `dim`, as scatter_reduce's index of source's shape."""
    if index.dim() > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    nd = max(input.dim(), 1)
    d = dim + nd if dim < 0 else dim
    n = index.numel()
    if source.dim() and source.shape[d] != n:
        raise RuntimeError(f"{op}: the number of indices ({n}) must equal the size of source along dim {d} "
                           f"(source shape {tuple(source.shape)})")
    if source.dim() != input.dim():
        raise IndexError(f"{op}(): Source and destination tensors must have the same number of dimensions "
                         f"(source {tuple(source.shape)}, destination {tuple(input.shape)})")
    for k in range(input.dim()):
        if k != d and source.shape[k] != input.shape[k]:
            raise RuntimeError(f"{op}: source {tuple(source.shape)} and self {tuple(input.shape)} must match in "
                               f"every dimension but {d}")
    shape = [1] * max(source.dim(), 1)
    shape[d] = n
    return d, index.reshape(shape).expand(*source.shape) if source.dim() else index


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if isinstance(source, Tensor) and source._impl.dtype != input._impl.dtype:  # (PyTorch's words, not scatter's)
        raise RuntimeError(f"index_reduce_(): self ({_TORCH_TYPE_NAMES[input._impl.dtype]}) and source "
                           f"({_TORCH_TYPE_NAMES[source._impl.dtype]}) must have the same scalar type")
    d, idx = _index_as_scatter(input, dim, index, source, "index_reduce")
    return scatter_reduce(input, d, idx.contiguous(), source, reduce, include_self=include_self)


def index_reduce_(input, dim, index, source, reduce, *, include_self=True):
    from .._tensor_methods import _assign_result
    return _assign_result(input, index_reduce(input, dim, index, source, reduce, include_self=include_self))
