"""Volumetric convolutions: conv3d and conv_transpose3d (kernels: _C.conv3d / _C.conv3d_backward,
_C.conv_transpose3d / _C.conv_transpose3d_backward, csrc/cpu/conv3d.cpp; CPU only).

The same structure as the 2-D convolutions (flambeau/_functions/conv.py): one Function, `_Conv3d`,
for both ops (PyTorch's ConvolutionBackward0), whose backward calls the fused backward kernel that
returns the input, weight and bias gradients in one call; that backward is itself a Function
(`_Conv3dBackward`), so create_graph=True gives correct higher derivatives (see conv.py for the
adjoint identities).

Argument checking happens in C++ (csrc/ops/conv3d.cpp) before any memory is touched; padding='same'
/ 'valid' are resolved here ('same' with an even kernel pads the extra plane/row/column at the
back/bottom/right, as PyTorch does, through the kernel's asymmetric padding). 4-D (unbatched) inputs
are accepted.
"""
from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .shape import reshape, expand, unsqueeze, squeeze


class _Params:
    """Static arguments of one 3-D convolution (lists of ints, as _C takes them)."""

    __slots__ = ("transposed", "stride", "padding", "dilation", "groups", "output_padding")

    def __init__(self, transposed, stride, padding, dilation, groups, output_padding=(0,)):
        self.transposed = transposed
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.output_padding = output_padding


def _fwd_impl(xi, wi, bi, p):
    if p.transposed:
        return _C.conv_transpose3d(xi, wi, bi, p.stride, p.padding, p.output_padding, p.groups, p.dilation)
    return _C.conv3d(xi, wi, bi, p.stride, p.padding, p.dilation, p.groups)


def _bwd_impl(gi, xi, wi, p, mask):
    if p.transposed:
        return _C.conv_transpose3d_backward(gi, xi, wi, p.stride, p.padding, p.output_padding, p.groups,
                                            p.dilation, list(mask))
    return _C.conv3d_backward(gi, xi, wi, p.stride, p.padding, p.dilation, p.groups, list(mask))


def _opt_wrap(impl):
    return None if impl is None else _wrap(impl)


def _conv_apply(x, w, b, p):
    """F(x, w) + b, recorded for autograd when needed."""
    if _gs.enabled and (x._rg or w._rg or (b is not None and b._rg)):
        return _Conv3d.apply(x, w, b, p)
    return _wrap(_fwd_impl(x._impl, w._impl, None if b is None else b._impl, p))


def _conv_grads(g, x, w, p, mask):
    """(grad_input, grad_weight, grad_bias) for the entries of mask that are True; differentiable
    when grad mode is on (create_graph=True)."""
    if _gs.enabled and (g._rg or x._rg or w._rg):
        return _Conv3dBackward.apply(g, x, w, p, tuple(mask))
    return tuple(_opt_wrap(t) for t in _bwd_impl(g._impl, x._impl, w._impl, p, mask))


class _Conv3d(Function):
    _builtin = True
    _grad_fn_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, p):
        ctx.p = p
        ctx.has_bias = b is not None
        ctx.save_for_backward(x, w)
        return _wrap(_fwd_impl(x._impl, w._impl, None if b is None else b._impl, p))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        mask = (bool(nig[0]), bool(nig[1]), bool(ctx.has_bias and nig[2]))
        if not any(mask):
            return None, None, None, None
        gi, gw, gb = _conv_grads(g, x, w, ctx.p, mask)
        return gi, gw, gb, None


class _Conv3dBackward(Function):
    """The backward of a 3-D convolution as a differentiable op: (g, x, w) -> (gx, gw, gb)."""

    _builtin = True
    _grad_fn_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x, w, p, mask):
        ctx.p = p
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(g, x, w)
        return tuple(_opt_wrap(t) for t in _bwd_impl(g._impl, x._impl, w._impl, p, mask))

    @staticmethod
    def backward(ctx, ggx, ggw, ggb):
        g, x, w = ctx.saved_tensors
        p = ctx.p
        nig = ctx.needs_input_grad
        dg = dx = dw = None
        if nig[0]:
            terms = []
            if ggx is not None:
                terms.append(_conv_apply(ggx, w, None, p))
            if ggw is not None:
                terms.append(_conv_apply(x, ggw, None, p))
            if ggb is not None:
                terms.append(expand(reshape(ggb, (1, -1, 1, 1, 1)), tuple(g._impl.shape)))
            for t in terms:
                dg = t if dg is None else dg + t
        if nig[1] and ggw is not None:
            dx = _conv_grads(g, x, ggw, p, (True, False, False))[0]
        if nig[2] and ggx is not None:
            dw = _conv_grads(g, ggx, w, p, (False, True, False))[1]
        return dg, dx, dw, None, None


# ---------------------------------------------------------------------------------------------------
# argument handling

def _as_int(v, name, op):
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, not {type(v).__name__}")
    return v.__index__()


def _int_list(v, name, op):
    if isinstance(v, (tuple, list)):
        if len(v) not in (1, 3):
            raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of 3 values, "
                               f"but got {name}={list(v)}")
        return [_as_int(e, name, op) for e in v]
    return [_as_int(v, name, op)]


def _triple(v):
    return (v[0],) * 3 if len(v) == 1 else tuple(v)


def _check_tensors(op, input, weight, bias):
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}(): argument 'bias' must be Tensor, not {type(bias).__name__}")


def _unbatched(op, input):
    nd = input._impl.ndim
    if nd not in (4, 5):
        raise RuntimeError(f"Expected 4D (unbatched) or 5D (batched) input to {op}, but got input of size: "
                           f"{list(input._impl.shape)}")
    return nd == 4


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution over an NCDHW (or unbatched CDHW) input; PyTorch's signature and semantics."""
    op = "conv3d"
    _check_tensors(op, input, weight, bias)
    stride = _int_list(stride, "stride", op)
    dilation = _int_list(dilation, "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0]
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            if weight._impl.ndim != 5:
                raise RuntimeError(f"conv3d: expected a 5-D weight, got shape {list(weight._impl.shape)}")
            padding = []
            for k, d in zip(weight._impl.shape[2:], _triple(dilation)):
                total = d * (k - 1)
                padding += [total // 2, total - total // 2]
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
    else:
        padding = _int_list(padding, "padding", op)
    p = _Params(False, stride, padding, dilation, int(groups))
    if _unbatched(op, input):
        return squeeze(_conv_apply(unsqueeze(input, 0), weight, bias, p), 0)
    return _conv_apply(input, weight, bias, p)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution ("deconvolution"), the adjoint of conv3d; PyTorch's signature."""
    op = "conv_transpose3d"
    _check_tensors(op, input, weight, bias)
    if isinstance(padding, str):
        raise RuntimeError("conv_transpose3d: padding must be an int or a tuple of ints (string padding is not "
                           "supported for transposed convolutions)")
    p = _Params(True, _int_list(stride, "stride", op), _int_list(padding, "padding", op),
                _int_list(dilation, "dilation", op), int(groups),
                _int_list(output_padding, "output_padding", op))
    if _unbatched(op, input):
        return squeeze(_conv_apply(unsqueeze(input, 0), weight, bias, p), 0)
    return _conv_apply(input, weight, bias, p)
