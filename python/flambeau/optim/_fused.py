"""Fused multi-tensor optimizer steps: one `_C` call per step updates every parameter and its state
in place (one pass over memory, threads splitting the concatenated parameters).

Each function mirrors torch.optim's functional single-tensor path (`_single_tensor_adam` etc.):
same lists, same keyword hyperparameters, the same per-element arithmetic in the same order, so a
trajectory agrees with `torch.optim.X(..., foreach=False)` to float rounding. Tensors in (lists of
flambeau Tensors, parameters usually nn.Parameter), updated in place; nothing is returned except
by `fused_sgd_`, which fills the `None` entries of `momentum_buffer_list` like PyTorch's SGD.

`state_steps` holds one 1-element tensor per parameter (PyTorch keeps `state['step']` as a float32
tensor), on the CPU or on the parameters' device (torch's fused=True puts it there); the call
increments each by 1 itself (torch's `step_t += 1`) before using its value for the bias corrections
(Adam) or the learning-rate decay (Adagrad). Counters on a CUDA device are read with one
device-to-host copy per call (per counter dtype), incremented on the host and copied back.

Parameters of float32 and float64 may be mixed in one call; every state tensor must match its
parameter's shape, dtype and device. CPU and CUDA (one device per call).

Like any in-place op, each call bumps the version counter of every tensor it wrote (parameters,
states, step counters), so that autograd still reports a parameter saved for backward and then
updated by an optimizer step before that backward ran.
"""
from collections import deque

from .. import _C

__all__ = ["fused_sgd_", "fused_adam_", "fused_adamw_", "fused_rmsprop_", "fused_adagrad_"]


_COMPLEX = ("complex64", "complex128")


def _impls(ts, name, op):
    try:
        impls = [t._impl for t in ts]
    except AttributeError:
        bad = next(t for t in ts if not hasattr(t, "_impl"))
        raise TypeError(f"{op}: {name} must be a list of Tensors, got an element of type "
                        f"{type(bad).__name__}") from None
    # Complex parameters (and their gradients and states) are updated as their real and imaginary
    # parts, as PyTorch's optimizers do through view_as_real.
    if any(i.dtype in _COMPLEX for i in impls):
        impls = [_C.view_as_real(i) if i.dtype in _COMPLEX else i for i in impls]
    return impls


def _real_view(impl):
    return _C.view_as_real(impl) if impl.dtype in _COMPLEX else impl


def _bump(*impl_lists):
    """Marks tensors written in place by a kernel as modified (TensorImpl.version), as in-place ops do."""
    for impls in impl_lists:
        if impls:
            # map() over the unbound method: no bound-method object per tensor
            deque(map(type(impls[0]).bump_version, impls), maxlen=0)


def _f(x):
    """A hyperparameter as a Python float (accepts 1-element tensors, as torch's lr)."""
    if hasattr(x, "_impl"):
        return float(x.item())
    return float(x)


def fused_sgd_(params, grads, momentum_buffer_list, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, maximize=False):
    """SGD step. momentum_buffer_list[i] is None before the first step with momentum: it is then set to
    a new buffer holding that step's (decayed, possibly negated) gradient, as torch.optim.SGD does."""
    op = "fused_sgd_"
    momentum = _f(momentum)
    bufs = [None if b is None else _real_view(b._impl) for b in momentum_buffer_list] if momentum != 0 else []
    p, g = _impls(params, "params", op), _impls(grads, "grads", op)
    new = _C.fused_sgd_(p, g, bufs, _f(lr), momentum, _f(dampening), _f(weight_decay), bool(nesterov),
                        bool(maximize))
    _bump(p, [b for b in bufs if b is not None])
    if momentum != 0:
        from .._tensor import _wrap
        for i, b in enumerate(new):
            if momentum_buffer_list[i] is None:  # (a complex parameter's buffer is complex too)
                momentum_buffer_list[i] = _wrap(_C.view_as_complex(b) if params[i]._impl.dtype in _COMPLEX else b)


def fused_adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps,
                weight_decay, amsgrad, maximize, decoupled=False):
    """Adam (decoupled=False) or AdamW (decoupled=True) step. max_exp_avg_sqs is used only with amsgrad
    (pass [] otherwise)."""
    op = "fused_adamw_" if decoupled else "fused_adam_"
    p, g = _impls(params, "params", op), _impls(grads, "grads", op)
    m, v = _impls(exp_avgs, "exp_avgs", op), _impls(exp_avg_sqs, "exp_avg_sqs", op)
    mx = _impls(max_exp_avg_sqs, "max_exp_avg_sqs", op) if amsgrad else []
    steps = _impls(state_steps, "state_steps", op)
    _C.fused_adam_(p, g, m, v, mx, steps, _f(lr), _f(beta1), _f(beta2), _f(eps), _f(weight_decay), bool(amsgrad),
                   bool(maximize), bool(decoupled))
    _bump(p, m, v, mx, steps)


def fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps,
                 weight_decay, amsgrad, maximize):
    """AdamW step: fused_adam_ with decoupled weight decay (p *= 1 - lr * weight_decay first)."""
    fused_adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, lr=lr, beta1=beta1,
                beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                decoupled=True)


def fused_rmsprop_(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, *, lr, alpha, eps,
                   weight_decay, momentum, centered, maximize):
    """RMSprop step. grad_avgs is used only when centered, momentum_buffer_list only when momentum > 0
    (pass [] otherwise); both hold tensors (zeros before the first step), as torch's state."""
    op = "fused_rmsprop_"
    momentum = _f(momentum)
    p, g = _impls(params, "params", op), _impls(grads, "grads", op)
    sq = _impls(square_avgs, "square_avgs", op)
    ga = _impls(grad_avgs, "grad_avgs", op) if centered else []
    bufs = _impls(momentum_buffer_list, "momentum_buffer_list", op) if momentum > 0 else []
    steps = _impls(state_steps, "state_steps", op)
    _C.fused_rmsprop_(p, g, sq, ga, bufs, steps, _f(lr), _f(alpha), _f(eps), _f(weight_decay), momentum,
                      bool(centered), bool(maximize))
    _bump(p, sq, ga, bufs, steps)


def fused_adagrad_(params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps, maximize):
    """Adagrad step (state_sums start at initial_accumulator_value)."""
    op = "fused_adagrad_"
    p, g = _impls(params, "params", op), _impls(grads, "grads", op)
    sums, steps = _impls(state_sums, "state_sums", op), _impls(state_steps, "state_steps", op)
    _C.fused_adagrad_(p, g, sums, steps, _f(lr), _f(lr_decay), _f(weight_decay), _f(eps), bool(maximize))
    _bump(p, sums, steps)
