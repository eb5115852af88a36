"""torch.ao: quantization (eager mode) and its modules."""
from . import nn, quantization  # noqa: F401
