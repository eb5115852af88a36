"""torch.ao.nn: quantized, QAT and fused (intrinsic) modules."""
from . import intrinsic, qat, quantized  # noqa: F401
