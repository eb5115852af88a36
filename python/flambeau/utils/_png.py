"""Minimal PNG encoder (stdlib zlib only) for 8-bit images: TensorBoard's image plugin (utils.tensorboard) and
flambeau.vision.utils.save_image.

Every scanline uses filter type 0 (None): the output is a valid PNG that any decoder reads to the
same pixels; adaptive filtering would only make the file smaller.
"""
import struct
import zlib

import numpy as np

# channels -> PNG colour type: grey, grey+alpha, RGB, RGBA (the modes PIL.Image.fromarray picks)
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(hwc):
    """PNG bytes of a uint8 array of shape (H, W, C), C in 1..4."""
    hwc = np.asarray(hwc)
    if hwc.dtype != np.uint8 or hwc.ndim != 3 or hwc.shape[2] not in _COLOR_TYPE:
        raise ValueError(f"encode_png: expected a uint8 (H, W, C) array with C in 1..4, "
                         f"got {hwc.dtype} of shape {tuple(hwc.shape)}")
    h, w, c = hwc.shape
    if h == 0 or w == 0:
        raise ValueError(f"encode_png: an image needs at least one pixel, got shape {tuple(hwc.shape)}")
    return png_bytes(hwc)


def png_bytes(hwc, compression_level=6):
    """The PNG file of a uint8 (H, W, C) array, C in 1..4, unchecked (encode_png,
    flambeau.vision.utils.write_png and flambeau.vision.io.encode_png check their inputs each in their
    own words)."""
    h, w, c = hwc.shape
    rows = np.zeros((h, 1 + w * c), dtype=np.uint8)  # column 0: the filter byte, 0 = None
    rows[:, 1:] = hwc.reshape(h, w * c)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPE[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), compression_level)) + _chunk(b"IEND", b""))
