"""The few protobuf wire-format encoders the event writer needs, so that no protobuf package is.

Each function returns the encoded bytes of one field (key + payload); a message is the
concatenation of its fields in field-number order (what protobuf's own serializer emits).
The proto3 rule that a field holding its default value is not written is the caller's business:
`skip_default` helpers below apply it for plain fields; fields inside a oneof are always written
(a oneof member has presence, so simple_value=0.0 must still be on the wire).
"""
import struct

import numpy as np

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def varint(n):
    """Base-128 varint; negative numbers are their 64-bit two's complement (10 bytes), as protobuf
    writes int32/int64."""
    n = int(n)
    if 0 <= n < 0x80:
        return _SMALL[n]    # keys, lengths and most steps: one byte
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def _key(field, wire):
    return varint((field << 3) | wire)


def int_field(field, value):
    """int32/int64/uint32/uint64/bool/enum field (wire type varint)."""
    return _key(field, _VARINT) + varint(value)


def double_field(field, value):
    return _key(field, _I64) + struct.pack("<d", float(value))


def float_field(field, value):
    value = float(value)
    try:
        return _key(field, _I32) + struct.pack("<f", value)
    except OverflowError:
        # beyond float32's range: protobuf stores +-inf (numpy's cast does the same; struct refuses)
        with np.errstate(over="ignore"):
            return _key(field, _I32) + np.array(value, dtype="<f4").tobytes()


def bytes_field(field, data):
    """bytes, string (pass UTF-8 bytes) or an embedded message (pass its encoding)."""
    return _key(field, _LEN) + varint(len(data)) + bytes(data)


def string_field(field, text):
    return bytes_field(field, text.encode("utf-8"))


def packed_doubles(field, values):
    return bytes_field(field, np.asarray(values, dtype=np.float64).astype("<f8").tobytes())


def packed_floats(field, values):
    with np.errstate(over="ignore"):
        return bytes_field(field, np.asarray(values, dtype=np.float64).astype("<f4").tobytes())


def packed_varints(field, values):
    return bytes_field(field, b"".join(varint(v) for v in values))


# proto3 plain (non-oneof) fields: nothing on the wire when the value is the type's default.
# Doubles compare by bits, as protobuf does, so -0.0 is written.

def opt_int(field, value):
    return int_field(field, value) if value else b""


def opt_double(field, value):
    return double_field(field, value) if struct.pack("<d", float(value)) != bytes(8) else b""


def opt_string(field, text):
    return string_field(field, text) if text else b""


def opt_bytes(field, data):
    return bytes_field(field, data) if data else b""


def opt_packed_doubles(field, values):
    return packed_doubles(field, values) if len(values) else b""
