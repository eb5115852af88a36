"""torch.multinomial against PyTorch: shapes and dtype, the distribution of the draws (the generators differ, so
frequencies are compared with PyTorch's probabilities, not draw by draw), zero-probability categories, sampling
without replacement, reproducibility from a seed or a Generator, out=, and PyTorch's errors for distributions
that cannot be sampled (all-zero rows, nan, inf, negative entries), which used to return indices silently."""
import numpy as np
import pytest
import torch

import flambeau


def f(a):
    return flambeau.from_numpy(np.array(a, copy=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_with_replacement_frequencies(dtype):
    p = np.array([[0.1, 0.0, 0.4, 0.2, 0.3], [5.0, 1.0, 0.0, 0.0, 4.0]], dtype)  # unnormalised rows are fine
    n = 20000
    draws = flambeau.multinomial(f(p), n, replacement=True)
    assert tuple(draws.shape) == (2, n) and draws.dtype == flambeau.int64
    for row, probs in zip(draws.numpy(), p):
        freq = np.bincount(row, minlength=5) / n
        np.testing.assert_allclose(freq, probs / probs.sum(), atol=0.012)
        assert freq[probs == 0].sum() == 0  # never a zero-probability category


def test_without_replacement_distribution_and_distinctness():
    """The first draw follows p; later draws follow p renormalised over what is left (checked on the second
    draw's marginal against a direct computation); every row's draws are distinct."""
    p = np.array([0.5, 0.3, 0.15, 0.05], np.float32)
    n = 12000
    draws = flambeau.multinomial(f(np.tile(p, (n, 1))), 2).numpy()
    assert (draws[:, 0] != draws[:, 1]).all()
    np.testing.assert_allclose(np.bincount(draws[:, 0], minlength=4) / n, p, atol=0.015)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    np.testing.assert_allclose(np.bincount(draws[:, 1], minlength=4) / n, second, atol=0.015)


def test_without_replacement_zero_probabilities_come_last():
    """As in PyTorch's CPU kernel: once the positive categories are used up, zero-probability ones follow."""
    for lib, t in ((torch, torch.tensor), (flambeau, flambeau.tensor)):
        r = lib.multinomial(t([0.5, 0.0, 0.5, 0.0]), 4).tolist()
        assert sorted(r[:2]) == [0, 2] and sorted(r[2:]) == [1, 3]
        r = lib.multinomial(t([[0.0, 1.0, 0.0]]), 1).tolist()
        assert r == [[1]]


@pytest.mark.parametrize("replacement", [False, True])
def test_shapes_seed_and_out(replacement):
    probs = f(np.random.rand(3, 6).astype(np.float32))
    for shape_in, k in (((6,), 4), ((3, 6), 1), ((3, 6), 5)):
        x = probs[0] if len(shape_in) == 1 else probs
        want = tuple(torch.multinomial(torch.rand(*shape_in), k, replacement=replacement).shape)
        flambeau.manual_seed(7)
        a = flambeau.multinomial(x, k, replacement=replacement)
        flambeau.manual_seed(7)
        b = x.multinomial(k, replacement=replacement)
        assert tuple(a.shape) == want and a.dtype == flambeau.int64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        g = flambeau.Generator().manual_seed(3)
        c = flambeau.multinomial(x, k, replacement=replacement, generator=g)
        g.manual_seed(3)
        out = flambeau.empty(want, dtype=flambeau.int64)
        flambeau.multinomial(x, k, replacement=replacement, generator=g, out=out)
        np.testing.assert_array_equal(c.numpy(), out.numpy())
    empty = flambeau.multinomial(flambeau.zeros(0, 3), 2, replacement=replacement)
    assert tuple(empty.shape) == (0, 2)


@pytest.mark.parametrize("probs,k,kw", [
    ([0.0, 0.0, 0.0], 1, {}), ([[0.5, 0.5], [0.0, 0.0]], 1, dict(replacement=True)), ([0.0, 0.0], 2, {}),
    ([0.5, float("nan")], 1, {}), ([0.5, float("inf")], 1, dict(replacement=True)), ([0.5, -0.1], 1, {}),
    ([0.5, 0.5], 0, {}), ([0.5, 0.5], -1, dict(replacement=True)), ([0.5, 0.5], 3, {}),
    ([[[0.5]]], 1, {}), ([1, 2], 1, {}),
])
def test_errors_match_torch(probs, k, kw):
    t = torch.tensor(probs)
    with pytest.raises(RuntimeError) as want:
        torch.multinomial(t, k, **kw)
    with pytest.raises(RuntimeError) as got:
        flambeau.multinomial(flambeau.tensor(probs), k, **kw)
    expected = str(want.value).split(",")[0].split(" got")[0]
    assert expected in str(got.value)
