"""torch.distributed.tensor's names, without DTensor itself: flambeau has data parallelism
(DistributedDataParallel), not tensor parallelism over a DeviceMesh.

Libraries import DTensor and the placements as soon as torch.distributed.is_available() is True (transformers'
modeling_utils does, to test `isinstance(t, DTensor)`), so the names exist: no flambeau tensor is a DTensor,
the placements are plain descriptions, and everything that would build a DTensor or a DeviceMesh raises
NotImplementedError saying so.
"""
from .placement_types import Placement, Shard, Replicate, Partial  # noqa: F401
from ..device_mesh import DeviceMesh, init_device_mesh  # noqa: F401
from ..device_mesh import _no_tensor_parallelism

__all__ = ["DTensor", "DeviceMesh", "init_device_mesh", "Placement", "Shard", "Replicate", "Partial",
           "distribute_tensor", "distribute_module"]


class DTensor:
    """Never instantiated: `isinstance(x, DTensor)` is False for every flambeau tensor."""

    def __new__(cls, *args, **kwargs):
        _no_tensor_parallelism("DTensor")

    @staticmethod
    def from_local(*args, **kwargs):
        _no_tensor_parallelism("DTensor.from_local")


def distribute_tensor(*args, **kwargs):
    _no_tensor_parallelism("distribute_tensor")


def distribute_module(*args, **kwargs):
    _no_tensor_parallelism("distribute_module")
