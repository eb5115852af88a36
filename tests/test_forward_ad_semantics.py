"""What dual tensors look like to autograd (requires_grad, grad_fn, is_leaf), and in-place ops on
dual tensors and their views, against PyTorch's forward_ad on fresh random inputs."""
import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw

import flambeau
import flambeau.autograd.forward_ad as ffw

LIBS = ((flambeau, ffw), (torch, tfw))


def _state(t):
    """(requires_grad, grad_fn's name or None, is_leaf) of t."""
    fn = t.grad_fn
    return t.requires_grad, None if fn is None else type(fn).__name__, t.is_leaf


def _both(fn):
    """fn(L, fw, arrays) run in a dual level in both libraries on the same fresh arrays; returns the
    two results (fn returns plain Python values)."""
    arrays = [np.random.randn(3, 4) for _ in range(4)]
    res = []
    for L, fw in LIBS:
        with fw.dual_level():
            res.append(fn(L, fw, [L.tensor(a) for a in arrays]))
    return res


# ---------------------------------------------------------------- forward-only duals: no graph shown
FORWARD_ONLY = {
    "dual": lambda L, d: d,
    "unary_rule": lambda L, d: d.exp(),
    "linear_rule": lambda L, d: d.sum(0),
    "generic": lambda L, d: d.logsumexp(1),
    "view": lambda L, d: d[1:, :2],
    "transpose": lambda L, d: d.t(),
    "matmul": lambda L, d: d @ d.t(),
    "softmax": lambda L, d: L.softmax(d, -1),
    "max_values": lambda L, d: d.max(1)[0],
    "split": lambda L, d: d.split(2, 1)[1],
    "inplace": lambda L, d: (d * 1).mul_(d),
    "inplace_on_dual": lambda L, d: d.add_(1.0),
    "setitem": lambda L, d: _setitem(L, d),
    "primal": lambda L, d: None,
}


def _setitem(L, d):
    y = L.zeros(3, 4, dtype=d.dtype)
    y[1] = d[0]
    return y


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
def test_forward_only_results_have_no_graph(name):
    def f(L, fw, a):
        d = fw.make_dual(a[0], a[1])
        y = FORWARD_ONLY[name](L, d)
        if y is None:
            y = fw.unpack_dual(d).primal
        t = fw.unpack_dual(y).tangent
        return _state(y), None if t is None else t.numpy().copy()
    (got, gt), (want, wt) = _both(f)
    assert got == want == (False, None, True)
    if wt is None:
        assert gt is None
    else:
        np.testing.assert_allclose(gt, wt, rtol=1e-10, atol=1e-12)


def test_integer_outputs_and_indices_not_tracked():
    def f(L, fw, a):
        d = fw.make_dual(a[0], a[1])
        v, i = d.max(1)
        return _state(v), _state(i), _state(d.argmax()), _state(d > 0)
    got, want = _both(f)
    assert got == want


def test_mixed_with_tensors_requiring_grad():
    """An op mixing a forward-only dual with a tensor requiring grad records a real node; backward
    gives the tensor requiring grad its gradient and nothing to the dual."""
    def f(L, fw, a):
        w = a[2].requires_grad_()
        d = fw.make_dual(a[0], a[1])
        y = (d * w).sin()
        z = y.sum() + (d.exp() * w).sum()
        z.backward()
        return _state(y), _state(z), w.grad.numpy().copy(), fw.unpack_dual(z).tangent.item(), d.grad is None
    (g0, g1, gg, gt, gn), (w0, w1, wg, wt, wn) = _both(f)
    assert (g0, g1) == (w0, w1) and g0[0] and g0[1] == "SinBackward0"
    np.testing.assert_allclose(gg, wg, rtol=1e-12)
    np.testing.assert_allclose(gt, wt, rtol=1e-12)
    assert gn and wn


def test_dual_of_tensor_requiring_grad_keeps_its_graph():
    def f(L, fw, a):
        x = a[0].requires_grad_()
        d = fw.make_dual(x, a[1])
        y = d.exp()
        y.sum().backward()
        return _state(d)[:1] + _state(d)[2:], _state(y), x.grad.numpy().copy()
    (g0, g1, gg), (w0, w1, wg) = _both(f)
    assert g0 == w0 and g1 == w1
    np.testing.assert_allclose(gg, wg, rtol=1e-12)


def test_requires_grad_on_forward_only_result():
    """A forward-only result is a leaf: requires_grad_() makes it a leaf requiring grad that keeps
    its tangent, and backward fills its .grad."""
    def f(L, fw, a):
        d = fw.make_dual(a[0], a[1])
        y = d.exp()
        y.requires_grad_()
        s0 = _state(y)
        z = (y * y).sum()
        z.backward()
        return s0, _state(z), y.grad.numpy().copy(), fw.unpack_dual(y).tangent.numpy().copy()
    (g0, g1, gg, gt), (w0, w1, wg, wt) = _both(f)
    assert (g0, g1) == (w0, w1) == ((True, None, True), (True, "SumBackward0", False))
    np.testing.assert_allclose(gg, wg, rtol=1e-12)
    np.testing.assert_allclose(gt, wt, rtol=1e-12)


def test_reverse_mode_apis_refuse_forward_only_tensors():
    for L, fw in LIBS:
        with fw.dual_level():
            d = fw.make_dual(L.randn(3), L.randn(3))
            y = d.exp()
            with pytest.raises(RuntimeError, match="does not require grad"):
                y.sum().backward()
            w = L.randn(3, requires_grad=True)
            with pytest.raises(RuntimeError, match="does not require grad"):
                L.autograd.grad((y * w).sum(), [d])


def test_state_after_the_level_closes():
    for L, fw in LIBS:
        with fw.dual_level():
            d = fw.make_dual(L.randn(3), L.randn(3))
            y = d.exp()
            v = y[1:]
            v.mul_(2)
        for t in (d, y, v):
            assert _state(t) == (False, None, True) and fw.unpack_dual(t).tangent is None
        assert _state(y * 2) == (False, None, True)


def test_repr_of_forward_only_results():
    with ffw.dual_level():
        y = ffw.make_dual(flambeau.ones(2), flambeau.ones(2)).exp()
        r = repr(y)
    assert "grad_fn" not in r and "requires_grad" not in r and "tangent=" in r
