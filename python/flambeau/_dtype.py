"""dtype and device objects, flambeau.Size, and the default floating dtype.

`_C` speaks in strings ('float32', 'cuda:0'); users speak in objects (flambeau.float32,
flambeau.device('cuda:0')). This module converts between the two and owns one canonical object
per dtype, so `t.dtype is flambeau.float32` holds as it does in PyTorch.
"""
import builtins


class dtype:
    """A tensor element type. Compare with `is` or `==`; one object exists per type."""

    __slots__ = ("_name", "is_floating_point", "is_signed", "itemsize", "_rank")

    def __init__(self, name, is_floating_point, is_signed, itemsize, rank):
        self._name = name
        self.is_floating_point = is_floating_point
        self.is_signed = is_signed
        self.itemsize = itemsize
        # Order of the dtypes in listings (bool, the integers by width, the floats); promotion itself
        # is PyTorch's lattice in _promote.py (uint8 + int8 -> int16 is not a maximum).
        self._rank = rank

    @property
    def is_complex(self):
        return self._name in ("complex64", "complex128")

    def __repr__(self):
        return "flambeau." + self._name

    def __reduce__(self):
        # Pickles as a reference to the module-level singleton, keeping `is` comparisons valid.
        return (_dtype_from_name, (self._name,))

    def to_real(self):
        return _TO_REAL.get(self, self)

    def to_complex(self):
        c = _TO_COMPLEX.get(self)
        if c is None:
            if self.is_complex:
                return self
            # PyTorch answers complex32 for float16 and raises for the others; flambeau has no complex32.
            raise TypeError(f"to_complex is not supported for {self} (flambeau's complex dtypes are complex64 "
                            "and complex128)")
        return c


float32 = dtype("float32", True, True, 4, 6)
float64 = dtype("float64", True, True, 8, 7)
int64 = dtype("int64", False, True, 8, 5)
bool = dtype("bool", False, False, 1, 0)  # noqa: A001 - mirrors torch.bool
# The narrow integers: storage types for data pipelines (images, labels); their arithmetic is
# computed in int64 by the core and stored back wrapping, as PyTorch's results.
uint8 = dtype("uint8", False, False, 1, 1)
int8 = dtype("int8", False, True, 1, 2)
int16 = dtype("int16", False, True, 2, 3)
int32 = dtype("int32", False, True, 4, 4)
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001 - as torch.int (it was an alias of int64 before int32 existed)
short = int16


# float16 / bfloat16: storage types whose arithmetic the core computes in float32 and rounds once per
# op, as PyTorch's CPU kernels do (csrc/python/half_compute.cpp). Ranked below float32 in listings;
# promotion (float16 + bfloat16 -> float32) is _promote.py's.
float16 = dtype("float16", True, True, 2, 6)
bfloat16 = dtype("bfloat16", True, True, 2, 6)
half = float16

# complex64 / complex128: (re, im) pairs of float32 / float64. The core moves and converts them; their
# arithmetic is composed over view_as_real in flambeau/_complex/. Not floating point (as PyTorch).
complex64 = dtype("complex64", False, True, 8, 8)
complex128 = dtype("complex128", False, True, 16, 9)
cfloat = complex64
cdouble = complex128
_TO_REAL = {complex64: float32, complex128: float64}
_TO_COMPLEX = {float32: complex64, float64: complex128}

_BY_NAME = {"float32": float32, "float64": float64, "int64": int64, "bool": bool, "int32": int32, "int16": int16,
            "int8": int8, "uint8": uint8, "float16": float16, "bfloat16": bfloat16, "complex64": complex64,
            "complex128": complex128}
# Names numpy / users may hand us, mapped onto our types.
_ALIASES = {"float": float32, "double": float64, "long": int64, "int": int32, "short": int16, "half": float16,
            "cfloat": complex64, "cdouble": complex128}


# Quantized dtypes (flambeau/_quantized.py): the element types of quantized tensors only. Kept out of
# _BY_NAME so that no dense op or factory accepts them.
quint8 = dtype("quint8", False, False, 1, 1)
qint8 = dtype("qint8", False, True, 1, 2)
qint32 = dtype("qint32", False, True, 4, 4)
_QUANTIZED = {"quint8": quint8, "qint8": qint8, "qint32": qint32}


# dtypes flambeau names but does not compute in (no storage, no kernels): PyTorch's 8-bit floats and its wide
# unsigned integers. Libraries put them in lookup tables at import time (transformers maps safetensors'
# "F8_E4M3" to torch.float8_e4m3fn), so they exist as objects with PyTorch's properties; kept out of
# _BY_NAME, so a factory or a conversion to one of them raises instead of computing.
float8_e4m3fn = dtype("float8_e4m3fn", True, True, 1, 6)
float8_e5m2 = dtype("float8_e5m2", True, True, 1, 6)
float8_e4m3fnuz = dtype("float8_e4m3fnuz", True, True, 1, 6)
float8_e5m2fnuz = dtype("float8_e5m2fnuz", True, True, 1, 6)
uint16 = dtype("uint16", False, False, 2, 3)
uint32 = dtype("uint32", False, False, 4, 4)
uint64 = dtype("uint64", False, False, 8, 5)
_NAMED_ONLY = {d._name: d for d in (float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, uint16, uint32,
                                    uint64)}


def _dtype_from_name(name):
    if name in _BY_NAME:
        return _BY_NAME[name]
    return _QUANTIZED[name] if name in _QUANTIZED else _NAMED_ONLY[name]


def _to_dtype(obj):
    """Accepts a flambeau dtype, a torch dtype, a numpy dtype, a Python type or a name."""
    if isinstance(obj, dtype):
        return obj
    import builtins
    if obj is builtins.float:
        return get_default_dtype()
    if obj is builtins.int:
        return int64
    if obj is builtins.bool:
        return bool
    if obj is builtins.complex:
        return get_default_complex_dtype()
    name = obj if isinstance(obj, str) else None
    if name is None:
        text = str(obj)  # torch.float32 -> 'torch.float32', np.dtype('float32') -> 'float32'
        name = text.rsplit(".", 1)[-1]
        if name.startswith("<class 'numpy"):
            name = text
        try:
            import numpy as np
            name = np.dtype(obj).name
        except Exception:
            pass
    d = _BY_NAME.get(name) or _ALIASES.get(name)
    if d is None:
        raise TypeError(f"unsupported dtype {obj!r} (flambeau supports float32, float64, float16, bfloat16, "
                        "complex64, complex128, int64, int32, int16, int8, uint8, bool)")
    return d


_default_dtype = [float32]


def set_default_dtype(d):
    d = _to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_dtype[0] = d


def get_default_dtype():
    return _default_dtype[0]


def get_default_complex_dtype():
    """The dtype of complex Python numbers: complex128 under a float64 default, else complex64 (PyTorch's)."""
    return complex128 if _default_dtype[0] is float64 else complex64


# PyTorch's device types. Every one names a device object (libraries compare against device("meta") or
# device("mps") without making tensors there); tensors live on cpu and cuda only, and asking for a tensor
# anywhere else raises (_canonical).
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                 "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """Where a tensor lives: device('cpu'), device('cuda'), device('cuda:1'), device('cuda', 1)."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - mirrors torch.device
        if isinstance(type, device):
            if index is not None:
                raise ValueError("device(): an index cannot be given together with a device object")
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, builtins.int) and not isinstance(type, builtins.bool):
            # torch.device(0) means cuda:0
            self.type, self.index = "cuda", type
            return
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or device, got {type.__class__.__name__}")
        kind, sep, idx = type.partition(":")
        if kind not in _DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of device "
                               f"string: {type}")
        if sep:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {type}")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = builtins.int(idx)
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        if kind == "cpu" and index not in (None, 0):
            raise RuntimeError(f"CPU device index must be 0, got {index}")
        self.type, self.index = kind, index

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except Exception:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))

    # `with flambeau.device("meta"):` the factories given no device make their tensors here (PyTorch's
    # DeviceContext: the *_like functions and from_numpy excepted); the previous default comes back after.
    def __enter__(self):
        from ._creation import _enter_device
        _enter_device(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        from ._creation import _exit_device
        _exit_device()
        return False


# The device strings `_C` reports are canonical ('cpu', 'cuda:0'); cache their objects.
_DEVICE_CACHE = {}


def _device_from_str(s):
    d = _DEVICE_CACHE.get(s)
    if d is None:
        d = _DEVICE_CACHE[s] = device(s)
    return d


_DEVICE_STR_CACHE = {"cpu": "cpu"}


def _device_str(d):
    """A user's device argument (str, int, device) as the canonical string `_C` expects."""
    if isinstance(d, str):
        r = _DEVICE_STR_CACHE.get(d)
        if r is not None:
            return r
        dev = device(d)  # validates, with PyTorch's RuntimeError for bad strings
        r = _canonical(dev)
        if dev.index is not None:
            _DEVICE_STR_CACHE[d] = r
        return r
    return _canonical(d if isinstance(d, device) else device(d))


def _canonical(d):
    if d.type == "cpu":
        return "cpu"
    if d.type != "cuda":
        raise RuntimeError(f"flambeau has no '{d.type}' device: tensors live on cpu or cuda (asked for {d})")
    if d.index is None:
        from . import cuda
        return f"cuda:{cuda.current_device()}"
    return f"cuda:{d.index}"


_tuple_getitem = tuple.__getitem__


class Size(tuple):
    """The shape of a tensor: a tuple of ints that prints as flambeau.Size([2, 3])."""

    __slots__ = ()

    def __repr__(self):
        return f"flambeau.Size([{', '.join(str(s) for s in self)}])"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        if item.__class__ is slice:
            return Size(_tuple_getitem(self, item))
        return _tuple_getitem(self, item)

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __reduce__(self):
        return (Size, (tuple(self),))
