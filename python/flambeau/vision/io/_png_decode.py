"""A PNG decoder in numpy, zlib and one C++ helper: every colour type (grey, RGB, palette, grey+alpha, RGBA), bit depths
1/2/4/8/16, non-interlaced and Adam7, chunks CRC-checked.

It returns the samples as libpng hands them to torchvision's decode_png with no transformation
requested, plus torchvision's conversions for the read modes (see decode in __init__.py): grey of
depth < 8 scaled to 8 bits (png_set_expand_gray_1_2_4_to_8), a palette image as its indices unless
a mode asks for colour. The scanline filters are undone in C++ (_C.png_unfilter: Sub, Average and
Paeth depend on the byte to their left, a Python loop over each row's bytes before); inflate is zlib's.
"""
import struct
import zlib

import numpy as np

from ... import _C

SIGNATURE = b"\x89PNG\r\n\x1a\n"

# colour type -> samples per pixel
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ALLOWED_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}

# Adam7: (row start, column start, row step, column step) of the seven passes
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


class PNGInfo:
    """What the header and the ancillary chunks say: width, height, bit_depth, color_type, interlace,
    palette ((N, 3) uint8 or None), trns (the tRNS chunk's bytes or None), exif (eXIf bytes or None)."""

    def __init__(self, width, height, bit_depth, color_type, interlace):
        self.width, self.height = width, height
        self.bit_depth, self.color_type, self.interlace = bit_depth, color_type, interlace
        self.palette = None
        self.trns = None
        self.exif = None


def _fail(msg):
    raise RuntimeError(f"decode_png: {msg}")


def _read_chunks(data):
    """(info, concatenated IDAT bytes), every chunk's CRC checked."""
    if len(data) < 8:
        _fail("Content is too small for png!")
    if data[:8] != SIGNATURE:
        _fail("Content is not png!")
    pos, info, idat = 8, None, []
    while True:
        if pos + 8 > len(data):
            _fail("the file ends before its IEND chunk (truncated or corrupted image)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            _fail(f"chunk {kind!r} runs past the end of the data (truncated or corrupted image)")
        body = data[pos + 8:end]
        (crc,) = struct.unpack(">I", data[end:end + 4])
        if zlib.crc32(data[pos + 4:end]) & 0xFFFFFFFF != crc:
            _fail(f"bad CRC in chunk {kind!r} (corrupted image)")
        pos = end + 4
        if kind == b"IHDR":
            if length != 13:
                _fail("IHDR chunk of the wrong size")
            w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            if ctype not in _CHANNELS or depth not in _ALLOWED_DEPTHS[ctype]:
                _fail(f"invalid colour type {ctype} with bit depth {depth}")
            if comp != 0 or filt != 0 or interlace not in (0, 1):
                _fail(f"unknown compression/filter/interlace method ({comp}, {filt}, {interlace})")
            if w == 0 or h == 0:
                _fail(f"image of size {w}x{h}")
            info = PNGInfo(w, h, depth, ctype, interlace)
        elif info is None:
            _fail(f"the first chunk is {kind!r}, not IHDR")
        elif kind == b"PLTE":
            if length % 3 or not 0 < length <= 768:
                _fail(f"PLTE chunk of {length} bytes")
            info.palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            info.trns = bytes(body)
        elif kind == b"eXIf":
            info.exif = bytes(body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif not kind[0] & 0x20:  # an unknown critical chunk (upper-case first letter)
            _fail(f"unknown critical chunk {kind!r}")
    if info is None or not idat:
        _fail("no image data")
    if info.color_type == 3 and info.palette is None:
        _fail("palette image without a PLTE chunk")
    return info, b"".join(idat)


def _unfilter(raw, rows, row_bytes, bpp):
    """Undo the per-scanline filters of one (sub)image: raw holds rows * (1 + row_bytes) bytes.
    In C++ (csrc/cpu/png_filter.cpp): Sub, Average and Paeth chain byte by byte along the row."""
    if len(raw) < rows * (1 + row_bytes):
        _fail("not enough image data (truncated or corrupted image)")
    out = _C.png_unfilter(raw, rows, row_bytes, bpp)
    return np.frombuffer(out, np.uint8).reshape(rows, row_bytes)


def _samples(rows, width, channels, depth):
    """Unfiltered scanlines (rows, row_bytes) -> samples (rows, width, channels): uint8 for depth <= 8,
    int32 for 16 (big-endian pairs)."""
    n = rows.shape[0]
    if depth == 16:
        pairs = rows.reshape(n, -1, 2).astype(np.int32)
        vals = (pairs[..., 0] << 8) | pairs[..., 1]
        return vals[:, :width * channels].reshape(n, width, channels)
    if depth == 8:
        return rows[:, :width * channels].reshape(n, width, channels)
    bits = np.unpackbits(rows, axis=1).reshape(n, -1, depth)  # MSB first, as PNG packs them
    weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
    vals = (bits * weights).sum(axis=2, dtype=np.uint8)
    return vals[:, :width * channels].reshape(n, width, channels)


def decode_raw(data):
    """(info, samples (H, W, C)): the stored samples, uint8 (depth <= 8, palette indices for colour
    type 3) or int32 (depth 16)."""
    info, compressed = _read_chunks(bytes(data))
    try:
        raw = zlib.decompress(compressed)
    except zlib.error as e:
        _fail(f"corrupted image data ({e})")
    c = _CHANNELS[info.color_type]
    bits_pp = c * info.bit_depth
    bpp = max(1, bits_pp // 8)
    w, h = info.width, info.height
    if not info.interlace:
        row_bytes = (w * bits_pp + 7) // 8
        return info, _samples(_unfilter(raw, h, row_bytes, bpp), w, c, info.bit_depth)
    out = np.zeros((h, w, c), np.int32 if info.bit_depth == 16 else np.uint8)
    pos = 0
    for r0, c0, dr, dc in _ADAM7:
        ph, pw = (h - r0 + dr - 1) // dr, (w - c0 + dc - 1) // dc
        if ph <= 0 or pw <= 0:
            continue  # an empty pass has no scanlines, not even filter bytes
        row_bytes = (pw * bits_pp + 7) // 8
        size = ph * (1 + row_bytes)
        sub = _unfilter(raw[pos:pos + size], ph, row_bytes, bpp)
        pos += size
        out[r0::dr, c0::dc] = _samples(sub, pw, c, info.bit_depth)
    return info, out
