"""Shape ops against PyTorch, forward and gradient: reshape/view, permute, transpose, .T, flatten,
unsqueeze, squeeze, expand, cat, stack, split/chunk; plus view semantics (shared storage, strides,
is_contiguous) and shape introspection."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor, rand_array, to_np

RESHAPES = [
    ((2, 3, 4), (6, 4)),
    ((2, 3, 4), (-1,)),
    ((2, 3, 4), (4, -1, 2)),
    ((2, 3, 4), (24, 1)),
    ((7,), (7, 1)),
    ((7,), (1, 7, 1)),
    ((), (1,)),
    ((1,), ()),
    ((1, 1), ()),
    ((0, 3), (3, 0)),
    ((0, 3), (-1, 3)),
    ((0, 3), (0,)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("case", RESHAPES, ids=str)
def test_reshape_view(case, dtype, device):
    shape, new = case
    check_op(lambda x: x.reshape(new), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: x.view(new), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: torch.reshape(x, new), lambda x: flambeau.reshape(x, new), shapes=[shape], dtype=dtype,
             device=device)
    if len(new) > 0:
        check_op(lambda x: x.reshape(*new), shapes=[shape], dtype=dtype, device=device)
        check_op(lambda x: x.view(*new), shapes=[shape], dtype=dtype, device=device)


@pytest.mark.parametrize("shape,new", [((3, 5), (15,)), ((2, 3, 4), (4, 6)), ((4, 6), (2, 2, 6))], ids=str)
def test_reshape_non_contiguous(shape, new, device):
    check_op(lambda x: x.reshape(new), shapes=[shape], non_contiguous=True, device=device)
    check_op(lambda x: x.reshape(new) * 2 + 1, shapes=[shape], non_contiguous="step", device=device)


def test_view_as_and_reshape_as(device):
    check_op(lambda x, y: x.view_as(y) * y, shapes=[(2, 6), (3, 4)], device=device)
    check_op(lambda x, y: x.reshape_as(y) + y, shapes=[(2, 6), (4, 3)], device=device)


PERMUTES = [((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), (-1, -3, -2)), ((3, 5), (1, 0)),
            ((2, 1, 3, 2), (3, 1, 0, 2)), ((7,), (0,)), ((), ()), ((0, 3), (1, 0))]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("case", PERMUTES, ids=str)
def test_permute(case, dtype, non_contiguous, device):
    shape, dims = case
    check_op(lambda x: x.permute(dims), shapes=[shape], dtype=dtype, non_contiguous=non_contiguous,
             device=device)
    check_op(lambda x: torch.permute(x, dims), lambda x: flambeau.permute(x, dims), shapes=[shape],
             dtype=dtype, device=device)
    if dims:
        check_op(lambda x: x.permute(*dims), shapes=[shape], dtype=dtype, device=device)
    # Elementwise math straight on the permuted view, then its gradient.
    if dtype != "int64":
        check_op(lambda x: x.permute(dims).exp() * 2, shapes=[shape], dtype=dtype, device=device)


TRANSPOSES = [((3, 5), 0, 1), ((3, 5), -1, -2), ((2, 3, 4), 0, 2), ((2, 3, 4), 1, 1), ((2, 3, 4), -1, 0),
              ((7,), 0, -1), ((0, 3), 0, 1)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("case", TRANSPOSES, ids=str)
def test_transpose(case, dtype, device):
    shape, d0, d1 = case
    check_op(lambda x: x.transpose(d0, d1), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: torch.transpose(x, d0, d1), lambda x: flambeau.transpose(x, d0, d1), shapes=[shape],
             dtype=dtype, device=device)


@pytest.mark.parametrize("shape", [(3, 5), (1, 4), (0, 2)], ids=str)
def test_T_and_t(shape, device):
    check_op(lambda x: x.T, shapes=[shape], device=device)
    check_op(lambda x: x.t(), shapes=[shape], device=device)
    check_op(lambda x: x.T.T + x, shapes=[shape], device=device)


FLATTENS = [((2, 3, 4), {}), ((2, 3, 4), {"start_dim": 1}), ((2, 3, 4), {"start_dim": 0, "end_dim": 1}),
            ((2, 3, 4, 5), {"start_dim": -3, "end_dim": -2}), ((7,), {}), ((), {}), ((0, 3), {}),
            ((2, 3), {"start_dim": 1})]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("case", FLATTENS, ids=str)
def test_flatten(case, non_contiguous, device):
    shape, kw = case
    check_op(lambda x: x.flatten(**kw), shapes=[shape], non_contiguous=non_contiguous, device=device)
    check_op(lambda x: torch.flatten(x, **kw), lambda x: flambeau.flatten(x, **kw), shapes=[shape],
             device=device)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
@pytest.mark.parametrize("shape,dim", [((), 0), ((), -1), ((7,), 0), ((7,), 1), ((7,), -1), ((3, 5), 1),
                                       ((3, 5), -2), ((2, 3, 4), 3), ((0, 3), 0)], ids=str)
def test_unsqueeze(shape, dim, dtype, device):
    check_op(lambda x: x.unsqueeze(dim), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: torch.unsqueeze(x, dim), lambda x: flambeau.unsqueeze(x, dim), shapes=[shape],
             dtype=dtype, device=device)


SQUEEZES = [((2, 1, 3, 1), None), ((2, 1, 3, 1), 1), ((2, 1, 3, 1), -1), ((2, 1, 3, 1), 0),
            ((2, 1, 3, 1), (1, 3)), ((1,), None), ((1,), 0), ((1, 1, 1), None), ((), None), ((), 0),
            ((0, 1), 1), ((0, 1), None), ((3, 5), None)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bool"])
@pytest.mark.parametrize("case", SQUEEZES, ids=str)
def test_squeeze(case, dtype, device):
    shape, dim = case
    if dim is None:
        check_op(lambda x: x.squeeze(), shapes=[shape], dtype=dtype, device=device)
        check_op(lambda x: torch.squeeze(x), lambda x: flambeau.squeeze(x), shapes=[shape], dtype=dtype,
                 device=device)
    else:
        check_op(lambda x: x.squeeze(dim), shapes=[shape], dtype=dtype, device=device)
        check_op(lambda x: torch.squeeze(x, dim), lambda x: flambeau.squeeze(x, dim), shapes=[shape],
                 dtype=dtype, device=device)


EXPANDS = [((3, 1), (3, 4)), ((3, 1), (2, 3, 5)), ((1,), (7,)), ((), (2, 3)), ((3, 1), (-1, 4)),
           ((1, 4), (3, -1, 4)), ((2, 1, 4), (2, 3, 4)), ((3, 4), (3, 4)), ((1, 3), (0, 3))]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("case", EXPANDS, ids=str)
def test_expand(case, dtype, device):
    shape, new = case
    check_op(lambda x: x.expand(new), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: x.expand(*new), shapes=[shape], dtype=dtype, device=device)
    if dtype != "int64":
        # The expanded (stride-0) view feeding an elementwise op and a reduction.
        check_op(lambda x: (x.expand(new) * 3).sum(0) if len(new) else x.expand(new), shapes=[shape],
                 dtype=dtype, device=device)


def test_expand_as(device):
    check_op(lambda x, y: x.expand_as(y) * y, shapes=[(3, 1), (2, 3, 4)], device=device)


CATS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 5), (2, 1)], 1),
    ([(2, 3), (2, 5)], -1),
    ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1),
    ([(7,), (1,), (3,)], 0),
    ([(2, 3)], 0),
    ([(0, 3), (2, 3)], 0),
    ([(2, 0), (2, 3), (2, 0)], 1),
    ([(1, 2, 3), (1, 2, 3)], 2),
    # Rows of 64 bytes and more: the contiguous cat writes whole output rows (cpu::cat_rows), the
    # strided one copies row by row (cpu::copy_rows)
    ([(3, 40), (3, 70), (3, 1)], 1),
    ([(2, 5, 33), (2, 3, 33)], 1),
    ([(4, 2, 100), (4, 2, 17)], -1),
]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("case", CATS, ids=str)
def test_cat(case, dtype, non_contiguous, device):
    shapes, dim = case
    check_op(lambda *xs: torch.cat(xs, dim), lambda *xs: flambeau.cat(xs, dim), shapes=shapes, dtype=dtype,
             non_contiguous=non_contiguous, device=device)
    check_op(lambda *xs: torch.cat(list(xs), dim=dim), lambda *xs: flambeau.cat(list(xs), dim=dim),
             shapes=shapes, dtype=dtype, device=device)


def test_cat_default_dim(device):
    check_op(lambda a, b: torch.cat([a, b]), lambda a, b: flambeau.cat([a, b]), shapes=[(2, 3), (1, 3)],
             device=device)


STACKS = [([(2, 3)] * 3, 0), ([(2, 3)] * 2, 1), ([(2, 3)] * 2, 2), ([(2, 3)] * 4, -1), ([()] * 5, 0),
          ([(7,)] * 2, 0), ([(0, 3)] * 2, 1), ([(2, 3, 4)], 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("case", STACKS, ids=str)
def test_stack(case, dtype, device):
    shapes, dim = case
    check_op(lambda *xs: torch.stack(xs, dim), lambda *xs: flambeau.stack(xs, dim), shapes=shapes,
             dtype=dtype, device=device)
    check_op(lambda *xs: torch.stack(list(xs), dim=dim), lambda *xs: flambeau.stack(list(xs), dim=dim),
             shapes=shapes, dtype=dtype, non_contiguous=True, device=device)


SPLITS = [((7,), 3, 0), ((7,), 7, 0), ((7,), 10, 0), ((7,), [2, 5], 0), ((7,), [0, 7], 0),
          ((3, 8), 3, 1), ((3, 8), [1, 4, 3], -1), ((6, 2), 2, 0), ((0, 4), 2, 1), ((2, 3, 4), [1, 1, 1], 1)]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("case", SPLITS, ids=str)
def test_split(case, non_contiguous, device):
    shape, size, dim = case
    check_op(lambda x: x.split(size, dim), shapes=[shape], non_contiguous=non_contiguous, device=device)
    check_op(lambda x: torch.split(x, size, dim=dim), lambda x: flambeau.split(x, size, dim=dim),
             shapes=[shape], device=device)


CHUNKS = [((7,), 3, 0), ((6,), 4, 0), ((6,), 3, 0), ((7,), 1, 0), ((5,), 7, 0), ((3, 8), 3, 1),
          ((3, 8), 2, -1), ((5, 2), 2, 0)]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("case", CHUNKS, ids=str)
def test_chunk(case, non_contiguous, device):
    shape, n, dim = case
    check_op(lambda x: x.chunk(n, dim), shapes=[shape], non_contiguous=non_contiguous, device=device)
    check_op(lambda x: torch.chunk(x, n, dim=dim), lambda x: flambeau.chunk(x, n, dim=dim), shapes=[shape],
             device=device)


def test_split_outputs_used_partially(device):
    # Only some pieces reach the loss: the others contribute zero gradient.
    check_op(lambda x: x.split(2, 1)[1] * 3, shapes=[(3, 7)], device=device)
    check_op(lambda x: x.chunk(3)[0].sum() + x.chunk(3)[2].sum(), shapes=[(7, 2)], device=device)


def test_shape_op_chain_gradient(device):
    check_op(lambda x, y: torch.cat([x.permute(1, 0, 2).reshape(3, -1), y.T.unsqueeze(0).flatten(1)
                                     .expand(3, -1)], 1).split(5, 1)[1].squeeze(),
             lambda x, y: flambeau.cat([x.permute(1, 0, 2).reshape(3, -1), y.T.unsqueeze(0).flatten(1)
                                        .expand(3, -1)], 1).split(5, 1)[1].squeeze(),
             shapes=[(2, 3, 4), (4, 2)], device=device)


# ---- view semantics -------------------------------------------------------------------------------------

VIEWS = {
    "transpose": lambda x: x.transpose(0, 1),
    "permute": lambda x: x.permute(2, 0, 1),
    "T_of_slice": lambda x: x[0].T,
    "slice_step": lambda x: x[:, ::2, 1:],
    "expand": lambda x: x[:, :1].expand(2, 5, 4),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "squeeze": lambda x: x[:1].squeeze(0),
    "reshape_contig": lambda x: x.reshape(10, 4),
    "view": lambda x: x.view(2, 20),
    "flatten": lambda x: x.flatten(),
    "select": lambda x: x[1],
    "split": lambda x: x.split(2, 1)[1],
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_metadata_matches_torch(name, device, rng):
    a = rand_array((2, 5, 4), "float32", rng)
    t, f = VIEWS[name](torch.tensor(a)), VIEWS[name](fl_tensor(a, device))
    assert_close(f, t)
    assert tuple(f.stride()) == tuple(t.stride())
    assert f.stride(0) == t.stride(0)
    assert f.is_contiguous() == t.is_contiguous()
    assert f.storage_offset() == t.storage_offset()


@pytest.mark.parametrize("name", ["transpose", "permute", "T_of_slice", "slice_step", "unsqueeze", "squeeze",
                                  "reshape_contig", "view", "flatten", "select", "split"])
def test_views_share_storage(name, device):
    base = flambeau.zeros(2, 5, 4, device=device)
    v = VIEWS[name](base)
    v[...] = 7.0
    tb = torch.zeros(2, 5, 4)
    VIEWS[name](tb)[...] = 7.0
    np.testing.assert_array_equal(base.to("cpu").numpy(), tb.numpy())


def test_view_write_through_setitem(device):
    x = flambeau.zeros(3, 4, device=device)
    x.T[1, 2] = 5.0
    x.view(12)[0] = 1.0
    assert x[2, 1].item() == 5.0 and x[0, 0].item() == 1.0


def test_contiguous(device, rng):
    a = rand_array((3, 5), "float32", rng)
    f = fl_tensor(a, device).T
    assert not f.is_contiguous()
    c = f.contiguous()
    assert c.is_contiguous() and tuple(c.stride()) == (3, 1)
    np.testing.assert_array_equal(c.to("cpu").numpy(), a.T)
    d = fl_tensor(a, device)
    assert d.contiguous().is_contiguous()
    check_op(lambda x: x.contiguous() * 2, shapes=[(3, 5)], non_contiguous=True, device=device)


def test_reshape_of_non_contiguous_copies(device):
    x = flambeau.zeros(3, 4, device=device)
    y = x.T.reshape(12)
    y[0] = 1.0
    assert x.sum().item() == 0.0


def test_shape_introspection(device):
    x = flambeau.zeros(2, 3, 4, device=device)
    t = torch.zeros(2, 3, 4)
    assert x.shape == t.shape == (2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.shape[0] == 2 and list(x.shape) == [2, 3, 4]
    assert x.dim() == x.ndim == 3
    assert x.numel() == 24
    assert len(x) == 2
    assert flambeau.zeros((), device=device).shape == ()
    assert flambeau.zeros((), device=device).dim() == 0
    assert isinstance(x.shape, tuple)


def test_size_class():
    assert flambeau.Size((2, 3)) == (2, 3)
    assert isinstance(flambeau.zeros(2, 3).shape, flambeau.Size)


@pytest.mark.parametrize("shape,dim", [((4, 3), 0), ((4, 3), 1), ((2, 3, 5), -1), ((2, 0, 3), 0), ((2, 0, 3), 1), ((5,), 0)])
@pytest.mark.parametrize("non_contiguous", [False, True])
def test_unbind(shape, dim, non_contiguous, device):
    check_op(lambda x: x.unbind(dim), shapes=[shape], non_contiguous=non_contiguous, device=device)
    check_op(lambda x: torch.unbind(x, dim), lambda x: flambeau.unbind(x, dim), shapes=[shape], grad=False,
             non_contiguous=non_contiguous, device=device)


def test_unbind_views_and_errors():
    x = flambeau.zeros(2, 3)
    rows = x.unbind(1)
    assert len(rows) == 3 and all(r._base is x for r in rows)
    rows[1][0] = 10.0  # a view: writes reach x
    assert x[0, 1].item() == 10.0
    with pytest.raises(IndexError):
        flambeau.tensor(1.0).unbind(0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.unbind(2)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape,perm", [((4, 3, 16, 17), (0, 2, 3, 1)), ((2, 16, 9, 9), (0, 2, 3, 1)),
                                        ((40, 2), (1, 0)), ((3, 5, 33), (2, 0, 1))], ids=str)
def test_permute_contiguous_into_short_rows(shape, perm, dtype, device):
    # NCHW -> NHWC with few channels: rows of C <= 16 elements filled from C planes (copy_interleave),
    # also from a strided (every other column) source.
    check_op(lambda x: x.permute(*perm).contiguous(), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: x[..., ::2].permute(*perm).contiguous() * 1, shapes=[shape], dtype=dtype, device=device,
             grad=False)


@pytest.mark.parametrize("shapes", [[(1500, 1024), (700, 1024)], [(3, 5)] * 300, [(0, 4), (2, 4), (1, 4)]], ids=len)
def test_cat_first_dim_of_contiguous_parts(shapes, device, rng):
    # Along dim 0 each contiguous part is one block: a few large parts split each copy among the
    # threads, many small ones (a batch stacked from its samples) go to the threads whole.
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    assert_close(flambeau.cat([fl_tensor(a, device) for a in arrs], 0), torch.cat([torch.tensor(a) for a in arrs], 0))
    if len(set(shapes)) == 1:
        assert_close(flambeau.stack([fl_tensor(a, device) for a in arrs], 1),
                     torch.stack([torch.tensor(a) for a in arrs], 1))


@pytest.mark.parametrize("case", range(7))
def test_cat_of_block_strided_parts(case, device, rng):
    # Parts whose blocks along the cat dim are contiguous and evenly spaced (chunks of one tensor)
    # are copied block by block; flipped, stepped and transposed parts take the strided copy.
    a, b = rng.standard_normal((64, 40)), rng.standard_normal((3, 64, 40, 5))
    fn = [lambda m, x, y: m.cat(x.chunk(4, 1)[::-1], 1),
          lambda m, x, y: m.cat([x[:, 3:10], x[:, :2], x.flip(0)[:, :5]], 1),
          lambda m, x, y: m.cat([y[:, :, 1:3], y[:, :, ::2]], 2),
          lambda m, x, y: m.cat([y.flip(0), y], 1),
          lambda m, x, y: m.cat([x[::2], x[1::2]], 0),
          lambda m, x, y: m.cat([y[:, 1:5], y[:, ::3]], 1),
          lambda m, x, y: m.cat([x.t()[:, :3], x.t()[:, 5:9]], 1)][case]
    assert_close(fn(flambeau, fl_tensor(a, device), fl_tensor(b, device)), fn(torch, torch.tensor(a), torch.tensor(b)))


@pytest.mark.parametrize("repeats", [0, 1, 2, 3])
@pytest.mark.parametrize("dim", [0, 1, -1, None])
def test_repeat_interleave_int_repeats(repeats, dim, device):
    # An int count: forward and gradient (through the autograd ops) and without grad (straight
    # through _C); the result is always a fresh tensor, repeats == 1 included (writing to it leaves the
    # input alone, as in PyTorch), also from a transposed input.
    check_op(lambda x: x.repeat_interleave(repeats, dim=dim), shapes=[(3, 5)], dtype="float64", device=device)
    check_op(lambda x: x.t().repeat_interleave(repeats, dim=dim), shapes=[(4, 6)], device=device, grad=False)
    x = fl_tensor(np.arange(12.0).reshape(3, 4), device)
    y = x.repeat_interleave(repeats, dim=dim)
    if y.numel():
        y.view(-1)[0] = -7.0
    assert to_np(x).tolist() == np.arange(12.0).reshape(3, 4).tolist()


@pytest.mark.parametrize("case", ["dim0", "dim1", "flat", "broadcast1", "zero_counts"])
def test_repeat_interleave_tensor_repeats(case):
    """repeat_interleave with a tensor of per-element counts (forward and gradient), and the
    one-argument form repeat_interleave(counts) giving repeated indices."""
    arr = rand_array((3, 4), "float64")
    counts = {"dim0": ([2, 0, 3], 0), "dim1": ([1, 2, 0, 1], 1), "flat": (list(range(12)), None),
              "broadcast1": ([3], 1), "zero_counts": ([0, 0, 0], 0)}[case]
    rep, dim = counts
    check_op(lambda x: x.repeat_interleave(torch.tensor(rep), dim=dim),
             lambda x: x.repeat_interleave(flambeau.tensor(rep), dim=dim), inputs=[arr], dtype="float64")
    assert flambeau.repeat_interleave(flambeau.tensor(rep)).tolist() == torch.repeat_interleave(torch.tensor(rep)).tolist()


def test_repeat_interleave_tensor_repeats_errors():
    x = flambeau.zeros(2, 3)
    with pytest.raises(RuntimeError, match="same size"):
        x.repeat_interleave(flambeau.tensor([1, 2, 3]), dim=0)
    with pytest.raises(RuntimeError, match="negative"):
        x.repeat_interleave(flambeau.tensor([-1, 2]), dim=0)
    with pytest.raises(RuntimeError, match="output_size"):
        x.repeat_interleave(flambeau.tensor([1, 2]), dim=0, output_size=4)
    assert tuple(x.repeat_interleave(flambeau.tensor([1, 2]), dim=0, output_size=3).shape) == (3, 3)


@pytest.mark.parametrize("repeats,dim,shape", [
    ([1, 2], 0, (2, 3)), ([1, 0, 3], 1, (2, 3)), ([2, 0, 1, 1, 3, 0], None, (2, 3)), ([2], 0, (2, 3)),
    (2, 1, (2, 3)), ("scalar3", -1, (2, 2, 3)), ([0, 0], 0, (2, 3)), ([4, 1, 2], 0, (3,)),
])
def test_repeat_interleave_tensor_repeats_cases(repeats, dim, shape):
    """repeat_interleave with a tensor of per-slice counts (a varlen batch's row index:
    repeat_interleave(arange(B), lengths)), a one-element tensor, or an int; values and gradients."""
    def reps(lib):
        if repeats == "scalar3":
            return lib.tensor(3)
        return lib.tensor(repeats) if isinstance(repeats, list) else repeats
    check_op(lambda x: torch.repeat_interleave(x, reps(torch), dim=dim),
             lambda x: flambeau.repeat_interleave(x, reps(flambeau), dim=dim), shapes=[shape])
    check_op(lambda x: x.repeat_interleave(reps(torch), dim), lambda x: x.repeat_interleave(reps(flambeau), dim),
             shapes=[shape])


def test_repeat_interleave_counts_only_and_errors():
    lengths = [3, 0, 2]
    np.testing.assert_array_equal(flambeau.repeat_interleave(flambeau.tensor(lengths)).numpy(),
                                  torch.repeat_interleave(torch.tensor(lengths)).numpy())
    x = flambeau.zeros(2, 3)
    for args, kw, err, msg in [((flambeau.tensor([1, -2]),), dict(dim=0), RuntimeError, "can not be negative"),
                               ((flambeau.tensor([1, 2]),), {}, RuntimeError, "same size as input along dim"),
                               ((flambeau.tensor([[1, 2]]),), dict(dim=0), RuntimeError, "0-dim or 1-dim"),
                               ((flambeau.tensor([1.0, 2.0]),), dict(dim=0), NotImplementedError, "Float"),
                               ((-1,), dict(dim=0), RuntimeError, "non-negative")]:
        with pytest.raises(err, match=msg):
            flambeau.repeat_interleave(x, *args, **kw)
    with pytest.raises(RuntimeError, match="1D vector"):
        flambeau.repeat_interleave(flambeau.tensor([[2, 0]]))


# ---- repeat_interleave with a tensor of repeats (and the one-argument form) ---------------------
@pytest.mark.parametrize("shape,repeats,dim", [((4,), [1, 2, 0, 3], 0), ((2, 3), [2, 0, 1], 1),
                                               ((3, 2), [0, 0, 4], 0), ((2, 3), [1, 2, 1, 0, 0, 2], None),
                                               ((2, 3), [3], 1), ((2, 3), [2], None)])
def test_repeat_interleave_tensor_repeats_grid(shape, repeats, dim):
    reps = np.array(repeats, dtype=np.int64)
    check_op(lambda x: torch.repeat_interleave(x, torch.from_numpy(reps), dim=dim),
             lambda x: flambeau.repeat_interleave(x, flambeau.from_numpy(reps), dim=dim), shapes=[shape])
    check_op(lambda x: x.repeat_interleave(torch.from_numpy(reps), dim),
             lambda x: x.repeat_interleave(flambeau.from_numpy(reps), dim), shapes=[shape])


def test_repeat_interleave_index_form_and_errors():
    counts = np.array([1, 0, 3, 2], dtype=np.int64)
    assert_close(flambeau.repeat_interleave(flambeau.from_numpy(counts)),
                 torch.repeat_interleave(torch.from_numpy(counts)))
    # the detection idiom: the image index of every box
    boxes_per_image = [2, 0, 3]
    assert_close(flambeau.arange(3).repeat_interleave(flambeau.tensor(boxes_per_image)),
                 torch.arange(3).repeat_interleave(torch.tensor(boxes_per_image)))
    cases = [lambda m: m.repeat_interleave(m.arange(4.), m.tensor([1, 2, 0])),
             lambda m: m.repeat_interleave(m.arange(4.), m.tensor([1, -2, 0, 1])),
             lambda m: m.repeat_interleave(m.arange(4.), m.tensor([[1]])),
             lambda m: m.repeat_interleave(m.arange(4.), m.tensor([1., 2, 0, 1])),
             lambda m: m.repeat_interleave(m.tensor([1., 2])),
             lambda m: m.repeat_interleave(m.arange(4.), -1)]
    for case in cases:
        with pytest.raises(Exception) as et:
            case(torch)
        with pytest.raises(type(et.value), match=str(et.value).replace("(", r"\(").replace(")", r"\)")):
            case(flambeau)
