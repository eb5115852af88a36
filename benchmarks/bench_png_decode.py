"""flambeau.vision.io.decode_png beside Pillow (np.asarray(Image.open(...)), libpng-based zlib + C
unfiltering) on PNG files Pillow writes (its adaptive filters: mostly Up and Sub rows here) and on files with
every row Paeth or Average (written here), per image, best of 5 rounds, in ms. Session 22 moved the scanline unfiltering from a Python loop over
each Average/Paeth row's bytes into C++ (csrc/cpu/png_filter.cpp).

    PYTHONPATH=python python benchmarks/bench_png_decode.py
"""
import io
import time

import numpy as np
from PIL import Image

import flambeau
from flambeau.vision import io as vio


def best(f, reps):
    f()
    b = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            f()
        b = min(b, (time.perf_counter() - t) / reps)
    return b * 1e3


def photo_like(rng, h, w, c):
    """Smooth gradients plus noise: what a photo gives an encoder (all-noise would be incompressible)."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * (k + 1) + y * (3 - k)) % 256 for k in range(c)], axis=2)
    return np.clip(base + rng.normal(0, 6, (h, w, c)), 0, 255).astype(np.uint8)


def png_with_filter(arr, ft):
    """An 8-bit PNG of arr (h, w, c) with every row stored with filter ft (3 Average, 4 Paeth): the
    filters a photo gets most from libpng's heuristic, and the ones that chain along the row."""
    import struct
    import zlib
    h, w, c = arr.shape
    x = arr.reshape(h, w * c).astype(np.int32)
    up = np.vstack([np.zeros((1, w * c), np.int32), x[:-1]])
    left = np.hstack([np.zeros((h, c), np.int32), x[:, :-c]])
    ul = np.hstack([np.zeros((h, c), np.int32), up[:, :-c]])
    if ft == 3:
        pred = (left + up) >> 1
    else:
        pa, pb, pc = np.abs(up - ul), np.abs(left - ul), np.abs(left + up - 2 * ul)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, ul))
    rows = np.hstack([np.full((h, 1), ft, np.int32), (x - pred) & 0xFF]).astype(np.uint8)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def main():
    rng = np.random.default_rng(0)
    print(f"{'image':34s} {'ours ms':>9s} {'Pillow ms':>10s} {'ratio':>6s}")
    cases = [(224, 224, "RGB", None), (224, 224, "L", None), (224, 224, "RGBA", None), (512, 512, "RGB", None),
             (32, 32, "RGB", None), (224, 224, "RGB", 4), (224, 224, "RGB", 3), (512, 512, "RGB", 4)]
    for (h, w, mode, ft) in cases:
        c = len(mode)
        arr = photo_like(rng, h, w, c)
        if ft is None:  # Pillow's encoder: adaptive, mostly Up and Sub rows on these images
            buf = io.BytesIO()
            Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode).save(buf, format="PNG")
            data = buf.getvalue()
        else:
            data = png_with_filter(arr, ft)
            mode += " Paeth" if ft == 4 else " Average"
        assert np.array_equal(vio.decode_png(flambeau.from_numpy(np.frombuffer(data, np.uint8).copy())).numpy(),
                              np.asarray(Image.open(io.BytesIO(data))).reshape(h, w, c).transpose(2, 0, 1))
        t = flambeau.from_numpy(np.frombuffer(data, np.uint8).copy())
        reps = max(3, int(2e5 // (h * w)))
        ours = best(lambda: vio.decode_png(t), reps)
        pil = best(lambda: np.asarray(Image.open(io.BytesIO(data))), reps)
        label = f"{h}x{w} {mode} ({len(data)} B)"
        print(f"{label:34s} {ours:9.3f} {pil:10.3f} {pil / ours:6.2f}")


if __name__ == "__main__":
    main()
