"""torch.amp for scripts written with mixed precision: `autocast` and `GradScaler`.

flambeau has no float16 or bfloat16 kernels, so there is nothing for autocast to lower: an autocast
region runs in float32 (the numbers are those of the same code without autocast, which is at least as
accurate as PyTorch's reduced-precision region), and says so once in a warning. GradScaler
(grad_scaler.py) is PyTorch's dynamic loss scaler, state machine and numbers included (scaling by a
power of two is exact in float32); for device "cuda" without CUDA it is disabled with PyTorch's warning.
`flambeau.autocast`, `flambeau.cuda.amp.autocast` and `flambeau.cuda.amp.GradScaler` are the same classes.
"""
import functools
import warnings

from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_available"]

_DEVICE_TYPES = ("cpu", "cuda")
_warned = set()
_depth = [0]  # nesting depth of enabled autocast regions (is_autocast_enabled)


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, UserWarning, stacklevel=3)


def is_autocast_available(device_type):
    return device_type in _DEVICE_TYPES


class autocast:
    """Context manager and decorator; the region runs in float32 (see the module docstring)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type.split(":")[0] not in _DEVICE_TYPES:
            raise RuntimeError(f"Invalid device string: '{device_type}'")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        if self._enabled:
            _warn_once("autocast", "flambeau.autocast: flambeau has no float16/bfloat16 kernels; the autocast "
                                   "region runs in float32")

    def __enter__(self):
        if self._enabled:
            _depth[0] += 1
        return self

    def __exit__(self, *exc):
        if self._enabled:
            _depth[0] -= 1
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type=None):
    """Whether an enabled autocast region is open (its ops still run in float32)."""
    return _depth[0] > 0
