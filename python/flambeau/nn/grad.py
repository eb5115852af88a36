"""torch.nn.grad: a convolution's input and weight gradients as functions, for custom autograd Functions that
fuse a convolution with something else (PyTorch's "fusing convolution and batch norm" tutorial calls
conv2d_input/conv2d_weight from its backward).

Both gradients are linear in what they are taken against, so each is the gradient, through our own
convolution, with respect to a zero tensor of the asked shape: the same numbers as the backward of
F.conv*d, any input size the stride allows (an input_size that the forward would not reproduce from
grad_output's shape is refused naming both), and differentiable again in weight/input and grad_output
(create_graph when either requires grad), as PyTorch's are.
"""
from .. import autograd as _autograd
from .._creation import zeros as _zeros
from ..autograd.grad_mode import enable_grad as _enable_grad
from . import functional as _F

__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "conv3d_input", "conv3d_weight"]

_CONV = {1: _F.conv1d, 2: _F.conv2d, 3: _F.conv3d}


def _grad_through_conv(op, dims, x, w, grad_output, wrt, stride, padding, dilation, groups):
    """d<conv(x, w)>/d<wrt> applied to grad_output, where `wrt` is x or w (a zero leaf of the asked shape)."""
    if grad_output.dim() != dims + 2:
        raise RuntimeError(f"{op}: expected grad_output of {dims + 2} dims (batch, channels, {dims} spatial), "
                           f"got shape {list(grad_output.shape)}")
    with _enable_grad():
        out = _CONV[dims](x, w, None, stride, padding, dilation, groups)
    if out.shape != grad_output.shape:
        raise RuntimeError(f"{op}: input {list(x.shape)} and weight {list(w.shape)} give an output of shape "
                           f"{list(out.shape)}, but grad_output has shape {list(grad_output.shape)}")
    create_graph = grad_output.requires_grad or (w.requires_grad if wrt is x else x.requires_grad)
    (g,) = _autograd.grad(out, wrt, grad_output, create_graph=create_graph)
    return g


def _input_grad(dims):
    op = f"conv{dims}d_input"

    def conv_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
        x = _zeros(tuple(input_size), dtype=grad_output.dtype, device=grad_output.device, requires_grad=True)
        return _grad_through_conv(op, dims, x, weight, grad_output, x, stride, padding, dilation, groups)

    conv_input.__name__ = conv_input.__qualname__ = op
    conv_input.__doc__ = (f"The gradient of conv{dims}d with respect to its input, of shape input_size, given "
                          f"the weight and the gradient of the output (PyTorch's torch.nn.grad.{op}).")
    return conv_input


def _weight_grad(dims):
    op = f"conv{dims}d_weight"

    def conv_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
        w = _zeros(tuple(weight_size), dtype=input.dtype, device=input.device, requires_grad=True)
        return _grad_through_conv(op, dims, input, w, grad_output, w, stride, padding, dilation, groups)

    conv_weight.__name__ = conv_weight.__qualname__ = op
    conv_weight.__doc__ = (f"The gradient of conv{dims}d with respect to its weight, of shape weight_size, "
                           f"given the input and the gradient of the output (PyTorch's torch.nn.grad.{op}).")
    return conv_weight


conv1d_input, conv1d_weight = _input_grad(1), _weight_grad(1)
conv2d_input, conv2d_weight = _input_grad(2), _weight_grad(2)
conv3d_input, conv3d_weight = _input_grad(3), _weight_grad(3)
