"""Storages, as PyTorch's Python API shows them: UntypedStorage (the bytes behind a tensor: untyped_storage()),
TypedStorage (the same bytes seen as one dtype: Tensor.storage(), deprecated in PyTorch and warning so here too)
and the legacy FloatStorage/DoubleStorage/LongStorage/... constructors, plus Tensor.set_(storage, offset, size,
stride).

A storage object is a thin view: `_impl` is a 1-D contiguous TensorImpl over the storage's memory (uint8 for an
untyped one), so reading, writing and filling a storage are tensor ops on the same memory as every tensor that
shares it (writes are visible both ways). `_C.storage_as` reinterprets a whole storage's bytes as another dtype.
Storages never grow here: PyTorch's set_ and resize_ enlarge a storage that is too small in place; flambeau raises
instead (its storages have a fixed size)."""
import warnings

from . import _C
from ._dtype import _BY_NAME, _device_from_str, _to_dtype, get_default_dtype
from ._tensor import Tensor, _wrap
from ._utils import contiguous_strides

__all__ = ["UntypedStorage", "TypedStorage", "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage",
           "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"]

_TYPED_STORAGE_WARNING = (
    "TypedStorage is deprecated. It will be removed in the future and UntypedStorage will be the only storage "
    "class. This should only matter to you if you are using storages directly.  To access UntypedStorage directly, "
    "use tensor.untyped_storage() instead of tensor.storage()")
_warned = False


def _warn_typed_storage_removal(stacklevel=3):
    """PyTorch's deprecation warning: once per process unless warn_always is on."""
    global _warned
    from ._api_aliases import is_warn_always_enabled
    if _warned and not is_warn_always_enabled():
        return
    _warned = True
    warnings.warn(_TYPED_STORAGE_WARNING, UserWarning, stacklevel=stacklevel)


def _new_impl(args, dtype, device, what):
    """The memory of a new storage from PyTorch's constructor arguments: (), (size,) or (sequence,)."""
    dev = "cpu" if device is None else str(_device_from_str(device) if isinstance(device, str) else device)
    if len(args) > 1:
        raise TypeError(f"{what}(): too many positional arguments")
    if not args:
        return _C.empty([0], dtype, dev)
    arg = args[0]
    if isinstance(arg, int) and not isinstance(arg, bool):
        if arg < 0:
            raise RuntimeError(f"{what}(): size must be non-negative, got {arg}")
        return _C.empty([arg], dtype, dev)
    if isinstance(arg, (TypedStorage, UntypedStorage)):
        raise TypeError(f"{what}(): pass another storage as wrap_storage=")
    from ._creation import tensor
    try:
        return tensor(list(arg), dtype=_BY_NAME[dtype], device=dev)._impl
    except TypeError:
        raise TypeError(f"{what}(): expected a size (int) or a sequence, got {type(arg).__name__}") from None


class _StorageBase:
    __slots__ = ("_impl",)

    @classmethod
    def _from_impl(cls, impl):
        s = object.__new__(cls)
        s._impl = impl
        return s

    def _tensor(self):
        return _wrap(self._impl)

    def size(self):
        return self._impl.numel

    def __len__(self):
        return self._impl.numel

    def nbytes(self):
        return self._impl.numel * self._impl.itemsize

    def element_size(self):
        return self._impl.itemsize

    def data_ptr(self):
        return self._impl.data_ptr

    @property
    def device(self):
        return _device_from_str(self._impl.device)

    @property
    def is_cuda(self):
        return self._impl.is_cuda

    def get_device(self):
        return self.device.index if self.is_cuda else -1

    is_sparse = False

    def is_shared(self):
        from ._shared_memory import is_shared
        return is_shared(self._tensor())

    def share_memory_(self):
        """Moves the storage to memory shared with other processes, in place (_shared_memory.py)."""
        from ._shared_memory import share_memory_
        share_memory_(self._tensor())
        return self

    def is_pinned(self, device="cuda"):
        return False

    def resizable(self):
        return False

    def resize_(self, size):
        if size == self.size():
            return self
        raise RuntimeError(f"{type(self).__name__}.resize_: flambeau storages have a fixed size ({self.size()}); "
                           f"make a new storage of size {size} and copy_ into it")

    def _index(self, idx):
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise TypeError(f"can't index a {type(self).__name__} with {type(idx).__name__}")
        n = self.size()
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for storage of size {n}")
        return idx + n if idx < 0 else idx

    def __getitem__(self, idx):
        return self._tensor()[self._index(idx)].item()

    def __setitem__(self, idx, value):
        t = self._tensor()
        if isinstance(idx, slice):
            t[idx] = value if not isinstance(value, _StorageBase) else value._tensor()
        else:
            t[self._index(idx)] = value

    def __iter__(self):
        return iter(self.tolist())

    def tolist(self):
        return self._tensor().tolist()

    def fill_(self, value):
        self._tensor().fill_(value)
        return self

    def copy_(self, source, non_blocking=None):
        if not isinstance(source, _StorageBase):
            raise TypeError(f"copy_(): expected a storage, got {type(source).__name__}")
        if source.nbytes() != self.nbytes():
            raise RuntimeError(f"copy_(): storages of {source.nbytes()} and {self.nbytes()} bytes differ in size")
        _C.copy_(_bytes_of(self._impl), _bytes_of(source._impl))
        return self

    def __copy__(self):
        return self.clone()

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = self.clone()
        return memo[id(self)]

    def __reduce__(self):
        return type(self)._rebuild, (self._pickle_args(),)


def _bytes_of(impl):
    """The bytes of a 1-D contiguous impl as a uint8 impl over the same memory."""
    base = _C.storage_as(impl, "uint8")
    nb = impl.itemsize
    return _C.as_strided(base, [impl.numel * nb], [1], impl.storage_offset * nb)


class UntypedStorage(_StorageBase):
    """The bytes of a storage. UntypedStorage(nbytes), UntypedStorage([byte values]), UntypedStorage();
    tensor.untyped_storage() for a tensor's (sharing its memory). Indexing gives ints (bytes); slices are
    storages sharing the memory."""

    __slots__ = ()

    def __init__(self, *args, device=None):
        self._impl = _new_impl(args, "uint8", device, "UntypedStorage")

    @property
    def filename(self):
        return None

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return UntypedStorage._from_impl(self._tensor()[idx].contiguous()._impl
                                             if idx.step not in (None, 1) else self._tensor()[idx]._impl)
        return super().__getitem__(idx)

    def untyped(self):
        return self

    def clone(self):
        return UntypedStorage._from_impl(_C.clone(self._impl))

    def cpu(self):
        # a new storage object: over the same memory when already on the CPU, as PyTorch's
        return UntypedStorage._from_impl(self._impl if not self.is_cuda else _C.to(self._impl, "uint8", "cpu", True))

    def to(self, *, device=None, non_blocking=False):
        dev = str(_device_from_str(device) if isinstance(device, str) else device)
        if dev == self._impl.device:
            return self
        return UntypedStorage._from_impl(_C.to(self._impl, "uint8", dev, True))

    def type(self, dtype=None, non_blocking=False):
        return "flambeau.UntypedStorage" if dtype is None else TypedStorage._from_untyped(self, dtype).type()

    def _typed(self, dtype):
        """These bytes seen as `dtype` elements (shares the memory)."""
        itemsize = _C.empty([0], dtype, "cpu").itemsize
        if self._impl.storage_offset % itemsize or self.nbytes() % itemsize:
            raise RuntimeError(f"a storage of {self.nbytes()} bytes at byte offset {self._impl.storage_offset} "
                               f"cannot be seen as {dtype} elements of {itemsize} bytes")
        base = _C.storage_as(self._impl, dtype)
        return _C.as_strided(base, [self.nbytes() // itemsize], [1], self._impl.storage_offset // itemsize)

    def _pickle_args(self):
        return bytes(self.tolist()), self._impl.device

    @staticmethod
    def _rebuild(args):
        data, device = args
        return UntypedStorage(list(data), device=device)

    def __repr__(self):
        body = "\n".join(f" {v}" for v in self.tolist())
        head = f"[flambeau.storage.UntypedStorage(device={self._impl.device}) of size {self.nbytes()}]"
        return f"{body}\n{head}" if body else head

    @classmethod
    def from_buffer(cls, buffer, byte_order="native", dtype=None, count=-1, offset=0):
        return TypedStorage.from_buffer(buffer, byte_order, dtype=dtype or _BY_NAME["uint8"], count=count,
                                        offset=offset).untyped()


class _LegacyStorageMeta(type):
    """FloatStorage & co.: isinstance(x.storage(), FloatStorage) tests the dtype; calling one makes a
    TypedStorage of its dtype (as PyTorch, whose FloatStorage(4) is a TypedStorage)."""

    def __instancecheck__(cls, obj):
        if cls._dtype_name is None:
            return type.__instancecheck__(cls, obj)
        return isinstance(obj, TypedStorage) and obj._impl.dtype == cls._dtype_name

    def __call__(cls, *args, **kwargs):
        if cls._dtype_name is None:
            return type.__call__(cls, *args, **kwargs)
        if "dtype" in kwargs:
            raise RuntimeError(f"{cls.__name__}: the dtype is fixed by the class")
        return TypedStorage(*args, dtype=_BY_NAME[cls._dtype_name], **kwargs)


class TypedStorage(_StorageBase, metaclass=_LegacyStorageMeta):
    """A storage's memory seen as elements of one dtype. TypedStorage(size, dtype=, device=),
    TypedStorage(sequence, dtype=), TypedStorage(wrap_storage=untyped, dtype=); tensor.storage() for a
    tensor's. Deprecated in PyTorch (it warns once, as here)."""

    __slots__ = ()
    _dtype_name = None

    def __init__(self, *args, device=None, dtype=None, wrap_storage=None, _internal=False):
        if not _internal:
            _warn_typed_storage_removal()
        dt = (get_default_dtype() if dtype is None else _to_dtype(dtype))._name
        if wrap_storage is not None:
            if args or device is not None:
                raise RuntimeError("TypedStorage(): no positional arguments or device with wrap_storage")
            if not isinstance(wrap_storage, UntypedStorage):
                raise TypeError(f"TypedStorage(): expected wrap_storage to be an UntypedStorage, but got "
                                f"{type(wrap_storage).__name__}")
            self._impl = wrap_storage._typed(dt)
        else:
            self._impl = _new_impl(args, dt, device, "TypedStorage")

    @classmethod
    def _from_untyped(cls, untyped, dtype):
        return cls._from_impl(untyped._typed(_to_dtype(dtype)._name))

    @property
    def dtype(self):
        return _BY_NAME[self._impl.dtype]

    @property
    def _untyped_storage(self):
        return self.untyped()

    def untyped(self):
        return UntypedStorage._from_impl(_bytes_of(self._impl))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            raise RuntimeError("slices are only supported in UntypedStorage.__getitem__")
        return super().__getitem__(idx)

    def clone(self):
        return TypedStorage._from_impl(_C.clone(self._impl))

    def cpu(self):
        # a new storage object: over the same memory when already on the CPU, as PyTorch's
        impl = self._impl
        return TypedStorage._from_impl(impl if not self.is_cuda else _C.to(impl, impl.dtype, "cpu", True))

    def to(self, *, device=None, non_blocking=False):
        dev = str(_device_from_str(device) if isinstance(device, str) else device)
        if dev == self._impl.device:
            return self
        return TypedStorage._from_impl(_C.to(self._impl, self._impl.dtype, dev, True))

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return f"flambeau.{_LEGACY_NAMES[self._impl.dtype]}"
        return self._to(_to_dtype(dtype))

    def _to(self, dtype):
        """A copy converted to `dtype` (a copy also when it already is, as PyTorch's)."""
        if dtype._name == self._impl.dtype:
            return TypedStorage._from_impl(_C.clone(self._impl))
        return TypedStorage._from_impl(_C.to(self._impl, dtype._name, self._impl.device, True))

    def double(self):
        return self._to(_BY_NAME["float64"])

    def float(self):
        return self._to(_BY_NAME["float32"])

    def half(self):
        return self._to(_BY_NAME["float16"])

    def bfloat16(self):
        return self._to(_BY_NAME["bfloat16"])

    def long(self):
        return self._to(_BY_NAME["int64"])

    def int(self):
        return self._to(_BY_NAME["int32"])

    def short(self):
        return self._to(_BY_NAME["int16"])

    def char(self):
        return self._to(_BY_NAME["int8"])

    def byte(self):
        return self._to(_BY_NAME["uint8"])

    def bool(self):
        return self._to(_BY_NAME["bool"])

    def pickle_storage_type(self):
        return _LEGACY_NAMES[self._impl.dtype]

    def _pickle_args(self):
        return self.tolist(), self._impl.dtype, self._impl.device

    @staticmethod
    def _rebuild(args):
        data, dtype, device = args
        return TypedStorage(data, dtype=_BY_NAME[dtype], device=device, _internal=True)

    def __repr__(self):
        body = "\n".join(f" {v}" for v in self.tolist())
        head = (f"[flambeau.storage.TypedStorage(dtype=flambeau.{self._impl.dtype}, device={self._impl.device}) "
                f"of size {self.size()}]")
        return f"{body}\n{head}" if body else head

    @classmethod
    def from_buffer(cls, buffer, byte_order="native", dtype=None, count=-1, offset=0):
        import numpy as np
        dt = _to_dtype(dtype)._name if dtype is not None else (cls._dtype_name or get_default_dtype()._name)
        if byte_order not in ("native", "little", "big"):
            raise ValueError(f"from_buffer: byte_order must be 'native', 'little' or 'big', got {byte_order!r}")
        np_dt = np.dtype(_NUMPY[dt])
        if byte_order != "native":
            np_dt = np_dt.newbyteorder("<" if byte_order == "little" else ">")
        arr = np.frombuffer(buffer, dtype=np_dt, count=count, offset=offset).astype(_NUMPY[dt])
        from ._creation import from_numpy
        return TypedStorage._from_impl(from_numpy(arr.copy())._impl)


_NUMPY = {"float32": "float32", "float64": "float64", "float16": "float16", "int64": "int64", "int32": "int32",
          "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}

_LEGACY_NAMES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
                 "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage",
                 "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage"}


def _legacy(name, dtype_name):
    return _LegacyStorageMeta(name, (TypedStorage,), {"_dtype_name": dtype_name, "__slots__": (),
                                                       "__module__": "flambeau"})


FloatStorage = _legacy("FloatStorage", "float32")
DoubleStorage = _legacy("DoubleStorage", "float64")
HalfStorage = _legacy("HalfStorage", "float16")
BFloat16Storage = _legacy("BFloat16Storage", "bfloat16")
LongStorage = _legacy("LongStorage", "int64")
IntStorage = _legacy("IntStorage", "int32")
ShortStorage = _legacy("ShortStorage", "int16")
CharStorage = _legacy("CharStorage", "int8")
ByteStorage = _legacy("ByteStorage", "uint8")
BoolStorage = _legacy("BoolStorage", "bool")


# ------------------------------------------------------------------------------------------- Tensor methods
def _tensor_storage(self):
    """The tensor's whole storage as a TypedStorage of its dtype (shares the memory); warns as PyTorch."""
    _warn_typed_storage_removal()
    return TypedStorage._from_impl(_C.storage_as(self._impl, self._impl.dtype))


def _tensor_untyped_storage(self):
    return UntypedStorage._from_impl(_C.storage_as(self._impl, "uint8"))


def _tensor_set_(self, source=None, storage_offset=0, size=None, stride=None):
    """set_(): empty; set_(tensor): share tensor's storage and geometry; set_(storage, storage_offset=0,
    size=None, stride=None): view `storage` (a TypedStorage of self's dtype or an UntypedStorage, read as
    self's dtype) from element `storage_offset` with `size` (default: the whole storage) and `stride`
    (default: contiguous). The storage must be large enough (PyTorch would grow it)."""
    from .autograd.grad_mode import _state as _gs
    from .autograd.function import _is_fw_leaf
    if self._rg and self.grad_fn is None and _gs.enabled and not _is_fw_leaf(self):
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    self._impl.bump_version()  # an in-place op: refused on an inference tensor outside inference_mode
    if source is None:
        self._impl = _C.empty([0], self._impl.dtype, self._impl.device)
        return self
    if isinstance(source, Tensor):
        if source._impl.dtype != self._impl.dtype:
            raise RuntimeError(f"Could not set tensor of type {_TORCH_NAMES[source._impl.dtype]} to a tensor of type "
                               f"{_TORCH_NAMES[self._impl.dtype]}")
        self._impl = source._impl
        return self
    dt = self._impl.dtype
    if isinstance(source, TypedStorage):
        if source._impl.dtype != dt:
            raise RuntimeError(f"Expected a Storage of type {_TORCH_NAMES.get(dt, dt)} or an UntypedStorage, but "
                               f"got type {_TORCH_NAMES.get(source._impl.dtype, source._impl.dtype).capitalize()} "
                               "for argument 1 'storage'")
        base = source._impl
    elif isinstance(source, UntypedStorage):
        base = source._typed(dt)
    else:
        raise TypeError(f"set_(): argument 'source' must be Tensor or Storage, not {type(source).__name__}")
    if size is None:
        if storage_offset != 0 or stride is not None:
            raise TypeError("set_(): size is required with storage_offset or stride")
        size = [base.numel]
    size = [int(s) for s in size]
    stride = list(contiguous_strides(size)) if stride is None or len(stride) == 0 else [int(s) for s in stride]
    if len(stride) != len(size):
        raise RuntimeError(f"set_: sizes {size} and strides {stride} differ in length")
    if storage_offset < 0:
        raise RuntimeError(f"set_: storage offset must be non-negative, got {storage_offset}")
    need = storage_offset + 1 + sum((s - 1) * abs(st) for s, st in zip(size, stride)) if all(size) else 0
    if need > base.numel:
        raise RuntimeError(f"set_: sizes {size}, strides {stride} and storage offset {storage_offset} need a "
                           f"storage of {need} elements, this one has {base.numel} (flambeau does not grow storages)")
    self._impl = _C.as_strided(base, size, stride, base.storage_offset + storage_offset)
    return self


_TORCH_NAMES = {"float32": "float", "float64": "double", "float16": "half", "bfloat16": "bfloat16",
                "int64": "long", "int32": "int", "int16": "short", "int8": "char", "uint8": "byte", "bool": "bool"}


Tensor.storage = _tensor_storage
Tensor.untyped_storage = _tensor_untyped_storage
Tensor.set_ = _tensor_set_
