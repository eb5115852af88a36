"""Linear algebra on complex matrices, and torch.linalg.eig / eigvals (real or complex input).

Most complex factorisations are composed of the real ones through the real embedding
E(A) = [[Re A, -Im A], [Im A, Re A]] (2n x 2n), a *-homomorphism: E(A B) = E(A) E(B), E(A^H) = E(A)^T,
so E(A^-1) = E(A)^-1, E(pinv A) = pinv E(A), E(exp A) = exp E(A), and solving E(A) [Xr; Xi] = [Br; Bi]
solves A X = B exactly. The real ops' gradients then give PyTorch's complex gradients by composition
(core.py). E(A) has each eigenvalue (Hermitian A) and singular value of A twice: eigvalsh takes the mean of
each pair, whose gradient is gauge invariant (svd and svdvals: svd.py). det's phase is not in E(A) (det E(A) =
|det A|^2): det and slogdet's sign come from the LU factors (lu.py), as PyTorch computes them, with
PyTorch's backward formulas written out.

eig runs the C++ kernel (Hessenberg + shifted QR + back substitution, complex double; CUDA tensors
through the host) and has PyTorch's backward (linalg_eig_backward), including its check that the
loss does not depend on the eigenvectors' phases.
"""
import collections

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..autograd.grad_mode import _state as _gs
from .._functions.zero_link import link_zero_to
from .core import check_matrix, COMPLEX, COMPLEX_OF, REAL_OF, parts, make, is_complex_tensor
from . import ops as _ops


def _rt(name, fields):
    t = collections.namedtuple(name, fields)
    t.__module__ = "flambeau.return_types"
    return t


linalg_eig = _rt("linalg_eig", "eigenvalues eigenvectors")
linalg_slogdet = _rt("linalg_slogdet", "sign logabsdet")


def _f():
    import flambeau
    return flambeau


def _real_linalg():
    from .._functions import linalg_dense
    return linalg_dense


# ---------------------------------------------------------------- the real embedding
def embed(A):
    """[[Re A, -Im A], [Im A, Re A]] of a complex [..., n, m] (a real A: [[A, 0], [0, A]])."""
    f = _f()
    if is_complex_tensor(A):
        r, i = parts(A)
    else:
        r, i = A, f.zeros_like(A)
    return f.cat([f.cat([r, -i], -1), f.cat([i, r], -1)], -2)


def unembed(E):
    """The complex A of E = embed(A) (its left block column)."""
    n, m = E.shape[-2] // 2, E.shape[-1] // 2
    return make(E[..., :n, :m], E[..., n:, :m])


def _stack_rhs(B):
    """[Re B; Im B] of a complex (or real) right-hand side [..., n, k]."""
    f = _f()
    if is_complex_tensor(B):
        r, i = parts(B)
    else:
        r, i = B, f.zeros_like(B)
    return f.cat([r, i], -2)


def _unstack_rhs(X):
    n = X.shape[-2] // 2
    return make(X[..., :n, :], X[..., n:, :])


def _check(A, op, name="A", square=True):
    check_matrix(A, op, name, square)


def _check_same(A, B, op):
    if A.dtype != B.dtype:
        names = {"float32": "Float", "float64": "Double", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but found A of type "
                           f"{names.get(A._impl.dtype)} and B of type {names.get(B._impl.dtype)} instead")


# ---------------------------------------------------------------- solvers and functions of a matrix
def solve(A, B, *, left=True, out=None):
    _check(A, "linalg.solve")
    _check_same(A, B, "linalg.solve")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return _ops._finish(solve(A.mT, B.mT).mT, out)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if vector:
        B = B.unsqueeze(-1)
    X = _unstack_rhs(_real_linalg().solve(embed(A), _stack_rhs(B)))
    return _ops._finish(X.squeeze(-1) if vector else X, out)


def inv(A, *, out=None):
    _check(A, "linalg.inv")
    return _ops._finish(unembed(_real_linalg().inv(embed(A))), out)


def inv_ex(A, *, check_errors=False, out=None):
    """PyTorch's inv_ex: A's LU factors (zgetrf's pivoting, lu.py) solved against the identity, so info is
    getrf's (the first zero pivot, 1-based) and a singular matrix gives its non-finite inverse, not an error."""
    _check(A, "linalg.inv")
    from .lu import lu_factor_ex as _lu_factor_ex, lu_solve as _lu_solve
    rl = _real_linalg()
    LU, piv, info = _lu_factor_ex(A)
    if check_errors:
        rl._raise_on_info(info, "linalg.inv_ex", rl._inv_message, A.dim() > 2)
    n = A.shape[-1]
    eye = _f().eye(n, dtype=A.dtype, device=A.device).expand(tuple(A.shape))
    return rl._outs(out, rl.return_types.linalg_inv_ex, (_lu_solve(LU, piv, eye), info))


def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None, rcond=None):
    _check(A, "linalg.pinv", square=False)
    if rcond is not None:
        rtol, rcond = rcond, None
    if rtol is None and not (atol is not None and (isinstance(atol, Tensor) or atol > 0)):
        # PyTorch's default eps * max(m, n) of A, not of the twice larger E(A)
        rtol = _real_linalg()._EPS[REAL_OF[A._impl.dtype]] * max(A.shape[-2:])
    P = _real_linalg().pinv(embed(A), atol=atol, rtol=rtol, hermitian=hermitian, rcond=rcond)
    return _ops._finish(unembed(P), out)


def matrix_exp(A):
    _check(A, "linalg.matrix_exp")
    return unembed(_real_linalg().matrix_exp(embed(A)))


def _pair_mean(w):
    return (w[..., 0::2] + w[..., 1::2]) * 0.5


def _hermitian_from(A, uplo):
    """A's Hermitian matrix read from one triangle (LAPACK's: the diagonal's imaginary part ignored), with
    the gradient passed to A unchanged (PyTorch's eigh gradient is the full Hermitian matrix)."""
    f = _f()
    with no_grad():
        Ad = A.detach()
        low = Ad.tril(-1) if uplo.upper() == "L" else Ad.triu(1)
        dr, _ = parts(Ad.diagonal(0, -2, -1))
        H = _ops.add(_ops.add(low, _ops.conj(low.mT)), f.diag_embed(make(dr, None)))
    return _ops.add(A, _ops.sub(H, A.detach())) if A.requires_grad and _gs.enabled else H


def eigvalsh(A, UPLO="L", *, out=None):
    _check(A, "linalg.eigvalsh")
    if A.requires_grad and _gs.enabled and A.numel():
        # through the complex eigh: the real embedding's eigenvalues come in equal pairs, so its second
        # order (1 / (L_j - L_i)) was NaN; the complex eigenvectors give PyTorch's
        if UPLO not in ("L", "U", "l", "u"):
            raise RuntimeError(f"linalg.eigvalsh: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
        return _ops._finish(_Eigh.apply(A, UPLO)[0], out)
    w = _real_linalg().eigvalsh(embed(_hermitian_from(A, UPLO)))
    return _ops._finish(_pair_mean(w), out)


def _eigh_host(A, uplo):
    """(L, V) of the Hermitian matrices A (complex; no autograd): the real symmetric eigh of E(A), computed
    in float64, whose eigenvalues come in equal pairs; each cluster of 2m equal eigenvalues spans an
    m-dimensional complex eigenspace ({u, J u}: u = [a; b] is the eigenvector a + ib, J u its multiple
    by i), of which the leading left singular vectors of the cluster's complex columns give an
    orthonormal basis (robust for repeated eigenvalues of A, where the columns are not in pairs)."""
    import numpy as np
    from .._functions.host_route import to_numpy
    f = _f()
    E = embed(_hermitian_from(A.detach(), uplo)).to(f.float64)
    w, U = _real_linalg().eigh(E)
    w, U = to_numpy(w._impl), to_numpy(U._impl)
    n = A.shape[-1]
    batch = w.shape[:-1]
    wl = w.reshape(-1, 2 * n)
    Ul = U.reshape(-1, 2 * n, 2 * n)
    L = np.empty((wl.shape[0], n))
    V = np.empty((wl.shape[0], n, n), dtype=np.complex128)
    for b in range(wl.shape[0]):
        C = Ul[b, :n, :] + 1j * Ul[b, n:, :]
        scale = max(1.0, float(np.abs(wl[b]).max()) if n else 1.0)
        j = k = 0
        ok = True
        while j < 2 * n and ok:
            e = j + 1
            while e < 2 * n and wl[b, e] - wl[b, j] <= 1e-9 * scale:
                e += 1
            ok = (e - j) % 2 == 0
            m = (e - j) // 2
            u, _, _ = np.linalg.svd(C[:, j:e], full_matrices=False)
            V[b, :, k:k + m] = u[:, :m]
            L[b, k:k + m] = wl[b, j:e].reshape(m, 2).mean(-1) if ok else 0
            k += m
            j = e
        if not ok:  # a pair split by rounding (not expected): the pairs in order
            L[b] = (wl[b, 0::2] + wl[b, 1::2]) * 0.5
            V[b] = C[:, 0::2] / np.linalg.norm(C[:, 0::2], axis=0)
    cdt = A._impl.dtype
    Lt = f.tensor(L.reshape(batch + (n,)), dtype=f.float32 if cdt == "complex64" else f.float64, device=A.device)
    Vt = f.tensor(V.reshape(batch + (n, n)), dtype=getattr(f, cdt), device=A.device)
    return Lt, Vt


class _Eigh(Function):
    _grad_fn_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, A, uplo):
        L, V = _eigh_host(A, uplo)
        ctx.save_for_backward(L, V)  # as outputs: under create_graph=True the gradient is differentiated
        return L, V                  # through them (eigvalsh's second order needs V's derivative)

    @staticmethod
    def backward(ctx, gL, gV):
        # PyTorch's linalg_eig_backward for Hermitian input: gA = V (skew(V^H gV) / E + diag(gL)) V^H,
        # E_ij = L_j - L_i, after checking that the loss does not depend on the eigenvectors' phases
        f = _f()
        L, V = ctx.saved_tensors
        Vh = V.mH
        if gV is None:
            if gL is None:
                return None, None
            return _ops.matmul(_ops.mul(V, gL.unsqueeze(-2)), Vh), None
        VhgV = _ops.matmul(Vh, gV)
        di = parts(VhgV.diagonal(0, -2, -1))[1]
        if not bool(f.allclose(di, f.zeros_like(di), rtol=1e-2, atol=1e-2)):
            raise RuntimeError("linalg_eigh_backward: The eigenvectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                               "so it is ill-defined.")
        S = _ops.mul(_ops.sub(VhgV, VhgV.mH), 0.5)
        n = L.shape[-1]
        E = L.unsqueeze(-2) - L.unsqueeze(-1) + f.eye(n, dtype=L.dtype, device=L.device)
        sr, si = parts(S)
        eye = f.eye(n, dtype=f.bool, device=L.device)
        d = gL if gL is not None else f.zeros_like(L)
        ret = make(f.where(eye, f.diag_embed(d), sr / E), f.where(eye, 0.0, si / E))
        return _ops.matmul(_ops.matmul(V, ret), Vh), None


def eigh(A, UPLO="L", *, out=None):
    _check(A, "linalg.eigh")
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    if A.requires_grad and _gs.enabled:
        L, V = _Eigh.apply(A, UPLO)
    else:
        L, V = _eigh_host(A, UPLO)
    from .._functions.linalg_dense import return_types
    r = return_types.linalg_eigh(L, V)
    if out is not None:
        out[0].copy_(L)
        out[1].copy_(V)
        return return_types.linalg_eigh(*out)
    return r


def _cholesky_host(A, upper):
    """(L, info) of the Hermitian positive-definite A read from its lower (upper) triangle, column by
    column (L_jj = sqrt(A_jj - |L_j,:j|^2), L_i,j = (A_ij - L_i,:j L_j,:j^H) / L_jj), batched on the host
    in float64 complex; info is the order of the first non-positive leading minor (0: none)."""
    import numpy as np
    from .._functions.host_route import to_numpy
    a = to_numpy(A.detach()._impl).astype(np.complex128)
    if upper:
        a = np.swapaxes(a, -1, -2).conj()
    n = a.shape[-1]
    L = np.zeros_like(a)
    info = np.zeros(a.shape[:-2], dtype=np.int64)
    bad = np.zeros(a.shape[:-2], dtype=bool)
    for j in range(n):
        row = L[..., j, :j]
        d = a[..., j, j].real - (np.abs(row) ** 2).sum(-1)
        newly = ~bad & ~(d > 0)
        info[newly] = j + 1
        bad |= newly
        ljj = np.sqrt(np.where(d > 0, d, 1.0))
        L[..., j, j] = ljj
        if j + 1 < n:
            L[..., j + 1:, j] = (a[..., j + 1:, j] - (L[..., j + 1:, :j] @ row.conj()[..., None])[..., 0]) / ljj[..., None]
    L[bad] = np.nan
    if upper:
        L = np.swapaxes(L, -1, -2).conj()
    f = _f()
    return f.tensor(L, dtype=A.dtype, device=A.device), f.tensor(info.astype(np.int32), device=A.device)  # int32 as PyTorch's


class _Cholesky(Function):
    _grad_fn_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, A, upper):
        L, info = _cholesky_host(A, upper)
        ctx.L, ctx.upper = L, upper
        return L, info

    @staticmethod
    def backward(ctx, gL, _gi):
        # PyTorch's cholesky_backward: gA = L^-H Phi L^-1, Phi = 0.5 (X + X^H - diag X), X = tril(L^H gL)
        L = ctx.L
        if ctx.upper:
            L, gL = L.mH, gL.mH
        X = _ops.matmul(L.mH, gL).tril()
        S = _ops.mul(_ops.add(X, X.tril(-1).mH), 0.5)  # 0.5 (X + X^H - diag(X)), X's diagonal kept complex
        gA = solve_triangular(L.mH, S, upper=True, left=True)
        gA = solve_triangular(L, gA, upper=False, left=False)
        return gA, None


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    _check(A, "linalg.cholesky_ex")
    if A.requires_grad and _gs.enabled:
        L, info = _Cholesky.apply(A, bool(upper))
    else:
        L, info = _cholesky_host(A, bool(upper))
    rl = _real_linalg()
    if check_errors:
        rl._raise_on_info(info, "linalg.cholesky_ex", rl._chol_message, A.dim() > 2)
    return rl._outs(out, rl.return_types.linalg_cholesky_ex, (L, info))  # (info as int32, out= honoured)


def cholesky(A, *, upper=False, out=None):
    rl = _real_linalg()
    L, info = cholesky_ex(A, upper=upper)
    rl._raise_on_info(info, "linalg.cholesky", rl._chol_message, A.dim() > 2)
    return _ops._finish(L, out)


def _qr_host(A, mode):
    """Householder QR with LAPACK's reflectors (zgeqrf's zlarfg: H = I - tau v v^H, v_0 = 1,
    H^H [alpha; x] = [beta; 0] with beta = -sign(Re alpha) |(alpha, x)| real), so R's diagonal is real and
    Q, R are PyTorch's to rounding; batched on the host in complex double."""
    import numpy as np
    from .._functions.host_route import to_numpy
    R = to_numpy(A.detach()._impl).astype(np.complex128)
    m, n = R.shape[-2:]
    k = min(m, n)
    vs, taus = [], []
    for j in range(k):
        x = R[..., j:, j]
        alpha = x[..., 0]
        xnorm = np.linalg.norm(x[..., 1:], axis=-1)
        trivial = (xnorm == 0) & (alpha.imag == 0)
        beta = -np.copysign(np.sqrt(np.abs(alpha) ** 2 + xnorm ** 2), alpha.real)
        beta = np.where(trivial, alpha.real, beta)
        safe = np.where(trivial, 1.0, beta)
        tau = np.where(trivial, 0.0, (beta - alpha) / safe)
        denom = np.where(trivial, 1.0, alpha - beta)
        v = np.concatenate([np.ones(x.shape[:-1] + (1,), np.complex128), x[..., 1:] / denom[..., None]], -1)
        # R := H^H R on rows j.., columns j..
        w = np.einsum("...i,...ij->...j", v.conj(), R[..., j:, j:])
        R[..., j:, j:] -= np.conj(tau)[..., None, None] * v[..., :, None] * w[..., None, :]
        R[..., j + 1:, j] = 0
        R[..., j, j] = beta
        vs.append(v)
        taus.append(tau)
    qcols = m if mode == "complete" else k
    Q = np.zeros(R.shape[:-2] + (m, qcols), np.complex128)
    Q[..., np.arange(qcols), np.arange(qcols)] = 1
    for j in reversed(range(k)):  # Q = H_0 H_1 ... H_{k-1} I
        v, tau = vs[j], taus[j]
        w = np.einsum("...i,...ij->...j", v.conj(), Q[..., j:, :])
        Q[..., j:, :] -= tau[..., None, None] * v[..., :, None] * w[..., None, :]
    Rout = np.triu(R if mode == "complete" else R[..., :k, :])
    f = _f()
    mk = lambda a: f.tensor(a, dtype=A.dtype, device=A.device)  # noqa: E731
    return (mk(Q) if mode != "r" else f.empty(0, dtype=A.dtype, device=A.device)), mk(Rout)


class _Qr(Function):
    _grad_fn_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, A, mode):
        Q, R = _qr_host(A, mode)
        ctx.Q, ctx.R, ctx.mode = Q, R, mode
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        f = _f()
        Q, R, mode = ctx.Q, ctx.R, ctx.mode
        if mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                               "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        m, n = Q.shape[-2], R.shape[-1]
        if mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        if gQ is None and gR is None:
            return None, None
        if m < n:
            return _qr_wide_backward(Q, R, gQ, gR), None
        # PyTorch's linalg_qr_backward (m >= n): M = gR R^H - Q^H gQ, gA = (Q syminvadj(triu M) + gQ) R^-H,
        # syminvadj(X) = X + X^H with the real part of the diagonal halved
        if gQ is not None:
            M = _ops.sub(_ops.matmul(gR, R.mH), _ops.matmul(Q.mH, gQ)) if gR is not None else \
                _ops.neg(_ops.matmul(Q.mH, gQ))
        else:
            M = _ops.matmul(gR, R.mH)
        Mu = M.triu()
        dr = parts(Mu.diagonal(0, -2, -1))[0]
        b = _ops.matmul(Q, _ops.sub(_ops.add(Mu, Mu.mH), f.diag_embed(make(dr, None))))
        if gQ is not None:
            b = _ops.add(b, gQ)
        return solve_triangular(R.mH, b, upper=False, left=False), None


def _qr_wide_backward(Q, R, gQ, gR):
    """PyTorch's linalg_qr_backward for m < n (A = Q [X | Y], X = Q U square): with M = gR R^H - Q^H gQ,
    gA = [Q trilImInvAdjSkew(-M) U^-H | 0] + Q gR, trilImInvAdjSkew(S) = tril(S - S^H) with its (purely
    imaginary) diagonal halved."""
    f = _f()
    m, n = Q.shape[-2], R.shape[-1]
    if gQ is not None:
        M = _ops.sub(_ops.matmul(gR, R.mH), _ops.matmul(Q.mH, gQ)) if gR is not None else \
            _ops.neg(_ops.matmul(Q.mH, gQ))
    else:
        M = _ops.matmul(gR, R.mH)
    S = _ops.sub(M.mH, M).tril()  # tril(-M - (-M)^H)
    S = _ops.sub(S, _ops.mul(f.diag_embed(S.diagonal(0, -2, -1)), 0.5))
    gX = solve_triangular(R[..., :, :m].mH, _ops.matmul(Q, S), upper=False, left=False)
    gA = f.cat([gX, f.zeros(tuple(gX.shape[:-1]) + (n - m,), dtype=gX.dtype, device=gX.device)], -1)
    return _ops.add(gA, _ops.matmul(Q, gR)) if gR is not None else gA


def qr(A, mode="reduced", *, out=None):
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           "or 'complete'")
    _check(A, "linalg.qr", square=False)
    if A.requires_grad and _gs.enabled:
        Q, R = _Qr.apply(A, mode)
    else:
        Q, R = _qr_host(A, mode)
    rt = _real_linalg().return_types
    if out is not None:
        out[0].copy_(Q)
        out[1].copy_(R)
        return rt.linalg_qr(*out)
    return rt.linalg_qr(Q, R)


def matrix_power(A, n, *, out=None):
    _check(A, "linalg.matrix_power")
    return _ops._finish(unembed(_real_linalg().matrix_power(embed(A), n)), out)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    """Only A's triangle (and, unless unitriangular, its diagonal) is read: a general solve of that
    triangular matrix (the embedding of a triangular matrix is not triangular)."""
    _check(A, "linalg.solve_triangular")
    _check_same(A, B, "linalg.solve_triangular")
    f = _f()
    T = A.triu(1) if upper else A.tril(-1)
    if unitriangular:
        T = _ops.add(T, f.eye(A.shape[-1], dtype=A.dtype, device=A.device))
    else:
        T = _ops.add(T, f.diag_embed(A.diagonal(0, -2, -1)))
    return _ops._finish(solve(T, B, left=left), out)


def lstsq(A, B, rcond=None, *, driver=None):
    """min ||A X - B|| through the embedding (an isometry: the complex and real residuals are equal);
    rank halves, singular values are the pair means, residuals (squared norms) carry over."""
    _check(A, "linalg.lstsq", square=False)
    _check_same(A, B, "linalg.lstsq")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    r = _real_linalg().lstsq(embed(A), _stack_rhs(Bm), rcond, driver=driver)
    X = _unstack_rhs(r.solution)
    if vector:
        X = X.squeeze(-1)
    rank = r.rank // 2 if r.rank.numel() else r.rank
    sv = _pair_mean(r.singular_values) if r.singular_values.numel() else r.singular_values
    return type(r)(X, r.residuals, rank, sv)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None, tol=None):
    _check(A, "linalg.matrix_rank", square=False)
    r = _real_linalg().matrix_rank(embed(A), atol=atol, rtol=rtol, hermitian=hermitian, tol=tol) // 2
    return _ops._finish(r, out) if out is not None else r


def cond(A, p=None, *, out=None):
    from .reductions import matrix_norm
    _check(A, "linalg.cond", square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        S = svdvals(A)
        r = S.amax(-1) / S.amin(-1) if p != -2 else S.amin(-1) / S.amax(-1)
    else:
        r = matrix_norm(A, p) * matrix_norm(inv(A), p)
    return _ops._finish(r, out) if out is not None else r


# ---------------------------------------------------------------- determinants
def _det_nograd(A):
    """det A from its LU factors (lu.py), as PyTorch computes it."""
    from .lu import det_host
    return det_host(A)


class _Det(Function):
    _grad_fn_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, A):
        from .lu import det_factors
        d, ctx.lu, ctx.piv = det_factors(A)
        ctx.A, ctx.d = A, d
        return d

    @staticmethod
    def backward(ctx, g):
        from .lu import det_backward
        return det_backward(g, ctx.d, ctx.A, ctx.lu, ctx.piv)


def det(A, *, out=None):
    _check(A, "linalg.det")
    if A.shape[-1] == 0:
        f = _f()
        ones = link_zero_to(f.ones(tuple(A.shape[:-2]), dtype=A.dtype, device=A.device), A)  # in A's graph
        return _ops._finish(ones, out)
    if A.requires_grad and _gs.enabled:
        return _ops._finish(_Det.apply(A), out)
    return _ops._finish(_det_nograd(A), out)


class _DetSign(Function):
    _grad_fn_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, A):
        with no_grad():
            s = _ops.sgn(_det_nograd(A))
        ctx.A, ctx.s = A, s
        return s

    @staticmethod
    def backward(ctx, g):
        # PyTorch's slogdet backward, its sign part: -i Im(conj(g) sign) A^-H
        im = parts(_ops.mul(_ops.conj(g), ctx.s))[1]
        c = make(None, -im).unsqueeze(-1).unsqueeze(-1)
        return _ops.mul(c, inv(ctx.A).mH)


def slogdet(A, *, out=None):
    """sign from the eigenvalues' product, log|det A| = log|det E(A)| / 2 (exact, and differentiable)."""
    _check(A, "linalg.slogdet")
    logabs = _real_linalg().slogdet(embed(A))[1] * 0.5
    if A.requires_grad and _gs.enabled:
        sign = _DetSign.apply(A)
    elif A.shape[-1] == 0:
        f = _f()
        sign = f.ones(tuple(A.shape[:-2]), dtype=A.dtype, device=A.device)
    else:
        sign = _ops.sgn(_det_nograd(A))
    r = linalg_slogdet(sign, logabs)
    if out is not None:
        out[0].copy_(sign)
        out[1].copy_(logabs)
        return linalg_slogdet(*out)
    return r


def slogdet_legacy(input, *, out=None):
    """torch.slogdet / Tensor.slogdet: linalg.slogdet under the return type torch.return_types.slogdet."""
    from .._functions.linalg_dense import return_types
    return return_types.slogdet(*slogdet(input, out=out))


def logdet(A):
    s, la = slogdet(A)
    return _ops.add(_ops.log(s), la)


# ---------------------------------------------------------------- eig
_EIG_DT = {"float32": "complex64", "float64": "complex128", "complex64": "complex64", "complex128": "complex128"}


def _eig_kernel(A, compute_v, op):
    from .._functions.host_route import HostRouted
    _check(A, op)
    dt = A._impl.dtype
    if dt not in _EIG_DT:
        names = {"float16": "Half", "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "bool": "Bool"}
        if dt in ("float16", "bfloat16"):
            raise RuntimeError(f"{op}: Low precision dtypes not supported. Got {names[dt]}")
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {names.get(dt, dt)}")
    w, v, info = HostRouted().linalg_eig(A.detach()._impl, compute_v)
    w, v, info = _wrap(w), _wrap(v), _wrap(info)
    if info.numel() and bool(info.any()):
        f = _f()
        finite = bool(f.isfinite(A.detach()).all())
        if not finite:
            raise _real_linalg().LinAlgError(f"{op}: input tensor should not contain infs or NaNs.")
        raise _real_linalg().LinAlgError(f"{op}: The algorithm failed to converge because the input matrix is "
                                         "ill-conditioned or has too many repeated eigenvalues (error code: 1).")
    cdt = _EIG_DT[dt]
    if cdt != "complex128":
        w, v = w._cast(cdt), (v._cast(cdt) if compute_v else v)
    return w, v


class _Eig(Function):
    _grad_fn_name = "LinalgEigBackward0"

    @staticmethod
    def forward(ctx, A):
        L, V = _eig_kernel(A, True, "linalg.eig")
        ctx.L, ctx.V, ctx.real_input = L, V, not is_complex_tensor(A)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        return eig_backward(gL, gV, ctx.L, ctx.V, ctx.real_input)


def _is_zero_grad(g):
    return g is None


def eig_backward(gL, gV, L, V, real_input):
    """PyTorch's linalg_eig_backward (FunctionsManual.cpp), written with flambeau's complex ops."""
    f = _f()
    Vh = V.mH
    if _is_zero_grad(gV):
        if _is_zero_grad(gL):
            return None
        gA = solve(Vh, _ops.mul(gL.unsqueeze(-1), Vh))
    else:
        VhgV = _ops.matmul(Vh, gV)
        diag = VhgV.diagonal(0, -2, -1)
        dr, di = parts(diag)
        if not bool(f.allclose(di, f.zeros_like(di), rtol=1e-2, atol=1e-2)):
            raise RuntimeError("linalg_eig_backward: The eigenvectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                               "so it is ill-defined.")
        ret = _ops.sub(VhgV, _ops.matmul(Vh, _ops.mul(V, dr.unsqueeze(-2))))
        Lc = _ops.conj(L)
        E = _ops.sub(Lc.unsqueeze(-2), Lc.unsqueeze(-1))
        n = L.shape[-1]
        eye = f.eye(n, dtype=f.bool, device=L.device)
        er, ei = parts(E)
        E = make(f.where(eye, 1.0, er), f.where(eye, 0.0, ei))
        ret = _ops.div(ret, E)
        d = gL if gL is not None else f.zeros_like(L)
        rr, ri = parts(ret)
        dd = f.diag_embed(d)
        ddr, ddi = parts(dd)
        ret = make(f.where(eye, ddr, rr), f.where(eye, ddi, ri))
        gA = solve(Vh, _ops.matmul(ret, Vh))
    return parts(gA)[0] if real_input else gA


def eig(A, *, out=None):
    """torch.linalg.eig: eigenvalues and (column) eigenvectors, complex; see cpu/linalg_eig.cpp."""
    _check(A, "linalg.eig")
    if A.requires_grad and _gs.enabled:
        L, V = _Eig.apply(A)
    else:
        L, V = _eig_kernel(A, True, "linalg.eig")
    if out is not None:
        out[0].copy_(L)
        out[1].copy_(V)
        return linalg_eig(*out)
    return linalg_eig(L, V)


def eigvals(A, *, out=None):
    _check(A, "linalg.eigvals")
    if A.requires_grad and _gs.enabled:
        L = _Eig.apply(A)[0]
    else:
        L = _eig_kernel(A, False, "linalg.eigvals")[0]
    return _ops._finish(L, out)


from .svd import svd, svdvals  # noqa: E402  (Householder bidiagonalisation + the real bidiagonal SVD)
from .lu import lu_factor, lu_factor_ex, lu, lu_solve  # noqa: E402  (zgetrf's partial pivoting)

ROUTES = {"qr": qr, "svd": svd, "lu_factor": lu_factor, "lu_factor_ex": lu_factor_ex, "lu": lu, "lu_solve": lu_solve, "eigh": eigh, "cholesky": cholesky, "cholesky_ex": cholesky_ex, "solve": solve, "inv": inv,
          "inv_ex": inv_ex, "pinv": pinv, "matrix_exp": matrix_exp, "eigvalsh": eigvalsh,
          "svdvals": svdvals, "det": det, "slogdet": slogdet, "matrix_power": matrix_power,
          "solve_triangular": solve_triangular, "lstsq": lstsq, "matrix_rank": matrix_rank, "cond": cond}
_unused = (COMPLEX, COMPLEX_OF, REAL_OF, _C)
