"""flambeau.utils."""
from . import data
from . import checkpoint
from . import dlpack
from ._swap import swap_tensors

__all__ = ["data", "checkpoint", "dlpack", "swap_tensors"]

# Submodules that `import torch` makes reachable as attributes (torch.utils._pytree, torch.utils.hooks)
# without an import of their own: loaded on first access here, so `import flambeau` does not pay for them.
_LAZY = frozenset(("_pytree", "hooks"))


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
