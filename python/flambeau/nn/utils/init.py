"""skip_init: build a module without running its parameter initialisation (PyTorch's
torch.nn.utils.skip_init)."""
import inspect
import threading
from contextlib import contextmanager

from .. import init as _init
from ..modules.module import Module

__all__ = ["skip_init"]

# the in-place initialisers of nn.init that module constructors call
_INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
                 "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
                 "orthogonal_", "sparse_")
_lock = threading.RLock()


def _leave_unchanged(tensor, *args, **kwargs):
    return tensor


@contextmanager
def _no_initialisation():
    with _lock:
        saved = {name: getattr(_init, name) for name in _INITIALISERS if hasattr(_init, name)}
        try:
            for name in saved:
                setattr(_init, name, _leave_unchanged)
            yield
        finally:
            for name, fn in saved.items():
                setattr(_init, name, fn)


def skip_init(module_cls, *args, **kwargs):
    """Instantiate `module_cls(*args, **kwargs)` with its parameters and buffers allocated on
    `device` (default 'cpu') but left uninitialised (their values are arbitrary). The class must
    accept a `device` argument.

    PyTorch builds the module on the 'meta' device and calls to_empty(); here the module is built on
    `device` while the nn.init initialisers are no-ops (flambeau's meta tensors answer only the ops
    _meta.py has shape rules for, and a constructor may run others), then
    to_empty() gives it fresh uninitialised storage. Initialisation done without nn.init (a
    constructor filling a tensor itself) still runs but its values are discarded, as in PyTorch."""
    if not isinstance(module_cls, type) or not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    if final_device is None:
        final_device = "cpu"
    with _no_initialisation():
        module = module_cls(*args, device=final_device, **kwargs)
    return module.to_empty(device=final_device)
