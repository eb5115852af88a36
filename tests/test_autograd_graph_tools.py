"""torch.autograd.graph's tools beyond saved tensor hooks (register_multi_grad_hook, GradientEdge /
get_gradient_edge, increment_version, allow_mutation_on_saved_tensors) and the Tensor metadata scripts
read (_version, as_subclass, the is_<backend> flags), each run the same way under PyTorch and flambeau."""
import numpy as np
import pytest
import torch

import flambeau


def _graph(lib):
    return lib.autograd.graph


def _multi_hook_calls(lib, a_np, b_np):
    G = _graph(lib)
    a = lib.tensor(a_np, requires_grad=True)
    b = lib.tensor(b_np, requires_grad=True)
    c, d = a * b, a * b
    calls = []
    h = G.register_multi_grad_hook((a, b, c, d), lambda gs: calls.append(
        [None if g is None else g.detach().numpy().copy() for g in gs]))
    c.sum().backward(retain_graph=True)
    c.sum().backward(inputs=(a,), retain_graph=True)
    (c * d).sum().backward(retain_graph=True)
    lib.autograd.grad((c + d).sum(), (c,), retain_graph=True)  # (PyTorch refuses leaves here; flambeau doesn't)
    h.remove()
    c.sum().backward(retain_graph=True)  # removed: no call
    return calls


def test_register_multi_grad_hook_all_mode_matches_torch():
    a, b = np.random.randn(2, 3).astype(np.float32), np.random.randn(2, 3).astype(np.float32)
    want, got = _multi_hook_calls(torch, a, b), _multi_hook_calls(flambeau, a, b)
    assert len(got) == len(want) == 4
    for cw, cg in zip(want, got):
        assert [g is None for g in cg] == [g is None for g in cw]
        for gw, gg in zip(cw, cg):
            if gw is not None:
                np.testing.assert_allclose(gg, gw, rtol=1e-6, atol=1e-6)


def test_register_multi_grad_hook_any_mode_and_errors():
    out = []
    for lib in (torch, flambeau):
        G = _graph(lib)
        a = lib.ones(4, requires_grad=True)
        b = lib.ones(4, requires_grad=True)
        seen = []
        G.register_multi_grad_hook((a, b, lib.ones(2)), lambda g: seen.append(tuple(g.shape)), mode="any")
        (a * b * 3).sum().backward(retain_graph=False)
        (a * 2).sum().backward()
        out.append(seen)
        with pytest.raises(ValueError, match="mode"):
            G.register_multi_grad_hook((a,), print, mode="some")
    assert out[0] == out[1] == [(4,), (4,)]


def test_gradient_edge_in_autograd_grad():
    x_np = np.random.randn(5).astype(np.float64)
    res = []
    for lib in (torch, flambeau):
        G = _graph(lib)
        x = lib.tensor(x_np, requires_grad=True)
        m = x * 2
        y = (m.exp() * x).sum()
        e = G.get_gradient_edge(m)
        assert isinstance(e, G.GradientEdge) and e.output_nr == 0 and len(e) == 3
        g_edge = lib.autograd.grad(y, e, retain_graph=True)[0]
        g_leaf, = lib.autograd.grad(y, G.get_gradient_edge(x), retain_graph=True)
        both = lib.autograd.grad(y, (x, e), retain_graph=True)
        res.append([g_edge.numpy(), g_leaf.numpy(), both[0].numpy(), both[1].numpy()])
        assert lib.autograd.grad(y, e, retain_graph=True, materialize_grads=True)[0].shape == (5,)
        with pytest.raises(RuntimeError, match="does not require gradients"):
            G.get_gradient_edge(lib.ones(2))
    for w, g in zip(*res):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_increment_version_and_allow_mutation_on_saved_tensors():
    x_np = np.random.randn(6).astype(np.float64)
    grads = []
    for lib in (torch, flambeau):
        G = _graph(lib)
        x = lib.tensor(x_np, requires_grad=True)
        z = x.clone()
        w = z.sin()
        v0 = z._version
        G.increment_version(z)
        G.increment_version([z])
        assert z._version == v0 + 2
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            w.sum().backward()
        with G.allow_mutation_on_saved_tensors():
            z = x.clone()
            w = (z * z).sin()
            z.mul_(3)  # saved z and z*z: backward must use the values before the write
            w.sum().backward()
        grads.append(x.grad.numpy().copy())
        with pytest.raises(AssertionError, match="outside of the 'allow_mutation_on_saved_tensors'"):
            with G.allow_mutation_on_saved_tensors():
                w = x.clone().sin()
            w.sum().backward()
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
    np.testing.assert_allclose(grads[1], np.cos(x_np ** 2) * 2 * x_np, rtol=1e-12)


def _versions(lib):
    x = lib.zeros(3)
    r = [x._version, lib.ones(2)._version, lib.rand(2)._version, lib.randn(2)._version, lib.eye(2)._version,
         lib.full((2,), 3.0)._version, lib.tensor([1.0])._version, (x + 1)._version, x.clone()._version,
         x.double()._version]
    x.add_(1)
    r.append(x._version)
    x[0] = 2
    r.append(x._version)
    v = x[1:]
    v.mul_(2)
    r += [x._version, v._version, x.detach()._version]
    with lib.no_grad():
        x.fill_(3)
    r.append(x._version)
    lin = lib.nn.Linear(2, 2)
    opt = lib.optim.SGD(lin.parameters(), lr=0.1)
    lin(lib.ones(1, 2)).sum().backward()
    opt.step()
    r.append(lin.weight._version)
    return r


def test_version_counter_matches_torch():
    assert _versions(flambeau) == _versions(torch)


def test_as_subclass_and_backend_flags():
    a_np = np.random.randn(3).astype(np.float64)
    grads = []
    for lib in (torch, flambeau):
        class Mine(lib.Tensor):
            pass
        a = lib.tensor(a_np, requires_grad=True)
        b = (a * 2).as_subclass(Mine)
        assert type(b) is Mine and b.requires_grad and not b.is_leaf
        (b * b).sum().backward()
        grads.append(a.grad.numpy())
        c = a.detach().as_subclass(Mine)
        c[0] = 5.0  # shares a's data
        assert a[0].item() == 5.0
        with pytest.raises(TypeError):
            a.as_subclass(int)
        assert not any((a.is_nested, a.is_xpu, a.is_mps, a.is_ipu, a.is_mkldnn, a.is_vulkan, a.is_mtia))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


# ---------------------------------------------------------------- views made before an in-place write
# A view's history is "a view of its base as the base was then"; once an in-place op gives the base (or
# another view of it) a new history, the view must follow it, as PyTorch regenerates a view's grad_fn.
# These gave silently wrong gradients before (the write was missed).
def _stale_view_cases(lib, x_np, c_np):
    out = []
    x = lib.tensor(x_np, requires_grad=True)
    c = lib.tensor(c_np)

    def grad_of(f):
        x.grad = None
        f()
        out.append(x.grad.numpy().copy())

    def base_written():
        y = x * 1
        v = y[:, 1:]
        y.mul_(c)
        v.sum().backward()

    def sibling_written():
        y = x * 1
        v = y[:, 1:]
        w = y[0]
        w.mul_(10)
        (v * v).sum().backward()

    def transposed_root():
        y = x * 1
        v = y.t()
        y.add_(5)
        v.backward(lib.ones(v.shape, dtype=v.dtype))

    def chunks_then_relu_():
        y = x * 2
        a, b = y[:, :1], y[:, 1:]
        lib.relu_(y.sub_(3))
        (a * b.sum()).sum().backward()

    def zeroed_base_through_grad():
        y = x * 2
        v = y[0]
        y.zero_()
        (v * 3 + y).sum().backward()

    def view_of_view():
        y = x * 1
        v = y[1:][0, 1:]
        y[1].mul_(c)
        v.pow(2).sum().backward()

    for f in (base_written, sibling_written, transposed_root, chunks_then_relu_, zeroed_base_through_grad,
              view_of_view):
        grad_of(f)
    return out


def test_view_follows_inplace_write_on_its_base():
    x_np = np.random.randn(2, 3)
    c_np = np.random.randn(3)
    want = _stale_view_cases(torch, x_np, c_np)
    got = _stale_view_cases(flambeau, x_np, c_np)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)
