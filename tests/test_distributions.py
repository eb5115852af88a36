"""flambeau.distributions against torch.distributions: log_prob, entropy, cdf, moments and KL on the
same parameters (float32 and float64), gradients of log_prob and of rsample in the parameters,
sample shapes and moments of many draws, argument validation messages."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD
from helpers import assert_close


def both(arr, requires_grad=False):
    t = torch.tensor(arr, requires_grad=requires_grad)
    f = flambeau.tensor(np.array(arr), requires_grad=requires_grad)
    return t, f


def close(a, b, dtype):
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-11)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal(dtype, rng):
    loc = rng.standard_normal((3, 4)).astype(dtype)
    scale = (rng.random((4,)) + 0.5).astype(dtype)
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    tl, fl_ = both(loc, True)
    ts, fs = both(scale, True)
    td, fd = TD.Normal(tl, ts), FD.Normal(fl_, fs)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == ()
    for name in ("mean", "variance", "stddev", "mode"):
        close(getattr(fd, name), getattr(td, name), dtype)
    tv, fv = both(x)
    close(fd.log_prob(fv), td.log_prob(tv), dtype)
    close(fd.cdf(fv), td.cdf(tv), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    (td.log_prob(tv).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum()).backward()
    close(fl_.grad, tl.grad, dtype)
    close(fs.grad, ts.grad, dtype)


def test_normal_rsample_is_differentiable_and_has_the_moments():
    flambeau.manual_seed(0)
    loc = flambeau.tensor([1.0, -2.0], requires_grad=True)
    scale = flambeau.tensor([0.5, 3.0], requires_grad=True)
    d = FD.Normal(loc, scale)
    s = d.rsample((20000,))
    assert tuple(s.shape) == (20000, 2)
    s.sum().backward()
    assert loc.grad.tolist() == [20000.0, 20000.0]  # d(loc + eps scale)/d loc = 1 per draw
    eps = (s.detach() - loc.detach()) / scale.detach()
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy(), rtol=1e-3, atol=1e-2)
    m, sd = s.detach().mean(0).numpy(), s.detach().std(0).numpy()
    np.testing.assert_allclose(m, [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(sd, [0.5, 3.0], rtol=0.03)
    assert not d.sample((3,)).requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform(dtype):
    tlo, flo = both(np.array([0.0, -1.0], dtype))
    thi, fhi = both(np.array([2.0, 3.0], dtype))
    td, fd = TD.Uniform(tlo, thi), FD.Uniform(flo, fhi)
    tv, fv = both(np.array([[0.5, 2.5], [1.9, 0.0]], dtype))
    close(fd.log_prob(fv), td.log_prob(tv), dtype)
    close(fd.cdf(fv), td.cdf(tv), dtype)
    outside = np.array([[0.5, 4.0]], dtype)
    with pytest.raises(ValueError, match="to be within the support"):
        td.log_prob(torch.tensor(outside))
    with pytest.raises(ValueError, match="to be within the support"):
        fd.log_prob(flambeau.tensor(outside))
    no_check = FD.Uniform(flo, fhi, validate_args=False).log_prob(flambeau.tensor(outside))
    assert no_check.tolist()[0][1] == float("-inf")
    for name in ("mean", "variance", "stddev"):
        close(getattr(fd, name), getattr(td, name), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    s = fd.sample((5000,))
    assert bool((s >= flo).all()) and bool((s < fhi).all())


@pytest.mark.parametrize("use_logits", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli(use_logits, dtype, rng):
    p = rng.random((3, 5)).astype(dtype)
    arg = np.log(p) - np.log1p(-p) if use_logits else p
    ta, fa = both(arg.astype(dtype), True)
    kw = "logits" if use_logits else "probs"
    td, fd = TD.Bernoulli(**{kw: ta}), FD.Bernoulli(**{kw: fa})
    x = (rng.random((3, 5)) < 0.5).astype(dtype)
    tv, fv = both(x)
    close(fd.log_prob(fv), td.log_prob(tv), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    close(fd.mean, td.mean, dtype)
    close(fd.variance, td.variance, dtype)
    (td.log_prob(tv).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum()).backward()
    close(fa.grad, ta.grad, dtype)
    flambeau.manual_seed(1)
    s = FD.Bernoulli(probs=flambeau.tensor([0.1, 0.9])).sample((20000,))
    np.testing.assert_allclose(s.mean(0).numpy(), [0.1, 0.9], atol=0.015)


@pytest.mark.parametrize("use_logits", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_categorical(use_logits, dtype, rng):
    arg = rng.standard_normal((2, 3, 6)).astype(dtype)
    if not use_logits:
        arg = np.exp(arg)  # unnormalised probabilities
    ta, fa = both(arg, True)
    kw = "logits" if use_logits else "probs"
    td, fd = TD.Categorical(**{kw: ta}), FD.Categorical(**{kw: fa})
    assert tuple(fd.batch_shape) == (2, 3)
    close(fd.probs, td.probs, dtype)
    close(fd.logits, td.logits, dtype)
    v = rng.integers(0, 6, (4, 2, 3))
    tv, fv = torch.tensor(v), flambeau.tensor(v)
    close(fd.log_prob(fv), td.log_prob(tv), dtype)
    close(fd.entropy(), td.entropy(), dtype)
    assert fd.mode.tolist() == td.mode.tolist()
    (td.log_prob(tv).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum()).backward()
    close(fa.grad, ta.grad, dtype)
    assert tuple(fd.sample().shape) == (2, 3) and tuple(fd.sample((7,)).shape) == (7, 2, 3)
    assert tuple(fd.enumerate_support().shape) == tuple(td.enumerate_support().shape)


def test_categorical_sample_frequencies():
    flambeau.manual_seed(2)
    d = FD.Categorical(probs=flambeau.tensor([0.2, 0.5, 0.3]))
    s = d.sample((30000,))
    freq = np.bincount(s.numpy(), minlength=3) / 30000
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.015)


def test_kl_divergences_match_torch(rng):
    a, b = rng.standard_normal((2, 4)), rng.random((2, 4)) + 0.3
    pt, pf = TD.Normal(torch.tensor(a[0]), torch.tensor(b[0])), FD.Normal(flambeau.tensor(a[0]), flambeau.tensor(b[0]))
    qt, qf = TD.Normal(torch.tensor(a[1]), torch.tensor(b[1])), FD.Normal(flambeau.tensor(a[1]), flambeau.tensor(b[1]))
    close(FD.kl_divergence(pf, qf), TD.kl_divergence(pt, qt), np.float64)
    la, lb = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    close(FD.kl_divergence(FD.Categorical(logits=flambeau.tensor(la)), FD.Categorical(logits=flambeau.tensor(lb))),
          TD.kl_divergence(TD.Categorical(logits=torch.tensor(la)), TD.Categorical(logits=torch.tensor(lb))), np.float64)
    pa, pb = np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.0, 0.7])
    close(FD.kl_divergence(FD.Bernoulli(probs=flambeau.tensor(pa)), FD.Bernoulli(probs=flambeau.tensor(pb))),
          TD.kl_divergence(TD.Bernoulli(probs=torch.tensor(pa)), TD.Bernoulli(probs=torch.tensor(pb))), np.float64)
    ut = TD.kl_divergence(TD.Uniform(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])),
                          TD.Uniform(torch.tensor([-1.0, 0.5]), torch.tensor([2.0, 2.0])))
    uf = FD.kl_divergence(FD.Uniform(flambeau.tensor([0.0, 0.0]), flambeau.tensor([1.0, 1.0])),
                          FD.Uniform(flambeau.tensor([-1.0, 0.5]), flambeau.tensor([2.0, 2.0])))
    close(uf, ut, np.float32)
    # PyTorch registers Normal || Uniform as +inf (the Normal's support is wider); Normal || Categorical has none
    assert np.isinf(FD.kl_divergence(pf, FD.Uniform(0.0, 1.0)).numpy()).all()
    with pytest.raises(NotImplementedError, match="No KL"):
        FD.kl_divergence(pf, FD.Categorical(logits=flambeau.tensor(la)))


def test_vae_style_loss_gradients_match_torch(rng):
    mu, logvar = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) * 0.3
    tm, fm = both(mu, True)
    tlv, flv = both(logvar, True)
    t = TD.kl_divergence(TD.Normal(tm, (0.5 * tlv).exp()), TD.Normal(torch.zeros(3, dtype=torch.float64), 1.0)).sum()
    f = FD.kl_divergence(FD.Normal(fm, (0.5 * flv).exp()),
                         FD.Normal(flambeau.zeros(3, dtype=flambeau.float64), 1.0)).sum()
    t.backward()
    f.backward()
    close(f, t, np.float64)
    close(fm.grad, tm.grad, np.float64)
    close(flv.grad, tlv.grad, np.float64)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"Expected parameter scale .* to satisfy the constraint GreaterThan"):
        FD.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match=r"Expected parameter probs .* Interval"):
        FD.Bernoulli(probs=flambeau.tensor([1.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        FD.Categorical()
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        FD.Bernoulli(probs=flambeau.tensor([0.5]), logits=flambeau.tensor([0.0]))
    with pytest.raises(ValueError, match="must be at least one-dimensional"):
        FD.Categorical(logits=flambeau.tensor(1.0))
    with pytest.raises(ValueError, match=r"Expected parameter low"):
        FD.Uniform(1.0, 0.0)
    FD.Normal(0.0, -1.0, validate_args=False)  # accepted when asked


def test_sample_support_validation():
    with pytest.raises(ValueError, match="Boolean"):
        FD.Bernoulli(probs=flambeau.tensor([0.5])).log_prob(flambeau.tensor([0.5]))
    with pytest.raises(ValueError, match="IntegerInterval"):
        FD.Categorical(logits=flambeau.zeros(3)).log_prob(flambeau.tensor(3))


def test_kl_divergence_finds_the_closest_registered_base_pair(rng):
    # as PyTorch's: a subclass without its own pair uses its base class's; an ambiguous match warns
    class MyNormal(FD.Normal):
        pass

    class MyTorchNormal(TD.Normal):
        pass

    a, b = rng.standard_normal(3), rng.random(3) + 0.5
    close(FD.kl_divergence(MyNormal(flambeau.tensor(a), flambeau.tensor(b)), FD.Normal(0.0, 1.0)),
          TD.kl_divergence(MyTorchNormal(torch.tensor(a), torch.tensor(b)), TD.Normal(0.0, 1.0)), np.float64)

    class P(FD.Normal):
        pass

    class Q(FD.Normal):
        pass

    FD.register_kl(P, FD.Normal)(lambda p, q: flambeau.zeros(3))
    FD.register_kl(FD.Normal, Q)(lambda p, q: flambeau.ones(3))
    with pytest.warns(RuntimeWarning, match="Ambiguous kl_divergence"):
        FD.kl_divergence(P(flambeau.tensor(a), 1.0), Q(flambeau.tensor(a), 1.0))
    FD.register_kl(P, Q)(lambda p, q: flambeau.full((3,), 2.0))  # breaking the tie clears the memo
    assert FD.kl_divergence(P(flambeau.tensor(a), 1.0), Q(flambeau.tensor(a), 1.0)).tolist() == [2.0] * 3
