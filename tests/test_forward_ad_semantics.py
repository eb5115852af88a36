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
            x = L.zeros(3)
            xv = x[1:]
            x.add_(d)  # x and its earlier view xv are tracked for forward AD from here on
            xv.mul_(2)
        for t in (d, y, v, x, xv):
            assert _state(t) == (False, None, True) and fw.unpack_dual(t).tangent is None
            assert _state(t * 2) == (False, None, True)
        if L is flambeau:
            assert not any(t._rg for t in (d, y, v, x, xv))


def test_repr_of_forward_only_results():
    with ffw.dual_level():
        y = ffw.make_dual(flambeau.ones(2), flambeau.ones(2)).exp()
        r = repr(y)
    assert "grad_fn" not in r and "requires_grad" not in r and "tangent=" in r


# ---------------------------------------------------------------- in-place ops update tangents in place
def _tan(fw, t):
    u = fw.unpack_dual(t).tangent
    return None if u is None else u.detach().numpy().copy()


def _compare(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, np.ndarray) or isinstance(g, np.ndarray):
            assert g is not None and w is not None, (g, w)
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
        else:
            assert g == w


def _inplace_on_dual(L, fw, a):
    d = fw.make_dual(a[0], a[1])
    t0 = fw.unpack_dual(d).tangent
    d.mul_(a[2])
    same = fw.unpack_dual(d).tangent is t0
    d.add_(fw.make_dual(a[3], a[2]))
    return [same, _tan(fw, d), t0.numpy().copy(), fw.unpack_dual(d).tangent is t0, a[1].numpy().copy()]


def _inplace_plain_with_dual(L, fw, a):
    x = a[0].clone()
    y = fw.make_dual(a[1], a[2])
    x.add_(y)
    r = [_tan(fw, x)]
    x.mul_(y)
    r.append(_tan(fw, x))
    x.div_(a[3] * a[3] + 1)
    return r + [_tan(fw, x), x.numpy().copy()]


def _setitem_and_copy(L, fw, a):
    x = L.zeros(3, 4, dtype=a[0].dtype)
    x[1:] = fw.make_dual(a[0][:2], a[1][:2])
    r = [_tan(fw, x)]
    z = fw.make_dual(a[2], a[3])
    tz = fw.unpack_dual(z).tangent
    z.copy_(a[0])
    r += [_tan(fw, z), tz.numpy().copy()]
    w = a[3].clone()
    w.copy_(fw.make_dual(a[0], a[1]))
    d = fw.make_dual(a[2], a[3])
    d[0] = 5.0
    r.append(_tan(fw, d))
    d[1:, 1] = fw.make_dual(a[0][:2, 0], a[1][:2, 0])
    r.append(_tan(fw, d))
    idx = L.tensor([2, 0])
    y = L.zeros(3, 4, dtype=a[0].dtype)
    y[idx] = fw.make_dual(a[0][:2], a[1][:2])
    return r + [_tan(fw, w), _tan(fw, y)]


def _views_share_tangents(L, fw, a):
    d = fw.make_dual(a[0], a[1])
    v, e, col = d[1:], d.t(), d[:, 2]
    td, tv = fw.unpack_dual(d).tangent, fw.unpack_dual(v).tangent
    v.mul_(a[2][1:])
    r = [_tan(fw, d), td.numpy().copy(), tv.numpy().copy(), _tan(fw, e)]
    d.add_(fw.make_dual(a[3], a[2]))
    r += [_tan(fw, v), _tan(fw, col), tv.numpy().copy()]
    col.zero_()
    return r + [_tan(fw, d), _tan(fw, e)]


def _view_of_tracked_base(L, fw, a):
    """y requires grad and has no tangent; a view taken of it sees the tangent an in-place op gives y."""
    x = a[0].requires_grad_()
    y = x * 1
    v, e = y[:, 1:3], y.t()
    y.mul_(fw.make_dual(a[1], a[2]))
    r = [_tan(fw, v), _tan(fw, e)]
    (y * y).sum().backward(retain_graph=True)
    r.append(x.grad.numpy().copy())
    v.add_(1.0)
    return r + [_tan(fw, y), _tan(fw, v)]


def _view_write_creates_base_tangent(L, fw, a):
    x = a[0].clone()
    v = x[1]
    v.copy_(fw.make_dual(a[1][0], a[2][0]))
    tx, tv = fw.unpack_dual(x).tangent, fw.unpack_dual(v).tangent
    tv.mul_(100)
    return [tx.numpy().copy(), _tan(fw, x[2]), _tan(fw, x[1])]


def _primal_view_write(L, fw, a):
    d = fw.make_dual(a[0], a[1])
    p = fw.unpack_dual(d).primal
    p.add_(fw.make_dual(a[2], a[3]))
    r = [_tan(fw, p), _tan(fw, d), d.numpy().copy()]
    p.mul_(2)
    return r + [_tan(fw, p), _tan(fw, d)]


def _inplace_ops_on_duals(L, fw, a):
    F = L.nn.functional
    r = []
    for op in (lambda d: d.clamp_(min=0.1), lambda d: d.sigmoid_(), lambda d: F.relu(d, inplace=True),
               lambda d: d.masked_fill_(a[3] > 0, 0.5), lambda d: d.addcmul_(a[2], d),
               lambda d: d.index_fill_(1, L.tensor([1, 3]), 7.0), lambda d: d.sub_(d.exp()),
               lambda d: d.pow_(2), lambda d: d.fill_(3.0), lambda d: d.zero_()):
        d = fw.make_dual(a[0].clone(), a[1].clone())
        t0 = fw.unpack_dual(d).tangent
        op(d)
        r += [_tan(fw, d), fw.unpack_dual(d).tangent is t0, d.requires_grad, d.grad_fn is None]
    return r


def _random_inplace_zeroes_tangent(L, fw, a):
    r = []
    for op in (lambda d: d.normal_(), lambda d: d.uniform_(), lambda d: d.bernoulli_(0.5),
               lambda d: d.exponential_()):
        d = fw.make_dual(a[0].clone(), a[1].clone())
        t0 = fw.unpack_dual(d).tangent
        op(d[1:])
        r += [t0.numpy().copy()]
    return r


def _inplace_view_ops(L, fw, a):
    d = fw.make_dual(a[0][:3, :3].clone(), a[1][:3, :3].clone())
    t0 = fw.unpack_dual(d).tangent
    d.t_()
    r = [_tan(fw, d), t0.numpy().copy(), fw.unpack_dual(d).tangent is t0]
    d.unsqueeze_(0)
    r += [list(t0.shape), _tan(fw, d)]
    d.squeeze_(0)
    return r + [list(t0.shape)]


def _views_made_before_the_base_got_a_tangent(L, fw, a):
    """x does not require grad and has no tangent when its views are made; an in-place op then
    gives x a tangent: the views see (views of) it, ops on them and in-place ops on them too."""
    x = a[0].clone()
    v, w, col = x[1:], x[0], x[:, 1]
    x.mul_(fw.make_dual(a[1], a[2]))
    r = [_tan(fw, v), _tan(fw, w), _tan(fw, col), _tan(fw, v * 3 + 1), v.requires_grad, v.grad_fn is None]
    v.mul_(10)
    r += [_tan(fw, x), _tan(fw, w)]
    y = a[3].clone()
    s1, s2 = y[0], y[1:]
    s1.copy_(fw.make_dual(a[0][0], a[1][0]))  # a write into one view gives y a tangent
    s2.add_(1.0)
    return r + [_tan(fw, y), _tan(fw, s2), _tan(fw, s2.exp())]


INPLACE_SCENARIOS = {f.__name__: f for f in (
    _views_made_before_the_base_got_a_tangent,
    _inplace_on_dual, _inplace_plain_with_dual, _setitem_and_copy, _views_share_tangents, _view_of_tracked_base,
    _view_write_creates_base_tangent, _primal_view_write, _inplace_ops_on_duals, _random_inplace_zeroes_tangent,
    _inplace_view_ops)}


@pytest.mark.parametrize("name", sorted(INPLACE_SCENARIOS))
def test_inplace_semantics_match_pytorch(name):
    got, want = _both(INPLACE_SCENARIOS[name])
    _compare(got, want)


def test_inplace_tangents_stay_differentiable_in_reverse_mode():
    """A tangent that requires grad (forward-over-reverse) is replaced, not written into: its graph
    is kept, and the gradient through it matches PyTorch's."""
    def f(L, fw, a):
        x = a[0].requires_grad_()
        t = a[1].requires_grad_()
        d = fw.make_dual(x * 1, t * 1)
        d.mul_(x)
        d[0] = fw.make_dual(x[1] * 2, t[1].exp())
        jt = fw.unpack_dual(d).tangent
        jt.sum().backward()
        return [jt.detach().numpy().copy(), x.grad.numpy().copy(), t.grad.numpy().copy()]
    got, want = _both(f)
    _compare(got, want)
