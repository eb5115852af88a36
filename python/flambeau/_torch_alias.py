"""`torch` as another name for flambeau, so that a PyTorch script runs unchanged, its `import torch.nn as nn`
and `from torch.utils.data import DataLoader` lines included (with `import flambeau as torch` those lines
would still import PyTorch, or fail where it is not installed).

    python -m flambeau.run train.py [args...]      # the script sees flambeau wherever it says torch
    flambeau.install_torch_alias()                 # the same from inside a program or a notebook

A finder on sys.meta_path answers `torch` and every `torch.<sub>` with the flambeau module of the same
path, the same module object under both names (so `torch.nn is flambeau.nn`, and a module's state is never
duplicated). A `torch.<sub>` flambeau lacks raises ModuleNotFoundError naming both. It refuses to install
when the real PyTorch is already imported: the two cannot share the name.
"""
import importlib
import importlib.abc
import importlib.util
import sys

_PREFIX = "torch"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, module):
        self._module = module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        pass  # already executed under its flambeau name


class _TorchAliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        real = "flambeau" + fullname[len(_PREFIX):]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name != real:
                raise
            raise ModuleNotFoundError(f"No module named '{fullname}': flambeau has no '{real}' (running with "
                                      f"the torch alias: flambeau.install_torch_alias)", name=fullname) from None
        spec = importlib.util.spec_from_loader(fullname, _AliasLoader(module))
        return spec


_finder = None


def install_torch_alias():
    """Makes `import torch` and `import torch.<sub>` give flambeau's modules (see the module docstring)."""
    global _finder
    if _finder is not None:
        return
    current = sys.modules.get(_PREFIX)
    if current is not None and not getattr(current, "__name__", "").startswith("flambeau"):
        raise RuntimeError("install_torch_alias: PyTorch is already imported in this process; flambeau cannot "
                           "take the name 'torch' (install the alias before anything imports torch)")
    import flambeau
    _finder = _TorchAliasFinder()
    sys.meta_path.insert(0, _finder)
    sys.modules[_PREFIX] = flambeau
    # the flambeau submodules already imported answer to their torch names at once
    for name, mod in list(sys.modules.items()):
        if name.startswith("flambeau.") and mod is not None:
            sys.modules.setdefault(_PREFIX + name[len("flambeau"):], mod)


def uninstall_torch_alias():
    """Removes the finder and the torch.* names it made (modules already bound in user code stay as they are)."""
    global _finder
    if _finder is None:
        return
    sys.meta_path.remove(_finder)
    _finder = None
    for name in [n for n in sys.modules if n == _PREFIX or n.startswith(_PREFIX + ".")]:
        if getattr(sys.modules[name], "__name__", "").startswith("flambeau"):
            del sys.modules[name]
