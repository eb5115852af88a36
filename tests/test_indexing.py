"""Indexing (__getitem__) and assignment (__setitem__) against PyTorch, forward and gradient: ints, slices
with steps, ellipsis, None, integer-array (lists and int64 tensors, broadcasting, NumPy placement of the
advanced dims) and boolean masks; on contiguous and non-contiguous inputs."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor, rand_array, to_np


class T:
    """An index tensor in an index expression: becomes torch.tensor / flambeau.tensor per library."""

    def __init__(self, value, dtype=None):
        self.value = np.asarray(value, dtype=dtype)

    def __repr__(self):
        return f"T({self.value.tolist()})"


def build(idx, lib, device="cpu"):
    if isinstance(idx, tuple):
        return tuple(build(i, lib, device) for i in idx)
    if isinstance(idx, T):
        if lib is torch:
            return torch.tensor(idx.value)
        return fl_tensor(idx.value, device)
    return idx


S = slice
BASIC = [
    2, -1, (1, 2), (1, -2, 3), (4, 5, 6),
    S(1, 4), S(None, None, 2), S(1, None, 3), S(-3, None), S(None, -1), S(10, 20), S(3, 1), S(0, 5, 7),
    (S(None), 1), (2, S(1, 5, 2), S(None, None, 3)), (S(None), S(None), S(None, None, -1 + 3)),
    Ellipsis, (Ellipsis, 0), (0, Ellipsis, 1), (Ellipsis, S(1, 3)), (1, Ellipsis),
    None, (None, 1), (S(None), None, 2), (Ellipsis, None), (None, Ellipsis, None, 0), (1, None, None),
]
ADVANCED = [
    [0, 2, 4], [-1, 0], [1, 1, 3], [], T([0, 2, 4]), T([[0, 1], [2, 3]]), T(1), T([-5, 4]),
    (T([0, 4]), T([1, 5])), (T([[0], [3]]), T([1, 2, 5])), (S(None), T([0, 5, 2])), (S(1, 4), [2, 0]),
    (T([0, 1]), S(None), T([2, 6])), (0, T([1, 3])), (T([1, 3]), 0), (Ellipsis, T([6, 0, 0])),
    (None, T([2, 2])), (S(None, None, 2), T([[1, 2], [3, 4]]), 1), ([1, 2], [3, 4]),
    (T([0, 1]), T([2, 3]), T([4, 5])),
]
MASKS = [
    T(np.arange(5) % 2 == 0),
    T(np.ones(5, bool)),
    T(np.zeros(5, bool)),
    (S(None), T(np.arange(6) % 3 == 1)),
    (Ellipsis, T(np.arange(7) > 3)),
    (1, T(np.arange(6) < 2)),
]


def _ids(idx):
    return repr(idx).replace(" ", "")


def _check_getitem(idx, device, dtype="float32", non_contiguous=False, shape=(5, 6, 7)):
    check_op(lambda x: x[build(idx, torch)], lambda x: x[build(idx, flambeau, device)], shapes=[shape],
             dtype=dtype, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("idx", BASIC, ids=_ids)
def test_getitem_basic(idx, dtype, non_contiguous, device):
    _check_getitem(idx, device, dtype, non_contiguous)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("idx", ADVANCED, ids=_ids)
def test_getitem_integer_arrays(idx, dtype, non_contiguous, device):
    _check_getitem(idx, device, dtype, non_contiguous)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "bool"])
@pytest.mark.parametrize("idx", MASKS, ids=_ids)
def test_getitem_bool_mask(idx, dtype, non_contiguous, device):
    _check_getitem(idx, device, dtype, non_contiguous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_getitem_full_mask_and_mask_from_comparison(dtype, device):
    check_op(lambda x: x[x > 0], shapes=[(4, 5)], dtype=dtype, device=device)
    check_op(lambda x: x[(x > 0) & (x < 1)] * 2, shapes=[(3, 4, 5)], dtype=dtype, non_contiguous=True,
             device=device)
    check_op(lambda x: x[x.sum(1) > 0], shapes=[(6, 3)], dtype=dtype, device=device)


@pytest.mark.parametrize("idx", [0, -1, S(None, None, 2), Ellipsis, None, T([1, 0, 1]), T([True, False, True])],
                         ids=_ids)
def test_getitem_1d_and_0d(idx, device):
    _check_getitem(idx, device, shape=(3,))
    if idx is Ellipsis or idx is None:
        _check_getitem(idx, device, shape=())


def test_getitem_repeated_indices_accumulate_gradient(device):
    check_op(lambda x: x[[1, 1, 1, 0]], shapes=[(3, 2)], device=device)
    check_op(lambda x: x[torch.tensor([[2, 2], [2, 0]]), 1], lambda x: x[flambeau.tensor([[2, 2], [2, 0]]), 1],
             shapes=[(3, 2)], device=device)


def test_getitem_on_empty(device):
    _check_getitem(S(None), device, shape=(0, 3))
    _check_getitem((S(None), 1), device, shape=(0, 3))
    _check_getitem(T(np.zeros(0, np.int64)), device, shape=(0, 3))
    _check_getitem([], device, shape=(4, 3))


def test_basic_index_is_a_view(device):
    x = flambeau.zeros(4, 5, device=device)
    x[1][2] = 3.0
    x[:, ::2][3] = 1.0
    t = torch.zeros(4, 5)
    t[1][2] = 3.0
    t[:, ::2][3] = 1.0
    assert_close(x, t)


def test_advanced_index_is_a_copy(device):
    x = flambeau.zeros(4, 5, device=device)
    y = x[[0, 1]]
    y[0, 0] = 9.0
    assert x.sum().item() == 0.0


# ---- __setitem__ -------------------------------------------------------------------------------------------

SET_INDICES = [
    2, -1, (1, 2), (1, 2, 3), S(1, 4), S(None, None, 2), (S(None), S(1, 6, 2)), Ellipsis, (Ellipsis, 3),
    (None, 1), [0, 3], T([4, 1]), (T([0, 4]), T([1, 5])), (S(None), T([0, 5, 2])),
    T(np.arange(5) % 2 == 0), (S(None), T(np.arange(6) % 3 == 1)),
]


def _value_shape(idx, value_kind):
    region = tuple(torch.zeros(5, 6, 7)[build(idx, torch)].shape)
    if value_kind == "full":
        return region
    if value_kind == "broadcast":
        return region[-1:] if region else ()
    raise ValueError(value_kind)


@pytest.mark.parametrize("value_kind", ["scalar", "full", "broadcast"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("idx", SET_INDICES, ids=_ids)
def test_setitem_with_gradient(idx, dtype, value_kind, device):
    def make(lib):
        def fn(x, *v):
            y = x.clone()
            y[build(idx, lib, device)] = v[0] if v else 1.5
            return y * 2
        return fn

    if value_kind == "scalar":
        check_op(make(torch), make(flambeau), shapes=[(5, 6, 7)], dtype=dtype, device=device)
    else:
        vshape = _value_shape(idx, value_kind)
        check_op(make(torch), make(flambeau), shapes=[(5, 6, 7), vshape], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
@pytest.mark.parametrize("idx", SET_INDICES, ids=_ids)
def test_setitem_in_place_no_grad(idx, dtype, device, rng):
    a = rand_array((5, 6, 7), dtype, rng)
    t, f = torch.tensor(a), fl_tensor(a, device)
    vshape = _value_shape(idx, "full")
    v = rand_array(vshape, dtype, rng)
    t[build(idx, torch)] = torch.tensor(v)
    f[build(idx, flambeau, device)] = fl_tensor(v, device)
    assert_close(f, t)
    # A Python scalar of the tensor's kind.
    s = {"float32": -3.25, "int64": 11, "bool": True}[dtype]
    t[build(idx, torch)] = s
    f[build(idx, flambeau, device)] = s
    assert_close(f, t)


def test_setitem_casts_value(device, rng):
    a = rand_array((4, 5), "float32", rng)
    t, f = torch.tensor(a), fl_tensor(a, device)
    t[1] = torch.arange(5)
    f[1] = flambeau.arange(5, device=device)
    t[t > 0.5] = 0
    f[f > 0.5] = 0
    t[:, 2] = torch.tensor(True)
    f[:, 2] = flambeau.tensor(True, device=device)
    assert_close(f, t)
    assert f.dtype == flambeau.float32


def test_setitem_on_non_contiguous_view(device, rng):
    a = rand_array((4, 6), "float64", rng)
    t, f = torch.tensor(a), fl_tensor(a, device)
    t.T[::2, 1:3] = torch.tensor([[1.0], [2.0], [3.0]])
    f.T[::2, 1:3] = flambeau.tensor([[1.0], [2.0], [3.0]], dtype=flambeau.float64, device=device)
    assert_close(f, t)


def test_setitem_from_a_tensor_that_overlaps(device):
    # x[1:] = x[:-1]: PyTorch refuses (RuntimeError, source and destination overlap). Flambeau may refuse
    # the same way or do it right (read the source before overwriting); never a silently smeared result.
    f = flambeau.arange(6.0, device=device)
    try:
        f[1:] = f[:-1]
    except RuntimeError:
        return
    assert f.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_setitem_wide_rows(dtype, device, rng):
    # Rows of 64 bytes and more are copied a row at a time (cpu::copy_rows), from a contiguous or a
    # strided source, and from a source that overlaps the destination in the same storage.
    a = rand_array((5, 7, 50), dtype, rng)
    b = rand_array((5, 3, 60), dtype, rng)
    t, f = torch.tensor(a), fl_tensor(a, device)
    t[:, 2:5, 10:40] = torch.tensor(b)[:, :, ::2]
    f[:, 2:5, 10:40] = fl_tensor(b, device)[:, :, ::2]
    t[1:, 4:, 5:35] = torch.tensor(b)[:-1, :, 30:]
    f[1:, 4:, 5:35] = fl_tensor(b, device)[:-1, :, 30:]
    assert_close(f, t)
    f[:, 1:, :] = f[:, :-1, :].clone()
    t[:, 1:, :] = t[:, :-1, :].clone()
    assert_close(f, t)


def test_setitem_gradient_through_mask_assignment(device):
    # The common "zero out where" idiom: y = x.clone(); y[y < 0] = 0
    def make(lib):
        def fn(x):
            y = x * 1
            y[y < 0] = 0.0
            return y.exp()
        return fn
    check_op(make(torch), make(flambeau), shapes=[(4, 5)], device=device)


@pytest.mark.parametrize("dtype", ["bool", "float32", "int64"])
@pytest.mark.parametrize("shape", [(), (1,), (17,), (5, 7), (3, 4, 5), (2, 3, 1, 4), (0, 3), (4, 0)])
def test_nonzero_and_mask_selection_match_torch(shape, dtype, rng):
    # Contiguous inputs take a counting pass and a fill with running coordinates per block; a
    # transposed view takes the strided walk. NaN counts as nonzero.
    x = rng.standard_normal(shape)
    x = (x > 0.3) if dtype == "bool" else np.where(np.abs(x) > 0.8, x, 0).astype(dtype)
    if dtype == "float32" and x.size:
        x.reshape(-1)[0] = np.nan
    for view in ((lambda t: t), (lambda t: t.t())) if len(shape) == 2 else ((lambda t: t),):
        f, t = view(flambeau.from_numpy(np.ascontiguousarray(x))), view(torch.from_numpy(np.ascontiguousarray(x)))
        np.testing.assert_array_equal(f.nonzero().numpy(), t.nonzero().numpy())
        m = np.asarray(x != 0) if dtype != "bool" else x
        fm, tm = view(flambeau.from_numpy(np.ascontiguousarray(m))), view(torch.from_numpy(np.ascontiguousarray(m)))
        np.testing.assert_array_equal(f[fm].numpy(), t[tm].numpy())


# ---------------------------------------------------------------- gather / scatter_add
@pytest.mark.parametrize("shape,dim,ishape", [((5, 7), 1, (5, 4)), ((5, 7), 0, (3, 7)), ((6, 5, 4), 1, (6, 9, 4)),
                                              ((6, 5, 4), -1, (2, 3, 4)), ((300, 301), 1, (300, 301)), ((9,), 0, (20,))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gather_against_torch(shape, dim, ishape, dtype, device, rng):
    idx = rng.integers(0, shape[dim], size=ishape)
    check_op(lambda x: torch.gather(x, dim, torch.from_numpy(idx)),
             lambda x: flambeau.gather(x, dim, fl_tensor(idx, device)), shapes=[shape], dtype=dtype, device=device, rng=rng)
    # a non-contiguous input and a non-contiguous index
    idx_t = np.ascontiguousarray(np.swapaxes(idx, 0, -1)) if len(ishape) > 1 else idx
    tix = torch.from_numpy(idx_t).transpose(0, -1) if len(ishape) > 1 else torch.from_numpy(idx_t)
    fix = fl_tensor(idx_t, device).transpose(0, -1) if len(ishape) > 1 else fl_tensor(idx_t, device)
    check_op(lambda x: torch.gather(x, dim, tix), lambda x: flambeau.gather(x, dim, fix), shapes=[shape], dtype=dtype,
             device=device, rng=rng, non_contiguous=True)


@pytest.mark.parametrize("bad_value", [7, 10 ** 12, -1, -(2 ** 63)])
@pytest.mark.parametrize("dim", [1, 0])
@pytest.mark.parametrize("itype", ["int64", "int32"])
def test_gather_out_of_range_index_raises(bad_value, dim, itype, rng):
    # The CPU kernel checks each index as it reads (the row loop for dim 1, the strided one for dim 0)
    # and never reads outside the input; the error names the op, the value, the dim and its size.
    x = flambeau.from_numpy(rng.standard_normal((40, 7)).astype(np.float32))
    if itype == "int32" and abs(bad_value) >= 2 ** 31:
        pytest.skip("not an int32")
    idx = rng.integers(0, 7, (40, 7)).astype(itype)
    idx[33, 5] = bad_value
    size = x.shape[dim]
    if 0 <= bad_value < size:
        pytest.skip("in range along this dim")
    with pytest.raises(IndexError, match=rf"gather: index {bad_value} is out of bounds for dimension {dim} with size {size}"):
        flambeau.gather(x, dim, flambeau.from_numpy(idx))
    with pytest.raises(IndexError, match="out of bounds"):  # a transposed (strided) index
        flambeau.gather(x, dim, flambeau.from_numpy(np.ascontiguousarray(idx.T)).t())


@pytest.mark.parametrize("shape,dim,ishape", [((5, 7), 1, (5, 12)), ((5, 7), 0, (9, 7)), ((6, 5, 4), 1, (6, 9, 4)),
                                              ((300, 301), 1, (300, 301))])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_scatter_add_against_torch(shape, dim, ishape, dtype, device, rng):
    idx = rng.integers(0, shape[dim], size=ishape)  # repeated targets accumulate
    src = (rng.standard_normal(ishape) * 10).astype(dtype)
    base = (rng.standard_normal(shape) * 10).astype(dtype)
    t = torch.from_numpy(base.copy()).scatter_add_(dim, torch.from_numpy(idx), torch.from_numpy(src))
    f = fl_tensor(base.copy(), device).scatter_add_(dim, fl_tensor(idx, device), fl_tensor(src, device))
    if dtype == "int64":
        np.testing.assert_array_equal(to_np(f), t.numpy())
    else:
        assert_close(f, t)
    # out of range raises, nothing written
    bad = idx.copy()
    bad.flat[0] = shape[dim]
    g = fl_tensor(base.copy(), device)
    with pytest.raises(IndexError, match="out of bounds"):
        g.scatter_add_(dim, fl_tensor(bad, device), fl_tensor(src, device))
    np.testing.assert_array_equal(to_np(g), base)


@pytest.mark.parametrize("shape,dim", [((5, 7), 0), ((5, 7), 1), ((4, 6, 3), 1), ((4, 6, 3), -1), ((300, 301), 0), ((9,), 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_index_select_against_torch(shape, dim, dtype, device, rng):
    """index_select copies whole slices on the CPU (a gather per row when the slices are single
    elements): values and gradients, repeated and empty indices, non-contiguous input."""
    n = shape[dim]
    for idx in [rng.integers(0, n, size=11), np.array([n - 1, 0, 0, n - 1]), np.zeros(0, np.int64), np.arange(n)[::-1].copy()]:
        check_op(lambda x: torch.index_select(x, dim, torch.from_numpy(idx)),
                 lambda x: flambeau.index_select(x, dim, fl_tensor(idx, device)), shapes=[shape], dtype=dtype,
                 device=device, rng=rng)
        check_op(lambda x: torch.index_select(x, dim, torch.from_numpy(idx)),
                 lambda x: flambeau.index_select(x, dim, fl_tensor(idx, device)), shapes=[shape], dtype=dtype,
                 device=device, rng=rng, non_contiguous=True, grad=False)
    with pytest.raises(IndexError, match="out of bounds"):
        flambeau.index_select(flambeau.zeros(*shape, device=device), dim, fl_tensor(np.array([n]), device))
    # negative entries are out of range for index_select (PyTorch too), but x[idx] wraps them
    with pytest.raises(IndexError, match=r"index_select: index -1 is out of bounds for dimension \d with size"):
        flambeau.index_select(flambeau.zeros(*shape, device=device), dim, fl_tensor(np.array([0, -1]), device))
    a = rand_array(shape, dtype, rng)
    neg = np.array([-1, 0, -shape[0]])
    np.testing.assert_array_equal(to_np(fl_tensor(a, device)[fl_tensor(neg, device)]), a[neg])


@pytest.mark.parametrize("shape,dim", [((300, 257), 0), ((300, 257), 1), ((7, 40, 300), 1), ((5, 6, 7), 2), ((64, 3, 50), 0)])
def test_scatter_add_sums_in_index_order_for_any_thread_count(shape, dim, rng):
    """scatter_add_ splits its work over the coordinates other than `dim` only (cpu/index.cpp): each
    element of self gets its terms in the index's row-major order, as numpy's serial np.add.at, for
    any number of threads (float32 sums compared bit for bit)."""
    from flambeau import _C
    idx = rng.integers(0, shape[dim], size=shape)
    src = rng.standard_normal(shape).astype(np.float32)
    base = rng.standard_normal(shape).astype(np.float32)
    ref = base.copy()
    coords = list(np.indices(shape))
    coords[dim] = idx
    np.add.at(ref, tuple(coords), src)
    prev = _C.get_num_threads()
    try:
        for t in (1, 2, 3):
            _C.set_num_threads(t)
            got = flambeau.from_numpy(base.copy()).scatter_add_(dim, flambeau.from_numpy(idx), flambeau.from_numpy(src))
            np.testing.assert_array_equal(got.numpy(), ref)
    finally:
        _C.set_num_threads(prev)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5), (300, 301), (2, 3, 40000)])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_whole_shape_bool_mask_select(shape, dtype, density, device, rng):
    # x[mask] and masked_select with a mask of x's shape take one compaction pass (parallel blocks of
    # the mask, each writing at its offset): every dtype, empty, all-false, all-true, block edges,
    # non-contiguous operands.
    a = rand_array(shape, dtype, rng)
    m = rng.random(shape) < density
    t, f = torch.tensor(a), fl_tensor(a, device)
    tm, fm = torch.tensor(m), fl_tensor(m, device)
    assert_close(f[fm], t[tm])
    assert_close(flambeau.masked_select(f, fm), torch.masked_select(t, tm))
    if len(shape) > 1:
        assert_close(f.transpose(0, 1)[fm.transpose(0, 1)], t.transpose(0, 1)[tm.transpose(0, 1)])
        assert_close(flambeau.masked_select(f, fm[0]), torch.masked_select(t, tm[0]))  # broadcast mask


def test_whole_shape_bool_mask_select_gradient(device):
    check_op(lambda x: x[x > 0] * 2, shapes=[(40, 50)], device=device)
    check_op(lambda x: torch.masked_select(x, x > 0.5), lambda x: flambeau.masked_select(x, x > 0.5),
             shapes=[(40, 50)], device=device)


@pytest.mark.parametrize("density", [0.0, 0.01, 0.2, 0.6, 1.0])
@pytest.mark.parametrize("shape", [(70001,), (300, 257), (3, 40, 50, 7), (2,) * 17])
def test_nonzero_blocks_dense_and_sparse(shape, density, rng):
    # Blocks of 32K elements in parallel: dense blocks (a quarter or more hits) take the branch-free
    # fill, sparse ones skip hit-free groups of 8; hits across block and row edges, 17 dims.
    x = (rng.random(shape) < density) * rng.standard_normal(shape)
    np.testing.assert_array_equal(flambeau.from_numpy(x).nonzero().numpy(), np.argwhere(x))
    b = np.ascontiguousarray(x != 0)
    np.testing.assert_array_equal(flambeau.from_numpy(b).nonzero().numpy(), np.argwhere(b))
