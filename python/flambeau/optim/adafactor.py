"""Adafactor (Shazeer & Stern 2018) as torch.optim.Adafactor runs it on the CPU: PyTorch's single-tensor rule,
op by op, so trajectories match. A parameter with two or more dims keeps only row and column means of the
squared gradient over its last two dims (memory O(n + m) instead of O(n m)); a vector keeps the full second
moment. The relative step size alpha = max(eps2, RMS(param)) * min(lr, 1 / sqrt(t)), beta2_t = 1 - t^beta2_decay,
and the update is clipped to RMS <= d. No first moment, as in PyTorch's version."""
import flambeau
from .adaptive import _PerParameter, _check_lr
from .optimizer import _lerp_

__all__ = ["Adafactor"]


class Adafactor(_PerParameter):
    """Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *, foreach=None,
    maximize=False); eps[0] None means finfo(param.dtype).eps."""

    _flag_defaults = {"foreach": None, "maximize": False}

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        _check_lr(lr)
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize))

    def _group_scalars(self, group):
        # A tensor lr stays a 0-d tensor, as in PyTorch: alpha and the weight-decay factor are then computed
        # in the lr's dtype (float32), which rounds them like PyTorch does.
        lr = group["lr"]
        return (lr.reshape(()) if isinstance(lr, flambeau.Tensor) else lr,)

    def _init_state(self, state, p):
        state["step"] = self._step_tensor()
        if p.grad.dim() > 1:
            # row and column factors of the second moment, reduced along the last and the penultimate dim
            row_shape = list(p.grad.shape)
            row_shape[-1] = 1
            state["row_var"] = p.grad.new_zeros(row_shape)
            col_shape = list(p.grad.shape)
            col_shape[-2] = 1
            state["col_var"] = p.grad.new_zeros(col_shape)
        else:
            state["variance"] = flambeau.zeros_like(p.grad)

    def _update(self, group, lr, p, grad, state, step):
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = flambeau.finfo(p.dtype).eps
        one_minus_beta2_t = step ** group["beta2_decay"]
        rho_t = min(lr, 1 / (step ** 0.5))
        alpha = max(eps2, p.norm(2).item() / (p.numel() ** 0.5)) * rho_t
        if group["weight_decay"] != 0:
            p.mul_(1 - lr * group["weight_decay"])
        if grad.dim() > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            row_mean = flambeau.norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
            _lerp_(row_var, row_mean, one_minus_beta2_t)
            col_mean = flambeau.norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
            _lerp_(col_var, col_mean, one_minus_beta2_t)
            var_estimate = row_var @ col_var
            var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        else:
            variance = state["variance"]
            _lerp_(variance, grad * grad, one_minus_beta2_t)
            var_estimate = variance.clone()
        # eps1 squared: the square root below brings it back to eps1's magnitude
        update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_()
        update.mul_(grad)
        denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * group["d"]))
        step_size = -alpha / denom
        p.add_(update, alpha=step_size.item() if isinstance(step_size, flambeau.Tensor) else step_size)
