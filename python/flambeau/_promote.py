"""PyTorch's type promotion (result_type), on dtype names as `_C` reports them.

Operands fall in three tiers: tensors with dims, 0-dim tensors, Python scalars. Within a tier
dtypes promote by PyTorch's promote_types lattice (bool < the integers < float16, bfloat16 < float32 <
float64, with float16 + bfloat16 -> float32; among
the integers the wider wins, and uint8 with a signed type takes the smallest signed type holding
both: uint8 + int8 -> int16); a lower tier only wins when it is of a higher *category* (bool <
integer < floating), and a Python float then means the default dtype. So int_tensor * 2.5 ->
float32, float32_tensor + float64_0dim -> float32, bool_tensor + 1 -> int64, uint8_tensor + 1 ->
uint8.
"""
import math
import numbers

from . import _C
from ._dtype import _BY_NAME, _default_dtype

_FLOAT = frozenset(("float32", "float64", "float16", "bfloat16"))
_INT = frozenset(("uint8", "int8", "int16", "int32", "int64"))
_COMPLEX = frozenset(("complex64", "complex128"))
_CAT = {"bool": 0, "uint8": 1, "int8": 1, "int16": 1, "int32": 1, "int64": 1, "float32": 2, "float64": 2,
        "float16": 2, "bfloat16": 2, "complex64": 3, "complex128": 3}
# The complex type of a floating one (PyTorch's toComplexType); float16 would be complex32, which
# flambeau does not have.
# (bfloat16 has no complex counterpart in PyTorch either: with a complex operand it promotes to complex64)
_TO_COMPLEX = {"float32": "complex64", "float64": "complex128", "complex64": "complex64", "complex128": "complex128",
               "bfloat16": "complex64"}
# Signed integers by width; uint8 promotes with a signed type s to the first of these holding both.
_SIGNED = ("int8", "int16", "int32", "int64")


def _promote_pair(a, b):
    ca, cb = _CAT[a], _CAT[b]
    if ca == 3 or cb == 3:
        # complex128 if either side is complex128 or float64 (complex64 + float64 -> complex128).
        return "complex128" if ("complex128" in (a, b) or "float64" in (a, b)) else "complex64"
    if ca != cb:
        return a if ca > cb else b
    if ca == 2:
        # float64 wins; float16 and bfloat16 meet (or either meets float32) in float32.
        return "float64" if "float64" in (a, b) else "float32"
    if a == "uint8":
        a, b = b, a
    if b == "uint8":  # a signed (a == "uint8" too was caught by the caller's a == b)
        return "int16" if a == "int8" else a
    return a if _SIGNED.index(a) >= _SIGNED.index(b) else b


# Every pair, precomputed: promotion runs on each mixed-dtype op.
_PROMOTE = {(a, b): (a if a == b else _promote_pair(a, b)) for a in _CAT for b in _CAT}


def scalar_dtype(v):
    """The dtype name a Python (or numpy) scalar stands for as an operand."""
    t = type(v)
    if t is float:
        return _default_dtype[0]._name
    if t is int:
        return "int64"
    if t is bool:
        return "bool"
    if isinstance(v, numbers.Integral):
        return "bool" if str(getattr(v, "dtype", "")) == "bool" else "int64"
    if isinstance(v, numbers.Real):
        return _default_dtype[0]._name
    if hasattr(v, "dtype") and str(v.dtype) == "bool":  # numpy.bool_
        return "bool"
    if isinstance(v, numbers.Complex):
        return "complex128" if _default_dtype[0]._name == "float64" else "complex64"
    raise TypeError(f"expected a Tensor or a number, got {type(v).__name__}")


def _promote(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return _PROMOTE[a, b]


def _to_complex(d):
    c = _TO_COMPLEX.get(d)
    if c is None:
        raise TypeError(f"a complex operand with a {d} tensor would give complex32 (ComplexHalf), which flambeau "
                        "does not have; convert the tensor to float32 first")
    return c


def _combine(higher, lower):
    # PyTorch's combine_categories: the higher tier wins unless the lower is of a higher category.
    if higher is None:
        return lower
    if lower is None or higher in _COMPLEX:
        return higher
    if lower in _COMPLEX:  # a complex scalar or 0-dim tensor keeps a floating tensor's precision
        return _to_complex(higher) if higher in _FLOAT else lower
    if higher in _FLOAT:
        return higher
    if higher == "bool" or lower in _FLOAT:
        return _promote(higher, lower)
    return higher


def result_type_names(*operands):
    """result_type over Tensors and Python scalars, as a dtype name."""
    dim_r = zero_r = wrapped_r = None
    for x in operands:
        impl = getattr(x, "_impl", None)
        if impl is not None:
            if impl.ndim > 0:
                dim_r = _promote(dim_r, impl.dtype)
            else:
                zero_r = _promote(zero_r, impl.dtype)
        elif x is not None:
            wrapped_r = _promote(wrapped_r, scalar_dtype(x))
    return _combine(dim_r, _combine(zero_r, wrapped_r))


def result_type_tensor_scalar(dt, v):
    """Fast path of result_type(tensor_with_dtype_dt, python_scalar_v)."""
    t = type(v)
    if t is complex:
        return _combine(dt, scalar_dtype(v))
    if dt in _FLOAT or dt in _COMPLEX:
        return dt
    if t is float:
        return _default_dtype[0]._name
    if t is int:
        return "int64" if dt == "bool" else dt  # an integer tensor keeps its dtype (uint8 + 1 -> uint8)
    if t is bool:
        return dt
    return _combine(dt, scalar_dtype(v))


def result_type(tensor1, tensor2):
    """flambeau.result_type: the dtype an arithmetic op on the operands would produce."""
    return _BY_NAME[result_type_names(tensor1, tensor2)]


def promote_types(type1, type2):
    return _BY_NAME[_promote(type1._name, type2._name)]


def can_cast(from_, to):
    """Whether an in-place op may write a `from_` result into a `to` tensor (category order)."""
    return _CAT[from_._name] <= _CAT[to._name]


def can_cast_names(from_, to):
    return _CAT[from_] <= _CAT[to]


# Scalar operands become cached 0-dim tensors (ops take tensors only). They are internal and never
# written to. -0.0 and NaN are not cached (0.0 == -0.0 would collide; NaN never compares equal).
_scalar_cache = {}


def scalar_impl(v, dt, device):
    key = (v, v.__class__, dt, device)
    try:
        return _scalar_cache[key]
    except KeyError:
        pass
    except TypeError:  # unhashable number type
        return _C.scalar_tensor(_py_number(v), dt, device)
    impl = _C.scalar_tensor(_py_number(v), dt, device)
    # (not while inference_mode is on: an inference tensor in the cache could not be saved for backward later)
    if v == v and not (v == 0 and isinstance(v, float)) and not _C._is_inference_mode_enabled():
        if len(_scalar_cache) > 4096:
            _scalar_cache.clear()
        _scalar_cache[key] = impl
    return impl


def _py_number(v):
    t = type(v)
    if t is float or t is int or t is bool:
        return v
    if isinstance(v, numbers.Integral):
        if str(getattr(v, "dtype", "")) == "bool":
            return bool(v)
        return int(v)
    if hasattr(v, "dtype") and str(v.dtype) == "bool":
        return bool(v)
    if t is complex or (isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)):
        raise TypeError("a complex Python number cannot become a scalar operand of a real op")
    return float(v)


# ---------------------------------------------------------------- narrow integers
_INT_LIMITS = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2147483648, 2147483647)}


# c10's names of the element types, which PyTorch's conversion errors use
C_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
                "int64": "int64_t", "int32": "int", "int16": "int16_t", "int8": "int8_t", "uint8": "uint8_t",
                "bool": "bool"}


def complex_as_real(v, dt):
    """A complex fill value (full, fill_, masked_fill, x[i] = v) for a tensor of real dtype `dt`, as PyTorch
    converts it (c10::overflows): bool takes v != 0; any other type the real part when the imaginary part is
    0, and refuses the value otherwise."""
    v = complex(v)
    if dt == "bool":
        return v != 0
    if v.imag != 0:
        raise RuntimeError(f"value cannot be converted to type {C_TYPE_NAMES.get(dt, dt)} without overflow")
    return v.real


# The largest finite value of each floating dtype, and PyTorch's name for it in the overflow message.
_FLOAT_MAX = {"float16": (65504.0, "c10::Half"), "bfloat16": (3.3895313892515355e38, "c10::BFloat16"),
              "float32": (3.4028234663852886e38, "float")}


def _check_fits_wide(v, dt):
    """c10::overflows for the wide types, where a fill value is concerned: a finite value beyond a float
    dtype's largest (fill_(1e40) on float32 would store inf) or an integer beyond int64."""
    if isinstance(v, (bool, complex)) or not isinstance(v, numbers.Number):
        return
    if dt == "int64":
        try:
            ok = -(1 << 63) <= int(v) < (1 << 63)
        except (OverflowError, ValueError):  # inf, nan
            ok = False
        if not ok:
            raise RuntimeError("value cannot be converted to type int64_t without overflow")
        return
    lim = _FLOAT_MAX.get(dt)
    if lim is not None:
        try:
            f = float(v)
        except OverflowError:  # an int too large even for a double
            raise RuntimeError(f"value cannot be converted to type {lim[1]} without overflow") from None
        if math.isfinite(f) and abs(f) > lim[0]:
            raise RuntimeError(f"value cannot be converted to type {lim[1]} without overflow")


_F32_MAX = 3.4028234663852886e38
_FITS_ANY_F32 = frozenset(("float32", "float64"))  # dtypes every number within float32's range fits


def check_fits(v, dt, suffix="_t", wide=False):
    """PyTorch's "value cannot be converted to type uint8_t without overflow" (c10::overflows) for a
    value stored into a narrow-integer tensor (full, fill_, masked_fill, tensor(data)): integers
    within the type's range, for uint8 also down to -255 (stored wrapping: -1 is 255); floats within
    it (NaN and infinities overflow). Scalar operands of arithmetic are not checked (they wrap)."""
    c = v.__class__
    if (c is float or c is int) and dt in _FITS_ANY_F32 and -_F32_MAX <= v <= _F32_MAX:
        return  # (the common x[i] = 1.0 / fill_(0) into float32/float64, cheaply: nothing can overflow)
    lim = _INT_LIMITS.get(dt)
    if lim is None and wide:  # (fill values; not tensor(data), where PyTorch stores inf)
        _check_fits_wide(v, dt)
    if lim is None or isinstance(v, bool):
        return
    lo, hi = lim
    if isinstance(v, numbers.Integral) or (hasattr(v, "dtype") and str(v.dtype).startswith(("int", "uint"))):
        v = int(v)
        ok = lo <= v <= hi or (dt == "uint8" and -hi <= v < 0)
    else:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return
        ok = lo <= f <= hi  # False for NaN
    if not ok:
        name = C_TYPE_NAMES.get(dt, dt) if suffix == "_t" else dt + suffix  # (PyTorch's: int32 is "int")
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")
