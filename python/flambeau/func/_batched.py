"""vmap's batched execution: functorch's BatchedTensor and batching rules, over flambeau's
__torch_function__ protocol.

Inside `vmap(f)(x)`, x reaches f as a BatchedTensor: a Tensor subclass holding `_value`, the whole batch
with the mapped dim moved to the front, and `_level`, which vmap call it belongs to (levels grow with
nesting, so the innermost vmap has the highest). Its logical shape, what f sees (shape, dim(), size()), is
the value's shape without that front dim. Every public op that takes a BatchedTensor reaches
BatchedTensor.__torch_function__, which runs the op ONCE on the whole batch by a batching rule for the
innermost level among its arguments: elementwise ops align the logical dims (the batch dim stays in front),
ops with a dim argument shift it past the batch dim, views prepend the batch dim to their shape, matmul and
einsum get a batch dim of their own, indexing by batched index tensors becomes one advanced index with an
arange over the batch. A rule calls ordinary ops on the values, which may themselves be BatchedTensors of
an enclosing vmap: those calls dispatch again, one level down, so nested vmaps compose (functorch's levels).

An op without a rule falls back to a loop for that op alone: the op runs once per batch index on the
slices, and the results are stacked (in-place ops write each slice of self). So every op works under
vmap; the rules only make the common ones one call.

What stays a per-sample loop (transforms.py): randomness='different' (each sample needs its own draws from
creation ops that see no batched argument), grad/vjp/jacrev/jacfwd/jvp called on batched arguments (the
transform runs once per sample: the loop for that call), and a transform whose function closes over a
batched tensor (autograd never sees a BatchedTensor: vmap reruns the whole function per sample).

.item(), bool() and the other conversions to Python values raise functorch's errors, as ops whose output
shape depends on the data (nonzero, masked_select, unique).

This module is imported at the first vmap call: defining BatchedTensor installs the __torch_function__
protocol (_torch_function.py), which programs that never vmap do not pay for.
"""
import threading

from .. import _C
from .._tensor import Tensor, _blank
from .._dtype import Size
from ._pytree import tree_flatten, tree_unflatten

ITEM_ERROR = ("vmap: It looks like you're calling .item() on a Tensor. We don't support vmap over calling .item() "
              "on a Tensor, please try to rewrite what you're doing with other operations. If error is occurring "
              "somewhere inside PyTorch internals, please file a bug report.")
CONTROL_FLOW_ERROR = ("vmap: It looks like you're attempting to use a Tensor in some data-dependent control flow. "
                      "We don't support that yet, please file an issue at https://github.com/pytorch/pytorch/issues .")
RANDOM_ERROR = ("vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                "'different' randomness flags on vmap or perform the randomness operation out of vmap")


class NeedsLoop(Exception):
    """Raised where batched execution cannot go on (autograd reached a BatchedTensor): vmap reruns the
    function once per sample."""


class _Levels(threading.local):
    active = ()   # (level, batch size, randomness) of the vmaps running, innermost last
    counter = 0


_levels = _Levels()


def push_level(size, randomness):
    _levels.counter += 1
    lvl = _levels.counter
    _levels.active = _levels.active + ((lvl, size, randomness),)
    return lvl


def pop_level(lvl):
    _levels.active = tuple(a for a in _levels.active if a[0] != lvl)


def _level_info(lvl):
    for a in _levels.active:
        if a[0] == lvl:
            return a
    raise RuntimeError("vmap: a batched tensor escaped the vmap that made it (it was stored outside the function "
                       "and used after vmap returned); return it from the function instead")


class BatchedTensor(Tensor):
    """A tensor inside vmap: `_value` holds every sample, batch dim first; `_level` names the vmap."""

    def __repr__(self, *, tensor_contents=None):
        return f"BatchedTensor(lvl={self._level}, bdim=0, value=\n{self._value!r}\n)"

    __str__ = __repr__

    def __hash__(self):
        return id(self)

    @property
    def _version(self):  # (not dispatched: read here) the value's version counter
        return self._value._version

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        lvl = _innermost(args, kwargs)
        if lvl is None:  # only BatchedTensors of vmaps that have returned
            _level_info(None)
        name = _name_of(func)
        rule = _RULES.get(name)
        if rule is not None and not getattr(func, "__module__", "").startswith(_FOREIGN):
            r = rule(func, name, args, kwargs, lvl)
            if r is not NotImplemented:
                return r
        return loop(func, name, args, kwargs, lvl)


_FOREIGN = ("flambeau.linalg", "flambeau.fft", "flambeau.special")


def wrap(value, lvl):
    t = _blank(BatchedTensor)
    t._value = value
    t._level = lvl
    t._lshape = None
    return t


def _is_b(x, lvl):
    return isinstance(x, BatchedTensor) and x._level == lvl


def _lshape(x):
    s = x._lshape
    if s is None:
        s = x._lshape = tuple(x._value.shape)[1:]
    return s


def _scan(obj, best):
    if isinstance(obj, BatchedTensor):
        for a in _levels.active:
            if a[0] == obj._level:
                return obj._level if best is None or obj._level > best else best
        return best
    if isinstance(obj, (list, tuple)):
        for e in obj:
            best = _scan(e, best)
    elif isinstance(obj, dict):
        for e in obj.values():
            best = _scan(e, best)
    return best


def _innermost(args, kwargs):
    best = _scan(args, None)
    return _scan(kwargs, best) if kwargs else best


_NAMES = None


def _names():
    """id -> public name of Tensor's methods and properties and of the public functions (several are made
    by factories whose __name__ is not the public one: Tensor.__le__ is an `op`)."""
    import sys
    names = {}
    for modname in ("flambeau.nn.functional", "flambeau"):  # flambeau's own names win
        mod = sys.modules.get(modname)
        for k, v in (vars(mod).items() if mod else ()):
            if callable(v) and not isinstance(v, type) and not k.startswith("_"):
                names[id(v)] = k
    for k, v in Tensor.__dict__.items():
        names[id(v)] = k
    return names


def _name_of(func):
    global _NAMES
    if _NAMES is None:
        _NAMES = _names()
    name = _NAMES.get(id(func))
    if name is not None:
        return name
    if getattr(func, "__name__", "") == "__get__":  # a dispatched Tensor property: Tensor.<name>.__get__
        return _NAMES.get(id(getattr(func, "__self__", None)), "")
    return getattr(func, "__name__", "")


def _bsize(lvl):
    return _level_info(lvl)[1]


def _wrap_out(r, lvl):
    """Every tensor in an op's result (a tensor, a tuple/list/namedtuple of them) wrapped at lvl."""
    if isinstance(r, Tensor):
        return wrap(r, lvl)
    if isinstance(r, (tuple, list)):
        items = [_wrap_out(x, lvl) for x in r]
        t = type(r)
        if t is tuple or t is list:
            return t(items)
        return t(*items)
    return r


# ---------------------------------------------------------------- the loop (fallback)
_INPLACE_DUNDERS = frozenset(("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__",
                              "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__",
                              "__imatmul__", "__setitem__"))


def _inplace(name):
    return name in _INPLACE_DUNDERS or (name.endswith("_") and not name.endswith("__"))


def _inplace_error(name):
    return RuntimeError(
        f"vmap: {name}(self, *extra_args) is not possible because there exists a Tensor `other` in extra_args that "
        "has more elements than `self`. This happened due to `other` being vmapped over but `self` not being "
        f"vmapped over in a vmap. Please try to use out-of-place operators instead of {name}. If said operator is "
        "being called inside the PyTorch framework, please file a bug report instead.")


def loop(func, name, args, kwargs, lvl):
    """The op once per batch index on the slices of its arguments at `lvl`, the results stacked."""
    n, mode = _level_info(lvl)[1:]
    if _inplace(name):
        if not (args and _is_b(args[0], lvl)):
            raise _inplace_error(name)
    leaves, spec = tree_flatten((args, kwargs))
    at = [i for i, x in enumerate(leaves) if _is_b(x, lvl)]
    start = tuple(_C.get_rng_state()) if mode == "same" else None
    outs = []
    for b in range(n):
        if start is not None:
            _C.set_rng_state(*start)
        ls = list(leaves)
        for i in at:
            ls[i] = leaves[i]._value.select(0, b)
        a, k = tree_unflatten(ls, spec)
        outs.append(func(*a, **k))
    if _inplace(name):
        return None if name == "__setitem__" else args[0]
    return _stack_results(outs, lvl, name)


def _stack_results(outs, lvl, name):
    from .._functions.join import stack
    first, spec = tree_flatten(outs[0])
    per = [tree_flatten(o)[0] for o in outs]
    res = []
    for k, o0 in enumerate(first):
        vals = [p[k] for p in per]
        if isinstance(o0, Tensor):
            res.append(wrap(stack(vals), lvl))
        elif all(v == o0 for v in vals[1:]):
            res.append(o0)
        else:
            raise RuntimeError(f"vmap: {name} returned a Python value ({type(o0).__name__}) that differs across the "
                               "batch; " + CONTROL_FLOW_ERROR)
    return tree_unflatten(res, spec)


# ---------------------------------------------------------------- helpers for the rules
def _pad(v, k):
    """v with k size-1 dims inserted after its batch dim (logical dims aligned to the right)."""
    for _ in range(k):
        v = v.unsqueeze(1)
    return v


def _ndim(x, lvl):
    return len(_lshape(x)) if _is_b(x, lvl) else x.dim()


def _wrap_dim(d, nd, name):
    n = max(nd, 1)
    if not -n <= d < n:
        raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


# ---------------------------------------------------------------- rules
def _r_meta(func, name, args, kwargs, lvl):
    """Metadata the batch does not change (dtype, device, requires_grad, ...): read off the value."""
    if not _is_b(args[0], lvl):
        return NotImplemented
    return func(args[0]._value, *args[1:], **kwargs)


def _r_shape(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    s = _lshape(x)
    if name == "shape":
        return Size(s)
    if name == "size":
        d = args[1] if len(args) > 1 else kwargs.get("dim")
        if d is None:
            return Size(s)
        if not s:
            raise IndexError(f"dimension specified as {d} but tensor has no dimensions")
        return s[_wrap_dim(d, len(s), "size")]
    if name in ("dim", "ndimension", "ndim"):
        return len(s)
    if name in ("numel", "nelement"):
        p = 1
        for e in s:
            p *= e
        return p
    if name == "__len__":
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]
    if name == "__iter__":
        if not s:
            raise TypeError("iteration over a 0-d tensor")
        return iter(x.unbind(0))
    return NotImplemented


def _r_item(func, name, args, kwargs, lvl):
    raise RuntimeError(ITEM_ERROR if name in ("item", "tolist", "numpy", "__int__", "__float__", "__index__",
                                              "__complex__", "__array__") else CONTROL_FLOW_ERROR)


def _r_dynamic(func, name, args, kwargs, lvl):
    raise RuntimeError(f"vmap: We do not support batching operators that can output dynamic shape. Attempted to "
                       f"vmap over {name}. Please file an issue at https://github.com/pytorch/pytorch/issues if you "
                       "need this feature.")


def _r_needs_loop(func, name, args, kwargs, lvl):
    raise NeedsLoop(name)


def _r_pointwise(func, name, args, kwargs, lvl):
    """Elementwise and broadcasting ops: batched operands padded to a common logical rank, so that
    broadcasting aligns the logical dims and the batch dim stays in front."""
    if kwargs.get("out") is not None:
        return NotImplemented
    tens = [a for a in args if isinstance(a, Tensor)] + [v for v in kwargs.values() if isinstance(v, Tensor)]
    if any(isinstance(a, (list, tuple)) for a in args):
        return NotImplemented
    inplace = _inplace(name)
    if inplace and not _is_b(args[0], lvl):
        raise _inplace_error(name)
    nd = max(_ndim(t, lvl) for t in tens)
    if inplace and nd > len(_lshape(args[0])):
        return NotImplemented  # the op's own broadcast error, from the loop
    if len(tens) == 2 and nd > 0 and not inplace and name != "where":
        args, kwargs = _promote_logical_scalar(tens, args, kwargs, lvl)

    def conv(a):
        if _is_b(a, lvl):
            return _pad(a._value, nd - len(_lshape(a)))
        return a
    r = func(*[conv(a) for a in args], **{k: conv(v) for k, v in kwargs.items()})
    if inplace:
        return args[0]
    return _wrap_out(r, lvl)


def _promote_logical_scalar(tens, args, kwargs, lvl):
    """A batched operand that is 0-d per sample is physically 1-d, so it would take part in type promotion
    as a dimensioned tensor; per sample (and in functorch's binary rule) a 0-d tensor does not lift a
    dimensioned operand of its category (f64 scalar + f32 vector is f32). Cast it to the per-sample type."""
    a, b = tens
    sa, sb = _is_b(a, lvl) and not _lshape(a), _is_b(b, lvl) and not _lshape(b)
    if sa == sb:
        return args, kwargs
    s, o = (a, b) if sa else (b, a)
    if s.dtype == o.dtype:
        return args, kwargs
    from .. import empty, result_type
    want = result_type(empty((), dtype=s.dtype), empty((1,), dtype=o.dtype))
    if want == s.dtype:
        return args, kwargs
    c = wrap(s._value.to(want), lvl)
    return (tuple(c if x is s else x for x in args), {k: (c if v is s else v) for k, v in kwargs.items()})


def _r_self_shaped(func, name, args, kwargs, lvl):
    """masked_fill: the result has self's shape, so an unbatched self is expanded to the batch when the
    mask is batched."""
    x = args[0]
    rest = list(args[1:]) + list(kwargs.values())
    if len(args) > 2 and _is_b(args[2], lvl) or kwargs.get("value") is not None and _is_b(kwargs["value"], lvl):
        return NotImplemented  # a batched fill value: the loop
    if any(isinstance(a, Tensor) and _ndim(a, lvl) > _ndim(x, lvl) for a in rest):
        return NotImplemented  # the op's own error, from the loop
    if not _is_b(x, lvl):
        n = _bsize(lvl)
        x = wrap(x.unsqueeze(0).expand((n,) + tuple(x.shape)), lvl)
    return _r_pointwise(func, name, (x,) + tuple(args[1:]), kwargs, lvl)


def _r_convert(func, name, args, kwargs, lvl):
    """to/type_as with a tensor argument: only its dtype (and device) matter."""
    if not _is_b(args[0], lvl):
        return NotImplemented
    if name == "type_as":
        return args[0].to(args[1].dtype)
    others = [x for x in list(args[1:]) + list(kwargs.values()) if isinstance(x, Tensor)]
    if others:  # to(other, ...): other's dtype and device
        if len(args) != 2 or kwargs:
            return NotImplemented
        return args[0].to(device=others[0].device, dtype=others[0].dtype)
    return wrap(func(args[0]._value, *args[1:], **kwargs), lvl)


def _r_gather(func, name, args, kwargs, lvl):
    """gather / scatter / scatter_add / scatter_reduce / take_along_dim: every tensor operand given the batch
    (an unbatched one expanded: they index each other element by element), the dim shifted past it."""
    p = 2 if name == "take_along_dim" else 1
    if len(args) <= p or kwargs.get("out") is not None or "dim" in kwargs or not isinstance(args[p], int):
        return NotImplemented
    x = args[0]
    inplace = _inplace(name)
    if inplace and not _is_b(x, lvl):
        raise _inplace_error(name)
    nd = _ndim(x, lvl)
    if nd == 0 or any(isinstance(a, Tensor) and _ndim(a, lvl) != nd for a in args):
        return NotImplemented  # the op's own error (or a 0-d case), from the loop
    n = _bsize(lvl)

    def full(a):
        if not isinstance(a, Tensor):
            return a
        return a._value if _is_b(a, lvl) else a.unsqueeze(0).expand((n,) + tuple(a.shape))
    a = [full(v) for v in args]
    a[p] = _wrap_dim(args[p], nd, name) + 1
    r = func(*a, **kwargs)
    return x if inplace else wrap(r, lvl)


def _r_leading(func, name, args, kwargs, lvl):
    """Ops on the trailing dims of their first argument that accept any leading dims (layer_norm, embedding,
    constant padding): the batch is one more leading dim, when no other tensor argument is batched."""
    x = args[0]
    if not _is_b(x, lvl) or any(_is_b(a, lvl) for a in args[1:]) or any(_is_b(v, lvl) for v in kwargs.values()):
        return NotImplemented
    if name == "pad" and (args[2] if len(args) > 2 else kwargs.get("mode", "constant")) != "constant":
        return NotImplemented
    if name == "embedding" and (args[3] if len(args) > 3 else kwargs.get("max_norm")) is not None:
        return NotImplemented  # max_norm renormalises the weight rows in place, sample by sample
    return wrap(func(x._value, *args[1:], **kwargs), lvl)


def _r_self(func, name, args, kwargs, lvl):
    """requires_grad_ and friends: applied to the value, self returned."""
    if not _is_b(args[0], lvl):
        return NotImplemented
    func(args[0]._value, *args[1:], **kwargs)
    return args[0]


def _r_inplace_view(func, name, args, kwargs, lvl):
    """unsqueeze_ / squeeze_ / t_ / transpose_ ...: change the batched tensor's own view of the batch (the
    out-of-place rule's result becomes its value), as a BatchedTensor's metadata changes in functorch."""
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    r = getattr(Tensor, name[:-1])(x, *args[1:], **kwargs)
    x._value, x._lshape = r._value, None
    return x


def _r_no_batching(func, name, args, kwargs, lvl):
    raise RuntimeError(f"vmap: {name} is not supported on a batched tensor (it changes the tensor's storage "
                       "layout); use an out-of-place operation instead")


def _r_format(func, name, args, kwargs, lvl):
    return repr(args[0])


def _r_new(func, name, args, kwargs, lvl):
    """new_ones / new_zeros / new_full / new_empty / new_tensor: an unbatched tensor; self gives dtype and device."""
    if not _is_b(args[0], lvl) or any(_is_b(a, lvl) for a in args[1:]) or any(_is_b(v, lvl) for v in kwargs.values()):
        return NotImplemented
    return func(args[0]._value, *args[1:], **kwargs)


def _shape_arg(args, start):
    s = args[start:]
    if len(s) == 1 and isinstance(s[0], (tuple, list, Size)):
        return tuple(s[0])
    return tuple(s)


def _r_view(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    if kwargs:
        if set(kwargs) not in ({"shape"}, {"size"}) or len(args) > 1:
            return NotImplemented
        shape = tuple(next(iter(kwargs.values())))
    else:
        if len(args) == 2 and not isinstance(args[1], (int, tuple, list, Size)):
            return NotImplemented  # view(dtype)
        shape = _shape_arg(args, 1)
    v = x._value
    full = (v.shape[0],) + tuple(shape)
    if name == "view":
        try:
            return wrap(v.view(full), lvl)
        except RuntimeError:
            pass
    return wrap(v.reshape(full), lvl)


def _r_expand(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl) or kwargs:
        return NotImplemented
    sizes = _shape_arg(args, 1)
    ls = _lshape(x)
    if len(sizes) < len(ls):
        return NotImplemented
    v = _pad(x._value, len(sizes) - len(ls))
    return wrap(v.expand((v.shape[0],) + tuple(sizes)), lvl)


def _r_as(func, name, args, kwargs, lvl):
    """expand_as / view_as / reshape_as: the other tensor's logical shape."""
    if len(args) != 2 or kwargs:
        return NotImplemented
    shape = tuple(args[1].shape)
    return getattr(args[0], name[:-3])(shape)


def _r_permute(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl) or kwargs:
        return NotImplemented
    dims = _shape_arg(args, 1)
    nd = len(_lshape(x))
    return wrap(x._value.permute((0,) + tuple(_wrap_dim(d, nd, name) + 1 for d in dims)), lvl)


def _r_t(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    nd = len(_lshape(x))
    v = x._value
    if name in ("t", "T") and nd < 2:
        return wrap(v.view_as(v), lvl)
    if name == "t" or name == "T":
        return wrap(v.permute((0,) + tuple(range(nd, 0, -1))), lvl)
    if name == "mT":
        if nd < 2:
            return NotImplemented
        return wrap(v.transpose(-2, -1), lvl)
    return NotImplemented


def _r_squeeze(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    d = args[1] if len(args) > 1 else kwargs.get("dim")
    ls = _lshape(x)
    v = x._value
    if d is None:
        dims = [i for i, s in enumerate(ls) if s == 1]
    else:
        dims = [_wrap_dim(e, len(ls), name) for e in (d if isinstance(d, (tuple, list)) else (d,))]
        if not ls:
            return x
    for i in sorted(dims, reverse=True):
        if ls[i] == 1:
            v = v.squeeze(i + 1)
    return wrap(v, lvl)


def _r_flatten(func, name, args, kwargs, lvl):
    x = args[0]
    if not _is_b(x, lvl):
        return NotImplemented
    s = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    e = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
    ls = _lshape(x)
    v = x._value
    if not ls:
        return wrap(v.reshape(v.shape[0], 1), lvl)
    return wrap(v.flatten(_wrap_dim(s, len(ls), name) + 1, _wrap_dim(e, len(ls), name) + 1), lvl)


def _dim_rule(positions, keywords, default=None, extra=0, none="all", out_keeps=False):
    """Ops with dim arguments at `positions` (or named `keywords`): each shifted past the batch dim, wrapped
    against the logical rank (+extra for unsqueeze-like ops). none: what dim=None means ("all": the op over
    every logical dim, by flattening them; "skip": no dim to shift; "loop": the per-sample loop)."""
    def rule(func, name, args, kwargs, lvl):
        x = args[0]
        if not _is_b(x, lvl) or kwargs.get("out") is not None:
            return NotImplemented
        if any(_is_b(a, lvl) or isinstance(a, (list, tuple)) and any(_is_b(e, lvl) for e in a) for a in args[1:]) \
                or any(_is_b(v, lvl) for v in kwargs.values()):
            return NotImplemented
        a, k = list(args), dict(kwargs)
        nd = len(_lshape(x))
        v = x._value
        scalar = nd == 0 and extra == 0
        found = flattened = False
        for p, kw in zip(positions, keywords):
            if p < len(a):
                d, where = a[p], ("a", p)
            elif kw in k:
                d, where = k[kw], ("k", kw)
            else:
                d, where = default, None
            if isinstance(d, bool):  # std(x, True): the old unbiased flag, not a dim
                d = None
                where = None
            if d is None:
                if none == "skip":
                    continue
                if none == "loop" or k.get("keepdim") or (len(a) > p + 1 and a[p + 1] is True):
                    return NotImplemented
                # over every logical dim: flatten them into one
                v = v.reshape(v.shape[0], -1)
                d2 = 1
                if where is None:
                    k[kw] = d2
                elif where[0] == "a":
                    a[p] = d2
                else:
                    k[kw] = d2
                found = flattened = True
                scalar = False
                continue
            if isinstance(d, str):
                return NotImplemented  # named dims
            if scalar:
                sh = lambda e: 1  # noqa: E731  (a 0-d tensor's dim 0 / -1)
                for e in (d if isinstance(d, (tuple, list)) else (d,)):
                    _wrap_dim(e, 0, name)
            else:
                sh = lambda e: _wrap_dim(e, nd + extra, name) + 1  # noqa: E731
            d2 = type(d)(sh(e) for e in d) if isinstance(d, (tuple, list)) else sh(d)
            if where is None:
                if kw is None:
                    return NotImplemented
                k[kw] = d2
            elif where[0] == "a":
                a[p] = d2
            else:
                k[kw] = d2
            found = True
        if scalar and found:
            v = v.unsqueeze(1)
        a[0] = v
        r = func(*a, **k)
        if flattened and isinstance(r, tuple):  # max() / median() over everything: the values alone
            r = r[0]
        if scalar and found:
            r = _squeeze_back(r)
        return _wrap_out(r, lvl)
    return rule


def _squeeze_back(r):
    if isinstance(r, Tensor):
        return r.squeeze(1) if r.dim() > 1 else r
    if isinstance(r, (tuple, list)):
        items = [_squeeze_back(e) for e in r]
        t = type(r)
        return t(items) if t in (tuple, list) else t(*items)
    return r


def _r_maxmin(func, name, args, kwargs, lvl):
    """max/min: with a tensor second argument elementwise, else a reduction."""
    other = args[1] if len(args) > 1 else kwargs.get("other")
    if isinstance(other, Tensor):
        return _r_pointwise(func, name, args, kwargs, lvl)
    return _REDUCE(func, name, args, kwargs, lvl)


def _r_matmul(func, name, args, kwargs, lvl):
    if kwargs or len(args) != 2:
        return NotImplemented
    a, b = args
    if name == "__rmatmul__":
        a, b = b, a
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        return NotImplemented
    from .. import matmul
    la, lb = _ndim(a, lvl), _ndim(b, lvl)
    if la == 0 or lb == 0:
        return NotImplemented
    if name in ("mm", "bmm", "mv") and (la, lb) != {"mm": (2, 2), "bmm": (3, 3), "mv": (2, 1)}[name]:
        return NotImplemented  # the op's own shape error, from the loop
    if name == "dot":
        if (la, lb) != (1, 1):
            return NotImplemented
        return (a * b).sum(-1)
    va = a._value if _is_b(a, lvl) else a
    vb = b._value if _is_b(b, lvl) else b
    sa = sb = False
    if la == 1:
        va = va.unsqueeze(-2)
        la, sa = 2, True
    if lb == 1:
        vb = vb.unsqueeze(-1)
        lb, sb = 2, True
    nd = max(la, lb)
    if _is_b(a, lvl):
        va = _pad(va, nd - la)
    if _is_b(b, lvl):
        vb = _pad(vb, nd - lb)
    r = matmul(va, vb)
    if sb:
        r = r.squeeze(-1)
    if sa:
        r = r.squeeze(-1 if sb else -2)
    return wrap(r, lvl)


def _r_linear(func, name, args, kwargs, lvl):
    x = args[0]
    w = args[1] if len(args) > 1 else kwargs.get("weight")
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    if _is_b(x, lvl) and not _is_b(w, lvl) and not _is_b(bias, lvl):
        return wrap(func(x._value, w, bias), lvl)
    from .. import matmul
    r = matmul(x, w.transpose(-1, -2) if w.dim() == 2 else w)
    return r if bias is None else r + bias


def _r_einsum(func, name, args, kwargs, lvl):
    if kwargs or not args or not isinstance(args[0], str):
        return NotImplemented
    eq = args[0].replace(" ", "")
    ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        return NotImplemented
    used = set(eq)
    z = next((c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in used), None)
    if z is None:
        return NotImplemented
    if not arrow:  # the implicit output: letters seen once, sorted, after the broadcast dims
        letters = [c for c in lhs if c.isalpha()]
        rhs = ("..." if "..." in lhs else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    new_terms, vals = [], []
    for t, o in zip(terms, ops):
        if _is_b(o, lvl):
            new_terms.append(z + t)
            vals.append(o._value)
        else:
            new_terms.append(t)
            vals.append(o)
    from .. import einsum
    return wrap(einsum(",".join(new_terms) + "->" + z + rhs, *vals), lvl)


def _r_cat(func, name, args, kwargs, lvl):
    ts = args[0] if args else kwargs.get("tensors")
    if not isinstance(ts, (list, tuple)) or not ts:
        return NotImplemented
    d = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
    if kwargs.get("out") is not None or not isinstance(d, int):
        return NotImplemented
    n = _bsize(lvl)
    ref = next(t for t in ts if _is_b(t, lvl))
    nd = len(_lshape(ref))
    if name == "stack":
        d = _wrap_dim(d, nd + 1, name)
    else:
        if nd == 0:
            return NotImplemented
        d = _wrap_dim(d, nd, name)
    vals = []
    for t in ts:
        if _is_b(t, lvl):
            vals.append(t._value)
        elif name != "stack" and t.dim() == 1 and t.shape[0] == 0:
            continue  # cat skips legacy empty (0,) tensors
        else:
            vals.append(t.unsqueeze(0).expand((n,) + tuple(t.shape)))
    from .. import cat, stack
    return wrap((stack if name == "stack" else cat)(vals, d + 1), lvl)


def _r_where(func, name, args, kwargs, lvl):
    if len(args) == 1 and not kwargs:
        return _r_dynamic(func, name, args, kwargs, lvl)
    return _r_pointwise(func, name, args, kwargs, lvl)


def _r_random(func, name, args, kwargs, lvl):
    if "dropout" in name and not (args[2] if len(args) > 2 else kwargs.get("training", True)):
        return args[0]  # not training: no draws, the input as it is
    mode = _level_info(lvl)[2]
    if mode == "error":
        raise RuntimeError(RANDOM_ERROR)
    return NotImplemented  # the loop: the same draws for every sample ('same'), by reseeding each


def _r_class_loss(func, name, args, kwargs, lvl):
    """cross_entropy / nll_loss with class-index targets, input (N, C) or (C,) per sample: one call over the
    batch's B*N rows with reduction='none', then each sample's reduction (mean: over the rows whose target
    is not ignore_index, as PyTorch divides)."""
    if len(args) != 2 or not set(kwargs) <= {"reduction", "ignore_index", "label_smoothing"}:
        return NotImplemented
    x, t = args
    if not isinstance(t, Tensor) or t.is_floating_point():
        return NotImplemented
    nx, nt = _ndim(x, lvl), _ndim(t, lvl)
    if (nx, nt) not in ((2, 1), (1, 0)):
        return NotImplemented
    n = _bsize(lvl)
    vx = x._value if _is_b(x, lvl) else x.unsqueeze(0).expand((n,) + tuple(x.shape))
    vt = t._value if _is_b(t, lvl) else t.unsqueeze(0).expand((n,) + tuple(t.shape))
    rows = vx.shape[1] if nx == 2 else 1
    if nx == 2 and vt.shape[1] != rows:
        return NotImplemented  # the op's own error, from the loop
    reduction = kwargs.get("reduction", "mean")
    ii = kwargs.get("ignore_index", -100)
    k = {key: v for key, v in kwargs.items() if key != "reduction"}
    losses = func(vx.reshape(n * rows, vx.shape[-1]), vt.reshape(n * rows), reduction="none", **k).reshape(n, rows)
    if reduction == "none":
        return wrap(losses if nx == 2 else losses.reshape(n), lvl)
    if reduction == "sum":
        return wrap(losses.sum(1), lvl)
    if reduction != "mean":
        return NotImplemented
    return wrap(losses.sum(1) / (vt.reshape(n, rows) != ii).sum(1), lvl)


def _r_mse(func, name, args, kwargs, lvl):
    if len(args) != 2 or not set(kwargs) <= {"reduction"}:
        return NotImplemented
    x, t = args
    if not isinstance(t, Tensor) or tuple(x.shape) != tuple(t.shape):
        return NotImplemented  # broadcasting targets: PyTorch's warning and semantics, from the loop
    r = (x - t) ** 2
    red = kwargs.get("reduction", "mean")
    return r.mean() if red == "mean" else r.sum() if red == "sum" else r if red == "none" else NotImplemented


# ---------------------------------------------------------------- indexing
def _basic(idx):
    return idx is None or idx is Ellipsis or isinstance(idx, (int, slice)) and not isinstance(idx, bool)


def _r_getitem(func, name, args, kwargs, lvl):
    x, idx = args[0], args[1]
    if kwargs:
        return NotImplemented
    items = idx if isinstance(idx, tuple) else (idx,)
    if isinstance(idx, list):
        return NotImplemented
    if all(_basic(i) for i in items):
        if not _is_b(x, lvl):
            return NotImplemented
        return wrap(x._value[(slice(None),) + items], lvl)
    return _advanced(x, items, lvl)


def _advanced(x, items, lvl):
    """x[items] with tensor indices: the basic part (ints, slices, None, ...) applied first, as PyTorch
    does, then one advanced index over the batch: the indexed dims are moved to the front with the batch
    dim, the batch dim is indexed by an arange (when x is batched), and the result's index block is moved
    to where PyTorch puts it."""
    from .. import arange, int64, uint8
    from .. import bool as bool_
    # 1. the basic part, with a full slice where each tensor index goes (a bool mask: one per dim it covers)
    basic, tens, pos = [], [], []
    for i in items:
        if isinstance(i, Tensor):
            if i.dtype in (bool_, uint8):
                if _is_b(i, lvl) or i.dim() == 0:
                    return NotImplemented
                nz = i.nonzero()
                for c in range(i.dim()):
                    pos.append(len(basic))
                    basic.append(slice(None))
                    tens.append(nz[:, c])
                continue
            pos.append(len(basic))
            basic.append(slice(None))
            tens.append(i)
        elif isinstance(i, (list, tuple, bool)) or not _basic(i):
            return NotImplemented
        else:
            basic.append(i)
    # where the tensor-indexed dims sit in the result of the basic part: ints drop their dim, None adds
    # one, ... spans the dims nothing else names
    nd = _ndim(x, lvl)
    consumed = sum(1 for i in basic if i is not None and i is not Ellipsis)
    out_pos, p = [], 0
    for j, i in enumerate(basic):
        if i is Ellipsis:
            p += max(nd - consumed, 0)
        elif isinstance(i, int):
            continue
        else:
            if j in pos:
                out_pos.append(p)
            p += 1
    y = x[tuple(basic)] if any(not (isinstance(b, slice) and b == slice(None)) for b in basic) else x
    yb = _is_b(y, lvl)
    ynd = _ndim(y, lvl)
    # 2. the tensor indices, batched ones padded to a common logical rank
    ind_nd = max(_ndim(t, lvl) for t in tens)
    vals = [_pad(t._value, ind_nd - len(_lshape(t))) if _is_b(t, lvl) else t for t in tens]
    if not yb and not any(_is_b(t, lvl) for t in tens):
        return NotImplemented
    n = _bsize(lvl)
    v = y._value if yb else y
    off = 1 if yb else 0
    rest = [d for d in range(ynd) if d not in out_pos]
    order = ([0] if yb else []) + [d + off for d in out_pos] + [d + off for d in rest]
    if order != list(range(len(order))):
        v = v.permute(order)
    index = list(vals)
    if yb:
        bi = arange(n, dtype=int64, device=v.device).reshape((n,) + (1,) * ind_nd)
        index = [bi] + index
    r = v[tuple(index)]  # (n, *index shape, *rest)
    k = ind_nd
    contiguous = out_pos == list(range(out_pos[0], out_pos[0] + len(out_pos)))
    if contiguous and out_pos[0] > 0:
        before = out_pos[0]
        perm = [0] + list(range(1 + k, 1 + k + before)) + list(range(1, 1 + k)) + list(range(1 + k + before, r.dim()))
        r = r.permute(perm)
    return wrap(r, lvl)


def _r_setitem(func, name, args, kwargs, lvl):
    if not _is_b(args[0], lvl):
        raise _inplace_error(name)
    return NotImplemented  # the loop writes each slice


# ---------------------------------------------------------------- the table
_RULES = {}


def _add(names, rule):
    for n in names.split():
        _RULES[n] = rule


_add("dtype device layout requires_grad is_leaf grad_fn is_cuda is_cpu is_meta is_sparse is_sparse_csr "
     "is_quantized itemsize output_nr retains_grad is_floating_point is_complex is_signed element_size get_device "
     "is_contiguous is_conj is_neg is_inference untyped_storage _tensor_untyped_storage storage data_ptr", _r_meta)
_add("shape size dim ndimension ndim numel nelement __len__ __iter__", _r_shape)
_add("item tolist numpy __bool__ __int__ __float__ __index__ __complex__ __array__ equal", _r_item)
_add("nonzero argwhere masked_select unique unique_consecutive bincount histc", _r_dynamic)
_add("backward retain_grad register_hook", _r_needs_loop)
_add("rand_like randn_like randint_like bernoulli bernoulli_ dropout dropout_ alpha_dropout feature_alpha_dropout "
     "dropout1d dropout2d dropout3d multinomial normal normal_ uniform_ exponential_ random_ cauchy_ log_normal_ "
     "geometric_ poisson rrelu", _r_random)
_POINTWISE = (
    "add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow float_power atan2 arctan2 "
    "maximum minimum fmax fmin eq ne lt le gt ge greater greater_equal less less_equal not_equal "
    "logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not "
    "bitwise_left_shift bitwise_right_shift hypot copysign nextafter xlogy logaddexp logaddexp2 "
    "neg negative abs absolute exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square sin cos tan asin acos atan "
    "arcsin arccos arctan sinh cosh tanh asinh acosh atanh arcsinh arccosh arctanh sigmoid logit erf erfc erfinv "
    "sign sgn signbit floor ceil round trunc frac reciprocal isnan isinf isfinite isposinf isneginf isreal "
    "nan_to_num relu relu6 gelu silu mish elu selu celu leaky_relu hardtanh hardsigmoid hardswish softplus "
    "softsign tanhshrink hardshrink softshrink threshold logsigmoid lerp addcmul addcdiv clamp clip clamp_min "
    "clamp_max where conj positive deg2rad rad2deg lgamma digamma polygamma heaviside "
    "float double half bfloat16 long int short bool byte char cpu cuda contiguous clone detach "
    "zeros_like ones_like empty_like full_like "
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ __rfloordiv__ "
    "__mod__ __rmod__ __pow__ __rpow__ __and__ __rand__ __or__ __ror__ __xor__ __rxor__ __lshift__ __rlshift__ "
    "__rshift__ __rrshift__ __invert__ __neg__ __pos__ __abs__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ "
    "__iadd__ __isub__ __imul__ __itruediv__ __ifloordiv__ __imod__ __ipow__ __iand__ __ior__ __ixor__ "
    "add_ sub_ mul_ div_ pow_ clamp_ clamp_min_ clamp_max_ neg_ abs_ exp_ log_ sqrt_ sigmoid_ tanh_ relu_ "
    "copy_ fill_ zero_ floor_ ceil_ round_ trunc_ lerp_ addcmul_ addcdiv_ logical_not_ masked_fill_ "
    "tril triu data real imag")
_add(_POINTWISE, _r_pointwise)
_add("where", _r_where)
_add("masked_fill", _r_self_shaped)
_add("layer_norm rms_norm embedding pad", _r_leading)
_add("gather scatter scatter_add scatter_reduce take_along_dim scatter_ scatter_add_ scatter_reduce_", _r_gather)
_add("requires_grad_", _r_self)
_add("__format__", _r_format)
_add("unsqueeze_ squeeze_ t_ transpose_ swapdims_ swapaxes_", _r_inplace_view)
_add("resize_ resize_as_ as_strided_ set_", _r_no_batching)
_add("to type type_as", _r_convert)
_add("new_ones new_zeros new_full new_empty new_tensor", _r_new)
_add("view reshape", _r_view)
_add("expand", _r_expand)
_add("expand_as view_as reshape_as", _r_as)
_add("permute", _r_permute)
_add("t T mT", _r_t)
_add("squeeze", _r_squeeze)
_add("flatten", _r_flatten)
_REDUCE = _dim_rule((1,), ("dim",))
_add("sum mean nansum nanmean amax amin all any logsumexp count_nonzero std var std_mean var_mean prod "
     "argmax argmin median nanmedian", _REDUCE)
_add("max min", _r_maxmin)
_add("norm", _dim_rule((2,), ("dim",)))
_SOFTMAX = _dim_rule((1,), ("dim",), none="loop")
_add("softmax log_softmax cumsum cumprod cummax cummin logcumsumexp select narrow index_select unflatten",
     _SOFTMAX)
_add("unbind", _dim_rule((1,), ("dim",), default=0))
_add("sort argsort", _dim_rule((1,), ("dim",), default=-1))
_add("topk kthvalue", _dim_rule((2,), ("dim",), default=-1))
_add("split chunk tensor_split", _dim_rule((2,), ("dim",), default=0))
_add("flip", _dim_rule((1,), ("dims",), none="loop"))
_add("roll", _dim_rule((2,), ("dims",), none="loop"))
_add("transpose swapaxes swapdims movedim moveaxis", _dim_rule((1, 2), ("dim0", "dim1"), none="loop"))
_add("unsqueeze", _dim_rule((1,), ("dim",), extra=1, none="loop"))
_add("normalize", _dim_rule((2,), ("dim",), default=1))
_add("matmul mm bmm mv dot __matmul__ __rmatmul__", _r_matmul)
_add("linear", _r_linear)
_add("einsum", _r_einsum)
_add("cross_entropy nll_loss", _r_class_loss)
_add("mse_loss", _r_mse)
_add("cat concat concatenate stack", _r_cat)
_add("__getitem__", _r_getitem)
_add("__setitem__", _r_setitem)


# ---------------------------------------------------------------- transforms called inside vmap
def per_sample(fn, args, kwargs):
    """fn(*args, **kwargs) once per sample of the innermost vmap among the arguments, results stacked
    (grad, jvp, jacrev, ... called on batched arguments); None when no argument is batched."""
    lvl = _innermost(args, kwargs)
    if lvl is None:
        return None
    return (loop(fn, "transform", args, kwargs, lvl),)


def check_unbatched(outputs):
    """Autograd must not see a BatchedTensor (a transform's function closing over a batched tensor):
    vmap then runs the whole function once per sample."""
    for o in outputs:
        if isinstance(o, BatchedTensor):
            raise NeedsLoop("a transform inside vmap reached a batched tensor it did not receive as an argument")
