"""A reader for MATLAB 5 .mat files (the format SVHN ships in), numeric arrays only, without scipy.

A .mat file is a 128-byte header and a sequence of tagged data elements; each variable is a miMATRIX element
(array flags, dimensions, name, real part), possibly wrapped in a zlib-compressed miCOMPRESSED element.
Data is stored column-major, so an array is rebuilt in Fortran order. Cell arrays, structs, sparse and
character arrays raise; MATLAB 7.3 files (HDF5) are recognised and refused with a message.
"""
import struct
import zlib

import numpy as np

__all__ = ["load_mat"]

_MI = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
# mxCLASS -> numpy dtype of the array (the stored type may be narrower: MATLAB stores doubles as uint8 when it can)
_MX = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}


def _elements(buf, end):
    """(type, payload) of each data element in buf, with end ('<' or '>') the byte order."""
    pos = 0
    while pos + 8 <= len(buf):
        first, second = struct.unpack(end + "II", buf[pos:pos + 8])
        if first >> 16:  # small data element: type and size in the first word, data in the second
            kind, size = first & 0xFFFF, first >> 16
            yield kind, buf[pos + 4:pos + 4 + size]
            pos += 8
            continue
        kind, size = first, second
        payload = buf[pos + 8:pos + 8 + size]
        if len(payload) < size:
            raise ValueError("truncated .mat file")
        yield kind, payload
        pos += 8 + size + (-size % 8 if kind != _MI_COMPRESSED else 0)


def _matrix(payload, end):
    parts = list(_elements(payload, end))
    if len(parts) < 4:
        raise ValueError("malformed miMATRIX element")
    flags = struct.unpack(end + "I", parts[0][1][:4])[0]
    mx_class = flags & 0xFF
    if mx_class not in _MX:
        raise ValueError(f"only numeric arrays are supported (MATLAB class {mx_class})")
    dims = np.frombuffer(parts[1][1], end + "i4").tolist()
    name = parts[2][1].decode("latin1")
    kind, raw = parts[3]
    if kind not in _MI:
        raise ValueError(f"unsupported data type {kind} for {name}")
    data = np.frombuffer(raw, end + _MI[kind]).astype(_MX[mx_class])
    if (flags >> 8) & 0x08:  # complex: the imaginary part follows
        data = data + 1j * np.frombuffer(parts[4][1], end + _MI[parts[4][0]])
    return name, data.reshape(dims, order="F")


def load_mat(path):
    """{variable name: numpy array} of a MATLAB 5 .mat file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 128:
        raise ValueError(f"{path}: not a MATLAB .mat file (too short)")
    if raw[:19] == b"MATLAB 7.3 MAT-file" or raw[:8] == b"\x89HDF\r\n\x1a\n" or raw[512:520] == b"\x89HDF\r\n\x1a\n":
        raise ValueError(f"{path}: a MATLAB 7.3 (HDF5) file; save it with -v7 or read it with h5py")
    end = "<" if raw[126:128] == b"IM" else ">" if raw[126:128] == b"MI" else None
    if end is None:
        raise ValueError(f"{path}: not a MATLAB 5 .mat file (no endian indicator)")
    out = {}
    for kind, payload in _elements(raw[128:], end):
        if kind == _MI_COMPRESSED:
            inner = zlib.decompress(payload)
            kind, payload = next(_elements(inner, end))
        if kind == _MI_MATRIX:
            name, arr = _matrix(payload, end)
            out[name] = arr
    return out
