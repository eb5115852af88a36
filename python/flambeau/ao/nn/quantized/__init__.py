"""Quantized modules (torch.ao.nn.quantized): int8 inference on quantized tensors."""
from .modules import Quantize, DeQuantize, Linear, Conv2d, ReLU6, _quantize_weight  # noqa: F401
from . import dynamic  # noqa: F401
