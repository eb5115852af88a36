"""Gather/scatter-style ops: advanced indexing (index, index_put), index_select, gather,
scatter/scatter_add, masked_fill/masked_select, nonzero, take, tril/triu, index_add/fill/copy.

Backward of a read at indices is a write at the same indices (`_C.index_put_` with
accumulate=True, so repeated indices add up), and vice versa.
"""

import numbers

from .. import _C
from .._promote import scalar_impl, check_fits, _FLOAT
from .._tensor import Tensor, _wrap
from .._utils import wrap_dim
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from . import elementwise as ew, compare as cmp, pointwise as pw, _dispatch as dsp
from .shape import _sum_to, _to, reshape, expand
from . import _numpy_names as _np

_CPP = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool", "int32": "int", "int16": "short int", "int8": "signed char",
        "uint8": "unsigned char", "float16": "c10::Half", "bfloat16": "c10::BFloat16"}


def _zeros_impl(shape, dt, dev):
    return _C.full(list(shape), 0, dt, dev)


def _impls(indices):
    return [None if i is None else i._impl for i in indices]


# ---------------------------------------------------------------- advanced indexing
class Index(Function):
    """x[indices] for a list (one entry per leading dim) of int64 index tensors or None."""
    _builtin = True
    _grad_fn_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, indices):
        xi = x._impl
        ctx.meta = (xi.shape, xi.dtype, xi.device)
        ctx.indices = indices
        return _wrap(_C.index(xi, _impls(indices)))

    @staticmethod
    def backward(ctx, g):
        shape, dt, dev = ctx.meta
        return _IndexPutAccumulateIntoZeros.apply(g, shape, ctx.indices), None


class _IndexPutAccumulateIntoZeros(Function):
    """zeros(shape).index_put_(indices, g, accumulate=True); its backward reads g back."""
    _builtin = True
    _grad_fn_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, g, shape, indices):
        ctx.indices = indices
        gi = g._impl
        z = _zeros_impl(shape, gi.dtype, gi.device)
        _C.index_put_(z, _impls(indices), gi, True)
        return _wrap(z)

    @staticmethod
    def backward(ctx, gg):
        return index(gg, ctx.indices), None, None


def index(x, indices):
    if x._rg and _gs.enabled:
        return Index.apply(x, indices)
    return _wrap(_C.index(x._impl, _impls(indices)))


class IndexPut(Function):
    """Out-of-place x.index_put(indices, values, accumulate) (the autograd form of setitem)."""
    _builtin = True
    _grad_fn_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, values, indices, accumulate):
        ctx.indices, ctx.accumulate = indices, accumulate
        ctx.vshape = values._impl.shape
        y = _C.clone(x._impl)
        _index_put_checked(y, _impls(indices), values._impl, accumulate)
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        nig = ctx.needs_input_grad
        gx = gv = None
        if nig[0]:
            if ctx.accumulate:
                gx = g
            else:
                gi = _C.clone(g._impl)
                _C.index_put_(gi, _impls(ctx.indices), _C.scalar_tensor(0, gi.dtype, gi.device), False)
                gx = _wrap(gi)
        if nig[1]:
            gv = _sum_to(index(g, ctx.indices), ctx.vshape)
        return gx, gv, None, None


def _prepare_values(x, values):
    xi = x._impl
    if isinstance(values, Tensor):
        vi = values._impl
        if vi.dtype != xi.dtype or vi.device != xi.device:
            values = _to(values, xi.dtype, xi.device)
        return values
    return _wrap(scalar_impl(values, xi.dtype, xi.device))


def _index_put_checked(ti, idx, vi, accumulate):
    from .._indexing import index_put_checked
    index_put_checked(ti, idx, vi, accumulate)


def _index_tensors(x, indices):
    """A user's indices tuple (tensors, bool masks, None, lists) as index_put's list."""
    from .._indexing import getitem_plan
    plan = getitem_plan(x._impl.shape, tuple(slice(None) if i is None else i for i in indices), x._impl.device)
    if plan.ops:
        raise IndexError("index_put_: indices must be tensors or None")
    return plan.adv_list()


def _check_values_dtype(input, indices, values, accumulate):
    """PyTorch's dtype rule for index_put_/index_put's values (_indexing.check_index_put_value)."""
    if isinstance(values, Tensor):
        from .._indexing import _advanced_kinds, check_index_put_value
        def adv():
            idx = _index_tensors(input, indices)
            return input._impl.shape, [(d, it) for d, it in enumerate(idx) if it is not None]
        check_index_put_value(_advanced_kinds(indices, True), input._impl, values, accumulate, adv)


def index_put_(input, indices, values, accumulate=False):
    _check_values_dtype(input, indices, values, accumulate)
    return _index_put_(input, indices, values, accumulate)


def _index_put_(input, indices, values, accumulate=False):
    """index_put_ casting values to input's dtype (the ops built on it check dtypes in their own words)."""
    idx = _index_tensors(input, indices)
    values = _prepare_values(input, values)
    if (input._rg or values._rg) and _gs.enabled:
        dsp._check_inplace_leaf(input)
        return dsp._rebase(input, IndexPut.apply(input, values, idx, accumulate))
    impl = input._impl
    if impl.numel and any(st == 0 and n > 1 for st, n in zip(impl.stride, impl.shape)):
        return _index_put_expanded_(input, idx, values, accumulate)
    _index_put_checked(impl, _impls(idx), values._impl, accumulate)
    return input


def _index_put_expanded_(input, idx, values, accumulate):
    """index_put_ (setitem) into a tensor with broadcast (stride-0) dims, as PyTorch does it (with its
    deprecation warning): every write lands in the memory it shares with other positions, in PyTorch's
    order, so the last write to a location wins (accumulate: all of them add up). The shared memory is
    the tensor narrowed to one element along each stride-0 dim; a map from every position to its
    element there, indexed like the tensor, gives the writes in order (flambeau raised instead)."""
    import warnings
    from .. import _creation
    warnings.warn("Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before "
                  "performing this operation. This also applies to advanced indexing e.g. tensor[indices] = tensor",
                  UserWarning, stacklevel=3)
    impl = input._impl
    u = input
    for d, (st, n) in enumerate(zip(impl.stride, impl.shape)):
        if st == 0 and n > 1:
            u = u.narrow(d, 0, 1)
    where_in_u = _creation.arange(u.numel(), device=input.device).reshape(u.shape).expand(impl.shape)
    sel = index(where_in_u, idx)
    vals = expand(values, sel._impl.shape)  # (PyTorch's shape errors)
    flat = u.contiguous().reshape(-1).clone()
    _C.index_put_(flat._impl, [reshape(sel, (-1,))._impl], reshape(vals.contiguous(), (-1,))._impl, accumulate)
    u.copy_(reshape(flat, u._impl.shape))
    return input


def index_put(input, indices, values, accumulate=False):
    _check_values_dtype(input, indices, values, accumulate)
    return _index_put(input, indices, values, accumulate)


def _index_put(input, indices, values, accumulate=False):
    idx = _index_tensors(input, indices)
    values = _prepare_values(input, values)
    if (input._rg or values._rg) and _gs.enabled:
        return IndexPut.apply(input, values, idx, accumulate)
    y = _C.clone(input._impl)
    _index_put_checked(y, _impls(idx), values._impl, accumulate)
    return _wrap(y)


def nonzero(input, *, as_tuple=False):
    nz = _C.nonzero(input._impl)
    if not as_tuple:
        return _wrap(nz)
    if input._impl.ndim == 0:  # PyTorch treats a 0-d input as 1-d here
        return (_wrap(_C.full([int(_bool_item(input))], 0, "int64", input._impl.device)),)
    return tuple(_wrap(_C.select(nz, 1, k)) for k in range(input._impl.ndim))


def _bool_item(t):
    return bool(_C.to_numpy(_C.to(t._impl, "bool", "cpu", False)).item())


def argwhere(input):
    return nonzero(input)


# ---------------------------------------------------------------- index_select, gather, scatter
def _check_index(index, op, allow_0d=True, empty_any_dtype=False):
    """index, checked. gather and the scatters skip the dtype check for an empty index, as PyTorch: such an
    index comes back as int64 (empty, so nothing is copied) for the core."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._impl.dtype not in ("int64", "int32"):  # the core reads int32 indices as int64, as PyTorch
        if empty_any_dtype and not index._impl.numel:
            return _wrap(_C.to(index._impl, "int64", index._impl.device, False))
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    return index


class IndexSelect(Function):
    _builtin = True
    _grad_fn_name = "IndexSelectBackward0"

    @staticmethod
    def forward(ctx, x, dim, idx):
        xi = x._impl
        ctx.meta = (xi.shape, dim)
        ctx.save_for_backward(idx)
        return _wrap(_C.index_select(xi, dim, idx._impl))

    @staticmethod
    def backward(ctx, g):
        idx, = ctx.saved_tensors
        shape, dim = ctx.meta
        flat = reshape(idx, (-1,))
        return _IndexPutAccumulateIntoZeros.apply(g, shape, [None] * dim + [flat]), None, None


def index_select(input, dim=_np.REQUIRED, index=_np.REQUIRED, *, out=None, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED:
        dim = _np.dim_args("index_select", dim, axis, index=index)
    _check_index(index, "index_select")
    nd = input._impl.ndim
    d = wrap_dim(dim, nd)
    if index._impl.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if input._rg and _gs.enabled:
        r = IndexSelect.apply(input, d, index)
    else:
        r = _wrap(_C.index_select(input._impl, d, index._impl))
    return dsp._write_out(out, r, input, index, op="index_select", partial=False) if out is not None else r


class Gather(Function):
    _builtin = True
    _grad_fn_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, x, dim, idx):
        xi = x._impl
        ctx.meta = (xi.shape, dim)
        ctx.save_for_backward(idx)
        return _wrap(_C.gather(xi, dim, idx._impl))

    @staticmethod
    def backward(ctx, g):
        idx, = ctx.saved_tensors
        shape, dim = ctx.meta
        gi = g._impl
        z = _wrap(_zeros_impl(shape, gi.dtype, gi.device))
        if gi.dtype[0] == "c":  # a complex gradient: scattered as its (re, im) pairs
            from .._complex.ops import scatter_add as complex_scatter_add
            return complex_scatter_add(z, dim, idx, g), None, None
        return scatter_add(z, dim, idx, g), None, None


def gather(input, dim=_np.REQUIRED, index=_np.REQUIRED, *, sparse_grad=False, out=None, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED:
        dim = _np.dim_args("gather", dim, axis, index=index)
    index = _check_index(index, "gather", empty_any_dtype=True)
    d = wrap_dim(dim, input._impl.ndim)
    if input._impl.ndim == 0 and index._impl.ndim > 1 and index._impl.numel:  # (a 0-d input counts as 1-D)
        raise RuntimeError(f"gather(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index shape {list(index._impl.shape)}, input shape [])")
    if not index._impl.numel and index._impl.ndim != input._impl.ndim:
        # PyTorch skips the shape checks for an empty index: an empty result of its shape (sliced from
        # input, so a gradient of zeros reaches it)
        r = reshape(reshape(input, (-1,))[:0], index._impl.shape)
        return dsp._write_out(out, r) if out is not None else r
    if input._rg and _gs.enabled:
        r = Gather.apply(input, d, index)
    else:
        r = _wrap(_C.gather(input._impl, d, index._impl))
    return dsp._write_out(out, r, input, op="gather", partial=False) if out is not None else r


def take_along_dim(input, indices, dim=None, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("take_along_dim", dim, axis)
    if dim is None:
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    if input._impl.ndim != indices._impl.ndim:  # (a shorter indices failed with a Python IndexError)
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input._impl.ndim} dimensions for input, and {indices._impl.ndim} "
                           f"dimensions for indices")
    if input._impl.ndim == 0:  # 0-d input and indices: PyTorch refuses a dim there
        raise IndexError(f"take_along_dim(): Dimension specified as {dim} but tensor has no dimensions")
    d = wrap_dim(dim, input._impl.ndim)
    shape_i = list(input._impl.shape)
    shape_x = list(indices._impl.shape)
    shape_i[d] = shape_x[d] = 1
    from .shape import broadcast_shapes
    b = list(broadcast_shapes(shape_i, shape_x))
    bi, bx = list(b), list(b)
    bi[d] = input._impl.shape[d]
    bx[d] = indices._impl.shape[d]
    n = input._impl.shape[d]
    if indices._impl.numel and indices._impl.dtype != "bool" and bool(cmp.lt(indices, 0).any().item()):
        # a negative index counts from the end, as in PyTorch (and numpy's take_along_axis). PyTorch 2.13 takes
        # every index modulo the size (take_along_dim(arange(5), tensor([100]), 0) gives element 0): a silently
        # wrong element for an index out of range, which flambeau refuses as gather does.
        if cmp.lt(indices, -n).any().item():
            bad = int(indices.min().item())
            raise IndexError(f"take_along_dim(): index {bad} is out of bounds for dimension {d} with size {n}")
        indices = ew.add(indices, ew.mul(cmp.lt(indices, 0).to(indices.dtype), n))
    try:
        return gather(expand(input, bi), d, expand(indices, bx))
    except IndexError as e:
        raise IndexError(f"take_along_dim(): {e}".replace("gather: ", "")) from None


def _scatter_add_impl(yi, d, ii, si):
    """_C.scatter_add_, also for a 0-d self (PyTorch treats it as one element: gather's and cummax's
    backward of a 0-d input land here), through 1-element views of the 0-d operands."""
    if yi.ndim == 0:
        one = lambda t: _C.reshape(t, [1]) if t.ndim == 0 else t  # noqa: E731
        yi, ii, si, d = one(yi), one(ii), one(si), 0
    _C.scatter_add_(yi, d, ii, si)


class ScatterAdd(Function):
    _builtin = True
    _grad_fn_name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx, x, dim, idx, src):
        ctx.dim = dim
        ctx.src_shape = src._impl.shape
        ctx.save_for_backward(idx)
        y = _C.clone(x._impl)
        _scatter_add_impl(y, dim, idx._impl, src._impl)
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        idx, = ctx.saved_tensors
        nig = ctx.needs_input_grad
        gs = gather(g, ctx.dim, idx) if nig[3] else None
        if gs is not None and gs._impl.shape != ctx.src_shape:
            # an index smaller than src: PyTorch's engine sums the gather to src's shape where src's dims
            # broadcast to it (src [1], index [0]: zeros), and refuses otherwise
            from .shape import _sum_to_or_none
            r = _sum_to_or_none(gs, ctx.src_shape)
            if r is None:
                raise RuntimeError(f"Function ScatterAddBackward0 returned an invalid gradient at index 1 - got "
                                   f"{list(gs._impl.shape)} but expected shape compatible with {list(ctx.src_shape)}")
            gs = r
        return (g if nig[0] else None, None, None, gs)


def _scatter_args(input, dim, index, src, op):
    index = _check_index(index, op, empty_any_dtype=True)
    d = wrap_dim(dim, input._impl.ndim)
    if isinstance(src, Tensor):
        if src._impl.dtype != input._impl.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
    return d, index


def scatter_add(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or src is _np.REQUIRED:
        dim = _np.dim_args("scatter_add", dim, axis, index=index, src=src)
    d, index = _scatter_args(input, dim, index, src, "scatter_add")
    if not index._impl.numel and index._impl.ndim != input._impl.ndim:  # nothing to add (no shape checks)
        from .shape import clone
        from .zero_link import link_zero_to
        return link_zero_to(clone(input), src)  # src still gets a (zero) gradient, as PyTorch's
    if (input._rg or src._rg) and _gs.enabled:
        return ScatterAdd.apply(input, d, index, src)
    y = _C.clone(input._impl)
    _scatter_add_impl(y, d, index._impl, src._impl)
    return _wrap(y)


def scatter_add_(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or src is _np.REQUIRED:
        dim = _np.dim_args("scatter_add_", dim, axis, index=index, src=src)
    d, index = _scatter_args(input, dim, index, src, "scatter_add_")
    if not index._impl.numel and index._impl.ndim != input._impl.ndim:  # nothing to add (no shape checks)
        return input
    dsp.check_no_internal_overlap(input._impl, "scatter_add_")
    dsp.check_overlap(input, (index, src), "scatter_add_", partial=False)  # (PyTorch's assert_no_overlap)
    if (input._rg or src._rg) and _gs.enabled:
        dsp._check_inplace_leaf(input)
        return dsp._rebase(input, ScatterAdd.apply(input, d, index, src))
    _scatter_add_impl(input._impl, d, index._impl, src._impl)
    return input


def _scatter_coords(index, dim):
    """Full coordinates of every element of `index` for scatter: arange along each dim except
    `dim`, where the index values themselves are used."""
    shape = index._impl.shape
    dev = index._impl.device
    coords = []
    for k, n in enumerate(shape):
        if k == dim:
            coords.append(index)
        else:
            view = [1] * len(shape)
            view[k] = n
            ar = _wrap(_C.view(_C.arange(0, n, 1, "int64", dev), view))
            coords.append(expand(ar, shape))
    return coords


def _index_range(index):
    """(min, max) of a non-empty index tensor, in one pass."""
    lo, hi = index.aminmax()
    return int(lo.item()), int(hi.item())


def _check_scatter_index(input, d, index, src, op):
    """PyTorch's scatter checks. scatter is built on index_put, which would wrap a negative index and
    report an oversized index tensor with its own words."""
    _check_index(index, op)
    ish, xsh = list(index._impl.shape), list(input._impl.shape)
    if not index._impl.numel:
        return
    if max(len(ish), 1) != max(len(xsh), 1):  # (a 0-d index or self counts as 1-D, as PyTorch)
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as self tensor "
                           f"(index {ish}, self {xsh})")
    for k, (i, x) in enumerate(zip(ish, xsh)):
        if k != d and i > x:
            raise RuntimeError(f"{op}(): Expected index {ish} to be smaller than self {xsh} apart from dimension {d}")
        if src is not None and src._impl.ndim == len(ish) and i > src._impl.shape[k]:
            raise RuntimeError(f"{op}(): Expected index {ish} to be smaller than src {list(src._impl.shape)}")
    n = xsh[d] if xsh else 1
    lo, hi = _index_range(index)
    if lo < 0 or hi >= n:
        raise RuntimeError(f"{op}(): index {lo if lo < 0 else hi} is out of bounds for dimension {d} with size {n}")


def scatter(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=None, *, value=None, reduce=None, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED:
        dim = _np.dim_args("scatter", dim, axis, index=index)
    if src is None and value is None:
        raise TypeError("scatter(): expected 'src' or 'value'")
    if not isinstance(src, Tensor):
        value, src = (src if src is not None else value), None
    index = _check_index(index, "scatter", empty_any_dtype=True)
    if src is not None and src._impl.dtype != input._impl.dtype:  # checked by PyTorch even for an empty index
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if reduce is not None:
        if src is not None:  # PyTorch's deprecation (the scalar-value form is not deprecated)
            import warnings
            warnings.warn("The reduce argument of torch.scatter with Tensor src is deprecated and will be removed in a "
                          "future PyTorch release. Use torch.scatter_reduce instead for more reduction options.",
                          UserWarning, stacklevel=3)
        if reduce not in ("add", "sum", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
        if src is None:
            src = dsp._scalar_like(input, value).expand(index._impl.shape)
        if reduce == "multiply":
            from .scatter_reduce import scatter_reduce
            return scatter_reduce(input, dim, index, src.contiguous(), "prod")
        return scatter_add(input, dim, index, src)
    d = wrap_dim(dim, input._impl.ndim)
    _check_scatter_index(input, d, index, src, "scatter")
    if not index._impl.numel and not (src is not None and src._rg and _gs.enabled):  # nothing to write
        from .shape import clone
        return clone(input)
    one = lambda t: reshape(t, (1,)) if isinstance(t, Tensor) and t._impl.ndim == 0 else t  # noqa: E731
    if input._impl.ndim == 0:  # a 0-d self (and index): as the 1-element case
        return reshape(scatter(one(input), 0, one(index), one(src), value=value), ())
    if index._impl.ndim == 0:  # a 0-d index into 1-D self: one element
        return scatter(input, 0, one(index), one(src), value=value)
    coords = _scatter_coords(index, d)
    if src is not None:
        ishape = index._impl.shape
        vals = src
        if src._impl.shape != ishape:
            from .shape import _slice
            for k, n in enumerate(ishape):
                vals = _slice(vals, k, 0, n, 1)
        return _index_put(input, coords, vals)
    return _index_put(input, coords, value)


def scatter_(input, dim=_np.REQUIRED, index=_np.REQUIRED, src=None, *, value=None, reduce=None, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED:
        dim = _np.dim_args("scatter_", dim, axis, index=index)
    dsp.check_no_internal_overlap(input._impl, "scatter_")
    dsp.check_overlap(input, (index, src), "scatter_", partial=False)  # (computed out of place: `_C` never sees both)
    r = scatter(input, dim, index, src, value=value, reduce=reduce)
    return _assign(input, r)


def _assign(input, r):
    """In-place result: copy r into input, moving r's history onto input if it has one."""
    if r._rg and _gs.enabled:
        dsp._check_inplace_leaf(input)
        return dsp._rebase(input, r)
    _C.copy_(input._impl, r._impl)
    return input


# ---------------------------------------------------------------- masks
def _check_mask(mask, op):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask._impl.dtype != "bool":
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {_CPP[mask._impl.dtype]}")


def masked_fill(input, mask, value):
    _check_mask(mask, "masked_fill_")
    if isinstance(value, Tensor):
        if value._impl.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._impl.ndim} dimension(s).")
        if value._impl.dtype != input._impl.dtype:
            # PyTorch converts the value to input's type with its overflow check (a float inf into int64, 300
            # into int8, 1e6 into float16 raise; the cast would store garbage or inf)
            check_fits(value.item(), input._impl.dtype, wide=True)
        v = _to(value, input._impl.dtype, input._impl.device) if value._impl.dtype != input._impl.dtype \
            or value._impl.device != input._impl.device else value
    else:
        xi = input._impl
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            # masked_fill_ on a real tensor (the complex dispatch takes complex ones): PyTorch's conversion
            from .._promote import complex_as_real
            value = complex_as_real(value, xi.dtype)
        if xi.dtype not in _FLOAT and isinstance(value, float) and not value.is_integer():
            pass  # PyTorch truncates silently here too
        check_fits(value, xi.dtype, wide=True)  # PyTorch's overflow check (uint8: 300 raises, -1 is 255)
        v = _wrap(scalar_impl(value if xi.dtype != "bool" else bool(value), xi.dtype, xi.device))
    # (out of place, mask and input broadcast together, as PyTorch's expand_outplace; masked_fill_ checks
    # that the mask broadcasts to the input's own shape)
    # PyTorch fills a row-major clone of the input (masked_fill's result is contiguous whatever the
    # input's layout), while where() keeps its operands' layout: make it row-major when it isn't.
    if (input._rg or v._rg) and _gs.enabled:
        r = pw.Where.apply(mask, v, input)
        return r if r._impl.is_contiguous() else r.contiguous()
    r = _C.where(mask._impl, v._impl, input._impl)
    return _wrap(r if r.is_contiguous() else _C.contiguous(r))


def masked_fill_(input, mask, value):
    impl = input._impl
    if isinstance(mask, Tensor) and mask._impl.shape != impl.shape:
        from .shape import broadcast_shapes
        b = tuple(broadcast_shapes(mask._impl.shape, impl.shape))
        if b != tuple(impl.shape):
            raise RuntimeError(f"masked_fill_: output with shape {list(impl.shape)} doesn't match the broadcast "
                               f"shape {list(b)} (of the mask's {list(mask._impl.shape)})")
    shared = [d for d, (n, st) in enumerate(zip(impl.shape, impl.stride)) if st == 0 and n > 1]
    if shared and impl.numel and not (input._rg and _gs.enabled) and isinstance(mask, Tensor):
        # An expanded input: PyTorch fills each memory location that any of its aliases' mask entries
        # selects. Computing out of place and copying back would let the unmasked aliases, written
        # last, undo the fill. So: reduce the mask over the shared dims and fill the distinct elements.
        _check_mask(mask, "masked_fill_")
        from .shape import expand, narrow
        m = expand(mask, tuple(impl.shape))
        target = input
        for d in shared:
            m = m.any(dim=d, keepdim=True)
            target = narrow(target, d, 0, 1)
        masked_fill_(target, m, value)
        return input
    r = masked_fill(input, mask, value)
    return _assign(input, r)


def masked_select(input, mask):
    _check_mask(mask, "masked_select")
    from .shape import broadcast_tensors
    x, m = broadcast_tensors(input, mask)
    if not (x._rg and _gs.enabled):  # one compaction pass; with autograd, an Index of the coordinates below
        return _wrap(_C.masked_select(x._impl, m._impl))
    nz = _C.nonzero(m._impl)
    idx = [_wrap(_C.select(nz, 1, k)) for k in range(m._impl.ndim)]
    if not idx:  # 0-d input and mask: zero or one element
        return index(reshape(x, (1,)), [_wrap(_C.full([int(_bool_item(m))], 0, "int64", m._impl.device))])
    return index(x, idx)


_TORCH_SCALAR_NAMES = {"int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                       "float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double",
                       "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def take(input, index_):
    # PyTorch's take takes int64 indices only (indexing with [] also takes int32, bool and uint8 ones)
    if isinstance(index_, Tensor) and index_._impl.dtype != "int64":
        dt = index_._impl.dtype
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {_TORCH_SCALAR_NAMES.get(dt, dt)}")
    return index(reshape(input, (-1,)), [index_])


class Tri(Function):
    """tril (upper=False) / triu: one row kernel (_C.tri); the gradient is the same triangle of g."""
    _builtin = True

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.args = (diagonal, upper)
        return _wrap(_C.tri(x._impl, diagonal, upper))

    @staticmethod
    def backward(ctx, g):
        diagonal, upper = ctx.args
        return tri(g, diagonal, upper), None, None


def tri(input, diagonal, upper):
    if input._rg and _gs.enabled:
        return Tri.apply(input, int(diagonal), upper)
    return _wrap(_C.tri(input._impl, int(diagonal), upper))


def tril(input, diagonal=0):
    return tri(input, diagonal, False)


def triu(input, diagonal=0):
    return tri(input, diagonal, True)


def _tri_(input, diagonal, upper):
    if input._rg and _gs.enabled:
        return _assign(input, tri(input, diagonal, upper))
    impl = input._impl
    if any(st == 0 and n > 1 for st, n in zip(impl.stride, impl.shape)) and impl.ndim >= 2:
        return _tri_expanded_(input, diagonal, upper)
    _C.tri(impl, int(diagonal), upper, True)
    return input


def _tri_expanded_(input, diagonal, upper):
    """triu_/tril_ of a tensor with broadcast (stride-0) dims, as PyTorch: zeros written at the masked
    positions only, so a memory location shared by a kept and a masked position ends up 0 (flambeau's
    kernel wrote the kept values back over them). The written memory is the tensor narrowed to one
    element along each stride-0 dim, zeroed where any position sharing it is masked."""
    from .reduction import any as _any
    from .. import _creation
    impl = input._impl
    shape = list(impl.shape)
    r = _creation.arange(shape[-2], device=input.device).reshape(-1, 1)
    c = _creation.arange(shape[-1], device=input.device).reshape(1, -1)
    masked = (c - r < diagonal) if upper else (c - r > diagonal)  # the positions tri zeroes
    masked = masked.expand(shape)
    view = input
    for d, (st, n) in enumerate(zip(impl.stride, impl.shape)):
        if st == 0 and n > 1:
            masked = _any(masked, d, True)
            view = view.narrow(d, 0, 1)
    view.masked_fill_(masked, 0)
    return input


def tril_(input, diagonal=0):
    return _tri_(input, diagonal, False)


def triu_(input, diagonal=0):
    return _tri_(input, diagonal, True)


def _dim_indices(input, dim, index):
    d = wrap_dim(dim, input._impl.ndim)
    return [None] * d + [index], d


def _check_index_op(input, d, index, source, op, negative_ok=False):
    """PyTorch's checks of index_add / index_copy / index_fill, which are built on index_put and
    would otherwise inherit its rules: a negative index wraps there (index_add_ and index_copy_ refuse
    it), and a source that only broadcasts to the indexed slices is accepted there (not here)."""
    shape = list(input._impl.shape)
    n = shape[d] if shape else 1
    if index._impl.ndim > 1:
        raise IndexError(f"{op}(): Index should have dimension 1 or 0 (got {index._impl.ndim})")
    slices = 1  # elements written: PyTorch checks the indices inside its kernel, which never runs on none
    for k, m in enumerate(shape):
        slices *= m if k != d else 1
    if op == "index_add_" and _nothing_to_add(input, index):
        slices = 0
    if index._impl.numel and slices:
        lo, hi = _index_range(index)
        bad = hi if hi >= n else (lo if lo < (-n if negative_ok else 0) else None)
        if bad is not None:
            raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {n}")
    if isinstance(source, Tensor) and shape:
        want = shape[:d] + [index._impl.numel] + shape[d + 1:]
        if list(source._impl.shape) != want and not (source._impl.ndim == 0 and index._impl.numel == 1
                                                      and len(shape) == 1):
            raise RuntimeError(f"{op}(): source of shape {list(source._impl.shape)} does not match the indexed "
                               f"slices of self (shape {shape}, dim {d}, {index._impl.numel} indices): "
                               f"expected {want}")


def index_add(input, dim=_np.REQUIRED, index=_np.REQUIRED, source=_np.REQUIRED, *, alpha=1, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or source is _np.REQUIRED:
        dim = _np.dim_args("index_add", dim, axis, index=index, source=source)
    _check_same_dtype(input, source, "index_add_")
    if input._impl.ndim == 0:  # as PyTorch: the 0-d input as one element along dim 0 (or -1)
        wrap_dim(dim, 1)
        r = index_add(reshape(input, (1,)), 0, index, _source_of_0d(source, index, dim), alpha=alpha)
        return input if False else reshape(r, ())
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, source, "index_add_")
    if _nothing_to_add(input, index):
        from .shape import clone
        from .zero_link import link_zero_to
        return link_zero_to(clone(input), source)
    if alpha != 1:
        source = ew.mul(source, alpha)
    return _index_put(input, idx, source, accumulate=True)


def index_add_(input, dim=_np.REQUIRED, index=_np.REQUIRED, source=_np.REQUIRED, *, alpha=1, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or source is _np.REQUIRED:
        dim = _np.dim_args("index_add_", dim, axis, index=index, source=source)
    _check_same_dtype(input, source, "index_add_")
    if input._impl.ndim == 0:  # as PyTorch: the 0-d input as one element along dim 0 (or -1)
        wrap_dim(dim, 1)
        r = index_add_(reshape(input, (1,)), 0, index, _source_of_0d(source, index, dim), alpha=alpha)
        return input if True else reshape(r, ())
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, source, "index_add_")
    dsp.check_overlap(input, (index, source), "index_add_", partial=False)  # (PyTorch's assert_no_overlap)
    if _nothing_to_add(input, index):
        return input
    if alpha != 1:
        source = ew.mul(source, alpha)
    return _index_put_(input, idx, source, accumulate=True)


def _nothing_to_add(input, index):
    """index_add into an empty self of 2+ dims writes nothing: PyTorch returns before any index check there
    (zeros(3, 0).index_add(1, tensor([0]), zeros(3, 1)) is zeros(3, 0))."""
    return input._impl.ndim > 1 and not input._impl.numel


def _source_of_0d(source, index, dim):
    """index_add_ into a 0-d self takes a 0-d source and one index, as PyTorch (as a 1-element slice)."""
    if isinstance(source, Tensor) and source._impl.ndim:
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = [] source.shape = {list(source._impl.shape)}")
    if isinstance(index, Tensor) and index._impl.numel != 1:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return reshape(source, (1,))


def _check_same_dtype(input, source, op):
    """index_add_/index_copy_ take a source of self's dtype only, as PyTorch (they cast before)."""
    if isinstance(source, Tensor) and isinstance(input, Tensor) and source._impl.dtype != input._impl.dtype:
        from .._indexing import _SCALAR_TYPE_NAMES as n
        a, b = n.get(input._impl.dtype, input._impl.dtype), n.get(source._impl.dtype, source._impl.dtype)
        if op == "index_copy_":
            raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) {a} "
                               f"and (source) {b}")
        raise RuntimeError(f"{op}(): self ({a}) and source ({b}) must have the same scalar type")


def _check_fill_index(index):
    # PyTorch's index_fill takes int64 indices only (index_select, index_add and index_copy also int32)
    if isinstance(index, Tensor) and index._impl.dtype != "int64":
        raise IndexError("index_fill_(): Expected dtype int64 for index.")


def _complex_fill_value(input, value):
    """A complex Python number for a complex tensor as a 0-d tensor of its dtype (the scalar path takes real
    numbers only); anything else as it is."""
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real) and \
            input._impl.dtype in ("complex64", "complex128"):
        from .._creation import tensor
        return tensor(complex(value), dtype=input.dtype, device=input.device)
    return value


def index_fill(input, dim=_np.REQUIRED, index=_np.REQUIRED, value=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or value is _np.REQUIRED:
        dim = _np.dim_args("index_fill", dim, axis, index=index, value=value)
    if isinstance(value, complex) and input._impl.dtype not in ("complex64", "complex128"):
        raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type is not supported")
    if input._impl.ndim == 0:
        return _on_0d(input, dim, index_fill, index, value, False)
    _check_fill_index(index)
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, None, "index_fill_", negative_ok=True)
    value = _complex_fill_value(input, value)
    if isinstance(value, numbers.Number):
        check_fits(value, input._impl.dtype, wide=True)  # PyTorch: uint8 300 or float32 1e40 raises
    return _index_put(input, idx, value)


def index_fill_(input, dim=_np.REQUIRED, index=_np.REQUIRED, value=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or value is _np.REQUIRED:
        dim = _np.dim_args("index_fill_", dim, axis, index=index, value=value)
    if isinstance(value, complex) and input._impl.dtype not in ("complex64", "complex128"):
        raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type is not supported")
    if input._impl.ndim == 0:
        return _on_0d(input, dim, index_fill_, index, value, True)
    _check_fill_index(index)
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, None, "index_fill_", negative_ok=True)
    value = _complex_fill_value(input, value)
    if isinstance(value, numbers.Number):
        check_fits(value, input._impl.dtype, wide=True)  # PyTorch: uint8 300 or float32 1e40 raises
    return _index_put_(input, idx, value)


def _on_0d(input, dim, op, index, arg, inplace):
    """op on a 0-d input, as PyTorch: the input as one element along dim 0 (or -1), a 0-d source as
    one slice (index_fill_ and index_copy_ indexed the 0-d tensor directly and raised)."""
    wrap_dim(dim, 1)
    view = reshape(input, (1,))
    if isinstance(arg, Tensor) and arg._impl.ndim == 0 and op in (index_copy, index_copy_):
        arg = reshape(arg, (1,))
    r = op(view, 0, index, arg)
    return input if inplace else reshape(r, ())


def index_copy(input, dim=_np.REQUIRED, index=_np.REQUIRED, source=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or source is _np.REQUIRED:
        dim = _np.dim_args("index_copy", dim, axis, index=index, source=source)
    _check_same_dtype(input, source, "index_copy_")
    if input._impl.ndim == 0:
        return _on_0d(input, dim, index_copy, index, source, False)
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, source, "index_copy_")
    return _index_put(input, idx, source)


def index_copy_(input, dim=_np.REQUIRED, index=_np.REQUIRED, source=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED or source is _np.REQUIRED:
        dim = _np.dim_args("index_copy_", dim, axis, index=index, source=source)
    _check_same_dtype(input, source, "index_copy_")
    if input._impl.ndim == 0:
        return _on_0d(input, dim, index_copy_, index, source, True)
    idx, d = _dim_indices(input, dim, reshape(index, (-1,)))
    _check_index_op(input, d, index, source, "index_copy_")
    dsp.check_overlap(input, (index, source), "index_copy_", partial=False)  # (PyTorch's assert_no_overlap)
    return _index_put_(input, idx, source)
