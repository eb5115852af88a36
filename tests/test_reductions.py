"""Reductions against PyTorch, forward and gradient: sum, mean, var/std (unbiased / correction), max/min
(with indices), argmax/argmin, prod, all/any, logsumexp; over any dims, keepdim, empty tensors, 0-d
tensors, non-contiguous inputs, int64/bool inputs, and accuracy and determinism on large inputs."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor

# (shape, dim) with dim None meaning "all dims".
SHAPE_DIMS = [
    ((), None),
    ((), 0),
    ((1,), 0),
    ((7,), None),
    ((7,), 0),
    ((7,), -1),
    ((3, 5), None),
    ((3, 5), 0),
    ((3, 5), 1),
    ((3, 5), (0, 1)),
    ((2, 3, 4), None),
    ((2, 3, 4), 1),
    ((2, 3, 4), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, -3)),
    ((4, 1, 6), 1),
    ((2, 3, 2, 3), (1, 3)),
    ((0, 3), None),
    ((0, 3), 0),
    ((0, 3), 1),
]
NONEMPTY_SHAPE_DIMS = [(s, d) for s, d in SHAPE_DIMS if 0 not in s]
SINGLE_DIMS = [(s, d) for s, d in NONEMPTY_SHAPE_DIMS if not isinstance(d, tuple)]


def _ids(case):
    return f"{case[0]}-dim{case[1]}"


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SHAPE_DIMS, ids=_ids)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, case, dtype, keepdim, non_contiguous, device):
    shape, dim = case
    if dim is None and not keepdim:
        fn = lambda x: getattr(x, op)()
    else:
        fn = lambda x: getattr(x, op)(dim=dim, keepdim=keepdim)
    check_op(fn, shapes=[shape], dtype=dtype, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_functional_and_positional(op, device):
    m_t, m_f = getattr(torch, op), getattr(flambeau, op)
    check_op(lambda x: m_t(x), lambda x: m_f(x), shapes=[(3, 4)], device=device)
    check_op(lambda x: m_t(x, 1), lambda x: m_f(x, 1), shapes=[(3, 4)], device=device)
    check_op(lambda x: m_t(x, (0, 1), True), lambda x: m_f(x, (0, 1), True), shapes=[(3, 4)], device=device)
    check_op(lambda x: getattr(x, op)(-1, True), shapes=[(2, 3, 4)], device=device)
    check_op(lambda x: getattr(x, op)([0, 2]), shapes=[(2, 3, 4)], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
@pytest.mark.parametrize("case", SHAPE_DIMS, ids=_ids)
def test_sum_int_bool(case, dtype, keepdim, device):
    shape, dim = case
    fn = (lambda x: x.sum()) if dim is None else (lambda x: x.sum(dim=dim, keepdim=keepdim))
    t, f = check_op(fn, shapes=[shape], dtype=dtype, device=device)
    assert f.dtype == flambeau.int64


# var/std: (shape, dim) whose reduced extent exceeds every correction used below.
VAR_CASES = [
    ((7,), None),
    ((7,), 0),
    ((3, 5), None),
    ((3, 5), 0),
    ((3, 5), 1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), -1),
    ((4, 3, 5), (0, 1, 2)),
]
VAR_KW = [
    {},
    {"unbiased": True},
    {"unbiased": False},
    {"correction": 0},
    {"correction": 1},
    {"correction": 2},
]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("kw", VAR_KW, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", VAR_CASES, ids=_ids)
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std(op, case, dtype, kw, keepdim, non_contiguous, device):
    shape, dim = case
    if dim is None and not keepdim:
        fn = lambda x: getattr(x, op)(**kw)
    else:
        fn = lambda x: getattr(x, op)(dim=dim, keepdim=keepdim, **kw)
    check_op(fn, shapes=[shape], dtype=dtype, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_functional_forms(op, device):
    m_t, m_f = getattr(torch, op), getattr(flambeau, op)
    check_op(lambda x: m_t(x), lambda x: m_f(x), shapes=[(4, 5)], device=device)
    check_op(lambda x: m_t(x, 1), lambda x: m_f(x, 1), shapes=[(4, 5)], device=device)
    check_op(lambda x: m_t(x, dim=0, correction=0), lambda x: m_f(x, dim=0, correction=0), shapes=[(4, 5)],
             device=device)
    # Legacy positional (dim, unbiased, keepdim).
    check_op(lambda x: getattr(x, op)(0, False, True), shapes=[(4, 5)], device=device)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_large_offset_is_accurate(op, device, rng):
    # A naive E[x^2] - E[x]^2 loses everything when the mean dwarfs the spread.
    x = (1000.0 + rng.standard_normal(1001)).astype(np.float32)
    check_op(lambda t: getattr(t, op)(), inputs=[x], device=device, rtol=1e-3)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SINGLE_DIMS, ids=_ids)
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_indices(op, case, dtype, keepdim, non_contiguous, device):
    shape, dim = case
    if dim is None:
        fn = lambda x: getattr(x, op)()
    else:
        fn = lambda x: getattr(x, op)(dim=dim, keepdim=keepdim)
    t, f = check_op(fn, shapes=[shape], dtype=dtype, non_contiguous=non_contiguous, device=device)
    if dim is not None:
        values, indices = f
        assert_close(f.values, t.values)
        assert_close(f.indices, t.indices)
        assert indices.dtype == flambeau.int64 and not indices.requires_grad


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_functional_and_positional(op, device):
    m_t, m_f = getattr(torch, op), getattr(flambeau, op)
    check_op(lambda x: m_t(x), lambda x: m_f(x), shapes=[(3, 4)], device=device)
    check_op(lambda x: m_t(x, 1), lambda x: m_f(x, 1), shapes=[(3, 4)], device=device)
    check_op(lambda x: m_t(x, dim=0, keepdim=True), lambda x: m_f(x, dim=0, keepdim=True), shapes=[(3, 4)],
             device=device)
    # The classifier idiom: predictions = out.max(1)[1]
    check_op(lambda x: getattr(x, op)(1)[1], shapes=[(5, 3)], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((2, 3, 4), 0), ((2, 3, 4), -1)])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_int64(op, shape, dim, keepdim, device, rng):
    # A permutation: no ties, so the indices are unambiguous.
    x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.int64) - 5
    check_op(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), inputs=[x], device=device)
    check_op(lambda t: getattr(t, op)(), inputs=[x], device=device)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_special_values(op, device):
    x = np.array([[1.0, np.inf, -2.0], [-np.inf, -np.inf, 0.5], [3.0, np.nan, 1.0]], dtype=np.float32)
    check_op(lambda t: getattr(t, op)(dim=1), inputs=[x], grad=False, device=device)
    check_op(lambda t: getattr(t, op)(), inputs=[x], grad=False, device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("case", SINGLE_DIMS, ids=_ids)
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op, case, dtype, keepdim, device, rng):
    shape, dim = case
    n = int(np.prod(shape))
    x = (rng.permutation(n).reshape(shape) - n // 2).astype(dtype)
    if dim is None:
        check_op(lambda t: getattr(t, op)(), inputs=[x], device=device)
        check_op(lambda t: getattr(torch, op)(t), lambda t: getattr(flambeau, op)(t), inputs=[x], device=device)
    else:
        check_op(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), inputs=[x], device=device)
        check_op(lambda t: getattr(torch, op)(t, dim), lambda t: getattr(flambeau, op)(t, dim), inputs=[x],
                 device=device)


@pytest.mark.parametrize("op", ["argmax", "argmin", "max", "min"])
def test_arg_reductions_ties_pick_first(op, device):
    # PyTorch returns the first occurrence of the extreme value.
    x = np.array([[1.0, 3.0, 3.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0, 2.0]], dtype=np.float32)
    if op.startswith("arg"):
        check_op(lambda t: getattr(t, op)(dim=1), inputs=[x], device=device)
        check_op(lambda t: getattr(t, op)(), inputs=[x], device=device)
    else:
        check_op(lambda t: getattr(t, op)(dim=1)[1], inputs=[x], device=device)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [c for c in SHAPE_DIMS if not isinstance(c[1], tuple)], ids=_ids)
def test_prod(case, dtype, keepdim, non_contiguous, device):
    shape, dim = case
    fn = (lambda x: x.prod()) if dim is None else (lambda x: x.prod(dim=dim, keepdim=keepdim))
    check_op(fn, shapes=[shape], dtype=dtype, low=0.5, high=1.5, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_gradient_with_zeros(dim, device):
    # One zero in a row: only the zero gets a nonzero gradient; two zeros: the whole row gets zero.
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [2.0, -3.0, 0.5]], dtype=np.float64)
    fn = (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim))
    check_op(fn, inputs=[x], device=device)
    check_op(lambda t: torch.prod(t), lambda t: flambeau.prod(t), inputs=[x], device=device)


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_int64(dim, device):
    fn = (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim))
    check_op(fn, shapes=[(3, 4)], dtype="int64", device=device)


ALL_ANY_CASES = [c for c in SHAPE_DIMS]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["bool", "float32", "int64"])
@pytest.mark.parametrize("case", ALL_ANY_CASES, ids=_ids)
@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any(op, case, dtype, keepdim, device, rng):
    shape, dim = case
    # Mostly-true data so that `all` is sometimes True along a dim.
    x = (rng.random(size=shape) < 0.8).astype(dtype)
    if dim is None:
        check_op(lambda t: getattr(t, op)(), inputs=[x], device=device)
        check_op(lambda t: getattr(torch, op)(t), lambda t: getattr(flambeau, op)(t), inputs=[x], device=device)
    else:
        t, f = check_op(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), inputs=[x], device=device)
        assert f.dtype == flambeau.bool


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [c for c in SHAPE_DIMS if c[1] is not None], ids=_ids)
def test_logsumexp(case, dtype, keepdim, non_contiguous, device):
    shape, dim = case
    check_op(lambda x: x.logsumexp(dim=dim, keepdim=keepdim), shapes=[shape], dtype=dtype,
             non_contiguous=non_contiguous, device=device)
    check_op(lambda x: torch.logsumexp(x, dim, keepdim), lambda x: flambeau.logsumexp(x, dim, keepdim),
             shapes=[shape], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_is_stable(dtype, device, rng):
    x = (rng.uniform(-1, 1, size=(4, 9)) * 1000).astype(dtype)
    x[0] = -np.inf  # a fully -inf row gives -inf, not NaN
    check_op(lambda t: t.logsumexp(dim=1), inputs=[x], grad=False, device=device)
    check_op(lambda t: t.logsumexp(dim=1), inputs=[x[1:]], device=device)


def test_sum_of_many_float32_ones_is_exact(device):
    # 2**24 + 10 ones: a single float32 running sum saturates at 2**24; PyTorch's (pairwise) sum doesn't.
    n = 2**24 + 10
    x = flambeau.ones(n, device=device)
    assert x.sum().item() == float(torch.ones(n).sum().item()) == float(n)
    assert x.mean().item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_reductions_match_torch(dtype, device, rng):
    x = rng.uniform(-1, 1, size=(1000, 1003)).astype(dtype)
    t, f = torch.tensor(x), fl_tensor(x, device)
    tol = {"float32": (1e-3, 1e-4), "float64": (1e-9, 1e-10)}[dtype]
    for fn in (lambda a: a.sum(), lambda a: a.sum(0), lambda a: a.sum(1), lambda a: a.mean(1),
               lambda a: a.var(0), lambda a: a.max(1)[0],
               lambda a: a.logsumexp(1), lambda a: a.T.sum(1)):
        assert_close(fn(f), fn(t), atol=tol[0], rtol=tol[1])


def test_reductions_are_deterministic(device, rng):
    x = fl_tensor(rng.standard_normal((513, 1031)).astype(np.float32), device)
    for fn in (lambda a: a.sum(), lambda a: a.sum(0), lambda a: a.var(1), lambda a: a.logsumexp(0)):
        a, b = fn(x).tolist(), fn(x).tolist()
        assert a == b


def test_reduction_of_empty_tensor_values(device):
    # Identity elements, as in PyTorch.
    e = flambeau.zeros(0, 3, device=device)
    assert e.sum().item() == 0.0
    assert e.prod().item() == 1.0
    assert e.all().item() is True
    assert e.any().item() is False
    assert np.isnan(e.mean().item())
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0]
    assert e.sum(1).shape == (0,)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("n", [1, 7, 65536, 65537, 300001])
@pytest.mark.parametrize("op", ["max", "min"])
def test_whole_tensor_max_min_blocks(op, n, dtype, rng):
    # The whole-tensor path folds fixed 65536-element blocks in parallel: sizes around a block, a NaN
    # in the last block only, and the extreme value in the last element.
    x = (rng.standard_normal(n) * 100).astype(dtype)
    x[-1] = 10 ** 6 if op == "max" else -10 ** 6
    got = getattr(flambeau.from_numpy(x), op)().item()
    assert got == getattr(torch.from_numpy(x), op)().item()
    if dtype.startswith("float"):
        x[-1] = np.nan
        assert np.isnan(getattr(flambeau.from_numpy(x), op)().item())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_clamp_contiguous_and_strided_special_values(dtype, rng):
    x = (rng.standard_normal((50, 41)) * 3).astype(dtype)
    if dtype.startswith("float"):
        x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    for lo, hi in [(-1, 1), (None, 1), (-1, None), (0, 0)]:
        for view in (lambda t: t, lambda t: t.t()):
            ours = view(flambeau.from_numpy(x)).clamp(lo, hi).numpy()
            ref = view(torch.from_numpy(x)).clamp(lo, hi).numpy()
            np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("n", [131073, 65536 * 5 + 3])
def test_whole_tensor_sum_blocks_thread_independent(n, dtype, rng):
    # Large whole-tensor sums fold fixed blocks in parallel: the result is the same with 1 and 2
    # threads, bit for bit, and matches a float64 reference.
    from flambeau import _C
    x = (rng.standard_normal(n) * 10).astype(dtype) if dtype != "bool" else rng.random(n) > 0.5
    t = flambeau.from_numpy(x)
    prev = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = (t.sum().item(), t.mean().item() if dtype.startswith("float") else None)
        _C.set_num_threads(2)
        two = (t.sum().item(), t.mean().item() if dtype.startswith("float") else None)
    finally:
        _C.set_num_threads(prev)
    assert one == two
    ref = x.astype(np.float64).sum()
    assert one[0] == pytest.approx(ref, rel=1e-6, abs=1e-3)


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_rows_on_every_capability(cap, dtype, rng):
    """logsumexp over the last dims of a contiguous tensor runs the SIMD rows (float32: the
    cross-entropy row helpers; float64: its leaf's row_logsumexp from 32 elements on)."""
    from helpers import with_cpu_capability
    for n in [1, 5, 16, 17, 31, 32, 33, 100, 1000, 50257]:
        x = (rng.standard_normal((max(3, 4000 // n), n)) * 30).astype(dtype)
        x[0] = -np.inf  # all -inf: -inf
        x[1, n // 2] = np.nan  # NaN: NaN
        x[2, 0] = np.inf  # +inf: inf
        ours = with_cpu_capability(cap, lambda: flambeau.from_numpy(x).logsumexp(-1).numpy())
        with np.errstate(all="ignore"):
            ref = torch.from_numpy(x.astype(np.float64)).logsumexp(-1).numpy()
        assert ours[0] == -np.inf and np.isnan(ours[1]) and ours[2] == np.inf
        f32 = dtype == "float32"  # log(s) + shift may cancel: an absolute tolerance beside the relative one
        np.testing.assert_allclose(ours[3:], ref[3:], rtol=2e-7 if f32 else 1e-15, atol=2e-6 if f32 else 1e-13)
    if dtype == "float64":
        x = rng.standard_normal((50, 77)) * 10
        a = with_cpu_capability("avx2", lambda: flambeau.from_numpy(x).logsumexp(1).numpy())
        b = with_cpu_capability("avx512", lambda: flambeau.from_numpy(x).logsumexp(1).numpy())
        np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,dim", [((300, 301), 0), ((64, 40, 30), (0, 2)), ((40, 64, 30), 1)])
def test_logsumexp_large_over_leading_or_strided_dims(shape, dim, dtype, device, rng):
    """Large inputs reduced over dims that are not their contiguous last ones take the composite of
    vector kernels (max, exp, sum, log): values, gradients and specials as PyTorch."""
    check_op(lambda x: x.logsumexp(dim), shapes=[shape], dtype=dtype, device=device, rng=rng)
    check_op(lambda x: x.logsumexp(dim, keepdim=True), shapes=[shape], dtype=dtype, device=device, rng=rng,
             grad=False, non_contiguous=True)
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    flat = x.reshape(-1)
    flat[5] = np.nan
    x[(slice(None),) * (len(shape) - 1) + (3,)] = -np.inf
    x[(0,) * (len(shape) - 1) + (4,)] = np.inf
    ours = flambeau.from_numpy(x).logsumexp(dim).numpy()
    ref = torch.from_numpy(x).logsumexp(dim).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(ours[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape,dim", [((50, 17), 0), ((7, 3, 40), (0, 1)), ((9, 33, 20), 1), ((1000, 64), 0)])
def test_amax_amin_over_outer_dims(shape, dim, dtype, rng):
    """Reductions over outer dims with a contiguous kept block of 16+ take the running per-column
    max/min: exact, a NaN anywhere in a column gives NaN for that column only."""
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    f = flambeau.from_numpy(x)
    np.testing.assert_array_equal(f.amax(dim).numpy(), x.max(axis=dim))
    np.testing.assert_array_equal(f.amin(dim).numpy(), x.min(axis=dim))
    np.testing.assert_array_equal(f.amax(dim, keepdim=True).numpy(), x.max(axis=dim, keepdims=True))
    if dtype != "int64":
        y = x.copy()
        y[(1,) * (len(shape) - 1) + (5,)] = np.nan
        got, ref = flambeau.from_numpy(y).amax(dim).numpy(), y.max(axis=dim)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(got[~np.isnan(ref)], ref[~np.isnan(ref)])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape,dim", [((64, 1000), 1), ((1000, 64), 0), ((6, 40, 30), 1), ((7, 15), 1), ((300, 20), 0)])
def test_prod_rows_and_outer_dims(shape, dim, dtype, rng):
    """prod over contiguous rows (eight running products) and over outer dims (a running product per
    column): int64/bool exact, floats within float64 rounding of the exact product."""
    if dtype in ("int64", "bool"):
        x = rng.integers(-2, 3, size=shape).astype(dtype)
    else:
        x = (rng.random(shape) * 0.2 + 0.9).astype(dtype)
    ours = flambeau.from_numpy(x).prod(dim).numpy()
    ref = torch.from_numpy(x).prod(dim).numpy()
    if dtype in ("int64", "bool"):
        np.testing.assert_array_equal(ours, ref)
    else:
        exact = np.prod(x.astype(np.float64), axis=dim)
        np.testing.assert_allclose(ours, exact.astype(dtype), rtol=2e-7 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("shape,dim", [((37, 600), 0), ((3, 50, 300), 1), ((4, 5, 7), 0), ((1000, 3), 0),
                                       ((2, 3, 600), -2)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_arg_reductions_over_outer_dims(shape, dim, dtype, rng):
    """x.max(0) and kin on a contiguous input walk blocks of columns (cpu/reduce.cpp,
    arg_reduce_columns): ties keep the first index, the first NaN wins, blocks and tails are exact."""
    x = rng.integers(-3, 4, size=shape).astype(dtype)  # many ties
    if dtype != "int64":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, size=max(1, flat.size // 50), replace=False)] = np.nan
    fx, tx = flambeau.from_numpy(x), torch.from_numpy(x)
    for op in ("max", "min"):
        fv, fi = getattr(fx, op)(dim)
        tv, ti = getattr(tx, op)(dim)
        np.testing.assert_array_equal(fi.numpy(), ti.numpy())
        np.testing.assert_array_equal(fv.numpy(), tv.numpy())
        np.testing.assert_array_equal(getattr(fx, "arg" + op)(dim).numpy(), getattr(tx, "arg" + op)(dim).numpy())


@pytest.mark.parametrize("n", [4096, 4097, 5000, 1 << 20, (1 << 20) + 3])
def test_any_all_of_large_bool_tensors(n, rng):
    """Whole-tensor any/all of a contiguous bool tensor fold its bytes 8 at a time (cpu/reduce.cpp):
    a single True (or False) anywhere, the tail included, decides."""
    cases = {"zeros": np.zeros(n, bool), "ones": np.ones(n, bool), "random": rng.random(n) > 0.5}
    for pos in (0, n // 2, n - 1):
        t = np.zeros(n, bool)
        t[pos] = True
        f = np.ones(n, bool)
        f[pos] = False
        cases[f"true@{pos}"], cases[f"false@{pos}"] = t, f
    for name, a in cases.items():
        x = flambeau.from_numpy(a)
        assert x.any().item() == a.any() and x.all().item() == a.all(), name
        assert flambeau.any(x.reshape(64, -1) if n % 64 == 0 else x).item() == a.any(), name


def test_max_min_on_bool_tensors():
    """amax/amin/max/min on bool tensors (any / all, with PyTorch's indices); they raised TypeError."""
    x = np.random.rand(5, 7) > 0.5
    x[2] = False
    x[3] = True
    tx, fx = torch.tensor(x), flambeau.tensor(x)
    for fn in ("amax", "amin", "max", "min"):
        for args in ((), (0,), (1,), (1, True)):
            want, got = getattr(torch, fn)(tx, *args), getattr(flambeau, fn)(fx, *args)
            if isinstance(want, tuple):
                assert got[0].dtype == flambeau.bool
                np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
                np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
            else:
                assert got.dtype == flambeau.bool
                np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(fx[:, ::2].amax(1).numpy(), tx[:, ::2].amax(1).numpy())
    assert tuple(flambeau.zeros(0, 3, dtype=flambeau.bool).amax(1).shape) == (0,)
    with pytest.raises(IndexError):
        flambeau.zeros(0, 3, dtype=flambeau.bool).amax(0)
