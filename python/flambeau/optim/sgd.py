"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (PyTorch's rule)."""
import flambeau
from . import _fused
from .optimizer import Optimizer, _add_, _to_scalar

__all__ = ["SGD"]


class SGD(Optimizer):
    # sparse gradients take the per-parameter rule below as they are (sparse momentum buffers, as torch)
    _fused_sparse_grad_error = "`_fused_sgd` does not support sparse gradients"
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss.

        Per param group, one call of the fused kernel (optim/_fused.py) when it takes the group's
        tensors, else the per-parameter path (_single_tensor_step): Optimizer._step_groups."""
        return self._step_groups(closure)

    def _group_scalars(self, group):
        return (_to_scalar(group["lr"]),)

    def _kernel_takes_options(self, group, hp):
        # Nesterov in a group without momentum (only the defaults are validated): the Python path
        # runs plain SGD, as torch; the kernel rejects it
        return not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0)

    def _fused_state(self, group, params):
        # as torch: a param's state holds 'momentum_buffer' only when momentum != 0; None entries
        # (first step) are filled by the kernel
        if group["momentum"] == 0:
            return (), None
        state = self.state
        return ([state[p].get("momentum_buffer") for p in params],), None

    def _fused_update(self, group, params, grads, state_lists, steps, hp):
        bufs = state_lists[0] if state_lists else []
        new = [i for i, b in enumerate(bufs) if b is None]
        _fused.fused_sgd_(params, grads, bufs, lr=hp[0], momentum=group["momentum"], dampening=group["dampening"],
                          weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                          maximize=group["maximize"])
        for i in new:
            self.state[params[i]]["momentum_buffer"] = bufs[i]

    def _single_tensor_step(self, group, params, hp):
        """PyTorch's single-tensor SGD rule, op by op (CUDA params, differentiable=True,
        foreach=False, and whatever else the fused kernel does not take)."""
        lr = hp[0]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        for p in params:
            grad = p.grad if not maximize else -p.grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = grad.detach().clone()
                    state["momentum_buffer"] = buf
                else:
                    _add_(buf.mul_(momentum), grad, alpha=1 - dampening)
                if nesterov:
                    grad = grad + buf * momentum
                else:
                    grad = buf
            _add_(p, grad, alpha=-lr)
