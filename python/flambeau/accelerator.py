"""torch.accelerator: the device-agnostic view of the current accelerator, which PyTorch's tutorials
now open with:

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"

flambeau's only accelerator is CUDA, so each call is flambeau.cuda's; without a usable GPU the calls
that need one raise PyTorch's RuntimeError.
"""
import contextlib

import flambeau

__all__ = ["current_accelerator", "current_device_idx", "current_device_index", "device_count",
           "device_index", "empty_cache", "is_available", "max_memory_allocated", "memory_allocated",
           "memory_reserved", "reset_peak_memory_stats", "set_device_idx", "set_device_index",
           "synchronize"]


def is_available():
    return bool(flambeau.cuda.is_available())


def current_accelerator(check_available=False):
    """device('cuda') when flambeau is built with CUDA (and, with check_available, a GPU is usable);
    None otherwise."""
    if not flambeau.cuda.is_built() or (check_available and not is_available()):
        return None
    return flambeau.device("cuda")


def device_count():
    return flambeau.cuda.device_count() if is_available() else 0


def _require():
    if not is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")


def current_device_index():
    _require()
    return flambeau.cuda.current_device()


def set_device_index(device):
    _require()
    flambeau.cuda.set_device(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


@contextlib.contextmanager
def device_index(device):
    """Makes `device` current inside the block (None: no change)."""
    if device is None:
        yield
        return
    previous = current_device_index()
    set_device_index(device)
    try:
        yield
    finally:
        set_device_index(previous)


def synchronize(device=None):
    _require()
    flambeau.cuda.synchronize(device)


def empty_cache():
    _require()
    flambeau.cuda.empty_cache()


def memory_allocated(device_index=None):
    _require()
    return flambeau.cuda.memory_allocated(device_index)


def max_memory_allocated(device_index=None):
    _require()
    return flambeau.cuda.max_memory_allocated(device_index)


def memory_reserved(device_index=None):
    _require()
    return flambeau.cuda.memory_reserved(device_index)


def reset_peak_memory_stats(device_index=None):
    _require()
    flambeau.cuda.reset_peak_memory_stats(device_index)
