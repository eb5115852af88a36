"""Sparse CSR matrices against PyTorch: torch.sparse_csr_tensor, dense.to_sparse_csr(), COO <-> CSR,
to_dense, crow_indices / col_indices / values, the layout object, printing, CSR @ dense (values and
gradients) and the construction errors."""
import pickle
import re
import warnings

import numpy as np
import pytest
import torch

import flambeau
from sparse_parity import fl_t, th_t, random_coo, sparse_pair, assert_same, assert_grad_same

warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
warnings.filterwarnings("ignore", message="Sparse invariant checks")


@pytest.fixture
def rng():
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


def random_dense(rng, shape, density=0.3, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    a[rng.random(shape) > density] = 0
    return a


def assert_csr_same(f, t, exact=True):
    assert f.layout is flambeau.sparse_csr and t.layout is torch.sparse_csr
    assert tuple(f.shape) == tuple(t.shape) and f._nnz() == t._nnz()
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(f.crow_indices().numpy(), t.crow_indices().numpy())
    np.testing.assert_array_equal(f.col_indices().numpy(), t.col_indices().numpy())
    assert str(f.crow_indices().dtype).split(".")[-1] == str(t.crow_indices().dtype).split(".")[-1]
    np.testing.assert_allclose(f.values().detach().numpy(), t.values().detach().numpy(), rtol=0 if exact else 1e-5,
                               atol=0 if exact else 1e-5)


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (0, 4), (4, 0), (9, 3)])
def test_dense_to_csr_and_back(rng, shape):
    a = random_dense(rng, shape)
    f, t = fl_t(a).to_sparse_csr(), th_t(a).to_sparse_csr()
    assert_csr_same(f, t)
    assert f.is_sparse_csr and not f.is_sparse and not fl_t(a).is_sparse_csr
    np.testing.assert_array_equal(f.to_dense().numpy(), t.to_dense().numpy())
    assert_same(f.to_sparse_coo(), t.to_sparse_coo())
    assert_same(f.to_sparse(), t.to_sparse())
    assert_csr_same(fl_t(a).to_sparse(layout=flambeau.sparse_csr), th_t(a).to_sparse(layout=torch.sparse_csr))
    assert f.to_sparse_csr() is f
    assert repr(f).replace("flambeau", "torch") == repr(t)
    assert f.sparse_dim() == 2 and f.dense_dim() == 0


@pytest.mark.parametrize("coalesced", [False, True])
def test_coo_to_csr(rng, coalesced):
    idx, vals, size = random_coo(rng, (6, 8), 17)
    f, t, _, _ = sparse_pair(idx, vals, size, coalesced=coalesced)
    assert_csr_same(f.to_sparse_csr(), t.to_sparse_csr())
    assert_csr_same(f.to_sparse(layout=flambeau.sparse_csr), t.to_sparse(layout=torch.sparse_csr))


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_sparse_csr_tensor(rng, index_dtype):
    crow = np.array([0, 2, 2, 5], dtype=index_dtype)
    col = np.array([3, 1, 0, 2, 4], dtype=index_dtype)  # (unsorted within a row: allowed, as PyTorch)
    vals = rng.standard_normal(5).astype(np.float32)
    for kw in ({}, {"size": (3, 6)}):
        f = flambeau.sparse_csr_tensor(fl_t(crow), fl_t(col), fl_t(vals), **kw)
        t = torch.sparse_csr_tensor(th_t(crow), th_t(col), th_t(vals), **kw)
        assert_csr_same(f, t)
        np.testing.assert_array_equal(f.to_dense().numpy(), t.to_dense().numpy())
        assert repr(f).replace("flambeau", "torch") == repr(t)
    f = flambeau.sparse_csr_tensor(fl_t(crow), fl_t(col), fl_t(vals), (3, 6), dtype=flambeau.float64,
                                   requires_grad=True)
    t = torch.sparse_csr_tensor(th_t(crow), th_t(col), th_t(vals), (3, 6), dtype=torch.float64, requires_grad=True)
    assert repr(f).replace("flambeau", "torch") == repr(t)
    assert_csr_same(f.float(), t.float())
    assert_csr_same(f.to(flambeau.float32).double(), t.to(torch.float32).double())
    assert_csr_same(f.cpu(), t.cpu())


def test_layout_object():
    assert repr(flambeau.sparse_csr) == "flambeau.sparse_csr"
    assert pickle.loads(pickle.dumps(flambeau.sparse_csr)) is flambeau.sparse_csr
    assert flambeau.zeros(2, 2).to_sparse_csr().layout is flambeau.sparse_csr


@pytest.mark.parametrize("M,K,N", [(7, 9, 13), (1, 1, 1), (5, 4, 0), (0, 3, 2), (30, 20, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_times_dense(rng, M, K, N, dtype):
    a = random_dense(rng, (M, K), dtype=dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    fs = fl_t(a).to_sparse_csr().requires_grad_()
    ts = th_t(a).to_sparse_csr().requires_grad_()
    fd, td = fl_t(b).requires_grad_(), th_t(b).requires_grad_()
    fo, to = fs @ fd, ts @ td
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    # (PyTorch's CSR kernel is not its COO one: equal within rounding; ours is the COO kernel's bits)
    assert_same(fo, to, **tol)
    assert_same(fo, flambeau.sparse.mm(fs.detach().to_sparse_coo(), fd.detach()), rtol=0, atol=0)
    for fn_f, fn_t in ((flambeau.mm, torch.mm), (flambeau.matmul, torch.matmul)):
        assert_same(fn_f(fs, fd), fn_t(ts, td), **tol)
    g = rng.standard_normal((M, N)).astype(dtype)
    fo.backward(fl_t(g))
    to.backward(th_t(g))
    assert_grad_same(fd.grad, td.grad, **tol)
    assert_grad_same(fs.grad, ts.grad, **tol)
    x = rng.standard_normal(K).astype(dtype)
    assert_same(fs.detach() @ fl_t(x), ts.detach() @ th_t(x), **tol)
    bias = rng.standard_normal((M, N)).astype(dtype)
    assert_same(flambeau.addmm(fl_t(bias), fs.detach(), fd.detach(), beta=0.5, alpha=2),
                torch.addmm(th_t(bias), ts.detach(), td.detach(), beta=0.5, alpha=2), **tol)


def test_errors():
    crow, col, vals = fl_t(np.array([0, 2, 2, 4])), fl_t(np.array([1, 3, 0, 3])), fl_t(np.ones(4, np.float32))
    with pytest.raises(RuntimeError, match=re.escape("crow_indices[..., -1] == nnz")):
        flambeau.sparse_csr_tensor(fl_t(np.array([0, 2, 2, 3])), col, vals, (3, 4))
    with pytest.raises(RuntimeError, match=re.escape("crow_indices[..., 0] == 0")):
        flambeau.sparse_csr_tensor(fl_t(np.array([1, 2, 2, 4])), col, vals, (3, 4))
    with pytest.raises(RuntimeError, match="0 <= crow_indices"):
        flambeau.sparse_csr_tensor(fl_t(np.array([0, 3, 2, 4])), col, vals, (3, 4))
    with pytest.raises(RuntimeError, match="col_indices < ncols"):
        flambeau.sparse_csr_tensor(crow, fl_t(np.array([1, 3, 0, 5])), vals, (3, 4))
    with pytest.raises(RuntimeError, match="size\\[-2\\] \\+ 1"):
        flambeau.sparse_csr_tensor(crow, col, vals, (4, 4))
    with pytest.raises(RuntimeError, match="sorted and distinct"):
        flambeau.sparse_csr_tensor(crow, fl_t(np.array([3, 1, 0, 3])), vals, (3, 4), check_invariants=True)
    with pytest.raises(RuntimeError, match="sorted and distinct"):
        torch.sparse_csr_tensor(th_t(np.array([0, 2, 2, 4])), th_t(np.array([3, 1, 0, 3])), torch.ones(4), (3, 4),
                                check_invariants=True)
    c = flambeau.sparse_csr_tensor(crow, col, vals, (3, 4))
    with pytest.raises(NotImplementedError, match="sparse CSR"):
        c.exp()
    with pytest.raises(TypeError, match="to numpy"):
        c.numpy()
    with pytest.raises(RuntimeError, match="Argument #3"):
        c @ fl_t(np.zeros((5, 2), np.float32))
    with pytest.raises(RuntimeError, match="expected sparse row compressed tensor layout but got Strided"):
        flambeau.zeros(2, 2).crow_indices()


@pytest.mark.parametrize("beta,alpha", [(1.0, 1.0), (0.5, 2.0), (0.0, -1.5)])
def test_sampled_addmm(rng, beta, alpha):
    a = random_dense(rng, (6, 8))
    m1 = rng.standard_normal((6, 5)).astype(np.float32)
    m2 = rng.standard_normal((5, 8)).astype(np.float32)
    f = flambeau.sparse.sampled_addmm(fl_t(a).to_sparse_csr(), fl_t(m1), fl_t(m2), beta=beta, alpha=alpha)
    t = torch.sparse.sampled_addmm(th_t(a).to_sparse_csr(), th_t(m1), th_t(m2), beta=beta, alpha=alpha)
    assert_csr_same(f, t, exact=False)
    np.testing.assert_allclose(f.values().numpy(), t.values().numpy(), rtol=1e-5, atol=1e-5)
