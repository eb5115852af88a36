"""Complex reductions and scans (prod, cumsum, cumprod, trace, var/std and the norms, whose results are
real), composed of real ops on the parts so that gradients follow PyTorch's convention (core.py).
Each function takes its op's usual arguments; dispatch.py routes here when the input is complex.
"""
from .core import COMPLEX, parts, make, view_as_real, assemble, is_complex_tensor
from . import ops as _ops


def _wrap_dim(d, nd):
    from .._utils import wrap_dim
    return wrap_dim(d, max(nd, 1))


def _cast_dtype(input, dtype):
    if dtype is None:
        return input
    return input.to(dtype)


# ---------------------------------------------------------------- products: a tree of complex multiplications
def _prod_last(z):
    """Product over the last dim by halving (log2(n) complex multiplications, each a few real ops)."""
    from .._functions.join import cat
    n = z.shape[-1]
    if n == 0:  # ones, in z's graph with (empty) zero gradients of every order, as PyTorch's prod backward
        from .._creation import ones
        from .._functions.zero_link import link_zero_to
        r = make(ones(tuple(z.shape[:-1]), dtype=parts(z)[0].dtype, device=z.device), None)
        return link_zero_to(r, z, twice="zeros")
    while n > 1:
        h = n // 2
        m = _ops.mul(z[..., :h], z[..., h:2 * h])
        z = cat([m, z[..., 2 * h:]], -1) if n % 2 else m
        n = z.shape[-1]
    return z[..., 0]


def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if isinstance(dim, type(input.dtype)):
        dim, dtype = None, dim
    z = _cast_dtype(input, dtype)
    if not is_complex_tensor(z):
        return _ops._finish(z.prod(dim, keepdim) if dim is not None else z.prod(), out)
    if dim is None:
        r = _prod_last(z.reshape(-1))
        return _ops._finish(r, out)
    d = _wrap_dim(dim, z.ndim)
    if z.ndim == 0:
        return _ops._finish(z.clone(), out)
    r = _prod_last(z.movedim(d, -1))
    if keepdim:
        r = r.unsqueeze(d)
    return _ops._finish(r, out)


def cumsum(input, dim, *, dtype=None, out=None):
    z = _cast_dtype(input, dtype)
    if not is_complex_tensor(z):  # dtype= a real type: PyTorch casts (dropping the imaginary part) and scans that
        from .._functions.reduction import cumsum as rcumsum
        return _ops._finish(rcumsum(z, dim), out)
    if z.ndim == 0:
        return _ops._finish(z.clone(), out)
    d = _wrap_dim(dim, z.ndim)
    return _ops._finish(assemble(view_as_real(z).cumsum(d)), out)


def cumprod(input, dim, *, dtype=None, out=None):
    """Hillis-Steele scan: log2(n) rounds, round k multiplying each element by the one 2^k before it."""
    from .._functions.join import cat
    z = _cast_dtype(input, dtype)
    if z.ndim == 0 or z.numel() <= 1:  # (PyTorch's backward returns grad itself there: a clone's)
        if z.ndim:
            _wrap_dim(dim, z.ndim)
        return _ops._finish(z.clone(), out)
    d = _wrap_dim(dim, z.ndim)
    x = z.movedim(d, -1)
    n, k = x.shape[-1], 1
    while k < n:
        x = cat([x[..., :k], _ops.mul(x[..., k:], x[..., :n - k])], -1)
        k *= 2
    if n == 1:
        x = x.clone()
    return _ops._finish(x.movedim(-1, d), out)


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return _ops.sum(input.diagonal())


# ---------------------------------------------------------------- var / std: real results
def var(input, *args, out=None, **kwargs):
    """var(z) = var(Re z) + var(Im z) (the mean squared modulus of z - mean z), any of var's argument forms."""
    from .._functions.reduction import var as rvar
    x, y = parts(input)
    return _ops._finish(rvar(x, *args, **kwargs) + rvar(y, *args, **kwargs), out)


def _std_of_var():
    from ..autograd.function import Function
    from .._functions import elementwise as ew, pointwise as pw, compare as cmp

    class _StdOfVar(Function):
        """sqrt of a variance with PyTorch's std_backward: g / (2 std), 0 where std is 0 (a constant
        slice). A plain sqrt gave g / 0 = inf there, and the variance's zero centred values made it NaN."""
        _grad_fn_name = "StdBackward0"

        @staticmethod
        def forward(ctx, v):
            out = ew.sqrt(v)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            out, = ctx.saved_tensors
            return pw.where(cmp.eq(out, 0), 0.0, ew.div(g, ew.mul(out, 2.0)))
    return _StdOfVar


def std(input, *args, out=None, **kwargs):
    from ..autograd.grad_mode import _state as _gs
    from .._functions.elementwise import sqrt
    v = var(input, *args, **kwargs)
    return _ops._finish(_std_of_var().apply(v) if _gs.enabled and v.requires_grad else sqrt(v), out)


def _mean_args(args, kwargs):
    dim = args[0] if args else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if isinstance(dim, bool):
        dim = None
    return dim, keepdim


def _parts_mean(input, dim, keepdim):
    """The mean of each part by the real var_mean's rule (PyTorch computes a complex var_mean on the
    real and imaginary parts: an infinite part before the slice's end makes that part's mean NaN)."""
    from .._functions.reduction import _welford_mean
    x, y = parts(input)
    return make(_welford_mean(x, dim, keepdim), _welford_mean(y, dim, keepdim))


def var_mean(input, *args, **kwargs):
    dim, keepdim = _mean_args(args, kwargs)
    return var(input, *args, **kwargs), _parts_mean(input, dim, keepdim)


def std_mean(input, *args, **kwargs):
    dim, keepdim = _mean_args(args, kwargs)
    return std(input, *args, **kwargs), _parts_mean(input, dim, keepdim)


# ---------------------------------------------------------------- norms: of the moduli
def _complex_dtype_arg(input, dtype, op):
    """A complex input's norm takes a complex dtype= (PyTorch: the result is its real counterpart)."""
    if dtype is None:
        return input
    from .._dtype import _to_dtype
    name = _to_dtype(dtype)._name
    if name not in COMPLEX:
        raise RuntimeError(f"{op}: dtype should be complex for complex input, but got {name}")
    return input.to(dtype)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    from .._functions.reduction import vector_norm as rvector_norm
    x = _complex_dtype_arg(x, dtype, "linalg.vector_norm")
    if ord == 2:
        # the 2-norm of the (re, im) pairs: one real pass, and exactly PyTorch's value
        nd = x.ndim
        if dim is None:
            dims = list(range(nd + 1))
        else:
            ds = [dim] if isinstance(dim, int) else list(dim)
            dims = [_wrap_dim(d, nd) for d in ds] + [nd] if ds else list(range(nd + 1))
        r = rvector_norm(view_as_real(x), 2, dims, True)
        r = r.squeeze(-1)
        if not keepdim:
            for d in sorted((d for d in dims if d < nd), reverse=True):
                r = r.squeeze(d)
        return _ops._finish(r, out)
    return _ops._finish(rvector_norm(_ops.abs(x), ord, dim, keepdim), out)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None, *, out=None):
    """torch.norm: vector norms of the moduli ('fro' the 2-norm); 'nuc' from the singular values."""
    input = _complex_dtype_arg(input, dtype, "norm")
    if p == "nuc":
        return _ops._finish(matrix_norm(input, "nuc", dim if dim is not None else (-2, -1), keepdim), out)
    if p == "fro" or p is None:
        p = 2
    return vector_norm(input, p, dim, keepdim, out=out)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):  # noqa: A002
    A = _complex_dtype_arg(A, dtype, "linalg.matrix_norm")
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, out=out)
    if ord in (2, -2, "nuc"):
        from .linalg import svdvals
        d0, d1 = (_wrap_dim(d, A.ndim) for d in dim)
        sv = svdvals(A.movedim((d0, d1), (-2, -1)))
        # (a max over an empty dim is 0 here, the identity PyTorch's norms use; a min has none)
        r = sv.sum(-1) if ord == "nuc" or (ord == 2 and sv.shape[-1] == 0) else \
            (sv.amax(-1) if ord == 2 else sv.amin(-1))
        if ord == 2 and sv.shape[-1] == 0:  # outside the graph, as PyTorch's
            r = r.detach()
        if keepdim:
            for d in sorted((d0, d1)):
                r = r.unsqueeze(d)
        return _ops._finish(r, out)
    # 1, -1 (column sums), inf, -inf (row sums) of the moduli
    inf = float("inf")
    if ord not in (1, -1, inf, -inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    d0, d1 = (_wrap_dim(d, A.ndim) for d in dim)
    s = _ops.abs(A).sum(d0 if ord in (1, -1) else d1, keepdim=True)
    other = d1 if ord in (1, -1) else d0
    if ord in (1, inf):
        # (an empty max: 0, outside the graph, as PyTorch's)
        r = s.sum(other, keepdim=True).detach() if s.shape[other] == 0 else s.amax(other, keepdim=True)
    else:
        r = s.amin(other, keepdim=True)
    if not keepdim:
        r = r.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    return _ops._finish(r, out)


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    A = _complex_dtype_arg(A, dtype, "linalg.norm")
    if ord is None or (ord == "fro" and (dim is None or not isinstance(dim, int))):
        return vector_norm(A, 2, dim, keepdim, out=out)
    if isinstance(dim, int) or (dim is None and A.ndim == 1):
        return vector_norm(A, ord, dim, keepdim, out=out)
    return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, out=out)


# ---------------------------------------------------------------- truth values: z != 0
def _nonzero_mask(input):
    x, y = parts(input)
    return (x != 0) | (y != 0)


def all(input, *args, **kwargs):  # noqa: A001
    return _nonzero_mask(input).all(*args, **kwargs)


def any(input, *args, **kwargs):  # noqa: A001
    return _nonzero_mask(input).any(*args, **kwargs)


def logical_not(input, *, out=None):
    return _ops._finish(~_nonzero_mask(input), out)


def count_nonzero(input, dim=None):
    m = _nonzero_mask(input)
    return m.sum(dim) if dim is not None else m.sum()
