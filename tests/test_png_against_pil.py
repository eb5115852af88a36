"""decode_png against Pillow's PNG decoder, an independent implementation: random images Pillow encodes
itself (its adaptive per-row filter choice, modes L, LA, RGB, RGBA, P, 1 and I;16), and random images
of every colour type, bit depth and Adam7 interlacing written by test_vision_io's make_png with every
scanline filter (Pillow reads what it cannot write: interlacing, depths 2 and 4, 16-bit colour).
The unfiltering these exercise is C++ (csrc/cpu/png_filter.cpp)."""
import io as _pyio

import numpy as np
import pytest

import flambeau
from flambeau.vision import io
from test_vision_io import CASES, _CHANNELS, as_tensor, make_png

Image = pytest.importorskip("PIL.Image")


def _ours(data):
    """decode_png(UNCHANGED) as an (H, W, C) array."""
    return io.decode_png(as_tensor(data)).numpy().transpose(1, 2, 0)


def _smooth(rng, h, w, c, top):
    """Random images with structure (a ramp plus noise), so that Pillow's encoder picks every filter."""
    ramp = np.add.outer(np.arange(h), np.arange(w))[:, :, None] * rng.integers(1, 4, (1, 1, c))
    return (ramp + rng.integers(0, top // 8 + 2, (h, w, c))) % (top + 1)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "1", "I;16"])
def test_pillow_encoded(mode):
    rng = np.random.default_rng(abs(hash(mode)) % 1000)
    for h, w in [(1, 1), (7, 3), (33, 47), (64, 129)]:
        if mode == "1":
            img = Image.fromarray(rng.integers(0, 2, (h, w)).astype(bool))
        elif mode == "I;16":
            img = Image.fromarray(_smooth(rng, h, w, 1, 65535)[:, :, 0].astype(np.uint16))  # mode I;16
        elif mode == "P":
            img = Image.fromarray(_smooth(rng, h, w, 1, 255)[:, :, 0].astype(np.uint8), "P")
            img.putpalette(rng.integers(0, 256, 768).astype(np.uint8).tobytes())
        else:
            c = len(mode)
            arr = _smooth(rng, h, w, c, 255).astype(np.uint8)
            img = Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode)
        buf = _pyio.BytesIO()
        img.save(buf, format="PNG")
        data = buf.getvalue()
        got = _ours(data)
        ref = np.asarray(Image.open(_pyio.BytesIO(data)))
        if ref.ndim == 2:
            ref = ref[:, :, None]
        if mode == "1":
            ref = ref.astype(np.uint8) * 255  # libpng scales 1-bit grey to 8 bits, as torchvision returns it
        assert got.shape == ref.shape, (mode, h, w)
        assert np.array_equal(got.astype(np.int64), ref.astype(np.int64)), (mode, h, w)


def _pillow_view(got, color_type, depth):
    """Our samples as Pillow's decoder returns them: 16-bit colour and grey+alpha cut to their high
    bytes (16-bit grey it keeps whole; low-depth grey both scale to 8 bits)."""
    return got >> 8 if depth == 16 and color_type != 0 else got


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("color_type,depth", CASES)
def test_every_type_depth_filter_interlace(color_type, depth, interlace):
    rng = np.random.default_rng(1000 + color_type * 100 + depth + 7 * interlace)
    c = _CHANNELS[color_type]
    for h, w in [(1, 1), (2, 9), (8, 8), (13, 29), (40, 23)]:
        for filters in [(0, 1, 2, 3, 4), (4, 3), tuple(rng.integers(0, 5, 7))]:
            samples = rng.integers(0, 1 << depth, (h, w, c))
            palette = rng.integers(0, 256, (1 << depth, 3)) if color_type == 3 else None
            data = make_png(samples, color_type, depth, interlace, filters=filters, palette=palette)
            ref = np.asarray(Image.open(_pyio.BytesIO(data))).astype(np.int64)
            ref = ref.reshape(h, w, -1)
            if color_type == 4 and depth == 16:  # Pillow reads 16-bit grey+alpha as RGBA (grey thrice)
                assert np.array_equal(ref[..., 0], ref[..., 1]) and np.array_equal(ref[..., 0], ref[..., 2])
                ref = ref[..., [0, 3]]
            if color_type == 0 and depth == 1:
                ref = ref * 255  # Pillow's mode "1" array is bool
            got = _ours(data).astype(np.int64)
            assert np.array_equal(_pillow_view(got, color_type, depth), ref), (color_type, depth, interlace, h, w,
                                                                                filters)
            # and the stored samples themselves (Pillow loses 16-bit colour's low bytes)
            expect = samples * (255 // ((1 << depth) - 1)) if color_type == 0 and depth < 8 else samples
            assert np.array_equal(got, expect)


def test_unfilter_direct_and_errors():
    """_C.png_unfilter on its own: a bpp wider than the row, and the errors it raises."""
    from flambeau import _C
    raw = bytes([4, 10, 20]) + bytes([3, 1, 2]) + bytes([1, 5, 6])
    out = np.frombuffer(_C.png_unfilter(raw, 3, 2, 6), np.uint8).reshape(3, 2)
    # bpp 6 > row_bytes 2: no left neighbours; Paeth then predicts the byte above, Average half of it
    assert out.tolist() == [[10, 20], [1 + 5, 2 + 10], [5, 6]]
    with pytest.raises(RuntimeError, match="unknown scanline filter type 9"):
        _C.png_unfilter(bytes([0, 1, 2, 9, 3, 4]), 2, 2, 1)
    with pytest.raises(RuntimeError, match="not enough image data"):
        _C.png_unfilter(bytes(5), 2, 2, 1)
    assert len(_C.png_unfilter(b"", 0, 0, 1)) == 0
