"""A restricted unpickler for PyTorch checkpoints: only an allow-list of globals can be named.

Unpickling runs code only by calling what a pickle names with GLOBAL (or STACK_GLOBAL, INST, OBJ,
EXT*): every one of those goes through find_class, which here answers from a fixed table of harmless
constructors and PyTorch's tensor-rebuilding functions, re-implemented for flambeau. Any other name
raises pickle.UnpicklingError("Unsupported global: GLOBAL os.system ...") before anything is called,
whatever weights_only says: flambeau never imports or calls a function a file names. This is the
set torch.load(weights_only=True) accepts (torch/_weights_only_unpickler.py) where flambeau can
represent the value, plus builtins.frozenset and builtins.bytes (empty bytes: torch.save writes
`bytes()` for b"", which torch's own allow-list then refuses).

Globals the user marked safe (flambeau.serialization.add_safe_globals / safe_globals, as in
torch.serialization) are allowed too, except from sys, os, posix and nt. The opcodes that set
attributes or items on whatever object is on the stack are limited as PyTorch limits them, so that a file cannot alter shared objects (the dtype singletons, the allowed classes
and functions): BUILD only on OrderedDicts (a state dict's _metadata), tensors and instances of the
user's safe types, APPEND(S) only on lists, SETITEM(S) only on dicts, ADDITEMS only on sets, NEWOBJ
only on allowed classes. For that
the unpickler derives from pickle._Unpickler, the pure-Python pickle.Unpickler whose opcode table
can be overridden (data.pkl holds no tensor data, so its speed does not matter).

Persistent ids must be ('storage', <storage class>, key, location, numel): the storage's bytes are
the archive record data/<key>, read by the `load_storage` callback the archive reader provides.
"""
import _compat_pickle
import collections
import pickle

import flambeau
from flambeau import _C
from flambeau._tensor import _wrap

from .dtypes import STORAGE_DTYPES, STORED_NUMPY, flambeau_dtype, has_tensors_of
from .safe_globals import user_allowed


class StorageType:
    """What GLOBAL torch.FloatStorage (etc.) gives: the element type of a persistent storage."""
    __slots__ = ("dtype_name",)

    def __init__(self, dtype_name):
        self.dtype_name = dtype_name


class LoadedStorage:
    """A storage of the checkpoint: its bytes as one 1-D flambeau tensor per element type asked for
    (one, except for UntypedStorage read as another dtype by _rebuild_tensor_v3)."""
    __slots__ = ("key", "dtype_name", "numel", "_materialize", "_tensors")

    def __init__(self, key, dtype_name, numel, materialize):
        self.key = key
        self.dtype_name = dtype_name
        self.numel = numel
        self._materialize = materialize   # dtype name -> 1-D flambeau tensor over the storage
        self._tensors = {}

    def tensor(self, dtype_name=None):
        name = dtype_name or self.dtype_name
        t = self._tensors.get(name)
        if t is None:
            t = self._tensors[name] = self._materialize(name)
        return t


class _TensorType:
    """GLOBAL torch.Tensor: only meaningful as the type argument of _rebuild_from_type_v2."""
    __slots__ = ()


TENSOR_TYPE = _TensorType()


def _error(message):
    return pickle.UnpicklingError(message)


def _check_geometry(storage, offset, size, stride, what):
    if not isinstance(storage, LoadedStorage):
        raise _error(f"{what}: expected a storage, got {type(storage).__name__}")
    ok = (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
          and all(type(v) is int and v >= 0 for v in size + stride)
          and type(offset) is int and offset >= 0)
    if ok:  # element counts and the furthest element must be int64s, as in any tensor
        numel = 1
        for v in size:
            numel *= v
        furthest = offset + sum((n - 1) * st for n, st in zip(size, stride) if n)
        ok = numel < 2 ** 63 and furthest < 2 ** 63
    if not ok:
        raise _error(f"{what}: invalid geometry (offset {offset!r}, size {size!r}, stride {stride!r})")


def _view(storage, offset, size, stride, dtype_name=None):
    """A tensor viewing the storage as PyTorch's Tensor.set_(storage, offset, size, stride) does."""
    _check_geometry(storage, offset, size, stride, "_rebuild_tensor")
    whole = storage.tensor(dtype_name)
    if whole._impl.device == "meta":  # map_location="meta"
        from .. import _meta
        return _meta.make(size, whole._impl.dtype, stride)
    try:
        return _wrap(_C.as_strided(whole._impl, list(size), list(stride), offset))
    except RuntimeError as e:
        raise _error(f"storage data/{storage.key}: {e}") from None


def _set_requires_grad(t, requires_grad):
    if type(requires_grad) is not bool:
        raise _error(f"requires_grad must be a bool, got {type(requires_grad).__name__}")
    if requires_grad:
        t.requires_grad_(True)
    return t


def _check_metadata(metadata):
    # PyTorch records bits of a tensor that its storage and geometry do not give (conjugate,
    # negative views, ...): none of them can be set on a real tensor flambeau can hold.
    if metadata and any(metadata.values() if isinstance(metadata, dict) else [True]):
        raise _error(f"tensor metadata {metadata!r} is not supported by flambeau")


def rebuild_tensor(storage, storage_offset, size, stride):
    return _view(storage, storage_offset, size, stride)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                      metadata=None):
    # backward_hooks: always an empty OrderedDict in files torch writes (hooks are not saved)
    _check_metadata(metadata)
    return _set_requires_grad(_view(storage, storage_offset, size, stride), requires_grad)


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                      metadata=None):
    _check_metadata(metadata)
    name = getattr(dtype, "_name", None)
    if name is None or name not in STORED_NUMPY:
        raise _error(f"_rebuild_tensor_v3: unsupported dtype {dtype!r}")
    return _set_requires_grad(_view(storage, storage_offset, size, stride, name), requires_grad)


def rebuild_parameter(data, requires_grad, backward_hooks=None):
    from flambeau.nn import Parameter
    if not isinstance(data, flambeau.Tensor):
        raise _error(f"_rebuild_parameter: expected a tensor, got {type(data).__name__}")
    if type(requires_grad) is not bool:
        raise _error("_rebuild_parameter: requires_grad must be a bool")
    return Parameter(data, requires_grad)


def _set_state(obj, state):
    """PyTorch's _set_obj_state: the Python attributes a tensor or Parameter carried."""
    if isinstance(state, tuple) and len(state) == 2:
        dict_state, slot_state = state
    else:
        dict_state, slot_state = state, None
    for part in (dict_state, slot_state):
        if not part:
            continue
        if not isinstance(part, dict):
            raise _error(f"invalid tensor state {state!r}")
        for k, v in part.items():
            # only new attributes: a file must not replace the tensor's own (data, grad, _impl...)
            if not isinstance(k, str) or k.startswith("__") or hasattr(type(obj), k):
                raise _error(f"invalid tensor attribute name {k!r}")
            try:
                setattr(obj, k, v)
            except AttributeError:
                raise _error(f"the saved tensor has a Python attribute {k!r}, which its class "
                             f"{type(obj).__name__} cannot hold (it has __slots__)") from None
    return obj


def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _set_state(rebuild_parameter(data, requires_grad), state)


def rebuild_device_tensor_from_cpu_tensor(data, dtype, device, requires_grad):
    if not isinstance(data, flambeau.Tensor):
        raise _error("_rebuild_device_tensor_from_cpu_tensor: expected a tensor")
    return _set_requires_grad(data.to(dtype=dtype, device=device), requires_grad)


def rebuild_from_type_v2(func, new_type, args, state):
    """A tensor of a subclass, or with Python attributes: func(*args), then its type and state."""
    from flambeau.nn import Parameter
    if func not in _REBUILD_FUNCTIONS_SET or not isinstance(args, tuple):
        raise _error(f"_rebuild_from_type_v2: unsupported rebuild function {func!r}")
    ret = func(*args)
    if new_type is Parameter and not isinstance(ret, Parameter):
        ret = Parameter(ret, ret.requires_grad)
    elif isinstance(new_type, type) and issubclass(new_type, flambeau.Tensor) and new_type is not Parameter:
        # a subclass find_class let through (the user marked it safe), made as PyTorch's loader makes it
        if type(ret) is not new_type:  # (an alias: one that required grad is not a leaf, as in PyTorch)
            ret = ret.as_subclass(new_type)
        own_setstate = getattr(new_type, "__setstate__", None)
        if own_setstate is not None and own_setstate is not flambeau.Tensor.__setstate__:
            ret.__setstate__(state)
            return ret
    elif new_type is not TENSOR_TYPE and new_type is not Parameter:
        raise _error(f"_rebuild_from_type_v2: unsupported tensor type {new_type!r}")
    return _set_state(ret, state)


def _device(*args):
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str):
        raise _error(f"torch.device{args!r}: invalid arguments")
    return flambeau.device(*args)


def _size(sizes=()):
    sizes = tuple(sizes)
    if not all(type(s) is int for s in sizes):
        raise _error(f"torch.Size({sizes!r}): invalid sizes")
    return flambeau.Size(sizes)


def _encode(text, encoding="utf-8"):
    """_codecs.encode as PyTorch pickles bytes (protocol 2): a latin-1 str back to its bytes. Only
    that use is allowed (other codecs can decompress, which no checkpoint needs)."""
    if not isinstance(text, str) or encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise _error(f"_codecs.encode is only allowed for bytes (latin1), got encoding {encoding!r}")
    return text.encode("latin1")


def _bytes(*args):
    if args and not isinstance(args[0], (bytes, bytearray, str, list)):
        raise _error("builtins.bytes: only bytes, strings and lists of ints are allowed")
    return bytes(*args)


def _bytearray(*args):
    if args and not isinstance(args[0], (bytes, bytearray, str, list)):
        raise _error("builtins.bytearray: only bytes, strings and lists of ints are allowed")
    return bytearray(*args)


_REBUILD_FUNCTIONS = {
    "_rebuild_tensor": rebuild_tensor,
    "_rebuild_tensor_v2": rebuild_tensor_v2,
    "_rebuild_tensor_v3": rebuild_tensor_v3,
    "_rebuild_parameter": rebuild_parameter,
    "_rebuild_parameter_with_state": rebuild_parameter_with_state,
    "_rebuild_device_tensor_from_cpu_tensor": rebuild_device_tensor_from_cpu_tensor,
}
_REBUILD_FUNCTIONS = {f"torch._utils.{k}": v for k, v in _REBUILD_FUNCTIONS.items()}
_REBUILD_FUNCTIONS_SET = set(_REBUILD_FUNCTIONS.values())


class _Layout:
    """What torch.serialization._get_layout("torch.sparse_coo") gives: a layout name, checked on use."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def _get_layout(name):
    if name not in ("torch.sparse_coo", "torch.strided", "torch.sparse_csr", "torch.sparse_csc", "torch.sparse_bsr",
                    "torch.sparse_bsc"):
        raise _error(f"torch.serialization._get_layout: unknown layout {name!r}")
    return _Layout(name)


def rebuild_sparse_tensor(layout, data):
    """torch._utils._rebuild_sparse_tensor for COO tensors: (indices, values, size[, is_coalesced]), rebuilt
    through sparse_coo_tensor, which checks every index against the size (compressed layouts: refused)."""
    if not isinstance(layout, _Layout) or layout.name != "torch.sparse_coo":
        name = getattr(layout, "name", repr(layout))
        raise _error(f"_rebuild_sparse_tensor: layout {name} is not supported by flambeau (sparse COO only)")
    if not isinstance(data, tuple) or len(data) not in (3, 4):
        raise _error("_rebuild_sparse_tensor: expected (indices, values, size[, is_coalesced])")
    indices, values, size = data[:3]
    coalesced = data[3] if len(data) == 4 else None
    if not (isinstance(indices, flambeau.Tensor) and isinstance(values, flambeau.Tensor)) or \
            not isinstance(size, tuple) or coalesced not in (None, True, False):
        raise _error("_rebuild_sparse_tensor: malformed sparse tensor record")
    try:
        return flambeau.sparse_coo_tensor(indices, values, tuple(size), is_coalesced=coalesced)
    except (TypeError, ValueError, RuntimeError, IndexError) as e:
        raise _error(f"_rebuild_sparse_tensor: {e}") from None


def _allowed_globals():
    from flambeau.nn import Parameter
    allowed = {
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.complex": complex,
        "builtins.bytes": _bytes,
        "builtins.bytearray": _bytearray,
        "_codecs.encode": _encode,
        "torch.device": _device,
        "torch.Size": _size,
        "torch.Tensor": TENSOR_TYPE,
        "torch.nn.parameter.Parameter": Parameter,
        "torch._tensor._rebuild_from_type_v2": rebuild_from_type_v2,
        "torch._utils._rebuild_sparse_tensor": rebuild_sparse_tensor,
        "torch.serialization._get_layout": _get_layout,
    }
    allowed.update(_REBUILD_FUNCTIONS)
    return allowed


_ALLOWED = None
# tensors PyTorch's allow-list rebuilds but flambeau cannot hold: named instead of "unsupported"
_TENSOR_KINDS_NOT_SUPPORTED = {
    "torch._utils._rebuild_qtensor": "quantized tensors",
    "torch._utils._rebuild_nested_tensor": "nested tensors",
    "torch._utils._rebuild_meta_tensor_no_storage": "tensors on the meta device",
    "torch._utils._rebuild_wrapper_subclass": "tensor subclasses without storage",
    "torch._utils._rebuild_device_tensor_from_numpy": "tensors of a device saved through numpy",
}
_DICTS = (dict, collections.OrderedDict, collections.Counter)


def _unsupported(module, full_name, weights_only):
    message = (f"Unsupported global: GLOBAL {full_name} was not an allowed global. flambeau.load "
               "reads the tensors, containers and plain values of a checkpoint and never imports "
               "or calls anything else a file names")
    if weights_only is False:
        message += ", even with weights_only=False"
    if module.split(".", 1)[0] in ("sys", "os", "posix", "nt"):
        if weights_only is False:
            message += (": load this file with PyTorch (torch.load(..., weights_only=False)) only if you "
                        "trust its source")
    else:
        message += (f". If you trust it, allow it with flambeau.serialization.add_safe_globals"
                    f"([{full_name}]) or the flambeau.serialization.safe_globals([{full_name}]) "
                    "context manager")
    if module.startswith("torch.nn.modules") or module.startswith("torch.optim"):
        message += ". A whole model or optimizer was pickled: save its state_dict() instead"
    return _error(message + ".")


class RestrictedUnpickler(pickle._Unpickler):
    """pickle.Unpickler whose find_class answers only from the allow-list (see the module doc)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, load_storage, weights_only=None):
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage   # (key, dtype name, numel, location) -> LoadedStorage
        self._weights_only = weights_only
        self._storages = {}
        self._user = user_allowed()   # add_safe_globals, as it stands when the load starts
        self._user_objects = list(self._user.values())

    def _user_allows(self, obj):
        return any(obj is allowed for allowed in self._user_objects)

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is collections.OrderedDict and isinstance(state, dict) \
                and all(isinstance(k, str) and not k.startswith("__") for k in state):
            inst.__dict__.update(state)
        elif isinstance(inst, flambeau.Tensor):
            pass  # Tensor.__setstate__ ignores its state, as PyTorch's does for plain tensors
        elif self._user_allows(type(inst)):  # a type the user marked safe: as pickle builds it
            setstate = getattr(inst, "__setstate__", None)
            if setstate is not None:
                setstate(state)
                return
            slot_state = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slot_state = state
            if state:
                inst.__dict__.update(state)
            for k, v in (slot_state or {}).items():
                setattr(inst, k, v)
        else:
            raise _error(f"Can only build Tensor, Parameter or OrderedDict, but got "
                         f"{type(inst).__name__}")

    def _target(self, allowed, opcode):
        target = self.stack[-1]
        if type(target) not in allowed:
            raise _error(f"Can only {opcode} for {'/'.join(t.__name__ for t in allowed)}, but got "
                         f"{type(target).__name__}")
        return target

    def _load_append(self):
        value = self.stack.pop()
        self._target((list,), "APPEND").append(value)

    def _load_appends(self):
        items = self.pop_mark()
        self._target((list,), "APPENDS").extend(items)

    def _load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._target(_DICTS, "SETITEM")[key] = value

    def _load_setitems(self):
        items = self.pop_mark()
        target = self._target(_DICTS, "SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_additems(self):
        items = self.pop_mark()
        self._target((set,), "ADDITEMS").update(items)

    def _load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def _load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls, args, kwargs):
        from flambeau.nn import Parameter
        if cls is Parameter:
            return Parameter(*args, **kwargs)
        if cls not in (collections.OrderedDict, collections.Counter, set, frozenset, complex) \
                and not (isinstance(cls, type) and self._user_allows(cls)):
            raise _error(f"Can only create new objects of the allowed classes, but got {cls!r}")
        return cls.__new__(cls, *args, **kwargs)

    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.APPEND[0]] = _load_append
    dispatch[pickle.APPENDS[0]] = _load_appends
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _load_additems
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex

    def find_class(self, module, name):
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = _allowed_globals()
        # Python 2 names, as pickle's default find_class maps them for protocols < 3
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in _ALLOWED:
            return _ALLOWED[full]
        if module in ("torch", "torch.cuda", "torch.storage") and name in STORAGE_DTYPES:
            return StorageType(STORAGE_DTYPES[name])
        if module == "torch":
            dt = flambeau_dtype(name)
            if dt is not None:
                return dt
            if name in STORED_NUMPY or name.startswith(("complex", "float8", "uint", "qint",
                                                        "quint", "int")):
                raise _error(f"GLOBAL torch.{name}: flambeau has no dtype {name}")
        if full in self._user:
            return self._user[full]
        if full in _TENSOR_KINDS_NOT_SUPPORTED:
            raise _error(f"GLOBAL {full}: the checkpoint holds {_TENSOR_KINDS_NOT_SUPPORTED[full]}, "
                         "which flambeau does not have")
        raise _unsupported(module, full, self._weights_only)

    def persistent_load(self, pid):
        # ('storage', type, key, location, numel); the legacy format adds view metadata
        # (view key, offset, numel) or None
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")):
            raise _error(f"Only persistent_load of storage is allowed, but got {pid!r}")
        _, storage_type, key, location, numel = pid[:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, StorageType):
            raise _error(f"persistent id {pid!r}: {storage_type!r} is not a storage type")
        if isinstance(key, bytes):
            key = key.decode("ascii")
        if isinstance(location, bytes):
            location = location.decode("ascii")
        if not isinstance(key, str) or not isinstance(location, str) or type(numel) is not int \
                or numel < 0:
            raise _error(f"invalid persistent id {pid!r}")
        name = storage_type.dtype_name
        if not has_tensors_of(name):
            raise _error(f"storage data/{key} holds {name} elements: flambeau has no dtype {name}")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = self._load_storage(key, name, numel, location)
        if view is None:
            return storage
        return self._storage_view(storage, view)

    def _storage_view(self, root, view):
        """A legacy storage view: elements [offset, offset + numel) of the root storage."""
        if not (isinstance(view, tuple) and len(view) == 3 and type(view[1]) is int
                and type(view[2]) is int and 0 <= view[1] and 0 <= view[2]
                and view[1] + view[2] <= root.numel):
            raise _error(f"invalid storage view {view!r} of a storage of {root.numel} elements")
        view_key, offset, numel = view
        key = f"view {view_key}"
        storage = self._storages.get(key)
        if storage is None:
            def materialize(dtype_name):
                whole = root.tensor(dtype_name)
                return _wrap(_C.as_strided(whole._impl, [numel], [1], offset))
            storage = self._storages[key] = LoadedStorage(key, root.dtype_name, numel, materialize)
        return storage
