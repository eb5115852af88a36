"""torch.multinomial against PyTorch: shapes and dtype, the distribution of the draws (the generators differ, so
frequencies are compared with the exact probabilities by chi-square tests, seeded so they cannot flake, at a
significance of about 1e-6 so that a correct sampler passes for any seed), zero-probability categories, sampling
without replacement (distinct draws, the joint law of the draw order), reproducibility from a seed or a
Generator, out=, non-contiguous and half inputs, and PyTorch's errors, word for word, for distributions that
cannot be sampled (all-zero rows, nan, inf, negative entries) and bad arguments."""
import itertools
import math

import numpy as np
import pytest
import torch

import flambeau


def f(a):
    return flambeau.from_numpy(np.array(a, copy=True))


def chi2_critical(df, z=4.75):
    """The chi-square quantile at the normal quantile z (Wilson-Hilferty): z = 4.75 is p ~ 1e-6."""
    h = 2.0 / (9.0 * df)
    return df * (1.0 - h + z * math.sqrt(h)) ** 3


def assert_follows(counts, probs, what=""):
    """Pearson's chi-square of counts against probabilities (categories of probability 0 must have no count)."""
    counts, probs = np.asarray(counts, np.float64), np.asarray(probs, np.float64)
    probs = probs / probs.sum()
    assert counts[probs == 0].sum() == 0, f"{what}: a zero-probability category was drawn"
    keep = probs > 0
    n = counts.sum()
    expected = n * probs[keep]
    stat = ((counts[keep] - expected) ** 2 / expected).sum()
    df = max(int(keep.sum()) - 1, 1)
    assert stat < chi2_critical(df), f"{what}: chi-square {stat:.1f} over {df} df (limit {chi2_critical(df):.1f})"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_with_replacement_frequencies(dtype):
    p = np.array([[0.1, 0.0, 0.4, 0.2, 0.3], [5.0, 1.0, 0.0, 0.0, 4.0]], dtype)  # unnormalised rows are fine
    n = 20000
    flambeau.manual_seed(0)
    draws = flambeau.multinomial(f(p), n, replacement=True)
    assert tuple(draws.shape) == (2, n) and draws.dtype == flambeau.int64
    for k, (row, probs) in enumerate(zip(draws.numpy(), p)):
        assert_follows(np.bincount(row, minlength=5), probs, f"row {k}")


@pytest.mark.parametrize("replacement", [False, True])
def test_one_draw_per_row_frequencies(replacement):
    """num_samples=1 (nanoGPT's and Categorical's call): one draw per row, many identical rows."""
    p = np.array([0.02, 0.5, 0.0, 0.08, 0.25, 0.15], np.float32)
    flambeau.manual_seed(1)
    draws = flambeau.multinomial(f(np.tile(p, (30000, 1))), 1, replacement=replacement).numpy()
    assert draws.shape == (30000, 1)
    assert_follows(np.bincount(draws[:, 0], minlength=6), p)


def test_tiny_and_skewed_probabilities():
    """Weights spanning many orders of magnitude (a 53-bit uniform per draw): the rare category keeps its share."""
    p = np.array([1e-3, 1.0, 1e-12, 0.5], np.float64)
    flambeau.manual_seed(2)
    draws = flambeau.multinomial(f(p), 200000, replacement=True).numpy()
    counts = np.bincount(draws, minlength=4)
    assert_follows(counts[[0, 1, 3]] , p[[0, 1, 3]] / p[[0, 1, 3]].sum())
    assert counts[2] <= 2  # expected 1.3e-7 draws


def test_many_categories():
    """A large vocabulary (inverse CDF over 50k categories), two rows drawing from disjoint halves."""
    n_cat = 50000
    rng = np.random.default_rng(3)
    p = rng.random((2, n_cat)).astype(np.float32)
    p[0, n_cat // 2:] = 0
    p[1, :n_cat // 2] = 0
    flambeau.manual_seed(3)
    draws = flambeau.multinomial(f(p), 4000, replacement=True).numpy()
    assert (draws[0] < n_cat // 2).all() and (draws[1] >= n_cat // 2).all()
    # in 10 buckets of 5000 categories (half of them empty per row)
    for row in range(2):
        buckets = np.bincount(draws[row] // 5000, minlength=10)
        assert_follows(buckets, p[row].reshape(10, 5000).sum(1).astype(np.float64), f"row {row}")
    one = flambeau.multinomial(f(p), 1).numpy()
    assert one[0, 0] < n_cat // 2 <= one[1, 0]


def test_without_replacement_distribution_and_distinctness():
    """The first draw follows p; later draws follow p renormalised over what is left: the law of the whole
    draw order (all 24 orders of 4 categories) against the product of the renormalised probabilities."""
    p = np.array([0.5, 0.3, 0.15, 0.05], np.float32)
    n = 24000
    flambeau.manual_seed(4)
    draws = flambeau.multinomial(f(np.tile(p, (n, 1))), 4).numpy()
    assert (np.sort(draws, 1) == np.arange(4)).all()
    perms = list(itertools.permutations(range(4)))
    code = {perm: k for k, perm in enumerate(perms)}
    counts = np.bincount([code[tuple(r)] for r in draws], minlength=len(perms))
    law = []
    for perm in perms:
        left, q = 1.0, 1.0
        for c in perm:
            q *= p[c] / left
            left -= p[c]
        law.append(q)
    assert_follows(counts, law, "draw orders")
    # the second draw's marginal, as the old test checked it
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    assert_follows(np.bincount(draws[:, 1], minlength=4), second, "second draw")


def test_without_replacement_many_rows_distinct():
    rng = np.random.default_rng(5)
    p = rng.random((64, 300)) ** 4
    draws = flambeau.multinomial(f(p), 120).numpy()
    assert draws.shape == (64, 120)
    for row in draws:
        assert len(set(row.tolist())) == 120


def test_without_replacement_zero_probabilities_come_last():
    """As in PyTorch's CPU kernel: once the positive categories are used up, zero-probability ones follow."""
    for lib, t in ((torch, torch.tensor), (flambeau, flambeau.tensor)):
        r = lib.multinomial(t([0.5, 0.0, 0.5, 0.0]), 4).tolist()
        assert sorted(r[:2]) == [0, 2] and sorted(r[2:]) == [1, 3]
        r = lib.multinomial(t([[0.0, 1.0, 0.0]]), 1).tolist()
        assert r == [[1]]
    for _ in range(50):
        r = flambeau.multinomial(flambeau.tensor([0.0, 3.0, 0.0, 1e-30, 0.0]), 2).tolist()
        assert sorted(r) == [1, 3]


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
        r = flambeau.multinomial(x, k, replacement=replacement, generator=g, out=out)
        assert r is out
        np.testing.assert_array_equal(c.numpy(), out.numpy())
    empty = flambeau.multinomial(flambeau.zeros(0, 3), 2, replacement=replacement)
    assert tuple(empty.shape) == (0, 2)


def test_generator_leaves_the_default_stream_alone():
    x = flambeau.tensor([0.1, 0.2, 0.3, 0.4])
    flambeau.manual_seed(11)
    a = flambeau.multinomial(x, 50, replacement=True)
    flambeau.manual_seed(11)
    flambeau.multinomial(x, 50, replacement=True, generator=flambeau.Generator().manual_seed(5))
    b = flambeau.multinomial(x, 50, replacement=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = flambeau.multinomial(x, 50, replacement=True)  # the stream moved on
    assert not np.array_equal(a.numpy(), c.numpy())


def test_same_draws_with_any_thread_count():
    p = f(np.random.default_rng(6).random((200, 40)).astype(np.float32))
    before = flambeau.get_num_threads()
    res = []
    try:
        for threads in (1, 2):
            flambeau.set_num_threads(threads)
            flambeau.manual_seed(12)
            res.append([flambeau.multinomial(p, 30, replacement=True).numpy(), flambeau.multinomial(p, 7).numpy(),
                        flambeau.multinomial(p, 1).numpy()])
    finally:
        flambeau.set_num_threads(before)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


def test_non_contiguous_and_half_inputs():
    rng = np.random.default_rng(7)
    base = rng.random((5, 8)).astype(np.float32)
    x = f(base).t()  # [8, 5], non-contiguous rows
    flambeau.manual_seed(13)
    a = flambeau.multinomial(x, 3)
    flambeau.manual_seed(13)
    b = flambeau.multinomial(x.contiguous(), 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    strided = f(base)[:, ::2]
    flambeau.manual_seed(14)
    c = flambeau.multinomial(strided, 2, replacement=True)
    flambeau.manual_seed(14)
    d = flambeau.multinomial(strided.contiguous(), 2, replacement=True)
    np.testing.assert_array_equal(c.numpy(), d.numpy())
    p = np.array([0.25, 0.0, 0.5, 0.25], np.float32)
    for dt in (flambeau.float16, flambeau.bfloat16):
        flambeau.manual_seed(15)
        r = flambeau.multinomial(f(p).to(dt), 20000, replacement=True)
        assert r.dtype == flambeau.int64
        assert_follows(np.bincount(r.numpy(), minlength=4), p, str(dt))


def test_requires_grad_input_gives_plain_indices():
    x = flambeau.tensor([0.2, 0.8], requires_grad=True)
    r = flambeau.multinomial(x, 3, replacement=True)
    assert not r.requires_grad and r.grad_fn is None


def test_huge_float64_weights():
    """Rows whose double sum overflows are rescaled, not turned into nan/inf draws."""
    p = np.array([1e308, 0.0, 1.5e308, 1e308], np.float64)
    flambeau.manual_seed(16)
    r = flambeau.multinomial(f(p), 20000, replacement=True).numpy()
    assert_follows(np.bincount(r, minlength=4), p / 1e308)
    r = flambeau.multinomial(f(np.tile(p, (3000, 1))), 2).numpy()
    assert (r != 1).all()


BAD = [
    ([0.0, 0.0, 0.0], 1, {}), ([[0.5, 0.5], [0.0, 0.0]], 1, dict(replacement=True)), ([0.0, 0.0], 2, {}),
    ([0.5, float("nan")], 1, {}), ([0.5, float("inf")], 1, dict(replacement=True)), ([0.5, -0.1], 1, {}),
    ([0.5, float("nan")], 2, dict(replacement=True)), ([0.5, float("-inf")], 2, dict(replacement=True)),
    ([0.5, float("inf")], 2, dict(replacement=True)), ([[0.0, 0.0], [1.0, -1.0]], 2, dict(replacement=True)),
    ([[1.0, -1.0], [0.0, 0.0]], 2, dict(replacement=True)), ([[1.0, -1.0], [0.0, 0.0]], 1, dict(replacement=True)),
    ([[0.0, 0.0], [1.0, float("nan")]], 1, {}), ([[0.0, 0.0], [1.0, 1.0]], 3, dict(replacement=True)),
    ([0.5, 0.5], 0, {}), ([0.5, 0.5], -1, dict(replacement=True)), ([0.5, 0.5], 3, {}),
    ([[[0.5]]], 1, {}), (0.5, 1, {}), ([1, 2], 1, {}), ([True, False], 1, dict(replacement=True)),
]


@pytest.mark.parametrize("probs,k,kw", BAD)
def test_errors_match_torch(probs, k, kw):
    t = torch.tensor(probs)
    with pytest.raises(RuntimeError) as want:
        torch.multinomial(t, k, **kw)
    with pytest.raises(RuntimeError) as got:
        flambeau.multinomial(flambeau.tensor(probs), k, **kw)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("make,k,kw", [
    (lambda lib: lib.zeros(1, 0), 1, dict(replacement=True)),  # PyTorch's aminmax of an empty row
    (lambda lib: lib.zeros(1, 0), 2, dict(replacement=True)),
    (lambda lib: lib.zeros(0), 2, dict(replacement=True)),
    (lambda lib: lib.zeros(1, 0), 1, {}),
    (lambda lib: lib.ones(3).to(lib.complex64), 1, {}),
    (lambda lib: lib.ones(3), 2, dict(replacement=True, out=lambda lib: lib.empty(2))),
])
def test_more_errors_match_torch(make, k, kw):
    kwargs = lambda lib: {key: (v(lib) if callable(v) else v) for key, v in kw.items()}  # noqa: E731
    with pytest.raises(RuntimeError) as want:
        torch.multinomial(make(torch), k, **kwargs(torch))
    with pytest.raises(RuntimeError) as got:
        flambeau.multinomial(make(flambeau), k, **kwargs(flambeau))
    assert str(got.value) == str(want.value)


def test_empty_results_match_torch():
    for make, k, kw in ((lambda lib: lib.zeros(0, 0), 1, dict(replacement=True)),
                        (lambda lib: lib.zeros(0, 3), 2, {}), (lambda lib: lib.zeros(0, 3), 5, dict(replacement=True))):
        assert tuple(flambeau.multinomial(make(flambeau), k, **kw).shape) == tuple(
            torch.multinomial(make(torch), k, **kw).shape)


def test_argument_type_errors():
    x = flambeau.tensor([0.5, 0.5])
    for bad in (1.5, True):
        with pytest.raises(TypeError, match="num_samples"):
            flambeau.multinomial(x, bad)
    with pytest.raises(TypeError, match="must be Tensor"):
        flambeau.multinomial([0.5, 0.5], 1)
    assert tuple(flambeau.multinomial(x, np.int64(2)).shape) == (2,)


def test_categorical_and_one_hot_samples():
    probs = flambeau.tensor([[0.1, 0.6, 0.0, 0.3], [0.25, 0.25, 0.25, 0.25]])
    flambeau.manual_seed(17)
    s = flambeau.distributions.Categorical(probs=probs).sample((20000,))
    assert tuple(s.shape) == (20000, 2) and s.dtype == flambeau.int64
    for row in range(2):
        assert_follows(np.bincount(s[:, row].numpy(), minlength=4), probs[row].numpy(), f"row {row}")
    logits = flambeau.tensor([0.0, 1.0, -1.0])
    one = flambeau.distributions.Categorical(logits=logits).sample()
    assert tuple(one.shape) == () and 0 <= int(one) < 3
    oh = flambeau.distributions.OneHotCategorical(probs=probs[0]).sample((5000,))
    assert tuple(oh.shape) == (5000, 4) and (oh.sum(-1) == 1).all()
    assert_follows(oh.sum(0).numpy(), probs[0].numpy(), "one-hot")
