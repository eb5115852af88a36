"""Dropout: dropout, dropout1d/2d/3d (feature dropout), with PyTorch's functional signatures.

The mask is never stored. `_C.dropout` draws element i's keep decision from the global Philox
stream at position offset + i (keep iff uniform < 1 - p; the same numbers `flambeau.rand` /
`bernoulli` would give at that stream state, on CPU and CUDA alike) and returns the (seed, offset)
it used; ctx keeps those two integers, and the backward regenerates the same mask from them:
grad_input = grad * mask / (1 - p). Feature dropout draws one number per (N, C) entry and zeroes
whole channels.

As in PyTorch: p must lie in [0, 1]; training=False or p == 0 returns the input itself (no random
numbers drawn); p == 1 gives input * 0; kept elements are scaled by 1/(1-p) (inverted dropout).
"""
import warnings

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]

_ELEMENT, _FEATURE, _FEATURE_UNBATCHED = 0, 1, 2


def _check_p(p):
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _run(impl, p, mode, out):
    """(result impl, seed, offset) of the forward kernel on `impl` (out: impl to write, or None)."""
    if mode == _ELEMENT:
        return _C.dropout(impl, p, out)
    if mode == _FEATURE_UNBATCHED:
        r, seed, off = _C.feature_dropout(_C.unsqueeze(impl, 0), p,
                                          None if out is None else _C.unsqueeze(out, 0))
        return _C.squeeze(r, [0]), seed, off
    return _C.feature_dropout(impl, p, out)


def _mask_grad(g_impl, p, mode, seed, off):
    if mode == _ELEMENT:
        return _C.dropout_backward(g_impl, p, seed, off)
    if mode == _FEATURE_UNBATCHED:
        return _C.squeeze(_C.feature_dropout_backward(_C.unsqueeze(g_impl, 0), p, seed, off), [0])
    return _C.feature_dropout_backward(g_impl, p, seed, off)


class Dropout(Function):
    _builtin = True
    _grad_fn_name = "NativeDropoutBackward0"

    @staticmethod
    def forward(ctx, x, p, mode, inplace):
        xi = x._impl
        r, seed, off = _run(xi, p, mode, xi if inplace else None)
        ctx.p, ctx.mode, ctx.seed, ctx.offset = p, mode, seed, off
        if inplace:
            ctx.mark_dirty(x)
            return x
        return _wrap(r)

    @staticmethod
    def backward(ctx, g):
        gi = g._impl
        if _gs.enabled:
            # Differentiable form for double backward: grad * (mask / (1 - p)) with the mask
            # regenerated as a constant tensor.
            ones = _C.full(list(gi.shape), 1, gi.dtype, gi.device)
            return g * _wrap(_mask_grad(ones, ctx.p, ctx.mode, ctx.seed, ctx.offset)), None, None, None
        return _wrap(_mask_grad(gi, ctx.p, ctx.mode, ctx.seed, ctx.offset)), None, None, None


def _dropout(input, p, training, inplace, mode):
    if not isinstance(input, Tensor):
        raise TypeError(f"dropout(): argument 'input' must be Tensor, not {type(input).__name__}")
    p = float(p)
    _check_p(p)
    if not training or p == 0.0 or input._impl.numel == 0:
        return input
    if p == 1.0 and input._impl.dtype not in ("float32", "float64", "float16", "bfloat16"):
        # PyTorch's p == 1 is input * zeros_like(input), which any dtype can do (the kernels, which scale
        # by 1/(1-p), are for floating types only)
        zeros = input.new_zeros(input.shape)
        return input.mul_(zeros) if inplace else input * zeros
    if _gs.enabled and input._rg:
        return Dropout.apply(input, p, mode, bool(inplace))
    xi = input._impl
    r, _, _ = _run(xi, p, mode, xi if inplace else None)
    return input if inplace else _wrap(r)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p and scales the rest by 1/(1-p)."""
    return _dropout(input, p, training, inplace, _ELEMENT)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, L) or (C, L) input."""
    _check_p(float(p))
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note "
                           "that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                           "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
                           "inputs).")
    return _dropout(input, p, training, inplace, _FEATURE if input.dim() == 3 else _FEATURE_UNBATCHED)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, H, W) input. As PyTorch, a 3-D input is taken as (N, C, L)
    (with a warning), i.e. its dim 0 is treated as the batch."""
    _check_p(float(p))
    nd = input.dim()
    if nd not in (3, 4):
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will result "
                      "in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise "
                      "dropout on inputs with 2 spatial dimensions, a channel dimension, and an optional "
                      "batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    if nd < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return _dropout(input, p, training, inplace, _FEATURE)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, D, H, W) or (C, D, H, W) input."""
    _check_p(float(p))
    nd = input.dim()
    if nd not in (4, 5):
        warnings.warn(f"dropout3d: Received a {nd}-D input to dropout3d, which is deprecated and will result "
                      "in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout3d exists to provide channel-wise "
                      "dropout on inputs with 3 spatial dimensions, a channel dimension, and an optional "
                      "batch dimension (i.e. 4D or 5D inputs).", stacklevel=2)
    # As PyTorch: anything but a 5-D input gets a leading batch dim of 1.
    return _dropout(input, p, training, inplace, _FEATURE if nd == 5 else _FEATURE_UNBATCHED)
