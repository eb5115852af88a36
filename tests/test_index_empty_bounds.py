"""Indexing ops on empty tensors, against PyTorch (found by tools/fuzz_ops.py). PyTorch checks most index bounds
inside its kernels' loops, which never run when nothing is read or written: x[idx], index_put_ / x[idx] = v,
index_copy_, index_fill_ on an empty result leave out-of-range indices unchecked, index_add_ returns early on an
empty self of 2+ dims, and gather / scatter skip their shape checks for an empty index (and take a 0-d index as
1-D). We raised IndexError or a shape error in all of these. Where PyTorch raises (a nonempty index into a dim of
size 0, or a nonempty result), we still raise."""
import numpy as np
import pytest
import torch

import flambeau


def I(m, *v):
    return m.tensor(list(v), dtype=m.int64)


def Z(m, *shape, dtype=None):
    return m.zeros(*shape, dtype=dtype or m.float32)


def _setitem(x, idx, v):
    x[idx] = v
    return x


CASES = {
    # advanced indexing (getitem): unchecked when the result is empty
    "getitem_rows_of_empty_cols": lambda m: Z(m, 3, 0)[I(m, 4, -5)],
    "getitem_two_indices": lambda m: Z(m, 3, 4, 0, 2)[I(m, 3, -5), I(m, 0)],
    "getitem_two_indices_second_bad": lambda m: Z(m, 3, 4, 0, 2)[I(m, 1, 1), I(m, -9)],
    "getitem_dim1": lambda m: Z(m, 3, 4, 0, 2)[:, I(m, 9)],
    "getitem_empty_rows": lambda m: Z(m, 0, 3)[:, I(m, 5)],
    "getitem_empty_index": lambda m: Z(m, 0, 3)[I(m), I(m, 9)],
    "getitem_2d_index": lambda m: Z(m, 3, 4, 0, 2)[m.tensor([[4, -5], [0, 1]])],
    # ... raised by both: a nonempty index into a dim of size 0, or a nonempty result
    "getitem_into_size0_dim": lambda m: Z(m, 3, 4, 0, 2)[:, :, I(m, 0)],
    "getitem_into_size0_rows": lambda m: Z(m, 0, 3)[I(m, 0)],
    "getitem_nonempty_out_of_range": lambda m: Z(m, 3, 2)[I(m, 3)],
    # index_put_ / setitem
    "index_put_": lambda m: Z(m, 3, 4, 0, 2).index_put_((I(m, 3, -4),), m.tensor(1.0)),
    "index_put_accumulate": lambda m: Z(m, 3, 0).index_put_((I(m, 4),), m.tensor(1.0), accumulate=True),
    "index_put_accumulate_4d": lambda m: Z(m, 3, 4, 0, 2).index_put_((I(m, 3, -4),), m.tensor(1.0), accumulate=True),
    "index_put_into_size0_rows": lambda m: Z(m, 0, 3).index_put_((I(m, 0),), m.tensor(1.0)),
    "setitem_scalar": lambda m: _setitem(Z(m, 3, 0), I(m, 4, -4), 1.5),
    "setitem_tensor": lambda m: _setitem(Z(m, 3, 0), I(m, 4, -4), Z(m, 2, 0)),
    "setitem_4d": lambda m: _setitem(Z(m, 3, 4, 0, 2), I(m, 4, -4), Z(m, 4, 0, 2)),
    "setitem_dim1": lambda m: _setitem(Z(m, 3, 4, 0, 2), (slice(None), I(m, 9)), 1.0),
    "setitem_nonempty_out_of_range": lambda m: _setitem(Z(m, 3, 2), I(m, 3), 1.0),
    # index_copy_ / index_fill_: unchecked when the written slices are empty
    "index_copy_empty_rows": lambda m: Z(m, 0, 3).index_copy_(1, I(m, -4), Z(m, 0, 1)),
    "index_copy_4d": lambda m: Z(m, 3, 4, 0, 2).index_copy_(0, I(m, -5), Z(m, 1, 4, 0, 2)),
    "index_copy_empty_cols": lambda m: Z(m, 3, 0).index_copy_(0, I(m, 3), Z(m, 1, 0)),
    "index_copy_out_of_place": lambda m: Z(m, 3, 0).index_copy(0, I(m, 3), Z(m, 1, 0)),
    "index_copy_nonempty": lambda m: Z(m, 3, 2).index_copy_(0, I(m, 3), Z(m, 1, 2)),
    "index_fill_4d": lambda m: Z(m, 3, 4, 0, 2).index_fill_(1, I(m, 5), 2),
    "index_fill_empty_rows": lambda m: Z(m, 0, 3).index_fill_(1, I(m, -4), 2),
    "index_fill_out_of_place": lambda m: Z(m, 0, 3).index_fill(1, I(m, -4), 2),
    "index_fill_int": lambda m: Z(m, 3, 4, 0, 2, dtype=m.int32).index_fill_(-1, I(m, -3), 0),
    "index_fill_nonempty": lambda m: Z(m, 3, 2).index_fill_(0, I(m, 3), 2),
    # index_add: an empty self of 2+ dims returns before any check
    "index_add_empty_dim": lambda m: Z(m, 3, 0).index_add(1, I(m, 0, 0), Z(m, 3, 2)),
    "index_add_empty_rows": lambda m: Z(m, 0, 3).index_add(0, I(m, 1, -2), Z(m, 2, 3)),
    "index_add_empty_rows_dim1": lambda m: Z(m, 0, 3).index_add(1, I(m, 1, -7), Z(m, 0, 2)),
    "index_add_": lambda m: Z(m, 3, 0).index_add_(0, I(m, 7, -7), Z(m, 2, 0)),
    "index_add_1d_empty": lambda m: Z(m, 0).index_add(0, I(m, 1), Z(m, 1)),
    "index_add_nonempty": lambda m: Z(m, 3).index_add(0, I(m, 7), Z(m, 1)),
    # gather / scatter: no shape checks for an empty index; a 0-d index is 1-D
    "gather_0d_index": lambda m: m.gather(m.arange(6.0), 0, m.tensor(3)),
    "gather_0d_input_2d_index": lambda m: m.gather(m.tensor(1.0), 0, Z(m, 2, 3, dtype=m.int64)),
    "gather_0d_input_1d_index": lambda m: m.gather(m.tensor(1.0), 0, Z(m, 3, dtype=m.int64)),
    "gather_0d_index_out_of_range": lambda m: m.gather(m.arange(6.0), 0, m.tensor(9)),
    "gather_empty_index_larger": lambda m: m.gather(Z(m, 7, 1, 1, 3), 0, Z(m, 3, 4, 0, 2, dtype=m.int64)),
    "gather_empty_index_rows": lambda m: m.gather(Z(m, 2, 3), 1, Z(m, 3, 0, dtype=m.int64)),
    "scatter_0d_index_value": lambda m: Z(m, 6).scatter(0, m.tensor(2), 1.5),
    "scatter__0d_index_src": lambda m: Z(m, 6).scatter_(0, m.tensor(2), m.tensor(3.0)),
    "scatter__0d_self": lambda m: Z(m, ()).scatter_(0, Z(m, 5, dtype=m.int64), m.arange(5.0)),
    "scatter__0d_index_out_of_range": lambda m: Z(m, 6).scatter_(0, m.tensor(9), m.tensor(3.0)),
    "scatter_add_0d_index": lambda m: m.scatter_add(Z(m, 6), 0, m.tensor(2), m.tensor(3.0)),
    "scatter_add_empty_index": lambda m: m.scatter_add(Z(m, 3, 0), 0, Z(m, 0, 3, dtype=m.int64) + 9, Z(m, 3, 0)),
    "scatter_add_empty_index_vs_src": lambda m: m.scatter_add(Z(m, 3, 2), 0, Z(m, 4, 0, dtype=m.int64), Z(m, 3, 0)),
    "scatter_reduce_empty_index": lambda m: m.scatter_reduce(Z(m, 3, 2), 0, Z(m, 0, 5, dtype=m.int64) + 9,
                                                             Z(m, 3, 1), "sum"),
    "scatter_add_nonempty_too_large": lambda m: m.scatter_add(Z(m, 3, 0), 0, Z(m, 2, 1, dtype=m.int64) + 9,
                                                              Z(m, 3, 1)),
}


def _outcome(m, fn):
    try:
        r = fn(m)
    except (RuntimeError, IndexError):
        return "raised"
    return ("ok", tuple(r.shape), str(r.dtype).split(".")[-1], np.asarray(r.tolist()).tolist())


@pytest.mark.parametrize("name", sorted(CASES))
def test_indexing_empty_matches_pytorch(name):
    fn = CASES[name]
    assert _outcome(flambeau, fn) == _outcome(torch, fn)


def test_empty_index_ops_keep_autograd():
    # the early returns still join the result to the source's graph (a zero gradient for it, as PyTorch's)
    for m in (flambeau, torch):
        x = m.zeros(3, 0, requires_grad=True)
        s = m.ones(3, 2, requires_grad=True)
        y = x.index_add(1, m.tensor([0, 0]), s)
        assert y.requires_grad and y.shape == (3, 0)
        src = m.ones(6, requires_grad=True)
        g = m.gather(src, 0, m.tensor(3))
        g.backward()
        assert src.grad.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
