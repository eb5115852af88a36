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

from .. import _dtype

from .custom_function import custom_bwd, custom_fwd
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_available", "custom_fwd", "custom_bwd"]

_DEVICE_TYPES = ("cpu", "cuda")
_warned = set()
# per device type, as PyTorch keeps it: whether an autocast region is on, and its dtype (the region still
# computes in float32; these are what is_autocast_enabled / get_autocast_dtype report)
_state = {"cpu": [False, _dtype.bfloat16], "cuda": [False, _dtype.float16]}


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
        self.device = device_type.split(":")[0]
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else dtype
        self._enabled = bool(enabled)
        if self._enabled and self.device == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", UserWarning,
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            _warn_once("autocast", "flambeau.autocast: flambeau has no float16/bfloat16 kernels; the autocast "
                                   "region runs in float32")

    def __enter__(self):
        self._prev = list(_state[self.device])
        _state[self.device][:] = [self._enabled, self.fast_dtype]
        return self

    def __exit__(self, *exc):
        _state[self.device][:] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type=None):
    """Whether an enabled autocast region for device_type is open (its ops still run in float32); without
    an argument, for CUDA, as PyTorch's legacy form."""
    return _state["cuda" if device_type is None else _check_device(device_type)][0]


def get_autocast_dtype(device_type):
    """The dtype of the open autocast region for device_type (bfloat16 on CPU, float16 on CUDA by default)."""
    return _state[_check_device(device_type)][1]


def _check_device(device_type):
    dev = device_type.split(":")[0]
    if dev not in _DEVICE_TYPES:
        raise RuntimeError(f"Invalid device string: '{device_type}'")
    return dev


def _snapshot():
    """Every device's autocast state (utils.checkpoint recomputes a forward in the state it ran in)."""
    return {k: list(v) for k, v in _state.items()}


def _restore(snapshot):
    for k, v in snapshot.items():
        _state[k][:] = v
