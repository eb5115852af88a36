"""Shape rules of the meta device (_meta.py) for linear algebra: torch.linalg's decompositions, solvers,
inverses, determinants and norms, and their torch.* forms (svd_legacy, qr_legacy, cholesky_legacy, inverse,
logdet). Results are PyTorch's named tuples (linalg_dense.return_types), with PyTorch's shapes and dtypes:
real singular/eigenvalues of complex input, complex eigenvalues of real input (eig), int32 pivots and infos.
"""
from ._meta_rules import make, _shape, _dt, _m
from ._utils import wrap_dim
from . import _promote


def _square(op, A):
    a = _shape(A)
    if len(a) < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if a[-1] != a[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are {a[-2]} by {a[-1]} "
                           "matrices")
    if _dt(A) not in ("float32", "float64", "complex64", "complex128"):
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. Got {_dt(A)}")
    return a


def _real(dt):
    return {"complex64": "float32", "complex128": "float64"}.get(dt, dt)


def _complex(dt):
    return {"float32": "complex64", "float64": "complex128"}.get(dt, dt)


def _inv(A, *, out=None):
    return make(_square("inv", A), _dt(A))


def _inv_ex(A, *, check_errors=False, out=None):
    a = _square("inv_ex", A)
    return _named("linalg_inv_ex", ("inverse", "info"), make(a, _dt(A)), make(a[:-2], "int32"))


def _det(A):
    return make(_square("det", A)[:-2], _dt(A))


def _slogdet(A, *, out=None):
    a = _square("slogdet", A)
    return _named("linalg_slogdet", ("sign", "logabsdet"), make(a[:-2], _dt(A)), make(a[:-2], _real(_dt(A))))


def _logdet(A):
    return make(_square("logdet", A)[:-2], _dt(A))


def _solve(A, B, *, left=True, out=None):
    a = _square("solve", A)
    b = _shape(B)
    vector = len(b) == 1 or (len(b) == len(a) - 1 and b == a[:-1])
    if vector:
        return make(_m()._broadcast(a[:-2], b[:-1]) + b[-1:], _promote.result_type_names(A, B))
    if (b[-2] if left else b[-1]) != a[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({a[-2]}x{a[-1]} and {b[-2]}x{b[-1]})")
    return make(_m()._broadcast(a[:-2], b[:-2]) + b[-2:], _promote.result_type_names(A, B))


def _solve_ex(A, B, *, left=True, check_errors=False, out=None):
    r = _solve(A, B, left=left)
    return _named("linalg_solve_ex", ("result", "info"), r, make(_shape(A)[:-2], "int32"))


def _matrix(op, A):
    a = _shape(A)
    if len(a) < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    return a


def _qr(A, mode="reduced", *, out=None):
    a = _matrix("qr", A)
    m, n = a[-2:]
    k = min(m, n)
    if mode == "r":
        q = a[:-2] + (0,)
        r = a[:-2] + (k, n)
    elif mode == "complete":
        q, r = a[:-2] + (m, m), a[:-2] + (m, n)
    else:
        q, r = a[:-2] + (m, k), a[:-2] + (k, n)
    return _named("linalg_qr", ("Q", "R"), make(q, _dt(A)), make(r, _dt(A)))


def _qr_legacy(A, some=True, *, out=None):
    q, r = _qr(A, "reduced" if some else "complete")
    return _named("qr", ("Q", "R"), q, r)


def _svd(A, full_matrices=True, *, driver=None, out=None):
    a = _matrix("svd", A)
    m, n = a[-2:]
    k = min(m, n)
    b = a[:-2]
    u, vh = (b + (m, m), b + (n, n)) if full_matrices else (b + (m, k), b + (k, n))
    dt = _dt(A)
    return _named("linalg_svd", ("U", "S", "Vh"), make(u, dt), make(b + (k,), _real(dt)), make(vh, dt))


def _svd_legacy(A, some=True, compute_uv=True, *, out=None):
    a = _matrix("svd", A)
    m, n = a[-2:]
    k = min(m, n)
    b = a[:-2]
    u, v = (b + (m, k), b + (n, k)) if some else (b + (m, m), b + (n, n))
    dt = _dt(A)
    return _named("svd", ("U", "S", "V"), make(u, dt), make(b + (k,), _real(dt)), make(v, dt))


def _svdvals(A, *, driver=None, out=None):
    a = _matrix("svdvals", A)
    return make(a[:-2] + (min(a[-2:]),), _real(_dt(A)))


def _eigh(A, UPLO="L", *, out=None):
    a = _square("eigh", A)
    return _named("linalg_eigh", ("eigenvalues", "eigenvectors"), make(a[:-1], _real(_dt(A))), make(a, _dt(A)))


def _eigvalsh(A, UPLO="L", *, out=None):
    return make(_square("eigvalsh", A)[:-1], _real(_dt(A)))


def _eig(A, *, out=None):
    a = _square("eig", A)
    return _named("linalg_eig", ("eigenvalues", "eigenvectors"), make(a[:-1], _complex(_dt(A))),
                  make(a, _complex(_dt(A))))


def _eigvals(A, *, out=None):
    return make(_square("eigvals", A)[:-1], _complex(_dt(A)))


def _cholesky(A, *args, upper=False, out=None):
    return make(_square("cholesky", A), _dt(A))


def _cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    a = _square("cholesky_ex", A)
    return _named("linalg_cholesky_ex", ("L", "info"), make(a, _dt(A)), make(a[:-2], "int32"))


def _pinv(A, *args, **kwargs):
    a = _matrix("pinv", A)
    return make(a[:-2] + (a[-1], a[-2]), _dt(A))


def _matrix_rank(A, *args, **kwargs):
    return make(_matrix("matrix_rank", A)[:-2], "int64")


def _matrix_exp(A):
    return make(_square("matrix_exp", A), _dt(A))


def _matrix_power(A, n, *, out=None):
    return make(_square("matrix_power", A) if _shape(A)[-1:] == _shape(A)[-2:-1] else _shape(A), _dt(A))


def _lstsq(A, B, rcond=None, *, driver=None):
    a, b = _matrix("lstsq", A), _shape(B)
    vector = len(b) == len(a) - 1
    bb = b + (1,) if vector else b
    batch = _m()._broadcast(a[:-2], bb[:-2])
    sol = batch + (a[-1], bb[-1])
    if vector:
        sol = sol[:-1]
    dt = _promote.result_type_names(A, B)
    empty = make((0,), _real(dt))
    return _named("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"), make(sol, dt), empty,
                  make((0,), "int64"), make((0,), _real(dt)))


def _solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    a, b = _square("solve_triangular", A), _shape(B)
    return make(_m()._broadcast(a[:-2], b[:-2]) + b[-2:], _promote.result_type_names(A, B))


def _lu_factor(A, *, pivot=True, out=None):
    a = _matrix("lu_factor", A)
    return _named("linalg_lu_factor", ("LU", "pivots"), make(a, _dt(A)), make(a[:-2] + (min(a[-2:]),), "int32"))


def _lu(A, *, pivot=True, out=None):
    a = _matrix("lu", A)
    m, n = a[-2:]
    k = min(m, n)
    b = a[:-2]
    dt = _dt(A)
    return _named("linalg_lu", ("P", "L", "U"), make(b + (m, m), dt), make(b + (m, k), dt), make(b + (k, n), dt))


def _vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    from ._meta import _reduce_shape, _dt_name
    return make(_reduce_shape(_shape(x), dim, keepdim), _real(_dt_name(dtype, _dt(x))))


def _matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    from ._meta import _reduce_shape, _dt_name
    _matrix("matrix_norm", A)
    return make(_reduce_shape(_shape(A), dim, keepdim), _real(_dt_name(dtype, _dt(A))))


def _cross(input, other, dim=None, *, out=None):
    shape = _m()._broadcast(_shape(input), _shape(other))
    d = wrap_dim(-1 if dim is None else dim, len(shape))
    if dim is None:  # torch.cross without dim: the first dim of size 3
        d = next((i for i, s in enumerate(shape) if s == 3), d)
    if shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {_shape(input)[d]} and "
                           f"{_shape(other)[d]}")
    return make(shape, _promote.result_type_names(input, other))


def _multi_dot(tensors, *, out=None):
    shapes = [_shape(t) for t in tensors]
    if len(shapes) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(shapes)}")
    rows = shapes[0][0] if len(shapes[0]) == 2 else None
    cols = shapes[-1][1] if len(shapes[-1]) == 2 else None
    out = tuple(s for s in (rows, cols) if s is not None)
    return make(out, _promote.result_type_names(*tensors))


def _vecdot(x, y, *, dim=-1, out=None):
    shape = _m()._broadcast(_shape(x), _shape(y))
    d = wrap_dim(dim, len(shape))
    return make(shape[:d] + shape[d + 1:], _promote.result_type_names(x, y))


def _named(kind, fields, *values):
    """The op's result as the named tuple its real implementation returns (linalg_dense.return_types.<kind>,
    or complex/linalg's linalg_eig); a namedtuple of `fields` for the few without one."""
    from ._functions.linalg_dense import return_types
    cls = getattr(return_types, kind, None)
    if cls is None and kind == "linalg_eig":
        from ._complex.linalg import linalg_eig as cls
    if cls is None:
        import collections
        cls = collections.namedtuple(kind, fields)
    return cls(*values)


RULES = {
    "inv": _inv, "inverse": _inv, "inv_ex": _inv_ex, "det": _det, "slogdet": _slogdet, "logdet": _logdet,
    "solve": _solve, "solve_ex": _solve_ex, "qr": _qr, "qr_legacy": _qr_legacy, "svd": _svd,
    "svd_legacy": _svd_legacy, "svdvals": _svdvals, "eigh": _eigh, "eigvalsh": _eigvalsh, "eig": _eig,
    "eigvals": _eigvals, "cholesky": _cholesky, "cholesky_legacy": _cholesky, "cholesky_ex": _cholesky_ex,
    "pinv": _pinv, "matrix_rank": _matrix_rank, "matrix_exp": _matrix_exp, "matrix_power": _matrix_power,
    "lstsq": _lstsq, "solve_triangular": _solve_triangular, "lu_factor": _lu_factor, "lu": _lu,
    "vector_norm": _vector_norm, "matrix_norm": _matrix_norm, "cross": _cross, "linalg_cross": _cross,
    "multi_dot": _multi_dot, "vecdot": _vecdot,
}
