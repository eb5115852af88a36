"""The singular value decomposition of complex matrices: torch.linalg.svd / svdvals and torch.svd, with
PyTorch's gradient (svd_backward, its complex case included).

The method is LAPACK's (zgesdd's path for matrices that are not much taller than wide): Householder
bidiagonalisation A = Q B P^H whose reflectors are zlarfg's (H = I - tau v v^H, v_0 = 1, the new
diagonal and superdiagonal entries real), so B is a *real* upper bidiagonal matrix; then the real SVD
B = Ub S Vb^T by flambeau's own kernel (cpu/linalg_spectral.cpp's one-sided Jacobi, float64); then
U = Q Ub and Vh = Vb^T P^H. A wide matrix is done as its conjugate transpose. The reflections run on
the host in complex128, vectorised over the batch (k steps of O(mn) work each); complex64 input is
rounded at the end, as the real kernels' float64 workspace does.

The singular values are PyTorch's to rounding. The singular vectors are unique only up to a phase per
pair (u_i, v_i) -> (e^{i phi} u_i, e^{i phi} v_i) (for distinct singular values): Q and P are LAPACK's
reflectors, but the real bidiagonal SVD's signs are Jacobi's, not dbdsdc's, so U and Vh may differ from
PyTorch's by such phases; every gauge-invariant quantity (U diag(S) Vh, |U|, U_i conj(Vh_i), losses
that PyTorch can differentiate) agrees.
"""
import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .core import COMPLEX, REAL_OF, parts, make
from . import ops as _ops


def _f():
    import flambeau
    return flambeau


def _reflector(x):
    """zlarfg on each row of x [..., l] (complex128): (v, tau, beta) with (I - tau v v^H)^H x = beta e_0,
    beta real, v_0 = 1; tau = 0 (H = I) where x is already beta e_0 with beta real."""
    alpha = x[..., 0]
    xnorm = np.linalg.norm(x[..., 1:], axis=-1)
    trivial = (xnorm == 0) & (alpha.imag == 0)
    beta = -np.copysign(np.sqrt(np.abs(alpha) ** 2 + xnorm ** 2), alpha.real)
    beta = np.where(trivial, alpha.real, beta)
    tau = np.where(trivial, 0.0, (beta - alpha) / np.where(trivial, 1.0, beta))
    denom = np.where(trivial, 1.0, alpha - beta)
    v = np.concatenate([np.ones(x.shape[:-1] + (1,), np.complex128), x[..., 1:] / denom[..., None]], -1)
    return v, tau, beta


def _apply_left(v, tau, M):
    """M := (I - tau v v^H)^H M = M - conj(tau) v (v^H M), in place (M a view [..., l, c])."""
    w = np.einsum("...i,...ij->...j", v.conj(), M)
    M -= np.conj(tau)[..., None, None] * v[..., :, None] * w[..., None, :]


def _apply_right(v, tau, M):
    """M := M (I - tau v v^H) = M - tau (M v) v^H, in place (M a view [..., r, l])."""
    w = np.einsum("...ij,...j->...i", M, v)
    M -= tau[..., None, None] * w[..., :, None] * v.conj()[..., None, :]


def _accumulate(refl, nb, size, cols):
    """The first `cols` columns of H_0 H_1 ... (reflector j acting on rows offset_j..): [nb, size, cols]."""
    X = np.zeros((nb, size, cols), np.complex128)
    X[..., np.arange(min(size, cols)), np.arange(min(size, cols))] = 1
    for off, v, tau in reversed(refl):
        w = np.einsum("...i,...ij->...j", v.conj(), X[..., off:, :])
        X[..., off:, :] -= tau[..., None, None] * v[..., :, None] * w[..., None, :]
    return X


def _bidiagonalize(a):
    """a [B, m, n] complex128 with m >= n -> (d, e, left, right): A = Q B P^H with B real upper bidiagonal
    (diagonal d [B, n], superdiagonal e [B, n-1]); left/right the reflectors (offset, v, tau) of
    Q = H_0 ... H_{n-1} and P = G_0 ... G_{n-2}."""
    a = a.copy()
    B, m, n = a.shape
    d = np.zeros((B, n))
    e = np.zeros((B, max(n - 1, 0)))
    left, right = [], []
    for j in range(n):
        v, tau, beta = _reflector(a[:, j:, j])
        _apply_left(v, tau, a[:, j:, j + 1:])
        d[:, j] = beta
        left.append((j, v, tau))
        if j + 1 < n:
            # the row a[j, j+1:] G = (beta, 0, ...): G^H r^H = beta e_0 for the column r^H
            v, tau, beta = _reflector(a[:, j, j + 1:].conj())
            _apply_right(v, tau, a[:, j + 1:, j + 1:])
            e[:, j] = beta
            right.append((j + 1, v, tau))
    return d, e, left, right


def _real_svd(M, want_uv):
    """flambeau's real SVD kernel (float64) of the real matrices M [B, k, k]."""
    from .._functions.host_route import HostRouted, to_numpy
    f = _f()
    U, S, Vh = HostRouted().linalg_svd(f.tensor(M, dtype=f.float64)._impl, False, want_uv)
    return (to_numpy(U), to_numpy(S), to_numpy(Vh)) if want_uv else (None, to_numpy(S), None)


def _svd_tall(a, full, want_uv):
    """(U, S, Vh) numpy of a [B, m, n] complex128, m >= n."""
    B, m, n = a.shape
    d, e, left, right = _bidiagonalize(a)
    Bm = np.zeros((B, n, n))
    Bm[:, np.arange(n), np.arange(n)] = d
    if n > 1:
        Bm[:, np.arange(n - 1), np.arange(1, n)] = e
    Ub, S, Vbh = _real_svd(Bm, want_uv)
    if not want_uv:
        return None, S, None
    ucols = m if full else n
    Q = _accumulate(left, B, m, ucols)
    U = Q.copy()
    U[..., :, :n] = Q[..., :, :n] @ Ub  # U = Q blockdiag(Ub, I)
    P = _accumulate(right, B, n, n)  # identity in row/column 0: G_j acts on rows j + 1..
    Vh = Vbh @ P.conj().swapaxes(-1, -2)
    return U, S, Vh


def svd_host(A, full_matrices, compute_uv, op):
    """(U, S, Vh) as flambeau tensors (no autograd); U, Vh None when not compute_uv."""
    from .._functions.host_route import to_numpy
    f = _f()
    from .linalg import _check
    _check(A, op, square=False)
    cdt = A._impl.dtype
    shape = tuple(A.shape)
    batch, (m, n) = shape[:-2], shape[-2:]
    k = min(m, n)
    a = to_numpy(A.detach()._impl).astype(np.complex128).reshape((int(np.prod(batch)), m, n))
    if not np.isfinite(a).all():
        from .._functions.linalg_dense import LinAlgError
        raise LinAlgError(f"{op}: The algorithm failed to converge because the input matrix contained non-finite "
                          "values.")
    wide = m < n
    if wide:  # A^H = U' S Vh'  ->  A = Vh'^H S U'^H
        a = a.conj().swapaxes(-1, -2)
    U, S, Vh = _svd_tall(np.ascontiguousarray(a), full_matrices, compute_uv)
    if wide and compute_uv:
        U, Vh = Vh.conj().swapaxes(-1, -2), U.conj().swapaxes(-1, -2)
    rdt = getattr(f, REAL_OF[cdt])
    St = f.tensor(S.reshape(batch + (k,)), dtype=rdt, device=A.device)
    if not compute_uv:
        return None, St, None
    mk = lambda x: f.tensor(np.ascontiguousarray(x).reshape(batch + x.shape[-2:]),  # noqa: E731
                            dtype=getattr(f, cdt), device=A.device)
    return mk(U), St, mk(Vh)


def _diag_imag(X):
    return parts(X.diagonal(0, -2, -1))[1]


def svd_backward(gU, gS, gVh, U, S, Vh):
    """PyTorch's svd_backward (FunctionsManual.cpp) for complex U, Vh and real S: the gradient of A."""
    f = _f()
    m, n = U.shape[-2], Vh.shape[-1]
    k = S.shape[-1]
    if U.shape[-1] != k:  # full_matrices: only the first k columns (rows of Vh) carry information
        U = U[..., :, :k]
        gU = gU[..., :, :k] if gU is not None else None
    if Vh.shape[-2] != k:
        Vh = Vh[..., :k, :]
        gVh = gVh[..., :k, :] if gVh is not None else None
    if gU is None and gVh is None:
        if gS is None:
            return None
        return _ops.matmul(_ops.mul(U, gS.unsqueeze(-2)), Vh)
    skew = lambda X: _ops.sub(X, X.mH)  # noqa: E731
    UhgU = skew(_ops.matmul(U.mH, gU)) if gU is not None else None
    VhgV = skew(_ops.matmul(Vh, gVh.mH)) if gVh is not None else None
    # the loss must not depend on the phases: Im diag(U^H gU) = -Im diag(V^H gV)
    iu = _diag_imag(UhgU) if UhgU is not None else f.zeros_like(S)
    iv = _diag_imag(VhgV) if VhgV is not None else f.zeros_like(S)
    if not bool(f.allclose(iu, -iv, rtol=1e-2, atol=1e-2)):
        raise RuntimeError("svd_backward: The singular vectors in the complex case are specified up to "
                           "multiplication by e^{i phi}. The specified loss function depends on this phase term, "
                           "making it ill-defined.")
    S2 = S * S
    E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + f.eye(k, dtype=S.dtype, device=S.device)
    if UhgU is not None and VhgV is not None:
        gA = _ops.div(_ops.add(_ops.mul(UhgU, S.unsqueeze(-2)), _ops.mul(VhgV, S.unsqueeze(-1))), E)
    elif VhgV is None:
        gA = _ops.mul(_ops.div(UhgU, E), S.unsqueeze(-2))
    else:
        gA = _ops.mul(_ops.div(VhgV, E), S.unsqueeze(-1))
    diag = gS if gS is not None else None
    if UhgU is not None:  # i Im(diag(U^H gU)) / S on the diagonal: UhgU's diagonal is 2i Im(...)
        dU = make(None, _diag_imag(UhgU) / (2 * S))
        diag = dU if diag is None else _ops.add(dU, diag)
    if diag is not None:
        gA = _ops.add(gA, f.diag_embed(diag if diag._impl.dtype in COMPLEX else make(diag, None)))
    if m > n and gU is not None:
        gA = _ops.matmul(U, gA)
        gUSinv = _ops.div(gU, S.unsqueeze(-2))
        gA = _ops.sub(_ops.add(gA, gUSinv), _ops.matmul(U, _ops.matmul(U.mH, gUSinv)))
        gA = _ops.matmul(gA, Vh)
    elif m < n and gVh is not None:
        gA = _ops.matmul(gA, Vh)
        SinvgVh = _ops.div(gVh, S.unsqueeze(-1))
        gA = _ops.sub(_ops.add(gA, SinvgVh), _ops.matmul(_ops.matmul(SinvgVh, Vh.mH), Vh))
        gA = _ops.matmul(U, gA)
    else:
        gA = _ops.matmul(U, _ops.matmul(gA, Vh))
    return gA


class _Svd(Function):
    _grad_fn_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, A, full_matrices, op):
        U, S, Vh = svd_host(A, full_matrices, True, op)
        ctx.set_materialize_grads(False)
        ctx.U, ctx.S, ctx.Vh = U, S, Vh
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        return svd_backward(gU, gS, gVh, ctx.U, ctx.S, ctx.Vh), None, None


def _write(out, v):
    """v written into the out= tensor (resized to v's shape, as PyTorch's out= does)."""
    if tuple(out.shape) != tuple(v.shape):
        out.resize_(v.shape)
    out.copy_(v)
    return out


def _records(A):
    return A.requires_grad and _gs.enabled


def svd(A, full_matrices=True, *, driver=None, out=None):
    from .._functions.linalg_dense import return_types
    if _records(A):
        U, S, Vh = _Svd.apply(A, bool(full_matrices), "linalg.svd")
    else:
        U, S, Vh = svd_host(A, bool(full_matrices), True, "linalg.svd")
    if out is not None:
        return return_types.linalg_svd(*(_write(o, v) for o, v in zip(out, (U, S, Vh))))
    return return_types.linalg_svd(U, S, Vh)


def svdvals(A, *, driver=None, out=None):
    if _records(A):
        S = _Svd.apply(A, False, "linalg.svdvals")[1]
    else:
        S = svd_host(A, False, False, "linalg.svdvals")[1]
    return _write(out, S) if out is not None else S


def svd_legacy(input, some=True, compute_uv=True, *, out=None):
    """torch.svd: (U, S, V) with A = U diag(S) V^H; compute_uv=False gives zero U [m, m] and V [n, n]."""
    from .._functions.linalg_dense import return_types
    f = _f()
    if not compute_uv:
        S = svdvals(input)
        m, n = input.shape[-2:]
        b = tuple(input.shape[:-2])
        U = f.zeros(b + (m, m), dtype=input.dtype, device=input.device)
        V = f.zeros(b + (n, n), dtype=input.dtype, device=input.device)
        r = (U, S, V)
    else:
        U, S, Vh = svd(input, full_matrices=not some)
        r = (U, S, Vh.mH)
    if out is not None:
        return return_types.svd(*(_write(o, v) for o, v in zip(out, r)))
    return return_types.svd(*r)

