"""Gamma, Dirichlet, Beta against torch.distributions: log_prob / entropy / cdf / moments / mode / KL and
their gradients on the same parameters (float32 and float64); the reparameterisation gradient of a
Gamma draw against torch._standard_gamma_grad; sample shapes and moments of many draws (the draws
themselves come from flambeau's generator); validation messages."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD


def both(arr, requires_grad=False):
    arr = np.asarray(arr)
    return (torch.tensor(arr, requires_grad=requires_grad),
            flambeau.tensor(arr, requires_grad=requires_grad))


def close(f, t, dtype=np.float32, **kw):
    tol = dict(atol=2e-5, rtol=2e-5) if dtype == np.float32 else dict(atol=1e-10, rtol=1e-10)
    tol.update(kw)
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gamma(dtype, rng):
    conc = rng.uniform(0.3, 4, (3, 4)).astype(dtype)
    rate = rng.uniform(0.5, 2, (4,)).astype(dtype)
    x = rng.uniform(0.05, 5, (2, 3, 4)).astype(dtype)
    tc, fc = both(conc, True)
    tr, fr = both(rate, True)
    td, fd = TD.Gamma(tc, tr), FD.Gamma(fc, fr)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape)
    for name in ("mean", "variance", "stddev", "mode"):
        close(getattr(fd, name), getattr(td, name), dtype)
    tx, fx = both(x)
    close(fd.log_prob(fx), td.log_prob(tx), dtype)
    close(fd.cdf(fx), td.cdf(tx), dtype, atol=1e-5)
    close(fd.entropy(), td.entropy(), dtype)
    (td.log_prob(tx).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fx).sum() + fd.entropy().sum()).backward()
    close(fc.grad, tc.grad, dtype, atol=1e-4 if dtype == np.float32 else 1e-9)
    close(fr.grad, tr.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_beta(dtype, rng):
    c1 = rng.uniform(0.3, 4, (5,)).astype(dtype)
    c0 = rng.uniform(0.3, 4, (5,)).astype(dtype)
    x = rng.uniform(0.02, 0.98, (3, 5)).astype(dtype)
    t1, f1 = both(c1, True)
    t0, f0 = both(c0, True)
    td, fd = TD.Beta(t1, t0), FD.Beta(f1, f0)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == ()
    for name in ("mean", "variance", "mode", "concentration1", "concentration0"):
        close(getattr(fd, name), getattr(td, name), dtype)
    tx, fx = both(x)
    close(fd.log_prob(fx), td.log_prob(tx), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    (td.log_prob(tx).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fx).sum() + fd.entropy().sum()).backward()
    close(f1.grad, t1.grad, dtype, atol=1e-4 if dtype == np.float32 else 1e-9)
    close(f0.grad, t0.grad, dtype, atol=1e-4 if dtype == np.float32 else 1e-9)
    # python-number parameters, as mixup writes them
    assert repr(FD.Beta(0.4, 0.4)) == repr(TD.Beta(0.4, 0.4))
    close(FD.Beta(0.4, 0.4).log_prob(0.3), TD.Beta(0.4, 0.4).log_prob(torch.tensor(0.3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dirichlet(dtype, rng):
    conc = rng.uniform(0.3, 3, (2, 4)).astype(dtype)
    conc[1] = [0.5, 0.6, 0.7, 0.8]  # all below one: the mode is a vertex
    x = rng.uniform(0.1, 1, (3, 2, 4)).astype(dtype)
    x /= x.sum(-1, keepdims=True)
    tc, fc = both(conc, True)
    td, fd = TD.Dirichlet(tc), FD.Dirichlet(fc)
    assert tuple(fd.event_shape) == (4,) and tuple(fd.batch_shape) == (2,)
    for name in ("mean", "variance", "mode"):
        close(getattr(fd, name), getattr(td, name), dtype)
    tx, fx = both(x)
    close(fd.log_prob(fx), td.log_prob(tx), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    (td.log_prob(tx).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fx).sum() + fd.entropy().sum()).backward()
    close(fc.grad, tc.grad, dtype, atol=1e-4 if dtype == np.float32 else 1e-9)


def test_kl(rng):
    a = [rng.uniform(0.3, 3, (4,)).astype(np.float64) for _ in range(4)]
    pairs = [(TD.Gamma, FD.Gamma, (a[0], a[1]), (a[2], a[3])),
             (TD.Beta, FD.Beta, (a[0], a[1]), (a[2], a[3])),
             (TD.Dirichlet, FD.Dirichlet, (a[0],), (a[1],))]
    for tcls, fcls, pa, qa in pairs:
        tp, tq = tcls(*[torch.tensor(v) for v in pa]), tcls(*[torch.tensor(v) for v in qa])
        fp, fq = fcls(*[flambeau.tensor(v) for v in pa]), fcls(*[flambeau.tensor(v) for v in qa])
        close(FD.kl_divergence(fp, fq), TD.kl_divergence(tp, tq), np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standard_gamma_grad_matches_pytorch(dtype):
    from flambeau.distributions.gamma_beta import _standard_gamma_grad
    a = np.exp(np.linspace(np.log(0.05), np.log(60), 50))
    x = np.exp(np.linspace(np.log(1e-3), np.log(120), 60))
    A, X = [m.astype(dtype) for m in np.meshgrid(a, x)]
    ref = torch._standard_gamma_grad(torch.from_numpy(A), torch.from_numpy(X)).numpy()
    got = _standard_gamma_grad(flambeau.from_numpy(A), flambeau.from_numpy(X)).numpy()
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 2e-5, atol=1e-30)


@pytest.mark.parametrize("alpha", [0.2, 0.9, 1.0, 3.5, 40.0])
def test_gamma_samples_have_the_moments(alpha):
    flambeau.manual_seed(0)
    d = FD.Gamma(flambeau.tensor([alpha]), flambeau.tensor([2.0]))
    s = d.sample((20000,))
    assert tuple(s.shape) == (20000, 1) and s.dtype == flambeau.float32 and not s.requires_grad
    s = s.numpy()
    assert s.min() > 0
    mean, var = alpha / 2, alpha / 4
    assert abs(s.mean() - mean) < 4 * np.sqrt(var / 20000)
    assert abs(s.var() / var - 1) < 0.15
    # two-sample Kolmogorov-Smirnov against numpy's Gamma sampler (critical value at p = 0.001)
    ref = np.sort(np.random.default_rng(0).gamma(alpha, 0.5, 20000))
    mine = np.sort(s[:, 0])
    grid = np.concatenate([ref, mine])
    ks = np.abs(np.searchsorted(ref, grid, side="right") - np.searchsorted(mine, grid, side="right")).max() / 20000
    assert ks < 1.95 * np.sqrt(2 / 20000), ks


def test_beta_and_dirichlet_samples():
    flambeau.manual_seed(1)
    lam = FD.Beta(flambeau.tensor([0.4]), flambeau.tensor([0.4])).sample((4000,))
    assert tuple(lam.shape) == (4000, 1)
    lam = lam.numpy()
    assert 0 <= lam.min() and lam.max() <= 1 and abs(lam.mean() - 0.5) < 0.03
    assert abs(lam.var() - 0.4 * 0.4 / (0.8 ** 2 * 1.8)) < 0.01
    assert FD.Beta(1.0, 1.0).sample().shape == ()
    d = FD.Dirichlet(flambeau.tensor([1.0, 2.0, 3.0]))
    s = d.sample((5000,)).numpy()
    assert s.shape == (5000, 3)
    np.testing.assert_allclose(s.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(s.mean(0), [1 / 6, 2 / 6, 3 / 6], atol=0.01)


def test_rsample_gradients_are_unbiased():
    # d/dalpha E[x] = d/dalpha (alpha / rate) = 1 / rate for the Gamma; for the Beta,
    # d/dc1 E[x] = c0 / (c1 + c0)^2 and d/dc0 E[x] = -c1 / (c1 + c0)^2
    flambeau.manual_seed(2)
    conc = flambeau.tensor([0.7, 3.0], dtype=flambeau.float64, requires_grad=True)
    rate = flambeau.tensor([2.0, 0.5], dtype=flambeau.float64, requires_grad=True)
    x = FD.Gamma(conc, rate).rsample((10000,))
    assert x.requires_grad
    x.mean(0).sum().backward()
    np.testing.assert_allclose(conc.grad.numpy(), [0.5, 2.0], rtol=0.05)
    np.testing.assert_allclose(rate.grad.numpy(), [-0.7 / 4, -3.0 / 0.25], rtol=0.05)
    c1 = flambeau.tensor(2.0, dtype=flambeau.float64, requires_grad=True)
    c0 = flambeau.tensor(0.5, dtype=flambeau.float64, requires_grad=True)
    FD.Beta(c1, c0).rsample((10000,)).mean().backward()
    np.testing.assert_allclose([c1.grad.item(), c0.grad.item()], [0.5 / 6.25, -2.0 / 6.25], rtol=0.05)


@pytest.mark.parametrize("expr", [
    "D.Beta(T.tensor(-1.), T.tensor(1.))",
    "D.Gamma(T.tensor(1.), T.tensor(0.))",
    "D.Dirichlet(T.tensor([1., -1.]))",
    "D.Dirichlet(T.tensor(1.))",
    "D.Beta(0.5, 0.5).log_prob(T.tensor(1.5))",
    "D.Gamma(T.tensor(1.), T.tensor(1.)).log_prob(T.tensor(-1.))",
    "D.Dirichlet(T.tensor([1., 1.])).log_prob(T.tensor([0.5, 0.6]))",
])
def test_validation_messages(expr):
    with pytest.raises(ValueError) as et:
        eval(expr, {"D": TD, "T": torch})
    with pytest.raises(ValueError) as ef:
        eval(expr, {"D": FD, "T": flambeau})
    norm = (lambda s: s.replace("torch.Size", "Size").replace("flambeau.Size", "Size").split("but found")[0])
    assert norm(str(ef.value)) == norm(str(et.value))
