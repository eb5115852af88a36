"""The composite functions and Tensor methods of _functions/misc.py, _functions/nn_toplevel.py and
_typeinfo.py against PyTorch: finfo/iinfo, ravel, Tensor.unfold (a view), diff, cross, kron, block_diag,
cov/corrcoef, quantile/nanquantile, mode, isin, unravel_index, combinations, vander, h/v/dsplit, the
pointwise composites (rad2deg, logit, sinc, heaviside, copysign, logaddexp2) and in-place variants, the
in-place shape ops (squeeze_, t_, ...), fill_diagonal_, Tensor.new, sum_to_size, window functions and the
top-level aliases of nn.functional ops (torch.conv2d, torch.dropout, torch.batch_norm, ...).
Forward and gradients (check_op), float64 finite-difference gradchecks, views, and error messages."""
import warnings
from functools import partial

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_error, check_op, fl_tensor, rand_array


def both(spec):
    """spec(lib, *args) -> (torch_fn, flambeau_fn)."""
    return partial(spec, torch), partial(spec, flambeau)


# ---------------------------------------------------------------------------------------------- finfo/iinfo
@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16"])
def test_finfo(name):
    t, f = torch.finfo(getattr(torch, name)), flambeau.finfo(getattr(flambeau, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(f, attr) == getattr(t, attr), attr
        assert type(getattr(f, attr)) is type(getattr(t, attr)), attr
    assert repr(f) == repr(t)
    assert f == flambeau.finfo(getattr(flambeau, name))


def test_finfo_default_and_iinfo():
    assert flambeau.finfo().dtype == "float32"
    flambeau.set_default_dtype(flambeau.float64)
    try:
        assert flambeau.finfo().eps == torch.finfo(torch.float64).eps
    finally:
        flambeau.set_default_dtype(flambeau.float32)
    t, f = torch.iinfo(torch.int64), flambeau.iinfo(flambeau.int64)
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(f, attr) == getattr(t, attr)
    assert repr(f) == repr(t)
    assert flambeau.iinfo(flambeau.long).max == 2 ** 63 - 1


def test_finfo_iinfo_errors():
    check_error(lambda m: m.finfo(m.int64), TypeError, "finfo.*floating point")
    check_error(lambda m: m.finfo(m.bool), TypeError, "finfo.*floating point")
    check_error(lambda m: m.iinfo(m.float32), TypeError, "iinfo.*integer")
    check_error(lambda m: m.iinfo(m.bool), TypeError, "bool is not supported")
    with pytest.raises(TypeError):
        hash(flambeau.finfo(flambeau.float32))


# ---------------------------------------------------------------------------------------------- ravel, unfold
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (0, 3), (), (7,)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ravel(shape, dtype):
    check_op(*both(lambda m, x: m.ravel(x)), shapes=[shape], dtype=dtype)
    check_op(lambda x: x.ravel() * 2, shapes=[shape], dtype=dtype, non_contiguous=True)


def test_ravel_view_semantics():
    x = flambeau.randn(3, 4)
    r = x.ravel()
    assert r._impl.same_storage(x._impl) and r._base is x
    xt = x.t()
    rt = xt.ravel()
    assert not rt._impl.same_storage(x._impl)  # a copy, as torch's for non-contiguous input
    assert_close(rt, torch.from_numpy(x.numpy()).t().ravel())


UNFOLDS = [((10,), 0, 3, 1), ((10,), 0, 3, 3), ((10,), 0, 4, 3), ((5, 7), 1, 3, 2), ((5, 7), 0, 2, 1),
           ((4, 6, 3), -2, 2, 4), ((2, 3, 4), 2, 4, 1), ((10,), 0, 10, 1), ((10,), 0, 0, 1), ((0, 3), 0, 0, 1),
           ((4, 0), 0, 2, 1), ((), 0, 1, 1), ((), -1, 0, 2)]


@pytest.mark.parametrize("case", UNFOLDS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unfold(case, dtype):
    shape, d, size, step = case
    check_op(lambda x: x.unfold(d, size, step), shapes=[shape], dtype=dtype)
    if len(shape) >= 1:
        check_op(lambda x: x.unfold(d, size, step) * 3, shapes=[shape], dtype=dtype, non_contiguous=True)
    check_op(lambda x: x.unfold(d, size, step), shapes=[shape], dtype="int64")


def test_unfold_is_view():
    x = flambeau.arange(10.0)
    u = x.unfold(0, 3, 2)
    t = torch.arange(10.0).unfold(0, 3, 2)
    assert u.stride() == t.stride() and tuple(u.shape) == tuple(t.shape)
    assert u._impl.same_storage(x._impl) and u._base is x
    x[4] = 100.0
    assert u[1, 2].item() == 100.0 and u[2, 0].item() == 100.0
    # Non-contiguous input: strides follow the input's own.
    base = flambeau.arange(24.0).reshape(4, 6)
    v = base.t().unfold(1, 2, 1)
    tv = torch.arange(24.0).reshape(4, 6).t().unfold(1, 2, 1)
    assert v.stride() == tv.stride()
    assert_close(v, tv)


def test_unfold_in_place_write_through_view_grad():
    # An in-place op on an unfold view of a non-leaf: gradients reach the leaf through CopySlices.
    def run(m):
        x = m.tensor(np.linspace(-1, 1, 12), requires_grad=True)
        y = x * 2
        y.unfold(0, 3, 3).mul_(3.0)
        (y * y).sum().backward()
        return x.grad
    assert_close(run(flambeau), run(torch))


def test_unfold_gradcheck():
    x = flambeau.randn(7, 3, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda t: t.unfold(0, 3, 2), (x,))
    assert flambeau.autograd.gradcheck(lambda t: t.unfold(0, 4, 1) * t.unfold(0, 4, 1), (x,))


def test_unfold_double_backward():
    x = flambeau.randn(6, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda t: (t.unfold(0, 3, 1) ** 2).sum(), (x,))


def test_unfold_errors():
    check_error(lambda m: m.arange(10.0).unfold(0, 11, 1), RuntimeError, r"unfold.*size.*10.*11.*\[10\]")
    check_error(lambda m: m.arange(10.0).unfold(0, 3, 0), RuntimeError, r"unfold: step is 0")
    check_error(lambda m: m.arange(10.0).unfold(1, 3, 1), IndexError, r"Dimension out of range")
    check_error(lambda m: m.tensor(5.0).unfold(0, 2, 1), RuntimeError, r"unfold.*1 but size is 2")


# ---------------------------------------------------------------------------------------------- diff
DIFFS = [((7,), {}), ((3, 5), {}), ((3, 5), {"dim": 0}), ((4, 6), {"n": 2}), ((4, 6), {"n": 3, "dim": 0}),
         ((3,), {"n": 5}), ((0, 4), {}), ((0, 4), {"dim": 0}), ((3, 5), {"n": 0}), ((5,), {"dim": -1})]


@pytest.mark.parametrize("case", DIFFS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nc", [False, True], ids=["contig", "strided"])
def test_diff(case, dtype, nc):
    shape, kw = case
    check_op(*both(lambda m, x: m.diff(x, **kw)), shapes=[shape], dtype=dtype, non_contiguous=nc)
    check_op(lambda x: x.diff(**kw), shapes=[shape], dtype="int64")
    check_op(lambda x: x.diff(**kw), shapes=[shape], dtype="bool")


def test_diff_prepend_append():
    check_op(lambda x, p, a: torch.diff(x, prepend=p, append=a), lambda x, p, a: flambeau.diff(x, prepend=p, append=a),
             shapes=[(3, 4), (3, 2), (3, 1)])
    check_op(lambda x, p: torch.diff(x, n=2, dim=0, prepend=p), lambda x, p: flambeau.diff(x, n=2, dim=0, prepend=p),
             shapes=[(3, 4), (2, 4)], dtype="float64")
    check_op(*both(lambda m, x, a: m.diff(x, append=a)), shapes=[(2, 3), (2, 1)], dtype=["int64", "float32"])


def test_diff_errors():
    check_error(lambda m: m.diff(m.tensor(1.0)), RuntimeError, "diff expects input to be at least one-dimensional")
    check_error(lambda m: m.diff(m.ones(3), n=-1), RuntimeError, "order must be non-negative but got -1")
    check_error(lambda m: m.diff(m.ones(3), prepend=m.tensor(1.0)), RuntimeError, "same dimension as input")
    check_error(lambda m: m.diff(m.ones(2, 3), dim=0, prepend=m.ones(1, 2)), RuntimeError,
                r"input.size\(1\) = 3, but got tensor.size\(1\) = 2")


# ---------------------------------------------------------------------------------------------- cross, kron, block_diag
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nc", [False, True], ids=["contig", "strided"])
def test_cross(dtype, nc):
    check_op(*both(lambda m, a, b: m.cross(a, b, dim=1)), shapes=[(4, 3), (4, 3)], dtype=dtype, non_contiguous=nc)
    check_op(*both(lambda m, a, b: m.linalg.cross(a, b)), shapes=[(2, 1, 3), (1, 5, 3)], dtype=dtype)
    check_op(*both(lambda m, a, b: m.linalg.cross(a, b, dim=0)), shapes=[(3, 5), (3, 5)], dtype=dtype,
             non_contiguous=nc)
    check_op(lambda a, b: a.cross(b, dim=-1), shapes=[(3,), (3,)], dtype=dtype)
    check_op(*both(lambda m, a, b: m.linalg.cross(a, b)), shapes=[(0, 3), (0, 3)], dtype=dtype)
    check_op(*both(lambda m, a, b: m.linalg.cross(a, b)), shapes=[(5, 3), (5, 3)], dtype="int64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(*both(lambda m, a, b: m.cross(a, b)), shapes=[(2, 3, 3), (2, 3, 3)], dtype=dtype)


def test_cross_errors():
    check_error(lambda m: m.linalg.cross(m.ones(4), m.ones(4)), RuntimeError,
                r"linalg.cross: inputs dimension -1 must have length 3. Got 4 and 4")
    check_error(lambda m: m.cross(m.ones(2, 4), m.ones(2, 4), dim=1), RuntimeError,
                r"dimension 1 must have length 3. Got 4 and 4.*\[2, 4\]")
    check_error(lambda m: m.cross(m.ones(2, 3), m.ones(3, 1, 3), dim=-1), RuntimeError, "same number of dimensions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_error(lambda m: m.cross(m.ones(2, 2), m.ones(2, 2)), RuntimeError, "no dimension of size 3")
    with pytest.warns(UserWarning, match="without specifying the dim"):
        flambeau.cross(flambeau.ones(3), flambeau.ones(3))


@pytest.mark.parametrize("shapes", [[(2, 3), (4,)], [(2, 1, 3), (3, 2)], [(), (3,)], [(3,), ()], [(2, 0), (3, 3)],
                                    [(3, 2), (2, 3)]], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kron(shapes, dtype):
    check_op(*both(lambda m, a, b: m.kron(a, b)), shapes=shapes, dtype=dtype)
    check_op(lambda a, b: a.kron(b), shapes=shapes, dtype="int64")
    if all(len(s) >= 1 for s in shapes):
        # torch.kron raises on some non-contiguous inputs (it views them); the oracle gets contiguous copies.
        check_op(lambda a, b: torch.kron(a.contiguous(), b.contiguous()), lambda a, b: flambeau.kron(a, b),
                 shapes=shapes, dtype=dtype, non_contiguous=True)


def test_kron_promotes():
    check_op(*both(lambda m, a, b: m.kron(a, b)), shapes=[(2, 2), (3,)], dtype=["int64", "float32"])


@pytest.mark.parametrize("shapes", [[(), (3,), (2, 2)], [(2, 3)], [(0, 2), (2, 0)], [(3, 1), (1,), (2, 4), ()]],
                         ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_block_diag(shapes, dtype):
    check_op(*both(lambda m, *ts: m.block_diag(*ts)), shapes=shapes, dtype=dtype)
    check_op(*both(lambda m, *ts: m.block_diag(*ts)), shapes=shapes, dtype="int64")


def test_block_diag_misc():
    assert_close(flambeau.block_diag(), torch.block_diag())
    check_op(*both(lambda m, a, b: m.block_diag(a, b)), shapes=[(2, 2), (3,)], dtype=["int64", "float64"])
    check_op(*both(lambda m, a, b: m.block_diag(a, b)), shapes=[(2, 2), (1, 3)], dtype="bool")
    check_error(lambda m: m.block_diag(m.ones(2, 2, 2)), RuntimeError,
                "block_diag: Input tensors must have 2 or fewer dimensions. Input 0 has 3 dimensions")


# ---------------------------------------------------------------------------------------------- cov, corrcoef
@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("shape", [(3, 7), (7,), (1, 5), (4, 2)], ids=str)
@pytest.mark.parametrize("correction", [1, 0, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cov(shape, correction, dtype):
    check_op(*both(lambda m, x: m.cov(x, correction=correction)), shapes=[shape], dtype=dtype)
    check_op(lambda x: x.cov(correction=correction), shapes=[shape], dtype=dtype, non_contiguous=True)


def test_cov_weights(rng):
    n = 6
    fw = rng.integers(0, 4, size=n).astype(np.int64)
    fw[0] = 2
    aw = rng.uniform(0.1, 2.0, size=n)
    for corr in (0, 1):
        check_op(lambda x, f, a: torch.cov(x, correction=corr, fweights=f, aweights=a),
                 lambda x, f, a: flambeau.cov(x, correction=corr, fweights=f, aweights=a),
                 inputs=[rand_array((3, n), "float64", rng), fw, aw], grad=[True, False, False])
        check_op(lambda x, f: torch.cov(x, correction=corr, fweights=f),
                 lambda x, f: flambeau.cov(x, correction=corr, fweights=f),
                 inputs=[rand_array((2, n), "float32", rng), fw])
        check_op(lambda x, a: torch.cov(x, correction=corr, aweights=a),
                 lambda x, a: flambeau.cov(x, correction=corr, aweights=a),
                 inputs=[rand_array((n,), "float64", rng), aw], grad=[True, False])


def test_cov_int_and_degenerate():
    check_op(*both(lambda m, x: m.cov(x)), shapes=[(3, 5)], dtype="int64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(*both(lambda m, x: m.cov(x)), shapes=[(1,)], grad=False)
        check_op(*both(lambda m, x: m.cov(x)), shapes=[(2, 0)], grad=False)
        check_op(*both(lambda m, x: m.cov(x)), shapes=[(0, 3)], grad=False)
    with pytest.warns(UserWarning, match="degrees of freedom"):
        flambeau.cov(flambeau.ones(1))


def test_cov_errors():
    check_error(lambda m: m.cov(m.ones(2, 2, 2)), RuntimeError, "two or fewer dimensions.*3 dimensions")
    check_error(lambda m: m.cov(m.tensor([True, False])), RuntimeError, "bool dtype")
    check_error(lambda m: m.cov(m.ones(2), fweights=m.ones(2)), RuntimeError, "fweights to have integral dtype")
    check_error(lambda m: m.cov(m.ones(2), fweights=m.tensor([1, -2])), RuntimeError, "fweights cannot be negative")
    check_error(lambda m: m.cov(m.ones(2), aweights=m.tensor([1, 2])), RuntimeError,
                "aweights to have floating point dtype")
    check_error(lambda m: m.cov(m.ones(2), aweights=m.ones(3)), RuntimeError, "3 != 2")


@pytest.mark.parametrize("shape", [(3, 7), (7,), (2, 4)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_corrcoef(shape, dtype):
    check_op(*both(lambda m, x: m.corrcoef(x)), shapes=[shape], dtype=dtype)
    check_op(lambda x: x.corrcoef(), shapes=[shape], dtype=dtype, non_contiguous=True)
    check_op(*both(lambda m, x: m.corrcoef(x)), shapes=[shape], dtype="int64")
    check_error(lambda m: m.corrcoef(m.ones(2, 2, 2)), RuntimeError, "corrcoef.*3 dimensions")


def test_cov_corrcoef_gradcheck():
    x = flambeau.randn(3, 6, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda t: flambeau.cov(t), (x,))
    assert flambeau.autograd.gradcheck(lambda t: flambeau.corrcoef(t), (x,))
    a = flambeau.rand(6, dtype=flambeau.float64) + 0.5
    assert flambeau.autograd.gradcheck(lambda t: flambeau.cov(t, aweights=a), (x,))


# ---------------------------------------------------------------------------------------------- quantile
INTERPS = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [((5, 7), None, False), ((5, 7), 1, False), ((5, 7), 0, True), ((4, 3, 6), 1, True),
                                  ((9,), 0, False), ((9,), None, True), ((), None, False), ((), 0, True),
                                  ((2, 5), -1, True)], ids=str)
def test_quantile(case, dtype, interp):
    shape, dim, keepdim = case
    for q in (0.3, 0.0, 1.0, 0.5):
        check_op(*both(lambda m, x: m.quantile(x, q, dim=dim, keepdim=keepdim, interpolation=interp)),
                 shapes=[shape], dtype=dtype)
    qs = np.array([0.0, 0.25, 0.5, 1.0 / 6, 1.0], dtype=dtype)
    check_op(lambda x, q: x.quantile(q, dim=dim, keepdim=keepdim, interpolation=interp),
             inputs=[rand_array(shape, dtype), qs], grad=[True, False])
    check_op(lambda x, q: x.quantile(q, dim=dim, keepdim=keepdim, interpolation=interp),
             inputs=[rand_array(shape, dtype), np.array(0.75, dtype=dtype)], grad=[True, False])
    if len(shape) >= 1:
        check_op(lambda x: x.quantile(0.4, dim=dim, keepdim=keepdim, interpolation=interp), shapes=[shape],
                 dtype=dtype, non_contiguous=True)


@pytest.mark.parametrize("interp", INTERPS)
def test_quantile_nan(interp, rng):
    x = rand_array((4, 7), "float64", rng)
    x[0, 2] = np.nan
    x[2, :] = np.nan
    x[3, 1] = x[3, 5] = np.nan
    for q in (0.3, 0.5, np.array([0.1, 0.9])):
        for dim in (1, None):
            check_op(lambda t, *qq: torch.quantile(t, qq[0] if qq else q, dim=dim, interpolation=interp),
                     lambda t, *qq: flambeau.quantile(t, qq[0] if qq else q, dim=dim, interpolation=interp),
                     inputs=[x] + ([q] if isinstance(q, np.ndarray) else []), grad=False)
            check_op(lambda t, *qq: torch.nanquantile(t, qq[0] if qq else q, dim=dim, interpolation=interp),
                     lambda t, *qq: flambeau.nanquantile(t, qq[0] if qq else q, dim=dim, interpolation=interp),
                     inputs=[x] + ([q] if isinstance(q, np.ndarray) else []), grad=False)
    # Gradients where the picked values are not NaN (the order among NaNs, hence which NaN a rank
    # lands on, is unspecified).
    y = x[:2].copy()
    check_op(lambda t: torch.nanquantile(t, 0.4, dim=1, interpolation=interp),
             lambda t: flambeau.nanquantile(t, 0.4, dim=1, interpolation=interp), inputs=[y])


def test_quantile_errors():
    check_error(lambda m: m.quantile(m.ones(3), 1.5), RuntimeError, r"quantile\(\) q must be in the range \[0, 1\]")
    check_error(lambda m: m.quantile(m.ones(3), m.tensor([0.5, 2.0])), RuntimeError, "range")
    check_error(lambda m: m.quantile(m.ones(3), m.tensor([0.5], dtype=m.float64)), RuntimeError, "same dtype")
    check_error(lambda m: m.quantile(m.tensor([1, 2]), 0.5), RuntimeError, "float or double")
    check_error(lambda m: m.quantile(m.empty(0), 0.5), RuntimeError, "non-empty")
    check_error(lambda m: m.quantile(m.ones(3), 0.5, interpolation="foo"), RuntimeError, "interpolation")
    check_error(lambda m: m.quantile(m.ones(3), m.ones(2, 2) * 0.5), RuntimeError, "scalar or 1D")
    check_error(lambda m: m.nanquantile(m.ones(3), -0.1), RuntimeError, "nanquantile")


def test_quantile_gradcheck():
    x = flambeau.randn(4, 7, dtype=flambeau.float64, requires_grad=True)
    q = flambeau.tensor([0.2, 0.55, 0.9], dtype=flambeau.float64)
    assert flambeau.autograd.gradcheck(lambda t: flambeau.quantile(t, q, dim=1), (x,))
    assert flambeau.autograd.gradcheck(lambda t: flambeau.nanquantile(t, 0.3, interpolation="midpoint"), (x,))


# ---------------------------------------------------------------------------------------------- mode
@pytest.mark.parametrize("case", [((4, 9), -1, False), ((4, 9), 0, True), ((3, 4, 5), 1, False), ((11,), 0, False),
                                  ((2, 0), 0, False), ((), 0, False)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_mode(case, dtype, rng):
    shape, dim, keepdim = case
    x = rng.integers(0, 3, size=shape).astype(dtype)  # few distinct values: many ties
    check_op(*both(lambda m, t: m.mode(t, dim, keepdim)), inputs=[x])
    check_op(lambda t: t.mode(dim, keepdim=keepdim), inputs=[x])
    r = flambeau.mode(fl_tensor(x), dim, keepdim)
    assert r.values is r[0] and r.indices is r[1]


def test_mode_bool_nan_and_errors():
    check_op(*both(lambda m, t: m.mode(t)), inputs=[np.array([True, False, True, False, False])])
    check_op(*both(lambda m, t: m.mode(t)), inputs=[np.array([3.0, np.nan, np.nan])])
    check_error(lambda m: m.mode(m.empty(0)), IndexError, r"mode\(\): Expected reduction dim 0 to have non-zero size")


# ---------------------------------------------------------------------------------------------- isin, unravel_index
def test_isin(rng):
    a = rng.integers(-3, 4, size=(3, 5))
    b = rng.integers(-3, 4, size=(4,))
    for invert in (False, True):
        check_op(*both(lambda m, x, y: m.isin(x, y, invert=invert)), inputs=[a, b])
        check_op(*both(lambda m, x, y: m.isin(x, y, invert=invert)), inputs=[a.astype(np.float32), b])
    check_op(*both(lambda m, x: m.isin(x, 2)), inputs=[a])
    check_op(*both(lambda m, x: m.isin(2, x)), inputs=[b])
    check_op(*both(lambda m, x, y: m.isin(x, y)), inputs=[np.array([1.0, np.nan]), np.array([np.nan])])
    check_op(*both(lambda m, x, y: m.isin(x, y)), inputs=[np.zeros((0, 2), np.int64), b])
    check_error(lambda m: m.isin(m.tensor([True]), m.tensor([1])), RuntimeError, "isin.*Bool")


def test_unravel_index():
    for idx, shape in [([4, 1, 5], (2, 3)), (4, (2, 3)), ([[3], [7]], (2, 2, 2)), ([-1, 6, -7], (2, 3)),
                       ([0, 3], 5), ([0], ())]:
        t = torch.unravel_index(torch.tensor(idx), shape)
        f = flambeau.unravel_index(flambeau.tensor(idx), shape)
        assert isinstance(f, tuple) and len(f) == len(t)
        for a, b in zip(f, t):
            assert_close(a, b)
    check_error(lambda m: m.unravel_index(m.tensor([1.0]), (2, 3)), TypeError, "integer dtype")
    check_error(lambda m: m.unravel_index(m.tensor([True]), (2, 3)), TypeError, "integer dtype")
    check_error(lambda m: m.unravel_index(m.tensor([0]), (2, -1)), ValueError, "negative values")


# ---------------------------------------------------------------------------------------------- combinations, vander
@pytest.mark.parametrize("n,r,rep", [(5, 2, False), (5, 3, False), (4, 2, True), (3, 3, True), (3, 1, False),
                                     (4, 0, False), (3, 5, False), (0, 2, False), (1, 2, True)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_combinations(n, r, rep, dtype):
    check_op(*both(lambda m, x: m.combinations(x, r, rep)), shapes=[(n,)], dtype=dtype)
    if dtype != "int64" and n:
        check_op(*both(lambda m, x: m.combinations(x, r=r, with_replacement=rep)), shapes=[(n,)], dtype=dtype,
                 non_contiguous=True)


def test_combinations_errors():
    check_error(lambda m: m.combinations(m.ones(2, 2)), RuntimeError, r"Expect a 1D vector, but got shape \[2, 2\]")
    check_error(lambda m: m.combinations(m.ones(3), -1), RuntimeError, "non-negative")


@pytest.mark.parametrize("N", [None, 0, 1, 2, 5])
@pytest.mark.parametrize("increasing", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_vander(N, increasing, dtype):
    # torch.vander's own backward fails (it writes a cumprod into a slice of its result), so the
    # forward is compared here and flambeau's gradient is checked by finite differences below.
    check_op(*both(lambda m, x: m.vander(x, N, increasing)), shapes=[(4,)], dtype=dtype, grad=False)
    check_op(*both(lambda m, x: m.vander(x, N=N, increasing=increasing)), shapes=[(0,)], dtype=dtype, grad=False)
    if dtype != "int64":
        check_op(*both(lambda m, x: m.vander(x, N=N, increasing=increasing)), shapes=[(5,)], dtype=dtype,
                 non_contiguous=True, grad=False)


def test_vander_bool_and_errors():
    check_op(*both(lambda m, x: m.vander(x)), inputs=[np.array([True, False, True])])
    check_error(lambda m: m.vander(m.ones(2, 2)), RuntimeError, "one-dimensional")
    check_error(lambda m: m.vander(m.ones(2), N=-1), RuntimeError, "N must be non-negative")


@pytest.mark.parametrize("shape,N", [((4,), None), ((2, 3), None), ((2, 3), 5), ((), 2), ((0, 3), None)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_linalg_vander(shape, N, dtype):
    check_op(*both(lambda m, x: m.linalg.vander(x, N=N)), shapes=[shape], dtype=dtype)


def test_linalg_vander_errors():
    check_error(lambda m: m.linalg.vander(m.tensor([2.0]), N=1), RuntimeError, "N must be greater than 1")
    check_error(lambda m: m.linalg.vander(m.tensor([True])), RuntimeError, "Bool")


def test_vander_gradcheck():
    x = flambeau.randn(4, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda t: flambeau.vander(t, 4), (x,))
    assert flambeau.autograd.gradcheck(lambda t: flambeau.linalg.vander(t.reshape(2, 2), N=3), (x,))
    assert flambeau.autograd.gradcheck(lambda t: flambeau.combinations(t, 2), (x,))


# ---------------------------------------------------------------------------------------------- h/v/dsplit
@pytest.mark.parametrize("op,shape,arg", [("hsplit", (2, 6), 3), ("hsplit", (6,), 2), ("hsplit", (2, 5, 3), [1, 4]),
                                          ("vsplit", (4, 3), 2), ("vsplit", (5, 2), [2, 3, 9]),
                                          ("dsplit", (2, 2, 4), 2), ("dsplit", (2, 2, 5), [1, 3]),
                                          ("hsplit", (2, 0), 1)], ids=str)
def test_directional_split(op, shape, arg):
    check_op(*both(lambda m, x: getattr(m, op)(x, arg)), shapes=[shape])
    check_op(lambda x: getattr(x, op)(arg), shapes=[shape], dtype="float64", non_contiguous=True)
    res = getattr(flambeau, op)(fl_tensor(rand_array(shape)), arg)
    assert isinstance(res, tuple)


def test_directional_split_errors():
    check_error(lambda m: m.hsplit(m.ones(2, 4), 3), RuntimeError,
                "hsplit attempted to split along dimension 1, but the size of the dimension 4 is not divisible by "
                "the split_size 3")
    check_error(lambda m: m.hsplit(m.tensor(1.0), 1), RuntimeError, "hsplit requires a tensor with at least 1")
    check_error(lambda m: m.vsplit(m.ones(4), 2), RuntimeError, "vsplit requires a tensor with at least 2")
    check_error(lambda m: m.dsplit(m.ones(2, 2), 2), RuntimeError, "dsplit requires a tensor with at least 3")
    check_error(lambda m: m.vsplit(m.ones(4, 2), 0), RuntimeError, "split_size 0")


# ---------------------------------------------------------------------------------------------- pointwise composites
POINTWISE = {
    "rad2deg": (lambda m, x: m.rad2deg(x), {}),
    "deg2rad": (lambda m, x: m.deg2rad(x), {}),
    "rad2deg_method": (lambda m, x: x.rad2deg(), {}),
    "logit": (lambda m, x: m.logit(x), {"low": 0.02, "high": 0.98}),
    "logit_eps": (lambda m, x: m.logit(x, eps=0.1), {"low": -0.2, "high": 1.2}),
    "logit_eps_small": (lambda m, x: x.logit(1e-6), {"low": 0.0, "high": 1.0}),
    "logit_eps_neg": (lambda m, x: m.logit(x, -1.0), {"low": 0.05, "high": 0.95}),
    "sinc": (lambda m, x: m.sinc(x), {}),
    "sinc_method": (lambda m, x: x.sinc(), {"low": -4.0, "high": 4.0}),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (0, 3), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pointwise_composites(name, shape, dtype):
    spec, kw = POINTWISE[name]
    check_op(*both(spec), shapes=[shape], dtype=dtype, **kw)
    if len(shape) >= 1:
        check_op(*both(spec), shapes=[shape], dtype=dtype, non_contiguous=True, **kw)


@pytest.mark.parametrize("name", ["rad2deg", "deg2rad", "sinc", "logit"])
def test_pointwise_int_and_bool(name):
    spec = POINTWISE[name][0]
    check_op(*both(spec), inputs=[np.array([0, 1, 2, -3])])
    check_op(*both(spec), inputs=[np.array([True, False])])


def test_sinc_at_zero():
    check_op(*both(lambda m, x: m.sinc(x)), inputs=[np.array([0.0, 1.0, -0.5, 0.0, 2.5])], dtype="float64")
    x = flambeau.tensor([0.0, 0.3, -1.7], dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(flambeau.sinc, (x,))


def test_logit_gradcheck():
    x = flambeau.tensor([0.2, 0.5, 0.85, 0.05, 0.97], dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(flambeau.logit, (x,))
    assert flambeau.autograd.gradcheck(lambda t: flambeau.logit(t, 0.1), (x,))


@pytest.mark.parametrize("shapes", [[(7,), (7,)], [(3, 1), (1, 4)], [(), (2, 3)], [(0, 3), (3,)]], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_heaviside(shapes, dtype, rng):
    a = rand_array(shapes[0], dtype, rng)
    a[a < -1] = 0.0  # some exact zeros
    b = rand_array(shapes[1], dtype, rng)
    check_op(*both(lambda m, x, v: m.heaviside(x, v)), inputs=[a, b], grad=False)
    check_op(lambda x, v: x.heaviside(v), inputs=[a, b], grad=False)
    check_op(*both(lambda m, x, v: m.heaviside(x, v)), inputs=[np.array([0, -2, 3, 0]), np.array(7)])


def test_heaviside_errors_and_grad():
    check_error(lambda m: m.heaviside(m.tensor([0.0, 1.0]), m.tensor(1)), RuntimeError, "different dtypes")
    check_error(lambda m: m.heaviside(m.tensor([0.0, 1.0]), 1.0), TypeError, "values")
    for m in (torch, flambeau):
        x = m.tensor([0.0, -1.0, 2.0], requires_grad=True)
        y = m.heaviside(x, m.tensor(0.5))
        assert y.requires_grad
        with pytest.raises(RuntimeError, match="derivative for .*heaviside.* is not implemented"):
            y.sum().backward()
    a = flambeau.tensor([0.0, -1.0, 2.0])
    a.heaviside_(flambeau.tensor(0.25))
    assert a.tolist() == [0.25, 0.0, 1.0]


@pytest.mark.parametrize("shapes", [[(7,), (7,)], [(3, 1), (1, 4)], [(), (2, 3)], [(2, 3), ()], [(0, 3), (3,)]],
                         ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_copysign(shapes, dtype):
    check_op(*both(lambda m, a, b: m.copysign(a, b)), shapes=shapes, dtype=dtype)
    check_op(lambda a, b: a.copysign(b), shapes=shapes, dtype=dtype, non_contiguous=True)


def test_copysign_special_and_scalars():
    a = np.array([1.0, -2.0, 0.0, -0.0, 3.0, np.inf])
    b = np.array([-0.0, 0.0, -1.0, 1.0, np.nan, -2.0])
    check_op(*both(lambda m, x, y: m.copysign(x, y)), inputs=[a, b])
    check_op(*both(lambda m, x: m.copysign(x, -1)), shapes=[(3, 4)])
    check_op(*both(lambda m, x: m.copysign(x, -1.5)), shapes=[(3, 4)], dtype="float64")
    check_op(*both(lambda m, x: m.copysign(x, -1)), inputs=[np.array([1, -2, 3])])
    check_op(*both(lambda m, x, y: m.copysign(x, y)), inputs=[np.array([1, -2]), np.array([True, False])])
    x = flambeau.randn(5, dtype=flambeau.float64, requires_grad=True)
    y = flambeau.randn(5, dtype=flambeau.float64)
    assert flambeau.autograd.gradcheck(lambda t: flambeau.copysign(t, y), (x,))


@pytest.mark.parametrize("shapes", [[(7,), (7,)], [(3, 1), (1, 4)], [(), (2, 3)], [(0, 3), (3,)]], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logaddexp2(shapes, dtype):
    check_op(*both(lambda m, a, b: m.logaddexp2(a, b)), shapes=shapes, dtype=dtype, low=-30, high=30)
    check_op(lambda a, b: a.logaddexp2(b), shapes=shapes, dtype=dtype, non_contiguous=True)


def test_logaddexp2_special():
    inf = np.inf
    check_op(*both(lambda m, a, b: m.logaddexp2(a, b)),
             inputs=[np.array([inf, -inf, inf, 1000.0, -1000.0]), np.array([inf, -inf, -inf, 999.0, -1001.0])],
             grad=False)
    check_op(*both(lambda m, a, b: m.logaddexp2(a, b)), shapes=[(3,), (3,)], dtype=["float32", "float64"])
    check_error(lambda m: m.logaddexp2(m.tensor([1, 2]), m.tensor([1, 2])), NotImplementedError, "logaddexp2")
    check_error(lambda m: m.logaddexp2(m.tensor([1.0]), 2), TypeError, "other")
    x = flambeau.randn(4, dtype=flambeau.float64, requires_grad=True)
    y = flambeau.randn(4, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(flambeau.logaddexp2, (x, y))


# ---------------------------------------------------------------------------------------------- in-place variants
INPLACE = {
    "rad2deg_": (lambda m, x: (x * 1).rad2deg_(), {}),
    "deg2rad_": (lambda m, x: (x * 1).deg2rad_(), {}),
    "torch_rad2deg_": (lambda m, x: m.rad2deg_(x * 1), {}),
    "logit_": (lambda m, x: (x * 1).logit_(), {"low": 0.05, "high": 0.95}),
    "torch_logit_eps_": (lambda m, x: m.logit_(x * 1, 0.2), {"low": 0.0, "high": 1.0}),
    "sinc_": (lambda m, x: (x + 0).sinc_(), {}),
    "torch_sinc_": (lambda m, x: m.sinc_(x + 0), {}),
    "copysign_": (lambda m, x, y: (x * 1).copysign_(y), {}),
    "xlogy_": (lambda m, x, y: (x * 1).xlogy_(y), {"positive": True}),
    "torch_xlogy_": (lambda m, x, y: m.xlogy_(x * 1, y), {"positive": True}),
    "hypot_": (lambda m, x, y: (x * 1).hypot_(y), {}),
    "cumsum_": (lambda m, x: (x * 1).cumsum_(1), {}),
    "cumprod_": (lambda m, x: (x * 1).cumprod_(0), {}),
    "clamp_min_": (lambda m, x: m.clamp_min_(x * 1, 0.1), {}),
    "clamp_max_": (lambda m, x: m.clamp_max_(x * 1, 0.1), {}),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_variants(name, dtype):
    spec, kw = INPLACE[name]
    n = spec.__code__.co_argcount - 1
    check_op(*both(spec), shapes=[(3, 4)] * n, dtype=dtype, **kw)


def test_inplace_variants_nograd_and_errors():
    for m in (torch, flambeau):
        x = m.tensor([[0.5, 1.0], [2.0, 3.0]], dtype=m.float64)
        ptr = x.data_ptr()
        assert x.rad2deg_() is x and x.data_ptr() == ptr
        x.cumsum_(0)
        x.float_power_(2)
        x.hypot_(m.ones(2, 2, dtype=m.float64))
        x.logit_(0.25)
    check_error(lambda m: m.tensor([1, 2]).rad2deg_(), RuntimeError, "can't be cast")
    check_error(lambda m: m.ones(3).float_power_(2), RuntimeError, "float_power_.*Double")
    check_error(lambda m: m.ones(3, requires_grad=True).sinc_(), RuntimeError, "leaf Variable")
    check_op(lambda x, y: (x * 1).float_power_(y), shapes=[(3, 4), (3, 4)], dtype="float64", positive=True)


# ---------------------------------------------------------------------------------------------- in-place shape ops
SHAPE_INPLACE = {
    "squeeze_": ((3, 1, 4, 1), lambda x: x.squeeze_()),
    "squeeze_dim": ((3, 1, 4, 1), lambda x: x.squeeze_(1)),
    "squeeze_dims": ((3, 1, 4, 1), lambda x: x.squeeze_((1, 3))),
    "unsqueeze_": ((3, 4), lambda x: x.unsqueeze_(1)),
    "unsqueeze_neg": ((3, 4), lambda x: x.unsqueeze_(-1)),
    "t_": ((3, 4), lambda x: x.t_()),
    "t_1d": ((5,), lambda x: x.t_()),
    "transpose_": ((2, 3, 4), lambda x: x.transpose_(0, 2)),
    "swapaxes_": ((2, 3, 4), lambda x: x.swapaxes_(1, 2)),
    "swapdims_": ((2, 3, 4), lambda x: x.swapdims_(-1, 0)),
    "as_strided_": ((3, 4), lambda x: x.as_strided_((2, 2), (1, 2))),
}


@pytest.mark.parametrize("name", sorted(SHAPE_INPLACE))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_shape_ops(name, dtype):
    shape, fn = SHAPE_INPLACE[name]

    def run(x):
        y = x * 2  # a non-leaf: the in-place view is recorded and gradients flow back through it
        r = fn(y)
        assert r is y
        return y * y

    check_op(run, shapes=[shape], dtype=dtype)
    if name != "as_strided_":
        check_op(run, shapes=[shape], dtype=dtype, non_contiguous=True)
    # A leaf that does not require grad: metadata only, same storage.
    for m in (torch, flambeau):
        x = m.zeros(*shape)
        ptr = x.data_ptr()
        fn(x)
        assert x.data_ptr() == ptr
    t, f = torch.zeros(*shape), flambeau.zeros(*shape)
    fn(t)
    fn(f)
    assert tuple(f.shape) == tuple(t.shape) and f.stride() == t.stride()


def test_inplace_shape_ops_autograd_rules():
    for m in (torch, flambeau):
        a = m.ones(3, 1, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            a.squeeze_()
        with m.no_grad():
            a.squeeze_()
        assert tuple(a.shape) == (3,) and a.requires_grad
        # A tensor saved for backward then reshaped in place: backward detects it (version counter).
        x = m.randn(3, 1)
        w = m.randn(3, 1, requires_grad=True)
        y = x * w
        x.squeeze_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    b = flambeau.ones(3, 1, requires_grad=True) * 2
    b.t_()
    assert b.grad_fn is not None and tuple(b.shape) == (1, 3)


def test_inplace_shape_op_on_view():
    def run(m):
        a = m.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        b = a * 1
        v = b[0:1]
        v.squeeze_(0)
        v.mul_(3)
        (b * b).sum().backward()
        return a.grad, tuple(v.shape)
    (gf, sf), (gt, st) = run(flambeau), run(torch)
    assert sf == st
    assert_close(gf, gt)


# ---------------------------------------------------------------------------------------------- fill_diagonal_
@pytest.mark.parametrize("shape,wrap", [((3, 3), False), ((7, 3), True), ((7, 3), False), ((3, 7), True),
                                        ((5, 4), True), ((4, 4, 4), False), ((2, 2), True), ((0, 3), False),
                                        ((9, 2), True)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fill_diagonal(shape, wrap, dtype):
    check_op(lambda x: (x * 1).fill_diagonal_(2.5, wrap=wrap), shapes=[shape], dtype=dtype)
    check_op(lambda x: (x * 1).fill_diagonal_(-1.0, wrap), shapes=[shape], dtype="int64")
    if shape[0] < shape[-1] or not wrap:
        check_op(lambda x: (x * 1).fill_diagonal_(0.5, wrap=wrap), shapes=[shape], dtype=dtype, non_contiguous=True)


def test_fill_diagonal_misc():
    for m in (torch, flambeau):
        x = m.zeros(1, 3, dtype=m.long)
        assert x.fill_diagonal_(2.5) is x
        assert x.tolist() == [[2, 0, 0]]
    check_error(lambda m: m.zeros(2, 3, 2).fill_diagonal_(5), RuntimeError, "all dimensions of input must be of equal")
    check_error(lambda m: m.zeros(3).fill_diagonal_(5), RuntimeError, "dimensions must larger than 1")
    check_error(lambda m: m.zeros(3, 3, requires_grad=True).fill_diagonal_(1), RuntimeError, "leaf Variable")


# ---------------------------------------------------------------------------------------------- small Tensor methods
def test_tensor_new():
    for dt in ("float32", "float64", "int64"):
        t, f = torch.ones(2, dtype=getattr(torch, dt)), flambeau.ones(2, dtype=getattr(flambeau, dt))
        for args in ((2, 3), (), ((1, 2),), ([1, 2, 3],), (torch.Size([4]),)):
            fargs = tuple(flambeau.Size(a) if isinstance(a, torch.Size) else a for a in args)
            rt, rf = t.new(*args), f.new(*fargs)
            assert tuple(rf.shape) == tuple(rt.shape) and rf.dtype == getattr(flambeau, dt)
            if args and isinstance(args[0], (list, tuple)) and not isinstance(args[0], torch.Size):
                assert_close(rf, rt)
        same = f.new(f)
        assert same._impl.same_storage(f._impl)
    check_error(lambda m: m.ones(2).new(3.5), TypeError, "sequence")
    check_error(lambda m: m.ones(2, dtype=m.float64).new(m.ones(2)), TypeError, "new")


def test_small_methods():
    x, y = flambeau.ones(2, 3), flambeau.ones(1, 3)
    assert x.is_same_size(flambeau.zeros(2, 3)) and not flambeau.is_same_size(x, y)
    assert flambeau.is_signed(x) and not flambeau.is_signed(x.bool())
    assert not x.is_inference() and not flambeau.is_inference(x)
    assert not flambeau.is_inference_mode_enabled()
    with flambeau.inference_mode():
        assert flambeau.is_inference_mode_enabled()
        with flambeau.inference_mode(False):
            assert not flambeau.is_inference_mode_enabled()
        assert flambeau.is_inference_mode_enabled()
    assert not flambeau.is_inference_mode_enabled()
    for m in (torch, flambeau):
        assert m.tensor([0.5]).is_nonzero() and not m.is_nonzero(m.zeros(1, 1))
    check_error(lambda m: m.ones(3).is_nonzero(), RuntimeError, "more than one value")
    check_error(lambda m: m.ones(0).is_nonzero(), RuntimeError, "no values")
    check_op(lambda a, b: a.vdot(b), shapes=[(7,), (7,)], dtype="float64")


@pytest.mark.parametrize("shape,size", [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((4, 1, 3), (1, 1)),
                                        ((2, 3), (2, 3)), ((0, 3), (3,))], ids=str)
def test_sum_to_size(shape, size):
    check_op(lambda x: x.sum_to_size(size), shapes=[shape])
    check_op(lambda x: x.sum_to_size(*size), shapes=[shape], dtype="float64", non_contiguous=True)


def test_sum_to_size_errors():
    check_error(lambda m: m.ones(2, 3).sum_to_size(2), RuntimeError, r"size \{\[2\]\} is not expandable to size")
    check_error(lambda m: m.ones(2, 3).sum_to_size(1, 1, 3), RuntimeError, "not expandable")


# ---------------------------------------------------------------------------------------------- windows
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
@pytest.mark.parametrize("n", [0, 1, 2, 5, 6, 17])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_windows(name, n, periodic, dtype):
    t = getattr(torch, name)(n, periodic, dtype=getattr(torch, dtype))
    f = getattr(flambeau, name)(n, periodic, dtype=getattr(flambeau, dtype))
    assert_close(f, t, atol=1e-6 if dtype == "float32" else 1e-12)
    assert_close(getattr(flambeau, name)(n), getattr(torch, name)(n), atol=1e-6)


def test_window_args():
    assert_close(flambeau.hamming_window(7, True, 0.5, 0.3), torch.hamming_window(7, True, 0.5, 0.3), atol=1e-6)
    assert_close(flambeau.kaiser_window(9, False, 5.0), torch.kaiser_window(9, False, 5.0), atol=1e-6)
    w = flambeau.hann_window(4, dtype=flambeau.float64, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    check_error(lambda m: m.hann_window(-1), RuntimeError, "hann_window requires non-negative window_length")
    check_error(lambda m: m.blackman_window(5, dtype=m.long), RuntimeError, "blackman_window expects floating point")


# ---------------------------------------------------------------------------------------------- nn top-level aliases
def _nn_cases():
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    pos = lambda *s: rng.uniform(0.1, 1.0, size=s).astype(np.float32)  # noqa: E731
    return [
        ("conv1d", lambda m, x, w, b: m.conv1d(x, w, b, 2, 1), [r(2, 3, 9), r(4, 3, 3), r(4)]),
        ("conv2d", lambda m, x, w: m.conv2d(x, w, None, 1, 1, 1, 1), [r(2, 3, 6, 5), r(4, 3, 3, 3)]),
        ("conv_transpose1d", lambda m, x, w: m.conv_transpose1d(x, w, None, 2, 1, 1), [r(2, 3, 5), r(3, 2, 3)]),
        ("conv_transpose2d", lambda m, x, w, b: m.conv_transpose2d(x, w, b, 2), [r(1, 3, 4, 4), r(3, 2, 3, 3), r(2)]),
        ("max_pool1d", lambda m, x: m.max_pool1d(x, 3, 2, 1), [r(2, 3, 9)]),
        ("max_pool1d_default", lambda m, x: m.max_pool1d(x, 2), [r(2, 3, 8)]),
        ("max_pool2d", lambda m, x: m.max_pool2d(x, 2, (), 0, 1, True), [r(2, 3, 7, 5)]),
        ("avg_pool1d", lambda m, x: m.avg_pool1d(x, 3, 2, 1, False, False), [r(2, 3, 9)]),
        ("adaptive_avg_pool1d", lambda m, x: m.adaptive_avg_pool1d(x, 4), [r(2, 3, 9)]),
        ("adaptive_max_pool1d", lambda m, x: m.adaptive_max_pool1d(x, 4), [r(2, 3, 9)]),
        ("batch_norm_eval", lambda m, x, w, b, rm, rv: m.batch_norm(x, w, b, rm, rv, False, 0.1, 1e-5, False),
         [r(4, 3, 5), r(3), r(3), r(3), pos(3)], [True, True, True, False, False]),
        ("batch_norm_train", lambda m, x, w, b: m.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
         [r(4, 3, 5), r(3), r(3)]),
        ("instance_norm", lambda m, x, w, b: m.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
         [r(2, 3, 6), r(3), r(3)]),
        ("layer_norm", lambda m, x, w, b: m.layer_norm(x, (5,), w, b, 1e-5, True), [r(3, 4, 5), r(5), r(5)]),
        ("group_norm", lambda m, x, w, b: m.group_norm(x, 2, w, b), [r(2, 4, 5), r(4), r(4)]),
        ("cosine_similarity", lambda m, a, b: m.cosine_similarity(a, b, 1, 1e-8), [r(4, 6), r(4, 6)]),
        ("pairwise_distance", lambda m, a, b: m.pairwise_distance(a, b, 3.0, 1e-6, True), [r(4, 6), r(4, 6)]),
        ("pixel_shuffle", lambda m, x: m.pixel_shuffle(x, 2), [r(1, 8, 3, 3)]),
        ("pixel_unshuffle", lambda m, x: m.pixel_unshuffle(x, 2), [r(1, 2, 4, 6)]),
        ("channel_shuffle", lambda m, x: m.channel_shuffle(x, 2), [r(2, 6, 3)]),
        ("prelu", lambda m, x, w: m.prelu(x, w), [r(2, 3, 4), r(3)]),
        ("prelu_method", lambda m, x, w: x.prelu(w), [r(2, 3, 4), r(1)]),
        ("selu", lambda m, x: m.selu(x), [r(3, 4)]),
        ("selu_", lambda m, x: m.selu_(x * 1), [r(3, 4)]),
        ("celu", lambda m, x: m.celu(x, 0.7), [r(3, 4)]),
        ("celu_", lambda m, x: m.celu_(x * 1, 1.3), [r(3, 4)]),
        ("threshold", lambda m, x: m.threshold(x, 0.1, -2.0), [r(3, 4)]),
        ("threshold_", lambda m, x: m.threshold_(x * 1, 0.1, -2.0), [r(3, 4)]),
        ("hardshrink", lambda m, x: m.hardshrink(x, 0.3), [r(3, 4)]),
        ("hardshrink_method", lambda m, x: x.hardshrink(), [r(3, 4)]),
        ("rrelu_eval", lambda m, x: m.rrelu(x, 0.1, 0.3, False), [r(3, 4)]),
        ("rrelu_eval_", lambda m, x: m.rrelu_(x * 1), [r(3, 4)]),
        ("dropout_eval", lambda m, x: m.dropout(x, 0.5, False), [r(3, 4)]),
        ("dropout_p0", lambda m, x: m.dropout(x, 0.0, True), [r(3, 4)]),
        ("dropout_p1", lambda m, x: m.dropout(x, 1.0, True), [r(3, 4)]),
        ("alpha_dropout_eval", lambda m, x: m.alpha_dropout(x, 0.5, False), [r(3, 4)]),
        ("feature_dropout_eval", lambda m, x: m.feature_dropout(x, 0.5, False), [r(2, 3, 4)]),
        ("feature_alpha_dropout_eval", lambda m, x: m.feature_alpha_dropout(x, 0.5, False), [r(2, 3, 4)]),
        ("kl_div", lambda m, x, t: m.kl_div(x, t), [r(3, 4), pos(3, 4)]),
        ("kl_div_sum_log", lambda m, x, t: m.kl_div(x, t, 2, log_target=True), [r(3, 4), r(3, 4)]),
        ("kl_div_none", lambda m, x, t: m.kl_div(x, t, 0), [r(3, 4), pos(3, 4)]),
        ("bce_logits", lambda m, x, t, w, pw: m.binary_cross_entropy_with_logits(x, t, w, pw, 1),
         [r(3, 4), pos(3, 4), pos(3, 4), pos(4)], [True, True, False, False]),
        ("bce_logits_none", lambda m, x, t: m.binary_cross_entropy_with_logits(x, t, None, None, 0),
         [r(3, 4), pos(3, 4)]),
        ("cosine_embedding_loss", lambda m, a, b, y: m.cosine_embedding_loss(a, b, m.sign(y), 0.1, 2),
         [r(4, 5), r(4, 5), r(4)]),
        ("hinge_embedding_loss", lambda m, x, y: m.hinge_embedding_loss(x, m.sign(y), 0.5, 1), [r(3, 4), r(3, 4)]),
        ("margin_ranking_loss", lambda m, a, b, y: m.margin_ranking_loss(a, b, m.sign(y), 0.2, 0),
         [r(6), r(6), r(6)]),
        ("triplet_margin_loss", lambda m, a, p, n: m.triplet_margin_loss(a, p, n, 1.0, 2, 1e-6, True, 1),
         [r(4, 5), r(4, 5), r(4, 5)]),
        ("poisson_nll_loss", lambda m, x, t: m.poisson_nll_loss(x, t, True, False, 1e-8, 1), [r(3, 4), pos(3, 4)]),
        ("poisson_nll_loss_full", lambda m, x, t: m.poisson_nll_loss(x, t * 3, False, True, 1e-8, 2),
         [pos(3, 4), pos(3, 4)]),
        ("bilinear", lambda m, a, b, w, bias: m.bilinear(a, b, w, bias), [r(3, 4), r(3, 5), r(2, 4, 5), r(2)]),
        ("embedding", lambda m, w: m.embedding(w, m.tensor([[0, 2], [3, 2]])), [r(5, 3)]),
        ("embedding_pad", lambda m, w: m.embedding(w, m.tensor([0, 2, 3, 2]), 2), [r(5, 3)]),
        ("constant_pad_nd", lambda m, x: m.constant_pad_nd(x, [1, 2, 0, 1], 0.5), [r(2, 3, 4)]),
        ("constant_pad_nd_neg", lambda m, x: m.constant_pad_nd(x, (-1, 1)), [r(2, 5)]),
    ]


@pytest.mark.parametrize("case", _nn_cases(), ids=lambda c: c[0])
def test_nn_toplevel(case):
    name, spec, inputs = case[:3]
    check_op(*both(spec), inputs=inputs, grad=case[3] if len(case) > 3 else True)


def test_nn_toplevel_random_and_inplace():
    x = flambeau.ones(200, 50)
    y = flambeau.dropout(x, 0.5, True)
    frac = float((y == 0).float().mean())
    assert 0.4 < frac < 0.6 and set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}
    f = flambeau.feature_dropout(flambeau.ones(4, 50, 7), 0.5, True)
    per_channel = f.numpy().reshape(4, 50, 7)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels dropped
    z = flambeau.ones(5, 6)
    assert flambeau.dropout_(z, 0.3, True) is z
    a = flambeau.alpha_dropout(flambeau.randn(1000), 0.2, True)
    assert a.shape == (1000,)
    vals, idx = flambeau.adaptive_max_pool1d(flambeau.randn(1, 2, 8), 3)
    tv, ti = torch.adaptive_max_pool1d(torch.from_numpy(flambeau.randn(1, 2, 8).numpy()), 3)
    assert idx.dtype == flambeau.int64 and vals.shape == tv.shape


def test_nn_toplevel_running_stats():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 4)).astype(np.float32)
    tm, tv = torch.zeros(3), torch.ones(3)
    fm, fv = flambeau.zeros(3), flambeau.ones(3)
    torch.batch_norm(torch.from_numpy(x), None, None, tm, tv, True, 0.2, 1e-5, False)
    flambeau.batch_norm(fl_tensor(x), None, None, fm, fv, True, 0.2, 1e-5, False)
    assert_close(fm, tm)
    assert_close(fv, tv)
