"""flambeau.utils.tensorboard.SummaryWriter writes TensorBoard event files with numpy only.

Two kinds of checks:
- always: a small reader written here (TFRecord framing with CRC32C checked, a protobuf wire
  decoder, a PNG decoder) reads our files back and finds the values written;
- when the `tensorboard` package is importable: the same calls through PyTorch's SummaryWriter and
  ours, both files read with tensorboard's own EventFileLoader, compared event by event (wall times
  ignored, PNG compared by decoded pixels).
"""
import glob
import os
import re
import socket
import struct
import time

import numpy as np
import pytest

import flambeau
from flambeau.utils.tensorboard import SummaryWriter
from flambeau.utils.tensorboard._crc32c import crc32c, masked_crc32c
from png_decode import decode_png


# ---------------------------------------------------------------- the reader used by the tests

def _crc32c_bitwise(data):
    # the definition, bit by bit (independent of the table-driven code under test)
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def _masked(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    """The payloads of a TFRecord file, every length and payload CRC checked."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert hcrc == _masked(_crc32c_bitwise(header)), f"bad length CRC at byte {pos}"
        payload = data[pos + 12:pos + 12 + n]
        (pcrc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        assert len(payload) == n and pcrc == _masked(_crc32c_bitwise(payload)), f"bad CRC at byte {pos}"
        out.append(payload)
        pos += 16 + n
    return out


def decode(buf):
    """Protobuf wire format -> {field number: [raw values]} (varint: int, fixed64/32: bytes, LEN: bytes)."""
    fields, pos = {}, 0

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while pos < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            v = varint()
        elif wire == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n = varint()
            v, pos = buf[pos:pos + n], pos + n
        else:
            raise AssertionError(f"wire type {wire}")
        fields.setdefault(field, []).append(v)
    return fields


def f64(b):
    return struct.unpack("<d", b)[0]


def f32(b):
    return struct.unpack("<f", b)[0]


def decode_gif(data):
    """(palette, [frame indices (H, W)], delay) of a GIF as our encoder writes it: global palette,
    full-size frames, LZW with 8-bit minimum code size."""
    assert data[:6] == b"GIF89a" and data[-1:] == b"\x3b"
    w, h, packed = struct.unpack("<HHB", data[6:11])
    assert packed & 0x80
    n = 2 << (packed & 7)
    palette = np.frombuffer(data[13:13 + 3 * n], np.uint8).reshape(n, 3)
    pos, frames, delay = 13 + 3 * n, [], None
    while data[pos] != 0x3B:
        if data[pos] == 0x21:                                   # extension: skip its sub-blocks
            if data[pos + 1] == 0xF9:
                delay = struct.unpack("<H", data[pos + 4:pos + 6])[0]
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
            continue
        assert data[pos] == 0x2C
        fw, fh = struct.unpack("<HH", data[pos + 5:pos + 9])
        assert (fw, fh) == (w, h)
        min_size, pos = data[pos + 10], pos + 11
        blob = b""
        while data[pos]:
            blob += data[pos + 1:pos + 1 + data[pos]]
            pos += data[pos] + 1
        pos += 1
        clear, eoi = 1 << min_size, (1 << min_size) + 1
        bits = int.from_bytes(blob, "little")
        bitpos, width, out, table, prev = 0, min_size + 1, bytearray(), None, None
        while True:
            code = (bits >> bitpos) & ((1 << width) - 1)
            bitpos += width
            if code == clear:
                table = [bytes([i]) for i in range(clear)] + [b"", b""]
                width, prev = min_size + 1, None
                continue
            if code == eoi:
                break
            if prev is None:
                entry = table[code]
            else:
                entry = table[code] if code < len(table) else prev + prev[:1]
                table.append(prev + entry[:1])
                if len(table) == (1 << width) and width < 12:
                    width += 1
            out += entry
            prev = entry
        frames.append(np.frombuffer(bytes(out), np.uint8).reshape(h, w))
    return palette, frames, delay


def events(logdir):
    """Decoded events of the one event file in logdir."""
    files = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    return [decode(r) for r in read_records(files[0])]


def summary_values(ev):
    """[(tag, {value field: decoded}), ...] of an event's summary."""
    out = []
    for v in decode(ev[5][0]).get(1, []):
        d = decode(v)
        out.append((d[1][0].decode(), d))
    return out


# ---------------------------------------------------------------- CRC

def test_crc32c_published_vectors():
    # "123456789" (the CRC catalogue's check value) and RFC 3720 (iSCSI) B.4
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 15, 16, 17, 100, 1001):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == _crc32c_bitwise(data)
        assert crc32c(data[5:], crc32c(data[:5])) == crc32c(data)
        assert masked_crc32c(data) == _masked(_crc32c_bitwise(data))


# ---------------------------------------------------------------- files, directories, lifetime

def test_file_name_and_first_event(tmp_path):
    t0 = int(time.time())
    with SummaryWriter(str(tmp_path), filename_suffix=".x") as w:
        assert w.get_logdir() == str(tmp_path)
    (name,) = os.listdir(tmp_path)
    m = re.fullmatch(r"events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)\.x", name)
    assert m, name
    assert abs(int(m.group(1)) - t0) <= 2
    assert m.group(2) == socket.gethostname() and int(m.group(3)) == os.getpid()
    (ev,) = events(tmp_path)
    assert ev[3] == [b"brain.Event:2"] and abs(f64(ev[1][0]) - time.time()) < 60


def test_default_logdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    d = w.get_logdir()
    assert os.path.dirname(d) == "runs"
    assert re.fullmatch(r"[A-Z][a-z]{2}\d\d_\d\d-\d\d-\d\d_" + re.escape(socket.gethostname()) + "_lr0.1",
                        os.path.basename(d)), d
    assert len(glob.glob(os.path.join(d, "events.out.tfevents.*"))) == 1


def test_scalars_steps_walltime_and_inputs(tmp_path):
    x = flambeau.tensor([2.0, 3.0], requires_grad=True)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("loss", 0.25, 1)
        w.add_scalar("loss", flambeau.tensor(1.5), np.int64(2), walltime=123.5)
        w.add_scalar("loss", (x * x).sum(), 3)          # a tensor that requires grad
        w.add_scalar("loss", np.float32(-4.0), 4)
        w.add_scalar("loss", 0, 5)                      # 0.0 is still written (oneof presence)
        w.add_scalar("acc", np.array([[0.75]]), flambeau.tensor(6))
        w.add_scalar("big", 1e300)                      # beyond float32: inf, as protobuf stores it
        w.add_scalar("d", 1 / 3, 7, new_style=True, double_precision=True)
    evs = events(tmp_path)[1:]
    got = [(summary_values(e)[0][0], e.get(2, [0])[0], summary_values(e)[0][1].get(2)) for e in evs]
    assert [(t, s, f32(v[0]) if v else None) for t, s, v in got[:7]] == [
        ("loss", 1, 0.25), ("loss", 2, 1.5), ("loss", 3, 13.0), ("loss", 4, -4.0), ("loss", 5, 0.0),
        ("acc", 6, 0.75), ("big", 0, float("inf"))]
    assert f64(evs[1][1][0]) == 123.5
    tag, val = summary_values(evs[7])[0]
    tensor = decode(val[8][0])
    assert tensor[1] == [2] and f64(tensor[6][0]) == 1 / 3           # DT_DOUBLE, double_val
    assert decode(decode(val[9][0])[1][0])[1] == [b"scalars"]


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        for step in range(3):
            w.add_scalars("run/main", {"a": step, "b": -step}, step)
    assert sorted(os.listdir(tmp_path))[-2:] == ["run_main_a", "run_main_b"]
    for key, sign in (("a", 1), ("b", -1)):
        evs = events(tmp_path / f"run_main_{key}")[1:]
        assert [summary_values(e)[0][0] for e in evs] == ["run/main"] * 3
        assert [f32(summary_values(e)[0][1][2][0]) for e in evs] == [sign * s for s in range(3)]


def test_purge_step(tmp_path):
    with SummaryWriter(str(tmp_path), purge_step=42) as w:
        w.add_scalar("x", 1.0, 42)
    evs = events(tmp_path)
    assert evs[1][2] == [42] and evs[1][3] == [b"brain.Event:2"]
    assert evs[2][2] == [42] and decode(evs[2][7][0]) == {1: [1]}  # SessionLog START
    assert summary_values(evs[3])[0][0] == "x"


def _size(logdir):
    return os.path.getsize(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))[0])


def test_max_queue_flush_and_close(tmp_path):
    w = SummaryWriter(str(tmp_path), max_queue=3, flush_secs=1000)
    header = _size(tmp_path)
    w.add_scalar("x", 1.0, 1)
    w.add_scalar("x", 2.0, 2)
    assert _size(tmp_path) == header                    # two pending events, not yet written
    w.add_scalar("x", 3.0, 3)
    assert _size(tmp_path) > header                     # the third fills the queue
    n = _size(tmp_path)
    w.add_scalar("x", 4.0, 4)
    w.flush()
    assert _size(tmp_path) > n
    w.close()
    w.close()                                           # a second close does nothing
    assert [e[2][0] for e in events(tmp_path)[1:]] == [1, 2, 3, 4]
    # adding after close opens a new file in the same directory
    w.add_scalar("x", 5.0, 5)
    w.close()
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 2


def test_unclosed_writer_is_flushed_at_exit(tmp_path):
    import subprocess
    import sys
    code = ("from flambeau.utils.tensorboard import SummaryWriter\n"
            f"w = SummaryWriter({str(tmp_path)!r}, flush_secs=1000)\n"
            "for i in range(3): w.add_scalar('x', float(i), i)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [e[2][0] if 2 in e else 0 for e in events(tmp_path)[1:]] == [0, 1, 2]


def test_flush_secs_zero_writes_each_event(tmp_path):
    with SummaryWriter(str(tmp_path), max_queue=1000, flush_secs=0) as w:
        header = _size(tmp_path)
        w.add_scalar("x", 1.0, 1)
        assert _size(tmp_path) > header


def test_flush_secs(tmp_path):
    with SummaryWriter(str(tmp_path), max_queue=1000, flush_secs=0.05) as w:
        header = _size(tmp_path)
        w.add_scalar("x", 1.0, 1)
        deadline = time.time() + 10
        while _size(tmp_path) == header and time.time() < deadline:
            time.sleep(0.02)
        assert _size(tmp_path) > header


# ---------------------------------------------------------------- histograms

def _histo(logdir):
    (tag, val), = summary_values(events(logdir)[1])
    h = decode(val[5][0])
    unpack = lambda k: np.frombuffer(h[k][0], "<f8") if k in h else np.zeros(0)
    return {"min": f64(h[1][0]) if 1 in h else 0.0, "max": f64(h[2][0]) if 2 in h else 0.0,
            "num": f64(h[3][0]), "sum": f64(h[4][0]) if 4 in h else 0.0,
            "sum_squares": f64(h[5][0]) if 5 in h else 0.0, "limits": unpack(6), "counts": unpack(7)}


def test_histogram_default_bins(tmp_path):
    vals = np.random.randn(1000)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_histogram("w", flambeau.tensor(vals).reshape(20, 50).t(), 3)   # non-contiguous view
    h = _histo(tmp_path)
    assert h["num"] == 1000 and h["min"] == vals.min() and h["max"] == vals.max()
    assert np.isclose(h["sum"], vals.sum()) and np.isclose(h["sum_squares"], (vals ** 2).sum())
    assert h["counts"].sum() == 1000 and h["counts"][0] == 0 and len(h["limits"]) == len(h["counts"])
    # every value falls in the bucket whose right edge is the first limit >= it
    assert np.all(np.diff(h["limits"]) > 0)
    idx = np.searchsorted(h["limits"], vals, side="left")
    assert np.array_equal(np.bincount(idx, minlength=len(h["counts"])), h["counts"])


def test_histogram_numpy_bins_max_bins_and_raw(tmp_path):
    vals = np.arange(100, dtype=np.float32)
    with SummaryWriter(str(tmp_path / "a")) as w:
        w.add_histogram("h", vals, bins=10, max_bins=3)
    h = _histo(tmp_path / "a")
    # 10 bins of 10 values merged by 3 (padded to 12): edges 0, 29.7, 59.4, 89.1, 99; the first bin
    # is non-empty, so an empty bin ending at 0 carries the left edge
    assert np.allclose(h["limits"], [0, 29.7, 59.4, 89.1, 99.0]) and list(h["counts"]) == [0, 30, 30, 30, 10]
    with SummaryWriter(str(tmp_path / "b")) as w:
        w.add_histogram_raw("r", 0, 9, 10, 45, 285, [3.0, 6.0, 9.0], flambeau.tensor([4.0, 3.0, 3.0]))
    h = _histo(tmp_path / "b")
    assert (h["min"], h["max"], h["num"], h["sum"], h["sum_squares"]) == (0, 9, 10, 45, 285)
    assert list(h["limits"]) == [3, 6, 9] and list(h["counts"]) == [4, 3, 3]


# ---------------------------------------------------------------- images

def _image(logdir, k=1):
    (tag, val), = summary_values(events(logdir)[k])
    im = decode(val[4][0])
    return im[1][0], im[2][0], im[3][0], decode_png(im[4][0])


@pytest.mark.parametrize("fmt", ["CHW", "HWC", "HW", "WH", "chw"])
def test_image_layouts_and_scaling(tmp_path, fmt):
    hwc = np.random.rand(5, 7, 3).astype(np.float32)
    hwc[0, 0] = [-0.5, 1.5, 1.0]                          # clipped to 0 and 255
    want = (hwc * 255).clip(0, 255).astype(np.uint8)      # float -> uint8 truncates
    layout = {"CHW": hwc.transpose(2, 0, 1), "HWC": hwc, "HW": hwc[:, :, 0], "WH": hwc[:, :, 0].T}
    img = layout[fmt.upper()]
    if fmt.upper().startswith("H") and img.ndim == 2:
        want = np.stack([want[:, :, 0]] * 3, 2)
    elif img.ndim == 2:
        want = np.stack([want[:, :, 0]] * 3, 2)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_image("img", flambeau.tensor(img), 0, dataformats=fmt)
    h, wd, c, px = _image(tmp_path)
    assert (h, wd, c) == (5, 7, 3)
    assert np.array_equal(px, want)


def test_image_uint8_rgba_and_noncontiguous(tmp_path):
    chw = np.random.randint(0, 256, (4, 6, 5), dtype=np.uint8)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_image("rgba", flambeau.tensor(chw), 0)
        w.add_image("view", flambeau.tensor(chw[:3]).transpose(1, 2), 1, dataformats="CWH")
    assert np.array_equal(_image(tmp_path, 1)[3], chw.transpose(1, 2, 0))
    assert _image(tmp_path, 1)[2] == 4
    assert np.array_equal(_image(tmp_path, 2)[3], chw[:3].transpose(1, 2, 0))


def test_images_grid(tmp_path):
    batch = np.random.rand(10, 1, 3, 2)                   # grey: 3 channels, 8 a row, 2 rows
    with SummaryWriter(str(tmp_path)) as w:
        w.add_images("b", batch, 0)
    h, wd, c, px = _image(tmp_path)
    assert (h, wd, c) == (6, 16, 3)
    u8 = (batch.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)
    for i in range(10):
        r, col = divmod(i, 8)
        assert np.array_equal(px[r * 3:(r + 1) * 3, col * 2:(col + 1) * 2, 1], u8[i, 0])
    assert not px[3:, 4:].any()                           # the empty cells are black


def test_image_errors(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(ValueError, match=r"add_image: dataformats 'CHW' needs a 3-d input, got shape \(4, 5\)"):
            w.add_image("x", np.zeros((4, 5)))
        with pytest.raises(ValueError, match="dataformats 'CHH'"):
            w.add_image("x", np.zeros((3, 4, 5)), dataformats="CHH")
        with pytest.raises(ValueError, match="add_images: a batch of images needs 1 or 3 channels"):
            w.add_images("x", np.zeros((2, 4, 5, 5)))
        with pytest.raises(ValueError, match="5 channels"):
            w.add_image("x", np.zeros((5, 4, 4)))


# ---------------------------------------------------------------- text, tensors, audio, hparams

def test_text(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_text("notes", "héllo **world**", 2)
    (tag, val), = summary_values(events(tmp_path)[1])
    assert tag == "notes/text_summary"
    t = decode(val[8][0])
    assert t[1] == [7] and t[8] == ["héllo **world**".encode()] and decode(t[2][0]) == {2: [b"\x08\x01"]}
    assert decode(decode(val[9][0])[1][0]) == {1: [b"text"]}


def test_tensor(tmp_path):
    x = np.random.randn(2, 3).astype(np.float32)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_tensor("f", flambeau.tensor(x))
        w.add_tensor("i", flambeau.tensor([[-1, 2]], dtype=flambeau.int64))
    (_, v1), = summary_values(events(tmp_path)[1])
    t = decode(v1[8][0])
    assert t[1] == [1] and [decode(d)[1][0] for d in decode(t[2][0])[2]] == [2, 3]
    assert np.array_equal(np.frombuffer(t[5][0], "<f4"), x.reshape(-1))
    (_, v2), = summary_values(events(tmp_path)[2])
    t = decode(v2[8][0])
    assert t[1] == [9] and t[10] == [b"\xff" * 9 + b"\x01" + b"\x02"]   # packed varints -1, 2


def test_audio_is_a_wav(tmp_path):
    import io
    import wave
    sig = np.sin(np.arange(300) / 7.0) * 1.2              # beyond [-1, 1]: clipped with a warning
    with SummaryWriter(str(tmp_path)) as w, pytest.warns(UserWarning, match="clipped"):
        w.add_audio("snd", flambeau.tensor(sig).reshape(1, -1), 0, sample_rate=8000)
    (_, val), = summary_values(events(tmp_path)[1])
    a = decode(val[6][0])
    assert f32(a[1][0]) == 8000 and a[2] == [1] and a[3] == [300] and a[5] == [b"audio/wav"]
    with wave.open(io.BytesIO(a[4][0])) as r:
        assert (r.getnchannels(), r.getsampwidth(), r.getframerate(), r.getnframes()) == (1, 2, 8000, 300)
        pcm = np.frombuffer(r.readframes(300), "<i2")
    assert np.array_equal(pcm, (sig.clip(-1, 1) * 32767).astype("<i2"))


def test_mesh(tmp_path):
    verts = np.random.randn(1, 4, 3).astype(np.float32)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_mesh("m", flambeau.tensor(verts), faces=np.array([[[0, 1, 2]]]), config_dict={"b": 1, "a": 2})
        with pytest.raises(ValueError, match=r"add_mesh: 'm' vertex must be \(B, N, 3\), got shape \(4, 3\)"):
            w.add_mesh("m", verts[0])
    (tag_v, v), (tag_f, f) = summary_values(events(tmp_path)[1])
    assert (tag_v, tag_f) == ("m_VERTEX", "m_FACE")
    assert np.array_equal(np.frombuffer(decode(v[8][0])[5][0], "<f4"), verts.reshape(-1))
    content = decode(decode(decode(f[9][0])[1][0])[2][0])
    assert content == {2: [b"m"], 3: [2], 5: [b'{"a": 2, "b": 1}'], 6: [bytes([1, 1, 3])], 7: [0b110]}


def test_video_gif(tmp_path):
    rng = np.random.default_rng(1)
    levels = np.array([0, 0.2, 0.6, 1.0], dtype=np.float32)
    clips = levels[rng.integers(0, 4, (3, 5, 3, 6, 7))]        # 3 clips, 5 frames, 64 colours at most
    many = rng.integers(0, 256, (1, 2, 3, 40, 40), dtype=np.uint8)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_video("v", flambeau.tensor(clips), 0, fps=10)
        w.add_video("many", many, 0, fps=4)
        with pytest.raises(ValueError, match=r"add_video: expected \(N, T, C, H, W\), got shape \(5, 3, 6, 7\)"):
            w.add_video("bad", clips[0])
    (_, v), = summary_values(events(tmp_path)[1])
    im = decode(v[4][0])
    assert (im[1][0], im[2][0], im[3][0]) == (6, 28, 3)        # 3 clips padded to 4: one row of 4
    palette, frames, delay = decode_gif(im[4][0])
    assert delay == 10 and len(frames) == 5
    u8 = (clips * 255).clip(0, 255).astype(np.uint8)
    for t, f in enumerate(frames):
        rgb = palette[f]
        for i in range(3):
            assert np.array_equal(rgb[:, i * 7:(i + 1) * 7], u8[i, t].transpose(1, 2, 0))
        assert not rgb[:, 21:].any()                           # the padding clip is black
    # more than 256 colours: the 6x7x6 cube, each channel within half a level step
    (_, v), = summary_values(events(tmp_path)[2])
    palette, frames, delay = decode_gif(decode(v[4][0])[4][0])
    assert delay == 25 and len(frames) == 2
    for t in range(2):
        err = np.abs(palette[frames[t]].astype(int) - many[0, t].transpose(1, 2, 0))
        assert err[..., [0, 2]].max() <= 26 and err[..., 1].max() <= 22   # 255/5/2 and 255/6/2


def test_gif_lzw_against_pil():
    pytest.importorskip("PIL")
    import io
    from PIL import Image, ImageSequence
    from flambeau.utils.tensorboard._gif import encode_gif
    rng = np.random.default_rng(2)
    for t, h, w, ncol in [(1, 1, 1, 1), (2, 3, 5, 4), (2, 100, 120, 256), (3, 64, 80, 7)]:
        pal = rng.integers(0, 256, (ncol, 3)).astype(np.uint8)
        frames = pal[rng.integers(0, ncol, (t, h, w))]           # 100x120x256: the 4096-code table fills
        gif = encode_gif(frames, 4)
        got = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(io.BytesIO(gif)))]
        assert len(got) == t and all(np.array_equal(a, b) for a, b in zip(got, frames))
        mine = decode_gif(gif)
        assert all(np.array_equal(mine[0][f], b) for f, b in zip(mine[1], frames))


def test_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figs = []
    for _ in range(2):
        fig = plt.figure(figsize=(2, 1.5), dpi=50)
        fig.gca().plot([0, 1], [1, 0])
        figs.append(fig)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_figure("one", figs[0], 0, close=False)
        w.add_figure("two", figs, 1)
    assert _image(tmp_path, 1)[:3] == (75, 100, 3)
    assert _image(tmp_path, 2)[:3] == (75, 200, 3)          # the two side by side
    assert not plt.get_fignums()                            # close=True closed both


class _Block(flambeau.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = flambeau.nn.Conv2d(1, 4, 3)
        self.bn = flambeau.nn.BatchNorm2d(4)

    def forward(self, x):
        return flambeau.nn.functional.relu(self.bn(self.conv(x)))


class _GraphNet(flambeau.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _Block()
        self.fc = flambeau.nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(flambeau.flatten(self.block(x), 1)).softmax(dim=-1)


def _graph_nodes(logdir):
    evs = events(logdir)
    graph = decode(evs[1][4][0])
    assert decode(graph[4][0]) == {1: [22]}                       # versions.producer
    run_meta = decode(decode(evs[2][8][0])[2][0])                # tagged_run_metadata 'step1'
    assert decode(evs[2][8][0])[1] == [b"step1"] and b"/device:CPU:0" in run_meta[1][0]
    out = []
    for nd in graph[1]:
        n = decode(nd)
        attrs = {decode(a)[1][0].decode(): decode(decode(a)[2][0]) for a in n.get(5, [])}
        shape = None
        if "_output_shapes" in attrs:
            dims = decode(decode(attrs["_output_shapes"][1][0])[7][0]).get(2, [])
            shape = [decode(d).get(1, [0])[0] for d in dims]
        out.append((n[1][0].decode(), n[2][0].decode(), [i.decode() for i in n.get(3, [])], shape))
    return out


def test_graph(tmp_path):
    model = _GraphNet()
    with SummaryWriter(str(tmp_path)) as w:
        w.add_graph(model, flambeau.randn(2, 1, 8, 8))
        with pytest.raises(ValueError, match="add_graph: needs input_to_model"):
            w.add_graph(model)
    assert model.training                                       # traced in eval mode, then restored
    conv, bn = "_GraphNet/_Block[block]/Conv2d[conv]/block_conv", "_GraphNet/_Block[block]/BatchNorm2d[bn]/block_bn"
    assert _graph_nodes(tmp_path) == [
        ("input/x", "IO Node", [], [2, 1, 8, 8]),
        (conv, "Conv2d", ["input/x"], [2, 4, 6, 6]),
        (bn, "BatchNorm2d", [conv], [2, 4, 6, 6]),
        ("_GraphNet/relu", "relu", [bn], [2, 4, 6, 6]),
        ("_GraphNet/flatten", "flatten", ["_GraphNet/relu"], [2, 144]),
        ("_GraphNet/Linear[fc]/fc", "Linear", ["_GraphNet/flatten"], [2, 10]),
        ("_GraphNet/softmax", "softmax", ["_GraphNet/Linear[fc]/fc"], [2, 10]),
        ("output/output.1", "IO Node", ["_GraphNet/softmax"], [2, 10])]


def test_graph_untraceable_model(tmp_path):
    class Branchy(flambeau.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(RuntimeError, match="add_graph: flambeau.fx could not trace Branchy"):
            w.add_graph(Branchy(), flambeau.ones(3))


def test_hparams_subrun(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_hparams({"lr": 0.1, "opt": "adam", "bn": True, "skip": None}, {"hp/acc": 0.9}, run_name="r1")
    evs = events(tmp_path / "r1")
    tags = [summary_values(e)[0][0] for e in evs[1:]]
    assert tags == ["_hparams_/experiment", "_hparams_/session_start_info",
                    "_hparams_/session_end_info", "hp/acc"]
    ssi = decode(decode(decode(decode(summary_values(evs[2])[0][1][9][0])[1][0])[2][0])[3][0])
    hp = {decode(e)[1][0].decode(): decode(decode(e)[2][0]) for e in ssi[1]}
    assert f64(hp["lr"][2][0]) == 0.1 and hp["opt"] == {3: [b"adam"]} and f64(hp["bn"][2][0]) == 1.0
    assert "skip" not in hp


# ---------------------------------------------------------------- errors

def test_errors(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(ValueError, match=r"add_scalar: 'x' needs one value, got shape \(2,\)"):
            w.add_scalar("x", flambeau.tensor([1.0, 2.0]))
        with pytest.raises(ValueError, match="add_histogram: 'h' has no values"):
            w.add_histogram("h", flambeau.zeros(0))
        with pytest.raises(ValueError, match="2 bucket_limits but 1 bucket_counts"):
            w.add_histogram_raw("r", 0, 1, 1, 1, 1, [1.0, 2.0], [1.0])
        with pytest.raises(TypeError, match="add_hparams: hparam_dict and metric_dict"):
            w.add_hparams([("lr", 1)], {})
        with pytest.raises(ValueError, match=r"add_image: 'e' is empty \(shape \(3, 0, 4\), dataformats 'CHW'\)"):
            w.add_image("e", np.zeros((3, 0, 4)))
        with pytest.raises(TypeError, match="add_text: 't' needs a str, got int"):
            w.add_text("t", 5)
        with pytest.raises(NotImplementedError, match="tensorboard: got list"):
            w.add_scalar("x", [1.0])
        for call in ("add_onnx_graph(None)", "add_image_with_boxes('b', None, None)"):
            name = call.split("(")[0]
            with pytest.raises(NotImplementedError, match=f"SummaryWriter.{name} is not implemented"):
                eval("w." + call)


def test_embedding_files(tmp_path):
    mat = np.random.randn(5, 3).astype(np.float32)
    imgs = np.random.rand(5, 3, 4, 2)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_embedding(flambeau.tensor(mat), metadata=["a", "b", "c", "d", "e"],
                        label_img=flambeau.tensor(imgs), tag="emb/1")
        w.add_embedding(mat[:, :2], metadata=[[1, "x"]] * 5, metadata_header=["n", "s"], global_step=7)
        with pytest.raises(ValueError, match=r"add_embedding: 4 metadata rows for 5 points"):
            w.add_embedding(mat, metadata=list("abcd"))
        with pytest.raises(ValueError, match=r"mat must be 2-d"):
            w.add_embedding(mat.reshape(-1))
    d = tmp_path / "00000" / "emb%2f1"
    rows = [[float(x) for x in line.split("\t")] for line in open(d / "tensors.tsv").read().splitlines()]
    assert np.array_equal(np.array(rows, dtype=np.float32), mat)
    assert open(d / "metadata.tsv").read() == "a\nb\nc\nd\ne\n"
    assert open(tmp_path / "00007" / "default" / "metadata.tsv").read() == "n\ts\n" + "1\tx\n" * 5
    sprite = decode_png(open(d / "sprite.png", "rb").read())
    assert sprite.shape == (8, 8, 3)          # 3 a row, 2 rows of 4x2 images, padded to a square
    u8 = np.uint8((imgs * 255).clip(0, 255))
    assert np.array_equal(sprite[4:8, 2:4], u8[4].transpose(1, 2, 0))   # 5th image: row 1, col 1
    assert not sprite[:, 6:].any()
    cfg = open(tmp_path / "projector_config.pbtxt").read()
    assert cfg.count("embeddings {") == 2 and 'tensor_name: "emb/1:00000"' in cfg
    assert 'image_path: "00000/emb%2f1/sprite.png"' in cfg and "single_image_dim: 2" in cfg


def test_needs_nothing_beyond_numpy(tmp_path):
    # In a fresh interpreter where tensorboard, protobuf, PIL and torch cannot be imported, every
    # kind of summary is still written.
    import subprocess
    import sys
    code = f"""
import sys
for name in ("tensorboard", "google", "google.protobuf", "PIL", "torch", "matplotlib", "moviepy"):
    sys.modules[name] = None
import numpy as np, flambeau
from flambeau.utils.tensorboard import SummaryWriter
with SummaryWriter({str(tmp_path)!r}) as w:
    w.add_scalar("s", 1.0, 0); w.add_scalars("m", {{"a": 1.0}}, 0)
    w.add_histogram("h", np.arange(5.0), 0); w.add_image("i", np.zeros((3, 2, 2)), 0)
    w.add_text("t", "x", 0); w.add_tensor("T", flambeau.ones(2), 0)
    w.add_hparams({{"lr": 0.1}}, {{"m": 1.0}}, run_name="hp"); w.add_pr_curve("p", np.ones(3), np.ones(3), 0)
    w.add_audio("a", np.zeros(10), 0); w.add_embedding(np.zeros((2, 2)))
    w.add_custom_scalars_multilinechart(["s"]); w.add_video("v", np.zeros((1, 2, 3, 4, 4)))
    w.add_mesh("m", np.zeros((1, 3, 3))); w.add_graph(flambeau.nn.Linear(2, 3), flambeau.ones(1, 2))
assert "tensorboard" not in [m for m, v in sys.modules.items() if v is not None]
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    evs = events(tmp_path)[1:]
    tags = [summary_values(e)[0][0] for e in evs if 5 in e]
    assert tags == ["s", "h", "i", "t/text_summary", "T", "p", "a", "custom_scalars__config__", "v", "m_VERTEX"]
    assert 4 in evs[-2] and 8 in evs[-1]                       # graph_def, tagged_run_metadata


def test_importable_like_torch_utils_tensorboard():
    import flambeau.utils.tensorboard as tb
    assert tb.SummaryWriter is SummaryWriter and flambeau.utils.tensorboard is tb
    assert hasattr(tb, "FileWriter")


# ---------------------------------------------------------------- against PyTorch + tensorboard's reader

def _calls(w, lib):
    rng = np.random.default_rng(123)
    t = lib.tensor
    w.add_scalar("loss", 0.5, 1)
    w.add_scalar("loss", t(0.25), 2)
    w.add_scalar("zero", 0, 3)
    w.add_scalar("ns", t(2.5), 4, new_style=True)
    w.add_scalar("ns64", 1 / 3, 4, new_style=True, double_precision=True)
    w.add_scalars("grp/x", {"a": 1.0, "b": 2.0}, 5)
    w.add_histogram("hist", t(rng.standard_normal(1000)), 6)
    w.add_histogram("hist_f32", rng.random(77).astype(np.float32) * 1e3 - 500, 6)
    w.add_histogram("hist_np", rng.integers(0, 20, 300), 7, bins="auto")
    w.add_histogram("hist_max", t(rng.standard_normal(500)), 7, max_bins=20)
    w.add_histogram("hist_zero", np.zeros(10), 7)
    w.add_histogram("hist_inf", np.array([1.0, -np.inf, 2.0, np.inf, 1e30]), 7)   # outside the bins
    w.add_histogram_raw("raw", 0.0, 9.0, 10, 45.0, 285.0, [3.0, 6.0, 9.0], [4.0, 3.0, 3.0], 8)
    w.add_image("img_chw", t(rng.random((3, 9, 11)).astype(np.float32)), 9)
    w.add_image("img_hwc_u8", t(rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)), 9, dataformats="HWC")
    w.add_image("img_hw", rng.random((4, 6)) * 1.5 - 0.2, 9, dataformats="HW")
    w.add_image("img_rgba", rng.random((4, 5, 6)), 9)
    w.add_images("imgs", t(rng.random((11, 3, 4, 5)).astype(np.float32)), 10)
    w.add_images("imgs_nhwc", rng.random((3, 4, 5, 1)), 10, dataformats="NHWC")
    w.add_text("txt", "hello *world* é", 11)
    w.add_tensor("ten_f", t(rng.standard_normal((2, 3)).astype(np.float32)), 12)
    w.add_tensor("ten_d", t(rng.standard_normal(4)), 12)
    w.add_tensor("ten_i", t([[-3, 4], [5, -6]]), 12)
    w.add_tensor("ten_i32", t([7, -8], dtype=lib.int32), 12)
    w.add_tensor("ten_u8", t([1, 255], dtype=lib.uint8), 12)
    w.add_tensor("ten_b", t([True, False]), 12)
    w.add_tensor("ten_h", t([1.5, -2.25], dtype=lib.float16), 12)
    w.add_tensor("ten_bf", t([1.5, -2.25], dtype=lib.bfloat16), 12)
    w.add_pr_curve("pr", t(rng.integers(0, 2, 100)), t(rng.random(100)), 13)
    w.add_pr_curve("pr_small", rng.integers(0, 2, 50), rng.random(50), 13, num_thresholds=10,
                   weights=rng.random(50))
    w.add_pr_curve_raw("prraw", [10, 5], [4, 2], [0, 2], [0, 5], [0.7, 0.7], [1.0, 0.5], 14, num_thresholds=2)
    w.add_audio("snd", t(np.sin(np.arange(200) / 5.0)), 15, sample_rate=16000)
    w.add_custom_scalars({"cat": {"multi": ["Multiline", ["loss", "zero"]],
                                  "margin": ["Margin", ["loss", "zero", "ns"]]}})
    w.add_mesh("mesh", t(rng.standard_normal((1, 4, 3)).astype(np.float32)),
               colors=t([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255]]], dtype=lib.int32),
               faces=t([[[0, 2, 3], [0, 3, 1], [0, 1, 2], [1, 3, 2]]], dtype=lib.int32), global_step=15)
    w.add_mesh("cloud", rng.random((2, 5, 3)), config_dict={"camera": {"fov": 75}, "a": 1}, global_step=15)
    w.add_hparams({"lr": 0.01, "bs": 32, "opt": "sgd", "flag": False, "none": None},
                  {"hp/metric": 0.5}, hparam_domain_discrete={"opt": ["sgd", "adam"], "bs": [32, 64]},
                  run_name="hp_run", global_step=16)
    w.add_hparams({"wd": t([0.1])}, {"hp/m2": 1.0}, run_name="hp_run2")


def _png_pixels(data):
    import io
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(data)))


def _loaded_events(logdir):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    (path,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    out = []
    for ev in EventFileLoader(path).Load():
        ev.wall_time = 0
        ev.ClearField("source_metadata")   # names the writing library: ours says flambeau
        out.append(ev)
    return out


def _normalise(ev):
    """Take out of `ev` what is equal in meaning but not in bytes, and return it decoded: an image's
    PNG (our encoder's bytes differ from PIL's) as pixels, the hparams plugin's content (a protobuf
    map, whose entries protobuf writes in hash order) as the parsed message."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    extracted = []
    for v in ev.summary.value:
        if v.metadata.plugin_data.plugin_name == "images":
            extracted.append(_png_pixels(v.tensor.string_val[2]))
            v.tensor.string_val[2] = b""
        elif v.metadata.plugin_data.plugin_name == "hparams":
            extracted.append(HParamsPluginData.FromString(v.metadata.plugin_data.content))
            v.metadata.plugin_data.content = b""
    return extracted


def test_matches_pytorch_summarywriter(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("PIL")
    from torch.utils.tensorboard import SummaryWriter as TorchSummaryWriter
    import torch

    with SummaryWriter(str(tmp_path / "ours")) as w:
        _calls(w, flambeau)
    with TorchSummaryWriter(str(tmp_path / "theirs")) as w:
        _calls(w, torch)

    def runs(root):
        return sorted(os.path.relpath(d, root) for d, _, files in os.walk(root)
                      if any(f.startswith("events.out.tfevents.") for f in files))

    assert runs(tmp_path / "ours") == runs(tmp_path / "theirs") == [
        ".", "grp_x_a", "grp_x_b", "hp_run", "hp_run2"]
    n_images = 0
    for run in runs(tmp_path / "ours"):
        ours, theirs = _loaded_events(tmp_path / "ours" / run), _loaded_events(tmp_path / "theirs" / run)
        assert len(ours) == len(theirs), run
        for a, b in zip(ours, theirs):
            xa, xb = _normalise(a), _normalise(b)
            assert len(xa) == len(xb)
            for x, y in zip(xa, xb):
                if isinstance(x, np.ndarray):
                    assert x.shape == y.shape and np.array_equal(x, y), run
                    n_images += 1
                else:
                    assert x == y, f"{run}:\nours:\n{x}\ntheirs:\n{y}"
            assert a == b, f"{run}:\nours:\n{a}\ntheirs:\n{b}"
    assert n_images == 6


def test_embedding_matches_pytorch(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("PIL")
    from torch.utils.tensorboard import SummaryWriter as TorchSummaryWriter
    import torch
    rng = np.random.default_rng(5)
    mat, imgs = rng.standard_normal((7, 4)).astype(np.float32), rng.random((7, 1, 3, 5)).astype(np.float32)
    for W, lib, sub in ((SummaryWriter, flambeau, "ours"), (TorchSummaryWriter, torch, "theirs")):
        with W(str(tmp_path / sub)) as w:
            w.add_embedding(lib.tensor(mat), metadata=list("abcdefg"), label_img=lib.tensor(imgs),
                            tag="feat/é")
            w.add_embedding(lib.tensor(mat[:, :2]).double(), metadata=[[i, str(i)] for i in range(7)],
                            metadata_header=["i", "s"], global_step=3)
    files = lambda root: sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                                for f in fs if not f.startswith("events."))
    assert files(tmp_path / "ours") == files(tmp_path / "theirs")
    assert len(files(tmp_path / "ours")) == 6
    for f in files(tmp_path / "ours"):
        a, b = open(tmp_path / "ours" / f, "rb").read(), open(tmp_path / "theirs" / f, "rb").read()
        if f.endswith(".png"):
            assert np.array_equal(_png_pixels(a), _png_pixels(b)), f
        else:
            assert a == b, f


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9])
def test_video_layout_matches_pytorch(n):
    # PyTorch's add_video needs moviepy (absent here: it then logs an empty value), so its frame
    # layout is compared directly.
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard._utils import _prepare_video
    from flambeau.utils.tensorboard._summary import _video_frames
    for v in (np.random.rand(n, 2, 3, 4, 5), np.random.randint(0, 256, (n, 2, 1, 3, 2), dtype=np.uint8)):
        ours, theirs = _video_frames(v), _prepare_video(v)
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs)


def test_graph_read_by_tensorboard_like_pytorchs(tmp_path):
    # Different tracers (fx here, TorchScript there) give different op lists; what must agree is that
    # tensorboard reads both and finds the same inputs and outputs with the same shapes.
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter as TorchSummaryWriter
    import torch
    x = np.random.randn(5, 3).astype(np.float32)
    ours = flambeau.nn.Sequential(flambeau.nn.Linear(3, 4), flambeau.nn.ReLU(), flambeau.nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with SummaryWriter(str(tmp_path / "ours")) as w:
        w.add_graph(ours, flambeau.tensor(x))
    with TorchSummaryWriter(str(tmp_path / "theirs")) as w:
        w.add_graph(theirs, torch.tensor(x))
    io = {}
    for sub in ("ours", "theirs"):
        acc = EventAccumulator(str(tmp_path / sub))
        acc.Reload()
        assert acc.RunMetadata("step1").step_stats.dev_stats[0].device == "/device:CPU:0"
        io[sub] = sorted((n.name.split("/")[0], [d.size for d in n.attr["_output_shapes"].list.shape[0].dim])
                         for n in acc.Graph().node if n.op == "IO Node")
    assert io["ours"] == io["theirs"] == [("input", [5, 3]), ("output", [5, 2])]


def test_file_writer_takes_tensorboard_protos(tmp_path):
    # Code written against PyTorch's FileWriter passes protobuf messages: they are serialized as is.
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    with SummaryWriter(str(tmp_path)) as w:
        w.file_writer.add_summary(Summary(value=[Summary.Value(tag="p", simple_value=2.5)]), 3, 10.0)
        w.file_writer.add_event(Event(file_version="x"), step=4, walltime=11.0)
    evs = events(tmp_path)[1:]
    (tag, val), = summary_values(evs[0])
    assert (evs[0][2], tag, f32(val[2][0])) == ([3], "p", 2.5)
    assert (evs[1][2], evs[1][3]) == ([4], [b"x"])
    assert [f64(e[1][0]) for e in evs] == [10.0, 11.0]


def test_event_accumulator_reads_ours(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    with SummaryWriter(str(tmp_path)) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_histogram("w", np.arange(10.0), 0)
        w.add_image("im", np.ones((3, 2, 2)), 0)
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [
        (s, np.float32(1.0 / (s + 1))) for s in range(5)]
    (h,) = acc.Histograms("w")
    assert h.histogram_value.num == 10 and h.histogram_value.sum == 45
    (im,) = acc.Images("im")
    assert (im.width, im.height) == (2, 2)
