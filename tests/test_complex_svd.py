"""Complex SVD (torch.linalg.svd / svdvals, torch.svd, Tensor.svd, pinv, matrix norms) against PyTorch CPU.

Singular vectors are unique only up to a phase per singular triple (u_i, v_i) -> e^{i phi} (u_i, v_i),
and ours (Householder bidiagonalisation + a real Jacobi SVD) need not pick LAPACK's phases, so the tests
compare what PyTorch's own tests compare: the singular values, the reconstruction U diag(S) Vh, the
orthonormality of U and Vh, the gauge-invariant products u_i vh_i, and the gradients of gauge-invariant
losses; a loss that depends on the phases raises PyTorch's error in both libraries."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import CDTS, crand, both, npy

TOL = {"complex64": 2e-5, "complex128": 1e-12}
GTOL = {"complex64": 2e-3, "complex128": 1e-8}
SHAPES = [(4, 3), (3, 5), (5, 5), (2, 6, 4), (3, 2, 5), (1, 1), (7, 2)]


def _close(a, b, tol, what):
    a, b = npy(a), npy(b)
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0, err_msg=what)


def _rank1_terms(U, Vh, k):
    """u_i vh_i for i < k: [..., k, m, n], invariant under the phase freedom."""
    return U[..., :, :k].transpose(-1, -2).unsqueeze(-1) * Vh[..., :k, :].unsqueeze(-2)


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("full", [True, False])
def test_svd_values(dt, shape, full):
    a = crand(shape, dt)
    t, f = both(a)
    tU, tS, tVh = torch.linalg.svd(t, full_matrices=full)
    U, S, Vh = flambeau.linalg.svd(f, full_matrices=full)
    for x, y, name in ((U, tU, "U"), (S, tS, "S"), (Vh, tVh, "Vh")):
        assert tuple(x.shape) == tuple(y.shape), name
        assert str(x.dtype).split(".")[-1] == str(y.dtype).split(".")[-1], name
    tol = TOL[dt]
    _close(S, tS, tol, "singular values")
    k = min(shape[-2:])
    u, s, vh = npy(U), npy(S), npy(Vh)
    _close((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, 10 * tol, "U diag(S) Vh")
    _close(np.swapaxes(u, -1, -2).conj() @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2),
           10 * tol, "U^H U")
    _close(vh @ np.swapaxes(vh, -1, -2).conj(),
           np.broadcast_to(np.eye(vh.shape[-2]), vh.shape[:-2] + (vh.shape[-2],) * 2), 10 * tol, "Vh Vh^H")
    _close(_rank1_terms(U, Vh, k), _rank1_terms(tU, tVh, k), 100 * tol, "u_i vh_i")
    # the column spaces of full_matrices' extra columns: U U^H = I either way; S alone agrees
    _close(flambeau.linalg.svdvals(f), tS, tol, "svdvals")


@pytest.mark.parametrize("dt", CDTS)
def test_svd_legacy_and_method(dt):
    a = crand((2, 5, 3), dt)
    t, f = both(a)
    for some in (True, False):
        tU, tS, tV = torch.svd(t, some=some)
        U, S, V = flambeau.svd(f, some=some)
        assert type(U).__name__ == "Tensor" and tuple(V.shape) == tuple(tV.shape) and tuple(U.shape) == tuple(tU.shape)
        _close(S, tS, TOL[dt], "S")
        _close(_rank1_terms(U, V.mH, 3), _rank1_terms(tU, tV.mH, 3), 100 * TOL[dt], "u_i v_i^H")
    U, S, V = f.svd()
    _close(S, tS, TOL[dt], "Tensor.svd")
    tU, tS, tV = torch.svd(t, compute_uv=False)
    U, S, V = flambeau.svd(f, compute_uv=False)
    assert tuple(U.shape) == tuple(tU.shape) and not np.any(npy(U)) and not np.any(npy(V))
    _close(S, tS, TOL[dt], "compute_uv=False")


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 4)])
@pytest.mark.parametrize("full", [True, False])
def test_svd_empty(shape, full):
    t, f = both(crand(shape, "complex128"))
    for x, y in zip(flambeau.linalg.svd(f, full_matrices=full), torch.linalg.svd(t, full_matrices=full)):
        assert tuple(x.shape) == tuple(y.shape)
        np.testing.assert_array_equal(npy(x), npy(y))  # identities where full_matrices asks for them


def test_svd_non_contiguous_and_errors():
    a = crand((6, 5), "complex128")
    t, f = both(a)
    tS = torch.linalg.svdvals(t[::2, 1:].mT)
    _close(flambeau.linalg.svdvals(f[::2, 1:].mT), tS, 1e-12, "strided view")
    bad = a.copy()
    bad[1, 2] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        flambeau.linalg.svd(flambeau.tensor(bad))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        flambeau.linalg.svd(flambeau.tensor(a[0]))


def _grad_pair(dt, shape, loss, full=False, seed=None):
    a = crand(shape, dt)
    t, f = both(a, requires_grad=True)
    loss(torch, torch.linalg.svd(t, full_matrices=full)).backward()
    loss(flambeau, flambeau.linalg.svd(f, full_matrices=full)).backward()
    _close(f.grad, t.grad, GTOL[dt], "gradient")


def _weights(shape, dt):
    return crand(shape, dt)


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (4, 4), (2, 5, 3)])
@pytest.mark.parametrize("full", [True, False])
def test_svd_gradients_gauge_invariant(dt, shape, full):
    k = min(shape[-2:])
    W = crand(shape[:-2] + (k, shape[-2], shape[-1]), dt)
    w = crand(shape[:-2] + (k,), "float64")
    R = crand(shape, "float64")

    def rank1(lib, r):  # sum_i Re <W_i, u_i vh_i> + S . w: gU, gS and gVh together
        U, S, Vh = r
        T = _rank1_terms(U, Vh, k)
        Wl = lib.tensor(W)
        return (T * Wl).real.sum() + (S * lib.tensor(w, dtype=S.dtype)).sum()

    def absU(lib, r):  # |U| and |Vh| only: gU and gVh each with a real diagonal of U^H gU
        U, S, Vh = r
        Rl = lib.tensor(R, dtype=S.dtype)
        return (U[..., :, :k].abs() * Rl[..., :, :k]).sum() + (Vh[..., :k, :].abs() ** 2 * Rl[..., :k, :]).sum()

    def absU_only(lib, r):
        U = r[0]
        return (U[..., :, :k].abs() ** 3).sum()

    def absVh_only(lib, r):
        Vh = r[2]
        return (Vh[..., :k, :].abs() * lib.tensor(R, dtype=r[1].dtype)[..., :k, :]).sum()

    def recon(lib, r):
        U, S, Vh = r
        A = (U[..., :, :k] * S.unsqueeze(-2).to(U.dtype)) @ Vh[..., :k, :]
        return (A * lib.tensor(W[..., 0, :, :])).real.sum()

    for loss in (rank1, absU, absU_only, absVh_only, recon):
        _grad_pair(dt, shape, loss, full)


@pytest.mark.parametrize("dt", CDTS)
def test_svdvals_and_norm_gradients(dt):
    a = crand((2, 5, 3), dt)
    g = crand((2, 3), "float64").astype(dt.replace("complex128", "float64").replace("complex64", "float32"))
    t, f = both(a, requires_grad=True)
    torch.linalg.svdvals(t).backward(torch.tensor(g))
    flambeau.linalg.svdvals(f).backward(flambeau.tensor(g))
    _close(f.grad, t.grad, GTOL[dt], "svdvals gradient")
    t, f = both(a[0], requires_grad=True)
    torch.linalg.matrix_norm(t, "nuc").backward()
    flambeau.linalg.matrix_norm(f, "nuc").backward()
    _close(f.grad, t.grad, GTOL[dt], "nuclear norm gradient")


@pytest.mark.parametrize("dt", CDTS)
def test_svd_phase_dependent_loss_raises(dt):
    a = crand((4, 3), dt)
    for lib in (torch, flambeau):
        x = lib.tensor(a, requires_grad=True)
        U, S, Vh = lib.linalg.svd(x, full_matrices=False)
        with pytest.raises(RuntimeError, match="e\\^\\{i phi\\}"):
            U.real.sum().backward()
        x = lib.tensor(a, requires_grad=True)
        U, S, Vh = lib.linalg.svd(x, full_matrices=False)
        with pytest.raises(RuntimeError, match="e\\^\\{i phi\\}"):
            (Vh.imag.sum() + S.sum()).backward()


def test_svd_float64_gradcheck():
    """Finite differences on the real and imaginary parts (a float64 input viewed as complex)."""
    a = crand((4, 3), "complex128")
    x = flambeau.tensor(np.stack([a.real, a.imag], -1), requires_grad=True)
    W = flambeau.tensor(crand((3, 4, 3), "complex128"))

    def fn(x):
        U, S, Vh = flambeau.linalg.svd(flambeau.view_as_complex(x), full_matrices=False)
        return (_rank1_terms(U, Vh, 3) * W).real.sum() + S.sum() + U.abs().sum()

    assert flambeau.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dt", CDTS)
def test_pinv_complex(dt):
    a = crand((5, 3), dt)
    for x in (a, np.swapaxes(a, -1, -2).copy()):
        t, f = both(x, requires_grad=True)
        tP, fP = torch.linalg.pinv(t), flambeau.linalg.pinv(f)
        _close(fP, tP, 10 * TOL[dt], "pinv")
        g = crand(tuple(tP.shape), dt)
        tP.backward(torch.tensor(g))
        fP.backward(flambeau.tensor(g))
        _close(f.grad, t.grad, GTOL[dt], "pinv gradient")
    # rank-deficient: the default rtol (eps * max(m, n)) cuts the same singular values
    b = crand((5, 2), dt) @ crand((2, 4), dt)
    t, f = both(b.astype(dt))
    _close(flambeau.linalg.pinv(f), torch.linalg.pinv(t), 1e-3 if dt == "complex64" else 1e-9, "rank-deficient pinv")


def test_pinv_default_rtol_is_of_the_complex_shape():
    """A singular value between eps * n and eps * 2n: PyTorch keeps it (rtol = eps * max(m, n) of A);
    the real embedding's own default (of its 2n x 2n shape) would cut it."""
    a = np.diag([1, 0.5, 0.2, 1.3e-15]).astype(np.complex128) * np.exp(0.3j)
    t, f = both(a)
    _close(flambeau.linalg.pinv(f), torch.linalg.pinv(t), 1e-12, "pinv")


@pytest.mark.parametrize("dt", CDTS)
def test_out_arguments(dt):
    a = crand((2, 5, 3), dt)
    t, f = both(a)
    rdt = flambeau.float32 if dt == "complex64" else flambeau.float64
    cdt = getattr(flambeau, dt)
    U, S, Vh = flambeau.empty(0, dtype=cdt), flambeau.empty(0, dtype=rdt), flambeau.empty(0, dtype=cdt)
    r = flambeau.linalg.svd(f, full_matrices=False, out=(U, S, Vh))
    assert r.U is U and r.S is S and r.Vh is Vh and tuple(U.shape) == (2, 5, 3) and tuple(Vh.shape) == (2, 3, 3)
    _close(S, torch.linalg.svdvals(t), TOL[dt], "out= S")
    s = flambeau.empty(0, dtype=rdt)
    assert flambeau.linalg.svdvals(f, out=s) is s
    _close(s, torch.linalg.svdvals(t), TOL[dt], "svdvals out=")


@pytest.mark.parametrize("dt", CDTS)
def test_svd_lowrank_complex(dt):
    """Randomised (flambeau's generator): compared by reconstructing an exactly rank-3 matrix."""
    rng = np.random.RandomState(11)
    u, _ = np.linalg.qr(crand((9, 3), "complex128", rng=rng))
    v, _ = np.linalg.qr(crand((7, 3), "complex128", rng=rng))
    a = ((u * np.array([3.0, 2.0, 1.0])) @ v.conj().T).astype(dt)
    for x in (a, np.swapaxes(a, -1, -2).copy()):
        U, S, V = flambeau.svd_lowrank(flambeau.tensor(x), q=4)
        _close((npy(U) * npy(S)[None, :]) @ npy(V).conj().T, x, 10 * TOL[dt], "svd_lowrank reconstruction")
        _close(S[:3], torch.linalg.svdvals(torch.tensor(x))[:3], 10 * TOL[dt], "svd_lowrank S")
