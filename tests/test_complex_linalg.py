"""torch.linalg on complex matrices against PyTorch (values and gradients): solve, inv, pinv, matrix_exp
(through the real embedding), eigvalsh and svdvals (pair means of the embedding's), det/slogdet/logdet
(phase from the eigenvalues), and the spectral matrix norms."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import CDTS, crand, both, check, assert_same, npy


def lib(x):
    return torch if isinstance(x, torch.Tensor) else flambeau


def well_conditioned(shape, dt):
    a = crand(shape, dt, -1, 1)
    n = shape[-1]
    return (a + 3 * np.eye(n)).astype(dt)


def hermitian(shape, dt):
    a = crand(shape, dt, -1, 1)
    return (a + np.swapaxes(a.conj(), -1, -2)).astype(dt)


GT = {"complex64": (1e-4, 1e-3), "complex128": (1e-10, 1e-8)}


@pytest.mark.parametrize("dt", CDTS)
def test_solve(dt):
    A, B = well_conditioned((2, 4, 4), dt), crand((2, 4, 3), dt)
    check(lambda a, b: lib(a).linalg.solve(a, b), lambda a, b: lib(a).linalg.solve(a, b), [A, B], grad_tol=GT[dt])
    check(lambda a, b: lib(a).linalg.solve(a, b), lambda a, b: lib(a).linalg.solve(a, b), [A[0], B[0, :, 0]],
          grad_tol=GT[dt])
    check(lambda a, b: lib(a).linalg.solve(a, b, left=False), lambda a, b: lib(a).linalg.solve(a, b, left=False),
          [A, np.swapaxes(B, -1, -2).copy()], grad_tol=GT[dt])
    with pytest.raises(RuntimeError, match="same dtype"):
        flambeau.linalg.solve(flambeau.tensor(A), flambeau.tensor(B.real.copy()))


@pytest.mark.parametrize("dt", CDTS)
def test_inv_pinv_matrix_exp(dt):
    A = well_conditioned((3, 3), dt)
    for name in ("inv", "matrix_exp"):
        check(lambda a: getattr(lib(a).linalg, name)(a), lambda a: getattr(lib(a).linalg, name)(a), [A],
              grad_tol=GT[dt])
    check(lambda a: lib(a).inverse(a), lambda a: lib(a).inverse(a), [A], grad_tol=GT[dt])
    check(lambda a: lib(a).linalg.pinv(a), lambda a: lib(a).linalg.pinv(a), [crand((4, 3), dt)], grad_tol=GT[dt])
    check(lambda a: lib(a).matrix_exp(a), lambda a: lib(a).matrix_exp(a), [A * 0.3], grad_tol=GT[dt])


@pytest.mark.parametrize("dt", CDTS)
def test_eigvalsh_and_svdvals(dt):
    H = hermitian((2, 4, 4), dt)
    check(lambda a: lib(a).linalg.eigvalsh(a), lambda a: lib(a).linalg.eigvalsh(a), [H], grad_tol=GT[dt])
    # only one triangle is read, the gradient is the full Hermitian matrix (as PyTorch's)
    A = crand((4, 4), dt)
    for uplo in ("L", "U"):
        check(lambda a: lib(a).linalg.eigvalsh(a, UPLO=uplo), lambda a: lib(a).linalg.eigvalsh(a, UPLO=uplo), [A],
              grad_tol=GT[dt])
    check(lambda a: lib(a).linalg.svdvals(a), lambda a: lib(a).linalg.svdvals(a), [crand((2, 5, 3), dt)],
          grad_tol=GT[dt])
    for ord_ in (2, -2, "nuc"):
        check(lambda a: lib(a).linalg.matrix_norm(a, ord_), lambda a: lib(a).linalg.matrix_norm(a, ord_),
              [crand((4, 3), dt)], grad_tol=GT[dt])
    check(lambda a: lib(a).linalg.norm(a, "nuc"), lambda a: lib(a).linalg.norm(a, "nuc"), [crand((3, 3), dt)],
          grad_tol=GT[dt])


@pytest.mark.parametrize("dt", CDTS)
def test_det_slogdet_logdet(dt):
    A = crand((2, 4, 4), dt)
    check(lambda a: lib(a).linalg.det(a), lambda a: lib(a).linalg.det(a), [A], grad_tol=GT[dt])
    check(lambda a: a.det(), lambda a: a.det(), [A[0]], grad_tol=GT[dt])
    check(lambda a: lib(a).linalg.slogdet(a)[1], lambda a: lib(a).linalg.slogdet(a)[1], [A], grad_tol=GT[dt])
    check(lambda a: lib(a).linalg.slogdet(a)[0], lambda a: lib(a).linalg.slogdet(a)[0], [A], grad_tol=GT[dt])
    check(lambda a: lib(a).slogdet(a).sign * lib(a).slogdet(a).logabsdet,
          lambda a: lib(a).slogdet(a).sign * lib(a).slogdet(a).logabsdet, [A], grad_tol=GT[dt])
    check(lambda a: lib(a).logdet(a), lambda a: lib(a).logdet(a), [well_conditioned((3, 3), dt)], grad_tol=GT[dt])
    t, f = both(np.zeros((2, 0, 0), dt))
    assert_same(flambeau.linalg.det(f), torch.linalg.det(t))


def test_gradcheck_complex128():
    a = well_conditioned((3, 3), "complex128")
    b = crand((3, 2), "complex128")
    fb = flambeau.tensor(b)

    def loss(z):
        L = flambeau.linalg
        return (L.solve(z, fb).abs().sum() + L.det(z).real + L.slogdet(z)[0].imag + L.svdvals(z).sum()
                + L.inv(z).abs().sum() + L.eigvalsh(z + z.mH).sum())

    def numeric(z, eps=1e-6):
        g = np.zeros_like(z)
        for i in range(z.size):
            for unit in (1, 1j):
                zp, zm = z.copy(), z.copy()
                zp.flat[i] += eps * unit
                zm.flat[i] -= eps * unit
                g.flat[i] += (float(loss(flambeau.tensor(zp))) - float(loss(flambeau.tensor(zm)))) / (2 * eps) * unit
        return g

    zf = flambeau.tensor(a, requires_grad=True)
    (g,) = flambeau.autograd.grad(loss(zf), zf)
    np.testing.assert_allclose(g.numpy(), numeric(a), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dt", CDTS)
def test_matrix_power_triangular_lstsq_rank_cond(dt):
    A = well_conditioned((2, 3, 3), dt)
    for k in (3, 0, -2):  # (PyTorch's own backward fails for k < 0: values only there)
        check(lambda a: lib(a).linalg.matrix_power(a, k), lambda a: lib(a).linalg.matrix_power(a, k), [A],
              grad_tol=GT[dt], grad=k >= 0)
    B = crand((2, 3, 2), dt)
    for upper, unit in ((True, False), (False, False), (True, True)):
        check(lambda a, b: lib(a).linalg.solve_triangular(a, b, upper=upper, unitriangular=unit),
              lambda a, b: lib(a).linalg.solve_triangular(a, b, upper=upper, unitriangular=unit), [A, B],
              grad_tol=GT[dt])
    check(lambda a, b: lib(a).linalg.solve_triangular(a, b.mT, upper=True, left=False),
          lambda a, b: lib(a).linalg.solve_triangular(a, b.mT, upper=True, left=False), [A, B], grad_tol=GT[dt])
    M, Y = crand((5, 3), dt), crand((5, 2), dt)
    check(lambda a, b: lib(a).linalg.lstsq(a, b).solution, lambda a, b: lib(a).linalg.lstsq(a, b).solution, [M, Y],
          grad_tol=GT[dt])
    for driver in ("gelsd", "gelsy"):
        rt = torch.linalg.lstsq(torch.tensor(M), torch.tensor(Y), driver=driver)
        rf = flambeau.linalg.lstsq(flambeau.tensor(M), flambeau.tensor(Y), driver=driver)
        for name in ("residuals", "rank", "singular_values"):
            assert_same(getattr(rf, name), getattr(rt, name), what=f"{driver} {name}", tol=GT[dt])
    low_rank = (crand((4, 2), dt) @ crand((2, 4), dt)).astype(dt)
    assert_same(flambeau.linalg.matrix_rank(flambeau.tensor(low_rank)), torch.linalg.matrix_rank(torch.tensor(low_rank)))
    for p in (None, 2, -2, "fro", "nuc", 1, float("inf")):
        # (PyTorch's backward through cond's inverse fails for the other orders: values only there)
        check(lambda a: lib(a).linalg.cond(a, p), lambda a: lib(a).linalg.cond(a, p), [A], grad_tol=GT[dt],
              grad=p in (None, 2, -2))


@pytest.mark.parametrize("dt", CDTS)
def test_eigh(dt):
    H = hermitian((2, 4, 4), dt)
    t, f = both(H)
    Lt, Vt = torch.linalg.eigh(t)
    Lf, Vf = flambeau.linalg.eigh(f)
    assert_same(Lf, Lt, tol=GT[dt])
    assert Vf.dtype is getattr(flambeau, dt)
    # the same eigenvectors up to phase
    overlap = np.abs(np.einsum("bij,bij->bj", npy(Vf).conj(), npy(Vt)))
    np.testing.assert_allclose(overlap, 1, atol=GT[dt][1] * 10)
    W = torch.tensor(crand((4, 1), "float64", 0, 1)).to(Lt.dtype)

    def loss(lib_, L, V, w):
        # phase-invariant: the moduli of V, and V diag(L) V^H
        return (L ** 2).sum() + ((V.abs() ** 3) * w).sum() + (V @ lib_.diag_embed(L.to(V.dtype)) @ V.mH).real.sum()

    check(lambda a: loss(torch, *torch.linalg.eigh(a), W), lambda a: loss(flambeau, *flambeau.linalg.eigh(a),
          flambeau.tensor(W.numpy())), [H], grad_tol=GT[dt], tol=GT[dt])
    # repeated eigenvalues: an orthonormal basis of each eigenspace
    q = np.linalg.qr(crand((5, 5), "complex128"))[0]
    h2 = (q @ np.diag([1.0, 1.0, 2.0, 2.0, 2.0]) @ q.conj().T).astype(dt)
    L, V = (npy(x) for x in flambeau.linalg.eigh(flambeau.tensor(h2)))
    np.testing.assert_allclose(V.conj().T @ V, np.eye(5), atol=GT[dt][1])
    np.testing.assert_allclose(h2 @ V, V * L, atol=GT[dt][1] * 10)
    z = flambeau.tensor(H[0], requires_grad=True)
    with pytest.raises(RuntimeError, match="specified up to multiplication by e"):
        flambeau.linalg.eigh(z)[1].real.sum().backward()


@pytest.mark.parametrize("dt", CDTS)
def test_cholesky(dt):
    a = crand((2, 4, 4), dt, -1, 1)
    H = (a @ np.swapaxes(a.conj(), -1, -2) + 2 * np.eye(4)).astype(dt)
    for upper in (False, True):
        check(lambda x: lib(x).linalg.cholesky(x, upper=upper), lambda x: lib(x).linalg.cholesky(x, upper=upper), [H],
              grad_tol=GT[dt], tol=GT[dt])
    check(lambda x: lib(x).linalg.cholesky_ex(x).L, lambda x: lib(x).linalg.cholesky_ex(x).L, [H], grad_tol=GT[dt],
          tol=GT[dt])
    bad = H.copy()
    bad[1] = -bad[1]
    assert_same(flambeau.linalg.cholesky_ex(flambeau.tensor(bad)).info, torch.linalg.cholesky_ex(torch.tensor(bad)).info)
    with pytest.raises(flambeau.linalg.LinAlgError, match=r"\(Batch element 1\).*order 1 is not positive-definite"):
        flambeau.linalg.cholesky(flambeau.tensor(bad))


@pytest.mark.parametrize("dt", CDTS)
def test_qr(dt):
    for shape in ((5, 3), (2, 4, 4), (3, 5)):
        for mode in ("reduced", "complete", "r"):
            grad = mode == "reduced" and shape[-2] >= shape[-1]
            check(lambda a: lib(a).linalg.qr(a, mode)[1], lambda a: lib(a).linalg.qr(a, mode)[1], [crand(shape, dt)],
                  grad=grad, tol=GT[dt], grad_tol=GT[dt])
            if mode != "r":
                check(lambda a: lib(a).linalg.qr(a, mode)[0], lambda a: lib(a).linalg.qr(a, mode)[0], [crand(shape, dt)],
                      grad=grad, tol=GT[dt], grad_tol=GT[dt])
    check(lambda a: (lambda q, r: (q @ r).abs() + q.real.sum(-1, keepdim=True))(*lib(a).linalg.qr(a)),
          lambda a: (lambda q, r: (q @ r).abs() + q.real.sum(-1, keepdim=True))(*lib(a).linalg.qr(a)),
          [crand((4, 3), dt)], tol=GT[dt], grad_tol=GT[dt])
