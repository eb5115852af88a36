"""Writes whose destination overlaps an input, against PyTorch (ATen/MemoryOverlap): an elementwise op or copy_
whose output partially overlaps an input ("unsupported operation: some elements of the input tensor and the
written-to tensor refer to a single memory location"), index ops, scatter and cat whose output overlaps a source at
all, and outputs with elements sharing memory (expanded: "more than one element of the written-to tensor refers to a
single memory location"). Full aliasing (torch.add(a, b, out=a), a.add_(a)) and overlaps PyTorch cannot judge
cheaply (strided views) are allowed and computed as PyTorch does. Every case runs in both libraries, with and
without autograd recording."""
import numpy as np
import pytest
import torch

import flambeau

PARTIAL = "some elements of the input tensor and the written-to tensor refer to a single memory location"
INTERNAL = "more than one element of the written-to tensor"


def _a(m, rg):
    if rg:  # (a non-leaf, so that in-place writes are recorded)
        return m.arange(6.0, dtype=m.float64, requires_grad=True) * 1
    return m.arange(6.0, dtype=m.float64)


CASES = {
    "add_out_full_alias": lambda m, a: m.add(a, a, out=a),
    "add_out_partial": lambda m, a: m.add(a[:-1], 1, out=a[1:]),
    "add__self_overlaps_input": lambda m, a: a[1:].add_(a[:-1]),
    "add__other_direction": lambda m, a: a[:-1].add_(a[1:]),
    "add__self_full": lambda m, a: a.add_(a),
    "mul__overlap": lambda m, a: a[1:].mul_(a[:-1]),
    "sub__overlap_2d": lambda m, a: a.view(2, 3)[1:].sub_(a[2:5].view(1, 3)),
    "exp_out_partial": lambda m, a: m.exp(a[:-1], out=a[1:]),
    "exp_out_full": lambda m, a: m.exp(a, out=a),
    "neg_out_partial": lambda m, a: m.neg(a[:-1], out=a[1:]),
    "mul_out_partial": lambda m, a: m.mul(a[:3], a[3:], out=a[1:4]),
    "clamp_out_partial": lambda m, a: m.clamp(a[:-1], 0, 3, out=a[1:]),
    "addcmul__overlap": lambda m, a: a[1:].addcmul_(a[:-1], a[:-1]),
    "lerp__overlap": lambda m, a: a[1:].lerp_(a[:-1], 0.5),
    "copy__overlap": lambda m, a: a[1:].copy_(a[:-1]),
    "copy__self": lambda m, a: a.copy_(a),
    "copy__transposed_overlap": lambda m, a: a.view(3, 2).t().copy_(a.view(2, 3)),
    "setitem_slice_overlap": lambda m, a: a.__setitem__(slice(1, None), a[:-1]),
    "iadd_slice_overlap": lambda m, a: a[1:].__iadd__(a[:-1]),
    "strided_overlap_allowed": lambda m, a: m.add(a[::2], a[1::2], out=a[1::2]),
    "strided_no_overlap": lambda m, a: m.add(a[::2], 1, out=a[1::2]),
    "cat_out_overlap": lambda m, a: m.cat([a[:2], a[2:4]], out=a[1:5]),
    "cat_out_same_storage_apart": lambda m, a: m.cat([a[:2]], out=a[3:5]),
    "index_copy__overlap": lambda m, a: a.index_copy_(0, m.tensor([1, 2]), a[:2]),
    "index_add__overlap": lambda m, a: a.index_add_(0, m.tensor([1, 2]), a[:2]),
    "index_put__overlap": lambda m, a: a.__setitem__(m.tensor([1, 2]), a[:2]),
    "scatter__overlap": lambda m, a: a.scatter_(0, m.tensor([1, 2]), a[:2]),
    "scatter_add__overlap": lambda m, a: a.scatter_add_(0, m.tensor([1, 2]), a[:2]),
    "index_select_out_overlap": lambda m, a: m.index_select(a, 0, m.tensor([1, 2, 3]), out=a[2:5]),
    "gather_out_overlap": lambda m, a: m.gather(a, 0, m.tensor([1, 2, 3]), out=a[2:5]),
    "index_fill__allowed": lambda m, a: a.index_fill_(0, m.tensor([1, 2]), 0),
    # the ternary ops' out= (computed apart, then written: the check is made before)
    "where_out_partial_input": lambda m, a: m.where(a[:5] > 2, a[1:], a[:5], out=a[:5]),
    "where_out_partial_other": lambda m, a: m.where(a[:5] > 2, a[:5], a[1:], out=a[:5]),
    "where_out_full_alias": lambda m, a: m.where(a > 2, a, a * 0, out=a),
    "where_out_transposed": lambda m, a: m.where(a.view(2, 3) > 2, a.view(3, 2).t(), a.view(2, 3), out=a.view(2, 3)),
    "addcmul_out_partial": lambda m, a: m.addcmul(a[:5], a[1:], a[:5], out=a[:5]),
    "addcmul_out_partial_self": lambda m, a: m.addcmul(a[1:], a[:5], a[:5], out=a[:5]),
    "addcmul_out_full_alias": lambda m, a: m.addcmul(a, a, a, value=2, out=a),
    "addcmul_out_apart": lambda m, a: m.addcmul(a[:3], a[3:], a[3:], out=a[:3]),
    "addcdiv_out_partial": lambda m, a: m.addcdiv(a[:5], a[:5], a[1:] + 1, out=a[:5]),
    "addcdiv_out_partial_t1": lambda m, a: m.addcdiv(a[:5], a[1:], a[:5] + 1, out=a[:5]),
    "addcdiv_out_full_alias": lambda m, a: m.addcdiv(a, a, a + 1, out=a),
    "lerp_out_partial_end": lambda m, a: m.lerp(a[:5], a[1:], 0.5, out=a[:5]),
    "lerp_out_partial_self": lambda m, a: m.lerp(a[1:], a[:5], 0.5, out=a[:5]),
    "lerp_out_partial_weight": lambda m, a: m.lerp(a[:5], a[:5] * 2, a[1:], out=a[:5]),
    "lerp_out_full_alias": lambda m, a: m.lerp(a, a, a, out=a),
}

EXPANDED = {
    "expanded_add_": lambda m, e: e.add_(1),
    "expanded_mul_": lambda m, e: e.mul_(2),
    "expanded_copy_": lambda m, e: e.copy_(m.ones(2, 3, dtype=m.float64)),
    "expanded_exp_": lambda m, e: e.exp_(),
    "expanded_add_tensor": lambda m, e: e.add_(m.ones(1, 3, dtype=m.float64)),
    "expanded_out": lambda m, e: m.add(m.ones(2, 3, dtype=m.float64), 1, out=e),
    "expanded_fill_allowed": lambda m, e: e.fill_(1),
    "expanded_zero_allowed": lambda m, e: e.zero_(),
}


def _outcome(m, fn, rg, make):
    x = make(m, rg)
    try:
        fn(m, x)
    except RuntimeError as e:
        msg = str(e)
        return ("raised", PARTIAL in msg, INTERNAL in msg)
    base = x if x._base is None else x._base
    return ("ok", np.asarray(base.detach().numpy()).tolist())


def _needs_grad_free(name):
    # out= refuses autograd in both libraries whatever the overlap: compared without recording only
    return "_out" in name


@pytest.mark.parametrize("rg", [False, True], ids=["plain", "recorded"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_overlapping_write_matches_pytorch(name, rg):
    if rg and _needs_grad_free(name):
        pytest.skip("out= with autograd is refused by both")
    fn = CASES[name]
    ours, ref = _outcome(flambeau, fn, rg, _a), _outcome(torch, fn, rg, _a)
    assert ours == ref


def _expanded(m, rg):
    return m.zeros(1, 3, dtype=m.float64).expand(2, 3)


@pytest.mark.parametrize("name", sorted(EXPANDED))
def test_write_into_expanded_tensor_matches_pytorch(name):
    fn = EXPANDED[name]
    ours, ref = _outcome(flambeau, fn, False, _expanded), _outcome(torch, fn, False, _expanded)
    assert ours == ref


def test_message_names_op_and_shapes():
    a = flambeau.arange(6.0)
    with pytest.raises(RuntimeError, match=r"^add: unsupported operation: some elements of the input tensor and "
                                           r"the written-to tensor refer to a single memory location.*\[5\]"):
        a[1:].add_(a[:-1])
    with pytest.raises(RuntimeError, match=r"^copy_: unsupported operation"):
        a[1:].copy_(a[:-1])
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # refused before writing anything
    assert a._version == 0


def test_where_out_takes_tensors_only():
    # PyTorch's out= overload of where has no scalar operands
    for m in (flambeau, torch):
        c, x, o = m.tensor([True, False]), m.ones(2), m.empty(2)
        with pytest.raises(TypeError, match=r"where\(\): argument 'other' .*must be Tensor, not float"):
            m.where(c, x, 0.0, out=o)
        with pytest.raises(TypeError, match=r"where\(\): argument 'input' .*must be Tensor, not float"):
            m.where(c, 0.0, x, out=o)
        assert m.where(c, x, 0.0).tolist() == [1.0, 0.0]


def test_no_overlap_between_different_storages_or_empty():
    for m in (flambeau, torch):
        a = m.arange(6.0)
        b = a.clone()
        m.add(a[:-1], 1, out=b[1:])
        e = a[:0]
        e.add_(a[:0])
        a[1:1].copy_(a[:0])
        assert b.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
