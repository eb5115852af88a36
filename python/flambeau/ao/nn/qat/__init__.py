"""QAT modules (torch.ao.nn.qat): float modules whose weight is fake-quantized in forward."""
from .modules import Linear, Conv2d  # noqa: F401
