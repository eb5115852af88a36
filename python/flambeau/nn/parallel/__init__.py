"""flambeau.nn.parallel: DataParallel (single-process; see data_parallel.py)."""
from .data_parallel import DataParallel, data_parallel

__all__ = ["DataParallel", "data_parallel"]
