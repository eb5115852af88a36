"""The remaining everyday names of torch and torch.Tensor, built from existing flambeau ops so that
autograd works wherever PyTorch's does:

- top-level in-place twins of Tensor methods (torch.sin_, torch.fill_, ...) and torch.fill;
- view-copy functions (permute_copy, view_copy, ...), narrow_copy, unsafe_chunk/unsafe_split, empty_strided;
- the scatter ops select_scatter, slice_scatter, diagonal_scatter, as_strided_scatter (a clone of input with
  the view written, so gradients reach both input and src);
- logcumsumexp (a log-space scan of logaddexp steps: stable and differentiable), histogram, renorm, put,
  masked_scatter, diagflat, addr, trapezoid/trapz/cumulative_trapezoid;
- integer and bit-level ops computed on a host copy with numpy (gcd, lcm, bitwise shifts, frexp, nextafter):
  none of them has a gradient but frexp's mantissa, which gets PyTorch's grad / 2**exponent;
- the modified Bessel functions i0, i0e, i1, i1e (C++ kernels, csrc/core/special_functions.h; gradients
  through i1, i0 and their scaled forms);
- the regularized incomplete gamma functions igamma/igammac (C++ kernels: series / continued fraction in
  float64; gradient with respect to x only, as PyTorch);
- torch.ctc_loss, torch.embedding_bag, torch.rms_norm and the functional RNN cells.
"""
import builtins
import math
import numbers

import numpy as np

from .. import _C
from .._dtype import _BY_NAME, _default_dtype, _to_dtype
from .._promote import result_type_names, _FLOAT
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .._utils import wrap_dim
from . import elementwise as ew, pointwise as pw, compare as cmp, reduction as red, shape as sh
from . import join as jn, indexing as ix, linalg as la, sorting as so
from ._dispatch import _cast, _TORCH_TYPE_NAMES
from .misc import _inplace, _float_of, _check_tensor
from .zero_link import LinkedIdentity, link_zero_to

_TYPE = _TORCH_TYPE_NAMES


def _tensor_from(arr, dtype, device):
    from .._creation import tensor
    arr = np.asarray(arr)
    # (np.ascontiguousarray makes a 0-d array 1-d: keep the shape, so 0-d inputs give 0-d results)
    return tensor(np.ascontiguousarray(arr).reshape(arr.shape), dtype=_BY_NAME[dtype], device=device)


def _host(t, dtype=None):
    """A numpy copy of t (on the host), optionally cast to a numpy dtype (bfloat16, which numpy lacks,
    as float32)."""
    t = t.detach()
    if t._impl.dtype == "bfloat16":
        t = t.float()
    a = np.array(t.to("cpu").numpy(), copy=True)
    return a if dtype is None else a.astype(dtype)


def _as_tensor(x, like):
    if isinstance(x, Tensor):
        return x
    from .._creation import tensor
    return tensor(x, device=like.device)


# ---------------------------------------------------------------- top-level in-place twins of methods
def _method_twin(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}(input, ...): the same as input.{name}(...)."
    return fn


_TWINS = """sin_ cos_ tan_ ceil_ floor_ round_ trunc_ erf_ exp2_ expm1_ log10_ log1p_ log2_ rsqrt_ reciprocal_
    frac_ fix_ negative_ nan_to_num_ detach_ fill_ index_put_ resize_as_""".split()
for _n in _TWINS:
    globals()[_n] = _method_twin(_n)


def fill(input, value):
    """A new tensor shaped like input, filled with value (a number or a 0-dim tensor, which gets the
    gradient)."""
    from .._tensor_methods import fill_ as _fill_
    return _fill_(sh.clone(input), value)


# ---------------------------------------------------------------- view copies
def _copy_of(v):
    return sh.clone(v, memory_format="contiguous_format")


def _copy_fn(name, view):
    def fn(input, *args, **kwargs):
        r = view(input, *args, **kwargs)
        if isinstance(r, (tuple, list)):
            return [_copy_of(x) for x in r]
        return _copy_of(r)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: a fresh contiguous copy of the view {name[:-5]} gives (shares no storage)."
    return fn


def _slice_view(input, dim=0, start=None, end=None, step=1):
    d = wrap_dim(dim, input.dim())
    return input[(slice(None),) * d + (slice(start, end, step),)]


def _unfold_view(input, dimension, size, step):
    from .misc import unfold
    return unfold(input, dimension, size, step)


permute_copy = _copy_fn("permute_copy", lambda x, dims: sh.permute(x, dims))
t_copy = _copy_fn("t_copy", sh.t)
transpose_copy = _copy_fn("transpose_copy", sh.transpose)
view_copy = _copy_fn("view_copy", lambda x, size: sh.view(x, size))
squeeze_copy = _copy_fn("squeeze_copy", sh.squeeze)
unsqueeze_copy = _copy_fn("unsqueeze_copy", sh.unsqueeze)
expand_copy = _copy_fn("expand_copy", lambda x, size, *, implicit=False: sh.expand(x, size))
select_copy = _copy_fn("select_copy", sh.select)
slice_copy = _copy_fn("slice_copy", _slice_view)
diagonal_copy = _copy_fn("diagonal_copy", sh.diagonal)
as_strided_copy = _copy_fn("as_strided_copy", sh.as_strided)
alias_copy = _copy_fn("alias_copy", lambda x: x)
detach_copy = _copy_fn("detach_copy", lambda x: x.detach())
unbind_copy = _copy_fn("unbind_copy", jn.unbind)
split_copy = _copy_fn("split_copy", jn.split)
split_with_sizes_copy = _copy_fn("split_with_sizes_copy", jn.split_with_sizes)
unfold_copy = _copy_fn("unfold_copy", _unfold_view)
narrow_copy = _copy_fn("narrow_copy", sh.narrow)

unsafe_chunk = jn.chunk
unsafe_split = jn.split
unsafe_split_with_sizes = jn.split_with_sizes


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """An uninitialised tensor with the given sizes and strides, on a fresh storage just large enough."""
    from .._creation import empty, _wants_meta
    size, stride = [int(s) for s in size], [int(s) for s in stride]
    if _wants_meta(device):
        from .. import _meta
        t = _meta.factory("empty_strided", size, dtype, None, requires_grad)
        t._impl.stride = tuple(stride)
        return t
    if len(size) != len(stride):
        raise RuntimeError(f"empty_strided: mismatch in length of strides and shape ({len(size)} sizes, "
                           f"{len(stride)} strides)")
    if builtins.any(s < 0 for s in size):
        raise RuntimeError(f"empty_strided: negative dimension in size {size}")
    need = 0 if builtins.any(s == 0 for s in size) else 1 + builtins.sum((s - 1) * st for s, st in zip(size, stride))
    r = sh.as_strided(empty(need, dtype=dtype, device=device), size, stride)
    if requires_grad:
        r = r.detach().requires_grad_(True)
    return r


def new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False, layout=None,
                      pin_memory=False):
    return empty_strided(size, stride, dtype=dtype if dtype is not None else self.dtype,
                         device=device if device is not None else self.device, requires_grad=requires_grad)


# ---------------------------------------------------------------- scatter into views
class _ScatterInto(Function):
    """out = contiguous copy of input with view(out) = src; grads: g with the view zeroed, and view(g)."""

    @staticmethod
    def forward(ctx, input, src, view):
        ctx.view = view
        ctx.src_dtype = src.dtype
        out = sh.clone(input, memory_format="contiguous_format")
        _C.copy_(view(out)._impl, src._impl)
        return out

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        view = ctx.view
        gv = view(g)
        gi = _ScatterInto.apply(g, zeros_like(gv), view) if ctx.needs_input_grad[0] else None
        gs = None
        if ctx.needs_input_grad[1]:  # src was cast to input's dtype on the way in: its gradient is cast back
            gs = sh.clone(gv, memory_format="contiguous_format")
            if gs.dtype != ctx.src_dtype:
                gs = gs.to(ctx.src_dtype)
        return gi, gs, None


def _scatter_into(input, src, view, op):
    _check_tensor(input, op)
    _check_tensor(src, op, "src")
    v = view(input)
    if tuple(v.shape) != tuple(src.shape):
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(v.shape)}")
    # a src of another dtype is cast to input's, as copy_ does (PyTorch's *_scatter copy src into a clone)
    return _ScatterInto.apply(input, src, view)


def select_scatter(input, src, dim, index):
    """input with input.select(dim, index) replaced by src (a new tensor)."""
    return _scatter_into(input, src, lambda o: sh.select(o, dim, index), "select_scatter")


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """input with input[..., start:end:step, ...] (along dim) replaced by src (a new tensor)."""
    return _scatter_into(input, src, lambda o: _slice_view(o, dim, start, end, step), "slice_scatter")


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """input with input.diagonal(offset, dim1, dim2) replaced by src (a new tensor)."""
    return _scatter_into(input, src, lambda o: sh.diagonal(o, offset, dim1, dim2), "diagonal_scatter")


def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """A contiguous copy of input with its as_strided(size, stride, storage_offset) view replaced by src.
    input's gradient is the upstream gradient with the overwritten elements zeroed (torch 2.13 gives the
    complement: the gradient only at the overwritten elements)."""
    return _scatter_into(input, src, lambda o: sh.as_strided(o, size, stride, storage_offset),
                         "as_strided_scatter")


# ---------------------------------------------------------------- reductions and scans
def logcumsumexp(input, dim, *, out=None):
    """log(cumsum(exp(input), dim)) without overflow: a Hillis-Steele scan whose steps combine partial
    results with logaddexp (log2(n) passes), so every step is stable and differentiable."""
    _check_tensor(input, "logcumsumexp")
    if input.dtype._name not in _FLOAT and input.dtype._name not in ("complex64", "complex128"):
        raise RuntimeError(f"\"logcumsumexp_out_cpu\" not implemented for '{_TYPE[input.dtype._name]}'")
    nd = input.dim()
    d = wrap_dim(dim, builtins.max(nd, 1))
    y = input
    if nd == 0:
        return _out(out, sh.clone(y))
    n = input.shape[d]
    if input.numel() == 0:  # PyTorch's gradient is grad itself, with no graph
        return _out(out, sh.clone(input))
    if n == 1 and input.requires_grad and _gs.enabled:  # its gradient is grad, but in input's graph
        return _out(out, LinkedIdentity.apply(input))
    k = 1
    while k < n:
        head = sh.narrow(y, d, 0, k)
        tail = pw.logaddexp(sh.narrow(y, d, k, n - k), sh.narrow(y, d, 0, n - k))
        y = jn.cat([head, tail], d)
        k *= 2
    if y is input:
        y = sh.clone(input)
    return _out(out, y)


def _out(out, r):
    if out is None:
        return r
    from ._dispatch import _write_out
    return _write_out(out, r)


def histogram(input, bins, *, range=None, weight=None, density=False, out=None):  # noqa: A002
    """(hist, bin_edges) of input's values, as torch.histogram. bins: a count (equal-width bins over
    `range`, default [min, max] of input, widened by 0.5 each side when empty-width) or a 1-D tensor of
    increasing edges. Values outside the edges are left out; the last bin includes its right edge.
    weight: one weight per element; density: hist / (total * bin width). Computed on the host."""
    from .._creation import linspace
    _check_tensor(input, "histogram")
    dt = input.dtype._name
    if dt not in _FLOAT:
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, "
                           f"and be floating point (got {_TYPE[dt]})")
    x = _host(input).reshape(-1)
    if isinstance(bins, Tensor):
        if bins.dim() != 1 or bins.numel() < 1:
            raise RuntimeError(f"torch.histogram(): bins tensor should have one dimension and at least 1 "
                               f"element, but got {list(bins.shape)}")
        if bins.dtype._name != dt:
            raise RuntimeError("torch.histogram: input tensor and bins tensors should have the same dtype")
        edges_t = sh.clone(bins.detach())
    else:
        nb = int(bins)
        if nb <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {nb} for dimension 0")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
        elif x.size:
            lo, hi = float(x.min()), float(x.max())
        else:
            lo, hi = 0.0, 1.0
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"torch.histogram(): range of [{lo}, {hi}] is not finite")
        if lo > hi:
            raise ValueError(f"torch.histogram(): min should not exceed max, but got min {lo} max {hi}")
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges_t = linspace(lo, hi, nb + 1, dtype=input.dtype, device="cpu")
    edges = _host(edges_t)
    w = None
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise RuntimeError(f"torch.histogram(): if weight tensor is provided it should have the same shape as "
                               f"the input tensor excluding its innermost dimension, got {list(weight.shape)} "
                               f"and {list(input.shape)}")
        w = _host(weight).reshape(-1)
    nb = edges.size - 1
    hist = np.zeros(builtins.max(nb, 0), dtype=np.float64)
    if nb > 0 and x.size:
        keep = (x >= edges[0]) & (x <= edges[-1])
        xs = x[keep]
        idx = np.searchsorted(edges, xs, side="right") - 1
        idx = np.minimum(idx, nb - 1)
        hist = np.bincount(idx, weights=None if w is None else w[keep].astype(np.float64),
                           minlength=nb).astype(np.float64)
    if density:
        widths = np.diff(edges.astype(np.float64))
        total = hist.sum()
        hist = hist / (total * widths)
    h = _tensor_from(hist.astype(edges.dtype), dt, input.device)
    e = edges_t.to(input.device)
    if out is not None:
        h = _out(out[0], h)
        e = _out(out[1], e)
    return _HistogramResult(h, e)


def renorm(input, p, dim, maxnorm, *, out=None):
    """Each sub-tensor input.select(dim, i) whose p-norm exceeds maxnorm is scaled down to norm maxnorm
    (by maxnorm / (norm + 1e-7), as PyTorch); the others are unchanged."""
    _check_tensor(input, "renorm")
    if input.dtype._name not in _FLOAT:
        raise RuntimeError(f"renorm: expected a floating point tensor, got {_TYPE[input.dtype._name]}")
    if float(p) <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (p = {p})")
    if float(maxnorm) < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    nd = input.dim()
    if nd <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {nd} dimensions")
    d = wrap_dim(dim, nd)
    others = [i for i in builtins.range(nd) if i != d]
    norm = red.norm(input, p, dim=others, keepdim=True)
    factor = pw.where(cmp.gt(norm, maxnorm), ew.div(float(maxnorm), ew.add(norm, 1e-7)), 1.0)
    return _out(out, ew.mul(input, _cast(factor, input.dtype._name)))


def renorm_(self, p, dim, maxnorm):
    return _inplace(self, renorm, p, dim, maxnorm)


def put(input, index, source, accumulate=False):
    """A copy of input with the elements at flat (row-major) positions `index` set to (or, accumulate,
    increased by) source's elements."""
    _check_tensor(input, "put")
    _check_tensor(index, "put", "index")
    _check_tensor(source, "put", "source")
    if index.dtype._name != "int64":
        raise RuntimeError(f"put_(): Expected a long tensor for index, but got {_TYPE[index.dtype._name]}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got "
                           f"self.dtype = {_TYPE[input.dtype._name]} and source.dtype = {_TYPE[source.dtype._name]}")
    if index.numel() != source.numel():
        raise IndexError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    n = input.numel()
    if index.numel():
        lo, hi = int(red.amin(index).item()), int(red.amax(index).item())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise IndexError(f"put_(): index {bad} is out of bounds for a tensor with {n} elements")
    flat = sh.reshape(input, (-1,))
    r = ix.index_put(flat, (sh.reshape(index, (-1,)),), sh.reshape(source, (-1,)), accumulate)
    return sh.reshape(r, tuple(input.shape))


def put_(self, index, source, accumulate=False):
    return _inplace(self, put, index, source, accumulate)


def masked_scatter(input, mask, source):
    """input with the positions where mask (broadcast to input) is True filled, in row-major order, by
    source's first elements."""
    _check_tensor(input, "masked_scatter")
    _check_tensor(mask, "masked_scatter", "mask")
    _check_tensor(source, "masked_scatter", "source")
    if mask.dtype._name != "bool":
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{_TYPE[mask.dtype._name]}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"  # (sic)
                           f"{_TYPE[input.dtype._name]} and {_TYPE[source.dtype._name]}")
    shape = sh.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    m = sh.broadcast_to(mask, shape)
    x = sh.broadcast_to(input, shape)
    flat_m = sh.reshape(m, (-1,))
    count = int(red.sum(flat_m).item()) if flat_m.numel() else 0
    if count > source.numel():
        raise RuntimeError(f"masked_scatter: expected source to have at least {count} elements (the number of "
                           f"True entries in mask), but it has {source.numel()}")
    if count == 0:  # source still gets a (zero) gradient, as PyTorch's
        return link_zero_to(sh.clone(x), source)
    pos = ew.sub(red.cumsum(_cast(flat_m, "int64"), 0), 1)
    pos = pw.clamp(pos, min=0)
    picked = sh.reshape(ix.index_select(sh.reshape(source, (-1,)), 0, pos), shape)
    return pw.where(m, picked, x)


def masked_scatter_(self, mask, source):
    if tuple(sh.broadcast_shapes(tuple(self.shape), tuple(mask.shape))) != tuple(self.shape):
        raise RuntimeError(f"masked_scatter_: mask of shape {list(mask.shape)} does not broadcast to the "
                           f"shape of self {list(self.shape)}")
    return _inplace(self, masked_scatter, mask, source)


def diagflat(input, offset=0):
    """A 2-D matrix with input's elements (flattened) on diagonal `offset`."""
    from .._creation import diag
    return diag(sh.reshape(input, (-1,)), offset)


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * outer(vec1, vec2) (input broadcast to the (n, m) result; ignored,
    NaNs included, when beta is 0)."""
    _check_tensor(input, "addr")
    if vec1.dim() != 1 or vec2.dim() != 1:
        raise RuntimeError(f"addr: expected 1-D vectors, but got vec1 {vec1.dim()}-D and vec2 {vec2.dim()}-D")
    r = la.outer(vec1, vec2)
    if alpha != 1:
        r = ew.mul(r, alpha)
    if beta == 0:
        r = ew.add(r, ew.mul(pw.where(cmp.isnan(input), 0.0, input) if input.is_floating_point() else input, 0))
    elif beta == 1:
        r = ew.add(input, r)
    else:
        r = ew.add(ew.mul(input, beta), r)
    return _out(out, r)


def addr_(self, vec1, vec2, *, beta=1, alpha=1):
    return _inplace(self, addr, vec1, vec2, beta=beta, alpha=alpha)


def addmv_(self, mat, vec, *, beta=1, alpha=1):
    return _inplace(self, la.addmv, mat, vec, beta=beta, alpha=alpha)


def addbmm_(self, batch1, batch2, *, beta=1, alpha=1):
    return _inplace(self, la.addbmm, batch1, batch2, beta=beta, alpha=alpha)


def baddbmm_(self, batch1, batch2, *, beta=1, alpha=1):
    return _inplace(self, la.baddbmm, batch1, batch2, beta=beta, alpha=alpha)


# ---------------------------------------------------------------- trapezoid rule
def _trap_dx(y, x, dim, op):
    d = wrap_dim(dim, y.dim())
    if x.dim() == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{op}: There must be one `x` value for each sample point (x has {x.shape[0]}, "
                               f"y has {y.shape[d]} along dim {dim})")
        dx = ew.sub(x[1:], x[:-1])
        shp = [1] * y.dim()
        shp[d] = dx.shape[0]
        return sh.reshape(dx, shp), d
    n = x.shape[wrap_dim(dim, x.dim())]
    xd = wrap_dim(dim, x.dim())
    return ew.sub(sh.narrow(x, xd, 1, n - 1), sh.narrow(x, xd, 0, n - 1)), d


def _check_y(y, op):
    _check_tensor(y, op, "y")
    if y.dim() == 0:
        raise IndexError(f"{op}: Dimension specified as {-1} but tensor has no dimensions")


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoid rule along dim: sample spacing dx (default 1) or sample points x (1-D, or
    broadcastable with y)."""
    _check_y(y, "trapezoid")
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: x and dx both given")
    d = wrap_dim(dim, y.dim())
    n = y.shape[d]
    if x is not None and isinstance(x, Tensor):
        if n == 0:
            return red.sum(ew.mul(y.detach(), 0), d)
        ddx, d = _trap_dx(y, x, dim, "trapezoid")
        s = ew.add(sh.narrow(y, d, 1, n - 1), sh.narrow(y, d, 0, n - 1))
        return ew.div(red.sum(ew.mul(ddx, s), d), 2.0)
    if x is not None:
        dx = x
    dx = 1 if dx is None else dx
    if n == 0:
        return red.sum(ew.mul(y.detach(), 0), d)
    ends = ew.mul(ew.add(sh.select(y, d, 0), sh.select(y, d, -1)), 0.5)
    return ew.mul(ew.sub(red.sum(y, d), ends), dx)


def trapz(y, x=None, *, dx=None, dim=-1):
    if isinstance(x, numbers.Number) and dx is None:
        return trapezoid(y, dx=x, dim=dim)
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoid-rule integral along dim (one fewer element than y there)."""
    _check_y(y, "cumulative_trapezoid")
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments: x and dx both given")
    # the public ops (not ew/red): they take complex y, and promote an integer y to the default float
    # as PyTorch's (y[1:] + y[:-1]) * dx / 2 does
    import flambeau as fl
    if y._impl.dtype == "bool":
        raise RuntimeError("cumulative_trapezoid: received a bool input for `y`, but bool is not supported")
    d = wrap_dim(dim, y.dim())
    n = y.shape[d]
    if n == 0:
        r = fl.mul(y, 0.0)
        if isinstance(x, Tensor):  # PyTorch's dx * (...) / 2 promotes with x's dtype, even when empty
            dt = fl.promote_types(r.dtype, x.dtype)
            r = r if dt == r.dtype else r.to(dt)
        return r
    s = fl.add(sh.narrow(y, d, 0, n - 1), sh.narrow(y, d, 1, n - 1))
    if isinstance(x, Tensor):
        ddx, d = _trap_dx(y, x, dim, "cumulative_trapezoid")
        return fl.div(fl.cumsum(fl.mul(ddx, s), d), 2.0)
    if x is not None:
        dx = x
    dx = 1 if dx is None else dx
    return fl.cumsum(fl.mul(s, dx / 2.0), d)


# ---------------------------------------------------------------- integer and bit-level ops (host, numpy)
_NP_INT = {"int64", "int32", "int16", "int8", "uint8"}


def _int_pair(a, b, op):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}(): expected at least one Tensor argument")
    a = _as_tensor(a, b) if not isinstance(a, Tensor) else a
    b = _as_tensor(b, a) if not isinstance(b, Tensor) else b
    dt = result_type_names(a, b)
    if dt not in _NP_INT:
        raise RuntimeError(f"\"{op}_cpu\" not implemented for '{_TYPE.get(dt, dt)}'")
    dev = a.device if a.dim() or not b.dim() else b.device
    return _host(a, np.dtype(dt)), _host(b, np.dtype(dt)), dt, dev


def gcd(input, other, *, out=None):
    """Greatest common divisor, elementwise (integer tensors; gcd(0, 0) = 0; always >= 0)."""
    a, b, dt, dev = _int_pair(input, other, "gcd")
    return _out(out, _tensor_from(np.gcd(a, b).astype(dt), dt, dev))


def lcm(input, other, *, out=None):
    """Least common multiple, elementwise (integer tensors; lcm with 0 is 0; always >= 0)."""
    a, b, dt, dev = _int_pair(input, other, "lcm")
    with np.errstate(all="ignore"):
        g = np.gcd(a, b)
        r = np.where(g == 0, 0, np.abs((a // np.where(g == 0, 1, g)) * b))
    return _out(out, _tensor_from(r.astype(dt), dt, dev))


def _shift(a, b, left, op):
    A, B, dt, dev = _int_pair(a, b, op)
    bits = A.dtype.itemsize * 8
    bad = (B < 0) | (B >= bits)
    Bc = np.clip(B, 0, bits - 1).astype(A.dtype)
    with np.errstate(all="ignore"):
        if left:
            u = np.dtype("u%d" % A.dtype.itemsize)
            r = np.where(bad, 0, np.left_shift(A.astype(u), Bc.astype(u)).astype(A.dtype))
        else:
            r = np.where(bad, np.right_shift(A, bits - 1) if A.dtype.kind == "i" else 0, np.right_shift(A, Bc))
    return _tensor_from(np.asarray(r, dtype=A.dtype), dt, dev)


def bitwise_left_shift(input, other, *, out=None):
    """input << other elementwise (integers; wraps around; shifts by < 0 or >= the bit width give 0)."""
    return _out(out, _shift(input, other, True, "lshift"))


def bitwise_right_shift(input, other, *, out=None):
    """input >> other elementwise, arithmetic (sign-filling) for signed types."""
    return _out(out, _shift(input, other, False, "rshift"))


def bitwise_left_shift_(self, other):
    return _inplace(self, bitwise_left_shift, other)


def bitwise_right_shift_(self, other):
    return _inplace(self, bitwise_right_shift, other)


def ldexp(input, other, *, out=None):
    """input * 2 ** other (PyTorch's composite: the power is taken in floating point)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"ldexp(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    if other._impl.dtype in ("complex64", "complex128") or (
            isinstance(input, Tensor) and input._impl.dtype in ("complex64", "complex128")):
        import flambeau  # (the complex-routed pow and mul)
        return _out(out, flambeau.mul(input, flambeau.pow(2.0, other)))
    return _out(out, ew.mul(input, ew.pow(2.0, other)))


def ldexp_(self, other):
    if not isinstance(other, Tensor):
        raise TypeError(f"ldexp_(): argument 'other' (position 1) must be Tensor, not {type(other).__name__}")
    return _inplace(self, ldexp, other)


class _Frexp(Function):
    _builtin = True
    _grad_fn_name = "FrexpBackward0"

    @staticmethod
    def forward(ctx, x):
        m, e = np.frexp(_host(x))
        e = np.where(np.isfinite(_host(x)), e, 0).astype(np.int32)
        mt = _tensor_from(m, x.dtype._name, x.device)
        et = _tensor_from(e, "int32", x.device)
        ctx.mark_non_differentiable(et) if hasattr(ctx, "mark_non_differentiable") else None
        ctx.save_for_backward(et)
        return mt, et

    @staticmethod
    def backward(ctx, gm, ge):
        e, = ctx.saved_tensors
        if gm is None:
            return None
        return ew.div(gm, pw.exp2(_cast(e, gm.dtype._name)))


def frexp(input, *, out=None):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1) (0, inf and NaN
    give themselves with exponent 0); exponent is int32. The mantissa's gradient is grad / 2 ** exponent."""
    _check_tensor(input, "frexp")
    if input.dtype._name not in _FLOAT:
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes, but got {_TYPE[input.dtype._name]}")
    if input._rg and _gs.enabled:
        m, e = _Frexp.apply(input)
        e = e.detach()
    else:
        m, e = _Frexp.forward(_Ctx(), input)
    if out is not None:
        m, e = _out(out[0], m), _out(out[1], e)
    return _FrexpResult(m, e)


class _Ctx:
    def save_for_backward(self, *a):
        pass

    def mark_non_differentiable(self, *a):
        pass


def nextafter(input, other, *, out=None):
    """The next floating-point value after input toward other, elementwise."""
    _check_tensor(input, "nextafter")
    other = _as_tensor(other, input)
    dt = result_type_names(input, other)
    if dt not in _FLOAT:
        raise RuntimeError(f"\"nextafter_cpu\" not implemented for '{_TYPE[dt]}'")
    if dt == "bfloat16":  # numpy has no bfloat16: step its 16-bit pattern (the top half of a float32)
        r = _tensor_from(_nextafter_bf16(_host(input.float()), _host(other.float())), "float32", input.device)
        r = r.to(_BY_NAME["bfloat16"])
    else:
        with np.errstate(all="ignore"):
            r = np.nextafter(_host(input, np.dtype(dt)), _host(other, np.dtype(dt)))
        r = _tensor_from(r, dt, input.device)
    if _gs.enabled and (input._rg or other._rg):
        r = _Nextafter.apply(r, input, other)
    return _out(out, r)


class _Nextafter(Function):
    """nextafter's derivative as PyTorch's (2.x): grad for input (the step is at most one ulp), 0 where
    input == other (the result is then other itself), zeros for other. (It raised "not implemented", as
    older PyTorch releases did.) Not `_builtin`: the engine sums a broadcast gradient back to each
    input's shape and dtype."""
    _grad_fn_name = "NextafterBackward0"

    @staticmethod
    def forward(ctx, r, input, other):
        ctx.operands = (input.detach(), other.detach())
        return r

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        from . import compare as cmp, pointwise as pw
        nig = ctx.needs_input_grad
        x, y = ctx.operands
        gx = pw.where(cmp.eq(x, y), 0.0, g) if nig[1] else None
        return None, gx, (zeros_like(y) if nig[2] else None)


def _nextafter_bf16(a, b):
    """nextafter on bfloat16 values held in float32 arrays (c10's rule: NaN if either is NaN, `b` if
    equal, the smallest subnormal toward b from zero, else one step of the bit pattern)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float32), np.asarray(b, np.float32))
    bits = (a.view(np.uint32) >> 16).astype(np.int64)
    with np.errstate(invalid="ignore"):
        up = (a < b) == (a > 0)
    step = np.where(up, bits + 1, bits - 1)
    step = np.where(a == 0, np.where(np.signbit(b), 0x8001, 0x0001), step)
    r = ((step & 0xFFFF).astype(np.uint32) << 16).view(np.float32)
    r = np.where(a == b, b, r)
    return np.where(np.isnan(a) | np.isnan(b), np.float32(np.nan), r)


def nextafter_(self, other):
    return _inplace(self, nextafter, other)


def _named_pair(name, a, b):
    def __new__(cls, x, y):
        return tuple.__new__(cls, (x, y))
    return type(name, (tuple,), {"__slots__": (), "__new__": __new__, a: property(lambda s: s[0]),
                                 b: property(lambda s: s[1]),
                                 "__repr__": lambda s: f"flambeau.return_types.{name}(\n{a}={s[0]!r},\n{b}={s[1]!r})"})


_HistogramResult = _named_pair("histogram", "hist", "bin_edges")
_FrexpResult = _named_pair("frexp", "mantissa", "exponent")


# ---------------------------------------------------------------- modified Bessel functions of the first kind
# The values come from the C++ kernels (csrc/core/special_functions.h, PyTorch's expressions in float64,
# rounded once); float16/bfloat16 go through the binding layer's float32 compute (as PyTorch upcasts).
_BESSEL_KERNELS = {"i0": _C.i0, "i0e": _C.special_i0e, "i1": _C.special_i1, "i1e": _C.special_i1e}


class _Bessel(Function):
    _builtin = True

    @staticmethod
    def forward(ctx, x, kind):
        ctx.kind = kind
        r = _bessel_value(x, kind)
        ctx.save_for_backward(x, r)
        return r

    @staticmethod
    def backward(ctx, g):
        x, r = ctx.saved_tensors
        k = ctx.kind
        if k == "i0":
            d = i1(x)
        elif k == "i0e":
            d = ew.sub(i1e(x), ew.mul(ew.sign(x), r))
        elif k == "i1":
            d = pw.where(cmp.eq(x, 0), 0.5, ew.sub(i0(x), ew.div(r, x)))
        else:
            d = pw.where(cmp.eq(x, 0), 0.5, ew.sub(i0e(x), ew.mul(r, ew.add(ew.sign(x), ew.reciprocal(x)))))
        return ew.mul(g, d), None


def _bessel_value(x, kind):
    return _wrap(_BESSEL_KERNELS[kind](x._impl))


def _bessel(input, kind, out):
    _check_tensor(input, kind)
    x = _float_of(input)
    if x._rg and _gs.enabled:
        r = _Bessel.apply(x, kind)
    else:
        r = _bessel_value(x, kind)
    return _out(out, r)


def i0(input, *, out=None):
    """The modified Bessel function of the first kind of order 0 (gradient: i1)."""
    return _bessel(input, "i0", out)


def i0e(input, *, out=None):
    """exp(-|x|) i0(x), finite for every finite x."""
    return _bessel(input, "i0e", out)


def i1(input, *, out=None):
    """The modified Bessel function of the first kind of order 1 (gradient: i0 - i1 / x, 1/2 at 0)."""
    return _bessel(input, "i1", out)


def i1e(input, *, out=None):
    """exp(-|x|) i1(x)."""
    return _bessel(input, "i1e", out)


def i0_(self):
    return _inplace(self, i0)


# ---------------------------------------------------------------- regularized incomplete gamma functions
class _Igamma(Function):
    _builtin = True

    @staticmethod
    def forward(ctx, a, x, upper):
        ctx.upper = upper
        ctx.save_for_backward(a, x)
        return _igamma_value(a, x, upper)

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise RuntimeError(f"the derivative for '{'igammac' if ctx.upper else 'igamma'}: input' is not "
                               f"implemented.")
        from .special import lgamma
        # d/dx P(a, x) = x^(a-1) e^(-x) / Gamma(a)
        d = ew.exp(ew.sub(ew.sub(ew.mul(ew.sub(a, 1), ew.log(x)), x), lgamma(a)))
        if ctx.upper:
            d = ew.neg(d)
        gx = ew.mul(g, d)
        if tuple(gx.shape) != tuple(x.shape):
            gx = gx.sum_to_size(tuple(x.shape))
        return None, gx, None


def _igamma_value(a, x, upper):
    """P(a, x) or Q(a, x) by the kernel (csrc/core/special_functions.h: the power series where x < a + 1,
    else the continued fraction of Q, in float64); a and x already of one floating dtype."""
    return _wrap((_C.igammac if upper else _C.igamma)(a._impl, x._impl))


def _igamma(input, other, upper, out):
    name = "igammac" if upper else "igamma"
    _check_tensor(input, name)
    _check_tensor(other, name, "other")
    dt = result_type_names(input, other)
    if dt not in _FLOAT:
        raise RuntimeError(f"\"{name}_cpu\" not implemented for '{_TYPE[dt]}'")
    a, x = _cast(input, dt), _cast(other, dt)
    if _gs.enabled and (a._rg or x._rg):
        r = _Igamma.apply(a, x, upper)
    else:
        r = _igamma_value(a, x, upper)
    return _out(out, r)


def igamma(input, other, *, out=None):
    """The regularized lower incomplete gamma function P(input, other) (gradient with respect to other
    only, as PyTorch)."""
    return _igamma(input, other, False, out)


def igammac(input, other, *, out=None):
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P(input, other)."""
    return _igamma(input, other, True, out)


def igamma_(self, other):
    return _inplace(self, igamma, other)


def igammac_(self, other):
    return _inplace(self, igammac, other)


# ---------------------------------------------------------------- torch.* forms of nn ops
_RED = {0: "none", 1: "mean", 2: "sum"}


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1, zero_infinity=False):
    """torch.ctc_loss: F.ctc_loss with PyTorch's top-level int reduction (0 none, 1 mean, 2 sum)."""
    from ..nn import functional as F
    red_ = reduction if isinstance(reduction, str) else _RED[int(reduction)]
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, red_, zero_infinity)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    from ..nn import functional as F
    return F.rms_norm(input, normalized_shape, weight, eps)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def embedding_bag(weight, indices, offsets=None, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """torch.embedding_bag: (output, offset2bag, bag_size, max_indices) as PyTorch's CPU kernel gives
    them; output is F.embedding_bag's (differentiable), the others are int64 bookkeeping computed on the
    host (max_indices is bag_size except for mode 2, 'max', where it holds the chosen weight rows)."""
    from ..nn import functional as F
    m = mode if isinstance(mode, str) else _BAG_MODES[int(mode)]
    out = F.embedding_bag(indices, weight, offsets, None, 2, scale_grad_by_freq, m, sparse, per_sample_weights,
                          include_last_offset, padding_idx)
    idx = _host(indices).astype(np.int64)
    dev = weight.device
    if idx.ndim == 2:
        B, N = idx.shape
        offs = np.arange(B, dtype=np.int64) * N
        idx = idx.reshape(-1)
    else:
        offs = _host(offsets).astype(np.int64)
        if include_last_offset:
            offs = offs[:-1]
    n, B = idx.size, offs.size
    ends = np.append(offs[1:], n) if B else offs
    offset2bag = np.zeros(n, dtype=np.int64)
    for b in range(B):
        offset2bag[offs[b]:ends[b]] = b
    keep = np.ones(n, bool) if padding_idx is None else idx != padding_idx
    bag_size = np.array([keep[offs[b]:ends[b]].sum() for b in range(B)], dtype=np.int64)
    if m == "max":
        W = _host(weight)
        D = W.shape[1]
        mx = np.zeros((B, D), dtype=np.int64)
        for b in range(B):
            rows = idx[offs[b]:ends[b]][keep[offs[b]:ends[b]]]
            if rows.size:
                mx[b] = rows[np.argmax(W[rows], axis=0)]
        max_indices = mx
    elif m == "sum":  # PyTorch's CPU sum path leaves these unfilled: empty offset2bag, zero sizes
        offset2bag = offset2bag[:0]
        bag_size = np.zeros_like(bag_size)
        max_indices = bag_size.copy()
    else:
        max_indices = bag_size.copy()
    return (out, _tensor_from(offset2bag, "int64", dev), _tensor_from(bag_size, "int64", dev),
            _tensor_from(max_indices, "int64", dev))


def _cell(mode, input, hx, c, w_ih, w_hh, b_ih, b_hh):
    from ..nn import functional as F
    from ..nn.modules.rnn import _rnn_step
    xp = F.linear(input, w_ih, b_ih)
    return _rnn_step(mode, xp, hx, c, w_hh, b_hh)


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: hx = (h, c) -> (h', c'), gates ordered i, f, g, o as PyTorch."""
    h, c = hx
    return _cell("LSTM", input, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: h -> h' (gates r, z, n)."""
    return _cell("GRU", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(input W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return _cell("RNN_TANH", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(input W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return _cell("RNN_RELU", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    from ..nn import functional as F
    stride = None if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else stride
    return F.max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)


def get_device(input):
    """-1 for a CPU tensor, else the CUDA device index."""
    return input.get_device()


def typename(obj):
    """'torch.FloatTensor' etc. for a tensor, else the object's qualified type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    t = type(obj)
    mod = getattr(t, "__module__", "")
    return t.__qualname__ if mod in ("builtins", "", None) else f"{mod}.{t.__qualname__}"


# ---------------------------------------------------------------- what the package exports
TOP_LEVEL = _TWINS + ("""fill permute_copy t_copy transpose_copy view_copy squeeze_copy unsqueeze_copy expand_copy
    select_copy slice_copy diagonal_copy as_strided_copy alias_copy detach_copy unbind_copy split_copy
    split_with_sizes_copy unfold_copy narrow_copy unsafe_chunk unsafe_split unsafe_split_with_sizes empty_strided
    select_scatter slice_scatter diagonal_scatter as_strided_scatter logcumsumexp histogram renorm put
    masked_scatter diagflat addr addmv_ trapezoid trapz cumulative_trapezoid gcd lcm bitwise_left_shift
    bitwise_right_shift ldexp ldexp_ frexp nextafter i0 i0_ igamma igammac ctc_loss rms_norm embedding_bag
    lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell max_pool1d_with_indices get_device typename""").split()

TENSOR_METHODS = """narrow_copy unsafe_chunk unsafe_split unsafe_split_with_sizes new_empty_strided select_scatter
    slice_scatter diagonal_scatter as_strided_scatter logcumsumexp histogram renorm renorm_ put put_
    masked_scatter masked_scatter_ diagflat addr addr_ addmv_ addbmm_ baddbmm_ gcd lcm bitwise_left_shift
    bitwise_right_shift bitwise_left_shift_ bitwise_right_shift_ ldexp ldexp_ frexp nextafter nextafter_ i0 i0_
    igamma igammac igamma_ igammac_""".split()


def _gcd_(self, other):
    return _inplace(self, gcd, other)


def _lcm_(self, other):
    return _inplace(self, lcm, other)


def _mvlgamma_(self, p):
    from .special import mvlgamma
    return _inplace(self, mvlgamma, p)


def attach_methods():
    """Binds TENSOR_METHODS and the in-place / operator aliases to Tensor (called once by _tensor_methods)."""
    g = globals()
    for name in TENSOR_METHODS:
        setattr(Tensor, name, g[name])
    Tensor.gcd_ = _gcd_
    Tensor.lcm_ = _lcm_
    Tensor.mvlgamma_ = _mvlgamma_
    for alias, target in (("greater_", "gt_"), ("greater_equal_", "ge_"), ("less_", "lt_"),
                          ("less_equal_", "le_"), ("not_equal_", "ne_"), ("arctan2_", "atan2_"),
                          ("sgn_", "sign_")):
        if not hasattr(Tensor, alias):
            setattr(Tensor, alias, getattr(Tensor, target))
    for op, fn in (("__lshift__", bitwise_left_shift), ("__rshift__", bitwise_right_shift)):
        if op not in Tensor.__dict__:
            setattr(Tensor, op, fn)
    if "__rlshift__" not in Tensor.__dict__:
        Tensor.__rlshift__ = lambda self, other: bitwise_left_shift(other, self)
        Tensor.__rrshift__ = lambda self, other: bitwise_right_shift(other, self)
        Tensor.__ilshift__ = bitwise_left_shift_
        Tensor.__irshift__ = bitwise_right_shift_
