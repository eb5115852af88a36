"""Translations of factories, shape ops, indexing and reductions (see _symbolic.py)."""
import numpy as np

from ._symbolic import INT64_MAX, _norm, _unsupported, _varargs, register
from ._trace import Val

# Factories (no tensor argument) are recorded too, as constant nodes: written as their value unless their
# size follows a dynamic axis (torch.arange(x.size(1)) for position ids), then built at run time.
FACTORIES = frozenset(("arange", "zeros", "ones", "full"))


@register("zeros", "ones", "full")
def _constant_of_shape(g, n):
    out = n.outs[0]
    value = {"zeros": 0, "ones": 1}.get(n.op)
    if value is None:
        value = n.arg(1, "fill_value")
        if value != n.arg(1, "fill_value", second=True):
            _unsupported(n, "with a fill value that changes with the inputs is not supported")
    return g.op("ConstantOfShape", g.shape_tensor(out.shape, out.shape2, n),
                value=np.array([value], dtype=g.np_dtype(out)))


@register("arange")
def _arange(g, n):
    nums = [a for a in n.args if isinstance(a, (int, float))]
    nums2 = [a for a in n.args2 if isinstance(a, (int, float))]
    for k in ("start", "end", "step"):
        if k in n.kwargs:
            _unsupported(n, f"with {k}= given by keyword and a size that follows a dynamic axis is not supported")
    start, end, step = (0, nums[0], 1) if len(nums) == 1 else (nums + [1])[:3]
    start2, end2, step2 = (0, nums2[0], 1) if len(nums2) == 1 else (nums2 + [1])[:3]
    if (start, step) != (start2, step2) or not all(isinstance(v, int) for v in (start, end, step, end2)):
        _unsupported(n, "whose start or step follows a dynamic axis (or with float bounds) is not supported")
    limit = g.size_scalar(end, end2, n)
    r = g.op("Range", g.ints(start, scalar=True), limit, g.ints(step, scalar=True))
    return g.cast(r, g.np_dtype(n.outs[0]), np.int64)


# ---------------------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------------------
@register("view", "reshape", "flatten", "unflatten", "view_as", "reshape_as", "ravel")
def _reshape(g, n):
    x = n.args[0]
    if n.op == "flatten" and x.ndim > 2 and _norm(n.arg(1, "start_dim", 0), x.ndim) == 1 \
            and _norm(n.arg(2, "end_dim", -1), x.ndim) == x.ndim - 1:
        return g.op("Flatten", g.v(x), axis=1)   # (N, everything else): what PyTorch's exporter writes
    return g.reshape(x, n.outs[0])


@register("unsqueeze", "unsqueeze_")
def _unsqueeze(g, n):
    dim = n.arg(1, "dim")
    return g.op("Unsqueeze", g.v(n.args[0]), g.ints([_norm(dim, n.args[0].ndim + 1)]))


@register("squeeze", "squeeze_")
def _squeeze(g, n):
    x = n.args[0]
    dim = n.arg(1, "dim")
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [_norm(d, x.ndim) for d in (dim if isinstance(dim, (list, tuple)) else [dim]) if x.shape[d] == 1]
    if not dims:
        return g.v(x)
    return g.op("Squeeze", g.v(x), g.ints(dims))


@register("transpose", "swapaxes", "t", "T", "mT")
def _transpose(g, n):
    x = n.args[0]
    r = x.ndim
    if r < 2:
        return g.v(x)
    if n.op in ("t", "T") and r == 2:
        d0, d1 = 0, 1
    elif n.op == "T":
        return g.op("Transpose", g.v(x), perm=list(range(r))[::-1])
    elif n.op == "mT":
        d0, d1 = r - 2, r - 1
    else:
        d0, d1 = _norm(n.arg(1, "dim0"), r), _norm(n.arg(2, "dim1"), r)
    perm = list(range(r))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return g.op("Transpose", g.v(x), perm=perm)


@register("permute")
def _permute(g, n):
    x = n.args[0]
    return g.op("Transpose", g.v(x), perm=[_norm(d, x.ndim) for d in _varargs(n)])


@register("expand", "expand_as", "broadcast_to")
def _expand(g, n):
    x, out = n.args[0], n.outs[0]
    if out.shape == x.shape and out.shape2 == x.shape2:
        return g.v(x)
    off = out.ndim - x.ndim
    # a size the input already has stays 1 (Expand broadcasts), so only new sizes are spelled out
    s1 = [1 if i >= off and x.shape[i - off] == s else s for i, s in enumerate(out.shape)]
    s2 = [1 if i >= off and x.shape2[i - off] == s else s for i, s in enumerate(out.shape2)]
    return g.op("Expand", g.v(x), g.shape_tensor(s1, s2, n))


@register("repeat")
def _repeat(g, n):
    x = n.args[0]
    reps = [int(r) for r in _varargs(n)]
    reps2 = [int(r) for r in (n.args2[1:] if not isinstance(n.args2[1], (list, tuple)) else n.args2[1])]
    if reps != reps2:
        _unsupported(n, "with repeats that depend on a dynamic axis is not supported")
    y = g.v(x)
    if len(reps) > x.ndim:
        y = g.op("Unsqueeze", y, g.ints(list(range(len(reps) - x.ndim))))
    return g.op("Tile", y, g.ints(reps))


@register("cat", "concat", "concatenate")
def _cat(g, n):
    tensors = [t for t in n.args[0] if not (isinstance(t, Val) and t.t.numel() == 0 and t.ndim == 1)]
    dim = n.arg(1, "dim", 0)
    return g.op("Concat", *[g.v(t) for t in tensors], axis=_norm(dim, n.outs[0].ndim))


@register("stack")
def _stack(g, n):
    dim = _norm(n.arg(1, "dim", 0), n.outs[0].ndim)
    return g.op("Concat", *[g.op("Unsqueeze", g.v(t), g.ints([dim])) for t in n.args[0]], axis=dim)


@register("chunk", "split", "unbind", "split_with_sizes", "tensor_split")
def _split(g, n):
    x = n.args[0]
    if n.op == "unbind":
        dim = _norm(n.arg(1, "dim", 0), x.ndim)
    elif n.op == "tensor_split":
        _unsupported(n, "is not supported")
    else:
        dim = _norm(n.arg(2, "dim", 0), x.ndim)
    sizes = [o.shape[dim] if n.op != "unbind" else 1 for o in n.outs]
    sizes2 = [o.shape2[dim] if n.op != "unbind" else 1 for o in n.outs]
    if sizes != sizes2:
        _unsupported(n, f"along dim {dim}, whose size depends on a dynamic axis, is not supported")
    outs = g.op("Split", g.v(x), g.ints(sizes), axis=dim, outs=len(sizes))
    if len(sizes) == 1:
        outs = [outs]
    if n.op == "unbind":
        outs = [g.op("Squeeze", o, g.ints([dim])) for o in outs]
    return outs


@register("narrow")
def _narrow(g, n):
    x, dim, start, length = n.args[0], n.arg(1, "dim"), n.arg(2, "start"), n.arg(3, "length")
    dim = _norm(dim, x.ndim)
    return g.op("Slice", g.v(x), g.ints([start]), g.ints([start + length]), g.ints([dim]))


@register("index_select")
def _index_select(g, n):
    x, dim, index = n.args[0], n.arg(1, "dim"), n.arg(2, "index")
    return g.op("Gather", g.v(x), g.v(index), axis=_norm(dim, x.ndim))


@register("select")
def _select(g, n):
    x, dim, index = n.args[0], n.arg(1, "dim"), n.arg(2, "index")
    return g.op("Gather", g.v(x), g.ints(index, scalar=True), axis=_norm(dim, x.ndim))


@register("getitem")
def _getitem(g, n):
    x = n.args[0]
    idx, idx2 = n.args[1], n.args2[1]
    if not isinstance(idx, tuple):
        idx, idx2 = (idx,), (idx2,)
    if sum(1 for i in idx if i is not None and i is not Ellipsis) > x.ndim:
        _unsupported(n, f"with too many indices for a tensor of {x.ndim} dimensions")
    # expand the Ellipsis into full slices
    if any(i is Ellipsis for i in idx):
        k = [i for i, e in enumerate(idx) if e is Ellipsis][0]
        fill = x.ndim - sum(1 for e in idx if e is not None and e is not Ellipsis)
        idx = idx[:k] + (slice(None),) * fill + idx[k + 1:]
        idx2 = idx2[:k] + (slice(None),) * fill + idx2[k + 1:]
    adv = [i for i, e in enumerate(idx) if isinstance(e, (int, Val)) and not isinstance(e, bool)]
    if any(isinstance(e, Val) for e in idx) and adv != list(range(adv[0], adv[0] + len(adv))):
        # PyTorch moves the indexed dims to the front when ints and a tensor index are not side by side
        _unsupported(n, "with a tensor index and ints separated by a slice or None is not supported")
    starts, ends, axes, steps, squeeze, unsqueeze, gathers = [], [], [], [], [], [], []
    starts2, ends2 = [], []   # the bounds in the second trace: one that differs follows a dynamic axis
    d = 0     # input dim
    od = 0    # output dim (after the ints are squeezed away)
    for e, e2 in zip(idx, idx2):
        if e is None:
            unsqueeze.append(od)
            od += 1
            continue
        if isinstance(e, bool):
            _unsupported(n, "with a bool index is not supported")
        if isinstance(e, int):
            if e != e2:
                _unsupported(n, "with an index that depends on a dynamic axis is not supported")
            starts.append(e)
            ends.append(e + 1 if e != -1 else INT64_MAX)
            starts2.append(starts[-1])
            ends2.append(ends[-1])
            axes.append(d)
            steps.append(1)
            squeeze.append(d)
            d += 1
            continue
        if isinstance(e, slice):
            step = 1 if e.step is None else e.step
            if step <= 0:
                _unsupported(n, "with a non-positive slice step is not supported")
            size, size2 = x.shape[d], x.shape2[d]
            start = 0 if e.start is None else e.start
            start2 = 0 if e2.start is None else e2.start
            stop = INT64_MAX if e.stop is None else e.stop
            stop2 = INT64_MAX if e2.stop is None else e2.stop
            if stop != stop2 and stop >= size and stop2 >= size2:
                stop = stop2 = INT64_MAX
            if not (start == 0 and start2 == 0 and stop == INT64_MAX and stop2 == INT64_MAX and step == 1):
                starts.append(start)
                ends.append(stop)
                starts2.append(start2)
                ends2.append(stop2)
                axes.append(d)
                steps.append(step)
            d += 1
            od += 1
            continue
        if isinstance(e, Val) and not np.issubdtype(g.np_dtype(e), np.bool_):
            gathers.append((d, od, e))
            d += 1
            od += e.ndim
            continue
        _unsupported(n, f"with index {e!r} is not supported (ints, slices, None, ... and one integer tensor are)")
    y = g.v(x)
    if starts:
        y = g.op("Slice", y, g.shape_tensor(starts, starts2, n), g.shape_tensor(ends, ends2, n), g.ints(axes),
                 g.ints(steps))
    if len(gathers) > 1:
        _unsupported(n, "with more than one tensor index is not supported")
    if gathers:
        gd, god, gi = gathers[0]
        # the ints before the tensor index are squeezed away afterwards: count them into the axis
        y = g.op("Gather", y, g.cast(g.v(gi), np.dtype(np.int64)), axis=gd)
        if squeeze:
            squeeze = [s if s < gd else s + gi.ndim - 1 for s in squeeze]
    if squeeze:
        y = g.op("Squeeze", y, g.ints(squeeze))
    if unsqueeze:
        y = g.op("Unsqueeze", y, g.ints(unsqueeze))
    return y


# ---------------------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------------------
def _dims(n, x, pos=1, name="dim"):
    dim = n.arg(pos, name)
    if dim is None:
        return None
    if isinstance(dim, int):
        dim = [dim]
    return [_norm(d, x.ndim) for d in dim]


@register("mean", "sum", "amax", "amin", "prod")
def _reduce(g, n):
    x = n.args[0]
    op = {"mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin",
          "prod": "ReduceProd"}[n.op]
    dims = _dims(n, x)
    keepdim = bool(n.arg(2, "keepdim", False))
    y = g.v(x)
    if n.kwargs.get("dtype") is not None or g.np_dtype(n.outs[0]) != g.np_dtype(x):
        y = g.cast(y, g.np_dtype(n.outs[0]))
    return g.reduce(op, y, dims, keepdim)


@register("max", "min")
def _max(g, n):
    x = n.args[0]
    other = n.arg(1, "dim")
    if isinstance(other, Val):
        dt = g.np_dtype(n.outs[0])
        return g.op("Max" if n.op == "max" else "Min", g.operand(x, dt), g.operand(other, dt))
    keepdim = bool(n.arg(2, "keepdim", False))
    op = "ReduceMax" if n.op == "max" else "ReduceMin"
    if other is None:
        return g.reduce(op, g.v(x), None, False)
    d = _norm(other, x.ndim)
    vals = g.reduce(op, g.v(x), [d], keepdim)
    idx = g.op("ArgMax" if n.op == "max" else "ArgMin", g.v(x), axis=d, keepdims=int(keepdim),
               select_last_index=0)
    return [vals, idx]


@register("argmax", "argmin")
def _argmax(g, n):
    x = n.args[0]
    dim = n.arg(1, "dim")
    keepdim = bool(n.arg(2, "keepdim", False))
    y = g.v(x)
    if dim is None:
        y = g.op("Reshape", y, g.ints([-1]))
        dim = 0
    return g.op("ArgMax" if n.op == "argmax" else "ArgMin", y, axis=_norm(dim, max(x.ndim, 1)),
                keepdims=int(keepdim))
