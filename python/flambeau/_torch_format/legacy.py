"""flambeau.load of PyTorch's legacy format (torch.save(..., _use_new_zipfile_serialization=False)).

The file is a sequence of pickles, then the storages' bytes:

    pickle  MAGIC_NUMBER 0x1950a86a20f9469cfc6c      pickle  PROTOCOL_VERSION 1001
    pickle  sys_info {"little_endian": bool, ...}    pickle  the object; persistent ids
            ('storage', torch.<X>Storage, key, location, numel, view metadata or None)
    pickle  the storage keys, sorted
    then, per key in that order: numel as an int64, then numel elements

Every pickle is read by the restricted unpickler. The object's pickle is read twice: once to learn
each storage's element type (its tensors then view uninitialised memory and are dropped), which the
data section needs to be walked, and once with the storages' bytes.
"""
import io
import pickle
import struct

import flambeau

from .dtypes import STORED_NUMPY
from .reader import _error, _restore_location, storage_tensor
from .unpickler import LoadedStorage, RestrictedUnpickler

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001
LEGACY_MAGIC = pickle.dumps(MAGIC_NUMBER, protocol=2)


def _no_storage(key, dtype_name, numel, location):
    raise pickle.UnpicklingError("a storage outside the object's pickle")


def load_legacy(raw, name, map_location=None, weights_only=None):
    f = io.BytesIO(raw)

    def plain():
        return RestrictedUnpickler(f, _no_storage, weights_only).load()

    try:
        if plain() != MAGIC_NUMBER or plain() != PROTOCOL_VERSION:
            raise _error(f"{name}: invalid magic number or protocol version (corrupted file?)")
        sys_info = plain()
        big_endian = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
        object_start = f.tell()

        # pass 1: the element type and size of every storage
        seen = {}

        def record(key, dtype_name, numel, location):
            if numel * STORED_NUMPY[dtype_name].itemsize > len(raw):
                raise _error(f"{name}: storage {key} of {numel} elements does not fit in the file "
                             "(truncated or corrupted)")
            seen[key] = (dtype_name, numel, location)
            return LoadedStorage(key, dtype_name, numel,
                                 lambda as_dtype: flambeau.empty(numel * STORED_NUMPY[dtype_name]
                                                                 .itemsize // STORED_NUMPY[as_dtype]
                                                                 .itemsize))

        RestrictedUnpickler(f, record, weights_only).load()
        keys = plain()
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _error(f"{name}: invalid storage key list")

        # the data section: where each storage's bytes are
        where = {}
        pos = f.tell()
        count_format = ">q" if big_endian else "<q"
        for key in keys:
            if key not in seen:
                raise _error(f"{name}: storage {key} is not used by the object (corrupted file?)")
            dtype_name, numel, _ = seen[key]
            if pos + 8 > len(raw):
                raise _error(f"{name}: file is truncated (storage {key})")
            (count,) = struct.unpack_from(count_format, raw, pos)
            nbytes = numel * STORED_NUMPY[dtype_name].itemsize
            if count != numel or pos + 8 + nbytes > len(raw):
                raise _error(f"{name}: storage {key}: {count} elements recorded for {numel} "
                             "expected, or file truncated")
            where[key] = (pos + 8, nbytes)
            pos += 8 + nbytes
        if pos != len(raw):
            raise _error(f"{name}: {len(raw) - pos} unexpected bytes after the storages")
        if set(seen) - set(where):
            raise _error(f"{name}: storages {sorted(set(seen) - set(where))} have no data")

        # pass 2: the object, its tensors viewing the storages' bytes
        def load_storage(key, dtype_name, numel, location):
            start, nbytes = where[key]
            data = bytearray(raw[start:start + nbytes])
            return LoadedStorage(key, dtype_name, numel,
                                 lambda as_dtype: _restore_location(
                                     storage_tensor(data, key, as_dtype, big_endian), location,
                                     map_location))

        f.seek(object_start)
        return RestrictedUnpickler(f, load_storage, weights_only).load()
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError, struct.error,
            OverflowError, RecursionError) as e:
        raise pickle.UnpicklingError(f"{name}: malformed legacy PyTorch file "
                                     f"({type(e).__name__}: {e})") from None
