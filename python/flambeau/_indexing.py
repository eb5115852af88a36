"""Tensor.__getitem__ / __setitem__: PyTorch's indexing rules.

An index is first turned into a plan: a list of basic view steps (select for ints, slice for
slices, unsqueeze for None/True) applied left to right, plus the advanced indices (int64 tensors;
bool masks become their nonzero() coordinates) keyed by the dim they apply to after those steps.
Basic steps are views (no copy); advanced indices then go through `_C.index` (reads) or
`_C.index_put_` (writes), which place result dims by NumPy's rules. Integers are selects, not
advanced indices, exactly as in PyTorch (x[0, :, [1, 2]] has shape (n, 2), not numpy's (2, n)).
"""
import math
import numbers

import numpy as _np

from . import _C
from ._promote import C_TYPE_NAMES as _C_TYPE_NAMES, check_fits, complex_as_real
from ._tensor import Tensor, _wrap, _wrap_view
from .autograd.function import Function
from .autograd.grad_mode import _state as _gs


class _Plan:
    __slots__ = ("ops", "adv", "shape")

    def __init__(self):
        self.ops = []    # ('s', dim, index) | ('l', dim, start, stop, step) | ('u', dim)
        self.adv = []    # (dim, int64 Tensor)
        self.shape = None

    def adv_list(self):
        n = max(d for d, _ in self.adv) + 1
        out = [None] * n
        for d, t in self.adv:
            out[d] = t
        return out

    def apply_impl(self, impl):
        for op in self.ops:
            k = op[0]
            if k == "s":
                impl = _C.select(impl, op[1], op[2])
            elif k == "l":
                impl = _C.slice(impl, op[1], op[2], op[3], op[4])
            else:
                impl = _C.unsqueeze(impl, op[1])
        return impl

    def apply_tensor(self, t):
        from ._functions import shape as S
        if not self.ops:
            return S.View.apply(t, list(t._impl.shape))  # x[...] is a new view with its own node
        for op in self.ops:
            k = op[0]
            if k == "s":
                t = S.Select.apply(t, op[1], op[2])
            elif k == "l":
                t = S.Slice.apply(t, op[1], op[2], op[3], op[4])
            else:
                t = S.Unsqueeze.apply(t, _C.unsqueeze, op[1])
        return t


def _invalid(item):
    return IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                      f"indices (got {type(item).__name__})")


def _norm_index(t):
    """int32 index tensors act as int64 ones and uint8 ones as bool masks (deprecated), as in PyTorch."""
    dt = t._impl.dtype
    if dt == "int32":
        return _wrap(_C.to(t._impl, "int64", t._impl.device, False))
    if dt == "uint8":
        import warnings
        warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead.",
                      UserWarning, stacklevel=3)
        return _wrap(_C.to(t._impl, "bool", t._impl.device, False))
    return t


def _to_index_tensor(item, device):
    """Lists, tuples (inside a tuple index) and arrays become int64 or bool tensors."""
    from ._creation import tensor
    try:
        t = _norm_index(tensor(item))
    except Exception:
        raise _invalid(item) from None
    if t._impl.dtype not in ("int64", "bool"):
        if t._impl.numel == 0:
            return _wrap(_C.to(t._impl, "int64", "cpu", False))
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return t


def getitem_plan(shape, idx, device="cpu"):
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    consumed = 0
    n_ell = 0
    for it in idx:
        if it is None or it is True or it is False:
            pass
        elif it is Ellipsis:
            n_ell += 1
        elif isinstance(it, slice):
            consumed += 1
        elif isinstance(it, numbers.Integral) and not isinstance(it, (bool, _np.bool_)):
            consumed += 1
        elif isinstance(it, Tensor):
            if it._impl.dtype in ("int32", "uint8"):
                it = _norm_index(it)
            ii = it._impl
            if ii.dtype == "bool":
                consumed += ii.ndim
            elif ii.dtype == "int64":
                consumed += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        elif isinstance(it, (list, tuple, _np.ndarray)) or isinstance(it, _np.bool_):
            it = _to_index_tensor(it, device)
            consumed += it._impl.ndim if it._impl.dtype == "bool" else 1
        else:
            raise _invalid(it)
        items.append(it)
    nd = len(shape)
    if consumed > nd:
        raise IndexError(f"too many indices for tensor of dimension {nd}")

    plan = _Plan()
    ops, adv = plan.ops, plan.adv
    cur = list(shape)
    d = 0  # current dim in the tensor after the steps so far
    ell_seen = False
    for pos, it in enumerate(items):
        if it is Ellipsis:
            # PyTorch (unlike numpy) takes several ellipses: each skips the dims the other indices leave, so
            # after the first there are none left and a later one only works with nothing indexed after it
            if not ell_seen:
                d += nd - consumed
                ell_seen = True
            elif nd > consumed and any(x is not Ellipsis for x in items[pos + 1:]):
                raise IndexError(f"an index after a second ellipsis ('...') falls beyond the {nd} dimensions of "
                                 f"the tensor (shape {list(shape)}), as in PyTorch")
        elif it is None or it is True or it is False or isinstance(it, _np.bool_):
            ops.append(("u", d))
            cur.insert(d, 1)
            if it is False or (isinstance(it, _np.bool_) and not it):
                ops.append(("l", d, 0, 0, 1))
                cur[d] = 0
            d += 1
        elif isinstance(it, slice):
            n = cur[d]
            if it.step is not None and _as_int(it.step) <= 0:
                if _as_int(it.step) == 0:
                    raise ValueError("slice step cannot be zero")
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(_opt_int(it.start), _opt_int(it.stop), _opt_int(it.step)).indices(n)
            if stop < start:
                stop = start
            if not (start == 0 and stop == n and step == 1):
                ops.append(("l", d, start, stop, step))
                cur[d] = (stop - start + step - 1) // step
            d += 1
        elif isinstance(it, Tensor):
            ii = it._impl
            if ii.dtype == "bool":
                k = ii.ndim
                if k == 0:
                    ops.append(("u", d))
                    cur.insert(d, 1)
                    if not bool(_C.to_numpy(_C.to(ii, "bool", "cpu", False)).item()):
                        ops.append(("l", d, 0, 0, 1))
                        cur[d] = 0
                    d += 1
                    continue
                if list(ii.shape) != cur[d:d + k]:
                    raise IndexError(f"The shape of the mask {list(ii.shape)} at index {_first_mismatch(ii.shape, cur[d:])} "
                                     f"does not match the shape of the indexed tensor {cur[d:] if d else cur} at index "
                                     f"{_first_mismatch(ii.shape, cur[d:])}")
                if ii.device != device:
                    ii = _C.to(ii, "bool", device, False)
                nz = _C.nonzero(ii)
                for j in range(k):
                    adv.append((d + j, _wrap(_C.select(nz, 1, j))))
                d += k
            elif ii.ndim == 0:
                i = int(_C.to_numpy(_C.to(ii, "int64", "cpu", False)).item())
                _select(ops, cur, d, i, pos)
            else:
                if ii.device != device:
                    it = _wrap(_C.to(ii, "int64", device, False))
                adv.append((d, it))
                d += 1
        else:
            _select(ops, cur, d, int(it), pos)
    plan.shape = cur
    return plan


def _first_mismatch(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return 0


def _as_int(v):
    if isinstance(v, Tensor):
        return int(v.item())
    return v.__index__() if not isinstance(v, int) else v


def _opt_int(v):
    return None if v is None else _as_int(v)


def _select(ops, cur, d, i, pos):
    # PyTorch's message names the position in the index (pos), not the dim of the tensor so far (d).
    n = cur[d]
    if i < -n or i >= n:
        raise IndexError(f"index {i} is out of bounds for dimension {pos} with size {n}")
    ops.append(("s", d, i + n if i < 0 else i))
    del cur[d]


def _basic_getitem(impl, idx):
    """_C.basic_getitem, or None (the general path) for what it refuses but PyTorch takes: several ellipses."""
    try:
        return _C.basic_getitem(impl, idx)
    except IndexError as e:
        if "single ellipsis" in str(e):
            return None
        raise


def getitem(t, idx):
    impl = t._impl
    rg = t._rg and _gs.enabled
    if not rg:
        # Fast path: x[i], x[a:b], x[0, 0], x[:, 1], x[..., None] and the like, built in one C++ call
        # (None when the index has anything else: tensors, lists, bools, numpy integers).
        r = _basic_getitem(impl, idx)
        if r is not None:
            return _wrap_view(r, t)
        if idx.__class__ is Tensor:
            ii = idx._impl
            # x[mask] with a mask of x's whole shape: one compaction pass (_C.masked_select), not the
            # mask's nonzero() coordinates and an advanced index (0.87x PyTorch on [1024, 1024]).
            if ii.dtype == "bool" and ii.ndim >= 1 and ii.shape == impl.shape and ii.device == impl.device:
                return _wrap(_C.masked_select(impl, ii))
            # x[j] with an int64 index tensor of 1+ dims (a batch of rows: x[perm[:64]]): the rows' copy
            # by index_select (0.44x PyTorch through the general advanced index).
            if ii.dtype == "int64" and ii.ndim >= 1 and impl.ndim >= 1 and ii.device == impl.device:
                rows = _C.index_select(impl, 0, ii if ii.ndim == 1 else _C.reshape(ii, [-1]), True)
                return _wrap(rows if ii.ndim == 1 else _C.view(rows, list(ii.shape) + list(impl.shape[1:])))
    plan = getitem_plan(impl.shape, idx, impl.device)
    from ._functions.indexing import Index
    if not rg:
        r = plan.apply_impl(impl) if plan.ops else impl
        if plan.adv:
            return _wrap(_C.index(r, [None if x is None else x._impl for x in plan.adv_list()]))
        return _wrap_view(r, t)  # basic indexing gives a view
    r = plan.apply_tensor(t) if (plan.ops or not plan.adv) else t
    if plan.adv:
        r = Index.apply(r, plan.adv_list())
    return r


def _value_tensor(t, value):
    """The value of t[idx] = value as a tensor of t's dtype and device (numbers stay numbers)."""
    if isinstance(value, Tensor):
        vi = value._impl
        ti = t._impl
        if vi.dtype != ti.dtype or vi.device != ti.device:
            from ._functions.shape import _to
            value = _to(value, ti.dtype, ti.device)
        return value
    if isinstance(value, numbers.Number) or isinstance(value, _np.bool_):
        return value
    from ._creation import tensor
    return _value_tensor(t, tensor(value))


def _strip_leading_ones(vi, ndim):
    # PyTorch's copy for setitem drops leading size-1 dims of the value (x[0] = y[None]).
    while vi.ndim > ndim and vi.shape[0] == 1:
        vi = _C.select(vi, 0, 0)
    return vi


def _write(target, plan, value):
    """Writes value (impl or number) into target (already the basic view)."""
    if plan.adv:
        ti = target
        if not isinstance(value, _C.TensorImpl):
            value = _C.scalar_tensor(value, ti.dtype, ti.device)
        if ti.numel and any(st == 0 and n > 1 for st, n in zip(ti.stride, ti.shape)):
            from ._functions.indexing import _index_put_expanded_  # (a broadcast view: PyTorch's shared writes)
            _index_put_expanded_(_wrap(ti), plan.adv_list(), _wrap(value), False)
            return
        index_put_checked(ti, [None if x is None else x._impl for x in plan.adv_list()], value, False)
    elif isinstance(value, _C.TensorImpl):
        _C.copy_(target, _strip_leading_ones(value, target.ndim))
    else:
        _C.fill_(target, value)


class SetItem(Function):
    """Out-of-place x with x[idx] = v: the autograd form of __setitem__ (PyTorch's CopySlices)."""
    _builtin = True
    _grad_fn_name = "CopySlices"

    @staticmethod
    def forward(ctx, x, v, plan):
        ctx.plan = plan
        ctx.vshape = v._impl.shape
        y = _C.clone(x._impl)
        _write(plan.apply_impl(y), plan, v._impl)
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        from ._functions.shape import _sum_to
        plan = ctx.plan
        nig = ctx.needs_input_grad
        gi = g._impl
        gx = gv = None
        if nig[0]:
            z = _C.clone(gi)
            _write(plan.apply_impl(z), plan, 0)
            gx = _wrap(z)
        if nig[1]:
            sub = plan.apply_impl(gi)
            if plan.adv:
                sub = _C.index(sub, [None if x is None else x._impl for x in plan.adv_list()])
            vshape = ctx.vshape
            sub_t = _wrap(sub)
            if len(vshape) > sub.ndim:
                sub_t = _wrap(_C.reshape(sub, [1] * (len(vshape) - sub.ndim) + list(sub.shape)))
            gv = _sum_to(sub_t, vshape)
        return gx, gv, None




# PyTorch's names of the element types in its dtype errors (Float, Long, ...)
_SCALAR_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "int32": "Int",
                      "int16": "Short", "int8": "Char", "uint8": "Byte", "float16": "Half", "bfloat16": "BFloat16",
                      "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _advanced_kinds(items, in_tuple):
    """The advanced indices among index items, as PyTorch's index_put_ sees them: "bool"/"uint8" for a
    mask, "int" for integer indices (a 0-d bool tensor, or a Python bool next to other indices, becomes
    an int64 index of length 0 or 1 there; a 0-d integer tensor selects and is no advanced index)."""
    kinds = []
    for it in items:
        if isinstance(it, Tensor):
            ii = it._impl
            if ii.ndim == 0:
                if ii.dtype == "bool":
                    kinds.append("int")
                continue
            kinds.append(ii.dtype if ii.dtype in ("bool", "uint8") else "int")
        elif isinstance(it, (list, tuple, _np.ndarray)):
            a = _np.asarray(it)
            if a.ndim:
                kinds.append("bool" if a.dtype == _np.bool_ else "int")
        elif in_tuple and (it is True or it is False or isinstance(it, _np.bool_)):
            kinds.append("int")
    return kinds


def check_index_put_value(kinds, ti, value, accumulate, adv=None):
    """PyTorch's index_put_ rules for the value (setitem with advanced indices goes through it): a
    one-element value (on the CPU) with a single mask as the only advanced index is a masked_fill_, which
    casts it as a Scalar (overflow checked; a uint8 mask refused); otherwise the value's dtype must be the
    destination's. adv() gives the (shape, [(dim, index)]) indexed, for the error PyTorch raises first."""
    if not kinds:
        return
    vt = isinstance(value, Tensor)
    vi = value._impl if vt else None
    if not accumulate and len(kinds) == 1 and kinds[0] != "int" and (not vt or (vi.numel == 1 and vi.device == "cpu")):
        if kinds[0] == "uint8":
            raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype unsigned char")
        if vt and vi.dtype != ti.dtype and ti.dtype not in ("complex64", "complex128"):
            v = value.item()  # (masked_fill_ takes value.item(): a Scalar, overflow-checked into ti's dtype)
            if isinstance(v, complex):
                if v.imag != 0:
                    name = _C_TYPE_NAMES.get(ti.dtype, ti.dtype)
                    raise RuntimeError(f"value cannot be converted to type {name} "
                                       "without overflow")
                v = v.real
            check_fits(v, ti.dtype, wide=True)
        return
    if vt and vi.dtype != ti.dtype:
        if adv is not None:
            shape, pairs = adv()
            if any(shape[d] == 0 and it._impl.numel for d, it in pairs):
                raise IndexError("index is out of bounds for dimension with size 0")
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{_SCALAR_TYPE_NAMES[ti.dtype]} for the destination and {_SCALAR_TYPE_NAMES[vi.dtype]} "
                           "for the source.")


def index_put_checked(ti, idx, vi, accumulate):
    """_C.index_put_ with PyTorch's words for a value that does not broadcast to the indexing result."""
    try:
        _C.index_put_(ti, idx, vi, accumulate)
    except RuntimeError as e:
        msg = str(e)
        if not msg.startswith("expand: the expanded size") or "Target sizes: " not in msg:
            raise
        target = msg.split("Target sizes: ")[1].split("]")[0] + "]"
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(vi.shape)} cannot be broadcast to indexing "
                           f"result of shape {target}") from None


def _plain_value(t, value):
    """A value for t[idx] = value that is neither a Tensor nor a Python int/float: what PyTorch accepts
    (bools, complex numbers, numpy integers and float64) as a Python number; anything else (lists,
    arrays, numpy float32/bool scalars) raises its TypeError."""
    if value is True or value is False or isinstance(value, (complex, float, int)) and not isinstance(value, _np.bool_):
        return value if value.__class__ in (bool, complex, float, int) else \
            (complex(value) if isinstance(value, complex) else float(value) if isinstance(value, float) else int(value))
    if isinstance(value, _np.integer):
        return int(value)
    from ._tensor import _TYPE_NAMES
    cls = type(value)
    name = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
    raise TypeError(f"can't assign a {name} to a flambeau.{_TYPE_NAMES.get(t._impl.dtype, t._impl.dtype)}")


def setitem(t, idx, value):
    impl = t._impl
    vc = value.__class__
    if not (vc is float or vc is int or isinstance(value, Tensor)):
        value = _plain_value(t, value)
    if isinstance(value, complex):  # a complex number: written as a 0-dim tensor of t's (complex) dtype
        if impl.dtype not in ("complex64", "complex128"):
            value = complex_as_real(value, impl.dtype)  # PyTorch's conversion (bool: != 0; else imag 0 only)
        else:
            from ._creation import tensor
            value = tensor(value, dtype=t.dtype, device=t.device)
    vc = value.__class__
    if vc is float or vc is int or isinstance(value, numbers.Number):
        if impl.dtype in ("float16", "bfloat16"):
            # PyTorch writes the number through a double: x[i] = 1e40 stores inf in a half type (fill_ refuses it)
            if isinstance(value, numbers.Integral) and not -(1 << 63) <= int(value) < (1 << 63):
                raise ValueError("Overflow when unpacking long long")
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = float(value)
            elif abs(float(value)) > 3.3895313892515355e38:  # (beyond bfloat16's largest: the fill kernel refuses)
                value = math.copysign(math.inf, float(value))
        else:
            check_fits(value, impl.dtype, wide=True)  # x[i] = 300 into uint8 raises, as PyTorch (-1 stores 255)
    if not ((t._rg or (isinstance(value, Tensor) and value._rg)) and _gs.enabled):
        # x[mask] = number with a bool mask of x's own shape (x[x < 0] = 0): one select, not the
        # coordinates of every hit (nonzero) and a scatter through them (3x slower than PyTorch).
        if idx.__class__ is Tensor and not isinstance(value, Tensor) and isinstance(value, numbers.Number):
            mi = idx._impl
            # (not into an expanded tensor: there the where() result's unmasked elements, written
            # last to the shared memory, would undo the masked ones; masked_fill_ handles that case)
            if mi.dtype == "bool" and mi.shape == impl.shape and mi.device == impl.device:
                if 0 in impl.stride and impl.numel:  # an expanded x: masked_fill_'s rule for aliases
                    from ._functions.indexing import masked_fill_
                    masked_fill_(t, idx, value)
                    return
                _C.copy_(impl, _C.where(mi, _C.scalar_tensor(value, impl.dtype, impl.device), impl))
                return
        target = _basic_getitem(impl, idx)  # fast path: a basic index is a view to write through
        if target is not None:
            if 0 in target.stride:  # PyTorch refuses to write into an expanded view
                from ._functions._dispatch import check_no_internal_overlap
                check_no_internal_overlap(target, "setitem")
            value = _value_tensor(t, value)
            if isinstance(value, Tensor):
                _C.copy_(target, _strip_leading_ones(value._impl, target.ndim))
            else:
                _C.fill_(target, value)
            return
    plan = getitem_plan(impl.shape, idx, impl.device)
    if plan.adv or isinstance(idx, Tensor) or isinstance(idx, tuple) and len(idx) > 1:
        tup = isinstance(idx, tuple)
        check_index_put_value(_advanced_kinds(idx if tup else (idx,), tup), impl, value, False,
                              lambda: (plan.shape, plan.adv))
    value = _value_tensor(t, value)
    vt = isinstance(value, Tensor)
    if (t._rg or (vt and value._rg)) and _gs.enabled:
        from ._functions._dispatch import _check_inplace_leaf, _rebase
        _check_inplace_leaf(t)
        if not vt:
            from ._promote import scalar_impl
            value = _wrap(scalar_impl(value, impl.dtype, impl.device))
        elif type(value._impl) is _C.TensorImpl and value._impl.same_storage(impl):
            # the write goes to a copy here: PyTorch's overlap check (`_C` makes it on the path below)
            _C.assert_no_overlap(plan.apply_impl(impl) if plan.ops else impl, value._impl,
                                 "index_put_" if plan.adv else "copy_", not plan.adv)
        _rebase(t, SetItem.apply(t, value, plan))
        return
    target = plan.apply_impl(impl) if plan.ops else impl
    _write(target, plan, value._impl if vt else value)
