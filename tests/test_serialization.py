"""flambeau.save/load round trips, the reader of flambeau's previous file format (code-free, with a
checksum), and the safetensors reader/writer. PyTorch's format both ways: test_serialization_torch.py."""
import collections
import hashlib
import io
import json
import math
import struct

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn, optim
from flambeau.serialization import (SerializationError, _save_flambeau_v1, load_safetensors,
                                    save_safetensors)


def np_of(t):
    return t.detach().cpu().numpy()


def roundtrip(obj, **load_kw):
    buf = io.BytesIO()
    flambeau.save(obj, buf)
    buf.seek(0)
    return flambeau.load(buf, **load_kw)


def test_plain_values_and_containers_round_trip():
    obj = {"int": 3, "big": 2 ** 70, "float": 1.5, "nan": float("nan"), "inf": -math.inf,
           "bool": True, "none": None, "str": "héllo", "bytes": b"\x00\xff",
           "list": [1, [2, (3, 4)]], "tuple": (1, "a", None), 7: "int key", (1, 2): "tuple key",
           "counter": collections.Counter([3, 3, 5]), "set": {1, 2}, "dtype": flambeau.float64,
           "device": flambeau.device("cpu"), "od": collections.OrderedDict([("b", 1), ("a", 2)])}
    out = roundtrip(obj)
    assert set(out) == set(obj)
    for k, v in obj.items():
        if k == "nan":
            assert math.isnan(out[k])
        else:
            assert out[k] == v and type(out[k]) is type(v), k
    assert list(out["od"]) == ["b", "a"] and isinstance(out["tuple"], tuple)


def test_tensors_of_every_dtype_round_trip(tmp_path):
    ts = {"f32": flambeau.randn(3, 4), "f64": flambeau.randn(2, dtype=flambeau.float64),
          "i64": flambeau.tensor([-(2 ** 62), 0, 5]), "bool": flambeau.tensor([True, False]),
          "scalar": flambeau.tensor(2.5), "empty": flambeau.zeros(0, 3),
          "view": flambeau.arange(12, dtype=flambeau.float32).reshape(3, 4).t()[1:]}
    path = tmp_path / "t.flb"
    flambeau.save(ts, str(path))
    out = flambeau.load(path)
    for k, t in ts.items():
        assert out[k].dtype == t.dtype and tuple(out[k].shape) == tuple(t.shape), k
        assert np.array_equal(np_of(out[k]), np_of(t)), k


def test_identity_requires_grad_and_parameters_are_kept():
    t = flambeau.randn(3)
    p = nn.Parameter(flambeau.randn(2))
    g = flambeau.randn(2).requires_grad_()
    out = roundtrip({"a": t, "b": t, "p": p, "g": g, "list": [t]})
    assert out["a"] is out["b"] is out["list"][0]  # saved once, loaded once
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad
    assert out["g"].requires_grad and not out["a"].requires_grad
    assert out["a"].data_ptr() != t.data_ptr()  # loaded data owns its memory


def test_model_and_optimizer_checkpoint(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    opt = optim.AdamW(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.MultiStepLR(opt, [2, 4])
    x = flambeau.randn(4, 1, 4, 4)
    for _ in range(3):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    path = tmp_path / "ckpt.pt"
    flambeau.save({"model": model.state_dict(), "opt": opt.state_dict(),
                   "sched": sched.state_dict(), "epoch": 3}, path)
    ck = flambeau.load(path, map_location="cpu")
    assert isinstance(ck["model"], collections.OrderedDict)
    assert ck["model"]._metadata["1"] == {"version": 2}
    m2 = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    m2.load_state_dict(ck["model"])
    model.eval(), m2.eval()
    assert np.array_equal(np_of(model(x)), np_of(m2(x)))
    o2 = optim.AdamW(m2.parameters(), lr=0.5)
    o2.load_state_dict(ck["opt"])
    assert o2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    assert ck["sched"]["milestones"] == collections.Counter([2, 4]) and ck["epoch"] == 3


def test_save_refuses_arbitrary_objects():
    class Thing:
        pass
    with pytest.raises(TypeError, match="cannot save obj\\['x'\\] of type"):
        flambeau.save({"x": Thing()}, io.BytesIO())
    with pytest.raises(TypeError, match="state_dict"):
        flambeau.save(nn.Linear(1, 1), io.BytesIO())


def test_top_level_names():
    from flambeau import serialization
    assert flambeau.save is serialization.save and flambeau.load is serialization.load
    # the issue asks for flambeau.save_safetensors / flambeau.load_safetensors
    assert flambeau.save_safetensors is serialization.save_safetensors
    assert flambeau.load_safetensors is serialization.load_safetensors


def saved_bytes():
    """A file in flambeau's previous format (flambeau.save wrote it before it wrote PyTorch's)."""
    buf = io.BytesIO()
    _save_flambeau_v1({"w": flambeau.randn(64), "meta": {"step": 3}}, buf)
    return buf.getvalue()


def test_previous_format_still_loads():
    t = flambeau.randn(3, 4)
    obj = {"t": t, "same": t, "p": nn.Parameter(flambeau.randn(2)), "c": collections.Counter("aab"),
           "od": collections.OrderedDict(a=1), 3: (b"x", {1.5}, math.inf)}
    buf = io.BytesIO()
    _save_flambeau_v1(obj, buf)
    out = flambeau.load(io.BytesIO(buf.getvalue()))
    assert np.array_equal(np_of(out["t"]), np_of(t)) and out["same"] is out["t"]
    assert isinstance(out["p"], nn.Parameter) and out["c"] == obj["c"] and out[3] == obj[3]


def test_truncated_files_fail_clearly():
    raw = saved_bytes()
    for cut in [0, 5, 19, 21, 60, len(raw) // 2, len(raw) - 33, len(raw) - 1]:
        with pytest.raises(SerializationError, match="truncated|not a flambeau or PyTorch checkpoint"):
            flambeau.load(io.BytesIO(raw[:cut]))


def test_every_altered_byte_is_detected():
    raw = bytearray(saved_bytes())
    rng = np.random.default_rng(0)
    positions = sorted(set(rng.integers(0, len(raw), 60).tolist()) | {0, 8, 12, 20, len(raw) - 1})
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        with pytest.raises(SerializationError):
            flambeau.load(io.BytesIO(bytes(bad)))
    with pytest.raises(SerializationError, match="trailing"):
        flambeau.load(io.BytesIO(bytes(raw) + b"x"))


def _rewrite(raw, edit_header):
    """Re-encode a flambeau file with an edited header and a valid checksum (to test the parser
    behind the checksum)."""
    hlen = struct.unpack_from("<Q", raw, 12)[0]
    header = json.loads(raw[20:20 + hlen])
    data = raw[20 + hlen:-32]
    edit_header(header)
    hb = json.dumps(header).encode()
    body = raw[:8] + struct.pack("<IQ", 1, len(hb)) + hb + data
    return body + hashlib.sha256(body).digest()


def test_malformed_headers_are_rejected_even_with_valid_checksum():
    raw = saved_bytes()

    def bad_offset(h):
        h["tensors"][0]["offset"] = 10 ** 9

    def bad_tag(h):
        h["object"] = {"$pickle": "cos\nsystem\n"}

    def bad_index(h):
        h["object"]["$dict"][0][1] = {"$tensor": 99}

    for edit in (bad_offset, bad_tag, bad_index):
        with pytest.raises(SerializationError, match="corrupted header"):
            flambeau.load(io.BytesIO(_rewrite(raw, edit)))

    def cuda(h):
        h["tensors"][0]["device"] = "cuda:0"
    moved = _rewrite(raw, cuda)
    if not flambeau.cuda.is_available():
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            flambeau.load(io.BytesIO(moved))
    out = flambeau.load(io.BytesIO(moved), map_location={"cuda:0": "cpu"})
    assert str(out["w"].device) == "cpu"


def test_other_formats_get_a_helpful_message(tmp_path):
    import pickle
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    with pytest.raises(SerializationError, match="never unpickles"):
        flambeau.load(p)
    st = tmp_path / "w.safetensors"
    save_safetensors({"w": flambeau.ones(2)}, st)
    with pytest.raises(SerializationError, match="load_safetensors"):
        flambeau.load(st)
    newer = bytearray(saved_bytes())
    newer[8] = 9
    with pytest.raises(SerializationError, match="newer"):
        flambeau.load(io.BytesIO(bytes(newer)))


def test_map_location_device(device):
    out = roundtrip({"w": flambeau.ones(3)}, map_location=device)
    assert str(out["w"].device).startswith(device)
    seen = []
    out = roundtrip({"w": flambeau.ones(3)}, map_location=lambda t, loc: seen.append(loc) or t)
    assert seen == ["cpu"]


# ---------------------------------------------------------------------------------- safetensors
def parse_safetensors(path):
    """A reader written from the format description, to check the writer independently."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "BOOL": "?"}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return header, out


def test_save_safetensors_follows_the_format(tmp_path):
    ts = {"a.weight": flambeau.randn(3, 4), "b": flambeau.tensor([1, 2, 3]),
          "mask": flambeau.tensor([True, False]), "d": flambeau.randn(2, dtype=flambeau.float64),
          "scalar": flambeau.tensor(1.5)}
    path = tmp_path / "m.safetensors"
    save_safetensors(ts, path, metadata={"format": "pt"})
    header, arrays = parse_safetensors(path)
    assert header["__metadata__"] == {"format": "pt"}
    assert header["a.weight"]["dtype"] == "F32" and header["b"]["dtype"] == "I64"
    for k, t in ts.items():
        assert np.array_equal(arrays[k], np_of(t)), k
    back = load_safetensors(path)
    for k, t in ts.items():
        assert back[k].dtype == t.dtype and np.array_equal(np_of(back[k]), np_of(t)), k
    with pytest.raises(TypeError):
        save_safetensors({"x": 3}, path)
    with pytest.raises(TypeError):
        save_safetensors({"x": flambeau.ones(1)}, path, metadata={"a": 1})


def write_safetensors_by_hand(path, entries):
    """entries: list of (name, code, numpy array of the stored bytes)."""
    header, blobs, off = {}, [], 0
    for name, code, arr in entries:
        b = arr.tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


def test_load_safetensors_converts_other_dtypes(tmp_path):
    f32 = np.array([1.5, -2.25, 3.0], np.float32)
    bf16 = (f32.view(np.uint32) >> 16).astype("<u2")
    path = tmp_path / "mixed.safetensors"
    write_safetensors_by_hand(path, [
        ("half", "F16", f32.astype("<f2")), ("bf", "BF16", bf16),
        ("i32", "I32", np.array([[1, -2]], "<i4")), ("u8", "U8", np.array([255, 0], np.uint8)),
        ("i8", "I8", np.array([-3], np.int8)), ("f64", "F64", np.array([0.1], "<f8")),
    ])
    out = load_safetensors(path)
    assert list(out) == ["half", "bf", "i32", "u8", "i8", "f64"]
    # F16/BF16 load as float16/bfloat16 (natively, as safetensors' torch loader does)
    assert out["half"].dtype == flambeau.float16 and out["bf"].dtype == flambeau.bfloat16
    for k in ("half", "bf"):
        np.testing.assert_array_equal(np_of(out[k].float()), f32)
    assert np_of(out["i32"]).tolist() == [[1, -2]] and np_of(out["u8"]).tolist() == [255, 0]
    assert np_of(out["i8"]).tolist() == [-3] and out["f64"].dtype == flambeau.float64


def test_corrupt_safetensors_are_rejected(tmp_path):
    good = tmp_path / "g.safetensors"
    save_safetensors({"a": flambeau.ones(4), "b": flambeau.zeros(2)}, good)
    raw = good.read_bytes()
    cases = {"truncated": raw[:-3], "short": raw[:5], "extra": raw + b"\0" * 8,
             "huge_header": struct.pack("<Q", 10 ** 12) + raw[8:],
             "bad_json": raw[:8] + b"[" + raw[9:]}
    for name, data in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(data)
        with pytest.raises(SerializationError):
            load_safetensors(p)
    p = tmp_path / "overlap.safetensors"
    write_safetensors_by_hand(p, [("a", "F32", np.ones(2, np.float32))])
    raw = p.read_bytes()
    p.write_bytes(raw.replace(b"[0, 8]", b"[0, 4]"))
    with pytest.raises(SerializationError):
        load_safetensors(p)


def test_pytorch_weights_through_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    tm = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                             torch.nn.Linear(12, 4))
    path = tmp_path / "torch_model.safetensors"
    st.save_file(tm.state_dict(), str(path))
    fm = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4))
    fm.load_state_dict(load_safetensors(path))
    x = np.random.randn(2, 2, 4, 4).astype(np.float32)
    tm.eval(), fm.eval()
    np.testing.assert_allclose(np_of(fm(flambeau.from_numpy(x))),
                               tm(torch.from_numpy(x)).detach().numpy(), atol=1e-5, rtol=1e-4)
    # and the other way: flambeau's file read by the safetensors library
    out = tmp_path / "flambeau_model.safetensors"
    save_safetensors(fm.state_dict(), out)
    loaded = st.load_file(str(out))
    for k, v in fm.state_dict().items():
        assert np.array_equal(loaded[k].numpy(), np_of(v)), k
