"""flambeau.finfo / flambeau.iinfo: the numerical limits of a dtype, with PyTorch's attribute names
and values (finfo also for the float16/bfloat16 names, which have no tensors in flambeau)."""
from ._dtype import _to_dtype, get_default_dtype, float16, bfloat16

# name: (bits, eps, max, tiny (= smallest_normal), resolution)
_FLOAT_INFO = {
    "float32": (32, 1.1920928955078125e-07, 3.4028234663852886e+38, 1.1754943508222875e-38, 1e-06),
    "float64": (64, 2.220446049250313e-16, 1.7976931348623157e+308, 2.2250738585072014e-308, 1e-15),
    "float16": (16, 0.0009765625, 65504.0, 6.103515625e-05, 0.001),
    "bfloat16": (16, 0.0078125, 3.3895313892515355e+38, 1.1754943508222875e-38, 0.01),
}
# The integer tensor types (int64, int32, int16, int8, uint8).

_INT_INFO = {"int64": (64, -9223372036854775808, 9223372036854775807), "int32": (32, -2147483648, 2147483647),
             "int16": (16, -32768, 32767), "int8": (8, -128, 127), "uint8": (8, 0, 255)}


def _dtype_name(type_):
    if type_ is float16 or type_ is bfloat16:
        return type_._name
    if isinstance(type_, str) and type_ in ("float16", "half", "bfloat16"):
        return "float16" if type_ == "half" else type_
    try:
        return _to_dtype(type_)._name
    except TypeError:
        name = str(type_).rsplit(".", 1)[-1]
        return name


class finfo:
    """Machine limits of a floating dtype: bits, eps, max, min, tiny, smallest_normal, resolution, dtype."""

    __hash__ = None  # as torch.finfo: unhashable

    def __init__(self, type=None):  # noqa: A002 - PyTorch's argument name
        name = _dtype_name(get_default_dtype() if type is None else type)
        info = _FLOAT_INFO.get(name)
        if info is None:
            raise TypeError("flambeau.finfo() requires a floating point input type. Use flambeau.iinfo to handle "
                            "'flambeau.finfo'")
        self.bits, self.eps, self.max, self.tiny, self.resolution = info
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype: bits, max, min, dtype."""

    __hash__ = None

    def __init__(self, type):  # noqa: A002
        name = _dtype_name(type)
        if name == "bool":
            raise TypeError("flambeau.bool is not supported by flambeau.iinfo")
        info = _INT_INFO.get(name)
        if info is None:
            raise TypeError("flambeau.iinfo() requires an integer input type. Use flambeau.finfo to handle "
                            "'flambeau.iinfo'")
        self.bits, self.min, self.max = info
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
