"""`x.data` is x's data with a version counter of its own (PyTorch's variable_data()): in-place writes through
it are hidden from x's autograd checks, so `w.data.add_(...)` between forward and backward (weight clipping,
hand-written updates, re-initialisation) does not make backward refuse a saved w, while `w.detach()` shares
w's counter and still does. Views share the counter of the tensor they view. Versions and gradients against
PyTorch."""
import numpy as np
import pytest
import torch

import flambeau


def _both(fn):
    """fn(m) with m = torch and m = flambeau, each on the same fresh inputs."""
    return fn(torch), fn(flambeau)


def _versions(m):
    x = m.arange(6.0).reshape(2, 3)
    d = x.data
    d.add_(1)                      # d's counter only
    d[0].mul_(2)                   # a view of d shares d's counter
    v = x[1]
    v.sub_(1)                      # x's counter (shared with its views)
    e = x.detach()
    e.div_(2)                      # detach() shares x's counter
    d2 = d.data
    d2.neg_()                      # d.data has yet another counter
    return [x._version, v._version, e._version, d._version, d[1]._version, d2._version], x.tolist()


def test_versions_match_torch():
    want, got = _both(_versions)
    assert got[0] == want[0]
    np.testing.assert_array_equal(np.array(got[1]), np.array(want[1]))  # every write reached the one storage


@pytest.mark.parametrize("write", ["add_", "clamp_", "copy_", "view_fill"])
def test_write_through_data_between_forward_and_backward(write, rng=None):
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((4, 5)).astype(np.float32)
    x0 = rng.standard_normal((3, 4)).astype(np.float32)

    def run(m):
        w = m.tensor(w0, requires_grad=True)
        x = m.tensor(x0)
        y = ((x @ w) * w.sum(0)).pow(2).sum()   # saves w (and x @ w) for backward
        d = w.data
        if write == "add_":
            d.add_(0.5)
        elif write == "clamp_":
            d.clamp_(-0.3, 0.3)
        elif write == "copy_":
            d.copy_(m.ones(4, 5))
        else:
            d[1:3, ::2].fill_(2.0)
        y.backward()
        return w._version, w.grad.numpy().copy(), w.detach().numpy().copy()

    (tv, tg, tw), (fv, fg, fw) = _both(run)
    assert fv == tv == 0
    np.testing.assert_array_equal(fw, tw)
    # the saved w is the storage itself, so backward reads the written values, as PyTorch's does
    np.testing.assert_allclose(fg, tg, rtol=1e-5, atol=1e-5)


def test_write_through_detach_is_still_caught():
    for m in (torch, flambeau):
        w = m.ones(3, requires_grad=True)
        y = (w * w).sum()
        w.detach().add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_optimizer_style_update_through_data_keeps_graph_of_later_step():
    """p.data.add_(p.grad, alpha=-lr) (the classic hand-written SGD step) leaves p's version at 0 as PyTorch's."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((5, 2)).astype(np.float32)
    x0 = rng.standard_normal((8, 5)).astype(np.float32)

    def run(m):
        w = m.tensor(w0, requires_grad=True)
        x = m.tensor(x0)
        for _ in range(3):
            loss = (x @ w).tanh().sum()
            loss.backward()
            w.data.add_(w.grad.data, alpha=-0.1)
            w.grad.data.zero_()
        return w._version, w.detach().numpy().copy()

    (tv, tw), (fv, fw) = _both(run)
    assert fv == tv
    np.testing.assert_allclose(fw, tw, rtol=1e-6, atol=1e-6)


def _set_data(m):
    x = m.zeros(3)
    x.add_(1)
    x.mul_(2)                      # x's version 2
    y = m.ones(3)
    y.add_(1)                      # y's version 1
    x.data = y                     # x keeps its version, takes y's data
    after_set = [x._version, y._version]
    y.add_(1)                      # y's write reaches x's data but not x's version
    x.mul_(3)                      # and x's write not y's version
    return after_set + [x._version, y._version], x.tolist()


def test_set_data_keeps_own_version():
    want, got = _both(_set_data)
    assert got == want


def test_set_data_then_backward_uses_new_data():
    def run(m):
        w = m.zeros(3, requires_grad=True)
        w.data = m.tensor([1.0, 2.0, 3.0])
        (w * w).sum().backward()
        return w.grad.tolist(), w._version, w.requires_grad
    want, got = _both(run)
    assert got == want
