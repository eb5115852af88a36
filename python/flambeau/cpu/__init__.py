"""torch.cpu: the CPU side of device-agnostic code (`getattr(torch, device_type).synchronize()`,
`torch.cpu.is_available()`, `torch.cpu.amp.autocast`). There is one CPU device and nothing to wait for."""
from . import amp  # noqa: F401

__all__ = ["is_available", "is_initialized", "device_count", "current_device", "set_device", "synchronize", "amp"]


def is_available():
    return True


def is_initialized():
    return True


def device_count():
    return 1


def current_device():
    return "cpu"


def set_device(device):
    """Nothing to set: there is one CPU device."""


def synchronize(device=None):
    """Nothing to wait for: CPU ops have finished when they return."""
