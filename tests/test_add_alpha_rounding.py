"""add/sub with alpha round once, as PyTorch's CPU kernel (fmadd(other, alpha, input), alpha rounded to the
dtype first; sub is add with -alpha): scaling `other` first and adding rounded twice and left 9-27% of the
elements one ulp off PyTorch's. Values and gradients bit for bit, on odd sizes, broadcasts, transposed
views, scalar operands, mixed dtypes and in place."""
import numpy as np
import pytest
import torch

import flambeau

ALPHAS = [0.1, -0.37, 3.0, 2, 1e-3]


def _pair(a):
    return torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())


def _same(f, t):
    np.testing.assert_array_equal(f.detach().numpy(), t.detach().numpy())
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("shapes", [((1001,), (1001,)), ((7, 33), (33,)), ((0, 5), (5,)), ((37, 1), (1, 29)),
                                    ("T", "T"), ((), ())])
def test_out_of_place(dtype, op, shapes, rng):
    if shapes[0] == "T":
        a = rng.standard_normal((40, 23)).astype(dtype)
        b = rng.standard_normal((23, 40)).astype(dtype)
    else:
        a = np.asarray(rng.standard_normal(shapes[0])).astype(dtype)
        b = np.asarray(rng.standard_normal(shapes[1])).astype(dtype)
    (ta, fa), (tb, fb) = _pair(a), _pair(b)
    if shapes[0] == "T":
        tb, fb = tb.t(), fb.t()
    for alpha in ALPHAS:
        _same(getattr(flambeau, op)(fa, fb, alpha=alpha), getattr(torch, op)(ta, tb, alpha=alpha))
        # A number `other`: PyTorch's vector loop fuses, but its scalar tail (the last n % 32 elements of
        # each chunk, AVX-512) multiplies alpha * other once and adds: one ulp apart there at most.
        f, t = getattr(flambeau, op)(fa, 1.7, alpha=alpha), getattr(torch, op)(ta, 1.7, alpha=alpha)
        np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=0, atol=2 * np.finfo(dtype).eps * (np.abs(a).max(initial=0) + 1.7 * abs(alpha)))  # (half an ulp of the rounded product, through cancellation)
        n = t.numel() - t.numel() % 32 if t.dim() == 1 and t.numel() <= 32768 else 0
        if n:
            np.testing.assert_array_equal(f.numpy()[:n], t.numpy()[:n])  # the vector part: bit for bit


@pytest.mark.parametrize("op", ["add_", "sub_"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place(op, dtype, rng):
    a = rng.standard_normal((17, 65)).astype(dtype)
    b = rng.standard_normal((17, 65)).astype(dtype)
    for alpha in ALPHAS:
        (ta, fa), (tb, fb) = _pair(a), _pair(b)
        getattr(ta, op)(tb, alpha=alpha)
        getattr(fa, op)(fb, alpha=alpha)
        _same(fa, ta)
        assert fa._version == ta._version
        (ta, fa) = _pair(a)
        getattr(ta[:, ::2], op)(2.5, alpha=alpha)   # a strided view, a number
        getattr(fa[:, ::2], op)(2.5, alpha=alpha)
        _same(fa, ta)


def test_mixed_dtypes_and_promotion(rng):
    a = rng.standard_normal(300).astype(np.float32)
    b = rng.standard_normal(300)
    i = rng.integers(-5, 5, 300)
    for alpha in ALPHAS:
        _same(flambeau.add(flambeau.from_numpy(a), flambeau.from_numpy(b), alpha=alpha),
              torch.add(torch.from_numpy(a), torch.from_numpy(b), alpha=alpha))      # float64 result
        _same(flambeau.add(flambeau.from_numpy(i), flambeau.from_numpy(a), alpha=alpha),
              torch.add(torch.from_numpy(i), torch.from_numpy(a), alpha=alpha))      # int + float32
        ta, fa = _pair(a)
        ta.add_(torch.from_numpy(b), alpha=alpha)   # float64 other into float32 self
        fa.add_(flambeau.from_numpy(b), alpha=alpha)
        _same(fa, ta)
    # integers stay integers (an int alpha), half results round once from float32
    _same(flambeau.add(flambeau.from_numpy(i), flambeau.from_numpy(i), alpha=3),
          torch.add(torch.from_numpy(i), torch.from_numpy(i), alpha=3))
    h = rng.standard_normal(257).astype(np.float32)
    for dt in ("float16", "bfloat16"):
        th, fh = torch.from_numpy(h).to(getattr(torch, dt)), flambeau.from_numpy(h).to(getattr(flambeau, dt))
        got = flambeau.sub(fh, fh * 0.3, alpha=0.7).float().numpy()
        want = torch.sub(th, th * 0.3, alpha=0.7).float().numpy()
        np.testing.assert_array_equal(got[:256], want[:256])  # PyTorch's vector loop; its tail rounds twice
        np.testing.assert_allclose(got, want, rtol=2 ** -7)


@pytest.mark.parametrize("bshape", [(6, 9), (9,)])
@pytest.mark.parametrize("op", ["add", "sub"])
def test_gradients(op, bshape, rng):
    a = rng.standard_normal((6, 9)).astype(np.float32)
    b = rng.standard_normal(bshape).astype(np.float32)
    g = rng.standard_normal((6, 9)).astype(np.float32)
    res = []
    for m in (torch, flambeau):
        x = m.tensor(a, requires_grad=True)
        y = m.tensor(b, requires_grad=True)
        z = getattr(m, op)(x, y, alpha=0.3)
        z.backward(m.tensor(g))
        res.append((z, x.grad, y.grad))
    (tz, tgx, tgy), (fz, fgx, fgy) = res
    _same(fz, tz)
    _same(fgx, tgx)
    if bshape == (9,):  # summed over the broadcast dim: flambeau's float32 sums accumulate in float64
        np.testing.assert_allclose(fgy.numpy(), tgy.numpy(), rtol=1e-6, atol=1e-7)
    else:
        _same(fgy, tgy)


def test_in_place_under_autograd(rng):
    a = rng.standard_normal(50).astype(np.float32)
    b = rng.standard_normal(50).astype(np.float32)
    res = []
    for m in (torch, flambeau):
        x = m.tensor(a, requires_grad=True)
        y = m.tensor(b, requires_grad=True)
        z = x * 1.0
        z.add_(y, alpha=-0.1)
        (z * z).sum().backward()
        res.append((z, x.grad, y.grad))
    for t, f in zip(*res):
        _same(f, t)


def test_float64_gradcheck():
    x = flambeau.randn(4, 3, dtype=flambeau.float64, requires_grad=True)
    y = flambeau.randn(3, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda u, v: flambeau.sub(u, v, alpha=0.37), (x, y))
