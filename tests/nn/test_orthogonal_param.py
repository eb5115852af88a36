"""linalg.householder_product / orgqr / geqrf and nn.utils.parametrizations.orthogonal against PyTorch."""
import numpy as np
import pytest
import torch
import torch.nn.utils.parametrizations  # noqa: F401

import flambeau
from flambeau import nn
from helpers import check_error, check_op
from nn_helpers import assert_close, t2f, to_np

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

MAPS = ("matrix_exp", "cayley", "householder")


# ---------------------------------------------------------------- householder_product / orgqr / geqrf
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape,k", [((5, 3), 3), ((5, 3), 2), ((4, 4), 4), ((6, 6), 5), ((2, 5, 2), 2),
                                       ((2, 3, 4, 3), 1), ((3, 1), 1)])
def test_householder_product_matches_torch(a_shape, k, dtype):
    tau_shape = a_shape[:-2] + (k,)
    check_op(lambda A, t: torch.linalg.householder_product(A, t),
             lambda A, t: flambeau.linalg.householder_product(A, t),
             shapes=[a_shape, tau_shape], dtype=dtype, low=-1.0, high=1.0)


def test_householder_product_non_contiguous():
    check_op(lambda A, t: torch.linalg.householder_product(A, t),
             lambda A, t: flambeau.linalg.householder_product(A, t),
             shapes=[(4, 4), (4,)], dtype="float64", non_contiguous=True, low=-1.0, high=1.0)


def test_orgqr_aliases():
    check_op(lambda A, t: torch.orgqr(A, t), lambda A, t: flambeau.orgqr(A, t), shapes=[(5, 3), (3,)],
             dtype="float64", low=-1.0, high=1.0)
    check_op(lambda A, t: A.orgqr(t), shapes=[(2, 4, 3), (2, 2)], dtype="float64", low=-1.0, high=1.0)


def test_householder_product_gradcheck():
    rng = np.random.default_rng(0)
    A = flambeau.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    tau = flambeau.tensor(rng.uniform(0.5, 1.5, (2, 3)), requires_grad=True)
    assert flambeau.autograd.gradcheck(flambeau.linalg.householder_product, (A, tau))
    assert flambeau.autograd.gradgradcheck(flambeau.linalg.householder_product, (A, tau))


def test_householder_product_empty_and_out():
    for a_shape, t_shape in [((0, 3, 2), (0, 2)), ((3, 2), (0,)), ((0, 0), (0,))]:
        A, t = np.random.randn(*a_shape), np.random.randn(*t_shape)
        r = torch.linalg.householder_product(torch.tensor(A), torch.tensor(t))
        f = flambeau.linalg.householder_product(flambeau.tensor(A), flambeau.tensor(t))
        assert tuple(f.shape) == tuple(r.shape)
        np.testing.assert_allclose(to_np(f), to_np(r))
    A, t = np.random.randn(4, 3), np.random.randn(3)
    out = flambeau.empty(4, 3, dtype=flambeau.float64)
    res = flambeau.linalg.householder_product(flambeau.tensor(A), flambeau.tensor(t), out=out)
    assert res is out
    np.testing.assert_allclose(to_np(out), to_np(torch.linalg.householder_product(torch.tensor(A),
                                                                                  torch.tensor(t))), atol=1e-12)


def test_householder_product_errors():
    hp = "householder_product"
    check_error(lambda m: m.linalg.householder_product(m.randn(3), m.randn(1)), RuntimeError,
                "input must have at least 2 dimensions")
    check_error(lambda m: m.linalg.householder_product(m.randn(2, 3), m.randn(1)), RuntimeError,
                r"input.shape\[-2\] must be greater than or equal to input.shape\[-1\]")
    check_error(lambda m: m.linalg.householder_product(m.randn(3, 2), m.randn(3)), RuntimeError,
                r"input.shape\[-1\] must be greater than or equal to tau.shape\[-1\]")
    check_error(lambda m: m.linalg.householder_product(m.randn(2, 3, 2), m.randn(3, 2)), RuntimeError,
                r"Expected batch dimensions of tau to be equal to input.shape\[:-2\], but got \[3\]")
    check_error(lambda m: m.linalg.householder_product(m.randn(1, 3, 2), m.randn(2)), RuntimeError,
                "Expected tau to have one dimension less than input")
    check_error(lambda m: m.linalg.householder_product(m.randn(3, 2), m.randn(2, dtype=m.float64)), RuntimeError,
                "tau dtype Double does not match input dtype Float")
    check_error(lambda m: getattr(m.linalg, hp)(m.ones(3, 2, dtype=m.int64), m.ones(2, dtype=m.int64)),
                NotImplementedError, "not implemented for 'Long'")
    check_error(lambda m: m.geqrf(m.randn(3)), RuntimeError, "input must have at least 2 dimensions")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 4, 3), (4, 1), (1, 4), (0, 3), (3, 0)])
def test_geqrf_matches_torch(shape, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    A = np.random.randn(*shape).astype(npd)
    if shape == (5, 3):
        A[1:, 0] = 0.0  # a column needing no reflection: tau = 0
    ra, rt = torch.geqrf(torch.tensor(A))
    res = flambeau.geqrf(flambeau.tensor(A))
    fa, ft = res
    assert type(res).__name__ == "geqrf" and res.a is fa and res.tau is ft
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == "float32" else dict(atol=1e-12, rtol=1e-10)
    assert tuple(fa.shape) == tuple(ra.shape) and tuple(ft.shape) == tuple(rt.shape)
    assert fa.dtype == t2f(ra).dtype
    np.testing.assert_allclose(to_np(fa), to_np(ra), **tol)
    np.testing.assert_allclose(to_np(ft), to_np(rt), **tol)
    if shape[-2] >= shape[-1]:
        # householder_product(geqrf(A)) is QR's Q
        Q = flambeau.linalg.householder_product(fa, ft)
        np.testing.assert_allclose(to_np(Q), to_np(flambeau.linalg.qr(flambeau.tensor(A)).Q), **tol)
        np.testing.assert_allclose(to_np(flambeau.tensor(A).geqrf().tau), to_np(rt), **tol)


# ---------------------------------------------------------------- orthogonal
def twin(kind, shape, dtype="float64"):
    """The same layer in torch and flambeau (weights loaded later from torch's state_dict)."""
    if kind == "linear":
        out_f, in_f = shape
        tm, fm = torch.nn.Linear(in_f, out_f), nn.Linear(in_f, out_f)
        x = np.random.randn(3, in_f)
    else:
        cin, cout, kh, kw = shape
        tm, fm = torch.nn.Conv2d(cin, cout, (kh, kw)), nn.Conv2d(cin, cout, (kh, kw))
        x = np.random.randn(2, cin, kh + 2, kw + 3)
    if dtype == "float64":
        tm.double()
        fm.double()
    return tm, fm, x.astype(np.float64 if dtype == "float64" else np.float32)


def _orth_error(W):
    """max |Q^T Q - I| (tall) or |Q Q^T - I| (wide), over a batch of matrices."""
    W = to_np(W).astype(np.float64)
    n, k = W.shape[-2:]
    G = np.swapaxes(W, -1, -2) @ W if n >= k else W @ np.swapaxes(W, -1, -2)
    return np.abs(G - np.eye(min(n, k))).max()


CASES = [("linear", (4, 4)), ("linear", (6, 3)), ("linear", (3, 6)), ("conv", (2, 3, 3, 3)),
         ("conv", (2, 3, 4, 2))]


def _load(tm, fm):
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("use_triv", [True, False])
@pytest.mark.parametrize("omap", MAPS)
@pytest.mark.parametrize("kind,shape", CASES)
def test_orthogonal_matches_torch(kind, shape, omap, use_triv):
    tm, fm, x = twin(kind, shape)
    torch.nn.utils.parametrizations.orthogonal(tm, orthogonal_map=omap, use_trivialization=use_triv)
    nn.utils.parametrizations.orthogonal(fm, orthogonal_map=omap, use_trivialization=use_triv)
    # flambeau's own initial weight is orthogonal
    assert _orth_error(fm.weight) < 1e-12
    assert type(fm).__name__ == type(tm).__name__
    assert list(fm.state_dict().keys()) == list(tm.state_dict().keys())
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    # with torch's original (and base) the weight, the output and the gradients agree
    _load(tm, fm)
    assert_close(fm.weight, tm.weight, "float64", "weight")
    assert _orth_error(fm.weight) < 1e-12
    yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
    assert_close(yf, yt, "float64", "output")
    g = np.random.randn(*yt.shape)
    yt.backward(torch.tensor(g))
    yf.backward(flambeau.tensor(g))
    for (n, pt), (_, pf) in zip(tm.named_parameters(), fm.named_parameters()):
        assert_close(pf.grad, pt.grad, "float64", f"grad {n}")
    if use_triv:
        assert fm.parametrizations.weight[0].base.requires_grad is False


@pytest.mark.parametrize("omap", MAPS)
def test_orthogonal_float32(omap):
    tm, fm, x = twin("linear", (5, 3), "float32")
    torch.nn.utils.parametrizations.orthogonal(tm, orthogonal_map=omap)
    nn.utils.parametrizations.orthogonal(fm, orthogonal_map=omap)
    _load(tm, fm)
    assert fm.weight.dtype == flambeau.float32
    assert _orth_error(fm.weight) < 1e-5
    yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
    assert_close(yf, yt, "float32", "output")
    yt.sum().backward()
    yf.sum().backward()
    assert_close(fm.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad,
                 "float32", "grad")


def test_orthogonal_default_map_and_errors():
    P = nn.utils.parametrizations
    sq = P.orthogonal(nn.Linear(4, 4))
    assert sq.parametrizations.weight[0].orthogonal_map.name == "matrix_exp"
    tall = P.orthogonal(nn.Linear(3, 5))
    assert tall.parametrizations.weight[0].orthogonal_map.name == "householder"
    assert "orthogonal" in P.__all__
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        P.orthogonal(nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        P.orthogonal(nn.Linear(3, 3), name="bias")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'w'"):
        P.orthogonal(nn.Linear(3, 3), name="w")
    m = P.orthogonal(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices of shape"):
        m.weight = flambeau.eye(3)


def test_orthogonal_initial_value():
    """An orthogonal weight is kept as is; any other weight becomes the Q of its QR with diag(R) > 0."""
    P = nn.utils.parametrizations
    for omap in MAPS:
        m = nn.Linear(4, 4).double()
        Q = flambeau.linalg.qr(flambeau.randn(4, 4, dtype=flambeau.float64)).Q
        with flambeau.no_grad():
            m.weight.copy_(Q)
        P.orthogonal(m, orthogonal_map=omap)
        np.testing.assert_allclose(to_np(m.weight), to_np(Q), atol=1e-12)
    A = np.random.randn(5, 3)
    tm, fm = torch.nn.Linear(3, 5).double(), nn.Linear(3, 5).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(A))
    with flambeau.no_grad():
        fm.weight.copy_(flambeau.tensor(A))
    torch.nn.utils.parametrizations.orthogonal(tm, use_trivialization=False)
    P.orthogonal(fm, use_trivialization=False)
    assert_close(fm.parametrizations.weight.original, tm.parametrizations.weight.original, "float64", "original")
    assert_close(fm.weight, tm.weight, "float64", "weight")


@pytest.mark.parametrize("use_triv", [True, False])
@pytest.mark.parametrize("omap", MAPS)
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6), (2, 4, 3)])
def test_orthogonal_right_inverse(shape, omap, use_triv):
    """Assigning an orthogonal matrix: the weight becomes it (the Cayley / matrix_exp maps without
    trivialization cannot be assigned to, as in torch)."""
    P = nn.utils.parametrizations
    n, k = shape[-2:]
    big = max(n, k)
    Qnp = np.linalg.qr(np.random.randn(*shape[:-2], big, big))[0][..., :n, :k]
    if len(shape) == 2:
        tm, fm = torch.nn.Linear(k, n).double(), nn.Linear(k, n).double()
    else:
        tm, fm = torch.nn.Linear(k, n).double(), nn.Linear(k, n).double()
        tm.register_parameter("w3", torch.nn.Parameter(torch.randn(*shape, dtype=torch.float64)))
        fm.register_parameter("w3", nn.Parameter(flambeau.randn(*shape, dtype=flambeau.float64)))
    name = "weight" if len(shape) == 2 else "w3"
    torch.nn.utils.parametrizations.orthogonal(tm, name, orthogonal_map=omap, use_trivialization=use_triv)
    P.orthogonal(fm, name, orthogonal_map=omap, use_trivialization=use_triv)
    if not use_triv and omap != "householder":
        with pytest.raises(NotImplementedError):
            setattr(tm, name, torch.tensor(Qnp))
        with pytest.raises(NotImplementedError, match="use_trivialization=False"):
            setattr(fm, name, flambeau.tensor(Qnp))
        return
    setattr(tm, name, torch.tensor(Qnp))
    setattr(fm, name, flambeau.tensor(Qnp))
    np.testing.assert_allclose(to_np(getattr(fm, name)), Qnp, atol=1e-12)
    assert_close(getattr(fm, name), getattr(tm, name), "float64", "weight")
    orig_f = getattr(fm.parametrizations, name).original
    orig_t = getattr(tm.parametrizations, name).original
    assert_close(orig_f, orig_t, "float64", "original")
    if use_triv:
        base_f = getattr(fm.parametrizations, name)[0].base
        assert tuple(base_f.shape) == shape[:-2] + (big, big)
        if n == k:
            assert_close(base_f, getattr(tm.parametrizations, name)[0].base, "float64", "base")


@pytest.mark.parametrize("use_triv", [True, False])
@pytest.mark.parametrize("omap", MAPS)
@pytest.mark.parametrize("kind,shape", [("linear", (5, 5)), ("linear", (6, 3)), ("linear", (3, 6)),
                                        ("conv", (2, 3, 3, 3))])
def test_orthogonal_sgd_trajectory(kind, shape, omap, use_triv):
    tm, fm, x = twin(kind, shape)
    torch.nn.utils.parametrizations.orthogonal(tm, orthogonal_map=omap, use_trivialization=use_triv)
    nn.utils.parametrizations.orthogonal(fm, orthogonal_map=omap, use_trivialization=use_triv)
    # move away from the identity-like start so that every map's gradient is non-trivial (off the
    # diagonal: householder reads the signs +-1 from there, truncated to int)
    with torch.no_grad():
        orig = tm.parametrizations.weight.original
        noise = 0.3 * torch.randn_like(orig)
        noise.diagonal(dim1=-2, dim2=-1).zero_()
        orig.add_(noise)
    _load(tm, fm)
    opt_t = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    opt_f = flambeau.optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    target = np.random.randn(*tm(torch.tensor(x)).shape)
    for step in range(4):
        opt_t.zero_grad()
        opt_f.zero_grad()
        lt = ((tm(torch.tensor(x)) - torch.tensor(target)) ** 2).mean()
        lf = ((fm(flambeau.tensor(x)) - flambeau.tensor(target)) ** 2).mean()
        assert_close(lf, lt, "float64", f"loss at step {step}")
        lt.backward()
        lf.backward()
        opt_t.step()
        opt_f.step()
        assert_close(fm.weight, tm.weight, "float64", f"weight after step {step}", atol=1e-9, rtol=1e-8)
        assert _orth_error(fm.weight) < 1e-10
    for (n, pt), (_, pf) in zip(tm.named_parameters(), fm.named_parameters()):
        assert_close(pf, pt, "float64", n, atol=1e-9, rtol=1e-8)


def test_orthogonal_cached_and_remove():
    P, parametrize = nn.utils.parametrizations, nn.utils.parametrize
    m = P.orthogonal(nn.Linear(4, 4).double(), orthogonal_map="cayley")
    with parametrize.cached():
        assert m.weight is m.weight
    W = to_np(m.weight)
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear
    np.testing.assert_allclose(to_np(m.weight), W)
    assert list(m.state_dict().keys()) == ["bias", "weight"]  # as in torch
