"""torch.FloatTensor & co.: legacy typed constructors. FloatTensor(2, 3) is an uninitialised
float32 tensor, LongTensor([1, 2]) copies data as int64, and isinstance(t, FloatTensor) tests the
dtype (and device), as in PyTorch."""
from ._dtype import float32, float64, int64, int32, int16, int8, uint8, bool as _bool


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
