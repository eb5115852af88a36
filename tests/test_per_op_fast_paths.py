"""The per-op fast paths taken before the general code (Tensor.to/cpu on a tensor already there, cat of
plain tensors, add/sub/mul recording two same-dtype float tensors, matmul of two matrices) give what the
general path gives, and hand every other case to it (its results and its errors)."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau._functions import join


@pytest.mark.parametrize("lib", [flambeau, torch], ids=["flambeau", "torch"])
def test_to_and_cpu_return_self_when_already_there(lib):
    x = lib.randn(3)
    assert x.to(lib.float32) is x and x.to("cpu") is x and x.to(lib.device("cpu")) is x and x.to(x.device) is x
    assert x.cpu() is x and x.to(x) is x and x.to("cpu", lib.float32) is x
    y = x.to(lib.float64)
    assert y is not x and y.dtype == lib.float64
    assert x.to("cpu", copy=True) is not x
    with pytest.raises(RuntimeError):
        x.to("nodevice")


def _cat_both(make, dim):
    """cat through the fast path and through the general one (the fast path switched off)."""
    outs = []
    for fast in (True, False):
        flambeau.manual_seed(0)
        ts = make()
        saved = join._cat_common
        if not fast:
            join._cat_common = lambda tensors, dim: None
        try:
            y = flambeau.cat(ts, dim)
        except Exception as e:  # noqa: BLE001 - compared below
            outs.append((type(e), str(e)))
            continue
        finally:
            join._cat_common = saved
        r = [y.detach().numpy().tobytes(), tuple(y.shape), y.dtype, y.requires_grad, type(y.grad_fn).__name__]
        if y.requires_grad:
            y.sum().backward()
            r += [t.grad.numpy().tobytes() if t.grad is not None else None for t in ts]
        outs.append(r)
    return outs


@pytest.mark.parametrize("case", [
    (lambda: [flambeau.randn(2, 3), flambeau.randn(4, 3)], 0),
    (lambda: (flambeau.randn(2, 3), flambeau.randn(2, 1), flambeau.randn(2, 2)), -1),
    (lambda: [flambeau.randn(2, 3, requires_grad=True), flambeau.randn(1, 3)], 0),
    (lambda: [flambeau.randn(3), flambeau.randn(2)], 0),
    (lambda: [flambeau.randn(3), flambeau.randn(0)], 0),  # legacy skip of 1-d empties
    (lambda: [flambeau.randn(2, 3), flambeau.randn(0)], 0),
    (lambda: [flambeau.randn(2, 3), flambeau.randn(2, 3).double()], 0),  # promotion
    (lambda: [flambeau.randn(2, 3), flambeau.arange(3).reshape(1, 3)], 0),
    (lambda: [flambeau.randn(2, 3), flambeau.randn(2, 4)], 0),  # kernel's shape error
    (lambda: [flambeau.randn(2, 3), flambeau.randn(2, 3)], 2),  # dim out of range
    (lambda: [flambeau.randn(()), flambeau.randn(())], 0),  # 0-d
    (lambda: [flambeau.randn(1, 2, 2, 2), flambeau.randn(1, 2, 2, 2)], 1),  # 4-d: the layout rule
])
def test_cat_fast_path_same_as_general(case):
    make, dim = case
    fast, general = _cat_both(make, dim)
    assert fast == general


@pytest.mark.parametrize("op", ["add", "sub", "mul", "matmul"])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("float32", "float64")])
@pytest.mark.parametrize("which", [(True, True), (True, False), (False, True)])
def test_recording_binary_matches_torch(op, dtypes, which):
    rng = np.random.default_rng(1)
    shapes = ((3, 4), (4, 2)) if op == "matmul" else ((3, 4), (4,))
    arrs = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    if op == "matmul" and dtypes[0] != dtypes[1]:  # (no promotion in matmul: both refuse)
        for lib in (flambeau, torch):
            a, b = (lib.tensor(x, requires_grad=r) for x, r in zip(arrs, which))
            with pytest.raises(RuntimeError, match="same dtype"):
                lib.matmul(a, b)
        return
    res = []
    for lib in (flambeau, torch):
        a, b = (lib.tensor(x, requires_grad=r) for x, r in zip(arrs, which))
        y = getattr(lib, op)(a, b)
        y.sum().backward()
        res.append((y, a, b))
    (y, a, b), (ty, ta, tb) = res
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__ and y.dtype.itemsize == ty.dtype.itemsize
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    for t, tt in ((a, ta), (b, tb)):
        assert (t.grad is None) == (tt.grad is None)
        if t.grad is not None:
            np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-6, atol=1e-6)
