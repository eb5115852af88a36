"""Top-level names of PyTorch's that scripts reach for outside the op library: the global autocast switches
(torch.set_autocast_enabled & co., over amp's per-device state), set_warn_always, to_dlpack, the device-generic
Event and Stream (CPU ones; CUDA ones are flambeau.cuda's), get_device_module, OutOfMemoryError (what a failed
CUDA allocation raises; a RuntimeError) and init_num_threads."""
import warnings

from . import _C
from . import amp as _amp
from .amp import _cast
from .amp.grad_scaler import GradScaler  # torch.GradScaler is torch.amp.GradScaler
from ._dtype import _to_dtype, device as _device_cls

__all__ = ["GradScaler", "set_autocast_enabled", "is_autocast_cpu_enabled", "set_autocast_cpu_enabled",
           "get_autocast_cpu_dtype", "set_autocast_cpu_dtype", "set_autocast_dtype", "get_autocast_gpu_dtype",
           "set_autocast_gpu_dtype", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
           "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting", "set_warn_always",
           "is_warn_always_enabled", "to_dlpack", "Event", "Stream", "get_device_module", "OutOfMemoryError",
           "init_num_threads"]

OutOfMemoryError = _C.OutOfMemoryError


def _deprecated(old, new):
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


# ------------------------------------------------------------------------------------------------ autocast state
def _set_state(device_type, enabled=None, dtype=None):
    """What an autocast region's __enter__ does, without the region: the per-device flags that
    is_autocast_enabled/get_autocast_dtype report and, for the CPU, the dtype ops cast to."""
    dev = _amp._check_device(device_type)
    state = _amp._state[dev]
    if enabled is not None:
        state[0] = bool(enabled)
    if dtype is not None:
        state[1] = _to_dtype(dtype)
    if dev == "cpu":
        _cast.state[0] = state[1]._name if state[0] else None


def set_autocast_enabled(*args):
    """set_autocast_enabled(device_type, enabled), or set_autocast_enabled(enabled) for CUDA (legacy form)."""
    if len(args) == 1:
        _set_state("cuda", enabled=args[0])
    elif len(args) == 2:
        _set_state(args[0], enabled=args[1])
    else:
        raise TypeError(f"set_autocast_enabled() takes 1 or 2 arguments ({len(args)} given)")


def set_autocast_dtype(device_type, dtype):
    _set_state(device_type, dtype=dtype)


def is_autocast_cpu_enabled():
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return _amp.is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled):
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    _set_state("cpu", enabled=enabled)


def get_autocast_cpu_dtype():
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return _amp.get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype):
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    _set_state("cpu", dtype=dtype)


def get_autocast_gpu_dtype():
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return _amp.get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype):
    _deprecated("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    _set_state("cuda", dtype=dtype)


# flambeau's autocast casts afresh at each op (there is no cast cache to enable or clear); the flag and the
# nesting count are kept so that code saving and restoring them reads back what it set.
_cache_enabled = [True]
_nesting = [0]


def is_autocast_cache_enabled():
    return _cache_enabled[0]


def set_autocast_cache_enabled(enabled):
    _cache_enabled[0] = bool(enabled)


def clear_autocast_cache():
    """Nothing cached (see above)."""


def autocast_increment_nesting():
    _nesting[0] += 1
    return _nesting[0]


def autocast_decrement_nesting():
    _nesting[0] -= 1
    return _nesting[0]


# ------------------------------------------------------------------------------------------------ warnings
_warn_always = [False]


def set_warn_always(b):
    """When on, warnings PyTorch gives once per process (TypedStorage's deprecation, ...) are given each time."""
    _warn_always[0] = bool(b)


def is_warn_always_enabled():
    return _warn_always[0]


# ------------------------------------------------------------------------------------------------ interop
def to_dlpack(tensor):
    """A DLPack capsule sharing the tensor's memory (torch.utils.dlpack.to_dlpack, which, unlike
    Tensor.__dlpack__, also exports a tensor that requires grad)."""
    from .utils.dlpack import to_dlpack as _to_dlpack
    return _to_dlpack(tensor)


def init_num_threads():
    """PyTorch initialises its thread pool's settings in a new thread; flambeau's OpenMP pool needs nothing."""


def get_device_module(device=None):
    """flambeau.cpu or flambeau.cuda for a device (a device, its string, or None: the current accelerator's
    module if one is available, else flambeau.cpu)."""
    import flambeau
    if device is None:
        return flambeau.cuda if flambeau.cuda.is_available() else flambeau.cpu
    kind = device.type if isinstance(device, _device_cls) else str(device).split(":")[0]
    if kind in ("cpu", "cuda"):
        return getattr(flambeau, kind)
    raise RuntimeError(f"Device '{kind}' does not have a corresponding module registered as 'flambeau.{kind}'.")


# ------------------------------------------------------------------------------------------------ Event / Stream
def _device_of(device):
    """('cpu', -1) or ('cuda', index) for Event/Stream's device argument (None: the current accelerator)."""
    import flambeau
    if device is None:
        return ("cuda", flambeau.cuda.current_device()) if flambeau.cuda.is_available() else ("cpu", -1)
    d = device if isinstance(device, _device_cls) else _device_cls(device)
    if d.type == "cuda":
        return "cuda", d.index if d.index is not None else flambeau.cuda.current_device()
    return "cpu", -1


_CPU_NO_EVENTS = "cpu backend doesn't support events."


class Stream:
    """torch.Stream(device=None, *, priority=0): on a CUDA device, flambeau.cuda.Stream; on the CPU, PyTorch's
    CPU stream: ops run in order as they are called, so query() is True and synchronize/wait_event do nothing;
    recording an event on it raises, as PyTorch's."""

    def __new__(cls, device=None, *, priority=0):
        kind, index = _device_of(device)
        if kind == "cuda":
            import flambeau
            return flambeau.cuda.Stream(index, priority=priority)
        return super().__new__(cls)

    def __init__(self, device=None, *, priority=0):
        self.device_index = -1
        self.stream_id = 0
        self.priority = priority

    @property
    def device(self):
        return _device_cls("cpu")

    @property
    def device_type(self):
        return 0  # c10::DeviceType::CPU, as PyTorch reports it

    def query(self):
        return True

    def synchronize(self):
        """CPU ops have finished when they return."""

    def wait_event(self, event):
        """Nothing to wait for on the CPU."""

    def wait_stream(self, stream):
        raise RuntimeError(_CPU_NO_EVENTS)

    def record_event(self, event=None):
        raise RuntimeError(_CPU_NO_EVENTS)

    def __eq__(self, other):
        return isinstance(other, Stream) and other.stream_id == self.stream_id

    def __hash__(self):
        return hash(("cpu_stream", self.stream_id))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"flambeau.Stream device_type=cpu, device_index={self.device_index}, stream_id={self.stream_id}"


class Event:
    """torch.Event(device=None, *, enable_timing=False, blocking=False, interprocess=False): on a CUDA device,
    flambeau.cuda.Event; on the CPU, PyTorch's CPU event: it cannot be recorded (RuntimeError, as PyTorch),
    so it is always complete: query() is True, synchronize() and wait() return at once."""

    def __new__(cls, device=None, *, enable_timing=False, blocking=False, interprocess=False):
        kind, _ = _device_of(device)
        if kind == "cuda":
            import flambeau
            return flambeau.cuda.Event(enable_timing=enable_timing, blocking=blocking, interprocess=interprocess)
        return super().__new__(cls)

    def __init__(self, device=None, *, enable_timing=False, blocking=False, interprocess=False):
        self.enable_timing = bool(enable_timing)
        self.event_id = 0

    @property
    def device(self):
        return _device_cls("cpu")

    def record(self, stream=None):
        raise RuntimeError(_CPU_NO_EVENTS)

    def query(self):
        return True

    def synchronize(self):
        """Never recorded: nothing to wait for."""

    def wait(self, stream=None):
        """Never recorded: nothing to wait for."""

    def elapsed_time(self, end_event):
        if not (self.enable_timing and getattr(end_event, "enable_timing", False)):
            raise ValueError("Both events must be created with argument 'enable_timing=True'.")
        raise RuntimeError(_CPU_NO_EVENTS)

    def __repr__(self):
        return "flambeau.Event device_type=cpu, device_index=-1, event_flag=0, event_id=0"
