"""QuantStub / DeQuantStub / QuantWrapper (torch.ao.quantization.stubs): where a float model's
quantized region starts and ends; convert() swaps them for nnq.Quantize / nnq.DeQuantize."""
from flambeau import nn


class QuantStub(nn.Module):
    """Identity before convert(); becomes nnq.Quantize with the observed scale and zero point."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class DeQuantStub(nn.Module):
    """Identity before convert(); becomes nnq.DeQuantize."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class QuantWrapper(nn.Module):
    """quant -> module -> dequant around a float module."""

    def __init__(self, module):
        super().__init__()
        qconfig = getattr(module, "qconfig", None)
        self.add_module("quant", QuantStub(qconfig))
        self.add_module("dequant", DeQuantStub(qconfig))
        self.add_module("module", module)
        self.train(module.training)

    def forward(self, X):
        return self.dequant(self.module(self.quant(X)))
