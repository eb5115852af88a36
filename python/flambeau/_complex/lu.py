"""LU factorisation of complex matrices: torch.linalg.lu_factor / lu_factor_ex / lu / lu_solve, torch.lu,
torch.lu_unpack, torch.lu_solve (and the Tensor methods), with PyTorch's gradients; and the determinant
from it, as PyTorch computes det.

The factorisation is LAPACK's zgetrf, unblocked: partial pivoting on the largest |Re| + |Im| of the
column (izamax's measure, not the modulus; the first such row on ties), the rows swapped across the whole
matrix, the multipliers scaled by the pivot and the trailing block updated; an exactly zero pivot
column is skipped and reported in info (1-based, the first one). Run on the host in complex128,
vectorised over the batch, so the pivots are PyTorch's on the same input (LAPACK's blocked variant
reorders only rounding) and the factors agree with its to rounding. Pivots and info are int64, as
flambeau's real LU gives them (PyTorch: int32).

The gradients are PyTorch's formulas (FunctionsManual.cpp: linalg_lu_backward for square, wide and tall
matrices, linalg_lu_solve_LU and the right-hand side's A^-H gX) with conjugate transposes, written with
the complex ops so that a create_graph backward records.
"""
import numpy as np

from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from ..autograd.grad_mode import no_grad
from .core import check_matrix, make
from . import ops as _ops


def _f():
    import flambeau
    return flambeau


def _ld():
    from .._functions import linalg_dense
    return linalg_dense


def _np(t):
    from .._functions.host_route import to_numpy
    return to_numpy(t.detach()._impl)


def _records(*ts):
    return _gs.enabled and any(isinstance(t, Tensor) and t.requires_grad for t in ts)


def _check(A, op, name="A", square=False):
    check_matrix(A, op, name, square)


# ---------------------------------------------------------------- the host kernels
def lu_factor_host(A):
    """(LU, pivots, info) numpy of A (any leading dims): complex128 LU, 1-based int64 pivots [..., k],
    int64 info [...]."""
    a = _np(A).astype(np.complex128)
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    nb = int(np.prod(batch))
    a = a.reshape(nb, m, n).copy()
    k = min(m, n)
    piv = np.zeros((nb, k), np.int64)
    info = np.zeros(nb, np.int64)
    rows = np.arange(nb)
    with np.errstate(all="ignore"):
        for j in range(k):
            col = a[:, j:, j]
            p = j + np.argmax(np.abs(col.real) + np.abs(col.imag), axis=-1)
            piv[:, j] = p + 1
            top = a[rows, j, :].copy()  # the row swap (a no-op where p == j)
            a[rows, j, :] = a[rows, p, :]
            a[rows, p, :] = top
            pv = a[:, j, j]
            zero = pv == 0  # the whole column is zero: nothing to eliminate
            info[zero & (info == 0)] = j + 1
            a[:, j + 1:, j] *= np.where(zero, 1.0, 1.0 / np.where(zero, 1.0, pv))[:, None]
            if j + 1 < n:
                a[:, j + 1:, j + 1:] -= a[:, j + 1:, j:j + 1] * a[:, j:j + 1, j + 1:]
    return a.reshape(batch + (m, n)), piv.reshape(batch + (k,)), info.reshape(batch)


def _swaps_to_perm(piv, m):
    """perm [nb, m] with (P^T A) = A[perm] for LAPACK's sequential 1-based row swaps piv [nb, k]."""
    nb, k = piv.shape
    perm = np.tile(np.arange(m), (nb, 1))
    rows = np.arange(nb)
    for j in range(k):
        p = piv[:, j] - 1
        pj = perm[rows, j].copy()
        perm[rows, j] = perm[rows, p]
        perm[rows, p] = pj
    return perm


def lu_solve_host(lu, piv, b, adjoint):
    """X [nb, n, r] with A X = B (A^H X = B when adjoint), A = P L U given by lu [nb, n, n], piv [nb, n]."""
    nb, n, _ = lu.shape
    rows = np.arange(nb)[:, None]
    perm = _swaps_to_perm(piv, n)
    x = np.array(b, dtype=np.complex128)
    with np.errstate(all="ignore"):
        if not adjoint:  # L U X = P^T B
            x = x[rows, perm]
            for i in range(1, n):
                x[:, i] -= np.einsum("bj,bjr->br", lu[:, i, :i], x[:, :i])
            for i in reversed(range(n)):
                x[:, i] = (x[:, i] - np.einsum("bj,bjr->br", lu[:, i, i + 1:], x[:, i + 1:])) / lu[:, i, i, None]
        else:  # U^H L^H P^T X = B
            luh = lu.conj()
            for i in range(n):
                x[:, i] = (x[:, i] - np.einsum("bj,bjr->br", luh[:, :i, i], x[:, :i])) / luh[:, i, i, None]
            for i in reversed(range(n - 1)):
                x[:, i] -= np.einsum("bj,bjr->br", luh[:, i + 1:, i], x[:, i + 1:])
            out = np.empty_like(x)
            out[rows, perm] = x
            x = out
    return x


def _tensor(arr, like, dtype=None):
    f = _f()
    return f.tensor(np.array(arr, order="C"), dtype=dtype or like.dtype, device=like.device)  # 0-d stays 0-d


def _factor(A):
    lu, piv, info = lu_factor_host(A)
    f = _f()
    return _tensor(lu, A), _tensor(piv, A, f.int64), _tensor(info, A, f.int64)


def perm_matrix(piv, m, like):
    """P [..., m, m] (like's dtype) with A = P L U for the 1-based pivots."""
    p = _np(piv).astype(np.int64)
    batch = p.shape[:-1]
    nb = int(np.prod(batch))
    perm = _swaps_to_perm(p.reshape(nb, p.shape[-1]), m)
    P = np.zeros((nb, m, m))
    P[np.arange(nb)[:, None], perm, np.arange(m)[None, :]] = 1.0
    return _tensor(P.reshape(batch + (m, m)), like)


# ---------------------------------------------------------------- autograd
def _eye(n, like):
    return _f().eye(n, dtype=like.dtype, device=like.device)


def _trsm(A, B, upper, left=True, unit=False):
    from .linalg import solve_triangular
    return solve_triangular(A, B, upper=upper, left=left, unitriangular=unit)


def lu_backward(gL, gU, P, L, U):
    """PyTorch's linalg_lu_backward (pivot=True): the gradient of A = P L U, L [..., m, k], U [..., k, n]."""
    f = _f()
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    mm, sub, add = _ops.matmul, _ops.sub, _ops.add
    if gL is None and gU is None:
        return None
    if m == n:
        gA = mm(L.mH, gL).tril(-1) if gL is not None else None
        if gU is not None:
            t = mm(gU, U.mH).triu()
            gA = t if gA is None else add(gA, t)
        gA = _trsm(U.mH, gA, upper=False, left=False)
        gA = _trsm(L.mH, gA, upper=True, unit=True)
        return mm(P, gA)
    if m < n:  # wide: A1 = P L^-H [U1_grad + (L^H gL o 1_L - gU U^H o 1_U) U1^-H], A2 = P L^-H gU2
        U1 = U[..., :, :k]
        gA = mm(L.mH, gL) if gL is not None else None
        if gU is not None:
            t = mm(gU.triu(), U.mH)
            gA = _ops.neg(t) if gA is None else sub(gA, t)
        gA = _trsm(U1.mH, gA.tril(-1), upper=False, left=False)
        if gU is not None:
            gA = f.cat([add(gA, gU[..., :, :k].triu()), gU[..., :, k:]], -1)
        gA = _trsm(L.mH, gA, upper=True, unit=True)
        if gU is None:
            gA = f.cat([gA, f.zeros_like(U[..., :, k:])], -1)
        return mm(P, gA)
    # tall: A1 = P [gL1 + L1^-H (gU U^H o 1_U - L^H gL o 1_L)] U^-H, A2 = P gL2 U^-H
    L1 = L[..., :k, :]
    gA = mm(gU, U.mH) if gU is not None else None
    if gL is not None:
        t = mm(L.mH, gL.tril(-1))
        gA = _ops.neg(t) if gA is None else sub(gA, t)
    gA = _trsm(L1.mH, gA.triu(), upper=True, unit=True)
    if gL is not None:
        gA = f.cat([add(gA, gL[..., :k, :].tril(-1)), gL[..., k:, :]], -2)
    gA = _trsm(U.mH, gA, upper=False, left=False)
    if gL is None:
        gA = f.cat([gA, f.zeros_like(L[..., k:, :])], -2)
    return mm(P, gA)


def _unpack(LU, piv, unpack_data=True, unpack_pivots=True):
    f = _f()
    m, n = LU.shape[-2:]
    k = min(m, n)
    if unpack_data:
        L = _ops.add(LU[..., :, :k].tril(-1), f.eye(m, k, dtype=LU.dtype, device=LU.device))
        U = LU[..., :k, :].triu()
    else:
        L = U = f.empty(0, dtype=LU.dtype, device=LU.device)
    P = perm_matrix(piv, m, LU) if unpack_pivots else f.empty(0, dtype=LU.dtype, device=LU.device)
    return P, L, U


class _LuFactorEx(Function):
    _grad_fn_name = "LinalgLuFactorExBackward0"

    @staticmethod
    def forward(ctx, A):
        LU, piv, info = _factor(A)
        ctx.LU, ctx.piv = LU, piv
        ctx.mark_non_differentiable(piv, info)
        return LU, piv, info

    @staticmethod
    def backward(ctx, gLU, _gp, _gi):
        # PyTorch's lu_factor_ex_backward: linalg_lu_backward with gL = grad[..., :k], gU = grad[..., :k, :]
        LU = ctx.LU
        m, n = LU.shape[-2:]
        k = min(m, n)
        P, L, U = _unpack(LU, ctx.piv)
        return lu_backward(gLU[..., :, :k], gLU[..., :k, :], P, L, U)


class _LuSolve(Function):
    _grad_fn_name = "LinalgLuSolveBackward0"

    @staticmethod
    def forward(ctx, LU, piv, B, adjoint):
        X = _solve_raw(LU, piv, B, adjoint)
        ctx.LU, ctx.piv, ctx.X, ctx.adjoint = LU, piv, X, adjoint
        return X

    @staticmethod
    def backward(ctx, gX):
        LU, piv, X, adjoint = ctx.LU, ctx.piv, ctx.X, ctx.adjoint
        nig = ctx.needs_input_grad
        gB = lu_solve(LU, piv, gX, adjoint=not adjoint) if nig[2] else None
        gLU = None
        if nig[0]:  # PyTorch's linalg_lu_solve_LU, left=True
            P, L, U = _unpack(LU, piv)
            mm = _ops.matmul
            if not adjoint:
                gR = _trsm(U.mH, _ops.neg(mm(gX, X.mH)), upper=False)
                gL = _trsm(L.mH, mm(gR, U.mH), upper=True, unit=True).tril(-1)
                gLU = _ops.add(gL, gR.triu())
            else:
                gR = _ops.neg(mm(mm(mm(P.mT, X), gX.mH), P))
                gR = _trsm(L.mH, gR, upper=True, left=False, unit=True)
                gU = _trsm(U.mH, mm(L.mH, gR), upper=False, left=False).triu()
                gLU = _ops.add(gR.tril(-1), gU)
        return gLU, None, gB, None


def _solve_raw(LU, piv, B, adjoint):
    n, r = B.shape[-2:]
    batch = tuple(B.shape[:-2])
    nb = int(np.prod(batch))
    x = lu_solve_host(_np(LU).astype(np.complex128).reshape(nb, n, n), _np(piv).astype(np.int64).reshape(nb, n),
                      _np(B).reshape(nb, n, r), adjoint)
    return _tensor(x.reshape(batch + (n, r)), B)


# ---------------------------------------------------------------- the public functions
def _outs(out, rt, values):
    if out is None:
        return rt(*values)
    for o, v in zip(out, values):
        if tuple(o.shape) != tuple(v.shape):
            o.resize_(v.shape)
        o.copy_(v)
    return rt(*out)


def lu_factor_ex(A, *, pivot=True, check_errors=False, out=None):
    ld = _ld()
    _check(A, "linalg.lu_factor_ex")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    LU, piv, info = _LuFactorEx.apply(A) if _records(A) else _factor(A)
    if check_errors:
        ld._raise_on_info(info, "torch.linalg.lu_factor_ex", ld._lu_message, A.ndim > 2, RuntimeError)
    return _outs(out, ld.return_types.linalg_lu_factor_ex, (LU, piv, info))


def lu_factor(A, *, pivot=True, out=None):
    ld = _ld()
    _check(A, "linalg.lu_factor")
    LU, piv, info = lu_factor_ex(A, pivot=pivot)
    ld._raise_on_info(info, "torch.linalg.lu_factor", ld._lu_message, A.ndim > 2, RuntimeError)
    return _outs(out, ld.return_types.linalg_lu_factor, (LU, piv))


def lu(A, *, pivot=True, out=None):
    """P, L, U with A = P L U (L unit lower [..., m, k], U upper [..., k, n])."""
    _check(A, "linalg.lu")
    LU, piv, _ = lu_factor_ex(A, pivot=pivot)
    return _outs(out, _ld().return_types.linalg_lu, _unpack(LU, piv))


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True, *, out=None):
    _check(LU_data, "lu_unpack", name="LU_data")
    return _outs(out, _ld().return_types.lu_unpack, _unpack(LU_data, LU_pivots, unpack_data, unpack_pivots))


def lu_solve(LU, pivots, B, *, left=True, adjoint=False, out=None):
    op = "linalg.lu_solve"
    _check(LU, op, name="LU", square=True)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}(): argument 'B' must be Tensor, not {type(B).__name__}")
    if B.dtype != LU.dtype:
        names = {"float32": "Float", "float64": "Double", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}
        raise RuntimeError(f"{op}: Expected LU and B to have the same dtype, but found LU of type "
                           f"{names.get(LU._impl.dtype)} and B of type {names.get(B._impl.dtype)} instead")
    if B.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    n = LU.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {B.shape[-2]}x{B.shape[-1]})")
    if not left:  # X A = B  <=>  A^H X^H = B^H
        X = lu_solve(LU, pivots, B.mH, left=True, adjoint=not adjoint).mH
        return _ops._finish(X, out)
    LU2, B2 = _ld()._batch_broadcast(LU, B, op)
    batch = tuple(LU2.shape[:-2])
    piv = pivots if tuple(pivots.shape[:-1]) == batch else pivots.expand(batch + (n,))
    X = _LuSolve.apply(LU2, piv, B2, bool(adjoint)) if _records(LU2, B2) else _solve_raw(LU2, piv, B2, bool(adjoint))
    return _ops._finish(X, out)


# the legacy spellings
def lu_legacy(A, pivot=True, get_infos=False, out=None):
    LU, piv, info = lu_factor_ex(A, pivot=pivot)
    return (LU, piv, info) if get_infos else (LU, piv)


def lu_solve_legacy(b, LU_data, LU_pivots, *, out=None):
    return lu_solve(LU_data, LU_pivots, b, out=out)


# ---------------------------------------------------------------- det, as PyTorch computes it
def det_factors(A):
    """(det, lu, piv) of the complex A (no autograd): det = prod(diag U) * sign(P) as a tensor, the
    complex128 numpy factors flattened to [nb, n, n], [nb, n]."""
    lu, piv, _ = lu_factor_host(A)
    k = piv.shape[-1]
    swaps = (piv != np.arange(1, k + 1)).sum(-1)
    d = np.prod(np.diagonal(lu, 0, -2, -1), -1) * np.where(swaps % 2 == 1, -1.0, 1.0)
    n = A.shape[-1]
    return _tensor(np.asarray(d), A), lu.reshape(-1, n, n), piv.reshape(-1, k)


def det_host(A):
    return det_factors(A)[0]


def _prod_others(S):
    """[..., n]: the product of S[..., j] over j != i, without division (zeros are fine)."""
    f = _f()
    n = S.shape[-1]
    cols = []
    for i in range(n):
        rest = [p for p in (S[..., :i], S[..., i + 1:]) if p.shape[-1] > 0]
        cols.append(f.cat(rest, -1).prod(-1) if rest else f.ones_like(S[..., 0]))
    return f.stack(cols, -1)


def det_backward(g, d, A, lu, piv):
    """PyTorch's linalg_det_backward: g conj(det A) A^-H, by an adjoint solve with the forward's LU factors
    (so that for a nearly singular A the noise of the tiny pivot cancels between det and A^-H, as in
    PyTorch); through the SVD where some det is exactly 0 (A = U S Vh:
    conj(det A) A^-H = conj(det U det Vh) U diag(prod_{j != i} s_j) Vh)."""
    from .linalg import inv
    from .svd import svd
    f = _f()
    n = A.shape[-1]
    if A.numel() == 0:
        return f.zeros_like(A)
    if n == 1:  # det(A) = A: the gradient is g, with no graph to A (as PyTorch's)
        return g.unsqueeze(-1).unsqueeze(-1)
    s = _ops.mul(g, _ops.conj(d))
    if not bool((_ops.abs(d) == 0).any()):
        if _gs.enabled:  # create_graph: differentiable ops
            return _ops.mul(s.unsqueeze(-1).unsqueeze(-1), inv(A).mH)
        rhs = np.broadcast_to(_np(s).reshape(-1, 1, 1) * np.eye(n), lu.shape)
        return _tensor(lu_solve_host(lu, piv, rhs, True).reshape(tuple(A.shape)), A)
    U, S, Vh = svd(A)
    with no_grad():
        phase = _ops.conj(_ops.mul(det_host(U), det_host(Vh)))
    scale = _ops.mul(_ops.mul(g, phase).unsqueeze(-1), make(_prod_others(S), None))
    return _ops.matmul(_ops.mul(U, scale.unsqueeze(-2)), Vh)
