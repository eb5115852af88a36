"""Complex matrix products with accumulation (addmm & co.), the other bilinear products (kron,
tensordot, cross), vecdot/multi_dot, and the pointwise combinations addcmul/addcdiv/lerp and
masked_fill with a complex value. Bilinear ops are four real calls on the parts (ops._product)."""
from .._tensor import Tensor
from .core import parts, make, is_complex_tensor, is_complex_number, result_complex_dtype
from . import ops as _ops


def _scaled(x, s):
    return x if s == 1 else _ops.mul(x, s)


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _same_dtype(input, *mats):
    """addmm & co. take one dtype, as PyTorch's (no promotion): its error otherwise."""
    dts = [m._impl.dtype for m in (input,) + mats if isinstance(m, Tensor)]
    for d in dts[1:]:
        if d != dts[0]:
            raise RuntimeError(f"self and mat2 must have the same dtype, but got {_TORCH_NAMES.get(dts[0], dts[0])} "
                               f"and {_TORCH_NAMES.get(d, d)}")


def _accumulate(input, p, beta, alpha):
    """beta * input + alpha * p; input is ignored when beta == 0 (PyTorch: its NaN/inf don't propagate)."""
    p = _scaled(p, alpha)
    if beta == 0:
        if isinstance(input, Tensor) and input.requires_grad:
            # input's values are not read, but it gets PyTorch's (zero) gradient: a where that never picks it
            from .._functions.pointwise import where
            from .._creation import ones
            from .core import as_complex_tensor
            return where(ones(tuple(p.shape), dtype=_bool(), device=p.device), p, as_complex_tensor(input, p._impl.dtype))
        return p
    return _ops.add(_scaled(input, beta), p)


def _bool():
    from .._dtype import bool as b
    return b


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    _same_dtype(input, mat1, mat2)
    return _ops._finish(_accumulate(input, _ops.mm(mat1, mat2), beta, alpha), out)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    _same_dtype(input, batch1, batch2)
    return _ops._finish(_accumulate(input, _ops.bmm(batch1, batch2), beta, alpha), out)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    _same_dtype(input, batch1, batch2)
    return _ops._finish(_accumulate(input, _ops.sum(_ops.bmm(batch1, batch2), 0), beta, alpha), out)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    _same_dtype(input, mat, vec)
    return _ops._finish(_accumulate(input, _ops.mv(mat, vec), beta, alpha), out)


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    _same_dtype(input, vec1, vec2)
    return _ops._finish(_accumulate(input, _ops.outer(vec1, vec2), beta, alpha), out)


def _bilinear(real_fn_name, module, promote=False):
    """promote: the operands promoted to their common complex dtype first (kron, a broadcast
    multiplication, takes mixed dtypes as PyTorch's; the matrix products refuse them)."""
    def op(input, other, *args, out=None, **kwargs):
        import importlib
        fn = getattr(importlib.import_module(module), real_fn_name)
        fn = getattr(fn, "__wrapped__", fn)  # the real op (the routed one would come back here)

        def call(a, b):
            return fn(a, b, *args, **kwargs)
        call.__name__ = real_fn_name
        return _ops._product(call, input, other, out, promote)
    return op


_kron = _bilinear("kron", "flambeau._functions.misc", promote=True)


def kron(input, other, *, out=None):
    # PyTorch reshapes both operands to the same rank before multiplying, so a 0-d operand promotes as a
    # dimensioned one (kron(tensor(1j), float16 matrix) is complex64, not the complex32 of a 0-d operand)
    if isinstance(input, Tensor) and isinstance(other, Tensor) and (input.ndim == 0) != (other.ndim == 0):
        input, other = (input.reshape(1), other) if input.ndim == 0 else (input, other.reshape(1))
    return _kron(input, other, out=out)
tensordot = _bilinear("tensordot", "flambeau._functions.linalg")
_linalg_cross = _bilinear("linalg_cross", "flambeau._functions.misc")


def linalg_cross(input, other, *, dim=-1, out=None):
    return _linalg_cross(input, other, dim=dim, out=out)


def cross(input, other, dim=None, *, out=None):
    """torch.cross: without dim, the first dim of size 3 (deprecated, with PyTorch's warning)."""
    if dim is None:
        import warnings
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the "
                      "dim explicitly or simply use torch.linalg.cross.\nThe default value of dim will change "
                      "to agree with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(input.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input (shape {list(input.shape)})")
    return linalg_cross(input, other, dim=dim, out=out)


def vecdot(x, y, *, dim=-1, out=None):
    # PyTorch's: sum(conj(x) * y, dim)
    return _ops._finish(_ops.sum(_ops.mul(_ops.conj(x), y), dim), out)


def multi_dot(tensors, *, out=None):
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    r = tensors[0]
    for t in tensors[1:]:
        r = _ops.matmul(r, t)
    return _ops._finish(r, out)


def _cast_all(*ts):
    """The operands in their common (complex) dtype: a complex input with real tensor1 and tensor2 made
    the complex product raise ("expected a complex result dtype")."""
    cdt = result_complex_dtype(*ts)
    return [t._cast(cdt) if isinstance(t, Tensor) and t._impl.dtype != cdt else t for t in ts]


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    input, tensor1, tensor2 = _cast_all(input, tensor1, tensor2)
    return _ops._finish(_ops.add(input, _scaled(_ops.mul(tensor1, tensor2), value)), out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    input, tensor1, tensor2 = _cast_all(input, tensor1, tensor2)
    return _ops._finish(_ops.add(input, _scaled(_ops.div(tensor1, tensor2), value)), out)


def lerp(input, end, weight, *, out=None):
    """PyTorch's two-sided formula: start + w (end - start) for |w| < 0.5, end - (end - start)(1 - w)
    otherwise (exact at both ends)."""
    diff = _ops.sub(end, input)
    low = _ops.add(input, _ops.mul(weight, diff))
    one_minus = 1.0 - weight if not isinstance(weight, Tensor) else (
        _ops.rsub(weight, 1.0) if is_complex_tensor(weight) else 1.0 - weight)
    high = _ops.sub(end, _ops.mul(diff, one_minus))
    if not isinstance(weight, Tensor):
        return _ops._finish(low if abs(complex(weight)) < 0.5 else high, out)
    from .._functions.pointwise import where
    small = _ops.abs(weight) < 0.5
    lr, li = parts(low)
    hr, hi = parts(high)
    return _ops._finish(make(where(small, lr, hr), where(small, li, hi)), out)


def masked_fill(input, mask, value):
    """A complex fill value into a complex tensor: each part filled (a real tensor refuses it, as PyTorch's)."""
    from .._functions.pointwise import where
    if not is_complex_tensor(input):  # converted as PyTorch does (bool: value != 0; else a zero imaginary part)
        from .._promote import complex_as_real
        from .._functions.indexing import masked_fill as _real_masked_fill
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                                   f"{value.ndim} dimension(s).")
            value = value.item()
        return _real_masked_fill(input, mask, complex_as_real(value, input._impl.dtype))
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        vr, vi = parts(value.to(input.dtype)) if is_complex_tensor(value) else (value, 0.0)
    else:
        v = complex(value)
        vr, vi = v.real, v.imag
    x, y = parts(input)
    return make(where(mask, vr, x), where(mask, vi, y))


def is_complex_fill(value):
    return is_complex_number(value) or is_complex_tensor(value)


def linear(input, weight, bias=None):
    """F.linear: input @ weight^T (+ bias), PyTorch's for complex (no conjugation)."""
    r = _ops.matmul(input, weight.mT)
    return r if bias is None else _ops.add(r, bias)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    from .._functions.join import cat
    parts_ = [t for t in (prepend, input, append) if t is not None]
    x = cat([p if isinstance(p, Tensor) else p for p in parts_], dim) if len(parts_) > 1 else input
    for _ in range(n):
        length = x.shape[dim]
        x = _ops.sub(x.narrow(dim, 1, length - 1), x.narrow(dim, 0, length - 1))
    return x


def dist(input, other, p=2):
    from .reductions import vector_norm
    return vector_norm(_ops.sub(input, other), p)


def where(condition, input=None, other=None, *, out=None):
    """where with a complex Python number as a branch: the number as a 0-d tensor of the result dtype."""
    from .._functions.pointwise import where as rwhere
    from .core import result_complex_dtype, as_complex_tensor
    if input is None and other is None:
        return rwhere(condition)
    cdt = result_complex_dtype(input, other)
    like = input if isinstance(input, Tensor) else other
    a = as_complex_tensor(input, cdt, like) if not isinstance(input, Tensor) or input._impl.dtype != cdt else input
    b = as_complex_tensor(other, cdt, like) if not isinstance(other, Tensor) or other._impl.dtype != cdt else other
    return _ops._finish(rwhere(condition, a, b), out)
