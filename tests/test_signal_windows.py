"""torch.signal.windows against PyTorch: every window, symmetric and periodic, float32/float64, edge
lengths, parameters, gradients through requires_grad windows, and the argument errors."""
import numpy as np
import pytest
import torch

import flambeau

NAMES = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_hamming", "hamming", "hann",
         "kaiser", "nuttall"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("M", [0, 1, 2, 7, 16, 51])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_window_matches_pytorch(name, M, sym, dtype):
    t = getattr(torch.signal.windows, name)(M, sym=sym, dtype=getattr(torch, dtype))
    f = getattr(flambeau.signal.windows, name)(M, sym=sym, dtype=getattr(flambeau, dtype))
    assert f.dtype == getattr(flambeau, dtype) and tuple(f.shape) == tuple(t.shape)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(f.numpy(), t.numpy(), atol=tol, rtol=tol)


@pytest.mark.parametrize("name,kwargs", [("exponential", {"tau": 2.5}), ("exponential", {"center": 3.0, "sym": False}),
                                         ("gaussian", {"std": 0.7}), ("kaiser", {"beta": 4.0}),
                                         ("general_hamming", {"alpha": 0.6}),
                                         ("general_cosine", {"a": [0.46, 0.23, 0.31]})])
def test_window_parameters(name, kwargs):
    M = int(np.random.randint(3, 30))
    t = getattr(torch.signal.windows, name)(M, **kwargs)
    f = getattr(flambeau.signal.windows, name)(M, **kwargs)
    assert f.dtype == flambeau.float32
    np.testing.assert_allclose(f.numpy(), t.numpy(), atol=1e-6, rtol=1e-6)


def test_requires_grad_window_backward():
    # general_cosine's coefficients are a leaf tensor inside; the window itself is a non-leaf with a graph
    t = torch.signal.windows.hann(9, requires_grad=True, dtype=torch.float64)
    f = flambeau.signal.windows.hann(9, requires_grad=True, dtype=flambeau.float64)
    assert f.requires_grad == t.requires_grad and f.is_leaf == t.is_leaf
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-13)
    g = np.random.randn(9)
    (t * torch.tensor(g)).sum().backward()
    (f * flambeau.tensor(g)).sum().backward()


@pytest.mark.parametrize("call,exc,match", [
    (lambda w: w.hann(-1), ValueError, "non-negative window length"),
    (lambda w: w.hann(4, layout="bogus"), ValueError, "strided tensors only"),
    (lambda w: w.gaussian(4, std=0), ValueError, "Standard deviation must be positive"),
    (lambda w: w.exponential(4, tau=-1), ValueError, "Tau must be positive"),
    (lambda w: w.exponential(4, center=1.0), ValueError, "Center must be None"),
    (lambda w: w.kaiser(4, beta=-1.0), ValueError, "beta must be non-negative"),
    (lambda w: w.general_cosine(4, a=[]), ValueError, "Coefficients cannot be empty"),
    (lambda w: w.general_cosine(4, a=3), TypeError, "Coefficients must be a list/tuple"),
])
def test_errors(call, exc, match):
    for lib in (torch, flambeau):
        with pytest.raises(exc, match=match):
            call(lib.signal.windows)


def test_integer_dtype_rejected():
    for lib in (torch, flambeau):
        with pytest.raises(ValueError, match="expects float32 or float64"):
            lib.signal.windows.hann(4, dtype=lib.int64)
