"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (PyTorch's rule)."""
import flambeau
from . import _fused
from .optimizer import Optimizer, _add_, _fused_ok, _fused_state_ok, _to_scalar

__all__ = ["SGD"]


class SGD(Optimizer):
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
        tensors (optimizer._fused_ok, _fused_state_ok), else the per-parameter path
        (_single_tensor_step)."""
        loss = None
        if closure is not None:
            with flambeau.enable_grad():
                loss = closure()
        with flambeau.no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                lr = _to_scalar(group["lr"])
                momentum = group["momentum"]
                grads = [p.grad for p in params]
                if not (_fused_ok(group, params, grads, lr)
                        and (not group["nesterov"] or (momentum > 0 and group["dampening"] == 0))):
                    self._single_tensor_step(group, params, lr)
                    continue
                # as torch: a param's state holds 'momentum_buffer' only when momentum != 0; None
                # entries (first step) are filled by the kernel
                bufs = [self.state[p].get("momentum_buffer") for p in params] if momentum != 0 else []
                if bufs and not _fused_state_ok(params, (bufs,)):
                    self._single_tensor_step(group, params, lr)
                    continue
                _fused.fused_sgd_(params, grads, bufs, lr=lr, momentum=momentum, dampening=group["dampening"],
                                  weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                                  maximize=group["maximize"])
                for p, buf in zip(params, bufs):
                    self.state[p]["momentum_buffer"] = buf
        return loss

    def _single_tensor_step(self, group, params, lr):
        """PyTorch's single-tensor SGD rule, op by op (CUDA params, differentiable=True, and
        whatever else the fused kernel does not take)."""
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
