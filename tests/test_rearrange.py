"""flip (and fliplr/flipud/rot90/roll built on it) and tril/triu (and their in-place forms) against
PyTorch: every dtype, odd and empty shapes, non-contiguous and expanded inputs, negative dims,
gradients, a float64 gradcheck and errors. Both are bit copies (NaN payloads, -0.0)."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check_op, fl_tensor, rand_array, to_np

DTYPES = ["float32", "float64", "int64", "bool"]


def _same(f, t):
    a, b = np.ascontiguousarray(to_np(f)), np.ascontiguousarray(t.numpy())
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("shape,dims", [((7,), (0,)), ((5, 9), (1,)), ((5, 9), (0,)), ((5, 9), (0, 1)),
                                        ((3, 4, 5), (-1, 0)), ((2, 3, 4, 5), (1, 3)), ((0, 3), (0,)),
                                        ((4, 1, 3), (1,)), ((), ()), ((3, 4), ()), ((300, 257), (1,))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_against_torch(shape, dims, dtype, device, rng):
    a = np.asarray(rand_array(shape, dtype, rng))
    _same(flambeau.flip(fl_tensor(a, device), dims), torch.flip(torch.from_numpy(a), dims))
    if len(shape) >= 2:  # a transposed input
        _same(fl_tensor(a, device).transpose(0, 1).flip(dims), torch.from_numpy(a).transpose(0, 1).flip(dims))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flip_gradients(dtype, device, rng):
    check_op(lambda x: x.flip(1), shapes=[(4, 7)], dtype=dtype, device=device, rng=rng)
    check_op(lambda x: torch.flip(x * 2, (0, 2)), lambda x: flambeau.flip(x * 2, (0, 2)), shapes=[(3, 4, 5)],
             dtype=dtype, device=device, rng=rng, non_contiguous=True)
    check_op(lambda x: torch.fliplr(x), lambda x: flambeau.fliplr(x), shapes=[(3, 5)], device=device, rng=rng)
    check_op(lambda x: torch.flipud(x), lambda x: flambeau.flipud(x), shapes=[(3, 5)], device=device, rng=rng)
    check_op(lambda x: torch.rot90(x, 1, (0, 1)), lambda x: flambeau.rot90(x, 1, (0, 1)), shapes=[(3, 5)],
             device=device, rng=rng)
    check_op(lambda x: torch.roll(x, 2, 1), lambda x: flambeau.roll(x, 2, 1), shapes=[(3, 5)], device=device, rng=rng)


def test_flip_of_expanded_and_sliced_views(device):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    fx, tx = fl_tensor(x, device), torch.from_numpy(x)
    _same(fx[:, :1].expand(3, 5).flip(1), tx[:, :1].expand(3, 5).flip(1))
    _same(fx[::2, 1::2].flip((0, 1)), tx[::2, 1::2].flip((0, 1)))
    r = fx.flip(0)
    r[0, 0] = 100.0  # a copy: the input is untouched
    assert to_np(fx)[2, 0] == 8.0
    s = np.array([np.nan, -0.0, np.inf, 1.5], np.float32)
    _same(fl_tensor(s, device).flip(0), torch.from_numpy(s).flip(0))


def test_flip_errors():
    x = flambeau.zeros(2, 3)
    with pytest.raises(RuntimeError, match="flip: dim 1 appears multiple times"):
        x.flip((1, -1))
    with pytest.raises(IndexError, match="flip"):
        x.flip(2)


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 4), (2, 3, 6, 5), (1, 1), (0, 4), (3, 0), (2, 0, 3)])
@pytest.mark.parametrize("diagonal", [-3, -1, 0, 1, 2, 9])
@pytest.mark.parametrize("dtype", DTYPES)
def test_tril_triu_against_torch(shape, diagonal, dtype, device, rng):
    a = np.asarray(rand_array(shape, dtype, rng))
    for name in ("tril", "triu"):
        _same(getattr(flambeau, name)(fl_tensor(a, device), diagonal), getattr(torch, name)(torch.from_numpy(a), diagonal))
        if len(shape) >= 2 and shape[-1] > 1:  # a transposed (non-contiguous) input
            ft, tt = fl_tensor(a, device).transpose(-1, -2), torch.from_numpy(a).transpose(-1, -2)
            _same(getattr(ft, name)(diagonal), getattr(tt, name)(diagonal))


@pytest.mark.parametrize("diagonal", [-1, 0, 2])
def test_tril_triu_in_place(diagonal, device, rng):
    a = rand_array((3, 6, 5), "float32", rng)
    for name in ("tril_", "triu_"):
        f, t = fl_tensor(a, device), torch.from_numpy(a.copy())
        ptr = f.data_ptr()
        assert getattr(f, name)(diagonal) is f and f.data_ptr() == ptr
        getattr(t, name)(diagonal)
        _same(f, t)
        # on a non-contiguous view: only the view's elements change
        fb, tb = fl_tensor(a, device), torch.from_numpy(a.copy())
        getattr(fb[:, :, ::2], name)(diagonal)
        getattr(tb[:, :, ::2], name)(diagonal)
        _same(fb, tb)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tril_triu_gradients(dtype, device, rng):
    for d in (-1, 0, 2):
        check_op(lambda x: x.tril(d), shapes=[(5, 4)], dtype=dtype, device=device, rng=rng)
        check_op(lambda x: (x * 3).triu(d), shapes=[(2, 4, 6)], dtype=dtype, device=device, rng=rng,
                 non_contiguous=True)


def test_float64_gradcheck():
    rng = np.random.default_rng(0)
    x = flambeau.tensor(rng.standard_normal((4, 5)), dtype=flambeau.float64, requires_grad=True)
    g = flambeau.autograd.gradcheck
    assert g(lambda x: x.tril(1), (x,), eps=1e-6, atol=1e-6)
    assert g(lambda x: x.triu(-1), (x,), eps=1e-6, atol=1e-6)
    assert g(lambda x: x.flip((0, 1)), (x,), eps=1e-6, atol=1e-6)


def test_tril_in_place_under_autograd():
    x = flambeau.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 2
    y.triu_()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0], [0.0, 2.0]])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.tril_()


def test_tril_errors():
    with pytest.raises(RuntimeError, match=r"tril: input tensor must have at least 2 dimensions.*\[3\]"):
        flambeau.zeros(3).tril()
    with pytest.raises(RuntimeError, match="triu_: input tensor must have at least 2 dimensions"):
        flambeau.zeros(3).triu_()


@pytest.mark.parametrize("shape,shifts,dims", [((7,), 3, 0), ((7,), -10, 0), ((4, 5), 2, None), ((4, 5), (1, -2), (0, 1)),
                                               ((2, 3, 4), (5, 1), (-1, 0)), ((4, 5), (2, 3), (1, 1)), ((0, 3), 1, 0),
                                               ((3, 4), 0, 1), ((300, 257), 100, 1), ((2, 3), 4, None)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_roll_against_torch(shape, shifts, dims, dtype, device, rng):
    a = np.asarray(rand_array(shape, dtype, rng))
    _same(flambeau.roll(fl_tensor(a, device), shifts, dims), torch.roll(torch.from_numpy(a), shifts, dims))
    if len(shape) >= 2:
        _same(fl_tensor(a, device).transpose(0, 1).roll(shifts, dims), torch.from_numpy(a).transpose(0, 1).roll(shifts, dims))
    if dtype in ("float32", "float64") and 0 not in shape:
        check_op(lambda x: torch.roll(x * 2, shifts, dims), lambda x: flambeau.roll(x * 2, shifts, dims), shapes=[shape],
                 dtype=dtype, device=device, rng=rng)


def test_roll_errors():
    with pytest.raises(RuntimeError, match="roll: shifts and dimensions must align"):
        flambeau.zeros(3, 4).roll((1, 2), 0)
    with pytest.raises(IndexError, match="roll"):
        flambeau.zeros(3, 4).roll(1, 2)
