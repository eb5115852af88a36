"""torch.masked's reductions and normalizations on strided tensors: `op(input, dim, ..., mask=m)` computes op
over the elements where m is True (m broadcasts to input's shape; no mask means every element).

How: masked-out elements are replaced by the reduction's identity (0 for sum, 1 for prod, -inf for amax and
softmax, +inf for amin and softmin, ...) and the ordinary op runs on the result, so values, dtypes, gradients
(zero at masked-out elements) and the fully-masked cases are PyTorch's: a fully masked slice gives the identity
(sum 0, amax -inf), nan for mean/var/std/median (no identity), and softmax over a fully masked row is nan.
Integer and bool sums/prods accumulate in int64, as PyTorch's."""

from .. import _C  # noqa: F401  (the extension is loaded before the ops below are used)
from .._utils import wrap_dims

__all__ = ["sum", "prod", "cumsum", "cumprod", "amax", "amin", "argmax", "argmin", "mean", "median", "logsumexp",
           "logaddexp", "norm", "var", "std", "softmax", "log_softmax", "softmin", "normalize"]

_SMALL_INTS = ("uint8", "bool", "int8", "int16", "int32")


def _torch():
    import flambeau
    return flambeau


def _canonical_dim(dim, ndim, op):
    """dim (None, int or a sequence) as a sorted tuple of distinct non-negative dims; None is every dim."""
    if dim is None:
        return tuple(range(ndim))
    return tuple(sorted(wrap_dims(dim, ndim, f"masked.{op}")))


def _data_and_mask(input, mask):
    """A MaskedTensor's (data, mask) or (input, mask) as given."""
    from ._masked_tensor import MaskedTensor
    if isinstance(input, MaskedTensor):
        return input.get_data(), input.get_mask() if mask is None else mask
    return input, mask


def _input_mask(input, mask, op):
    """mask broadcast to input's shape, as bool."""
    t = _torch()
    if tuple(mask.shape) != tuple(input.shape):
        if mask.dim() > input.dim():
            raise IndexError("_input_mask expected broadcastable mask (got mask dimensionality higher than of "
                             "the input)")
        try:
            mask = t.broadcast_to(mask, input.shape)
        except RuntimeError as e:
            raise RuntimeError(f"masked.{op}: the mask of shape {list(mask.shape)} does not broadcast to the "
                               f"input's shape {list(input.shape)}") from e
    return mask.to(t.bool)


def _identity(kind, input, ord=2.0):
    """The value that leaves the reduction unchanged (PyTorch's masked reduction identities)."""
    t = _torch()
    dt = input.dtype
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if kind in ("max", "min"):
        if dt.is_floating_point:
            return -float("inf") if kind == "max" else float("inf")
        if dt._name == "bool" or not (t.is_signed(input) or dt._name == "uint8"):
            raise NotImplementedError(f"identity of a{kind} on {dt} input")
        info = t.iinfo(dt)
        return info.min if kind == "max" else info.max
    if kind == "norm":
        return float("inf") if ord == -float("inf") else 0
    raise NotImplementedError(kind)


def _fill(input, mask, kind, op, ord=2.0):
    """input with masked-out elements replaced by the identity of `kind` (input itself when no mask)."""
    if mask is None:
        return input
    t = _torch()
    fill = _identity(kind, input, ord)
    return t.where(_input_mask(input, mask, op), input, t.tensor(fill, dtype=input.dtype))


def _acc_dtype(input, dtype):
    t = _torch()
    if dtype is not None:
        return dtype
    return t.int64 if input.dtype._name in _SMALL_INTS else input.dtype


def sum(input, dim=None, *, keepdim=False, dtype=None, mask=None):  # noqa: A001
    input, mask = _data_and_mask(input, mask)
    dims = _canonical_dim(dim, input.dim(), "sum")
    return _torch().sum(_fill(input, mask, "sum", "sum"), dims, bool(keepdim), dtype=_acc_dtype(input, dtype))


def prod(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    input, mask = _data_and_mask(input, mask)
    dims = _canonical_dim(dim, input.dim(), "prod")
    out = _fill(input, mask, "prod", "prod").to(_acc_dtype(input, dtype))
    for d in reversed(dims):
        out = out.prod(dim=d, keepdim=bool(keepdim))
    return out


def _scan(input, dim, dtype, mask, kind, op):
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim(), op)[0]
    fn = _torch().cumsum if kind == "sum" else _torch().cumprod
    return fn(_fill(input, mask, kind, op), d, dtype=dtype).to(dtype)


def cumsum(input, dim, *, dtype=None, mask=None):
    return _scan(input, dim, dtype, mask, "sum", "cumsum")


def cumprod(input, dim, *, dtype=None, mask=None):
    return _scan(input, dim, dtype, mask, "prod", "cumprod")


def _extreme(input, dim, keepdim, dtype, mask, kind, op):
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    filled = _fill(input, mask, kind, op)
    dims = _canonical_dim(dim, filled.dim(), op)
    fn = _torch().amax if kind == "max" else _torch().amin
    return fn(filled, dims, bool(keepdim)).to(dtype)


def amax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    return _extreme(input, dim, keepdim, dtype, mask, "max", "amax")


def amin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    return _extreme(input, dim, keepdim, dtype, mask, "min", "amin")


def argmax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    return _torch().argmax(_fill(input, mask, "max", "argmax"), dim, bool(keepdim)).to(dtype)


def argmin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    return _torch().argmin(_fill(input, mask, "min", "argmin"), dim, bool(keepdim)).to(dtype)


def _count(input, mask, dim, keepdim):
    """How many elements each output of a reduction over dim sees (int64)."""
    t = _torch()
    if mask is None:
        return sum(t.ones(input.shape, dtype=t.int64), dim, keepdim=keepdim)
    return _input_mask(input, mask, "mean").sum(dim=_canonical_dim(dim, input.dim(), "mean"),
                                                keepdim=bool(keepdim))


def mean(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """Sum over the unmasked elements / their count: nan where a slice is fully masked."""
    input, mask = _data_and_mask(input, mask)
    given = dtype is not None
    dtype = dtype if given else input.dtype
    if not (dtype.is_floating_point or dtype.is_complex):
        raise ValueError(f"mean(): Could not infer output dtype. {'Optional' if given else 'Input'} dtype must "
                         f"be either a floating point or complex dtype. Got: {dtype}")
    total = sum(input, dim, keepdim=keepdim, dtype=dtype, mask=mask)
    return total / _count(input, mask, dim, keepdim)


def median(input, dim=-1, *, keepdim=False, dtype=None, mask=None):
    """nanmedian over the unmasked elements (masked-out ones become nan): nan for a fully masked slice, an
    error then for integer inputs (they cannot hold nan)."""
    t = _torch()
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    d = _canonical_dim(dim, input.dim(), "median")[0]
    is_float = input.dtype.is_floating_point
    x = input if is_float else input.to(t.float32)
    if mask is not None:
        x = t.where(_input_mask(x, mask, "median"), x, t.tensor(float("nan"), dtype=x.dtype))
    out = t.nanmedian(x, d, keepdim).values
    if is_float:
        return out
    if bool(t.isnan(out).any()):
        raise ValueError("masked median expects no fully masked out rows if dtype is not floating point")
    return out.to(dtype)


def logsumexp(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    dims = _canonical_dim(dim, input.dim(), "logsumexp")
    return _torch().logsumexp(_fill(input, mask, "max", "logsumexp"), dims, keepdim=keepdim).to(dtype)


def logaddexp(input, other, *, dtype=None, input_mask=None, other_mask=None):
    input, input_mask = _data_and_mask(input, input_mask)
    other, other_mask = _data_and_mask(other, other_mask)
    dtype = input.dtype if dtype is None else dtype
    return _torch().logaddexp(_fill(input, input_mask, "max", "logaddexp"),
                              _fill(other, other_mask, "max", "logaddexp")).to(dtype)


def norm(input, ord=2.0, dim=None, *, keepdim=False, dtype=None, mask=None):  # noqa: A002
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    dims = _canonical_dim(dim, input.dim(), "norm")
    return _torch().linalg.vector_norm(_fill(input, mask, "norm", "norm", ord), ord, dims, bool(keepdim),
                                       dtype=dtype)


def _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, take_sqrt):
    t = _torch()
    input, mask = _data_and_mask(input, mask)
    if unbiased is not None and correction is not None:
        raise RuntimeError("masked var/std: only one of unbiased and correction may be given")
    corr = 1.0 if unbiased is None and correction is None else (
        float(correction) if correction is not None else (1.0 if unbiased else 0.0))
    if dtype is None:
        dtype = input.dtype if (input.dtype.is_floating_point or input.dtype.is_complex) else t.float32
    compute = dtype if (dtype.is_floating_point or dtype.is_complex) else t.float32
    inmask = None if mask is None else _input_mask(input, mask, "var")
    count = _count(input, inmask, dim, True)
    centred = t.subtract(input, t.divide(sum(input, dim, keepdim=True, dtype=dtype, mask=inmask), count))
    total = sum(centred * centred.conj(), dim, keepdim=keepdim, dtype=compute, mask=inmask)
    if not keepdim:
        count = count.reshape(total.shape)
    if corr != 0:
        real = {"complex64": t.float32, "complex128": t.float64}.get(compute._name, compute)
        count = t.maximum(t.subtract(count.to(real), corr), count.new_zeros([]).to(real))
    out = t.divide(total, count).to(dtype)
    return t.sqrt(out) if take_sqrt else out


def var(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None, mask=None):
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, False)


def std(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None, mask=None):
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, True)


def _normalization(fn_name, kind):
    def op(input, dim, *, dtype=None, mask=None):
        from ..nn import functional as F
        input, mask = _data_and_mask(input, mask)
        dtype = input.dtype if dtype is None else dtype
        d = _canonical_dim(dim, input.dim(), fn_name)[0]
        return getattr(F, fn_name)(_fill(input, mask, kind, fn_name), d, dtype=dtype)
    op.__name__ = op.__qualname__ = fn_name
    op.__doc__ = (f"masked.{fn_name}: F.{fn_name} over the unmasked elements (masked-out ones take no weight; "
                  "a fully masked slice gives nan).")
    return op


softmax = _normalization("softmax", "max")
log_softmax = _normalization("log_softmax", "max")
softmin = _normalization("softmin", "min")


def normalize(input, ord, dim, *, eps=1e-12, dtype=None, mask=None):  # noqa: A002
    """input / max(masked norm over dim, eps), with masked-out elements set to 0."""
    t = _torch()
    input, mask = _data_and_mask(input, mask)
    dtype = input.dtype if dtype is None else dtype
    nrm = norm(input, ord, dim, keepdim=True, dtype=dtype, mask=mask)
    return t.divide(_fill(input, mask, "sum", "normalize"), t.maximum(nrm, nrm.new_full([], eps)))
