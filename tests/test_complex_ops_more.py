"""Complex coverage beyond arithmetic, against PyTorch (CPU), values and gradients: the trigonometric and
hyperbolic functions and their inverses, sigmoid, the log/exp variants, prod/cumsum/cumprod, var/std and
the norms (real results), the accumulating matrix products, kron/tensordot/cross, data movers, the
conjugate transposes, polar's gradient, the complex -> real cast warning, and the ops PyTorch refuses."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import CDTS, crand, both, check, assert_same


def lib(x):
    return torch if isinstance(x, torch.Tensor) else flambeau


UNARY = ["sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "sigmoid",
         "reciprocal", "rsqrt", "square", "log2", "log10", "log1p", "expm1", "exp2", "sinc"]


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("name", UNARY)
def test_unary(name, dt):
    check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [crand((3, 5), dt)])
    check(lambda x: getattr(lib(x), name)(x), lambda x: getattr(lib(x), name)(x), [crand((7,), dt, -0.4, 0.4)])


@pytest.mark.parametrize("name", UNARY)
def test_unary_special_points(name):
    # zeros, the real and imaginary axes off the branch cuts, large moduli
    pts = np.array([0, 0.25, -0.3, 0.4j, -0.2j, 0.5 + 0.5j, -3 + 0.1j, 30 - 2j, 0.2 + 25j, 1e-6 + 1e-6j], "complex128")
    t, f = both(pts)
    with np.errstate(all="ignore"):
        assert_same(getattr(f, name)(), getattr(t, name)(), tol=(1e-12, 1e-9))


@pytest.mark.parametrize("name", ["sin", "tanh", "sigmoid", "exp2", "asin", "log1p"])
def test_unary_inplace(name):
    a = crand((4,), "complex128")
    t, f = both(a)
    getattr(t, name + "_")()
    getattr(f, name + "_")()
    assert_same(f, t)


def test_real_inputs_unchanged():
    x = crand((5,), "float32")
    for name in UNARY:
        assert_same(getattr(flambeau.tensor(x), name)(), getattr(torch.tensor(x), name)())


@pytest.mark.parametrize("dt", CDTS)
def test_reductions_and_scans(dt):
    a = crand((3, 5), dt, -1.2, 1.2)
    for fn in (lambda x: x.prod(), lambda x: x.prod(1), lambda x: x.prod(0, keepdim=True), lambda x: x.cumsum(1),
               lambda x: x.cumsum(0), lambda x: x.cumprod(1), lambda x: x.cumprod(-2), lambda x: x[:, :3].trace(),
               lambda x: lib(x).trace(x[:3, :3]), lambda x: x.logsumexp(1)):
        check(fn, fn, [a])
    check(lambda x: x.prod(0), lambda x: x.prod(0), [np.zeros((0, 3), dt)], grad=False)


@pytest.mark.parametrize("dt", CDTS)
def test_var_std_are_real(dt):
    a = crand((4, 6), dt)
    for fn in (lambda x: x.var(), lambda x: x.var(1), lambda x: x.std(0), lambda x: x.var(1, correction=0),
               lambda x: x.std(dim=(0, 1), keepdim=True), lambda x: lib(x).var_mean(x, 1)[0],
               lambda x: lib(x).std_mean(x, 0)[1]):
        check(fn, fn, [a])


@pytest.mark.parametrize("dt", CDTS)
def test_norms_are_real(dt):
    a = crand((4, 5), dt)
    inf = float("inf")
    for fn in (lambda x: x.norm(), lambda x: x.norm(1, 1), lambda x: lib(x).norm(x, 3, 0, keepdim=True),
               lambda x: lib(x).linalg.vector_norm(x), lambda x: lib(x).linalg.vector_norm(x, 2, 1),
               lambda x: lib(x).linalg.vector_norm(x, inf, 0), lambda x: lib(x).linalg.vector_norm(x, 0.5),
               lambda x: lib(x).linalg.norm(x), lambda x: lib(x).linalg.norm(x, "fro"),
               lambda x: lib(x).linalg.norm(x, 1), lambda x: lib(x).linalg.norm(x, -inf),
               lambda x: lib(x).linalg.norm(x[0], 3), lambda x: lib(x).linalg.matrix_norm(x, inf, keepdim=True),
               lambda x: lib(x).nn.functional.pairwise_distance(x, x * 2)):
        check(fn, fn, [a])


@pytest.mark.parametrize("dt", CDTS)
def test_products(dt):
    A, B, C = crand((3, 4), dt), crand((4, 2), dt), crand((3, 2), dt)
    v, w = crand((4,), dt), crand((3,), dt)
    check(lambda c, a, b: lib(a).addmm(c, a, b), lambda c, a, b: lib(a).addmm(c, a, b), [C, A, B])
    check(lambda c, a, b: lib(a).addmm(c, a, b, beta=0.5, alpha=2 - 1j),
          lambda c, a, b: lib(a).addmm(c, a, b, beta=0.5, alpha=2 - 1j), [C, A, B])
    check(lambda c, a, b: c.addmm(a, b, beta=0), lambda c, a, b: c.addmm(a, b, beta=0), [C, A, B])
    check(lambda c, a, b: lib(a).baddbmm(c[None], a[None], b[None], alpha=0.3),
          lambda c, a, b: lib(a).baddbmm(c[None], a[None], b[None], alpha=0.3), [C, A, B])
    check(lambda c, a, b: lib(a).addbmm(c, a[None], b[None]), lambda c, a, b: lib(a).addbmm(c, a[None], b[None]),
          [C, A, B])
    check(lambda c, a, b: lib(a).addmv(c, a, b), lambda c, a, b: lib(a).addmv(c, a, b), [w, A, v])
    check(lambda c, a, b: lib(a).addr(c, a, b), lambda c, a, b: lib(a).addr(c, a, b), [A, w, v])
    check(lambda a, b: lib(a).kron(a, b), lambda a, b: lib(a).kron(a, b), [A, B])
    check(lambda a, b: lib(a).tensordot(a, b, dims=([1], [0])), lambda a, b: lib(a).tensordot(a, b, dims=([1], [0])),
          [A, B])
    check(lambda a, b: lib(a).linalg.cross(a[:, :3], b[:, :3]), lambda a, b: lib(a).linalg.cross(a[:, :3], b[:, :3]),
          [A, np.tile(C, (1, 2))])
    check(lambda a, b: lib(a).cross(a[:, :3], b[:, :3], dim=1), lambda a, b: lib(a).cross(a[:, :3], b[:, :3], dim=1),
          [A, A])
    check(lambda a, b: lib(a).linalg.vecdot(a, b), lambda a, b: lib(a).linalg.vecdot(a, b), [A, A])
    check(lambda a, b: lib(a).linalg.multi_dot([a, b, b.mT]), lambda a, b: lib(a).linalg.multi_dot([a, b, b.mT]),
          [A, B])
    check(lambda a, b: lib(a).linalg.matmul(a, b), lambda a, b: lib(a).linalg.matmul(a, b), [A, B])
    # one dtype, as PyTorch's (no promotion)
    rdt = "float32" if dt == "complex64" else "float64"
    with pytest.raises(RuntimeError, match="same dtype"):
        flambeau.addmm(flambeau.tensor(crand((3, 2), rdt)), flambeau.tensor(A), flambeau.tensor(B))


@pytest.mark.parametrize("dt", CDTS)
def test_pointwise_combinations(dt):
    a, b, c = crand((3, 4), dt), crand((3, 4), dt), crand((3, 4), dt, 0.5, 1.5)
    check(lambda x, y, z: lib(x).addcmul(x, y, z, value=0.5), lambda x, y, z: lib(x).addcmul(x, y, z, value=0.5),
          [a, b, c])
    check(lambda x, y, z: lib(x).addcdiv(x, y, z, value=2), lambda x, y, z: lib(x).addcdiv(x, y, z, value=2), [a, b, c])
    for w in (0.3, 0.8):
        check(lambda x, y: lib(x).lerp(x, y, w), lambda x, y: lib(x).lerp(x, y, w), [a, b])
    check(lambda x, y, z: lib(x).lerp(x, y, z), lambda x, y, z: lib(x).lerp(x, y, z), [a, b, c * 0.4])


def test_data_movers_and_views():
    a = crand((4, 5), "complex128")
    b = crand((4, 5), "complex128")
    cases = [lambda x, y: x.diag(), lambda x, y: lib(x).diag(x[0]), lambda x, y: x.diagonal(1), lambda x, y: x.tril(),
             lambda x, y: x.triu(1), lambda x, y: lib(x).where(x.real > 0, x, y), lambda x, y: lib(x).where(x.real > 0, x, 0),
             lambda x, y: x.flip(1), lambda x, y: x.roll(1), lambda x, y: lib(x).diag_embed(x),
             lambda x, y: x.index_put((lib(x).tensor([0, 2]),), y[:2]),
             lambda x, y: x.masked_fill(x.imag > 0, 1 + 2j), lambda x, y: x.masked_fill(x.imag > 0, lib(x).tensor(2j)),
             lambda x, y: x.scatter_add(1, lib(x).tensor([[0, 1]] * 4), y[:, :2]),
             lambda x, y: x.index_add(0, lib(x).tensor([0, 2]), y[:2]), lambda x, y: x.mH, lambda x, y: x.H,
             lambda x, y: x.adjoint(), lambda x, y: lib(x).adjoint(x[None]), lambda x, y: x.repeat(2, 1),
             lambda x, y: lib(x).cat([x, y]), lambda x, y: lib(x).stack([x, y], 1),
             lambda x, y: x.gather(1, lib(x).tensor([[0, 3]] * 4))]
    for fn in cases:
        check(fn, fn, [a, b])
    t, f = both(a)
    t.masked_fill_(t.real > 0, -1j)
    f.masked_fill_(f.real > 0, -1j)
    assert_same(f, t)
    with pytest.raises(RuntimeError):
        flambeau.ones(3).masked_fill(flambeau.ones(3) > 0, 1j)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_polar_gradient_is_pytorchs(dt):
    # PyTorch's polar backward uses sgn(result): the abs gradient flips sign where abs < 0
    check(lambda r, th: lib(r).polar(r, th), lambda r, th: lib(r).polar(r, th), [crand((6,), dt), crand((6,), dt)])


def test_casting_complex_to_real_warns():
    import flambeau._functions.shape as sh
    sh._COMPLEX_WARNED.clear()
    z = flambeau.tensor([1 + 2j])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert z.to(flambeau.bool).item() is True
        assert not w
        assert z.to(flambeau.float32).item() == 1.0
    assert any("Casting complex values to real discards the imaginary part" in str(x.message) for x in w)
    # a real input's gradient through x.to(complex) is the real part, without the warning (as PyTorch's)
    sh._COMPLEX_WARNED.clear()
    a = crand((3,), "float32")
    t, f = both(a, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (f.to(flambeau.complex64) * (1 + 2j)).abs().sum().backward()
    (t.to(torch.complex64) * (1 + 2j)).abs().sum().backward()
    assert_same(f.grad, t.grad)


def test_truth_values():
    a = np.array([[0, 1j, 2], [0, 0, 0]], "complex64")
    t, f = both(a)
    assert_same(f.all(1), t.all(1))
    assert_same(f.any(), t.any())
    assert_same(flambeau.logical_not(f), torch.logical_not(t))
    assert_same(flambeau.count_nonzero(f, 1), torch.count_nonzero(t, 1))


@pytest.mark.parametrize("op", ["copysign", "deg2rad", "rad2deg", "histc", "i0", "logit", "unique", "searchsorted",
                                "isin", "bucketize", "exp2_wrong_dtype"])
def test_ops_pytorch_refuses_raise(op):
    z = flambeau.tensor([1 + 2j, 3 - 1j])
    if op == "exp2_wrong_dtype":
        # never a real result: exp2 of a complex tensor is complex
        assert flambeau.exp2(z).dtype is flambeau.complex64
        return
    with pytest.raises(TypeError, match=f"{op}: not implemented for dtype complex64"):
        if op in ("copysign", "searchsorted", "isin", "bucketize"):
            getattr(flambeau, op)(z, z)
        else:
            getattr(flambeau, op)(z)


def _numeric_grad(fn, z, eps=1e-6):
    g = np.zeros_like(z)
    for i in range(z.size):
        for unit in (1, 1j):
            zp, zm = z.copy(), z.copy()
            zp.flat[i] += eps * unit
            zm.flat[i] -= eps * unit
            g.flat[i] += (fn(zp) - fn(zm)) / (2 * eps) * unit
    return g


def test_gradcheck_complex128_composite():
    a = crand((4,), "complex128", -0.8, 0.8)

    def loss(z):
        return ((z.sin() * z.atanh()).tanh().abs().sum() + z.cumprod(0).prod().real + z.acos().log1p().imag.sum()
                + z.var() + z.sigmoid().exp2().asinh().abs().sum())

    def loss_np(v):
        return float(loss(flambeau.tensor(v)))

    zf = flambeau.tensor(a, requires_grad=True)
    (g,) = flambeau.autograd.grad(loss(zf), zf)
    np.testing.assert_allclose(g.numpy(), _numeric_grad(loss_np, a), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dt", CDTS)
def test_linear_diff_dist_where_scalar(dt):
    x, w = crand((3, 4), dt), crand((5, 4), dt)
    F_t, F_f = torch.nn.functional, flambeau.nn.functional
    check(lambda a, b: (F_t if isinstance(a, torch.Tensor) else F_f).linear(a, b, b[:, 0]),
          lambda a, b: (F_t if isinstance(a, torch.Tensor) else F_f).linear(a, b, b[:, 0]), [x, w])
    for name in ("sigmoid", "tanh"):
        check(lambda a: getattr(F_t if isinstance(a, torch.Tensor) else F_f, name)(a),
              lambda a: getattr(F_t if isinstance(a, torch.Tensor) else F_f, name)(a), [x])
    check(lambda a: lib(a).diff(a, dim=1), lambda a: lib(a).diff(a, dim=1), [x])
    check(lambda a: lib(a).diff(a, n=2, dim=0, append=a[:1]), lambda a: lib(a).diff(a, n=2, dim=0, append=a[:1]), [x])
    check(lambda a, b: lib(a).dist(a, b[:3]), lambda a, b: lib(a).dist(a, b[:3]), [x, w])
    check(lambda a, b: lib(a).dist(a, b[:3], 1), lambda a, b: lib(a).dist(a, b[:3], 1), [x, w])
    check(lambda a: lib(a).where(a.real > 0, a, 1j), lambda a: lib(a).where(a.real > 0, a, 1j), [x])
    check(lambda a: a.where(a.real > 0, 2 - 1j), lambda a: a.where(a.real > 0, 2 - 1j), [x])
    r = crand((4,), "float32")
    assert_same(flambeau.tensor(r).where(flambeau.tensor(r) > 0, 1j), torch.tensor(r).where(torch.tensor(r) > 0, 1j))


def test_linspace_complex():
    for args, kw in (((0, 1 + 2j, 5), {}), ((1 - 1j, -2 + 3j, 7), {}), ((0, 1, 4), {"dtype": "complex128"}),
                     ((2j, 0, 0), {"dtype": "complex64"})):
        kt = {k: getattr(torch, v) for k, v in kw.items()}
        kf = {k: getattr(flambeau, v) for k, v in kw.items()}
        assert_same(flambeau.linspace(*args, **kf), torch.linspace(*args, **kt))


def test_arange_complex_refused_as_pytorch():
    for dt in CDTS:
        with pytest.raises(NotImplementedError, match="arange_cpu\" not implemented for 'Complex"):
            flambeau.arange(3, dtype=getattr(flambeau, dt))
        with pytest.raises(NotImplementedError, match="arange_cpu\" not implemented for 'Complex"):
            torch.arange(3, dtype=getattr(torch, dt))


def test_sgn_and_abs_gradients_at_zero():
    """sgn's backward is PyTorch's formula, 0 at z = 0 (composing it of hypot put hypot's 0/0 there: NaN
    in sgn's gradient and in abs's double backward)."""
    w = np.array([0.3 - 1j, 2 + 0.5j, 1j])
    res = {}
    for L in (torch, flambeau):
        z = L.tensor(np.array([0j, 1 + 1j, -0.3 + 2j]), requires_grad=True)
        (L.sgn(z) * L.tensor(w)).real.sum().backward()
        z2 = L.tensor(np.array([0j, 1 + 1j, -0.3 + 2j]), requires_grad=True)
        g, = L.autograd.grad((z2.abs() ** 2).sum(), z2, create_graph=True)
        g.abs().sum().backward()
        res[L] = (z.grad, z2.grad)
    for f, t in zip(res[flambeau], res[torch]):
        np.testing.assert_allclose(f.detach().numpy(), t.numpy(), rtol=1e-12, atol=1e-12)
