"""Distribution.expand, arg_constraints, support, enumerate_support and icdf of flambeau.distributions
against torch.distributions: the expanded distribution's shapes, log_prob, entropy and moments; the
supports' checks; a TransformedDistribution whose transforms broadcast the base (PyTorch expands it)."""
import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a.detach().numpy() if hasattr(a, "detach") else a),
                               np.asarray(b.detach().numpy() if hasattr(b, "detach") else b), atol=tol, rtol=tol)


def _families(m, D, rng_state):
    rs = np.random.RandomState(rng_state)
    t = lambda *shape, lo=0.2, hi=2.0: m.tensor(rs.uniform(lo, hi, shape).astype(np.float64))
    return {
        "Normal": (D.Normal(t(1, 3, lo=-1), t(3)), (4, 3)),
        "Uniform": (D.Uniform(t(3, lo=-2, hi=-1), t(3)), (2, 3)),
        "Bernoulli": (D.Bernoulli(probs=t(3, lo=0.1, hi=0.9)), (2, 3)),
        "Categorical": (D.Categorical(logits=t(1, 4, lo=-1)), (5, 1)),
        "Gamma": (D.Gamma(t(3), t(3)), (2, 3)),
        "Dirichlet": (D.Dirichlet(t(1, 3)), (4, 1)),
        "Beta": (D.Beta(t(3), t(3)), (2, 3)),
        "MultivariateNormal": (D.MultivariateNormal(t(2, lo=-1), scale_tril=m.diag(t(2))), (3,)),
        "Independent": (D.Independent(D.Normal(t(1, 2, lo=-1), t(1, 2)), 1), (4,)),
        "OneHotCategorical": (D.OneHotCategorical(probs=t(3)), (2,)),
        "MixtureSameFamily": (D.MixtureSameFamily(D.Categorical(logits=t(3, lo=-1)),
                                                  D.Normal(t(3, lo=-1), t(3))), (4,)),
        "LogNormal": (D.LogNormal(t(1, lo=-1), t(1)), (3, 2)),
    }


@pytest.mark.parametrize("name", sorted(_families(torch, TD, 0)))
def test_expand_matches_torch(name):
    td, shape = _families(torch, TD, 0)[name]
    fd, _ = _families(flambeau, FD, 0)[name]
    te, fe = td.expand(shape), fd.expand(shape)
    assert type(fe) is type(fd)
    assert tuple(fe.batch_shape) == tuple(te.batch_shape) == shape
    assert tuple(fe.event_shape) == tuple(te.event_shape)
    flambeau.manual_seed(0)
    torch.manual_seed(0)
    ts = te.sample((2,))
    fs = fe.sample((2,))
    assert tuple(fs.shape) == tuple(ts.shape)
    close(fe.log_prob(flambeau.tensor(ts.numpy())), te.log_prob(ts))
    if name not in ("MixtureSameFamily",):
        close(fe.entropy(), te.entropy())
    if name not in ("Categorical",):
        close(fe.mean, te.mean)
    assert fd.batch_shape != fe.batch_shape or shape == tuple(fd.batch_shape)  # the original is unchanged
    bad = (7, 5, 9)  # incompatible with most batch shapes here: raises where PyTorch raises
    try:
        td.expand(bad)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            fd.expand(bad)
    else:
        assert tuple(fd.expand(bad).batch_shape) == bad


def test_support_and_arg_constraints_match_torch():
    fam_t, fam_f = _families(torch, TD, 1), _families(flambeau, FD, 1)
    for name in fam_t:
        td, fd = fam_t[name][0], fam_f[name][0]
        assert type(fd.support).__name__ == type(td.support).__name__, name
        assert fd.support.event_dim == td.support.event_dim, name
        assert sorted(fd.arg_constraints) == sorted(td.arg_constraints), name
        assert fd.has_enumerate_support == td.has_enumerate_support, name
        ts = td.sample((3,))
        np.testing.assert_array_equal(fd.support.check(flambeau.tensor(ts.numpy())).numpy(),
                                      td.support.check(ts).numpy(), err_msg=name)


def test_icdf_and_enumerate_support():
    q = np.array([0.01, 0.3, 0.5, 0.97])
    tn, fn = TD.Normal(torch.tensor(1.5), torch.tensor(2.0)), FD.Normal(flambeau.tensor(1.5), flambeau.tensor(2.0))
    close(fn.icdf(flambeau.tensor(q, dtype=flambeau.float32)), tn.icdf(torch.tensor(q, dtype=torch.float32)))
    tu, fu = TD.Uniform(-1.0, 3.0), FD.Uniform(-1.0, 3.0)
    close(fu.icdf(flambeau.tensor(q)), tu.icdf(torch.tensor(q)))
    tb, fb = TD.Bernoulli(torch.full((2, 3), 0.3)), FD.Bernoulli(flambeau.full((2, 3), 0.3))
    close(fb.enumerate_support(), tb.enumerate_support())
    close(fb.enumerate_support(expand=False), tb.enumerate_support(expand=False))
    with pytest.raises(NotImplementedError):
        FD.Gamma(1.0, 1.0).icdf(flambeau.tensor(0.5))


def test_transformed_distribution_expands_a_broadcast_base():
    tt = TD.TransformedDistribution(TD.Normal(0.0, 1.0), TD.transforms.AffineTransform(torch.zeros(3),
                                                                                       torch.tensor([1.0, 2.0, 3.0])))
    ft = FD.TransformedDistribution(FD.Normal(0.0, 1.0), FD.transforms.AffineTransform(
        flambeau.zeros(3), flambeau.tensor([1.0, 2.0, 3.0])))
    assert tuple(ft.batch_shape) == tuple(tt.batch_shape) == (3,)
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    close(ft.log_prob(flambeau.tensor(x)), tt.log_prob(torch.tensor(x)))
    close(ft.expand((2, 3)).log_prob(flambeau.tensor(x)), tt.expand((2, 3)).log_prob(torch.tensor(x)))


def test_set_default_validate_args():
    bad = [lambda D, T: D.Normal(T.tensor(0.0), T.tensor(-1.0)),
           lambda D, T: D.Bernoulli(probs=T.tensor(1.5)),
           lambda D, T: D.Categorical(probs=T.tensor([-1.0, 2.0])),
           lambda D, T: D.Gamma(T.tensor(-1.0), T.tensor(1.0)),
           lambda D, T: D.MultivariateNormal(T.zeros(2), scale_tril=T.tensor([[1.0, 1.0], [0.0, 1.0]]))]
    for D, T in ((TD, torch), (FD, flambeau)):
        try:
            D.Distribution.set_default_validate_args(False)
            for make in bad:
                assert make(D, T)._validate_args is False
            assert D.Normal(T.tensor(0.0), T.tensor(1.0), validate_args=True)._validate_args is True
        finally:
            D.Distribution.set_default_validate_args(True)
        for make in bad:
            with pytest.raises(ValueError):
                make(D, T)
    with pytest.raises(ValueError):
        FD.Distribution.set_default_validate_args(3)


def test_module_paths_match_torch():
    # scripts import from the per-family modules: from torch.distributions.kl import kl_divergence, ...
    import importlib
    for path, names in {"kl": ["kl_divergence", "register_kl"], "normal": ["Normal"], "categorical": ["Categorical"],
                        "bernoulli": ["Bernoulli"], "uniform": ["Uniform"], "beta": ["Beta"], "gamma": ["Gamma"],
                        "dirichlet": ["Dirichlet"], "independent": ["Independent"], "distribution": ["Distribution"],
                        "mixture_same_family": ["MixtureSameFamily"], "log_normal": ["LogNormal"],
                        "one_hot_categorical": ["OneHotCategorical"], "multivariate_normal": ["MultivariateNormal"],
                        "relaxed_categorical": ["RelaxedOneHotCategorical", "ExpRelaxedCategorical"],
                        "relaxed_bernoulli": ["RelaxedBernoulli", "LogitRelaxedBernoulli"],
                        "transformed_distribution": ["TransformedDistribution"],
                        "transforms": ["TanhTransform", "Transform"], "constraints": ["real", "interval"],
                        "utils": ["logits_to_probs", "probs_to_logits", "clamp_probs", "broadcast_all"]}.items():
        tm = importlib.import_module("torch.distributions." + path)
        fm = importlib.import_module("flambeau.distributions." + path)
        for n in names:
            assert hasattr(tm, n) and hasattr(fm, n), (path, n)
    import flambeau.distributions.utils as FU
    import torch.distributions.utils as TU
    x = np.array([[0.1, 0.6, 0.3]], dtype=np.float32)
    close(FU.probs_to_logits(flambeau.tensor(x)), TU.probs_to_logits(torch.tensor(x)))
    close(FU.logits_to_probs(flambeau.tensor(x), is_binary=True), TU.logits_to_probs(torch.tensor(x), is_binary=True))
    close(FU.clamp_probs(flambeau.tensor([0.0, 1.0])), TU.clamp_probs(torch.tensor([0.0, 1.0])))
    a, b = FU.broadcast_all(2.0, flambeau.zeros(3, dtype=flambeau.float64))
    assert tuple(a.shape) == (3,) and a.dtype == flambeau.float64
