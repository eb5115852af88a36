"""Adagrad with lr_decay and initial_accumulator_value (PyTorch's update rule)."""
import flambeau
from . import _fused
from .optimizer import Optimizer, _addcdiv_, _addcmul_, _to_scalar

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    _fused_sparse_grad_error = "`fused` does not support sparse grad or complex param"
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)
        # like PyTorch, the state is created eagerly
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = self._step_tensor(group["fused"], p.device)
                init_value = group["initial_accumulator_value"]
                state["sum"] = flambeau.full_like(p, init_value)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], flambeau.Tensor):
                    p_state["step"] = self._step_tensor(group["fused"], p.device, p_state["step"])

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss.

        Per param group, one call of the fused kernel (optim/_fused.py) when it takes the group's
        tensors, else the per-parameter path (_single_tensor_step): Optimizer._step_groups."""
        return self._step_groups(closure)

    _fused_differentiable_error = "adagrad with fused=True does not support differentiable=True"
    _foreach_differentiable_error = True

    def _group_scalars(self, group):
        return (_to_scalar(group["lr"]),)

    def _fused_state(self, group, params):
        states = [self.state[p] for p in params]
        return ([s["sum"] for s in states],), [s["step"] for s in states]

    def _fused_update(self, group, params, grads, state_lists, steps, hp):
        # the kernel increments each state['step'] itself
        _fused.fused_adagrad_(params, grads, state_lists[0], steps, lr=hp[0], lr_decay=group["lr_decay"],
                              weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])

    def _single_tensor_step(self, group, params, hp):
        """PyTorch's single-tensor Adagrad rule, op by op (CUDA params, differentiable=True,
        foreach=False, and whatever else the fused kernel does not take)."""
        lr = hp[0]
        lr_decay = group["lr_decay"]
        weight_decay = group["weight_decay"]
        eps = group["eps"]
        maximize = group["maximize"]
        for p in params:
            state = self.state[p]
            state_sum = state["sum"]
            step_t = state["step"]
            step_t.add_(1)
            step = step_t.item()
            grad = p.grad if not maximize else -p.grad
            if grad.is_sparse:
                if weight_decay != 0:
                    raise RuntimeError("weight_decay option is not compatible with sparse gradients")
                _sparse_step(p, grad, state_sum, lr / (1 + (step - 1) * lr_decay), eps)
                continue
            if weight_decay != 0:
                grad = grad + p * weight_decay
            clr = lr / (1 + (step - 1) * lr_decay)
            _addcmul_(state_sum, grad, grad, value=1)
            std = state_sum.sqrt().add_(eps)
            _addcdiv_(p, grad, std, value=-clr)


def _sparse_step(p, grad, state_sum, clr, eps):
    """torch's Adagrad rule for a sparse gradient: on the rows of the coalesced gradient only,
    sum += g^2, p -= clr * g / (sqrt(sum) + eps)."""
    from flambeau import _sparse
    grad = grad.coalesce()  # the update is non-linear: indices must be unique
    values = grad._values()
    state_sum.add_(_sparse._make(grad._indices(), values.pow(2), grad.shape))
    std_values = _sparse.sparse_mask(state_sum, grad)._values().sqrt_().add_(eps)
    p.add_(_sparse._make(grad._indices(), values / std_values, grad.shape), alpha=-clr)
