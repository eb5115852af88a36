"""Muon (Keller Jordan 2024) as torch.optim.Muon runs it: for each 2-D parameter, SGD momentum (Nesterov by
default) whose update is orthogonalised by a few quintic Newton-Schulz iterations before it is applied, with
decoupled weight decay and a shape-dependent learning-rate scale.

Same ops in the same order as PyTorch's single-tensor rule (torch/optim/_muon.py), so trajectories match:
the Newton-Schulz iteration runs in bfloat16, as PyTorch's does (that is what the constants were tuned for),
which makes the per-step update accurate to bfloat16 only; the momentum buffer and the parameter stay in their
own dtype."""
import math

import flambeau
from .optimizer import Optimizer, _to_scalar

__all__ = ["Muon"]

# Keller Jordan's constants (https://kellerjordan.github.io/posts/muon/), PyTorch's defaults
EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps, eps):
    """An approximate U V^T of grad = U S V^T: ns_steps iterations X <- a X + (b A + c A^2) X with A = X X^T,
    from X = grad / ||grad||_F (so that the spectral norm is <= 1), on the wide orientation (fewer rows) so that
    A is the smaller Gram matrix. The coefficients push singular values towards ~[0.5, 1.5] quickly rather than
    converge exactly, as in PyTorch."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    ortho = grad.bfloat16()
    tall = grad.size(0) > grad.size(1)
    if tall:
        ortho = ortho.T
    ortho.div_(ortho.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram = ortho @ ortho.T
        gram_update = flambeau.addmm(gram, gram, gram, beta=b, alpha=c)
        ortho = flambeau.addmm(ortho, gram_update, ortho, beta=a)
    if tall:
        ortho = ortho.T
    return ortho


def _adjust_lr(lr, adjust_lr_fn, param_shape):
    """'original' (the default, Keller's): lr * sqrt(max(1, A / B)); 'match_rms_adamw' (Moonshot's):
    lr * 0.2 * sqrt(max(A, B)), so that Muon can reuse AdamW's lr and weight decay."""
    A, B = param_shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, A / B))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(A, B))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None).

    Only 2-D parameters (hidden-layer weight matrices); biases, embeddings and the like go to another
    optimizer such as AdamW. State per parameter: 'momentum_buffer'."""

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C), eps=EPS, ns_steps=DEFAULT_NS_STEPS,
                 adjust_lr_fn=None):
        if isinstance(lr, flambeau.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                    "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps,
                    "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError("Muon only supports 2D parameters whereas we found a parameter with size: "
                                     f"{p.size()}")

    def step(self, closure=None):
        """One Muon update of every parameter that has a gradient; `closure` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with flambeau.enable_grad():
                loss = closure()
        with flambeau.no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group):
        lr = _to_scalar(group["lr"])
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad
            if p.is_complex():
                raise RuntimeError("Muon does not support complex parameters")
            if grad.is_sparse:
                raise RuntimeError("Muon does not support sparse gradients")
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = flambeau.zeros_like(grad)
            if grad.ndim != 2:
                raise ValueError("Param gradient must be a 2D matrix")
            buf = state["momentum_buffer"]
            # B <- mu B + (1 - mu) g, as a lerp (PyTorch's form: the buffer is an EMA of the gradients)
            buf.lerp_(grad, 1 - momentum)
            update = grad.lerp(buf, momentum) if group["nesterov"] else buf
            update = _zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"],
                                                 group["eps"])
            adjusted_lr = _adjust_lr(lr, group["adjust_lr_fn"], p.shape)
            p.mul_(1 - lr * weight_decay)
            p.add_(update, alpha=-adjusted_lr)
