"""Fractional max pooling against PyTorch with the same _random_samples: outputs, indices and input
gradients (2-D and 3-D, batched and not, output_size and output_ratio, float32 and float64); the
module's buffer and repr; drawn samples in [0, 1); PyTorch's argument errors."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as fnn
from nn_helpers import assert_close


CASES_2D = [((2, 3, 9, 11), 2, dict(output_size=(4, 6))), ((2, 3, 9, 11), (3, 2), dict(output_size=5)),
            ((1, 2, 16, 16), 2, dict(output_ratio=(0.5, 0.4))), ((3, 10, 7), 3, dict(output_size=(5, 4))),
            ((2, 2, 7, 8), 2, dict(output_size=(6, 3))), ((1, 1, 5, 5), 2, dict(output_size=(1, 4)))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,kw", CASES_2D)
def test_fractional_max_pool2d(shape, k, kw, dtype):
    x = np.random.randn(*shape).astype(dtype)
    n = shape[0] if len(shape) == 4 else 1
    c = shape[-3]
    samples = np.random.rand(n, c, 2).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    fx = flambeau.from_numpy(x.copy()).requires_grad_()
    to, ti = torch.nn.functional.fractional_max_pool2d(tx, k, return_indices=True,
                                                       _random_samples=torch.from_numpy(samples), **kw)
    fo, fi = flambeau.nn.functional.fractional_max_pool2d(fx, k, return_indices=True,
                                                          _random_samples=flambeau.from_numpy(samples), **kw)
    dname = "float32" if dtype == np.float32 else "float64"
    assert_close(fo, to, dname)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    g = np.random.randn(*to.shape).astype(dtype)
    to.backward(torch.from_numpy(g))
    fo.backward(flambeau.from_numpy(g))
    assert_close(fx.grad, tx.grad, dname)


@pytest.mark.parametrize("shape,k,kw", [((1, 2, 7, 8, 9), 2, dict(output_size=(4, 5, 6))),
                                        ((2, 6, 6, 7), (2, 3, 2), dict(output_ratio=(0.5, 0.5, 0.6)))])
def test_fractional_max_pool3d(shape, k, kw):
    x = np.random.randn(*shape).astype(np.float32)
    n = shape[0] if len(shape) == 5 else 1
    samples = np.random.rand(n, shape[-4], 3).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    fx = flambeau.from_numpy(x.copy()).requires_grad_()
    to, ti = torch.nn.functional.fractional_max_pool3d(tx, k, return_indices=True,
                                                       _random_samples=torch.from_numpy(samples), **kw)
    fo, fi = flambeau.nn.functional.fractional_max_pool3d(fx, k, return_indices=True,
                                                          _random_samples=flambeau.from_numpy(samples), **kw)
    assert_close(fo, to)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    to.sum().backward()
    fo.sum().backward()
    assert_close(fx.grad, tx.grad)


def test_module_and_random_draws():
    samples = np.random.rand(2, 3, 2).astype(np.float32)
    tm = torch.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.5), _random_samples=torch.from_numpy(samples))
    fm = fnn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.5), _random_samples=flambeau.from_numpy(samples))
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict()) == list(tm.state_dict())
    x = np.random.randn(2, 3, 12, 10).astype(np.float32)
    assert_close(fm(flambeau.from_numpy(x)), tm(torch.from_numpy(x)))
    flambeau.manual_seed(0)
    m = fnn.FractionalMaxPool2d(2, output_size=5, return_indices=True)
    out, idx = m(flambeau.from_numpy(x))
    assert tuple(out.shape) == (2, 3, 5, 5) and idx.dtype == flambeau.int64
    # every output is the max of the input plane at its index
    planes = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, idx.numpy().reshape(2, 3, -1), 2),
                                  out.numpy().reshape(2, 3, -1))
    assert tuple(fnn.FractionalMaxPool3d(2, output_size=3)(flambeau.randn(1, 2, 6, 6, 6)).shape) == (1, 2, 3, 3, 3)


@pytest.mark.parametrize("case", [
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_size=(3, 8)),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 9, output_size=3),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_size=3,
                                                    _random_samples=m.zeros(1, 3, 2)),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_size=3,
                                                    _random_samples=m.zeros(2, 3, 3)),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_size=3,
                                                    _random_samples=m.zeros(2, 2, 2)),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_ratio=(0.5, 0.5, 0.5)),
    lambda m: m.nn.functional.fractional_max_pool2d(m.zeros(2, 3, 7, 8), 2, output_size=3,
                                                    _random_samples=m.zeros(2, 3, 2, dtype=m.float64)),
    lambda m: m.nn.functional.fractional_max_pool3d(m.zeros(1, 2, 6, 7, 8), 2, output_size=(5, 6, 7)),
    lambda m: m.nn.functional.fractional_max_pool3d(m.zeros(1, 2, 6, 7, 8), 2, output_size=(3, 7, 7)),
    lambda m: m.nn.FractionalMaxPool2d(2, output_ratio=1.5),
    lambda m: m.nn.FractionalMaxPool2d(2),
    lambda m: m.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5),
    lambda m: m.nn.FractionalMaxPool3d(0, output_size=3),
])
def test_errors_match_pytorch(case):
    with pytest.raises(Exception) as et:
        case(torch)
    with pytest.raises(type(et.value)) as ef:
        case(flambeau)
    assert str(ef.value) == str(et.value)
