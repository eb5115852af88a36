"""Interop: from_numpy / .numpy() share memory on CPU, __array__, and DLPack (__dlpack__,
__dlpack_device__, flambeau.from_dlpack) zero-copy with numpy and PyTorch on CPU."""
import gc

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, fl_tensor, rand_array, to_np

DTYPES = ["float32", "float64", "int64", "bool"]


def _flip(a):
    """Change every element of numpy array `a` in place."""
    if a.dtype == np.bool_:
        np.logical_not(a, out=a)
    else:
        a += 1


# ---- from_numpy / numpy() -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (0, 2), (2, 1, 3)], ids=str)
def test_from_numpy_shares_memory(shape, dtype, rng):
    a = np.asarray(rand_array(shape, dtype, rng))
    f = flambeau.from_numpy(a)
    assert_close(f, torch.from_numpy(a.copy()))
    if a.size:
        assert f.data_ptr() == a.ctypes.data
    _flip(a)
    np.testing.assert_array_equal(f.numpy(), a)  # numpy -> tensor direction
    if a.size:
        f[...] = flambeau.zeros_like(f)  # tensor -> numpy direction
        assert not a.any()


@pytest.mark.parametrize("view", ["step", "T", "offset", "column"])
def test_from_numpy_strided_array(view, rng):
    base = rng.standard_normal((6, 8))
    a = {"step": base[:, ::3], "T": base.T, "offset": base[2:, 3:], "column": base[:, 5]}[view]
    f, t = flambeau.from_numpy(a), torch.from_numpy(a)
    assert_close(f, t)
    assert tuple(f.stride()) == tuple(t.stride())
    base[...] = 7.0
    assert np.all(f.numpy() == 7.0)


def test_from_numpy_keeps_array_alive():
    f = flambeau.from_numpy(np.arange(1000, dtype=np.float64))
    gc.collect()
    junk = [np.full(1000, -1.0) for _ in range(50)]  # reuse the freed memory, if it was freed
    assert f.sum().item() == sum(range(1000))
    del junk


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_shares_memory(dtype, rng):
    f = fl_tensor(rand_array((3, 4), dtype, rng), "cpu")
    a = f.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.dtype(dtype) and a.shape == (3, 4)
    assert a.ctypes.data == f.data_ptr()
    _flip(a)
    np.testing.assert_array_equal(f.tolist(), a.tolist())


def test_numpy_of_views_has_matching_strides():
    f = flambeau.arange(24, dtype=flambeau.float64).reshape(4, 6)
    t = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    for fn in (lambda x: x.T, lambda x: x[1:, ::2], lambda x: x[2], lambda x: x[:, 1:2].expand(4, 3)):
        a, b = fn(f).numpy(), fn(t).numpy()
        assert a.strides == b.strides and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
        assert np.shares_memory(a, f.numpy())


def test_numpy_keeps_storage_alive():
    a = (flambeau.arange(1000, dtype=flambeau.float64) * 1).numpy()
    gc.collect()
    junk = [flambeau.full((1000,), -1.0, dtype=flambeau.float64) for _ in range(50)]
    assert a.sum() == sum(range(1000))
    del junk


def test_numpy_on_requires_grad_raises():
    t = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        t.numpy()
    f = flambeau.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?i)detach"):
        f.numpy()
    assert f.detach().numpy().tolist() == [1.0, 1.0]


def test_numpy_of_cuda_tensor_raises(device):
    if device != "cuda":
        pytest.skip("needs a CUDA device")
    with pytest.raises(TypeError, match=r"(?i)cuda|cpu\(\)"):
        flambeau.ones(2, device=device).numpy()


# ---- __array__ -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_array_protocol(dtype, device, rng):
    a = rand_array((2, 3), dtype, rng)
    f = fl_tensor(a, device) if device == "cpu" else fl_tensor(a, device).to("cpu")
    np.testing.assert_array_equal(np.asarray(f), a)
    np.testing.assert_array_equal(np.array(f), a)
    assert np.asarray(f).dtype == a.dtype
    assert np.array(f, dtype=np.float64).dtype == np.float64
    np.testing.assert_allclose(np.array(f, dtype=np.float64), a.astype(np.float64))
    np.testing.assert_array_equal(np.asarray(fl_tensor(a, "cpu").T), a.T)


def test_array_protocol_0d():
    assert np.asarray(flambeau.tensor(2.5)).shape == ()
    assert float(np.asarray(flambeau.tensor(2.5))) == 2.5


# ---- DLPack --------------------------------------------------------------------------------------------

def test_dlpack_device(device):
    assert tuple(flambeau.zeros(2).__dlpack_device__()) == (1, 0)  # kDLCPU
    if device == "cuda":
        assert tuple(flambeau.zeros(2, device=device).__dlpack_device__()) == (2, 0)  # kDLCUDA


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (0, 3)], ids=str)
def test_numpy_from_dlpack_of_flambeau(shape, dtype, rng):
    if dtype == "bool" and np.lib.NumpyVersion(np.__version__) < "1.25.0":
        pytest.skip("numpy < 1.25 cannot import bool over DLPack")
    f = fl_tensor(np.asarray(rand_array(shape, dtype, rng)), "cpu")
    a = np.from_dlpack(f)
    assert a.shape == tuple(shape) and a.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a, to_np(f))
    if f.numel():
        assert a.ctypes.data == f.data_ptr()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (0, 3)], ids=str)
def test_torch_from_dlpack_of_flambeau(shape, dtype, rng):
    f = fl_tensor(np.asarray(rand_array(shape, dtype, rng)), "cpu")
    t = torch.from_dlpack(f)
    assert_close(f, t)
    if f.numel():
        assert t.data_ptr() == f.data_ptr()
        t.zero_()
        assert not f.to(flambeau.float64).abs().sum().item()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (0, 3)], ids=str)
def test_flambeau_from_dlpack_of_torch(shape, dtype, rng):
    t = torch.tensor(np.asarray(rand_array(shape, dtype, rng)))
    f = flambeau.from_dlpack(t)
    assert_close(f, t)
    if t.numel():
        assert f.data_ptr() == t.data_ptr()
        t.zero_()
        assert f.tolist() == t.tolist()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_flambeau_from_dlpack_of_numpy(dtype, rng):
    a = rand_array((4, 5), dtype, rng)
    f = flambeau.from_dlpack(a)
    assert_close(f, torch.from_numpy(a.copy()))
    assert f.data_ptr() == a.ctypes.data
    a += 1
    np.testing.assert_array_equal(f.numpy(), a)


@pytest.mark.parametrize("view", ["T", "step", "offset", "expand"])
def test_dlpack_strided(view):
    fns = {"T": lambda x: x.T, "step": lambda x: x[:, ::2], "offset": lambda x: x[1:, 2:],
           "expand": lambda x: x[:, :1].expand(4, 3)}
    t = fns[view](torch.arange(24.0).reshape(4, 6))
    f = flambeau.from_dlpack(t)
    assert_close(f, t)
    assert tuple(f.stride()) == tuple(t.stride())
    assert f.data_ptr() == t.data_ptr()
    g = fns[view](flambeau.arange(24.0).reshape(4, 6))
    t2 = torch.from_dlpack(g)
    assert tuple(t2.stride()) == tuple(g.stride()) and t2.data_ptr() == g.data_ptr()
    assert_close(g, t2)


def test_dlpack_capsule(rng):
    t = torch.tensor(rand_array((3, 2), "float32", rng))
    f = flambeau.from_dlpack(torch.utils.dlpack.to_dlpack(t))
    assert_close(f, t)
    assert f.data_ptr() == t.data_ptr()
    g = fl_tensor(rand_array((2, 5), "float64", rng), "cpu")
    t2 = torch.from_dlpack(g.__dlpack__())
    assert_close(g, t2)


def test_dlpack_roundtrip_and_lifetime():
    t = torch.arange(1000, dtype=torch.float64)
    f = flambeau.from_dlpack(t)
    del t
    gc.collect()
    junk = [torch.full((1000,), -1.0, dtype=torch.float64) for _ in range(50)]
    assert f.sum().item() == sum(range(1000))
    g = flambeau.from_dlpack(flambeau.from_dlpack(f))
    assert g.data_ptr() == f.data_ptr()
    del junk
    h = flambeau.arange(100.0) * 1
    t2 = torch.from_dlpack(h)
    del h
    gc.collect()
    assert t2.sum().item() == sum(range(100))


def test_dlpack_result_is_a_normal_tensor():
    f = flambeau.from_dlpack(torch.ones(3))
    assert isinstance(f, flambeau.Tensor) and not f.requires_grad
    f.requires_grad_()
    (f * 2).sum().backward()
    assert f.grad.tolist() == [2.0, 2.0, 2.0]
