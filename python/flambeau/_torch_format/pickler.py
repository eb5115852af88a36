"""Writes data.pkl of a PyTorch checkpoint: the saved object as pickle protocol 2 opcodes.

The opcodes are written here directly rather than by pickle.Pickler, for two reasons: the pickle must
name PyTorch's globals (torch._utils._rebuild_tensor_v2, torch.FloatStorage, ...), which pickle.Pickler
would only write after importing torch to check they exist, and it must use only the opcodes and
globals that torch.load(weights_only=True) accepts, so that PyTorch reads the file without being told
to trust it. What is written, per type:

    tensor        torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
                  OrderedDict()); storage = persistent id ('storage', torch.<X>Storage, key,
                  location, numel), whose bytes are the archive record data/<key>
    Parameter     torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict()), or
                  _rebuild_parameter_with_state(..., attributes) when Python attributes were set on it
    subclass      torch._tensor._rebuild_from_type_v2(_rebuild_tensor_v2, <module>.<Class>, args,
                  attributes or None): loading names the class, so loaders must be told to trust it
                  (add_safe_globals), in PyTorch with weights_only=True as in flambeau; a plain tensor
                  with Python attributes the same way, its class GLOBAL torch Tensor
    dtype         GLOBAL torch <name>        device     torch.device(type[, index])
    Size          torch.Size(tuple)          bytes      _codecs.encode(latin-1 str, 'latin1')
    bytearray     builtins.bytearray(bytes)  complex    builtins.complex(real, imag)
    set           builtins.set(list)         frozenset  builtins.frozenset(list) (*)
    OrderedDict   collections.OrderedDict() + items, and BUILD of its __dict__ (state dicts' _metadata)
    Counter       collections.Counter(dict)
    dict, list, tuple, str, int, float, bool, None: the plain opcodes (ints beyond 255 bytes: LONG4 (*))

(*) flambeau.load reads these; torch.load(weights_only=True) refuses them (frozenset is not on its
allow-list, LONG4 not among its opcodes) and needs weights_only=False.

The same tensor, list or dict object saved twice is written once and referenced (BINGET), so it
comes back as one object, as with torch.save.
"""
import collections
import pickle
import struct

import numpy as np

import flambeau

from .dtypes import dtype_name


def _is_dtype(obj):
    return isinstance(obj, flambeau.dtype) or type(obj).__name__ == "_NoTensorsDtype"


class TorchPickler:
    """pickler = TorchPickler(storages); data = pickler.dump(obj).

    `storages.persistent_id(tensor)` returns (storage class name, key, location, numel) for the
    storage under `tensor`, recording it to be written to the archive."""

    def __init__(self, storages):
        self.storages = storages
        self.out = []
        self.memo = {}          # id(obj) -> memo index (tensors, lists, dicts, globals by name)
        self.keepalive = []     # objects whose id() is in memo must outlive the dump

    # -------------------------------------------------------------------- low-level writers
    def _write(self, data):
        self.out.append(data)

    def _put(self, key, obj):
        index = len(self.memo)
        self.memo[key] = index
        self.keepalive.append(obj)
        self._write(pickle.BINPUT + bytes([index]) if index < 256
                    else pickle.LONG_BINPUT + struct.pack("<I", index))

    def _get(self, index):
        self._write(pickle.BINGET + bytes([index]) if index < 256
                    else pickle.LONG_BINGET + struct.pack("<I", index))

    def _global(self, module, name):
        key = ("global", module, name)
        if key in self.memo:
            self._get(self.memo[key])
            return
        self._write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self._put(key, None)

    def _int(self, value):
        if 0 <= value < 256:
            self._write(pickle.BININT1 + bytes([value]))
        elif 0 <= value < 65536:
            self._write(pickle.BININT2 + struct.pack("<H", value))
        elif -2 ** 31 <= value < 2 ** 31:
            self._write(pickle.BININT + struct.pack("<i", value))
        else:
            data = pickle.encode_long(value)
            if len(data) < 256:
                self._write(pickle.LONG1 + bytes([len(data)]) + data)
            else:
                self._write(pickle.LONG4 + struct.pack("<i", len(data)) + data)

    def _str(self, value):
        data = value.encode("utf-8", "surrogatepass")
        self._write(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)

    def _tuple(self, items, path):
        if len(items) == 0:
            self._write(pickle.EMPTY_TUPLE)
            return
        if len(items) <= 3:
            for i, v in enumerate(items):
                self.save(v, f"{path}[{i}]")
            self._write((pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)[len(items) - 1])
            return
        self._write(pickle.MARK)
        for i, v in enumerate(items):
            self.save(v, f"{path}[{i}]")
        self._write(pickle.TUPLE)

    def _call(self, module, name, args, path):
        """module.name(*args)."""
        self._global(module, name)
        self._tuple(args, path)
        self._write(pickle.REDUCE)

    def _setitems(self, items, path):
        items = list(items)
        for start in range(0, len(items), 1000):  # batches, as pickle.Pickler writes them
            self._write(pickle.MARK)
            for k, v in items[start:start + 1000]:
                self.save(k, path)
                self.save(v, f"{path}[{k!r}]")
            self._write(pickle.SETITEMS)

    # -------------------------------------------------------------------- objects
    def dump(self, obj):
        self._write(pickle.PROTO + bytes([2]))
        self.save(obj, "obj")
        self._write(pickle.STOP)
        return b"".join(self.out)

    def save(self, obj, path):
        if obj is None:
            self._write(pickle.NONE)
        elif obj is True or obj is False:
            self._write(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif isinstance(obj, int) and not isinstance(obj, bool):
            self._int(int(obj))
        elif isinstance(obj, float):  # nan and the infinities included: IEEE-754 bytes
            self._write(pickle.BINFLOAT + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            self._str(str(obj))
        elif getattr(obj, "is_sparse", False) is True and isinstance(obj, flambeau.Tensor):
            self._sparse_object(obj, path)
        elif isinstance(obj, flambeau.Tensor):
            self._tensor_object(obj, path)
        elif isinstance(obj, np.generic):
            self.save(obj.item(), path)
        elif _is_dtype(obj):
            self._global("torch", dtype_name(obj))
        elif isinstance(obj, flambeau.device):
            args = (obj.type,) if obj.index is None else (obj.type, obj.index)
            self._call("torch", "device", args, path)
        elif isinstance(obj, flambeau.Size):
            self._call("torch", "Size", (tuple(int(s) for s in obj),), path)
        elif isinstance(obj, bytes):
            self._call("_codecs", "encode", (obj.decode("latin1"), "latin1"), path)
        elif isinstance(obj, bytearray):
            self._call("builtins", "bytearray", (bytes(obj),), path)
        elif isinstance(obj, complex):
            self._call("builtins", "complex", (obj.real, obj.imag), path)
        elif isinstance(obj, collections.Counter):
            self._memoized(obj, path, self._counter)
        elif isinstance(obj, collections.OrderedDict):
            self._memoized(obj, path, self._ordered_dict)
        elif isinstance(obj, dict):
            if type(obj) is not dict:
                raise TypeError(f"flambeau.save: cannot save {path} of type "
                                f"{type(obj).__qualname__} (a dict subclass)")
            self._memoized(obj, path, self._dict)
        elif isinstance(obj, tuple):
            if hasattr(obj, "_fields"):
                raise TypeError(f"flambeau.save: cannot save {path}, a namedtuple "
                                f"{type(obj).__qualname__}; convert it to a tuple or dict")
            self._tuple(obj, path)
        elif isinstance(obj, list):
            self._memoized(obj, path, self._list)
        elif isinstance(obj, (set, frozenset)):
            name = "frozenset" if isinstance(obj, frozenset) else "set"
            self._call("builtins", name, (list(obj),), path)
        else:
            raise TypeError(
                f"flambeau.save: cannot save {path} of type {type(obj).__module__}."
                f"{type(obj).__qualname__}. Saved objects are made of tensors, dicts, lists, tuples, "
                "sets and plain values (int, float, bool, str, bytes, None); save a module or an "
                "optimizer through its state_dict().")

    def _memoized(self, obj, path, write):
        key = id(obj)
        if key in self.memo:
            self._get(self.memo[key])
        else:
            write(obj, key, path)

    def _list(self, obj, key, path):
        self._write(pickle.EMPTY_LIST)
        self._put(key, obj)
        for start in range(0, len(obj), 1000):
            self._write(pickle.MARK)
            for i, v in enumerate(obj[start:start + 1000], start):
                self.save(v, f"{path}[{i}]")
            self._write(pickle.APPENDS)

    def _dict(self, obj, key, path):
        self._write(pickle.EMPTY_DICT)
        self._put(key, obj)
        self._setitems(obj.items(), path)

    def _ordered_dict(self, obj, key, path):
        self._call("collections", "OrderedDict", (), path)
        self._put(key, obj)
        self._setitems(obj.items(), path)
        state = getattr(obj, "__dict__", None)
        if state:  # a state_dict's _metadata (module versions), restored by BUILD
            self.save(dict(state), path + ".__dict__")
            self._write(pickle.BUILD)

    def _counter(self, obj, key, path):
        self._call("collections", "Counter", (dict(obj),), path)
        self._put(key, obj)

    def _tensor_object(self, t, path):
        key = id(t)
        if key in self.memo:
            self._get(self.memo[key])
            return
        from flambeau.nn import Parameter
        if isinstance(t, Parameter):
            state = dict(getattr(t, "__dict__", None) or {})  # Python attributes set on it
            self._global("torch._utils",
                         "_rebuild_parameter_with_state" if state else "_rebuild_parameter")
            self._write(pickle.MARK)
            self._rebuild_tensor(t, False, path)
            self.save(bool(t.requires_grad), path)
            self._call("collections", "OrderedDict", (), path)
            if state:
                self.save(state, path + ".__dict__")
            self._write(pickle.TUPLE + pickle.REDUCE)
        elif type(t) is not flambeau.Tensor or getattr(t, "__dict__", None):
            self._tensor_with_type(t, path)
        else:
            self._rebuild_tensor(t, bool(t.requires_grad), path)
        self._put(key, t)

    def _tensor_with_type(self, t, path):
        """A Tensor subclass instance, or a tensor with Python attributes, as PyTorch's Tensor.__reduce_ex__
        writes one: torch._tensor._rebuild_from_type_v2(_rebuild_tensor_v2, <its class>, (tensor args),
        state), its attributes as state. Loading a subclass names it: a loader must be told to trust it."""
        cls = type(t)
        module, qualname = ("torch", "Tensor") if cls is flambeau.Tensor else (cls.__module__, cls.__qualname__)
        if "<locals>" in qualname or module is None:
            raise TypeError(f"flambeau.save: cannot save {path}, an instance of the local Tensor subclass "
                            f"{qualname} (define the class at module level so that it can be named)")
        self._global("torch._tensor", "_rebuild_from_type_v2")
        self._write(pickle.MARK)
        self._global("torch._utils", "_rebuild_tensor_v2")
        self._global(module, qualname)
        self._rebuild_tensor_args(t, bool(t.requires_grad), path)
        state = dict(getattr(t, "__dict__", None) or {})
        self.save(state or None, path + ".__dict__")
        self._write(pickle.TUPLE + pickle.REDUCE)

    def _sparse_object(self, t, path):
        """A sparse COO tensor as torch.save writes one: _rebuild_sparse_tensor(_get_layout("torch.sparse_coo"),
        (indices, values, torch.Size(size), is_coalesced))."""
        key = id(t)
        if key in self.memo:
            self._get(self.memo[key])
            return
        self._global("torch._utils", "_rebuild_sparse_tensor")
        self._call("torch.serialization", "_get_layout", ("torch.sparse_coo",), path)
        self._write(pickle.MARK)
        self._tensor_object(t._indices(), path + "._indices()")
        self._tensor_object(t._values(), path + "._values()")
        self.save(flambeau.Size(tuple(int(s) for s in t.shape)), path)
        self.save(bool(t.is_coalesced()), path)
        self._write(pickle.TUPLE + pickle.TUPLE2 + pickle.REDUCE)
        self._put(key, t)

    def _rebuild_tensor(self, t, requires_grad, path):
        self._global("torch._utils", "_rebuild_tensor_v2")
        self._rebuild_tensor_args(t, requires_grad, path)
        self._write(pickle.REDUCE)

    def _rebuild_tensor_args(self, t, requires_grad, path):
        """The argument tuple of _rebuild_tensor_v2: (storage, offset, size, stride, requires_grad, hooks)."""
        storage_class, storage_key, location, numel = self.storages.persistent_id(t, path)
        self._write(pickle.MARK)
        self._write(pickle.MARK)
        self._str("storage")
        self._global("torch", storage_class)
        self._str(storage_key)
        self._str(location)
        self._int(numel)
        self._write(pickle.TUPLE + pickle.BINPERSID)
        self._int(t.storage_offset())
        self._tuple(tuple(t.shape), path)
        self._tuple(tuple(t.stride()), path)
        self.save(requires_grad, path)
        self._call("collections", "OrderedDict", (), path)
        self._write(pickle.TUPLE)

