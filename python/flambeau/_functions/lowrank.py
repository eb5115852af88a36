"""torch.svd_lowrank and torch.pca_lowrank: Halko, Martinsson and Tropp's randomized range finder (2009,
algorithm 4.4 with `niter` subspace iterations), as torch/_lowrank.py writes it, for dense inputs (batched
too). Randomised: the random test matrix comes from flambeau's generator, so results equal PyTorch's only up to
the subspace found (compare reconstructions or projectors, not the factors' signs)."""
import flambeau

__all__ = ["svd_lowrank", "pca_lowrank"]


def _floating_dtype(A):
    """The random test matrix's dtype: A's for floating and complex A (a complex A times a real R would
    need a mixed-dtype matmul), float32 otherwise."""
    return A.dtype if A.dtype in (flambeau.float32, flambeau.float64, flambeau.float16, flambeau.bfloat16,
                                  flambeau.complex64, flambeau.complex128) else flambeau.float32


def _approximate_basis(A, q, niter=2, M=None):
    """An orthonormal (..., m, q) basis Q with A ~ Q Q^H A (A - M when M is given)."""
    niter = 2 if niter is None else niter
    R = flambeau.randn(A.shape[-1], q, dtype=_floating_dtype(A), device=A.device)
    X = flambeau.matmul(A, R)
    if M is not None:
        X = X - flambeau.matmul(M, R)
    Q = flambeau.linalg.qr(X).Q
    for _ in range(niter):
        X = flambeau.matmul(A.mH, Q)
        if M is not None:
            X = X - flambeau.matmul(M.mH, Q)
        Q = flambeau.linalg.qr(X).Q
        X = flambeau.matmul(A, Q)
        if M is not None:
            X = X - flambeau.matmul(M, Q)
        Q = flambeau.linalg.qr(X).Q
    return Q


def svd_lowrank(A, q=6, niter=2, M=None):
    """(U, S, V) with A - M ~ U diag(S) V^H, U (..., m, q), S (..., q), V (..., n, q); q defaults to 6."""
    if getattr(A, "is_sparse", False):
        raise NotImplementedError("svd_lowrank: sparse inputs are not supported by flambeau")
    q = 6 if q is None else q
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(A.size())
    if m < n:
        A = A.mH
        if M is not None:
            M = M.mH
    Q = _approximate_basis(A, q, niter=niter, M=M)
    B = flambeau.matmul(Q.mH, A)
    if M is not None:
        B = B - flambeau.matmul(Q.mH, M)
    U, S, Vh = flambeau.linalg.svd(B, full_matrices=False)
    V = Vh.mH
    U = Q.matmul(U)
    if m < n:
        U, V = V, U
    return U, S, V


def pca_lowrank(A, q=None, center=True, niter=2):
    """(U, S, V) of the centred data (A minus its column means when center): V's columns are the principal
    directions, S**2 / (m - 1) the variances; q defaults to min(6, m, n)."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not (niter >= 0):
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return svd_lowrank(A, q, niter=niter, M=None)
    C = A.mean(dim=(-2,), keepdim=True)
    return svd_lowrank(A - C, q, niter=niter, M=None)
