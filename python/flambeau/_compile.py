"""torch.compile without a compiler: flambeau runs eagerly, so compiling changes nothing about what is
computed. What scripts can observe is kept: compiling a module returns an OptimizedModule wrapping it
(as PyTorch's), whose `_orig_mod` is the original module, whose state_dict and parameter names carry
PyTorch's '_orig_mod.' prefix (checkpoints saved from it load the same way as PyTorch's), and whose
attributes and train/eval mode are the original's. Compiling a function returns the function."""
import functools

from .nn.modules.module import Module


class OptimizedModule(Module):
    """What flambeau.compile(module) returns: calls the wrapped module as it is."""

    def __init__(self, mod):
        super().__init__()
        self._orig_mod = mod  # a child module: named "_orig_mod" in state_dict keys, as in PyTorch

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)

    @property
    def training(self):
        return self._orig_mod.training

    @training.setter
    def training(self, value):
        # Always the wrapped module's mode (PyTorch); assigned once by Module.__init__ before it exists.
        mods = self.__dict__.get("_modules")
        if mods and "_orig_mod" in mods:
            mods["_orig_mod"].training = value

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            mods = self.__dict__.get("_modules", {})
            if "_orig_mod" in mods:
                return getattr(mods["_orig_mod"], name)
            raise


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """flambeau.compile(model) -> OptimizedModule for a module, the function itself for a function;
    flambeau.compile(**options) -> a decorator doing the same."""
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable)
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if isinstance(model, Module):
        return OptimizedModule(model)
    if not callable(model):
        raise RuntimeError(f"torch.compile: expected a callable, got {type(model).__name__}")
    return model
