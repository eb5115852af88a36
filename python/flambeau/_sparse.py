"""Sparse COO tensors: what nn.Embedding(sparse=True) gives as a gradient, and what SGD, Adagrad
and SparseAdam consume.

A sparse tensor is its own class, `SparseCooTensor`, a subclass of Tensor (so isinstance(g, Tensor)
holds, as in PyTorch, where a sparse tensor is a torch.Tensor with layout torch.sparse_coo). A layout
flag on Tensor itself would have to be tested by every dense op; a subclass costs dense tensors
nothing: the dense hot paths test `x.__class__ is Tensor` already, and the few places that accept
sparse operands (dense + sparse, dense.add_(sparse), the autograd engine's gradient sums, the
optimizers) test for this class only off their fast paths.

It holds (as PyTorch's SparseTensorImpl):
  _sp_i  indices, int64 of shape (sparse_dim, nnz)
  _sp_v  values, of shape (nnz, *dense_sizes)
  _sp_c  the coalesced flag (indices sorted and unique; PyTorch's rules for when an op keeps it)
and `_impl` is a `_SparseMeta`: the shape, dtype and device that generic code reads (t.shape,
t.dtype, the engine's shape checks), which raises NotImplementedError for anything a dense op would
need (strides, data), so a dense op handed a sparse tensor fails loudly instead of reading memory.
Every Tensor method that has no sparse meaning here is replaced by one raising NotImplementedError
naming the op (PyTorch raises NotImplementedError "Could not run 'aten::op' with arguments from the
'SparseCPU' backend" for those).

Index work (coalescing, merging two sparse tensors) runs on the host in numpy; values stay on
their device and are combined with index_select/index_add, so results follow PyTorch's CPU
kernels' order of operations (duplicates summed in index order).
"""
import math

import numpy as np

from . import _C
from ._tensor import Tensor, _blank, _wrap, _disabled_torch_function_impl
from ._meta_impl import MetaOnlyImpl
from ._named_constant import NamedConstant
from ._dtype import _BY_NAME

_ITEMSIZE = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}


class _Layout(NamedConstant):
    """flambeau.strided / flambeau.sparse_coo / flambeau.sparse_csr (torch.layout)."""
    __slots__ = ()


strided = _Layout("strided")
sparse_coo = _Layout("sparse_coo")


def _layout_by_name(name):
    if name == "sparse_csr":
        from ._sparse_csr import sparse_csr
        return sparse_csr
    return {"strided": strided, "sparse_coo": sparse_coo}[name]


_Layout._by_name = staticmethod(_layout_by_name)


class _SparseMeta(MetaOnlyImpl):
    """The `_impl` of a sparse tensor: shape/dtype/device only (see the module docstring)."""
    __slots__ = ()

    @property
    def itemsize(self):
        return _ITEMSIZE[self.dtype]

    def __getattr__(self, name):
        raise NotImplementedError(
            f"this operation is not supported for sparse COO tensors (layout=flambeau.sparse_coo): it needs a "
            f"dense tensor's '{name}'; call .to_dense() first")

    def __repr__(self):
        return "<sparse COO tensor: this op takes dense tensors only, call .to_dense() first>"


def _unsupported(name):
    def op(self, *args, **kwargs):
        raise NotImplementedError(f"{name}: not supported for sparse COO tensors (layout=flambeau.sparse_coo) "
                                  "by flambeau; call .to_dense() first")
    op.__name__ = name
    return op


def _long(arr, device):
    from ._creation import from_numpy
    t = from_numpy(np.ascontiguousarray(arr, dtype=np.int64))
    return t if device == "cpu" else t.to(device)


def _host(t):
    """A numpy copy-or-view of an int64 tensor's data."""
    impl = t._impl
    if impl.device != "cpu":
        impl = _C.to(impl, impl.dtype, "cpu", False)
    return _C.to_numpy(impl)


def _make(indices, values, shape, coalesced=None, requires_grad=False):
    """A SparseCooTensor around `indices` (int64, (sparse_dim, nnz)) and `values` ((nnz, *dense)),
    both plain tensors owned by it. The coalesced flag is PyTorch's: given, or nnz < 2."""
    t = _blank(SparseCooTensor)
    vi = values._impl
    t._impl = _SparseMeta(tuple(shape), vi.dtype, vi.device)
    t._rg = requires_grad
    t._sp_i = indices
    t._sp_v = values
    t._sp_c = (indices._impl.shape[1] < 2) if coalesced is None else bool(coalesced)
    return t


def _size_str(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


class SparseCooTensor(Tensor):
    """A sparse tensor in COO format (flambeau.sparse_coo_tensor, dense.to_sparse(), the gradient of
    nn.Embedding(sparse=True)'s weight)."""
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)
    __slots__ = ("_sp_i", "_sp_v", "_sp_c")

    def __new__(cls, *args, **kwargs):
        raise TypeError("create sparse tensors with flambeau.sparse_coo_tensor(indices, values, size)")

    # ------------------------------------------------------------------ metadata
    @property
    def layout(self):
        return sparse_coo

    @property
    def is_sparse(self):
        return True

    def sparse_dim(self):
        return self._sp_i._impl.shape[0]

    def dense_dim(self):
        return self._sp_v._impl.ndim - 1

    def _nnz(self):
        return self._sp_i._impl.shape[1]

    def is_coalesced(self):
        return self._sp_c

    def _coalesced_(self, coalesced):
        self._sp_c = bool(coalesced)
        return self

    def _indices(self):
        return self._sp_i

    def _values(self):
        return self._sp_v

    def indices(self):
        if not self._sp_c:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
        return self._sp_i

    def values(self):
        if not self._sp_c:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call .coalesce() first")
        return self._sp_v

    def is_contiguous(self, memory_format=None):
        return False

    def contiguous(self, memory_format=None):
        raise RuntimeError("unsupported memory format option Contiguous")

    def stride(self, dim=None):
        raise RuntimeError("stride: sparse COO tensors do not have strides")

    def __len__(self):
        shape = self._impl.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    # ------------------------------------------------------------------ conversion
    def coalesce(self):
        if self._sp_c:
            return self
        return _coalesce(self)

    def to_dense(self, dtype=None, *, masked_grad=None):
        from .autograd.grad_mode import _state as _gs
        if self._rg and _gs.enabled:
            out = _ToDense.apply(self._sp_v, self)
        else:
            out = _to_dense(self)
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout is not None and layout is not sparse_coo:
            raise NotImplementedError(f"to_sparse: layout {layout} is not supported by flambeau (sparse_coo only)")
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise RuntimeError(f"to_sparse: conversion from Sparse to Sparse with sparse_dim argument !="
                               f"self.sparse_dim() is not supported (got {sparse_dim}, tensor has "
                               f"{self.sparse_dim()})")
        return self

    def numpy(self, *, force=False):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def tolist(self):
        raise RuntimeError("tolist: sparse COO tensors have no dense storage; call .to_dense() first")

    def item(self):
        if self._impl.numel != 1:
            raise RuntimeError(f"a Tensor with {self._impl.numel} elements cannot be converted to Scalar")
        return _to_dense(self).item()

    def clone(self, *, memory_format=None):
        return _make(self._sp_i.clone(), self._sp_v.clone(), self._impl.shape, self._sp_c)

    def detach(self):
        return _make(self._sp_i, self._sp_v, self._impl.shape, self._sp_c)

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, SparseCooTensor):
            raise RuntimeError("data: a sparse COO tensor's data can only be set to a sparse COO tensor")
        self._impl, self._sp_i, self._sp_v, self._sp_c = value._impl, value._sp_i, value._sp_v, value._sp_c

    def to(self, *args, **kwargs):
        from ._tensor import _parse_to
        from ._dtype import _device_str
        kwargs.pop("memory_format", None)
        dt, dev, copy = _parse_to(args, kwargs)
        dt_name = self._impl.dtype if dt is None else dt._name
        dev_str = self._impl.device if dev is None else _device_str(dev)
        if dt_name == self._impl.dtype and dev_str == self._impl.device and not copy:
            return self
        v = self._sp_v.to(dtype=_BY_NAME[dt_name], device=dev_str, copy=copy)
        i = self._sp_i.to(device=dev_str, copy=copy)
        return _make(i, v, self._impl.shape, self._sp_c)

    def _cast(self, name, memory_format=None):
        return self.to(_BY_NAME[name])

    def type(self, dtype=None, non_blocking=False, **kwargs):
        if dtype is None:
            from ._tensor import _TYPE_NAMES
            prefix = "flambeau.sparse." if self._impl.device == "cpu" else "flambeau.cuda.sparse."
            return prefix + _TYPE_NAMES[self._impl.dtype]
        return self.to(dtype)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = self.clone()
        new._rg = bool(self._rg)
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, proto):
        return (_rebuild_sparse, (_host(self._sp_i).copy(), _C.to_numpy(self._sp_v.cpu().contiguous()._impl).copy(),
                                  self._impl.dtype, self._impl.device, tuple(self._impl.shape), self._sp_c, bool(self._rg)))

    def __repr__(self, *, tensor_contents=None):
        return _sparse_repr(self)

    # ------------------------------------------------------------------ in place
    def zero_(self):
        i, v = self._sp_i, self._sp_v
        self._sp_i = _wrap(_C.empty([i._impl.shape[0], 0], "int64", i._impl.device))
        self._sp_v = _wrap(_C.empty([0] + list(v._impl.shape[1:]), v._impl.dtype, v._impl.device))
        self._sp_c = True
        return self

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------------ arithmetic
    # (mul, neg, sum, transpose, softmax, unary ops and the products are attached by _sparse_ops.py
    # and _sparse_mm.py, with autograd.)
    def mul_(self, other):
        v = _scaled_values(self, other, "mul_")
        self._sp_v = _checked_inplace(self, v, "mul_")
        self._sp_c = self._sp_i._impl.shape[1] < 2  # as PyTorch's in-place mul: the flag is recomputed
        return self

    def div(self, other, *, rounding_mode=None):
        if rounding_mode is not None:
            raise NotImplementedError("div: rounding_mode is not supported for sparse COO tensors by flambeau")
        return _mul(self, other, "div", divide=True)

    def div_(self, other, *, rounding_mode=None):
        if rounding_mode is not None:
            raise NotImplementedError("div_: rounding_mode is not supported for sparse COO tensors by flambeau")
        v = _scaled_values(self, other, "div_", divide=True)
        self._sp_v = _checked_inplace(self, v, "div_")
        return self

    multiply_ = mul_
    divide = true_divide = div
    divide_ = true_divide_ = div_

    def neg_(self):
        self._sp_v = self._sp_v.neg()
        return self

    negative_ = neg_

    def add(self, other, *, alpha=1):
        return add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return add(self, other, alpha=-alpha, name="sub")

    subtract = sub

    def add_(self, other, *, alpha=1):
        return _sparse_add_(self, other, alpha, "add_")

    def sub_(self, other, *, alpha=1):
        return _sparse_add_(self, other, -alpha, "sub_")

    subtract_ = sub_

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        if isinstance(other, Tensor):
            return add(other, self)
        raise NotImplementedError("add: a number plus a sparse COO tensor is not supported (the result would be "
                                  "dense everywhere); use dense + sparse")

    def __sub__(self, other):
        return add(self, other, alpha=-1, name="sub")

    def __rsub__(self, other):
        if isinstance(other, Tensor):
            return add(other, self, alpha=-1, name="sub")
        raise NotImplementedError("sub: a number minus a sparse COO tensor is not supported")

    def __iadd__(self, other):
        return _sparse_add_(self, other, 1, "add_")

    def __isub__(self, other):
        return _sparse_add_(self, other, -1, "sub_")

    def __imul__(self, other):
        return self.mul_(other)

    def __truediv__(self, other):
        return _mul(self, other, "div", divide=True)

    __div__ = __truediv__

    def __itruediv__(self, other):
        return self.div_(other)

    __idiv__ = __itruediv__



# The classes of sparse tensors (COO here, CSR added by _sparse_csr.py): the autograd engine hands
# the gradients of such leaves to accumulate_grad below.
LEAF_CLASSES = {SparseCooTensor}


# Every other Tensor method (ops attached by _tensor_methods, dunders) raises NotImplementedError
# naming the op. Kept: what only reads metadata or autograd state.
_INHERITED_OK = {
    "__getattr__", "__init_subclass__", "__hash__", "__class__", "__setstate__", "__format__", "__str__",
    "__init__", "__new__", "__reduce__", "__sizeof__", "__dir__", "__subclasshook__", "__getattribute__",
    "__setattr__", "__delattr__", "__ne__", "__eq__",
    "size", "dim", "ndimension", "numel", "nelement", "element_size", "is_floating_point", "is_complex",
    "is_signed", "retain_grad", "register_hook", "register_post_accumulate_grad_hook", "backward",
    "get_device", "_make_subclass", "detach_", "float", "double", "long", "int", "short", "char", "byte", "bool",
    "cpu", "cuda", "type_as", "pin_memory", "is_pinned", "share_memory_", "is_shared", "_is_view", "dim_order",
    "is_set_to", "untyped_storage", "storage_offset", "data_ptr",
}


def _block_dense_methods():
    for name in dir(Tensor):
        if name in SparseCooTensor.__dict__ or name in _INHERITED_OK:
            continue
        attr = getattr(Tensor, name, None)
        if callable(attr) and not isinstance(attr, type) and not isinstance(Tensor.__dict__.get(name), property):
            setattr(SparseCooTensor, name, _unsupported(name))
    # comparisons: PyTorch has no sparse kernel for them either
    for name in ("__eq__", "__ne__"):
        setattr(SparseCooTensor, name, _unsupported(name.strip("_")))
    SparseCooTensor.__hash__ = Tensor.__hash__


def _unsupported_storage(name):
    def op(self, *args, **kwargs):
        raise RuntimeError(f"{name}: sparse COO tensors have no dense storage")
    return op


SparseCooTensor.data_ptr = _unsupported_storage("data_ptr")
SparseCooTensor.untyped_storage = _unsupported_storage("untyped_storage")


def _rebuild_sparse(idx, vals, dt, dev, shape, coalesced, rg):
    from ._creation import from_numpy
    i = from_numpy(idx)
    v = from_numpy(vals)
    if dev != "cpu":
        i, v = i.to(dev), v.to(dev)
    t = _make(i, v, shape, coalesced)
    t._rg = rg
    return t


# ---------------------------------------------------------------------- index helpers
def _keys(t, idx=None):
    """Row-major linear positions of the nnz entries in the sparse dims (int64 numpy array)."""
    if idx is None:
        idx = _host(t._sp_i)
    sd = idx.shape[0]
    if sd == 0:
        return np.zeros(idx.shape[1], dtype=np.int64)
    if sd == 1:
        return np.array(idx[0], dtype=np.int64)
    sizes = t._impl.shape[:sd]
    strides = np.ones(sd, dtype=np.int64)
    for d in range(sd - 2, -1, -1):
        strides[d] = strides[d + 1] * sizes[d + 1]
    return (idx * strides[:, None]).sum(0).astype(np.int64)


def _keys_tensor(t):
    i = t._sp_i
    if i._impl.shape[0] == 1:
        return i.reshape(-1)
    return _long(_keys(t), i._impl.device)


def _rows_view_shape(t):
    """The dense tensor's shape with its sparse dims flattened into one: (prod(sparse), *dense)."""
    sd = t._sp_i._impl.shape[0]
    shape = t._impl.shape
    return (math.prod(shape[:sd]),) + tuple(shape[sd:])


def _coalesce_order(keys):
    """The permutation that sorts the linear indices `keys` (int64 numpy) as PyTorch's CPU coalesce
    does: its sort(0), not stable below 32768 entries (the order duplicates' values are summed in,
    so it decides the result's last bits). Done in C++ with the same std::sort."""
    if len(keys) <= 16:  # (insertion sort: stable)
        return np.argsort(keys, kind="stable")
    return _C.to_numpy(_C.torch_sort_permutation(_long(keys, "cpu")._impl))


def _coalesce(t):
    """PyTorch's CPU coalesce: sort the linear indices (as its sort(0), _coalesce_order), sum the
    values of equal indices in that order, flag the result coalesced."""
    from . import no_grad
    nnz = t._sp_i._impl.shape[1]
    if nnz < 2:
        r = t.clone()
        r._sp_c = True
        return r
    idx = _host(t._sp_i)
    keys = _keys(t, idx)
    perm = _coalesce_order(keys)
    sk = keys[perm]
    first = np.ones(nnz, dtype=bool)
    first[1:] = sk[1:] != sk[:-1]
    group = np.cumsum(first) - 1
    n_out = int(group[-1]) + 1
    dev = t._impl.device
    new_idx = _long(idx[:, perm[first]], dev)
    v = t._sp_v
    with no_grad():
        out = v.new_zeros((n_out,) + tuple(v.shape[1:]))
        if v.numel():
            out.index_add_(0, _long(group, dev), v.index_select(0, _long(perm, dev)))
    return _make(new_idx, out, t._impl.shape, True)


def _to_dense(t):
    from . import no_grad
    v = t._sp_v
    with no_grad():
        out = v.new_zeros(_rows_view_shape(t))
        if v.numel():
            out.index_add_(0, _keys_tensor(t), v)
    return out.reshape(tuple(t._impl.shape))


def _merge_plan(tk, sk):
    """PyTorch's sparse + sparse (add_out_sparse_contiguous): one merge pass over both index lists
    as they are (sorted or not), taking the smaller head, or both heads into one entry when equal.
    Returns the result position of each entry of t and of s, and the result nnz."""
    return _merge_blocks(np.asarray(tk, dtype=np.int64), np.asarray(sk, dtype=np.int64), 0)


def _merge_loop(a, b):
    """_merge_plan's definition, one entry at a time (the fallback of _merge_blocks)."""
    n, m = len(a), len(b)
    a, b = a.tolist(), b.tolist()
    tp = [0] * n
    sp = [0] * m
    i = j = r = 0
    while i < n and j < m:
        x, y = a[i], b[j]
        if x < y:
            tp[i] = r
            i += 1
        elif x > y:
            sp[j] = r
            j += 1
        else:
            tp[i] = r
            sp[j] = r
            i += 1
            j += 1
        r += 1
    while i < n:
        tp[i] = r
        i += 1
        r += 1
    while j < m:
        sp[j] = r
        j += 1
        r += 1
    return np.array(tp, dtype=np.int64), np.array(sp, dtype=np.int64), r


def _blocks(a):
    """Split `a` at its left-to-right maxima (entries greater than all before them): the leaders'
    values (strictly increasing), the blocks' starts and lengths."""
    pm = np.maximum.accumulate(a)
    lead = np.ones(len(a), dtype=bool)
    lead[1:] = a[1:] > pm[:-1]
    starts = np.nonzero(lead)[0]
    return a[starts], starts, np.diff(np.append(starts, len(a)))


def _merge_blocks(a, b, depth):
    """The merge pass of _merge_plan, vectorised. In that pass a block (a leader and the smaller
    entries after it) always leaves in one piece: once its leader is below the other list's head,
    so are the entries after it. So the pass is a merge of the two (sorted) leader lists, a block
    whose leader has no equal going out whole; equal leaders combine into one entry followed by the
    merge of the two blocks' remainders (recursively), after which both lists are at a block start
    again. Falls back to the entry-by-entry loop where ties nest deeply or the blocks are tiny."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64), n + m
    if n == m and np.array_equal(a, b):
        pos = np.arange(n, dtype=np.int64)
        return pos, pos, n
    la, sa, na = _blocks(a)
    lb, sb, nb = _blocks(b)
    vals = np.union1d(la, lb)
    if len(la) == n and len(lb) == m:  # both strictly increasing (coalesced): a sorted union
        return np.searchsorted(vals, a), np.searchsorted(vals, b), len(vals)
    ia = np.searchsorted(la, vals)
    ib = np.searchsorted(lb, vals)
    in_a = (ia < len(la)) & (la[np.minimum(ia, len(la) - 1)] == vals)
    in_b = (ib < len(lb)) & (lb[np.minimum(ib, len(lb) - 1)] == vals)
    ties = np.nonzero(in_a & in_b)[0]
    sizes = np.zeros(len(vals), dtype=np.int64)
    sizes[in_a] += na[ia[in_a]]
    sizes[in_b] += nb[ib[in_b]]
    sizes[ties] -= 1  # the two leaders combine; a remainder merged with an empty one keeps its order
    hard = ties[(na[ia[ties]] > 1) & (nb[ib[ties]] > 1)]  # both remainders non-empty: merged recursively
    if depth > 40 or len(hard) * 64 > n + m:
        return _merge_loop(a, b)
    tails = []
    for g in hard.tolist():
        ka, kb = ia[g], ib[g]
        tpl, spl, c = _merge_blocks(a[sa[ka] + 1:sa[ka] + na[ka]], b[sb[kb] + 1:sb[kb] + nb[kb]], depth + 1)
        tails.append((g, ka, kb, tpl, spl))
        sizes[g] = 1 + c
    gstart = np.cumsum(sizes) - sizes
    block_a = np.repeat(np.arange(len(la)), na)
    tp = gstart[np.searchsorted(vals, la)][block_a] + (np.arange(n) - sa[block_a])
    block_b = np.repeat(np.arange(len(lb)), nb)
    sp = gstart[np.searchsorted(vals, lb)][block_b] + (np.arange(m) - sb[block_b])
    for g, ka, kb, tpl, spl in tails:
        tp[sa[ka] + 1:sa[ka] + na[ka]] = gstart[g] + 1 + tpl
        sp[sb[kb] + 1:sb[kb] + nb[kb]] = gstart[g] + 1 + spl
    return tp.astype(np.int64), sp.astype(np.int64), int(sizes.sum())


def _check_same_size(t, s, name):
    if tuple(t._impl.shape) != tuple(s._impl.shape):
        raise RuntimeError(f"{name}: expected sizes of 'self' and 'other' to match, but "
                           f"{_size_str(t._impl.shape)} != {_size_str(s._impl.shape)}")
    if t.sparse_dim() != s.sparse_dim():
        raise RuntimeError(f"{name}: expected 'self' and 'other' to have same sparse dimensions, but got "
                           f"{t.sparse_dim()} and {s.sparse_dim()}")
    if t._impl.device != s._impl.device:
        raise RuntimeError(f"{name}: expected both sparse tensors on one device, got {t._impl.device} and "
                           f"{s._impl.device}")


def _sparse_plus_sparse(t, s, alpha, name):
    """t + alpha * s for two sparse tensors, as PyTorch's CPU kernel: a merge of the two index lists
    when both values are contiguous, else their concatenation (coalesced when nnz exceeds numel)."""
    from . import no_grad
    from ._promote import result_type_names
    _check_same_size(t, s, name)
    dt = result_type_names(t._sp_v, s._sp_v)
    tv, sv = t._sp_v, s._sp_v
    if tv._impl.dtype != dt:
        tv = tv.to(_BY_NAME[dt])
    if sv._impl.dtype != dt:
        sv = sv.to(_BY_NAME[dt])
    shape = t._impl.shape
    with no_grad():
        if s._nnz() == 0:  # PyTorch: a copy of t
            return _make(t._sp_i.clone(), tv.clone(), shape, t._sp_c)
        if alpha != 1:
            sv = sv * alpha
        if t._nnz() == 0:  # PyTorch: alpha * s
            return _make(s._sp_i.clone(), sv.clone() if sv is s._sp_v else sv, shape, s._sp_c)
        if not (t._sp_v._impl.is_contiguous() and s._sp_v._impl.is_contiguous()):
            from ._functions.join import cat
            r = _make(cat([t._sp_i, s._sp_i], 1), cat([tv, sv], 0), shape)
            if r._nnz() > math.prod(shape):  # PyTorch's bound on the growth of nnz
                c = _coalesce(r)  # (aliased back into the result: the flag is recomputed from nnz, as PyTorch's)
                r = _make(c._sp_i, c._sp_v, shape)
            return r
        ti, si = _host(t._sp_i), _host(s._sp_i)
        tp, sp, n = _merge_plan(_keys(t, ti), _keys(s, si))
        idx = np.empty((ti.shape[0], n), dtype=np.int64)
        idx[:, tp] = ti
        idx[:, sp] = si
        dev = t._impl.device
        out = tv.new_zeros((n,) + tuple(tv.shape[1:]))
        if tv.numel():
            out.index_add_(0, _long(tp, dev), tv)
            out.index_add_(0, _long(sp, dev), sv)
        return _make(_long(idx, dev), out, shape, t._sp_c and s._sp_c)


def _dense_plus_sparse(d, s, alpha, name, inplace=False):
    """d + alpha * s (dense result), or d += alpha * s in place: the values are index_added into
    the rows of d in their order (PyTorch's add_out_dense_sparse_cpu)."""
    from ._promote import result_type_names, can_cast_names
    if tuple(d._impl.shape) != tuple(s._impl.shape):
        raise RuntimeError(f"{name}: expected 'self' and 'other' to have same size, but self has size "
                           f"{_size_str(d._impl.shape)} while other has size {_size_str(s._impl.shape)} (FYI: "
                           "dense-sparse addition does not currently support broadcasting)")
    if d._impl.device != s._impl.device:
        raise RuntimeError(f"{name}: expected the dense and the sparse tensor on one device, got "
                           f"{d._impl.device} and {s._impl.device}")
    dt = result_type_names(d, s._sp_v)
    v = s._sp_v
    if alpha != 1:
        v = v * alpha
    if inplace:
        if dt != d._impl.dtype and not can_cast_names(dt, d._impl.dtype):
            raise RuntimeError(f"{name}: result type {_BY_NAME[dt]} can't be cast to the desired output type "
                               f"{d.dtype}")
        if v._impl.dtype != d._impl.dtype:
            v = v.to(d.dtype)
        if s._nnz() == 0:
            return d
        if d._impl.is_contiguous():
            d.view(_rows_view_shape(s)).index_add_(0, _keys_tensor(s), v)
        else:
            out = d.reshape(_rows_view_shape(s)).clone()
            out.index_add_(0, _keys_tensor(s), v)
            d.copy_(out.reshape(tuple(d._impl.shape)))
        return d
    out = d.to(_BY_NAME[dt]).clone()
    if v._impl.dtype != dt:
        v = v.to(_BY_NAME[dt])
    if s._nnz() == 0:
        return out
    return out.reshape(_rows_view_shape(s)).index_add(0, _keys_tensor(s), v).reshape(tuple(d._impl.shape))


def add(input, other, *, alpha=1, name="add"):
    """input + alpha * other where one of them is sparse (PyTorch's rules: sparse + sparse is sparse,
    dense + sparse is dense, sparse + dense is an error)."""
    a_sp = input.__class__ is SparseCooTensor
    b_sp = other.__class__ is SparseCooTensor
    if (a_sp or b_sp) and isinstance(input, Tensor) and isinstance(other, Tensor):
        from . import _sparse_ops
        if _sparse_ops._needs_graph(input, other):  # (the same results, recorded for autograd)
            return _sparse_ops.add_graph(input, other, alpha, name)
    if a_sp and b_sp:
        return _sparse_plus_sparse(input, other, alpha, name)
    if b_sp and isinstance(input, Tensor):
        return _dense_plus_sparse(input, other, alpha, name)
    if a_sp and isinstance(other, Tensor):
        raise RuntimeError(f"{name}(sparse, dense) is not supported. Use {name}(dense, sparse) instead.")
    raise NotImplementedError(f"{name}: a sparse COO tensor and a {type(other if a_sp else input).__name__} "
                              "is not supported by flambeau")


def _sparse_add_(self, other, alpha, name):
    if other.__class__ is not SparseCooTensor:
        raise RuntimeError(f"{name}(sparse, dense) is not supported. Use {name}(dense, sparse) instead."
                           if isinstance(other, Tensor) else
                           f"{name}: a sparse COO tensor plus a {type(other).__name__} is not supported")
    r = _sparse_plus_sparse(self, other, alpha, name)
    if r._impl.dtype != self._impl.dtype:
        from ._promote import can_cast_names
        if not can_cast_names(r._impl.dtype, self._impl.dtype):
            raise RuntimeError(f"{name}: result type {r.dtype} can't be cast to the desired output type {self.dtype}")
        r = r.to(self.dtype)
    self._sp_i, self._sp_v, self._sp_c = r._sp_i, r._sp_v, r._sp_c
    return self


def dense_add_(dense, other, alpha=1, name="add_"):
    """Tensor.add_/sub_ with a sparse `other` (dense.add_(sparse, alpha=...))."""
    return _dense_plus_sparse(dense, other, alpha, name, inplace=True)


def _scalar_of(other, name):
    if isinstance(other, Tensor):
        if other.__class__ is SparseCooTensor or other._impl.numel != 1:
            raise NotImplementedError(f"{name}: a sparse COO tensor times or by a tensor of shape "
                                      f"{_size_str(other.shape)} is not supported by flambeau (scalars and "
                                      "one-element dense tensors only)")
        return other.reshape(())
    if isinstance(other, (bool, int, float)):
        return other
    raise TypeError(f"{name}: unsupported operand type {type(other).__name__} for a sparse COO tensor")


def _scaled_values(t, other, name, divide=False):
    c = _scalar_of(other, name)
    from . import no_grad
    with no_grad():
        return t._sp_v / c if divide else t._sp_v * c


def _checked_inplace(t, v, name):
    if v._impl.dtype != t._impl.dtype:
        from ._promote import can_cast_names
        if not can_cast_names(v._impl.dtype, t._impl.dtype):
            raise RuntimeError(f"{name}: result type {v.dtype} can't be cast to the desired output type {t.dtype}")
        v = v.to(t.dtype)
    return v


def _mul(t, other, name, divide=False):
    if t.__class__ is not SparseCooTensor:  # number * sparse (reflected)
        t, other = other, t
    return _make(t._sp_i, _scaled_values(t, other, name, divide), t._impl.shape, t._sp_c)


def sparse_mask(dense, mask):
    """dense.sparse_mask(mask): the entries of `dense` at mask's indices, as a sparse tensor with
    mask's indices (and coalesced flag)."""
    if mask.__class__ is not SparseCooTensor:
        raise RuntimeError("sparse_mask: expected mask to be a sparse COO tensor, got a dense one")
    if tuple(dense.shape) != tuple(mask.shape):
        raise RuntimeError(f"sparse_mask(): operands have incompatible sizes; self has size "
                           f"{_size_str(dense.shape)} but mask has size {_size_str(mask.shape)}")
    from . import no_grad
    with no_grad():
        v = dense.reshape(_rows_view_shape(mask)).index_select(0, _keys_tensor(mask))
    return _make(mask._sp_i, v, mask._impl.shape, mask._sp_c)


# ---------------------------------------------------------------------- autograd
def accumulate_grad(cur, new, create_graph):
    """PyTorch's AccumulateGrad where a sparse gradient is involved: `cur` is the leaf's .grad (None,
    dense or sparse), `new` the incoming gradient. Returns the new .grad (which may be `cur`,
    updated in place)."""
    if cur is None:
        if new.__class__ is SparseCooTensor:
            i, v = new._sp_i, new._sp_v
            if not create_graph and i._impl.is_contiguous() and v._impl.is_contiguous():
                return _make(i, v, new._impl.shape)  # shares them; flag by nnz, as PyTorch's
            return new.clone()
        if create_graph:
            return new
        # a dense gradient of a sparse leaf (torch.mm(S, D), S.sum()): a contiguous tensor of its own
        c = new.contiguous()
        return c if c is not new else new.clone()
    if create_graph:
        if cur.__class__ is SparseCooTensor and new.__class__ is not SparseCooTensor:
            return new + cur
        return cur + new
    if cur.__class__ is SparseCooTensor and new.__class__ is not SparseCooTensor:
        return new + cur  # a dense result replaces the sparse .grad
    if cur.__class__ is SparseCooTensor:
        return _sparse_add_(cur, new, 1, "add_")
    if new.__class__ is not SparseCooTensor:  # a sparse leaf's dense .grad += a dense gradient
        return cur.add_(new)
    return dense_add_(cur, new)  # dense .grad += sparse gradient, in place


def sum_grads(old, new):
    """The engine's gradient buffer sum when one side is sparse (PyTorch's InputBuffer::accumulate:
    with grad mode off and a sparse buffered gradient, `new + old`)."""
    from .autograd.grad_mode import _state as _gs
    if _gs.enabled:
        if old.__class__ is SparseCooTensor and new.__class__ is not SparseCooTensor:
            return new + old
        return old + new
    if old.__class__ is SparseCooTensor:
        return new + old
    return old + new


def _make_to_dense():
    from .autograd.function import Function

    class _ToDense(Function):
        """to_dense() of a sparse tensor that requires grad: the gradient is the dense gradient at
        the (coalesced) indices of the input, as PyTorch's (grad.sparse_mask(input.coalesce()))."""

        @staticmethod
        def forward(ctx, values, sp):
            ctx.sp = sp
            return _to_dense(sp)

        @staticmethod
        def backward(ctx, grad):
            return None, sparse_mask(grad, ctx.sp.coalesce())

    return _ToDense


class _LazyToDense:
    cls = None

    def apply(self, values, sp):
        if _LazyToDense.cls is None:
            _LazyToDense.cls = _make_to_dense()
        return _LazyToDense.cls.apply(values, sp)


_ToDense = _LazyToDense()


# ---------------------------------------------------------------------- construction
def _as_tensor(x, dtype=None):
    from ._creation import tensor as _tensor_fn
    if isinstance(x, Tensor):
        if x.__class__ is SparseCooTensor:
            raise TypeError("sparse_coo_tensor: indices and values must be dense tensors")
        return x if dtype is None else x.to(dtype)
    return _tensor_fn(x, dtype=dtype)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A sparse COO tensor with `values[k]` at `indices[:, k]` (torch.sparse_coo_tensor). Indices are
    always checked against the size (PyTorch checks them only with check_invariants=True; a bad
    index would later read out of bounds)."""
    from ._dtype import _device_str, int64
    idx = _as_tensor(indices)
    if idx._impl.dtype != "int64":  # PyTorch converts any index dtype to int64
        idx = idx.to(int64)
    vals = _as_tensor(values, dtype)
    dev = _device_str(device) if device is not None else vals._impl.device
    if idx._impl.ndim != 2:
        raise RuntimeError(f"sparse_coo_tensor: indices must be sparse_dim x nnz, but got: "
                           f"{_size_str(idx.shape)}")
    sd, nnz = idx._impl.shape
    if vals._impl.ndim == 0:
        raise RuntimeError("sparse_coo_tensor: values must have at least one dimension (nnz), got a 0-dim tensor")
    if vals._impl.shape[0] != nnz:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: {nnz}, nnz from "
                           f"values: {vals._impl.shape[0]}")
    dense_sizes = tuple(vals._impl.shape[1:])
    host = _host(idx)
    if nnz and host.min() < 0:
        d = int(np.nonzero((host < 0).any(1))[0][0])
        raise RuntimeError(f"sparse_coo_tensor: found negative index {int(host[d].min())} for dim {d}")
    if size is None:
        sparse_sizes = tuple(int(x) + 1 for x in host.max(1)) if nnz else (0,) * sd
        shape = sparse_sizes + dense_sizes
    else:
        shape = tuple(int(s) for s in (size if not isinstance(size, int) else (size,)))
        if len(shape) != sd + len(dense_sizes):
            raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) = {len(shape)}, "
                               f"sparse_dim = {sd}, dense_dim = {len(dense_sizes)}")
        if tuple(shape[sd:]) != dense_sizes:
            raise RuntimeError(f"values has incorrect size, expected {_size_str((nnz,) + tuple(shape[sd:]))}, got "
                               f"{_size_str(vals.shape)}")
        if nnz:
            mx = host.max(1)
            for d in range(sd):
                if mx[d] >= shape[d]:
                    raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is {shape[d]} but "
                                       f"found index {int(mx[d])}")
    from . import no_grad
    from .autograd.grad_mode import _state as _gs
    graph_vals = vals if vals._rg and _gs.enabled else None
    with no_grad():
        vals = vals.detach()
        if vals._impl.device != dev:
            vals = vals.to(dev)
        idx = idx.detach()
        if idx._impl.device != dev:
            idx = idx.to(dev)
    if graph_vals is not None:  # values that require grad: the result is differentiable in them
        from ._sparse_ops import from_values
        return from_values(graph_vals.to(dev) if graph_vals._impl.device != dev else graph_vals, idx, shape,
                           is_coalesced)
    t = _make(idx, vals, shape, is_coalesced)
    if requires_grad:
        t.requires_grad = True
    return t


def _dense_to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """Tensor.to_sparse(): the nonzero entries (or, with sparse_dim < ndim, the nonzero slices) of
    a dense tensor, in row-major order (coalesced)."""
    if layout is not None and layout is not sparse_coo:
        raise NotImplementedError(f"to_sparse: layout {layout} is not supported by flambeau (sparse_coo only)")
    nd = self._impl.ndim
    if sparse_dim is None:
        sparse_dim = nd
    if not 0 <= sparse_dim <= nd:
        raise RuntimeError(f"dense_to_sparse: sparse_dim argument must be in [0,{nd}] range, but {sparse_dim} is "
                           "given")
    from . import no_grad
    shape = tuple(self._impl.shape)
    with no_grad():
        lead = math.prod(shape[:sparse_dim])
        rows = self.detach().reshape((lead, -1) if lead else (0, math.prod(shape[sparse_dim:])))
        nz = _C.to_numpy(rows.ne(0).any(1).cpu()._impl) if rows.numel() else np.zeros(lead, dtype=bool)
        pos = np.nonzero(nz)[0].astype(np.int64)
        idx = np.array(np.unravel_index(pos, shape[:sparse_dim]), dtype=np.int64).reshape(sparse_dim, -1) \
            if sparse_dim else np.zeros((0, 1 if lead else 0), dtype=np.int64)
        if sparse_dim == 0:
            pos = np.zeros(1, dtype=np.int64)
        dev = self._impl.device
        vals = self.detach().reshape((lead,) + shape[sparse_dim:]).index_select(0, _long(pos, dev))
    return _make(_long(idx, dev), vals, shape, True)


def _dense_to_dense(self, dtype=None, *, masked_grad=None):
    return self if dtype is None else self.to(dtype)


def _dense_only(name):
    def op(self, *args, **kwargs):
        raise RuntimeError(f"{name} expected sparse coordinate tensor layout but got Strided")
    op.__name__ = name
    return op


def _dense_sparse_dim(self):
    return 0


def _dense_dense_dim(self):
    return self._impl.ndim


Tensor.to_sparse = _dense_to_sparse
Tensor.to_sparse_coo = lambda self: _dense_to_sparse(self)
Tensor.to_dense = _dense_to_dense
Tensor.sparse_mask = sparse_mask
Tensor.sparse_dim = _dense_sparse_dim
Tensor.dense_dim = _dense_dense_dim
for _n in ("coalesce", "is_coalesced", "indices", "values"):
    setattr(Tensor, _n, _dense_only(_n))


def _finish_setup():
    """Called once by flambeau/__init__.py after every module has attached its methods to Tensor."""
    _block_dense_methods()
    from . import _sparse_csr
    _sparse_csr.finish_setup()
    SparseCooTensor.sparse_mask = _unsupported("sparse_mask")  # a sparse self: not implemented here


# ---------------------------------------------------------------------- repr
def _sparse_repr(t):
    """PyTorch's format (torch/_tensor_str.py, sparse branch): indices and values each as tensor(...)
    without their dtype, then size, nnz, dtype, layout and autograd suffixes, the first on a new line."""
    return _layout_repr(t, [("indices", t._sp_i), ("values", t._sp_v)], "sparse_coo", force_newline=True)


def _layout_repr(t, parts, layout_name, force_newline):
    """The repr of a sparse tensor of any layout: `parts` (name, tensor) printed as name=tensor(...)
    one per line, then the suffixes, as PyTorch's _str_intern and _add_suffixes (COO forces the
    first suffix onto a new line, the compressed layouts do not)."""
    from ._printing import _tensor_str, PRINT_OPTS
    from ._dtype import get_default_dtype
    indent = len("tensor(")
    suffixes = []
    dev = t._impl.device
    if dev != "cpu":
        suffixes.append(f"device='{dev}'")
    suffixes += [f"size={tuple(t._impl.shape)}", f"nnz={t._nnz()}"]
    dt = t._impl.dtype
    if dt not in (get_default_dtype()._name, "int64", "bool"):
        suffixes.append(f"dtype={_BY_NAME[dt]!r}")

    def body(x, prefix):
        xi = x._impl
        arr = _C.to_numpy(xi if xi.device == "cpu" else _C.to(xi, xi.dtype, "cpu", False))
        s = _tensor_str(arr, indent + len(prefix), xi.dtype in ("float32", "float64"))
        if xi.numel == 0:
            s += ", size=" + str(tuple(xi.shape))
        return prefix + s + ")"

    text = (",\n" + " " * indent).join(body(x, name + "=tensor(") for name, x in parts)
    text = "tensor(" + text
    suffixes.append("layout=flambeau." + layout_name)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{type(t.grad_fn).__name__}>")
    elif t._rg:
        suffixes.append("requires_grad=True")
    out = [text]
    last = len(text) - text.rfind("\n") + 1
    force = force_newline
    for suf in suffixes:
        if force or last + len(suf) + 2 > PRINT_OPTS.linewidth:
            out.append(",\n" + " " * indent + suf)
            last = indent + len(suf)
            force = False
        else:
            out.append(", " + suf)
            last += len(suf) + 2
    out.append(")")
    return "".join(out)
