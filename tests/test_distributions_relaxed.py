"""flambeau.distributions' one-hot and relaxed categoricals against torch.distributions: log_prob, entropy
and moments on the same parameters with gradients, rsample shapes, support and reparameterisation,
sample frequencies, the straight-through estimator's gradient."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD


def both(arr, requires_grad=False):
    return (torch.tensor(arr, requires_grad=requires_grad),
            flambeau.tensor(np.array(arr), requires_grad=requires_grad))


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=tol, rtol=tol)


@pytest.mark.parametrize("use_logits", [False, True])
def test_one_hot_categorical(use_logits, rng):
    p = rng.random((3, 4)).astype(np.float32) + 0.1
    tp, fp = both(np.log(p) if use_logits else p, True)
    key = "logits" if use_logits else "probs"
    td, fd = TD.OneHotCategorical(**{key: tp}), FD.OneHotCategorical(**{key: fp})
    assert tuple(fd.batch_shape) == (3,) and tuple(fd.event_shape) == (4,)
    v = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, 3))]
    tv, fv = both(v)
    close(fd.log_prob(fv), td.log_prob(tv))
    close(fd.entropy(), td.entropy())
    for name in ("mean", "mode", "variance", "probs", "logits"):
        close(getattr(fd, name), getattr(td, name))
    (td.log_prob(tv).sum() + td.entropy().sum()).backward()
    (fd.log_prob(fv).sum() + fd.entropy().sum()).backward()
    close(fp.grad, tp.grad)
    close(fd.enumerate_support(), td.enumerate_support())
    with pytest.raises(ValueError):
        fd.log_prob(flambeau.full((3, 4), 0.5))


def test_one_hot_sample_frequencies_and_straight_through():
    flambeau.manual_seed(0)
    d = FD.OneHotCategorical(probs=flambeau.tensor([0.2, 0.5, 0.3]))
    s = d.sample((8000,))
    assert tuple(s.shape) == (8000, 3) and s.dtype == flambeau.float32
    np.testing.assert_allclose(s.numpy().mean(0), [0.2, 0.5, 0.3], atol=0.02)
    probs = flambeau.tensor([0.2, 0.5, 0.3], requires_grad=True)
    st = FD.OneHotCategoricalStraightThrough(probs=probs)
    r = st.rsample((4,))
    assert set(np.unique(r.detach().numpy())) <= {0.0, 1.0}
    (r * flambeau.tensor([1.0, 2.0, 3.0])).sum().backward()
    # d(sample + probs - probs.detach())/d probs, through the normalisation probs / probs.sum()
    tprobs = torch.tensor([0.2, 0.5, 0.3], requires_grad=True)
    (4 * (TD.Categorical(probs=tprobs).probs * torch.tensor([1.0, 2.0, 3.0]))).sum().backward()
    close(probs.grad, tprobs.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relaxed_one_hot_categorical(dtype, rng):
    logits = rng.standard_normal((2, 4)).astype(dtype)
    temp = np.array(0.7, dtype=dtype)
    tl, fl_ = both(logits, True)
    tt, ft = both(temp, True)
    td, fd = TD.RelaxedOneHotCategorical(tt, logits=tl), FD.RelaxedOneHotCategorical(ft, logits=fl_)
    te, fe = TD.relaxed_categorical.ExpRelaxedCategorical(tt, logits=tl), \
        FD.relaxed.ExpRelaxedCategorical(ft, logits=fl_)
    x = rng.random((5, 2, 4)).astype(dtype) + 0.05
    x /= x.sum(-1, keepdims=True)
    tx, fx = both(x)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    close(fd.log_prob(fx), td.log_prob(tx), tol)
    close(fe.log_prob(fx.log()), te.log_prob(tx.log()), tol)
    (td.log_prob(tx).sum() + te.log_prob(tx.log()).sum()).backward()
    (fd.log_prob(fx).sum() + fe.log_prob(fx.log()).sum()).backward()
    close(fl_.grad, tl.grad, tol)
    close(ft.grad, tt.grad, tol)
    flambeau.manual_seed(0)
    r = fd.rsample((3,))
    assert tuple(r.shape) == (3, 2, 4) and r.requires_grad
    np.testing.assert_allclose(r.detach().numpy().sum(-1), 1.0, atol=1e-5)


def test_relaxed_argmax_frequencies_are_the_categorical_probs():
    flambeau.manual_seed(1)
    d = FD.RelaxedOneHotCategorical(0.3, probs=flambeau.tensor([0.1, 0.6, 0.3]))
    s = d.sample((8000,))
    freq = np.bincount(s.argmax(-1).numpy(), minlength=3) / 8000
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3], atol=0.02)  # Gumbel-max: exact for every temperature


def test_relaxed_bernoulli(rng):
    probs = (rng.random(5) * 0.8 + 0.1).astype(np.float64)
    tp, fp = both(probs, True)
    td, fd = TD.RelaxedBernoulli(torch.tensor(0.5, dtype=torch.float64), probs=tp), \
        FD.RelaxedBernoulli(flambeau.tensor(0.5, dtype=flambeau.float64), probs=fp)
    x = rng.random((3, 5)) * 0.9 + 0.05
    tx, fx = both(x)
    close(fd.log_prob(fx), td.log_prob(tx), 1e-10)
    td.log_prob(tx).sum().backward()
    fd.log_prob(fx).sum().backward()
    close(fp.grad, tp.grad, 1e-10)
    tlr = TD.relaxed_bernoulli.LogitRelaxedBernoulli(torch.tensor(0.5, dtype=torch.float64), logits=torch.tensor(probs))
    flr = FD.relaxed.LogitRelaxedBernoulli(flambeau.tensor(0.5, dtype=flambeau.float64), logits=flambeau.tensor(probs))
    close(flr.log_prob(fx), tlr.log_prob(tx), 1e-10)
    flambeau.manual_seed(0)
    s = FD.RelaxedBernoulli(0.1, probs=flambeau.full((8000,), 0.3)).sample()
    assert bool(((s >= 0) & (s <= 1)).all())
    np.testing.assert_allclose((s > 0.5).float().mean().item(), 0.3, atol=0.02)
