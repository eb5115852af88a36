"""Shared helpers for the sparse-op parity tests (test_sparse_mm.py, test_sparse_graph_ops.py,
test_sparse_csr.py): the same sparse tensor built in both libraries from numpy (uncoalesced with
duplicates, or coalesced, or empty), and comparisons of sparse or dense results and gradients."""
import numpy as np
import torch

import flambeau


def fl_t(a):
    return flambeau.from_numpy(np.ascontiguousarray(a))


def th_t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def random_coo(rng, sizes, nnz, dtype=np.float32, dense_sizes=(), duplicates=True):
    """(indices, values, shape) of a random COO tensor; with duplicates, some indices repeat."""
    idx = np.stack([rng.integers(0, max(s, 1), nnz) for s in sizes]).astype(np.int64).reshape(len(sizes), nnz)
    if duplicates and nnz > 3:
        idx[:, -2:] = idx[:, :2]  # at least two repeated indices, out of order
    vals = rng.standard_normal((nnz,) + tuple(dense_sizes)).astype(dtype)
    return idx, vals, tuple(sizes) + tuple(dense_sizes)


def sparse_pair(idx, vals, size, requires_grad=False, coalesced=False, grad_through_values=False):
    """The same sparse tensor in flambeau and torch. coalesced: .coalesce() first (a new leaf);
    grad_through_values: built from values that require grad (returned as the leaves)."""
    ft = flambeau.sparse_coo_tensor(fl_t(idx), fl_t(vals), size)
    tt = torch.sparse_coo_tensor(th_t(idx), th_t(vals), size)
    if coalesced:
        ft, tt = ft.coalesce(), tt.coalesce()
    if grad_through_values:
        fv = fl_t(vals).requires_grad_()
        tv = th_t(vals).requires_grad_()
        ft = flambeau.sparse_coo_tensor(fl_t(idx), fv, size)
        tt = torch.sparse_coo_tensor(th_t(idx), tv, size)
        return ft, tt, fv, tv
    if requires_grad:
        ft.requires_grad_()
        tt.requires_grad_()
    return ft, tt, ft, tt


def assert_same(f, t, rtol=1e-5, atol=1e-6, flag=True, what="value"):
    """A flambeau result equals a torch one: both dense, or both sparse with the same shape, flag,
    indices (in order) and values."""
    assert bool(f.is_sparse) == bool(t.is_sparse), f"{what}: layout {f.layout} != {t.layout}"
    assert tuple(f.shape) == tuple(t.shape), f"{what}: shape {tuple(f.shape)} != {tuple(t.shape)}"
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], f"{what}: dtype {f.dtype} != {t.dtype}"
    if t.is_sparse:
        if flag:
            assert f.is_coalesced() == t.is_coalesced(), f"{what}: coalesced flag"
        np.testing.assert_array_equal(f._indices().numpy(), t._indices().numpy(), err_msg=what)
        np.testing.assert_allclose(f._values().detach().numpy(), t._values().detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=what)
    else:
        np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol, err_msg=what)


def assert_grad_same(f, t, rtol=1e-4, atol=1e-5, what="grad"):
    """Gradients: the same layout and, coalesced, the same entries (the coalesced flag of a leaf's
    sparse .grad is not compared: PyTorch's depends on how AccumulateGrad stored it)."""
    if t is None:
        assert f is None, f"{what}: expected None"
        return
    assert f is not None, f"{what}: missing"
    assert bool(f.is_sparse) == bool(t.is_sparse), f"{what}: layout {f.layout} != {t.layout}"
    if t.is_sparse:
        assert_same(f.coalesce(), t.coalesce(), rtol, atol, flag=False, what=what)
    else:
        assert_same(f, t, rtol, atol, what=what)


def backprop(out, weights):
    """A scalar loss from a result (dense or sparse): sum(to_dense(out) * weights)."""
    d = out.to_dense() if out.is_sparse else out
    return (d * weights).sum()
