"""torch.cuda.Stream / Event / current_stream / stream(): on flambeau's one stream per device.

flambeau issues every kernel and copy on a device to one CUDA stream (csrc/cuda/common.cuh). A Stream
object here stands for that stream: work "on" any stream runs in issue order, which is one of the
orders a multi-stream program allows, so results are the same and wait_stream / wait_event have
nothing left to order. Events are real CUDA events recorded on the device's stream: elapsed_time
gives the GPU time between two records (milliseconds), query/synchronize wait for the work before
the record, as in PyTorch.
"""
from .. import _C


def _device_index(device):
    from . import _index, current_device
    return current_device() if device is None else _index(device)


class Stream:
    """A CUDA stream of a device (flambeau's one stream there; see the module docstring)."""

    def __init__(self, device=None, priority=0, **kwargs):
        from . import _lazy_init
        _lazy_init()
        self.device_index = _device_index(device)
        self.priority = priority

    @property
    def device(self):
        from .._dtype import device
        return device("cuda", self.device_index)

    def synchronize(self):
        _C.cuda_synchronize(self.device_index)

    def query(self):
        return bool(_C.cuda_stream_query(self.device_index))

    def wait_event(self, event):
        """Work issued after this call runs after the event's record: already so on one stream."""

    def wait_stream(self, stream):
        """Work issued after this call runs after `stream`'s work so far: already so on one stream."""

    def record_event(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other):
        return isinstance(other, Stream) and other.device_index == self.device_index

    def __hash__(self):
        return hash(("cuda_stream", self.device_index))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<flambeau.cuda.Stream device=cuda:{self.device_index} (the device's one stream)>"


class ExternalStream(Stream):
    def __init__(self, stream_ptr, device=None, **kwargs):
        raise NotImplementedError("flambeau issues work on its own stream per device; ExternalStream is not supported")


def current_stream(device=None):
    return Stream(device)


def default_stream(device=None):
    return Stream(device)


def set_stream(stream):
    """Makes `stream` current: every stream of a device is its one stream, so only the check remains."""
    if stream is not None and not isinstance(stream, Stream):
        raise TypeError(f"set_stream: expected a flambeau.cuda.Stream, got {type(stream).__name__}")


class StreamContext:
    """`with flambeau.cuda.stream(s):` work inside goes to s's device stream (as all work does)."""

    def __init__(self, stream):
        if stream is not None and not isinstance(stream, Stream):
            raise TypeError(f"stream: expected a flambeau.cuda.Stream or None, got {type(stream).__name__}")
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        return False


def stream(stream):
    return StreamContext(stream)


class Event:
    """A CUDA event, created on its first record (on the device of the stream it is recorded on)."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self.enable_timing = bool(enable_timing)
        self.blocking = bool(blocking)
        self.interprocess = bool(interprocess)
        self._handle = 0
        self._device = None

    def record(self, stream=None):
        if stream is None:
            stream = current_stream()
        if self._handle and stream.device_index != self._device:
            raise RuntimeError(f"Event device cuda:{self._device} does not match recording stream's device "
                               f"cuda:{stream.device_index}.")
        if not self._handle:
            self._handle = _C.cuda_event_create(stream.device_index, self.enable_timing, self.blocking,
                                                self.interprocess)
            self._device = stream.device_index
        _C.cuda_event_record(self._handle, stream.device_index)

    def wait(self, stream=None):
        """Makes later work wait for this event: on one stream it already does."""

    def query(self):
        return True if not self._handle else bool(_C.cuda_event_query(self._handle))

    def synchronize(self):
        if self._handle:
            _C.cuda_event_synchronize(self._handle)

    def elapsed_time(self, end_event):
        if not (self._handle and end_event._handle):
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        return float(_C.cuda_event_elapsed_time(self._handle, end_event._handle))

    @property
    def device(self):
        from .._dtype import device
        return None if self._device is None else device("cuda", self._device)

    def __del__(self):
        h = getattr(self, "_handle", 0)
        if h:
            try:
                _C.cuda_event_destroy(h, self._device)
            except Exception:
                pass

    def __repr__(self):
        state = f"cuda:{self._device}" if self._handle else "not recorded"
        return f"<flambeau.cuda.Event {state}>"
