"""The `_impl` of tensors kept off the dense path (sparse COO/CSR, quantized): shape, dtype and device
only, which generic code reads (t.shape, t.dtype, the engine's shape checks). Anything else a dense op
would need (strides, data) raises NotImplementedError through the subclass's __getattr__, so a dense op
handed such a tensor fails loudly instead of reading memory."""
import math


class MetaOnlyImpl:
    __slots__ = ("shape", "dtype", "device")

    def __init__(self, shape, dtype, device):
        self.shape = shape
        self.dtype = dtype
        self.device = device

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def numel(self):
        return math.prod(self.shape)
