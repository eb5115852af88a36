"""flambeau.signal: torch.signal (its windows submodule)."""
from . import windows  # noqa: F401

__all__ = ["windows"]
