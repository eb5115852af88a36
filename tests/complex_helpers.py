"""Helpers for the complex tests: fresh complex inputs for both libraries, and comparisons of values
and gradients under PyTorch's convention (the gradient of a real loss wrt z = x + iy is
dL/dx + i dL/dy)."""
import numpy as np
import torch

import flambeau

CDTS = ("complex64", "complex128")
REAL_OF = {"complex64": "float32", "complex128": "float64", "float32": "float32", "float64": "float64"}
TOL = {"complex64": (2e-5, 2e-4), "complex128": (1e-11, 1e-9), "float32": (2e-5, 2e-4), "float64": (1e-11, 1e-9)}


def crand(shape, dt, low=-2.0, high=2.0, rng=None):
    """A fresh complex (or real, for a real dt) numpy array with parts uniform in [low, high)."""
    rng = rng or np.random
    if dt in ("float32", "float64"):
        return rng.uniform(low, high, size=shape).astype(dt)
    re = rng.uniform(low, high, size=shape)
    im = rng.uniform(low, high, size=shape)
    return (re + 1j * im).astype(dt)


def both(arr, requires_grad=False):
    t = torch.tensor(arr, requires_grad=requires_grad)
    f = flambeau.tensor(arr, requires_grad=requires_grad)
    return t, f


def npy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().resolve_conj().numpy()
    if isinstance(x, flambeau.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_same(f, t, dt=None, what="value", scale=None, tol=None):
    """flambeau result f equals torch result t: shape, dtype and values within tolerance."""
    assert tuple(f.shape) == tuple(t.shape), f"{what}: shape {tuple(f.shape)} != {tuple(t.shape)}"
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], f"{what}: dtype {f.dtype} != {t.dtype}"
    dn = str(t.dtype).split(".")[-1]
    a, b = npy(f), npy(t)
    if dn not in TOL:
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    atol, rtol = tol or TOL[dn]
    if scale is None:
        scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, atol=atol * scale, rtol=rtol, equal_nan=True, err_msg=what)


def check(fn_t, fn_f, arrays, grad=True, tol=None, grad_tol=None, scale=None):
    """Runs fn on torch and flambeau leaves built from `arrays`; compares the outputs, then the
    gradients of every floating/complex input for the same random upstream gradient."""
    leaves = [both(a, requires_grad=grad and a.dtype.kind in "fc") for a in arrays]
    ts, fs = [p[0] for p in leaves], [p[1] for p in leaves]
    out_t, out_f = fn_t(*ts), fn_f(*fs)
    assert_same(out_f, out_t, what="forward", tol=tol, scale=scale)
    if not grad or not out_t.requires_grad:
        return out_t, out_f
    dn = str(out_t.dtype).split(".")[-1]
    g = crand(tuple(out_t.shape), dn)
    out_t.backward(torch.tensor(g))
    out_f.backward(flambeau.tensor(g))
    for i, (t, f) in enumerate(zip(ts, fs)):
        if t.grad is None:
            assert f.grad is None or not np.any(npy(f.grad)), f"input {i}: torch has no grad, flambeau {f.grad}"
            continue
        assert f.grad is not None, f"input {i}: flambeau has no gradient"
        assert_same(f.grad, t.grad, what=f"grad of input {i}", tol=grad_tol or tol, scale=scale)
    return out_t, out_f
