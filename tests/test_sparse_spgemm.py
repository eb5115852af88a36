"""Sparse @ sparse (torch.sparse.mm / torch.mm / matmul / @ with two sparse COO matrices, and CSR @ CSR)
against PyTorch CPU: the result's indices, values (bit for bit: the same products summed in the same
order) and coalesced flag; gradients in both of PyTorch's conventions; empty operands, uncoalesced
operands, errors."""
import warnings

import numpy as np
import pytest
import torch

import flambeau

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")


def rnd(rng, m, n, p, dt):
    return (rng.randn(m, n) * (rng.rand(m, n) < p)).astype(dt)


def bits(x):
    x = x.detach().numpy()
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


def assert_same_sparse(f, t, exact=True):
    assert f.layout == flambeau.sparse_coo and t.layout == torch.sparse_coo
    assert tuple(f.shape) == tuple(t.shape)
    assert f.is_coalesced() == t.is_coalesced()
    np.testing.assert_array_equal(f._indices().numpy(), t._indices().numpy())
    if exact:
        np.testing.assert_array_equal(bits(f._values()), bits(t._values()))
    else:
        np.testing.assert_allclose(f._values().detach().numpy(), t._values().detach().numpy(), rtol=1e-12, atol=1e-12)


OPS = {"sparse.mm": lambda L, x, y: L.sparse.mm(x, y), "mm": lambda L, x, y: L.mm(x, y),
       "matmul": lambda L, x, y: L.matmul(x, y), "@": lambda L, x, y: x @ y, "method": lambda L, x, y: x.mm(y)}


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 7, 4, 0.4), (31, 47, 19, 0.1), (1, 1, 1, 1.0), (200, 150, 90, 0.05),
                                   (6, 5, 3, 0.0)])
@pytest.mark.parametrize("op", list(OPS))
def test_values_bit_for_bit(dt, shape, op):
    rng = np.random.RandomState(hash((dt, shape, op)) % 2**31)
    m, k, n, p = shape
    a, b = rnd(rng, m, k, p, dt), rnd(rng, k, n, p, dt)
    t = OPS[op](torch, torch.tensor(a).to_sparse(), torch.tensor(b).to_sparse())
    f = OPS[op](flambeau, flambeau.tensor(a).to_sparse(), flambeau.tensor(b).to_sparse())
    assert_same_sparse(f, t)


@pytest.mark.parametrize("shape", [(0, 3, 2), (4, 0, 3), (3, 4, 0), (0, 0, 0)])
def test_empty(shape):
    m, k, n = shape
    t = torch.sparse.mm(torch.zeros(m, k).to_sparse(), torch.zeros(k, n).to_sparse())
    f = flambeau.sparse.mm(flambeau.zeros(m, k).to_sparse(), flambeau.zeros(k, n).to_sparse())
    assert_same_sparse(f, t)


def test_cancelling_products_stay_explicit_zeros():
    a = np.array([[1.0, 0, 2], [0, 0, 0], [3, 0, 0]], np.float32)
    b = np.array([[1.0, 1], [5, 5], [-0.5, -0.5]], np.float32)
    t = torch.sparse.mm(torch.tensor(a).to_sparse(), torch.tensor(b).to_sparse())
    f = flambeau.sparse.mm(flambeau.tensor(a).to_sparse(), flambeau.tensor(b).to_sparse())
    assert_same_sparse(f, t)
    assert f._nnz() == 4 and not np.any(f._values().numpy()[:2])


def test_uncoalesced_operands():
    """Duplicates are summed first (both operands coalesced, as PyTorch's kernel does)."""
    rng = np.random.RandomState(3)
    idx = np.array([[0, 2, 0, 1, 2, 0], [1, 0, 1, 3, 0, 1]])
    vals = rng.randn(6)
    b = rnd(rng, 4, 5, 0.5, "float64")
    t = torch.sparse.mm(torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), (3, 4)), torch.tensor(b).to_sparse())
    f = flambeau.sparse.mm(flambeau.sparse_coo_tensor(flambeau.tensor(idx), flambeau.tensor(vals), (3, 4)),
                           flambeau.tensor(b).to_sparse())
    assert_same_sparse(f, t)


def _leaves(L, a, b, csr=False):
    A, B = L.tensor(a), L.tensor(b)
    A, B = (A.to_sparse_csr(), B.to_sparse_csr()) if csr else (A.to_sparse(), B.to_sparse())
    return A.requires_grad_(), B.requires_grad_()


def _pattern(x):
    return x._indices().numpy()


@pytest.mark.parametrize("shape", [(5, 7, 4), (12, 9, 15)])
def test_gradients_sparse_mm(shape):
    """torch.sparse.mm: gA = (grad @ B^T) at A's entries, gB = (A^T @ grad) at B's entries (sparse)."""
    rng = np.random.RandomState(1)
    m, k, n = shape
    a, b, W = rnd(rng, m, k, 0.4, "float64"), rnd(rng, k, n, 0.4, "float64"), rng.randn(m, n)
    grads = {}
    for L in (torch, flambeau):
        A, B = _leaves(L, a, b)
        r = L.sparse.mm(A, B)
        assert type(r.grad_fn).__name__ == "SparseSparseMatmulBackward0"
        (r.to_dense() * L.tensor(W)).sum().backward()
        grads[L] = (A.grad, B.grad)
    for g_f, g_t, x in zip(grads[flambeau], grads[torch], (a, b)):
        assert g_f.layout == flambeau.sparse_coo
        np.testing.assert_allclose(g_f.to_dense().numpy(), g_t.to_dense().numpy(), rtol=1e-12, atol=1e-12)
        # the pattern of the operand (PyTorch's own indices here follow grad @ B^T's pattern, with the
        # same dense values)
        np.testing.assert_array_equal(_pattern(g_f), np.stack(np.nonzero(x)))
    np.testing.assert_array_equal(bits(grads[flambeau][1]._values()), bits(grads[torch][1]._values()))


@pytest.mark.parametrize("op", ["mm", "matmul", "@"])
def test_gradients_mm(op):
    """torch.mm: gA = grad @ B^T and gB = A^T @ grad, sparse @ sparse products (unmasked)."""
    rng = np.random.RandomState(2)
    a, b, W = rnd(rng, 6, 8, 0.35, "float64"), rnd(rng, 8, 5, 0.35, "float64"), rng.randn(6, 5)
    grads = {}
    for L in (torch, flambeau):
        A, B = _leaves(L, a, b)
        r = OPS[op](L, A, B)
        assert type(r.grad_fn).__name__ == "MmBackward0"
        (r.to_dense() * L.tensor(W)).sum().backward()
        grads[L] = (A.grad, B.grad)
    for g_f, g_t in zip(grads[flambeau], grads[torch]):
        assert_same_sparse(g_f.coalesce(), g_t.coalesce())


def test_gradients_mm_dense_grad():
    rng = np.random.RandomState(4)
    a, b, W = rnd(rng, 6, 8, 0.35, "float64"), rnd(rng, 8, 5, 0.35, "float64"), rng.randn(6, 5)
    grads = {}
    for L in (torch, flambeau):
        A, B = _leaves(L, a, b)
        L.mm(A, B).backward(L.tensor(W))
        grads[L] = (A.grad, B.grad)
    for g_f, g_t in zip(grads[flambeau], grads[torch]):
        assert g_f.layout == flambeau.strided and g_t.layout == torch.strided
        np.testing.assert_allclose(g_f.numpy(), g_t.numpy(), rtol=1e-12, atol=1e-12)


def test_float64_gradcheck_through_values():
    rng = np.random.RandomState(5)
    i = flambeau.tensor([[0, 1, 1, 2, 2], [1, 0, 2, 2, 0]])
    j = flambeau.tensor([[0, 1, 2, 2], [1, 0, 0, 1]])
    v = flambeau.tensor(rng.randn(5), requires_grad=True)
    w = flambeau.tensor(rng.randn(4), requires_grad=True)
    for op in (flambeau.sparse.mm, flambeau.mm):
        def fn(v, w):
            return op(flambeau.sparse_coo_tensor(i, v, (3, 3)), flambeau.sparse_coo_tensor(j, w, (3, 2))).to_dense()

        assert flambeau.autograd.gradcheck(fn, (v, w), eps=1e-6, atol=1e-7)


def test_csr_times_csr():
    rng = np.random.RandomState(6)
    a, b = rnd(rng, 7, 9, 0.3, "float32"), rnd(rng, 9, 6, 0.3, "float32")
    for op in ("sparse.mm", "mm", "@"):
        t = OPS[op](torch, torch.tensor(a).to_sparse_csr(), torch.tensor(b).to_sparse_csr())
        f = OPS[op](flambeau, flambeau.tensor(a).to_sparse_csr(), flambeau.tensor(b).to_sparse_csr())
        assert f.layout == flambeau.sparse_csr
        for x, y in ((f.crow_indices(), t.crow_indices()), (f.col_indices(), t.col_indices())):
            np.testing.assert_array_equal(x.numpy(), y.numpy())
        np.testing.assert_array_equal(bits(f.values()), bits(t.values()))
    # gradients through a product with a dense matrix (the CSR @ dense op gives the CSR result a dense
    # gradient; PyTorch's MmBackward0 then gives both CSR operands dense gradients)
    D = rng.randn(6, 3).astype("float32")
    grads = {}
    for L in (torch, flambeau):
        A, B = _leaves(L, a, b, csr=True)
        ((A @ B) @ L.tensor(D)).sum().backward()
        grads[L] = (A.grad, B.grad)
    for g_f, g_t in zip(grads[flambeau], grads[torch]):
        assert g_f.layout == flambeau.strided and g_t.layout == torch.strided
        np.testing.assert_allclose(g_f.numpy(), g_t.numpy(), rtol=1e-5, atol=1e-5)


def test_errors():
    a = flambeau.randn(3, 4).to_sparse()
    with pytest.raises(RuntimeError, match="cannot be multiplied \\(3x4 and 3x2\\)"):
        flambeau.sparse.mm(a, flambeau.randn(3, 2).to_sparse())
    with pytest.raises(RuntimeError, match="dtype"):
        flambeau.mm(a, flambeau.randn(4, 2, dtype=flambeau.float64).to_sparse())
    with pytest.raises(NotImplementedError, match="\"sparse_matmul\" not implemented for 'Long'"):
        flambeau.sparse.mm(flambeau.tensor([[1, 0], [0, 2]]).to_sparse(), flambeau.tensor([[1, 0], [3, 2]]).to_sparse())
    with pytest.raises(NotImplementedError, match="CSR"):
        a @ flambeau.randn(4, 2).to_sparse_csr()
    with pytest.raises(RuntimeError, match="2-D sparse matrices with scalar values"):
        flambeau.sparse.mm(flambeau.randn(3, 4, 2).to_sparse(2), flambeau.randn(4, 2).to_sparse())


@pytest.mark.parametrize("op", ["sparse.mm", "mm"])
def test_complex_values_and_gradients(op):
    """Complex matrices (PyTorch's kernel takes them): values, and gradients with B^H / A^H."""
    rng = np.random.RandomState(7)
    a = (rng.randn(4, 5) + 1j * rng.randn(4, 5)) * (rng.rand(4, 5) < 0.5)
    b = (rng.randn(5, 3) + 1j * rng.randn(5, 3)) * (rng.rand(5, 3) < 0.5)
    W = rng.randn(4, 3) + 1j * rng.randn(4, 3)
    res = {}
    for L in (torch, flambeau):
        A, B = _leaves(L, a, b)
        r = OPS[op](L, A, B)
        (r.to_dense() * L.tensor(W)).real.sum().backward()
        res[L] = (r, A.grad, B.grad)
    np.testing.assert_array_equal(res[flambeau][0]._indices().numpy(), res[torch][0]._indices().numpy())
    for f, t in zip(res[flambeau], res[torch]):
        np.testing.assert_allclose(f.detach().to_dense().numpy(), t.detach().to_dense().numpy(), rtol=1e-13, atol=1e-13)
