"""A view of a tensor that does not require grad starts requiring grad when its base (or another view of
the base) is later written in place by an op that does: PyTorch's view regenerates its grad_fn
(AsStridedBackward0) from the base's new history, so gradients through the view reach what was written.
Flambeau's views share their base's `_rg` cell (_tensor._wrap_view) and regenerate in
autograd.function._edge / Tensor.grad_fn. Every case runs in both libraries: autograd state of the views
(requires_grad, grad_fn name, is_leaf), values, and gradients through the view, the base and both."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close

# Views of a (6, 5) float64 base, each a list of the views it makes (views of views included).
VIEWS = {
    "slice": lambda b: [b[1:4]],
    "slice_of_slice": lambda b: [b[1:5][1:, ::2]],
    "select": lambda b: [b[2]],
    "select_int_index": lambda b: [b[-1, 1:]],
    "transpose": lambda b: [b.t()],
    "transpose_of_slice": lambda b: [b[:, 1:4].transpose(0, 1)],
    "view": lambda b: [b.view(30)],
    "view_of_select": lambda b: [b[3].view(5, 1)],
    "reshape_as_view": lambda b: [b.reshape(3, 10)],
    "unbind": lambda b: list(b.unbind(0)),
    "split": lambda b: list(b.split(2)),
    "chunk": lambda b: list(b.chunk(3, dim=1)),
    "diagonal": lambda b: [b.diagonal()],
    "as_strided": lambda b: [b.as_strided((2, 3), (5, 2), 1)],
    "unsqueeze_expand": lambda b: [b[0].unsqueeze(0).expand(3, 5)],
    "permute_of_view": lambda b: [b.view(3, 2, 5).permute(2, 0, 1)],
}


def _write_copy(m, b, x):
    b.copy_(x * 2)


def _write_add(m, b, x):
    b.add_(x.sin())


def _write_index_put(m, b, x):
    b.index_put_((m.tensor([0, 3, 5]),), x[:3] * 3)


def _write_setitem_slice(m, b, x):
    b[1:3] = x[:2].exp()


def _write_setitem_adv(m, b, x):
    b[m.tensor([4, 1])] = x[2:4] * 5


def _write_masked_fill(m, b, x):
    b.masked_fill_(m.tensor(np.arange(30).reshape(6, 5) % 3 == 0), x.sum())


def _write_through_other_view(m, b, x):
    b[2:].mul_(x[2:])  # a view made now writes: the earlier views regenerate too


WRITES = {"copy_": _write_copy, "add_": _write_add, "index_put_": _write_index_put,
          "setitem_slice": _write_setitem_slice, "setitem_advanced": _write_setitem_adv,
          "masked_fill_": _write_masked_fill, "other_view_mul_": _write_through_other_view}


def _state(t):
    fn = t.grad_fn
    return t.requires_grad, None if fn is None else type(fn).__name__, t.is_leaf


def _run(m, view, write, through, b0, x0, w):
    b = m.tensor(b0)
    x = m.tensor(x0, requires_grad=True)
    vs = VIEWS[view](b)
    WRITES[write](m, b, x)
    states = [_state(v) for v in vs] + [(b.requires_grad, b.is_leaf)]  # (the base's node names differ: CopySlices)
    loss = 0
    if through in ("view", "both"):
        for k, v in enumerate(vs):
            loss = loss + (v * (k + 1)).sum() * w
    if through in ("base", "both"):
        loss = loss + (b * b).sum()
    loss.backward()
    return states, [v.detach().clone() for v in vs], x.grad


@pytest.mark.parametrize("through", ["view", "base", "both"])
@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_tracks_later_write_to_its_base(view, write, through, rng):
    b0 = rng.standard_normal((6, 5))
    x0 = rng.standard_normal((6, 5))
    w = float(rng.uniform(0.5, 2.0))
    try:
        ts, tv, tg = _run(torch, view, write, through, b0, x0, w)
    except RuntimeError as e:  # unbind/split/chunk: PyTorch refuses to regenerate their histories
        with pytest.raises(RuntimeError) as ours:
            _run(flambeau, view, write, through, b0, x0, w)
        assert str(ours.value) == str(e) and view in ("unbind", "split", "chunk")
        return
    fs, fv, fg = _run(flambeau, view, write, through, b0, x0, w)
    assert fs == ts
    for a, e in zip(fv, tv):
        assert_close(a, e)
    assert_close(fg, tg)


def _both(fn):
    """fn(m) in both libraries: the same result, or the same exception type and message start."""
    out = []
    for m in (torch, flambeau):
        try:
            out.append(("ok", fn(m)))
        except RuntimeError as e:
            out.append(("raised", str(e).split(".")[0]))
    return out


def test_view_state_before_and_after_the_write():
    def fn(m):
        b = m.zeros(4)
        v = b[:2]
        before = _state(v)
        x = m.ones(4, requires_grad=True)
        b.copy_(x * 2)
        return before, _state(v), _state(v[1:]), b.requires_grad
    t, f = _both(fn)
    assert t == f and t[1][1][1] == "AsStridedBackward0"


def test_write_without_grad_leaves_views_alone():
    def fn(m):
        b = m.zeros(4)
        v = b[:2]
        b.mul_(2)  # nothing requiring grad: no history
        x = m.ones(4, requires_grad=True)
        with m.no_grad():
            b.copy_(x)
        return _state(v), _state(b), (v + 1).requires_grad
    t, f = _both(fn)
    assert t == f and t[1][0] == (False, None, True)


def test_views_made_under_no_grad_of_a_base_written_under_no_grad():
    def fn(m):
        b = m.zeros(4)
        x = m.ones(4, requires_grad=True)
        with m.no_grad():
            v = b[1:]
            b.copy_(x * 3)
        return _state(v), _state(b)
    t, f = _both(fn)
    assert t == f


def test_detached_views_stay_detached():
    def fn(m):
        b = m.zeros(4)
        d = b.detach()
        dv = d[:2]
        x = m.ones(4, requires_grad=True)
        b.copy_(x * 2)
        return _state(d), _state(dv), b.requires_grad
    t, f = _both(fn)
    assert t == f and t[1][0] == (False, None, True)


def test_requires_grad_on_the_base_makes_earlier_views_leaves():
    """PyTorch: a view made before base.requires_grad_() requires grad as a leaf of its own (its
    gradient goes to the view's .grad, not the base's); views made afterwards are ordinary views."""
    def fn(m):
        b = m.zeros(4)
        v = b[:2]
        b.requires_grad_()
        v2 = b[:2]
        (v * 2).sum().backward()
        (v2 * 3).sum().backward()
        return _state(v), _state(v2), v.grad, b.grad.tolist()
    t, f = _both(fn)
    assert t == f


def test_view_written_after_the_base_was_written():
    """v regenerated from the base's first write, then written itself: the base's gradient sees both.
    (PyTorch refuses v.mul_ here, calling v a leaf: its in-place check reads the view's grad_fn without
    regenerating it. Flambeau regenerates it; the oracle is PyTorch with v taken after the first write.)"""
    def fn(m, late):
        b = m.zeros(5, dtype=m.float64)
        v = b[1:4]
        x = m.arange(5.0, dtype=m.float64).requires_grad_()
        y = m.arange(3.0, dtype=m.float64).add(1).requires_grad_()
        b.copy_(x * x)
        if late:
            v = b[1:4]
        v.mul_(y)
        (b * m.arange(5.0, dtype=m.float64)).sum().backward()
        return b.tolist(), v.requires_grad, v.is_leaf, x.grad.tolist(), y.grad.tolist()
    assert fn(flambeau, False) == fn(torch, True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        fn(torch, False)


def test_multi_output_views_refuse_like_pytorch():
    """unbind/split/chunk (and iteration) views of a tensor not requiring grad: written in place under
    grad mode, or used after their base was, PyTorch raises (their creation_meta is MULTI_OUTPUT_NODE)."""
    def write_view(m):
        b = m.zeros(2, 3)
        b.unbind(0)[0].mul_(m.ones(3, requires_grad=True))

    def write_base(make):
        def fn(m):
            b = m.zeros(2, 3)
            vs = make(b)
            b.copy_(m.ones(2, 3, requires_grad=True) * 2)
            assert vs[1].requires_grad
            return vs[1].grad_fn
        return fn

    def use_after(m):
        b = m.zeros(2, 3)
        vs = b.chunk(2, dim=1)
        b[0] = m.ones(3, requires_grad=True)
        return (vs[0] * 2).sum()

    def no_grad_write(m):  # nothing recorded: allowed
        b = m.zeros(2, 3)
        vs = b.split(1)
        vs[0].mul_(2)
        b.add_(1)
        return vs[0].tolist(), vs[1].requires_grad

    cases = [write_view, use_after, write_base(lambda b: b.unbind(0)), write_base(lambda b: b.split(1)),
             write_base(lambda b: list(b))]
    for fn in cases:
        t, f = _both(fn)
        assert t[0] == "raised" and t == f, fn
    t, f = _both(no_grad_write)
    assert t[0] == "ok" and t == f


def test_saved_view_modified_after_use_raises_like_pytorch():
    """Version-counter checks still apply to regenerated views: v was saved by exp (its output) and by
    mul (its input); writing the base afterwards breaks both backward passes, as in PyTorch."""
    def saved_input(m):
        b = m.zeros(4, dtype=m.float64)
        v = b[:2]
        x = m.ones(4, dtype=m.float64, requires_grad=True)
        b.copy_(x * 2)
        y = v * v
        b.add_(1)
        y.sum().backward()
        return x.grad.tolist()

    def saved_view_of_view(m):
        b = m.zeros(4, dtype=m.float64)
        v = b[:3]
        x = m.ones(4, dtype=m.float64, requires_grad=True)
        b.copy_(x * 2)
        y = v[1:].sin()
        v.add_(1)
        y.sum().backward()
        return x.grad.tolist()

    for fn in (saved_input, saved_view_of_view):
        t, f = _both(fn)
        # (the message names the tensor type: [torch.DoubleTensor [2]] / [flambeau.DoubleTensor [2]])
        assert t[0] == f[0] == "raised" and t[1].split(":")[0] == f[1].split(":")[0], fn.__name__


def test_leaf_view_inplace_error_unchanged():
    def fn(m):
        x = m.ones(4, requires_grad=True)
        x[:2].mul_(2)
    t, f = _both(fn)
    assert t == f and t[0] == "raised"


def test_inplace_activation_on_a_view_updates_the_base():
    """relu_/sigmoid_ on a view of a tensor in the graph give the base a CopySlices history (the base's
    gradient missed the write before)."""
    def fn(m, act):
        x = m.tensor([-1.0, 2.0, -3.0, 4.0], dtype=m.float64, requires_grad=True)
        y = x * 1
        v = y[1:]
        act(m, v)
        (y * m.arange(4.0, dtype=m.float64)).sum().backward()
        return _state(v), y.requires_grad, y.is_leaf, y.tolist(), x.grad.tolist()
    for act in (lambda m, v: m.nn.functional.relu_(v), lambda m, v: m.sigmoid_(v),
                lambda m, v: m.nn.functional.leaky_relu_(v, 0.1)):
        t, f = _both(lambda m: fn(m, act))
        assert t[0] == "ok" and t == f


def test_views_keep_requires_grad_false_when_the_base_is_copied_or_pickled():
    import copy
    import pickle
    for m in (torch, flambeau):
        b = m.zeros(3)
        b[1:]  # gives b a shared `_rg` cell in flambeau
        for c in (copy.deepcopy(b), pickle.loads(pickle.dumps(b))):
            x = m.ones(3, requires_grad=True)
            b2 = m.zeros(3)
            c.copy_(x * 1)
            assert c.requires_grad and not b.requires_grad and not b2.requires_grad
