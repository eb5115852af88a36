"""Sparse COO tensors and sparse gradients against PyTorch: flambeau.sparse_coo_tensor and its ops,
nn.Embedding / EmbeddingBag / F.embedding with sparse=True (the weight gradient's indices, values and
coalesced flag exactly as PyTorch builds them), accumulation across and within backward calls,
zero_grad, hooks, and training with SparseAdam, SGD and Adagrad (weights equal to PyTorch's), plus
the errors PyTorch raises for what takes no sparse gradient."""
import copy
import re
import warnings

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn, optim

warnings.filterwarnings("ignore", message="Sparse invariant checks")


def fl_t(a):
    return flambeau.from_numpy(np.ascontiguousarray(a))


def th_t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def sparse_pair(idx, vals, size, **kw):
    return (flambeau.sparse_coo_tensor(fl_t(idx), fl_t(vals), size, **kw),
            torch.sparse_coo_tensor(th_t(idx), th_t(vals), size, **kw))


def assert_sparse_equal(f, t, rtol=1e-5, atol=1e-6):
    """Same layout, shape, dtype, coalesced flag, indices (in order) and values."""
    assert f.is_sparse and t.is_sparse
    assert f.layout is flambeau.sparse_coo
    assert tuple(f.shape) == tuple(t.shape)
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert f.is_coalesced() == t.is_coalesced()
    assert f.sparse_dim() == t.sparse_dim() and f.dense_dim() == t.dense_dim() and f._nnz() == t._nnz()
    np.testing.assert_array_equal(f._indices().numpy(), t._indices().numpy())
    np.testing.assert_allclose(f._values().detach().numpy(), t._values().detach().numpy(), rtol=rtol, atol=atol)


def random_sparse(rng, sparse_sizes, dense_sizes=(), nnz=7, dtype=np.float32):
    idx = np.stack([rng.integers(0, s, nnz) for s in sparse_sizes]).astype(np.int64)
    vals = rng.standard_normal((nnz,) + tuple(dense_sizes)).astype(dtype)
    return idx, vals, tuple(sparse_sizes) + tuple(dense_sizes)


@pytest.fixture
def rng():
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


# ---------------------------------------------------------------------- the tensor
@pytest.mark.parametrize("sparse_sizes,dense_sizes", [((9,), (4,)), ((5, 6), ()), ((4, 3), (2,)), ((8,), ())])
def test_construct_coalesce_to_dense(rng, sparse_sizes, dense_sizes):
    idx, vals, size = random_sparse(rng, sparse_sizes, dense_sizes, nnz=11)
    f, t = sparse_pair(idx, vals, size)
    assert_sparse_equal(f, t)
    assert f.is_sparse and not fl_t(vals).is_sparse and fl_t(vals).layout is flambeau.strided
    assert_sparse_equal(f.coalesce(), t.coalesce())
    c = f.coalesce()
    assert c.coalesce() is c  # a coalesced tensor is its own coalesce(), as PyTorch's
    np.testing.assert_allclose(f.to_dense().numpy(), t.to_dense().numpy(), rtol=1e-6, atol=1e-6)
    c, tc = f.coalesce(), t.coalesce()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(c.values().numpy(), tc.values().numpy(), rtol=1e-6)
    # size inferred from the indices
    f2 = flambeau.sparse_coo_tensor(fl_t(idx), fl_t(vals))
    t2 = torch.sparse_coo_tensor(th_t(idx), th_t(vals))
    assert tuple(f2.shape) == tuple(t2.shape)


def test_metadata_and_flags(rng):
    idx, vals, size = random_sparse(rng, (6,), (3,), nnz=5)
    f, t = sparse_pair(idx, vals, size)
    assert f.shape == flambeau.Size(size) and f.size() == f.shape and f.size(1) == 3
    assert f.dim() == 2 and f.numel() == 18 and len(f) == 6
    assert f.dtype is flambeau.float32 and f.device == flambeau.device("cpu")
    with pytest.raises(RuntimeError, match="uncoalesced"):
        f.indices()
    with pytest.raises(RuntimeError, match="uncoalesced"):
        f.values()
    for make in (lambda x: x * 2, lambda x: 2 * x, lambda x: x / 2, lambda x: -x, lambda x: x.clone(),
                 lambda x: x.detach(), lambda x: x.double(), lambda x: x.clone().zero_(),
                 lambda x: x.clone().mul_(2), lambda x: x.clone().div_(2), lambda x: x + x, lambda x: x - x,
                 lambda x: copy.deepcopy(x)):
        for fx, tx in ((f, t), (f.coalesce(), t.coalesce())):
            assert_sparse_equal(make(fx), make(tx))
    # one entry (or none) is coalesced when built
    for n in (0, 1, 2):
        a, b = sparse_pair(idx[:, :n], vals[:n], size)
        assert a.is_coalesced() == b.is_coalesced()
    a, b = sparse_pair(idx, vals, size, is_coalesced=True)
    assert a.is_coalesced() and b.is_coalesced()


def test_dense_to_sparse(rng):
    d = rng.standard_normal((4, 5)).astype(np.float32)
    d[rng.random((4, 5)) < 0.5] = 0
    d[2] = 0
    for sd in (None, 1, 2):
        f = fl_t(d).to_sparse() if sd is None else fl_t(d).to_sparse(sd)
        t = th_t(d).to_sparse() if sd is None else th_t(d).to_sparse(sd)
        assert_sparse_equal(f, t)
    with pytest.raises(RuntimeError, match="sparse_dim argument must be in"):
        fl_t(d).to_sparse(3)
    assert fl_t(d).to_dense().numpy().tolist() == d.tolist()
    assert fl_t(d).sparse_dim() == 0 and fl_t(d).dense_dim() == 2


def test_sparse_plus_sparse_merge_order(rng):
    """PyTorch merges the two index lists as they are (sorted or not), combining equal heads."""
    for _ in range(5):
        a = random_sparse(rng, (7,), (3,), nnz=int(rng.integers(0, 9)))
        b = random_sparse(rng, (7,), (3,), nnz=int(rng.integers(0, 9)))
        fa, ta = sparse_pair(*a)
        fb, tb = sparse_pair(*b)
        for fx, tx, fy, ty in ((fa, ta, fb, tb), (fa.coalesce(), ta.coalesce(), fb, tb),
                               (fa.coalesce(), ta.coalesce(), fb.coalesce(), tb.coalesce())):
            assert_sparse_equal(fx + fy, tx + ty)
            assert_sparse_equal(fx.add(fy, alpha=0.5), tx.add(ty, alpha=0.5))
            assert_sparse_equal(fx - fy, tx - ty)
            fz, tz = fx.clone(), tx.clone()
            fz.add_(fy, alpha=-1.5)
            tz.add_(ty, alpha=-1.5)
            assert_sparse_equal(fz, tz)
    # two sparse dims
    a = random_sparse(rng, (3, 4), (), nnz=6)
    b = random_sparse(rng, (3, 4), (), nnz=5)
    (fa, ta), (fb, tb) = sparse_pair(*a), sparse_pair(*b)
    assert_sparse_equal(fa + fb, ta + tb)


def test_sparse_plus_sparse_non_contiguous_values_concatenate(rng):
    """Values that are not contiguous: PyTorch concatenates (and coalesces once nnz > numel)."""
    idx, vals, size = random_sparse(rng, (5,), (2,), nnz=4)
    wide = rng.standard_normal((4, 4)).astype(np.float32)
    f = flambeau.sparse_coo_tensor(fl_t(idx), fl_t(wide)[:, ::2], size)
    t = torch.sparse_coo_tensor(th_t(idx), th_t(wide)[:, ::2], size)
    fb, tb = sparse_pair(idx[:, ::-1].copy(), vals, size)
    assert_sparse_equal(f + fb, t + tb)
    big = random_sparse(rng, (3,), (1,), nnz=3)
    f3 = flambeau.sparse_coo_tensor(fl_t(big[0]), fl_t(np.repeat(big[1], 2, 1))[:, ::2], big[2])
    t3 = torch.sparse_coo_tensor(th_t(big[0]), th_t(np.repeat(big[1], 2, 1))[:, ::2], big[2])
    assert_sparse_equal(f3 + f3, t3 + t3)  # nnz 6 > numel 3: coalesced


def test_dense_and_sparse(rng):
    idx, vals, size = random_sparse(rng, (6,), (3,), nnz=9)
    f, t = sparse_pair(idx, vals, size)
    d = rng.standard_normal(size).astype(np.float32)
    for op in (lambda a, s: a + s, lambda a, s: a - s, lambda a, s: a.add(s, alpha=2.5),
               lambda a, s: flambeau.add(a, s, alpha=-0.5) if isinstance(a, flambeau.Tensor)
               else torch.add(a, s, alpha=-0.5)):
        r_f, r_t = op(fl_t(d), f), op(th_t(d), t)
        assert r_f.layout is flambeau.strided
        np.testing.assert_allclose(r_f.numpy(), r_t.numpy(), rtol=1e-6, atol=1e-6)
    a_f, a_t = fl_t(d.copy()), th_t(d.copy())
    ptr = a_f.data_ptr()
    a_f.add_(f, alpha=-0.3)
    a_t.add_(t, alpha=-0.3)
    assert a_f.data_ptr() == ptr
    np.testing.assert_allclose(a_f.numpy(), a_t.numpy(), rtol=1e-6, atol=1e-6)
    a_f.sub_(f)
    a_t.sub_(t)
    np.testing.assert_allclose(a_f.numpy(), a_t.numpy(), rtol=1e-6, atol=1e-6)
    # a non-contiguous dense target
    big_f, big_t = fl_t(np.ascontiguousarray(d.T)), th_t(np.ascontiguousarray(d.T))
    v_f, v_t = big_f.t(), big_t.t()
    v_f.add_(f)
    v_t.add_(t)
    np.testing.assert_allclose(big_f.numpy(), big_t.numpy(), rtol=1e-6, atol=1e-6)
    # sparse.sum and torch.sparse.sum
    np.testing.assert_allclose(f.sum().item(), t.sum().item(), rtol=1e-5)
    np.testing.assert_allclose(flambeau.sparse.sum(f).item(), torch.sparse.sum(t).item(), rtol=1e-5)


def test_sparse_mask(rng):
    idx, vals, size = random_sparse(rng, (6,), (3,), nnz=5)
    f, t = sparse_pair(idx, vals, size)
    d = rng.standard_normal(size).astype(np.float32)
    assert_sparse_equal(fl_t(d).sparse_mask(f.coalesce()), th_t(d).sparse_mask(t.coalesce()))


def _norm_repr(s):
    return re.sub(r"\s+", " ", s.replace("torch.", "flambeau."))


def test_repr(rng):
    idx, vals, size = random_sparse(rng, (6,), (3,), nnz=4)
    f, t = sparse_pair(idx, vals, size)
    assert _norm_repr(repr(f)) == _norm_repr(repr(t))
    assert _norm_repr(repr(f.double())) == _norm_repr(repr(t.double()))
    e_f, e_t = sparse_pair(np.zeros((1, 0), np.int64), np.zeros((0, 2), np.float32), (3, 2))
    assert _norm_repr(repr(e_f)) == _norm_repr(repr(e_t))
    r_f = flambeau.sparse_coo_tensor([[0, 2]], [1., 2.], (3,), requires_grad=True)
    r_t = torch.sparse_coo_tensor([[0, 2]], [1., 2.], (3,), requires_grad=True)
    assert _norm_repr(repr(r_f)) == _norm_repr(repr(r_t))
    i_f = flambeau.sparse_coo_tensor([[0, 2]], [1, 2], (3,))
    i_t = torch.sparse_coo_tensor([[0, 2]], [1, 2], (3,))
    assert _norm_repr(repr(i_f)) == _norm_repr(repr(i_t))
    assert repr(flambeau.sparse_coo) == "flambeau.sparse_coo" and repr(flambeau.strided) == "flambeau.strided"


def test_to_dense_backward(rng):
    idx, vals, size = random_sparse(rng, (5,), (), nnz=6)
    f, t = sparse_pair(idx, vals, size, requires_grad=True)
    w = rng.standard_normal(size).astype(np.float32)
    (f.to_dense() * fl_t(w)).sum().backward()
    (t.to_dense() * th_t(w)).sum().backward()
    assert_sparse_equal(f.grad, t.grad)


def test_errors(rng):
    idx, vals, size = random_sparse(rng, (6,), (3,), nnz=4)
    f, t = sparse_pair(idx, vals, size)
    dn = rng.standard_normal(size).astype(np.float32)
    d = fl_t(dn)
    with pytest.raises(RuntimeError, match=re.escape("add(sparse, dense) is not supported. Use add(dense, sparse)")):
        f + d
    with pytest.raises(RuntimeError, match="add_"):
        f.add_(d)
    with pytest.raises(NotImplementedError, match="exp"):
        f.exp()
    with pytest.raises(NotImplementedError, match="view"):
        f.view(-1)
    assert_sparse_equal(f * d, t * th_t(dn))  # (sparse * dense: tests/test_sparse_graph_ops.py)
    with pytest.raises(TypeError, match="to numpy"):
        f.numpy()
    with pytest.raises(TypeError):
        flambeau.exp(f)  # the kernel refuses the sparse operand instead of reading its memory
    with pytest.raises(RuntimeError, match="same size"):
        fl_t(np.zeros((7, 3), np.float32)) + f
    with pytest.raises(RuntimeError, match="to match"):
        f + flambeau.sparse_coo_tensor(fl_t(idx), fl_t(vals), (7, 3))
    with pytest.raises(RuntimeError, match="same nnz"):
        flambeau.sparse_coo_tensor([[0, 1]], [1.0], (3,))
    with pytest.raises(RuntimeError, match="size is inconsistent with indices: for dim 0, size is 3 but found index 5"):
        flambeau.sparse_coo_tensor([[5]], [1.0], (3,))
    with pytest.raises(RuntimeError, match="negative index"):
        flambeau.sparse_coo_tensor([[-1]], [1.0], (3,))
    with pytest.raises(RuntimeError, match="len\\(size\\) == sparse_dim \\+ dense_dim"):
        flambeau.sparse_coo_tensor([[1]], [[1.0, 2.0]], (3, 3, 2))
    with pytest.raises(RuntimeError, match="values has incorrect size"):
        flambeau.sparse_coo_tensor([[1]], [[1.0, 2.0]], (3, 3))
    with pytest.raises(RuntimeError, match="expected sparse coordinate tensor layout but got Strided"):
        d.coalesce()


# ---------------------------------------------------------------------- embedding gradients
def _emb_pair(rng, V, D, **kw):
    w = rng.standard_normal((V, D)).astype(np.float32)
    fe, te = nn.Embedding(V, D, **kw), torch.nn.Embedding(V, D, **kw)
    with flambeau.no_grad():
        fe.weight.copy_(fl_t(w))
    with torch.no_grad():
        te.weight.copy_(th_t(w))
    return fe, te


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("shape", [(9,), (3, 5), (1,)])
def test_embedding_sparse_grad(rng, padding_idx, shape):
    V, D = 8, 4
    fe, te = _emb_pair(rng, V, D, sparse=True, padding_idx=padding_idx)
    x = rng.integers(0, V, shape)
    gy = rng.standard_normal(shape + (D,)).astype(np.float32)
    yf, yt = fe(fl_t(x)), te(th_t(x))
    np.testing.assert_allclose(yf.detach().numpy(), yt.detach().numpy())
    (yf * fl_t(gy)).sum().backward()
    (yt * th_t(gy)).sum().backward()
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    assert_sparse_equal(fe.weight.grad.coalesce(), te.weight.grad.coalesce())
    np.testing.assert_allclose(fe.weight.grad.to_dense().numpy(), te.weight.grad.to_dense().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_embedding_sparse_only_padding_and_functional(rng):
    fe, te = _emb_pair(rng, 6, 3, sparse=True, padding_idx=4)
    fe(fl_t(np.array([4, 4]))).sum().backward()
    te(th_t(np.array([4, 4]))).sum().backward()
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    w = rng.standard_normal((7, 2)).astype(np.float32)
    wf, wt = fl_t(w).requires_grad_(), th_t(w).requires_grad_()
    x = rng.integers(0, 7, (4, 3))
    nn.functional.embedding(fl_t(x), wf, sparse=True).pow(2).sum().backward()
    torch.nn.functional.embedding(th_t(x), wt, sparse=True).pow(2).sum().backward()
    assert_sparse_equal(wf.grad, wt.grad)
    assert repr(nn.Embedding(5, 2, sparse=True)) == repr(torch.nn.Embedding(5, 2, sparse=True))


def test_embedding_sparse_max_norm(rng):
    fe, te = _emb_pair(rng, 8, 3, sparse=True, max_norm=0.7)
    x = rng.integers(0, 8, (10,))
    fe(fl_t(x)).pow(3).sum().backward()
    te(th_t(x)).pow(3).sum().backward()
    np.testing.assert_allclose(fe.weight.detach().numpy(), te.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert_sparse_equal(fe.weight.grad, te.weight.grad, rtol=1e-4, atol=1e-5)


def test_embedding_sparse_scale_grad_by_freq_raises():
    e = nn.Embedding(5, 2, sparse=True, scale_grad_by_freq=True)
    y = e(flambeau.tensor([1, 1, 2])).sum()
    with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse gradients"):
        y.backward()


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("psw", [False, True])
def test_embedding_bag_sparse_grad(rng, mode, padding_idx, psw):
    if psw and mode != "sum":
        pytest.skip("per_sample_weights: mode='sum' only (as PyTorch)")
    V, D = 9, 3
    w = rng.standard_normal((V, D)).astype(np.float32)
    fb = nn.EmbeddingBag(V, D, mode=mode, sparse=True, padding_idx=padding_idx)
    tb = torch.nn.EmbeddingBag(V, D, mode=mode, sparse=True, padding_idx=padding_idx)
    with flambeau.no_grad():
        fb.weight.copy_(fl_t(w))
    with torch.no_grad():
        tb.weight.copy_(th_t(w))
    inp = rng.integers(0, V, (11,))
    inp[[1, 4]] = 2
    off = np.array([0, 3, 3, 7])
    psw_arr = rng.random(11).astype(np.float32) if psw else None
    gy = rng.standard_normal((4, D)).astype(np.float32)
    yf = fb(fl_t(inp), fl_t(off), per_sample_weights=fl_t(psw_arr) if psw else None)
    yt = tb(th_t(inp), th_t(off), per_sample_weights=th_t(psw_arr) if psw else None)
    np.testing.assert_allclose(yf.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (yf * fl_t(gy)).sum().backward()
    (yt * th_t(gy)).sum().backward()
    assert_sparse_equal(fb.weight.grad, tb.weight.grad)
    # 2-D input (fixed-length bags) and include_last_offset
    fb.weight.grad = None
    tb.weight.grad = None
    x2 = rng.integers(0, V, (3, 4))
    fb(fl_t(x2)).pow(2).sum().backward()
    tb(th_t(x2)).pow(2).sum().backward()
    assert_sparse_equal(fb.weight.grad, tb.weight.grad)
    f3 = nn.functional.embedding_bag(fl_t(inp), fb.weight, fl_t(np.array([0, 3, 7, 11])), mode=mode, sparse=True,
                                     include_last_offset=True, padding_idx=padding_idx)
    t3 = torch.nn.functional.embedding_bag(th_t(inp), tb.weight, th_t(np.array([0, 3, 7, 11])), mode=mode,
                                           sparse=True, include_last_offset=True, padding_idx=padding_idx)
    fb.weight.grad = None
    tb.weight.grad = None
    f3.sum().backward()
    t3.sum().backward()
    assert_sparse_equal(fb.weight.grad, tb.weight.grad)


def test_embedding_bag_sparse_errors():
    with pytest.raises(ValueError, match="max mode does not support sparse weights"):
        nn.EmbeddingBag(5, 2, mode="max", sparse=True)(flambeau.tensor([1, 2]), flambeau.tensor([0]))
    b = nn.EmbeddingBag(5, 2, mode="sum", sparse=True, scale_grad_by_freq=True)
    y = b(flambeau.tensor([1, 2, 1]), flambeau.tensor([0])).sum()
    with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse gradients"):
        y.backward()


# ---------------------------------------------------------------------- accumulation
def test_accumulation_across_backward_calls(rng):
    fe, te = _emb_pair(rng, 10, 3, sparse=True)
    x1, x2 = rng.integers(0, 10, (6,)), rng.integers(0, 10, (4,))
    fe(fl_t(x1)).pow(2).sum().backward()
    te(th_t(x1)).pow(2).sum().backward()
    g_f = fe.weight.grad
    fe(fl_t(x2)).mul(fl_t(rng.standard_normal((4, 3)).astype(np.float32))).sum().backward()
    gy = rng.standard_normal((4, 3)).astype(np.float32)
    te(th_t(x2)).mul(th_t(gy)).sum().backward()
    assert fe.weight.grad is g_f  # in place, as PyTorch
    np.testing.assert_array_equal(fe.weight.grad._indices().numpy(), te.weight.grad._indices().numpy())
    assert fe.weight.grad.is_coalesced() == te.weight.grad.is_coalesced()
    # values: the same up to the second batch's random upstream gradients; check a fully equal run
    fe2, te2 = _emb_pair(rng, 10, 3, sparse=True)
    for lib, e in ((flambeau, fe2), (torch, te2)):
        t = fl_t if lib is flambeau else th_t
        e(t(x1)).pow(2).sum().backward()
        e(t(x2)).mul(t(gy)).sum().backward()
        e(t(x1)).sum().backward(retain_graph=False)
    assert_sparse_equal(fe2.weight.grad, te2.weight.grad)


def test_accumulation_within_one_graph_and_retain_graph(rng):
    fe, te = _emb_pair(rng, 10, 3, sparse=True)
    x1, x2 = rng.integers(0, 10, (5,)), rng.integers(0, 10, (3,))
    gy1 = rng.standard_normal((5, 3)).astype(np.float32)
    gy2 = rng.standard_normal((3, 3)).astype(np.float32)
    lf = (fe(fl_t(x1)) * fl_t(gy1)).sum() + (fe(fl_t(x2)) * fl_t(gy2)).sum()
    lt = (te(th_t(x1)) * th_t(gy1)).sum() + (te(th_t(x2)) * th_t(gy2)).sum()
    lf.backward(retain_graph=True)
    lt.backward(retain_graph=True)
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    lf.backward()
    lt.backward()
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    assert_sparse_equal(fe.weight.grad.coalesce(), te.weight.grad.coalesce())


def test_dense_and_sparse_gradients_meet(rng):
    fe, te = _emb_pair(rng, 6, 2, sparse=True)
    x = rng.integers(0, 6, (4,))
    # in one graph: dense + sparse is dense
    (fe(fl_t(x)).sum() + fe.weight.pow(2).sum()).backward()
    (te(th_t(x)).sum() + te.weight.pow(2).sum()).backward()
    assert fe.weight.grad.layout is flambeau.strided
    np.testing.assert_allclose(fe.weight.grad.numpy(), te.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    # across calls: a dense .grad takes a sparse gradient in place; a sparse .grad is replaced
    g = fe.weight.grad
    fe(fl_t(x)).sum().backward()
    te(th_t(x)).sum().backward()
    assert fe.weight.grad is g and g.layout is flambeau.strided
    np.testing.assert_allclose(fe.weight.grad.numpy(), te.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    fe.weight.grad = None
    te.weight.grad = None
    fe(fl_t(x)).sum().backward()
    te(th_t(x)).sum().backward()
    fe.weight.sum().backward()
    te.weight.sum().backward()
    assert fe.weight.grad.layout is flambeau.strided
    np.testing.assert_allclose(fe.weight.grad.numpy(), te.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_zero_grad_hooks_autograd_grad(rng):
    fe, te = _emb_pair(rng, 6, 2, sparse=True)
    x1, x2 = rng.integers(0, 6, (3,)), rng.integers(0, 6, (2,))
    of, ot = optim.SGD(fe.parameters(), lr=0.1), torch.optim.SGD(te.parameters(), lr=0.1)
    for (e, o, t) in ((fe, of, fl_t), (te, ot, th_t)):
        e(t(x1)).sum().backward()
        g = e.weight.grad
        o.zero_grad(set_to_none=False)
        assert e.weight.grad is g and g._nnz() == 0 and g.is_coalesced()
        assert tuple(g._indices().shape) == (1, 0) and tuple(g._values().shape) == (0, 2)
        e(t(x2)).sum().backward()
        assert e.weight.grad is g
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    of.zero_grad()
    assert fe.weight.grad is None
    seen = []
    h = fe.weight.register_hook(lambda g: (seen.append(g.layout), g * 3)[1])
    h_t = te.weight.register_hook(lambda g: g * 3)
    fe.weight.grad = None
    te.weight.grad = None
    fe(fl_t(x1)).sum().backward()
    te(th_t(x1)).sum().backward()
    assert seen == [flambeau.sparse_coo]
    assert_sparse_equal(fe.weight.grad, te.weight.grad)
    h.remove()
    h_t.remove()
    post = []
    fe.weight.register_post_accumulate_grad_hook(lambda p: post.append(p.grad.layout))
    fe(fl_t(x2)).sum().backward()
    assert post == [flambeau.sparse_coo]
    gf = flambeau.autograd.grad(fe(fl_t(x1)).pow(2).sum(), fe.weight)[0]
    gt = torch.autograd.grad(te(th_t(x1)).pow(2).sum(), te.weight)[0]
    assert_sparse_equal(gf, gt)


def test_clip_grad_with_sparse_grads_raises_as_pytorch(rng):
    fe, _ = _emb_pair(rng, 6, 2, sparse=True)
    fe(flambeau.tensor([1, 2])).sum().backward()
    with pytest.raises(NotImplementedError, match="linalg_vector_norm"):
        nn.utils.clip_grad_norm_(fe.parameters(), 1.0)
    with pytest.raises(NotImplementedError, match="clamp"):
        nn.utils.clip_grad_value_(fe.parameters(), 1.0)


# ---------------------------------------------------------------------- training
V, D, C = 40, 6, 3


def _model_pair(rng, sparse=True):
    w = rng.standard_normal((V, D)).astype(np.float32)
    lw = rng.standard_normal((C, D)).astype(np.float32) * 0.3
    lb = rng.standard_normal(C).astype(np.float32) * 0.1
    out = []
    for lib, t in ((flambeau, fl_t), (torch, th_t)):
        emb, lin = lib.nn.Embedding(V, D, sparse=sparse), lib.nn.Linear(D, C)
        with lib.no_grad():
            emb.weight.copy_(t(w))
            lin.weight.copy_(t(lw))
            lin.bias.copy_(t(lb))
        out.append((emb, lin))
    return out


def _train(pair, make_opts, rng, steps=6):
    batches = [(rng.integers(0, V, (5, 4)), rng.integers(0, C, (5,))) for _ in range(steps)]
    results = []
    for (emb, lin), lib, t in ((pair[0], flambeau, fl_t), (pair[1], torch, th_t)):
        opts = make_opts(lib, emb, lin)
        for x, y in batches:
            for o in opts:
                o.zero_grad()
            loss = lib.nn.functional.cross_entropy(lin(emb(t(x)).mean(1)), t(y))
            loss.backward()
            for o in opts:
                o.step()
        results.append((emb, lin, opts))
    (fe, fl, fo), (te, tl, to) = results
    for a, b in ((fe.weight, te.weight), (fl.weight, tl.weight), (fl.bias, tl.bias)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=2e-6)
    return fo, to


def test_sparse_adam_with_adam_on_the_rest(rng):
    """The common recipe: SparseAdam on the embedding, Adam on the dense layers."""
    fo, to = _train(_model_pair(rng), lambda lib, e, l: [lib.optim.SparseAdam(e.parameters(), lr=0.02),
                                                         lib.optim.Adam(l.parameters(), lr=0.01)], rng)
    fs, ts = fo[0].state_dict(), to[0].state_dict()
    assert fs["param_groups"] == ts["param_groups"]
    assert fs["state"][0]["step"] == ts["state"][0]["step"] == 6
    for k in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_allclose(fs["state"][0][k].numpy(), ts["state"][0][k].numpy(), rtol=1e-5, atol=1e-7)
    assert repr(fo[0]) == repr(to[0])


def test_sparse_adam_maximize_and_state_dict_round_trip(rng):
    pair = _model_pair(rng)
    fo, to = _train(pair, lambda lib, e, l: [lib.optim.SparseAdam(list(e.parameters()), lr=0.01, betas=(0.8, 0.9),
                                                                  eps=1e-6, maximize=True),
                                             lib.optim.SGD(l.parameters(), lr=0.05)], rng, steps=3)
    fresh = optim.SparseAdam(pair[0][0].parameters(), lr=0.01)
    fresh.load_state_dict(fo[0].state_dict())
    assert fresh.state_dict()["state"][0]["step"] == 3
    assert fresh.param_groups[0]["maximize"] is True


@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.5, dampening=0.3, maximize=True)])
def test_sgd_sparse(rng, kw):
    fo, to = _train(_model_pair(rng), lambda lib, e, l: [lib.optim.SGD(list(e.parameters()) + list(l.parameters()),
                                                                       lr=0.1, **kw)], rng)
    if kw.get("momentum"):
        fb = fo[0].state_dict()["state"][0]["momentum_buffer"]
        tb = to[0].state_dict()["state"][0]["momentum_buffer"]
        assert_sparse_equal(fb, tb, rtol=1e-4, atol=1e-6)  # a sparse buffer, as PyTorch's


def test_adagrad_sparse(rng):
    fo, to = _train(_model_pair(rng), lambda lib, e, l: [lib.optim.Adagrad(
        list(e.parameters()) + list(l.parameters()), lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)], rng)
    np.testing.assert_allclose(fo[0].state_dict()["state"][0]["sum"].numpy(),
                               to[0].state_dict()["state"][0]["sum"].numpy(), rtol=1e-5, atol=1e-6)


def test_lbfgs_densifies_sparse_grads(rng):
    pair = _model_pair(rng)
    x, y = rng.integers(0, V, (5, 4)), rng.integers(0, C, (5,))
    for (emb, lin), lib, t in ((pair[0], flambeau, fl_t), (pair[1], torch, th_t)):
        opt = lib.optim.LBFGS(list(emb.parameters()) + list(lin.parameters()), lr=0.5, max_iter=4)

        def closure():
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(lin(emb(t(x)).mean(1)), t(y))
            loss.backward()
            return loss
        opt.step(closure)
    np.testing.assert_allclose(pair[0][0].weight.detach().numpy(), pair[1][0].weight.detach().numpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("name,kw,msg", [
    ("Adam", {}, "Adam does not support sparse gradients, please consider SparseAdam instead"),
    ("AdamW", {}, "Adam does not support sparse gradients, please consider SparseAdam instead"),
    ("RMSprop", {}, "RMSprop does not support sparse gradients"),
    ("Adadelta", {}, "Adadelta does not support sparse gradients"),
    ("Adamax", {}, "Adamax does not support sparse gradients"),
    ("NAdam", {}, "NAdam does not support sparse gradients"),
    ("RAdam", {}, "RAdam does not support sparse gradients"),
    ("Rprop", {}, "Rprop does not support sparse gradients"),
    ("ASGD", {}, "ASGD does not support sparse gradients"),
    ("Adafactor", {}, "Adafactor does not support sparse gradients"),
    ("SGD", dict(lr=0.1, fused=True), "`_fused_sgd` does not support sparse gradients"),
    ("SGD", dict(lr=0.1, weight_decay=0.1), "add(sparse, dense) is not supported"),
    ("Adagrad", dict(fused=True), "`fused` does not support sparse grad or complex param"),
    ("Adagrad", dict(weight_decay=0.1), "weight_decay option is not compatible with sparse gradients"),
])
def test_optimizers_without_sparse_support_raise_pytorch_errors(name, kw, msg):
    for lib in (flambeau, torch):
        e = lib.nn.Embedding(5, 2, sparse=True)
        o = getattr(lib.optim, name)(e.parameters(), **kw)
        e(lib.tensor([1, 3, 1])).sum().backward()
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            o.step()


def test_sparse_adam_errors():
    lin = nn.Linear(2, 2)
    optim.SparseAdam(lin.parameters()).step()  # no gradients: nothing to do
    lin(flambeau.ones(1, 2)).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam"):
        optim.SparseAdam(lin.parameters()).step()
    for kw, msg in ((dict(lr=0), "Invalid learning rate: 0"), (dict(eps=0), "Invalid epsilon value: 0"),
                    (dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
                    (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1")):
        with pytest.raises(ValueError, match=re.escape(msg)):
            optim.SparseAdam(lin.parameters(), **kw)
    with pytest.raises(ValueError, match=re.escape("Sparse params at indices [[0, 0]]: SparseAdam requires dense")):
        optim.SparseAdam([flambeau.sparse_coo_tensor([[0]], [1.0], (2,))])


def test_save_load_and_pickle_sparse_state(rng, tmp_path):
    """An SGD momentum buffer is sparse (as PyTorch's): flambeau.save/load and pickle keep it."""
    import pickle
    fe, te = _emb_pair(rng, 7, 3, sparse=True)
    fo = optim.SGD(fe.parameters(), lr=0.1, momentum=0.9)
    x = rng.integers(0, 7, (5,))
    fe(fl_t(x)).pow(2).sum().backward()
    fo.step()
    path = tmp_path / "opt.fl"
    flambeau.save(fo.state_dict(), path)
    sd = flambeau.load(path)
    buf = fo.state_dict()["state"][0]["momentum_buffer"]
    for b in (sd["state"][0]["momentum_buffer"], pickle.loads(pickle.dumps(buf))):
        assert b.layout is flambeau.sparse_coo and b.is_coalesced() == buf.is_coalesced()
        np.testing.assert_array_equal(b._indices().numpy(), buf._indices().numpy())
        np.testing.assert_array_equal(b._values().numpy(), buf._values().numpy())
    fo2 = optim.SGD(fe.parameters(), lr=0.1, momentum=0.9)
    fo2.load_state_dict(sd)
    assert fo2.state[fe.weight]["momentum_buffer"].layout is flambeau.sparse_coo


@pytest.mark.parametrize("kind", ["random", "sorted", "coalesced", "reversed", "repeated", "prefix"])
def test_sparse_plus_sparse_large_merges_match_pytorch(rng, kind):
    """The vectorised merge (block by block, _sparse._merge_blocks) against PyTorch's kernel on
    longer index lists of every shape: unsorted, sorted with duplicates, unique, descending, one
    list inside the other, many equal heads."""
    V = int(rng.integers(5, 60))
    for _ in range(4):
        n, m = int(rng.integers(0, 300)), int(rng.integers(0, 300))
        a, b = rng.integers(0, V, n), rng.integers(0, V, m)
        if kind == "sorted":
            a, b = np.sort(a), np.sort(b)
        elif kind == "coalesced":
            a, b = np.unique(a), np.unique(b)
        elif kind == "reversed":
            a = np.sort(a)[::-1]
        elif kind == "repeated":
            b = np.concatenate([a, b])
        elif kind == "prefix":
            a = np.concatenate([np.sort(a), b])
        va = rng.standard_normal((len(a), 2)).astype(np.float32)
        vb = rng.standard_normal((len(b), 2)).astype(np.float32)
        fa, ta = sparse_pair(a[None].astype(np.int64), va, (V, 2))
        fb, tb = sparse_pair(b[None].astype(np.int64), vb, (V, 2))
        assert_sparse_equal(fa + fb, ta + tb)
        assert_sparse_equal(fb.add(fa, alpha=2.0), tb.add(ta, alpha=2.0))
    from flambeau._sparse import _merge_blocks, _merge_loop
    for _ in range(200):  # and against the entry-by-entry definition
        a = rng.integers(0, V, int(rng.integers(0, 40)))
        b = np.concatenate([a[:int(rng.integers(0, len(a) + 1))], rng.integers(0, V, int(rng.integers(0, 40)))])
        r1, r2 = _merge_blocks(a, b, 0), _merge_loop(a, b)
        assert r1[2] == r2[2]
        np.testing.assert_array_equal(r1[0], r2[0])
        np.testing.assert_array_equal(r1[1], r2[1])
