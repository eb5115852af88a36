"""torch.lobpcg: the k largest (or smallest) eigenpairs of a symmetric positive-definite generalized
eigenproblem A X = B X E, by LOBPCG (Knyazev's locally optimal block preconditioned conjugate
gradient), following the iteration of PyTorch's torch/_lobpcg.py step by step ("basic": Rayleigh-
Ritz on the basis [X, P, W] with a B-Cholesky transform; "ortho": the basis kept B-orthonormal by
SVQB re-orthogonalisation, [DuerschEtal2018]), written with flambeau ops.

Autograd, as PyTorch's: when A (or B) requires grad, lobpcg runs on (A + A^T) / 2 and its backward
is that of a partial symmetric eigendecomposition (B must then be None: PyTorch's error otherwise).
"""
from . import _tensor
from .autograd.function import Function


def _mm(A, X):
    return X if A is None else A @ X


def _qform(A, S):
    return S.mT @ _mm(A, S)


def _symeig(A, largest=False):
    from . import linalg
    if largest is None:
        largest = False
    E, Z = linalg.eigh(A, UPLO="U")
    if largest:
        E = E.flip(-1)
        Z = Z.flip(-1)
    return E, Z


def _basis(A):
    from . import linalg
    return linalg.qr(A).Q


def lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None, method=None,
           tracker=None, ortho_iparams=None, ortho_fparams=None, ortho_bparams=None):
    """The k largest (largest=True, default) or smallest eigenvalues of A X = B X E and their
    eigenvectors, by LOBPCG (PyTorch's torch.lobpcg: same arguments and iteration)."""
    Tensor = _tensor.Tensor
    for name, t in (("A", A), ("B", B), ("X", X), ("iK", iK)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"lobpcg: {name} must be a Tensor, got {type(t).__name__}")
    args = (k, B, X, n, iK, niter, tol, largest, method, tracker, ortho_iparams, ortho_fparams, ortho_bparams)
    if A.requires_grad or (B is not None and B.requires_grad):
        A_sym = (A + A.mT) / 2
        B_sym = (B + B.mT) / 2 if B is not None else None
        return LOBPCGAutogradFunction.apply(A_sym, k, B_sym, *args[2:])
    return _lobpcg(A, *args)


class LOBPCGAutogradFunction(Function):
    """lobpcg recorded for autograd (PyTorch's node of the same name)."""

    @staticmethod
    def forward(ctx, A, k, B, X, n, iK, niter, tol, largest, method, tracker, ortho_iparams, ortho_fparams,
                ortho_bparams):
        A = A.contiguous()
        B = B.contiguous() if B is not None else None
        D, U = _lobpcg(A, k, B, X, n, iK, niter, tol, largest, method, tracker, ortho_iparams, ortho_fparams,
                       ortho_bparams)
        ctx.save_for_backward(A, B, D, U)
        return D, U

    @staticmethod
    def backward(ctx, D_grad, U_grad):
        A, B, D, U = ctx.saved_tensors
        if B is not None:
            raise ValueError("lobpcg.backward does not support backward with B != I yet.")
        return (_symeig_backward(D_grad, U_grad, A, D, U),) + (None,) * 13


def _symeig_backward(D_grad, U_grad, A, D, U):
    """Gradient of A (symmetric) from those of k of its eigenpairs (D, U).

    In span(U): U (diag(D_grad) + (U^T U_grad) * F) U^T with F_ij = 1 / (d_j - d_i), F_ii = 0.
    In its orthogonal complement (P = I - U U^T, invariant under A): eigenvector u_i moves by
    -(A - d_i)^-1 P dA u_i there, so the gradient is -sum_i x_i u_i^T with x_i the solution in the
    complement of (A - d_i) x_i = P U_grad_i, found as the solution of the invertible system
    (P (A - d_i) P + U U^T) x_i = P U_grad_i (the U U^T block keeps the eigenvalue d_i of span(U)
    out of it). PyTorch solves the same Sylvester equation through the characteristic polynomial
    of D; the gradient is the same."""
    import flambeau
    m, k = U.shape[-2], U.shape[-1]
    Ut = U.mT
    F = D.unsqueeze(-2) - D.unsqueeze(-1)
    eye_k = flambeau.eye(k, dtype=D.dtype, device=D.device)
    F = (1.0 / F.masked_fill(eye_k.bool(), 1.0)).masked_fill(eye_k.bool(), 0.0)
    res = U @ ((flambeau.diag_embed(D_grad) + (Ut @ U_grad) * F) @ Ut)
    if m == k:
        return res
    eye_m = flambeau.eye(m, dtype=A.dtype, device=A.device)
    P = eye_m - U @ Ut
    PAP = P @ A @ P
    M = PAP.unsqueeze(-3) - D.unsqueeze(-1).unsqueeze(-1) * P.unsqueeze(-3) + (U @ Ut).unsqueeze(-3)
    rhs = (P @ U_grad).mT.unsqueeze(-1)  # (..., k, m, 1): column i of P U_grad
    Xo = flambeau.linalg.solve(M, rhs).squeeze(-1).mT  # (..., m, k)
    return res - Xo @ Ut


def _lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None, method=None,
            tracker=None, ortho_iparams=None, ortho_fparams=None, ortho_bparams=None):
    if A.shape[-2] != A.shape[-1]:
        raise ValueError(f"lobpcg: A must be square, got shape {list(A.shape)}")
    if B is not None and A.shape != B.shape:
        raise ValueError(f"lobpcg: A and B must have the same shape, got {list(A.shape)} and {list(B.shape)}")
    import flambeau
    if A.dtype not in (flambeau.float32, flambeau.float64):
        A = A.float()
    dtype = A.dtype
    if tol is None:
        tol = (1.2e-07 if dtype == flambeau.float32 else 2.23e-16) ** 0.5
    m = A.shape[-1]
    k = (1 if X is None else X.shape[-1]) if k is None else k
    n = (k if n is None else n) if X is None else X.shape[-1]
    if m < 3 * n:
        raise ValueError(f"LOBPCG algorithm is not applicable when the number of A rows (={m}) is smaller than 3 x "
                         f"the number of requested eigenpairs (={n})")
    method = "ortho" if method is None else method
    if method not in ("ortho", "basic"):
        raise ValueError(f"lobpcg: method must be 'ortho' or 'basic', got {method!r}")
    iparams = {"m": m, "n": n, "k": k, "niter": 1000 if niter is None else niter}
    fparams = {"tol": tol}
    bparams = {"largest": True if largest is None else largest}
    if method == "ortho":
        iparams.update(ortho_iparams or {})
        fparams.update(ortho_fparams or {})
        bparams.update(ortho_bparams or {})
        iparams.setdefault("ortho_i_max", 3)
        iparams.setdefault("ortho_j_max", 3)
        fparams.setdefault("ortho_tol", tol)
        fparams.setdefault("ortho_tol_drop", tol)
        fparams.setdefault("ortho_tol_replace", tol)
        bparams.setdefault("ortho_use_drop", False)
    if A.dim() > 2:
        batch = tuple(A.shape[:-2])
        N = 1
        for s in batch:
            N *= s
        bA = A.reshape((N, m, m))
        bB = B.reshape((N, m, m)) if B is not None else None
        bX = X.reshape((N,) + tuple(X.shape[-2:])) if X is not None else None
        Es, Xs = [], []
        for i in range(N):
            X_ = flambeau.randn((m, n), dtype=dtype, device=A.device) if bX is None else bX[i]
            if tuple(X_.shape) != (m, n):
                raise ValueError(f"lobpcg: X must have shape {(m, n)}, got {tuple(X_.shape)}")
            iparams["batch_index"] = i
            w = LOBPCG(bA[i], bB[i] if bB is not None else None, X_, iK, iparams, fparams, bparams, method, tracker)
            w.run()
            Es.append(w.E[:k])
            Xs.append(w.X[:, :k])
        return flambeau.stack(Es).reshape(batch + (k,)), flambeau.stack(Xs).reshape(batch + (m, k))
    X = flambeau.randn((m, n), dtype=dtype, device=A.device) if X is None else X
    if X.dim() != 2 or tuple(X.shape) != (m, n):
        raise ValueError(f"lobpcg: X must have shape {(m, n)}, got {tuple(X.shape)}")
    w = LOBPCG(A, B, X, iK, iparams, fparams, bparams, method, tracker)
    w.run()
    return w.E[:k], w.X[:, :k]


class LOBPCG:
    """The iteration state (PyTorch's worker class: a tracker receives it after every step and may
    stop the iteration with `worker.bvars['force_stop'] = True`)."""

    def __init__(self, A, B, X, iK, iparams, fparams, bparams, method, tracker):
        import flambeau
        self.A, self.B, self.iK = A, B, iK
        self.iparams, self.fparams, self.bparams = iparams, fparams, bparams
        self.method, self.tracker = method, tracker
        m, n = iparams["m"], iparams["n"]
        self.X = X
        self.E = flambeau.zeros((n,), dtype=X.dtype, device=X.device)
        self.R = flambeau.zeros((m, n), dtype=X.dtype, device=X.device)
        self.S = flambeau.zeros((m, 3 * n), dtype=X.dtype, device=X.device)
        self.tvars = {}
        self.ivars = {"istep": 0}
        self.fvars = {"_": 0.0}
        self.bvars = {"_": False}

    def update(self):
        import flambeau
        if self.ivars["istep"] == 0:
            X_norm = float(flambeau.norm(self.X))
            iX_norm = X_norm ** -1
            self.fvars["X_norm"] = X_norm
            self.fvars["A_norm"] = float(flambeau.norm(_mm(self.A, self.X))) * iX_norm
            self.fvars["B_norm"] = float(flambeau.norm(_mm(self.B, self.X))) * iX_norm
            self.ivars["iterations_left"] = self.iparams["niter"]
            self.ivars["converged_count"] = 0
            self.ivars["converged_end"] = 0
        if self.method == "ortho":
            self._update_ortho()
        else:
            self._update_basic()
        self.ivars["iterations_left"] -= 1
        self.ivars["istep"] += 1

    def update_residual(self):
        self.R = _mm(self.A, self.X) - _mm(self.B, self.X) * self.E

    def update_converged_count(self):
        """Leading eigenpairs whose backward-stable relative residual is below tol."""
        import flambeau
        prev = self.ivars["converged_count"]
        E, X, R = self.E, self.X, self.R
        rerr = flambeau.norm(R, 2, (0,)) / (flambeau.norm(X, 2, (0,)) *
                                             (self.fvars["A_norm"] + E[:X.shape[-1]].abs() * self.fvars["B_norm"]))
        count = 0
        for b in (rerr < self.fparams["tol"]).tolist():
            if not b:
                break
            count += 1
        if count < prev:
            raise RuntimeError(f"lobpcg: the number of converged eigenpairs (was {prev}, got {count}) cannot decrease")
        self.ivars["converged_count"] = count
        self.tvars["rerr"] = rerr
        return count

    def stop_iteration(self):
        return (self.bvars.get("force_stop", False) or self.ivars["iterations_left"] == 0
                or self.ivars["converged_count"] >= self.iparams["k"])

    def run(self):
        self.update()
        if self.tracker is not None:
            self.tracker(self)
        while not self.stop_iteration():
            self.update()
            if self.tracker is not None:
                self.tracker(self)

    def _update_basic(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._get_rayleigh_ritz_transform(self.X)
            E, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)
            self.X[:] = self.X @ (Ri @ Z)
            self.E[:] = E
            np_ = 0
            self.update_residual()
            nc = self.update_converged_count()
            self.S[..., :n] = self.X
            W = _mm(self.iK, self.R)
        else:
            S_ = self.S[:, nc:ns]
            Ri = self._get_rayleigh_ritz_transform(S_)
            E_, Z = _symeig(_qform(_qform(self.A, S_), Ri), largest)
            self.X[:, nc:] = S_ @ (Ri @ Z[:, :n - nc])
            self.E[nc:] = E_[:n - nc]
            P = S_ @ (Ri @ Z[:, n:2 * n - nc])
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[..., :n] = self.X
            self.S[:, n:n + np_] = P
            W = _mm(self.iK, self.R[:, nc:])
        self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
        self.S[:, n + np_:ns] = W

    def _update_ortho(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._get_rayleigh_ritz_transform(self.X)
            _, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)
            self.X = self.X @ (Ri @ Z)
            self.update_residual()
            np_ = 0
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            W = self._get_ortho(self.R, self.X)
        else:
            S_ = self.S[:, nc:ns]
            E_, Z = _symeig(_qform(self.A, S_), largest)
            self.X[:, nc:] = S_ @ Z[:, :n - nc]
            self.E[nc:] = E_[:n - nc]
            P = S_ @ (Z[:, n - nc:] @ _basis(Z[:n - nc, n - nc:].mT))
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            self.S[:, n:n + np_] = P
            W = self._get_ortho(self.R[:, nc:], self.S[:, :n + np_])
        self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
        self.S[:, n + np_:ns] = W

    def _get_rayleigh_ritz_transform(self, S):
        """Ri with Ri^T (S^T B S) Ri = I (upper triangular): Cholesky of the diagonally scaled
        S^T B S, inverted against the scaling."""
        from . import linalg
        SBS = _qform(self.B, S)
        d_row = SBS.diagonal(0, -2, -1) ** -0.5
        d_col = d_row.reshape(d_row.shape[0], 1)
        R = linalg.cholesky((SBS * d_row) * d_col, upper=True)
        return linalg.solve_triangular(R, d_row.diag_embed(), upper=True, left=False)

    def _get_svqb(self, U, drop, tau):
        """B-orthonormal columns spanning U (SVQB), dropping (drop=True) or lifting the directions
        whose contribution is below tau."""
        import flambeau
        if U.numel() == 0:
            return U
        UBU = _qform(self.B, U)
        d = UBU.diagonal(0, -2, -1)
        nz = flambeau.where(d.abs() != 0.0)[0]
        if len(nz) < len(d):
            U = U[:, nz]
            if U.numel() == 0:
                return U
            UBU = _qform(self.B, U)
            d = UBU.diagonal(0, -2, -1)
        d_col = (d ** -0.5).reshape(d.shape[0], 1)
        E, Z = _symeig((UBU * d_col) * d_col.mT)
        t = tau * float(E.abs().max())
        if drop:
            keep = flambeau.where(E > t)[0]
            E, Z, d_col = E[keep], Z[:, keep], d_col[keep]
        else:
            E[flambeau.where(E < t)[0]] = t
        return (U * d_col.mT) @ (Z * E ** -0.5)

    def _get_ortho(self, U, V):
        """B-orthonormal U whose columns are B-orthogonal to V (PyTorch's Algorithms 3 and 6 of
        [DuerschPhD2015])."""
        import flambeau
        m = self.iparams["m"]
        tau_ortho = self.fparams["ortho_tol"]
        tau_drop, tau_replace = self.fparams["ortho_tol_drop"], self.fparams["ortho_tol_replace"]
        i_max, j_max = self.iparams["ortho_i_max"], self.iparams["ortho_j_max"]
        use_drop = self.bparams["ortho_use_drop"]
        for key in [k for k in self.fvars if k.startswith("ortho_") and k.endswith("_rerr")]:
            self.fvars.pop(key)
        self.ivars.pop("ortho_i", 0)
        self.ivars.pop("ortho_j", 0)
        BV_norm = flambeau.norm(_mm(self.B, V))
        BU = _mm(self.B, U)
        VBU = V.mT @ BU
        i = j = 0
        for i in range(i_max):
            U = U - V @ VBU
            drop = False
            tau_svqb = tau_drop
            for j in range(j_max):
                if use_drop:
                    U = self._get_svqb(U, drop, tau_svqb)
                    drop = True
                    tau_svqb = tau_replace
                else:
                    U = self._get_svqb(U, False, tau_replace)
                if U.numel() == 0:
                    self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
                    return U
                BU = _mm(self.B, U)
                UBU = U.mT @ BU
                U_norm, BU_norm = flambeau.norm(U), flambeau.norm(BU)
                R = UBU - flambeau.eye(UBU.shape[-1], device=UBU.device, dtype=UBU.dtype)
                rerr = float(flambeau.norm(R)) * float(BU_norm * U_norm) ** -1
                self.fvars[f"ortho_UBUmI_rerr[{i}, {j}]"] = rerr
                if rerr < tau_ortho:
                    break
            VBU = V.mT @ BU
            rerr = float(flambeau.norm(VBU)) * float(BV_norm * flambeau.norm(U)) ** -1
            self.fvars[f"ortho_VBU_rerr[{i}]"] = rerr
            if rerr < tau_ortho:
                break
            if m < U.shape[-1] + V.shape[-1]:
                raise ValueError(f"Overdetermined shape of U: #B-cols(={m}) >= #U-cols(={U.shape[-1]}) + "
                                 f"#V-cols(={V.shape[-1]}) must hold")
        self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
        return U
