"""Sparse @ sparse: torch.sparse.mm / torch.mm / matmul / `@` with two sparse COO matrices (a coalesced
sparse COO result), and CSR @ CSR (a CSR result), with PyTorch's gradients.

The product is PyTorch's CPU kernel (sparse_sparse_matmul_cpu, SparseMatMul.cpp): both operands
coalesced, then for each row i of A, for each of its entries a_ik (k increasing), for each entry b_kj of
B's row k: sums[j] += a_ik * b_kj, starting from 0; the row's columns sorted at the end. Every
product that lands on an entry is kept, so an entry whose products cancel is an explicit zero, as in
PyTorch. Here the index work runs on the host in numpy: the (a, b) pairs of every product, ordered by
output entry and then by k (a stable sort of the pairs generated in (i, k, j) order), and the values
are index_select * index_select, then index_add_ in that order (index_add_ sums duplicates in index
order, as _sparse._coalesce relies on), so the result is PyTorch's bit for bit.

Gradients follow PyTorch's two conventions:
  torch.sparse.mm (SparseSparseMatmulBackward0): gA = (grad @ B^H) at the entries of A.coalesce()
    (sparse, A's pattern), gB = (A^H @ grad) at the entries of B.coalesce();
  torch.mm / matmul / @ (MmBackward0): gA = grad @ B^H, gB = A^H @ grad, unmasked: sparse @ sparse
    products when grad is sparse (what to_dense()'s backward gives), dense when grad is dense.
CSR @ CSR is the same product with the result's columns in PyTorch's order for that layout: each
row's columns unsorted, in the order the products first reach them (see _csr_order). CSR operands get their
sparse gradients as CSR (sorted columns).
"""
import numpy as np

from ._tensor import Tensor
from ._sparse import SparseCooTensor, _make, _host, _long, _size_str, _coalesce
from .autograd.function import Function
from .autograd.grad_mode import _state as _gs


_DTYPES = ("float32", "float64", "complex64", "complex128")
_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                "float16": "Half", "bfloat16": "BFloat16"}


def _is_csr(x):
    return getattr(x, "_is_sparse_csr", False)


def _as_coo(x):
    return x.to_sparse_coo() if _is_csr(x) else x


def _coalesced(s):
    return s if s._sp_c else _coalesce(s)


def check_operands(a, b, name):
    """PyTorch's checks of sparse_sparse_matmul_cpu, with the op's name and the shapes."""
    for s in (a, b):
        if s._impl.ndim != 2 or (isinstance(s, SparseCooTensor) and s.dense_dim() != 0):
            raise RuntimeError(f"{name}: sparse @ sparse expects 2-D sparse matrices with scalar values, got "
                               f"{_size_str(a.shape)} @ {_size_str(b.shape)}")
    if _is_csr(a) != _is_csr(b):
        raise NotImplementedError(f"{name}: a sparse COO matrix times a sparse CSR matrix ({_size_str(a.shape)} @ "
                                  f"{_size_str(b.shape)}) is not supported (PyTorch: addmm is not implemented for "
                                  "Sparse + Sparse @ SparseCsr); convert one operand")
    (m, k), (k2, n) = a._impl.shape, b._impl.shape
    if k != k2:
        raise RuntimeError(f"{name}: mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})")
    if a._impl.dtype != b._impl.dtype:
        raise RuntimeError(f"{name}: mat1 dtype {a.dtype} does not match mat2 dtype {b.dtype}")
    if a._impl.dtype not in _DTYPES:  # PyTorch's kernel dispatches floating and complex types only
        raise NotImplementedError(f"{name}: \"sparse_matmul\" not implemented for "
                                  f"'{_TORCH_NAMES.get(a._impl.dtype, a._impl.dtype)}' ({_size_str(a.shape)} @ "
                                  f"{_size_str(b.shape)})")
    if a._impl.device != b._impl.device:
        raise RuntimeError(f"{name}: expected both operands on the same device, got {a.device} and {b.device}")


def _plan(ai, bi, n):
    """The products of A @ B for coalesced index arrays ai (2, nnzA), bi (2, nnzB) and B's column count n:
    (a_pos, b_pos, out_slot, out_rows, out_cols), the pairs in summation order."""
    krows = int(max(ai[1].max(initial=-1), bi[0].max(initial=-1))) + 1
    bptr = np.searchsorted(bi[0], np.arange(krows + 1))  # B's rows as CSR (coalesced: sorted)
    k = ai[1]
    counts = bptr[k + 1] - bptr[k]
    total = int(counts.sum())
    a_pos = np.repeat(np.arange(ai.shape[1], dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    b_pos = np.repeat(bptr[k], counts) + (np.arange(total, dtype=np.int64) - first)
    key = ai[0][a_pos] * n + bi[1][b_pos]
    order = np.argsort(key, kind="stable")  # within an output entry: k increasing, as generated
    a_pos, b_pos, key = a_pos[order], b_pos[order], key[order]
    new = np.ones(total, dtype=bool)
    new[1:] = key[1:] != key[:-1]
    slot = np.cumsum(new) - 1
    out = key[new]
    return a_pos, b_pos, slot, out // max(n, 1), out % max(n, 1), order[new]


def _csr_order(rows, first):
    """The order of PyTorch's CSR @ CSR result within each row: unsorted, each column where the row's
    products first touch it (the generation index of the entry's first product, in (k, j) order)."""
    return np.lexsort((first, rows))


def spgemm(a, b, csr=False):
    """A @ B for sparse COO matrices (no graph): a coalesced sparse COO result, or with csr=True the
    CSR matrix with PyTorch's CSR @ CSR column order (see _csr_order)."""
    from . import no_grad
    a, b = _coalesced(a), _coalesced(b)
    m, n = a._impl.shape[0], b._impl.shape[1]
    dev = a._impl.device
    ai, bi = _host(a._sp_i), _host(b._sp_i)
    a_pos, b_pos, slot, rows, cols, first = _plan(ai, bi, n)
    with no_grad():
        v = a._sp_v.new_zeros((len(rows),))
        if len(a_pos):
            prods = a._sp_v.index_select(0, _long(a_pos, dev)) * b._sp_v.index_select(0, _long(b_pos, dev))
            v.index_add_(0, _long(slot, dev), prods)
        if not csr:
            return _make(_long(np.stack([rows, cols]), dev), v, (m, n), True)
        from ._sparse_csr import _make_csr
        perm = _csr_order(rows, first)
        crow = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=m), out=crow[1:])
        if len(perm):
            v = v.index_select(0, _long(perm, dev))
        return _make_csr(_long(crow, dev), _long(cols[perm], dev), v, (m, n))


def _transpose_h(s):
    """s^H as a coalesced sparse COO matrix (conjugated values for a complex s)."""
    i = s._sp_i
    t = _make(i.flip(0) if i._impl.shape[1] else i.clone(), s._sp_v, (s._impl.shape[1], s._impl.shape[0]),
              s._nnz() < 2)
    if t._impl.dtype in ("complex64", "complex128"):
        t = _make(t._sp_i, t._sp_v.conj(), t._impl.shape, t._sp_c)
    return _coalesced(t)


def _product(x, y):
    """x @ y where each is sparse COO or dense (the backward's products)."""
    if isinstance(x, SparseCooTensor) and isinstance(y, SparseCooTensor):
        return spgemm(x, y)
    from ._sparse_mm import _raw, transposed
    if isinstance(x, SparseCooTensor):
        return _raw(x, y.contiguous())
    if isinstance(y, SparseCooTensor):  # dense @ sparse = (y^T @ x^T)^T, as PyTorch computes it
        return _raw(transposed(y), x.t().contiguous()).t()
    return x.mm(y)


def _like(g, s):
    """A gradient computed in COO given back in s's layout (CSR for a CSR operand)."""
    if _is_csr(s) and isinstance(g, SparseCooTensor):
        from ._sparse_csr import coo_to_csr
        return coo_to_csr(g)
    return g


def _mask(g, c):
    """PyTorch's _sparse_matrix_mask: g's values at the entries of the coalesced c (0 where g has none)."""
    from ._sparse_ops import _values_at
    return _make(c._sp_i, _values_at(g, c), c._impl.shape, c._nnz() < 2)


class SparseSparseMm(Function):
    _grad_fn_name = "SparseSparseMatmulBackward0"

    @staticmethod
    def forward(ctx, a, b, masked):
        ca, cb = _coalesced(_as_coo(a)), _coalesced(_as_coo(b))
        ctx.a, ctx.b, ctx.ca, ctx.cb, ctx.masked = a, b, ca, cb, masked
        return spgemm(ca, cb, csr=_is_csr(a))

    @staticmethod
    def backward(ctx, g):
        nig = ctx.needs_input_grad
        g = _as_coo(g)
        if isinstance(g, SparseCooTensor):
            g = _coalesced(g)
        ga = gb = None
        if nig[0]:
            ga = _product(g, _transpose_h(ctx.cb))
            ga = _like(_mask(ga, ctx.ca) if ctx.masked else ga, ctx.a)
        if nig[1]:
            gb = _product(_transpose_h(ctx.ca), g)
            gb = _like(_mask(gb, ctx.cb) if ctx.masked else gb, ctx.b)
        return ga, gb, None


class MmSparseSparse(SparseSparseMm):
    """torch.mm / matmul / @ of two sparse matrices: the same product, unmasked gradients."""
    _grad_fn_name = "MmBackward0"


def _needs_graph(*xs):
    return _gs.enabled and any(isinstance(x, Tensor) and x._rg for x in xs)


def sparse_sparse_mm(a, b, *, masked_grad, name):
    """a @ b for two sparse matrices (both COO or both CSR): the result in their layout."""
    check_operands(a, b, name)
    if _needs_graph(a, b):
        return (SparseSparseMm if masked_grad else MmSparseSparse).apply(a, b, bool(masked_grad))
    return spgemm(_as_coo(a), _as_coo(b), csr=_is_csr(a))
