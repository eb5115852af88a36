"""scatter_reduce / index_reduce against PyTorch: every reduction with and without include_self, along
each dim, float and int64, ties (amax/amin share the gradient), zeros (prod), NaN, non-contiguous
operands, an empty index, float64 gradchecks, and bad arguments."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau.autograd import gradcheck
from helpers import assert_close

REDUCES = ["sum", "prod", "mean", "amax", "amin"]


def _pair(a, grad=False, device="cpu"):
    return torch.tensor(a, requires_grad=grad), flambeau.tensor(a, requires_grad=grad, device=device)


def _run(x, dim, idx, src, reduce, include_self, grad=True, g=None, device="cpu"):
    tx, fx = _pair(x, grad, device)
    ts, fs = _pair(src, grad, device)
    ti, fi = torch.from_numpy(idx), flambeau.from_numpy(idx).to(device)
    tr = tx.scatter_reduce(dim, ti, ts, reduce, include_self=include_self)
    fr = fx.scatter_reduce(dim, fi, fs, reduce, include_self=include_self)
    assert_close(fr, tr, atol=0, rtol=0 if x.dtype != np.float32 else 1e-6)
    if grad:
        g = np.random.default_rng(0).standard_normal(tr.shape).astype(x.dtype) if g is None else g
        tr.backward(torch.from_numpy(g))
        fr.backward(flambeau.from_numpy(g).to(device))
        assert fx.grad.device.type == fr.device.type == flambeau.device(device).type
        assert_close(fx.grad, tx.grad, atol=1e-12 if x.dtype == np.float64 else 1e-6)
        assert_close(fs.grad, ts.grad, atol=1e-12 if x.dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch(reduce, include_self, dim, dtype, rng, device):
    x = rng.standard_normal((5, 7)).astype(dtype)
    ishape = (9, 7) if dim == 0 else (5, 11)
    src = rng.standard_normal(ishape).astype(dtype)
    idx = rng.integers(0, x.shape[dim], ishape)
    _run(x, dim, idx, src, reduce, include_self, device=device)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_int64(reduce, include_self, rng, device):
    x = rng.integers(-5, 6, (4, 6))
    src = rng.integers(-5, 6, (7, 6))
    idx = rng.integers(0, 4, (7, 6))
    _run(x, 0, idx, src, reduce, include_self, grad=False, device=device)


@pytest.mark.parametrize("reduce", ["amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_ties_share_the_gradient(reduce, include_self):
    x = np.array([1.0, 2.0, 3.0])
    src = np.array([1.0, 1.0, 3.0, 0.5, 3.0])
    idx = np.array([0, 0, 2, 1, 2])
    _run(x, 0, idx, src, reduce, include_self)


@pytest.mark.parametrize("include_self", [True, False])
def test_prod_with_zeros(include_self):
    x = np.array([2.0, 0.0, 3.0, 4.0, 0.0])
    src = np.array([0.0, 5.0, 0.0, 0.0, 2.0, 7.0, 1.5])
    idx = np.array([0, 1, 2, 2, 3, 4, 4])  # a single zero at 0, two zeros at 2, self's zero at 1 and 4
    _run(x, 0, idx, src, "prod", include_self)


@pytest.mark.parametrize("reduce", ["amax", "amin", "sum", "prod"])
def test_nan_propagates(reduce):
    x = np.array([1.0, 2.0, 3.0])
    src = np.array([np.nan, 5.0, -1.0])
    idx = np.array([0, 1, 1])
    tx, fx = _pair(x)
    ts, fs = _pair(src)
    tr = tx.scatter_reduce(0, torch.from_numpy(idx), ts, reduce)
    fr = fx.scatter_reduce(0, flambeau.from_numpy(idx), fs, reduce)
    np.testing.assert_array_equal(fr.numpy(), tr.numpy())


def test_non_contiguous_and_3d(rng):
    x = rng.standard_normal((3, 4, 6)).transpose(0, 2, 1)  # (3, 6, 4) non-contiguous
    src = rng.standard_normal((3, 8, 5))[:, :, ::2]       # (3, 8, 3) strided
    idx = rng.integers(0, 6, (3, 8, 3))
    for reduce in REDUCES:
        _run(np.ascontiguousarray(x), 1, idx, np.ascontiguousarray(src), reduce, True)
        tx, fx = torch.from_numpy(x), flambeau.from_numpy(x)
        ts, fs = torch.from_numpy(src), flambeau.from_numpy(src)
        assert_close(fx.scatter_reduce(1, flambeau.from_numpy(idx), fs, reduce),
                     tx.scatter_reduce(1, torch.from_numpy(idx), ts, reduce))


def test_empty_index_and_inplace(rng):
    x = rng.standard_normal((3, 4))
    tx, fx = _pair(x)
    e_t, e_f = torch.zeros((0, 4), dtype=torch.int64), flambeau.zeros((0, 4), dtype=flambeau.int64)
    s_t, s_f = torch.zeros((0, 4), dtype=torch.float64), flambeau.zeros((0, 4), dtype=flambeau.float64)
    assert_close(fx.scatter_reduce(0, e_f, s_f, "amax"), tx.scatter_reduce(0, e_t, s_t, "amax"))
    y = flambeau.tensor(x)
    idx = rng.integers(0, 3, (5, 4))
    src = rng.standard_normal((5, 4))
    r = y.scatter_reduce_(0, flambeau.from_numpy(idx), flambeau.tensor(src), "mean", include_self=False)
    assert r is y
    assert_close(y, torch.tensor(x).scatter_reduce_(0, torch.from_numpy(idx), torch.tensor(src), "mean",
                                                    include_self=False))
    assert_close(flambeau.scatter_reduce(flambeau.tensor(x), 0, flambeau.from_numpy(idx), flambeau.tensor(src), "sum"),
                 torch.scatter_reduce(torch.tensor(x), 0, torch.from_numpy(idx), torch.tensor(src), "sum"))


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_gradcheck(reduce, include_self, rng):
    x = flambeau.tensor(rng.uniform(0.5, 2, (4, 3)), requires_grad=True)
    src = flambeau.tensor(rng.uniform(0.5, 2, (6, 3)), requires_grad=True)
    idx = flambeau.from_numpy(rng.integers(0, 4, (6, 3)))
    assert gradcheck(lambda a, b: a.scatter_reduce(0, idx, b, reduce, include_self=include_self), (x, src))


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1])
def test_index_reduce(reduce, include_self, dim, rng):
    x = rng.standard_normal((4, 5))
    sshape = (7, 5) if dim == 0 else (4, 7)
    src = rng.standard_normal(sshape)
    idx = rng.integers(0, x.shape[dim], 7)
    tx, fx = _pair(x, True)
    ts, fs = _pair(src, True)
    tr = tx.index_reduce(dim, torch.from_numpy(idx), ts, reduce, include_self=include_self)
    fr = fx.index_reduce(dim, flambeau.from_numpy(idx), fs, reduce, include_self=include_self)
    assert_close(fr, tr)
    g = rng.standard_normal(tr.shape)
    tr.backward(torch.from_numpy(g))
    fr.backward(flambeau.from_numpy(g))
    assert_close(fx.grad, tx.grad)
    assert_close(fs.grad, ts.grad)
    y = flambeau.tensor(x)
    y.index_reduce_(dim, flambeau.from_numpy(idx), flambeau.tensor(src), reduce, include_self=include_self)
    assert_close(y, tr.detach())


def test_errors():
    x, idx, src = flambeau.zeros(3, 4), flambeau.zeros(2, 4, dtype=flambeau.int64), flambeau.ones(2, 4)
    with pytest.raises(RuntimeError, match="reduce argument must be either"):
        x.scatter_reduce(0, idx, src, "maximum")
    with pytest.raises(RuntimeError):
        torch.zeros(3, 4).scatter_reduce(0, torch.zeros(2, 4, dtype=torch.int64), torch.ones(2, 4), "maximum")
    # "max"/"min" are accepted as amax/amin, as PyTorch does
    assert_close(x.scatter_reduce(0, idx, src, "max"),
                 torch.zeros(3, 4).scatter_reduce(0, torch.zeros(2, 4, dtype=torch.int64), torch.ones(2, 4), "max"))
    with pytest.raises(IndexError, match="out of range|out of bounds"):
        x.scatter_reduce(0, flambeau.tensor([[5, 0, 0, 0]]), src, "sum")
    with pytest.raises(RuntimeError, match="dtype"):
        x.scatter_reduce(0, idx, flambeau.ones(2, 4, dtype=flambeau.float64), "sum")
    with pytest.raises(RuntimeError, match="index_reduce"):
        x.index_reduce(0, flambeau.tensor([0, 1]), src, "sum")
    with pytest.raises(RuntimeError, match="index_reduce: the number of indices"):
        x.index_reduce(0, flambeau.tensor([0, 1, 2]), src, "amax")


def test_scatter_reduce_argument_multiply(rng):
    # the older scatter(..., reduce='multiply'), with a tensor src and with a value
    x = rng.uniform(1, 2, (3, 4))
    idx = rng.integers(0, 3, (2, 4))
    src = rng.uniform(1, 2, (2, 4))
    assert_close(flambeau.tensor(x).scatter(0, flambeau.from_numpy(idx), flambeau.tensor(src), reduce="multiply"),
                 torch.tensor(x).scatter(0, torch.from_numpy(idx), torch.tensor(src), reduce="multiply"))
    assert_close(flambeau.tensor(x).scatter(0, flambeau.from_numpy(idx), 3.0, reduce="multiply"),
                 torch.tensor(x).scatter(0, torch.from_numpy(idx), 3.0, reduce="multiply"))
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        flambeau.tensor(x).scatter(0, flambeau.from_numpy(idx), 3.0, reduce="max")
