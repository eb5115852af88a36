"""CTC loss (torch.nn.functional.ctc_loss): the per-element negative log-likelihood and its gradient are
one `_C` kernel each (`_C.ctc_loss` / `_C.ctc_loss_backward`, csrc/cpu/ctc_loss.cpp; CUDA tensors go
through the host, host_route.py); the reduction is composed here as torch composes it: 'mean' divides
each loss by its target length (clamped to >= 1) and averages over the batch, 'sum' adds, 'none' keeps
the [N] losses ([] for unbatched input).

The gradient is torch's: for log_probs that come from log_softmax it is the exact gradient on the logits;
taken on log_probs alone it carries an extra softmax(log_probs) term, as torch's does (see the kernel's
comment). Double backward is not supported (torch does not support it either).
"""
import operator

import numpy as np

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .host_route import HostRouted, from_numpy

_on_host = HostRouted()  # CPU kernels only: CUDA tensors go through the host (host_route.py)


class CtcLoss(Function):
    _builtin = True
    _grad_fn_name = "CtcLossBackward0"

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity, batched):
        loss, nll, alpha = _on_host.ctc_loss(log_probs._impl, targets._impl, input_lengths, target_lengths, blank,
                                       zero_infinity)
        ctx.save_for_backward(log_probs, targets)
        ctx.nll, ctx.alpha = nll, alpha
        ctx._release_attrs = ("nll", "alpha")
        ctx.opts = (input_lengths, target_lengths, blank, zero_infinity)
        return _wrap(loss if batched else _C.reshape(loss, []))

    @staticmethod
    def backward(ctx, g):
        if _gs.enabled:
            raise RuntimeError("derivative for ctc_loss_backward is not implemented (double backward through "
                               "ctc_loss is not supported)")
        log_probs, targets = ctx.saved_tensors
        il, tl, blank, zero_infinity = ctx.opts
        gx = _on_host.ctc_loss_backward(g._impl, log_probs._impl, targets._impl, il, tl, ctx.nll, ctx.alpha, blank,
                                  zero_infinity)
        return _wrap(gx), None, None, None, None, None, None


def _lengths(v, name):
    """input_lengths / target_lengths as a list of ints: a tensor of any shape (integral dtype, flattened)
    or a list/tuple of ints."""
    if isinstance(v, Tensor):
        dt = v._impl.dtype
        if dt in ("float32", "float64", "bool"):
            raise RuntimeError(f"{name} must be integral")
        impl = v._impl
        if impl.is_cuda:
            impl = _C.to(impl, dt, "cpu", False)
        return [int(x) for x in np.asarray(_C.to_numpy(impl)).reshape(-1)]
    if isinstance(v, (list, tuple)):
        out = []
        for x in v:
            if isinstance(x, Tensor) and x.numel() == 1 and x._impl.dtype not in ("float32", "float64", "bool"):
                out.append(int(x.item()))
                continue
            if isinstance(x, bool):
                raise TypeError(f"ctc_loss(): argument '{name}' must be a tuple of ints, but got bool")
            try:
                out.append(operator.index(x))
            except TypeError:
                raise TypeError(f"ctc_loss(): argument '{name}' must be a tuple of ints, but got "
                                f"{type(x).__name__}") from None
        return out
    raise TypeError(f"ctc_loss(): argument '{name}' must be a Tensor or a tuple of ints, not {type(v).__name__}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """torch.nn.functional.ctc_loss: log_probs (T, N, C) or (T, C) (log-probabilities, e.g. from
    log_softmax), targets (N, S) padded or (sum(target_lengths),) concatenated, input_lengths and
    target_lengths (N,) tensors or tuples of ints."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"ctc_loss(): argument 'log_probs' (position 1) must be Tensor, not {type(log_probs).__name__}")
    if not isinstance(targets, Tensor):
        raise TypeError(f"ctc_loss(): argument 'targets' (position 2) must be Tensor, not {type(targets).__name__}")
    if isinstance(blank, bool):
        raise TypeError("ctc_loss(): argument 'blank' must be int, not bool")
    blank = operator.index(blank)
    il = _lengths(input_lengths, "input_lengths")
    tl = _lengths(target_lengths, "target_lengths")
    batched = log_probs.dim() == 3
    zero_infinity = bool(zero_infinity)
    if _gs.enabled and log_probs._rg:
        loss = CtcLoss.apply(log_probs, targets, il, tl, blank, zero_infinity, batched)
    else:
        loss, _, _ = _on_host.ctc_loss(log_probs._impl, targets._impl, il, tl, blank, zero_infinity)
        loss = _wrap(loss if batched else _C.reshape(loss, []))
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        lengths = np.maximum(np.asarray(tl, dtype=np.int64), 1).astype(log_probs._impl.dtype)
        if not batched:
            lengths = lengths.reshape(())
        return (loss / _wrap(from_numpy(lengths, loss._impl.device))).mean()
    return loss


__all__ = ["ctc_loss"]
