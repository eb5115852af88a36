"""Dense linear algebra against PyTorch (CPU kernels csrc/cpu/linalg_*.cpp, Python layer
_functions/linalg_dense.py): LU (lu_factor, lu, lu_solve), solve / inv / det / slogdet, triangular
solves, Cholesky, QR, eigh, SVD, pinv, lstsq, matrix_rank, matrix_power, matrix_exp, multi_dot, cond,
tensorinv/tensorsolve, the top-level aliases (torch.det, torch.svd, ...) and the Tensor methods.

Inputs are well-conditioned on purpose (a row permutation of I + R / (2 sqrt(n)), singular values in
about [0.4, 1.6]), so that float32 results of two implementations agree to ~1e-5. Unique results are
compared with torch directly (values, gradients): solutions, inverses, determinants, Cholesky
factors, LU factors and pivots, Q and R (the same Householder sign convention as LAPACK), eigenvalues
and singular values. Eigenvectors and singular vectors are unique only up to sign: they are checked by
reconstruction and orthogonality, and their gradients through gauge-invariant functions
(V diag(c) V^T, U diag(c) V^T). float64 finite-difference gradchecks (flambeau.autograd.gradcheck)
cover every backward formula; error cases check the exception type and message.
"""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, check_error, fl_tensor, to_np

FL = flambeau
# torch.lu, torch.lu_solve, torch.cholesky, torch.svd ... are deprecated in torch (they warn): we test them anyway.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
DTYPES = ["float32", "float64"]
BATCHES = [(), (3,), (2, 3)]
SIZES = [1, 2, 5, 17]
# float32: torch's LAPACK works in float32, we in float64; both are within ~cond * n * eps32 of exact.
TOL = {"float32": dict(atol=2e-5, rtol=2e-4, grad_atol=2e-4, grad_rtol=2e-3),
       "float64": dict(atol=1e-10, rtol=1e-9, grad_atol=1e-9, grad_rtol=1e-8)}


def wc(shape, dtype, rng):
    """A well-conditioned [..., n, n] matrix with a random row permutation (so LU pivots)."""
    *batch, n, _ = shape
    R = rng.uniform(-1, 1, size=tuple(batch) + (n, n))
    A = np.eye(n) + R / (2 * np.sqrt(max(n, 1)))
    perm = rng.permutation(n)
    return np.ascontiguousarray(A[..., perm, :]).astype(dtype)


def spd(shape, dtype, rng):
    *batch, n, _ = shape
    M = rng.uniform(-1, 1, size=tuple(batch) + (n, n))
    return (M @ np.swapaxes(M, -1, -2) / max(n, 1) + np.eye(n)).astype(dtype)


def sym(shape, dtype, rng):
    M = rng.uniform(-1, 1, size=shape)
    return ((M + np.swapaxes(M, -1, -2)) / 2).astype(dtype)


def rect(shape, dtype, rng):
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def fl(a, requires_grad=False):
    return fl_tensor(np.asarray(a), requires_grad=requires_grad)


def gradcheck(fn, *arrays):
    inputs = [fl_tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    assert FL.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


# ---------------------------------------------------------------- solve, inv, det, slogdet
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", SIZES)
def test_solve_inv_det_slogdet(dtype, batch, n, rng):
    A = wc(batch + (n, n), dtype, rng)
    B = rect(batch + (n, 3), dtype, rng)
    tol = TOL[dtype]
    check_op(lambda a, b: torch.linalg.solve(a, b), lambda a, b: FL.linalg.solve(a, b), inputs=[A, B], **tol)
    check_op(torch.linalg.inv, FL.linalg.inv, inputs=[A], **tol)
    check_op(torch.linalg.det, FL.linalg.det, inputs=[A], **tol)
    check_op(lambda a: torch.linalg.slogdet(a), lambda a: FL.linalg.slogdet(a), inputs=[A], **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_solve_broadcast_vectors_and_left_false(dtype, rng):
    tol = TOL[dtype]
    cases = [((2, 1, 4, 4), (3, 4, 2)), ((4, 4), (5, 4, 3)), ((3, 4, 4), (4, 2)), ((3, 4, 4), (4,)),
             ((3, 4, 4), (3, 4)), ((1, 4, 4), (2, 4, 1))]
    for sa, sb in cases:
        A, B = wc(sa, dtype, rng), rect(sb, dtype, rng)
        check_op(lambda a, b: torch.linalg.solve(a, b), lambda a, b: FL.linalg.solve(a, b), inputs=[A, B], **tol)
    # X A = B
    A, B = wc((2, 4, 4), dtype, rng), rect((2, 3, 4), dtype, rng)
    check_op(lambda a, b: torch.linalg.solve(a, b, left=False), lambda a, b: FL.linalg.solve(a, b, left=False),
             inputs=[A, B], **tol)
    r = FL.linalg.solve_ex(fl(A), fl(B), left=False)
    assert_close(r.result, torch.linalg.solve(torch.tensor(A), torch.tensor(B), left=False), atol=tol["atol"],
                 rtol=tol["rtol"])
    assert to_np(r.info).tolist() == [0, 0]


def test_non_contiguous_inputs(rng):
    A, B = wc((3, 5, 5), "float64", rng), rect((3, 5, 2), "float64", rng)
    tol = TOL["float64"]
    check_op(lambda a, b: torch.linalg.solve(a, b), lambda a, b: FL.linalg.solve(a, b), inputs=[A, B],
             non_contiguous=True, **tol)
    check_op(torch.linalg.inv, FL.linalg.inv, inputs=[A], non_contiguous="step", **tol)
    check_op(torch.linalg.det, FL.linalg.det, inputs=[A], non_contiguous=True, **tol)
    S = spd((2, 4, 4), "float64", rng)
    check_op(torch.linalg.cholesky, FL.linalg.cholesky, inputs=[S], non_contiguous=True, **tol)
    M = rect((2, 6, 4), "float64", rng)
    check_op(lambda a: torch.linalg.qr(a), lambda a: FL.linalg.qr(a), inputs=[M], non_contiguous=True, **tol)
    check_op(torch.linalg.svdvals, FL.linalg.svdvals, inputs=[M], non_contiguous="step", **tol)


def test_empty_inputs():
    for shape in [(0, 3, 3), (2, 0, 0), (0, 0)]:
        t, f = torch.zeros(shape, dtype=torch.float64), FL.zeros(shape, dtype=FL.float64)
        for name in ["inv", "det", "cholesky", "eigvalsh", "svdvals", "matrix_exp"]:
            assert_close(getattr(FL.linalg, name)(f), getattr(torch.linalg, name)(t), what=name)
        for name in ["slogdet", "eigh", "svd", "qr", "lu_factor", "lu"]:
            ro, rt = getattr(FL.linalg, name)(f), getattr(torch.linalg, name)(t)
            for a, b in zip(ro, rt):
                assert tuple(a.shape) == tuple(b.shape), name
        B = torch.zeros(shape[:-1] + (2,), dtype=torch.float64)
        assert_close(FL.linalg.solve(f, FL.zeros(B.shape, dtype=FL.float64)), torch.linalg.solve(t, B))
    # zero-width matrices: torch gives the identity for the missing vectors
    for shape in [(3, 0), (0, 3)]:
        t, f = torch.zeros(shape, dtype=torch.float64), FL.zeros(shape, dtype=FL.float64)
        for a, b in zip(FL.linalg.svd(f), torch.linalg.svd(t)):
            assert_close(a, b)
        for mode in ["reduced", "complete"]:
            for a, b in zip(FL.linalg.qr(f, mode), torch.linalg.qr(t, mode)):
                assert_close(a, b)


# ---------------------------------------------------------------- LU
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 5), (3, 17, 17), (2, 6, 4), (4, 6), (2, 1, 1)])
def test_lu_factor_lu_and_lu_solve(dtype, shape, rng):
    tol = TOL[dtype]
    m, n = shape[-2:]
    A = wc(shape, dtype, rng) if m == n else rect(shape, dtype, rng)
    LU, piv = FL.linalg.lu_factor(fl(A))
    tLU, tpiv = torch.linalg.lu_factor(torch.tensor(A))
    assert_close(LU, tLU, atol=tol["atol"], rtol=tol["rtol"])
    np.testing.assert_array_equal(to_np(piv), tpiv.numpy())  # int64 here, int32 in torch
    for a, b in zip(FL.linalg.lu(fl(A)), torch.linalg.lu(torch.tensor(A))):
        assert_close(a, b, atol=tol["atol"], rtol=tol["rtol"])
    for a, b in zip(FL.lu_unpack(LU, piv), torch.lu_unpack(tLU, tpiv)):
        assert_close(a, b, atol=tol["atol"], rtol=tol["rtol"])
    if m != n:
        return
    B = rect(shape[:-1] + (3,), dtype, rng)
    tp = tpiv
    for adjoint in (False, True):
        check_op(lambda lu, b: torch.linalg.lu_solve(lu, tp, b, adjoint=adjoint),
                 lambda lu, b: FL.linalg.lu_solve(lu, piv, b, adjoint=adjoint), inputs=[tLU.numpy(), B], **tol)
    Bt = rect(shape[:-2] + (3, n), dtype, rng)
    check_op(lambda lu, b: torch.linalg.lu_solve(lu, tp, b, left=False),
             lambda lu, b: FL.linalg.lu_solve(lu, piv, b, left=False), inputs=[tLU.numpy(), Bt], **tol)
    # gradients of the factorisations (square)
    check_op(lambda a: torch.linalg.lu_factor(a).LU, lambda a: FL.linalg.lu_factor(a).LU, inputs=[A], **tol)
    check_op(lambda a: torch.linalg.lu(a)[1:], lambda a: FL.linalg.lu(a)[1:], inputs=[A], **tol)


def test_lu_legacy_and_methods(rng):
    A, b = wc((2, 4, 4), "float64", rng), rect((2, 4, 3), "float64", rng)
    LU, piv, info = FL.lu(fl(A), get_infos=True)
    tLU, tpiv, tinfo = torch.linalg.lu_factor_ex(torch.tensor(A))
    assert_close(LU, tLU)
    assert to_np(info).tolist() == tinfo.tolist()
    assert_close(FL.lu_solve(fl(b), LU, piv), torch.lu_solve(torch.tensor(b), tLU, tpiv))
    assert_close(fl(b).lu_solve(LU, piv), torch.tensor(b).lu_solve(tLU, tpiv))
    assert_close(fl(A).lu()[0], torch.tensor(A).lu()[0])


# ---------------------------------------------------------------- triangular solves
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(dtype, upper, left, unit, rng):
    tol = TOL[dtype]
    A = wc((2, 5, 5), dtype, rng)
    A = np.triu(A) + 2 * np.eye(5, dtype=dtype) if upper else np.tril(A) + 2 * np.eye(5, dtype=dtype)
    A = A + (rng.uniform(-1, 1, A.shape) * (np.tril(np.ones(5), -1) if upper else np.triu(np.ones(5), 1)))
    A = A.astype(dtype)  # the other triangle holds garbage: it must not be read
    B = rect((2, 5, 3) if left else (3, 5), dtype, rng)  # right: broadcast batch too
    check_op(lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unit),
             lambda a, b: FL.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unit),
             inputs=[A, B], **tol)


@pytest.mark.parametrize("transpose", [False, True])
def test_triangular_solve_legacy(transpose, rng):
    A = np.triu(wc((5, 5), "float64", rng)) + np.eye(5)
    b = rect((3, 5, 2), "float64", rng)
    check_op(lambda b_, a: torch.triangular_solve(b_, a, upper=True, transpose=transpose),
             lambda b_, a: FL.triangular_solve(b_, a, upper=True, transpose=transpose), inputs=[b, A],
             **TOL["float64"])
    x = fl(b).triangular_solve(fl(A), upper=True).solution
    assert_close(x, torch.triangular_solve(torch.tensor(b), torch.tensor(A)).solution)


# ---------------------------------------------------------------- Cholesky
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", SIZES)
def test_cholesky(dtype, batch, n, rng):
    tol = TOL[dtype]
    S = spd(batch + (n, n), dtype, rng)
    check_op(torch.linalg.cholesky, FL.linalg.cholesky, inputs=[S], **tol)
    check_op(lambda a: torch.linalg.cholesky(a, upper=True), lambda a: FL.linalg.cholesky(a, upper=True),
             inputs=[S], **tol)


def test_cholesky_reads_one_triangle_and_legacy_ops(rng):
    S = spd((2, 4, 4), "float64", rng)
    junk = S + np.triu(rng.uniform(-5, 5, S.shape), 1)  # upper triangle garbage: lower is read
    assert_close(FL.linalg.cholesky(fl(junk)), torch.linalg.cholesky(torch.tensor(junk)))
    junk_u = S + np.tril(rng.uniform(-5, 5, S.shape), -1)
    assert_close(FL.linalg.cholesky(fl(junk_u), upper=True), torch.linalg.cholesky(torch.tensor(junk_u), upper=True))
    assert_close(FL.cholesky(fl(S), upper=True), torch.linalg.cholesky(torch.tensor(S), upper=True))
    assert_close(fl(S).cholesky(), torch.linalg.cholesky(torch.tensor(S)))
    L = np.linalg.cholesky(S)
    B = rect((2, 4, 3), "float64", rng)
    tol = TOL["float64"]
    for upper in (False, True):
        F = np.swapaxes(L, -1, -2).copy() if upper else L
        check_op(lambda b, f: torch.cholesky_solve(b, f, upper=upper),
                 lambda b, f: FL.cholesky_solve(b, f, upper=upper),
                 inputs=[B, F], **tol)
        check_op(lambda f: torch.cholesky_inverse(f[0], upper=upper),
                 lambda f: FL.cholesky_inverse(f[0], upper=upper), inputs=[F], **tol)
    r = FL.linalg.cholesky_ex(fl(np.stack([S[0], -S[1]])))
    assert to_np(r.info).tolist() == [0, 1]


# ---------------------------------------------------------------- QR
QR_SHAPES = [(5, 5), (7, 4), (4, 7), (2, 3, 17, 5), (3, 1, 1), (2, 5, 1), (1, 6)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", QR_SHAPES)
def test_qr_matches_torch(dtype, shape, rng):
    tol = TOL[dtype]
    A = rect(shape, dtype, rng)
    m, n = shape[-2:]
    for mode in ["reduced", "complete", "r"]:
        Q, R = FL.linalg.qr(fl(A), mode)
        tQ, tR = torch.linalg.qr(torch.tensor(A), mode)
        assert_close(R, tR, atol=tol["atol"], rtol=tol["rtol"], what=f"R {mode}")  # same signs as LAPACK
        assert_close(Q, tQ, atol=tol["atol"], rtol=tol["rtol"], what=f"Q {mode}")
    check_op(lambda a: torch.linalg.qr(a), lambda a: FL.linalg.qr(a), inputs=[A], **tol)
    if m <= n:
        check_op(lambda a: torch.linalg.qr(a, "complete"), lambda a: FL.linalg.qr(a, "complete"), inputs=[A], **tol)
    Q, R = FL.qr(fl(A), some=False)
    assert_close(Q, torch.qr(torch.tensor(A), some=False)[0], atol=tol["atol"], rtol=tol["rtol"])
    assert_close(fl(A).qr()[1], torch.tensor(A).qr()[1], atol=tol["atol"], rtol=tol["rtol"])


def test_qr_zero_columns_keep_lapack_convention():
    A = np.array([[0.3, 1.0, 2.0], [0.0, -1.0, 0.5], [0.0, 2.0, 1.0]])
    for a, b in zip(FL.linalg.qr(fl(A)), torch.linalg.qr(torch.tensor(A))):
        assert_close(a, b)
    zf, zt = FL.zeros(3, 3, dtype=FL.float64), torch.zeros(3, 3, dtype=torch.float64)
    for a, b in zip(FL.linalg.qr(zf), torch.linalg.qr(zt)):
        assert_close(a, b)


# ---------------------------------------------------------------- eigh
def _eigh_inv(m, c, uplo="L"):
    """(eigenvalues, V diag(c) V^T): invariant under the eigenvectors' signs."""
    def f(A):
        w, V = m.linalg.eigh(A, UPLO=uplo)
        return w, (V * m.tensor(c)) @ V.mT
    return f


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", SIZES)
def test_eigh(dtype, batch, n, rng):
    tol = TOL[dtype]
    A = sym(batch + (n, n), dtype, rng)
    w, V = FL.linalg.eigh(fl(A))
    tw = torch.linalg.eigvalsh(torch.tensor(A, dtype=torch.float64))
    assert_close(w, tw.to(getattr(torch, dtype)), atol=tol["atol"], rtol=tol["rtol"])
    Vn, wn = to_np(V).astype(np.float64), to_np(w).astype(np.float64)
    eps = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose((Vn * wn[..., None, :]) @ np.swapaxes(Vn, -1, -2), A, atol=eps * 10)
    np.testing.assert_allclose(np.swapaxes(Vn, -1, -2) @ Vn, np.broadcast_to(np.eye(n), Vn.shape), atol=eps * 10)
    c = rng.uniform(0.5, 1.5, n).astype(dtype)
    check_op(_eigh_inv(torch, c), _eigh_inv(FL, c), inputs=[A], **tol)
    check_op(torch.linalg.eigvalsh, FL.linalg.eigvalsh, inputs=[A], **tol)


def test_eigh_upper_reads_upper_triangle(rng):
    A = rect((3, 6, 6), "float64", rng)  # not symmetric: each uplo reads its own triangle
    for uplo in ["L", "U"]:
        assert_close(FL.linalg.eigvalsh(fl(A), UPLO=uplo), torch.linalg.eigvalsh(torch.tensor(A), UPLO=uplo))
        c = rng.uniform(0.5, 1.5, 6)
        check_op(_eigh_inv(torch, c, uplo), _eigh_inv(FL, c, uplo), inputs=[A], **TOL["float64"])


# ---------------------------------------------------------------- SVD
def _svd_inv(m, c, full):
    """(S, U diag(c) Vh, U diag(c) U^T): invariant under the singular vectors' joint signs."""
    def f(A):
        U, S, Vh = m.linalg.svd(A, full_matrices=full)
        k = S.shape[-1]
        Uk, Vk = U[..., :, :k], Vh[..., :k, :]
        cc = m.tensor(c[:k])
        return S, (Uk * cc) @ Vk, (Uk * cc) @ Uk.mT
    return f


SVD_SHAPES = [(5, 5), (7, 4), (4, 7), (2, 3, 17, 5), (3, 1, 1), (2, 1, 6), (17, 17)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SVD_SHAPES)
def test_svd(dtype, shape, rng):
    tol = TOL[dtype]
    A = rect(shape, dtype, rng)
    m, n = shape[-2:]
    k = min(m, n)
    for full in (True, False):
        U, S, Vh = FL.linalg.svd(fl(A), full_matrices=full)
        tU, tS, tVh = torch.linalg.svd(torch.tensor(A), full_matrices=full)
        assert tuple(U.shape) == tuple(tU.shape) and tuple(Vh.shape) == tuple(tVh.shape)
        assert_close(S, tS, atol=tol["atol"], rtol=tol["rtol"])
        Un, Sn, Vn = (to_np(t).astype(np.float64) for t in (U, S, Vh))
        eps = 1e-5 if dtype == "float32" else 1e-12
        rec = (Un[..., :, :k] * Sn[..., None, :]) @ Vn[..., :k, :]
        np.testing.assert_allclose(rec, A, atol=eps * 10)
        np.testing.assert_allclose(np.swapaxes(Un, -1, -2) @ Un, np.broadcast_to(np.eye(Un.shape[-1]), Un.shape[:-2] +
                                   (Un.shape[-1],) * 2), atol=eps * 10)
        np.testing.assert_allclose(Vn @ np.swapaxes(Vn, -1, -2), np.broadcast_to(np.eye(Vn.shape[-2]), Vn.shape[:-2] +
                                   (Vn.shape[-2],) * 2), atol=eps * 10)
    c = rng.uniform(0.5, 1.5, k).astype(dtype)
    check_op(_svd_inv(torch, c, False), _svd_inv(FL, c, False), inputs=[A], **tol)
    check_op(_svd_inv(torch, c, True), _svd_inv(FL, c, True), inputs=[A], **tol)
    check_op(torch.linalg.svdvals, FL.linalg.svdvals, inputs=[A], **tol)


def test_svd_rank_deficient_and_legacy(rng):
    A = rect((6, 2), "float64", rng) @ rect((2, 5), "float64", rng)  # rank 2
    U, S, Vh = FL.linalg.svd(fl(A))
    assert_close(S, torch.linalg.svdvals(torch.tensor(A)), atol=1e-12)
    Un, Vn = to_np(U), to_np(Vh)
    np.testing.assert_allclose(Un.T @ Un, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(Vn @ Vn.T, np.eye(5), atol=1e-12)
    np.testing.assert_allclose((Un[:, :5] * to_np(S)) @ Vn, A, atol=1e-12)
    for some in (True, False):
        r, t = FL.svd(fl(A), some=some), torch.svd(torch.tensor(A), some=some)
        for a, b in zip(r, t):
            assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose((to_np(r.U)[:, :5] * to_np(r.S)) @ to_np(r.V)[:, :5].T, A, atol=1e-12)
    r, t = FL.svd(fl(A), compute_uv=False), torch.svd(torch.tensor(A), compute_uv=False)
    for a, b in zip(r, t):
        assert_close(a, b, atol=1e-12)
    assert_close(fl(A).svd()[1], torch.tensor(A).svd()[1], atol=1e-12)
    assert_close(FL.linalg.matrix_norm(fl(A), "nuc"), torch.linalg.matrix_norm(torch.tensor(A), "nuc"))
    M = rect((2, 4, 3), "float64", rng)
    for o in (2, -2, "nuc"):
        check_op(lambda a: torch.linalg.matrix_norm(a, o), lambda a: FL.linalg.matrix_norm(a, o), inputs=[M],
                 **TOL["float64"])
        check_op(lambda a: torch.linalg.matrix_norm(a, o, dim=(0, 2), keepdim=True),
                 lambda a: FL.linalg.matrix_norm(a, o, dim=(0, 2), keepdim=True), inputs=[M], **TOL["float64"])
        check_op(lambda a: torch.linalg.norm(a[0], o), lambda a: FL.linalg.norm(a[0], o), inputs=[M],
                 **TOL["float64"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_larger_matrices_and_many_small_ones(dtype, rng):
    # >= 24 columns: the SVD starts from the Gram matrix's eigenvectors; a batch of 700 5x5 matrices is
    # split among OpenMP threads.
    tol = TOL[dtype]
    A = rect((2, 40, 30), dtype, rng)
    A[1] = (rect((40, 6), dtype, rng) @ rect((6, 30), dtype, rng))  # rank 6
    for full in (True, False):
        U, S, Vh = (to_np(t).astype(np.float64) for t in FL.linalg.svd(fl(A), full_matrices=full))
        assert_close(FL.tensor(S.astype(dtype)), torch.linalg.svdvals(torch.tensor(A)), atol=tol["atol"] * 5,
                     rtol=tol["rtol"])
        eps = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose((U[..., :30] * S[..., None, :]) @ Vh[..., :30, :], A, atol=eps * 10)
        np.testing.assert_allclose(np.swapaxes(U, -1, -2) @ U, np.broadcast_to(np.eye(U.shape[-1]), (2,) +
                                   (U.shape[-1],) * 2), atol=eps * 10)
    W = rect((2, 26, 45), dtype, rng)
    assert_close(FL.linalg.svdvals(fl(W)), torch.linalg.svdvals(torch.tensor(W)), atol=tol["atol"] * 5,
                 rtol=tol["rtol"])
    Sy = sym((2, 40, 40), dtype, rng)
    assert_close(FL.linalg.eigvalsh(fl(Sy)), torch.linalg.eigvalsh(torch.tensor(Sy)), atol=tol["atol"] * 5,
                 rtol=tol["rtol"])
    many = wc((700, 5, 5), dtype, rng)
    tm = torch.tensor(many)
    for name in ["inv", "det", "svdvals", "eigvalsh", "matrix_exp"]:
        x = many if name != "eigvalsh" else (many + np.swapaxes(many, -1, -2)) / 2
        assert_close(getattr(FL.linalg, name)(fl(x)), getattr(torch.linalg, name)(torch.tensor(x)),
                     atol=tol["atol"], rtol=tol["rtol"], what=name)
    assert_close(FL.linalg.qr(fl(many)).R, torch.linalg.qr(tm).R, atol=tol["atol"], rtol=tol["rtol"])


def test_repeated_eigenvalues_and_singular_values(rng):
    for n in (4, 30):
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        w = np.repeat([1.0, -2.0], n // 2)
        A = (Q * w) @ Q.T
        ew, V = (to_np(t) for t in FL.linalg.eigh(fl(A)))
        np.testing.assert_allclose(ew, np.sort(w), atol=1e-13)
        np.testing.assert_allclose((V * ew) @ V.T, A, atol=1e-13)
        np.testing.assert_allclose(V.T @ V, np.eye(n), atol=1e-13)
        U, S, Vh = (to_np(t) for t in FL.linalg.svd(fl(Q)))  # all singular values 1
        np.testing.assert_allclose(S, np.ones(n), atol=1e-14)
        np.testing.assert_allclose((U * S) @ Vh, Q, atol=1e-13)
    for M in [np.eye(5), np.zeros((5, 5)), np.zeros((5, 3))]:
        k = min(M.shape)
        assert_close(FL.linalg.eigvalsh(fl(M[:k, :k])), torch.linalg.eigvalsh(torch.tensor(M[:k, :k])))
        U, S, Vh = FL.linalg.svd(fl(M))
        assert_close(S, torch.linalg.svdvals(torch.tensor(M)))
        np.testing.assert_allclose(to_np(U).T @ to_np(U), np.eye(5), atol=1e-14)


def test_out_arguments(rng):
    A, B = wc((2, 3, 3), "float64", rng), rect((2, 3, 2), "float64", rng)
    out = FL.empty(0, dtype=FL.float64)
    r = FL.linalg.solve(fl(A), fl(B), out=out)
    assert r is out
    assert_close(out, torch.linalg.solve(torch.tensor(A), torch.tensor(B)))
    outs = (FL.empty(0, dtype=FL.float64), FL.empty(0, dtype=FL.float64))
    Q, R = FL.linalg.qr(fl(A), out=outs)
    assert Q is outs[0] and R is outs[1]
    assert_close(R, torch.linalg.qr(torch.tensor(A)).R)
    sign, logabs = FL.linalg.slogdet(fl(A), out=(FL.empty(0, dtype=FL.float64), FL.empty(0, dtype=FL.float64)))
    assert_close(logabs, torch.linalg.slogdet(torch.tensor(A)).logabsdet)


# ---------------------------------------------------------------- pinv, lstsq, matrix_rank
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 5), (2, 7, 4), (4, 7), (3, 1, 1)])
def test_pinv(dtype, shape, rng):
    tol = TOL[dtype]
    A = rect(shape, dtype, rng)
    check_op(torch.linalg.pinv, FL.linalg.pinv, inputs=[A], **tol)
    check_op(torch.pinverse, FL.pinverse, inputs=[A], **tol)
    if shape[-1] == shape[-2]:
        S = sym(shape, dtype, rng)
        check_op(lambda a: torch.linalg.pinv(a, hermitian=True), lambda a: FL.linalg.pinv(a, hermitian=True),
                 inputs=[S], **tol)


def test_pinv_rank_deficient_tolerances(rng):
    A = rect((6, 3), "float64", rng) @ rect((3, 5), "float64", rng)
    for kw in [{}, {"rtol": 1e-8}, {"atol": 0.5}, {"atol": 1e-9, "rtol": 0.2}]:
        assert_close(FL.linalg.pinv(fl(A), **kw), torch.linalg.pinv(torch.tensor(A), **kw), atol=1e-9)
        assert_close(FL.linalg.matrix_rank(fl(A), **kw), torch.linalg.matrix_rank(torch.tensor(A), **kw))
    S = A @ A.T
    assert_close(FL.linalg.matrix_rank(fl(S), hermitian=True),
                 torch.linalg.matrix_rank(torch.tensor(S), hermitian=True))
    assert_close(FL.linalg.matrix_rank(fl(A), tol=0.5), torch.linalg.matrix_rank(torch.tensor(A), tol=0.5))
    assert_close(FL.linalg.matrix_rank(fl(np.stack([A, np.zeros_like(A)]))),
                 torch.linalg.matrix_rank(torch.tensor(np.stack([A, np.zeros_like(A)]))))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", [((6, 4), (6, 2)), ((5, 5), (5, 3)), ((3, 6), (3, 2)), ((2, 7, 3), (2, 7, 2)),
                                   ((6, 4), (6,))])
def test_lstsq(dtype, sa, sb, rng):
    tol = TOL[dtype]
    A, B = rect(sa, dtype, rng), rect(sb, dtype, rng)
    check_op(lambda a, b: torch.linalg.lstsq(a, b).solution, lambda a, b: FL.linalg.lstsq(a, b).solution,
             inputs=[A, B], **tol)
    for driver in ["gelsy", "gelsd", "gelss", "gels"]:
        if driver == "gels" and sa[-2] < sa[-1]:
            continue
        r = FL.linalg.lstsq(fl(A), fl(B), driver=driver)
        t = torch.linalg.lstsq(torch.tensor(A), torch.tensor(B), driver=driver)
        for name in ["solution", "residuals", "rank", "singular_values"]:
            assert_close(getattr(r, name), getattr(t, name), atol=tol["atol"] * 10, rtol=tol["rtol"] * 10,
                         what=f"{driver} {name}")


# ---------------------------------------------------------------- matrix functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e-3, 0.1, 0.5, 1.5, 3.0, 12.0])
def test_matrix_exp(dtype, scale, rng):
    # scales chosen so that every Pade degree (3, 5, 7, 9, 13) and scaling+squaring are used
    A = rect((2, 5, 5), dtype, rng) * scale / 2.5
    tol = dict(TOL[dtype])
    if dtype == "float32":
        tol.update(atol=2e-5 * max(1.0, np.exp(scale)), grad_atol=2e-4 * max(1.0, np.exp(scale)))
    check_op(torch.linalg.matrix_exp, FL.linalg.matrix_exp, inputs=[A], **tol)
    assert_close(fl(A).matrix_exp(), torch.tensor(A).matrix_exp(), atol=tol["atol"], rtol=tol["rtol"])


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 5])
def test_matrix_power(k, rng):
    A = wc((2, 4, 4), "float64", rng)
    check_op(lambda a: torch.linalg.matrix_power(a, k), lambda a: FL.linalg.matrix_power(a, k), inputs=[A],
             **TOL["float64"])
    assert_close(fl(A).matrix_power(k), torch.tensor(A).matrix_power(k))


def test_multi_dot_cond_tensorinv_tensorsolve(rng):
    tol = TOL["float64"]
    shapes = [(3,), (3, 10), (10, 2), (2, 6), (6,)]
    arrs = [rect(s, "float64", rng) for s in shapes]
    check_op(lambda *t: torch.linalg.multi_dot(t), lambda *t: FL.linalg.multi_dot(t), inputs=arrs, **tol)
    check_op(lambda *t: torch.linalg.multi_dot(t), lambda *t: FL.linalg.multi_dot(t), inputs=arrs[1:4], **tol)
    A = wc((2, 4, 4), "float64", rng)
    for p in [None, 2, -2]:
        check_op(lambda a: torch.linalg.cond(a, p), lambda a: FL.linalg.cond(a, p), inputs=[A], **tol)
    for p in ["fro", "nuc", 1, -1, float("inf"), float("-inf")]:  # torch's own backward fails for these
        assert_close(FL.linalg.cond(fl(A), p), torch.linalg.cond(torch.tensor(A), p))
    sing = np.stack([A[0], np.zeros((4, 4))])
    assert_close(FL.linalg.cond(fl(sing), 1), torch.linalg.cond(torch.tensor(sing), 1))
    assert_close(FL.linalg.cond(fl(rect((5, 3), "float64", rng))).isfinite(), torch.tensor(True))
    T = wc((6, 6), "float64", rng).reshape(2, 3, 6)
    check_op(lambda a: torch.linalg.tensorinv(a, ind=2), lambda a: FL.linalg.tensorinv(a, ind=2), inputs=[T], **tol)
    T4 = wc((6, 6), "float64", rng).reshape(2, 3, 2, 3)
    b = rect((2, 3), "float64", rng)
    check_op(torch.linalg.tensorsolve, FL.linalg.tensorsolve, inputs=[T4, b], **tol)


def test_top_level_aliases_and_methods(rng):
    A = wc((3, 4, 4), "float64", rng)
    t, f = torch.tensor(A), fl(A)
    pairs = [(torch.det, FL.det), (torch.inverse, FL.inverse), (torch.logdet, FL.logdet),
             (lambda x: x.det(), lambda x: x.det()), (lambda x: x.inverse(), lambda x: x.inverse()),
             (lambda x: x.logdet(), lambda x: x.logdet()), (lambda x: x.pinverse(), lambda x: x.pinverse()),
             (lambda x: torch.matrix_power(x, 3), lambda x: FL.matrix_power(x, 3)),
             (torch.matrix_exp, FL.matrix_exp)]
    for tf, ff in pairs:
        assert_close(ff(f), tf(t))
    for a, b in zip(FL.slogdet(f), torch.slogdet(t)):
        assert_close(a, b)
    for a, b in zip(f.slogdet(), t.slogdet()):
        assert_close(a, b)
    assert hasattr(FL.linalg.slogdet(f), "logabsdet") and hasattr(FL.linalg.eigh(f), "eigenvectors")
    # logdet of a negative determinant is NaN, of a singular matrix -inf
    neg = np.diag([1.0, -2.0, 3.0])
    assert_close(FL.logdet(fl(neg)), torch.logdet(torch.tensor(neg)))
    assert_close(FL.logdet(FL.zeros(3, 3, dtype=FL.float64)), torch.logdet(torch.zeros(3, 3, dtype=torch.float64)))


# ---------------------------------------------------------------- gradients: det of singular matrices, gradcheck
def test_det_gradient_singular_matrix(rng):
    A = rect((4, 4), "float64", rng)
    A[:, 3] = A[:, 0] + 2 * A[:, 1]  # rank 3: cofactors are non-zero
    check_op(torch.linalg.det, FL.linalg.det, inputs=[A], **TOL["float64"])
    A2 = np.stack([A, wc((4, 4), "float64", rng)])
    check_op(torch.linalg.det, FL.linalg.det, inputs=[A2], **TOL["float64"])


def test_gradcheck_float64(rng):
    A, B = wc((2, 3, 3), "float64", rng), rect((2, 3, 2), "float64", rng)
    La = FL.linalg
    gradcheck(lambda a, b: La.solve(a, b), A, B)
    gradcheck(lambda a, b: La.solve(a, b, left=False), A, rect((2, 2, 3), "float64", rng))
    gradcheck(La.inv, A)
    gradcheck(La.det, A)
    gradcheck(lambda a: La.slogdet(a).logabsdet, A)
    Asing = rect((3, 3), "float64", rng)
    Asing[2] = Asing[0] - Asing[1]
    gradcheck(La.det, Asing)
    S = spd((2, 3, 3), "float64", rng)
    gradcheck(lambda x: La.cholesky((x + x.mT) / 2), S)
    gradcheck(lambda x: La.cholesky((x + x.mT) / 2, upper=True), S)
    for shape in [(5, 3), (3, 3), (3, 5)]:
        gradcheck(lambda x: La.qr(x), rect(shape, "float64", rng))
    gradcheck(lambda x: La.qr(x, "complete"), rect((3, 5), "float64", rng))
    Sy = sym((4, 4), "float64", rng)
    c = FL.tensor(rng.uniform(0.5, 1.5, 4))

    def eigh_loss(x):
        w, V = La.eigh((x + x.mT) / 2)
        return w, (V * c) @ V.mT
    gradcheck(eigh_loss, Sy)
    gradcheck(lambda x: La.eigvalsh((x + x.mT) / 2), Sy)
    for shape in [(5, 3), (3, 3), (3, 5)]:
        cc = FL.tensor(rng.uniform(0.5, 1.5, 3))

        def svd_loss(x, full=False):
            U, Sv, Vh = La.svd(x, full_matrices=full)
            return Sv, (U[..., :, :3] * cc) @ Vh[..., :3, :], (U[..., :, :3] * cc) @ U[..., :, :3].mT
        M = rect(shape, "float64", rng)
        gradcheck(svd_loss, M)
        gradcheck(lambda x: svd_loss(x, True), M)
        gradcheck(La.pinv, M)
        gradcheck(lambda a, b: La.lstsq(a, b).solution, M, rect(shape[:1] + (2,), "float64", rng))
    gradcheck(lambda x: La.pinv((x + x.mT) / 2, hermitian=True), Sy)
    gradcheck(La.matrix_exp, rect((2, 3, 3), "float64", rng))
    gradcheck(La.matrix_exp, rect((3, 3), "float64", rng) * 4)  # scaling and squaring
    T = np.triu(wc((3, 3), "float64", rng)) + np.eye(3)
    gradcheck(lambda a, b: La.solve_triangular(a.triu(), b, upper=True), T, rect((3, 2), "float64", rng))
    gradcheck(lambda a, b: La.solve_triangular(a.tril(), b, upper=False, left=False, unitriangular=True),
              T.T.copy(), rect((2, 3), "float64", rng))
    gradcheck(lambda a: La.lu_factor(a).LU, A)
    LU, piv = La.lu_factor(fl(A))
    for adjoint in (False, True):
        gradcheck(lambda lu, b: La.lu_solve(lu, piv, b, adjoint=adjoint), to_np(LU), B)
    gradcheck(lambda x: La.matrix_power(x, -2), A)


def test_double_backward_solve_inv(rng):
    A, B = wc((3, 3), "float64", rng), rect((3, 2), "float64", rng)
    ta, tb = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    fa, fb = fl(A, True), fl(B, True)
    results = []
    for m, a, b in [(torch, ta, tb), (FL, fa, fb)]:
        x = m.linalg.solve(a, b) + m.linalg.inv(a).sum() + m.linalg.det(a)
        g, = m.autograd.grad(x.square().sum(), a, create_graph=True)
        gg, = m.autograd.grad(g.square().sum(), a)
        results.append(gg)
    assert_close(results[1], results[0], atol=1e-8, rtol=1e-7)


# ---------------------------------------------------------------- errors
def test_errors_singular():
    check_error(lambda m: m.linalg.inv(m.zeros(3, 3)), RuntimeError,
                match=r"^linalg\.inv: The diagonal element 1 is zero, the inversion could not be completed")
    check_error(lambda m: m.linalg.inv(m.stack([m.eye(3), m.zeros(3, 3)])), RuntimeError,
                match=r"^linalg\.inv: \(Batch element 1\): The diagonal element 1 is zero")
    check_error(lambda m: m.linalg.solve(m.zeros(3, 3), m.ones(3)), RuntimeError,
                match=r"linalg\.solve: The solver failed because the input matrix is singular\.")
    check_error(lambda m: m.linalg.solve(m.stack([m.eye(3), m.ones(3, 3)]), m.ones(2, 3, 1)), RuntimeError,
                match=r"linalg\.solve: \(Batch element 1\): The solver failed because the input matrix is singular\.")
    check_error(lambda m: m.linalg.lu_factor(m.zeros(2, 3, 3)), RuntimeError,
                match=r"linalg\.lu_factor: \(Batch element 0\): U\[1,1\] is zero")
    check_error(lambda m: m.linalg.matrix_power(m.zeros(2, 2), -1), RuntimeError, match="linalg.inv")
    with pytest.raises(FL.linalg.LinAlgError):
        FL.linalg.inv(FL.zeros(2, 2))
    assert issubclass(FL.linalg.LinAlgError, RuntimeError)
    inv, info = FL.linalg.inv_ex(FL.zeros(2, 2, 2))
    assert to_np(info).tolist() == [1, 1]
    assert to_np(FL.linalg.solve_ex(FL.zeros(2, 2), FL.ones(2)).info).tolist() == 1
    # the _ex variants raise only when asked, naming themselves
    check_error(lambda m: m.linalg.inv_ex(m.zeros(2, 2), check_errors=True), RuntimeError,
                match=r"^linalg\.inv_ex: The diagonal element 1 is zero")
    check_error(lambda m: m.linalg.solve_ex(m.zeros(2, 2), m.ones(2), check_errors=True), RuntimeError,
                match=r"^torch\.linalg\.solve_ex: The solver failed because the input matrix is singular\.")
    check_error(lambda m: m.linalg.cholesky_ex(-m.eye(2), check_errors=True), RuntimeError,
                match=r"^linalg\.cholesky_ex: The factorization could not be completed")
    check_error(lambda m: m.linalg.lu_factor_ex(m.zeros(2, 2), check_errors=True), RuntimeError,
                match=r"^torch\.linalg\.lu_factor_ex: U\[1,1\] is zero")


def test_errors_not_positive_definite():
    check_error(lambda m: m.linalg.cholesky(-m.eye(3)), RuntimeError,
                match=r"^linalg\.cholesky: The factorization could not be completed because the input is not "
                      r"positive-definite \(the leading minor of order 1 is not positive-definite\)\.")
    check_error(lambda m: m.linalg.cholesky(m.stack([m.eye(3), m.diag(m.tensor([1.0, 2.0, -1.0]))])), RuntimeError,
                match=r"^linalg\.cholesky: \(Batch element 1\): .* leading minor of order 3 is not")
    with pytest.raises(FL.linalg.LinAlgError):
        FL.linalg.cholesky(-FL.eye(2))


def test_errors_shapes_and_dtypes():
    cases = [
        (lambda m: m.linalg.cholesky(m.ones(2, 3)), r"linalg\.cholesky: A must be batches of square matrices, but they "
                                                    r"are 2 by 3 matrices"),
        (lambda m: m.linalg.inv(m.ones(2, 3)), r"linalg\.inv: A must be batches of square matrices"),
        (lambda m: m.linalg.det(m.ones(2, 3)), r"linalg\.det: A must be batches of square matrices"),
        (lambda m: m.linalg.eigh(m.ones(2, 3)), r"linalg\.eigh: A must be batches of square matrices"),
        (lambda m: m.linalg.matrix_exp(m.ones(2, 3)), r"linalg\.matrix_exp: A must be batches of square matrices"),
        (lambda m: m.linalg.svd(m.ones(3)), r"linalg\.svd: The input tensor A must have at least 2 dimensions"),
        (lambda m: m.linalg.solve(m.eye(3), m.ones(4)), r"linalg\.solve: Incompatible shapes of A and B for the "
                                                         r"equation AX = B \(3x3 and 4x1\)"),
        (lambda m: m.linalg.solve(m.eye(3), m.ones(2, 4, 2)), r"linalg\.solve: Incompatible shapes .* \(3x3 and 4x2\)"),
        (lambda m: m.linalg.solve(m.eye(3), m.ones(3), left=False), r"equation XA = B \(3x3 and 3x1\)"),
        (lambda m: m.linalg.solve(m.eye(3), m.ones(3, 2, dtype=m.float64)),
         r"linalg\.solve: Expected A and B to have the same dtype, but found A of type Float and B of type Double"),
        (lambda m: m.linalg.solve_triangular(m.eye(3), m.ones(4, 2), upper=True),
         r"linalg\.solve_triangular: Incompatible shapes of A and B for the equation AX = B \(3x3 and 4x2\)"),
        (lambda m: m.linalg.inv(m.ones(3, 3, dtype=m.int64)), r"linalg\.inv: Expected a floating point"),
        (lambda m: m.linalg.qr(m.ones(3, 3), mode="x"), r"qr received unrecognized mode 'x'"),
        (lambda m: m.linalg.lstsq(m.ones(5, 3), m.ones(5, 2), driver="foo"),
         r"linalg\.lstsq: parameter `driver` should be one of \(gels, gelsy, gelsd, gelss\)"),
        (lambda m: m.cholesky_solve(m.ones(3, 2), m.eye(4)), r"Incompatible matrix sizes for cholesky_solve: each A "
                                                             r"matrix is 4 by 4 but each b matrix is 3 by 2"),
        (lambda m: m.linalg.multi_dot([m.ones(2, 3)]), r"multi_dot\(\): expected at least 2 tensors but got 1"),
        (lambda m: m.linalg.matrix_power(m.ones(2, 3), 2), r"linalg\.matrix_power: A must be batches of square"),
        (lambda m: m.linalg.eigh(m.eye(3), UPLO="X"), r"Expected UPLO argument to be 'L' or 'U'"),
    ]
    for fn, match in cases:
        check_error(fn, RuntimeError, match=match)


def test_errors_backward_not_differentiable():
    for mode, shape, match in [("r", (3, 3), r"The derivative of linalg\.qr depends on Q"),
                               ("complete", (4, 3), r"not differentiable when mode='complete' and nrows > ncols")]:
        def fn(m):
            a = m.ones(shape).clone().requires_grad_()
            a.data = a.data + m.eye(*shape)
            m.linalg.qr(a, mode=mode)[1].sum().backward()
        check_error(fn, RuntimeError, match=match)
