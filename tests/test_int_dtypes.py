"""The narrow integer dtypes (uint8, int8, int16, int32) against PyTorch: dtype objects, creation,
conversion to and from every dtype, numpy and DLPack exchange, arithmetic with wraparound, type
promotion (every pair, every operand tier, Python scalars), comparisons, reductions, sorting,
indexing (int32 index tensors, uint8 masks), joins and moves, printing, save/load, the data
pipeline (default_collate, ToTensor), and clear errors where flambeau has no kernel."""
import io
import itertools
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, fdt, tdt

NARROW = ["uint8", "int8", "int16", "int32"]
ALL = NARROW + ["int64", "float32", "float64", "bool"]
NP = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
      "float32": np.float32, "float64": np.float64, "bool": np.bool_}
LIMITS = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2**31, 2**31 - 1)}


def full_range(dt, shape, rng):
    """Random values over the whole range of a narrow integer dtype (numpy array of that dtype)."""
    lo, hi = LIMITS[dt]
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(NP[dt])


def both(arr, dt=None):
    """(flambeau, torch) tensors holding numpy array arr (as dtype dt when given)."""
    arr = np.asarray(arr)
    if dt is not None:
        return flambeau.tensor(arr, dtype=fdt(dt)), torch.tensor(arr, dtype=tdt(dt))
    return flambeau.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


@pytest.fixture
def rng():
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


# ---- dtype objects -------------------------------------------------------------------------------------------

def test_dtype_objects():
    assert flambeau.int is flambeau.int32 and flambeau.short is flambeau.int16 and flambeau.long is flambeau.int64
    for name in NARROW:
        d, t = fdt(name), tdt(name)
        assert repr(d) == "flambeau." + name
        assert d.itemsize == t.itemsize
        assert d.is_signed == t.is_signed
        assert d.is_floating_point is False
        import pickle
        assert pickle.loads(pickle.dumps(d)) is d
        info, tinfo = flambeau.iinfo(d), torch.iinfo(t)
        assert (info.min, info.max, info.bits) == (tinfo.min, tinfo.max, tinfo.bits)
    assert flambeau.iinfo(flambeau.int).max == 2**31 - 1


@pytest.mark.parametrize("name,method", [("int32", "int"), ("int16", "short"), ("int8", "char"), ("uint8", "byte"),
                                         ("int64", "long")])
def test_cast_methods(name, method):
    a = np.array([-300.7, -1.5, 0.0, 2.9, 127.0, 200.2, 70000.0])
    f, t = both(a, "float64")
    assert_close(getattr(f, method)(), getattr(t, method)())
    r = getattr(f, method)()
    assert getattr(r, method)() is r  # already that dtype: the same tensor, as PyTorch


@pytest.mark.parametrize("cls,name", [("IntTensor", "int32"), ("ShortTensor", "int16"), ("CharTensor", "int8"),
                                      ("ByteTensor", "uint8")])
def test_legacy_types(cls, name):
    f = getattr(flambeau, cls)([1, 2, 3])
    assert_close(f, getattr(torch, cls)([1, 2, 3]))
    assert isinstance(f, getattr(flambeau, cls))
    assert not isinstance(f, flambeau.LongTensor)
    assert f.type() == "flambeau." + cls
    assert getattr(flambeau, cls)(2, 3).dtype is fdt(name)
    assert flambeau.zeros(2).type(f"flambeau.{cls}").dtype is fdt(name)


# ---- creation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_creation(dt):
    F, T = fdt(dt), tdt(dt)
    assert_close(flambeau.zeros(2, 3, dtype=F), torch.zeros(2, 3, dtype=T))
    assert_close(flambeau.ones(4, dtype=F), torch.ones(4, dtype=T))
    assert_close(flambeau.full((2, 2), 7, dtype=F), torch.full((2, 2), 7, dtype=T))
    assert_close(flambeau.full((2,), -1, dtype=F), torch.full((2,), -1, dtype=T))  # uint8: 255
    assert_close(flambeau.full((2,), 2.7, dtype=F), torch.full((2,), 2.7, dtype=T))
    assert flambeau.empty(3, dtype=F).dtype is F
    assert_close(flambeau.arange(5, dtype=F), torch.arange(5, dtype=T))
    assert_close(flambeau.arange(2, 11, 3, dtype=F), torch.arange(2, 11, 3, dtype=T))
    assert_close(flambeau.linspace(0, 10, 5, dtype=F), torch.linspace(0, 10, 5, dtype=T))
    assert_close(flambeau.eye(3, 4, dtype=F), torch.eye(3, 4, dtype=T))
    x = flambeau.tensor([[1, 2], [3, 4]], dtype=F)
    for fn in ("zeros_like", "ones_like", "empty_like"):
        assert getattr(flambeau, fn)(x).dtype is F
    assert_close(flambeau.full_like(x, 5), torch.full_like(torch.tensor([[1, 2], [3, 4]], dtype=T), 5))
    assert_close(x.new_full((3,), 9), torch.full((3,), 9, dtype=T))
    r = flambeau.randint(0, 100, (50,), dtype=F)
    assert r.dtype is F and int(r.min()) >= 0 and int(r.max()) < 100
    data = [[1, -2, 3], [100, 0, -100]] if dt != "uint8" else [[1, 2, 3], [100, 0, 255]]
    assert_close(flambeau.tensor(data, dtype=F), torch.tensor(data, dtype=T))
    fl = [1.7, -1.7, 0.2, -0.0] if dt != "uint8" else [1.7, 254.9, 0.2]  # negative floats into uint8 overflow
    assert_close(flambeau.tensor(fl, dtype=F), torch.tensor(fl, dtype=T))
    assert_close(flambeau.tensor([True, False], dtype=F), torch.tensor([True, False], dtype=T))
    assert_close(flambeau.tensor(5, dtype=F), torch.tensor(5, dtype=T))


def test_arange_wraps_uint8():
    assert_close(flambeau.arange(250, 260, dtype=flambeau.uint8), torch.arange(250, 260, dtype=torch.uint8))


@pytest.mark.parametrize("dt", NARROW)
def test_overflow_checks(dt):
    """Values stored into a narrow tensor are checked as PyTorch does; -1 into uint8 is allowed (255)."""
    lo, hi = LIMITS[dt]
    F, T = fdt(dt), tdt(dt)
    for v in (hi + 1, -2**40, float("nan"), float("inf"), hi + 0.5, lo - 0.5 if dt != "uint8" else -0.5):
        with pytest.raises(RuntimeError, match="without overflow"):
            torch.full((1,), v, dtype=T)
        cname = "int" if dt == "int32" else f"{dt}_t"  # (c10's names, which PyTorch's message uses)
        with pytest.raises(RuntimeError, match=f"value cannot be converted to type {cname} without overflow"):
            flambeau.full((1,), v, dtype=F)
        with pytest.raises(RuntimeError, match="without overflow"):
            flambeau.zeros(2, dtype=F).fill_(v)
        with pytest.raises(RuntimeError, match="without overflow"):
            flambeau.zeros(2, dtype=F).masked_fill(flambeau.tensor([True, False]), v)
        with pytest.raises(RuntimeError, match="without overflow"):
            x = flambeau.zeros(2, dtype=F)
            x[0] = v
        with pytest.raises(RuntimeError, match=f"value cannot be converted to type {dt} without overflow"):
            flambeau.tensor([1, v], dtype=F)
    for v in (lo, hi, -1 if dt != "uint8" else -255):
        x, t = flambeau.zeros(2, dtype=F), torch.zeros(2, dtype=T)
        x.fill_(v), t.fill_(v)
        assert_close(x, t)
        x[1], t[1] = v, v
        assert_close(x, t)
    # Arithmetic with an out-of-range Python int wraps (no check), as in PyTorch.
    a = np.array([1, 2, 3]).astype(NP[dt])
    f, t = both(a)
    assert_close(f + 300, t + 300)
    assert_close(f * 1000, t * 1000)


# ---- conversion ----------------------------------------------------------------------------------------------

def _source(dt, rng):
    if dt == "bool":
        return rng.random(20) < 0.5
    if dt in ("float32", "float64"):
        # truncation toward zero, negative values into unsigned (wrapping through int32, as PyTorch's CPU),
        # and values beyond a narrow type's range (but within int32's)
        vals = np.concatenate([rng.uniform(-300, 300, 12),
                               [-1.0, -3.7, 3.7, 255.5, 256.0, 300.0, -129.0, 70000.0, -40000.0, -0.0]])
        return vals.astype(NP[dt])
    if dt == "int64":
        return rng.integers(-2**40, 2**40, 20).astype(np.int64)
    return full_range(dt, (20,), rng)


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_conversion_every_pair(src, dst, rng):
    a = _source(src, rng)
    f, t = both(a)
    assert_close(f.to(fdt(dst)), t.to(tdt(dst)))
    assert_close(f[::2].to(fdt(dst)), t[::2].to(tdt(dst)))  # strided source
    out_f, out_t = flambeau.zeros(len(a), dtype=fdt(dst)), torch.zeros(len(a), dtype=tdt(dst))
    out_f.copy_(f), out_t.copy_(t)
    assert_close(out_f, out_t)


# ---- numpy / DLPack ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_numpy_round_trip(dt, rng):
    a = full_range(dt, (3, 4), rng)
    f = flambeau.from_numpy(a)
    assert f.dtype is fdt(dt)
    a[0, 0] = 7
    assert int(f[0, 0]) == 7  # shares memory
    back = f.numpy()
    assert back.dtype == NP[dt]
    np.testing.assert_array_equal(back, a)
    assert flambeau.tensor(a).dtype is fdt(dt)  # numpy arrays keep their integer type, as PyTorch
    assert flambeau.as_tensor(a).dtype is fdt(dt)
    assert flambeau.tensor(a[0, 0]).dtype is fdt(dt)  # numpy scalar
    assert_close(flambeau.tensor(a.T), torch.tensor(a.T))
    assert_close(flambeau.from_numpy(a[:, ::2]), torch.from_numpy(a[:, ::2]))
    assert np.asarray(f).dtype == NP[dt]
    assert f.tolist() == a.tolist()
    assert f[1, 2].item() == int(a[1, 2]) and isinstance(f[1, 2].item(), int)


@pytest.mark.parametrize("dt", NARROW)
def test_dlpack_round_trip(dt, rng):
    a = full_range(dt, (2, 5), rng)
    t = torch.from_numpy(a.copy())
    f = flambeau.from_dlpack(t)
    assert_close(f, t)
    back = torch.from_dlpack(f)
    assert back.dtype == tdt(dt)
    np.testing.assert_array_equal(back.numpy(), a)


# ---- arithmetic ----------------------------------------------------------------------------------------------

def same(fn, f_args, t_args):
    """fn gives the same result on both libraries, or both raise (the same exception type)."""
    try:
        expected = fn(*t_args)
    except Exception as e:  # noqa: BLE001 - whatever PyTorch raises, flambeau must too
        with pytest.raises(type(e)):
            fn(*f_args)
        return
    assert_close(fn(*f_args), expected)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "truediv": lambda a, b: a / b,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "maximum": lambda a, b: a.maximum(b) if hasattr(a, "maximum") else None,
    "div_floor": lambda a, b: a.div(b, rounding_mode="floor"),
    "div_trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
    "fmod": lambda a, b: a.fmod(b),
}


@pytest.mark.parametrize("dt", NARROW)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_wraparound(dt, op, rng):
    """Over the whole range of the type (products and sums overflow and wrap, as in PyTorch)."""
    a, b = full_range(dt, (6, 7), rng), full_range(dt, (6, 7), rng)
    b[b == 0] = 3  # integer division by zero raises (tested below)
    if op in ("div_floor", "floordiv") and dt != "uint8":
        a[0, 0], b[0, 0] = LIMITS[dt][0], -1  # MIN // -1 overflows: wraps to MIN, as PyTorch
    fa, ta = both(a)
    fb, tb = both(b)
    fn = BINARY[op]
    assert_close(fn(fa, fb), fn(ta, tb))
    assert_close(fn(fa, fb[0]), fn(ta, tb[0]))  # broadcast
    assert_close(fn(fa.t(), fb.t()), fn(ta.t(), tb.t()))  # strided
    if op in ("add", "sub", "mul", "floordiv", "mod", "truediv", "and", "or", "xor"):
        for s in (3, -2, 300, 2.5, True):
            if op in ("and", "or", "xor") and isinstance(s, float):
                continue
            same(fn, (fa, s), (ta, s))


@pytest.mark.parametrize("dt", NARROW)
def test_scalar_operands(dt):
    a = np.array([0, 1, 5, 100, LIMITS[dt][1]]).astype(NP[dt])
    f, t = both(a)
    for fn in (lambda x: x + 300, lambda x: x - 300, lambda x: 300 - x, lambda x: x * -1, lambda x: 2 * x,
               lambda x: x < 300, lambda x: x == 456, lambda x: x // 300, lambda x: x % 300, lambda x: x + 1.5,
               lambda x: x / 2, lambda x: 1 / (x + 1), lambda x: x ** 2, lambda x: 2 ** x, lambda x: x > -1,
               lambda x: x + True):
        assert_close(fn(f), fn(t))


def test_uint8_examples():
    u = flambeau.tensor([200, 3], dtype=flambeau.uint8)
    assert (u + 100).tolist() == [44, 103]
    assert (-u).tolist() == [56, 253]
    assert (~u).tolist() == [55, 252]
    assert (u + 100).dtype is flambeau.uint8


@pytest.mark.parametrize("dt", NARROW)
def test_unary(dt, rng):
    a = full_range(dt, (5, 6), rng)
    if dt != "uint8":
        a[0, 0] = LIMITS[dt][0]  # abs(MIN) and -MIN wrap to MIN, as in PyTorch
    f, t = both(a)
    for name in ("neg", "abs", "sign", "square", "floor", "ceil", "round", "trunc", "bitwise_not", "logical_not",
                 "relu", "isnan", "isinf", "isfinite", "signbit", "positive"):
        if name == "square":
            assert_close(f.square(), t.square())  # int64 in both (PyTorch promotes integer square to int64)
            continue
        if name == "relu":
            assert_close(flambeau.relu(f), torch.relu(t))
            continue
        assert_close(getattr(f, name)(), getattr(t, name)())
    # float-only ops promote integer inputs to the default float dtype, as in PyTorch
    for name in ("exp", "log1p", "sqrt", "sin", "sigmoid", "tanh", "reciprocal", "erf", "rsqrt"):
        r, e = getattr(flambeau, name)(f), getattr(torch, name)(t)
        assert r.dtype is flambeau.float32
        assert_close(r, e, atol=1e-5, rtol=2e-5)


@pytest.mark.parametrize("dt", NARROW)
def test_inplace(dt, rng):
    a, b = full_range(dt, (4, 5), rng), full_range(dt, (4, 5), rng)
    b[b == 0] = 1
    (f, t), (fb, tb) = both(a), both(b)
    for name, arg in (("add_", "b"), ("sub_", "b"), ("mul_", "b"), ("floor_divide_", "b"), ("remainder_", "b"),
                      ("add_", 7), ("mul_", 3), ("bitwise_and_", "b"), ("clamp_", None), ("neg_", None),
                      ("abs_", None)):
        if arg is None:
            fr = getattr(f, name)(**({"min": 2, "max": 50} if name == "clamp_" else {}))
            tr = getattr(t, name)(**({"min": 2, "max": 50} if name == "clamp_" else {}))
        else:
            fr = getattr(f, name)(fb if arg == "b" else arg)
            tr = getattr(t, name)(tb if arg == "b" else arg)
        assert fr is f
        assert_close(f, t)
    with pytest.raises(RuntimeError, match="can't be cast"):
        f.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        f.div_(2)
    f += 1
    t += 1
    assert_close(f, t)


@pytest.mark.parametrize("dt", NARROW)
def test_division_by_zero_and_negative_powers(dt):
    f = flambeau.tensor([5, 6], dtype=fdt(dt))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        f // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        f % flambeau.zeros(2, dtype=fdt(dt))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        f ** -1
    assert_close(f / 0, torch.tensor([5, 6], dtype=tdt(dt)) / 0)  # true division: inf


@pytest.mark.parametrize("dt", NARROW)
def test_pow(dt):
    a = np.array([0, 1, 2, 3, 5, 7]).astype(NP[dt])
    (f, t) = both(a)
    for e in (0, 1, 2, 3, 9):
        assert_close(f ** e, t ** e)
        assert_close(f.pow(f), t.pow(t))


@pytest.mark.parametrize("dt", NARROW)
def test_matmul(dt, rng):
    a, b = rng.integers(0, 20, (3, 4)).astype(NP[dt]), rng.integers(0, 20, (4, 5)).astype(NP[dt])
    (fa, ta), (fb, tb) = both(a), both(b)
    assert_close(fa @ fb, ta @ tb)  # wraps (uint8/int8 products overflow), as PyTorch's
    assert_close(flambeau.mm(fa, fb), torch.mm(ta, tb))
    assert_close(flambeau.bmm(fa[None], fb[None]), torch.bmm(ta[None], tb[None]))


# ---- promotion -----------------------------------------------------------------------------------------------

def _operand(lib, dt, kind):
    d = getattr(lib, dt)
    if kind == "dim":
        return lib.ones(2, dtype=d)
    return lib.ones((), dtype=d)


@pytest.mark.parametrize("ka,kb", [("dim", "dim"), ("dim", "zero"), ("zero", "dim"), ("zero", "zero")])
def test_result_type_all_pairs(ka, kb):
    for a, b in itertools.product(ALL, ALL):
        exp = torch.result_type(_operand(torch, a, ka), _operand(torch, b, kb))
        got = flambeau.result_type(_operand(flambeau, a, ka), _operand(flambeau, b, kb))
        assert repr(got).split(".")[-1] == str(exp).split(".")[-1], (a, ka, b, kb, got, exp)
        assert str(flambeau.promote_types(fdt(a), fdt(b))).split(".")[-1] == \
            str(torch.promote_types(tdt(a), tdt(b))).split(".")[-1]
        assert flambeau.can_cast(fdt(a), fdt(b)) == torch.can_cast(tdt(a), tdt(b)), (a, b)


@pytest.mark.parametrize("kind", ["dim", "zero"])
@pytest.mark.parametrize("scalar", [3, -300, 2.5, True, np.int32(3), np.float64(1.5)], ids=repr)
def test_result_type_scalars(kind, scalar):
    for a in ALL:
        exp = torch.result_type(_operand(torch, a, kind), scalar)
        got = flambeau.result_type(_operand(flambeau, a, kind), scalar)
        assert repr(got).split(".")[-1] == str(exp).split(".")[-1], (a, kind, scalar)


@pytest.mark.parametrize("a", ALL)
@pytest.mark.parametrize("b", ALL)
def test_mixed_arithmetic_dtypes(a, b):
    """The dtype (and values) of real ops on mixed operands follow result_type."""
    xa = np.array([1, 2, 3, 0]).astype(NP[a])
    xb = np.array([3, 1, 2, 1]).astype(NP[b])
    (fa, ta), (fb, tb) = both(xa), both(xb)
    for fn in (lambda x, y: x * y, lambda x, y: x == y, lambda x, y: torch_where(x, y)):
        try:
            e = fn(ta, tb)
        except Exception:
            continue
        assert_close(fn(fa, fb), e)
    if "bool" not in (a, b):
        assert_close(fa + fb, ta + tb)
        assert_close(fa + fb[0], ta + tb[0])  # a 0-dim operand
        assert_close(fa / fb, ta / tb)


def torch_where(x, y):
    lib = torch if isinstance(x, torch.Tensor) else flambeau
    return lib.where(x > 1, x, y)


# ---- comparisons, min/max, where -----------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_comparisons(dt, rng):
    a, b = full_range(dt, (4, 6), rng), full_range(dt, (4, 6), rng)
    b[0] = a[0]
    (fa, ta), (fb, tb) = both(a), both(b)
    for op in ("eq", "ne", "lt", "le", "gt", "ge", "maximum", "minimum"):
        assert_close(getattr(flambeau, op)(fa, fb), getattr(torch, op)(ta, tb))
    for s in (0, 5, -7, 3.5):
        assert_close(fa < s, ta < s)
        assert_close(fa >= s, ta >= s)
        assert_close(fa == s, ta == s)
    assert_close(fa.clamp(-20, 20) if dt != "uint8" else fa.clamp(3, 20),
                 ta.clamp(-20, 20) if dt != "uint8" else ta.clamp(3, 20))
    assert_close(fa.clamp(min=LIMITS[dt][0]), ta.clamp(min=LIMITS[dt][0]))
    assert_close(flambeau.where(fa > fb, fa, fb), torch.where(ta > tb, ta, tb))
    assert_close(flambeau.where(fa > fb, fa, 0), torch.where(ta > tb, ta, 0))
    assert flambeau.equal(fa, fa) and not flambeau.equal(fa, fb)
    assert_close(flambeau.isclose(fa, fb), torch.isclose(ta, tb))


def test_uint8_clamp_bounds_cast():
    u = flambeau.tensor([200, 3], dtype=flambeau.uint8)
    t = torch.tensor([200, 3], dtype=torch.uint8)
    assert_close(u.clamp(min=-5), t.clamp(min=-5))  # the bound is cast to uint8 (251), as PyTorch
    assert_close(u.clamp(min=-128), t.clamp(min=-128))
    with pytest.raises(RuntimeError, match="without overflow"):
        u.clamp(max=300)


# ---- reductions, scans, sorting ------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_reductions(dt, rng):
    a = full_range(dt, (3, 4, 5), rng)
    f, t = both(a)
    small = np.clip(a, -3, 3) if dt != "uint8" else np.clip(a, 0, 3)
    fs, ts = both(small.astype(NP[dt]))
    assert_close(f.sum(), t.sum())  # int64, as PyTorch
    assert f.sum().dtype is flambeau.int64
    assert_close(f.sum(1), t.sum(1))
    assert_close(f.sum((0, 2), keepdim=True), t.sum((0, 2), keepdim=True))
    assert_close(f.sum(dtype=fdt(dt)), t.sum(dtype=tdt(dt)))  # an explicit dtype keeps it (wrapping)
    assert_close(f.sum(dtype=flambeau.float64), t.sum(dtype=torch.float64))
    assert_close(fs.prod(1), ts.prod(1))
    assert_close(fs.prod(), ts.prod())
    for name in ("amax", "amin"):
        assert_close(getattr(f, name)(), getattr(t, name)())
        assert_close(getattr(f, name)(2), getattr(t, name)(2))
    assert_close(f.max(), t.max())
    assert_close(f.min(), t.min())
    for k in (0, 1, 2):
        fv, fi = f.max(k)
        tv, ti = t.max(k)
        assert_close(fv, tv)
        assert_close(fi, ti)
        fv, fi = f.min(k, keepdim=True)
        tv, ti = t.min(k, keepdim=True)
        assert_close(fv, tv)
        assert_close(fi, ti)
        assert_close(f.argmax(k), t.argmax(k))
        assert_close(f.argmin(k), t.argmin(k))
    assert_close(f.argmax(), t.argmax())
    assert_close(f.all(), t.all())  # uint8 input: a uint8 answer, as PyTorch
    assert_close(f.any(1), t.any(1))
    assert_close(f.count_nonzero(), t.count_nonzero())
    assert_close(f.cumsum(1), t.cumsum(1))  # int64
    assert_close(fs.cumprod(2), ts.cumprod(2))
    fv, fi = f.cummax(1)
    tv, ti = t.cummax(1)
    assert_close(fv, tv)
    with pytest.raises(RuntimeError, match="mean"):
        f.mean()
    with pytest.raises(RuntimeError):
        torch.mean(t)
    with pytest.raises(RuntimeError):
        f.std()
    fmn, fmx = flambeau.aminmax(f)
    tmn, tmx = torch.aminmax(t)
    assert_close(fmn, tmn)
    assert_close(fmx, tmx)


@pytest.mark.parametrize("dt", NARROW)
def test_sorting(dt, rng):
    a = full_range(dt, (4, 30), rng)
    f, t = both(a)
    fv, fi = f.sort(1)
    tv, ti = t.sort(dim=1, stable=True)
    assert_close(fv, tv)
    assert_close(fi, ti)
    fv, fi = f.sort(0, descending=True)
    tv, ti = t.sort(dim=0, descending=True, stable=True)
    assert_close(fv, tv)
    assert_close(f.argsort(1), t.argsort(dim=1, stable=True))
    assert_close(f.topk(3)[0], t.topk(3)[0])
    assert_close(f.kthvalue(4, 1)[0], t.kthvalue(4, 1)[0])
    assert_close(f.median(), t.median())
    small = (a % 7).astype(NP[dt])
    fs, ts = both(small)
    assert_close(flambeau.unique(fs), torch.unique(ts))
    fu, fc = flambeau.unique(fs, return_counts=True)
    tu, tc = torch.unique(ts, return_counts=True)
    assert_close(fu, tu)
    assert_close(fc, tc)


# ---- indexing ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL)
def test_int32_index_tensors(dt, rng):
    """int32 index tensors act as int64 (advanced indexing, index_select, gather, scatter_add), for a
    source of every dtype."""
    src = _source(dt, rng)[:20].reshape(4, 5)
    f, t = both(src)
    idx = np.array([3, 0, -1, 2], dtype=np.int32)
    fi, ti = flambeau.from_numpy(idx.copy()), torch.from_numpy(idx.copy())
    assert_close(f[fi], t[ti])
    assert_close(f[:, fi], t[:, ti])
    assert_close(f[fi, fi], t[ti, ti])
    pos = np.array([3, 0, 2], dtype=np.int32)
    fp, tp = flambeau.from_numpy(pos.copy()), torch.from_numpy(pos.copy())
    assert_close(f.index_select(1, fp), t.index_select(1, tp))
    gi = rng.integers(0, 5, (4, 3)).astype(np.int32)
    assert_close(f.gather(1, flambeau.from_numpy(gi)), t.gather(1, torch.from_numpy(gi)))
    assert_close(f[np.array([1, 2], dtype=np.int32)], t[np.array([1, 2], dtype=np.int32)])
    if dt != "bool":
        g, u = f.clone(), t.clone()
        g[fp] = f[:3]
        u[tp] = t[:3]
        assert_close(g, u)
        z, w = flambeau.zeros(4, 5, dtype=fdt(dt)), torch.zeros(4, 5, dtype=tdt(dt))
        sa = flambeau.from_numpy(gi[:, :2].copy())
        assert_close(z.scatter_add(1, sa, f[:, :2]), w.scatter_add(1, torch.from_numpy(gi[:, :2].copy()), t[:, :2]))


@pytest.mark.parametrize("dt", ["int8", "int16"])
def test_int8_int16_indices_refused(dt):
    x = flambeau.arange(5.0)
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[flambeau.tensor([0, 1], dtype=fdt(dt))]
    with pytest.raises(RuntimeError):
        x.index_select(0, flambeau.tensor([0, 1], dtype=fdt(dt)))


def test_uint8_index_is_a_mask():
    x, t = flambeau.arange(6.0).reshape(2, 3), torch.arange(6.0).reshape(2, 3)
    m = np.array([1, 0, 1], dtype=np.uint8)
    with pytest.warns(UserWarning, match="uint8 is now deprecated"):
        r = x[:, flambeau.from_numpy(m)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(r, t[:, torch.from_numpy(m)])


@pytest.mark.parametrize("dt", NARROW)
def test_indexing_narrow_sources(dt, rng):
    a = full_range(dt, (4, 6), rng)
    f, t = both(a)
    assert_close(f[1], t[1])
    assert_close(f[:, 1:5:2], t[:, 1:5:2])
    assert_close(f[f > 0], t[t > 0])
    assert_close(f[..., None], t[..., None])
    assert_close(f.masked_select(f > 0), t.masked_select(t > 0))
    assert_close(f.masked_fill(f > 0, 1), t.masked_fill(t > 0, 1))
    assert_close(f.nonzero(), t.nonzero())
    assert_close(flambeau.take(f, flambeau.tensor([0, 5, 23])), torch.take(t, torch.tensor([0, 5, 23])))
    g, u = f.clone(), t.clone()
    g[1:3, ::2] = 7
    u[1:3, ::2] = 7
    assert_close(g, u)
    g[g > 5] = 1
    u[u > 5] = 1
    assert_close(g, u)
    g[flambeau.tensor([0, 3])] = f[:2]
    u[torch.tensor([0, 3])] = t[:2]
    assert_close(g, u)
    g.index_put_((flambeau.tensor([0, 0]),), f[1:3], accumulate=True)
    u.index_put_((torch.tensor([0, 0]),), t[1:3], accumulate=True)
    assert_close(g, u)


# ---- joins and data movement ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_data_movement(dt, rng):
    a, b = full_range(dt, (3, 4, 5), rng), full_range(dt, (3, 4, 5), rng)
    (f, t), (fb, tb) = both(a), both(b)
    assert_close(flambeau.cat([f, fb], 1), torch.cat([t, tb], 1))
    assert_close(flambeau.cat([f[:, :, 1:], fb[:, :, ::2]], 2), torch.cat([t[:, :, 1:], tb[:, :, ::2]], 2))
    assert_close(flambeau.stack([f, fb]), torch.stack([t, tb]))
    assert_close(flambeau.stack([f, fb], 3), torch.stack([t, tb], 3))
    assert_close(f.flip(2), t.flip(2))
    assert_close(f.flip((0, 1)), t.flip((0, 1)))
    assert_close(f.roll(2, 1), t.roll(2, 1))
    assert_close(f.roll(3), t.roll(3))
    assert_close(f.repeat(2, 1, 2), t.repeat(2, 1, 2))
    assert_close(f.narrow(2, 1, 3).contiguous(), t.narrow(2, 1, 3).contiguous())
    assert_close(f.permute(2, 0, 1).contiguous(), t.permute(2, 0, 1).contiguous())
    assert_close(f.transpose(0, 2).clone(), t.transpose(0, 2).clone())
    assert_close(f.view(12, 5), t.view(12, 5))
    assert_close(f.reshape(-1), t.reshape(-1))
    assert_close(f.unsqueeze(1).expand(3, 2, 4, 5).contiguous(), t.unsqueeze(1).expand(3, 2, 4, 5).contiguous())
    assert_close(f.tril(), t.tril())
    assert_close(f.triu(1), t.triu(1))
    assert_close(f.repeat_interleave(2, 0), t.repeat_interleave(2, 0))
    assert_close(flambeau.nn.functional.pad(f, (1, 2, 0, 1)), torch.nn.functional.pad(t, (1, 2, 0, 1)))
    assert_close(flambeau.nn.functional.pad(f, (1, 2), value=3), torch.nn.functional.pad(t, (1, 2), value=3))
    for fp, tp in zip(f.chunk(3, 2), t.chunk(3, 2)):
        assert_close(fp.contiguous(), tp.contiguous())
    big = full_range(dt, (64, 96), rng)  # large enough for the tiled transpose / parallel copies
    fb2, tb2 = both(big)
    assert_close(fb2.t().contiguous(), tb2.t().contiguous())
    assert_close(fb2[:, ::3].contiguous(), tb2[:, ::3].contiguous())
    img = full_range(dt, (8, 3, 32, 32), rng)  # NCHW -> NHWC of few channels
    fi, ti = both(img)
    assert_close(fi.permute(0, 2, 3, 1).contiguous(), ti.permute(0, 2, 3, 1).contiguous())


# ---- printing and serialization ------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_repr(dt):
    for data in ([1, 2, 3], [[10, 0], [7, 100]], 5, []):
        f, t = flambeau.tensor(data, dtype=fdt(dt)), torch.tensor(data, dtype=tdt(dt))
        assert repr(f) == repr(t).replace("torch.", "flambeau."), (repr(f), repr(t))
    big = np.arange(2000).astype(NP[dt])
    assert repr(flambeau.from_numpy(big)) == repr(torch.from_numpy(big)).replace("torch.", "flambeau.")


@pytest.mark.parametrize("dt", NARROW)
def test_save_load(dt, tmp_path, rng):
    a = full_range(dt, (3, 4), rng)
    f = flambeau.from_numpy(a)
    obj = {"x": f, "view": f[:, 1], "dtype": fdt(dt), "n": 3}
    path = tmp_path / "x.flb"
    flambeau.save(obj, path)
    back = flambeau.load(path)
    assert back["dtype"] is fdt(dt)
    for k in ("x", "view"):
        assert back[k].dtype is fdt(dt)
        np.testing.assert_array_equal(back[k].numpy(), obj[k].numpy())
    buf = io.BytesIO()
    flambeau.save(f, buf)
    buf.seek(0)
    assert_close(flambeau.load(buf), torch.from_numpy(a))
    st = tmp_path / "x.safetensors"
    flambeau.save_safetensors({"x": f}, str(st))
    y = flambeau.load_safetensors(str(st))["x"]
    assert y.dtype is fdt(dt)
    np.testing.assert_array_equal(y.numpy(), a)


def test_load_torch_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    path = str(tmp_path / "t.safetensors")
    ts = {"u8": torch.arange(256, dtype=torch.uint8).reshape(16, 16), "i32": torch.tensor([-5, 7], dtype=torch.int32),
          "i16": torch.tensor([-300], dtype=torch.int16), "i8": torch.tensor([-128, 127], dtype=torch.int8)}
    st.save_file(ts, path)
    got = flambeau.load_safetensors(path)
    for k, v in ts.items():
        assert_close(got[k], v)


def test_pickle_round_trip():
    import pickle
    f = flambeau.tensor([[1, 255], [0, 7]], dtype=flambeau.uint8)
    g = pickle.loads(pickle.dumps(f))
    assert g.dtype is flambeau.uint8 and g.tolist() == f.tolist()


# ---- data pipeline -------------------------------------------------------------------------------------------

def test_default_collate_and_to_tensor(rng):
    from flambeau.utils.data import DataLoader
    from flambeau.utils.data.dataloader import default_collate
    from flambeau import transforms
    imgs = [rng.integers(0, 256, (28, 28, 3)).astype(np.uint8) for _ in range(4)]
    b = default_collate(imgs)
    assert b.dtype is flambeau.uint8 and tuple(b.shape) == (4, 28, 28, 3)
    np.testing.assert_array_equal(b.numpy(), np.stack(imgs))
    labels = default_collate([np.int32(3), np.int32(5)])
    assert labels.dtype is flambeau.int32
    x = transforms.ToTensor()(imgs[0])
    assert x.dtype is flambeau.float32 and tuple(x.shape) == (3, 28, 28)
    np.testing.assert_allclose(x.numpy(), imgs[0].transpose(2, 0, 1).astype(np.float32) / 255)

    class DS:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return imgs[i], np.int64(i)

    xb, yb = next(iter(DataLoader(DS(), batch_size=4)))
    assert xb.dtype is flambeau.uint8 and yb.dtype is flambeau.int64
    # the usual pipeline: uint8 images -> float in [0, 1]
    assert_close(xb.permute(0, 3, 1, 2).float() / 255,
                 torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255)


def test_labels_pipeline():
    labels = flambeau.tensor([1, 0, 2], dtype=flambeau.int32)
    logits = flambeau.randn(3, 4)
    loss = flambeau.nn.functional.cross_entropy(logits, labels.long())
    assert loss.dtype is flambeau.float32
    oh = flambeau.nn.functional.one_hot(labels.long(), 4)
    assert oh.dtype is flambeau.int64
    mask = (labels > 0).to(flambeau.uint8)
    assert_close(mask, (torch.tensor([1, 0, 2], dtype=torch.int32) > 0).to(torch.uint8))


# ---- clear errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW)
def test_unsupported_ops_raise(dt):
    x = flambeau.ones(1, 2, 4, 4, dtype=fdt(dt))
    w = flambeau.ones(3, 2, 3, 3, dtype=fdt(dt))
    F = flambeau.nn.functional
    # (max_pool2d pools integer images, as PyTorch: test_max_pool2d_integer_images in tests/nn; conv2d and
    # linear compute integer tensors exactly, as PyTorch: tests/test_fuzz_regressions_nn_linalg.py)
    assert F.conv2d(x, w).dtype == fdt(dt) and F.linear(x, flambeau.ones(3, 4, dtype=fdt(dt))).dtype == fdt(dt)
    for fn, pattern in ((lambda: F.softmax(x, 1), "softmax"),
                        (lambda: flambeau.randn(2, dtype=fdt(dt)), "normal|randn|not implemented"),
                        (lambda: flambeau.rand(2, dtype=fdt(dt)), "uniform|rand|not implemented"),
                        (lambda: x.float().requires_grad_().to(fdt(dt)).requires_grad_(), "floating point"),
                        (lambda: flambeau.ones(2, dtype=fdt(dt), requires_grad=True), "floating point")):
        with pytest.raises((TypeError, RuntimeError, NotImplementedError), match=pattern):
            fn()


def test_core_kernels_refuse_narrow_ints():
    """The compute kernels behind the ops layer raise a TypeError naming the op and the dtype for a
    narrow integer that reaches them (never a silent no-op)."""
    x = flambeau.ones(2, 2, dtype=flambeau.int16)
    with pytest.raises(TypeError, match="int16"):
        flambeau._C.softmax(x._impl, 1, False)
    with pytest.raises(TypeError, match="int16"):
        flambeau._C.linear(x._impl, x._impl, None)


def test_is_signed_and_uint8_where_condition():
    for dt in NARROW:
        f, t = flambeau.zeros(1, dtype=fdt(dt)), torch.zeros(1, dtype=tdt(dt))
        assert f.is_signed() == t.is_signed() and flambeau.is_signed(f) == torch.is_signed(t)
    c = np.array([1, 0, 2], dtype=np.uint8)
    with pytest.warns(UserWarning, match="uint8 condition"):
        r = flambeau.where(flambeau.from_numpy(c), flambeau.ones(3), flambeau.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(r, torch.where(torch.from_numpy(c), torch.ones(3), torch.zeros(3)))


@pytest.mark.parametrize("dt", ["uint8", "int8", "int16", "int32", "int64"])
def test_trunc_division_of_integers_is_exact(dt):
    """div(rounding_mode='trunc') on integers divides exactly (it went through float64 and was off past 2^53),
    wraps as PyTorch's, and bool is refused with PyTorch's words."""
    rng = np.random.default_rng(5)
    info = np.iinfo(dt)
    a_np = rng.integers(info.min, info.max, size=200, dtype=np.int64, endpoint=True).astype(dt)
    b_np = rng.integers(info.min, info.max, size=200, dtype=np.int64, endpoint=True).astype(dt)
    b_np[b_np == 0] = 3
    if dt == "int64":
        a_np[:4] = [2**62 + 7, -(2**62 + 7), 2**63 - 1, -(2**53 + 1)]
        b_np[:4] = [5, 5, 7, 3]
    for args in ((a_np, b_np), (a_np, 3), (100, b_np)):
        want = torch.div(*[torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in args], rounding_mode="trunc")
        got = flambeau.div(*[flambeau.from_numpy(x) if isinstance(x, np.ndarray) else x for x in args],
                           rounding_mode="trunc")
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_trunc_division_refuses_bool_and_zero():
    t = flambeau.tensor([True, False])
    with pytest.raises(NotImplementedError, match="div_trunc_cpu"):
        flambeau.div(t, t, rounding_mode="trunc")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        flambeau.div(flambeau.tensor([4, 5]), flambeau.tensor([1, 0]), rounding_mode="trunc")
