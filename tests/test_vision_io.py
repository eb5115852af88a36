"""flambeau.vision.io: read_file/write_file, decode_png against PNG files this test writes itself (every
colour type and bit depth, each scanline filter, Adam7 interlacing) whose pixels are known, the read
modes' conversions against hand-computed values (libpng's rules, which torchvision uses), encode_png /
write_png round trips, JPEG through Pillow when it is installed, and the errors for bad input."""
import struct
import zlib

import numpy as np
import pytest

import flambeau
from flambeau.vision import io
from flambeau.vision.io import ImageReadMode

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _pack_rows(samples, depth):
    """(h, w, c) integer samples -> scanline bytes (h, row_bytes), big-endian / MSB-first packing."""
    h = samples.shape[0]
    flat = samples.reshape(h, -1)
    if depth == 16:
        return np.stack([(flat >> 8) & 0xFF, flat & 0xFF], axis=2).reshape(h, -1).astype(np.uint8)
    if depth == 8:
        return flat.astype(np.uint8)
    bits = ((flat[:, :, None] >> np.arange(depth - 1, -1, -1)) & 1).astype(np.uint8).reshape(h, -1)
    return np.packbits(bits, axis=1)


def _filter_rows(rows, bpp, filters):
    """Apply PNG filters (the type of each row from `filters`, cycled) -> bytes with filter-type prefixes."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], np.int64)
    for r, row in enumerate(rows.astype(np.int64)):
        ft = filters[r % len(filters)]
        zeros = np.zeros(min(bpp, len(row)), np.int64)
        left = np.concatenate([zeros, row[:-bpp]]) if len(row) > bpp else zeros
        upleft = np.concatenate([zeros, prev[:-bpp]]) if len(row) > bpp else zeros
        if ft == 0:
            enc = row
        elif ft == 1:
            enc = row - left
        elif ft == 2:
            enc = row - prev
        elif ft == 3:
            enc = row - (left + prev) // 2
        else:
            pa, pb, pc = np.abs(prev - upleft), np.abs(left - upleft), np.abs(left + prev - 2 * upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
            enc = row - pred
        out.append(ft)
        out += (enc & 0xFF).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def make_png(samples, color_type, depth, interlace=False, filters=(0, 1, 2, 3, 4), palette=None, trns=None,
             extra=b""):
    """A PNG file of the given samples (h, w, c), written here so the test knows every pixel."""
    h, w, c = samples.shape
    bpp = max(1, c * depth // 8)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        raw = b""
        for r0, c0, dr, dc in _ADAM7:
            sub = samples[r0::dr, c0::dc]
            if sub.size:
                raw += _filter_rows(_pack_rows(sub, depth), bpp, filters)
    else:
        raw = _filter_rows(_pack_rows(samples, depth), bpp, filters)
    body = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        body += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        body += _chunk(b"tRNS", bytes(trns))
    body += extra
    z = zlib.compress(raw, 9)
    body += _chunk(b"IDAT", z[:len(z) // 2]) + _chunk(b"IDAT", z[len(z) // 2:])  # split across two IDATs
    return body + _chunk(b"IEND", b"")


def as_tensor(raw):
    return flambeau.from_numpy(np.frombuffer(raw, np.uint8).copy())


CASES = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16),
         (6, 8), (6, 16)]


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("color_type,depth", CASES)
def test_decode_png_unchanged(color_type, depth, interlace):
    rng = np.random.default_rng(color_type * 100 + depth)
    for h, w in [(1, 1), (3, 5), (13, 11), (9, 17)]:
        c = _CHANNELS[color_type]
        samples = rng.integers(0, 1 << depth, (h, w, c))
        palette = rng.integers(0, 256, (1 << depth, 3)) if color_type == 3 else None
        data = make_png(samples, color_type, depth, interlace, palette=palette)
        out = io.decode_png(as_tensor(data))
        expect = samples
        if color_type == 0 and depth < 8:  # libpng scales low-depth grey to 8 bits
            expect = samples * (255 // ((1 << depth) - 1))
        assert out.dtype == (flambeau.int32 if depth == 16 else flambeau.uint8)
        assert out.numpy().tolist() == expect.transpose(2, 0, 1).tolist()


def test_each_filter_alone_and_wide_rows():
    rng = np.random.default_rng(7)
    samples = rng.integers(0, 256, (6, 37, 3))
    for ft in range(5):
        for interlace in (False, True):
            data = make_png(samples, 2, 8, interlace, filters=(ft,))
            assert io.decode_png(as_tensor(data)).numpy().tolist() == samples.transpose(2, 0, 1).tolist()


def _palette_png():
    palette = np.array([[10, 20, 30], [200, 100, 50], [0, 255, 0], [7, 7, 7]])
    idx = np.array([[[0], [1], [2]], [[3], [2], [1]]])
    return idx, palette, make_png(idx, 3, 8, palette=palette, trns=[255, 128])


def test_read_modes():
    idx, palette, data = _palette_png()
    t = as_tensor(data)
    assert io.decode_png(t).numpy().tolist() == idx.transpose(2, 0, 1).tolist()  # UNCHANGED: the indices
    rgb = palette[idx[..., 0]]
    assert io.decode_png(t, ImageReadMode.RGB).numpy().tolist() == rgb.transpose(2, 0, 1).tolist()
    alpha = np.array([255, 128, 255, 255])[idx[..., 0]]
    rgba = io.decode_png(t, "rgba").numpy()
    assert rgba[:3].tolist() == rgb.transpose(2, 0, 1).tolist() and rgba[3].tolist() == alpha.tolist()
    # libpng's rgb_to_gray, weights 9794/19234/3740 of 2**15, truncated; grey pixels pass unchanged
    gray = io.decode_png(t, ImageReadMode.GRAY).numpy()[0]
    assert gray[0, 0] == (9794 * 10 + 19234 * 20 + 3740 * 30) >> 15 == 18
    assert gray[0, 1] == (9794 * 200 + 19234 * 100 + 3740 * 50) >> 15 == 124
    assert gray[1, 0] == 7
    ga = io.decode_png(t, ImageReadMode.GRAY_ALPHA).numpy()
    assert ga[0].tolist() == gray.tolist() and ga[1].tolist() == alpha.tolist()
    # grey + alpha, 16 bits: RGB repeats the grey, RGBA keeps the alpha, GRAY drops it
    s = np.array([[[0, 65535], [40000, 1]]])
    t16 = as_tensor(make_png(s, 4, 16))
    assert io.decode_png(t16, ImageReadMode.RGB).numpy().tolist() == [[[0, 40000]]] * 3
    assert io.decode_png(t16, ImageReadMode.RGB_ALPHA).numpy()[3].tolist() == [[65535, 1]]
    assert io.decode_png(t16, ImageReadMode.GRAY).numpy().tolist() == [[[0, 40000]]]
    # RGB 16 bits to grey rounds: (9794 r + 19234 g + 3740 b + 16384) >> 15; no alpha -> opaque alpha added
    s = np.array([[[1000, 2000, 3000]]])
    t = as_tensor(make_png(s, 2, 16))
    assert io.decode_png(t, "GRAY").numpy().tolist() == [[[(9794 * 1000 + 19234 * 2000 + 3740 * 3000 + 16384) >> 15]]]
    assert io.decode_png(t, "GRAY_ALPHA").numpy()[1].tolist() == [[65535]]
    # 2-bit grey scaled by 85 before any conversion
    s = np.array([[[0], [1], [2], [3]]])
    assert io.decode_png(as_tensor(make_png(s, 0, 2)), "RGB").numpy()[1].tolist() == [[0, 85, 170, 255]]
    assert io.decode_png(as_tensor(make_png(s, 0, 2)), ImageReadMode.GRAY).numpy().tolist() == [[[0, 85, 170, 255]]]
    with pytest.raises(ValueError, match="ImageReadMode"):
        io.decode_png(t, "CMYK")


def test_exif_orientation():
    img = np.arange(6).reshape(2, 3, 1)
    exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01" + struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", 6) + b"\0\0"
    data = make_png(img, 0, 8, extra=_chunk(b"eXIf", exif))
    assert io.decode_png(as_tensor(data)).numpy().tolist() == [img[..., 0].tolist()]
    turned = io.decode_png(as_tensor(data), apply_exif_orientation=True).numpy()[0]
    assert turned.tolist() == np.rot90(img[..., 0], -1).tolist()  # orientation 6: rotate 90 clockwise


def test_encode_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for c in (1, 3):
        img = flambeau.from_numpy(rng.integers(0, 256, (c, 7, 9), dtype=np.uint8))
        for level in (0, 6, 9):
            enc = io.encode_png(img, level)
            assert enc.dtype == flambeau.uint8 and enc.dim() == 1
            assert io.decode_png(enc).tolist() == img.tolist()
        path = tmp_path / f"x{c}.png"
        io.write_png(img, str(path))
        assert io.read_image(str(path)).tolist() == img.tolist()
        assert io.decode_image(path).tolist() == img.tolist()
        assert io.read_file(str(path)).tolist() == list(path.read_bytes())
    io.write_file(str(tmp_path / "b.bin"), flambeau.tensor([1, 2, 255], dtype=flambeau.uint8))
    assert (tmp_path / "b.bin").read_bytes() == b"\x01\x02\xff"
    gray = io.read_image(str(tmp_path / "x3.png"), ImageReadMode.GRAY)
    assert tuple(gray.shape) == (1, 7, 9)


def test_errors():
    good = make_png(np.zeros((2, 2, 3), np.int64), 2, 8)
    with pytest.raises(RuntimeError, match="not png"):
        io.decode_png(as_tensor(b"GIF89a" + b"\0" * 20))
    with pytest.raises(RuntimeError, match="too small"):
        io.decode_png(as_tensor(b"\x89PNG"))
    bad_crc = bytearray(good)
    bad_crc[30] ^= 0xFF  # inside IHDR
    with pytest.raises(RuntimeError, match="CRC"):
        io.decode_png(as_tensor(bytes(bad_crc)))
    with pytest.raises(RuntimeError, match="truncated|ends before"):
        io.decode_png(as_tensor(good[:-20]))
    with pytest.raises(RuntimeError, match="1-D uint8"):
        io.decode_png(flambeau.zeros(5))
    with pytest.raises(RuntimeError, match="channels should be 1 or 3"):
        io.encode_png(flambeau.zeros((4, 2, 2), dtype=flambeau.uint8))
    with pytest.raises(RuntimeError, match="uint8"):
        io.encode_png(flambeau.zeros((3, 2, 2)))
    with pytest.raises(RuntimeError, match="Compression level"):
        io.encode_png(flambeau.zeros((3, 2, 2), dtype=flambeau.uint8), 10)
    with pytest.raises(FileNotFoundError):
        io.read_file("/nonexistent/x.png")


def test_jpeg_through_pillow_or_a_clear_error(tmp_path):
    img = flambeau.from_numpy(np.full((3, 8, 8), 120, np.uint8))
    try:
        import PIL  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="Pillow"):
            io.encode_jpeg(img)
        with pytest.raises(RuntimeError, match="Pillow"):
            io.decode_image(as_tensor(b"\xff\xd8\xff\xe0" + b"\0" * 30))
        return
    enc = io.encode_jpeg(img, quality=95)
    assert enc[:3].tolist() == [0xFF, 0xD8, 0xFF]
    dec = io.decode_jpeg(enc)
    assert tuple(dec.shape) == (3, 8, 8) and int((dec.to(flambeau.int32) - 120).abs().max()) <= 2
    io.write_jpeg(img, str(tmp_path / "a.jpg"))
    assert tuple(io.read_image(str(tmp_path / "a.jpg"), ImageReadMode.GRAY).shape) == (1, 8, 8)
    with pytest.raises(ValueError, match="quality"):
        io.encode_jpeg(img, 0)


def test_jpeg_without_pillow_says_so():
    import os
    import subprocess
    import sys
    code = ("import sys; sys.modules['PIL'] = None\n"
            "import flambeau\nfrom flambeau.vision import io\n"
            "img = flambeau.zeros((3, 4, 4), dtype=flambeau.uint8)\n"
            "for call in (lambda: io.encode_jpeg(img), lambda: io.decode_image(flambeau.tensor([255, 216, 255, 0], "
            "dtype=flambeau.uint8))):\n"
            "    try:\n        call()\n    except RuntimeError as e:\n        assert 'Pillow' in str(e), e\n"
            "    else:\n        raise AssertionError('no error')\n"
            "assert io.decode_png(io.encode_png(img)).tolist() == img.tolist()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
