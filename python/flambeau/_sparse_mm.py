"""Sparse matrix times dense matrix: torch.sparse.mm / sparse.addmm, and torch.mm / matmul / addmm /
spmm / `@` with a sparse operand, with autograd.

The product runs in C++ (_C.sparse_coo_addmm / sparse_csr_addmm, csrc/cpu/sparse.cpp): the entries
in their stored order, one fused multiply-add each, as PyTorch's CPU kernel; the results are
PyTorch's bit for bit. dense @ sparse is computed as PyTorch computes it, (S^T @ D^T)^T, S^T being
S with its two index rows swapped (entries kept in their order).

Gradients follow PyTorch's two conventions:
  torch.sparse.mm / torch.sparse.addmm (SparseAddmmBackward0): S gets a sparse gradient with the
    pattern of S.coalesce(), the entries of alpha * grad @ D^T there;
  torch.mm / matmul / @ / spmm / addmm (MmBackward0, AddmmBackward0): S gets the dense gradient
    alpha * grad @ D^T.
The dense operand's gradient is alpha * S^T @ grad (the same kernel, in S's entry order).
Two sparse operands (mm / sparse.mm / matmul / @): _sparse_spgemm.py.
"""
import numpy as np

from . import _C
from ._tensor import Tensor, _wrap
from ._sparse import SparseCooTensor, _make, _host, _long, _size_str, sparse_mask
from .autograd.function import Function
from .autograd.grad_mode import _state as _gs


def is_sparse(x):
    return isinstance(x, SparseCooTensor) or getattr(x, "_is_sparse_csr", False)


def involves_sparse(*xs):
    return any(is_sparse(x) for x in xs)


def _check_sparse_matrix(s, name):
    if s._impl.ndim != 2 or s.sparse_dim() != 2:
        raise RuntimeError(f"{name}: expected a 2-D sparse matrix (sparse_dim 2, dense_dim 0), got a sparse tensor "
                           f"of shape {_size_str(s.shape)} with sparse_dim {s.sparse_dim()}")


def _check_dense(d, name, s):
    if not isinstance(d, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(d).__name__}")
    if is_sparse(d):
        raise NotImplementedError(f"{name}: sparse @ sparse ({_size_str(s.shape)} @ {_size_str(d.shape)}) is not "
                                  "supported by flambeau; convert one operand with .to_dense()")


def _raw(s, d, input=None, beta=0, alpha=1):
    """beta * input + alpha * (s @ d) as a dense tensor, no graph (s COO or CSR, d dense 2-D)."""
    M, K = s._impl.shape
    inp = None if input is None else input._impl
    if isinstance(s, SparseCooTensor):
        r = _C.sparse_coo_addmm(s._sp_i._impl, s._sp_v._impl, d._impl, M, K, inp, float(beta), float(alpha))
    else:
        r = _C.sparse_csr_addmm(s._crow._impl, s._col._impl, s._vals._impl, d._impl, K, inp, float(beta),
                                float(alpha))
    return _wrap(r)


def transposed(s):
    """s^T with its entries in s's order (indices rows swapped): what PyTorch's t() gives, uncoalesced."""
    if not isinstance(s, SparseCooTensor):
        s = s.to_sparse_coo()
    i = s._sp_i
    ti = i.flip(0) if i._impl.shape[1] else i.clone()
    M, K = s._impl.shape
    return _make(ti, s._sp_v, (K, M), False if s._nnz() > 1 else True)


def _sparse_value_grad(g, s, d, alpha):
    """alpha * (g @ d^T) at the entries of s.coalesce(), as a sparse tensor (SparseAddmmBackward0)."""
    c = s.to_sparse_coo().coalesce() if not isinstance(s, SparseCooTensor) else s.coalesce()
    i = c._sp_i
    if c._nnz() == 0:
        v = g.new_zeros((0,))
    else:
        v = (g.index_select(0, i[0]) * d.index_select(0, i[1])).sum(1)
    if alpha != 1:
        v = v * alpha
    r = _make(i, v, c._impl.shape, c._sp_c)
    if not isinstance(s, SparseCooTensor):  # a CSR matrix gets a CSR gradient, as PyTorch's
        from ._sparse_csr import coo_to_csr
        return coo_to_csr(r)
    return r


def _reduce_like(g, input):
    """The gradient of a broadcast input: g summed to input's shape."""
    if tuple(g.shape) == tuple(input.shape):
        return g
    return g.sum_to_size(tuple(input.shape))


class SparseAddmm(Function):
    """beta * input + alpha * (S @ D), S sparse; `sparse_grad` picks the gradient convention of S."""
    _grad_fn_name = "SparseAddmmBackward0"

    @staticmethod
    def forward(ctx, input, s, d, beta, alpha, sparse_grad):
        ctx.s, ctx.d, ctx.input, ctx.beta, ctx.alpha, ctx.sparse_grad = s, d, input, beta, alpha, sparse_grad
        return _raw(s, d, input, beta, alpha)

    @staticmethod
    def backward(ctx, g):
        nig = ctx.needs_input_grad
        s, d, alpha = ctx.s, ctx.d, ctx.alpha
        gi = gs = gd = None
        if nig[0]:
            gi = _reduce_like(g * ctx.beta if ctx.beta != 1 else g, ctx.input)
        if nig[1]:
            if ctx.sparse_grad:
                gs = _sparse_value_grad(g, s, d, alpha)
            else:
                gs = g.mm(d.t())
                if alpha != 1:
                    gs = gs * alpha
        if nig[2]:
            gd = _raw(transposed(s), g.contiguous())
            if alpha != 1:
                gd = gd * alpha
        return gi, gs, gd, None, None, None


class DenseSparseMm(Function):
    """D @ S for a dense D and sparse S: (S^T @ D^T)^T, as PyTorch; S's gradient is dense (MmBackward0)."""
    _grad_fn_name = "MmBackward0"

    @staticmethod
    def forward(ctx, d, s):
        ctx.d, ctx.s = d, s
        return _raw(transposed(s), d.t().contiguous()).t()

    @staticmethod
    def backward(ctx, g):
        nig = ctx.needs_input_grad
        gd = _raw(ctx.s, g.t().contiguous()).t() if nig[0] else None
        gs = ctx.d.t().mm(g) if nig[1] else None
        return gd, gs


def _needs_graph(*xs):
    return _gs.enabled and any(isinstance(x, Tensor) and x._rg for x in xs)


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None, sparse_grad=False, name="addmm"):
    """beta * input + alpha * (mat1 @ mat2) with a sparse mat1 and dense mat2 (input dense)."""
    if not is_sparse(mat1):
        raise NotImplementedError(f"{name}: a sparse input or mat2 is not supported by flambeau (sparse mat1 only)")
    _check_sparse_matrix(mat1, name)
    _check_dense(mat2, name, mat1)
    if is_sparse(input):
        raise NotImplementedError(f"{name}: a sparse input (sspaddmm) is not supported by flambeau")
    if mat2._impl.ndim != 2:
        raise RuntimeError(f"{name}: matrices expected, got {mat2._impl.ndim}D tensor (sparse "
                           f"{_size_str(mat1.shape)} @ dense {_size_str(mat2.shape)})")
    if _needs_graph(input, mat1, mat2):
        r = SparseAddmm.apply(input, mat1, mat2, beta, alpha, sparse_grad)
    else:
        r = _raw(mat1, mat2, input, beta, alpha)
    return _write_out(out, r)


def _write_out(out, r):
    if out is None:
        return r
    from ._functions import _dispatch as dsp
    return dsp._write_out(out, r)


def mm(input, mat2, *, out=None, sparse_grad=False, name="mm"):
    """input @ mat2 with one or two sparse matrices (torch.mm, torch.sparse.mm, spmm)."""
    if is_sparse(input) and is_sparse(mat2):  # sparse @ sparse: a sparse result (_sparse_spgemm.py)
        from ._sparse_spgemm import sparse_sparse_mm
        return _write_out(out, sparse_sparse_mm(input, mat2, masked_grad=sparse_grad, name=name))
    if is_sparse(input):
        _check_sparse_matrix(input, name)
        _check_dense(mat2, name, input)
        if mat2._impl.ndim != 2:
            raise RuntimeError(f"{name}: matrices expected, got {mat2._impl.ndim}D tensor (sparse "
                               f"{_size_str(input.shape)} @ dense {_size_str(mat2.shape)})")
        if _needs_graph(input, mat2):
            r = SparseAddmm.apply(None, input, mat2, 0, 1, sparse_grad)
        else:
            r = _raw(input, mat2)
        return _write_out(out, r)
    # dense @ sparse
    _check_sparse_matrix(mat2, name)
    if not isinstance(input, Tensor) or input._impl.ndim != 2:
        raise RuntimeError(f"{name}: matrices expected (dense {_size_str(getattr(input, 'shape', ()))} @ sparse "
                           f"{_size_str(mat2.shape)})")
    # (shapes and dtypes are checked by the kernel on S^T @ D^T, with PyTorch's messages for that product)
    if _needs_graph(input, mat2):
        r = DenseSparseMm.apply(input, mat2)
    else:
        r = _raw(transposed(mat2), input.t().contiguous()).t()
    return _write_out(out, r)


def matmul(input, other, *, out=None):
    """torch.matmul / `@` with a sparse operand: 2-D @ 2-D, 2-D sparse @ 1-D (a dense vector)."""
    if is_sparse(input) and isinstance(other, Tensor) and not is_sparse(other) and other._impl.ndim == 1:
        _check_sparse_matrix(input, "matmul")
        r = mm(input, other.reshape((other._impl.shape[0], 1)), name="matmul").reshape((input._impl.shape[0],))
        return _write_out(out, r)
    if input._impl.ndim == 2 and other._impl.ndim == 2:
        return mm(input, other, out=out, name="matmul")
    raise NotImplementedError(f"matmul: a sparse operand with shapes {_size_str(input.shape)} @ "
                              f"{_size_str(other.shape)} is not supported by flambeau (2-D @ 2-D and sparse 2-D @ "
                              "dense 1-D only)")


def sparse_mm(sparse, dense, reduce=None):
    """torch.sparse.mm: the gradient of a sparse `sparse` is sparse (its coalesced pattern)."""
    if reduce is not None:
        raise NotImplementedError("torch.sparse.mm: reduce= is not supported by flambeau")
    if not is_sparse(sparse):
        if is_sparse(dense):
            return mm(sparse, dense, name="sparse.mm")
        raise RuntimeError("torch.sparse.mm: expected a sparse first or second argument, got two dense tensors")
    return mm(sparse, dense, sparse_grad=True, name="sparse.mm")


def sparse_addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """torch.sparse.addmm: beta * input + alpha * (mat1 @ mat2), sparse gradient for mat1."""
    return addmm(input, mat1, mat2, beta=beta, alpha=alpha, sparse_grad=True, name="sparse.addmm")


def spmm(input, mat2):
    """torch.spmm (the same as torch.mm with a sparse input)."""
    return mm(input, mat2, name="spmm")


def hspmm(mat1, mat2):
    """torch.hspmm: mat1 @ mat2 as a hybrid sparse COO tensor (sparse rows, dense columns): the rows of
    the product that mat1 has entries in, in increasing order. No autograd (PyTorch has none)."""
    _check_sparse_matrix(mat1, "hspmm")
    _check_dense(mat2, "hspmm", mat1)
    from . import no_grad
    with no_grad():
        prod = mm(mat1.detach(), mat2.detach(), name="hspmm")
        rows = np.unique(_host(mat1._sp_i)[0]) if mat1._nnz() else np.zeros(0, dtype=np.int64)
        dev = prod._impl.device
        r = _long(rows, dev)
        vals = prod.index_select(0, r)
    return _make(_long(rows.reshape(1, -1), dev), vals, tuple(prod.shape))  # (flag by nnz, as PyTorch's)


def smm(input, mat):
    """torch.smm: input @ mat as a sparse COO tensor: every column of the rows input has entries in
    (rows increasing), flagged uncoalesced as PyTorch's. No autograd (PyTorch has none)."""
    h = hspmm(input, mat)
    rows = _host(h._sp_i)[0]
    n = h._impl.shape[1]
    idx = np.stack([np.repeat(rows, n), np.tile(np.arange(n, dtype=np.int64), len(rows))])
    dev = h._impl.device
    return _make(_long(idx, dev), h._sp_v.reshape((-1,)), tuple(h.shape), False if idx.shape[1] > 1 else None)


def _attach():
    """The methods of a sparse COO tensor that multiply (S @ D, S.mm(D), ...)."""
    def _sp_matmul(self, other):
        return matmul(self, other)

    def _sp_rmatmul(self, other):
        return matmul(other, self)

    def _sp_mm(self, mat2):
        return mm(self, mat2)

    SparseCooTensor.__matmul__ = _sp_matmul
    SparseCooTensor.__rmatmul__ = _sp_rmatmul
    SparseCooTensor.matmul = _sp_matmul
    SparseCooTensor.mm = _sp_mm
    SparseCooTensor.mv = lambda self, vec: matmul(self, vec)
    SparseCooTensor.hspmm = hspmm
    SparseCooTensor.smm = smm


_attach()


def sampled_addmm(input, mat1, mat2, *, beta=1.0, alpha=1.0, out=None):
    """torch.sparse.sampled_addmm: beta * input + alpha * (mat1 @ mat2) at the entries of the CSR
    matrix `input` only (a CSR result with input's pattern). No autograd in flambeau."""
    from ._sparse_csr import SparseCsrTensor, _make_csr
    if input.__class__ is not SparseCsrTensor:
        raise RuntimeError("sampled_addmm: Expected input to be a sparse CSR tensor (layout=flambeau.sparse_csr)")
    if mat1._impl.ndim != 2 or mat2._impl.ndim != 2 or is_sparse(mat1) or is_sparse(mat2):
        raise RuntimeError("sampled_addmm: Expected mat1 and mat2 to be dense 2-D matrices")
    M, K = input._impl.shape
    if mat1._impl.shape[0] != M or mat2._impl.shape[1] != K or mat1._impl.shape[1] != mat2._impl.shape[0]:
        raise RuntimeError(f"sampled_addmm: input shape {_size_str(input.shape)} does not match mat1 "
                           f"{_size_str(mat1.shape)} @ mat2 {_size_str(mat2.shape)}")
    if _needs_graph(input, mat1, mat2):
        raise NotImplementedError("sampled_addmm: autograd is not supported by flambeau (call it under no_grad)")
    coo = input.to_sparse_coo()
    i = coo._sp_i
    if coo._nnz():
        v = (mat1.index_select(0, i[0]) * mat2.t().index_select(0, i[1])).sum(1)
    else:
        v = input._vals.new_zeros((0,))
    v = v * alpha if alpha != 1 else v
    if beta != 0:
        v = v + input._vals * beta if beta != 1 else v + input._vals
    r = _make_csr(input._crow, input._col, v.to(input.dtype), input._impl.shape)
    if out is not None:
        raise NotImplementedError("sampled_addmm: out= is not supported by flambeau")
    return r
