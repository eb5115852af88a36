"""Adadelta, Adamax, NAdam and RAdam: PyTorch's single-tensor update rules, op by op.

These are what torch.optim runs for CPU parameters (its foreach path is for accelerators), written
with the same in-place ops in the same order so that trajectories match PyTorch's. They have no
fused kernel (SGD, Adam/AdamW, RMSprop and Adagrad do: optim/_fused.py): one pass of a few tensor
ops per parameter and step. State is created at the first step, with PyTorch's keys.
"""
import flambeau
from .optimizer import Optimizer, _addcdiv_, _addcmul_, _check_adam_hparams, _lerp_, _to_scalar

__all__ = ["Adadelta", "Adamax", "NAdam", "RAdam"]


def _check_lr(lr):
    if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


class _PerParameter(Optimizer):
    """step(): Optimizer._step_groups with no fused kernel: per param group, each parameter with a
    gradient through `_update` (no_grad)."""

    _state_keys = ()  # state tensors created as zeros_like(p) at the first step, after "step"

    def _init_state(self, state, p):
        state["step"] = self._step_tensor()
        for key in self._state_keys:
            state[key] = flambeau.zeros_like(p)

    def step(self, closure=None):
        return self._step_groups(closure)

    def _group_scalars(self, group):
        if group.get("capturable"):
            raise NotImplementedError(f"{type(self).__name__}: capturable=True (CUDA graphs) is not supported")
        return (_to_scalar(group["lr"]),)

    def _kernel_path(self, group, params, grads, hp):
        return None  # no fused kernel: always the per-parameter path

    @property
    def _sparse_grad_error(self):
        return f"{type(self).__name__} does not support sparse gradients"

    def _single_tensor_step(self, group, params, hp):
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                self._init_state(state, p)
            grad = p.grad if not group["maximize"] else -p.grad
            state["step"].add_(1)
            self._update(group, hp[0], p, grad, state, state["step"].item())

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self._flag_defaults.items():
                group.setdefault(key, value)

    _flag_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}


class Adadelta(_PerParameter):
    """Adadelta (Zeiler 2012): steps scaled by RMS[delta] / RMS[grad], lr 1.0 by default."""

    _state_keys = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _update(self, group, lr, p, grad, state, step):
        rho, eps, wd = group["rho"], group["eps"], group["weight_decay"]
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        _addcmul_(square_avg.mul_(rho), grad, grad, value=1 - rho)
        std = square_avg.add(eps).sqrt_()
        delta = acc_delta.add(eps).sqrt_()
        delta.div_(std).mul_(grad)
        _addcmul_(acc_delta.mul_(rho), delta, delta, value=1 - rho)
        p.add_(delta, alpha=-lr)


class Adamax(_PerParameter):
    """Adamax (Kingma & Ba 2015, section 7): Adam with the infinity norm in place of the second moment."""

    _state_keys = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check_adam_hparams(betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, group, lr, p, grad, state, step):
        beta1, beta2 = group["betas"]
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        _lerp_(exp_avg, grad, 1 - beta1)
        exp_inf.copy_(flambeau.maximum(exp_inf.mul_(beta2), grad.abs().add_(group["eps"])))
        clr = lr / (1 - beta1 ** step)
        _addcdiv_(p, exp_avg, exp_inf, value=-clr)


class NAdam(_PerParameter):
    """NAdam (Dozat 2016): Adam with Nesterov momentum and the momentum schedule mu_t."""

    _flag_defaults = dict(_PerParameter._flag_defaults, decoupled_weight_decay=False)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check_adam_hparams(betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _init_state(self, state, p):
        state["step"] = self._step_tensor()
        state["mu_product"] = self._step_tensor(value=1.0)
        state["exp_avg"] = flambeau.zeros_like(p)
        state["exp_avg_sq"] = flambeau.zeros_like(p)

    def _update(self, group, lr, p, grad, state, step):
        beta1, beta2 = group["betas"]
        wd, md, eps = group["weight_decay"], group["momentum_decay"], group["eps"]
        bias_correction2 = 1 - beta2 ** step
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
        mu_product = state["mu_product"]
        mu_product.mul_(mu)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - beta1)
        _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        mp = mu_product.item()
        mu_product_next = mp * mu_next
        denom.add_(eps)
        _addcdiv_(p, grad, denom, value=(-lr * (1.0 - mu) / (1.0 - mp)))
        _addcdiv_(p, exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))


class RAdam(_PerParameter):
    """RAdam (Liu et al. 2020): Adam whose adaptive step is switched on, rectified, once the variance
    of the adaptive rate is tractable (rho_t > 5); before that, SGD with momentum."""

    _state_keys = ("exp_avg", "exp_avg_sq")
    _flag_defaults = dict(_PerParameter._flag_defaults, decoupled_weight_decay=False)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        _check_adam_hparams(betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                                      differentiable=differentiable))

    def _update(self, group, lr, p, grad, state, step):
        beta1, beta2 = group["betas"]
        wd, eps = group["weight_decay"], group["eps"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - beta1)
        _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add_(eps)
            p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
