"""torch.distributed.fsdp's names, without sharded data parallelism: flambeau trains data-parallel with
DistributedDataParallel. The classes exist for code that tests `isinstance(m, FullyShardedDataParallel)`
once torch.distributed.is_available() is True (transformers' generate does); building one raises
NotImplementedError."""
import enum

from ..device_mesh import _no_tensor_parallelism

__all__ = ["FullyShardedDataParallel", "FSDPModule", "fully_shard", "ShardingStrategy", "BackwardPrefetch",
           "CPUOffload", "MixedPrecision", "StateDictType"]


def _no_fsdp(name):
    raise NotImplementedError(f"flambeau.distributed has no {name}: no fully sharded data parallelism. Train "
                              "data-parallel with flambeau.nn.parallel.DistributedDataParallel.")


class FullyShardedDataParallel:
    """Never instantiated (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        _no_fsdp("FullyShardedDataParallel")


class FSDPModule:
    pass


def fully_shard(*args, **kwargs):
    _no_fsdp("fully_shard")


class ShardingStrategy(enum.Enum):
    FULL_SHARD = enum.auto()
    SHARD_GRAD_OP = enum.auto()
    NO_SHARD = enum.auto()
    HYBRID_SHARD = enum.auto()
    _HYBRID_SHARD_ZERO2 = enum.auto()


class BackwardPrefetch(enum.Enum):
    BACKWARD_PRE = enum.auto()
    BACKWARD_POST = enum.auto()


class StateDictType(enum.Enum):
    FULL_STATE_DICT = enum.auto()
    LOCAL_STATE_DICT = enum.auto()
    SHARDED_STATE_DICT = enum.auto()


class CPUOffload:
    def __init__(self, offload_params=False):
        self.offload_params = offload_params


class MixedPrecision:
    def __init__(self, param_dtype=None, reduce_dtype=None, buffer_dtype=None, **kwargs):
        self.param_dtype, self.reduce_dtype, self.buffer_dtype = param_dtype, reduce_dtype, buffer_dtype


del _no_tensor_parallelism
