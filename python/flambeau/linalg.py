"""flambeau.linalg: norms and products, and the solvers and decompositions of
_functions/linalg_dense.py (LU, Cholesky, QR, eigh, SVD and what is built on them; CPU only)."""
import math as _math

from ._functions.reduction import vector_norm as _vector_norm
from .amp import _cast as _amp_cast
from ._functions.linalg import matmul, tensordot  # noqa: F401
from ._functions import elementwise as _ew, reduction as _red
from ._functions.linalg_dense import (  # noqa: F401
    LinAlgError, lu_factor, lu_factor_ex, lu, lu_solve, solve, solve_ex, solve_triangular, inv, inv_ex, det,
    slogdet, cholesky, cholesky_ex, qr, eigh, eigvalsh, svd, svdvals, pinv, lstsq, matrix_rank, matrix_power,
    matrix_exp, multi_dot, cond, tensorinv, tensorsolve, householder_product)


def _ord_text(ord):  # noqa: A002
    if isinstance(ord, float) and ord.is_integer():
        return str(int(ord))
    return str(ord)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """PyTorch's linalg.vector_norm; a norm whose reduction has no identity (negative orders, inf) refuses
    to reduce an empty tensor or an empty dim, as PyTorch's does."""
    if isinstance(ord, (int, float)) and (ord < 0 or _math.isinf(ord)) and x.numel() == 0:
        shape = tuple(x.shape)
        if dim is None:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {_ord_text(ord)} norm on an empty tensor "
                               "because the operation does not have an identity")
        for d in ((dim,) if isinstance(dim, int) else tuple(dim)):
            if shape[d] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {_ord_text(ord)} norm on the dimension "
                                   f"{d}because this dimension is empty and the operation does not have an identity")
    return _vector_norm(x, ord, dim, keepdim, dtype=dtype)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """Vector norm when dim is an int or the input is 1-D (or ord is None); Frobenius for 2 dims."""
    if ord is None or ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(dim, int) or (dim is None and A.dim() == 1):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)


_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _max_of_nonnegative(x, d, keepdim):
    """amax over d of values >= 0, 0 when d is empty (the identity PyTorch's norms use)."""
    if x.shape[d] == 0:
        return _red.sum(x, d, keepdim)
    return _red.amax(x, d, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    dt = A._impl.dtype
    if dt in _TORCH_NAMES:
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_TORCH_NAMES[dt]}")
    if ord in (2, -2, "nuc") and dt in ("float16", "bfloat16"):
        raise RuntimeError("linalg.matrix_norm: Low precision dtypes not supported. "
                           f"Got {'Half' if dt == 'float16' else 'BFloat16'}")
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    inf = float("inf")
    d0, d1 = dim
    a = _ew.abs(A)
    # An empty max over the last reduced dim (or an empty matrix for ord=2) gives PyTorch a result
    # outside the graph: detached here too.
    if ord in (1, -1):
        s = _red.sum(a, d0, True)
        r = _max_of_nonnegative(s, d1, True) if ord == 1 else _red.amin(s, d1, True)
        r = r.detach() if A.shape[d1] == 0 else r
    elif ord in (inf, -inf):
        s = _red.sum(a, d1, True)
        r = _max_of_nonnegative(s, d0, True) if ord == inf else _red.amin(s, d0, True)
        r = r.detach() if A.shape[d0] == 0 else r
    elif ord in (2, -2, "nuc"):
        from ._functions.shape import movedim
        sv = svdvals(movedim(A, (d0, d1), (-2, -1)))
        r = sv.sum(-1) if ord == "nuc" else (_max_of_nonnegative(sv, -1, False) if ord == 2 else sv.amin(-1))
        r = r.detach() if ord == 2 and (A.shape[d0] == 0 or A.shape[d1] == 0) else r
        if dtype is not None:
            r = r.to(dtype)
        if keepdim:
            nd = A.dim()
            for d in sorted((d0 % nd, d1 % nd)):
                r = r.unsqueeze(d)
        return r
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    return r if keepdim else r.squeeze((d0, d1))


@_amp_cast.lower_op
def vecdot(x, y, *, dim=-1):
    return _red.sum(_ew.mul(x, y), dim)


from ._functions.misc import linalg_cross as cross, linalg_vander as vander  # noqa: E402,F401


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    from ._functions.shape import diagonal as _diagonal
    return _diagonal(A, offset, dim1, dim2)


from ._functions.ldl import ldl_factor, ldl_factor_ex, ldl_solve  # noqa: E402,F401  (Bunch-Kaufman, on the host)
