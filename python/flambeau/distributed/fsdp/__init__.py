"""torch.distributed.fsdp's names, without sharded data parallelism: flambeau trains data-parallel with
DistributedDataParallel. The classes exist for code that tests `isinstance(m, FullyShardedDataParallel)`
once torch.distributed.is_available() is True (transformers' generate does); building one raises
NotImplementedError."""
import enum

from ..device_mesh import _no_tensor_parallelism

__all__ = ["FullyShardedDataParallel", "FSDPModule", "fully_shard", "ShardingStrategy", "BackwardPrefetch",
           "CPUOffload", "MixedPrecision", "StateDictType", "FullStateDictConfig", "ShardedStateDictConfig",
           "FullOptimStateDictConfig", "MixedPrecisionPolicy", "OffloadPolicy", "CPUOffloadPolicy"]


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


class FullStateDictConfig:
    def __init__(self, offload_to_cpu=False, rank0_only=False):
        self.offload_to_cpu, self.rank0_only = offload_to_cpu, rank0_only


class FullOptimStateDictConfig(FullStateDictConfig):
    pass


class ShardedStateDictConfig:
    def __init__(self, offload_to_cpu=False, _use_dtensor=False):
        self.offload_to_cpu = offload_to_cpu


class MixedPrecisionPolicy:
    """fully_shard's (FSDP2) mixed-precision settings."""

    def __init__(self, param_dtype=None, reduce_dtype=None, output_dtype=None, cast_forward_inputs=True):
        self.param_dtype, self.reduce_dtype, self.output_dtype = param_dtype, reduce_dtype, output_dtype
        self.cast_forward_inputs = cast_forward_inputs


class OffloadPolicy:
    pass


class CPUOffloadPolicy(OffloadPolicy):
    def __init__(self, pin_memory=True):
        self.pin_memory = pin_memory


del _no_tensor_parallelism
