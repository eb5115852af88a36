"""flambeau.linalg: the norms and products flambeau implements (no decompositions)."""
from ._functions.reduction import vector_norm
from ._functions.linalg import matmul, tensordot  # noqa: F401
from ._functions import elementwise as _ew, reduction as _red


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """Vector norm when dim is an int or the input is 1-D (or ord is None); Frobenius for 2 dims."""
    if ord is None or ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(dim, int) or (dim is None and A.dim() == 1):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    inf = float("inf")
    d0, d1 = dim
    a = _ew.abs(A)
    if ord in (1, -1):
        s = _red.sum(a, d0, True)
        r = _red.amax(s, d1, True) if ord == 1 else _red.amin(s, d1, True)
    elif ord in (inf, -inf):
        s = _red.sum(a, d1, True)
        r = _red.amax(s, d0, True) if ord == inf else _red.amin(s, d0, True)
    else:
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs an SVD, which flambeau does not implement")
    return r if keepdim else r.squeeze((d0, d1))


def vecdot(x, y, *, dim=-1):
    return _red.sum(_ew.mul(x, y), dim)


from ._functions.misc import linalg_cross as cross, linalg_vander as vander  # noqa: E402,F401
