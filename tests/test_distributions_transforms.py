"""flambeau.distributions.transforms / constraints / TransformedDistribution / LogNormal against PyTorch's:
forward, inverse and log|det J| of each transform, caching (t.inv(t(x)) is x with cache_size=1), composed
transforms, a user Transform subclass (pytorch_sac's TanhTransform), log_prob / rsample gradients of
tanh-squashed and affine-sigmoid transformed Normals, constraint checks and reprs."""
import math

import numpy as np
import pytest
import torch
import torch.distributions as TD

import flambeau
import flambeau.distributions as FD


def both(arr, requires_grad=False):
    return (torch.tensor(arr, requires_grad=requires_grad),
            flambeau.tensor(np.array(arr), requires_grad=requires_grad))


def close(a, b, tol=2e-5):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=tol, rtol=tol)


TRANSFORMS = [
    ("ExpTransform", (), lambda r: r.standard_normal((3, 4))),
    ("SigmoidTransform", (), lambda r: r.standard_normal((3, 4))),
    ("TanhTransform", (), lambda r: r.standard_normal((3, 4))),
    ("SoftplusTransform", (), lambda r: r.standard_normal((3, 4))),
    ("AffineTransform", (0.5, -2.0), lambda r: r.standard_normal((3, 4))),
    ("PowerTransform", (2.5,), lambda r: r.random((3, 4)) + 0.2),
]


@pytest.mark.parametrize("name,args,draw", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transform_forward_inverse_logdet(name, args, draw, rng):
    x = draw(rng).astype(np.float32)
    targs = [torch.tensor(a) if name == "PowerTransform" else a for a in args]
    fargs = [flambeau.tensor(a) if name == "PowerTransform" else a for a in args]
    tt, ft = getattr(TD.transforms, name)(*targs), getattr(FD.transforms, name)(*fargs)
    tx, fx = both(x, True)
    ty, fy = tt(tx), ft(fx)
    close(fy, ty)
    close(ft.inv(fy.detach()), tt.inv(ty.detach()), 1e-4)
    tj, fj = tt.log_abs_det_jacobian(tx, ty), ft.log_abs_det_jacobian(fx, fy)
    close(fj, tj)
    (ty.sum() + tj.sum()).backward()
    (fy.sum() + fj.sum()).backward()
    close(fx.grad, tx.grad, 1e-4)
    assert repr(ft) == repr(tt)
    assert ft.bijective == tt.bijective
    assert repr(ft.domain) == repr(tt.domain) and repr(ft.codomain) == repr(tt.codomain)
    assert ft.inv.inv is ft and ft == getattr(FD.transforms, name)(*fargs)


def test_cache_returns_the_same_tensor():
    t = FD.transforms.TanhTransform(cache_size=1)
    x = flambeau.tensor([30.0, -30.0, 0.5])
    y = t(x)
    assert t.inv(y) is x  # atanh(1.0) would be inf; the cache gives x back
    assert FD.transforms.TanhTransform().inv(y)[0].item() == math.inf
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        FD.transforms.ExpTransform(cache_size=2)


def test_compose_transform(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    parts = lambda T: [T.AffineTransform(0.0, 2.0), T.SigmoidTransform(), T.AffineTransform(-1.0, 2.0)]
    tt, ft = TD.transforms.ComposeTransform(parts(TD.transforms)), FD.transforms.ComposeTransform(parts(FD.transforms))
    tx, fx = both(x)
    close(ft(fx), tt(tx))
    close(ft.log_abs_det_jacobian(fx, ft(fx)), tt.log_abs_det_jacobian(tx, tt(tx)), 1e-4)
    close(ft.inv(ft(fx)), tt.inv(tt(tx)), 1e-4)
    assert ft.sign == tt.sign == 1 and ft.bijective


def _squashed_normal(D, loc, scale, user_transform):
    if user_transform:
        # pytorch_sac's TanhTransform, a user subclass of Transform
        class TanhTransform(D.transforms.Transform):
            domain = D.constraints.real
            codomain = D.constraints.interval(-1.0, 1.0)
            bijective = True
            sign = +1

            def __init__(self, cache_size=1):
                super().__init__(cache_size=cache_size)

            @staticmethod
            def atanh(x):
                return 0.5 * (x.log1p() - (-x).log1p())

            def __eq__(self, other):
                return isinstance(other, TanhTransform)

            def _call(self, x):
                return x.tanh()

            def _inverse(self, y):
                return self.atanh(y)

            def log_abs_det_jacobian(self, x, y):
                return 2. * (math.log(2.) - x - (-2. * x).exp().log1p())
        t = TanhTransform()
    else:
        t = D.transforms.TanhTransform(cache_size=1)

    class SquashedNormal(D.transformed_distribution.TransformedDistribution):
        def __init__(self, loc, scale):
            self.loc = loc
            self.scale = scale
            self.base_dist = D.Normal(loc, scale)
            super().__init__(self.base_dist, [t])

        @property
        def mean(self):
            mu = self.loc
            for tr in self.transforms:
                mu = tr(mu)
            return mu
    return SquashedNormal(loc, scale)


@pytest.mark.parametrize("user_transform", [False, True])
def test_squashed_normal_log_prob_and_gradients(user_transform, rng):
    loc = rng.standard_normal((4, 2)).astype(np.float32)
    scale = (rng.random((4, 2)) + 0.3).astype(np.float32)
    y = np.tanh(rng.standard_normal((4, 2))).astype(np.float32)
    tl, fl_ = both(loc, True)
    ts, fs = both(scale, True)
    td, fd = _squashed_normal(TD, tl, ts, user_transform), _squashed_normal(FD, fl_, fs, user_transform)
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == ()
    ty, fy = both(y)
    tlp, flp = td.log_prob(ty).sum(-1, keepdim=True), fd.log_prob(fy).sum(-1, keepdim=True)
    close(flp, tlp, 1e-4)
    close(fd.mean, td.mean)
    tlp.sum().backward()
    flp.sum().backward()
    close(fl_.grad, tl.grad, 1e-4)
    close(fs.grad, ts.grad, 1e-4)
    # rsample is differentiable and its log_prob goes through the cache (finite at saturation)
    flambeau.manual_seed(0)
    a = fd.rsample()
    assert a.requires_grad and tuple(a.shape) == (4, 2) and bool((a.abs() <= 1).all())
    assert bool(flambeau.isfinite(fd.log_prob(a)).all())


def test_transformed_distribution_affine_sigmoid_and_lognormal(rng):
    x = (rng.random((6, 3)) * 0.9 + 0.05).astype(np.float64)
    tx, fx = both(x)
    tb = TD.Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    fb = FD.Normal(flambeau.zeros(3, dtype=flambeau.float64), flambeau.ones(3, dtype=flambeau.float64))
    td = TD.TransformedDistribution(tb, [TD.transforms.AffineTransform(0.3, 1.5), TD.transforms.SigmoidTransform()])
    fd = FD.TransformedDistribution(fb, [FD.transforms.AffineTransform(0.3, 1.5), FD.transforms.SigmoidTransform()])
    close(fd.log_prob(fx), td.log_prob(tx), 1e-10)
    close(fd.cdf(fx), td.cdf(tx), 1e-10)
    mv_t = TD.TransformedDistribution(TD.Independent(tb, 1), TD.transforms.ExpTransform())
    mv_f = FD.TransformedDistribution(FD.Independent(fb, 1), FD.transforms.ExpTransform())
    assert tuple(mv_f.event_shape) == (3,) and tuple(mv_f.batch_shape) == ()
    close(mv_f.log_prob(fx), mv_t.log_prob(tx), 1e-10)
    loc, scale = rng.standard_normal(3), rng.random(3) + 0.5
    tln, fln = TD.LogNormal(torch.tensor(loc), torch.tensor(scale)), FD.LogNormal(flambeau.tensor(loc),
                                                                                   flambeau.tensor(scale))
    for name in ("mean", "mode", "variance"):
        close(getattr(fln, name), getattr(tln, name), 1e-10)
    close(fln.entropy(), tln.entropy(), 1e-10)
    close(fln.log_prob(fx), tln.log_prob(tx), 1e-10)
    with pytest.raises(ValueError) as te:
        tln.log_prob(-tx)
    with pytest.raises(ValueError) as fe:
        fln.log_prob(-fx)
    assert "GreaterThan(lower_bound=0.0)" in str(te.value) and "GreaterThan(lower_bound=0.0)" in str(fe.value)
    with pytest.raises(ValueError, match="transforms must be a Transform or a list of Transforms"):
        FD.TransformedDistribution(fb, [1])


def test_constraints_check_and_repr():
    cases = [("real", [], [0.0, float("nan"), 1.0]), ("positive", [], [-1.0, 0.0, 2.0]),
             ("nonnegative", [], [-1.0, 0.0, 2.0]), ("unit_interval", [], [-0.1, 0.0, 1.0]),
             ("interval", [-1.0, 1.0], [-1.0, 1.5, 0.0]), ("half_open_interval", [0.0, 1.0], [0.0, 1.0, 0.5]),
             ("greater_than", [0.5], [0.5, 1.0, 0.0]), ("less_than", [0.5], [0.5, 0.0, 1.0]),
             ("boolean", [], [0.0, 1.0, 0.5]), ("nonnegative_integer", [], [0.0, 1.5, -1.0]),
             ("integer_interval", [0, 3], [0.0, 3.0, 4.0]), ("simplex", [], [0.2, 0.3, 0.5]),
             ("real_vector", [], [1.0, float("nan"), 0.0])]
    for name, args, values in cases:
        tc, fc = getattr(TD.constraints, name), getattr(FD.constraints, name)
        if args:
            tc, fc = tc(*args), fc(*args)
        assert repr(fc) == repr(tc) and fc.event_dim == tc.event_dim and fc.is_discrete == tc.is_discrete
        v = np.array(values)
        np.testing.assert_array_equal(fc.check(flambeau.tensor(v)).numpy(), tc.check(torch.tensor(v)).numpy())
    m = np.array([[[2.0, 0.0], [0.5, 1.0]], [[1.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]]])
    for name in ("lower_cholesky", "lower_triangular", "positive_definite", "symmetric", "square"):
        np.testing.assert_array_equal(getattr(FD.constraints, name).check(flambeau.tensor(m)).numpy(),
                                      getattr(TD.constraints, name).check(torch.tensor(m)).numpy(), err_msg=name)
    assert FD.constraints.is_dependent(FD.constraints.dependent)
    assert repr(FD.constraints.independent(FD.constraints.real, 2)) == repr(TD.constraints.independent(
        TD.constraints.real, 2))


def test_transformed_distribution_icdf(rng):
    # the base icdf pushed through the transforms; a decreasing transform (negative scale) flips the
    # probability first, so icdf stays increasing, as PyTorch's
    loc, scale = rng.standard_normal(4), rng.random(4) + 0.5
    u = rng.uniform(0.02, 0.98, (3, 4))
    tl, fl = both(loc, True)
    ts, fs = both(scale, True)
    tu, fu = both(u)
    close(FD.LogNormal(fl, fs).icdf(fu), TD.LogNormal(tl, ts).icdf(tu), 1e-10)
    t_flip = TD.TransformedDistribution(TD.Normal(tl, ts), [TD.AffineTransform(1.0, -2.0), TD.ExpTransform()])
    f_flip = FD.TransformedDistribution(FD.Normal(fl, fs), [FD.AffineTransform(1.0, -2.0), FD.ExpTransform()])
    t_out, f_out = t_flip.icdf(tu), f_flip.icdf(fu)
    close(f_out, t_out, 1e-10)
    close(f_flip.cdf(f_out), tu, 1e-10)
    t_out.sum().backward()
    f_out.sum().backward()
    close(fl.grad, tl.grad, 1e-10)
    close(fs.grad, ts.grad, 1e-10)
