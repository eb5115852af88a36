"""Minimal animated-GIF encoder (numpy + pure Python LZW) for add_video, which TensorBoard shows as
an image. PyTorch needs moviepy for this; we need nothing.

Colours: one global palette. When the whole clip has at most 256 distinct colours it is exactly
those (lossless); otherwise a uniform 6x7x6 colour cube (green, to which the eye is most sensitive,
gets the extra level), each channel rounded to its nearest level. No dithering.
"""
import struct

import numpy as np

_MIN_CODE_SIZE = 8              # 256-entry palette
_CLEAR, _EOI = 256, 257
_MAX_CODE = 4096                # GIF's 12-bit code limit


def _palette_indices(frames):
    """(T, H, W, 3) uint8 -> (palette (256, 3) uint8, indices (T, H, W) uint8)."""
    rgb = frames.astype(np.int32)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    colours, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    palette = np.zeros((256, 3), dtype=np.uint8)
    if colours.size <= 256:
        palette[:colours.size] = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], 1)
        return palette, inverse.reshape(keys.shape).astype(np.uint8)
    levels = np.array([6, 7, 6])
    q = np.rint(rgb * (levels - 1) / 255.0).astype(np.int32)          # nearest level per channel
    idx = (q[..., 0] * 7 + q[..., 1]) * 6 + q[..., 2]
    r, g, b = np.meshgrid(*[np.rint(np.arange(n) * 255.0 / (n - 1)) for n in levels], indexing="ij")
    palette[:252] = np.stack([r.ravel(), g.ravel(), b.ravel()], 1).astype(np.uint8)
    return palette, idx.astype(np.uint8)


def lzw_encode(data):
    """GIF LZW of a bytes string of palette indices, as a list of code bytes (no sub-blocks).

    Variable-width codes from 9 to 12 bits, least significant bit first; the width grows once the
    next free code no longer fits, and the table restarts with a clear code when all 4096 are used
    (the rule of the classic `compress`-derived GIF encoders, which every decoder follows)."""
    out = bytearray()
    acc = nbits = 0
    width = _MIN_CODE_SIZE + 1

    def emit(code):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    emit(_CLEAR)
    if not data:
        emit(_EOI)
        return bytes(out) + (bytes([acc]) if nbits else b"")
    table, next_code = {}, _EOI + 1
    prefix = data[0]
    for c in data[1:]:
        key = (prefix << 8) | c
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix)
        if next_code < _MAX_CODE:
            if next_code == (1 << width) and width < 12:
                width += 1
            table[key] = next_code
            next_code += 1
        else:
            emit(_CLEAR)
            table, next_code, width = {}, _EOI + 1, _MIN_CODE_SIZE + 1
        prefix = c
    emit(prefix)
    if next_code == (1 << width) and width < 12:
        width += 1
    emit(_EOI)
    return bytes(out) + (bytes([acc]) if nbits else b"")


def _sub_blocks(data):
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                    for i in range(0, len(data), 255)) + b"\x00"


def encode_gif(frames, fps):
    """GIF89a bytes of (T, H, W, 3) uint8 frames, looping forever, 1/fps seconds a frame."""
    t, h, w, c = frames.shape
    if c != 3 or frames.dtype != np.uint8 or t == 0 or h == 0 or w == 0 or h > 65535 or w > 65535:
        raise ValueError(f"encode_gif: expected non-empty uint8 (T, H, W, 3) frames, got {frames.dtype} "
                         f"of shape {tuple(frames.shape)}")
    palette, idx = _palette_indices(frames)
    delay = max(1, int(round(100.0 / fps)))   # hundredths of a second
    out = [b"GIF89a", struct.pack("<HHBBB", w, h, 0xF7, 0, 0), palette.tobytes(),
           b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00"]           # loop forever
    for frame in idx:
        out.append(b"\x21\xF9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00")  # keep previous frame
        out.append(b"\x2C" + struct.pack("<HHHHB", 0, 0, w, h, 0))
        out.append(bytes([_MIN_CODE_SIZE]) + _sub_blocks(lzw_encode(frame.tobytes())))
    out.append(b"\x3B")
    return b"".join(out)
