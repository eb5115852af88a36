"""Order statistics and scans against PyTorch (CPU kernels csrc/cpu/sort.cpp, csrc/cpu/scan.cpp):
sort/argsort, topk, kthvalue, median/nanmedian, cumsum, cumprod, cummax/cummin.

Covers float32/float64/int64/bool, odd sizes, empty tensors and zero-size dims, 0-d tensors,
non-contiguous views (transposed, sliced with steps), every dim incl. negative, NaN and +-inf, ties
(stable order), descending, k = 0 and k = size, 100k-long rows with exact indices, float32 cumsum and
cumprod bit-exact, gradients against torch (cumprod with zeros) and float64 gradcheck.

What is guaranteed about indices: sort is stable (equal to torch.sort(stable=True)); topk, kthvalue
and median pick, among equal values, the lower index first. PyTorch's CPU topk/kthvalue compare
values only, so on ties its indices are whatever its selection leaves — there we compare values and
check our indices against the stable order instead.
"""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, fl_tensor, to_np

DTYPES = ["float32", "float64", "int64", "bool"]
SHAPE_DIMS = [((), 0), ((), -1), ((1,), 0), ((7,), 0), ((7,), -1), ((3, 5), 0), ((3, 5), 1), ((3, 5), -2),
              ((2, 3, 17), 0), ((2, 3, 17), 1), ((2, 3, 17), 2), ((2, 3, 17), -1), ((4, 1, 6), 1),
              ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((3, 0), 0)]


def _ids(c):
    return f"{c[0]}-d{c[1]}"


def rand(shape, dtype, rng, ties=False, special=False):
    """Random input; ties=True draws from few values, special=True sprinkles NaN/inf/-0.0."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int64":
        return rng.integers(-3 if ties else -1000, 4 if ties else 1000, size=shape).astype(np.int64)
    a = (rng.integers(-2, 3, size=shape) if ties else rng.standard_normal(shape)).astype(dtype)
    if special and a.size:
        flat = a.reshape(-1)
        for v in (np.nan, np.inf, -np.inf, -0.0, np.nan):
            flat[rng.integers(0, flat.size)] = v
    return a


def views(arr, mode):
    """(torch tensor, flambeau tensor) holding `arr`, as a contiguous tensor or a non-contiguous view
    ('T': transposed storage, 'step': every other element of a twice-as-long last dim)."""
    if mode is None or arr.ndim == 0:
        return torch.tensor(arr), fl_tensor(arr)
    if mode == "T" and arr.ndim >= 2:
        base = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
        return torch.tensor(base).transpose(-1, -2), fl_tensor(base).transpose(-1, -2)
    base = np.repeat(arr, 2, axis=-1)
    return torch.tensor(base)[..., ::2], fl_tensor(base)[..., ::2]


def assert_same(fl, ref, what=""):
    assert tuple(fl.shape) == tuple(ref.shape), what
    assert str(fl.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], what
    np.testing.assert_array_equal(to_np(fl), to_np(ref), err_msg=what)


# ---------------------------------------------------------------- sort / argsort
@pytest.mark.parametrize("mode", [None, "T", "step"])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHAPE_DIMS, ids=_ids)
def test_sort(case, dtype, descending, mode, rng):
    shape, dim = case
    for ties, special in [(False, False), (True, True)]:
        a = rand(shape, dtype, rng, ties=ties, special=special)
        t, f = views(a, mode)
        rt = torch.sort(t, dim=dim, descending=descending, stable=True)
        rf = flambeau.sort(f, dim=dim, descending=descending, stable=True)
        assert_same(rf.values, rt.values, "values")
        assert_same(rf.indices, rt.indices, "indices")
        assert_same(flambeau.argsort(f, dim=dim, descending=descending), rt.indices, "argsort")
        # stable=False: also stable here.
        assert_same(flambeau.sort(f, dim, descending).indices, rt.indices, "sort(stable=False)")


def test_sort_nan_inf_signed_zero_order():
    a = np.array([0.0, np.nan, -0.0, np.inf, 1.0, -np.inf, np.nan, 0.0, -1.0], np.float32)
    for desc in (False, True):
        rt = torch.sort(torch.tensor(a), descending=desc, stable=True)
        rf = flambeau.sort(fl_tensor(a), descending=desc)
        assert_same(rf.indices, rt.indices)
        # signed zeros come back bit-exact
        np.testing.assert_array_equal(np.signbit(to_np(rf.values)), np.signbit(rt.values.numpy()))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_sort_large_rows_exact_indices(dtype, rng):
    a = rand((2, 100_000), dtype, rng, ties=(dtype == "int64"))
    if dtype != "int64":
        a[0, ::7] = a[0, 3]  # many ties
    for dim in (1, 0):
        for desc in (False, True):
            rt = torch.sort(torch.tensor(a), dim=dim, descending=desc, stable=True)
            rf = flambeau.sort(fl_tensor(a), dim=dim, descending=desc)
            assert_same(rf.indices, rt.indices)
            assert_same(rf.values, rt.values)


@pytest.mark.parametrize("case", ["int64_full_range", "int64_high_bits", "one_value", "float64_specials"])
def test_sort_radix_digit_spans(case, rng):
    # Long rows take the LSD radix sort over only the bits where the values differ, in 11-bit digits,
    # one row cut into parts (a thread each): wide spans (six passes), a span far from bit 0, no
    # span at all, and float keys with NaN / inf / -0 must all give PyTorch's stable order.
    n = 70_000
    if case == "int64_full_range":
        a = rng.integers(-2**63, 2**63 - 1, size=n, dtype=np.int64)
        a[::5] = a[7]  # ties across the parts
    elif case == "int64_high_bits":
        a = rng.integers(0, 3, size=n).astype(np.int64) * 2**40 - 2**52
    elif case == "one_value":
        a = np.full(n, -17, np.int64)
    else:
        a = rng.standard_normal(n)
        a[::9], a[::13], a[::17], a[::19] = np.nan, -0.0, np.inf, 0.0
    for desc in (False, True):
        rt = torch.sort(torch.tensor(a), descending=desc, stable=True)
        rf = flambeau.sort(fl_tensor(a), descending=desc)
        assert_same(rf.indices, rt.indices)
        assert_same(rf.values, rt.values)


def test_sort_bad_dim():
    with pytest.raises(IndexError, match="Dimension out of range"):
        flambeau.sort(flambeau.zeros(3), 1)


# ---------------------------------------------------------------- topk
@pytest.mark.parametrize("mode", [None, "T", "step"])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHAPE_DIMS, ids=_ids)
def test_topk(case, dtype, largest, mode, rng):
    shape, dim = case
    n = shape[dim] if shape else 1
    for k in sorted({0, 1, n // 2, n}):
        if k > n:
            continue
        for ties in (False, True):
            a = rand(shape, dtype, rng, ties=ties, special=ties)
            t, f = views(a, mode)
            rf = flambeau.topk(f, k, dim=dim, largest=largest)
            if dtype != "bool":  # torch.topk has no bool kernel; flambeau's sorts bools too
                rt = torch.topk(t, k, dim=dim, largest=largest)
                assert_same(rf.values, rt.values, f"values k={k}")
            # Indices: the first k of the stable order (lower index first among ties) — torch's
            # own choice among ties is unspecified, so compare with its stable sort.
            ref = torch.sort(t, dim=dim, descending=largest, stable=True).indices
            ref = ref.narrow(dim if shape else 0, 0, k) if shape else ref
            assert_same(rf.indices, ref, f"indices k={k}")
            if not ties and dtype in ("float32", "float64"):
                assert_same(rf.indices, rt.indices, "indices vs torch.topk (no ties)")


@pytest.mark.parametrize("k", [1, 5, 1000, 99_999, 100_000])
def test_topk_large_row(k, rng):
    a = rng.standard_normal(100_000).astype(np.float32)
    for largest in (True, False):
        rt = torch.topk(torch.tensor(a), k, largest=largest)
        rf = flambeau.topk(fl_tensor(a), k, largest=largest)
        assert_same(rf.values, rt.values)
        # 100k normal float32 draws hold a few equal pairs: indices follow the stable order there.
        ref = torch.sort(torch.tensor(a), descending=largest, stable=True).indices[:k]
        assert_same(rf.indices, ref)


def test_topk_k_out_of_range():
    for k in (-1, 4):
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            flambeau.topk(flambeau.zeros(3), k)
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            flambeau._C.topk(flambeau.zeros(3)._impl, k, 0, True, True)


def test_topk_sorted_false_same_set(rng):
    a = rng.standard_normal((5, 40)).astype(np.float32)
    rf = flambeau.topk(fl_tensor(a), 7, 1, sorted=False)
    rt = torch.topk(torch.tensor(a), 7, 1, sorted=False)
    np.testing.assert_array_equal(np.sort(to_np(rf.values), 1), np.sort(rt.values.numpy(), 1))


# ---------------------------------------------------------------- kthvalue / median
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("case", [c for c in SHAPE_DIMS if 0 not in c[0]], ids=_ids)
def test_kthvalue_median(case, dtype, keepdim, rng):
    shape, dim = case
    n = shape[dim] if shape else 1
    for ties in (False, True):
        a = rand(shape, dtype, rng, ties=ties, special=ties)
        t, f = views(a, "T" if len(shape) >= 2 else None)
        stable = torch.sort(t, dim=dim, stable=True).indices if shape else torch.zeros((), dtype=torch.int64)
        for k in sorted({1, (n + 1) // 2, n}):
            rt = torch.kthvalue(t, k, dim, keepdim)
            rf = flambeau.kthvalue(f, k, dim, keepdim)
            assert_same(rf.values, rt.values, f"kthvalue k={k}")
            ref = stable.narrow(dim, k - 1, 1) if shape else stable
            if not keepdim and shape:
                ref = ref.squeeze(dim)
            assert_same(rf.indices, ref, f"kthvalue indices k={k}")
            if not ties and dtype != "int64":  # int64 draws may still tie
                assert_same(rf.indices, rt.indices)
        for fn in ("median", "nanmedian"):
            rt = getattr(torch, fn)(t, dim, keepdim)
            rf = getattr(flambeau, fn)(f, dim, keepdim)
            assert_same(rf.values, rt.values, fn)
            if not ties and dtype != "int64":
                assert_same(rf.indices, rt.indices, fn)
            assert_same(getattr(flambeau, fn)(f), getattr(torch, fn)(t), fn + " (all)")


def test_median_nan_rules():
    a = np.array([[1.0, np.nan, np.nan, 0.0], [2.0, 3.0, np.nan, 1.0], [np.nan] * 4, [4.0, 3.0, 2.0, 1.0]],
                 np.float32)
    for fn in ("median", "nanmedian"):
        rt = getattr(torch, fn)(torch.tensor(a), 1)
        rf = getattr(flambeau, fn)(fl_tensor(a), 1)
        assert_same(rf.values, rt.values, fn)
        # An all-NaN row (row 2): nanmedian gives the first NaN; torch's index there is whatever its
        # nth_element leaves, so only the other rows are compared.
        keep = [0, 1, 3] if fn == "nanmedian" else [0, 1, 2, 3]
        assert_same(rf.indices[keep], rt.indices[keep], fn)
    assert int(flambeau.nanmedian(fl_tensor(a), 1).indices[2]) == 0


def test_kthvalue_errors():
    with pytest.raises(RuntimeError, match="selected number k out of range"):
        flambeau.kthvalue(flambeau.zeros(3), 4)
    with pytest.raises(IndexError, match="non-zero size"):
        flambeau.kthvalue(flambeau.zeros(0, 3), 1, 0)
    with pytest.raises(IndexError, match="non-zero size"):
        flambeau.median(flambeau.zeros(0, 3), 0)


# ---------------------------------------------------------------- scans
@pytest.mark.parametrize("mode", [None, "T", "step"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHAPE_DIMS, ids=_ids)
def test_scans(case, dtype, mode, rng):
    shape, dim = case
    for special in (False, True):
        a = rand(shape, dtype, rng, ties=special, special=special)
        t, f = views(a, mode)
        for fn in ("cumsum", "cumprod"):
            assert_same(getattr(flambeau, fn)(f, dim), getattr(torch, fn)(t, dim), fn)
        for fn in ("cummax", "cummin"):
            rt, rf = getattr(torch, fn)(t, dim), getattr(flambeau, fn)(f, dim)
            assert_same(rf.values, rt.values, fn)
            assert_same(rf.indices, rt.indices, fn + " indices")


def test_cummax_ties_and_nan():
    a = np.array([1.0, 3.0, 3.0, np.nan, 2.0, np.nan, 5.0, -np.inf], np.float64)
    for fn in ("cummax", "cummin"):
        rt, rf = getattr(torch, fn)(torch.tensor(a), 0), getattr(flambeau, fn)(fl_tensor(a), 0)
        assert_same(rf.values, rt.values)
        assert_same(rf.indices, rt.indices)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_float32_bit_exact_large(dim, rng):
    a = (rng.standard_normal((300, 2000)) * 100).astype(np.float32)
    t, f = torch.tensor(a), fl_tensor(a)
    assert_same(flambeau.cumsum(f, dim), torch.cumsum(t, dim))
    assert_same(flambeau.cumsum(f.t(), dim), torch.cumsum(t.t(), dim))
    b = rng.uniform(0.9, 1.1, (300, 2000)).astype(np.float32)
    assert_same(flambeau.cumprod(fl_tensor(b), dim), torch.cumprod(torch.tensor(b), dim))


@pytest.mark.parametrize("rows", [1, 3, 4, 5, 7, 8, 9, 301])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_cumsum_cumprod_rows_in_fours(rows, dtype, rng):
    # The last-dim scan runs four rows side by side (csrc/cpu/scan.cpp): row counts around multiples
    # of 4, forward and reverse (the gradient), bit for bit against PyTorch.
    a = (rng.standard_normal((rows, 37)) * 10).astype(dtype)
    b = rng.uniform(0.9, 1.1, (rows, 37)).astype(dtype) if dtype != "int64" else rng.integers(-2, 3, (rows, 37))
    for fn, x in (("cumsum", a), ("cumprod", b)):
        assert_same(getattr(flambeau, fn)(fl_tensor(x), 1), getattr(torch, fn)(torch.tensor(x), 1))
    if dtype != "int64":
        xf, xt = fl_tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        g = rng.standard_normal((rows, 37)).astype(dtype)
        flambeau.cumsum(xf, 1).backward(fl_tensor(g))
        torch.cumsum(xt, 1).backward(torch.tensor(g))
        assert_same(xf.grad, xt.grad)


def test_cumsum_dtype_arg(rng):
    a = rng.integers(-5, 5, (4, 6))
    assert_same(flambeau.cumsum(fl_tensor(a), 1, dtype=flambeau.float32), torch.cumsum(torch.tensor(a), 1, dtype=torch.float32))
    b = rng.standard_normal((4, 6)).astype(np.float32)
    assert_same(flambeau.cumsum(fl_tensor(b), 0, dtype=flambeau.float64), torch.cumsum(torch.tensor(b), 0, dtype=torch.float64))


# ---------------------------------------------------------------- gradients
def _grad_pair(fn_t, fn_f, a, g, dtype="float64"):
    xt = torch.tensor(a, requires_grad=True)
    xf = fl_tensor(a, requires_grad=True)
    yt, yf = fn_t(xt), fn_f(xf)
    yt.backward(torch.tensor(g))
    yf.backward(fl_tensor(g))
    assert_close(yf, yt.detach())
    assert_close(xf.grad, xt.grad, what="grad")


GRAD_CASES = {
    "sort": (lambda m: (lambda x: m.sort(x, 1, descending=True)[0])),
    "topk": (lambda m: (lambda x: m.topk(x, 3, 1)[0])),
    "topk_small": (lambda m: (lambda x: m.topk(x, 2, 0, largest=False)[0])),
    "kthvalue": (lambda m: (lambda x: m.kthvalue(x, 2, 1)[0])),
    "median": (lambda m: (lambda x: m.median(x, 0, keepdim=True)[0])),
    "cummax": (lambda m: (lambda x: m.cummax(x, 1)[0])),
    "cummin": (lambda m: (lambda x: m.cummin(x, 0)[0])),
    "cumsum0": (lambda m: (lambda x: m.cumsum(x, 0))),
    "cumsum1": (lambda m: (lambda x: m.cumsum(x, -1))),
    "cumprod0": (lambda m: (lambda x: m.cumprod(x, 0))),
    "cumprod1": (lambda m: (lambda x: m.cumprod(x, 1))),
}


@pytest.mark.parametrize("strided", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_vs_torch(name, dtype, strided, rng):
    a = rng.standard_normal((5, 7)).astype(dtype)
    if name.startswith("cumprod"):
        a[1, 2] = a[3, 0] = a[3, 4] = a[0, 6] = 0.0  # zeros: single and several per slice
    mk = GRAD_CASES[name]
    ft, ff = mk(torch), mk(flambeau)
    if strided:
        ft0, ff0 = ft, ff
        ft, ff = (lambda x: ft0(x.t().t()[:, ::1])), (lambda x: ff0(x.t().t()[:, ::1]))
    g = rng.standard_normal(tuple(ft(torch.tensor(a)).shape)).astype(dtype)
    _grad_pair(ft, ff, a, g, dtype)


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck_float64(name, rng):
    a = rng.standard_normal((4, 5))
    if name.startswith("cumprod"):
        a[1, 2] = 0.0
    fn = GRAD_CASES[name](flambeau)
    x = fl_tensor(a, requires_grad=True)
    assert flambeau.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_double_backward(name, rng):
    a = rng.uniform(0.5, 1.5, (3, 6))
    xt, xf = torch.tensor(a, requires_grad=True), fl_tensor(a, requires_grad=True)
    gt, = torch.autograd.grad(getattr(torch, name)(xt, 1).pow(2).sum(), xt, create_graph=True)
    gf, = flambeau.autograd.grad(getattr(flambeau, name)(xf, 1).pow(2).sum(), xf, create_graph=True)
    assert_close(gf, gt.detach())
    gt.sum().backward()
    gf.sum().backward()
    assert_close(xf.grad, xt.grad)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_small_k_row_pass_matches_the_general_path(dtype, largest, rng):
    """topk with k * 64 <= n along the last dim takes the one-pass heap over each row; its values and
    indices are those of the general partial sort (taken for a larger k), ties at the lower index."""
    x = (rng.standard_normal((37, 700)) * 3).round(0 if dtype != "float64" else 1)
    if dtype == "bool":
        x = x > 0
    x = x.astype(dtype)
    if dtype.startswith("float"):
        x[3, 5] = np.nan
        x[4, :] = 0.0
        x[4, 3::9] = -0.0
    t = flambeau.from_numpy(x)
    for k in (1, 5, 10):
        v1, i1 = t.topk(k, largest=largest)
        v2, i2 = t.topk(200, largest=largest)  # 200 * 64 > 700: the general path
        np.testing.assert_array_equal(v1.numpy().view(np.uint8), np.ascontiguousarray(v2.numpy()[:, :k]).view(np.uint8))
        np.testing.assert_array_equal(i1.numpy(), i2.numpy()[:, :k])
        if dtype != "bool":  # PyTorch's CPU topk refuses bool
            tv, _ = torch.from_numpy(x).topk(k, largest=largest)
            np.testing.assert_array_equal(v1.numpy(), tv.numpy())


@pytest.mark.parametrize("dtype", ["int64", "float32", "float64", "bool"])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (4, 9), (3000,), (64, 1024)])
def test_unique_against_torch(dtype, shape, rng):
    """unique (dim=None) from flambeau's sort: values, inverse, counts, as PyTorch (sorted)."""
    if dtype == "bool":
        a = rng.integers(0, 2, size=shape).astype(bool)
    elif dtype == "int64":
        a = rng.integers(-20, 20, size=shape)
    else:
        a = np.round(rng.standard_normal(shape), 1).astype(dtype)
    f, t = flambeau.from_numpy(a), torch.from_numpy(a)
    np.testing.assert_array_equal(flambeau.unique(f).numpy(), torch.unique(t).numpy())
    fv, fi, fc = flambeau.unique(f, return_inverse=True, return_counts=True)
    tv, ti, tc = torch.unique(t, return_inverse=True, return_counts=True)
    for x, y in ((fv, tv), (fi, ti), (fc, tc)):
        assert x.shape == tuple(y.shape)
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    fv, fi = flambeau.unique(f, return_inverse=True)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    fv, fc = flambeau.unique(f, return_counts=True)
    np.testing.assert_array_equal(fc.numpy(), tc.numpy())


def test_unique_nans_and_signed_zeros():
    small = np.array([np.nan, 1.0, -0.0, 0.0, np.nan, 1.0, np.inf], np.float32)
    for a in (small, np.tile(small, 2000)):  # the numpy path and the sort path
        fv, fc = flambeau.unique(flambeau.from_numpy(a), return_counts=True)
        tv, tc = torch.unique(torch.from_numpy(a), return_counts=True)
        np.testing.assert_array_equal(fv.numpy(), tv.numpy())  # each NaN is its own value
        np.testing.assert_array_equal(fc.numpy(), tc.numpy())
