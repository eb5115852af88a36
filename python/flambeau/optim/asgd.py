"""ASGD (averaged stochastic gradient descent, Polyak & Juditsky 1992): PyTorch's single-tensor rule.

SGD with a decaying step eta_t = lr / (1 + lambd * lr * t) ** alpha and a weight decay term
(1 - lambd * eta), plus a running average `ax` of the iterates, started at step t0 (mu_t =
1 / max(1, t - t0)). Written with the ops of torch.optim's `_single_tensor_asgd` in the same order:
eta and mu are 0-dim tensors of the default float dtype (float32), read back as Python numbers at
each step, so their float32 rounding is PyTorch's. State per parameter, with PyTorch's keys: step,
eta, mu, ax.
"""
import flambeau
from .adaptive import _PerParameter, _check_lr
from .optimizer import _scalar_dtype, _to_scalar

__all__ = ["ASGD"]

_CAPTURABLE_DEVICES = ["cuda"]


class ASGD(_PerParameter):
    """ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
    maximize=False, differentiable=False, capturable=False), as torch.optim.ASGD.

    foreach=True runs the single-tensor rule too (PyTorch's foreach path groups the same arithmetic
    differently: equal up to rounding); capturable=True needs CUDA parameters (PyTorch's
    AssertionError otherwise) and then runs the same rule; differentiable=True is accepted but the
    step records no graph.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0:
                    for key in ("step", "eta", "mu"):
                        if not isinstance(p_state[key], flambeau.Tensor):
                            p_state[key] = flambeau.tensor(float(p_state[key]), dtype=_scalar_dtype(),
                                                           device=p.device)

    def _group_scalars(self, group):
        return (_to_scalar(group["lr"]),)

    def _single_tensor_step(self, group, params, hp):
        lr = hp[0]
        lambd, alpha, t0, wd = group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        capturable = group["capturable"]
        states = []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                dt = _scalar_dtype()
                state["step"] = flambeau.tensor(0.0, dtype=dt, device=p.device)
                state["eta"] = flambeau.tensor(float(lr), dtype=dt, device=p.device)
                state["mu"] = flambeau.tensor(1.0, dtype=dt, device=p.device)
                state["ax"] = flambeau.zeros_like(p)
            states.append(state)
        if group["foreach"] and group["differentiable"]:
            raise AssertionError("_foreach ops don't support autograd")
        for p, state in zip(params, states):
            grad = p.grad if not group["maximize"] else -p.grad
            step_t, eta, mu, ax = state["step"], state["eta"], state["mu"], state["ax"]
            if capturable and not (p.device.type == mu.device.type == eta.device.type == step_t.device.type
                                   and p.device.type in _CAPTURABLE_DEVICES):
                raise AssertionError("If capturable=True, params, mus, etas, and state_steps must be on "
                                     f"supported devices: {_CAPTURABLE_DEVICES}.")
            step_t.add_(1)
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            eta_value = eta.item()
            p.mul_(1 - lambd * eta_value)  # decay term
            p.add_(grad, alpha=-eta_value)  # update parameter
            # averaging
            mu_value = mu.item()
            if capturable or mu_value != 1:
                ax.add_(p.sub(ax).mul_(mu_value))
            else:
                ax.copy_(p)
            step = step_t.item()
            eta.fill_(lr / ((1 + lambd * lr * step) ** alpha))
            mu.fill_(1 / max(1, step - t0))
