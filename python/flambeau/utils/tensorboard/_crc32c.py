"""CRC-32C (Castagnoli), the checksum of TensorFlow's TFRecord framing, in pure Python.

zlib.crc32 uses the IEEE polynomial, not Castagnoli's, so it cannot stand in. Records are small
(a scalar event is ~40 bytes; images are the big ones) and this runs once per record, so a
slicing-by-8 table walk is enough: 8 table look-ups per 8 bytes instead of 8 shifts per byte.
"""
import struct

_POLY = 0x82F63B78  # Castagnoli polynomial 0x1EDC6F41, bit-reversed (CRC-32C is reflected)


def _make_tables():
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tuple(tuple(t) for t in tables)


_T = _make_tables()
_MASK_DELTA = 0xA282EAD8


def crc32c(data, crc=0):
    """CRC-32C of `data` (bytes-like); `crc` continues a previous value."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n8 = len(mv) // 8
    # The first four bytes of each 8-byte word are folded into the running CRC (little-endian),
    # the next four go straight through the tables: the standard slicing-by-8 step.
    for lo, hi in struct.iter_unpack("<II", mv[: n8 * 8]):
        lo ^= c
        c = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24]
             ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    for b in mv[n8 * 8:]:
        c = (c >> 8) ^ t0[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def masked_crc32c(data):
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant, so that a CRC stored
    inside checksummed data does not checksum to a fixed pattern."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + _MASK_DELTA) & 0xFFFFFFFF
