"""CrossMapLRN2d: Lua Torch's cross-channel local response normalisation, which PyTorch keeps as a legacy module
(torch/nn/modules/_functions.py). Same running-sum recurrence as PyTorch's, over channels, so the values match its
quirk: the window sum of channel c starts at channel max(0, c - pre_pad + 1) except that channel 0's square, once
added, is never taken out (PyTorch subtracts the leaving channel only for c > pre_pad). Use LocalResponseNorm
for the usual definition. The loops run over channels with the batch and spatial dims vectorised."""
import flambeau
from ...autograd import Function
from .module import Module

__all__ = ["CrossMapLRN2d"]


class _CrossMapLRN2d(Function):
    @staticmethod
    def forward(ctx, input, size, alpha=1e-4, beta=0.75, k=1):
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
        channels = input.size(1)
        square = input.pow(2)
        pre_pad = int((size - 1) / 2 + 1)
        first = flambeau.zeros_like(square.select(1, 0))
        for c in range(min(pre_pad, channels)):
            first = first.add(square.select(1, c))
        scales = [first]
        for c in range(1, channels):
            cur = scales[-1]
            if c < channels - pre_pad + 1:
                cur = cur.add(square.select(1, c + pre_pad - 1), alpha=1)
            if c > pre_pad:
                cur = cur.add(square.select(1, c - pre_pad), alpha=-1)
            scales.append(cur)
        scale = flambeau.stack(scales, 1).mul_(alpha / size).add_(k)
        output = flambeau.pow(scale, -beta).mul_(input)
        ctx.size, ctx.alpha, ctx.beta = size, alpha, beta
        ctx.scale = scale
        ctx.save_for_backward(input, output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, output = ctx.saved_tensors
        size, scale = ctx.size, ctx.scale
        channels = input.size(1)
        cache_ratio_value = 2 * ctx.alpha * ctx.beta / size
        inverse_pre_pad = int(size - (size - 1) / 2)
        grad_input = flambeau.pow(scale, -ctx.beta).mul_(grad_output)
        # padded_ratio[:, inverse_pre_pad + c] = grad_output * output / scale, zero elsewhere
        n, _, h, w = input.shape
        padded = flambeau.zeros((n, channels + size - 1, h, w), dtype=input.dtype, device=input.device)
        padded[:, inverse_pre_pad:inverse_pre_pad + channels] = (grad_output * output).div_(scale)
        accum = padded[:, :size - 1].sum(1)
        columns = []
        for c in range(channels):
            accum = accum.add(padded[:, c + size - 1])
            columns.append(grad_input[:, c].addcmul(input[:, c], accum, value=-cache_ratio_value))
            accum = accum.add(padded[:, c], alpha=-1)
        return flambeau.stack(columns, 1), None, None, None, None


class CrossMapLRN2d(Module):
    """CrossMapLRN2d(size, alpha=1e-4, beta=0.75, k=1) on (N, C, H, W) inputs (see the module docstring)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return _CrossMapLRN2d.apply(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
