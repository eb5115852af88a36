"""flambeau.utils."""
from . import data
from . import checkpoint

__all__ = ["data", "checkpoint"]
