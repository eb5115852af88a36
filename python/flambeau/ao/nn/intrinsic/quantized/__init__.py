"""Fused quantized modules (torch.ao.nn.intrinsic.quantized): the ReLU clamps the requantized output
at the output zero point inside the kernel (as fbgemm's fused ReLU)."""
from flambeau.ao.nn.quantized import modules as _q


class LinearReLU(_q.Linear):
    _RELU = True

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        return super().from_float(mod, use_precomputed_fake_quant)


class ConvReLU2d(_q.Conv2d):
    _RELU = True

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        return super().from_float(mod, use_precomputed_fake_quant)
