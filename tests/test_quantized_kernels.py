"""The int8 kernels' SIMD leaves (csrc/cpu/simd/quantized_*.cpp) under every CPU capability, and the AMX
GEMM (quantized_amx_avx512.cpp, "amx" below) beside the VNNI one ("avx512", with AMX turned off).

The GEMM's int32 sums are checked against numpy in both of fbgemm's arithmetics (saturating int16 pairs,
vpmaddubsw; exact, vpdpbusd) through the test hook _C._quantized_gemm_raw, whatever this CPU's own
choice, on full-range operands where the pairs saturate, on sizes that leave partial register tiles,
partial panels and a K that is not a multiple of 4. The modules (Linear, Conv2d with its im2col paths,
the dynamic Linear) are compared with PyTorch bit for bit under each capability."""
import numpy as np
import pytest
import torch
import torch.ao.nn.quantized as tnnq
import torch.ao.nn.quantized.dynamic as tnnqd

import flambeau
import flambeau.ao.nn.quantized as fnnq
import flambeau.ao.nn.quantized.dynamic as fnnqd
from flambeau import _C
from flambeau._tensor import _wrap
from helpers import with_cpu_capability

CAPS = ["default", "avx2", "avx512", "amx"]


def with_route(cap, fn):
    """fn() under capability `cap`, where "avx512" runs the VNNI GEMM (AMX off) and "amx" the AMX one
    (skipped where this CPU or OS lacks it)."""
    prev = _C.cpu_int8_amx()
    try:
        _C.set_cpu_int8_amx(cap == "amx")
        if cap == "amx" and not _C.cpu_int8_amx():
            pytest.skip("AMX-INT8 not usable here")
        return with_cpu_capability("avx512" if cap == "amx" else cap, fn)
    finally:
        _C.set_cpu_int8_amx(prev)


def on_each_route(caps, fn):
    """[fn() under each route of `caps` this CPU has] (on_each_cpu_capability with the "amx" route)."""
    out = []
    for cap in caps:
        try:
            out.append(with_route(cap, fn))
        except pytest.skip.Exception:
            pass
    if not out:
        pytest.skip(f"none of {caps} supported here")
    return out


def _gemm_reference(a, a_zp, w, w_zp, saturate):
    """sum_k (a - a_zp)(w - w_zp) in int32, the products summed as fbgemm's kernels do."""
    a64, w64 = a.astype(np.int64), w.astype(np.int64)
    K = a.shape[1]
    if saturate:
        prod = a64[:, None, :] * w64[None, :, :]
        if K % 2:
            prod = np.concatenate([prod, np.zeros(prod.shape[:2] + (1,), np.int64)], axis=2)
        pairs = np.clip(prod[:, :, 0::2] + prod[:, :, 1::2], -32768, 32767)
        dots = pairs.sum(axis=2)
    else:
        dots = a64 @ w64.T
    raw = dots - a_zp * (w64.sum(axis=1) - w_zp * K)[None, :] - a64.sum(axis=1)[:, None] * w_zp[None, :]
    return ((raw + 2**31) % 2**32 - 2**31).astype(np.int32)


def _t(arr):
    return flambeau.from_numpy(np.ascontiguousarray(arr))._impl


def _gemm_raw(a, a_zp, w, w_zp, saturate):
    return _wrap(_C._quantized_gemm_raw(_t(a), a_zp, _t(w), _t(w_zp), saturate)).numpy()


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("saturate", [True, False])
def test_gemm_raw_against_numpy(cap, saturate):
    rng = np.random.default_rng(7)
    # M: partial row tiles of 4 and 6 (and of AMX's 32-row blocks); N: partial panels of 8 and 16 and blocks
    # of 64 (AMX: 32); K: tails mod 4 (AMX: K mod 64, copied; K = 64 and 128: tiles read in place).
    shapes = [(1, 1, 1), (3, 5, 3), (7, 17, 6), (13, 70, 37), (6, 64, 64), (25, 129, 130), (4, 16, 0),
              (0, 9, 5), (5, 0, 5), (40, 33, 259), (64, 48, 128), (97, 50, 200), (70, 16, 64)]

    def run():
        for M, N, K in shapes:
            for extreme in (False, True):
                if extreme:  # operands at the ends of their ranges: the int16 pair sums saturate
                    a = rng.choice(np.array([0, 1, 254, 255], np.uint8), (M, K))
                    w = rng.choice(np.array([-128, -127, 126, 127], np.int8), (N, K))
                else:
                    a = rng.integers(0, 256, (M, K), dtype=np.uint8)
                    w = rng.integers(-128, 128, (N, K), dtype=np.int8)
                a_zp = int(rng.integers(0, 256))
                w_zp = rng.integers(-128, 128, N).astype(np.int32)
                got = _gemm_raw(a, a_zp, w, w_zp, saturate)
                want = _gemm_reference(a, a_zp, w, w_zp, saturate)
                assert got.shape == (M, N)
                np.testing.assert_array_equal(got, want, err_msg=f"M={M} N={N} K={K} extreme={extreme}")

    with_route(cap, run)


def _cpuinfo_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


def test_int8_amx_switch():
    """FLAMBEAU_INT8_AMX=0 turns the AMX GEMM off from the start, set_cpu_int8_amx(True) turns it on
    exactly where the CPU has AMX-INT8 (Linux, which grants the permission here), and the module imports
    and runs either way."""
    import os
    import subprocess
    import sys
    code = ("from flambeau import _C; import flambeau as f; a = _C.cpu_int8_amx(); _C.set_cpu_int8_amx(True); "
            "print(a, _C.cpu_int8_amx(), f.ones(2).sum().item())")
    env = dict(os.environ, FLAMBEAU_INT8_AMX="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    has = _cpuinfo_has("amx_int8") and _cpuinfo_has("amx_tile") and _cpuinfo_has("avx512_vnni")
    assert out.stdout.split() == ["False", str(has), "2.0"]
    prev = _C.cpu_int8_amx()
    try:
        _C.set_cpu_int8_amx(False)
        assert _C.cpu_int8_amx() is False
    finally:
        _C.set_cpu_int8_amx(prev)


def test_gemm_raw_saturation_is_visible():
    """The two arithmetics really differ on such operands (else the test above could not tell them apart)."""
    a = np.full((1, 4), 255, np.uint8)
    w = np.full((1, 4), -128, np.int8)
    z = np.zeros(1, np.int32)
    sat = _gemm_raw(a, 0, w, z, True)
    exact = _gemm_raw(a, 0, w, z, False)
    assert sat[0, 0] == -65536 and exact[0, 0] == -130560


def test_gemm_raw_argument_checks():
    a = _t(np.zeros((2, 5), np.uint8))
    with pytest.raises(RuntimeError, match="in_features"):
        _C._quantized_gemm_raw(a, 0, _t(np.zeros((3, 4), np.int8)), _t(np.zeros(3, np.int32)), True)
    with pytest.raises(TypeError, match="int8"):
        _C._quantized_gemm_raw(a, 0, _t(np.zeros((3, 5), np.uint8)), _t(np.zeros(3, np.int32)), True)
    with pytest.raises(RuntimeError, match="shape \\[3\\]"):
        _C._quantized_gemm_raw(a, 0, _t(np.zeros((3, 5), np.int8)), _t(np.zeros(2, np.int32)), True)


def _qpair(x, scale, zp, dtype):
    return (torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, getattr(torch, dtype)),
            flambeau.quantize_per_tensor(flambeau.from_numpy(x), scale, zp, getattr(flambeau, dtype)))


def _qin(rng, shape, scale, zp, hi):
    x = ((rng.integers(0, hi + 1, shape) - zp) * np.float32(scale)).astype(np.float32)
    return _qpair(x, scale, zp, "quint8")


def _qweight(rng, shape):
    w = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    s = rng.uniform(0.002, 0.01, shape[0])
    z = np.zeros(shape[0], dtype=np.int64)
    return (torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(s), torch.from_numpy(z), 0, torch.qint8),
            flambeau.quantize_per_channel(flambeau.from_numpy(w), flambeau.from_numpy(s), flambeau.from_numpy(z), 0,
                                          flambeau.qint8))


def _module_pair(name, args, kw, wt, wf, b, scale, zero_point):
    """PyTorch's and flambeau's quantized module `name` (Linear, Conv2d) with the same weights, bias and
    output quantization."""
    mt, mf = getattr(tnnq, name)(*args, **kw), getattr(fnnq, name)(*args, **kw)
    mt.set_weight_bias(wt, torch.from_numpy(b))
    mf.set_weight_bias(wf, flambeau.from_numpy(b))
    mt.scale = mf.scale = scale
    mt.zero_point = mf.zero_point = zero_point
    return mt, mf


def _same_q(got, want):
    assert got.q_scale() == want.q_scale() and got.q_zero_point() == want.q_zero_point()
    np.testing.assert_array_equal(got.int_repr().numpy(), want.int_repr().numpy())


@pytest.mark.parametrize("cap", CAPS)
def test_linear_on_every_capability(cap):
    rng = np.random.default_rng(11)
    wt, wf = _qweight(rng, (131, 70))
    b = (rng.standard_normal(131) * 0.5).astype(np.float32)
    mt, mf = _module_pair("Linear", (70, 131), {}, wt, wf, b, 0.05, 61)

    def run():
        for M, hi in ((37, 127), (37, 255), (3, 255), (1, 127)):
            xt, xf = _qin(rng, (M, 70), 0.03, 17, hi)
            _same_q(mf(xf), mt(xt))

    with_route(cap, run)


@pytest.mark.parametrize("cap", CAPS)
def test_linear_requantization_beyond_int32(cap):
    """A bias so large that the scaled value leaves int32: fbgemm's vcvtps2dq gives INT32_MIN, so the
    output is the lower bound (0), for either sign, as in PyTorch."""
    rng = np.random.default_rng(12)
    wt, wf = _qweight(rng, (20, 8))
    b = np.array([1e12, -1e12, 3e8, -3e8, 0.0] * 4, np.float32)
    mt, mf = _module_pair("Linear", (8, 20), {}, wt, wf, b, 0.05, 61)

    def run():
        xt, xf = _qin(rng, (5, 8), 0.03, 17, 255)
        _same_q(mf(xf), mt(xt))

    with_route(cap, run)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("cfg", [dict(cin=16, cout=24, k=3, stride=1, padding=1, groups=1, batch=3),
                                 dict(cin=16, cout=24, k=1, stride=1, padding=0, groups=1, batch=1),
                                 dict(cin=12, cout=18, k=3, stride=2, padding=2, groups=3, batch=2),
                                 dict(cin=3, cout=70, k=5, stride=1, padding=0, groups=1, batch=1),
                                 # AMX's implicit im2col: taps of 64 channels (blocks of 64), of 32 with a
                                 # dilation (blocks of kc = 32), two groups of 64, a 1x1 with padding, and
                                 # one image (its rows split between the threads)
                                 dict(cin=64, cout=40, k=3, stride=1, padding=1, groups=1, batch=3),
                                 dict(cin=32, cout=17, k=3, stride=1, padding=2, dilation=2, groups=1, batch=2),
                                 dict(cin=128, cout=34, k=3, stride=1, padding=1, groups=2, batch=1),
                                 dict(cin=64, cout=16, k=1, stride=1, padding=1, groups=1, batch=2),
                                 dict(cin=64, cout=48, k=3, stride=1, padding=0, groups=1, batch=1, hw=(40, 37)),
                                 # W a multiple of 16: the padded image written row by row
                                 dict(cin=64, cout=24, k=3, stride=1, padding=1, groups=1, batch=2, hw=(9, 32))])
def test_conv2d_on_every_capability(cap, cfg):
    rng = np.random.default_rng(13)
    cin, cout, k, g = cfg["cin"], cfg["cout"], cfg["k"], cfg["groups"]
    wt, wf = _qweight(rng, (cout, cin // g, k, k))
    b = (rng.standard_normal(cout) * 0.5).astype(np.float32)
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg.get("dilation", 1), groups=g)
    mt, mf = _module_pair("Conv2d", (cin, cout, k), kw, wt, wf, b, 0.04, 70)

    def run():
        for hi in (127, 255):
            xt, xf = _qin(rng, (cfg["batch"], cin) + cfg.get("hw", (11, 10)), 0.03, 20, hi)
            _same_q(mf(xf), mt(xt))

    with_route(cap, run)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("cfg", [dict(cin=64, k=3, padding=1, dilation=1, batch=2),
                                 dict(cin=32, k=3, padding=0, dilation=2, batch=1),
                                 dict(cin=24, k=3, padding=1, dilation=1, batch=2)])
def test_conv2d_weight_zero_point_on_every_capability(cap, cfg):
    """Per-tensor affine weights with a zero point other than 0: the row sums of the activations (taken
    from the taps' pixel sums by the implicit im2col, from the copied rows otherwise) enter the result."""
    rng = np.random.default_rng(17)
    cin, k = cfg["cin"], cfg["k"]
    w = (rng.standard_normal((20, cin, k, k)) * 0.3).astype(np.float32)
    wt = torch.quantize_per_tensor(torch.from_numpy(w), 0.01, 9, torch.qint8)
    wf = flambeau.quantize_per_tensor(flambeau.from_numpy(w), 0.01, 9, flambeau.qint8)
    b = (rng.standard_normal(20) * 0.5).astype(np.float32)
    kw = dict(padding=cfg["padding"], dilation=cfg["dilation"])
    mt, mf = _module_pair("Conv2d", (cin, 20, k), kw, wt, wf, b, 0.3, 128)

    def run():
        for hi in (127, 255):
            xt, xf = _qin(rng, (cfg["batch"], cin, 13, 35), 0.01, 20, hi)
            got, want = mf(xf), mt(xt)
            assert 5 < want.int_repr().float().std().item()  # outputs spread, not clamped
            _same_q(got, want)

    with_route(cap, run)


def test_dynamic_linear_same_bits_on_every_capability():
    rng = np.random.default_rng(14)
    wt, wf = _qweight(rng, (67, 45))
    b = (rng.standard_normal(67) * 0.5).astype(np.float32)
    mt, mf = tnnqd.Linear(45, 67), fnnqd.Linear(45, 67)
    mt.set_weight_bias(wt, torch.from_numpy(b))
    mf.set_weight_bias(wf, flambeau.from_numpy(b))
    x = (rng.standard_normal((29, 45)) + 0.7).astype(np.float32)
    want = mt(torch.from_numpy(x)).numpy()
    outs = on_each_route(CAPS, lambda: mf(flambeau.from_numpy(x)).numpy())
    for y in outs:
        np.testing.assert_array_equal(y.view(np.int32), outs[0].view(np.int32))
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


def test_module_caches_follow_weight_and_scale_changes():
    """The modules keep their weight's vectors between calls (as PyTorch's packed weights): a new weight
    (set_weight_bias), a new output scale or a new input scale must still give PyTorch's outputs."""
    rng = np.random.default_rng(15)
    mt, mf = tnnq.Linear(21, 13), fnnq.Linear(21, 13)
    dt, df = tnnqd.Linear(21, 13), fnnqd.Linear(21, 13)
    x = rng.standard_normal((6, 21)).astype(np.float32)
    for step in range(3):
        wt, wf = _qweight(rng, (13, 21))
        b = (rng.standard_normal(13) * 0.5).astype(np.float32)
        for t, f in ((mt, mf), (dt, df)):
            t.set_weight_bias(wt, torch.from_numpy(b))
            f.set_weight_bias(wf, flambeau.from_numpy(b))
        mt.scale = mf.scale = 0.05 + 0.02 * step
        mt.zero_point = mf.zero_point = 61
        for in_scale in (0.03, 0.02):
            xt, xf = _qin(rng, (6, 21), in_scale, 17, 255)
            _same_q(mf(xf), mt(xt))
        np.testing.assert_allclose(df(flambeau.from_numpy(x)).numpy(), dt(torch.from_numpy(x)).numpy(),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("through", ["tensor", "data"])
@pytest.mark.parametrize("kind", ["linear", "dynamic", "conv2d"])
def test_packed_weights_follow_in_place_writes(kind, through):
    """The kernels keep each weight tensor's packed form while its storage and its count of writes last: a
    write into the weight must be seen on the next call, as a fresh tensor would be, also a write through
    `w.data` (which leaves w's autograd version alone)."""
    rng = np.random.default_rng(16)
    shape = (24, 40) if kind != "conv2d" else (24, 8, 3, 3)
    w0 = rng.integers(-128, 128, shape).astype(np.int8)
    w1 = rng.integers(-128, 128, shape).astype(np.int8)
    n = shape[0]
    zp, ones = _t(np.zeros(n, np.int32)), _t(np.full(n, 0.01, np.float32))
    bias = _t(rng.standard_normal(n).astype(np.float32))
    if kind == "conv2d":
        x = _t(rng.integers(0, 256, (2, 8, 7, 6)).astype(np.uint8))
        run = lambda w: _C.quantized_conv2d(x, 3, w, zp, bias, ones, ones, 100, [1, 1], [1, 1], [1, 1], 1, False)
    elif kind == "linear":
        x = _t(rng.integers(0, 256, (5, 40)).astype(np.uint8))
        run = lambda w: _C.quantized_linear(x, 3, w, zp, bias, ones, ones, 100, False)
    else:
        x = _t(rng.standard_normal((5, 40)).astype(np.float32))
        run = lambda w: _C.quantized_linear_dynamic(x, 0.02, 120, w, zp, ones, bias, False)
    w = flambeau.from_numpy(w0.copy())
    first = _wrap(run(w._impl)).numpy()
    np.testing.assert_array_equal(_wrap(run(w._impl)).numpy(), first)  # the cached packing
    (w if through == "tensor" else w.data).copy_(flambeau.from_numpy(w1))
    assert w._version == (1 if through == "tensor" else 0)
    again = _wrap(run(w._impl)).numpy()
    fresh = _wrap(run(_t(w1))).numpy()
    assert not np.array_equal(first, fresh)
    np.testing.assert_array_equal(again, fresh)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("storage,qmin,qmax", [("uint8", 0, 255), ("int8", -128, 127)])
def test_quantize_per_tensor_leaves_same_bits_as_the_scalar_loop(storage, qmin, qmax, fused):
    # The 8-bit quantization leaves (quantize8 in quantized_avx2.cpp / quantized_avx512.cpp) against the
    # baseline loop: values on and next to the rounding ties, beyond the clamps, +-inf, NaN (byte 0),
    # -0, and every tail length; fused (fbgemm's float64 product) and PyTorch's float32 x * inv + zp.
    # NaN quantizes to qmax, as in PyTorch.
    rng = np.random.default_rng(5)
    inv = np.float32(1) / np.float32(0.0137)
    k = rng.integers(-400, 400, 3000).astype(np.float32) + np.float32(0.5)
    ties = (k / inv).astype(np.float32)
    x = np.concatenate([(rng.standard_normal(5000) * 4).astype(np.float32), ties, np.nextafter(ties, np.float32(np.inf)),
                        np.nextafter(ties, -np.float32(np.inf)), (rng.standard_normal(500) * 1e6).astype(np.float32),
                        np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1e-45], dtype=np.float32)])
    zp = 7 if storage == "int8" else 120
    for n in list(range(1, 40)) + [len(x)]:
        xs = flambeau.from_numpy(np.ascontiguousarray(x[-n:]))
        outs = on_each_route(CAPS, lambda: _wrap(_C.quantize_per_tensor(
            xs._impl, float(inv), zp, storage, qmin, qmax, fused)).numpy())
        for q in outs[1:]:
            np.testing.assert_array_equal(q, outs[0])
    if fused:  # and PyTorch's values (fbgemm)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # PyTorch splits the fbgemm call per thread; each part has its own scalar tail
        try:
            qt = torch.quantize_per_tensor(torch.from_numpy(x), 0.0137, zp,
                                           torch.quint8 if storage == "uint8" else torch.qint8)
        finally:
            torch.set_num_threads(threads)
        qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), 0.0137, zp,
                                          flambeau.quint8 if storage == "uint8" else flambeau.qint8)
        np.testing.assert_array_equal(qf.int_repr().numpy(), qt.int_repr().numpy())
