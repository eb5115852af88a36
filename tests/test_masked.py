"""torch.masked (flambeau/masked) against PyTorch CPU: the reductions and normalizations with random masks
(fully masked slices, broadcast masks, integer inputs, gradients) and the MaskedTensor prototype."""
import warnings

import numpy as np
import pytest
import torch
import torch.masked

import flambeau
import flambeau.masked
from flambeau.autograd import gradcheck

warnings.filterwarnings("ignore", message="The PyTorch API of MaskedTensors")


def _mask(rng, shape, full_row=True):
    m = rng.random(shape) < 0.6
    if full_row and len(shape) >= 2 and shape[0] > 1:
        m[0] = False  # one fully masked slice along dim 0
    return m


def _eq(f, t, tol=1e-5):
    f = f.detach().numpy() if hasattr(f, "detach") else np.asarray(f)
    t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    assert f.dtype == t.dtype, (f.dtype, t.dtype)
    np.testing.assert_allclose(f, t, rtol=tol, atol=tol, equal_nan=True)


REDUCTIONS = ["sum", "prod", "amax", "amin", "mean", "logsumexp", "norm", "var", "std"]
DIMS = [None, 0, 1, (0, 2), -1]


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_match(op, dim, keepdim):
    rng = np.random.default_rng()
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    m = _mask(rng, x.shape)
    fx = flambeau.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    pre = (2.0,) if op == "norm" else ()  # norm(input, ord, dim, ...)
    f = getattr(flambeau.masked, op)(fx, *pre, dim, keepdim=keepdim, mask=flambeau.tensor(m))
    t = getattr(torch.masked, op)(tx, *pre, dim, keepdim=keepdim, mask=torch.tensor(m))
    _eq(f, t, 1e-4)
    if op in ("sum", "mean", "amax", "norm", "var"):
        g = rng.standard_normal(tuple(t.shape)).astype(np.float32)
        ok = np.isfinite(t.detach().numpy())
        g = np.where(ok, g, 0).astype(np.float32)  # no gradient through nan/-inf outputs
        f.backward(flambeau.tensor(g))
        t.backward(torch.tensor(g))
        _eq(fx.grad, tx.grad, 1e-4)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 2])
def test_arg_reductions(op, dim):
    rng = np.random.default_rng()
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    m = _mask(rng, x.shape, full_row=False)
    f = getattr(flambeau.masked, op)(flambeau.tensor(x), dim, mask=flambeau.tensor(m))
    t = getattr(torch.masked, op)(torch.tensor(x), dim, mask=torch.tensor(m))
    _eq(f, t)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_sum_prod_and_extremes(dtype):
    rng = np.random.default_rng()
    x = rng.integers(0, 5, (4, 6)).astype(dtype)
    m = _mask(rng, x.shape)
    for op in ("sum", "prod"):
        f = getattr(flambeau.masked, op)(flambeau.tensor(x), 1, mask=flambeau.tensor(m))
        t = getattr(torch.masked, op)(torch.tensor(x), 1, mask=torch.tensor(m))
        _eq(f, t)
    if dtype != "bool":
        for op in ("amax", "amin"):
            _eq(getattr(flambeau.masked, op)(flambeau.tensor(x), 0, mask=flambeau.tensor(m)),
                getattr(torch.masked, op)(torch.tensor(x), 0, mask=torch.tensor(m)))
    with pytest.raises(ValueError, match="mean"):
        flambeau.masked.mean(flambeau.tensor(x), 1, mask=flambeau.tensor(m))


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin", "cumsum", "cumprod"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalizations_and_scans(op, dim):
    rng = np.random.default_rng()
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    m = _mask(rng, x.shape)
    fx, tx = flambeau.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    f = getattr(flambeau.masked, op)(fx, dim, mask=flambeau.tensor(m))
    t = getattr(torch.masked, op)(tx, dim, mask=torch.tensor(m))
    _eq(f, t, 1e-4)
    ok = np.isfinite(t.detach().numpy())
    g = np.where(ok, rng.standard_normal(x.shape), 0).astype(np.float32)
    f.backward(flambeau.tensor(g))
    t.backward(torch.tensor(g))
    _eq(fx.grad, tx.grad, 1e-4)


def test_broadcast_mask_median_normalize_logaddexp():
    rng = np.random.default_rng()
    x = rng.standard_normal((4, 6)).astype(np.float32)
    row = rng.random(6) < 0.5
    row[0] = True
    fm, tm = flambeau.tensor(row), torch.tensor(row)
    _eq(flambeau.masked.sum(flambeau.tensor(x), 1, mask=fm), torch.masked.sum(torch.tensor(x), 1, mask=tm))
    _eq(flambeau.masked.mean(flambeau.tensor(x), 0, mask=fm), torch.masked.mean(torch.tensor(x), 0, mask=tm))
    m = _mask(rng, x.shape)
    _eq(flambeau.masked.median(flambeau.tensor(x), 1, mask=flambeau.tensor(m)),
        torch.masked.median(torch.tensor(x), 1, mask=torch.tensor(m)))
    for ord in (1.0, 2.0, float("inf")):
        _eq(flambeau.masked.normalize(flambeau.tensor(x), ord, 1, mask=flambeau.tensor(m)),
            torch.masked.normalize(torch.tensor(x), ord, 1, mask=torch.tensor(m)))
    y = rng.standard_normal((4, 6)).astype(np.float32)
    m2 = _mask(rng, x.shape, full_row=False)
    _eq(flambeau.masked.logaddexp(flambeau.tensor(x), flambeau.tensor(y), input_mask=flambeau.tensor(m),
                                  other_mask=flambeau.tensor(m2)),
        torch.masked.logaddexp(torch.tensor(x), torch.tensor(y), input_mask=torch.tensor(m),
                               other_mask=torch.tensor(m2)))
    with pytest.raises(IndexError):
        flambeau.masked.sum(flambeau.tensor(x), mask=flambeau.ones(2, 4, 6, dtype=flambeau.bool))


def test_no_mask_and_var_correction():
    rng = np.random.default_rng()
    x = rng.standard_normal((5, 7)).astype(np.float64)
    m = _mask(rng, x.shape)
    for op in ("sum", "mean", "amax", "var", "std"):
        _eq(getattr(flambeau.masked, op)(flambeau.tensor(x), 1), getattr(torch.masked, op)(torch.tensor(x), 1))
    for kw in ({"unbiased": False}, {"correction": 2}, {"unbiased": True}):
        _eq(flambeau.masked.var(flambeau.tensor(x), 1, mask=flambeau.tensor(m), **kw),
            torch.masked.var(torch.tensor(x), 1, mask=torch.tensor(m), **kw))


def test_empty_and_gradcheck():
    e = flambeau.masked.sum(flambeau.zeros(0, 3), 0, mask=flambeau.zeros(0, 3, dtype=flambeau.bool))
    t = torch.masked.sum(torch.zeros(0, 3), 0, mask=torch.zeros(0, 3, dtype=torch.bool))
    _eq(e, t)
    rng = np.random.default_rng(3)
    m = flambeau.tensor(rng.random((3, 4)) < 0.6)
    x = flambeau.randn(3, 4, dtype=flambeau.float64, requires_grad=True)
    assert gradcheck(lambda a: flambeau.masked.softmax(a, 1, mask=m).nan_to_num(), (x,))
    assert gradcheck(lambda a: flambeau.masked.norm(a, 2.0, 1, mask=m), (x,))


# ---------------------------------------------------------------------------------------------- MaskedTensor
def _mt_pair(rng, shape=(3, 4), requires_grad=False):
    d = rng.standard_normal(shape).astype(np.float32)
    m = rng.random(shape) < 0.6
    m.flat[0] = True
    return (flambeau.masked.masked_tensor(flambeau.tensor(d), flambeau.tensor(m), requires_grad=requires_grad),
            torch.masked.masked_tensor(torch.tensor(d), torch.tensor(m), requires_grad=requires_grad), m)


def _mt_eq(f, t, tol=1e-5):
    assert flambeau.masked.is_masked_tensor(f)
    np.testing.assert_array_equal(f.get_mask().numpy(), t.get_mask().numpy())
    fm = f.get_mask().numpy()
    np.testing.assert_allclose(f.get_data().detach().numpy()[fm], t.get_data().detach().numpy()[fm],
                               rtol=tol, atol=tol)


def test_masked_tensor_ops_match():
    rng = np.random.default_rng()
    f, t, _ = _mt_pair(rng)
    _mt_eq(f * 2 + 1, t * 2 + 1)
    _mt_eq(f.exp().abs(), t.exp().abs())
    _mt_eq(f + f, t + t)
    _mt_eq(flambeau.softmax(f, 1), torch.softmax(t, 1))
    for op in ("sum", "amax", "amin", "mean"):
        _mt_eq(getattr(f, op)(1), getattr(t, op)(1))
    _mt_eq(f.sum(), t.sum())
    _mt_eq(f[1], t[1])
    # PyTorch's prototype has no rule for permute/view: compare with its data and mask moved the same way
    for fv, how in ((f.T, lambda a: a.T), (f.view(4, 3), lambda a: a.reshape(4, 3))):
        np.testing.assert_array_equal(fv.get_mask().numpy(), how(t.get_mask()).numpy())
        np.testing.assert_array_equal(fv.get_data().numpy(), how(t.get_data()).numpy())
    np.testing.assert_array_equal(f.to_tensor(0.0).numpy(), t.to_tensor(0.0).numpy())
    assert isinstance(f, flambeau.Tensor) and f.shape == (3, 4) and f.dtype == flambeau.float32


def test_masked_tensor_errors_and_grad():
    rng = np.random.default_rng()
    f, t, m = _mt_pair(rng, requires_grad=True)
    other = flambeau.masked.masked_tensor(flambeau.randn(3, 4), flambeau.tensor(~m))
    with pytest.raises(ValueError, match="Input masks must match"):
        f + other
    with pytest.raises(ValueError, match="bool"):
        flambeau.masked.masked_tensor(flambeau.randn(2), flambeau.ones(2))
    with pytest.raises(ValueError, match="shape"):
        flambeau.masked.masked_tensor(flambeau.randn(2), flambeau.ones(3, dtype=flambeau.bool))
    (f * f).sum().backward()
    (t * t).sum().backward()
    _mt_eq(f.grad, t.grad)
    src = flambeau.randn(3, 4, requires_grad=True)
    flambeau.masked.as_masked_tensor(src, flambeau.tensor(m)).sum().get_data().backward()
    np.testing.assert_array_equal(src.grad.numpy(), m.astype(np.float32))
