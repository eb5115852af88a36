"""Tensor creation: tensor/as_tensor/from_numpy/from_dlpack, zeros/ones/full/empty (and _like),
arange/linspace/logspace/eye, with PyTorch's dtype inference (Python floats -> default dtype,
ints -> int64, bools -> bool; numpy arrays keep float64/float32/int64/int32/int16/int8/uint8).

Data from Python goes through numpy once (np.array on a nested list is fast and validates
raggedness), then into `_C.from_numpy` on an array we own, so no second copy is made.
"""
import numbers

import numpy as np

from ._functions import _numpy_names as _np
from . import _C
from ._dtype import _BY_NAME, _default_dtype, _device_str, _to_dtype, dtype as _dtype_cls, device as _device_cls
from ._tensor import Tensor, _wrap, _FLOAT as _FLOAT_NAMES, _GRAD_DTYPES, _COMPLEX as _COMPLEX_NAMES
from ._utils import parse_size

_NP_TO_NAME = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.float16): "float16",
               np.dtype(np.int64): "int64",
               np.dtype(np.bool_): "bool", np.dtype(np.int32): "int32", np.dtype(np.int16): "int16",
               np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.complex64): "complex64",
               np.dtype(np.complex128): "complex128"}
_NAME_TO_NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_, "int32": np.int32,
               "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "float16": np.float16, "complex64": np.complex64,
               "complex128": np.complex128}
_NARROW = frozenset(("int32", "int16", "int8", "uint8"))
_default_device = ["cpu"]


def _is_meta_request(device):
    """device='meta' (or a meta device object): the factory gives a meta tensor (_meta.py, imported then)."""
    c = device.__class__
    if c is str:
        return device == "meta" or device.startswith("meta:")
    return c is _device_cls and device.type == "meta"


def _wants_meta(device):
    """Whether a factory given `device` makes a meta tensor: device='meta', or none given while the default
    device is meta (set_default_device('meta'), `with device('meta'):`)."""
    if device is None:
        return _default_device[0] == "meta"
    return _is_meta_request(device)


def _dev(device):
    return _default_device[0] if device is None else _device_str(device)


def _dt(dtype, default=None):
    if dtype is None:
        return default if default is not None else _default_dtype[0]._name
    return dtype._name if isinstance(dtype, _dtype_cls) else _to_dtype(dtype)._name


def set_default_device(device):
    """The device of the factories' results (empty, zeros, tensor, arange, ...) when they are given none, as
    PyTorch's: not the *_like functions (their input's) nor from_numpy (cpu). The meta device is kept by
    name (the factories' meta paths test for it); the others as _C's canonical strings."""
    if device is None:
        _default_device[0] = "cpu"
    elif _is_meta_request(device) or (isinstance(device, str) and device.startswith("meta")):
        _default_device[0] = "meta"
    else:
        _default_device[0] = _device_str(device)


# `with flambeau.device(...):` sets the default device for the block (dtype.device.__enter__/__exit__);
# the devices it replaced, innermost last.
_device_stack = []


def _enter_device(device):
    _device_stack.append(_default_device[0])
    try:
        set_default_device(device)
    except BaseException:
        _device_stack.pop()
        raise


def _exit_device():
    _default_device[0] = _device_stack.pop()


def get_default_device():
    from ._dtype import _device_from_str
    return _device_from_str(_default_device[0])


def _finish(impl, requires_grad):
    t = _wrap(impl)
    if requires_grad:
        if impl.dtype not in _GRAD_DTYPES:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t._rg = True
    return t


# ---------------------------------------------------------------- from data
def _np_dtype_name(arr, from_python):
    """Our dtype for a numpy array; arrays built from Python lists map floats to the default."""
    k = arr.dtype.kind
    if k == "f":
        if from_python:
            return _default_dtype[0]._name
        if arr.dtype == np.float16:
            return "float16"
        return "float64" if arr.dtype == np.float64 else "float32"
    if k in "iu":
        # int32/int16/int8/uint8 arrays (and lists of such numpy scalars) keep their type, as in
        # PyTorch; the integer types flambeau lacks (uint16/32/64) become int64.
        name = _NP_TO_NAME.get(arr.dtype)
        return name if name in _NARROW else "int64"
    if k == "b":
        return "bool"
    if k == "c" and arr.dtype.itemsize <= 16:
        if from_python:  # Python complex numbers: the default complex dtype (complex128 under float64)
            return "complex128" if _default_dtype[0]._name == "float64" else "complex64"
        return "complex64" if arr.dtype == np.complex64 else "complex128"
    raise TypeError(f"can't convert np.ndarray of type numpy.{arr.dtype.type.__name__}. The only supported types "
                    "are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, and bool.")


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        if data._impl.ndim == 0:
            return data.item()
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(x) for x in data]
    return data


def _check_python_ints(data):
    """PyTorch refuses Python ints outside int64 ("Overflow when unpacking long long"); numpy would turn them
    into uint64 (which then wraps), float64 or objects."""
    todo, too_big, has_float = [data], False, False
    while todo:
        x = todo.pop()
        if isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, int) and not isinstance(x, bool):
            too_big = too_big or not -2 ** 63 <= x < 2 ** 63
        elif isinstance(x, numbers.Complex) and not isinstance(x, bool):
            has_float = True  # the tensor is then floating (or complex): big ints are converted as doubles, as in
            # PyTorch
    if too_big and not has_float:
        raise ValueError("Overflow when unpacking long long")


def _as_inexact(arr):
    """An object array of numbers (Python ints beyond int64 among floats or complex numbers) as float64, or
    complex128 where a complex number is among them; as it is when neither works (a ragged sequence)."""
    for dt in (np.float64, np.complex128):
        try:
            return arr.astype(dt)
        except (TypeError, ValueError):
            pass
    return arr


def _to_array(data, float_target=False):
    """(numpy array, inferred dtype name) for tensor()'s data argument. float_target: a floating dtype was
    asked for, so Python ints beyond int64 are fine (converted as doubles)."""
    if isinstance(data, np.ndarray):
        return data, _np_dtype_name(data, False)
    if isinstance(data, np.generic):
        arr = np.asarray(data)
        return arr, _np_dtype_name(arr, False)
    if isinstance(data, bool):
        return np.array(data), "bool"
    if isinstance(data, numbers.Integral):
        if not float_target:
            _check_python_ints(data)
        elif not -2 ** 63 <= data < 2 ** 63:
            return np.array(float(data)), "float64"
        return np.array(data, dtype=np.int64), "int64"
    if isinstance(data, numbers.Real):
        return np.array(float(data)), _default_dtype[0]._name
    if isinstance(data, numbers.Complex):
        return np.array(complex(data)), _np_dtype_name(np.array(0j), True)
    if isinstance(data, (list, tuple)):
        try:
            arr = np.array(data)
        except (ValueError, RuntimeError, TypeError):
            arr = None
        if arr is None or arr.dtype == object or arr.dtype == np.uint64 or \
                (arr.dtype.kind == "f" and arr.size and not np.abs(arr).max() < 2.0 ** 63):
            # where a Python int beyond int64 may be hiding (numpy made it uint64, float64 or an object)
            if not float_target:
                _check_python_ints(data)
        if arr is None or arr.dtype == object:
            try:
                # huge Python ints for a floating dtype: numpy keeps them as objects unless asked for floats
                arr = np.array(_tensors_to_lists(data), dtype=np.float64 if float_target else None)
                if arr.dtype == object:  # big ints beside floats or complex numbers (checked above): as those
                    arr = _as_inexact(arr)
            except ValueError as e:
                raise ValueError(f"expected sequence of equal lengths at every dim: {e}") from None
            if arr.dtype == object:
                raise ValueError("expected sequence of equal lengths at every dim (got a ragged nested sequence)")
        if arr.dtype.kind in "US":
            raise ValueError("too many dimensions 'str'")
        return arr, _np_dtype_name(arr, True)
    if hasattr(data, "__array__"):
        arr = np.asarray(data)
        return arr, _np_dtype_name(arr, False)
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _warn_copy_construct(what):
    import warnings
    warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                  f"sourceTensor.detach().clone().requires_grad_(True), rather than {what}.", UserWarning,
                  stacklevel=3)


def _copy_of_tensor(data, dtype, device, requires_grad):
    impl = data._impl
    dt = impl.dtype if dtype is None else _dt(dtype)
    dev = impl.device if device is None else _dev(device)
    return _finish(_C.to(impl, dt, dev, True), requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of `data` (nested lists, numpy arrays, scalars or tensors)."""
    if (_default_device[0] == "meta" if device is None else _is_meta_request(device)):
        return _on_meta(tensor(data, dtype=dtype, device="cpu") if not _is_meta_tensor(data) else
                        data.to(dtype=dtype), requires_grad)
    if isinstance(data, Tensor):
        _warn_copy_construct("torch.tensor(sourceTensor)")
        return _copy_of_tensor(data, dtype, device, requires_grad)
    if hasattr(data, "__dlpack__") and not isinstance(data, np.ndarray) and type(data).__module__.startswith("torch"):
        data = data.detach().cpu().numpy()  # a torch tensor: go through numpy (copy below)
    # (a bool target takes any Python int, as PyTorch's: tensor([1 << 70], dtype=bool) is True)
    target = _dt(dtype) if dtype is not None else None
    inexact = target in _FLOAT_NAMES or target in _COMPLEX_NAMES or target == "bool"
    arr, inferred = _to_array(data, float_target=inexact)
    dt = inferred if dtype is None else _dt(dtype)
    if inferred in _COMPLEX_NAMES and dt not in _COMPLEX_NAMES:
        raise TypeError("must be real number, not complex")  # PyTorch's: complex data into a real dtype
    if dt in ("float16", "bfloat16") and dt != inferred:
        # Through the core's conversion (float64 data via float32, as PyTorch; numpy's float16
        # cast rounds once, and numpy has no bfloat16).
        src = np.array(arr, dtype=_NAME_TO_NP.get(inferred, np.float64), order="C", copy=True)
        impl = _C.to(_C.from_numpy(src), dt, "cpu", False)
    elif dt in _NARROW and dt != inferred:
        # Into a narrow integer type by PyTorch's conversion (floats truncated, integers wrapping:
        # numpy's astype refuses -1 for uint8 and is undefined for out-of-range floats). Python data
        # is checked for overflow first, as PyTorch does (numpy arrays wrap unchecked).
        if not isinstance(data, (np.ndarray, np.generic)) and arr.size:
            _check_fits_array(arr, dt)
        src = np.array(arr, dtype=_NAME_TO_NP[inferred], order="C", copy=True)
        impl = _C.to(_C.from_numpy(src), dt, "cpu", False)
    else:
        with np.errstate(over="ignore"):  # 1e300 into float32 is inf, without numpy's warning (PyTorch gives none)
            arr = np.array(arr, dtype=_NAME_TO_NP[dt], order="C", copy=True)
        impl = _C.from_numpy(arr)
    dev = _dev(device)
    if dev != "cpu":
        impl = _C.to(impl, dt, dev, False)
    return _finish(impl, requires_grad)


def _check_fits_array(arr, dt):
    """check_fits (value cannot be converted ... without overflow) over a whole array of Python data."""
    from ._promote import check_fits
    if arr.dtype.kind == "b":
        return
    if arr.dtype.kind in "iu":
        check_fits(int(arr.min()), dt, "")
        check_fits(int(arr.max()), dt, "")
        return
    if np.isnan(arr).any():
        check_fits(float("nan"), dt, "")
    check_fits(float(arr.min()), dt, "")
    check_fits(float(arr.max()), dt, "")


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a Tensor or a numpy array when no conversion is needed."""
    if isinstance(data, Tensor):
        if device is None and _default_device[0] == "meta":
            device = "meta"
        return data.to(dtype=dtype, device=device) if (dtype is not None or device is not None) else data
    if _wants_meta(device):
        return tensor(data, dtype=dtype, device=device)
    if isinstance(data, np.ndarray) and data.dtype in _NP_TO_NAME and _dev(device) == "cpu":
        if dtype is None or _dt(dtype) == _NP_TO_NAME[data.dtype]:
            try:
                return from_numpy(data)
            except ValueError:
                pass
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing `ndarray`'s memory (writes through either are seen by both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in _NP_TO_NAME:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype.type.__name__}. The only supported "
                        "types are: float64, float32, int64, int32, int16, int8, uint8, and bool.")
    isz = ndarray.itemsize
    for s in ndarray.strides:  # (one plain loop for the usual case; the checks below name what is wrong)
        if s < 0 or s % isz:
            break
    else:
        if ndarray.dtype.isnative:
            return _wrap(_C.from_numpy(ndarray))
    if any(s < 0 for s in ndarray.strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors with negative "
                         "strides are not currently supported. (You can probably work around this by making a "
                         "copy of your array  with array.copy().) ")
    if any(s % ndarray.itemsize for s in ndarray.strides):
        raise ValueError("given numpy array strides not a multiple of the element byte size. Copy the numpy array "
                         "to reallocate the memory.")
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte order. Conversion "
                         "between byte orders is currently not supported.")
    return _wrap(_C.from_numpy(ndarray))


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any object implementing __dlpack__ (or a raw capsule)."""
    if hasattr(ext_tensor, "__dlpack__"):
        kwargs = {}
        dev = getattr(ext_tensor, "__dlpack_device__", None)
        if dev is not None and dev()[0] == 2:
            kwargs["stream"] = 1  # the legacy default stream, which is what our kernels use
        try:
            capsule = ext_tensor.__dlpack__(**kwargs)
        except TypeError:
            capsule = ext_tensor.__dlpack__()
    else:
        capsule = ext_tensor
    return _wrap(_C.from_dlpack(capsule))


# ---------------------------------------------------------------- filled
def _size_args(size, kwargs_size, op):
    if kwargs_size is not None:
        if size:
            raise TypeError(f"{op}() got multiple values for argument 'size'")
        return parse_size((kwargs_size,), op)
    return parse_size(size, op)


def _out(out, impl):
    if out is None:
        return None
    from ._functions._dispatch import _write_out
    return _write_out(out, _wrap(impl))


def empty(*sizes, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False,
          memory_format=None, size=None):
    size = sizes if size is None else _np.size_keyword(sizes, size, "empty", "size")
    if (_default_device[0] == "meta" if device is None else _is_meta_request(device)):
        from . import _meta
        return _meta.factory("empty", parse_size(size, "empty"), dtype, None, requires_grad)
    shape = parse_size(size, "empty")
    if memory_format is None:
        impl = _C.empty(shape, _dt(dtype), _dev(device))
    else:
        from . import _memory_format as _mf
        impl = _mf.empty_shaped(shape, _mf.parse(memory_format, "empty"), _dt(dtype), _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def zeros(*sizes, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False, size=None):
    size = sizes if size is None else _np.size_keyword(sizes, size, "zeros", "size")
    if (_default_device[0] == "meta" if device is None else _is_meta_request(device)):
        from . import _meta
        return _meta.factory("zeros", parse_size(size, "zeros"), dtype, None, requires_grad)
    impl = _C.full(parse_size(size, "zeros"), 0, _dt(dtype), _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def ones(*sizes, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False, size=None):
    size = sizes if size is None else _np.size_keyword(sizes, size, "ones", "size")
    if (_default_device[0] == "meta" if device is None else _is_meta_request(device)):
        from . import _meta
        return _meta.factory("ones", parse_size(size, "ones"), dtype, None, requires_grad)
    impl = _C.full(parse_size(size, "ones"), 1, _dt(dtype), _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def _fill_dtype(fill_value):
    if isinstance(fill_value, bool):
        return "bool"
    if isinstance(fill_value, numbers.Integral):
        return "int64"
    if isinstance(fill_value, numbers.Complex) and not isinstance(fill_value, numbers.Real):
        return "complex128" if _default_dtype[0]._name == "float64" else "complex64"
    return _default_dtype[0]._name


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    if (_default_device[0] == "meta" if device is None else _is_meta_request(device)):
        from . import _meta
        value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
        return _meta.factory("full", parse_size((size,), "full"), dtype, _fill_dtype(value), requires_grad)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _dt(dtype, _fill_dtype(fill_value))
    from ._promote import check_fits
    check_fits(fill_value, dt, wide=True)  # PyTorch: full((2,), 1e40) raises, int8 300 too
    if _is_complex_number(fill_value):
        from ._complex.creation import full_complex_impl
        impl = full_complex_impl(parse_size((size,), "full"), fill_value, dt, _dev(device))
        return _out(out, impl) or _finish(impl, requires_grad)
    impl = _C.full(parse_size((size,), "full"), fill_value, dt, _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def _is_complex_number(v):
    return isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)


def _like(input, dtype, device):
    impl = input._impl
    return impl.shape, (impl.dtype if dtype is None else _dt(dtype)), (impl.device if device is None else _dev(device))


def _like_impl(input, dt, dev, memory_format, op):
    """An uninitialised tensor shaped like input, laid out by memory_format (preserve_format, the
    default, keeps a dense input's strides, as PyTorch's *_like do)."""
    from . import _memory_format as _mf
    return _mf.empty_as(input._impl, _mf.parse(memory_format, op), dt, dev)


def _filled_like(input, value, dt, dev, memory_format, op):
    impl = input._impl
    if _is_complex_number(value):
        from ._complex.creation import full_complex_impl
        return full_complex_impl(list(impl.shape), value, dt, dev)
    if memory_format is None and impl.is_contiguous():
        return _C.full(impl.shape, value, dt, dev)
    out = _like_impl(input, dt, dev, memory_format, op)
    _C.fill_(out, value)
    return out


def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    if device is not None and _is_meta_request(device):
        from . import _meta
        return _meta.like_factory("empty_like")(input, dtype=dtype, requires_grad=requires_grad)
    shape, dt, dev = _like(input, dtype, device)
    return _finish(_like_impl(input, dt, dev, memory_format, "empty_like"), requires_grad)


def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    if device is not None and _is_meta_request(device):
        from . import _meta
        return _meta.like_factory("zeros_like")(input, dtype=dtype, requires_grad=requires_grad)
    shape, dt, dev = _like(input, dtype, device)
    return _finish(_filled_like(input, 0, dt, dev, memory_format, "zeros_like"), requires_grad)


def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    if device is not None and _is_meta_request(device):
        from . import _meta
        return _meta.like_factory("ones_like")(input, dtype=dtype, requires_grad=requires_grad)
    shape, dt, dev = _like(input, dtype, device)
    return _finish(_filled_like(input, 1, dt, dev, memory_format, "ones_like"), requires_grad)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    if device is not None and _is_meta_request(device):
        from . import _meta
        return _meta.like_factory("full_like")(input, fill_value, dtype=dtype, requires_grad=requires_grad)
    shape, dt, dev = _like(input, dtype, device)
    from ._promote import check_fits
    check_fits(fill_value, dt, wide=True)
    return _finish(_filled_like(input, fill_value, dt, dev, memory_format, "full_like"), requires_grad)


def _is_meta_tensor(t):
    return isinstance(t, Tensor) and t._impl.device == "meta"


def _on_meta(t, requires_grad=False):
    """A meta tensor describing cpu tensor t (the factories whose result's shape depends on their values
    make it on cpu first: tensor(data), arange, linspace, ...; all small or as large as their input)."""
    from . import _meta
    if t._impl.device == "meta":
        if requires_grad:
            t.requires_grad_()
        return t
    return _meta.factory("tensor", tuple(t._impl.shape), _BY_NAME[t._impl.dtype], None, requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    if _wants_meta(device):
        return _on_meta(scalar_tensor(s, dtype=dtype, device="cpu"), requires_grad)
    return _finish(_C.scalar_tensor(s, _dt(dtype), _dev(device)), requires_grad)


# ---------------------------------------------------------------- ranges
def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if _wants_meta(device):
        return _on_meta(arange(start, end, step, dtype=dtype, device="cpu"), requires_grad)
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dt = "int64" if is_int else _default_dtype[0]._name
    else:
        dt = _dt(dtype)
    if dt in ("complex64", "complex128"):  # PyTorch has no complex arange either
        raise NotImplementedError(f"\"arange_cpu\" not implemented for "
                                  f"'{'ComplexFloat' if dt == 'complex64' else 'ComplexDouble'}'")
    if dt == "int64":
        # PyTorch casts the bounds and step to the integer type first: arange(10, 0, -1.5) steps by -1.
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise RuntimeError("step must be nonzero")
    impl = _C.arange(start, end, step, dt, _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):  # noqa: A001
    """Deprecated torch.range: like arange but includes `end`, in the default float dtype."""
    import warnings
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
                  "[start, end).", stacklevel=2)
    if end is None:
        start, end = 0, start
    n = int((end - start) // step) + 1
    steps = arange(max(n, 0), dtype=_BY_NAME["float64"], device=device)
    return _finish((steps * step + start).to(_BY_NAME[_dt(dtype)])._impl, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if _wants_meta(device):
        return _on_meta(linspace(start, end, steps, dtype=dtype, device="cpu"), requires_grad)
    start, end = _num(start), _num(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if isinstance(start, complex) or isinstance(end, complex) or _dt(dtype) in ("complex64", "complex128"):
        from ._complex.creation import linspace_complex
        impl = linspace_complex(start, end, steps, _dt(dtype) if dtype is not None else None, _dev(device))
        return _out(out, impl) or _finish(impl, requires_grad)
    dt = _dt(dtype)
    if dt in _INT_RANGE and steps > 0:  # (one step: PyTorch fills start and never converts end)
        start = _int_endpoint(start, dt)
        end = _int_endpoint(end, dt) if steps > 1 else start
    impl = _C.linspace(start, end, int(steps), dt, _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


_INT_RANGE = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2 ** 31, 2 ** 31 - 1),
              "int64": (-2 ** 63, 2 ** 63 - 1)}
_C_INT_NAMES = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t"}


def _int_endpoint(v, dt):
    """An integer linspace's endpoint as PyTorch's kernel sees it: converted to the dtype first
    (truncated; uint8 wraps negative integers down to -255, as c10's checked conversion allows), so that
    linspace(-1, 10, 3, dtype=uint8) steps from 255 down to 10: [255, 132, 10]."""
    lo, hi = _INT_RANGE[dt]
    if v != v or v in (float("inf"), float("-inf")):
        raise RuntimeError(f"value cannot be converted to type {_C_INT_NAMES[dt]} without overflow")
    if (v > hi) or (v < (-hi if dt == "uint8" and isinstance(v, int) else lo)):
        raise RuntimeError(f"value cannot be converted to type {_C_INT_NAMES[dt]} without overflow")
    return float((int(v) - lo) % (hi - lo + 1) + lo)


def logspace(start, end, steps, base=10.0, *, dtype=None, layout=None, device=None, requires_grad=False):
    if _wants_meta(device):
        return _on_meta(logspace(start, end, steps, base, dtype=dtype, device="cpu"), requires_grad)
    start, end = _num(start), _num(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _dt(dtype)
    if dt in ("float32", "float64") and not any(isinstance(v, complex) for v in (start, end, base)):
        # PyTorch's formula and glibc's pow, element by element (csrc/cpu/random.cpp: logspace)
        return _finish(_C.logspace(float(start), float(end), int(steps), float(base), dt, _dev(device)), requires_grad)
    exps = linspace(start, end, steps, dtype=_BY_NAME["float64"], device=device)
    r = (exps * 0 + base) ** exps
    return _finish(r.to(_BY_NAME[_dt(dtype)])._impl, requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    if _wants_meta(device):  # (not made on cpu: eye(10 ** 5) on meta costs nothing)
        from . import _meta
        return _meta.factory("eye", (int(n), int(n if m is None else m)), dtype, None, requires_grad)
    impl = _C.eye(int(n), int(n if m is None else m), _dt(dtype), _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def diag(input, diagonal=0):
    """1-D -> a matrix with input on the given diagonal; 2-D -> its diagonal (a copy)."""
    from ._functions.shape import diagonal as _diagonal, clone
    nd = input._impl.ndim
    if nd == 2:
        return clone(_diagonal(input, diagonal))
    if nd != 1:
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + str(nd) + "D")
    n = input._impl.shape[0] + (diagonal if diagonal >= 0 else -diagonal)
    z = zeros(n, n, dtype=input.dtype, device=input.device)
    z[_diag_index(n, diagonal, input.device)] = input
    return z


def _diag_index(n, k, device):
    m = n - (k if k >= 0 else -k)
    rows = arange(m, device=device) + (0 if k >= 0 else -k)
    cols = arange(m, device=device) + (k if k >= 0 else 0)
    return (rows, cols)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Zeros of the output shape with the (offset, dim1, dim2) diagonal set to input's last dim, as
    PyTorch: written, not multiplied by an identity (inf * 0 would put NaN off the diagonal)."""
    from ._functions.extra import diagonal_scatter
    from ._utils import wrap_dim
    if not isinstance(input, Tensor):
        raise TypeError(f"diag_embed(): argument 'input' must be Tensor, not {type(input).__name__}")
    nd = input._impl.ndim + 1
    if nd < 2:
        raise IndexError(f"diag_embed: Dimension out of range (expected to be in range of [-1, 0], but got {dim1})")
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = input._impl.shape[-1] + (offset if offset >= 0 else -offset)
    shape = list(input._impl.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, m)
    out = zeros(shape, dtype=input.dtype, device=input.device)
    return diagonal_scatter(out, input, offset, d1, d2)


def _check_row_col(row, col):
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")  # (PyTorch's words, space missing and all)
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    _check_row_col(row, col)
    if _wants_meta(device):  # (the count depends on row, col and offset only: made on cpu)
        return _on_meta(tril_indices(row, col, offset, dtype=dtype, device="cpu"))
    r = arange(row, device=device).reshape(row, 1).expand(row, col)
    c = arange(col, device=device).reshape(1, col).expand(row, col)
    mask = (c - r) <= offset
    return _stack_rc(r[mask], c[mask], dtype)


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    _check_row_col(row, col)
    if _wants_meta(device):  # (the count depends on row, col and offset only: made on cpu)
        return _on_meta(triu_indices(row, col, offset, dtype=dtype, device="cpu"))
    r = arange(row, device=device).reshape(row, 1).expand(row, col)
    c = arange(col, device=device).reshape(1, col).expand(row, col)
    mask = (c - r) >= offset
    return _stack_rc(r[mask], c[mask], dtype)


def _stack_rc(r, c, dtype):
    from ._functions.join import stack
    out = stack([r, c])
    return out if dtype is None else out.to(dtype)


def meshgrid(*tensors, indexing=None):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:  # PyTorch's default, with its warning
        import warnings
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = list(tensors)
    # PyTorch's checks: a 2-D input was flattened, mixed dtypes promoted, where PyTorch refuses them
    for t in ts:
        if t._impl.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got a tensor of "
                               f"shape {list(t.shape)}")
    if len({t._impl.dtype for t in ts}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype (got "
                           + ", ".join(str(t._impl.dtype) for t in ts) + ")")
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.numel() for t in ts]
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = -1
        out.append(t.reshape(view).expand(shape))
    if swap:  # 'xy' is 'ij' on the first two inputs swapped, outputs swapped back
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def cartesian_prod(*tensors):
    from ._functions.join import stack
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)
