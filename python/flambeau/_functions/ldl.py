"""linalg.ldl_factor(_ex) and linalg.ldl_solve for real symmetric matrices: LAPACK's sytf2 (Bunch-Kaufman
diagonal pivoting, lower triangle) and sytrs, written out in numpy on the host, in the input's precision.

Output format as LAPACK's and PyTorch's: LD holds the unit lower-triangular L below its diagonal and the block
diagonal D (1x1 and 2x2 blocks) on its diagonal and first subdiagonal (above the diagonal is zero); pivots are
int32, 1-based: pivots[k] = p > 0 means a 1x1 block at k after rows/columns k and p were swapped, pivots[k] =
pivots[k+1] = -p a 2x2 block at k, k+1 after rows/columns k+1 and p were swapped. PyTorch's blocked sytrf (over
64 rows) takes the same pivots in the same order; its values differ from these by rounding only. No autograd
(PyTorch has none for ldl_factor either); hermitian=True is the same as False for real inputs."""
import math

import numpy as np

import flambeau

__all__ = ["ldl_factor_ex", "ldl_factor", "ldl_solve"]

_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0  # Bunch-Kaufman's threshold: bounds the growth of the factors


def _sytf2_lower(a):
    """In-place Bunch-Kaufman factorisation of the lower triangle of square `a`; (pivots (1-based), info)."""
    n = a.shape[0]
    ipiv = np.zeros(n, dtype=np.int32)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(a[k, k])
        if k < n - 1:
            imax = k + 1 + int(np.argmax(np.abs(a[k + 1:, k])))
            colmax = abs(a[imax, k])
        else:
            imax, colmax = k, 0.0
        if max(absakk, colmax) == 0 or np.isnan(absakk):
            if info == 0:
                info = k + 1
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                # the largest off-diagonal entry of row/column imax
                rowmax = np.max(np.abs(a[imax, k:imax]))
                if imax < n - 1:
                    rowmax = max(rowmax, np.max(np.abs(a[imax + 1:, imax])))
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(a[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp = imax
                    kstep = 2
            kk = k + kstep - 1
            if kp != kk:
                # symmetric interchange of rows and columns kk and kp in the trailing lower triangle
                if kp < n - 1:
                    tmp = a[kp + 1:, kk].copy()
                    a[kp + 1:, kk] = a[kp + 1:, kp]
                    a[kp + 1:, kp] = tmp
                tmp = a[kk + 1:kp, kk].copy()
                a[kk + 1:kp, kk] = a[kp, kk + 1:kp]
                a[kp, kk + 1:kp] = tmp
                a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
                if kstep == 2:
                    a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]
            if kstep == 1:
                if k < n - 1:
                    d11 = a.dtype.type(1) / a[k, k]
                    x = a[k + 1:, k].copy()
                    # rank-1 update of the lower triangle as dsyr rounds it (x_i * (d11 * x_j)), then the
                    # column scaled by 1 / D(k)
                    a[k + 1:, k + 1:] -= np.tril(np.outer(x, x * d11))
                    a[k + 1:, k] *= d11
            else:
                if k < n - 2:
                    d21 = a[k + 1, k]
                    d11 = a[k + 1, k + 1] / d21
                    d22 = a[k, k] / d21
                    t = a.dtype.type(1) / (d11 * d22 - a.dtype.type(1))
                    d21 = t / d21
                    for j in range(k + 2, n):
                        wk = d21 * (d11 * a[j, k] - a[j, k + 1])
                        wkp1 = d21 * (d22 * a[j, k + 1] - a[j, k])
                        a[j:, j] -= a[j:, k] * wk + a[j:, k + 1] * wkp1
                        a[j, k] = wk
                        a[j, k + 1] = wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return ipiv, info


def _sytrs_lower(ld, ipiv, b):
    """Solves A X = B in place in `b` from sytf2's factors `ld`, `ipiv` (1-based)."""
    n = ld.shape[0]
    k = 0
    while k < n:  # L D Y = P^T B
        if ipiv[k] > 0:
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            if k < n - 1:
                b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            b[k] *= ld.dtype.type(1) / ld[k, k]  # dscal by the reciprocal, as sytrs
            k += 1
        else:
            kp = -ipiv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            if k < n - 2:
                b[k + 2:] -= np.outer(ld[k + 2:, k], b[k])
                b[k + 2:] -= np.outer(ld[k + 2:, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1 = ld[k, k] / akm1k
            ak = ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1
            bkm1 = b[k] / akm1k
            bk = b[k + 1] / akm1k
            b[k] = (ak * bkm1 - bk) / denom
            b[k + 1] = (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T X = Y, then the interchanges back
        if ipiv[k] > 0:
            if k < n - 1:
                b[k] -= ld[k + 1:, k] @ b[k + 1:]
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            if k < n - 1:
                b[k] -= ld[k + 1:, k] @ b[k + 1:]
                b[k - 1] -= ld[k + 1:, k - 1] @ b[k + 1:]
            kp = -ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def _check_real_square(A, op):
    if A.dim() < 2:
        raise RuntimeError(f"torch.linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"torch.linalg.{op}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if A.dtype not in (flambeau.float32, flambeau.float64):
        raise RuntimeError(f"torch.linalg.{op}: Expected a floating point tensor as input. Got "
                           f"{str(A.dtype).split('.')[-1]}")


def ldl_factor_ex(A, *, hermitian=False, check_errors=False, out=None):
    """(LD, pivots, info) of the symmetric matrices A (only their lower triangle is read); info[b] = k > 0 when
    D[k-1, k-1] is exactly zero (A singular: the factorisation is complete but D cannot be inverted)."""
    _check_real_square(A, "ldl_factor_ex")
    a = A.detach().cpu().numpy()
    batch = a.shape[:-2]
    n = a.shape[-1]
    flat = np.tril(a.reshape(-1, n, n)).copy()
    pivots = np.zeros((flat.shape[0], n), dtype=np.int32)
    infos = np.zeros(flat.shape[0], dtype=np.int32)
    for i in range(flat.shape[0]):
        pivots[i], infos[i] = _sytf2_lower(flat[i])
    LD = flambeau.from_numpy(np.tril(flat).reshape(a.shape)).to(A.device)
    piv = flambeau.from_numpy(pivots.reshape(batch + (n,))).to(A.device)
    info = flambeau.from_numpy(infos.reshape(batch)).to(A.device)
    if check_errors and bool((infos != 0).any()):
        raise flambeau.linalg.LinAlgError(f"torch.linalg.ldl_factor_ex: The factorization could not be completed "
                                          f"because the input is not invertible (info = {int(infos.max())}).")
    if out is not None:
        for o, r in zip(out, (LD, piv, info)):
            o.resize_(r.shape).copy_(r)
        return out
    return _LDLFactorEx(LD, piv, info)


def ldl_factor(A, *, hermitian=False, out=None):
    """(LD, pivots) of ldl_factor_ex; a singular A raises LinAlgError, as PyTorch's."""
    LD, piv, info = ldl_factor_ex(A, hermitian=hermitian)
    if bool((info != 0).any()):
        bad = int(info.reshape(-1).max())
        raise flambeau.linalg.LinAlgError(f"torch.linalg.ldl_factor: The factorization could not be completed "
                                          f"because the input is not invertible. The diagonal element {bad} is "
                                          "zero, the solve could not be completed because the input matrix is "
                                          "singular.")
    if out is not None:
        for o, r in zip(out, (LD, piv)):
            o.resize_(r.shape).copy_(r)
        return out
    return _LDLFactor(LD, piv)


def ldl_solve(LD, pivots, B, *, hermitian=False, out=None):
    """X with A X = B from ldl_factor's (LD, pivots) (batches broadcast)."""
    _check_real_square(LD, "ldl_solve")
    if B.dtype != LD.dtype:
        raise RuntimeError(f"torch.linalg.ldl_solve: Expected LD and B to have the same dtype, but got "
                           f"LD with dtype {str(LD.dtype).split('.')[-1]} and B with dtype "
                           f"{str(B.dtype).split('.')[-1]} instead")
    if B.dim() < 2 or B.shape[-2] != LD.shape[-1]:
        raise RuntimeError(f"torch.linalg.ldl_solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({LD.shape[-2]}x{LD.shape[-1]} and {B.shape[-2] if B.dim() >= 2 else '?'}x"
                           f"{B.shape[-1]})")
    n = LD.shape[-1]
    batch = tuple(np.broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2]), tuple(pivots.shape[:-1])))
    ld = np.broadcast_to(LD.detach().cpu().numpy(), batch + (n, n)).reshape(-1, n, n)
    piv = np.broadcast_to(pivots.cpu().numpy().astype(np.int64), batch + (n,)).reshape(-1, n)
    b = np.broadcast_to(B.detach().cpu().numpy(), batch + tuple(B.shape[-2:])).reshape(-1, n, B.shape[-1]).copy()
    for i in range(b.shape[0]):
        _sytrs_lower(ld[i], piv[i], b[i])
    X = flambeau.from_numpy(b.reshape(batch + tuple(B.shape[-2:]))).to(B.device)
    return X if out is None else out.resize_(X.shape).copy_(X)


class _LDLFactorEx(tuple):
    """torch.return_types.linalg_ldl_factor_ex: (LD, pivots, info), also by name."""

    def __new__(cls, LD, pivots, info):
        return super().__new__(cls, (LD, pivots, info))

    LD = property(lambda self: self[0])
    pivots = property(lambda self: self[1])
    info = property(lambda self: self[2])


class _LDLFactor(tuple):
    """torch.return_types.linalg_ldl_factor: (LD, pivots), also by name."""

    def __new__(cls, LD, pivots):
        return super().__new__(cls, (LD, pivots))

    LD = property(lambda self: self[0])
    pivots = property(lambda self: self[1])
