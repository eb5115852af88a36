"""torch.amp for scripts written with mixed precision: `autocast` and `GradScaler`.

On the CPU, `autocast("cpu", dtype=torch.bfloat16)` (or float16) casts the inputs of linear,
matmul/mm/bmm and the convolutions to that dtype and those of the losses to float32, as PyTorch's
CPU autocast does (amp/_cast.py); float16/bfloat16 ops compute in float32 and round once, as
PyTorch's CPU kernels. A CUDA autocast region runs in float32 (flambeau's CUDA kernels have no
half types: the numbers are those of the same code without autocast). A GradScaler
behaves as PyTorch's does when its device is unavailable: disabled, with
`scale(x)` returning x, `step(opt)` calling `opt.step()` and `get_scale()` 1.0. Each says so once
in a warning when it is asked to do more. `flambeau.autocast`, `flambeau.cuda.amp.autocast` and
`flambeau.cuda.amp.GradScaler` are the same classes.
"""
import functools
import warnings

from . import _cast

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
        self._enabled = bool(enabled)
        self._cpu = device_type.split(":")[0] == "cpu"
        name = None if dtype is None else str(dtype).rsplit(".", 1)[-1]
        if self._cpu:
            name = name or "bfloat16"
            if name not in ("bfloat16", "float16"):
                warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                              "CPU Autocast only supports dtype of torch.bfloat16, torch.float16 currently.",
                              UserWarning, stacklevel=2)
                self._enabled = False
        from .. import _dtype
        self.fast_dtype = _dtype._BY_NAME.get(name or "float16") if name in (None, "bfloat16", "float16") else dtype
        self._cast_dtype = name if self._cpu else None
        if self._enabled and not self._cpu:
            _warn_once("autocast", "flambeau.autocast: flambeau's CUDA kernels have no float16/bfloat16 types; "
                                   "the CUDA autocast region runs in float32")
        self._saved = []

    def __enter__(self):
        if self._enabled:
            _depth[0] += 1
        self._saved.append(_cast.state[0])
        if self._cpu:
            _cast.state[0] = self._cast_dtype if self._enabled else None
        return self

    def __exit__(self, *exc):
        if self._enabled:
            _depth[0] -= 1
        _cast.state[0] = self._saved.pop()
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


class GradScaler:
    """torch.amp.GradScaler's interface, always disabled (no float16 gradients to underflow)."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = device
        self._init_scale, self._growth_factor = float(init_scale), float(growth_factor)
        self._backoff_factor, self._growth_interval = float(backoff_factor), int(growth_interval)
        if enabled:
            _warn_once("scaler", "flambeau.amp.GradScaler: flambeau computes in float32, so gradients are not "
                                 "scaled; the scaler is disabled (as PyTorch's is without its device)")
        self._enabled = False

    def is_enabled(self):
        return self._enabled

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer):
        return None

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        return None

    def get_scale(self):
        return 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def get_growth_interval(self):
        return self._growth_interval

    def state_dict(self):
        return {}

    def load_state_dict(self, state_dict):
        return None
