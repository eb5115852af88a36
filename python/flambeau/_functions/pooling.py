"""2-D pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d (kernels:
_C.max_pool2d / _C.max_pool2d_backward, _C.avg_pool2d / _C.avg_pool2d_backward,
_C.adaptive_avg_pool2d / _C.adaptive_avg_pool2d_backward, _C.adaptive_max_pool2d, csrc/cpu/pooling.cpp).

Inputs are [N, C, H, W] or unbatched [C, H, W]; output sizes, the ceil_mode rule and the argument
checks are PyTorch's (done in C++, csrc/ops/pooling.cpp). Each backward is linear in the incoming
gradient, so it is itself a Function whose backward is the forward's linear map again: max pooling's
backward scatters by the saved indices and its adjoint gathers by them; average pooling's backward
is the adjoint of the (linear) forward, whose own adjoint is the forward. So create_graph=True works.
"""
import math

from .. import _C
from . import pooling_integer as _pooling_integer
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .zero_link import link_zero, link_zero_to
from .shape import reshape
from .indexing import gather


def _check_input(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")


def _int_list(v, name, op, dims=2):
    if isinstance(v, (tuple, list)):
        if len(v) not in (1, dims):
            raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of {_WORDS[dims]} ints, "
                               f"got {list(v)}")
        return [_as_int(e, name, op) for e in v]
    return [_as_int(v, name, op)]


_WORDS = {1: "one", 2: "two", 3: "three"}


def _as_int(v, name, op):
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, not {type(v).__name__}")
    return v.__index__()


def _stride(stride, op, dims=2):
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return None  # = kernel_size
    return _int_list(stride, "stride", op, dims)


def _linked(gx, ctx):
    """gx joined to the forward input's edge under create_graph=True (zero_link.py); as is otherwise."""
    return link_zero(gx, ctx, {0: ctx.in_shape}) if _gs.enabled else gx


# ---------------------------------------------------------------------------------------------------
# max pooling (and adaptive max pooling: same backward)

class _ScatterByIndices(Function):
    """g (pooled shape) -> zeros of the input shape with g added at `indices` (max pooling's backward)."""

    _builtin = True
    _grad_fn_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, in_shape):
        ctx.indices = indices
        return _wrap(_C.max_pool2d_backward(g._impl, indices._impl, list(in_shape)))

    @staticmethod
    def backward(ctx, gg):
        return _gather_by_indices(gg, ctx.indices), None, None


def _gather_by_indices(gg, indices, dims=2):
    """The adjoint of the scatter: gg (input shape) read at indices (pooled shape; flat positions within
    each plane, or each volume for dims=3)."""
    ish, osh = tuple(gg._impl.shape), tuple(indices._impl.shape)
    flat = reshape(gg, ish[:-dims] + (math.prod(ish[-dims:]),))
    idx = reshape(indices, osh[:-dims] + (math.prod(osh[-dims:]),))
    return reshape(gather(flat, -1, idx), osh)


def _scatter_by_indices(g, indices, in_shape):
    if _gs.enabled and g._rg:
        return _ScatterByIndices.apply(g, indices, in_shape)
    return _wrap(_C.max_pool2d_backward(g._impl, indices._impl, list(in_shape)))


class _MaxPool(Function):
    _builtin = True
    _grad_fn_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, run, return_indices):
        out, idx = run(x._impl, True)
        ctx.in_shape = x._impl.shape
        indices = _wrap(idx)
        ctx.indices = indices
        ctx._release_attrs = ("indices",)
        if return_indices:
            ctx.mark_non_differentiable(indices)
            return _wrap(out), indices
        return _wrap(out)

    @staticmethod
    def backward(ctx, g, *unused):
        return _linked(_scatter_by_indices(g, ctx.indices, ctx.in_shape), ctx), None, None


class _AdaptiveMaxPool(_MaxPool):
    _grad_fn_name = "AdaptiveMaxPool2DBackward0"


def _max_pool_common(cls, input, run, return_indices):
    if _gs.enabled and input._rg:
        return cls.apply(input, run, return_indices)
    out, idx = run(input._impl, return_indices)
    if return_indices:
        return _wrap(out), _wrap(idx)
    return _wrap(out)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over [N, C, H, W] or [C, H, W]; returns (output, indices) with return_indices=True
    (indices are flat h*W + w positions within each input plane, as PyTorch's)."""
    op = "max_pool2d"
    if isinstance(input, Tensor) and not input.is_floating_point():
        return _max_pool2d_integer(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    _check_input(op, input)
    k = _int_list(kernel_size, "kernel_size", op)
    s = _stride(stride, op)
    p = _int_list(padding, "padding", op)
    d = _int_list(dilation, "dilation", op)
    ceil_mode = bool(ceil_mode)

    def run(xi, with_indices):
        return _C.max_pool2d(xi, k, s, p, d, ceil_mode, with_indices)

    return _max_pool_common(_MaxPool, input, run, bool(return_indices))


def _max_pool2d_integer(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """Max pooling of an integer image, exact for every value (pooling_integer.py)."""
    op = "max_pool2d"
    _check_input(op, input)
    return _pooling_integer.integer_max_pool(
        input, _int_list(kernel_size, "kernel_size", op), _stride(stride, op), _int_list(padding, "padding", op),
        _int_list(dilation, "dilation", op), bool(ceil_mode), bool(return_indices), _C.max_pool2d, 2)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _adaptive_size(input, output_size, op):
    shape = input._impl.shape
    if isinstance(output_size, (tuple, list)):
        if len(output_size) not in (1, 2):
            raise RuntimeError(f"{op}: output_size must be 2, got {list(output_size)}")
        sizes = list(output_size) if len(output_size) == 2 else [output_size[0]] * 2
    else:
        sizes = [output_size, output_size]
    if len(shape) < 2:
        raise RuntimeError(f"{op}(): Expected 3D or 4D tensor, but got {list(shape)}")
    return [shape[-2 + i] if v is None else _as_int(v, "output_size", op) for i, v in enumerate(sizes)]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling: output cell (i, j) is the max over rows [floor(i*H/OH), ceil((i+1)*H/OH))
    and the columns likewise. `None` in output_size keeps that input size."""
    op = "adaptive_max_pool2d"
    _check_input(op, input)
    o = _adaptive_size(input, output_size, op)

    def run(xi, with_indices):
        return _C.adaptive_max_pool2d(xi, o, with_indices)

    return _max_pool_common(_AdaptiveMaxPool, input, run, bool(return_indices))


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)


# ---------------------------------------------------------------------------------------------------
# average pooling

class _AvgPool(Function):
    _builtin = True
    _grad_fn_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, args):
        ctx.args = args
        ctx.in_shape = x._impl.shape
        return _wrap(_C.avg_pool2d(x._impl, *args))

    @staticmethod
    def backward(ctx, g):
        return _linked(_avg_pool_backward(g, ctx.in_shape, ctx.args), ctx), None


class _AvgPoolBackward(Function):
    _builtin = True
    _grad_fn_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, in_shape, args):
        ctx.args = args
        return _wrap(_C.avg_pool2d_backward(g._impl, list(in_shape), *args))

    @staticmethod
    def backward(ctx, gg):
        return _avg_pool(gg, ctx.args), None, None


def _avg_pool(x, args):
    if _gs.enabled and x._rg:
        return _AvgPool.apply(x, args)
    return _wrap(_C.avg_pool2d(x._impl, *args))


def _avg_pool_backward(g, in_shape, args):
    if _gs.enabled and g._rg:
        return _AvgPoolBackward.apply(g, in_shape, args)
    return _wrap(_C.avg_pool2d_backward(g._impl, list(in_shape), *args))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over [N, C, H, W] or [C, H, W]; PyTorch's divisor rules (count_include_pad
    counts the padding inside the window but never the ceil_mode overhang; divisor_override wins)."""
    op = "avg_pool2d"
    _check_input(op, input)
    if divisor_override is not None:
        divisor_override = _as_int(divisor_override, "divisor_override", op)
        if divisor_override == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero")
    args = (_int_list(kernel_size, "kernel_size", op), _stride(stride, op), _int_list(padding, "padding", op),
            bool(ceil_mode), bool(count_include_pad), divisor_override)
    if input._impl.dtype in _pooling_integer.INTEGER:  # exact int64 sums, truncated quotients: PyTorch's
        return _pooling_integer.integer_avg_pool(input, args, _C.avg_pool2d, "avg_pool2d", 2)
    return _avg_pool(input, args)


class _AdaptiveAvgPool(Function):
    _builtin = True
    _grad_fn_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_size):
        ctx.in_shape = x._impl.shape
        return _wrap(_C.adaptive_avg_pool2d(x._impl, out_size))

    @staticmethod
    def backward(ctx, g):
        return _linked(_adaptive_avg_backward(g, ctx.in_shape), ctx), None


class _AdaptiveAvgPoolBackward(Function):
    _builtin = True
    _grad_fn_name = "AdaptiveAvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, in_shape):
        ctx.out_size = list(g._impl.shape[-2:])
        return _wrap(_C.adaptive_avg_pool2d_backward(g._impl, list(in_shape)))

    @staticmethod
    def backward(ctx, gg):
        return _adaptive_avg(gg, ctx.out_size), None


def _adaptive_avg(x, out_size):
    if _gs.enabled and x._rg:
        return _AdaptiveAvgPool.apply(x, out_size)
    return _wrap(_C.adaptive_avg_pool2d(x._impl, out_size))


def _adaptive_avg_backward(g, in_shape):
    if _gs.enabled and g._rg:
        return _AdaptiveAvgPoolBackward.apply(g, in_shape)
    return _wrap(_C.adaptive_avg_pool2d_backward(g._impl, list(in_shape)))


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling to output_size (int, pair, or pair with None = keep that size)."""
    op = "adaptive_avg_pool2d"
    _check_input(op, input)
    if isinstance(output_size, (tuple, list)) and input._impl.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")  # PyTorch's F-level check
    o = _adaptive_size(input, output_size, op)
    return adaptive_avg_route(input, o, op, "adaptive_avg_pool2d", _adaptive_avg)


_DTYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def adaptive_avg_route(input, o, op, kernel_name, run):
    """PyTorch's adaptive average pooling before its kernel: an all-ones output size is the mean over the
    pooled dims (NaN for empty planes; mean's refusal for integers); otherwise the pooled dims (2-D; 3-D:
    every dim but the first) must be non-empty, the kernel refuses integers and bool, and (2-D only) an
    empty output is returned before that, for any dtype."""
    dims = len(o)
    if any(v < 0 for v in o):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but received "
                           "{" + ", ".join(str(v) for v in o) + "}")
    if all(v == 1 for v in o):
        return input.mean(tuple(range(-dims, 0)), keepdim=True)
    shape = list(input._impl.shape)
    nd = len(shape)
    for i in (range(-dims, 0) if dims == 2 else range(1 - nd, 0)):
        if shape[i] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {shape} with dimension {i + nd} being empty")
    if nd not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}(): Expected {dims + 1}D or {dims + 2}D tensor, but got {shape}")
    out_shape = shape[:-dims] + list(o)
    if math.prod(out_shape) == 0 and dims == 2:  # PyTorch runs no kernel: any dtype, an empty result
        out = _wrap(_C.full(out_shape, 0, input._impl.dtype, input._impl.device))
        return link_zero_to(out, input, twice="zeros")  # joins the graph: zero gradients (requiring grad, as PyTorch's)
    if input._impl.dtype in _DTYPE_NAMES:
        raise NotImplementedError(f"\"{kernel_name}\" not implemented for '{_DTYPE_NAMES[input._impl.dtype]}'")
    return run(input, o)
