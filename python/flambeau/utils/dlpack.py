"""flambeau.utils.dlpack: torch.utils.dlpack (exchange tensors with numpy, PyTorch, JAX, CuPy, ...
through DLPack capsules or objects implementing __dlpack__, sharing memory)."""
from enum import IntEnum

from .. import _C
from .._creation import from_dlpack

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(IntEnum):
    """DLPack's device type codes (flambeau produces kDLCPU and kDLCUDA)."""
    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


def to_dlpack(tensor):
    """A 'dltensor' capsule sharing the tensor's memory (consumable once). Unlike Tensor.__dlpack__, and
    as in PyTorch, a tensor that requires grad is exported too (its data, not its graph)."""
    if tensor.device.type != "cpu":
        from .. import cuda
        cuda.synchronize(tensor.device)  # the consumer's stream must see finished data
    return _C.to_dlpack(tensor._impl)
