"""torch.FloatTensor & co.: legacy typed constructors. FloatTensor(2, 3) is an uninitialised
float32 tensor, LongTensor([1, 2]) copies data as int64, and isinstance(t, FloatTensor) tests the
dtype (and device), as in PyTorch."""
from ._dtype import float32, float64, int64, int32, int16, int8, uint8, bool as _bool, float16, bfloat16


class _TensorTypeMeta(type):
    def __instancecheck__(cls, obj):
        from ._tensor import Tensor
        return isinstance(obj, Tensor) and obj.dtype is cls._dtype and obj.is_cuda == cls._cuda

    def __call__(cls, *args, device=None):
        from ._tensor import Tensor
        t = Tensor(*args, dtype=cls._dtype)
        if cls._cuda or device is not None:
            t = t.to(device or "cuda")
        return t


def _make(name, dt, cuda=False):
    return _TensorTypeMeta(name, (), {"_dtype": dt, "_cuda": cuda})


FloatTensor = _make("FloatTensor", float32)
DoubleTensor = _make("DoubleTensor", float64)
LongTensor = _make("LongTensor", int64)
BoolTensor = _make("BoolTensor", _bool)
IntTensor = _make("IntTensor", int32)
ShortTensor = _make("ShortTensor", int16)
CharTensor = _make("CharTensor", int8)
ByteTensor = _make("ByteTensor", uint8)
HalfTensor = _make("HalfTensor", float16)
BFloat16Tensor = _make("BFloat16Tensor", bfloat16)


_warned_default_tensor_type = False


def set_default_tensor_type(t):
    """Deprecated in PyTorch (2.1) but still in old scripts: the default floating dtype (and device, for the
    torch.cuda.* types) from a legacy type or its dotted name ('torch.DoubleTensor')."""
    import warnings
    import flambeau
    global _warned_default_tensor_type
    if not _warned_default_tensor_type:  # once per process, as PyTorch's TORCH_WARN_ONCE
        _warned_default_tensor_type = True
        warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
                      "torch.set_default_dtype() and torch.set_default_device() as alternatives.", stacklevel=2)
    if isinstance(t, str):
        obj = flambeau
        for part in t.split(".")[1:]:  # 'torch.cuda.FloatTensor' -> flambeau.cuda.FloatTensor
            if not hasattr(obj, part):
                raise AttributeError(f"module '{obj.__name__}' has no attribute '{part}'")
            obj = getattr(obj, part)
        t = obj
    if not isinstance(t, _TensorTypeMeta):
        raise TypeError(f"invalid type object: only floating-point types are supported as the default type, got {t!r}")
    if t._dtype not in (float32, float64):
        raise TypeError("only floating-point types are supported as the default type")
    name = ("torch.cuda." if t._cuda else "torch.") + t.__name__
    if t._cuda and not flambeau.cuda.is_available():
        raise TypeError(f"type {name} not available. Torch not compiled with CUDA enabled.")
    flambeau.set_default_dtype(t._dtype)
    flambeau.set_default_device("cuda" if t._cuda else "cpu")
