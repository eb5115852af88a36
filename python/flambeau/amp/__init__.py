"""torch.amp for scripts written with mixed precision: `autocast` and `GradScaler`.

On the CPU, `autocast("cpu", dtype=torch.bfloat16)` (or float16) casts the inputs of linear,
matmul/mm/bmm and the convolutions to that dtype and those of the losses to float32, as PyTorch's
CPU autocast does (amp/_cast.py); float16/bfloat16 ops compute in float32 and round once, as
PyTorch's CPU kernels. A CUDA autocast region runs in float32 (flambeau's CUDA kernels have no half
types: the numbers are those of the same code without autocast) and says so once in a warning. GradScaler
(grad_scaler.py) is PyTorch's dynamic loss scaler, state machine and numbers included (scaling by a
power of two is exact in float32); for device "cuda" without CUDA it is disabled with PyTorch's warning.
`flambeau.autocast`, `flambeau.cuda.amp.autocast` and `flambeau.cuda.amp.GradScaler` are the same classes.
"""
import functools
import warnings

from .. import _dtype

from . import _cast
from .custom_function import custom_bwd, custom_fwd
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_available", "custom_fwd", "custom_bwd"]

_DEVICE_TYPES = ("cpu", "cuda")
_warned = set()
# per device type, as PyTorch keeps it: whether an autocast region is on, and its dtype (what
# is_autocast_enabled / get_autocast_dtype report; the CPU casts themselves follow _cast.state)
_state = {"cpu": [False, _dtype.bfloat16], "cuda": [False, _dtype.float16]}


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, UserWarning, stacklevel=3)


def is_autocast_available(device_type):
    return device_type in _DEVICE_TYPES


class autocast:
    """Context manager and decorator (see the module docstring for what a region does on each device)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type.split(":")[0] not in _DEVICE_TYPES:
            raise RuntimeError(f"Invalid device string: '{device_type}'")
        self.device = device_type.split(":")[0]
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else dtype
        self._enabled = bool(enabled)
        self._cast_dtype = None
        if self.device == "cpu":
            name = str(self.fast_dtype).rsplit(".", 1)[-1]
            if name not in ("bfloat16", "float16"):
                warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                              "CPU Autocast only supports dtype of torch.bfloat16, torch.float16 currently.",
                              UserWarning, stacklevel=2)
                self._enabled = False
            else:
                self.fast_dtype = _dtype._BY_NAME[name]
                self._cast_dtype = name
        if self._enabled and self.device == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", UserWarning,
                              stacklevel=2)
                self._enabled = False
        if self._enabled and self.device == "cuda":
            _warn_once("autocast", "flambeau.autocast: flambeau's CUDA kernels have no float16/bfloat16 types; "
                                   "the CUDA autocast region runs in float32")
        self._saved = []

    def __enter__(self):
        self._saved.append((list(_state[self.device]), _cast.state[0]))
        _state[self.device][:] = [self._enabled, self.fast_dtype]
        if self.device == "cpu":
            _cast.state[0] = self._cast_dtype if self._enabled else None
        return self

    def __exit__(self, *exc):
        prev, cast = self._saved.pop()
        _state[self.device][:] = prev
        _cast.state[0] = cast
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type=None):
    """Whether an enabled autocast region for device_type is open; without an argument, for CUDA, as
    PyTorch's legacy form."""
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
    snap = {k: list(v) for k, v in _state.items()}
    snap["_cast"] = _cast.state[0]
    return snap


def _restore(snapshot):
    for k, v in snapshot.items():
        if k == "_cast":
            _cast.state[0] = v
        else:
            _state[k][:] = v
