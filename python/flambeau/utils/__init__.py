"""flambeau.utils."""
from . import data
from . import checkpoint
from . import dlpack
from ._swap import swap_tensors

__all__ = ["data", "checkpoint", "dlpack", "swap_tensors"]
