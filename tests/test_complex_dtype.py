"""complex64 / complex128 tensors against PyTorch (CPU): dtypes and promotion, creation, numpy and
checkpoint round trips, printing, the views (real, imag, view_as_real/complex), arithmetic, reductions,
matmul, comparisons, and gradients under PyTorch's complex convention."""
import io
import math

import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import CDTS, crand, both, npy, assert_same, check

ALL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
       "complex64", "complex128"]


# ---------------------------------------------------------------- dtypes and promotion
def test_dtype_objects():
    for name in CDTS:
        d, t = getattr(flambeau, name), getattr(torch, name)
        assert d.is_complex and not d.is_floating_point
        assert d.itemsize == t.itemsize
        assert repr(d) == "flambeau." + name
        assert d.to_real() is getattr(flambeau, str(t.to_real()).split(".")[-1])
    assert flambeau.cfloat is flambeau.complex64 and flambeau.cdouble is flambeau.complex128
    assert flambeau.float32.to_complex() is flambeau.complex64
    assert flambeau.float64.to_complex() is flambeau.complex128
    assert not flambeau.float32.is_complex


@pytest.mark.parametrize("a", ALL)
def test_promote_types_with_complex(a):
    for b in CDTS:
        for x, y in ((a, b), (b, a)):
            expected = torch.promote_types(getattr(torch, x), getattr(torch, y))
            got = flambeau.promote_types(getattr(flambeau, x), getattr(flambeau, y))
            assert str(got).split(".")[-1] == str(expected).split(".")[-1], (x, y)


@pytest.mark.parametrize("tensor_dt", ["bool", "int32", "int64", "float32", "float64", "complex64", "complex128"])
def test_result_type_with_complex_scalars_and_zero_dim(tensor_dt):
    tt = torch.ones(3, dtype=getattr(torch, tensor_dt))
    ft = flambeau.ones(3, dtype=getattr(flambeau, tensor_dt))
    for other_t, other_f in ((1j, 1j), (2.5, 2.5), (2, 2),
                             (torch.tensor(1j, dtype=torch.complex128), flambeau.tensor(1j, dtype=flambeau.complex128)),
                             (torch.tensor(1j), flambeau.tensor(1j))):
        assert str(flambeau.result_type(ft, other_f)).split(".")[-1] == \
            str(torch.result_type(tt, other_t)).split(".")[-1], (tensor_dt, other_t)
        assert str((ft * other_f).dtype).split(".")[-1] == str((tt * other_t).dtype).split(".")[-1]


def test_default_complex_follows_default_dtype():
    old = flambeau.get_default_dtype()
    try:
        flambeau.set_default_dtype(flambeau.float64)
        assert flambeau.tensor(1 + 2j).dtype is flambeau.complex128
        assert (flambeau.ones(2) * 1j).dtype is flambeau.complex128
    finally:
        flambeau.set_default_dtype(old)
    assert flambeau.tensor([1 + 2j]).dtype is flambeau.complex64


def test_half_with_complex_scalar_raises():
    # PyTorch gives complex32, which flambeau does not have: an error, not another dtype.
    with pytest.raises(TypeError, match="complex32"):
        flambeau.ones(2, dtype=flambeau.float16) * 1j


# ---------------------------------------------------------------- creation and round trips
@pytest.mark.parametrize("dt", CDTS)
def test_creation(dt):
    d, t = getattr(flambeau, dt), getattr(torch, dt)
    data = [[1 + 2j, -3.5 - 0.25j], [0j, 7 - 1e-3j]]
    assert_same(flambeau.tensor(data, dtype=d), torch.tensor(data, dtype=t))
    assert_same(flambeau.tensor([1, 2.5], dtype=d), torch.tensor([1, 2.5], dtype=t))
    assert_same(flambeau.zeros(2, 3, dtype=d), torch.zeros(2, 3, dtype=t))
    assert_same(flambeau.ones(4, dtype=d), torch.ones(4, dtype=t))
    assert_same(flambeau.full((2, 2), 1.5 - 2j, dtype=d), torch.full((2, 2), 1.5 - 2j, dtype=t))
    assert_same(flambeau.full((3,), 2.0, dtype=d), torch.full((3,), 2.0, dtype=t))
    assert flambeau.empty(2, dtype=d).dtype is d
    z = flambeau.tensor(data, dtype=d)
    assert_same(flambeau.zeros_like(z), torch.zeros_like(torch.tensor(data, dtype=t)))
    assert_same(flambeau.full_like(z, 3j), torch.full_like(torch.tensor(data, dtype=t), 3j))
    assert flambeau.full((2,), 1j).dtype is flambeau.complex64
    with pytest.raises(TypeError):
        flambeau.tensor([1 + 2j], dtype=flambeau.float32)


def test_python_and_numpy_scalars_round_trip():
    z = flambeau.tensor([1 + 2j, -3j])
    assert z.tolist() == torch.tensor([1 + 2j, -3j]).tolist()
    assert z[0].item() == 1 + 2j
    assert complex(z[1]) == -3j
    assert z.is_complex() and flambeau.is_complex(z) and not z.is_floating_point()
    assert z.type() == "flambeau.ComplexFloatTensor"


@pytest.mark.parametrize("dt", CDTS)
def test_numpy_round_trip_shares_memory(dt):
    a = crand((3, 4), dt)
    z = flambeau.from_numpy(a)
    assert z.dtype is getattr(flambeau, dt)
    a[0, 0] = 5 - 6j
    assert z[0, 0].item() == 5 - 6j  # shares memory
    back = z.numpy()
    assert back.dtype == a.dtype and np.array_equal(back, a)
    assert np.shares_memory(back, a)


@pytest.mark.parametrize("dt", CDTS)
def test_randn_and_rand_complex(dt):
    flambeau.manual_seed(0)
    z = flambeau.randn(200000, dtype=getattr(flambeau, dt))
    assert z.dtype is getattr(flambeau, dt)
    a = z.numpy()
    # PyTorch's complex normal: each part with variance 1/2 (so E|z|^2 = 1)
    assert abs(a.real.var() - 0.5) < 0.01 and abs(a.imag.var() - 0.5) < 0.01
    assert abs(a.mean()) < 0.01
    assert abs(np.mean(np.abs(a) ** 2) - 1) < 0.02
    u = flambeau.rand(100000, dtype=getattr(flambeau, dt)).numpy()
    assert 0 <= u.real.min() and u.real.max() < 1 and 0 <= u.imag.min() and u.imag.max() < 1
    assert abs(u.real.mean() - 0.5) < 0.01 and abs(u.imag.mean() - 0.5) < 0.01
    w = flambeau.empty(100000, dtype=getattr(flambeau, dt)).normal_()
    assert abs(w.numpy().real.var() - 0.5) < 0.01
    assert flambeau.randn_like(z).dtype is z.dtype


@pytest.mark.parametrize("dt", CDTS)
def test_save_load(dt, tmp_path):
    z = flambeau.tensor(crand((3, 5), dt))
    buf = io.BytesIO()
    flambeau.save({"z": z, "v": z[:, 1:4]}, buf)
    buf.seek(0)
    r = flambeau.load(buf)
    assert r["z"].dtype is z.dtype and np.array_equal(r["z"].numpy(), z.numpy())
    assert np.array_equal(r["v"].numpy(), z[:, 1:4].numpy())
    # a PyTorch checkpoint of complex tensors
    p = tmp_path / "c.pt"
    t = torch.tensor(crand((4, 2), dt))
    torch.save({"t": t}, p)
    got = flambeau.load(p)["t"]
    assert got.dtype is getattr(flambeau, dt) and np.array_equal(got.numpy(), t.numpy())


@pytest.mark.parametrize("dt", CDTS)
def test_conversions(dt):
    a = crand((5,), dt)
    t, f = both(a)
    for target in ("float32", "float64", "int64", "complex64", "complex128", "bool"):
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expect = t.to(getattr(torch, target))
        assert_same(f.to(getattr(flambeau, target)), expect)
    r = crand((5,), "float32")
    assert_same(flambeau.tensor(r).to(getattr(flambeau, dt)), torch.tensor(r).to(getattr(torch, dt)))
    assert_same(flambeau.tensor([0, 1, -2]).to(getattr(flambeau, dt)), torch.tensor([0, 1, -2]).to(getattr(torch, dt)))


# ---------------------------------------------------------------- printing
@pytest.mark.parametrize("data,dt", [
    ([1 + 2j, 3 - 4j], None), ([1 + 2j, 3.5 - 1e-3j, 0], None), ([[1.25 + 0.5j, -2j], [3, 4 + 1j]], "complex128"),
    (1 + 2j, None), ([1e10 + 1j, 1], None), ([0.123456 - 7.5j], "complex64"), ([], None)])
def test_repr_matches_pytorch(data, dt):
    f = flambeau.tensor(data, dtype=getattr(flambeau, dt) if dt else None)
    t = torch.tensor(data, dtype=getattr(torch, dt) if dt else (torch.complex64 if data == [] else None))
    if data == []:
        f = flambeau.tensor(data, dtype=flambeau.complex64)
    assert repr(f) == repr(t).replace("torch.", "flambeau.")


def test_repr_long_and_grad():
    a = crand((40, 30), "complex64")
    assert repr(flambeau.tensor(a)) == repr(torch.tensor(a))
    zf = flambeau.tensor([1 + 1j], requires_grad=True)
    zt = torch.tensor([1 + 1j], requires_grad=True)
    assert repr(zf) == repr(zt)


# ---------------------------------------------------------------- views
@pytest.mark.parametrize("dt", CDTS)
def test_real_imag_are_views(dt):
    a = crand((3, 4), dt)
    t, f = both(a)
    assert_same(f.real, t.real)
    assert_same(f.imag, t.imag)
    assert f.real.stride() == t.real.stride() and f.imag.stride() == t.imag.stride()
    f.real[0, 0] = 10.0
    f.imag[1] = -1.0
    t.real[0, 0] = 10.0
    t.imag[1] = -1.0
    assert_same(f, t)
    f.imag = flambeau.zeros(3, 4, dtype=getattr(flambeau, dt).to_real())
    t.imag = torch.zeros(3, 4, dtype=getattr(torch, dt).to_real())
    assert_same(f, t)
    x = flambeau.ones(3)
    assert x.real is x
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        x.imag


@pytest.mark.parametrize("dt", CDTS)
def test_view_as_real_and_complex(dt):
    a = crand((2, 3), dt)
    t, f = both(a)
    vr_t, vr_f = torch.view_as_real(t), flambeau.view_as_real(f)
    assert_same(vr_f, vr_t)
    assert vr_f.stride() == vr_t.stride()
    vr_f[0, 1, 1] = 42.0
    assert f[0, 1].item().imag == 42.0
    back = flambeau.view_as_complex(vr_f)
    assert back.dtype is f.dtype and np.array_equal(back.numpy(), f.numpy())
    back[1, 2] = 1 + 1j
    assert f[1, 2].item() == 1 + 1j
    # a strided (non-contiguous) complex tensor's view
    t, f = both(a)
    assert_same(flambeau.view_as_real(f[:, ::2]), torch.view_as_real(t[:, ::2]))
    assert_same(flambeau.view_as_real(f.t()), torch.view_as_real(t.t()))


def test_view_as_complex_errors():
    x = flambeau.zeros(4, 3)
    for bad, msg in ((x, "last dimension of size 2"), (flambeau.zeros(2, 2, dtype=flambeau.int64), "float and double"),
                     (flambeau.zeros(2, 2).t(), "last dimension with stride 1"),
                     (flambeau.zeros(3, 3)[:, :2], "stride divisible by 2"),
                     (flambeau.zeros(10)[1:3], "storage_offset divisible by 2"),
                     (flambeau.zeros(()), "one or more dimensions")):
        with pytest.raises(RuntimeError, match=msg):
            flambeau.view_as_complex(bad)
    with pytest.raises(RuntimeError, match="complex tensors"):
        flambeau.view_as_real(x)


def test_view_grads():
    check(lambda z: torch.view_as_real(z) * 2, lambda z: flambeau.view_as_real(z) * 2, [crand((3, 2), "complex128")])
    check(lambda r: torch.view_as_complex(r) * (1 + 1j), lambda r: flambeau.view_as_complex(r) * (1 + 1j),
          [crand((3, 2), "float64")])
    check(lambda z: z.real * 3 + z.imag, lambda z: z.real * 3 + z.imag, [crand((4,), "complex128")])


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_complex_and_polar(dt):
    a, b = crand((3, 4), dt), crand((4,), dt)
    check(torch.complex, flambeau.complex, [a, b])
    check(torch.polar, flambeau.polar, [np.abs(a), b])
    with pytest.raises(RuntimeError):
        flambeau.complex(flambeau.ones(2), flambeau.ones(2, dtype=flambeau.float64))
    with pytest.raises(RuntimeError):
        flambeau.complex(flambeau.ones(2, dtype=flambeau.int64), flambeau.ones(2, dtype=flambeau.int64))


def test_conj_and_friends():
    a = crand((3, 2), "complex64")
    t, f = both(a)
    assert_same(f.conj(), t.conj())
    assert_same(flambeau.conj_physical(f), torch.conj_physical(t))
    # flambeau's conj is an eager copy: never a lazy conjugate, so is_conj() stays False and
    # resolve_conj() has nothing to resolve.
    assert not f.conj().is_conj() and not flambeau.is_conj(f.conj())
    c = f.conj()
    assert c.resolve_conj() is c
    g = f.clone()
    g.conj_physical_()
    assert_same(g, t.conj())
    check(lambda z: z.conj() * 2, lambda z: z.conj() * 2, [crand((5,), "complex128")])
    check(lambda z: z.conj_physical(), lambda z: z.conj_physical(), [crand((5,), "complex128")])


# ---------------------------------------------------------------- arithmetic and gradients
BINARY = [("add", lambda x, y: x + y), ("sub", lambda x, y: x - y), ("mul", lambda x, y: x * y),
          ("div", lambda x, y: x / y), ("add_alpha", lambda x, y: x.add(y, alpha=2.5)),
          ("sub_alpha", lambda x, y: x.sub(y, alpha=-0.5))]


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("name,fn", BINARY)
def test_binary(name, fn, dt):
    check(fn, fn, [crand((3, 4), dt), crand((3, 4), dt)])
    check(fn, fn, [crand((3, 1), dt), crand((1, 4), dt)])  # broadcasting
    rdt = "float32" if dt == "complex64" else "float64"
    check(fn, fn, [crand((3, 4), dt), crand((4,), rdt)])  # with a real tensor
    check(fn, fn, [crand((4,), rdt), crand((2, 4), dt)])


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("s", [2.5, -3, 1j, 0.5 - 2j])
def test_binary_with_scalars(s, dt):
    for fn in (lambda x: x + s, lambda x: s + x, lambda x: x - s, lambda x: s - x, lambda x: x * s,
               lambda x: s * x, lambda x: x / s, lambda x: s / x):
        check(fn, fn, [crand((5,), dt)])


def test_real_tensor_with_complex_scalar():
    for fn in (lambda x: x * 1j, lambda x: x + (2 - 1j), lambda x: (1 + 1j) / x, lambda x: x - 1j):
        check(fn, fn, [crand((4,), "float32")])
        check(fn, fn, [crand((4,), "float64")])
    check(lambda x: x * 1j, lambda x: x * 1j, [np.arange(4)], grad=False)


@pytest.mark.parametrize("dt", CDTS)
def test_unary(dt):
    for fn in (lambda z: -z, torch.exp, torch.log, torch.sqrt, torch.reciprocal, torch.abs, torch.angle,
               torch.square, torch.sgn, torch.rsqrt):
        name = getattr(fn, "__name__", "neg")
        ffn = getattr(flambeau, name) if name != "<lambda>" else fn
        check(fn, ffn, [crand((4, 3), dt)])
    check(lambda z: z.exp().log(), lambda z: z.exp().log(), [crand((6,), dt, -1, 1)])


def test_sqrt_branches_and_zero():
    vals = np.array([4 + 0j, -4 + 0j, -4 - 0j, 0j, -0.0 - 0j, 3 + 4j, -3 + 4j, -3 - 4j, 1e-30 - 1e-30j, 1e30 + 1e30j,
                     -2.5 + 1e-20j], dtype=np.complex128)
    check(torch.sqrt, flambeau.sqrt, [vals], grad=False)
    check(torch.sqrt, flambeau.sqrt, [vals.astype(np.complex64)], grad=False)


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("e", [2, 3, 0.5, -1, -2, 2.5, 1 + 1j, 0, 1])
def test_pow_scalar(e, dt):
    check(lambda z: z ** e, lambda z: z ** e, [crand((5,), dt)])


@pytest.mark.parametrize("dt", CDTS)
def test_pow_tensor_and_rpow(dt):
    check(torch.pow, flambeau.pow, [crand((4,), dt), crand((4,), dt, -1, 1)])
    check(lambda z: 2.0 ** z, lambda z: 2.0 ** z, [crand((4,), dt, -1, 1)])
    check(lambda z: z.pow(2), lambda z: z.pow(2), [crand((4,), dt)])


def test_inplace_ops():
    for op in ("add_", "sub_", "mul_", "div_"):
        a, b = crand((3,), "complex64"), crand((3,), "complex64")
        t, f = both(a)
        getattr(t, op)(torch.tensor(b))
        getattr(f, op)(flambeau.tensor(b))
        assert_same(f, t, what=op)
    a = crand((3,), "complex64")
    t, f = both(a)
    t += 1j
    f += 1j
    t *= torch.tensor(2.0)
    f *= flambeau.tensor(2.0)
    t.exp_()
    f.exp_()
    assert_same(f, t)
    with pytest.raises(RuntimeError, match="can't be cast"):
        flambeau.ones(3).add_(flambeau.ones(3, dtype=flambeau.complex64))
    # autograd through an in-place op on a complex non-leaf
    check(lambda z: (z * 1).mul_(z), lambda z: (z * 1).mul_(z), [crand((3,), "complex128")])


# ---------------------------------------------------------------- reductions, matmul, comparisons
@pytest.mark.parametrize("dt", CDTS)
def test_sum_mean(dt):
    a = crand((3, 4, 5), dt)
    for kw in ({}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"dim": (0, 2)}):
        check(lambda z: z.sum(**kw), lambda z: z.sum(**kw), [a])
        check(lambda z: z.mean(**kw), lambda z: z.mean(**kw), [a])
    check(lambda z: torch.sum(z), lambda z: flambeau.sum(z), [crand((), dt)])


@pytest.mark.parametrize("dt", CDTS)
def test_matmul(dt):
    rdt = "float32" if dt == "complex64" else "float64"
    check(torch.matmul, flambeau.matmul, [crand((3, 5), dt), crand((5, 2), dt)])
    check(lambda a, b: a @ b, lambda a, b: a @ b, [crand((2, 3, 4), dt), crand((4, 6), dt)])
    for x, y in ((crand((3, 4), rdt), crand((4, 2), dt)), (crand((3, 4), dt), crand((4,), rdt))):
        with pytest.raises(RuntimeError):  # no promotion in matrix products, as PyTorch's
            torch.tensor(x) @ torch.tensor(y)
        with pytest.raises(RuntimeError, match="same dtype"):
            flambeau.tensor(x) @ flambeau.tensor(y)
    check(torch.mm, flambeau.mm, [crand((3, 4), dt), crand((4, 2), dt)])
    check(torch.bmm, flambeau.bmm, [crand((2, 3, 4), dt), crand((2, 4, 2), dt)])
    check(torch.dot, flambeau.dot, [crand((5,), dt), crand((5,), dt)])
    check(torch.vdot, flambeau.vdot, [crand((5,), dt), crand((5,), dt)])
    check(torch.outer, flambeau.outer, [crand((3,), dt), crand((2,), dt)])
    check(torch.mv, flambeau.mv, [crand((3, 4), dt), crand((4,), dt)])


def test_comparisons():
    a = crand((6,), "complex64")
    b = a.copy()
    b[::2] += 1e-3
    b[1] = a[1].real + 0j
    ta, fa = both(a)
    tb, fb = both(b)
    assert_same(fa == fb, ta == tb)
    assert_same(fa != fb, ta != tb)
    assert_same(flambeau.eq(fa, 1 + 1j), torch.eq(ta, 1 + 1j))
    assert_same(flambeau.isclose(fa, fb), torch.isclose(ta, tb))
    assert_same(flambeau.isclose(fa, fb, rtol=1e-2, atol=1e-3), torch.isclose(ta, tb, rtol=1e-2, atol=1e-3))
    assert flambeau.allclose(fa, fa + 1e-9) == torch.allclose(ta, ta + 1e-9)
    assert flambeau.allclose(fa, fb) == torch.allclose(ta, tb)
    assert flambeau.equal(fa, fa.clone()) and not flambeau.equal(fa, fb)
    n = np.array([complex(np.nan, 1), 1 + 1j, complex(1, np.inf)], dtype=np.complex64)
    tn, fn_ = both(n)
    assert_same(flambeau.isclose(fn_, fn_, equal_nan=True), torch.isclose(tn, tn, equal_nan=True))
    assert_same(fn_.isnan(), tn.isnan())
    assert_same(fn_.isinf(), tn.isinf())
    assert_same(fn_.isfinite(), tn.isfinite())
    assert_same(flambeau.isreal(fa), torch.isreal(ta))


# ---------------------------------------------------------------- data movement on complex tensors
def test_data_movement_ops():
    a = crand((4, 5), "complex128")
    t, f = both(a)
    cases = [lambda x: x[1:3, ::2], lambda x: x.t().contiguous(), lambda x: x.reshape(5, 4),
             lambda x: x.flip(0), lambda x: x.roll(2, 1), lambda x: x[[0, 2]],
             lambda x: x.gather(1, torch.tensor([[0, 1]] * 4) if isinstance(x, torch.Tensor) else
                                flambeau.tensor([[0, 1]] * 4)),
             lambda x: (torch if isinstance(x, torch.Tensor) else flambeau).cat([x, x], 1),
             lambda x: (torch if isinstance(x, torch.Tensor) else flambeau).stack([x, x]),
             lambda x: x.masked_fill(x.real > 0, 0), lambda x: x.unsqueeze(0).expand(2, 4, 5).clone(),
             lambda x: x.index_select(1, (torch if isinstance(x, torch.Tensor) else flambeau).tensor([4, 0]))]
    for fn in cases:
        check(fn, fn, [a])
    fz = f.clone()
    tz = t.clone()
    fz[1] = 3 - 1j
    tz[1] = 3 - 1j
    assert_same(fz, tz)
    assert_same((f != 0).nonzero(), (t != 0).nonzero())
    w_f = flambeau.where(f.real > 0, f, flambeau.zeros_like(f))
    w_t = torch.where(t.real > 0, t, torch.zeros_like(t))
    assert_same(w_f, w_t)


# ---------------------------------------------------------------- PyTorch's gradient convention
def test_wirtinger_gradients():
    a = crand((5,), "complex128")
    for loss in (lambda z: (z.abs() ** 2).sum(), lambda z: z.abs().sum(), lambda z: (z * z).real.sum(),
                 lambda z: (z.conj() * z).real.sum(), lambda z: z.angle().sum(), lambda z: (z.exp()).imag.sum(),
                 lambda z: (1 / z).abs().sum(), lambda z: z.sqrt().real.sum()):
        zt = torch.tensor(a, requires_grad=True)
        zf = flambeau.tensor(a, requires_grad=True)
        (gt,) = torch.autograd.grad(loss(zt), zt)
        (gf,) = flambeau.autograd.grad(loss(zf), zf)
        assert_same(gf, gt)


def _numeric_complex_grad(fn, z, eps=1e-6):
    """dL/dx + i dL/dy by central differences, for a real-valued fn of complex128 numpy z."""
    g = np.zeros_like(z)
    for i in range(z.size):
        for unit in (1, 1j):
            zp, zm = z.copy(), z.copy()
            zp.flat[i] += eps * unit
            zm.flat[i] -= eps * unit
            d = (fn(zp) - fn(zm)) / (2 * eps)
            g.flat[i] += d * unit
    return g


def test_gradcheck_complex128():
    a = crand((4,), "complex128")
    b = crand((4,), "complex128")
    wb = flambeau.tensor(b)

    def loss_f(z):
        return float(((z * wb) / (z + 3)).exp().abs().sum() + (z @ z.conj()).real)

    def loss_np(v):
        return loss_f(flambeau.tensor(v))

    zf = flambeau.tensor(a, requires_grad=True)
    l = ((zf * wb) / (zf + 3)).exp().abs().sum() + (zf @ zf.conj()).real
    (g,) = flambeau.autograd.grad(l, zf)
    np.testing.assert_allclose(g.numpy(), _numeric_complex_grad(loss_np, a), rtol=1e-6, atol=1e-7)


def test_backward_requires_real_scalar():
    z = flambeau.tensor([1 + 1j], requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar outputs"):
        (z * 2).sum().backward()


def test_grad_accumulates_for_complex_leaf():
    a = crand((3,), "complex128")
    t, f = both(a, requires_grad=True)
    for _ in range(2):
        (t * t).abs().sum().backward()
        (f * f).abs().sum().backward()
    assert_same(f.grad, t.grad)


# ---------------------------------------------------------------- not covered: a clear error
@pytest.mark.parametrize("op", ["erf", "lgamma", "maximum", "relu", "floor", "sort", "argmax", "nansum"])
def test_uncovered_ops_raise_type_error(op):
    z = flambeau.tensor([1 + 2j, 3 - 1j])
    # (nansum says PyTorch's "nansum on CPU does not support complex inputs")
    with pytest.raises((TypeError, RuntimeError), match="complex64|Complex|complex inputs"):
        if op == "maximum":
            flambeau.maximum(z, z)
        else:
            getattr(z, op)()


# ---------------------------------------------------------------- training with complex parameters
@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizers_update_complex_parameters_as_pytorch(opt):
    # As PyTorch's optimizers: a complex parameter is updated as its (re, im) pairs.
    w0 = crand((3, 4), "complex64")
    x = crand((5, 3), "complex64")
    kw = {"lr": 0.05}
    if opt == "SGD":
        kw["momentum"] = 0.9
    pt = torch.nn.Parameter(torch.tensor(w0))
    pf = flambeau.nn.Parameter(flambeau.tensor(w0))
    ot = getattr(torch.optim, opt)([pt], **kw)
    of = getattr(flambeau.optim, opt)([pf], **kw)
    xt, xf = torch.tensor(x), flambeau.tensor(x)
    for _ in range(3):
        ot.zero_grad()
        of.zero_grad()
        (xt @ pt).abs().pow(2).mean().backward()
        (xf @ pf).abs().pow(2).mean().backward()
        assert_same(pf.grad, pt.grad)
        ot.step()
        of.step()
    assert_same(pf.detach(), pt.detach(), tol=(1e-5, 1e-4))


@pytest.mark.parametrize("dt", CDTS)
def test_einsum(dt):
    rdt = "float32" if dt == "complex64" else "float64"
    check(lambda a, b: torch.einsum("bix,iox->box", a, b), lambda a, b: flambeau.einsum("bix,iox->box", a, b),
          [crand((2, 3, 4), dt), crand((3, 5, 4), dt)])
    check(lambda a, b: torch.einsum("ij,jk", a, b), lambda a, b: flambeau.einsum("ij,jk", a, b),
          [crand((2, 3), dt), crand((3, 4), dt)])
    with pytest.raises(RuntimeError):
        flambeau.einsum("ij,jk", flambeau.tensor(crand((2, 3), rdt)), flambeau.tensor(crand((3, 4), dt)))
    check(lambda a, b, c: torch.einsum("i,i,i->", a, b, c), lambda a, b, c: flambeau.einsum("i,i,i->", a, b, c),
          [crand((4,), dt), crand((4,), dt), crand((4,), dt)])


def test_real_implementations_refuse_complex_operands():
    # dispatch.py runs the real implementation of the hot ops first and takes the complex path only
    # when it raised: each must refuse complex operands (never compute on the real parts).
    from flambeau._complex import dispatch
    from flambeau._complex.elementwise import UNARY
    z = flambeau.tensor([1 + 2j, 3 - 1j])
    x = flambeau.tensor([1.0, 2.0])
    n = flambeau.tensor([1, 2])
    mats = (flambeau.tensor([[1 + 1j, 2j], [3, 4]]), flambeau.tensor([[1.0, 2.0], [3.0, 4.0]]))
    for name in dispatch.TRY:
        orig = getattr(flambeau, name).__wrapped__
        if name in ("matmul", "mm", "bmm", "mv", "dot", "inner", "outer"):
            a, b = mats
            if name == "bmm":
                a, b = a[None], b[None]
            if name in ("mv", "dot", "inner", "outer"):
                b = b[0]
            if name in ("dot", "inner", "outer"):
                a = a[0]
            cases = [(a, b), (b.to(flambeau.complex64), b)]
        elif name in ("neg", "negative", "reciprocal", "exp", "log", "sqrt", "rsqrt", "square", "abs",
                      "absolute", "sum", "mean") or name in UNARY:
            cases = [(z,), (z[0],)]
        else:
            cases = [(z, z), (z, x), (x, z), (z, 2.0), (x, 1j), (n, 1j), (z, n)]
        for args in cases:
            # refused, or (composed of ops that reach the complex arithmetic, as outer of a complex and a
            # real vector) the complex answer
            try:
                r = orig(*args)
            except dispatch._REFUSALS:
                continue
            expect = getattr(flambeau, name)._complex_route(*args)
            assert r.dtype is expect.dtype and np.allclose(npy(r), npy(expect)), (name, args)


def _cfloat_cdouble_scenario(lib):
    x = lib.tensor([[1.5, -2.0], [3.0, 4.0]])
    a, b = x.cfloat(), x.t().cdouble()
    return [str(a.dtype).split(".")[1], a.tolist(), str(b.dtype).split(".")[1], b.tolist(), a.cfloat() is a,
            str(lib.tensor([1, 2]).cfloat().dtype).split(".")[1], b.is_contiguous(), b.stride(),
            x.const_data_ptr() == x.data_ptr()]


def test_cfloat_cdouble_const_data_ptr_match_pytorch():
    import torch
    assert _cfloat_cdouble_scenario(flambeau) == _cfloat_cdouble_scenario(torch)
