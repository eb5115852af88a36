"""Fake quantization and observers (flambeau/_fake_quantize.py, flambeau.ao.quantization) against
PyTorch: outputs, straight-through gradients, min/max statistics and qparams compared bit for bit."""
import warnings

import numpy as np
import pytest
import torch
import torch.ao.quantization as tq

import flambeau
import flambeau.ao.quantization as fq

warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")


def _same(got, want, what):
    g = got.detach().numpy() if hasattr(got, "detach") else np.asarray(got)
    w = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    assert g.shape == w.shape and g.dtype == w.dtype, f"{what}: {g.shape} {g.dtype} != {w.shape} {w.dtype}"
    np.testing.assert_array_equal(g, w, err_msg=what)


def _ties(x, scale):
    """Replace half of x by values whose x / scale is (next to) a half, where rounding rules differ."""
    inv = np.float32(1) / np.float32(scale)
    k = np.random.randint(-300, 300, x.size // 2).astype(np.float32) + np.float32(0.5)
    x = x.copy()
    x.reshape(-1)[: x.size // 2] = (k / inv).astype(np.float32)
    return x


@pytest.mark.parametrize("scale,zp,qmin,qmax", [(0.0137, 7, 0, 255), (0.1, 0, -128, 127), (0.05, 3, 0, 15),
                                                (0.02, 100, 0, 127)])
@pytest.mark.parametrize("tensor_qparams", [False, True])
def test_fake_quantize_per_tensor_affine(scale, zp, qmin, qmax, tensor_qparams):
    x = _ties((np.random.randn(4001) * 3).astype(np.float32), scale)
    g = np.random.randn(4001).astype(np.float32)
    xt, xf = torch.from_numpy(x).requires_grad_(), flambeau.from_numpy(x.copy()).requires_grad_()
    if tensor_qparams:
        yt = torch.fake_quantize_per_tensor_affine(xt, torch.tensor([scale]), torch.tensor([zp], dtype=torch.int32),
                                                   qmin, qmax)
        yf = flambeau.fake_quantize_per_tensor_affine(xf, flambeau.tensor([scale]),
                                                      flambeau.tensor([zp], dtype=flambeau.int32), qmin, qmax)
    else:
        yt = torch.fake_quantize_per_tensor_affine(xt, scale, zp, qmin, qmax)
        yf = flambeau.fake_quantize_per_tensor_affine(xf, scale, zp, qmin, qmax)
    yt.backward(torch.from_numpy(g))
    yf.backward(flambeau.from_numpy(g))
    _same(yf, yt, "output")
    _same(xf.grad, xt.grad, "straight-through gradient")


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_fake_quantize_per_channel_affine(axis):
    x = (np.random.randn(3, 4, 50) * 2).astype(np.float32)
    n = x.shape[axis]
    s = np.random.uniform(0.01, 0.05, n).astype(np.float32)
    z = np.random.randint(-5, 5, n).astype(np.int32)
    g = np.random.randn(*x.shape).astype(np.float32)
    xt, xf = torch.from_numpy(x).requires_grad_(), flambeau.from_numpy(x.copy()).requires_grad_()
    yt = torch.fake_quantize_per_channel_affine(xt, torch.from_numpy(s), torch.from_numpy(z), axis, -128, 127)
    yf = flambeau.fake_quantize_per_channel_affine(xf, flambeau.from_numpy(s), flambeau.from_numpy(z), axis, -128, 127)
    yt.backward(torch.from_numpy(g))
    yf.backward(flambeau.from_numpy(g))
    _same(yf, yt, "output")
    _same(xf.grad, xt.grad, "straight-through gradient")


def test_fake_quantize_errors():
    x = flambeau.randn(5)
    with pytest.raises(RuntimeError, match="quant_min"):
        flambeau.fake_quantize_per_tensor_affine(x, 0.1, 0, 10, 5)
    with pytest.raises(RuntimeError, match="zero_point"):
        flambeau.fake_quantize_per_tensor_affine(x, 0.1, 300, 0, 255)
    with pytest.raises(RuntimeError, match="must match"):
        flambeau.fake_quantize_per_channel_affine(flambeau.randn(2, 3), flambeau.tensor([0.1]),
                                                  flambeau.tensor([0], dtype=flambeau.int32), 0, -128, 127)


def _lib_kwargs(lib, kw):
    return {k: (getattr(lib, v) if isinstance(v, str) else v) for k, v in kw.items()}


@pytest.mark.parametrize("name,kw", [
    ("MinMaxObserver", {}),
    ("MinMaxObserver", dict(dtype="qint8", qscheme="per_tensor_symmetric")),
    ("MinMaxObserver", dict(quant_min=0, quant_max=127)),
    ("MovingAverageMinMaxObserver", dict(averaging_constant=0.1)),
    ("MovingAverageMinMaxObserver", dict(reduce_range=True)),
    ("PerChannelMinMaxObserver", dict(ch_axis=1, dtype="qint8", qscheme="per_channel_symmetric")),
    ("PerChannelMinMaxObserver", {}),
    ("MovingAveragePerChannelMinMaxObserver", dict(dtype="qint8", qscheme="per_channel_symmetric")),
])
def test_observers(name, kw):
    ot = getattr(tq, name)(**_lib_kwargs(torch, kw))
    of = getattr(fq, name)(**_lib_kwargs(flambeau, kw))
    for step in range(3):
        x = (np.random.randn(4, 5, 3) * (step + 1) + step).astype(np.float32)
        ot(torch.from_numpy(x))
        of(flambeau.from_numpy(x))
        _same(of.min_val, ot.min_val, "min_val")
        _same(of.max_val, ot.max_val, "max_val")
        st, sf = ot.calculate_qparams(), of.calculate_qparams()
        _same(sf[0], st[0], "scale")
        _same(sf[1], st[1], "zero_point")
    assert of.quant_min == ot.quant_min and of.quant_max == ot.quant_max


@pytest.mark.parametrize("name", ["default_fake_quant", "default_weight_fake_quant",
                                  "default_per_channel_weight_fake_quant", "default_fused_act_fake_quant",
                                  "default_fused_wt_fake_quant", "default_fused_per_channel_wt_fake_quant"])
def test_fake_quantize_modules(name):
    mt, mf = getattr(tq, name)(), getattr(fq, name)()
    for step in range(4):
        if step == 3:  # frozen qparams: observer off
            mt.disable_observer()
            mf.disable_observer()
        x = (np.random.randn(6, 7) * (step + 1) + 0.3 * step).astype(np.float32)
        g = np.random.randn(6, 7).astype(np.float32)
        xt, xf = torch.from_numpy(x).requires_grad_(), flambeau.from_numpy(x.copy()).requires_grad_()
        yt, yf = mt(xt), mf(xf)
        yt.backward(torch.from_numpy(g))
        yf.backward(flambeau.from_numpy(g))
        _same(yf, yt, f"step {step} output")
        _same(xf.grad, xt.grad, f"step {step} gradient")
        _same(mf.scale, mt.scale, f"step {step} scale")
        _same(mf.zero_point, mt.zero_point, f"step {step} zero_point")
        st, sf = mt.calculate_qparams(), mf.calculate_qparams()
        _same(sf[0], st[0], "calculate_qparams scale")
    assert set(mf.state_dict()) == set(mt.state_dict())
    mt.disable_fake_quant()
    mf.disable_fake_quant()
    x = np.random.randn(6, 7).astype(np.float32)
    _same(mf(flambeau.from_numpy(x)), mt(torch.from_numpy(x)), "fake quant off")


def test_qconfigs_and_unsupported():
    assert fq.default_qconfig.activation().quant_max == tq.default_qconfig.activation().quant_max
    qc = fq.get_default_qat_qconfig("x86")
    assert type(qc.activation()).__name__ == "FusedMovingAvgObsFakeQuantize"
    assert qc.weight().qscheme is flambeau.per_channel_symmetric
    with pytest.raises(AssertionError, match="not supported"):
        fq.get_default_qat_qconfig("arm")
    with pytest.raises(NotImplementedError, match="FX graph mode"):
        fq.prepare_fx(None, None, None)
    with pytest.raises(ValueError, match="observer instance"):
        fq.QConfig(activation=fq.MinMaxObserver(), weight=fq.default_weight_observer)
    import importlib
    assert importlib.import_module("flambeau.quantization").MinMaxObserver is fq.MinMaxObserver


@pytest.mark.parametrize("kw", [{}, dict(reduce_range=True), dict(dtype="qint8", qscheme="per_tensor_symmetric")])
def test_histogram_observer(kw):
    ot = tq.HistogramObserver(**_lib_kwargs(torch, kw))
    of = fq.HistogramObserver(**_lib_kwargs(flambeau, kw))
    x = (np.random.randn(64, 50) * 2 + 0.5).astype(np.float32)
    for _ in range(2):  # one range: the histograms add up exactly
        ot(torch.from_numpy(x))
        of(flambeau.from_numpy(x))
    _same(of.histogram, ot.histogram, "histogram")
    st, sf = ot.calculate_qparams(), of.calculate_qparams()
    _same(sf[0], st[0], "scale")
    _same(sf[1], st[1], "zero_point")
    for step in range(3):  # growing ranges re-bin the histogram through linspace, whose last bits can differ
        x = (np.random.randn(64, 50) * (2 + step) - step).astype(np.float32)
        ot(torch.from_numpy(x))
        of(flambeau.from_numpy(x))
    st, sf = ot.calculate_qparams(), of.calculate_qparams()
    np.testing.assert_allclose(sf[0].numpy(), st[0].numpy(), rtol=2e-3)
    assert abs(int(sf[1]) - int(st[1])) <= 1
    assert type(fq.get_default_qconfig("x86").activation()).__name__ == "HistogramObserver"
