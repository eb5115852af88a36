"""flambeau.vision.io: torchvision.io's image functions.

    read_file / write_file      a file's bytes as a 1-D uint8 tensor, and back
    decode_png / encode_png     PNG in numpy and zlib (_png_decode.py; the encoder is utils/_png.py)
    read_image / decode_image   PNG by the decoder here; JPEG, GIF, WebP, BMP... through Pillow when it
                                is installed, else a clear error
    write_png, decode_jpeg, encode_jpeg, write_jpeg, ImageReadMode

Images are uint8 tensors (C, H, W). A 16-bit PNG decodes to int32 values in [0, 65535] (torchvision
gives uint16, which flambeau has no tensors of). The read modes convert as torchvision's libpng calls
do: grey of depth < 8 scaled to 8 bits; UNCHANGED keeps a palette image's indices; GRAY from colour is
libpng's fixed-point (9794 R + 19234 G + 3740 B) >> 15 (its coefficients 0.2989, 0.587, truncated;
a gAMA chunk is not applied); tRNS is ignored except that a palette's alpha comes from it. Two
departures where torchvision's output is not an image: an alpha channel added to 1/2/4-bit grey is
opaque (255; torchvision's filler is 2**depth - 1), and a palette image asked for with alpha but
without a tRNS chunk gets opaque alpha.
"""
import io as _io
import os
import struct
from enum import Enum

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _png_decode

__all__ = ["ImageReadMode", "read_file", "write_file", "decode_png", "encode_png", "write_png", "decode_jpeg",
           "encode_jpeg", "write_jpeg", "decode_image", "read_image"]


class ImageReadMode(Enum):
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = RGB_ALPHA


def _mode(mode):
    if isinstance(mode, str):
        try:
            return ImageReadMode[mode.upper()]
        except KeyError:
            raise ValueError(f"unknown ImageReadMode {mode!r} (one of {[m.name for m in ImageReadMode]})") from None
    if not isinstance(mode, ImageReadMode):
        raise TypeError(f"mode should be an ImageReadMode or a string, got {type(mode)}")
    return mode


def _bytes_of(data, op):
    if not isinstance(data, Tensor):
        raise TypeError(f"{op}: expected a 1-D uint8 tensor of the encoded bytes, got {type(data)}")
    if data.dtype != flambeau.uint8 or data.dim() != 1 or data.numel() == 0:
        raise RuntimeError(f"{op}: expected a non-empty 1-D uint8 tensor, got {data.dtype} of shape "
                           f"{tuple(data.shape)}")
    return data.detach().cpu().contiguous().numpy().tobytes()


def read_file(path):
    """The file's bytes as a 1-D uint8 tensor."""
    with open(os.fspath(path), "rb") as f:
        raw = f.read()
    if not raw:
        raise RuntimeError(f"read_file: {path} is empty")
    return flambeau.from_numpy(np.frombuffer(raw, np.uint8).copy())


def write_file(filename, data):
    """Write a 1-D uint8 tensor's bytes to filename."""
    raw = _bytes_of(data, "write_file")
    with open(os.fspath(filename), "wb") as f:
        f.write(raw)


# ---- PNG ----------------------------------------------------------------------------------------
def _libpng_gray(rgb, depth):
    """libpng's png_do_rgb_to_gray without gamma: 15-bit fixed-point weights of (0.2989, 0.587, rest);
    8-bit results truncate, 16-bit round; grey pixels pass unchanged."""
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    acc = 9794 * r + 19234 * g + 3740 * b
    gray = (acc + (16384 if depth == 16 else 0)) >> 15
    gray = np.where((r == g) & (r == b), r, gray)
    return gray[..., None].astype(rgb.dtype)


def _convert(info, s, mode):
    """torchvision's decode_png conversions of the stored samples s (H, W, C)."""
    ct, depth = info.color_type, info.bit_depth
    if ct == 0 and depth < 8:
        s = (s * (255 // ((1 << depth) - 1))).astype(np.uint8)
    if mode is ImageReadMode.UNCHANGED:
        return s
    top = 65535 if depth == 16 else 255
    if ct == 3:  # palette -> RGB, with the tRNS alphas (opaque where it has none)
        idx = s[..., 0].astype(np.int64)
        if idx.max() >= len(info.palette):
            raise RuntimeError("decode_png: a palette index is past the end of the PLTE chunk")
        rgb = info.palette[idx]
        alpha = np.full(len(info.palette), 255, np.uint8)
        if info.trns:
            t = np.frombuffer(info.trns, np.uint8)[:len(alpha)]
            alpha[:len(t)] = t
        s = np.concatenate([rgb, alpha[idx][..., None]], axis=2)
        ct = 6
    has_color, has_alpha = ct in (2, 6), ct in (4, 6)
    color = s[..., :3] if has_color else s[..., :1]
    alpha = s[..., -1:] if has_alpha else np.full(s.shape[:2] + (1,), top, s.dtype)
    if mode in (ImageReadMode.GRAY, ImageReadMode.GRAY_ALPHA):
        gray = _libpng_gray(color, depth) if has_color else color
        return gray if mode is ImageReadMode.GRAY else np.concatenate([gray, alpha], axis=2)
    rgb = color if has_color else np.repeat(color, 3, axis=2)
    return rgb if mode is ImageReadMode.RGB else np.concatenate([rgb, alpha], axis=2)


def _orient(chw, orientation):
    """The EXIF orientation (1..8) applied to a (C, H, W) array, as torchvision's exif transform."""
    if orientation == 2:
        return chw[:, :, ::-1]
    if orientation == 3:
        return chw[:, ::-1, ::-1]
    if orientation == 4:
        return chw[:, ::-1, :]
    if orientation == 5:
        return chw.transpose(0, 2, 1)
    if orientation == 6:
        return chw.transpose(0, 2, 1)[:, :, ::-1]
    if orientation == 7:
        return chw.transpose(0, 2, 1)[:, ::-1, ::-1]
    if orientation == 8:
        return chw.transpose(0, 2, 1)[:, ::-1, :]
    return chw


def _exif_orientation(exif):
    """Tag 0x0112 of a TIFF-structured EXIF block, or None."""
    if exif[:6] == b"Exif\x00\x00":
        exif = exif[6:]
    if len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        return None
    end = "<" if exif[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", exif[4:8])
    if ifd + 2 > len(exif):
        return None
    (count,) = struct.unpack(end + "H", exif[ifd:ifd + 2])
    for k in range(count):
        entry = exif[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, typ, _, value = struct.unpack(end + "HHI4s", entry)
        if tag == 0x0112 and typ == 3:
            return struct.unpack(end + "H", value[:2])[0]
    return None


def decode_png(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):
    """A PNG file's bytes (1-D uint8 tensor) -> (C, H, W) tensor: uint8, or int32 for 16-bit images."""
    mode = _mode(mode)
    info, samples = _png_decode.decode_raw(_bytes_of(input, "decode_png"))
    chw = _convert(info, samples, mode).transpose(2, 0, 1)
    if apply_exif_orientation and info.exif:
        chw = _orient(chw, _exif_orientation(info.exif))
    return flambeau.from_numpy(np.ascontiguousarray(chw))


def encode_png(input, compression_level=6):
    """(C, H, W) uint8 tensor, C 1 or 3 -> the PNG file's bytes as a 1-D uint8 tensor."""
    from flambeau.utils import _png
    if not isinstance(input, Tensor):
        raise TypeError(f"encode_png: expected a uint8 tensor (C, H, W), got {type(input)}")
    if input.dtype != flambeau.uint8:
        raise RuntimeError(f"encode_png: Input tensor dtype should be uint8, got {input.dtype}")
    if input.dim() != 3:
        raise RuntimeError(f"encode_png: Input data should be a 3-dimensional tensor, got shape {tuple(input.shape)}")
    if input.shape[0] not in (1, 3):
        raise RuntimeError(f"encode_png: The number of channels should be 1 or 3, got: {input.shape[0]}")
    if not 0 <= int(compression_level) <= 9:
        raise RuntimeError(f"encode_png: Compression level should be between 0 and 9, got {compression_level}")
    if input.shape[1] == 0 or input.shape[2] == 0:
        raise RuntimeError(f"encode_png: an image needs at least one pixel, got shape {tuple(input.shape)}")
    hwc = np.ascontiguousarray(input.detach().cpu().numpy().transpose(1, 2, 0))
    raw = _png.png_bytes(hwc, int(compression_level))
    return flambeau.from_numpy(np.frombuffer(raw, np.uint8).copy())


def write_png(input, filename, compression_level=6):
    write_file(filename, encode_png(input, compression_level))


# ---- everything else through Pillow -------------------------------------------------------------
def _pil(op):
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(f"{op}: this image format needs Pillow (pip install pillow); flambeau decodes and "
                           "encodes PNG without it") from None
    return Image


_PIL_MODES = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA", ImageReadMode.RGB: "RGB",
              ImageReadMode.RGB_ALPHA: "RGBA"}


def _decode_with_pil(raw, mode, apply_exif_orientation, op):
    Image = _pil(op)
    try:
        im = Image.open(_io.BytesIO(raw))
        im.load()
    except Exception as e:  # Pillow's UnidentifiedImageError, truncated files, ...
        raise RuntimeError(f"{op}: cannot decode the image ({e})") from None
    if apply_exif_orientation:
        from PIL import ImageOps
        im = ImageOps.exif_transpose(im)
    if mode is not ImageReadMode.UNCHANGED:
        im = im.convert(_PIL_MODES[mode])
    elif im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    arr = np.asarray(im)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return flambeau.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def decode_jpeg(input, mode=ImageReadMode.UNCHANGED, device="cpu", apply_exif_orientation=False):
    """JPEG bytes -> uint8 (C, H, W), decoded by Pillow (libjpeg; torchvision's libjpeg-turbo may differ by
    rounding in the colour conversion)."""
    mode = _mode(mode)
    if isinstance(input, (list, tuple)):
        return [decode_jpeg(x, mode, device, apply_exif_orientation) for x in input]
    raw = _bytes_of(input, "decode_jpeg")
    out = _decode_with_pil(raw, mode, apply_exif_orientation, "decode_jpeg")
    return out.to(device) if str(device) != "cpu" else out


def encode_jpeg(input, quality=75):
    """uint8 (C, H, W), C 1 or 3 -> JPEG bytes (1-D uint8 tensor), encoded by Pillow."""
    if not 1 <= quality <= 100:
        raise ValueError("Image quality should be a positive number between 1 and 100")
    if isinstance(input, (list, tuple)):
        if not input:
            raise ValueError("encode_jpeg requires at least one input tensor when a list is passed")
        return [encode_jpeg(x, quality) for x in input]
    if (not isinstance(input, Tensor) or input.dtype != flambeau.uint8 or input.dim() != 3
            or input.shape[0] not in (1, 3)):
        raise RuntimeError("encode_jpeg: expected a uint8 tensor (C, H, W) with 1 or 3 channels, got "
                           f"{getattr(input, 'dtype', type(input))} of shape {tuple(getattr(input, 'shape', ()))}")
    Image = _pil("encode_jpeg")
    hwc = np.ascontiguousarray(input.detach().cpu().numpy().transpose(1, 2, 0))
    buf = _io.BytesIO()
    Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc).save(buf, format="JPEG", quality=int(quality))
    return flambeau.from_numpy(np.frombuffer(buf.getvalue(), np.uint8).copy())


def write_jpeg(input, filename, quality=75):
    write_file(filename, encode_jpeg(input, quality))


def decode_image(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):
    """Bytes (1-D uint8 tensor) or a path -> uint8 (C, H, W): PNG by the decoder here, other formats by
    Pillow."""
    if not isinstance(input, Tensor):
        input = read_file(os.fspath(input))
    mode = _mode(mode)
    raw = _bytes_of(input, "decode_image")
    if raw[:8] == _png_decode.SIGNATURE:
        return decode_png(input, mode, apply_exif_orientation)
    return _decode_with_pil(raw, mode, apply_exif_orientation, "decode_image")


def read_image(path, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):
    return decode_image(read_file(path), mode, apply_exif_orientation)
