"""torch.quantization: the old name PyTorch keeps for torch.ao.quantization (the same module here)."""
import sys

from .ao import quantization as _ao_quantization

sys.modules[__name__] = _ao_quantization
