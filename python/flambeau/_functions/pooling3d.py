"""3-D pooling: max_pool3d, avg_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d, and max unpooling
(kernels: _C.max_pool3d / _C.max_pool3d_backward, _C.avg_pool3d / _C.avg_pool3d_backward,
_C.adaptive_avg_pool3d / _C.adaptive_avg_pool3d_backward, _C.adaptive_max_pool3d,
_C.max_unpool3d / _C.max_unpool3d_backward, csrc/cpu/pooling3d.cpp; csrc/cuda/pooling3d.cu but
for unpooling, whose CUDA tensors go through the host: host_route.py).

Inputs are [N, C, D, H, W] or unbatched [C, D, H, W]; output sizes, the ceil_mode rule and the
argument checks are PyTorch's (done in C++, csrc/ops/pooling3d.cpp). As for 2-D pooling
(pooling.py), each backward is linear in the incoming gradient and is itself a Function whose
backward is the forward's linear map again, so create_graph=True works.
"""
from .. import _C
from . import pooling_integer as _pooling_integer
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .zero_link import link_zero
from . import pooling as _p2
from .pooling import _check_input, _as_int, _max_pool_common  # shared with 2-D pooling
from .host_route import HostRouted
from ..amp import _cast as _amp_cast

# Max unpooling has only CPU kernels: its CUDA tensors go through the host (host_route.py). The pooling
# kernels have CUDA versions (csrc/cuda/pooling3d.cu).
_on_host = HostRouted()


def _int_list(v, name, op):
    return _p2._int_list(v, name, op, 3)


def _stride(stride, op):
    return _p2._stride(stride, op, 3)


def _gather_by_indices(gg, indices):
    """gg (shape [..., D, H, W]) read at `indices` (flat positions in each volume; shape [..., d, h, w])."""
    return _p2._gather_by_indices(gg, indices, 3)


def _linked(gx, ctx):
    """gx joined to the forward input's edge under create_graph=True (zero_link.py); as is otherwise."""
    return link_zero(gx, ctx, {0: ctx.in_shape}) if _gs.enabled else gx


# ---------------------------------------------------------------------------------------------------
# max pooling (and adaptive max pooling: same backward)

class _ScatterByIndices(Function):
    """g (pooled shape) -> zeros of the input shape with g added at `indices` (max pooling's backward)."""

    _builtin = True
    _grad_fn_name = "MaxPool3DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, in_shape):
        ctx.indices = indices
        return _wrap(_C.max_pool3d_backward(g._impl, indices._impl, list(in_shape)))

    @staticmethod
    def backward(ctx, gg):
        return _gather_by_indices(gg, ctx.indices), None, None


def _scatter_by_indices(g, indices, in_shape):
    if _gs.enabled and g._rg:
        return _ScatterByIndices.apply(g, indices, in_shape)
    return _wrap(_C.max_pool3d_backward(g._impl, indices._impl, list(in_shape)))


class _MaxPool(Function):
    _builtin = True
    _grad_fn_name = "MaxPool3DWithIndicesBackward0"

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
    _grad_fn_name = "AdaptiveMaxPool3DBackward0"


@_amp_cast.fp32_op
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over [N, C, D, H, W] or [C, D, H, W]; returns (output, indices) with
    return_indices=True (indices are flat d*H*W + h*W + w positions within each input volume, as
    PyTorch's). A NaN in a window wins, as in PyTorch."""
    op = "max_pool3d"
    _check_input(op, input)
    k = _int_list(kernel_size, "kernel_size", op)
    s = _stride(stride, op)
    p = _int_list(padding, "padding", op)
    d = _int_list(dilation, "dilation", op)
    ceil_mode = bool(ceil_mode)
    if input._impl.dtype in _pooling_integer.INTEGER:  # exact for every value, as PyTorch's integer kernel
        return _pooling_integer.integer_max_pool(input, k, s, p, d, ceil_mode, bool(return_indices), _C.max_pool3d, 3)

    def run(xi, with_indices):
        return _C.max_pool3d(xi, k, s, p, d, ceil_mode, with_indices)

    return _max_pool_common(_MaxPool, input, run, bool(return_indices))


@_amp_cast.fp32_op
def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _adaptive_size(input, output_size, op):
    shape = input._impl.shape
    if isinstance(output_size, (tuple, list)):
        if len(output_size) not in (1, 3):
            raise RuntimeError(f"{op}: output_size must be 3, got {list(output_size)}")
        sizes = list(output_size) if len(output_size) == 3 else [output_size[0]] * 3
    else:
        sizes = [output_size] * 3
    if len(shape) not in (4, 5):
        raise RuntimeError(f"{op}(): Expected 4D or 5D tensor, but got {list(shape)}")
    return [shape[-3 + i] if v is None else _as_int(v, "output_size", op) for i, v in enumerate(sizes)]


@_amp_cast.fp32_op
def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling: output cell (i, j, k) is the max over depths
    [floor(i*D/OD), ceil((i+1)*D/OD)) and the rows and columns likewise. `None` in output_size keeps
    that input size."""
    op = "adaptive_max_pool3d"
    _check_input(op, input)
    o = _adaptive_size(input, output_size, op)

    def run(xi, with_indices):
        return _C.adaptive_max_pool3d(xi, o, with_indices)

    return _max_pool_common(_AdaptiveMaxPool, input, run, bool(return_indices))


@_amp_cast.fp32_op
def adaptive_max_pool3d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool3d(input, output_size, True)


# ---------------------------------------------------------------------------------------------------
# average pooling

class _AvgPool(Function):
    _builtin = True
    _grad_fn_name = "AvgPool3DBackward0"

    @staticmethod
    def forward(ctx, x, args):
        ctx.args = args
        ctx.in_shape = x._impl.shape
        return _wrap(_C.avg_pool3d(x._impl, *args))

    @staticmethod
    def backward(ctx, g):
        return _linked(_avg_pool_backward(g, ctx.in_shape, ctx.args), ctx), None


class _AvgPoolBackward(Function):
    _builtin = True
    _grad_fn_name = "AvgPool3DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, in_shape, args):
        ctx.args = args
        return _wrap(_C.avg_pool3d_backward(g._impl, list(in_shape), *args))

    @staticmethod
    def backward(ctx, gg):
        return _avg_pool(gg, ctx.args), None, None


def _avg_pool(x, args):
    if _gs.enabled and x._rg:
        return _AvgPool.apply(x, args)
    return _wrap(_C.avg_pool3d(x._impl, *args))


def _avg_pool_backward(g, in_shape, args):
    if _gs.enabled and g._rg:
        return _AvgPoolBackward.apply(g, in_shape, args)
    return _wrap(_C.avg_pool3d_backward(g._impl, list(in_shape), *args))


@_amp_cast.fp32_op
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over [N, C, D, H, W] or [C, D, H, W]; PyTorch's divisor rules
    (count_include_pad counts the padding inside the window but never the ceil_mode overhang;
    divisor_override wins)."""
    op = "avg_pool3d"
    _check_input(op, input)
    if divisor_override is not None:
        divisor_override = _as_int(divisor_override, "divisor_override", op)
        if divisor_override == 0:
            raise RuntimeError("avg_pool3d: divisor must be not zero")
    args = (_int_list(kernel_size, "kernel_size", op), _stride(stride, op), _int_list(padding, "padding", op),
            bool(ceil_mode), bool(count_include_pad), divisor_override)
    k3, shape = args[0] * 3 if len(args[0]) == 1 else args[0], input._impl.shape
    if len(k3) == 3 and len(shape) in (4, 5) and any(n < k for n, k in zip(shape[-3:], k3)):
        # PyTorch's CPU avg_pool3d wants the input itself (not the padded one) to hold a window
        raise RuntimeError(f"input image (T: {shape[-3]} H: {shape[-2]} W: {shape[-1]}) smaller than kernel size "
                           f"(kT: {k3[0]} kH: {k3[1]} kW: {k3[2]}) (avg_pool3d: input {list(shape)})")
    if input._impl.dtype in _pooling_integer.INTEGER:  # exact int64 sums, truncated quotients: PyTorch's
        return _pooling_integer.integer_avg_pool(input, args, _C.avg_pool3d, "avg_pool3d_out_frame", 3)
    if input._impl.dtype in ("float16", "bfloat16"):  # PyTorch's CPU kernel has no half version
        _pooling_integer.refuse(input, args, _C.avg_pool3d, "avg_pool3d_out_frame")
    return _avg_pool(input, args)


class _AdaptiveAvgPool(Function):
    _builtin = True
    _grad_fn_name = "AdaptiveAvgPool3DBackward0"

    @staticmethod
    def forward(ctx, x, out_size):
        ctx.in_shape = x._impl.shape
        return _wrap(_C.adaptive_avg_pool3d(x._impl, out_size))

    @staticmethod
    def backward(ctx, g):
        return _linked(_adaptive_avg_backward(g, ctx.in_shape), ctx), None


class _AdaptiveAvgPoolBackward(Function):
    _builtin = True
    _grad_fn_name = "AdaptiveAvgPool3DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, in_shape):
        ctx.out_size = list(g._impl.shape[-3:])
        return _wrap(_C.adaptive_avg_pool3d_backward(g._impl, list(in_shape)))

    @staticmethod
    def backward(ctx, gg):
        return _adaptive_avg(gg, ctx.out_size), None


def _adaptive_avg(x, out_size):
    if _gs.enabled and x._rg:
        return _AdaptiveAvgPool.apply(x, out_size)
    return _wrap(_C.adaptive_avg_pool3d(x._impl, out_size))


def _adaptive_avg_backward(g, in_shape):
    if _gs.enabled and g._rg:
        return _AdaptiveAvgPoolBackward.apply(g, in_shape)
    return _wrap(_C.adaptive_avg_pool3d_backward(g._impl, list(in_shape)))


@_amp_cast.fp32_op
def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling to output_size (int, triple, or triple with None = keep that size)."""
    op = "adaptive_avg_pool3d"
    _check_input(op, input)
    from .pooling import adaptive_avg_route
    return adaptive_avg_route(input, _adaptive_size(input, output_size, op), op, "adaptive_avg_pool3d_cpu",
                              _adaptive_avg)


# ---------------------------------------------------------------------------------------------------
# max unpooling

class _MaxUnpool(Function):
    _builtin = True
    _grad_fn_name = "MaxUnpool3DBackward0"

    @staticmethod
    def forward(ctx, x, indices, out_size):
        ctx.indices = indices
        return _wrap(_on_host.max_unpool3d(x._impl, indices._impl, list(out_size)))

    @staticmethod
    def backward(ctx, g):
        if _gs.enabled and g._rg:  # create_graph: a differentiable gather
            return _gather_by_indices(g, ctx.indices), None, None
        return _wrap(_on_host.max_unpool3d_backward(g._impl, ctx.indices._impl)), None, None


def max_unpool3d_kernel(input, indices, out_size):
    """input (N, C, d, h, w) or (C, d, h, w) written at `indices` into zeros of spatial size
    out_size (three ints, already checked against PyTorch's rule by the caller)."""
    op = "max_unpool3d"
    _check_input(op, input)
    if not isinstance(indices, Tensor):
        raise TypeError(f"{op}(): argument 'indices' must be Tensor, not {type(indices).__name__}")
    if _gs.enabled and input._rg:
        return _MaxUnpool.apply(input, indices, tuple(out_size))
    return _wrap(_on_host.max_unpool3d(input._impl, indices._impl, list(out_size)))
