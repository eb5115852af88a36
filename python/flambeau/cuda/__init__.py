"""flambeau.cuda: device queries, synchronisation, memory statistics and seeding.

The extension always imports (the CUDA runtime is linked statically, the driver is loaded lazily),
so these work on machines without a GPU: is_available() is then False.
"""
from .. import _C

_current = [0]


def is_built():
    return bool(_C.cuda_is_built())


def device_count():
    if not _C.cuda_is_built():
        return 0
    try:
        return int(_C.cuda_device_count())
    except Exception:
        return 0


def is_available():
    return is_built() and device_count() > 0


def _lazy_init():
    if not is_built():
        raise AssertionError("Torch not compiled with CUDA enabled".replace("Torch", "flambeau"))
    if device_count() == 0:
        raise RuntimeError("Found no NVIDIA driver on your system. flambeau was built with CUDA but no GPU is usable")


def is_initialized():
    return is_available()


def init():
    _lazy_init()


def current_device():
    return _current[0]


def set_device(device):
    idx = _index(device)
    if idx is not None and idx >= 0:
        _current[0] = idx


def _index(device):
    if device is None:
        return _current[0]
    if isinstance(device, int):
        return device
    from .._dtype import device as _device
    d = device if isinstance(device, _device) else _device(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return _current[0] if d.index is None else d.index


def synchronize(device=None):
    """Waits for all kernels on the device to finish."""
    if not is_available():
        _lazy_init()
    _C.cuda_synchronize(_index(device))


def memory_allocated(device=None):
    if not is_available():
        return 0
    return int(_C.cuda_memory_allocated(_index(device)))


def max_memory_allocated(device=None):
    if not is_available():
        return 0
    return int(_C.cuda_max_memory_allocated(_index(device)))


def reset_peak_memory_stats(device=None):
    if is_available():
        _C.cuda_reset_peak_memory_stats(_index(device))


reset_max_memory_allocated = reset_peak_memory_stats


def memory_reserved(device=None):
    return memory_allocated(device)


def empty_cache():
    if is_built():
        _C.cuda_empty_cache()


def manual_seed(seed):
    """CPU and CUDA share one Philox stream: seeding CUDA seeds it."""
    from .. import _random
    _random.manual_seed(seed)


manual_seed_all = manual_seed


def seed():
    from .. import _random
    _random.seed()


seed_all = seed


def initial_seed():
    return _C.initial_seed()


def get_rng_state(device="cuda"):
    from .. import _random
    return _random.get_rng_state()


def set_rng_state(new_state, device="cuda"):
    from .. import _random
    _random.set_rng_state(new_state)


def get_rng_state_all():
    return [get_rng_state() for _ in range(max(device_count(), 1))]


def set_rng_state_all(new_states):
    if new_states:
        set_rng_state(new_states[0])


def get_device_name(device=None):
    _lazy_init()
    return f"CUDA device {_index(device)}"


def get_device_capability(device=None):
    _lazy_init()
    return (0, 0)


class device:
    """Context manager that makes `device` current (only index bookkeeping: kernels take explicit devices)."""

    def __init__(self, device):
        self.idx = _index(device) if device is not None else -1
        self.prev = _current[0]

    def __enter__(self):
        self.prev = _current[0]
        if self.idx is not None and self.idx >= 0:
            _current[0] = self.idx

    def __exit__(self, *exc):
        _current[0] = self.prev


class _Amp:
    """torch.cuda.amp: autocast and GradScaler for device 'cuda' (flambeau.amp; regions run in float32)."""

    class autocast:
        def __new__(cls, enabled=True, dtype=None, cache_enabled=True):
            from ..amp import autocast
            return autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class GradScaler:
        def __new__(cls, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                    enabled=True):
            from ..amp import GradScaler
            return GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


amp = _Amp()

from .._legacy_types import _make as _make_type  # noqa: E402
from .._dtype import float32 as _f32, float64 as _f64, int64 as _i64, bool as _b  # noqa: E402
from .._dtype import int32 as _i32, int16 as _i16, int8 as _i8, uint8 as _u8, float16 as _f16, bfloat16 as _bf16  # noqa: E402

FloatTensor = _make_type("FloatTensor", _f32, True)
DoubleTensor = _make_type("DoubleTensor", _f64, True)
LongTensor = _make_type("LongTensor", _i64, True)
BoolTensor = _make_type("BoolTensor", _b, True)
IntTensor = _make_type("IntTensor", _i32, True)
ShortTensor = _make_type("ShortTensor", _i16, True)
CharTensor = _make_type("CharTensor", _i8, True)
ByteTensor = _make_type("ByteTensor", _u8, True)
HalfTensor = _make_type("HalfTensor", _f16, True)
BFloat16Tensor = _make_type("BFloat16Tensor", _bf16, True)
