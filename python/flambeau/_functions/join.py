"""Joining and splitting: cat/stack (and hstack, vstack, ...), split/chunk/tensor_split/unbind
(views of one dim, one multi-output Function), and the copies built from them: repeat, tile,
repeat_interleave, flip, roll, rot90. Gradients: cat's is narrow views of the output gradient,
split's is the cat of the pieces' gradients (zeros for pieces that got none).
"""
import numbers

from . import _numpy_names as _np
from .. import _C
from .. import _memory_format as _mf
from .._promote import result_type_names
from .._tensor import Tensor, _wrap, _wrap_view, mark_multi_output
from .._utils import wrap_dim, parse_size
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .shape import (_needs_grad, _to, narrow, unsqueeze, reshape, expand, contiguous, clone, view, transpose)


class Cat(Function):
    _builtin = True
    _grad_fn_name = "CatBackward0"

    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim = dim
        ctx.sizes = [t._impl.shape[dim] if t._impl.ndim else 0 for t in tensors]
        return _wrap(_C.cat([t._impl for t in tensors], dim))

    @staticmethod
    def backward(ctx, g):
        out = [None]
        start = 0
        nig = ctx.needs_input_grad
        for k, n in enumerate(ctx.sizes):
            if nig[k + 1] and n >= 0:
                out.append(narrow(g, ctx.dim, start, n))
            else:
                out.append(None)
            start += n
        return tuple(out)


def _promote_all(tensors, op):
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    dts = {t._impl.dtype for t in tensors}
    if len(dts) == 1:
        return list(tensors)
    dt = result_type_names(*tensors)
    return [t if t._impl.dtype == dt else _to(t, dt, t._impl.device) for t in tensors]


def _with_skipped(res, given, kept):
    """res in the graph of the skipped 1-d empty inputs too: PyTorch gives them an (empty) gradient."""
    if _gs.enabled and len(kept) < len(given):
        from .zero_link import link_zero_to
        kept_ids = {id(t) for t in kept}
        return link_zero_to(res, *[t for t in given if id(t) not in kept_ids])
    return res


def _cat_common(tensors, dim):
    """cat's common case, checked on the impls: two or more plain tensors of one dtype, none of them 1-d
    and empty (the legacy skip), not 0-d nor 4-d/5-d (the memory-format rule), an int dim in range. The
    general path's result and graph; None when the case is not this one (the general path then decides).
    Without autograd, the ndim, dim and shape checks are _C.cat's (it skips 1-d empty tensors as the
    general path does): any error there sends the call to the general path for PyTorch's message."""
    if len(tensors) < 2:
        return None
    impls = []
    dt = None
    rg = False
    for t in tensors:
        if t.__class__ is not Tensor:
            return None
        i = t._impl
        if dt is None:
            dt = i.dtype
        elif i.dtype != dt:
            return None  # (promotion: the general path)
        if t._rg:
            rg = True
        impls.append(i)
    i = impls[0]
    nd = i.ndim
    if nd == 0 or nd == 4 or nd == 5 or (nd == 1 and i.numel == 0):
        return None
    if rg and _gs.enabled:
        if not (-nd <= dim < nd):
            return None
        for i in impls:
            if i.ndim != nd or (nd == 1 and i.numel == 0):
                return None  # (the legacy 1-d empty skip links the skipped inputs into the graph)
        return Cat.apply(dim + nd if dim < 0 else dim, *tensors)
    try:
        return _wrap(_C.cat(impls, dim))
    except (RuntimeError, IndexError, ValueError, TypeError):
        return None


def cat(tensors, dim=0, *, out=None, axis=None):
    if out is None and axis is None and dim.__class__ is int and tensors.__class__ in (list, tuple):
        r = _cat_common(tensors, dim)  # (the per-call checks below cost ~5 us: 6.3 us a 2-tensor cat)
        if r is not None:
            return r
    if axis is not None:
        dim = _np.numpy_dim("cat", dim, axis, 0)
    if isinstance(tensors, Tensor) or not hasattr(tensors, "__len__"):
        raise TypeError("cat(): argument 'tensors' must be a tuple or list of Tensors")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors".replace("torch.", "flambeau."))
    tensors = _promote_all(tensors, "cat")
    # Legacy rule kept by PyTorch: 1-d empty tensors are skipped whatever the others' shape.
    ref = next((t for t in tensors if not (t._impl.ndim == 1 and t._impl.numel == 0)), tensors[0])
    nd = ref._impl.ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = wrap_dim(dim, nd)
    given = tensors
    tensors = [t for t in tensors if not (t._impl.ndim == 1 and t._impl.numel == 0)] or tensors[:1]
    # PyTorch's result layout: channels_last when every input looks channels_last, else row-major.
    fmt = _mf.cat_memory_format([t._impl for t in tensors]) if nd in (4, 5) else _mf.contiguous_format
    if len(tensors) == 1 and out is None:
        return _with_skipped(clone(tensors[0], memory_format=fmt), given, tensors)
    if _gs.enabled and any(t._rg for t in tensors):
        res = Cat.apply(d, *tensors)
    else:
        res = _wrap(_C.cat([t._impl for t in tensors], d))
    res = _with_skipped(res, given, tensors)
    if fmt is not _mf.contiguous_format:
        res = contiguous(res, memory_format=fmt)  # the kernel writes row-major; relaid out (one copy)
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, res, *tensors, op="cat", partial=False)
    return res


concat = concatenate = cat


def _stack_common(tensors, dim):
    """stack's common case without autograd: plain tensors of one dtype and shape, one _C call (the views
    and the cat in C++). None when it is not this case; an error there sends the call to the general path
    below for PyTorch's message."""
    impls = []
    grad = _gs.enabled
    for t in tensors:
        if t.__class__ is not Tensor or (grad and t._rg):
            return None
        impls.append(t._impl)
    try:
        return _wrap(_C.stack(impls, dim))
    except (RuntimeError, IndexError, ValueError, TypeError):
        return None


def stack(tensors, dim=0, *, out=None, axis=None):
    if out is None and axis is None and dim.__class__ is int and tensors.__class__ in (list, tuple) and tensors:
        r = _stack_common(tensors, dim)
        if r is not None:
            return r
    if axis is not None:
        dim = _np.numpy_dim("stack", dim, axis, 0)
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    impl0 = tensors[0]._impl
    shape0, dt = impl0.shape, impl0.dtype
    impls = []
    rg = False
    one_dtype = True
    for i, t in enumerate(tensors):  # (one pass: shapes checked, dtypes and grad noted)
        ti = t._impl
        if ti.shape != shape0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape0)} at entry 0 and "
                               f"{list(ti.shape)} at entry {i}")
        if ti.dtype != dt:
            one_dtype = False
        if t._rg:
            rg = True
        impls.append(ti)
    d = wrap_dim(dim, len(shape0) + 1)
    if out is None and one_dtype and not (rg and _gs.enabled):
        # Without autograd: the views and the cat in C++ (per tensor, the Python unsqueeze and the
        # cat's checks cost ~2 us: stack() of 128 CIFAR images was 0.54x PyTorch).
        return _wrap(_C.cat([_C.unsqueeze(i, d) for i in impls], d))
    return cat([unsqueeze(t, d) for t in tensors], d, out=out)


def hstack(tensors):
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0]._impl.ndim == 1 else 1)


def vstack(tensors):
    return cat([atleast_2d(t) for t in tensors], 0)


row_stack = vstack


def dstack(tensors):
    return cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors):
    return hstack([reshape(t, (-1, 1)) if t._impl.ndim <= 1 else t for t in tensors])


def atleast_1d(t):
    return reshape(t, (1,)) if t._impl.ndim == 0 else t


def atleast_2d(t):
    nd = t._impl.ndim
    return reshape(t, (1, 1)) if nd == 0 else (unsqueeze(t, 0) if nd == 1 else t)


def atleast_3d(t):
    nd = t._impl.ndim
    if nd == 0:
        return reshape(t, (1, 1, 1))
    if nd == 1:
        return reshape(t, (1, -1, 1))
    if nd == 2:
        return unsqueeze(t, 2)
    return t


class SplitViews(Function):
    """Several slices of one dim at once (split/chunk/tensor_split); the gradient is their cat,
    with zeros for pieces that got none."""
    _builtin = True
    _grad_fn_name = "SplitWithSizesBackward0"

    @staticmethod
    def forward(ctx, x, dim, sizes):
        ctx.dim = dim
        xi = x._impl
        outs = []
        start = 0
        for n in sizes:
            outs.append(_wrap_view(_C.slice(xi, dim, start, start + n, 1), x))
            start += n
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        return cat(list(grads), ctx.dim), None, None


def _split_sizes(input, sizes, dim):
    shape = input._impl.shape
    if not shape:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, len(shape))
    if sum(sizes) != shape[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {shape[d]} (input tensor's size "
                           f"at dimension {d}), but got split_sizes={list(sizes)}")
    if _needs_grad(input):
        return SplitViews.apply(input, d, list(sizes))
    xi = input._impl
    outs = []
    start = 0
    for n in sizes:
        outs.append(_wrap_view(_C.slice(xi, d, start, start + n, 1), input))
        start += n
    return tuple(mark_multi_output(outs))


def split(tensor, split_size_or_sections, dim=0):
    shape = tensor._impl.shape
    if not shape:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, len(shape))
    n = shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        s = int(split_size_or_sections)
        if s < 0 or (s == 0 and n != 0):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        if s == 0:
            sizes = [0]
        else:
            sizes = [s] * (n // s) + ([n % s] if n % s else [])
            if not sizes:
                sizes = [0]
    else:
        sizes = [int(x) for x in split_size_or_sections]
    return _split_sizes(tensor, sizes, d)


def split_with_sizes(input, split_sizes, dim=0):
    return _split_sizes(input, [int(s) for s in split_sizes], dim)


def chunk(input, chunks, dim=0, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("chunk", dim, axis, 0)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    shape = input._impl.shape
    if not shape:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, len(shape))
    n = shape[d]
    size = (n + chunks - 1) // chunks
    if size == 0:  # an empty dim gives `chunks` empty pieces, as PyTorch
        return _split_sizes(input, [0] * chunks, d) if n == 0 else ()
    return split(input, size, d)


def tensor_split(input, indices_or_sections, dim=0):
    shape = input._impl.shape
    if not shape:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = wrap_dim(dim, len(shape))
    n = shape[d]
    if isinstance(indices_or_sections, numbers.Integral):
        k = int(indices_or_sections)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
    else:
        # Piece i is input[idx[i-1]:idx[i]] with Python's slice rules (negative indices count from the
        # end, out-of-range ones clamp), each piece on its own: after a decreasing index the next piece
        # starts back at that index (PyTorch: tensor_split(arange(5), [2, 1]) -> [0, 1], [], [1, 2, 3, 4]).
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
        pieces = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            a, b, _ = slice(a, b).indices(n)
            pieces.append(narrow(input, d, a, max(b - a, 0)))
        return tuple(pieces)
    return _split_sizes(input, sizes, d)


class Unbind(Function):
    _builtin = True
    _grad_fn_name = "UnbindBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        xi = x._impl
        return tuple(_wrap_view(_C.select(xi, dim, i), x) for i in range(xi.shape[dim]))

    @staticmethod
    def backward(ctx, *grads):
        return stack(list(grads), ctx.dim), None


def unbind(input, dim=0, *, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("unbind", dim, axis, 0)
    shape = input._impl.shape
    if not shape:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, len(shape))
    if _needs_grad(input):
        if shape[d] == 0:
            return ()
        return Unbind.apply(input, d)
    return tuple(mark_multi_output([_wrap_view(v, input) for v in _C.unbind(input._impl, d)]))


def repeat(input, *sizes, repeats=None):
    if repeats is not None:
        sizes = _np.size_keyword(sizes, repeats, "repeat", "repeats")
    sizes = parse_size(sizes, "repeat")
    shape = input._impl.shape
    if len(sizes) < len(shape):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    shape = (1,) * (len(sizes) - len(shape)) + tuple(shape)
    # Tile by broadcasting: (r0, s0, r1, s1, ...) then merge each (r, s) pair.
    x = reshape(input, shape)
    inter, target = [], []
    for r, s in zip(sizes, shape):
        inter += [1, s]
        target += [r, s]
    x = expand(reshape(x, inter), target)
    return reshape(contiguous(x), [r * s for r, s in zip(sizes, shape)])


def tile(input, dims):
    dims = tuple(dims)
    nd = input._impl.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return repeat(input, dims)


def _repeat_interleave_counts(input, repeats, dim, output_size):
    """repeat_interleave with one count per index along dim (repeats a 1-d int tensor)."""
    if dim is None:
        input = reshape(input, (-1,))
        dim = 0
    d = wrap_dim(dim, input.dim())
    n = input._impl.shape[d]
    if repeats._impl.shape[0] != n:
        raise RuntimeError("repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {repeats._impl.shape[0]} and input.size({d}) = {n}")
    if _dtype_kind(repeats) != "int":
        raise NotImplementedError(f'"repeat_interleave_cpu" not implemented for '
                                  f"'{_torch_dtype_name(repeats)}'")
    index = _repeat_index(repeats, n)
    if output_size is not None and int(output_size) != index._impl.shape[0]:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"sum of repeats {index._impl.shape[0]}")
    return input.index_select(d, index.to(input.device))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if repeats is None:
        # repeat_interleave(repeats): each index i repeated repeats[i] times
        if _dtype_kind(input) != "int":
            raise NotImplementedError(f'"repeat_interleave_cpu" not implemented for '
                                      f"'{_torch_dtype_name(input)}'")
        if input.dim() != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        return _repeat_index(input, input._impl.shape[0]).to(input.device)
    if type(repeats) is not int:  # (an int skips the isinstance checks: ~0.3 us of a ~9 us call)
        if isinstance(repeats, Tensor):
            if repeats.dim() > 1:
                raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
            if repeats.numel() != 1:
                return _repeat_interleave_counts(input, repeats, dim, output_size)
            repeats = int(repeats.item())
        elif not isinstance(repeats, numbers.Integral):
            raise TypeError(f"repeat_interleave(): argument 'repeats' must be int or Tensor, not "
                            f"{type(repeats).__name__}")
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    if dim is None:
        input = reshape(input, (-1,))
        dim = 0
    shape = input._impl.shape
    d = wrap_dim(dim, len(shape))
    if not shape:  # (PyTorch's error: its unsqueeze(d + 1) of the 0-d input)
        raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got {d + 1})")
    target = list(shape)
    target.insert(d + 1, repeats)
    out_shape = list(shape)
    out_shape[d] *= repeats
    # Always a fresh tensor, as PyTorch's (with repeats == 1, contiguous() of the unsqueezed input was the
    # input itself, so the result aliased it). Without autograd straight through _C: the four Python-level
    # ops cost ~4 us per call (0.65x PyTorch on [128, 256]).
    if not _needs_grad(input):
        x = _C.expand(_C.unsqueeze(input._impl, d + 1), target)
        return _wrap(_C.reshape(_C.clone(x) if repeats == 1 else _C.contiguous(x), out_shape))
    x = expand(unsqueeze(input, d + 1), target)
    return reshape(clone(x) if repeats == 1 else contiguous(x), out_shape)


def _dtype_kind(t):
    name = t._impl.dtype
    return "int" if name in ("int64", "int32", "int16", "int8", "uint8") else "other"


def _torch_dtype_name(t):
    return {"float32": "Float", "float64": "Double", "bool": "Bool", "float16": "Half"}.get(t._impl.dtype,
                                                                                            t._impl.dtype)


def _repeat_index(repeats, n):
    """int64 index tensor [0] * repeats[0] + [1] * repeats[1] + ... (repeats is an int tensor)."""
    import numpy as np
    import flambeau
    counts = np.asarray(repeats.detach().to("cpu").numpy(), dtype=np.int64).reshape(-1)
    if (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    idx = np.repeat(np.arange(n, dtype=np.int64), counts)
    return flambeau.from_numpy(idx)


class Flip(Function):
    """A reversed copy along dims (_C.flip, one pass); the gradient is g flipped back."""
    _builtin = True
    _grad_fn_name = "FlipBackward0"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _wrap(_C.flip(x._impl, dims))

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims), None


def _ints(v):
    """An int or a sequence of ints as a list of ints (the dims and shifts of flip and roll)."""
    return [int(v)] if isinstance(v, numbers.Integral) else [int(x) for x in v]


def flip(input, dims):
    dims = _ints(dims)
    if input._rg and _gs.enabled:
        return Flip.apply(input, dims)
    return _wrap(_C.flip(input._impl, dims))


def fliplr(input):
    return flip(input, (1,))


def flipud(input):
    return flip(input, (0,))


class Roll(Function):
    """torch.roll as block copies (_C.roll); the gradient is g rolled back."""
    _builtin = True
    _grad_fn_name = "RollBackward0"

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.args = (shifts, dims)
        return _wrap(_C.roll(x._impl, shifts, dims))

    @staticmethod
    def backward(ctx, g):
        shifts, dims = ctx.args
        return _wrap(_C.roll(g._impl, [-s for s in shifts], dims)), None, None


def roll(input, shifts, dims=None):
    shifts = _ints(shifts)
    dims = [] if dims is None else _ints(dims)
    if input._rg and _gs.enabled:
        return Roll.apply(input, shifts, dims)
    return _wrap(_C.roll(input._impl, shifts, dims))


def rot90(input, k=1, dims=(0, 1)):
    # PyTorch's checks (a 0-d or 1-d input used to reach flip with an invalid dim)
    dims = tuple(dims)
    nd = input.dim()
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if nd < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {nd} (shape {list(input.shape)})")
    d0, d1 = dims
    if d0 == d1 or abs(d0 - d1) == nd:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    if not (-nd <= d0 < nd and -nd <= d1 < nd):
        raise IndexError(f"rot90: rotation dim0 = {d0} or dim1 = {d1} out of range for a tensor of shape "
                         f"{list(input.shape)}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(transpose(input, d0, d1), (d1,))
    return clone(input)
