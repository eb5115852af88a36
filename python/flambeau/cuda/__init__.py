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
    """Bytes flambeau's caching allocator holds on the device: handed out plus cached."""
    if not is_built() or device_count() == 0:
        return 0
    return int(_C.cuda_memory_reserved(_index(device)))


def memory_stats(device=None):
    """The allocator's counters under PyTorch's key names (the ones flambeau's allocator keeps)."""
    import collections
    cur, peak, res = memory_allocated(device), max_memory_allocated(device), memory_reserved(device)
    return collections.OrderedDict([("allocated_bytes.all.current", cur), ("allocated_bytes.all.peak", peak),
                                    ("active_bytes.all.current", cur), ("active_bytes.all.peak", peak),
                                    ("reserved_bytes.all.current", res)])


def memory_summary(device=None, abbreviated=False):
    def mib(n):
        return f"{n / 2 ** 20:.1f} MiB"
    idx = _index(device) if is_available() else 0
    return (f"flambeau CUDA caching allocator, cuda:{idx}\n"
            f"  allocated: {mib(memory_allocated(device))} (peak {mib(max_memory_allocated(device))})\n"
            f"  reserved:  {mib(memory_reserved(device))}\n")


def mem_get_info(device=None):
    """(free, total) bytes of the device's memory, as cudaMemGetInfo reports them."""
    _lazy_init()
    return tuple(int(v) for v in _C.cuda_mem_get_info(_index(device)))


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


class _CudaDeviceProperties:
    """What get_device_properties returns: cudaGetDeviceProperties' fields under PyTorch's names."""

    def __init__(self, d):
        for k, v in d.items():
            setattr(self, k, v)

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // 2 ** 20}MB, multi_processor_count={self.multi_processor_count}, "
                f"uuid={self.uuid}, L2_cache_size={self.L2_cache_size // 2 ** 20}MB)")


def get_device_properties(device=None):
    _lazy_init()
    return _CudaDeviceProperties(_C.cuda_device_properties(_index(device)))


def get_device_name(device=None):
    return get_device_properties(device).name


def get_device_capability(device=None):
    p = get_device_properties(device)
    return (p.major, p.minor)


def is_bf16_supported(including_emulation=True):
    """False: flambeau's CUDA kernels take float32 and float64 (no bfloat16 kernels)."""
    return False


from .streams import Stream, ExternalStream, Event, StreamContext, stream, current_stream, default_stream, set_stream  # noqa: E402,F401
OutOfMemoryError = _C.OutOfMemoryError  # torch.cuda.OutOfMemoryError is torch.OutOfMemoryError


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

    @staticmethod
    def custom_fwd(fwd=None, *, cast_inputs=None):
        import warnings
        from ..amp import custom_fwd
        warnings.warn("`torch.cuda.amp.custom_fwd(args...)` is deprecated. Please use "
                      "`torch.amp.custom_fwd(args..., device_type='cuda')` instead.", FutureWarning, stacklevel=2)
        return custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)

    @staticmethod
    def custom_bwd(bwd=None):
        import warnings
        from ..amp import custom_bwd
        warnings.warn("`torch.cuda.amp.custom_bwd(args...)` is deprecated. Please use "
                      "`torch.amp.custom_bwd(args..., device_type='cuda')` instead.", FutureWarning, stacklevel=2)
        return custom_bwd(bwd, device_type="cuda")


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


def __getattr__(name):
    # torch.cuda._initialized: read by reversible-network and RNG-forking code (`if torch.cuda._initialized:`)
    # before it saves per-device RNG states; the state is is_initialized()'s
    if name == "_initialized":
        return is_initialized()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
HalfTensor = _make_type("HalfTensor", _f16, True)
BFloat16Tensor = _make_type("BFloat16Tensor", _bf16, True)
