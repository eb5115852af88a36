"""Quantized modules and the eager-mode flow against PyTorch (fbgemm/x86 engine): nnq.Linear, Conv2d,
their fused ReLU versions, ReLU6, the dynamic Linear, prepare/convert, prepare_qat/convert, fuse_modules
and quantize_dynamic. The int8 kernels use fbgemm's arithmetic, so with activations in [0, 127] (what
reduce_range qconfigs give) and with full-range ones (where fbgemm's int16 pair sums saturate, which
the kernels reproduce) the quantized outputs agree exactly."""
import warnings

import numpy as np
import pytest
import torch
import torch.ao.nn.quantized as tnnq
import torch.ao.nn.intrinsic.quantized as tnniq
import torch.ao.quantization as tq

import flambeau
import flambeau.ao.nn.quantized as fnnq
import flambeau.ao.nn.intrinsic.quantized as fnniq
import flambeau.ao.quantization as fq

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")

LARGEST_DIFF = {}  # test name -> largest difference in quantized units seen (read by the report)


def _qin(shape, scale, zp, lo=0, hi=127):
    """The same quint8 input in both libraries, integers drawn in [lo, hi]."""
    ints = np.random.randint(lo, hi + 1, shape)
    x = ((ints - zp) * np.float32(scale)).astype(np.float32)
    return (torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, torch.quint8),
            flambeau.quantize_per_tensor(flambeau.from_numpy(x), scale, zp, flambeau.quint8))


def _qweight(shape, per_channel):
    w = (np.random.randn(*shape) * 0.3).astype(np.float32)
    if per_channel:
        s = np.random.uniform(0.002, 0.01, shape[0])
        z = np.zeros(shape[0], dtype=np.int64)
        return (torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(s), torch.from_numpy(z), 0,
                                           torch.qint8),
                flambeau.quantize_per_channel(flambeau.from_numpy(w), flambeau.from_numpy(s), flambeau.from_numpy(z),
                                              0, flambeau.qint8))
    return (torch.quantize_per_tensor(torch.from_numpy(w), 0.004, 0, torch.qint8),
            flambeau.quantize_per_tensor(flambeau.from_numpy(w), 0.004, 0, flambeau.qint8))


def _compare_q(name, got, want, tol=1):
    assert got.dtype is getattr(flambeau, str(want.dtype).split(".")[1])
    assert got.q_scale() == want.q_scale() and got.q_zero_point() == want.q_zero_point()
    g = got.int_repr().numpy().astype(np.int64)
    w = want.int_repr().numpy().astype(np.int64)
    assert g.shape == w.shape
    d = int(np.abs(g - w).max()) if g.size else 0
    LARGEST_DIFF[name] = max(d, LARGEST_DIFF.get(name, 0))
    assert d <= tol, f"{name}: quantized outputs differ by {d} units"
    return d


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_quantized_linear(per_channel, relu, bias):
    wt, wf = _qweight((9, 37), per_channel)
    b = (np.random.randn(9) * 0.5).astype(np.float32) if bias else None
    mt = (tnniq.LinearReLU if relu else tnnq.Linear)(37, 9)
    mf = (fnniq.LinearReLU if relu else fnnq.Linear)(37, 9)
    mt.set_weight_bias(wt, None if b is None else torch.from_numpy(b))
    mf.set_weight_bias(wf, None if b is None else flambeau.from_numpy(b))
    mt.scale, mt.zero_point = 0.05, 61
    mf.scale, mf.zero_point = 0.05, 61
    for shape, hi in [((5, 37), 127), ((2, 3, 37), 127), ((0, 37), 127), ((6, 37), 255)]:
        xt, xf = _qin(shape, 0.03, 17, 0, hi)
        _compare_q("linear", mf(xf), mt(xt), tol=0)
    with pytest.raises(RuntimeError, match="in_features"):
        mf(_qin((2, 36), 0.03, 17)[1])
    with pytest.raises(RuntimeError, match="quint8"):
        mf(flambeau.randn(2, 37))


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("cfg", [dict(stride=1, padding=0, dilation=1, groups=1),
                                 dict(stride=2, padding=1, dilation=1, groups=1),
                                 dict(stride=1, padding=2, dilation=2, groups=2),
                                 dict(stride=(2, 1), padding=(1, 0), dilation=1, groups=4)])
def test_quantized_conv2d(per_channel, relu, cfg):
    cin, cout = 4, 8
    wt, wf = _qweight((cout, cin // cfg["groups"], 3, 3), per_channel)
    b = (np.random.randn(cout) * 0.5).astype(np.float32)
    mt = (tnniq.ConvReLU2d if relu else tnnq.Conv2d)(cin, cout, 3, **cfg)
    mf = (fnniq.ConvReLU2d if relu else fnnq.Conv2d)(cin, cout, 3, **cfg)
    mt.set_weight_bias(wt, torch.from_numpy(b))
    mf.set_weight_bias(wf, flambeau.from_numpy(b))
    mt.scale, mt.zero_point = 0.04, 70
    mf.scale, mf.zero_point = 0.04, 70
    for hi in (127, 255):
        xt, xf = _qin((2, cin, 9, 8), 0.03, 20, 0, hi)
        _compare_q("conv2d", mf(xf), mt(xt), tol=0)
    with pytest.raises(RuntimeError, match="channels"):
        mf(_qin((2, cin + 1, 9, 8), 0.03, 20)[1])


def test_quantized_relu6_and_quantize_dequantize_modules():
    xt, xf = _qin((4, 50), 0.05, 10, 0, 255)
    _compare_q("relu6", fnnq.ReLU6()(xf), tnnq.ReLU6()(xt), tol=0)
    qt, qf = tnnq.Quantize(0.02, 3, torch.quint8), fnnq.Quantize(0.02, 3, flambeau.quint8)
    x = np.random.randn(3, 5).astype(np.float32)
    _compare_q("quantize", qf(flambeau.from_numpy(x)), qt(torch.from_numpy(x)), tol=0)
    np.testing.assert_array_equal(fnnq.DeQuantize()(qf(flambeau.from_numpy(x))).numpy(),
                                  tnnq.DeQuantize()(qt(torch.from_numpy(x))).numpy())


@pytest.mark.parametrize("per_channel", [False, True])
def test_dynamic_linear(per_channel):
    import torch.ao.nn.quantized.dynamic as tnnqd
    import flambeau.ao.nn.quantized.dynamic as fnnqd
    wt, wf = _qweight((7, 33), per_channel)
    b = (np.random.randn(7) * 0.5).astype(np.float32)
    mt, mf = tnnqd.Linear(33, 7), fnnqd.Linear(33, 7)
    mt.set_weight_bias(wt, torch.from_numpy(b))
    mf.set_weight_bias(wf, flambeau.from_numpy(b))
    for shape, shift in [((6, 33), 0.0), ((2, 4, 33), 1.5), ((3, 33), -4.0)]:
        x = (np.random.randn(*shape) + shift).astype(np.float32)
        yt, yf = mt(torch.from_numpy(x)), mf(flambeau.from_numpy(x))
        np.testing.assert_allclose(yf.numpy(), yt.numpy(), rtol=1e-6, atol=1e-6)


def _model(lib, conv=True):
    nn, q = lib.nn, lib.ao.quantization

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = q.QuantStub()
            self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4 * 4 * 4, 10)
            self.relu2 = nn.ReLU()
            self.fc2 = nn.Linear(10, 3)
            self.dequant = q.DeQuantStub()

        def forward(self, x):
            x = self.relu(self.bn(self.conv(self.quant(x))))
            x = self.relu2(self.fc(x.flatten(1)))
            return self.dequant(self.fc2(x))
    return Net()


def _pair_models():
    mt, mf = _model(torch), _model(flambeau)
    mf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in mt.state_dict().items()})
    return mt, mf


def test_post_training_static_flow():
    mt, mf = _pair_models()
    for m, lib, q in ((mt, torch, tq), (mf, flambeau, fq)):
        m.eval()
        q.fuse_modules(m, [["conv", "bn", "relu"], ["fc", "relu2"]], inplace=True)
        m.qconfig = q.default_qconfig
        q.prepare(m, inplace=True)
    x = np.random.randn(16, 2, 8, 8).astype(np.float32)
    mt(torch.from_numpy(x))
    mf(flambeau.from_numpy(x))
    ct, cf = tq.convert(mt), fq.convert(mf)
    assert type(cf.conv).__name__ == type(ct.conv).__name__ == "ConvReLU2d"
    import re
    no_scale = re.compile(r"scale=[0-9.e-]+")  # (compared below: the float conv's last bits may move it by an ulp)
    assert no_scale.sub("", str(cf.fc).replace("flambeau.", "torch.")) == no_scale.sub("", str(ct.fc))
    for name in ("conv", "fc", "fc2"):
        assert abs(getattr(cf, name).scale - getattr(ct, name).scale) <= 1e-6 * getattr(ct, name).scale
        assert getattr(cf, name).zero_point == getattr(ct, name).zero_point
    xe = np.random.randn(5, 2, 8, 8).astype(np.float32)
    yt, yf = ct(torch.from_numpy(xe)), cf(flambeau.from_numpy(xe))
    # one unit of the last quantized layer's scale (float conv rounding may move an observed range by an ulp)
    np.testing.assert_allclose(yf.numpy(), yt.numpy(), atol=1.01 * ct.fc2.scale, rtol=0)
    assert not hasattr(cf.fc, "activation_post_process") and not hasattr(cf, "qconfig")


def test_qat_flow():
    mt, mf = _pair_models()
    opt_t = torch.optim.SGD(mt.parameters(), lr=0.05)
    opt_f = flambeau.optim.SGD(mf.parameters(), lr=0.05)
    for m, q in ((mt, tq), (mf, fq)):
        m.eval()
        q.fuse_modules(m, [["conv", "bn", "relu"], ["fc", "relu2"]], inplace=True)
        m.train()
        m.qconfig = q.get_default_qat_qconfig("x86")
        q.prepare_qat(m, inplace=True)
    assert type(mf.fc).__name__ == type(mt.fc).__name__ == "LinearReLU"
    assert type(mf.fc).__module__.startswith("flambeau.ao.nn.intrinsic.qat")
    for step in range(3):
        x = np.random.randn(8, 2, 8, 8).astype(np.float32)
        y = np.random.randint(0, 3, 8)
        lt = torch.nn.functional.cross_entropy(mt(torch.from_numpy(x)), torch.from_numpy(y))
        lf = flambeau.nn.functional.cross_entropy(mf(flambeau.from_numpy(x)), flambeau.from_numpy(y))
        opt_t.zero_grad()
        opt_f.zero_grad()
        lt.backward()
        lf.backward()
        opt_t.step()
        opt_f.step()
        assert abs(lt.item() - lf.item()) < 1e-4
    mt.eval()
    mf.eval()
    ct, cf = tq.convert(mt), fq.convert(mf)
    xe = np.random.randn(4, 2, 8, 8).astype(np.float32)
    np.testing.assert_allclose(cf(flambeau.from_numpy(xe)).numpy(), ct(torch.from_numpy(xe)).numpy(),
                               atol=1.01 * ct.fc2.scale, rtol=0)


def test_quantize_dynamic_flow():
    lt = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    lf = flambeau.nn.Sequential(flambeau.nn.Linear(20, 16), flambeau.nn.ReLU(), flambeau.nn.Linear(16, 4))
    lf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in lt.state_dict().items()})
    qt = tq.quantize_dynamic(lt, {torch.nn.Linear}, dtype=torch.qint8)
    qf = fq.quantize_dynamic(lf, {flambeau.nn.Linear}, dtype=flambeau.qint8)
    assert type(qf[0]).__name__ == "Linear" and qf[0]._get_name() == qt[0]._get_name()
    x = np.random.randn(7, 20).astype(np.float32)
    np.testing.assert_allclose(qf(flambeau.from_numpy(x)).numpy(), qt(torch.from_numpy(x)).numpy(), rtol=1e-5,
                               atol=1e-5)
    assert isinstance(lf[0], flambeau.nn.Linear)  # not in place
    with pytest.raises(NotImplementedError, match="float16"):
        fq.quantize_dynamic(lf, {flambeau.nn.Linear}, dtype=flambeau.float16)
    with pytest.raises(NotImplementedError, match="LSTM"):
        fq.quantize_dynamic(lf, {flambeau.nn.LSTM})


def test_fuse_modules_and_errors():
    mt, mf = _pair_models()
    with pytest.raises(AssertionError, match="eval"):
        fq.fuse_modules(mf, [["conv", "bn", "relu"]])
    mt.eval()
    mf.eval()
    ft = tq.fuse_modules(mt, [["conv", "bn", "relu"]])
    ff = fq.fuse_modules(mf, [["conv", "bn", "relu"]])
    assert isinstance(ff.bn, flambeau.nn.Identity) and isinstance(mf.bn, flambeau.nn.BatchNorm2d)
    x = np.random.randn(3, 2, 8, 8).astype(np.float32)
    np.testing.assert_allclose(ff(flambeau.from_numpy(x)).detach().numpy(), ft(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    mf.train()
    with pytest.raises(NotImplementedError, match="ConvBnReLU2d"):
        fq.fuse_modules_qat(mf, [["conv", "bn", "relu"]])
    with pytest.raises(NotImplementedError, match="Cannot fuse"):
        fq.fuse_modules(mf.eval(), [["fc", "fc2"]])


def test_int8_kernel_argument_checks():
    """The C++ entry points check shapes and dtypes before reading memory (flambeau._C.quantized_*)."""
    from flambeau import _C
    x = flambeau.zeros(3, 5, dtype=flambeau.uint8)
    w = flambeau.zeros(4, 5, dtype=flambeau.int8)
    zp = flambeau.zeros(4, dtype=flambeau.int32)
    v = flambeau.ones(4)
    y = _C.quantized_linear(x._impl, 0, w._impl, zp._impl, None, v._impl, v._impl, 0, False)
    assert tuple(y.shape) == (3, 4)
    with pytest.raises(RuntimeError, match=r"in_features differ"):
        _C.quantized_linear(flambeau.zeros(3, 6, dtype=flambeau.uint8)._impl, 0, w._impl, zp._impl, None, v._impl,
                            v._impl, 0, False)
    with pytest.raises(TypeError, match="uint8"):
        _C.quantized_linear(x.float()._impl, 0, w._impl, zp._impl, None, v._impl, v._impl, 0, False)
    with pytest.raises(RuntimeError, match=r"should have shape \[4\]"):
        _C.quantized_linear(x._impl, 0, w._impl, zp[:3]._impl, None, v._impl, v._impl, 0, False)
    with pytest.raises(RuntimeError, match="zero point 300"):
        _C.quantized_linear(x._impl, 300, w._impl, zp._impl, None, v._impl, v._impl, 0, False)
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        _C.quantized_conv2d(flambeau.zeros(1, 5, 2, 2, dtype=flambeau.uint8)._impl, 0,
                            flambeau.zeros(4, 5, 3, 3, dtype=flambeau.int8)._impl, zp._impl, None, v._impl, v._impl,
                            0, [1, 1], [0, 0], [1, 1], 1, False)
    with pytest.raises(TypeError, match="float32"):
        _C.quantized_linear_dynamic(x._impl, 0.1, 0, w._impl, zp._impl, v._impl, None, False)
