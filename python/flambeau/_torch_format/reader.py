"""flambeau.load of PyTorch's zip checkpoints (torch.save since 1.6, and flambeau.save).

The archive holds one folder (any name): data.pkl, the pickled object, whose persistent ids name
storages; data/<key>, each storage's raw bytes; byteorder ("little" or "big"; little when absent).
Every record read is checked against its CRC-32, so a damaged file fails with SerializationError
instead of loading wrong numbers. The pickle is read by unpickler.RestrictedUnpickler, which calls
nothing outside its allow-list.

Each storage becomes one flambeau tensor over all its elements, and every saved tensor a view of it
with the saved offset, sizes and strides (as PyTorch's Tensor.set_ does): tensors that shared a
storage when saved share memory again, and non-contiguous layouts are kept.
"""
import io
import pickle
import struct
import zipfile

import numpy as np

import flambeau

from .dtypes import STORED_NUMPY
from .unpickler import LoadedStorage, RestrictedUnpickler

_CHUNK = 1 << 24


def _error(message):
    from flambeau.serialization import SerializationError
    return SerializationError(message)


class _Archive:
    def __init__(self, fileobj, name):
        self.name = name
        try:
            self.size = fileobj.seek(0, io.SEEK_END)
            fileobj.seek(0)
            self.zf = zipfile.ZipFile(fileobj)
            names = self.zf.namelist()
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, struct.error) as e:
            raise _error(f"{name}: truncated or corrupted zip archive ({e})") from None
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if any(n.count("/") == 1 and n.endswith("/constants.pkl") for n in names):
            raise _error(f"{name} is a TorchScript archive (torch.jit.save): flambeau loads what "
                         "torch.save writes (save the model's state_dict() with torch.save)")
        if len(pickles) != 1:
            raise _error(f"{name}: not a PyTorch checkpoint (no <archive>/data.pkl record among "
                         f"{names[:5]}{'...' if len(names) > 5 else ''})")
        self.prefix = pickles[0][:-len("data.pkl")]
        self.unread = set(names)

    def has(self, record):
        try:
            self.zf.getinfo(self.prefix + record)
            return True
        except KeyError:
            return False

    def read(self, record):
        """The record's bytes (a writable bytearray), checked against its CRC-32."""
        try:
            info = self.zf.getinfo(self.prefix + record)
        except KeyError:
            raise _error(f"{self.name}: the archive has no record {self.prefix}{record} "
                         "(truncated or corrupted)") from None
        self.unread.discard(info.filename)
        # the sizes the directory claims must be possible before memory is set aside for them
        # (deflate expands at most ~1032 times; torch.save stores records uncompressed)
        stored = info.compress_type == zipfile.ZIP_STORED
        if info.compress_size > self.size or (stored and info.file_size != info.compress_size) \
                or info.file_size > 1032 * info.compress_size + 1024:
            raise _error(f"{self.name}: corrupted record {info.filename} (sizes "
                         f"{info.compress_size} -> {info.file_size} in an archive of {self.size} "
                         "bytes)")
        try:
            buf = bytearray(info.file_size)
            view = memoryview(buf)
            with self.zf.open(info) as fh:
                pos = 0
                while pos < len(buf):
                    chunk = fh.read(min(_CHUNK, len(buf) - pos))
                    if not chunk:
                        break
                    view[pos:pos + len(chunk)] = chunk
                    pos += len(chunk)
                if pos != len(buf) or fh.read(1):  # reading to the end checks the CRC
                    raise zipfile.BadZipFile(f"record {info.filename} is not {len(buf)} bytes")
            return buf
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, struct.error) as e:
            raise _error(f"{self.name}: corrupted record {info.filename} ({e})") from None


def storage_tensor(raw, key, dtype_name, big_endian):
    """The storage's bytes `raw` (a writable bytearray) as a 1-D CPU flambeau tensor of dtype_name,
    sharing raw's memory where no conversion is needed."""
    element = STORED_NUMPY[dtype_name]
    if len(raw) % element.itemsize:
        raise pickle.UnpicklingError(f"storage {key} of {len(raw)} bytes cannot hold {dtype_name} "
                                     "elements")
    arr = np.frombuffer(raw, dtype=element.newbyteorder(">" if big_endian else "<"))
    arr = arr.astype(element.newbyteorder("="), copy=False)
    if dtype_name == "bool":  # any nonzero byte is True, as in PyTorch
        arr = arr.view(np.uint8) != 0
    if dtype_name == "bfloat16":  # numpy has no bfloat16: the bits through their exact float32 values
        from flambeau.serialization import _bf16_bits_to_tensor
        return _bf16_bits_to_tensor(arr)
    return flambeau.from_numpy(arr)


def _check_unread_records(archive):
    """The CRC-32 of the records the load did not need (version, serialization id, ...): damage
    anywhere in the data is reported, not only where it would change a value."""
    for name in sorted(archive.unread):
        if name.startswith(archive.prefix) and not name.endswith("/"):
            archive.read(name[len(archive.prefix):])


def _restore_location(t, location, map_location):
    """Move the freshly read CPU storage tensor as torch.load's map_location says."""
    if callable(map_location) and not isinstance(map_location, (dict, str, flambeau.device)):
        moved = map_location(t, location)
        if moved is None:  # as in PyTorch: the callable may decline, then the default applies
            return _restore_location(t, location, None)
        if not isinstance(moved, flambeau.Tensor):
            raise TypeError(f"map_location returned {type(moved).__name__}, expected the storage "
                            "(a flambeau tensor) or None")
        return moved
    if map_location is None:
        target = location
    elif isinstance(map_location, dict):
        target = map_location.get(location, location)
    elif isinstance(map_location, (str, flambeau.device)):
        target = str(map_location)
    else:
        raise TypeError("map_location should be a device string, a flambeau.device, a dict mapping "
                        "device strings, a callable or None")
    target = str(target)
    if target == "cpu":
        return t
    if target == "meta":  # shapes and dtypes only (transformers reads a checkpoint's keys so); _view follows
        return t.to("meta")
    if target.startswith("cuda"):
        if not flambeau.cuda.is_available():
            raise RuntimeError(
                "Attempting to deserialize object on a CUDA device but flambeau.cuda.is_available() "
                "is False. If you are running on a CPU-only machine, please use flambeau.load with "
                "map_location='cpu' to map your tensors to the CPU.")
        return t.to(target)
    raise RuntimeError(f"the checkpoint's tensors are on device '{target}', which flambeau does "
                       "not have; pass map_location='cpu'")


def load_archive(fileobj, name, map_location=None, weights_only=None):
    archive = _Archive(fileobj, name)
    try:
        return _load(archive, name, map_location, weights_only)
    finally:
        archive.zf.close()


def _load(archive, name, map_location, weights_only):
    big_endian = False
    if archive.has("byteorder"):
        order = bytes(archive.read("byteorder"))
        if order not in (b"little", b"big"):
            raise _error(f"{name}: unknown byte order {order!r}")
        big_endian = order == b"big"

    def load_storage(key, dtype_name, numel, location):
        stored = STORED_NUMPY[dtype_name]
        raw = archive.read(f"data/{key}")
        if len(raw) != numel * stored.itemsize:
            raise _error(f"{name}: storage data/{key} holds {len(raw)} bytes, but the pickle "
                         f"describes {numel} {dtype_name} elements (corrupted)")

        def materialize(as_dtype):
            return _restore_location(storage_tensor(raw, key, as_dtype, big_endian), location,
                                     map_location)

        return LoadedStorage(key, dtype_name, numel, materialize)

    data = io.BytesIO(bytes(archive.read("data.pkl")))
    unpickler = RestrictedUnpickler(data, load_storage, weights_only)
    try:
        result = unpickler.load()
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError, struct.error,
            OverflowError, RecursionError) as e:
        raise pickle.UnpicklingError(f"{name}: malformed data.pkl ({type(e).__name__}: {e})") \
            from None
    _check_unread_records(archive)
    return result
