"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm, clip_grads_with_norm_."""
import math

import flambeau
from flambeau._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _tensor_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(t, norm_type):
    """The norm_type-norm of all elements of t as a 0-dim tensor (accumulated in t's dtype)."""
    if norm_type == math.inf:
        return t.abs().amax() if t.numel() else flambeau.zeros((), dtype=t.dtype, device=t.device)
    if norm_type == -math.inf:
        return t.abs().amin()
    if norm_type == 0:
        return (t != 0).sum().to(t.dtype)
    if norm_type == 1:
        return t.abs().sum()
    if norm_type == 2:
        return (t * t).sum().sqrt()
    return t.abs().pow(norm_type).sum().pow(1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of `tensors` (as if they were concatenated into one vector)."""
    tensors = [t for t in _tensor_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return flambeau.tensor(0.0)
    for t in tensors:
        if t.is_sparse:  # as PyTorch, whose vector norm has no sparse kernel
            raise NotImplementedError("get_total_norm (clip_grad_norm_): linalg_vector_norm is not supported for "
                                      "sparse COO gradients (layout=flambeau.sparse_coo), as in PyTorch")
    device = tensors[0].device
    norms = [_vector_norm(t, norm_type).to(device) for t in tensors]
    total_norm = _vector_norm(flambeau.stack(norms), norm_type)
    if error_if_nonfinite and not bool(total_norm.isfinite()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    return total_norm


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)) in place."""
    grads = [p.grad for p in _tensor_list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return
    clip_coef = float(max_norm) / (total_norm + 1e-6)
    clip_coef_clamped = clip_coef.clamp(max=1.0)
    coefs = {}  # the coefficient on each (device, dtype) of the gradients, converted once
    with flambeau.no_grad():
        for g in grads:
            gi = g._impl
            c = coefs.get((gi.device, gi.dtype))
            if c is None:
                c = coefs[gi.device, gi.dtype] = clip_coef_clamped.to(device=g.device, dtype=g.dtype)
            g.mul_(c)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradient norm of an iterable of parameters in place; returns the total norm."""
    parameters = _tensor_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    with flambeau.no_grad():
        total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
        clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    import warnings
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with flambeau.no_grad():
        for p in _tensor_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
