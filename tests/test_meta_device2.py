"""The meta device, round 2, against PyTorch's: the default device (set_default_device('meta'),
`with device('meta'):`), shape rules for what vision/transformer/recurrent models call, whole models moved to
meta and run there, and autograd on meta tensors (grad_fn, requires_grad, .backward() giving meta grads)."""
import numpy as np
import pytest
import torch

import flambeau as fl
from flambeau import nn


def _same_meta(a, b):
    """flambeau meta tensor a describes what torch meta tensor b does."""
    assert a.is_meta and b.is_meta, (a, b)
    assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
    assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1], (a.dtype, b.dtype)
    assert a.requires_grad == b.requires_grad, (a.requires_grad, b.requires_grad)


@pytest.fixture
def restore_default_device():
    yield
    fl.set_default_device(None)
    torch.set_default_device(None)


# ---------------------------------------------------------------- the default device
def _factories(m):
    return [m.empty(2, 3), m.zeros(4, dtype=m.int64), m.ones((1, 2), requires_grad=True), m.full((2,), 1.5),
            m.full((3,), 7), m.rand(2, 2), m.randn(5), m.randint(0, 9, (3, 2)), m.randperm(6), m.eye(3, 5),
            m.arange(7), m.arange(0, 1, 0.25), m.linspace(0, 1, 9), m.logspace(0, 2, 4), m.tensor([[1.0, 2.0]]),
            m.tensor(3), m.tensor([True, False], requires_grad=False), m.as_tensor([1, 2, 3]),
            m.scalar_tensor(2.0), m.empty_strided((2, 3), (1, 2)), m.tril_indices(4, 4), m.triu_indices(3, 5, 1),
            m.hann_window(8), m.fft.fftfreq(6), m.empty_permuted((2, 3, 4), (0, 2, 1))]


def test_set_default_device_meta(restore_default_device):
    fl.set_default_device("meta")
    torch.set_default_device("meta")
    assert str(fl.get_default_device()) == str(torch.get_default_device()) == "meta"
    ours, theirs = _factories(fl), _factories(torch)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        try:
            _same_meta(a, b)
        except AssertionError as e:
            raise AssertionError(f"factory #{k}: {e}")
    assert fl.empty_strided((2, 3), (1, 2)).stride() == (1, 2)
    # the *_like functions follow their input, from_numpy and Tensor() stay on cpu, as PyTorch's
    cpu = fl.zeros(2, 3, device="cpu")
    assert fl.zeros_like(cpu).device.type == "cpu" and fl.randn_like(cpu).device.type == "cpu"
    assert fl.from_numpy(np.zeros(3)).device.type == "cpu" and fl.Tensor(2, 3).device.type == "cpu"
    # as_tensor of a cpu tensor moves it, as the DeviceContext does in PyTorch
    assert fl.as_tensor(cpu).is_meta == torch.as_tensor(torch.zeros(2, 3, device="cpu")).is_meta is True
    # an explicit device wins
    assert fl.ones(2, device="cpu").device.type == "cpu"
    assert float(fl.ones(2, device="cpu").sum()) == 2.0
    fl.set_default_device("cpu")
    assert fl.empty(2).device.type == "cpu" and str(fl.get_default_device()) == "cpu"
    fl.set_default_device(fl.device("meta"))
    assert fl.empty(2).is_meta
    fl.set_default_device(None)
    assert fl.tensor([1.0]).device.type == "cpu"


def test_device_context_manager_nests_and_restores():
    with fl.device("meta") as d:
        assert d == fl.device("meta") and str(fl.get_default_device()) == "meta"
        assert fl.empty(3).is_meta and fl.tensor([1, 2]).is_meta
        with fl.device("cpu"):
            x = fl.arange(4)
            assert x.device.type == "cpu" and x.tolist() == [0, 1, 2, 3]
        assert fl.zeros(1).is_meta
    assert fl.empty(3).device.type == "cpu"
    with pytest.raises(KeyError):
        with fl.device("meta"):
            raise KeyError("x")
    assert fl.empty(3).device.type == "cpu" and str(fl.get_default_device()) == "cpu"
    with pytest.raises(RuntimeError):
        with fl.device("nonsense"):
            pass
    assert fl.empty(3).device.type == "cpu"


def _built(m):
    return [m.nn.Linear(5, 3), m.nn.Conv2d(3, 8, 3, bias=False), m.nn.BatchNorm2d(4), m.nn.LayerNorm(6),
            m.nn.Embedding(10, 4, padding_idx=1), m.nn.LSTM(4, 6, num_layers=2, batch_first=True),
            m.nn.MultiheadAttention(8, 2), m.nn.GroupNorm(2, 4), m.nn.TransformerEncoderLayer(8, 2, 16)]


def test_modules_built_in_meta_context():
    with fl.device("meta"):
        ours = _built(fl)
    with torch.device("meta"):
        theirs = _built(torch)
    for a, b in zip(ours, theirs):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb)
        for k in sa:
            _same_meta(sa[k], sb[k])
        for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert ka == kb and isinstance(pa, nn.Parameter) and pa.requires_grad
    # and they can be materialised afterwards
    lin = ours[0].to_empty(device="cpu")
    assert lin.weight.device.type == "cpu" and lin(fl.ones(2, 5)).shape == (2, 3)
