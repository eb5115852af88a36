"""Sparse matrix times dense matrix against PyTorch: torch.sparse.mm, torch.mm, torch.matmul, `@`,
torch.spmm, torch.sparse.addmm, torch.addmm with a sparse mat1, dense @ sparse, sparse @ vector and
hspmm and smm; forward values (bit for bit: the C++ kernel adds each entry's terms in PyTorch's order with
one fused multiply-add), the gradients of both operands in each API's convention (sparse for
torch.sparse.*, dense for torch.mm), on random matrices with duplicate entries, coalesced ones,
empty ones and odd sizes, every CPU capability; and PyTorch's errors for bad shapes and dtypes."""
import re
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import on_each_cpu_capability
from sparse_parity import fl_t, th_t, random_coo, sparse_pair, assert_same, assert_grad_same

warnings.filterwarnings("ignore", message="Sparse invariant checks")


@pytest.fixture
def rng():
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


SHAPES = [(7, 9, 13, 40), (1, 1, 1, 1), (5, 4, 3, 0), (6, 8, 0, 10), (0, 5, 3, 0), (33, 17, 70, 200)]

APIS = {
    # name: (torch fn, flambeau fn, S gradient is sparse)
    "sparse.mm": (lambda s, d: torch.sparse.mm(s, d), lambda s, d: flambeau.sparse.mm(s, d), True),
    "mm": (torch.mm, flambeau.mm, False),
    "matmul": (torch.matmul, flambeau.matmul, False),
    "@": (lambda s, d: s @ d, lambda s, d: s @ d, False),
    "spmm": (torch.spmm, flambeau.spmm, False),
    "S.mm": (lambda s, d: s.mm(d), lambda s, d: s.mm(d), False),
}


def _pair_dense(rng, shape, dtype, requires_grad=True):
    a = rng.standard_normal(shape).astype(dtype)
    return fl_t(a).requires_grad_(requires_grad), th_t(a).requires_grad_(requires_grad)


@pytest.mark.parametrize("api", list(APIS))
@pytest.mark.parametrize("M,K,N,nnz", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("coalesced", [False, True])
def test_sparse_times_dense(rng, api, M, K, N, nnz, dtype, coalesced):
    fn_t, fn_f, sparse_grad = APIS[api]
    idx, vals, size = random_coo(rng, (M, K), nnz if M and K else 0, dtype)
    fs, ts, _, _ = sparse_pair(idx, vals, size, requires_grad=True, coalesced=coalesced)
    fd, td = _pair_dense(rng, (K, N), dtype)
    fo, to = fn_f(fs, fd), fn_t(ts, td)
    assert_same(fo, to, rtol=0, atol=0)  # bit for bit
    g = rng.standard_normal((M, N)).astype(dtype)
    fo.backward(fl_t(g))
    to.backward(th_t(g))
    np.testing.assert_array_equal(fd.grad.numpy(), td.grad.numpy())  # S^T @ g: the same kernel, same order
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_grad_same(fs.grad, ts.grad, **tol)
    assert bool(fs.grad.is_sparse) == sparse_grad


@pytest.mark.parametrize("M,K,N,nnz", SHAPES[:4])
def test_each_cpu_capability(rng, M, K, N, nnz):
    idx, vals, size = random_coo(rng, (M, K), nnz)
    d = rng.standard_normal((K, N)).astype(np.float32)
    want = torch.sparse.mm(torch.sparse_coo_tensor(th_t(idx), th_t(vals), size), th_t(d)).numpy()

    def check():
        got = flambeau.sparse.mm(flambeau.sparse_coo_tensor(fl_t(idx), fl_t(vals), size), fl_t(d)).numpy()
        np.testing.assert_array_equal(got, want)
    on_each_cpu_capability(["default", "avx2", "avx512"], check)


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (0, -0.7), (2, 0.25)])
@pytest.mark.parametrize("input_shape", [(7, 13), (13,), (1, 13), (7, 1)])
@pytest.mark.parametrize("sparse_api", [True, False])
def test_addmm(rng, beta, alpha, input_shape, sparse_api):
    idx, vals, size = random_coo(rng, (7, 9), 30)
    fs, ts, _, _ = sparse_pair(idx, vals, size, requires_grad=True)
    fd, td = _pair_dense(rng, (9, 13), np.float32)
    fi, ti = _pair_dense(rng, input_shape, np.float32)
    if sparse_api:
        if input_shape != (7, 13):
            pytest.skip("torch.sparse.addmm takes a full-size input")
        fo = flambeau.sparse.addmm(fi, fs, fd, beta=beta, alpha=alpha)
        to = torch.sparse.addmm(ti, ts, td, beta=beta, alpha=alpha)
    else:
        fo = flambeau.addmm(fi, fs, fd, beta=beta, alpha=alpha)
        to = torch.addmm(ti, ts, td, beta=beta, alpha=alpha)
    assert_same(fo, to, rtol=0, atol=0)  # bit for bit
    g = rng.standard_normal((7, 13)).astype(np.float32)
    fo.backward(fl_t(g))
    to.backward(th_t(g))
    for f, t in ((fs.grad, ts.grad), (fd.grad, td.grad), (fi.grad, ti.grad)):
        assert_grad_same(f, t, rtol=1e-5, atol=1e-5)


def test_addmm_beta_zero_ignores_nan(rng):
    idx, vals, size = random_coo(rng, (4, 5), 6)
    fs, ts, _, _ = sparse_pair(idx, vals, size)
    d = rng.standard_normal((5, 3)).astype(np.float32)
    inp = np.full((4, 3), np.nan, np.float32)
    assert_same(flambeau.sparse.addmm(fl_t(inp), fs, fl_t(d), beta=0),
                torch.sparse.addmm(th_t(inp), ts, th_t(d), beta=0), rtol=0, atol=0)


@pytest.mark.parametrize("coalesced", [False, True])
@pytest.mark.parametrize("M,K,N,nnz", SHAPES)
def test_dense_times_sparse(rng, coalesced, M, K, N, nnz):
    # D @ S: PyTorch computes (S^T @ D^T)^T; the same order here, so the same bits
    idx, vals, size = random_coo(rng, (K, N), nnz if K and N else 0)
    fs, ts, _, _ = sparse_pair(idx, vals, size, requires_grad=True, coalesced=coalesced)
    fd, td = _pair_dense(rng, (M, K), np.float32)
    fo, to = fd @ fs, td @ ts
    assert_same(fo, to, rtol=0, atol=0)
    assert_same(flambeau.mm(fd, fs), torch.mm(td, ts), rtol=0, atol=0)
    g = rng.standard_normal((M, N)).astype(np.float32)
    fo.backward(fl_t(g))
    to.backward(th_t(g))
    assert_grad_same(fd.grad, td.grad, rtol=1e-5, atol=1e-5)
    assert_grad_same(fs.grad, ts.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("coalesced", [False, True])
def test_sparse_times_vector(rng, coalesced):
    idx, vals, size = random_coo(rng, (6, 11), 25)
    fs, ts, _, _ = sparse_pair(idx, vals, size, requires_grad=True, coalesced=coalesced)
    fx, tx = _pair_dense(rng, (11,), np.float32)
    fo, to = fs @ fx, ts @ tx
    assert_same(fo, to, rtol=0, atol=0)
    assert_same(flambeau.mv(fs.detach(), fx.detach()), torch.mv(ts.detach(), tx.detach()), rtol=0, atol=0)
    g = rng.standard_normal(6).astype(np.float32)
    fo.backward(fl_t(g))
    to.backward(th_t(g))
    assert_grad_same(fx.grad, tx.grad, rtol=1e-5, atol=1e-5)
    assert_grad_same(fs.grad, ts.grad, rtol=1e-5, atol=1e-5)


def test_gradient_through_values(rng):
    # S built from values that require grad (a learned edge weighting), then sparse.mm and mm
    idx, vals, size = random_coo(rng, (8, 6), 20)
    for fn_t, fn_f in ((torch.sparse.mm, flambeau.sparse.mm), (torch.mm, flambeau.mm)):
        f, t, fv, tv = sparse_pair(idx, vals, size, grad_through_values=True)
        fd, td = _pair_dense(rng, (6, 5), np.float32)
        g = rng.standard_normal((8, 5)).astype(np.float32)
        fn_f(f, fd).backward(fl_t(g))
        fn_t(t, td).backward(th_t(g))
        np.testing.assert_allclose(fv.grad.numpy(), tv.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(fd.grad.numpy(), td.grad.numpy())


def test_transposed_operand_and_no_grad(rng):
    idx, vals, size = random_coo(rng, (9, 7), 22)
    fs, ts, _, _ = sparse_pair(idx, vals, size)
    d = rng.standard_normal((9, 4)).astype(np.float32)
    assert_same(fs.t() @ fl_t(d), ts.t() @ th_t(d), rtol=0, atol=0)
    with flambeau.no_grad():
        out = flambeau.sparse.mm(fs, fl_t(rng.standard_normal((7, 3)).astype(np.float32)).requires_grad_())
    assert out.grad_fn is None and not out.requires_grad
    dn = rng.standard_normal((4, 7)).astype(np.float32)
    assert_same(fs @ fl_t(dn).t(), ts @ th_t(dn).t(), rtol=0, atol=0)  # a non-contiguous dense operand


def test_hspmm(rng):
    idx, vals, size = random_coo(rng, (8, 6), 12)
    fs, ts, _, _ = sparse_pair(idx, vals, size)
    d = rng.standard_normal((6, 5)).astype(np.float32)
    assert_same(flambeau.hspmm(fs, fl_t(d)), torch.hspmm(ts, th_t(d)))
    assert_same(flambeau.smm(fs, fl_t(d)), torch.smm(ts, th_t(d)))
    assert_same(fs.smm(fl_t(d)), ts.smm(th_t(d)))
    e = flambeau.sparse_coo_tensor(fl_t(np.zeros((2, 0), np.int64)), fl_t(np.zeros(0, np.float32)), size)
    te = torch.sparse_coo_tensor(th_t(np.zeros((2, 0), np.int64)), th_t(np.zeros(0, np.float32)), size)
    assert_same(flambeau.smm(e, fl_t(d)), torch.smm(te, th_t(d)))
    assert_same(flambeau.hspmm(e, fl_t(d)), torch.hspmm(te, th_t(d)))


def test_errors(rng):
    idx, vals, size = random_coo(rng, (3, 4), 5)
    fs, ts, _, _ = sparse_pair(idx, vals, size)
    bad = fl_t(np.zeros((5, 2), np.float32))
    msg = re.escape("addmm: Argument #3 (dense): Expected dim 0 size 4, got 5")
    for fn in (lambda: flambeau.mm(fs, bad), lambda: flambeau.sparse.mm(fs, bad), lambda: fs @ bad,
               lambda: flambeau.spmm(fs, bad)):
        with pytest.raises(RuntimeError, match=msg):
            fn()
    with pytest.raises(RuntimeError, match="Argument #3"):
        torch.mm(ts, torch.zeros(5, 2))  # (PyTorch's)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        flambeau.mm(fs, fl_t(np.zeros((4, 2))))
    with pytest.raises(RuntimeError, match=re.escape("addmm: Argument #3 (dense): Expected dim 0 size 3, got 5")):
        fl_t(np.zeros((2, 5), np.float32)) @ fs  # (PyTorch's message: it computes (S^T @ D^T)^T)
    with pytest.raises(RuntimeError, match="expanded size"):
        flambeau.sparse.addmm(fl_t(np.zeros((2, 2), np.float32)), fs, fl_t(np.zeros((4, 2), np.float32)))
    assert_same(flambeau.mm(fs, fs.t()), torch.mm(ts, ts.t()))  # sparse @ sparse: test_sparse_spgemm.py
    i3, v3, s3 = random_coo(rng, (3, 4, 2), 5)
    f3 = flambeau.sparse_coo_tensor(fl_t(i3), fl_t(v3), s3)
    with pytest.raises(RuntimeError, match="2-D sparse matrix"):
        flambeau.sparse.mm(f3, fl_t(np.zeros((4, 2), np.float32)))
