"""Views made under no_grad or inference_mode (PyTorch's CreationMeta NO_GRAD_MODE / INFERENCE_MODE), against
PyTorch: such a view of a base requiring grad requires grad itself but is a leaf without a gradient of its own;
writing it in place with grad mode on raises ("A view was created in no_grad mode and is being modified inplace
with grad mode enabled..."), under no_grad it is allowed; once its storage was written after it was made, using it
by autograd raises ("...its base or another view of its base has been modified inplace..."); a view of it made with
grad mode on inherits the mode ("Output 0 of Slice is a view of a view which was created in no_grad mode...").
Every scenario runs in both libraries; the outcome (values, autograd state, or the error's text) must agree."""
import re

import pytest
import torch

import flambeau


def _outcome(fn, m):
    try:
        r = fn(m)
    except RuntimeError as e:
        return ("raised", re.sub(r"flambeau|torch", "M", str(e)))
    return ("ok", _plain(r))


def _plain(r):
    if isinstance(r, (tuple, list)):
        return tuple(_plain(x) for x in r)
    if isinstance(r, (torch.Tensor, flambeau.Tensor)):
        return ("tensor", r.detach().tolist())
    if r is None or isinstance(r, (bool, int, float, str)):
        return r
    return type(r).__name__  # a grad_fn: its class name


def _rg_base(m):
    x = m.ones(4, dtype=m.float64, requires_grad=True)
    return x, x * 2


def state_of_view_of_nonleaf(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
    return v.requires_grad, v.grad_fn, v.is_leaf, v._base is y, v.grad


def state_of_view_of_leaf(m):
    x = m.ones(4, requires_grad=True)
    with m.no_grad():
        v = x[1:]
    return v.requires_grad, v.grad_fn, v.is_leaf


def view_kinds(m):
    x, y = _rg_base(m)
    y = y.view(2, 2)
    with m.no_grad():
        vs = [y.t(), y.view(4), y.unsqueeze(0), y.diagonal(), y[1], y.expand(3, 2, 2), y.reshape(4)]
    return [(v.requires_grad, v.grad_fn) for v in vs]


def inplace_outside(op):
    def fn(m):
        x, y = _rg_base(m)
        with m.no_grad():
            v = y[:2]
        op(m, v)
        return y.grad_fn
    fn.__name__ = f"inplace_outside_{op.__name__}"
    return fn


def _mul_(m, v):
    v.mul_(2)


def _add_tensor_(m, v):
    v.add_(m.ones(2, dtype=m.float64))


def _copy_(m, v):
    v.copy_(m.ones(2, dtype=m.float64))


def _zero_(m, v):
    v.zero_()


def _relu_(m, v):
    v.relu_()


def _masked_fill_(m, v):
    v.masked_fill_(m.tensor([True, False]), 3.0)


def _index_put_(m, v):
    v.index_put_((m.tensor([1]),), m.tensor([5.0], dtype=m.float64))


def inplace_outside_leaf_base(m):
    x = m.ones(4, requires_grad=True)
    with m.no_grad():
        v = x[:2]
    v.mul_(2)


def inplace_inside_then_backward(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
        v.mul_(3)
    y.sum().backward()
    return x.grad, y


def used_in_grad_op(m):
    """The view is a leaf without a gradient: the backward pass reaches neither it nor the base's inputs."""
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
    z = v * 3
    z.sum().backward()
    return z.requires_grad, z.grad_fn, x.grad, v.grad


def base_written_recorded_then_used(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
    y.mul_(2)
    return (v * 1).sum()


def base_written_recorded_then_grad_fn(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
    y.mul_(2)
    return v.grad_fn


def base_written_under_no_grad_then_used(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
        y.mul_(2)
    return v * 1


def view_written_under_no_grad_then_used(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
        v.mul_(2)
    return v * 1


def other_view_written_then_used(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:2]
    y[2:].mul_(2)
    return v.grad_fn


def nongrad_base_written_by_grad_op(m):
    b = m.zeros(4, dtype=m.float64)
    with m.no_grad():
        v = b[:2]
    x = m.ones(4, dtype=m.float64, requires_grad=True)
    b.copy_(x * 2)
    return v.requires_grad, (v * 1).sum()


def nongrad_base_view_written_by_grad_op(m):
    b = m.zeros(4, dtype=m.float64)
    with m.no_grad():
        v = b[:2]
    x = m.ones(2, dtype=m.float64, requires_grad=True)
    v.copy_(x * 2)


def nongrad_base_written_then_requires_grad(m):
    b = m.zeros(4)
    with m.no_grad():
        v = b[:2]
    b.mul_(2)
    b.requires_grad_()
    return v.grad_fn


def nongrad_base_requires_grad_then_view_written(m):
    b = m.zeros(4)
    with m.no_grad():
        v = b[:2]
    b.requires_grad_()
    a = (v.requires_grad, v.grad_fn)
    v.mul_(2)
    return a


def nongrad_base_untouched(m):
    b = m.zeros(4)
    with m.no_grad():
        v = b[:2]
    b.add_(1)  # nothing requires grad: no error, nothing recorded
    v.mul_(2)
    return v.requires_grad, v.grad_fn, b


def grad_view_of_no_grad_view(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:3]
    w = v[1:]
    w.sum().backward()
    return w.requires_grad, w.grad_fn, x.grad


def grad_view_of_no_grad_view_written(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:3]
    w = v[1:]
    w.mul_(2)


def grad_view_of_no_grad_view_base_written(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y[:3]
    w = v.view(3)
    y.mul_(2)
    return w.grad_fn


def split_under_no_grad_written(m):
    x, y = _rg_base(m)
    with m.no_grad():
        a, b = y.split(2)
    return a.requires_grad, a.grad_fn, a.mul_(2)


def unbind_under_no_grad_written(m):
    x, y = _rg_base(m)
    with m.no_grad():
        a = y.unbind(0)[0]
    a.mul_(2)


def detach_under_no_grad(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = y.detach()[:2]
    v.mul_(2)
    return v.requires_grad, y


def set_grad_enabled_false(m):
    x, y = _rg_base(m)
    with m.set_grad_enabled(False):
        v = y[:2]
    v.mul_(2)


def enable_grad_inside_no_grad(m):
    """A view made in an enable_grad block inside no_grad is an ordinary view (its in-place write is recorded)."""
    x, y = _rg_base(m)
    with m.no_grad():
        with m.enable_grad():
            v = y[:2]
            v.mul_(2)
    y.sum().backward()
    return x.grad


def no_grad_decorator(m):
    x, y = _rg_base(m)

    @m.no_grad()
    def take(t):
        return t[:2]
    v = take(y)
    w = y[2:]  # made after the decorated call: ordinary
    w.mul_(2)
    return v.requires_grad, w.grad_fn


def inference_mode_view(m):
    x, y = _rg_base(m)
    with m.inference_mode():
        v = y[:2]
    return v.requires_grad, v.grad_fn, v.is_inference()


def inference_mode_view_written(m):
    x, y = _rg_base(m)
    with m.inference_mode():
        v = y[:2]
    v.mul_(2)


def inference_mode_view_base_written(m):
    x, y = _rg_base(m)
    with m.inference_mode():
        v = y[:2]
    y.mul_(2)
    return v.grad_fn


def inference_mode_grad_view_written(m):
    x, y = _rg_base(m)
    with m.inference_mode():
        v = y[:2]
    u = v[:1]
    u.mul_(2)


def _nongrad_views(m):
    b = m.zeros(3, dtype=m.float64)
    with m.no_grad():
        v = b[:2]
    return b, v


def grad_view_of_no_grad_view_of_nongrad_base_written(m):
    # the view of the no_grad view inherits its mode though the base does not require grad
    b, v = _nongrad_views(m)
    w = v[:1]
    w.mul_(m.ones(1, dtype=m.float64, requires_grad=True))


def grad_view_of_view_of_no_grad_view_written(m):
    b, v = _nongrad_views(m)
    w = v.view(2)[:1]
    w.mul_(m.ones(1, dtype=m.float64, requires_grad=True))


def grad_view_of_no_grad_view_of_nongrad_base_after_base_written(m):
    b, v = _nongrad_views(m)
    w = v[:1]
    b.mul_(m.ones(3, dtype=m.float64, requires_grad=True))
    return w.grad_fn


def grad_view_of_no_grad_view_of_nongrad_base_untouched(m):
    b, v = _nongrad_views(m)
    w = v[:1]
    w.add_(1)  # nothing recorded: allowed
    return w.requires_grad, w.is_leaf, b.tolist()


def inference_view_of_nongrad_base_grad_view_written(m):
    b = m.zeros(3, dtype=m.float64)
    with m.inference_mode():
        v = b[:2]
    v[:1].mul_(m.ones(1, dtype=m.float64, requires_grad=True))


def requires_grad_false_on_no_grad_view(m):
    # a leaf view of a base requiring grad: PyTorch keeps it requiring grad (its flag is ORed with the base's)
    x, y = _rg_base(m)
    with m.no_grad():
        v = x[:2]
    v.requires_grad_(False)
    v2 = y[1:]
    with m.no_grad():
        u = y[1:]
    u.requires_grad = False
    return v.requires_grad, v.is_leaf, (v * 2).requires_grad, u.requires_grad, v2.requires_grad


def requires_grad_false_on_view_of_base_made_leaf_later(m):
    b = m.zeros(3, dtype=m.float64)
    v = b[:2]
    b.requires_grad_()
    v.requires_grad_(False)
    return v.requires_grad, v.is_leaf


def requires_grad_false_on_no_grad_view_of_nongrad_base(m):
    b, v = _nongrad_views(m)
    v.requires_grad_(True)
    a = v.requires_grad
    v.requires_grad_(False)
    return a, v.requires_grad, v.is_leaf


def requires_grad_false_on_grad_view_of_no_grad_view(m):
    x, y = _rg_base(m)
    with m.no_grad():
        v = x[:2]
    v[:1].requires_grad_(False)


def detach__on_views(m):
    # PyTorch refuses detach_() on every view, whatever the base or mode
    out = []
    for make in (lambda: m.zeros(3)[:2], lambda: m.zeros(3, dtype=m.int64)[:2],
                 lambda: m.zeros(3, requires_grad=True)[:2], lambda: _nongrad_views(m)[1]):
        try:
            make().detach_()
            out.append("ok")
        except RuntimeError as e:
            out.append(str(e)[:40])
    t = m.zeros(3, requires_grad=True) * 2
    t.detach_()  # not a view: allowed
    return out, t.requires_grad, m.zeros(3).detach().detach_().requires_grad


CASES = [state_of_view_of_nonleaf, state_of_view_of_leaf, view_kinds,
         *[inplace_outside(op) for op in (_mul_, _add_tensor_, _copy_, _zero_, _relu_, _masked_fill_, _index_put_)],
         inplace_outside_leaf_base, inplace_inside_then_backward, used_in_grad_op, base_written_recorded_then_used,
         base_written_recorded_then_grad_fn, base_written_under_no_grad_then_used,
         view_written_under_no_grad_then_used, other_view_written_then_used, nongrad_base_written_by_grad_op,
         nongrad_base_view_written_by_grad_op, nongrad_base_written_then_requires_grad,
         nongrad_base_requires_grad_then_view_written, nongrad_base_untouched, grad_view_of_no_grad_view,
         grad_view_of_no_grad_view_written, grad_view_of_no_grad_view_base_written, split_under_no_grad_written,
         unbind_under_no_grad_written, detach_under_no_grad, set_grad_enabled_false, enable_grad_inside_no_grad,
         no_grad_decorator, inference_mode_view, inference_mode_view_written, inference_mode_view_base_written,
         inference_mode_grad_view_written, grad_view_of_no_grad_view_of_nongrad_base_written,
         grad_view_of_view_of_no_grad_view_written, grad_view_of_no_grad_view_of_nongrad_base_after_base_written,
         grad_view_of_no_grad_view_of_nongrad_base_untouched, inference_view_of_nongrad_base_grad_view_written,
         requires_grad_false_on_no_grad_view, requires_grad_false_on_view_of_base_made_leaf_later,
         requires_grad_false_on_no_grad_view_of_nongrad_base, requires_grad_false_on_grad_view_of_no_grad_view,
         detach__on_views]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_no_grad_view_matches_pytorch(fn):
    ours, ref = _outcome(fn, flambeau), _outcome(fn, torch)
    assert ours == ref


def test_repr_of_an_invalid_view_does_not_raise():
    """PyTorch prints grad_fn=<Invalid> where reading grad_fn would raise; printing must never raise."""
    x = flambeau.ones(4, requires_grad=True)
    y = x * 2
    with flambeau.no_grad():
        v = y[:2]
    y.mul_(2)
    with pytest.raises(RuntimeError, match="created in no_grad mode and its base"):
        v.grad_fn
    assert "Invalid" in repr(v)


def test_grad_mode_switch_count_balances():
    """_tensor._grad_off (views ask the thread-local mode only while it is nonzero) returns to where it was
    after every user-facing mode, nested, decorated, raising or not, and after backward."""
    from flambeau import _tensor
    start = _tensor._grad_off
    with flambeau.no_grad():
        with flambeau.enable_grad():
            with flambeau.inference_mode():
                with flambeau.set_grad_enabled(True):
                    pass
    try:
        with flambeau.no_grad():
            raise ValueError
    except ValueError:
        pass
    flambeau.set_grad_enabled(False)
    flambeau.set_grad_enabled(True)
    flambeau.no_grad()(lambda: None)()
    x = flambeau.ones(3, requires_grad=True)
    (x * 2).sum().backward()
    assert _tensor._grad_off == start
