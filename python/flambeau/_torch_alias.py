"""`torch` as another name for flambeau, so that a PyTorch script runs unchanged, its `import torch.nn as nn`
and `from torch.utils.data import DataLoader` lines included (with `import flambeau as torch` those lines
would still import PyTorch, or fail where it is not installed).

    python -m flambeau.run train.py [args...]      # the script sees flambeau wherever it says torch
    flambeau.install_torch_alias()                 # the same from inside a program or a notebook

A finder on sys.meta_path answers `torch` and every `torch.<sub>` with the flambeau module of the same
path, the same module object under both names (so `torch.nn is flambeau.nn`, and a module's state is never
duplicated). A `torch.<sub>` flambeau lacks raises ModuleNotFoundError naming both. It refuses to install
when the real PyTorch is already imported: the two cannot share the name.

`torchvision` and every `torchvision.<sub>` are answered the same way with flambeau.vision's modules (so
`from torchvision import datasets, transforms` gives flambeau.vision.datasets and flambeau.transforms); the
alias refuses to install when the real torchvision is imported. `torch.vision` is no PyTorch module and is
not answered.

Package metadata. Libraries decide whether torch is there from its distribution, not its module:
transformers, accelerate and diffusers call `importlib.metadata.version("torch")` and disable every model
when it raises. Where no PyTorch distribution is installed, the same finder answers those queries with a
distribution named torch whose version is the PyTorch release whose API and numerics flambeau follows, tagged
as flambeau's (`2.13.0+flambeau.0.1.0`: a PEP 440 local version, so version checks see 2.13.0). Where the real
one is installed, its metadata is left as it is. torchvision gets no stand-in: a library that sees a
torchvision distribution assumes its dependencies (Pillow) and its fast image paths, and transformers then
fails to import where Pillow is missing; flambeau.vision still answers `import torchvision`.
"""
import importlib
import importlib.abc
import importlib.metadata
import importlib.util
import sys

# The PyTorch release flambeau's API and tests follow (the oracle of tests/).
TORCH_API_VERSION = "2.13.0"

_PREFIX = "torch"
# (name a script imports, flambeau module answering it); the longer name first, as the first match wins
_ALIASES = (("torchvision", "flambeau.vision"), ("torch", "flambeau"))


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, module):
        self._module = module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        pass  # already executed under its flambeau name


class _AliasDistribution(importlib.metadata.Distribution):
    """The metadata of the torch distribution flambeau stands in for: name and version only."""

    def __init__(self, name, version):
        self._text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" \
                     f"Summary: flambeau under the name {name} (flambeau.install_torch_alias)\n"

    def read_text(self, filename):
        return self._text if filename in ("METADATA", "PKG-INFO") else None

    def locate_file(self, path):
        import flambeau
        return importlib.metadata.PackagePath(flambeau.__file__).parent / path


def _stand_in_distributions():
    """{normalised name: distribution}: torch's where no real PyTorch distribution is installed."""
    import flambeau
    try:
        importlib.metadata.distribution("torch")
        return {}
    except importlib.metadata.PackageNotFoundError:
        return {"torch": _AliasDistribution("torch", f"{TORCH_API_VERSION}+flambeau.{flambeau.__version__}")}


class _TorchAliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._distributions = _stand_in_distributions()  # before the finder is on sys.meta_path

    def find_distributions(self, context=importlib.metadata.DistributionFinder.Context()):
        name = context.name
        if name is None:
            return iter(self._distributions.values())
        key = name.lower().replace("-", "_").replace(".", "_")
        return iter([self._distributions[key]] if key in self._distributions else [])

    def find_spec(self, fullname, path=None, target=None):
        real = _real_name(fullname)
        if real is None:
            return None
        if fullname.startswith(_PREFIX + ".") and _under(real, "flambeau.vision"):
            # torch.vision would be a second name for flambeau.vision, which PyTorch does not have
            raise ModuleNotFoundError(f"No module named '{fullname}' (flambeau.vision answers to torchvision)",
                                      name=fullname)
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name != real:
                raise
            raise ModuleNotFoundError(f"No module named '{fullname}': flambeau has no '{real}' (running with "
                                      f"the torch alias: flambeau.install_torch_alias)", name=fullname) from None
        spec = importlib.util.spec_from_loader(fullname, _AliasLoader(module))
        return spec


def _under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def _real_name(fullname):
    """The flambeau module answering the name fullname, or None when no alias covers it."""
    for alias, real in _ALIASES:
        if _under(fullname, alias):
            return real + fullname[len(alias):]
    return None


def _alias_name(flambeau_name):
    """The name a script imports for flambeau module flambeau_name (flambeau.vision.x -> torchvision.x)."""
    for alias, real in _ALIASES:
        if _under(flambeau_name, real):
            return alias + flambeau_name[len(real):]
    return None


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
    vision = sys.modules.get("torchvision")
    if vision is not None and not getattr(vision, "__name__", "").startswith("flambeau"):
        raise RuntimeError("install_torch_alias: torchvision is already imported in this process; flambeau.vision "
                           "cannot take the name 'torchvision' (install the alias before anything imports it)")
    import flambeau
    _finder = _TorchAliasFinder()
    sys.meta_path.insert(0, _finder)
    sys.modules[_PREFIX] = flambeau
    # the flambeau submodules already imported answer to their torch names at once
    for name, mod in list(sys.modules.items()):
        if name.startswith("flambeau.") and mod is not None:
            sys.modules.setdefault(_alias_name(name), mod)


def uninstall_torch_alias():
    """Removes the finder and the torch.* names it made (modules already bound in user code stay as they are)."""
    global _finder
    if _finder is None:
        return
    sys.meta_path.remove(_finder)
    _finder = None
    for name in [n for n in sys.modules if any(_under(n, alias) for alias, _ in _ALIASES)]:
        if getattr(sys.modules[name], "__name__", "").startswith("flambeau"):
            del sys.modules[name]
