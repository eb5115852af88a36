"""flambeau.distributions.LowRankMultivariateNormal, Wishart and LKJCholesky against torch.distributions:
log_prob, entropy, moments and the derived matrices with their gradients (float32 / float64, broadcast
batches), the LowRankMVN KL pairs, rsample shapes, statistics and gradients, validation errors; LKJ draws
checked against the LKJ distribution's known marginals (where PyTorch's sampler is off, see
lowrank_wishart_lkj.py)."""
import warnings

import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}
GTOL = {np.float32: dict(rtol=1e-3, atol=1e-4), np.float64: dict(rtol=1e-8, atol=1e-9)}


def pair(arr, dtype, requires_grad=False):
    arr = np.asarray(arr, dtype=dtype)
    return torch.tensor(arr, requires_grad=requires_grad), flambeau.tensor(arr, requires_grad=requires_grad)


def close(a, b, tol):
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_allclose(np.asarray(a.detach().numpy(), dtype=np.float64),
                               np.asarray(b.detach().numpy(), dtype=np.float64), **tol)


def spd(rng, batch, n):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lowrank_mvn_matches_torch(dtype, rng):
    loc, W, D = rng.standard_normal((2, 1, 4)), rng.standard_normal((3, 4, 2)), rng.uniform(0.5, 2.0, (4,))
    (tl, fl), (tw, fw), (tD, fD) = pair(loc, dtype, True), pair(W, dtype, True), pair(D, dtype, True)
    td, fd = TD.LowRankMultivariateNormal(tl, tw, tD), FD.LowRankMultivariateNormal(fl, fw, fD)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) == (2, 3)
    assert tuple(fd.event_shape) == (4,)
    for name in ("mean", "mode", "variance", "stddev", "scale_tril", "covariance_matrix", "precision_matrix"):
        close(getattr(fd, name), getattr(td, name), TOL[dtype])
    tv, fv = pair(rng.standard_normal((5, 2, 3, 4)), dtype)
    close(fd.log_prob(fv), td.log_prob(tv), TOL[dtype])
    close(fd.entropy(), td.entropy(), TOL[dtype])
    (td.log_prob(tv).sum() + td.entropy().sum() + td.precision_matrix.sum() + td.scale_tril.sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum() + fd.precision_matrix.sum() + fd.scale_tril.sum()).backward()
    for t, f in ((tl, fl), (tw, fw), (tD, fD)):
        close(f.grad, t.grad, GTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lowrank_mvn_kl(dtype, rng):
    n = 3
    mk = lambda lib, T: lib.LowRankMultivariateNormal(T(rng.standard_normal((2, n))), T(rng.standard_normal((n, 2))),
                                                      T(rng.uniform(0.5, 2, (n,))))
    mm = lambda lib, T: lib.MultivariateNormal(T(rng.standard_normal((2, n))), scale_tril=T(np.linalg.cholesky(
        spd(rng, (), n))))
    for build in (lambda lib, T: (mk(lib, T), mk(lib, T)), lambda lib, T: (mk(lib, T), mm(lib, T)),
                  lambda lib, T: (mm(lib, T), mk(lib, T))):
        leaves = {"t": [], "f": []}

        def leaf(key, make):
            def T(a):
                x = make(np.asarray(a, dtype=dtype))
                x.requires_grad_(True)
                leaves[key].append(x)
                return x
            return T
        state = rng.bit_generator.state
        tk = TD.kl_divergence(*build(TD, leaf("t", torch.tensor)))
        rng.bit_generator.state = state
        fk = FD.kl_divergence(*build(FD, leaf("f", flambeau.tensor)))
        close(fk, tk, TOL[dtype])
        tk.sum().backward()
        fk.sum().backward()
        for t, f in zip(leaves["t"], leaves["f"]):
            close(f.grad, t.grad, GTOL[dtype])
    p = FD.LowRankMultivariateNormal(flambeau.zeros(3), flambeau.ones(3, 1), flambeau.ones(3))
    q = FD.LowRankMultivariateNormal(flambeau.zeros(2), flambeau.ones(2, 1), flambeau.ones(2))
    with pytest.raises(ValueError, match="different event shapes"):
        FD.kl_divergence(p, q)


def test_lowrank_mvn_rsample_and_errors(rng):
    loc = flambeau.tensor([1.0, -2.0, 0.5], requires_grad=True)
    W = flambeau.tensor(rng.standard_normal((3, 2)), dtype=flambeau.float32, requires_grad=True)
    D = flambeau.tensor([0.5, 1.0, 2.0], requires_grad=True)
    d = FD.LowRankMultivariateNormal(loc, W, D)
    flambeau.manual_seed(0)
    x = d.rsample((40000,))
    assert tuple(x.shape) == (40000, 3) and x.requires_grad
    np.testing.assert_allclose(x.detach().numpy().mean(0), loc.detach().numpy(), atol=0.05)
    np.testing.assert_allclose(np.cov(x.detach().numpy().T), d.covariance_matrix.detach().numpy(), atol=0.08)
    x.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [40000.0] * 3)
    assert W.grad is not None and D.grad is not None
    assert tuple(d.expand((2, 5)).sample((4,)).shape) == (4, 2, 5, 3)
    with pytest.raises(ValueError, match="loc must be at least one-dimensional"):
        FD.LowRankMultivariateNormal(flambeau.tensor(0.0), flambeau.ones(1, 1), flambeau.ones(1))
    with pytest.raises(ValueError, match="cov_factor must be a batch of matrices with shape 3 x m"):
        FD.LowRankMultivariateNormal(flambeau.zeros(3), flambeau.ones(2, 1), flambeau.ones(3))
    with pytest.raises(ValueError, match="cov_diag must be a batch of vectors"):
        FD.LowRankMultivariateNormal(flambeau.zeros(3), flambeau.ones(3, 1), flambeau.ones(2))
    with pytest.raises(ValueError, match="Incompatible batch shapes"):
        FD.LowRankMultivariateNormal(flambeau.zeros(2, 3), flambeau.ones(4, 3, 1), flambeau.ones(3))
    with pytest.raises(ValueError, match="cov_diag"):
        FD.LowRankMultivariateNormal(flambeau.zeros(3), flambeau.ones(3, 1), flambeau.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(flambeau.tensor([float("nan"), 0.0, 0.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("param", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_wishart_matches_torch(param, dtype, rng):
    p = 3
    cov = spd(rng, (2,), p)
    mat = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov),
           "scale_tril": np.linalg.cholesky(cov)}[param]
    (tdf, fdf), (tm, fm) = pair([4.5, 7.0], dtype, True), pair(mat, dtype, True)
    td, fd = TD.Wishart(tdf, **{param: tm}), FD.Wishart(fdf, **{param: fm})
    assert tuple(fd.batch_shape) == (2,) and tuple(fd.event_shape) == (p, p)
    for name in ("mean", "mode", "variance", "scale_tril", "covariance_matrix", "precision_matrix"):
        close(getattr(fd, name), getattr(td, name), TOL[dtype])
    value = td.sample((4,)).detach().numpy()
    tv, fv = pair(value, dtype)
    close(fd.log_prob(fv), td.log_prob(tv), TOL[dtype])
    close(fd.entropy(), td.entropy(), TOL[dtype])
    (td.log_prob(tv).sum() + td.entropy().sum() + td.variance.sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum() + fd.variance.sum()).backward()
    close(fdf.grad, tdf.grad, GTOL[dtype])
    close(fm.grad, tm.grad, GTOL[dtype])


def test_wishart_rsample_errors_and_mode(rng):
    cov = spd(rng, (), 3)
    df = flambeau.tensor([5.0, 9.0], dtype=flambeau.float64, requires_grad=True)
    d = FD.Wishart(df, covariance_matrix=flambeau.tensor(cov))
    flambeau.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Singular sample" warning when none is singular
        x = d.rsample((20000,))
    assert tuple(x.shape) == (20000, 2, 3, 3) and bool(FD.constraints.positive_definite.check(x).all())
    np.testing.assert_allclose(x.detach().numpy().mean(0), d.mean.detach().numpy(), rtol=0.05, atol=0.2)
    np.testing.assert_allclose(x.detach().numpy().var(0), d.variance.detach().numpy(), rtol=0.15)
    x.diagonal(dim1=-2, dim2=-1).sum().backward()  # E[trace] = df * trace(cov): gradient close to trace(cov)
    np.testing.assert_allclose(df.grad.numpy() / 20000, np.trace(cov), rtol=0.05)
    assert np.isnan(FD.Wishart(flambeau.tensor(3.5), covariance_matrix=flambeau.eye(3)).mode.numpy()).all()
    with pytest.raises(ValueError, match="expected to be greater than ndim - 1 = 2"):
        FD.Wishart(flambeau.tensor(1.5), covariance_matrix=flambeau.eye(3))
    with pytest.raises(AssertionError, match="Exactly one of"):
        FD.Wishart(5.0, covariance_matrix=flambeau.eye(3), scale_tril=flambeau.eye(3))
    with pytest.raises(ValueError, match="covariance_matrix"):
        FD.Wishart(5.0, covariance_matrix=-flambeau.eye(3))
    with pytest.warns(UserWarning, match="Low df values detected"):
        FD.Wishart(flambeau.tensor(2.5), covariance_matrix=flambeau.eye(3))
    assert tuple(d.expand((4, 2)).sample((3,)).shape) == (3, 4, 2, 3, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lkj_cholesky_log_prob(dtype, rng):
    dim = 4
    (tc, fc) = pair(rng.uniform(0.3, 3.0, (3,)), dtype, True)
    td, fd = TD.LKJCholesky(dim, tc), FD.LKJCholesky(dim, fc)
    assert tuple(fd.batch_shape) == (3,) and tuple(fd.event_shape) == (dim, dim)
    value = torch.linalg.cholesky(torch.tensor(np.stack([np.corrcoef(rng.standard_normal((dim, 12)))
                                                         for _ in range(6)]).reshape(2, 3, dim, dim)))
    tv, fv = pair(value.numpy(), dtype)
    close(fd.log_prob(fv), td.log_prob(tv), TOL[dtype])
    td.log_prob(tv).sum().backward()
    fd.log_prob(fv).sum().backward()
    close(fc.grad, tc.grad, GTOL[dtype])
    assert not FD.LKJCholesky.has_rsample
    with pytest.raises(ValueError, match="dim to be an integer greater than or equal to 2"):
        FD.LKJCholesky(1)
    with pytest.raises(ValueError, match="concentration"):
        FD.LKJCholesky(3, flambeau.tensor([-1.0]))
    with pytest.raises(ValueError, match="support"):
        FD.LKJCholesky(3).log_prob(2 * flambeau.eye(3))


def test_lkj_cholesky_samples_follow_lkj():
    # every off-diagonal correlation of an LKJ(eta) matrix in dimension d is 2 Beta(b, b) - 1 with
    # b = eta - 1 + d / 2: variance 1 / (2 b + 1)
    flambeau.manual_seed(2)
    dim, eta = 5, flambeau.tensor([0.5, 2.0], dtype=flambeau.float64)
    d = FD.LKJCholesky(dim, eta)
    L = d.sample((30000,))
    assert tuple(L.shape) == (30000, 2, dim, dim) and bool(FD.constraints.corr_cholesky.check(L).all())
    C = (L @ L.mT).numpy()
    rows, cols = np.tril_indices(dim, -1)
    for k, e in enumerate((0.5, 2.0)):
        want = 1 / (2 * (e - 1 + dim / 2) + 1)
        var = C[:, k, rows, cols].var(0)
        np.testing.assert_allclose(var, want, rtol=0.06)
    assert tuple(d.expand((3, 2)).sample().shape) == (3, 2, dim, dim)
