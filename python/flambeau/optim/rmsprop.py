"""RMSprop with optional centering and momentum (PyTorch's update rule)."""
import flambeau
from . import _fused
from .optimizer import Optimizer, _add_, _addcdiv_, _addcmul_, _lerp_, _to_scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    _sparse_grad_error = "RMSprop does not support sparse gradients"
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], flambeau.Tensor):
                    p_state["step"] = self._step_tensor(value=p_state["step"])

    def _init_state(self, p, group):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = self._step_tensor()
            state["square_avg"] = flambeau.zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = flambeau.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = flambeau.zeros_like(p)
        return state

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss.

        Per param group, one call of the fused kernel (optim/_fused.py) when it takes the group's
        tensors, else the per-parameter path (_single_tensor_step): Optimizer._step_groups."""
        return self._step_groups(closure)

    _foreach_differentiable_error = True

    def _group_scalars(self, group):
        return (_to_scalar(group["lr"]),)

    def _fused_state(self, group, params):
        states = [self._init_state(p, group) for p in params]  # creates the missing ones
        lists = ([s["square_avg"] for s in states],)
        if group["centered"]:
            lists += ([s["grad_avg"] for s in states],)
        if group["momentum"] > 0:
            lists += ([s["momentum_buffer"] for s in states],)
        return lists, [s["step"] for s in states]

    def _fused_update(self, group, params, grads, state_lists, steps, hp):
        # the kernel increments each state['step'] itself
        centered = group["centered"]
        momentum = group["momentum"]
        grad_avgs = state_lists[1] if centered else []
        bufs = state_lists[-1] if momentum > 0 else []
        _fused.fused_rmsprop_(params, grads, state_lists[0], grad_avgs, bufs, steps, lr=hp[0], alpha=group["alpha"],
                              eps=group["eps"], weight_decay=group["weight_decay"], momentum=momentum,
                              centered=centered, maximize=group["maximize"])

    def _single_tensor_step(self, group, params, hp):
        """PyTorch's single-tensor RMSprop rule, op by op (CUDA params, differentiable=True,
        foreach=False, and whatever else the fused kernel does not take)."""
        lr = hp[0]
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        for p in params:
            state = self._init_state(p, group)
            grad = p.grad if not maximize else -p.grad
            square_avg = state["square_avg"]
            state["step"].add_(1)
            if weight_decay != 0:
                grad = grad + p * weight_decay
            _addcmul_(square_avg.mul_(alpha), grad, grad, value=1 - alpha)
            if centered:
                grad_avg = state["grad_avg"]
                _lerp_(grad_avg, grad, 1 - alpha)
                avg = (square_avg - grad_avg * grad_avg).sqrt_()
            else:
                avg = square_avg.sqrt()
            avg = avg.add_(eps)
            if momentum > 0:
                buf = state["momentum_buffer"]
                _addcdiv_(buf.mul_(momentum), grad, avg)
                _add_(p, buf, alpha=-lr)
            else:
                _addcdiv_(p, grad, avg, value=-lr)
