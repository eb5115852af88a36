"""torch.linalg.eig / eigvals of real input through the real Francis double-shift route (cpu/linalg_eig_real.cpp)
against PyTorch (LAPACK's dgeev): A V = V diag(L) at every size from 1 to 30 and at 64 and 130, graded and
structured matrices (companion, rotation blocks, Jordan blocks, zero, permutations); real eigenvalues exactly
real and conjugate pairs exactly conjugate, the positive imaginary part first (as LAPACK's); eigvals the
same bits as eig's values; geev's normalisation; the vectors PyTorch's up to phase."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import npy


def check(a, tol):
    n = a.shape[0]
    L, V = (npy(t) for t in flambeau.linalg.eig(flambeau.tensor(a)))
    Lt, Vt = (t.numpy() for t in torch.linalg.eig(torch.tensor(a)))
    scale = max(1.0, np.abs(a).max()) if n else 1.0
    A = a.astype("complex128")
    np.testing.assert_allclose(A @ V, V * L[None, :], atol=tol * scale * max(n, 1), rtol=0)
    if n:
        np.testing.assert_allclose(np.linalg.norm(V, axis=0), np.ones(n), atol=1e-6)
        # a component of largest modulus (ties: any of them) exactly real and positive
        top = np.abs(V) >= np.abs(V).max(0) * (1 - 1e-12)
        assert np.all((top & (V.imag == 0) & (V.real > 0)).any(0))
    # exactly real, or exactly conjugate pairs next to each other, positive imaginary part first
    k = 0
    while k < n:
        if L[k].imag == 0:
            k += 1
            continue
        assert L[k].imag > 0 and k + 1 < n and L[k + 1] == np.conj(L[k]), L
        np.testing.assert_array_equal(V[:, k + 1], np.conj(V[:, k]))
        k += 2
    # the same eigenvalues as LAPACK's (as a set)
    free = list(range(n))
    for x in Lt:
        j = min(free, key=lambda i: abs(L[i] - x))
        assert abs(L[j] - x) <= tol * 100 * scale * max(n, 1), (L, Lt)
        free.remove(j)
    np.testing.assert_array_equal(npy(flambeau.linalg.eigvals(flambeau.tensor(a))), L)
    return L, V, Lt, Vt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_real_route_every_small_size_and_larger(dtype):
    rng = np.random.default_rng(11)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for n in list(range(0, 31)) + [64, 130]:
        a = rng.standard_normal((n, n)).astype(dtype)
        L, V, Lt, Vt = check(a.astype("float64"), tol)
        L32, V32 = (npy(t) for t in flambeau.linalg.eig(flambeau.tensor(a)))
        assert L32.dtype == (np.complex128 if dtype == "float64" else np.complex64)
        if n <= 30:  # distinct eigenvalues: the vectors are LAPACK's up to a phase
            for i, x in enumerate(Lt):
                j = int(np.argmin(np.abs(L - x)))
                assert abs(abs(np.vdot(V[:, j], Vt[:, i])) - 1) < 1e-8


def test_real_route_structured_matrices():
    rng = np.random.default_rng(12)
    n = 12
    comp = np.zeros((n, n))
    comp[0] = -rng.standard_normal(n)
    comp[1:, :-1] += np.eye(n - 1)
    rot = np.kron(np.eye(4), np.array([[0.0, 2.0], [-2.0, 0.0]]))
    graded = rng.standard_normal((10, 10)) * np.logspace(-6, 6, 10)[None, :]
    cases = [comp, rot, graded, np.zeros((5, 5)), np.eye(4), np.ones((6, 6)), np.triu(np.ones((6, 6))),
             np.diag(np.ones(6), 1), np.roll(np.eye(7), 1, 0), np.eye(5)[::-1].copy(),
             np.array([[1.0, 1e-9], [-1e-9, 1.0]]), np.array([[3.0]])]
    for a in cases:
        check(a, 1e-9)


def test_real_route_batches_and_non_finite():
    rng = np.random.default_rng(13)
    a = rng.standard_normal((3, 2, 7, 7))
    L, V = (npy(t) for t in flambeau.linalg.eig(flambeau.tensor(a)))
    for idx in np.ndindex(3, 2):
        A = a[idx].astype("complex128")
        np.testing.assert_allclose(A @ V[idx], V[idx] * L[idx][None, :], atol=1e-12 * 7 * np.abs(a).max())
    bad = a.copy()
    bad[1, 0, 2, 3] = np.inf
    with pytest.raises(flambeau.linalg.LinAlgError, match="infs or NaNs"):
        flambeau.linalg.eig(flambeau.tensor(bad))
