"""flambeau.distributions' structured transforms (Reshape, Softmax, StickBreaking, LowerCholesky,
PositiveDefinite, CorrCholesky, Cat, Stack, CumulativeDistribution) and the biject_to / transform_to
registries against torch.distributions: values, inverses, log |det J| and their gradients on fresh random
inputs, shapes, domains, equality and caching; registry transforms land in their constraint's support."""
import numpy as np
import pytest
import torch
import torch.distributions as TD
import torch.distributions.constraints as TC
import torch.distributions.transforms as TT

import flambeau
import flambeau.distributions as FD
import flambeau.distributions.constraints as FC
import flambeau.distributions.transforms as FT

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


def close(a, b, dtype, **kw):
    tol = dict(TOL[dtype], **kw)
    np.testing.assert_allclose(np.asarray(a.detach().numpy(), dtype=np.float64),
                               np.asarray(b.detach().numpy(), dtype=np.float64), **tol)


def _lower(rng, shape):
    return np.tril(rng.standard_normal(shape))


# (name, factory(lib_transforms, lib) -> transform, input(rng) -> numpy x)
CASES = [
    ("reshape", lambda T, L: T.ReshapeTransform((2, 3), (6,)), lambda r: r.standard_normal((4, 2, 3))),
    ("softmax", lambda T, L: T.SoftmaxTransform(), lambda r: r.standard_normal((3, 5))),
    ("stick_breaking", lambda T, L: T.StickBreakingTransform(), lambda r: r.standard_normal((3, 4))),
    ("lower_cholesky", lambda T, L: T.LowerCholeskyTransform(), lambda r: r.standard_normal((2, 4, 4))),
    ("positive_definite", lambda T, L: T.PositiveDefiniteTransform(), lambda r: r.standard_normal((2, 3, 3))),
    ("corr_cholesky", lambda T, L: T.CorrCholeskyTransform(), lambda r: r.standard_normal((3, 6))),
    ("cat", lambda T, L: T.CatTransform([T.ExpTransform(), T.identity_transform, T.SigmoidTransform()], dim=1,
                                        lengths=[2, 1, 3]), lambda r: r.standard_normal((4, 6))),
    ("cat_event", lambda T, L: T.CatTransform([T.StickBreakingTransform(), T.StickBreakingTransform()], dim=0,
                                              lengths=[3, 2]), lambda r: r.standard_normal((5, 4))),
    ("stack", lambda T, L: T.StackTransform([T.ExpTransform(), T.TanhTransform(), T.AffineTransform(1., 3.)],
                                            dim=-1), lambda r: r.standard_normal((5, 3))),
    ("cdf", lambda T, L: T.CumulativeDistributionTransform(L.distributions.Normal(0.5, 2.0)),
     lambda r: r.standard_normal((7,))),
]
# not bijective: the inverse gives a representative, not x itself
NOT_INVERTIBLE_EXACTLY = {"softmax", "lower_cholesky", "positive_definite"}
NO_LOG_DET = {"softmax", "lower_cholesky", "positive_definite"}  # PyTorch has none either


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,factory,make_x", CASES, ids=[c[0] for c in CASES])
def test_transform_matches_torch(name, factory, make_x, dtype, rng):
    x = make_x(rng).astype(dtype)
    tt, ft = factory(TT, torch), factory(FT, flambeau)
    tx = torch.tensor(x, requires_grad=True)
    fx = flambeau.tensor(x, requires_grad=True)
    ty, fy = tt(tx), ft(fx)
    assert tuple(fy.shape) == tuple(ty.shape)
    close(fy, ty, dtype)
    assert tuple(ft.forward_shape(fx.shape)) == tuple(tt.forward_shape(tx.shape))
    assert tuple(ft.inverse_shape(fy.shape)) == tuple(tt.inverse_shape(ty.shape))
    assert ft.domain.event_dim == tt.domain.event_dim and ft.codomain.event_dim == tt.codomain.event_dim
    assert ft.bijective == tt.bijective
    assert bool(ft.codomain.check(fy).all())
    ty_leaf, fy_leaf = ty.detach(), fy.detach()  # not the cached output: the inverse really runs
    tinv, finv = tt.inv(ty_leaf), ft.inv(fy_leaf)
    close(finv, tinv, dtype, rtol=1e-4 if dtype == np.float32 else 1e-9, atol=1e-4 if dtype == np.float32 else 1e-9)
    if name not in NOT_INVERTIBLE_EXACTLY:
        close(finv, fx, dtype, rtol=1e-3 if dtype == np.float32 else 1e-8, atol=1e-3 if dtype == np.float32 else 1e-8)
    if name in NO_LOG_DET:
        with pytest.raises(NotImplementedError):
            ft.log_abs_det_jacobian(fx, fy)
        (ty.square().sum()).backward()
        (fy.square().sum()).backward()
    else:
        tl, fl = tt.log_abs_det_jacobian(tx, ty), ft.log_abs_det_jacobian(fx, fy)
        assert tuple(fl.shape) == tuple(tl.shape)
        close(fl, tl, dtype, rtol=1e-4 if dtype == np.float32 else 1e-9)
        (ty.square().sum() + tl.sum()).backward()
        (fy.square().sum() + fl.sum()).backward()
    close(fx.grad, tx.grad, dtype, rtol=1e-4 if dtype == np.float32 else 1e-8,
          atol=1e-4 if dtype == np.float32 else 1e-9)


def test_log_det_is_log_det_of_jacobian(rng):
    # StickBreaking (K -> K+1): the log-det is that of the Jacobian's first K rows, as PyTorch defines it;
    # CorrCholesky: the volume factor of the map to the strictly lower triangle
    x = rng.standard_normal(4)
    t = FT.StickBreakingTransform()
    j = torch.autograd.functional.jacobian(lambda v: TT.StickBreakingTransform()(v), torch.tensor(x))
    want = torch.linalg.slogdet(j[:-1])[1].item()
    got = t.log_abs_det_jacobian(flambeau.tensor(x), t(flambeau.tensor(x))).item()
    assert abs(got - want) < 1e-10


def test_transforms_in_transformed_distribution(rng):
    loc = rng.standard_normal(3)
    base_t = TD.Independent(TD.Normal(torch.tensor(loc), 1.0), 1)
    base_f = FD.Independent(FD.Normal(flambeau.tensor(loc), 1.0), 1)
    td = TD.TransformedDistribution(base_t, [TT.StickBreakingTransform()])
    fd = FD.TransformedDistribution(base_f, [FT.StickBreakingTransform()])
    assert tuple(fd.event_shape) == tuple(td.event_shape) == (4,)
    y = td.sample((5,))
    np.testing.assert_allclose(fd.log_prob(flambeau.tensor(y.numpy())).numpy(), td.log_prob(y).numpy(), rtol=1e-9)
    s = fd.sample((6,))
    assert tuple(s.shape) == (6, 4) and np.allclose(s.sum(-1).numpy(), 1)
    # CorrCholesky: a distribution over correlation Cholesky factors
    base_t = TD.Independent(TD.Normal(torch.zeros(6, dtype=torch.float64), 1.0), 1)
    base_f = FD.Independent(FD.Normal(flambeau.zeros(6, dtype=flambeau.float64), 1.0), 1)
    td = TD.TransformedDistribution(base_t, TT.CorrCholeskyTransform())
    fd = FD.TransformedDistribution(base_f, FT.CorrCholeskyTransform())
    assert tuple(fd.event_shape) == tuple(td.event_shape) == (4, 4)
    y = td.sample((3,))
    np.testing.assert_allclose(fd.log_prob(flambeau.tensor(y.numpy())).numpy(), td.log_prob(y).numpy(), rtol=1e-8)
    # Reshape
    td = TD.TransformedDistribution(TD.Normal(torch.zeros(2, 6), 1.0), [TT.ReshapeTransform((6,), (2, 3))])
    fd = FD.TransformedDistribution(FD.Normal(flambeau.zeros(2, 6), 1.0), [FT.ReshapeTransform((6,), (2, 3))])
    assert tuple(fd.batch_shape) == tuple(td.batch_shape) and tuple(fd.event_shape) == tuple(td.event_shape)
    y = td.sample()
    np.testing.assert_allclose(fd.log_prob(flambeau.tensor(y.numpy())).numpy(), td.log_prob(y).numpy(), rtol=1e-6)


def test_cat_stack_cdf_in_transformed_distribution():
    cases = [lambda T: [T.CatTransform([T.ExpTransform(), T.identity_transform], dim=-1, lengths=[1, 2])],
             lambda T: [T.StackTransform([T.ExpTransform(), T.SigmoidTransform()], dim=0)],
             lambda T: [T.CumulativeDistributionTransform(
                 (TD if T is TT else FD).Normal(0.5, 2.0)), T.AffineTransform(1.0, 3.0)]]
    for mk in cases:
        td = TD.TransformedDistribution(TD.Normal(torch.zeros(2, 3, dtype=torch.float64), 1.0), mk(TT))
        fd = FD.TransformedDistribution(FD.Normal(flambeau.zeros(2, 3, dtype=flambeau.float64), 1.0), mk(FT))
        assert tuple(fd.event_shape) == tuple(td.event_shape) and tuple(fd.batch_shape) == tuple(td.batch_shape)
        y = td.sample()  # (no sample dims: PyTorch's StackTransform(dim=0) would take them for its own dim)
        np.testing.assert_allclose(fd.log_prob(flambeau.tensor(y.numpy())).numpy(), td.log_prob(y).numpy(),
                                   rtol=1e-10, atol=1e-12)
        assert repr(fd.support) == repr(td.support)
        assert tuple(fd.sample().shape) == (2, 3)


def test_equality_caching_and_errors(rng):
    assert FT.StickBreakingTransform() == FT.StickBreakingTransform()
    assert FT.SoftmaxTransform() != FT.StickBreakingTransform()
    assert FT.CorrCholeskyTransform() == FT.CorrCholeskyTransform()
    assert FT.LowerCholeskyTransform() == FT.LowerCholeskyTransform()
    assert FD.identity_transform == FT.identity_transform
    t = FT.StickBreakingTransform(cache_size=1)
    x = flambeau.tensor(rng.standard_normal(3))
    y = t(x)
    assert t.inv(y) is x and t(x) is y
    assert FT.CatTransform([FT.ExpTransform()], 0, [2]).with_cache(1)._cache_size == 1
    assert FT.ReshapeTransform((2, 2), (4,)).with_cache(1).out_shape == flambeau.Size([4])
    with pytest.raises(ValueError, match="different numbers of elements"):
        FT.ReshapeTransform((2, 3), (5,))
    with pytest.raises(ValueError, match="flattened lower-diagonal"):
        FT.CorrCholeskyTransform().forward_shape((4,))
    with pytest.raises(ValueError, match="Shape mismatch"):
        FT.ReshapeTransform((2, 3), (6,)).forward_shape((3, 2))
    with pytest.raises(AssertionError, match="must equal length"):
        FT.CatTransform([FT.ExpTransform(), FT.ExpTransform()], 0, [2, 2])(flambeau.zeros(5))
    with pytest.raises(AssertionError, match="must equal len"):
        FT.StackTransform([FT.ExpTransform()], 0)(flambeau.zeros(2))
    assert isinstance(FT.ReshapeTransform.domain, FC.Constraint) and FC.is_dependent(FT.CatTransform.domain)


def test_structured_constraints(rng):
    L = np.linalg.cholesky(np.corrcoef(rng.standard_normal((3, 10))))
    assert bool(FC.corr_cholesky.check(flambeau.tensor(L))) and bool(TC.corr_cholesky.check(torch.tensor(L)))
    assert not bool(FC.corr_cholesky.check(flambeau.tensor(2 * L)))
    v = rng.standard_normal((4, 5))
    v[0, 1] = -1
    for lib_c, lib, T in ((FC, flambeau, flambeau.tensor), (TC, torch, torch.tensor)):
        c = lib_c.cat([lib_c.real, lib_c.positive], dim=1, lengths=[1, 4])
        s = lib_c.stack([lib_c.real, lib_c.positive, lib_c.real, lib_c.real, lib_c.real], dim=1)
        assert c.event_dim == 0 and s.event_dim == 0
        res = (c.check(T(v)).numpy(), s.check(T(v)).numpy())
        if lib is flambeau:
            got = res
        else:
            want = res
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


REGISTRY_CONSTRAINTS = [
    ("real", lambda C: C.real, (4,)),
    ("real_vector", lambda C: C.real_vector, (3, 4)),
    ("positive", lambda C: C.positive, (4,)),
    ("nonnegative", lambda C: C.nonnegative, (4,)),
    ("greater_than", lambda C: C.greater_than(1.5), (4,)),
    ("greater_than_eq", lambda C: C.greater_than_eq(-2.0), (4,)),
    ("less_than", lambda C: C.less_than(3.0), (4,)),
    ("unit_interval", lambda C: C.unit_interval, (4,)),
    ("interval", lambda C: C.interval(-1.0, 3.0), (4,)),
    ("half_open_interval", lambda C: C.half_open_interval(0.0, 2.0), (4,)),
    ("simplex", lambda C: C.simplex, (3, 4)),
    ("lower_cholesky", lambda C: C.lower_cholesky, (2, 3, 3)),
    ("positive_definite", lambda C: C.positive_definite, (2, 3, 3)),
    ("positive_semidefinite", lambda C: C.positive_semidefinite, (3, 3)),
    ("corr_cholesky", lambda C: C.corr_cholesky, (2, 6)),
    ("independent_positive", lambda C: C.independent(C.positive, 1), (3, 4)),
    ("cat", lambda C: C.cat([C.positive, C.unit_interval], dim=-1, lengths=[2, 3]), (2, 5)),
    ("stack", lambda C: C.stack([C.positive, C.less_than(0.0), C.real], dim=-1), (4, 3)),
]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
@pytest.mark.parametrize("name,make,shape", REGISTRY_CONSTRAINTS, ids=[c[0] for c in REGISTRY_CONSTRAINTS])
def test_registry_lands_in_support(registry, name, make, shape, rng):
    tc, fc = make(TC), make(FC)
    treg, freg = getattr(TD, registry), getattr(FD, registry)
    try:
        tt = treg(tc)
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            freg(fc)
        return
    ft = freg(fc)
    assert type(ft).__name__ == type(tt).__name__
    x = rng.standard_normal(shape)
    fy, ty = ft(flambeau.tensor(x)), tt(torch.tensor(x))
    np.testing.assert_allclose(fy.numpy(), ty.numpy(), rtol=1e-9, atol=1e-12)
    assert bool(fc.check(fy).all())
    if ft.bijective and name not in ("positive_semidefinite",):
        np.testing.assert_allclose(ft.inv(fy.detach().clone()).numpy(), x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ft.log_abs_det_jacobian(flambeau.tensor(x), fy).numpy(),
                                   tt.log_abs_det_jacobian(torch.tensor(x), ty).numpy(), rtol=1e-9, atol=1e-12)


def test_registry_errors_and_user_registration():
    with pytest.raises(NotImplementedError, match="Cannot transform _IntegerGreaterThan constraints"):
        FD.biject_to(FC.nonnegative_integer)
    with pytest.raises(NotImplementedError):
        FD.biject_to(FC.lower_cholesky)  # PyTorch registers no bijection for it
    with pytest.raises(TypeError):
        FD.biject_to.register(3, lambda c: None)

    class _Odd(FC.Constraint):
        def check(self, value):
            return value % 2 == 1
    reg = FD.constraint_registry.ConstraintRegistry()
    reg.register(_Odd, lambda c: FT.AffineTransform(1.0, 2.0))
    assert isinstance(reg(_Odd()), FT.AffineTransform)
    # a distribution's parameter constrained through its arg_constraints, the common optimisation idiom
    raw = flambeau.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    scale = FD.transform_to(FD.Normal.arg_constraints["scale"])(raw)
    assert bool((scale > 0).all())
    FD.Normal(0.0, scale).log_prob(flambeau.tensor(0.3)).sum().backward()
    assert raw.grad is not None
