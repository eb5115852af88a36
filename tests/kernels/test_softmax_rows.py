"""softmax / log_softmax over the last dim of float32 and float64 (csrc/cpu/softmax.cpp: the SIMD row
leaves row_softmax/row_softmax_bwd in cpu/simd/act_vec.inc and, for float64, math_f64_vec.inc),
each CPU capability forced in turn, against
PyTorch: row lengths below, at and around the vector widths (8, 16), long rows, logits in the
thousands, -inf entries, all -inf and NaN rows, empty shapes, backward."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import with_cpu_capability

CAPS = ["default", "avx2", "avx512"]


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 32, 1000, 50257])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_match_torch(name, n, cap, dtype, rng):
    rows = max(2, 60000 // n)
    x = (rng.standard_normal((rows, n)) * 3).astype(dtype)
    x[0] += 3000.0  # logits in the thousands
    if n > 3:
        x[1, ::3] = -np.inf
    g = rng.standard_normal((rows, n)).astype(dtype)

    def ours():
        xt = flambeau.from_numpy(x.copy())
        xt.requires_grad_(True)
        y = getattr(xt, name)(-1)
        (gi,) = flambeau.autograd.grad(y, xt, flambeau.from_numpy(g))
        return y.detach().numpy(), gi.numpy()

    y, gi = with_cpu_capability(cap, ours)
    # The reference is PyTorch in float64 (its float32 softmax sums in float32: 1.5e-6 relative error
    # on 50257-wide rows, where ours, summed in float64, is within 1.5e-7).
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    ty = getattr(tx, name)(-1)
    (tgi,) = torch.autograd.grad(ty, tx, torch.from_numpy(g.astype(np.float64)))
    f64 = dtype == np.float64
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-13 if f64 else 1e-6,
                               atol=(1e-12 if f64 else 2e-6) if name == "log_softmax" else (1e-16 if f64 else 1e-7))
    fin = np.isfinite(tgi.numpy())
    np.testing.assert_allclose(gi[fin], tgi.numpy()[fin], rtol=1e-12 if f64 else 1e-5, atol=1e-12 if f64 else 1e-5)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_rows(name, cap, dtype):
    x = np.array([[-np.inf] * 20, [0.0] * 19 + [np.nan], [np.inf] + [0.0] * 19, [1.0] * 20], dtype)
    y = with_cpu_capability(cap, lambda: getattr(flambeau.from_numpy(x), name)(-1).numpy())
    ref = getattr(torch.from_numpy(x), name)(-1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_allclose(y[3], ref[3], rtol=1e-6)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (3, 0, 4)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_empty(name, shape, cap):
    def ours():
        xt = flambeau.zeros(*shape, requires_grad=True)
        y = getattr(xt, name)(-1)
        y.sum().backward()
        return tuple(y.shape), tuple(xt.grad.shape)

    assert with_cpu_capability(cap, ours) == (shape, shape)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_float64_leaves_give_the_same_bits(name, rng):
    x = rng.standard_normal((300, 37)) * 5
    g = rng.standard_normal((300, 37))

    def ours():
        xt = flambeau.from_numpy(x.copy()).requires_grad_(True)
        y = getattr(xt, name)(-1)
        (gi,) = flambeau.autograd.grad(y, xt, flambeau.from_numpy(g))
        return y.detach().numpy(), gi.numpy()

    a, b = with_cpu_capability("avx2", ours), with_cpu_capability("avx512", ours)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u.view(np.int64), v.view(np.int64))


@pytest.mark.parametrize("cap", ["avx2", "avx512"])
@pytest.mark.parametrize("n", [1, 3, 5, 8, 10, 15, 16])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_narrow_rows_give_each_rows_own_bits(name, n, cap, rng):
    # Rows under 16 wide run W at a time, transposed (narrow_rows_softmax); a row alone runs the
    # per-row code. Every row must come out with the same bits either way, specials included.
    x = (rng.standard_normal((37, n)) * 4).astype(np.float32)
    x[1] = -np.inf
    x[2, 0] = np.nan
    x[3] = 0.0
    x[3, 0] = -0.0
    x[4, -1] = np.inf
    x[5] += 3000.0
    x[6, 0] = -1e30

    def run():
        whole = getattr(flambeau.from_numpy(x), name)(-1).numpy()
        alone = np.stack([getattr(flambeau.from_numpy(x[i:i + 1].copy()), name)(-1).numpy()[0] for i in range(len(x))])
        return whole, alone

    whole, alone = with_cpu_capability(cap, run)
    np.testing.assert_array_equal(whole.view(np.int32), alone.view(np.int32))
