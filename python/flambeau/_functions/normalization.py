"""Normalization: batch_norm, layer_norm, group_norm (PyTorch's functional signatures).

Each op is one fused `_C` kernel forward (statistics in one pass, normalisation, affine) and one
fused `_C` kernel backward returning the input, weight and bias gradients together; only the
gradients `needs_input_grad` asks for are computed. The forward's per-channel / per-row statistics
(mean, 1/std) are kept on ctx as bare impls for the backward. When a graph is being recorded
through the backward (create_graph=True), the backward is instead written with differentiable
flambeau ops from the same formula, so double backward works:

    xhat = (x - mean) * rstd,   ge = grad * weight
    grad_input  = rstd * (ge - mean_S(ge) - xhat * mean_S(ge * xhat))     (S: the statistics set)
    grad_weight = sum(grad * xhat),  grad_bias = sum(grad)                (over what shares weight)

(evaluation-mode batch norm: the statistics are constants and grad_input = grad * weight * rstd.)

Running statistics are updated in place by the batch_norm kernel (momentum with the unbiased
variance); the cumulative average of `momentum=None` is the module's job: it passes the factor
1 / num_batches_tracked as `momentum`, as PyTorch's _BatchNorm does.
"""
import numbers

import math

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def _impl(t):
    return None if t is None else t._impl


def _w(impl):
    return None if impl is None else _wrap(impl)


def _records(*ts):
    """True when a graph must be recorded through this op."""
    if not _gs.enabled:
        return False
    for t in ts:
        if t is not None and t._rg:
            return True
    return False


def _check_tensor(t, name, op):
    if t is not None and not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor or None, not {type(t).__name__}")


# ------------------------------------------------------------------------------------ batch norm
def _verify_batch_size(size):
    prod = size[0]
    for s in size[2:]:
        prod *= s
    if prod == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


class BatchNorm(Function):
    _builtin = True
    _grad_fn_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, training, momentum, eps):
        out, mean, invstd = _C.batch_norm(input._impl, _impl(weight), _impl(bias), _impl(running_mean),
                                          _impl(running_var), training, momentum, eps)
        ctx.training, ctx.eps = training, eps
        ctx.mean, ctx.invstd = mean, invstd
        ctx._release_attrs = ("mean", "invstd")
        ctx.save_for_backward(input, weight)
        return _wrap(out)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        if _gs.enabled:
            gi, gw, gb = _bn_backward_composite(g, x, w, ctx)
        else:
            gi, gw, gb = (_w(t) for t in _C.batch_norm_backward(
                g._impl, x._impl, _impl(w), ctx.mean, ctx.invstd, ctx.training,
                [bool(nig[0]), bool(nig[1]), bool(nig[2])]))
        return (gi if nig[0] else None, gw if nig[1] else None, gb if nig[2] else None,
                None, None, None, None, None)


def _bn_backward_composite(g, x, w, ctx):
    """The batch norm backward in differentiable ops (for create_graph=True)."""
    c = x.shape[1]
    bshape = [1, c] + [1] * (x.dim() - 2)
    dims = [0] + list(range(2, x.dim()))
    if ctx.training:
        mean = x.mean(dim=dims, keepdim=True)
        xc = x - mean
        rstd = ((xc * xc).mean(dim=dims, keepdim=True) + ctx.eps).rsqrt()
    else:
        mean = _wrap(_C.view(ctx.mean, bshape))
        rstd = _wrap(_C.view(ctx.invstd, bshape))
        xc = x - mean
    xhat = xc * rstd
    ge = g if w is None else g * w.reshape(bshape)
    if ctx.training:
        gi = rstd * (ge - ge.mean(dim=dims, keepdim=True) - xhat * (ge * xhat).mean(dim=dims, keepdim=True))
    else:
        gi = ge * rstd
    gw = (g * xhat).sum(dim=dims)
    gb = g.sum(dim=dims)
    return gi, gw, gb


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-05):
    """Batch normalization over dim 1 of an (N, C, *) input; see torch.nn.functional.batch_norm."""
    for t, name in ((input, "input"), (running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_tensor(t, name, "batch_norm")
    if momentum is None:
        raise TypeError("batch_norm(): momentum must be a float (the module turns momentum=None into the "
                        "cumulative factor 1/num_batches_tracked)")
    training = bool(training)
    if training and input.dim() >= 2:
        _verify_batch_size(input.shape)
    momentum, eps = float(momentum), float(eps)
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not input.numel():
        # PyTorch's early exit (_batch_norm_impl_index): a clone scaled by weight[0] and shifted by
        # bias[0], before any check of the statistics' sizes or dtypes
        out = input.clone()
        if weight is not None:
            out = out * weight[0]
        if bias is not None:
            out = out + bias[0]
        return out
    params = [t for t in (weight, bias, running_mean, running_var) if t is not None]
    if input.dtype._name in ("float16", "bfloat16") and params and \
            all(t.dtype._name == "float32" for t in params):
        # PyTorch's CPU mixed-dtype path: a half input with float32 parameters and statistics is
        # normalized in float32, the output rounded to the input's dtype
        return batch_norm(input.float(), running_mean, running_var, weight, bias, training, momentum,
                          eps).to(input.dtype)
    if _records(input, weight, bias):
        return BatchNorm.apply(input, weight, bias, running_mean, running_var, training, momentum, eps)
    out, _, _ = _C.batch_norm(input._impl, _impl(weight), _impl(bias), _impl(running_mean), _impl(running_var),
                              training, momentum, eps)
    return _wrap(out)


# ------------------------------------------------------------------------------------ layer norm
class LayerNorm(Function):
    _builtin = True
    _grad_fn_name = "NativeLayerNormBackward0"

    @staticmethod
    def forward(ctx, input, normalized_shape, weight, bias, eps):
        out, mean, rstd = _C.layer_norm(input._impl, normalized_shape, _impl(weight), _impl(bias), eps)
        ctx.normalized_shape, ctx.eps = normalized_shape, eps
        ctx.mean, ctx.rstd = mean, rstd
        ctx._release_attrs = ("mean", "rstd")
        ctx.save_for_backward(input, weight)
        return _wrap(out)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        if _gs.enabled:
            gi, gw, gb = _ln_backward_composite(g, x, w, ctx)
        else:
            gi, gw, gb = (_w(t) for t in _C.layer_norm_backward(
                g._impl, x._impl, ctx.normalized_shape, ctx.mean, ctx.rstd, _impl(w),
                [bool(nig[0]), bool(nig[2]), bool(nig[3])]))
        return (gi if nig[0] else None, None, gw if nig[2] else None, gb if nig[3] else None, None)


def _ln_backward_composite(g, x, w, ctx):
    nd = len(ctx.normalized_shape)
    dims = list(range(x.dim() - nd, x.dim()))
    lead = list(range(x.dim() - nd))
    mean = x.mean(dim=dims, keepdim=True)
    xc = x - mean
    rstd = ((xc * xc).mean(dim=dims, keepdim=True) + ctx.eps).rsqrt()
    xhat = xc * rstd
    ge = g if w is None else g * w
    gi = rstd * (ge - ge.mean(dim=dims, keepdim=True) - xhat * (ge * xhat).mean(dim=dims, keepdim=True))
    gw = (g * xhat).sum(dim=lead) if lead else g * xhat
    gb = g.sum(dim=lead) if lead else g
    return gi, gw, gb


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Layer normalization over the trailing dims `normalized_shape`; see torch.nn.functional.layer_norm."""
    for t, name in ((input, "input"), (weight, "weight"), (bias, "bias")):
        _check_tensor(t, name, "layer_norm")
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = [int(normalized_shape)]
    else:
        normalized_shape = [int(s) for s in normalized_shape]
    eps = float(eps)
    if _records(input, weight, bias):
        return LayerNorm.apply(input, normalized_shape, weight, bias, eps)
    out, _, _ = _C.layer_norm(input._impl, normalized_shape, _impl(weight), _impl(bias), eps)
    return _wrap(out)


# ------------------------------------------------------------------------------------ group norm
class GroupNorm(Function):
    _builtin = True
    _grad_fn_name = "NativeGroupNormBackward0"

    @staticmethod
    def forward(ctx, input, num_groups, weight, bias, eps):
        out, mean, rstd = _C.group_norm(input._impl, num_groups, _impl(weight), _impl(bias), eps)
        ctx.num_groups, ctx.eps = num_groups, eps
        ctx.mean, ctx.rstd = mean, rstd
        ctx._release_attrs = ("mean", "rstd")
        ctx.save_for_backward(input, weight)
        return _wrap(out)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        if _gs.enabled:
            gi, gw, gb = _gn_backward_composite(g, x, w, ctx)
        else:
            gi, gw, gb = (_w(t) for t in _C.group_norm_backward(
                g._impl, x._impl, ctx.num_groups, ctx.mean, ctx.rstd, _impl(w),
                [bool(nig[0]), bool(nig[2]), bool(nig[3])]))
        return (gi if nig[0] else None, None, gw if nig[2] else None, gb if nig[3] else None, None)


def _gn_backward_composite(g, x, w, ctx):
    n, c = x.shape[0], x.shape[1]
    G = ctx.num_groups
    bshape = [1, c] + [1] * (x.dim() - 2)
    pdims = [0] + list(range(2, x.dim()))
    m = c // G  # elements per group, spelled out: reshape(n, G, -1) is ambiguous for an empty batch
    for s in x.shape[2:]:
        m *= s
    xg = x.reshape(n, G, m)
    mean = xg.mean(dim=2, keepdim=True)
    xc = xg - mean
    rstd = ((xc * xc).mean(dim=2, keepdim=True) + ctx.eps).rsqrt()
    xhat_g = xc * rstd
    xhat = xhat_g.reshape(x.shape)
    ge = (g if w is None else g * w.reshape(bshape)).reshape(n, G, m)
    gi = rstd * (ge - ge.mean(dim=2, keepdim=True) - xhat_g * (ge * xhat_g).mean(dim=2, keepdim=True))
    gi = gi.reshape(x.shape)
    gw = (g * xhat).sum(dim=pdims)
    gb = g.sum(dim=pdims)
    return gi, gw, gb


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """Group normalization of an (N, C, *) input; see torch.nn.functional.group_norm."""
    for t, name in ((input, "input"), (weight, "weight"), (bias, "bias")):
        _check_tensor(t, name, "group_norm")
    num_groups, eps = int(num_groups), float(eps)
    shape = list(input._impl.shape)
    if len(shape) >= 2 and num_groups > 0:
        # PyTorch's F.group_norm: _verify_batch_size([N * C // G, G, *spatial]) before the kernel
        size = [shape[0] * shape[1] // num_groups, num_groups] + shape[2:]
        if size[0] * math.prod(size[2:]) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
    if _records(input, weight, bias):
        return GroupNorm.apply(input, num_groups, weight, bias, eps)
    out, _, _ = _C.group_norm(input._impl, num_groups, _impl(weight), _impl(bias), eps)
    return _wrap(out)
