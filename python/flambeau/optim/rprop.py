"""Rprop (resilient backpropagation, Riedmiller & Braun 1993): PyTorch's single-tensor update rule.

Each element keeps its own step size, multiplied by etaplus while the gradient keeps its sign and
by etaminus when it flips (the step of a flip is skipped and its gradient forgotten), clamped to
step_sizes; the parameter moves by -sign(grad) * step_size. Written with the in-place ops of
torch.optim's `_single_tensor_rprop` in the same order, so trajectories match PyTorch's. The
foreach path of PyTorch computes the same numbers (it only reorders the negation of maximize).
State per parameter, with PyTorch's keys: step, prev (the last gradient, zeroed where it flipped),
step_size.
"""
import flambeau
from .adaptive import _PerParameter, _check_lr
from .optimizer import _scalar_dtype, _to_scalar

__all__ = ["Rprop"]

_CAPTURABLE_DEVICES = ["cuda"]


class Rprop(_PerParameter):
    """Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
    foreach=None, maximize=False, differentiable=False), as torch.optim.Rprop.

    foreach selects nothing here (both of PyTorch's paths give the same values); capturable=True
    needs CUDA parameters (PyTorch's AssertionError otherwise); differentiable=True is accepted but
    the step records no graph.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], flambeau.Tensor):
                    p_state["step"] = flambeau.tensor(
                        float(p_state["step"]), dtype=_scalar_dtype(),
                        device=p.device if group["capturable"] else None)

    def _group_scalars(self, group):
        return (_to_scalar(group["lr"]),)

    def _single_tensor_step(self, group, params, hp):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        capturable = group["capturable"]
        states = []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = (flambeau.tensor(0.0, dtype=_scalar_dtype(), device=p.device)
                                 if capturable else self._step_tensor())
                state["prev"] = flambeau.zeros_like(p)
                state["step_size"] = flambeau.full_like(p.grad, hp[0])
            states.append(state)
        if group["foreach"] and group["differentiable"]:
            raise AssertionError("_foreach ops don't support autograd")
        for p, state in zip(params, states):
            grad = p.grad if not group["maximize"] else -p.grad
            prev, step_size, step = state["prev"], state["step_size"], state["step"]
            if capturable and not (p.device.type == step.device.type
                                   and p.device.type in _CAPTURABLE_DEVICES):
                raise AssertionError("If capturable=True, params and state_steps must be on supported "
                                     f"devices: {_CAPTURABLE_DEVICES}.")
            step.add_(1)
            sign = grad.mul(prev).sign()
            sign.masked_fill_(sign.gt(0), etaplus)
            sign.masked_fill_(sign.lt(0), etaminus)
            sign.masked_fill_(sign.eq(0), 1)
            # update the step sizes
            step_size.mul_(sign).clamp_(step_size_min, step_size_max)
            # where the gradient flipped sign: no step, and forget it (the next step starts afresh)
            grad = grad.clone()
            grad.masked_fill_(sign.eq(etaminus), 0)
            p.addcmul_(grad.sign(), step_size, value=-1)
            prev.copy_(grad)
