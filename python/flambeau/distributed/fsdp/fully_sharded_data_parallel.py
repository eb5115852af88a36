"""torch.distributed.fsdp.fully_sharded_data_parallel: the module FSDP's names live in (accelerate imports them
from here); see the package docstring: the classes exist, building one raises."""
from . import (FullyShardedDataParallel, ShardingStrategy, BackwardPrefetch, CPUOffload, MixedPrecision,  # noqa: F401
               StateDictType, FullStateDictConfig, ShardedStateDictConfig, FullOptimStateDictConfig)
