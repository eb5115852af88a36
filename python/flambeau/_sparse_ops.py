"""Ops on sparse COO tensors that graph scripts use with adjacency matrices: transpose / t(), sums
over dims, torch.sparse.softmax / log_softmax, elementwise products (with a dense tensor or another
sparse tensor), pow, the zero-preserving unary ops, index_select, spdiags, and autograd for them.

Autograd is done in value space. Two bridge Functions connect a sparse tensor to its values:
  Values(S)                       the stored values of S (dense, (nnz, *dense_dims)); the gradient
                                  goes back to S as a sparse tensor with S's indices;
  FromValues(v, indices, shape)   a sparse tensor holding v at `indices`; the gradient of each
                                  stored entry is the incoming gradient (dense or sparse) at its index.
Between them every op is ordinary dense ops on the values (index_add, exp, ...), which flambeau
already differentiates. So any op here gets gradients for sparse leaves (requires_grad=True),
for sparse tensors built from values that require grad, and through chains of sparse ops.

Index work (grouping, sorting, lookups) runs on the host in numpy, as in _sparse.py.
"""
import math

import numpy as np

from ._tensor import Tensor
from ._sparse import (SparseCooTensor, _make, _host, _long, _keys, _size_str, _rows_view_shape, _coalesce,
                      _coalesce_order)
from .autograd.function import Function
from .autograd.grad_mode import _state as _gs


def _no_grad():
    from . import no_grad
    return no_grad()


# ---------------------------------------------------------------------- value-space bridges
def _values_at(g, t):
    """The gradient `g` (dense, or sparse of t's shape) at each stored entry of t (duplicates each get
    the value at their index): a dense tensor of shape (nnz, *dense_dims)."""
    keys = _keys(t)
    dev = t._impl.device
    if g.__class__ is not SparseCooTensor:
        rows = g.reshape(_rows_view_shape(t))
        return rows.index_select(0, _long(keys, dev))
    c = g if g._sp_c else _coalesce(g)
    if c._sp_i is t._sp_i and t._sp_c:
        return c._sp_v
    gk = _keys(c)
    pos = np.searchsorted(gk, keys)
    found = (pos < len(gk)) & (gk[np.minimum(pos, max(len(gk) - 1, 0))] == keys) if len(gk) else \
        np.zeros(len(keys), dtype=bool)
    v = c._sp_v
    if not found.any():
        return v.new_zeros((len(keys),) + tuple(v.shape[1:]))
    picked = v.index_select(0, _long(np.where(found, pos, 0), dev))
    if found.all():
        return picked
    mask = _long(found.astype(np.int64), dev).to(v.dtype).reshape((len(keys),) + (1,) * (v.dim() - 1))
    return picked * mask


class Values(Function):
    """S -> its stored values (dense), differentiable; gradient: sparse with S's indices."""
    _grad_fn_name = "ValuesBackward0"

    @staticmethod
    def forward(ctx, s):
        ctx.s = s
        return s._sp_v.detach()

    @staticmethod
    def backward(ctx, gv):
        # A sparse gradient holds one value per index (duplicates would add up): for an uncoalesced S,
        # the pattern of S.coalesce() with the gradient of each index's first entry (the gradients
        # of duplicates are equal: every op here is a function of the dense tensor S stands for).
        s = ctx.s
        if s._sp_c:
            return _make(s._sp_i, gv, s._impl.shape, True)
        idx = _host(s._sp_i)
        keys = _keys(s, idx)
        perm = _coalesce_order(keys)
        sk = keys[perm]
        first = np.ones(len(sk), dtype=bool)
        first[1:] = sk[1:] != sk[:-1]
        pick = _long(perm[first], s._impl.device)
        return _make(s._sp_i.index_select(1, pick), gv.index_select(0, pick), s._impl.shape, True)


class FromValues(Function):
    """(values, indices, shape) -> sparse tensor, differentiable in the values."""
    _grad_fn_name = "SparseCooTensorWithDimsAndTensorsBackward0"

    @staticmethod
    def forward(ctx, v, indices, shape, coalesced):
        out = _make(indices, v.detach(), shape, coalesced)
        ctx.out = _make(indices, v.detach(), shape, coalesced)  # (not `out` itself: no reference cycle)
        return out

    @staticmethod
    def backward(ctx, g):
        return _values_at(g, ctx.out), None, None, None


def _needs_graph(*xs):
    return _gs.enabled and any(isinstance(x, Tensor) and x._rg for x in xs)


def values_of(s):
    """S's values, carrying S's graph when it has one."""
    return Values.apply(s) if _needs_graph(s) else s._sp_v


def from_values(v, indices, shape, coalesced=None):
    if _needs_graph(v):
        return FromValues.apply(v, indices, tuple(shape), coalesced)
    return _make(indices, v, shape, coalesced)


def _graph_aware(fn):
    """Runs fn (which works on values with dense ops) without recording when nothing needs a graph."""
    def run(s, *args, **kwargs):
        if _needs_graph(s, *[a for a in args if isinstance(a, Tensor)]):
            return fn(s, *args, **kwargs)
        with _no_grad():
            return fn(s, *args, **kwargs)
    run.__name__ = fn.__name__
    return run


def coalesce(s):
    """S.coalesce(), differentiable (duplicates summed in PyTorch's order, as _sparse._coalesce)."""
    if s._sp_c:
        return s
    if not _needs_graph(s):
        return _coalesce(s)
    nnz = s._nnz()
    if nnz < 2:
        return from_values(values_of(s), s._sp_i, s._impl.shape, True)
    idx = _host(s._sp_i)
    keys = _keys(s, idx)
    perm = _coalesce_order(keys)
    sk = keys[perm]
    first = np.ones(nnz, dtype=bool)
    first[1:] = sk[1:] != sk[:-1]
    group = np.cumsum(first) - 1
    dev = s._impl.device
    v = values_of(s)
    out = v.new_zeros((int(group[-1]) + 1,) + tuple(v.shape[1:])).index_add(
        0, _long(group, dev), v.index_select(0, _long(perm, dev)))
    return from_values(out, _long(idx[:, perm[first]], dev), s._impl.shape, True)


# ---------------------------------------------------------------------- transpose
def transpose(s, dim0, dim1):
    """S.transpose(dim0, dim1) of two sparse dims: the index rows swapped, entries in their order
    (PyTorch's: the result is flagged uncoalesced unless empty)."""
    nd = s._impl.ndim
    d0, d1 = (dim0 % nd if nd else 0), (dim1 % nd if nd else 0)
    if not (-nd <= dim0 < max(nd, 1) and -nd <= dim1 < max(nd, 1)):
        raise IndexError(f"transpose: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got "
                         f"{dim0 if not -nd <= dim0 < nd else dim1})")
    if d0 == d1:
        return s
    sd = s.sparse_dim()
    if d0 >= sd or d1 >= sd:
        raise NotImplementedError(f"transpose: transposing the dense dims of a hybrid sparse tensor (shape "
                                  f"{_size_str(s.shape)}, sparse_dim {sd}) is not supported by flambeau")
    perm = list(range(sd))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    shape = list(s._impl.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    with _no_grad():
        idx = s._sp_i.index_select(0, _long(np.array(perm), s._impl.device))
    return from_values(values_of(s), idx, shape, s._nnz() == 0)  # PyTorch: uncoalesced unless empty


def t(s):
    if s._impl.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {s._impl.ndim}D")
    return s if s._impl.ndim < 2 else transpose(s, 0, 1)


# ---------------------------------------------------------------------- sums
def _sum_dims(s, dim):
    nd = s._impl.ndim
    dims = [dim] if isinstance(dim, int) else list(dim)
    out = []
    for d in dims:
        if not -nd <= d < nd:
            raise IndexError(f"sum: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got "
                             f"{d})")
        d %= nd
        if d in out:
            raise RuntimeError(f"sum: dim {d} appears multiple times in the list of dims")
        out.append(d)
    return sorted(out)


@_graph_aware
def sum_dims(s, dim, dtype=None):
    """torch.sparse.sum(S, dim): summing only sparse dims gives a coalesced sparse tensor over the
    rest; summing every sparse dim gives a dense tensor (the values summed over the entries)."""
    dims = _sum_dims(s, dim)
    sd = s.sparse_dim()
    v = values_of(s)
    if dtype is not None:
        v = v.to(dtype)
    sparse_sum = [d for d in dims if d < sd]
    dense_sum = [d - sd + 1 for d in dims if d >= sd]
    if dense_sum:
        v = v.sum(dense_sum)
    if not sparse_sum:
        return coalesce(from_values(v, s._sp_i, tuple(x for i, x in enumerate(s._impl.shape) if i not in dims),
                                    s._sp_c))
    if len(sparse_sum) == sd:
        return v.sum(0)
    keep = [d for d in range(sd) if d not in sparse_sum]
    with _no_grad():
        idx = s._sp_i.index_select(0, _long(np.array(keep), s._impl.device))
    shape = tuple(x for i, x in enumerate(s._impl.shape) if i not in dims)
    return coalesce(from_values(v, idx, shape, False if s._nnz() > 1 else None))


class _SumAll(Function):
    """The sum of every entry of S (0-d dense). Its gradient for S is, as PyTorch's, dense for S.sum()
    (SumBackward0: the gradient expanded) and sparse with S.coalesce()'s pattern for
    torch.sparse.sum(S)."""
    _grad_fn_name = "SumBackward0"

    @staticmethod
    def forward(ctx, s, dtype, sparse_grad):
        ctx.s, ctx.sparse_grad = s, sparse_grad
        v = s._sp_v if dtype is None else s._sp_v.to(dtype)
        return v.sum()

    @staticmethod
    def backward(ctx, g):
        s = ctx.s
        if not ctx.sparse_grad:
            return g.to(s.dtype).expand(tuple(s._impl.shape)), None, None
        c = s if s._sp_c else _coalesce(s)
        v = g.to(s.dtype).expand(tuple(c._sp_v.shape)).clone()
        return _make(c._sp_i, v, c._impl.shape, True), None, None


def full_sum(s, dtype=None, sparse_grad=False):
    """S.sum() / torch.sparse.sum(S): the sum of the stored values (0-d dense)."""
    if _needs_graph(s):
        return _SumAll.apply(s, dtype, sparse_grad)
    v = s._sp_v if dtype is None else s._sp_v.to(dtype)
    return v.sum()


# ---------------------------------------------------------------------- addition with autograd
def add_graph(a, b, alpha, name):
    """a + alpha * b with one operand or both sparse, recorded for autograd: the result (pattern,
    order, flag) of _sparse.add, its values computed from the operands' graph-carrying values."""
    from ._sparse import _sparse_plus_sparse, _merge_plan, _dense_plus_sparse
    from ._functions.join import cat
    if a.__class__ is not SparseCooTensor:  # dense + sparse: a dense result
        if b.__class__ is not SparseCooTensor:
            raise RuntimeError(f"{name}: expected a sparse operand")
        with _no_grad():
            _dense_plus_sparse(a.detach(), b.detach(), alpha, name)  # (the checks)
        bd = b.to_dense()
        return a + (bd * alpha if alpha != 1 else bd)
    if b.__class__ is not SparseCooTensor:
        raise RuntimeError(f"{name}(sparse, dense) is not supported. Use {name}(dense, sparse) instead.")
    with _no_grad():
        r = _sparse_plus_sparse(a, b, alpha, name)
    av, bv = values_of(a), values_of(b)
    if av.dtype != r.dtype:
        av = av.to(r.dtype)
    if bv.dtype != r.dtype:
        bv = bv.to(r.dtype)
    if alpha != 1:
        bv = bv * alpha
    shape = r._impl.shape
    if b._nnz() == 0:
        return from_values(av, r._sp_i, shape, r._sp_c)
    if a._nnz() == 0:
        return from_values(bv, r._sp_i, shape, r._sp_c)
    if not (a._sp_v._impl.is_contiguous() and b._sp_v._impl.is_contiguous()):
        with _no_grad():
            idx = cat([a._sp_i, b._sp_i], 1)
        c = from_values(cat([av, bv], 0), idx, shape, None)
        if c._nnz() > math.prod(shape):
            c = coalesce(c)
            c = from_values(values_of(c), c._sp_i, shape, None)
        return c
    tp, sp, n = _merge_plan(_keys(a), _keys(b))
    dev = a._impl.device
    vals = av.new_zeros((n,) + tuple(av.shape[1:])).index_add(0, _long(tp, dev), av).index_add(
        0, _long(sp, dev), bv)
    return from_values(vals, r._sp_i, shape, r._sp_c)


# ---------------------------------------------------------------------- softmax
def _softmax(s, dim, log, dtype=None):
    name = "log_softmax" if log else "softmax"
    if s.__class__ is not SparseCooTensor:
        raise RuntimeError(f"torch.sparse.{name}: expected a sparse COO tensor, got a strided one")
    nd = s._impl.ndim
    if not -nd <= dim < nd:
        raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    dim %= nd
    if s.dense_dim() != 0:
        raise NotImplementedError(f"torch.sparse.{name}: hybrid sparse tensors (dense_dim {s.dense_dim()}) are not "
                                  "supported by flambeau")
    if dtype is not None:
        s = s.to(dtype)
    if not s.is_floating_point():
        raise RuntimeError(f"{name}: expected a floating point sparse tensor, got {s.dtype}")
    graph = _needs_graph(s)
    with (_nullcontext() if graph else _no_grad()):
        c = coalesce(s)
        idx = _host(c._sp_i)
        nnz = idx.shape[1]
        v = values_of(c)
        if nnz == 0:
            return from_values(v, c._sp_i, c._impl.shape, True)
        other = np.delete(idx, dim, axis=0)
        # group = the entries sharing every index but `dim` (the slices softmax normalises over)
        if other.shape[0]:
            _, group = np.unique(other, axis=1, return_inverse=True)
            group = group.reshape(-1)
        else:
            group = np.zeros(nnz, dtype=np.int64)
        ng = int(group.max()) + 1
        dev = c._impl.device
        g = _long(group, dev)
        with _no_grad():  # the shift by the slice maximum changes nothing mathematically
            mx = v.detach().new_zeros((ng,)).scatter_reduce(0, g, v.detach(), "amax", include_self=False)
        shifted = v - mx.index_select(0, g)
        e = shifted.exp()
        tot = e.new_zeros((ng,)).index_add(0, g, e)
        out = shifted - tot.log().index_select(0, g) if log else e / tot.index_select(0, g)
        return from_values(out, c._sp_i, c._impl.shape, True)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def softmax(input, dim, *, dtype=None):
    """torch.sparse.softmax: softmax over `dim` among the stored entries (implicit zeros are -inf,
    excluded); the result has input.coalesce()'s pattern."""
    return _softmax(input, dim, False, dtype)


def log_softmax(input, dim, *, dtype=None):
    return _softmax(input, dim, True, dtype)


# ---------------------------------------------------------------------- elementwise
@_graph_aware
def mul(s, other, name="mul"):
    """S * other. A dense tensor of S's shape: S's entries times other at their indices (S's pattern
    and flag). A sparse tensor: PyTorch's intersection rules (see _mul_sparse). A number or one-element
    tensor: the values scaled."""
    if other.__class__ is SparseCooTensor:
        return _mul_sparse(s, other, name)
    if isinstance(other, Tensor) and other._impl.numel != 1 or \
            isinstance(other, Tensor) and tuple(other.shape) == tuple(s.shape) and s._impl.numel == 1:
        if tuple(other.shape) != tuple(s.shape):
            raise RuntimeError(f"{name}: a sparse tensor of shape {_size_str(s.shape)} times a dense tensor of shape "
                               f"{_size_str(other.shape)}: the shapes must match (no broadcasting for sparse "
                               "tensors in flambeau)")
        od = other.to(s.dtype) if other.dtype != s.dtype and other.is_floating_point() else other
        return from_values(values_of(s) * _values_at(od, s), s._sp_i, s._impl.shape, s._sp_c)
    c = other.reshape(()) if isinstance(other, Tensor) else other
    return from_values(values_of(s) * c, s._sp_i, s._impl.shape, s._sp_c)


def _mul_sparse(a, b, name):
    """sparse * sparse as PyTorch: both coalesced: the intersection of the patterns, coalesced; else
    the entries of the uncoalesced operand (of the one with fewer entries when both are), each times
    the other's (coalesced) value at its index, 0 where it has none; flagged uncoalesced."""
    if tuple(a.shape) != tuple(b.shape):
        raise RuntimeError(f"{name}: expected sparse tensors of one shape, got {_size_str(a.shape)} and "
                           f"{_size_str(b.shape)}")
    if a._sp_c and b._sp_c:
        ak, bk = _keys(a), _keys(b)
        common, ia, ib = np.intersect1d(ak, bk, assume_unique=True, return_indices=True)
        dev = a._impl.device
        va = values_of(a).index_select(0, _long(ia, dev))
        vb = values_of(b).index_select(0, _long(ib, dev))
        with _no_grad():
            idx = a._sp_i.index_select(1, _long(ia, dev))
        return from_values(va * vb, idx, a._impl.shape, True)
    if a._sp_c or (not b._sp_c and b._nnz() < a._nnz()):
        src, other = b, a
    else:
        src, other = a, b
    return from_values(values_of(src) * _values_at(coalesce(other), src), src._sp_i, src._impl.shape,
                       False if src._nnz() > 1 else None)


@_graph_aware
def pow(s, exponent):
    """S.pow(p) for p > 0 (zero-preserving): coalesced first, then the values raised."""
    if isinstance(exponent, Tensor):
        raise NotImplementedError("pow: a tensor exponent with a sparse base is not supported by flambeau")
    if exponent <= 0:
        raise RuntimeError(f"pow: with a sparse base the exponent must be positive (0 ** {exponent} is not 0), "
                           f"got {exponent}")
    c = coalesce(s)
    return from_values(values_of(c).pow(exponent), c._sp_i, c._impl.shape, True)


# The unary ops PyTorch runs on COO tensors (zero-preserving: f(0) == 0): coalesced first, then
# applied to the values. neg is linear and keeps the pattern (in _sparse.py).
UNARY_OPS = ("abs", "sqrt", "sin", "tan", "tanh", "sinh", "asin", "asinh", "atan", "atanh", "relu", "sign",
             "sgn", "floor", "ceil", "round", "trunc", "frac", "expm1", "log1p", "erf", "erfinv", "square",
             "deg2rad", "rad2deg", "nan_to_num", "isnan", "isinf", "isposinf", "isneginf", "signbit")


def _unary(name):
    @_graph_aware
    def op(s, *args, **kwargs):
        c = coalesce(s)
        return from_values(getattr(values_of(c), name)(*args, **kwargs), c._sp_i, c._impl.shape, True)
    op.__name__ = name
    return op


def _unary_inplace(name):
    def op(self, *args, **kwargs):
        if _needs_graph(self):
            raise RuntimeError(f"{name}_: in-place ops on a sparse tensor that requires grad are not supported by "
                               "flambeau")
        if not self._sp_c:
            raise RuntimeError(f"{name}_ requires coalesced input")  # (PyTorch's message and rule)
        with _no_grad():
            v = getattr(self._sp_v, name)(*args, **kwargs)
        self._sp_v = v.to(self.dtype)
        return self
    op.__name__ = name + "_"
    return op


# ---------------------------------------------------------------------- index_select
@_graph_aware
def index_select(s, dim, index):
    """S.index_select(dim, index) over a sparse dim: for each position k of index, the entries of S
    at index[k] along dim (in S's order), renumbered k; the result is uncoalesced (PyTorch's)."""
    nd = s._impl.ndim
    if not -nd <= dim < nd:
        raise IndexError(f"index_select: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but "
                         f"got {dim})")
    dim %= nd
    if not isinstance(index, Tensor) or index._impl.ndim > 1 or index._impl.dtype not in ("int64", "int32"):
        raise IndexError("index_select(): Expected dtype int32/int64 for index, and a 1-D index tensor")
    sel = _host(index.to("cpu") if index._impl.device != "cpu" else index).reshape(-1).astype(np.int64)
    size = s._impl.shape[dim]
    if len(sel) and (sel.min() < -size or sel.max() >= size):
        bad = sel[(sel < -size) | (sel >= size)][0]
        raise IndexError(f"index_select(): index {int(bad)} out of range for tensor of size {_size_str(s.shape)} at "
                         f"dimension {dim}")
    sel = np.where(sel < 0, sel + size, sel)
    sd = s.sparse_dim()
    shape = list(s._impl.shape)
    shape[dim] = len(sel)
    dev = s._impl.device
    v = values_of(s)
    if dim >= sd:  # a dense dim: select within the values
        return from_values(v.index_select(dim - sd + 1, _long(sel, dev)), s._sp_i, shape, s._sp_c)
    idx = _host(s._sp_i)
    col = idx[dim]
    # for each k, the entries with col == sel[k], in S's order
    order = np.argsort(col, kind="stable")
    sc = col[order]
    lo = np.searchsorted(sc, sel, "left")
    hi = np.searchsorted(sc, sel, "right")
    counts = hi - lo
    total = int(counts.sum())
    if total:
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        picked = order[starts]
        new_pos = np.repeat(np.arange(len(sel), dtype=np.int64), counts)
    else:
        picked = np.zeros(0, dtype=np.int64)
        new_pos = picked
    new_idx = idx[:, picked].copy()
    new_idx[dim] = new_pos
    return from_values(v.index_select(0, _long(picked, dev)), _long(new_idx, dev), shape, False if total > 1 else None)


# ---------------------------------------------------------------------- construction
def spdiags(diagonals, offsets, shape, layout=None):
    """torch.sparse.spdiags: a sparse matrix of `shape` whose diagonal offsets[i] holds
    diagonals[i, j] at column j (the diagonals are read by column, as scipy's spdiags)."""
    if layout is not None:
        from ._sparse import sparse_coo
        if layout is not sparse_coo:
            raise NotImplementedError(f"spdiags: layout {layout} is not supported by flambeau (sparse_coo only)")
    if diagonals._impl.ndim != 2:
        raise RuntimeError(f"spdiags: Expected 2-dimensional diagonals, got shape {_size_str(diagonals.shape)}")
    if offsets._impl.ndim != 1 or offsets._impl.shape[0] != diagonals._impl.shape[0]:
        raise RuntimeError(f"spdiags: Expected offsets of shape [{diagonals._impl.shape[0]}], got "
                           f"{_size_str(offsets.shape)}")
    if len(shape) != 2:
        raise RuntimeError(f"spdiags: Output shape must be 2d, got {len(shape)}d")
    m, n = int(shape[0]), int(shape[1])
    offs = _host(offsets.to("cpu") if offsets._impl.device != "cpu" else offsets).astype(np.int64)
    if len(np.unique(offs)) != len(offs):
        raise RuntimeError("spdiags: Offset tensor contains duplicate values")
    rows, cols, src_r, src_c = [], [], [], []
    for i, off in enumerate(offs.tolist()):
        c0, c1 = max(0, off), min(n, m + off, diagonals._impl.shape[1])
        if c1 <= c0:
            continue
        c = np.arange(c0, c1, dtype=np.int64)
        rows.append(c - off)
        cols.append(c)
        src_r.append(np.full(len(c), i, dtype=np.int64))
        src_c.append(c)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64))
    r, c, sr, sc = cat(rows), cat(cols), cat(src_r), cat(src_c)
    dev = diagonals._impl.device
    flat = diagonals.reshape(-1)
    vals = flat.index_select(0, _long(sr * diagonals._impl.shape[1] + sc, dev))
    return from_values(vals, _long(np.stack([r, c]), dev), (m, n), False)  # (PyTorch flags it uncoalesced)


def _attach():
    S = SparseCooTensor
    S.transpose = transpose
    S.t = t
    S.coalesce = coalesce
    S.pow = pow
    S.__pow__ = pow
    S.square = _unary("square")
    S.index_select = index_select
    S.mul = lambda self, other: mul(self, other)
    S.multiply = S.mul
    S.__mul__ = lambda self, other: mul(self, other)
    S.__rmul__ = lambda self, other: mul(self, other)
    S._values_with_grad = values_of
    for n in UNARY_OPS:
        if n not in ("square",):
            setattr(S, n, _unary(n))
        if n not in ("isnan", "isinf", "isposinf", "isneginf", "signbit"):
            setattr(S, n + "_", _unary_inplace(n))
    S.neg = S.negative = S.__neg__ = lambda self: from_values(-values_of(self), self._sp_i, self._impl.shape,
                                                               self._sp_c)

    def _sum(self, dim=None, keepdim=False, dtype=None):
        if keepdim:
            raise NotImplementedError("sum: keepdim=True is not supported for sparse COO tensors by flambeau")
        return full_sum(self, dtype) if dim is None else sum_dims(self, dim, dtype)
    S.sum = _sum



_attach()
