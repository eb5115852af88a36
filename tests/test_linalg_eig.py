"""torch.linalg.eig / eigvals (cpu/linalg_eig.cpp) against PyTorch (LAPACK's geev): A V = V diag(L),
the eigenvalues as a set, the eigenvectors up to phase, geev's normalisation (norm 1, largest component
real), dtypes, batches, errors, and PyTorch's backward on gauge- and order-invariant losses."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import crand, npy

DTS = ["float32", "float64", "complex64", "complex128"]
CPLX = {"float32": "complex64", "float64": "complex128", "complex64": "complex64", "complex128": "complex128"}
TOL = {"float32": 2e-4, "complex64": 2e-4, "float64": 1e-10, "complex128": 1e-10}


def match(l_ours, l_ref, tol):
    """The permutation p with l_ours[p[i]] ~ l_ref[i] (greedy nearest; eigenvalues of random matrices are distinct)."""
    p, free = [], list(range(len(l_ours)))
    for x in l_ref:
        j = min(free, key=lambda k: abs(l_ours[k] - x))
        assert abs(l_ours[j] - x) <= tol * max(1.0, abs(x)), (l_ours, l_ref)
        p.append(j)
        free.remove(j)
    return p


def compare_one(A, L, V, Lt, Vt, tol):
    n = A.shape[-1]
    # A V = V diag(L), the columns of norm 1 with the largest component real
    np.testing.assert_allclose(A @ V, V * L[None, :], atol=tol * max(1, np.abs(A).max()) * n, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(V, axis=0), np.ones(n), atol=tol * 10)
    big = np.abs(V).argmax(0)
    assert np.allclose(V[big, np.arange(n)].imag, 0, atol=tol)
    p = match(L, Lt, tol * 10 * n)
    # the same eigenvectors as PyTorch's up to a phase: |<v, vt>| = 1
    for i, j in enumerate(p):
        assert abs(abs(np.vdot(V[:, j], Vt[:, i])) - 1) < tol * 100 * n


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (5, 5), (3, 6, 6), (2, 1, 9, 9)])
def test_eig_matches_lapack(dt, shape):
    a = crand(shape, dt, -1, 1)
    Lf, Vf = flambeau.linalg.eig(flambeau.tensor(a))
    Lt, Vt = torch.linalg.eig(torch.tensor(a))
    assert Lf.dtype is getattr(flambeau, CPLX[dt]) and Vf.dtype is getattr(flambeau, CPLX[dt])
    assert tuple(Lf.shape) == tuple(Lt.shape) and tuple(Vf.shape) == tuple(Vt.shape)
    L, V, lt, vt = npy(Lf), npy(Vf), npy(Lt), npy(Vt)
    A = a.astype(CPLX[dt])
    for idx in np.ndindex(*shape[:-2]):
        compare_one(A[idx].astype("complex128"), L[idx], V[idx], lt[idx], vt[idx], TOL[dt])
    Le = flambeau.linalg.eigvals(flambeau.tensor(a))
    np.testing.assert_array_equal(npy(Le), L)


def test_eig_special_matrices():
    cases = [np.diag([3.0, -1.0, 2.0]), np.array([[0.0, 1.0], [-1.0, 0.0]]),  # rotation: +-i
             np.triu(np.arange(1.0, 17.0).reshape(4, 4)), np.array([[2.0, 1.0], [0.0, 2.0]]),  # defective
             np.zeros((3, 3)), np.eye(4), np.array([[1e8, 1.0], [1e-8, 1.0]]),
             np.roll(np.eye(6), 1, 0)]  # the cyclic shift: the 6th roots of unity
    for a in cases:
        L, V = flambeau.linalg.eig(flambeau.tensor(a))
        lt = torch.linalg.eigvals(torch.tensor(a)).numpy()
        match(npy(L), lt, 1e-7)
        A = a.astype("complex128")
        np.testing.assert_allclose(A @ npy(V), npy(V) * npy(L)[None, :], atol=1e-7 * max(1, np.abs(a).max()))


def test_eig_empty_and_errors():
    L, V = flambeau.linalg.eig(flambeau.zeros(3, 0, 0))
    assert tuple(L.shape) == (3, 0) and tuple(V.shape) == (3, 0, 0) and L.dtype is flambeau.complex64
    assert tuple(flambeau.linalg.eig(flambeau.zeros(0, 2, 2))[1].shape) == (0, 2, 2)
    with pytest.raises(RuntimeError, match="must be batches of square matrices"):
        flambeau.linalg.eig(flambeau.zeros(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        flambeau.linalg.eigvals(flambeau.zeros(3))
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor"):
        flambeau.linalg.eig(flambeau.zeros(2, 2, dtype=flambeau.int64))
    with pytest.raises(flambeau.linalg.LinAlgError, match="infs or NaNs"):
        flambeau.linalg.eig(flambeau.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def _invariant_loss(lib, L, V, W, c):
    # symmetric in the eigenpairs (our order is not LAPACK's) and independent of each vector's phase
    absV = V.abs()
    return (L * L * c).real.sum() + ((absV ** 4) * W).sum(-2).mul(L.real).sum() + (L.abs() ** 3).sum()


@pytest.mark.parametrize("dt", ["float64", "complex128", "float32", "complex64"])
def test_eig_backward_matches_pytorch(dt):
    a = crand((2, 4, 4), dt, -1, 1)
    W = crand((4, 1), "float64", 0, 1)
    c = 0.7 - 0.4j
    At = torch.tensor(a, requires_grad=True)
    Af = flambeau.tensor(a, requires_grad=True)
    Lt, Vt = torch.linalg.eig(At)
    Lf, Vf = flambeau.linalg.eig(Af)
    lt = _invariant_loss(torch, Lt, Vt, torch.tensor(W).to(Lt.real.dtype), c)
    lf = _invariant_loss(flambeau, Lf, Vf, flambeau.tensor(W).to(Lf.real.dtype), c)
    tol = TOL[dt] * 100
    np.testing.assert_allclose(float(lf.detach()), float(lt.detach()), rtol=tol)
    (gt,) = torch.autograd.grad(lt, At)
    (gf,) = flambeau.autograd.grad(lf, Af)
    assert gf.dtype is getattr(flambeau, dt)
    np.testing.assert_allclose(npy(gf), npy(gt), rtol=tol, atol=tol * np.abs(npy(gt)).max())
    # eigvals alone
    (gt,) = torch.autograd.grad((torch.linalg.eigvals(At) ** 2 * c).real.sum(), At)
    (gf,) = flambeau.autograd.grad((flambeau.linalg.eigvals(Af) ** 2 * c).real.sum(), Af)
    np.testing.assert_allclose(npy(gf), npy(gt), rtol=tol, atol=tol * np.abs(npy(gt)).max())


def test_eig_gradcheck_complex128():
    a = crand((3, 3), "complex128", -1, 1)

    def loss(z):
        L, V = flambeau.linalg.eig(z)
        return float(_invariant_loss(flambeau, L, V, flambeau.tensor([[0.3], [1.0], [0.6]]), 0.2 + 1j)) \
            if not z.requires_grad else _invariant_loss(flambeau, L, V, flambeau.tensor([[0.3], [1.0], [0.6]]), 0.2 + 1j)

    g = np.zeros_like(a)
    eps = 1e-6
    for i in range(a.size):
        for unit in (1, 1j):
            ap, am = a.copy(), a.copy()
            ap.flat[i] += eps * unit
            am.flat[i] -= eps * unit
            g.flat[i] += (loss(flambeau.tensor(ap)) - loss(flambeau.tensor(am))) / (2 * eps) * unit
    z = flambeau.tensor(a, requires_grad=True)
    (gf,) = flambeau.autograd.grad(loss(z), z)
    np.testing.assert_allclose(npy(gf), g, rtol=1e-5, atol=1e-6)


def test_eig_phase_dependent_loss_raises():
    z = flambeau.tensor(crand((3, 3), "complex128"), requires_grad=True)
    L, V = flambeau.linalg.eig(z)
    with pytest.raises(RuntimeError, match="specified up to multiplication by e"):
        V[0].real.sum().backward()
