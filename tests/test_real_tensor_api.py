"""The complex-number API on real tensors (conj, real, imag, angle, resolve_*), frombuffer,
empty_permuted and nonzero_static, against PyTorch."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import check_op, check_error, rand_array, to_np


def test_identity_views_on_real_tensors():
    x = flambeau.randn(3, 2)
    for fn in ("conj", "resolve_conj", "resolve_neg", "conj_physical", "real"):
        assert getattr(flambeau, fn)(x) is x
    assert x.conj() is x and x.real is x and x.resolve_conj() is x and x.conj_physical_() is x
    assert not x.is_conj() and not flambeau.is_neg(x) and not flambeau.is_conj(x)
    check_error(lambda m: m.ones(2).imag, RuntimeError, "imag is not implemented")
    check_error(lambda m: m.imag(m.ones(2)), RuntimeError, "imag is not implemented")
    check_op(lambda a: a.conj() * 2, shapes=[(4, 3)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_angle_values_and_gradient(dtype):
    x = rand_array((40,), dtype)
    x[:4] = [0.0, -0.0, np.nan, -np.inf]
    t = torch.tensor(x, requires_grad=True)
    f = flambeau.tensor(x, requires_grad=True)
    ta, fa = torch.angle(t), flambeau.angle(f)
    np.testing.assert_array_equal(to_np(fa), ta.detach().numpy())
    assert fa.grad_fn.name() == "AngleBackward0"
    ta.sum().backward()
    fa.sum().backward()
    np.testing.assert_array_equal(to_np(f.grad), t.grad.numpy())
    xi = np.random.randint(-5, 5, (7,))
    ti, fi = torch.angle(torch.tensor(xi)), flambeau.tensor(xi).angle()
    assert fi.dtype == flambeau.float32
    np.testing.assert_array_equal(to_np(fi), ti.numpy())


def test_frombuffer_shares_memory():
    b = bytearray(np.arange(6, dtype=np.float32).tobytes())
    t = torch.frombuffer(bytearray(b), dtype=torch.float32, count=3, offset=8)
    f = flambeau.frombuffer(b, dtype=flambeau.float32, count=3, offset=8)
    np.testing.assert_array_equal(to_np(f), t.numpy())
    f[0] = 42.0
    assert np.frombuffer(b, dtype=np.float32)[2] == 42.0
    g = flambeau.frombuffer(b, dtype=flambeau.int16, requires_grad=False)
    np.testing.assert_array_equal(to_np(g), torch.frombuffer(bytearray(b), dtype=torch.int16).numpy())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        flambeau.frombuffer(bytes(8), dtype=flambeau.float32)
    assert any("not writable" in str(x.message) for x in w)
    for kw, n in ((dict(dtype="float32"), 7), (dict(dtype="float32", offset=8), 8),
                  (dict(dtype="float32", count=3), 8), (dict(dtype="float32"), 0), (dict(dtype="float32", count=0), 8)):
        check_error(lambda m: m.frombuffer(bytearray(n), **{**kw, "dtype": getattr(m, kw["dtype"])}), ValueError)


def test_frombuffer_half_types():
    """float16 and bfloat16 buffers (numpy has no bfloat16: flambeau reads int16 and reinterprets)."""
    b = bytearray(np.linspace(-3, 5, 10, dtype=np.float32).tobytes())
    for name in ("bfloat16", "float16"):
        t = torch.frombuffer(bytearray(b), dtype=getattr(torch, name), offset=4)
        f = flambeau.frombuffer(b, dtype=getattr(flambeau, name), offset=4)
        assert f.dtype == getattr(flambeau, name) and tuple(f.shape) == tuple(t.shape)
        np.testing.assert_array_equal(f.float().numpy(), t.float().numpy())
    f = flambeau.frombuffer(b, dtype=flambeau.bfloat16)
    f[1] = 2.5  # writes reach the buffer
    assert bytes(b[2:4]) == torch.tensor([2.5], dtype=torch.bfloat16).view(torch.int16).numpy().tobytes()


@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("float32", "int16"), ("float32", "uint8"),
                                     ("int16", "float32"), ("uint8", "float64"), ("float64", "float16"),
                                     ("bfloat16", "int16"), ("float16", "bfloat16"), ("int64", "float64"),
                                     ("bool", "uint8"), ("float32", "bfloat16")])
def test_view_dtype_matches_torch(src, dst):
    """Tensor.view(dtype): the same bytes as another dtype, the last dim split or merged as PyTorch's."""
    base = np.random.standard_normal((3, 16)).astype(np.float32)
    tt = torch.tensor(base).to(getattr(torch, src)) if src != "bool" else torch.tensor(base > 0)
    ft = flambeau.tensor(base).to(getattr(flambeau, src)) if src != "bool" else flambeau.tensor(base > 0)
    for sl in (lambda x: x, lambda x: x[1:], lambda x: x[:, 8:], lambda x: x[::2]):
        want, got = sl(tt).view(getattr(torch, dst)), sl(ft).view(getattr(flambeau, dst))
        assert got.dtype == getattr(flambeau, dst)
        assert tuple(got.shape) == tuple(want.shape) and tuple(got.stride()) == tuple(want.stride())
        assert got.storage_offset() == want.storage_offset()
        np.testing.assert_array_equal(got.view(getattr(flambeau, src)).to(flambeau.float32).numpy(),
                                      sl(ft).to(flambeau.float32).numpy())
        if dst not in ("bfloat16", "float16"):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        else:
            np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_view_dtype_shares_memory_and_errors():
    x = flambeau.zeros(2, 4)
    v = x.view(flambeau.int32)
    v[0, 1] = 0x3F800000  # the bits of 1.0f
    assert x[0, 1].item() == 1.0
    p = flambeau.randn(3, 4, requires_grad=True)
    assert not p.view(flambeau.float32).requires_grad and not p.view(flambeau.int32).requires_grad
    assert tuple(flambeau.zeros(3, 4).view(flambeau.float32).shape) == (3, 4)
    for make in (lambda m: m.zeros(()).view(m.int16),            # 0-d, different sizes
                 lambda m: m.zeros(4, 3).t().view(m.int16),      # stride(-1) != 1
                 lambda m: m.zeros(2, 3, dtype=m.int16).view(m.float32),   # size(-1) not divisible
                 lambda m: m.zeros(10, dtype=m.int16)[1:9].view(m.float32),  # storage offset
                 lambda m: m.zeros(3, 6, dtype=m.int16)[:, :4].view(m.float64)):  # stride(0)
        check_error(make, RuntimeError)


def test_empty_permuted_strides():
    for size, perm in (((2, 3, 4), (0, 2, 1)), ((2, 3, 4, 5), (0, 2, 3, 1)), ((3,), (0,)), ((2, 0, 3), (2, 1, 0))):
        t = torch.empty_permuted(size, perm)
        f = flambeau.empty_permuted(size, perm)
        assert tuple(f.shape) == tuple(t.shape) and f.stride() == t.stride()
    assert flambeau.empty_permuted((2, 3, 4, 5), (0, 2, 3, 1)).is_contiguous(memory_format=flambeau.channels_last)
    check_error(lambda m: m.empty_permuted((2, 3), (0, 0)), RuntimeError, "Duplicate dim")


@pytest.mark.parametrize("size", [0, 2, 5, 9])
def test_nonzero_static(size):
    x = (rand_array((3, 4)) > 0.5)
    t = torch.nonzero_static(torch.tensor(x), size=size, fill_value=-3)
    f = flambeau.nonzero_static(flambeau.tensor(x), size=size, fill_value=-3)
    assert tuple(f.shape) == tuple(t.shape) and f.dtype == flambeau.int64
    np.testing.assert_array_equal(to_np(f), t.numpy())
    np.testing.assert_array_equal(to_np(flambeau.tensor(x).nonzero_static(size=size)),
                                  torch.tensor(x).nonzero_static(size=size).numpy())
    check_error(lambda m: m.nonzero_static(m.ones(3), size=-1), RuntimeError, "non-negative")


def test_set_flush_denormal_on_every_thread():
    tiny = np.full(1 << 20, 1e-310)  # denormal float64; big enough to be split among threads
    x = flambeau.tensor(tiny)
    try:
        assert flambeau.set_flush_denormal(True) is True
        assert torch.set_flush_denormal(True) is True
        assert not np.any(to_np(x * 1.0))  # every element flushed, whichever thread computed it
        np.testing.assert_array_equal(to_np(flambeau.tensor([1e-310, 1.0]) * 1.0),
                                      (torch.tensor([1e-310, 1.0], dtype=torch.float64) * 1.0).numpy())
    finally:
        flambeau.set_flush_denormal(False)
        torch.set_flush_denormal(False)
    np.testing.assert_array_equal(to_np(x * 1.0), tiny)
