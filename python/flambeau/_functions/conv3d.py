"""Volumetric convolutions: conv3d and conv_transpose3d (kernels: _C.conv3d / _C.conv3d_backward,
_C.conv_transpose3d / _C.conv_transpose3d_backward, csrc/cpu/conv3d.cpp; CPU kernels: CUDA tensors go
through the host, host_route.py).

The autograd Functions are conv.py's (`_Conv` and `_ConvBackward`, PyTorch's ConvolutionBackward0):
`_Params(spatial=3)` makes them call the 3-D kernels; the fused backward kernel returns the input,
weight and bias gradients in one call, and create_graph=True works as for 2-D. This file only parses
the arguments.

Argument checking happens in C++ (csrc/ops/conv3d.cpp) before any memory is touched; padding='same'
/ 'valid' are resolved here ('same' with an even kernel pads the extra plane/row/column at the
back/bottom/right, as PyTorch does, through the kernel's asymmetric padding). 4-D (unbatched) inputs
are accepted.
"""
from .shape import unsqueeze, squeeze
from . import conv as _conv2d
from .conv import _Params, _conv_apply, _check_tensors  # the autograd Functions, shared with conv2d


# ---------------------------------------------------------------------------------------------------
# argument handling

def _int_list(v, name, op):
    return _conv2d._int_list(v, name, op, 3)


def _triple(v):
    return (v[0],) * 3 if len(v) == 1 else tuple(v)


def _unbatched(op, input):
    return _conv2d._unbatched(op, input, 3)


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
    p = _Params(False, stride, padding, dilation, int(groups), spatial=3)
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
                _int_list(output_padding, "output_padding", op), spatial=3)
    if _unbatched(op, input):
        return squeeze(_conv_apply(unsqueeze(input, 0), weight, bias, p), 0)
    return _conv_apply(input, weight, bias, p)
