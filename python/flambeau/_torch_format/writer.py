"""flambeau.save: writes PyTorch's zip checkpoint, the format torch.save has written since 1.6.

    <archive>/data.pkl                 the object, pickled (pickler.py says what is written how)
    <archive>/.format_version          b"1"
    <archive>/.storage_alignment       b"64"
    <archive>/byteorder                b"little"
    <archive>/data/<key>               the raw little-endian bytes of storage <key>, whole
    <archive>/version                  b"3\\n"
    <archive>/.data/serialization_id   40 decimal digits naming this file

<archive> is the file's base name without extension ("archive" for a file object), as torch.save
names it. Records are laid out as PyTorch's writer lays them out (zipwriter.py): stored
uncompressed, the data 64-byte aligned, each with its CRC-32.

Tensors are saved as views of their storage: tensors sharing one storage (tied weights, slices,
transposes) write its bytes once and keep their offsets and strides, so they share memory again when
loaded, in PyTorch and in flambeau. As with torch.save, a small view saves its whole storage.
"""
import hashlib
import os

import numpy as np

from flambeau import _C
from flambeau._tensor import _wrap

from .dtypes import DTYPE_STORAGES, STORED_NUMPY, dtype_name
from .pickler import TorchPickler
from .zipwriter import ZipWriter

_ALIGNMENT = 64


def _location(device):
    """torch's location tag of a storage: 'cpu', 'cuda:0', ..."""
    if device.type == "cpu":
        return "cpu"
    return f"{device.type}:{device.index or 0}"


class _Storages:
    """The storages under the saved tensors, each given a key when first seen."""

    def __init__(self):
        self.keys = {}      # storage identity -> (key, dtype name)
        self.records = []   # (key, 1-D tensor over the whole storage, dtype name)

    def persistent_id(self, t, path):
        impl = t._impl
        name = dtype_name(t.dtype)
        storage_class = DTYPE_STORAGES.get(name)
        if storage_class is None or name not in STORED_NUMPY:
            raise TypeError(f"flambeau.save: {path}: tensors of dtype {t.dtype} are not supported")
        location = _location(t.device)
        numel = impl.storage_nbytes // impl.itemsize
        # An empty storage has no data to share: each gets its own record.
        identity = (impl.storage_ptr, location) if impl.storage_nbytes else ("empty", id(t))
        known = self.keys.get(identity)
        if known is not None:
            key, known_name = known
            if known_name != name:
                raise RuntimeError(f"flambeau.save: {path}: cannot save multiple tensors or storages "
                                   f"that view the same data as different types ({known_name} "
                                   f"and {name}), as torch.save cannot")
            return storage_class, key, location, numel
        key = str(len(self.records))
        self.keys[identity] = (key, name)
        whole = _wrap(_C.as_strided(impl, [numel], [1], 0))
        self.records.append((key, whole, name))
        return storage_class, key, location, numel


def _storage_bytes(whole, name):
    if name == "bfloat16":  # numpy has no bfloat16: its float32 values are exact, their top 16 bits the bits
        f32 = np.ascontiguousarray(whole.detach().cpu().float().numpy(), dtype="<f4").reshape(-1)
        return (f32.view("<u4") >> 16).astype("<u2").view(np.uint8)
    arr = whole.detach().cpu().numpy()
    stored = STORED_NUMPY[name]
    if (arr.dtype.kind, arr.dtype.itemsize) != (stored.kind, stored.itemsize):
        # only the byte order may change: never a conversion of the values (bfloat16 would need
        # its raw bits, which numpy cannot give)
        raise TypeError(f"flambeau.save: cannot get the raw elements of a {name} tensor (numpy "
                        f"gives {arr.dtype})")
    return np.ascontiguousarray(arr, dtype=stored).reshape(-1).view(np.uint8)


def _archive_name(f):
    if isinstance(f, (str, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.fspath(f)))[0]
        return stem or "archive"
    return "archive"


class PreparedArchive:
    """obj pickled and its storages found: what can fail on a bad object fails here, before the
    destination file is opened (so a failed save leaves an existing checkpoint as it was)."""

    def __init__(self, obj):
        self.storages = _Storages()
        self.pickled = TorchPickler(self.storages).dump(obj)

    def write(self, fh, archive_name):
        """Write the PyTorch zip checkpoint to the binary file fh."""
        pickled = self.pickled
        serialization_id = int.from_bytes(hashlib.sha256(pickled).digest()[:17], "little") \
            % 10 ** 40
        head = [("data.pkl", pickled), (".format_version", b"1"),
                (".storage_alignment", str(_ALIGNMENT).encode()), ("byteorder", b"little")]
        tail = [("version", b"3\n"), (".data/serialization_id", f"{serialization_id:040d}".encode())]
        with ZipWriter(fh, _ALIGNMENT) as zw:
            for record, data in head:
                zw.write(f"{archive_name}/{record}", data)
            for key, whole, name in self.storages.records:  # one storage in host memory at a time
                zw.write(f"{archive_name}/data/{key}", _storage_bytes(whole, name))
            for record, data in tail:
                zw.write(f"{archive_name}/{record}", data)
