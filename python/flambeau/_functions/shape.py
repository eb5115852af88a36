"""Shape and view ops: view/reshape/permute/transpose/expand/slice/select/squeeze/unsqueeze/
diagonal/as_strided, and copies (clone, contiguous, to). Views share storage (metadata only, in
`_C`) and carry `_base`; their backward maps the gradient back to the input's geometry. Each public
function takes the fast path (no Function, no ctx) when no graph needs recording.
Joining and splitting (cat, stack, split, ...) are in join.py.
"""
import numbers

from . import _numpy_names as _np
from .. import _C
from .. import _memory_format as _mf
from .. import _tensor as _tensor_module
from .._tensor import _wrap, _wrap_view
from .._utils import wrap_dim, parse_size, infer_size
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs


def _needs_grad(t):
    return t._rg and _gs.enabled


# ---------------------------------------------------------------- gradient helpers
def _reduce_dims_for(gshape, shape):
    """Dims of a gradient of shape `gshape` to sum so it matches `shape` (None if impossible)."""
    lead = len(gshape) - len(shape)
    if lead < 0:
        return None
    dims = list(range(lead))
    for i, s in enumerate(shape):
        gs = gshape[lead + i]
        if s == gs:
            continue
        if s != 1:
            return None
        dims.append(lead + i)
    return dims


def _sum_to(g, shape):
    """Sums a broadcast gradient back to `shape` (the inverse of broadcasting)."""
    gshape = g._impl.shape
    if gshape == shape:
        return g
    dims = _reduce_dims_for(gshape, shape)
    if not _gs.enabled and g._impl.dtype[0] != "c":  # (complex gradients: Tensor.sum composes them)
        r = _C.sum(g._impl, dims, True) if dims else g._impl
        return _wrap(_C.view(r, list(shape)))
    return (g.sum(dims, keepdim=True) if dims else g).reshape(shape)


def _sum_to_or_none(g, shape):
    shape = tuple(shape)
    if _reduce_dims_for(g._impl.shape, shape) is None:
        return None
    return _sum_to(g, shape)


def _may_overlap(impl):
    """Whether two elements of view `impl` may share a memory location (an expand, or an as_strided
    with small strides): dims sorted by stride, each stride must pass the span of the smaller ones."""
    span = 0  # the largest offset the smaller-stride dims reach
    for stride, size in sorted((st, n) for n, st in zip(impl.shape, impl.stride) if n > 1):
        if stride <= span:
            return True
        span += (size - 1) * stride
    return False


def _scatter_into(z, view_fn, gi):
    """Writes gradient gi through view_fn into zeros z (contiguous), summing where the view repeats a
    location: the gradient of an overlapping view (expand, as_strided) adds up, as PyTorch's
    AsStridedBackward0."""
    v = view_fn(z)
    if not _may_overlap(v):
        _C.copy_(v, gi)
        return
    n = z.numel
    pos = _C.reshape(_C.arange(0.0, float(n), 1.0, "int64", z.device), list(z.shape))
    flat = _C.reshape(z, [n])
    _C.index_put_(flat, [_C.reshape(_C.contiguous(view_fn(pos)), [-1])], _C.reshape(_C.contiguous(gi), [-1]), True)


class _ScatterIntoZeros(Function):
    """Gradient of a view: zeros of the base's shape with the gradient written through the same
    view. Its own backward is the view again, so double backward works."""
    _builtin = True

    @staticmethod
    def forward(ctx, g, shape, view_fn):
        ctx.view_fn = view_fn
        gi = g._impl
        z = _C.full(list(shape), 0, gi.dtype, gi.device)
        _scatter_into(z, view_fn, gi)
        return _wrap(z)

    @staticmethod
    def backward(ctx, gg):
        return _view_of(gg, ctx.view_fn), None, None


def _view_of(t, view_fn):
    """Applies an impl-level view function to a Tensor, differentiably."""
    if _needs_grad(t):
        return _ViewFn.apply(t, view_fn)
    return _wrap_view(view_fn(t._impl), t)


class _ViewFn(Function):
    _builtin = True
    _grad_fn_name = "AsStridedBackward0"  # (PyTorch's name for a view's regenerated history)

    @staticmethod
    def forward(ctx, t, view_fn):
        ctx.shape = t._impl.shape
        ctx.view_fn = view_fn
        return _wrap_view(view_fn(t._impl), t)

    @staticmethod
    def backward(ctx, g):
        return _ScatterIntoZeros.apply(g, ctx.shape, ctx.view_fn), None


def _scatter_grad(g, shape, view_fn):
    if not _gs.enabled:
        gi = g._impl
        z = _C.full(list(shape), 0, gi.dtype, gi.device)
        _scatter_into(z, view_fn, gi)
        return _wrap(z)
    return _ScatterIntoZeros.apply(g, shape, view_fn)


# ---------------------------------------------------------------- views
class View(Function):
    _builtin = True
    _grad_fn_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x._impl.shape
        return _wrap_view(_C.view(x._impl, shape), x)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Alias(Function):
    """The same tensor under another Python object (as_subclass; PyTorch's aten::alias): a view of the whole."""
    _builtin = True
    _grad_fn_name = "AliasBackward0"

    @staticmethod
    def forward(ctx, x):
        return _wrap_view(_C.view(x._impl, x._impl.shape), x)

    @staticmethod
    def backward(ctx, g):
        return g


def alias(input):
    if _needs_grad(input):
        return Alias.apply(input)
    return _wrap_view(_C.view(input._impl, input._impl.shape), input)


_tensor_module._alias = alias


class Reshape(Function):
    _builtin = True
    _grad_fn_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x._impl.shape
        return _reshape_result(_C.reshape(x._impl, shape), x)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _reshape_result(impl, src):
    # reshape is a view when the strides allow, else a copy; only a view may carry `_base`.
    return _wrap_view(impl, src) if impl.same_storage(src._impl) else _wrap(impl)


def _shape_arg(args, op):
    return parse_size(args, op)


def view(input, *shape, size=None):
    if size is not None:
        shape = _np.size_keyword(shape, size, "view", "size")
    """Tensor.view(*shape), or view(dtype): the same memory read as another dtype (the last dim split or
    merged when the element sizes differ). As in PyTorch, view(dtype) is not differentiable: its result
    never requires grad."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)) and not hasattr(shape[0], "__index__"):
        from .._dtype import _to_dtype
        dt = _to_dtype(shape[0])
        return _wrap(_C.view_dtype(input.detach()._impl, dt._name))
    # _C.view resolves the -1 and checks the element count (its errors name the op and the shapes).
    shape = _shape_arg(shape, "view")
    if _needs_grad(input):
        return View.apply(input, shape)
    return _wrap_view(_C.view(input._impl, shape), input)


def reshape(input, *shape_args, shape=None):
    shape = shape_args if shape is None else _np.size_keyword(shape_args, shape, "reshape", "shape")
    shape = _shape_arg(shape, "reshape")
    if _needs_grad(input):
        return Reshape.apply(input, shape)
    return _reshape_result(_C.reshape(input._impl, shape), input)


def view_as(input, other):
    return view(input, other._impl.shape)


def reshape_as(input, other):
    return reshape(input, other._impl.shape)


def flatten(input, start_dim=0, end_dim=-1):
    impl = input._impl
    if start_dim == 0 and end_dim == -1 and impl.ndim > 1 and not _needs_grad(input):  # the common x.flatten()
        return _reshape_result(_C.reshape(impl, (impl.numel,)), input)
    shape = impl.shape
    nd = len(shape)
    if nd == 0:
        return reshape(input, (1,))
    s = wrap_dim(start_dim, nd)
    e = wrap_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(input, tuple(shape[:s]) + (n,) + tuple(shape[e + 1:]))


def unflatten(input, dim, sizes):
    shape = input._impl.shape
    if not shape:  # (indexing the empty shape raised a bare "tuple index out of range")
        raise RuntimeError(f"unflatten: Dimension specified as {dim} but tensor has no dimensions")
    d = wrap_dim(dim, len(shape))
    sizes = tuple(sizes)
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten: only one dimension can be inferred")
    sizes = infer_size(sizes, shape[d], "unflatten") if -1 in sizes else sizes
    n = 1
    for s in sizes:
        n *= s
    if n != shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({shape[d]}) in the input tensor")
    return view(input, tuple(shape[:d]) + sizes + tuple(shape[d + 1:])) if input._impl.is_contiguous() \
        else reshape(input, tuple(shape[:d]) + sizes + tuple(shape[d + 1:]))


class Permute(Function):
    _builtin = True
    _grad_fn_name = "PermuteBackward0"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _wrap_view(_C.permute(x._impl, dims), x)

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(inv), None


def permute(input, *dims_args, dims=None):
    dims = dims_args if dims is None else _np.size_keyword(dims_args, dims, "permute", "dims")
    dims = parse_size(dims, "permute")
    nd = input._impl.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
                           f"len(dims) = {len(dims)}".replace("(sparse_coo)", ""))
    dims = [wrap_dim(d, nd) for d in dims]
    if len(set(dims)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if _needs_grad(input):
        return Permute.apply(input, dims)
    return _wrap_view(_C.permute(input._impl, dims), input)


class Transpose(Function):
    _builtin = True
    _grad_fn_name = "TransposeBackward0"

    @staticmethod
    def forward(ctx, x, d0, d1):
        ctx.d = (d0, d1)
        return _wrap_view(_C.transpose(x._impl, d0, d1), x)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(*ctx.d), None, None


def transpose(input, dim0, dim1):
    nd = input._impl.ndim
    d0, d1 = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
    if _needs_grad(input):
        return Transpose.apply(input, d0, d1)
    if nd == 0:
        return _wrap_view(input._impl, input)
    return _wrap_view(_C.transpose(input._impl, d0, d1), input)


swapaxes = swapdims = transpose


def t(input):
    nd = input._impl.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    if nd < 2:  # a new view (PyTorch's transpose(0, 0)), never `input` itself
        return permute(input, list(range(nd)))
    return transpose(input, 0, 1)


def adjoint(input):
    t = transpose(input, -2, -1)
    if input._impl.dtype in ("complex64", "complex128"):  # the conjugate transpose (a copy here, a view in PyTorch)
        from .._complex.ops import conj
        return conj(t)
    return t


def movedim(input, source, destination):
    nd = input._impl.ndim
    src = [source] if isinstance(source, numbers.Integral) else list(source)
    dst = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the "
                           f"same number of dims as destination ({dst} dims)")
    src = [wrap_dim(d, nd) for d in src]
    dst = [wrap_dim(d, nd) for d in dst]
    for name, lst in (("source", src), ("destination", dst)):
        if len(set(lst)) != len(lst):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({lst})")
    if nd == 0:  # a 0-d tensor: dims 0 / -1 name it, nothing moves
        return permute(input, [])
    order = [None] * nd
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [o if o is not None else next(rest) for o in order]
    return permute(input, order)


moveaxis = movedim


class Expand(Function):
    _builtin = True
    _grad_fn_name = "ExpandBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x._impl.shape
        return _wrap_view(_C.expand(x._impl, shape), x)

    @staticmethod
    def backward(ctx, g):
        return _sum_to(g, ctx.shape), None


def _expand_shape(shape, sizes, op="expand"):
    n = len(sizes)
    if n < len(shape):
        raise RuntimeError(f"{op}: the number of sizes provided ({n}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({len(shape)})")
    lead = n - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise RuntimeError(f"{op}: -1 is not allowed in a leading, non-existing dimension {i}")
            s = shape[i - lead]
        elif i >= lead and shape[i - lead] != 1 and shape[i - lead] != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                               f"({shape[i - lead]}) at non-singleton dimension {i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(shape)}")
        out.append(s)
    return out


def expand(input, *sizes, size=None):
    if size is not None:
        sizes = _np.size_keyword(sizes, size, "expand", "size")
    shape = input._impl.shape
    sizes = _expand_shape(shape, parse_size(sizes, "expand"))
    if tuple(sizes) == shape and not _needs_grad(input):
        return _wrap_view(input._impl, input)
    if _needs_grad(input):
        return Expand.apply(input, sizes)
    return _wrap_view(_C.expand(input._impl, sizes), input)


def expand_as(input, other):
    return expand(input, other._impl.shape)


def broadcast_to(input, size):
    return expand(input, tuple(size))


def broadcast_shapes(*shapes):
    out = ()
    for s in shapes:
        s = (s,) if isinstance(s, numbers.Integral) else tuple(s)
        out = tuple(_C.broadcast_shapes(list(out), list(s)))
    from .._dtype import Size
    return Size(out)


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    shape = broadcast_shapes(*[t._impl.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def _squeeze_noop(x):
    return x


class ShapeOnly(Function):
    """squeeze/unsqueeze: the gradient only needs reshaping back."""
    _builtin = True

    @staticmethod
    def forward(ctx, x, fn, arg):
        ctx.shape = x._impl.shape
        return _wrap_view(fn(x._impl, arg), x)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None, None


class Unsqueeze(ShapeOnly):
    _builtin = True
    _grad_fn_name = "UnsqueezeBackward0"


class Squeeze(ShapeOnly):
    _builtin = True
    _grad_fn_name = "SqueezeBackward0"


def unsqueeze(input, dim=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED:
        dim = _np.numpy_dim("unsqueeze", dim, axis, _np.REQUIRED)
    d = wrap_dim(dim, input._impl.ndim + 1)
    if _needs_grad(input):
        return Unsqueeze.apply(input, _C.unsqueeze, d)
    return _wrap_view(_C.unsqueeze(input._impl, d), input)


def squeeze(input, dim=None, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("squeeze", dim, axis, None)
    shape = input._impl.shape
    if dim is None:
        dims = []
    else:
        dims = [wrap_dim(d, len(shape)) for d in ((dim,) if isinstance(dim, numbers.Integral) else dim)]
        dims = [d for d in dims if shape and shape[d] == 1]
        if not dims:  # nothing to squeeze: still a new view, as in PyTorch
            return View.apply(input, list(shape)) if _needs_grad(input) else _wrap_view(input._impl, input)
    if _needs_grad(input):
        return Squeeze.apply(input, _C.squeeze, dims)
    return _wrap_view(_C.squeeze(input._impl, dims), input)


class Select(Function):
    _builtin = True
    _grad_fn_name = "SelectBackward0"

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.shape = x._impl.shape
        ctx.dim, ctx.index = dim, index
        return _wrap_view(_C.select(x._impl, dim, index), x)

    @staticmethod
    def backward(ctx, g):
        d, i = ctx.dim, ctx.index
        return _scatter_grad(g, ctx.shape, lambda z: _C.select(z, d, i)), None, None


def select(input, dim=_np.REQUIRED, index=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or index is _np.REQUIRED:
        dim = _np.dim_args("select", dim, axis, index=index)
    shape = input._impl.shape
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, len(shape))
    n = shape[d]
    index = int(index)
    if index < -n or index >= n:
        raise IndexError(f"index {index} is out of bounds for dimension {d} with size {n}")
    if index < 0:
        index += n
    if _needs_grad(input):
        return Select.apply(input, d, index)
    return _wrap_view(_C.select(input._impl, d, index), input)


class Slice(Function):
    _builtin = True
    _grad_fn_name = "SliceBackward0"

    @staticmethod
    def forward(ctx, x, dim, start, stop, step):
        ctx.shape = x._impl.shape
        ctx.args = (dim, start, stop, step)
        return _wrap_view(_C.slice(x._impl, dim, start, stop, step), x)

    @staticmethod
    def backward(ctx, g):
        d, a, b, s = ctx.args
        return _scatter_grad(g, ctx.shape, lambda z: _C.slice(z, d, a, b, s)), None, None, None, None


def _slice(input, dim, start, stop, step):
    """Slice with Python semantics already resolved: 0 <= start <= stop <= size, step > 0."""
    if _needs_grad(input):
        return Slice.apply(input, dim, start, stop, step)
    return _wrap_view(_C.slice(input._impl, dim, start, stop, step), input)


def narrow(input, dim=_np.REQUIRED, start=_np.REQUIRED, length=_np.REQUIRED, *, axis=None):
    if axis is not None or dim is _np.REQUIRED or start is _np.REQUIRED or length is _np.REQUIRED:
        dim = _np.dim_args("narrow", dim, axis, start=start, length=length)
    shape = input._impl.shape
    if not shape:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, len(shape))
    start = int(start)
    n = shape[d]
    if start < -n or start > n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _slice(input, d, start, start + length, 1)


class Diagonal(Function):
    _builtin = True
    _grad_fn_name = "DiagonalBackward0"

    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        ctx.shape = x._impl.shape
        ctx.args = (offset, d1, d2)
        return _wrap_view(_C.diagonal(x._impl, offset, d1, d2), x)

    @staticmethod
    def backward(ctx, g):
        o, a, b = ctx.args
        return _scatter_grad(g, ctx.shape, lambda z: _C.diagonal(z, o, a, b)), None, None, None


def diagonal(input, offset=0, dim1=0, dim2=1):
    nd = input._impl.ndim
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    if _needs_grad(input):
        return Diagonal.apply(input, offset, d1, d2)
    return _wrap_view(_C.diagonal(input._impl, offset, d1, d2), input)


class AsStrided(Function):
    _builtin = True
    _grad_fn_name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, x, size, stride, offset):
        xi = x._impl
        ctx.meta = (xi.shape, list(xi.stride), xi.storage_offset, xi.dtype, xi.device)
        ctx.args = (size, stride, offset)
        return _wrap_view(_C.as_strided(xi, size, stride, offset), x)

    @staticmethod
    def backward(ctx, g):
        # PyTorch's as_strided_backward, on storage positions: the output's gradient is accumulated
        # into a storage-sized buffer at each output element's position (an overlapping view repeats
        # positions: their gradients sum), divided where the input itself overlaps by how many input
        # elements share a position, and read back at the input's positions. (Only contiguous inputs
        # were supported: transposed, sliced or expanded ones raised.)
        shape, istride, ioff, dt, dev = ctx.meta
        size, stride, offset = ctx.args

        def positions(sz, st, off):
            last = off + sum((a - 1) * b for a, b in zip(sz, st)) if all(sz) else off
            p = _C.as_strided(_C.arange(0, last + 1, 1, "int64", dev), list(sz), list(st), off)
            return _C.reshape(_C.contiguous(p), [-1]), last + 1

        opos, on = positions(size, stride, offset)
        ipos, inn = positions(shape, istride, ioff)
        span = max(on, inn)
        buf = _C.full([span], 0, dt, dev)
        _C.index_put_(buf, [opos], _C.reshape(_C.contiguous(g._impl), [-1]), True)
        rdt = {"complex64": "float32", "complex128": "float64"}.get(dt, dt)
        count = _C.full([span], 0, rdt, dev)  # (x / 1 is exact: no need to look for overlap first)
        _C.index_put_(count, [ipos], _C.full([ipos.shape[0]], 1, rdt, dev), True)
        # positions no input element has (0 / 0) are never read back; complex: (re, im) pairs
        if rdt != dt:
            buf = _C.view_as_complex(_C.contiguous(_C.div(_C.view_as_real(buf), _C.reshape(count, [span, 1]))))
        else:
            buf = _C.div(buf, count)
        return _wrap(_C.reshape(_C.index(buf, [ipos]), list(shape))), None, None, None


def as_strided(input, size, stride, storage_offset=None):
    off = input._impl.storage_offset if storage_offset is None else storage_offset
    size, stride = list(size), list(stride)
    if _needs_grad(input):
        return AsStrided.apply(input, size, stride, off)
    return _wrap_view(_C.as_strided(input._impl, size, stride, off), input)


# ---------------------------------------------------------------- copies
class Clone(Function):
    _builtin = True
    _grad_fn_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x, fn):
        return _wrap(fn(x._impl))

    @staticmethod
    def backward(ctx, g):
        return g, None


def clone(input, *, memory_format=None):
    # preserve_format (the default) keeps a dense input's strides, as PyTorch's clone does.
    fmt = _mf.parse(memory_format, "clone")
    impl = input._impl
    fn = lambda i: _mf.copy_as(i, fmt, i.dtype, i.device)  # noqa: E731
    if fmt is _mf.preserve_format and impl.is_contiguous():
        fn = _C.clone
    elif fmt is _mf.contiguous_format:
        fn = _C.clone
    if _needs_grad(input):
        return Clone.apply(input, fn)
    return _wrap(fn(impl))


def contiguous(input, memory_format=None):
    fmt = _mf.parse(memory_format, "contiguous", _mf.contiguous_format)
    if fmt is _mf.preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    if _mf.is_contiguous_as(input._impl, fmt):
        return input
    fn = _C.contiguous if fmt is _mf.contiguous_format else (lambda i: _mf.copy_as(i, fmt, i.dtype, i.device))
    if _needs_grad(input):
        return Clone.apply(input, fn)
    return _wrap(fn(input._impl))


class ToCopy(Function):
    _builtin = True
    _grad_fn_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, dt, dev, fmt=None):
        xi = x._impl
        ctx.src = (xi.dtype, xi.device)
        return _wrap(_C.to(xi, dt, dev, True) if fmt is None else _mf.copy_as(xi, fmt, dt, dev))

    @staticmethod
    def backward(ctx, g):
        dt, dev = ctx.src
        gi = g._impl
        if gi.dtype == dt and gi.device == dev:
            return g, None, None, None
        if gi.dtype[0] == "c" and dt[0] != "c":  # a real input's gradient: the real part (no cast warning)
            from .._complex.ops import real
            g = real(g)
        return _to(g, dt, dev), None, None, None


_COMPLEX_WARNED = []


def _warn_complex_to_real():
    """PyTorch's TORCH_WARN_ONCE when a complex tensor is cast to a real dtype (bool is z != 0: no warning)."""
    if not _COMPLEX_WARNED:
        import warnings
        _COMPLEX_WARNED.append(True)
        warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=4)


def _to(x, dt, dev, memory_format=None):
    """Copy of x with dtype name dt on device string dev (differentiable). Row-major unless a
    memory_format is given (Tensor.to passes preserve_format, keeping the input's strides)."""
    if x._impl.dtype[0] == "c" and dt[0] != "c" and dt != "bool":
        _warn_complex_to_real()
    if _needs_grad(x) and dt in ("float32", "float64", "float16", "bfloat16", "complex64", "complex128"):
        return ToCopy.apply(x, dt, dev, memory_format)
    if memory_format is None:
        return _wrap(_C.to(x._impl, dt, dev, True))
    return _wrap(_mf.copy_as(x._impl, memory_format, dt, dev))


def cat(tensors, dim=0, *, out=None):
    """Kept here for modules that import it from shape; the op lives in join.py."""
    from .join import cat as _cat
    return _cat(tensors, dim, out=out)
