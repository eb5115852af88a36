"""Adam and AdamW (PyTorch's update rule, bias corrections computed in Python floats)."""
import flambeau
from . import _fused
from .optimizer import Optimizer, _addcdiv_, _addcmul_, _check_adam_hparams, _lerp_, _to_scalar

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    _sparse_grad_error = "Adam does not support sparse gradients, please consider SparseAdam instead"
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False,
                 fused=None, decoupled_weight_decay=False):
        if isinstance(lr, flambeau.Tensor):
            if foreach and not capturable:
                raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        _check_adam_hparams(betas, eps, weight_decay)
        for i, b in enumerate(betas):
            if isinstance(b, flambeau.Tensor) and foreach and not capturable:
                raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], flambeau.Tensor):
                    p_state["step"] = self._step_tensor(group["fused"], p.device, p_state["step"])

    def _init_state(self, p, group):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = self._step_tensor(group["fused"], p.device)
            state["exp_avg"] = flambeau.zeros_like(p)
            state["exp_avg_sq"] = flambeau.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = flambeau.zeros_like(p)
        return state

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss.

        Per param group, one call of the fused kernel (optim/_fused.py) when it takes the group's
        tensors, else the per-parameter path (_single_tensor_step): Optimizer._step_groups."""
        return self._step_groups(closure)

    _fused_differentiable_error = "Adam with fused=True does not support differentiable=True"
    _foreach_differentiable_error = True

    def _group_scalars(self, group):
        lr = group["lr"]
        if group["foreach"] and isinstance(lr, flambeau.Tensor) and not group["capturable"]:
            raise RuntimeError("lr as a Tensor is not supported for capturable=False and foreach=True")
        beta1, beta2 = group["betas"]
        return _to_scalar(lr), _to_scalar(beta1), _to_scalar(beta2)

    def _kernel_takes_options(self, group, hp):
        return 0.0 <= hp[1] < 1.0 and 0.0 <= hp[2] < 1.0

    def _fused_state(self, group, params):
        states = [self._init_state(p, group) for p in params]  # creates the missing ones
        lists = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states])
        if group["amsgrad"]:
            lists += ([s["max_exp_avg_sq"] for s in states],)
        return lists, [s["step"] for s in states]

    def _fused_update(self, group, params, grads, state_lists, steps, hp):
        # the kernel increments each state['step'] itself
        amsgrad = group["amsgrad"]
        _fused.fused_adam_(params, grads, state_lists[0], state_lists[1], state_lists[2] if amsgrad else [], steps,
                           lr=hp[0], beta1=hp[1], beta2=hp[2], eps=group["eps"], weight_decay=group["weight_decay"],
                           amsgrad=amsgrad, maximize=group["maximize"], decoupled=group["decoupled_weight_decay"])

    def _single_tensor_step(self, group, params, hp):
        """PyTorch's single-tensor Adam rule, op by op (CUDA params, differentiable=True,
        foreach=False, and whatever else the fused kernel does not take)."""
        lr, beta1, beta2 = hp
        weight_decay = group["weight_decay"]
        eps = group["eps"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p in params:
            state = self._init_state(p, group)
            grad = p.grad if not maximize else -p.grad
            exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            step_t.add_(1)
            if weight_decay != 0:
                if decoupled:
                    p.mul_(1 - lr * weight_decay)
                else:
                    grad = grad + p * weight_decay
            _lerp_(exp_avg, grad, 1 - beta1)
            _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, value=1 - beta2)
            step = step_t.item()
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            if amsgrad:
                max_sq = state["max_exp_avg_sq"]
                max_sq.copy_(flambeau.maximum(max_sq, exp_avg_sq))
                denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            else:
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            _addcdiv_(p, exp_avg, denom, value=-step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p * (1 - lr * weight_decay) before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
