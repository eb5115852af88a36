"""The element types of PyTorch checkpoints, as named in their pickles, and flambeau's side of each.

A checkpoint names a storage's element type by its legacy storage class (GLOBAL torch FloatStorage),
and dtypes saved as values by their torch name (GLOBAL torch float32). The bytes of a storage are the
raw little-endian elements (the archive's `byteorder` record says otherwise on big-endian writers).
"""
import numpy as np

import flambeau

# storage class name -> dtype name (UntypedStorage holds bytes; its tensors name their dtype)
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4", "UntypedStorage": "uint8",
}
DTYPE_STORAGES = {name: storage for storage, name in STORAGE_DTYPES.items()
                  if storage != "UntypedStorage"}

# dtype name -> how its elements are stored (bfloat16: the upper 16 bits of a float32)
STORED_NUMPY = {
    "float64": np.dtype("<f8"), "float32": np.dtype("<f4"), "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"), "int64": np.dtype("<i8"), "int32": np.dtype("<i4"),
    "int16": np.dtype("<i2"), "int8": np.dtype("i1"), "uint8": np.dtype("u1"),
    "bool": np.dtype("?"), "complex64": np.dtype("<c8"), "complex128": np.dtype("<c16"),
    "uint16": np.dtype("<u2"), "uint32": np.dtype("<u4"), "uint64": np.dtype("<u8"),
}

# the dtype names torch writes as GLOBAL torch <name> that flambeau has an object for
_FLAMBEAU_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8",
                    "uint8", "bool", "complex64", "complex128")


def flambeau_dtype(name):
    """The flambeau dtype object for torch's dtype name, or None when flambeau has no such dtype."""
    return getattr(flambeau, name) if name in _FLAMBEAU_DTYPES else None


def has_tensors_of(name):
    """Whether flambeau can hold tensors of this dtype."""
    return name in _FLAMBEAU_DTYPES


def dtype_name(dtype):
    """'float32' for flambeau.float32."""
    return getattr(dtype, "_name", None) or str(dtype).rsplit(".", 1)[-1]
