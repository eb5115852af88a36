"""Quantized tensors (flambeau/_quantized.py) against PyTorch: quantize_per_tensor / per_channel bit for
bit (ties included: fbgemm's fused multiply-add body, its scalar tail, qint32's zero point before
rounding), dequantize, the accessors, printing, and the errors for ops quantized tensors do not support."""
import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

import flambeau

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

QDTYPES = [("quint8", 0, 255), ("qint8", -128, 127), ("qint32", -2 ** 31, 2 ** 31 - 1)]


def _ties(n, scale, rng):
    """Inputs whose x * (1/scale) sits on or next to a half: where the rounding rules differ."""
    inv = np.float32(1) / np.float32(scale)
    k = rng.integers(-300, 300, n).astype(np.float32) + np.float32(0.5)
    x = (k / inv).astype(np.float32)
    return np.nextafter(x, rng.choice([-np.inf, np.inf], n).astype(np.float32)) if rng.random() < 0.5 else x


@pytest.fixture
def one_torch_thread():
    """PyTorch splits the fbgemm call per thread, each part with its own scalar tail: one thread, restored after
    (it was left at 1 for every later test, which changed PyTorch's bfloat16 LayerNorm gradients in
    test_half_dtypes when that ran after this file)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("qdtype,qmin,qmax", QDTYPES)
@pytest.mark.parametrize("n", [1, 7, 8, 13, 1003, 40000])
def test_quantize_per_tensor_bit_exact(qdtype, qmin, qmax, n):
    rng = np.random.default_rng(np.random.randint(1 << 30))
    for scale in (0.0137, 0.013, 0.1, 1 / 3, 0.00214854861):
        x = np.concatenate([(rng.standard_normal(n) * 3).astype(np.float32), _ties(n, scale, rng)])
        zp = int(rng.integers(max(qmin, -50), min(qmax, 200)))
        qt = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, getattr(torch, qdtype))
        qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), scale, zp, getattr(flambeau, qdtype))
        np.testing.assert_array_equal(qf.int_repr().numpy(), qt.int_repr().numpy())
        assert qf.int_repr().dtype is getattr(flambeau, str(qt.int_repr().dtype).split(".")[1])
        np.testing.assert_array_equal(qf.dequantize().numpy(), qt.dequantize().numpy())
        assert qf.q_scale() == qt.q_scale() and qf.q_zero_point() == qt.q_zero_point()
        assert qf.dtype is getattr(flambeau, qdtype) and qf.is_quantized and qf.qscheme() is flambeau.per_tensor_affine


@pytest.mark.parametrize("qdtype,qmin,qmax", QDTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quantize_per_channel_bit_exact(qdtype, qmin, qmax, axis):
    rng = np.random.default_rng(np.random.randint(1 << 30))
    x = (rng.standard_normal((5, 6, 300)) * 2).astype(np.float32)
    n = x.shape[axis]
    scales = rng.uniform(0.005, 0.1, n)
    zps = rng.integers(max(qmin, -20), min(qmax, 100), n)
    qt = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps), axis,
                                    getattr(torch, qdtype))
    qf = flambeau.quantize_per_channel(flambeau.from_numpy(x), flambeau.from_numpy(scales), flambeau.from_numpy(zps),
                                       axis, getattr(flambeau, qdtype))
    np.testing.assert_array_equal(qf.int_repr().numpy(), qt.int_repr().numpy())
    np.testing.assert_array_equal(qf.dequantize().numpy(), qt.dequantize().numpy())
    np.testing.assert_array_equal(qf.q_per_channel_scales().numpy(), qt.q_per_channel_scales().numpy())
    np.testing.assert_array_equal(qf.q_per_channel_zero_points().numpy(), qt.q_per_channel_zero_points().numpy())
    assert qf.q_per_channel_axis() == qt.q_per_channel_axis()
    assert qf.qscheme() is flambeau.per_channel_affine
    with pytest.raises(RuntimeError, match="per-tensor"):
        qf.q_scale()


def test_quantized_repr_matches_pytorch():
    x = np.random.randn(3, 4).astype(np.float32)
    for args in [(0.1, 10, "quint8"), (0.05, -3, "qint8"), (0.02, 7, "qint32")]:
        qt = torch.quantize_per_tensor(torch.from_numpy(x), args[0], args[1], getattr(torch, args[2]))
        qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), args[0], args[1], getattr(flambeau, args[2]))
        assert " ".join(repr(qf).replace("flambeau.", "torch.").split()) == " ".join(repr(qt).split())
    qt = torch.quantize_per_channel(torch.from_numpy(x), torch.tensor([0.01, 0.02, 0.03], dtype=torch.float64),
                                    torch.tensor([0, 3, 1]), 0, torch.qint8)
    qf = flambeau.quantize_per_channel(flambeau.from_numpy(x), flambeau.tensor([0.01, 0.02, 0.03],
                                                                               dtype=flambeau.float64),
                                       flambeau.tensor([0, 3, 1]), 0, flambeau.qint8)
    assert " ".join(repr(qf).replace("flambeau.", "torch.").split()) == " ".join(repr(qt).split())
    qe = flambeau.quantize_per_tensor(flambeau.zeros(0), 0.1, 0, flambeau.quint8)
    te = torch.quantize_per_tensor(torch.zeros(0), 0.1, 0, torch.quint8)
    assert " ".join(repr(qe).replace("flambeau.", "torch.").split()) == " ".join(repr(te).split())


def test_quantized_shape_ops_relu_and_dequantize_function():
    x = np.random.randn(2, 3, 4).astype(np.float32)
    qt = torch.quantize_per_tensor(torch.from_numpy(x), 0.05, 64, torch.quint8)
    qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), 0.05, 64, flambeau.quint8)
    for ft, ff in [(lambda q: q.reshape(6, 4), None), (lambda q: q.flatten(1), None), (lambda q: q[1, :, 2:], None),
                   (lambda q: q.permute(2, 0, 1), None), (lambda q: torch.relu(q) if isinstance(q, torch.Tensor)
                                                           and not isinstance(q, flambeau.Tensor) else q.relu(), None),
                   (lambda q: q.unsqueeze(0).squeeze(0), None), (lambda q: q.clone().detach(), None)]:
        a, b = ft(qt), ft(qf)
        np.testing.assert_array_equal(b.int_repr().numpy(), a.int_repr().numpy())
        assert b.q_scale() == a.q_scale() and b.q_zero_point() == a.q_zero_point() and tuple(b.shape) == tuple(a.shape)
    np.testing.assert_array_equal(flambeau.dequantize(qf).numpy(), torch.dequantize(qt).numpy())
    assert [t.shape for t in flambeau.dequantize([qf, qf])] == [qf.shape, qf.shape]
    assert flambeau.nn.functional.relu(qf).int_repr().min().item() >= 64
    r = pickle.loads(pickle.dumps(qf))
    assert r.equal(qf) and copy.deepcopy(qf).equal(qf)
    qc = flambeau.quantize_per_channel(flambeau.from_numpy(x), flambeau.tensor([0.1, 0.2]), flambeau.tensor([0, 1]),
                                       0, flambeau.qint8)
    r = pickle.loads(pickle.dumps(qc))
    assert r.equal(qc) and r.q_per_channel_axis() == 0


def test_quantized_errors():
    x = flambeau.randn(3)
    with pytest.raises(RuntimeError, match="Quantize only works on Float Tensor"):
        flambeau.quantize_per_tensor(x.double(), 0.1, 0, flambeau.quint8)
    with pytest.raises(RuntimeError, match="not supported in new_qtensor"):
        flambeau.quantize_per_tensor(x, 0.1, 0, flambeau.float32)
    with pytest.raises(RuntimeError, match="out of range"):
        flambeau.quantize_per_tensor(x, 0.1, 300, flambeau.quint8)
    with pytest.raises(RuntimeError, match="expected 2 scales"):
        flambeau.quantize_per_channel(flambeau.randn(2, 3), flambeau.tensor([0.1]), flambeau.tensor([0]), 0,
                                      flambeau.qint8)
    with pytest.raises(RuntimeError, match="Channel axis out of range"):
        flambeau.quantize_per_channel(flambeau.randn(2, 3), flambeau.tensor([0.1] * 3), flambeau.tensor([0] * 3), -1,
                                      flambeau.qint8)
    q = flambeau.quantize_per_tensor(x, 0.1, 0, flambeau.quint8)
    for op in (lambda: q + 1, lambda: q.sum(), lambda: q.exp(), lambda: q @ q, lambda: q.to(flambeau.float32),
               lambda: q == q):
        with pytest.raises(NotImplementedError, match="quantized"):
            op()
    with pytest.raises(RuntimeError, match="floating point"):
        q.requires_grad_()
    with pytest.raises(NotImplementedError, match="expected a quantized tensor"):
        x.int_repr()
    assert x.dequantize() is x
    assert flambeau.quint8.itemsize == torch.quint8.itemsize and flambeau.qint32.itemsize == 4
    assert not flambeau.qint8.is_floating_point
    assert pickle.loads(pickle.dumps(flambeau.qint8)) is flambeau.qint8
    assert pickle.loads(pickle.dumps(flambeau.per_channel_affine)) is flambeau.per_channel_affine


def test_quantized_through_top_level_functions():
    """torch.relu(q), torch.flatten(q, 1), nn.ReLU, nn.Flatten as eager-mode quantized models call them."""
    x = np.random.randn(2, 3, 4).astype(np.float32)
    qt = torch.quantize_per_tensor(torch.from_numpy(x), 0.05, 64, torch.quint8)
    qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), 0.05, 64, flambeau.quint8)
    for fn in (lambda lib, q: lib.relu(q), lambda lib, q: lib.flatten(q, 1), lambda lib, q: q.reshape(4, 6),
               lambda lib, q: lib.nn.ReLU()(q), lambda lib, q: lib.nn.Flatten()(q),
               lambda lib, q: lib.nn.functional.relu(q), lambda lib, q: q.transpose(0, 2)):
        a, b = fn(torch, qt), fn(flambeau, qf)
        np.testing.assert_array_equal(b.int_repr().numpy(), a.int_repr().numpy())
        assert b.q_scale() == a.q_scale() and b.q_zero_point() == a.q_zero_point()
    np.testing.assert_array_equal(flambeau.relu(flambeau.from_numpy(x)).numpy(), torch.relu(torch.from_numpy(x)).numpy())


def test_quantized_max_pool2d():
    """nn.MaxPool2d / F.max_pool2d on a quantized tensor: the max of the integers (PyTorch's quantized max_pool2d)."""
    x = np.random.randn(2, 3, 9, 8).astype(np.float32)
    qt = torch.quantize_per_tensor(torch.from_numpy(x), 0.05, 64, torch.quint8)
    qf = flambeau.quantize_per_tensor(flambeau.from_numpy(x), 0.05, 64, flambeau.quint8)
    for fn in (lambda lib, q: lib.nn.MaxPool2d(2)(q), lambda lib, q: lib.nn.functional.max_pool2d(q, 3, 2, 1),
               lambda lib, q: lib.nn.functional.max_pool2d(q, (2, 3), ceil_mode=True)):
        a, b = fn(torch, qt), fn(flambeau, qf)
        np.testing.assert_array_equal(b.int_repr().numpy(), a.int_repr().numpy())
        assert b.q_scale() == a.q_scale() and b.q_zero_point() == a.q_zero_point()
    np.testing.assert_array_equal(flambeau.nn.functional.max_pool2d(flambeau.from_numpy(x), 2).numpy(),
                                  torch.nn.functional.max_pool2d(torch.from_numpy(x), 2).numpy())
