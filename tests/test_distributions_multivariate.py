"""flambeau.distributions.MultivariateNormal, Independent and MixtureSameFamily against torch.distributions:
log_prob, entropy, moments and KL on the same parameters (float32 and float64, batched and broadcast),
gradients in the parameters, the three ways to give MultivariateNormal its covariance, sample shapes and
moments of many draws, and PyTorch's argument errors."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD


def both(arr, requires_grad=False):
    return (torch.tensor(arr, requires_grad=requires_grad),
            flambeau.tensor(np.array(arr), requires_grad=requires_grad))


def close(a, b, dtype):
    tol = dict(atol=2e-5, rtol=2e-5) if dtype == np.float32 else dict(atol=1e-10, rtol=1e-10)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol)


def spd(rng, batch, n, dtype):
    a = rng.standard_normal(batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("param", ["covariance_matrix", "scale_tril", "precision_matrix"])
def test_multivariate_normal(param, dtype, rng):
    n = 3
    loc = rng.standard_normal((2, 1, n)).astype(dtype)   # batch (2, 1) against a matrix batch of (4,)
    cov = spd(rng, (4,), n, dtype)
    mat = {"covariance_matrix": cov, "scale_tril": np.linalg.cholesky(cov).astype(dtype),
           "precision_matrix": np.linalg.inv(cov).astype(dtype)}[param]
    tl, fl_ = both(loc, True)
    tm, fm = both(mat, True)
    td, fd = TD.MultivariateNormal(tl, **{param: tm}), FD.MultivariateNormal(fl_, **{param: fm})
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) == (2, 4)
    assert tuple(fd.event_shape) == tuple(td.event_shape) == (n,)
    for name in ("mean", "mode", "variance", "stddev", "scale_tril", "covariance_matrix", "precision_matrix"):
        a, b = getattr(fd, name), getattr(td, name)
        assert tuple(a.shape) == tuple(b.shape), name
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4 if dtype == np.float32 else
                                   1e-9, atol=1e-5 if dtype == np.float32 else 1e-10, err_msg=name)
    x = rng.standard_normal((5, 2, 4, n)).astype(dtype)
    tv, fv = both(x)
    close(fd.log_prob(fv), td.log_prob(tv), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    (td.log_prob(tv).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum()).backward()
    close(fl_.grad, tl.grad, dtype)
    close(fm.grad, tm.grad, dtype)


def test_multivariate_normal_unbatched_and_diag_embed(rng):
    # PPO-PyTorch's policy: MultivariateNormal(action_mean, torch.diag_embed(action_var))
    mean = rng.standard_normal((6, 2)).astype(np.float32)
    var = np.full((6, 2), 0.36, dtype=np.float32)
    a = rng.standard_normal((6, 2)).astype(np.float32)
    tmean, fmean = both(mean, True)
    td = TD.MultivariateNormal(tmean, torch.diag_embed(torch.tensor(var)))
    fd = FD.MultivariateNormal(fmean, flambeau.diag_embed(flambeau.tensor(var)))
    close(fd.log_prob(flambeau.tensor(a)), td.log_prob(torch.tensor(a)), np.float32)
    close(fd.entropy(), td.entropy(), np.float32)
    td.log_prob(torch.tensor(a)).sum().backward()
    fd.log_prob(flambeau.tensor(a)).sum().backward()
    close(fmean.grad, tmean.grad, np.float32)
    t0 = TD.MultivariateNormal(torch.zeros(2), torch.eye(2))
    f0 = FD.MultivariateNormal(flambeau.zeros(2), flambeau.eye(2))
    assert tuple(f0.batch_shape) == () and f0.entropy().dim() == 0
    close(f0.log_prob(flambeau.tensor(a)), t0.log_prob(torch.tensor(a)), np.float32)
    assert repr(f0) == repr(t0).replace("torch.", "flambeau.")


def test_multivariate_normal_rsample_moments_and_gradient():
    flambeau.manual_seed(0)
    loc = flambeau.tensor([1.0, -1.0], requires_grad=True)
    L = flambeau.tensor([[1.0, 0.0], [0.5, 0.8]])
    d = FD.MultivariateNormal(loc, scale_tril=L)
    s = d.rsample((20000,))
    assert tuple(s.shape) == (20000, 2) and s.requires_grad
    s.sum().backward()
    assert loc.grad.tolist() == [20000.0, 20000.0]
    x = s.detach().numpy()
    np.testing.assert_allclose(x.mean(0), [1.0, -1.0], atol=0.04)
    np.testing.assert_allclose(np.cov(x.T), (L @ L.T).numpy(), atol=0.05)
    assert not d.sample((3,)).requires_grad and tuple(d.sample().shape) == (2,)


def test_kl_multivariate_normal_and_independent(rng):
    n = 3
    p_loc, q_loc = rng.standard_normal((2, n)), rng.standard_normal((n,))
    p_cov, q_cov = spd(rng, (2,), n, np.float64), spd(rng, (), n, np.float64)
    tp = TD.MultivariateNormal(torch.tensor(p_loc), torch.tensor(p_cov))
    tq = TD.MultivariateNormal(torch.tensor(q_loc), torch.tensor(q_cov))
    fp = FD.MultivariateNormal(flambeau.tensor(p_loc), flambeau.tensor(p_cov))
    fq = FD.MultivariateNormal(flambeau.tensor(q_loc), flambeau.tensor(q_cov))
    close(FD.kl_divergence(fp, fq), TD.kl_divergence(tp, tq), np.float64)
    s1, s2 = rng.random((4, n)) + 0.5, rng.random((4, n)) + 0.5
    ti = [TD.Independent(TD.Normal(torch.tensor(p_loc[:1]).expand(4, n), torch.tensor(s)), 1) for s in (s1, s2)]
    fi = [FD.Independent(FD.Normal(flambeau.tensor(p_loc[:1]).expand(4, n), flambeau.tensor(s)), 1) for s in (s1, s2)]
    close(FD.kl_divergence(*fi), TD.kl_divergence(*ti), np.float64)


@pytest.mark.parametrize("ndims", [0, 1, 2])
def test_independent(ndims, rng):
    loc = rng.standard_normal((2, 3, 4)).astype(np.float32)
    scale = (rng.random((2, 3, 4)) + 0.5).astype(np.float32)
    tl, fl_ = both(loc, True)
    ts, fs = both(scale, True)
    td, fd = TD.Independent(TD.Normal(tl, ts), ndims), FD.Independent(FD.Normal(fl_, fs), ndims)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == tuple(td.event_shape)
    assert fd.has_rsample and fd.reinterpreted_batch_ndims == ndims
    x = rng.standard_normal((5, 2, 3, 4)).astype(np.float32)
    tv, fv = both(x)
    close(fd.log_prob(fv), td.log_prob(tv), np.float32)
    close(fd.entropy(), td.entropy(), np.float32)
    for name in ("mean", "variance", "stddev", "mode"):
        close(getattr(fd, name), getattr(td, name), np.float32)
    td.log_prob(tv).sum().backward()
    fd.log_prob(fv).sum().backward()
    close(fs.grad, ts.grad, np.float32)
    assert tuple(fd.sample((7,)).shape) == tuple(td.sample((7,)).shape)
    assert repr(fd) == repr(td).replace("torch.", "flambeau.")


@pytest.mark.parametrize("component", ["normal", "independent", "mvn"])
def test_mixture_same_family(component, rng):
    B, K, E = 4, 3, 2
    logits = rng.standard_normal((B, K)).astype(np.float64)
    loc = rng.standard_normal((B, K, E))
    scale = rng.random((B, K, E)) + 0.5
    tlog, flog = both(logits, True)
    tloc, floc = both(loc, True)
    tsc, fsc = both(scale, True)

    def build(D, lg, lc, sc, lib):
        if component == "normal":
            comp = D.Normal(lc[..., 0], sc[..., 0])
        elif component == "independent":
            comp = D.Independent(D.Normal(lc, sc), 1)
        else:
            comp = D.MultivariateNormal(lc, scale_tril=lib.diag_embed(sc))
        return D.MixtureSameFamily(D.Categorical(logits=lg), comp)

    td, fd = build(TD, tlog, tloc, tsc, torch), build(FD, flog, floc, fsc, flambeau)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == tuple(td.event_shape)
    shape = (5, B) + tuple(td.event_shape)
    x = rng.standard_normal(shape)
    tv, fv = both(x)
    close(fd.log_prob(fv), td.log_prob(tv), np.float64)
    close(fd.mean, td.mean, np.float64)
    close(fd.variance, td.variance, np.float64)
    if component == "normal":
        close(fd.cdf(fv), td.cdf(tv), np.float64)
    td.log_prob(tv).sum().backward()
    fd.log_prob(fv).sum().backward()
    for f, t in ((flog, tlog), (floc, tloc), (fsc, tsc)):
        close(f.grad, t.grad, np.float64)
    flambeau.manual_seed(0)
    s = fd.sample((3,))
    assert tuple(s.shape) == tuple(td.sample((3,)).shape) and not s.requires_grad


def test_mixture_same_family_sample_moments():
    flambeau.manual_seed(1)
    mix = FD.Categorical(probs=flambeau.tensor([0.25, 0.75]))
    comp = FD.Normal(flambeau.tensor([-2.0, 3.0]), flambeau.tensor([0.5, 1.0]))
    gmm = FD.MixtureSameFamily(mix, comp)
    s = gmm.sample((40000,)).numpy()
    np.testing.assert_allclose(s.mean(), float(gmm.mean), atol=0.05)
    np.testing.assert_allclose(s.var(), float(gmm.variance), rtol=0.03)
    np.testing.assert_allclose((s < 0).mean(), 0.25, atol=0.01)


def test_argument_errors_match_torch():
    cases = [
        lambda D, T: D.MultivariateNormal(T.tensor(0.0), T.eye(2)),
        lambda D, T: D.MultivariateNormal(T.zeros(2)),
        lambda D, T: D.MultivariateNormal(T.zeros(2), T.eye(2), scale_tril=T.eye(2)),
        lambda D, T: D.MultivariateNormal(T.zeros(2), scale_tril=T.ones(2)),
        lambda D, T: D.MultivariateNormal(T.zeros(2), T.tensor([[1.0, 2.0], [2.0, 1.0]])),
        lambda D, T: D.MultivariateNormal(T.zeros(2), scale_tril=T.tensor([[1.0, 1.0], [0.0, 1.0]])),
        lambda D, T: D.MultivariateNormal(T.zeros(2), T.eye(2)).log_prob(T.zeros(3)),
        lambda D, T: D.MultivariateNormal(T.zeros(4, 2), T.eye(2)).log_prob(T.zeros(3, 2)),
        lambda D, T: D.Independent(D.Normal(T.zeros(2), T.ones(2)), 2),
        lambda D, T: D.MixtureSameFamily(D.Categorical(T.ones(3)), D.Normal(T.zeros(2), T.ones(2))),
        lambda D, T: D.MixtureSameFamily(D.Normal(T.zeros(2), T.ones(2)), D.Normal(T.zeros(2), T.ones(2))),
        lambda D, T: D.MixtureSameFamily(D.Categorical(T.ones(3, 2)), D.Normal(T.zeros(4, 2), T.ones(4, 2))),
    ]
    for make in cases:
        with pytest.raises(ValueError) as te:
            make(TD, torch)
        with pytest.raises(ValueError) as fe:
            make(FD, flambeau)
        want = str(te.value).split("\n")[0].replace("torch.", "flambeau.")
        got = str(fe.value).split("\n")[0]
        assert got == want
    # validate_args=False skips the checks, as in PyTorch
    FD.MultivariateNormal(flambeau.zeros(2), scale_tril=flambeau.tensor([[1.0, 1.0], [0.0, 1.0]]),
                          validate_args=False)
