"""Fused float modules (torch.ao.nn.intrinsic): what fuse_modules makes of conv-relu, linear-relu, and
what prepare/convert turn into one QAT / quantized module."""
from flambeau import nn


class _FusedModule(nn.Sequential):
    pass


class LinearReLU(_FusedModule):
    def __init__(self, linear, relu):
        super().__init__(linear, relu)


class ConvReLU2d(_FusedModule):
    def __init__(self, conv, relu):
        super().__init__(conv, relu)


from . import qat, quantized  # noqa: E402,F401
