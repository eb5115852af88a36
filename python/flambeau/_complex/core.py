"""The complex building blocks: view_as_real / view_as_complex (differentiable views sharing memory),
splitting a complex tensor into real parts and assembling one from them, and the operand rules.

Every complex op in this package is composed of real flambeau ops on the parts of view_as_real,
wrapped by these two views' autograd functions. Their backward is the other view, which is exactly
PyTorch's convention for complex gradients (the gradient of a real loss L wrt z = x + iy is
dL/dx + i dL/dy, the conjugate Wirtinger derivative times two), so every composite gets PyTorch's
gradients without a hand-written backward; the few ops whose composition would be numerically
fragile (division, abs, sqrt) have their own Function with PyTorch's formulas.
"""
import numbers

from .. import _C
from .._tensor import Tensor, _wrap, _wrap_view
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs

COMPLEX = frozenset(("complex64", "complex128"))
REAL_OF = {"complex64": "float32", "complex128": "float64"}
COMPLEX_OF = {"float32": "complex64", "float64": "complex128"}


def is_complex_tensor(x):
    return isinstance(x, Tensor) and x._impl.dtype in COMPLEX


def is_complex_number(v):
    return isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real) and not isinstance(v, Tensor)


def any_complex(args):
    for a in args:
        if is_complex_tensor(a) or is_complex_number(a):
            return True
        if isinstance(a, (list, tuple)) and any(is_complex_tensor(b) for b in a):
            return True
    return False


def _needs_grad(t):
    return t._rg and _gs.enabled


class ViewAsReal(Function):
    _grad_fn_name = "ViewAsRealBackward0"

    @staticmethod
    def forward(ctx, z):
        return _wrap_view(_C.view_as_real(z._impl), z)

    @staticmethod
    def backward(ctx, g):
        return view_as_complex(g.contiguous() if g._impl.stride[-1] != 1 or any(s % 2 for s in g._impl.stride[:-1])
                               or g._impl.storage_offset % 2 else g)


class ViewAsComplex(Function):
    _grad_fn_name = "ViewAsComplexBackward0"

    @staticmethod
    def forward(ctx, r):
        return _wrap_view(_C.view_as_complex(r._impl), r)

    @staticmethod
    def backward(ctx, g):
        return view_as_real(g)


class _Assemble(Function):
    """view_as_complex of a fresh internal (..., 2) tensor, returned as a tensor of its own rather than
    a view: an op's complex result (z * w) is not a view in PyTorch, so an in-place op on it must not
    be replayed onto the internal real buffer."""
    _grad_fn_name = "ViewAsComplexBackward0"

    @staticmethod
    def forward(ctx, r):
        return _wrap(_C.view_as_complex(r._impl))

    @staticmethod
    def backward(ctx, g):
        return view_as_real(g)


def _tensor_arg(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def view_as_real(input):
    """The complex tensor as real (re, im) pairs in a new last dim of size 2, sharing its memory."""
    _tensor_arg(input, "view_as_real")
    if _needs_grad(input):
        return ViewAsReal.apply(input)
    return _wrap_view(_C.view_as_real(input._impl), input)


def view_as_complex(input):
    """A float32/float64 tensor whose last dim is (re, im) pairs as a complex tensor, sharing its memory."""
    _tensor_arg(input, "view_as_complex")
    if _needs_grad(input):
        return ViewAsComplex.apply(input)
    return _wrap_view(_C.view_as_complex(input._impl), input)


def parts(z):
    """(re, im) of a complex tensor as real views (differentiable)."""
    r = view_as_real(z)
    return r.select(-1, 0), r.select(-1, 1)


def make(re, im, real_dtype=None):
    """The complex tensor re + i im. Either part may be a real tensor, a Python float or None (zero);
    at least one is a tensor. The parts are broadcast together."""
    from .._functions.join import stack
    from .._functions.shape import broadcast_tensors
    ref = re if isinstance(re, Tensor) else im
    rdt = real_dtype or ref._impl.dtype
    if rdt not in COMPLEX_OF:
        rdt = "float32" if rdt in ("float16", "bfloat16") else rdt
    re = _as_part(re, ref, rdt)
    im = _as_part(im, ref, rdt)
    if re._impl.shape != im._impl.shape:
        re, im = broadcast_tensors(re, im)
    return assemble(stack([re, im], -1))


def assemble(r):
    """The complex tensor whose (re, im) pairs are the last dim of the internal real tensor r (made
    contiguous), as a tensor of its own (see _Assemble)."""
    if r._impl.stride[-1] != 1 or any(s % 2 for s in r._impl.stride[:-1]) or r._impl.storage_offset % 2:
        r = r.contiguous()
    if _needs_grad(r):
        return _Assemble.apply(r)
    return _wrap(_C.view_as_complex(r._impl))


def _as_part(p, ref, rdt):
    from .._creation import zeros_like, full_like
    if p is None:
        return zeros_like(ref, dtype=_dt(rdt))
    if not isinstance(p, Tensor):
        return full_like(ref, float(p), dtype=_dt(rdt))
    if p._impl.dtype != rdt:
        return p._cast(rdt)
    return p


def _dt(name):
    from .._dtype import _BY_NAME
    return _BY_NAME[name]


def result_complex_dtype(*operands):
    """The complex dtype name an op on these operands (at least one complex) computes in."""
    from .._promote import result_type_names
    dt = result_type_names(*operands)
    if dt not in COMPLEX:
        raise TypeError(f"expected a complex result dtype, got {dt}")
    return dt


def split(x, cdt):
    """(re, im) of an operand for an op computing in complex dtype `cdt`: a complex tensor's parts
    (cast to cdt), a real tensor as (x, None), a number as two Python floats."""
    if isinstance(x, Tensor):
        dt = x._impl.dtype
        if dt in COMPLEX:
            if dt != cdt:
                x = x._cast(cdt)
            return parts(x)
        return x._cast(REAL_OF[cdt]), None
    c = complex(x)
    return c.real, c.imag


def as_complex_tensor(x, cdt, like=None):
    """An operand as a complex tensor of dtype cdt (numbers as 0-dim tensors on like's device)."""
    if isinstance(x, Tensor):
        return x if x._impl.dtype == cdt else x._cast(cdt)
    from .creation import full_complex_impl
    dev = like._impl.device if like is not None else "cpu"
    return _wrap(full_complex_impl([], complex(x), cdt, dev))


# Algebra on parts: None is an exact zero, so real operands cost no extra multiplications.
def padd(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def psub(a, b):
    if b is None:
        return a
    if a is None:
        return -b
    return a - b


def pmul(a, b):
    if a is None or b is None:
        return None
    return a * b


def pneg(a):
    return None if a is None else -a


def check_matrix(A, op, name="A", square=True):
    """PyTorch's argument checks of a linalg op on (batches of) matrices, shared by the complex linalg files."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
