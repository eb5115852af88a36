"""Dense linear algebra: solvers and decompositions (torch.linalg's), with their gradients.

The factorisations run in C++ (`_C.linalg_lu_factor/lu_solve/solve_triangular/cholesky/qr/eigh/svd/
matrix_exp`, csrc/cpu/linalg_*.cpp; CPU kernels, CUDA tensors go through the host (host_route.py);
float32/float64, batched over leading dims). Everything
else is composed here: broadcasting of batch dims (by differentiable `expand`, so gradients of broadcast
operands are summed back for free), `left=False` (by transposing: X A = B is A^T X^T = B^T), the vector
right-hand sides, error messages (`LinAlgError` for singular / not positive-definite matrices, reported
by the kernels' info outputs), and the composite ops (det, pinv, lstsq, matrix_power, cond, ...).

Each differentiable primitive is one autograd Function whose backward is torch's formula
(torch/csrc/autograd/FunctionsManual.cpp) written with public flambeau ops; with create_graph those
ops record, so the gradients can be differentiated again. The one exception is solve's backward,
which reuses the forward's LU factors when nothing records (and solves with A^T again when it does).
"""
import collections

import numpy as np

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from . import _dispatch as dsp
from .host_route import HostRouted, to_numpy, from_numpy

_on_host = HostRouted()  # the factorisations are CPU kernels: CUDA tensors go through the host (host_route.py)


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: the values of a matrix made a linear algebra operation fail (a singular
    matrix in solve/inv, a matrix that is not positive-definite in cholesky)."""


def _rt(name, fields):
    t = collections.namedtuple(name, fields)
    t.__module__ = "flambeau.return_types"
    return t


class return_types:
    linalg_lu_factor = _rt("linalg_lu_factor", "LU pivots")
    linalg_lu_factor_ex = _rt("linalg_lu_factor_ex", "LU pivots info")
    linalg_lu = _rt("linalg_lu", "P L U")
    lu_unpack = _rt("lu_unpack", "P L U")
    linalg_inv_ex = _rt("linalg_inv_ex", "inverse info")
    linalg_solve_ex = _rt("linalg_solve_ex", "result info")
    linalg_cholesky_ex = _rt("linalg_cholesky_ex", "L info")
    linalg_slogdet = _rt("linalg_slogdet", "sign logabsdet")
    slogdet = _rt("slogdet", "sign logabsdet")
    linalg_qr = _rt("linalg_qr", "Q R")
    qr = _rt("qr", "Q R")
    linalg_eigh = _rt("linalg_eigh", "eigenvalues eigenvectors")
    linalg_svd = _rt("linalg_svd", "U S Vh")
    svd = _rt("svd", "U S V")
    linalg_lstsq = _rt("linalg_lstsq", "solution residuals rank singular_values")
    triangular_solve = _rt("triangular_solve", "solution cloned_coefficient")


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool", "float16": "Half", "bfloat16": "BFloat16"}
_EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


# ---------------------------------------------------------------- helpers
def _shape(t):
    return tuple(t._impl.shape)


def _records(*ts):
    return _gs.enabled and any(isinstance(t, Tensor) and t._rg for t in ts)


def _check_input(A, op, square=False, name="A"):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(A).__name__}")
    s, dt = A._impl.shape, A._impl.dtype
    if len(s) < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if dt in ("float16", "bfloat16"):
        raise RuntimeError(f"{op}: Low precision dtypes not supported. Got {'Half' if dt == 'float16' else 'BFloat16'}")
    if dt not in _EPS:
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. "
                           f"Got {_TORCH_NAMES.get(dt, dt)}")
    if square and s[-1] != s[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are {s[-2]} by {s[-1]} matrices")


def _kernel_dtypes(kernel, ints=False):
    """For an op whose PyTorch CPU kernel `kernel` refuses float16/bfloat16 (and, with ints=True, the
    integer and bool dtypes: eigh, which has no dtype check of its own) only where there is work to do:
    PyTorch skips the kernel for empty inputs (an empty batch, 0 x 0 matrices), so those pass and give
    results of the input's dtype (empty, or det 1 / cond 0). A non-empty one raises the kernel's
    NotImplementedError. The empty case is computed here in float32 and cast back."""
    passing = ("float16", "bfloat16") + (("int64", "int32", "int16", "int8", "uint8", "bool") if ints else ())

    def deco(fn):
        import functools

        @functools.wraps(fn)
        def wrapper(A, *args, out=None, **kwargs):
            dt = A._impl.dtype if isinstance(A, Tensor) else None
            if dt not in passing or len(A._impl.shape) < 2:
                return fn(A, *args, out=out, **kwargs)
            args = [a.float() if isinstance(a, Tensor) and a._impl.dtype == dt else a for a in args]
            if A.numel() != 0:
                # PyTorch checks the shapes before its kernel refuses the dtype: the float32 call raises those
                # (its singular-matrix errors come after the kernel, so they give way to the refusal)
                try:
                    with _no_grad():
                        fn(A.detach().float(), *args, **kwargs)
                except LinAlgError:
                    pass
                raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_NAMES[dt]}\'')
            r = fn(A.float(), *args, **kwargs)

            def back(t):
                return dsp._cast(t, dt) if isinstance(t, Tensor) and t._impl.dtype == "float32" else t
            if isinstance(r, tuple):
                r = type(r)(*(back(t) for t in r)) if hasattr(r, "_fields") else tuple(back(t) for t in r)
                if out is not None:
                    return type(r)(*(dsp._write_out(o, v) for o, v in zip(out, r)))
                return r
            return _out(out, back(r))
        return wrapper
    return deco


def _check_same_dtype(A, B, op):
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}(): argument 'B' must be Tensor, not {type(B).__name__}")
    da, db = A._impl.dtype, B._impl.dtype
    if da != db:
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but found A of type {_TORCH_NAMES[da]} "
                           f"and B of type {_TORCH_NAMES[db]} instead")


def _raise_on_info(info, op, message, batched, exc=LinAlgError):
    """Raises exc for the first matrix of the batch whose info is non-zero: '{op}: (Batch element i): msg'."""
    arr = to_numpy(info._impl).reshape(-1)
    bad = np.flatnonzero(arr)
    if bad.size:
        i = int(bad[0])
        prefix = f"(Batch element {i}): " if batched else ""
        raise exc(f"{op}: {prefix}{message(int(arr[i]))}")


def _batch_broadcast(A, B, op):
    """A [..., r, c] and B [..., r', c'] with their batch dims broadcast together (differentiable expand)."""
    sa, sb = _shape(A), _shape(B)
    ba, bb = sa[:-2], sb[:-2]
    try:
        batch = tuple(_C.broadcast_shapes(list(ba), list(bb), op))
    except RuntimeError:
        raise RuntimeError(f"{op}: the batch dimensions of A {list(sa)} and B {list(sb)} cannot be broadcast "
                           "together") from None
    if ba != batch:
        A = A.expand(batch + sa[-2:])
    if bb != batch:
        B = B.expand(batch + sb[-2:])
    return A, B


def _eye_like(A, n=None, batch=None):
    """The identity [*batch, n, n] (a broadcast view) of A's dtype and device."""
    n = _shape(A)[-1] if n is None else n
    impl = _C.eye(n, n, A._impl.dtype, A._impl.device)
    if batch:
        impl = _C.expand(impl, list(batch) + [n, n])
    return _wrap(impl)


def _lu_raw(A):
    lu, piv, info = _on_host.linalg_lu_factor(A._impl)
    return _wrap(lu), _wrap(piv), _wrap(info)


def _lu_solve_raw(LU, piv, B, adjoint=False):
    return _wrap(_on_host.linalg_lu_solve(LU._impl, piv._impl, B._impl, adjoint))


def _pivot_parity(piv):
    """+1 / -1 per matrix (a numpy array [...]): the sign of the permutation the 1-based pivots describe."""
    p = to_numpy(piv._impl)
    k = p.shape[-1]
    swaps = (p != np.arange(1, k + 1)).sum(-1) if k else np.zeros(p.shape[:-1], np.int64)
    return np.where(swaps % 2 == 1, -1.0, 1.0)


def _to_tensor(arr, like):
    arr = np.asarray(arr, dtype=np.float64 if like._impl.dtype == "float64" else np.float32)
    return _wrap(from_numpy(np.ascontiguousarray(arr).reshape(arr.shape), like._impl.device))


def _perm_matrix(piv, m, like):
    """P [..., m, m] with A = P L U for LAPACK's 1-based pivots: rows of P^T A are A[perm]."""
    p = to_numpy(piv._impl)
    batch = p.shape[:-1]
    nb = int(np.prod(batch))
    flat = p.reshape(nb, p.shape[-1])
    P = np.zeros((nb, m, m))
    for b in range(flat.shape[0]):
        perm = np.arange(m)
        for i, j in enumerate(flat[b]):
            perm[i], perm[j - 1] = perm[j - 1], perm[i]
        P[b, perm, np.arange(m)] = 1.0
    return _to_tensor(P.reshape(batch + (m, m)), like)


def _out(out, r):
    return dsp._write_out(out, r) if out is not None else r


def _outs(out, rt, values):
    """rt(*values), or the tensors of `out` (a tuple of len(values)) with the values written into them."""
    if rt.__name__.endswith("_ex"):  # the info of the *_ex functions is int32 in PyTorch (kernels give int64)
        values = tuple(values[:-1]) + (dsp._cast(values[-1], "int32"),)
    if out is None:
        return rt(*values)
    if len(out) != len(values):
        raise RuntimeError(f"{rt.__name__}: expected out= to be a tuple of {len(values)} tensors, got {len(out)}")
    return rt(*(dsp._write_out(o, v) for o, v in zip(out, values)))


def _diag_embed(v):
    from .._creation import diag_embed
    return diag_embed(v)


# ---------------------------------------------------------------- LU
class LinalgLuFactorEx(Function):
    _grad_fn_name = "LinalgLuFactorExBackward0"

    @staticmethod
    def forward(ctx, A):
        LU, piv, info = _lu_raw(A)
        ctx.save_for_backward(LU, piv)
        ctx.mark_non_differentiable(piv, info)
        return LU, piv, info

    @staticmethod
    def backward(ctx, gLU, _gp, _gi):
        LU, piv = ctx.saved_tensors
        m, n = _shape(LU)[-2:]
        if m != n:
            raise NotImplementedError("linalg.lu_factor: the derivative of the LU decomposition of a non-square matrix "
                                      "is not implemented in flambeau")
        # gA = P L^-T [tril(L^T gL, -1) + triu(gU U^T)] U^-T  (torch's linalg_lu_backward, m == n)
        L = LU.tril(-1) + _eye_like(LU)
        U = LU.triu()
        phi = (L.mT @ gLU.tril(-1)).tril(-1) + (gLU.triu() @ U.mT).triu()
        gA = solve_triangular(L.mT, phi, upper=True, left=True, unitriangular=True)
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
        return _perm_matrix(piv, m, LU) @ gA


@_kernel_dtypes("lu_cpu", ints=True)
def lu_factor_ex(A, *, pivot=True, check_errors=False, out=None):
    _check_input(A, "linalg.lu_factor_ex")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    if _records(A):
        LU, piv, info = LinalgLuFactorEx.apply(A)
    else:
        LU, piv, info = _lu_raw(A)
    if check_errors:
        _raise_on_info(info, "torch.linalg.lu_factor_ex", _lu_message, A.dim() > 2, RuntimeError)
    return _outs(out, return_types.linalg_lu_factor_ex, (LU, piv, info))


def _lu_message(i):
    return (f"U[{i},{i}] is zero and using it on lu_solve would result in a division by zero. If you still want to "
            "perform the factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")


@_kernel_dtypes("lu_cpu", ints=True)
def lu_factor(A, *, pivot=True, out=None):
    _check_input(A, "linalg.lu_factor")
    LU, piv, info = lu_factor_ex(A, pivot=pivot)
    _raise_on_info(info, "torch.linalg.lu_factor", _lu_message, A.dim() > 2, RuntimeError)
    return _outs(out, return_types.linalg_lu_factor, (LU, piv))


def _unpack(LU, piv, m, n, unpack_data=True, unpack_pivots=True):
    k = min(m, n)
    if unpack_data:
        Lp = LU[..., :, :k] if n > k else LU
        Up = LU[..., :k, :] if m > k else LU
        eye_mk = _wrap(_C.eye(m, k, LU._impl.dtype, LU._impl.device))
        L = Lp.tril(-1) + eye_mk
        U = Up.triu()
    else:
        L = U = _wrap(_C.empty([0], LU._impl.dtype, LU._impl.device))
    if unpack_pivots:
        P = _perm_matrix(piv, m, LU)
    else:
        P = _wrap(_C.empty([0], LU._impl.dtype, LU._impl.device))
    return P, L, U


@_kernel_dtypes("lu_cpu", ints=True)
def lu(A, *, pivot=True, out=None):
    """P, L, U with A = P L U (L unit lower [..., m, k], U upper [..., k, n])."""
    _check_input(A, "linalg.lu")
    LU, piv, _ = lu_factor_ex(A, pivot=pivot)
    m, n = _shape(A)[-2:]
    return _outs(out, return_types.linalg_lu, _unpack(LU, piv, m, n))


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True, *, out=None):
    m, n = _shape(LU_data)[-2:]
    return _outs(out, return_types.lu_unpack, _unpack(LU_data, LU_pivots, m, n, unpack_data, unpack_pivots))


class LinalgLuSolve(Function):
    _grad_fn_name = "LinalgLuSolveBackward0"

    @staticmethod
    def forward(ctx, LU, piv, B, adjoint):
        X = _lu_solve_raw(LU, piv, B, adjoint)
        ctx.adjoint = adjoint
        ctx.save_for_backward(LU, piv, X)
        return X

    @staticmethod
    def backward(ctx, gX):
        LU, piv, X = ctx.saved_tensors
        adjoint = ctx.adjoint
        nig = ctx.needs_input_grad
        gB = lu_solve(LU, piv, gX, adjoint=not adjoint) if nig[2] else None
        gLU = None
        if nig[0]:
            # torch's linalg_lu_solve_LU with left = True.
            n = _shape(LU)[-1]
            L = LU.tril(-1) + _eye_like(LU)
            U = LU.triu()
            if not adjoint:
                gR = solve_triangular(U.mT, -(gX @ X.mT), upper=False)
                gL = solve_triangular(L.mT, gR @ U.mT, upper=True, left=True, unitriangular=True).tril(-1)
                gLU = gL + gR.triu()
            else:
                P = _perm_matrix(piv, n, LU)
                gR = -(P.mT @ X @ gX.mT @ P)
                gR = solve_triangular(L.mT, gR, upper=True, left=False, unitriangular=True)
                gU = solve_triangular(U.mT, L.mT @ gR, upper=False, left=False).triu()
                gLU = gR.tril(-1) + gU
        return gLU, None, gB, None


def lu_solve(LU, pivots, B, *, left=True, adjoint=False, out=None):
    op = "linalg.lu_solve"
    _check_input(LU, op, square=True, name="LU")
    _check_same_dtype(LU, B, op)
    if B.dim() < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    n = _shape(LU)[-1]
    if (_shape(B)[-2] if left else _shape(B)[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {'x'.join(map(str, _shape(B)[-2:]))})")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return _out(out, lu_solve(LU, pivots, B.mT, left=True, adjoint=not adjoint).mT)
    LU2, B2 = _batch_broadcast(LU, B, op)
    batch = _shape(LU2)[:-2]
    piv = pivots if _shape(pivots)[:-1] == batch else _wrap(_C.expand(pivots._impl, list(batch) + [n]))
    if _records(LU2, B2):
        X = LinalgLuSolve.apply(LU2, piv, B2, bool(adjoint))
    else:
        X = _lu_solve_raw(LU2, piv, B2, bool(adjoint))
    return _out(out, X)


# ---------------------------------------------------------------- triangular solve
class LinalgSolveTriangular(Function):
    _grad_fn_name = "LinalgSolveTriangularBackward0"

    @staticmethod
    def forward(ctx, A, B, upper, unitriangular):
        X = _wrap(_on_host.linalg_solve_triangular(A._impl, B._impl, upper, unitriangular))
        ctx.flags = (upper, unitriangular)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, gX):
        A, X = ctx.saved_tensors
        upper, unit = ctx.flags
        nig = ctx.needs_input_grad
        gB = solve_triangular(A.mT, gX, upper=not upper, unitriangular=unit)
        gA = None
        if nig[0]:
            gA = -(gB @ X.mT)
            gA = gA.triu(1 if unit else 0) if upper else gA.tril(-1 if unit else 0)
        return gA, gB if nig[1] else None, None, None


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    op = "linalg.solve_triangular"
    _check_input(A, op, square=True)
    _check_same_dtype(A, B, op)
    if B.dim() < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    n = _shape(A)[-1]
    if (_shape(B)[-2] if left else _shape(B)[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {'x'.join(map(str, _shape(B)[-2:]))})")
    if not left:  # X A = B  <=>  A^T X^T = B^T, and A^T has the other triangle
        return _out(out, solve_triangular(A.mT, B.mT, upper=not upper, left=True, unitriangular=unitriangular).mT)
    A2, B2 = _batch_broadcast(A, B, op)
    if _records(A2, B2):
        X = LinalgSolveTriangular.apply(A2, B2, bool(upper), bool(unitriangular))
    else:
        X = _wrap(_on_host.linalg_solve_triangular(A2._impl, B2._impl, bool(upper), bool(unitriangular)))
    return _out(out, X)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False, *, out=None):
    """torch.triangular_solve (deprecated in torch): (solution of op(A) X = b, a copy of A)."""
    if A.dim() < 2 or b.dim() < 2:
        raise RuntimeError("torch.triangular_solve: Expected b to have at least 2 dimensions, but it has "
                           f"{b.dim()} dimensions instead" if b.dim() < 2 else
                           f"torch.triangular_solve: Expected A to have at least 2 dimensions, but it has {A.dim()} "
                           "dimensions instead")
    Ax = A.mT if transpose else A
    X = solve_triangular(Ax, b, upper=(not upper) if transpose else upper, unitriangular=unitriangular)
    sa, sb = _shape(A), _shape(b)
    batch = tuple(_C.broadcast_shapes(list(sa[:-2]), list(sb[:-2]), "triangular_solve"))
    coeff = A.expand(batch + sa[-2:]).clone() if sa[:-2] != batch else A.clone()
    return _outs(out, return_types.triangular_solve, (X, coeff))


# ---------------------------------------------------------------- solve, inv
def _is_vector_rhs(A, B):
    sa, sb = _shape(A), _shape(B)
    return len(sb) == 1 or (len(sa) - 1 == len(sb) and sb == sa[:-1])


_SINGULAR = "The solver failed because the input matrix is singular."


class LinalgSolveEx(Function):
    _grad_fn_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, A, B, err_op):
        LU, piv, info = _lu_raw(A)
        if err_op:
            _raise_on_info(info, err_op, lambda i: _SINGULAR, A.dim() > 2)
        X = _lu_solve_raw(LU, piv, B)
        ctx.save_for_backward(A, X, LU, piv)
        ctx.mark_non_differentiable(info)
        return X, info

    @staticmethod
    def backward(ctx, gX, _gi):
        A, X, LU, piv = ctx.saved_tensors
        nig = ctx.needs_input_grad
        if _gs.enabled:  # double backward: solve again with A^T, differentiably
            gB = solve(A.mT, gX)
        else:
            gB = _lu_solve_raw(LU, piv, gX.contiguous(), adjoint=True)
        gA = -(gB @ X.mT) if nig[0] else None
        return gA, gB if nig[1] else None, None


def _solve_impl(A, B, left, check, op="linalg.solve", err_op="torch.linalg.solve"):
    _check_input(A, op, square=True)
    _check_same_dtype(A, B, op)
    n = _shape(A)[-1]
    vector = _is_vector_rhs(A, B)
    if not vector and B.dim() < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    Bm = B.unsqueeze(-1) if vector else B
    if not left:
        Bm = Bm.mT
    if _shape(Bm)[-2] != n:
        sb = _shape(Bm) if left else _shape(Bm)[:-2] + _shape(Bm)[-2:][::-1]
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {sb[-2]}x{sb[-1]})")
    Am = A if left else A.mT
    Am, Bm = _batch_broadcast(Am, Bm, op)
    if _records(Am, Bm):
        X, info = LinalgSolveEx.apply(Am, Bm, err_op if check else None)
    else:
        LU, piv, info = _lu_raw(Am)
        if check:
            _raise_on_info(info, err_op, lambda i: _SINGULAR, Am.dim() > 2)
        X = _lu_solve_raw(LU, piv, Bm)
    if not left:
        X = X.mT
    if vector:
        X = X.squeeze(-1)
    return X, info


@_kernel_dtypes("lu_cpu")
def solve(A, B, *, left=True, out=None):
    return _out(out, _solve_impl(A, B, left, True)[0])


@_kernel_dtypes("lu_cpu")
def solve_ex(A, B, *, left=True, check_errors=False, out=None):
    X, info = _solve_impl(A, B, left, check_errors, "linalg.solve", "torch.linalg.solve_ex")
    return _outs(out, return_types.linalg_solve_ex, (X, info))


def _inv_message(i):
    return (f"The diagonal element {i} is zero, the inversion could not be completed because the input matrix is "
            "singular.")


class LinalgInvEx(Function):
    _grad_fn_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, A, err_op):
        Y, info = _inv_raw(A, err_op)
        ctx.save_for_backward(Y)
        ctx.mark_non_differentiable(info)
        return Y, info

    @staticmethod
    def backward(ctx, gY, _gi):
        Y, = ctx.saved_tensors
        return -(Y.mT @ (gY @ Y.mT)), None  # (PyTorch's association: its inf and NaN where A is singular)


def _inv_raw(A, err_op):
    """(A^-1, info); raises LinAlgError naming err_op for a singular matrix when err_op is given."""
    LU, piv, info = _lu_raw(A)
    if err_op:
        _raise_on_info(info, err_op, _inv_message, A.dim() > 2)
    sa = _shape(A)
    Y = _lu_solve_raw(LU, piv, _eye_like(A, sa[-1], sa[:-2]))
    return Y, info


def inv_ex(A, *, check_errors=False, out=None):
    _check_input(A, "linalg.inv", square=True)  # PyTorch's message names linalg.inv
    err_op = "linalg.inv_ex" if check_errors else None
    if _records(A):
        Y, info = LinalgInvEx.apply(A, err_op)
    else:
        Y, info = _inv_raw(A, err_op)
    return _outs(out, return_types.linalg_inv_ex, (Y, info))


def inv(A, *, out=None):
    _check_input(A, "linalg.inv", square=True)
    if _records(A):
        Y = LinalgInvEx.apply(A, "linalg.inv")[0]
    else:
        Y = _inv_raw(A, "linalg.inv")[0]
    return _out(out, Y)


# ---------------------------------------------------------------- det, slogdet
def _det_parts(A):
    """(LU, pivots, info, det) of A, det = prod(diag(U)) * sign(P)."""
    LU, piv, info = _lu_raw(A)
    parity = _to_tensor(_pivot_parity(piv), A)
    det = LU.diagonal(0, -2, -1).prod(-1) * parity
    return LU, piv, info, det


def _prod_others(S):
    """[..., n]: for each i the product of S[..., j] over j != i (no division, so zeros are fine)."""
    from .join import cat, stack
    n = _shape(S)[-1]
    cols = []
    for i in range(n):
        parts = [p for p in (S[..., :i], S[..., i + 1:]) if _shape(p)[-1] > 0]
        cols.append(cat(parts, -1).prod(-1) if parts else S[..., 0] * 0 + 1)
    return stack(cols, -1)


def _det_cofactor_svd(A):
    """The cofactor matrix det(A) A^-T of any square A (singular too), from its SVD:
    A = U S V^T  ->  cof(A) = det(U) det(V) U diag(prod_{j != i} s_j) V^T."""
    U, S, Vh = svd(A)
    with _no_grad():
        sign = det(U) * det(Vh)
    return (U * (_prod_others(S) * sign.unsqueeze(-1)).unsqueeze(-2)) @ Vh


def _no_grad():
    from ..autograd.grad_mode import no_grad
    return no_grad()


class LinalgDet(Function):
    _grad_fn_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, A):
        LU, piv, info, d = _det_parts(A)
        ctx.save_for_backward(A, d, LU, piv, info)
        return d

    @staticmethod
    def backward(ctx, g):
        A, d, LU, piv, info = ctx.saved_tensors
        singular = bool(np.any(to_numpy(info._impl)))
        n = _shape(A)[-1]
        if A._impl.numel == 0:  # PyTorch's gradient holds nothing and has no graph
            return A.detach() * 0
        if n == 1:  # det(A) = A: the gradient is g, with no graph to A (as PyTorch's)
            return g.unsqueeze(-1).unsqueeze(-1)
        if singular:
            return g.unsqueeze(-1).unsqueeze(-1) * _det_cofactor_svd(A)
        gd = (g * d).unsqueeze(-1).unsqueeze(-1)
        if _gs.enabled:
            return gd * inv(A).mT
        # (g det) A^-T as one adjoint LU solve of the scaled identity.
        rhs = (gd * _eye_like(A)).contiguous()
        return _lu_solve_raw(LU, piv, rhs, adjoint=True)


@_kernel_dtypes("lu_cpu")
def det(A, *, out=None):
    _check_input(A, "linalg.det", square=True)
    if _records(A):
        return _out(out, LinalgDet.apply(A))
    return _out(out, _det_parts(A)[3])


class LinalgSlogdet(Function):
    _grad_fn_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, A):
        sign, logabs, LU, piv = _slogdet_raw(A)
        ctx.save_for_backward(A, LU, piv)
        return sign, logabs  # sign requires grad as in torch, with a zero gradient

    @staticmethod
    def backward(ctx, _gsign, g):
        A, LU, piv = ctx.saved_tensors
        if g is None:
            return None
        g2 = g.unsqueeze(-1).unsqueeze(-1)
        if _gs.enabled:
            return g2 * inv_ex(A)[0].mT
        return _lu_solve_raw(LU, piv, (g2 * _eye_like(A)).contiguous(), adjoint=True)


def _slogdet_raw(A):
    LU, piv, _ = _lu_raw(A)
    d = LU.diagonal(0, -2, -1)
    parity = _to_tensor(_pivot_parity(piv), A)
    sign = d.sign().prod(-1) * parity
    logabs = d.abs().log().sum(-1)
    return sign, logabs, LU, piv


def slogdet(A, *, out=None):
    _check_input(A, "linalg.slogdet", square=True)
    if _records(A):
        sign, logabs = LinalgSlogdet.apply(A)
    else:
        sign, logabs = _slogdet_raw(A)[:2]
    return _outs(out, return_types.linalg_slogdet, (sign, logabs))


def logdet(A):
    """log(det(A)): NaN for a negative determinant, -inf for a zero one (torch.logdet)."""
    _check_input(A, "logdet", square=True)
    sign, logabs = slogdet(A)
    from .pointwise import where
    nan = _wrap(_C.full([], float("nan"), A._impl.dtype, A._impl.device))
    return where(sign < 0, nan, logabs)


# ---------------------------------------------------------------- Cholesky
def _chol_message(i):
    return (f"The factorization could not be completed because the input is not positive-definite "
            f"(the leading minor of order {i} is not positive-definite).")


class LinalgCholeskyEx(Function):
    _grad_fn_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, A, upper, err_op):
        L, info = (_wrap(t) for t in _on_host.linalg_cholesky(A._impl, upper))
        if err_op:
            _raise_on_info(info, err_op, _chol_message, A.dim() > 2)
        ctx.upper = upper
        ctx.save_for_backward(L)
        ctx.mark_non_differentiable(info)
        return L, info

    @staticmethod
    def backward(ctx, gL, _gi):
        L, = ctx.saved_tensors
        if ctx.upper:
            L, gL = L.mT, gL.mT
        # torch's cholesky_backward: gA = L^-T Phi(L^T gL) L^-1, Phi = tril with the diagonal halved, symmetrised.
        gA = (L.mT @ gL).tril()
        gA = 0.5 * (gA + gA.tril(-1).mT)
        gA = solve_triangular(L.mT, gA, upper=True, left=True)
        gA = solve_triangular(L, gA, upper=False, left=False)
        return gA, None, None


@_kernel_dtypes("cholesky_cpu")
def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    _check_input(A, "linalg.cholesky", square=True)  # PyTorch's message names linalg.cholesky
    err_op = "linalg.cholesky_ex" if check_errors else None
    if _records(A):
        L, info = LinalgCholeskyEx.apply(A, bool(upper), err_op)
    else:
        L, info = (_wrap(t) for t in _on_host.linalg_cholesky(A._impl, bool(upper)))
        if err_op:
            _raise_on_info(info, err_op, _chol_message, A.dim() > 2)
    return _outs(out, return_types.linalg_cholesky_ex, (L, info))


@_kernel_dtypes("cholesky_cpu")
def cholesky(A, *, upper=False, out=None):
    _check_input(A, "linalg.cholesky", square=True)
    if _records(A):
        L = LinalgCholeskyEx.apply(A, bool(upper), "linalg.cholesky")[0]
    else:
        L, info = (_wrap(t) for t in _on_host.linalg_cholesky(A._impl, bool(upper)))
        _raise_on_info(info, "linalg.cholesky", _chol_message, A.dim() > 2)
    return _out(out, L)


def cholesky_legacy(input, upper=False, *, out=None):
    """torch.cholesky (deprecated there): the factor of the lower (upper) triangle."""
    return _out(out, cholesky(input, upper=upper))


def cholesky_solve(B, L, upper=False, *, out=None):
    """X with A X = B for A = L L^T (A = U^T U when upper), given the Cholesky factor."""
    if B.dim() < 2 or L.dim() < 2:
        raise RuntimeError(f"cholesky_solve: Expected {'b' if B.dim() < 2 else 'u'} to have at least 2 dimensions, "
                           f"but it has {min(B.dim(), L.dim())} dimensions instead")
    sl, sb = _shape(L), _shape(B)
    if sl[-1] != sl[-2] or sl[-1] != sb[-2]:
        raise RuntimeError(f"Incompatible matrix sizes for cholesky_solve: each A matrix is {sl[-2]} by {sl[-1]} but "
                           f"each b matrix is {sb[-2]} by {sb[-1]}")
    _check_same_dtype(L, B, "cholesky_solve")
    B2, L2 = _batch_broadcast(B, L, "cholesky_solve")
    if _records(B2, L2):
        return _out(out, CholeskySolve.apply(B2, L2, bool(upper)))
    return _out(out, _cholesky_solve_raw(B2, L2, bool(upper)))


def _cholesky_solve_raw(B, L, upper):
    Li, Bi = L._impl, B._impl
    Lt = _C.transpose(Li, -2, -1)
    Y = _on_host.linalg_solve_triangular(Lt if upper else Li, Bi, False, False)
    return _wrap(_on_host.linalg_solve_triangular(Li if upper else Lt, Y, True, False))


class CholeskySolve(Function):
    _grad_fn_name = "CholeskySolveBackward0"

    @staticmethod
    def forward(ctx, B, L, upper):
        X = _cholesky_solve_raw(B, L, upper)
        ctx.upper = upper
        ctx.save_for_backward(L, X)
        return X

    @staticmethod
    def backward(ctx, gX):
        # torch's cholesky_solve_backward: the gradient of L is not restricted to its triangle.
        L, X = ctx.saved_tensors
        upper = ctx.upper
        gB = cholesky_solve(gX, L, upper)
        common = gB @ X.mT
        common = common + common.mT
        gL = -(L @ common) if upper else -(common @ L)
        return gB, gL, None


def cholesky_inverse(L, upper=False, *, out=None):
    """inv(A) for A = L L^T (A = U^T U when upper), given the Cholesky factor."""
    _check_input(L, "cholesky_inverse", square=True, name="input")
    if _records(L):
        return _out(out, CholeskyInverse.apply(L, bool(upper)))
    return _out(out, _cholesky_inverse_raw(L, bool(upper)))


def _cholesky_inverse_raw(L, upper):
    sl = _shape(L)
    return _cholesky_solve_raw(_eye_like(L, sl[-1], sl[:-2]), L, upper)


class CholeskyInverse(Function):
    _grad_fn_name = "CholeskyInverseBackward0"

    @staticmethod
    def forward(ctx, L, upper):
        Y = _cholesky_inverse_raw(L, upper)
        ctx.upper = upper
        ctx.save_for_backward(L, Y)
        return Y

    @staticmethod
    def backward(ctx, g):
        # torch's cholesky_inverse_backward (the gradient of L not restricted to its triangle)
        L, Y = ctx.saved_tensors
        common = Y @ (g + g.mT) @ Y
        return (-(L @ common) if ctx.upper else -(common @ L)), None


# ---------------------------------------------------------------- QR
class LinalgQr(Function):
    _grad_fn_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, A, mode):
        Q, R = (_wrap(t) for t in _on_host.linalg_qr(A._impl, mode))
        ctx.mode = mode
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(Q, R)  # mode='r': the empty Q requires grad too, as PyTorch's
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        Q, R = ctx.saved_tensors
        mode = ctx.mode
        if mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                               "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        m, n = _shape(Q)[-2], _shape(R)[-1]
        if mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        if gQ is None and gR is None:
            return None, None
        # torch's linalg_qr_backward: M = gR R^T - Q^T gQ
        if gQ is not None:
            M = (gR @ R.mT - Q.mT @ gQ) if gR is not None else -(Q.mT @ gQ)
        else:
            M = gR @ R.mT
        if m >= n:
            # gA = (Q syminvadj(triu(M)) + gQ) R^-T, syminvadj(X) = X + X^T with the diagonal halved
            Mu = M.triu()
            b = Q @ (Mu + Mu.mT - _diag_embed(Mu.diagonal(0, -2, -1)))
            if gQ is not None:
                b = b + gQ
            return solve_triangular(R.mT, b, upper=False, left=False), None
        # Wide: A = Q [X | Y] with X square: gA = [Q triliminvadjskew(-M) X^-T | 0] + Q gR
        Mn = -M
        b = Q @ (Mn - Mn.mT).tril()
        from .join import cat
        X = R[..., :, :m]
        gX = solve_triangular(X.mT, b, upper=False, left=False)
        zeros = _wrap(_C.full(list(_shape(gX)[:-1]) + [n - m], 0, R._impl.dtype, R._impl.device))
        gA = cat([gX, zeros], -1)
        if gR is not None:
            gA = gA + Q @ gR
        return gA, None


def qr(A, mode="reduced", *, out=None):
    half = isinstance(A, Tensor) and A._impl.dtype in ("float16", "bfloat16")
    if not half:
        _check_input(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           "or 'complete'")
    if half:  # PyTorch's geqrf kernel refuses them, even when empty
        raise NotImplementedError(f'"geqrf_cpu" not implemented for \'{_TORCH_NAMES[A._impl.dtype]}\'')
    if _records(A):
        Q, R = LinalgQr.apply(A, mode)
    else:
        Q, R = (_wrap(t) for t in _on_host.linalg_qr(A._impl, mode))
    return _outs(out, return_types.linalg_qr, (Q, R))


def qr_legacy(input, some=True, *, out=None):
    """torch.qr: reduced (some=True) or complete QR."""
    Q, R = qr(input, "reduced" if some else "complete")
    return _outs(out, return_types.qr, (Q, R))


# ---------------------------------------------------------------- eigh
class LinalgEigh(Function):
    _grad_fn_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, A, uplo):
        w, V = (_wrap(t) for t in _on_host.linalg_eigh(A._impl, uplo, True))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(w, V)
        return w, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        if gV is None:
            if gL is None:
                return None, None
            return (V * gL.unsqueeze(-2)) @ V.mT, None
        # torch's linalg_eig_backward (Hermitian): gA = V (skew(V^T gV) / E + diag(gL)) V^T, E_ij = L_j - L_i
        VhgV = V.mT @ gV
        VhgV = 0.5 * (VhgV - VhgV.mT)
        E = L.unsqueeze(-2) - L.unsqueeze(-1) + _eye_like(L, _shape(L)[-1])
        ret = VhgV / E
        if gL is not None:
            ret = ret + _diag_embed(gL)
        return V @ ret @ V.mT, None


def _check_uplo(UPLO, op):
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO.upper()


@_kernel_dtypes("linalg_eigh_cpu", ints=True)
def eigh(A, UPLO="L", *, out=None):
    _check_input(A, "linalg.eigh", square=True)
    uplo = _check_uplo(UPLO, "linalg.eigh")
    if _records(A):
        w, V = LinalgEigh.apply(A, uplo)
    else:
        w, V = (_wrap(t) for t in _on_host.linalg_eigh(A._impl, uplo, True))
    return _outs(out, return_types.linalg_eigh, (w, V))


@_kernel_dtypes("linalg_eigh_cpu", ints=True)
def eigvalsh(A, UPLO="L", *, out=None):
    _check_input(A, "linalg.eigvalsh", square=True)
    uplo = _check_uplo(UPLO, "linalg.eigvalsh")
    if _records(A):
        return _out(out, LinalgEigh.apply(A, uplo)[0])
    return _out(out, _wrap(_on_host.linalg_eigh(A._impl, uplo, False)[0]))


# ---------------------------------------------------------------- SVD
class LinalgSvd(Function):
    _grad_fn_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, A, full_matrices):
        U, S, Vh = (_wrap(t) for t in _on_host.linalg_svd(A._impl, full_matrices, True))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        m, n = _shape(U)[-2], _shape(Vh)[-1]
        k = _shape(S)[-1]
        # full_matrices: only the first k columns of U (rows of Vh) carry information.
        if _shape(U)[-1] != k:
            U = U[..., :, :k]
            gU = gU[..., :, :k] if gU is not None else None
        if _shape(Vh)[-2] != k:
            Vh = Vh[..., :k, :]
            gVh = gVh[..., :k, :] if gVh is not None else None
        if gU is None and gVh is None:
            if gS is None:
                return None, None
            return (U * gS.unsqueeze(-2)) @ Vh, None
        # torch's svd_backward (real case)
        S2 = S * S
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye_like(S, k)
        UhgU = (U.mT @ gU) if gU is not None else None
        VhgV = (Vh @ gVh.mT) if gVh is not None else None
        if UhgU is not None:
            UhgU = UhgU - UhgU.mT
        if VhgV is not None:
            VhgV = VhgV - VhgV.mT
        if UhgU is not None and VhgV is not None:
            gA = (UhgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VhgV) / E
        elif UhgU is None:
            gA = S.unsqueeze(-1) * (VhgV / E)
        else:
            gA = (UhgU / E) * S.unsqueeze(-2)
        if gS is not None:
            gA = gA + _diag_embed(gS)
        if m > n and gU is not None:
            gA = U @ gA
            gUSinv = gU / S.unsqueeze(-2)
            gA = gA + gUSinv - U @ (U.mT @ gUSinv)
            gA = gA @ Vh
        elif m < n and gVh is not None:
            gA = gA @ Vh
            SinvgVh = gVh / S.unsqueeze(-1)
            gA = gA + SinvgVh - (SinvgVh @ Vh.mT) @ Vh
            gA = U @ gA
        else:
            gA = U @ (gA @ Vh) if m >= n else (U @ gA) @ Vh
        return gA, None


@_kernel_dtypes("linalg_svd_cpu")
def svd(A, full_matrices=True, *, driver=None, out=None):
    _check_input(A, "linalg.svd")
    if _records(A):
        U, S, Vh = LinalgSvd.apply(A, bool(full_matrices))
    else:
        U, S, Vh = (_wrap(t) for t in _on_host.linalg_svd(A._impl, bool(full_matrices), True))
    return _outs(out, return_types.linalg_svd, (U, S, Vh))


@_kernel_dtypes("linalg_svd_cpu")
def svdvals(A, *, driver=None, out=None):
    _check_input(A, "linalg.svd")  # PyTorch's message names linalg.svd
    if _records(A):
        return _out(out, LinalgSvd.apply(A, False)[1])
    return _out(out, _wrap(_on_host.linalg_svd(A._impl, False, False)[1]))


def svd_legacy(input, some=True, compute_uv=True, *, out=None):
    """torch.svd: (U, S, V) with A = U diag(S) V^T; compute_uv=False gives zero U [m, m] and V [n, n]."""
    _check_input(input, "svd")
    if not compute_uv:
        S = svdvals(input)
        sa = list(_shape(input))
        dt, dev = input._impl.dtype, input._impl.device
        U = _wrap(_C.full(sa[:-2] + [sa[-2], sa[-2]], 0, dt, dev))
        V = _wrap(_C.full(sa[:-2] + [sa[-1], sa[-1]], 0, dt, dev))
        return _outs(out, return_types.svd, (U, S, V))
    U, S, Vh = svd(input, full_matrices=not some)
    return _outs(out, return_types.svd, (U, S, Vh.mT))


# ---------------------------------------------------------------- pinv, lstsq, rank
def _tolerances(A, atol, rtol, op):
    """(atol, rtol) with torch's defaults: rtol = eps * max(m, n) unless atol > 0 is given alone."""
    m, n = _shape(A)[-2:]
    if rtol is None:
        given = atol is not None and (isinstance(atol, Tensor) or atol > 0)
        rtol = 0.0 if given else _EPS[A._impl.dtype] * max(m, n)
    return (0.0 if atol is None else atol), rtol


def _threshold(smax, atol, rtol):
    """max(atol, rtol * smax) per matrix, [...] like smax (atol and rtol numbers or tensors of the batch)."""
    from .elementwise import maximum
    t = smax * rtol
    if isinstance(atol, Tensor):
        return maximum(t, atol)
    return t.clamp(min=float(atol)) if atol else t


class LinalgPinv(Function):
    _grad_fn_name = "LinalgPinvBackward0"

    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian):
        P = _pinv_raw(A, atol, rtol, hermitian)
        ctx.save_for_backward(A, P)
        return P

    @staticmethod
    def backward(ctx, g):
        A, pinvA = ctx.saved_tensors
        # torch's pinv_backward
        m, n = _shape(A)[-2:]
        pinvAh, gh = pinvA.mT, g.mT
        if m <= n:
            K = gh @ pinvA
            KpinvAh = K @ pinvAh
            gA = -(pinvA @ K).mT + KpinvAh - (A @ pinvA) @ KpinvAh + (pinvAh @ pinvA) @ (gh - K @ A)
        else:
            K = pinvA @ gh
            pinvAhK = pinvAh @ K
            gA = -(K @ pinvA).mT + (gh - A @ K) @ pinvA @ pinvAh + pinvAhK - pinvAhK @ pinvA @ A
        return gA, None, None, None


def _pinv_raw(A, atol, rtol, hermitian):
    from .pointwise import where
    zero = _wrap(_C.full([], 0, A._impl.dtype, A._impl.device))
    if hermitian:
        w, V = (_wrap(t) for t in _on_host.linalg_eigh(A._impl, "L", True))
        aw = w.abs()
        smax = aw.amax(-1) if _shape(w)[-1] else aw.sum(-1)
        thr = _threshold(smax, atol, rtol).unsqueeze(-1)
        winv = where(aw > thr, w.reciprocal(), zero)
        return (V * winv.unsqueeze(-2)) @ V.mT
    U, S, Vh = (_wrap(t) for t in _on_host.linalg_svd(A._impl, False, True))
    smax = S[..., 0] if _shape(S)[-1] else S.sum(-1)
    thr = _threshold(smax, atol, rtol).unsqueeze(-1)
    sinv = where(S > thr, S.reciprocal(), zero)
    return (Vh.mT * sinv.unsqueeze(-2)) @ U.mT


def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None, rcond=None):
    _check_input(A, "linalg.pinv")
    if rcond is not None:
        rtol = rcond
    atol, rtol = _tolerances(A, atol, rtol, "linalg.pinv")
    if _records(A):
        return _out(out, LinalgPinv.apply(A, atol, rtol, bool(hermitian)))
    return _out(out, _pinv_raw(A, atol, rtol, bool(hermitian)))


def pinverse(input, rcond=1e-15):
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None, tol=None):
    _check_input(A, "linalg.matrix_rank")
    if tol is not None:
        atol, rtol = tol, 0.0
    atol, rtol = _tolerances(A, atol, rtol, "linalg.matrix_rank")
    with _no_grad():
        S = eigvalsh(A).abs() if hermitian else svdvals(A)
        k = _shape(S)[-1]
        if k == 0:
            return _out(out, _wrap(_C.full(list(_shape(A)[:-2]), 0, "int64", A._impl.device)))
        smax = S.amax(-1)
        r = (S > _threshold(smax, atol, rtol).unsqueeze(-1)).sum(-1)
    return _out(out, r)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """Least squares min ||A X - B|| (minimum norm for rank-deficient A), through the SVD. The extra
    outputs follow torch's CPU drivers: rank for all but 'gels', singular values for 'gelsd'/'gelss',
    residuals (the squared residual norms) when m > n and every matrix has full rank, except with
    'gelsy' (the default), which leaves them empty."""
    op = "torch.linalg.lstsq"
    _check_input(A, "linalg.lstsq")
    _check_same_dtype(A, B, "linalg.lstsq")
    if driver is not None and driver not in _DRIVERS:
        raise RuntimeError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    driver = driver or "gelsy"
    m, n = _shape(A)[-2:]
    vector = _is_vector_rhs(A, B) and B.dim() == A.dim() - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.dim() < 2 or _shape(Bm)[-2] != m:
        raise RuntimeError(f"{op}: input.size(-2) should match other.size(-2)")
    eps = _EPS[A._impl.dtype]
    rc = eps * max(m, n) if rcond is None or rcond < 0 else float(rcond)
    if _records(A):
        P = LinalgPinv.apply(A, 0.0, rc, False)
    else:
        P = _pinv_raw(A, 0.0, rc, False)
    X = P @ Bm
    dt, dev = A._impl.dtype, A._impl.device
    empty_f = _wrap(_C.empty([0], dt, dev))
    with _no_grad():
        S = svdvals(A)
        k = _shape(S)[-1]
        if k:
            rank = (S > S[..., :1] * rc).sum(-1)
        else:
            rank = _wrap(_C.full(list(_shape(A)[:-2]), 0, "int64", dev))
        residuals = empty_f
        full_rank = bool(np.all(to_numpy(rank._impl) == n))
        if m > n and driver != "gelsy" and (driver == "gels" or full_rank):
            Ad, Xd, Bd = A.detach(), X.detach(), Bm.detach()
            residuals = ((Ad @ Xd - Bd) ** 2).sum(-2)  # [..., k]; [1] for a vector b, as torch
    if vector:
        X = X.squeeze(-1)
    if driver == "gels":
        rank = _wrap(_C.empty([0], "int64", dev))
    sv = S if driver in ("gelsd", "gelss") else empty_f
    return return_types.linalg_lstsq(X, residuals, rank, sv)


# ---------------------------------------------------------------- matrix functions
class LinalgMatrixExp(Function):
    _grad_fn_name = "LinalgMatrixExpBackward0"

    @staticmethod
    def forward(ctx, A):
        ctx.save_for_backward(A)
        return _wrap(_on_host.linalg_matrix_exp(A._impl))

    @staticmethod
    def backward(ctx, g):
        A, = ctx.saved_tensors
        # The Frechet derivative's adjoint: the top-right block of exp([[A^T, G], [0, A^T]]).
        from .join import cat
        n = _shape(A)[-1]
        At = A.mT
        Z = _wrap(_C.full(list(_shape(A)), 0, A._impl.dtype, A._impl.device))
        M = cat([cat([At, g], -1), cat([Z, At], -1)], -2)
        return matrix_exp(M)[..., :n, n:]


def matrix_exp(A):
    _check_input(A, "linalg.matrix_exp", square=True)
    if _records(A):
        return LinalgMatrixExp.apply(A)
    return _wrap(_on_host.linalg_matrix_exp(A._impl))


class _MatrixPowerZero(Function):
    _grad_fn_name = "LinalgMatrixPowerBackward0"

    @staticmethod
    def forward(ctx, A):
        sa = _shape(A)
        return _eye_like(A, sa[-1], sa[:-2]).clone()

    @staticmethod
    def backward(ctx, g):
        return g * 0


def matrix_power(A, n, *, out=None):
    # any dtype matmul takes, as PyTorch (integers, half precision): only n < 0 needs inv's float input
    if isinstance(A, Tensor) and A._impl.dtype not in _EPS and A._impl.ndim >= 2:
        sa = _shape(A)
        if sa[-1] != sa[-2]:
            raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                               f"{sa[-2]} by {sa[-1]} matrices")
    else:
        _check_input(A, "linalg.matrix_power", square=True)
    n = int(n)
    sa = _shape(A)
    if n == 0:
        if _records(A):  # torch's identity is part of the graph, with a zero gradient
            return _out(out, _MatrixPowerZero.apply(A))
        return _out(out, _eye_like(A, sa[-1], sa[:-2]).clone())
    if n < 0:
        A, n = inv(A), -n
    if n == 3:  # PyTorch's fast path multiplies (A @ A) @ A; the loop below would give A @ (A @ A)
        return _out(out, (A @ A) @ A)
    result = None
    base = A
    while True:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if not n:
            break
        base = base @ base
    if result is A:
        result = A.clone()
    return _out(out, result)


def multi_dot(tensors, *, out=None):
    """The chained product, multiplied in the cheapest order (the matrix-chain dynamic programme)."""
    n = len(tensors)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    ts = list(tensors)
    first_1d, last_1d = ts[0].dim() == 1, ts[-1].dim() == 1
    if ts[0].dim() not in (1, 2):
        raise RuntimeError(f"multi_dot(): the first tensor must be 1D or 2D but got {ts[0].dim()}D")
    if ts[-1].dim() not in (1, 2):
        raise RuntimeError(f"multi_dot(): the last tensor must be 1D or 2D but got {ts[-1].dim()}D")
    for i in range(1, n - 1):
        if ts[i].dim() != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {ts[i].dim()}D")
    if first_1d:
        ts[0] = ts[0].unsqueeze(0)
    if last_1d:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(n - 1):
        if _shape(ts[i])[1] != _shape(ts[i + 1])[0]:
            sa, sb = _shape(ts[i]), _shape(ts[i + 1])
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes ({sa[0]}, {sa[1]}) and "
                               f"({sb[0]}, {sb[1]}) cannot be multiplied")
    dims = [_shape(ts[0])[0]] + [_shape(t)[1] for t in ts]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def chain(i, j):
        if i == j:
            return ts[i]
        k = split[i][j]
        return chain(i, k) @ chain(k + 1, j)

    r = chain(0, n - 1)
    if first_1d:
        r = r.squeeze(0)
    if last_1d:
        r = r.squeeze(-1)
    return _out(out, r)


def cond(A, p=None, *, out=None):
    _check_input(A, "linalg.cond")
    if p in (None, 2, -2):
        S = svdvals(A)
        if _shape(S)[-1] == 0:
            return _out(out, S.sum(-1) * 0)
        big, small = S[..., 0], S[..., -1]
        return _out(out, small / big if p == -2 else big / small)
    if p not in ("fro", "nuc", float("inf"), float("-inf"), 1, -1):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    _check_input(A, "linalg.cond", square=True)
    from ..linalg import matrix_norm
    Ainv, info = inv_ex(A)
    r = matrix_norm(A, p) * matrix_norm(Ainv, p)
    if bool(np.any(to_numpy(info._impl))):
        from .pointwise import where
        inf = _wrap(_C.full([], float("inf"), A._impl.dtype, A._impl.device))
        bad = _wrap(from_numpy(np.ascontiguousarray(to_numpy(info._impl) != 0), info._impl.device))
        r = where(bad, inf, r)
    return _out(out, r)


def tensorinv(A, ind=2, *, out=None):
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    s = _shape(A)
    rows, cols = int(np.prod(s[:ind])), int(np.prod(s[ind:]))
    if rows != cols:
        raise RuntimeError(f"Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {cols} != {rows}")
    return _out(out, inv(A.reshape(rows, cols)).reshape(s[ind:] + s[:ind]))


def tensorsolve(A, B, dims=None, *, out=None):
    if dims is not None:
        nd = A.dim()
        dims = [d % nd for d in dims]
        keep = [d for d in range(nd) if d not in dims]
        A = A.permute(keep + dims)
    sa, sb = _shape(A), _shape(B)
    rows = int(np.prod(sb))
    rest = sa[B.dim():]
    cols = int(np.prod(rest))
    if int(np.prod(sa[:B.dim()])) != rows or rows != cols:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {cols} != {int(np.prod(sa[:B.dim()]))}")
    x = solve(A.reshape(rows, cols), B.reshape(rows))
    return _out(out, x.reshape(rest))


# ---------------------------------------------------------------- Householder products (orgqr) and geqrf
_geqrf_rt = _rt("geqrf", "a tau")


def _check_householder(A, tau, op):
    for name, t in (("input", A), ("tau", tau)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    sa, st = _shape(A), _shape(tau)
    if len(sa) < 2:
        raise RuntimeError(f"torch.{op}: input must have at least 2 dimensions.")
    if sa[-2] < sa[-1]:
        raise RuntimeError(f"torch.{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if len(st) < 1 or sa[-1] < st[-1]:
        raise RuntimeError(f"torch.{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if len(st) != len(sa) - 1:
        raise RuntimeError(f"torch.{op}: Expected tau to have one dimension less than input, but got tau.ndim "
                           f"equal to {len(st)} and input.ndim is equal to {len(sa)}")
    if st[:-1] != sa[:-2]:
        raise RuntimeError(f"torch.{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{list(st[:-1])}")
    da, dt = A._impl.dtype, tau._impl.dtype
    if da not in _EPS:
        raise NotImplementedError(f"\"orgqr_cpu\" not implemented for '{_TORCH_NAMES.get(da, da)}'")
    if dt != da:
        raise RuntimeError(f"torch.{op}: tau dtype {_TORCH_NAMES.get(dt, dt)} does not match input dtype "
                           f"{_TORCH_NAMES.get(da, da)}")
    if A.device != tau.device:
        raise RuntimeError(f"torch.{op}: Expected input and tau to be on the same device, but found input on "
                           f"{A.device} and tau on {tau.device}")


def householder_product(A, tau, *, out=None):
    """torch.linalg.householder_product (LAPACK's orgqr): the first n columns of H_0 H_1 ... H_{k-1} for
    A [*, m, n] and tau [*, k] (k <= n <= m), H_i = I - tau_i v_i v_i^T, v_i column i of A below the
    diagonal with an implicit 1 on it (the reflectors geqrf returns).

    A composite of differentiable ops, so gradients w.r.t. A (its strictly lower triangle) and tau (and
    higher derivatives) come from autograd: Q starts as the identity's first n columns and the reflectors
    are applied from the last one back, as dorg2r does; each step is one rank-1 update
    Q <- Q - (tau_i v_i) (v_i^T Q). The rows above i of v_i are exact zeros, so the full-height update
    gives the same numbers as LAPACK's trailing-block one."""
    _check_householder(A, tau, "linalg.householder_product")
    sa = _shape(A)
    m, n, k = sa[-2], sa[-1], _shape(tau)[-1]
    eye = _wrap(_C.eye(m, n, A._impl.dtype, A._impl.device))
    Q = _wrap(_C.expand(eye._impl, list(sa)))
    if k == 0:
        Q = Q.clone()
        if _records(A, tau):  # keep the graph (zero gradients), as torch's output has a grad_fn
            Q = Q + A * 0.0
        return _out(out, Q)
    V = A.tril(-1) + eye  # column i is v_i: zeros above the diagonal, 1 on it
    for i in range(k - 1, -1, -1):
        v = V[..., :, i:i + 1]
        t = tau[..., i:i + 1].unsqueeze(-1)
        Q = Q - (v * t) @ (v.mT @ Q)
    return _out(out, Q)


def orgqr(input, tau, *, out=None):  # noqa: A002
    """torch.orgqr: alias of linalg.householder_product."""
    return householder_product(input, tau, out=out)


def geqrf(input, *, out=None):  # noqa: A002
    """torch.geqrf: LAPACK's geqrf output (a, tau): R in a's upper triangle, the Householder vectors v_i
    (implicit unit diagonal) below it, tau [*, min(m, n)], so that householder_product(a, tau) is QR's Q.
    The reflectors follow dgeqr2 / dlarfg (the convention of csrc/cpu/linalg_qr.cpp): for column j,
    alpha = a[j, j], x below it; x = 0 gives tau = 0; else beta = -sign(alpha) ||(alpha, x)||,
    tau = (beta - alpha) / beta, v = x / (alpha - beta), R[j, j] = beta.

    Computed in float64 numpy here (vectorised over the batch; the C++ QR kernel does not hand its
    reflectors out) and returned in the input's dtype. Not differentiable (neither is torch's)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"geqrf(): argument 'input' must be Tensor, not {type(input).__name__}")
    s = _shape(input)
    if len(s) < 2:
        raise RuntimeError("torch.geqrf: input must have at least 2 dimensions.")
    dt = input._impl.dtype
    if dt not in _EPS:
        raise NotImplementedError(f"\"geqrf_cpu\" not implemented for '{_TORCH_NAMES.get(dt, dt)}'")
    m, n = s[-2], s[-1]
    kk = min(m, n)
    a = np.array(input.detach().to("cpu").numpy(), dtype=np.float64, copy=True)
    a = a.reshape((int(np.prod(s[:-2], dtype=np.int64)), m, n))
    tau = np.zeros((a.shape[0], kk))
    for j in range(kk):
        alpha = a[:, j, j].copy()
        x = a[:, j + 1:, j]
        xnorm = np.sqrt((x * x).sum(-1)) if m > j + 1 else np.zeros_like(alpha)
        nz = xnorm != 0.0
        beta = -np.copysign(np.hypot(alpha, xnorm), alpha)
        safe_beta = np.where(nz, beta, 1.0)
        tau[:, j] = np.where(nz, (beta - alpha) / safe_beta, 0.0)
        scal = np.where(nz, 1.0 / np.where(nz, alpha - beta, 1.0), 1.0)
        v = x * scal[:, None]
        a[:, j + 1:, j] = v
        a[:, j, j] = np.where(nz, beta, alpha)
        if j + 1 < n:
            # apply H_j = I - tau v v^T (v with its leading 1) to the trailing columns
            vf = np.concatenate([np.ones((a.shape[0], 1)), v], axis=1)  # [b, m - j]
            C = a[:, j:, j + 1:]
            w = np.einsum("bi,bic->bc", vf, C)
            a[:, j:, j + 1:] = C - (tau[:, j, None] * vf)[:, :, None] * w[:, None, :]
    ra = _to_tensor(a.reshape(s), input).to(input.device)
    rt = _to_tensor(tau.reshape(s[:-2] + (kk,)), input).to(input.device)
    return _outs(out, _geqrf_rt, (ra, rt))
