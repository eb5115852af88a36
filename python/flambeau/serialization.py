"""flambeau.save / flambeau.load, and the .safetensors format.

flambeau.save writes PyTorch's checkpoint format, the zip archive torch.save writes (since 1.6), so
torch.load(path) reads it with its default weights_only=True and gets torch tensors, Parameters,
OrderedDicts, dtypes and devices back; flambeau.load reads it, and what torch.save writes:

    <archive>/data.pkl        the object, pickled (protocol 2): containers and plain values as
                              pickle opcodes; each tensor as torch._utils._rebuild_tensor_v2(storage,
                              storage_offset, size, stride, requires_grad, OrderedDict()), each
                              nn.Parameter as torch._utils._rebuild_parameter(tensor, requires_grad,
                              OrderedDict()); a storage is the persistent id ('storage',
                              torch.<Float|Double|Long|...>Storage, key, location, numel)
    <archive>/data/<key>      the storage's raw little-endian elements (the whole storage)
    <archive>/byteorder       "little" ("big" is read too)
    <archive>/.format_version, .storage_alignment, version, .data/serialization_id
                              as torch.save writes them
Records are stored uncompressed, their data 64-byte aligned, each with its CRC-32
(_torch_format/writer.py and pickler.py give the details).

Loading never runs code from the file: the pickle is read by a restricted unpickler that can only
name an allow-list of globals (the containers, PyTorch's tensor-rebuilding functions and storage
types, torch.Size, torch.device, dtypes, and the builtins torch.load(weights_only=True) accepts);
any other global raises pickle.UnpicklingError naming it, even with weights_only=False, unless the
user marked it safe with add_safe_globals / safe_globals (as torch.serialization's). Tensors that
shared a storage when saved (tied weights, views) share memory when loaded, with their offsets and
strides. float16/bfloat16 tensors load as float16/bfloat16. A record whose
CRC does not match, a truncated archive or a malformed pickle raises SerializationError (or
pickle.UnpicklingError) instead of loading wrong numbers. Files in PyTorch's legacy format
(_use_new_zipfile_serialization=False) load too. Refused with a message saying why: tensors of
dtypes flambeau lacks (complex, uint16/32/64, float8, quantized), sparse and nested tensors, plain
tensors carrying Python attributes (Parameters may), TorchScript archives (torch.jit.save), and
PyTorch's pre-0.4 tar format.

What can be saved: tensors and Parameters of every flambeau dtype, dicts (keys of any saveable
type), OrderedDicts (with their _metadata, as state_dict() returns them), Counters, lists, tuples,
sets, frozensets, str, bytes, bytearray, int (any size), float (nan and infinities too), complex,
bool, None, dtypes, devices, flambeau.Size. torch.load with weights_only=True reads all of it
except frozensets and ints wider than 2040 bits (PyTorch's allow-list has no frozenset and its
unpickler no LONG4); torch.load(..., weights_only=False) reads those too. The same tensor, list or
dict saved twice is written once and loads as one object.

The format flambeau.save wrote before (magic b"FLAMBEAU", a JSON header, raw data and a SHA-256;
see _load_flambeau_v1) is still read.

save_safetensors(dict, path, metadata=None) / load_safetensors(path, device="cpu") read and write
the documented safetensors layout (8-byte little-endian header size, JSON header with dtype, shape
and data_offsets per tensor plus optional "__metadata__" of strings, then the raw data), so weights
saved from PyTorch with the safetensors library load here and the other way round.
"""
import base64
import collections
import hashlib
import io
import json
import math
import os
import struct

import numpy as np

import flambeau

from ._torch_format.safe_globals import (add_safe_globals, clear_safe_globals,
                                         get_safe_globals, get_unsafe_globals_in_checkpoint,
                                         safe_globals)

__all__ = ["save", "load", "save_safetensors", "load_safetensors", "add_safe_globals",
           "clear_safe_globals", "get_safe_globals", "get_unsafe_globals_in_checkpoint",
           "safe_globals"]

MAGIC = b"FLAMBEAU"
VERSION = 1
_PREFIX = struct.Struct("<8sIQ")  # magic, version, header length
_DIGEST_SIZE = 32
_ALIGN = 8

# flambeau dtype name -> little-endian numpy dtype
_NUMPY_DTYPES = {
    "float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "float16": np.dtype("<f2"),
    "int64": np.dtype("<i8"), "int32": np.dtype("<i4"), "int16": np.dtype("<i2"),
    "int8": np.dtype("i1"), "uint8": np.dtype("u1"), "bool": np.dtype("?"),
    "bfloat16": np.dtype("<u2"),  # the raw bits (numpy has no bfloat16)
    "complex64": np.dtype("<c8"), "complex128": np.dtype("<c16"),
}


class SerializationError(RuntimeError):
    """Raised when a file cannot be loaded (not a flambeau file, truncated, corrupted)."""


# ----------------------------------------------------------------------------------------------
# tensors <-> bytes
# ----------------------------------------------------------------------------------------------
def _dtype_name(dtype):
    return str(dtype).rsplit(".", 1)[-1]


def _tensor_to_numpy(t):
    """A little-endian C-contiguous numpy copy of tensor t's values (on the CPU)."""
    name = _dtype_name(t.dtype)
    if name not in _NUMPY_DTYPES:
        raise TypeError(f"flambeau.save: tensors of dtype {t.dtype} are not supported")
    if name == "bfloat16":  # its float32 values are exact; their top 16 bits are the bfloat16 bits
        f32 = t.detach().to("cpu").float().contiguous().numpy()
        return np.array(f32.view(np.uint32) >> 16, dtype=_NUMPY_DTYPES[name], order="C")
    arr = t.detach().to("cpu").contiguous().numpy()
    return np.array(arr, dtype=_NUMPY_DTYPES[name], order="C")


def _bf16_bits_to_tensor(bits):
    """A bfloat16 tensor from its bits (through the exact float32 values; NaNs become the canonical one)."""
    return flambeau.from_numpy(_bf16_to_f32(np.ascontiguousarray(bits))).to(flambeau.bfloat16)


def _numpy_to_tensor(arr):
    """A flambeau tensor owning a copy of arr; dtypes the core lacks are widened (integers to
    int64, other floats to float32)."""
    native = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")
    try:
        return flambeau.from_numpy(native)
    except (TypeError, ValueError, RuntimeError):
        if native.dtype.kind in "iu":
            return flambeau.from_numpy(native.astype(np.int64))
        if native.dtype.kind == "f":
            return flambeau.from_numpy(native.astype(np.float32))
        raise


def _is_tensor(obj):
    return isinstance(obj, flambeau.Tensor)


def _is_parameter(obj):
    try:
        from flambeau.nn import Parameter
    except ImportError:
        return False
    return isinstance(obj, Parameter)


# ----------------------------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.tensors = []       # header entries
        self.chunks = []        # bytes
        self.size = 0
        self.memo = {}          # id(tensor) -> index
        self.keepalive = []

    def add_tensor(self, t):
        key = id(t)
        if key in self.memo:
            return self.memo[key]
        arr = _tensor_to_numpy(t)
        data = arr.tobytes()
        pad = (-self.size) % _ALIGN
        if pad:
            self.chunks.append(b"\0" * pad)
            self.size += pad
        entry = {"dtype": _dtype_name(t.dtype), "shape": list(arr.shape), "offset": self.size,
                 "nbytes": len(data), "device": str(t.device)}
        if t.requires_grad:
            entry["requires_grad"] = True
        if _is_parameter(t):
            entry["parameter"] = True
        self.chunks.append(data)
        self.size += len(data)
        index = len(self.tensors)
        self.tensors.append(entry)
        self.memo[key] = index
        self.keepalive.append(t)
        return index

    def encode(self, obj, path="obj"):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return float(obj)
            return {"$float": repr(float(obj))}
        if getattr(obj, "is_sparse", False) is True:  # a sparse COO tensor: its indices and values
            return {"$sparse_coo": [self.add_tensor(obj._indices()), self.add_tensor(obj._values()),
                                    list(obj.shape), obj.is_coalesced(), obj.requires_grad]}
        if _is_tensor(obj):
            return {"$tensor": self.add_tensor(obj)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, flambeau.dtype):
            return {"$dtype": _dtype_name(obj)}
        if isinstance(obj, flambeau.device):
            return {"$device": str(obj)}
        if isinstance(obj, (bytes, bytearray)):
            return {"$bytes": base64.b64encode(bytes(obj)).decode("ascii")}
        if isinstance(obj, collections.Counter):
            return {"$counter": [[self.encode(k, path), self.encode(v, f"{path}[{k!r}]")]
                                 for k, v in obj.items()]}
        if isinstance(obj, dict):
            items = [[self.encode(k, path), self.encode(v, f"{path}[{k!r}]")]
                     for k, v in obj.items()]
            if isinstance(obj, collections.OrderedDict):
                out = {"$odict": items}
                metadata = getattr(obj, "_metadata", None)
                if metadata is not None:
                    out["metadata"] = self.encode(metadata, path + "._metadata")
                return out
            if type(obj) is not dict:
                raise TypeError(f"flambeau.save: cannot save {path} of type "
                                f"{type(obj).__qualname__} (a dict subclass)")
            return {"$dict": items}
        if isinstance(obj, tuple):
            if hasattr(obj, "_fields"):
                raise TypeError(f"flambeau.save: cannot save {path}, a namedtuple "
                                f"{type(obj).__qualname__}; convert it to a tuple or dict")
            return {"$tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, (set, frozenset)):
            tag = "$frozenset" if isinstance(obj, frozenset) else "$set"
            return {tag: [self.encode(v, path) for v in obj]}
        raise TypeError(
            f"flambeau.save: cannot save {path} of type {type(obj).__module__}."
            f"{type(obj).__qualname__}. Saved objects are made of tensors, dicts, lists, tuples, "
            "sets and plain values (int, float, bool, str, bytes, None); save a module or an "
            "optimizer through its state_dict().")


def _open_for(f, mode):
    if isinstance(f, (str, bytes, os.PathLike)):
        return open(f, mode), True
    return f, False


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save obj (a state dict, or nested dicts/lists/tuples of tensors and plain values) to the
    path or writable binary file f as a PyTorch checkpoint (the zip format described above), which
    torch.load and flambeau.load read. pickle_module, pickle_protocol and
    _use_new_zipfile_serialization (the legacy format) are accepted for compatibility: the file is
    always the zip format with a protocol-2 pickle, the one torch.load(weights_only=True) reads."""
    from ._torch_format.writer import PreparedArchive, _archive_name
    archive = PreparedArchive(obj)
    fh, close = _open_for(f, "wb")
    try:
        archive.write(fh, _archive_name(f))
    finally:
        if close:
            fh.close()


def _save_flambeau_v1(obj, f):
    """Write obj in the format flambeau.save wrote before it wrote PyTorch's (the layout in
    _load_flambeau_v1's docstring). Not used by flambeau.save; kept so that the reader of those
    files stays tested."""
    enc = _Encoder()
    structure = enc.encode(obj)
    header = json.dumps({"object": structure, "tensors": enc.tensors, "data_size": enc.size},
                        separators=(",", ":"), allow_nan=False).encode("utf-8")
    h = hashlib.sha256()
    prefix = _PREFIX.pack(MAGIC, VERSION, len(header))
    fh, close = _open_for(f, "wb")
    try:
        for part in [prefix, header] + enc.chunks:
            h.update(part)
            fh.write(part)
        fh.write(h.digest())
    finally:
        if close:
            fh.close()


# ----------------------------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------------------------
def _resolve_device(saved, map_location):
    if map_location is None:
        return saved
    if isinstance(map_location, dict):
        return map_location.get(saved, saved)
    if isinstance(map_location, (str, flambeau.device)):
        return str(map_location)
    raise TypeError("map_location should be a device string, a flambeau.device, a dict mapping "
                    "device strings, a callable or None")


class _Decoder:
    def __init__(self, entries, data, name, map_location):
        self.entries = entries
        self.data = data
        self.name = name
        self.map_location = map_location
        self.cache = {}

    def tensor(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self.entries):
            raise SerializationError(f"{self.name}: corrupted header (bad tensor index {index!r})")
        if index in self.cache:
            return self.cache[index]
        e = self.entries[index]
        try:
            dtype = _NUMPY_DTYPES[e["dtype"]]
            shape = tuple(int(s) for s in e["shape"])
            offset, nbytes = int(e["offset"]), int(e["nbytes"])
        except (KeyError, TypeError, ValueError):
            raise SerializationError(f"{self.name}: corrupted header (bad tensor entry "
                                     f"{index})") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(s < 0 for s in shape) or count * dtype.itemsize != nbytes or offset < 0 \
                or offset + nbytes > len(self.data):
            raise SerializationError(f"{self.name}: corrupted header (tensor {index} does not fit "
                                     "the data section)")
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=offset).reshape(shape)
        t = _bf16_bits_to_tensor(arr) if e["dtype"] == "bfloat16" else _numpy_to_tensor(arr)
        saved_device = e.get("device", "cpu")
        if callable(self.map_location) and not isinstance(self.map_location, dict):
            t = self.map_location(t, saved_device)
        else:
            device = _resolve_device(saved_device, self.map_location)
            if device != "cpu":
                if str(device).startswith("cuda") and not flambeau.cuda.is_available():
                    raise RuntimeError(
                        "Attempting to deserialize object on a CUDA device but "
                        "flambeau.cuda.is_available() is False. If you are running on a CPU-only "
                        "machine, please use flambeau.load with map_location='cpu' to map your "
                        "tensors to the CPU.")
                t = t.to(device)
        if e.get("parameter"):
            from flambeau.nn import Parameter
            t = Parameter(t, requires_grad=bool(e.get("requires_grad", False)))
        elif e.get("requires_grad"):
            t.requires_grad_(True)
        self.cache[index] = t
        return t

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise SerializationError(f"{self.name}: corrupted header (unexpected {node!r})")
        tag = next(iter(node))
        value = node[tag]
        if tag == "$tensor":
            return self.tensor(value)
        if tag == "$dict":
            return {self.decode(k): self.decode(v) for k, v in value}
        if tag == "$odict":
            out = collections.OrderedDict((self.decode(k), self.decode(v)) for k, v in value)
            if "metadata" in node:
                out._metadata = self.decode(node["metadata"])
            return out
        if tag == "$tuple":
            return tuple(self.decode(v) for v in value)
        if tag == "$counter":
            return collections.Counter({self.decode(k): self.decode(v) for k, v in value})
        if tag == "$set":
            return {self.decode(v) for v in value}
        if tag == "$frozenset":
            return frozenset(self.decode(v) for v in value)
        if tag == "$float":
            return float(value)
        if tag == "$bytes":
            return base64.b64decode(value)
        if tag == "$sparse_coo":  # rebuilt through sparse_coo_tensor, which checks indices against the size
            try:
                i, v, shape, coalesced, rg = value
                return flambeau.sparse_coo_tensor(self.tensor(i), self.tensor(v), tuple(shape),
                                                  is_coalesced=bool(coalesced), requires_grad=bool(rg))
            except (TypeError, ValueError, RuntimeError) as e:
                raise SerializationError(f"{self.name}: corrupted sparse tensor entry ({e})") from None
        if tag == "$dtype":
            return getattr(flambeau, value)
        if tag == "$device":
            return flambeau.device(value)
        raise SerializationError(f"{self.name}: corrupted header (unknown tag {tag!r})")


def _looks_like(raw):
    if raw[:1] == b"\x80":
        return (" It looks like a pickle that is not a PyTorch checkpoint: flambeau never "
                "unpickles arbitrary objects, because unpickling can run code.")
    if len(raw) >= 9 and raw[8:9] == b"{":
        return " It looks like a .safetensors file: use flambeau.load_safetensors."
    if raw[257:262] == b"ustar":
        return (" It looks like a tar archive, PyTorch's format before 0.4, which even torch.load "
                "reads only with weights_only=False: re-save it with a recent PyTorch.")
    return ""


_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load an object saved by flambeau.save or torch.save (the zip format, or the legacy one) from
    the path or readable binary file f. Tensors go back to the device they were saved from unless
    map_location says otherwise: a device, a dict {saved location: new location}, or a callable
    fn(storage, saved_location) returning the storage moved (a 1-D flambeau tensor over all its
    elements) or None for the default. Nothing in the file is executed, whatever weights_only says
    (see the module docstring); a truncated or altered file raises SerializationError.
    pickle_module, mmap and pickle_load_args are accepted for compatibility and have no effect."""
    if isinstance(f, (str, bytes, os.PathLike)):
        name = f.decode() if isinstance(f, bytes) else os.fspath(f)
        with open(f, "rb") as fh:
            return _load_from(fh, name, map_location, weights_only, seekable_file=True)
    return _load_from(f, getattr(f, "name", "<file object>"), map_location, weights_only,
                      seekable_file=False)


def _load_from(fh, name, map_location, weights_only, seekable_file):
    start = fh.read(8)
    if start[:4] in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        from ._torch_format.reader import load_archive
        if seekable_file:  # a file we opened: zipfile reads only the records it needs
            fh.seek(0)
            source = fh
        else:  # a caller's stream may hold more after the archive
            source = io.BytesIO(start + fh.read())
        return load_archive(source, name, map_location, weights_only)
    raw = start + fh.read()
    from ._torch_format.legacy import LEGACY_MAGIC, load_legacy
    if raw.startswith(LEGACY_MAGIC):
        return load_legacy(raw, name, map_location, weights_only)
    return _load_flambeau_v1(raw, name, map_location)


def _load_flambeau_v1(raw, name, map_location):
    """The format flambeau.save wrote before it wrote PyTorch's:

    offset 0     8 bytes   magic b"FLAMBEAU"
    offset 8     4 bytes   format version, little-endian uint32 (1)
    offset 12    8 bytes   header length H, little-endian uint64
    offset 20    H bytes   header: UTF-8 JSON {"object": <structure>, "tensors": [...],
                           "data_size": D}
    offset 20+H  D bytes   tensor data: raw little-endian bytes, each tensor 8-byte aligned
    offset 20+H+D 32 bytes SHA-256 of everything before it

    The structure is JSON where dicts, tuples, OrderedDicts, Counters, sets, bytes, non-finite
    floats, dtypes, devices and tensors are tagged objects ({"$dict": [[key, value], ...]},
    {"$tensor": i}, ...). Tensor entries give dtype, shape, device, requires_grad, whether it was an
    nn.Parameter, and the offset and size of its bytes."""
    minimum = _PREFIX.size + _DIGEST_SIZE
    if len(raw) < _PREFIX.size or raw[:8] != MAGIC:
        raise SerializationError(f"{name} is not a flambeau or PyTorch checkpoint (bad magic "
                                 "number)." + _looks_like(raw))
    if len(raw) < minimum:
        raise SerializationError(f"{name}: file is truncated ({len(raw)} bytes)")
    magic, version, header_len = _PREFIX.unpack_from(raw, 0)
    if version > VERSION:
        raise SerializationError(f"{name}: file format version {version} is newer than this "
                                 f"flambeau understands ({VERSION})")
    if version < 1:
        raise SerializationError(f"{name}: bad file format version {version}")
    if _PREFIX.size + header_len + _DIGEST_SIZE > len(raw):
        raise SerializationError(f"{name}: file is truncated (header of {header_len} bytes "
                                 f"does not fit in {len(raw)} bytes)")
    digest = hashlib.sha256(raw[:-_DIGEST_SIZE]).digest()
    header_bytes = raw[_PREFIX.size:_PREFIX.size + header_len]
    try:
        header = json.loads(header_bytes.decode("utf-8"))
        data_size = int(header["data_size"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        header = None
        data_size = None
    expected = None if data_size is None else _PREFIX.size + header_len + data_size + _DIGEST_SIZE
    if expected is not None and len(raw) < expected:
        raise SerializationError(f"{name}: file is truncated (expected {expected} bytes, found "
                                 f"{len(raw)})")
    if expected is not None and len(raw) > expected:
        raise SerializationError(f"{name}: file has {len(raw) - expected} unexpected trailing "
                                 "bytes (corrupted or concatenated)")
    if digest != raw[-_DIGEST_SIZE:]:
        raise SerializationError(f"{name}: checksum mismatch: the file is corrupted")
    if header is None:
        raise SerializationError(f"{name}: corrupted header")
    data_start = _PREFIX.size + header_len
    data = memoryview(raw)[data_start:data_start + data_size]
    entries = header.get("tensors")
    if not isinstance(entries, list) or "object" not in header:
        raise SerializationError(f"{name}: corrupted header")
    return _Decoder(entries, data, name, map_location).decode(header["object"])


# ----------------------------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------------------------
_ST_TO_NUMPY = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "BF16": np.dtype("<u2"),
}
_NAME_TO_ST = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
               "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "bfloat16": "BF16"}
_MAX_HEADER = 100_000_000


def save_safetensors(tensors, filename, metadata=None):
    """Write a dict {name: tensor} to `filename` in the safetensors format. metadata: optional
    dict of str -> str stored under "__metadata__"."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors: expected a dict of tensors, got {type(tensors).__name__}")
    header = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must be a dict of str to str")
        header["__metadata__"] = dict(metadata)
    arrays = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save_safetensors: '__metadata__' is reserved")
        if not _is_tensor(t):
            raise TypeError(f"save_safetensors: {name!r} is a {type(t).__name__}, not a tensor")
        code = _NAME_TO_ST.get(_dtype_name(t.dtype))
        if code is None:
            raise TypeError(f"save_safetensors: dtype {t.dtype} of {name!r} is not supported")
        arrays.append((name, code, _tensor_to_numpy(t)))
    # largest alignment first, then by name: every tensor stays naturally aligned
    arrays.sort(key=lambda x: (-x[2].dtype.itemsize, x[0]))
    offset = 0
    for name, code, arr in arrays:
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-len(hbytes)) % 8)
    with open(filename, "wb") as fh:
        fh.write(struct.pack("<Q", len(hbytes)))
        fh.write(hbytes)
        for _, _, arr in arrays:
            fh.write(arr.tobytes())


def _bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def load_safetensors(filename, device="cpu"):
    """Read a .safetensors file into a dict {name: tensor} (in file order) on `device`.
    BF16/F16 load as bfloat16/float16; unsigned integer types flambeau lacks become int64."""
    with open(filename, "rb") as fh:
        raw = fh.read()
    name = os.fspath(filename)
    if len(raw) < 8:
        raise SerializationError(f"{name}: not a safetensors file (too short)")
    (n,) = struct.unpack_from("<Q", raw, 0)
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise SerializationError(f"{name}: not a safetensors file or truncated (header size {n}, "
                                 f"file size {len(raw)})")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SerializationError(f"{name}: invalid safetensors header (not UTF-8 JSON)") from None
    if not isinstance(header, dict):
        raise SerializationError(f"{name}: invalid safetensors header")
    header.pop("__metadata__", None)
    data = memoryview(raw)[8 + n:]
    entries = []
    for key, info in header.items():
        try:
            code = info["dtype"]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SerializationError(f"{name}: invalid header entry for {key!r}") from None
        if code not in _ST_TO_NUMPY:
            raise SerializationError(f"{name}: tensor {key!r} has unsupported dtype {code}")
        dtype = _ST_TO_NUMPY[code]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(s < 0 for s in shape) or end < begin or end - begin != count * dtype.itemsize:
            raise SerializationError(f"{name}: tensor {key!r}: data_offsets [{begin}, {end}] do "
                                     f"not match dtype {code} and shape {list(shape)}")
        entries.append((begin, end, key, code, dtype, shape, count))
    entries.sort()
    pos = 0
    for begin, end, key, *_ in entries:
        if begin != pos:
            raise SerializationError(f"{name}: tensor {key!r} data does not follow the previous "
                                     "tensor's (overlap or gap in the data section)")
        pos = end
    if pos != len(data):
        raise SerializationError(f"{name}: the data section holds {len(data)} bytes but the "
                                 f"header describes {pos} (truncated or corrupted)")
    out = {}
    for begin, end, key, code, dtype, shape, count in entries:
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape)
        if code == "U64" and count and int(arr.max()) >= 2 ** 63:
            raise SerializationError(f"{name}: tensor {key!r}: U64 values do not fit in int64")
        t = _bf16_bits_to_tensor(arr) if code == "BF16" else _numpy_to_tensor(arr)
        if str(device) != "cpu":
            t = t.to(device)
        out[key] = t
    return out

