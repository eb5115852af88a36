"""flambeau.distributions' counting families (Poisson, Binomial, Geometric, NegativeBinomial, Multinomial)
against torch.distributions: log_prob, entropy, moments and their gradients in the parameters (float32 and
float64, broadcast batches, probs and logits), edge values, enumerate_support, expand, the registered KL
pairs, PyTorch's validation errors, and loose statistics of many draws (flambeau.poisson included)."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}
GTOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-9, atol=1e-10)}


def pair(arr, dtype, requires_grad=False):
    arr = np.asarray(arr, dtype=dtype)
    return torch.tensor(arr, requires_grad=requires_grad), flambeau.tensor(arr, requires_grad=requires_grad)


def close(a, b, tol):
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_allclose(np.asarray(a.detach().numpy(), dtype=np.float64),
                               np.asarray(b.detach().numpy(), dtype=np.float64), **tol)


def _counts(rng, n, shape):
    return np.floor(rng.uniform(0, 1, shape) * (np.asarray(n) + 1))


# name -> (build(lib, params) -> dist, params(rng) -> {name: array}, value(rng, params) -> array)
FAMILIES = {
    "poisson": (lambda D, p: D.Poisson(p["rate"]),
                lambda r: {"rate": r.uniform(0.3, 12.0, (3, 4))},
                lambda r, p: r.integers(0, 15, (2, 3, 4))),
    "binomial_probs": (lambda D, p: D.Binomial(p["n"], probs=p["probs"]),
                       lambda r: {"n": np.array([[5.], [10.], [20.]]), "probs": r.uniform(0.05, 0.95, (4,))},
                       lambda r, p: _counts(r, np.array([[5.], [10.], [20.]]), (2, 3, 4)).clip(0, 5)),
    "binomial_logits": (lambda D, p: D.Binomial(12, logits=p["logits"]),
                        lambda r: {"logits": r.standard_normal((3, 4)) * 2},
                        lambda r, p: r.integers(0, 13, (3, 4))),
    "geometric_probs": (lambda D, p: D.Geometric(probs=p["probs"]),
                        lambda r: {"probs": r.uniform(0.05, 0.95, (3, 4))},
                        lambda r, p: r.integers(0, 10, (5, 3, 4))),
    "geometric_logits": (lambda D, p: D.Geometric(logits=p["logits"]),
                         lambda r: {"logits": r.standard_normal((4,))},
                         lambda r, p: r.integers(0, 10, (3, 4))),
    "negative_binomial_probs": (lambda D, p: D.NegativeBinomial(p["total_count"], probs=p["probs"]),
                                lambda r: {"total_count": r.uniform(0.5, 8.0, (3, 1)),
                                           "probs": r.uniform(0.05, 0.9, (4,))},
                                lambda r, p: r.integers(0, 20, (2, 3, 4))),
    "negative_binomial_logits": (lambda D, p: D.NegativeBinomial(p["total_count"], logits=p["logits"]),
                                 lambda r: {"total_count": r.uniform(0.5, 8.0, (3, 4)),
                                            "logits": r.standard_normal((3, 4))},
                                 lambda r, p: r.integers(0, 20, (3, 4))),
    "multinomial_probs": (lambda D, p: D.Multinomial(7, probs=p["probs"]),
                          lambda r: {"probs": r.uniform(0.1, 1.0, (3, 5))},
                          lambda r, p: np.stack([r.multinomial(7, np.ones(5) / 5, size=3) for _ in range(2)])),
    "multinomial_logits": (lambda D, p: D.Multinomial(6, logits=p["logits"]),
                           lambda r: {"logits": r.standard_normal((2, 4))},
                           lambda r, p: r.multinomial(6, np.ones(4) / 4, size=(3, 2))),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_matches_torch(family, dtype, rng):
    build, make_params, make_value = FAMILIES[family]
    params = make_params(rng)
    tp, fp = {}, {}
    for k, v in params.items():
        tp[k], fp[k] = pair(v, dtype, requires_grad=k != "n")
    td, fd = build(TD, tp), build(FD, fp)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape)
    assert tuple(fd.event_shape) == tuple(td.event_shape)
    tv, fv = pair(make_value(rng, params), dtype)
    tl, fl = td.log_prob(tv), fd.log_prob(fv)
    close(fl, tl, TOL[dtype])
    loss_t, loss_f = tl.sum(), fl.sum()
    for name in ("mean", "mode", "variance", "stddev"):
        try:
            want = getattr(td, name)
        except NotImplementedError:
            continue
        got = getattr(fd, name)
        close(got, want, TOL[dtype])
        if name != "mode" and want.requires_grad:
            loss_t, loss_f = loss_t + want.sum(), loss_f + got.sum()
    try:
        want = td.entropy()
    except NotImplementedError:  # Poisson, NegativeBinomial, Binomial with unequal counts
        with pytest.raises(NotImplementedError):
            fd.entropy()
    else:
        close(fd.entropy(), want, TOL[dtype])
        loss_t, loss_f = loss_t + want.sum(), loss_f + fd.entropy().sum()
    loss_t.backward()
    loss_f.backward()
    for k in tp:
        if tp[k].requires_grad:
            close(fp[k].grad, tp[k].grad, GTOL[dtype])


def test_edge_values():
    # certain outcomes score 0, impossible ones -inf, as PyTorch's formulas give
    cases = [
        (lambda D, T: D.Poisson(T([0.0, 0.0, 2.0])), [0.0, 1.0, 0.0]),
        (lambda D, T: D.Binomial(T([4.0, 4.0, 4.0]), probs=T([0.0, 1.0, 1.0])), [0.0, 4.0, 2.0]),
        (lambda D, T: D.Geometric(probs=T([1.0, 1.0, 0.5])), [0.0, 2.0, 3.0]),
        (lambda D, T: D.NegativeBinomial(T([0.0, 0.0, 2.0]), probs=T([0.5, 0.5, 0.0])), [0.0, 1.0, 0.0]),
        (lambda D, T: D.Multinomial(3, probs=T([[0.0, 0.5, 0.5]])), [[0.0, 1.0, 2.0]]),
    ]
    for build, value in cases:
        td = build(TD, lambda v: torch.tensor(v, dtype=torch.float64))
        fd = build(FD, lambda v: flambeau.tensor(v, dtype=flambeau.float64))
        tv, fv = pair(value, np.float64)
        np.testing.assert_array_equal(fd.log_prob(fv).numpy(), td.log_prob(tv).numpy())


def test_python_number_parameters():
    for build in (lambda D: D.Poisson(3.0), lambda D: D.Geometric(0.25), lambda D: D.Binomial(10, 0.3),
                  lambda D: D.NegativeBinomial(3.0, 0.4), lambda D: D.Geometric(logits=-0.5)):
        td, fd = build(TD), build(FD)
        assert tuple(fd.batch_shape) == tuple(td.batch_shape) == ()
        v = 2.0
        np.testing.assert_allclose(fd.log_prob(flambeau.tensor(v)).numpy(), td.log_prob(torch.tensor(v)).numpy(),
                                   rtol=1e-6)
        assert fd.mean.dtype == flambeau.float32


def test_binomial_enumerate_support_and_support():
    probs = np.array([[0.2, 0.5], [0.7, 0.9], [0.1, 0.3]])
    td, fd = TD.Binomial(4, torch.tensor(probs)), FD.Binomial(4, flambeau.tensor(probs))
    assert FD.Binomial.has_enumerate_support and not FD.Poisson.has_enumerate_support
    for expand in (True, False):
        a, b = fd.enumerate_support(expand), td.enumerate_support(expand)
        assert tuple(a.shape) == tuple(b.shape) and a.dtype == flambeau.float64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert repr(fd.support).startswith("IntegerInterval(lower_bound=0, upper_bound=")
    for F, T in ((FD.Poisson, TD.Poisson), (FD.Geometric, TD.Geometric), (FD.NegativeBinomial, TD.NegativeBinomial)):
        assert repr(F.support) == repr(T.support)
        assert {k: repr(v) for k, v in F.arg_constraints.items()} == {k: repr(v) for k, v in T.arg_constraints.items()}
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        FD.Binomial(flambeau.tensor([3.0, 4.0]), probs=flambeau.tensor([0.5, 0.5])).enumerate_support()
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        FD.Binomial(flambeau.tensor([3.0, 4.0]), probs=flambeau.tensor([0.5, 0.5])).entropy()


def test_expand(rng):
    value = rng.integers(0, 5, (2, 3, 4)).astype(np.float32)
    for build in (lambda D, T: D.Poisson(T(rng.uniform(1, 3, (4,)))),
                  lambda D, T: D.Binomial(5, logits=T(rng.standard_normal((1, 4)))),
                  lambda D, T: D.Geometric(probs=T(rng.uniform(0.2, 0.8, (4,)))),
                  lambda D, T: D.NegativeBinomial(T(rng.uniform(1, 3, (4,))), probs=T(rng.uniform(0.2, 0.8, (4,))))):
        state = rng.bit_generator.state
        td = build(TD, lambda a: torch.tensor(a, dtype=torch.float32)).expand((3, 4))
        rng.bit_generator.state = state
        fd = build(FD, lambda a: flambeau.tensor(a, dtype=flambeau.float32)).expand((3, 4))
        assert tuple(fd.batch_shape) == (3, 4)
        close(fd.log_prob(flambeau.tensor(value)), td.log_prob(torch.tensor(value)), TOL[np.float32])
        assert tuple(fd.sample((5,)).shape) == (5, 3, 4)
    p = rng.uniform(0.1, 1, (4,))
    td, fd = TD.Multinomial(3, torch.tensor(p)).expand((2, 1)), FD.Multinomial(3, flambeau.tensor(p)).expand((2, 1))
    assert tuple(fd.batch_shape) == (2, 1) and tuple(fd.sample((5,)).shape) == (5, 2, 1, 4)
    x = np.array([[1.0, 0.0, 2.0, 0.0]])
    close(fd.log_prob(flambeau.tensor(x)), td.log_prob(torch.tensor(x)), TOL[np.float64])


def _kl_pairs(rng):
    a, b = rng.uniform(0.5, 4, (3,)), rng.uniform(0.5, 4, (3,))
    pa, pb = rng.uniform(0.1, 0.9, (3,)), rng.uniform(0.1, 0.9, (3,))
    return [
        (lambda D, T: (D.Poisson(T(a)), D.Poisson(T(b)))),
        (lambda D, T: (D.Binomial(6, probs=T(pa)), D.Binomial(6, logits=T(pb)))),
        (lambda D, T: (D.Geometric(probs=T(pa)), D.Geometric(probs=T(pb)))),
        (lambda D, T: (D.Bernoulli(probs=T(pa)), D.Poisson(T(b)))),
        (lambda D, T: (D.Poisson(T(a)), D.Bernoulli(probs=T(pb)))),
        (lambda D, T: (D.Poisson(T(a)), D.Binomial(4, probs=T(pb)))),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kl_divergence(dtype, rng):
    for build in _kl_pairs(rng):
        leaves_t, leaves_f = [], []

        def T(a):
            t = torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True)
            leaves_t.append(t)
            return t

        def F(a):
            t = flambeau.tensor(np.asarray(a, dtype=dtype), requires_grad=True)
            leaves_f.append(t)
            return t
        tk, fk = TD.kl_divergence(*build(TD, T)), FD.kl_divergence(*build(FD, F))
        close(fk, tk, TOL[dtype])
        if bool(torch.isfinite(tk).all()):
            tk.sum().backward()
            fk.sum().backward()
            for lt, lf in zip(leaves_t, leaves_f):
                close(lf.grad, lt.grad, GTOL[dtype])
    # Binomials with different counts: infinite where p has more trials, an error where q has more
    p = FD.Binomial(flambeau.tensor([5.0, 4.0]), probs=flambeau.tensor([0.3, 0.3]))
    q = FD.Binomial(flambeau.tensor([4.0, 4.0]), probs=flambeau.tensor([0.5, 0.5]))
    kl = FD.kl_divergence(p, q).numpy()
    assert np.isinf(kl[0]) and np.isfinite(kl[1])
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        FD.kl_divergence(q, p)


def _raises_like_torch(build, exc=ValueError, match=None):
    with pytest.raises(exc) as te:
        build(TD, torch.tensor)
    with pytest.raises(exc, match=match) as fe:
        build(FD, flambeau.tensor)
    first = str(te.value).split("(")[0].split("torch.")[0]
    assert str(fe.value).startswith(first), (str(fe.value), str(te.value))


def test_validation_errors():
    _raises_like_torch(lambda D, T: D.Poisson(T([-1.0, 2.0])), match="rate")
    _raises_like_torch(lambda D, T: D.Binomial(T([2.5]), probs=T([0.5])), match="total_count")
    _raises_like_torch(lambda D, T: D.Binomial(3, probs=T([1.5])), match="probs")
    _raises_like_torch(lambda D, T: D.Binomial(3), match="Either `probs` or `logits`")
    _raises_like_torch(lambda D, T: D.Binomial(3, probs=T([0.5]), logits=T([0.0])), match="Either")
    _raises_like_torch(lambda D, T: D.Geometric(T([0.0, 0.5])), match="to be positive")
    _raises_like_torch(lambda D, T: D.Geometric(T([1.5])), match="probs")
    _raises_like_torch(lambda D, T: D.NegativeBinomial(T([2.0]), probs=T([1.0])), match="probs")
    _raises_like_torch(lambda D, T: D.NegativeBinomial(T([-2.0]), probs=T([0.5])), match="total_count")
    _raises_like_torch(lambda D, T: D.Multinomial(2.0, T([0.5, 0.5])), NotImplementedError, "inhomogeneous")
    _raises_like_torch(lambda D, T: D.Multinomial(2, T([-0.5, 0.5])), match="probs")
    # values outside the support
    _raises_like_torch(lambda D, T: D.Poisson(T([2.0])).log_prob(T([1.5])), match="support")
    _raises_like_torch(lambda D, T: D.Poisson(T([2.0])).log_prob(T([-1.0])), match="support")
    _raises_like_torch(lambda D, T: D.Binomial(3, probs=T([0.5])).log_prob(T([4.0])), match="support")
    _raises_like_torch(lambda D, T: D.Geometric(T([0.5])).log_prob(T([0.5])), match="support")
    _raises_like_torch(lambda D, T: D.Multinomial(3, T([0.5, 0.5])).log_prob(T([2.0, 2.0])), match="support")
    _raises_like_torch(lambda D, T: D.Multinomial(3, T([0.5, 0.5])).log_prob(T([1.0, 1.0, 1.0])), match="event_shape")
    # validate_args=False skips the checks, as PyTorch's
    FD.Poisson(flambeau.tensor([-1.0]), validate_args=False)
    FD.Poisson(flambeau.tensor([1.0]), validate_args=False).log_prob(flambeau.tensor([0.5]))


def test_repr():
    assert repr(FD.Poisson(2.0)) == repr(TD.Poisson(2.0)) == "Poisson(rate: 2.0)"
    assert repr(FD.Geometric(flambeau.tensor([0.5, 0.2]))) == "Geometric(probs: flambeau.Size([2]))"


def test_flambeau_poisson_sampler():
    flambeau.manual_seed(0)
    for rate in (0.0, 0.4, 3.0, 9.5, 10.0, 35.0, 2000.0):
        x = flambeau.poisson(flambeau.full((40000,), rate, dtype=flambeau.float64)).numpy()
        assert x.dtype == np.float64 and np.all(x == np.floor(x)) and x.min() >= 0
        sd = np.sqrt(max(rate, 1e-12) / len(x))
        assert abs(x.mean() - rate) < 5 * sd + 1e-12, rate
        if rate > 0:
            assert abs(x.var() / rate - 1) < 0.06, rate
    mixed = flambeau.tensor([[0.5, 50.0], [5.0, 0.0]])
    y = flambeau.poisson(mixed)
    assert tuple(y.shape) == (2, 2) and y.dtype == flambeau.float32 and float(y[1, 1]) == 0
    flambeau.manual_seed(3)
    a = flambeau.poisson(flambeau.full((50,), 4.0))
    flambeau.manual_seed(3)
    assert bool((flambeau.poisson(flambeau.full((50,), 4.0)) == a).all())
    with pytest.raises(RuntimeError, match="invalid Poisson rate"):
        flambeau.poisson(flambeau.tensor([-1.0, 2.0]))
    huge = flambeau.poisson(flambeau.tensor([float("inf"), 1e12], dtype=flambeau.float64)).numpy()
    assert huge[0] == np.inf and abs(huge[1] - 1e12) < 1e7
    with pytest.raises(NotImplementedError, match="'Long'"):  # as PyTorch: integer rates are not sampled
        flambeau.poisson(flambeau.tensor([1, 2]))


def test_flambeau_binomial_sampler():
    flambeau.manual_seed(5)
    count = flambeau.tensor([0.0, 3.0, 3.0, 0.0, 4.0, 25.0, 1000.0, 1000.0], dtype=flambeau.float64)
    prob = flambeau.tensor([0.5, 0.0, 1.0, float("nan"), float("nan"), 0.4, 0.02, 0.995], dtype=flambeau.float64)
    x = flambeau.binomial(count.expand(30000, 8), prob.expand(30000, 8))
    t = torch.binomial(torch.tensor(count.numpy()).expand(4, 8), torch.tensor(prob.numpy()).expand(4, 8))
    x, t = x.numpy(), t.numpy()
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x[0, :5], t[0, :5])  # the certain cases and NaN as PyTorch's
    n, p = count.numpy()[5:], prob.numpy()[5:]
    np.testing.assert_allclose(x[:, 5:].mean(0), n * p, rtol=0.01)
    np.testing.assert_allclose(x[:, 5:].var(0), n * p * (1 - p), rtol=0.06)
    assert np.all(x[:, 5:] == np.floor(x[:, 5:])) and np.all((x[:, 5:] >= 0) & (x[:, 5:] <= n))
    # broadcasting, and a generator of its own
    g = flambeau.Generator().manual_seed(7)
    a = flambeau.binomial(flambeau.tensor([[5.0], [50.0]]), flambeau.tensor([0.3, 0.6, 0.9]), generator=g)
    g.manual_seed(7)
    b = flambeau.binomial(flambeau.tensor([[5.0], [50.0]]), flambeau.tensor([0.3, 0.6, 0.9]), generator=g)
    assert tuple(a.shape) == (2, 3) and bool((a == b).all())
    g.manual_seed(11)
    c = flambeau.poisson(flambeau.full((20,), 30.0), generator=g)
    g.manual_seed(11)
    assert bool((flambeau.poisson(flambeau.full((20,), 30.0), generator=g) == c).all())
    huge = flambeau.binomial(flambeau.tensor([float("inf"), 1e12, 1e20]), flambeau.tensor([0.5, 0.5, 1e-25])).numpy()
    assert huge[0] == np.inf and abs(huge[1] / 5e11 - 1) < 1e-4 and huge[2] < 100
    with pytest.raises(ValueError, match="floating-point dtypes for count"):
        flambeau.binomial(flambeau.tensor([3, 4]), flambeau.tensor([0.5, 0.5]))
    with pytest.raises(RuntimeError):
        flambeau.binomial(flambeau.tensor([3.0]), flambeau.tensor([0.5], dtype=flambeau.float64))


def test_sample_statistics():
    flambeau.manual_seed(1)
    n = 20000
    dists = [
        (FD.Binomial(flambeau.tensor([5.0, 40.0, 200.0]), probs=flambeau.tensor([0.3, 0.6, 0.97]))),
        (FD.Binomial(30, logits=flambeau.tensor([-1.0, 2.0]))),
        (FD.Geometric(probs=flambeau.tensor([0.2, 0.7]))),
        (FD.NegativeBinomial(flambeau.tensor([2.5, 10.0]), probs=flambeau.tensor([0.3, 0.6]))),
        (FD.Poisson(flambeau.tensor([0.5, 20.0]))),
    ]
    for d in dists:
        x = d.sample((n,))
        assert tuple(x.shape) == (n,) + tuple(d.batch_shape) and x.dtype == d.mean.dtype
        assert bool(d.support.check(x).all())
        m, v = d.mean.numpy(), d.variance.numpy()
        np.testing.assert_allclose(x.numpy().mean(0), m, atol=5 * np.sqrt(v / n).max() + 1e-6)
        np.testing.assert_allclose(x.numpy().var(0), v, rtol=0.08)
    d = FD.Multinomial(9, probs=flambeau.tensor([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]]))
    x = d.sample((n,))
    assert tuple(x.shape) == (n, 2, 3) and bool((x.sum(-1) == 9).all()) and float(x[:, 1, 2].abs().sum()) == 0
    np.testing.assert_allclose(x.numpy().mean(0), d.mean.numpy(), atol=0.06)
    np.testing.assert_allclose(x.numpy().var(0), d.variance.numpy(), atol=0.08)
    assert tuple(FD.Multinomial(0, probs=flambeau.tensor([0.5, 0.5])).sample((3,)).shape) == (3, 2)
    # draws carry no graph
    rate = flambeau.tensor([2.0], requires_grad=True)
    assert not FD.Poisson(rate).sample().requires_grad


def test_module_paths_and_exports():
    from flambeau.distributions.binomial import Binomial
    from flambeau.distributions.poisson import Poisson
    from flambeau.distributions.negative_binomial import NegativeBinomial  # noqa: F401
    from flambeau.distributions.geometric import Geometric  # noqa: F401
    from flambeau.distributions.multinomial import Multinomial  # noqa: F401
    assert Binomial is FD.Binomial and Poisson is FD.Poisson
    for name in ("Poisson", "Binomial", "Geometric", "NegativeBinomial", "Multinomial", "LowRankMultivariateNormal",
                 "Wishart", "LKJCholesky", "biject_to", "transform_to", "StickBreakingTransform"):
        assert name in FD.__all__ and name in TD.__all__
