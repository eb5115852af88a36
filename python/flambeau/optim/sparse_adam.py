"""SparseAdam: Adam's moments and update applied only to the rows a sparse gradient touches
(nn.Embedding(sparse=True)'s weight), PyTorch's rule (torch/optim/_functional.py sparse_adam)."""
import math

import flambeau
from flambeau import _sparse
from .optimizer import Optimizer, _to_scalar

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)
        sparse_params = []
        for index, group in enumerate(self.param_groups):
            for d_index, p in enumerate(group["params"]):
                if p.is_sparse:
                    sparse_params.append([index, d_index])
        if sparse_params:
            raise ValueError(f"Sparse params at indices {sparse_params}: SparseAdam requires dense parameter tensors")

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with flambeau.enable_grad():
                loss = closure()
        with flambeau.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                maximize = group.get("maximize", False)
                lr = _to_scalar(group["lr"])
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if not p.grad.is_sparse:
                        raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = flambeau.zeros_like(p, memory_format=flambeau.preserve_format)
                        state["exp_avg_sq"] = flambeau.zeros_like(p, memory_format=flambeau.preserve_format)
                    state["step"] += 1
                    _update(p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], lr=lr,
                            beta1=beta1, beta2=beta2, eps=group["eps"], maximize=maximize)
        return loss


def _update(param, grad, exp_avg, exp_avg_sq, step, *, lr, beta1, beta2, eps, maximize):
    """One parameter's step, in torch's order of operations (moments updated as old + (1 - b) *
    (new - old) on the gradient's rows; bias corrections folded into the step size)."""
    grad = grad if not maximize else -grad
    grad = grad.coalesce()  # the update is non-linear: indices must be unique
    indices = grad._indices()
    values = grad._values()
    if values.numel() == 0:
        return
    size = grad.shape

    def make_sparse(v):
        return _sparse._make(indices, v, size)

    old_exp_avg_values = _sparse.sparse_mask(exp_avg, grad)._values()
    exp_avg_update_values = values.sub(old_exp_avg_values).mul_(1 - beta1)
    exp_avg.add_(make_sparse(exp_avg_update_values))
    old_exp_avg_sq_values = _sparse.sparse_mask(exp_avg_sq, grad)._values()
    exp_avg_sq_update_values = values.pow(2).sub_(old_exp_avg_sq_values).mul_(1 - beta2)
    exp_avg_sq.add_(make_sparse(exp_avg_sq_update_values))

    numer = exp_avg_update_values.add_(old_exp_avg_values)
    exp_avg_sq_update_values.add_(old_exp_avg_sq_values)
    denom = exp_avg_sq_update_values.sqrt_().add_(eps)

    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr * math.sqrt(bias_correction2) / bias_correction1
    param.add_(make_sparse(-step_size * numer.div_(denom)))
