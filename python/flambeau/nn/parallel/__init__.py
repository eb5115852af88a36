"""flambeau.nn.parallel: DataParallel (single-process; see data_parallel.py) and DistributedDataParallel
(several processes over flambeau.distributed; see distributed.py)."""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "data_parallel", "DistributedDataParallel"]
