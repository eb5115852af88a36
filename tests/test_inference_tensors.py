"""Inference tensors (tensors allocated inside inference_mode) against PyTorch: is_inference() of new tensors,
views, clones and results made outside; PyTorch's errors (same type and message) for saving one for backward,
writing one in place and making one require grad outside inference_mode; nested inference_mode(False); and
that flambeau's internal caches never keep an inference tensor that later ops would trip on."""
import numpy as np
import pytest
import torch

import flambeau

SAVE_MSG = "Inference tensors cannot be saved for backward"
INPLACE_MSG = "Inplace update to inference tensor outside InferenceMode is not allowed"
REQ_MSG = "Setting requires_grad=True on inference tensor outside InferenceMode is not allowed"


def outcome(fn):
    """('ok', value) or (exception type name, the message's start)."""
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001 - compared between the two libraries
        return type(e).__name__, str(e)[:60]
    return "ok", (r.is_inference() if hasattr(r, "is_inference") else r)


def both(fn):
    """fn(lib) on torch and flambeau, the outcomes compared."""
    a, b = outcome(lambda: fn(torch)), outcome(lambda: fn(flambeau))
    assert b == a
    return a


def made_inside(lib, data):
    with lib.inference_mode():
        return lib.tensor(data)


def test_tensors_made_inside_are_inference_tensors():
    for lib in (torch, flambeau):
        x = lib.ones(3)
        with lib.inference_mode():
            assert lib.is_inference_mode_enabled()
            y, z = lib.randn(2, 3), x * 2
            v = x.view(3)           # a view of a normal tensor stays normal
            x.add_(1)               # in place on a normal tensor is allowed, and it stays normal
            w = lib.from_numpy(np.ones(2))
            assert y.is_inference() and z.is_inference() and w.is_inference() and lib.is_inference(y)
            assert not x.is_inference() and not v.is_inference()
            assert not y.requires_grad
            with lib.inference_mode(False):
                assert not lib.is_inference_mode_enabled()
                assert not lib.ones(2).is_inference() and not (y * 2).is_inference()
            assert lib.is_inference_mode_enabled() and lib.ones(1).is_inference()
        assert not lib.is_inference_mode_enabled() and not lib.zeros(1).is_inference()
        # views (made inside or outside) and detach share the storage: still inference; clone copies
        assert y[0].is_inference() and y.t().is_inference() and y.reshape(-1).is_inference()
        assert y.detach().is_inference() and not y.clone().is_inference() and not (y + 1).is_inference()


def test_decorator_form():
    for lib in (torch, flambeau):
        @lib.inference_mode()
        def f(a):
            return a * 2
        assert f(lib.ones(2)).is_inference() and not lib.ones(2).is_inference()


@pytest.mark.parametrize("name, fn", [
    ("mul with a grad-requiring tensor", lambda lib, x, w: x * w),
    ("matmul", lambda lib, x, w: lib.matmul(w.view(1, 3), x.view(3, 1))),
    ("linear", lambda lib, x, w: lib.nn.functional.linear(x.view(1, 3), w.view(1, 3))),
    ("add (nothing saved)", lambda lib, x, w: x + w),
    ("exp, no graph", lambda lib, x, w: x.exp()),
    ("no_grad mul", lambda lib, x, w: _no_grad(lib, lambda: x * w)),
    ("inside inference_mode", lambda lib, x, w: _inference(lib, lambda: x * w)),
    ("clone first", lambda lib, x, w: x.clone() * w),
])
def test_saving_for_backward(name, fn):
    def run(lib):
        x = made_inside(lib, [1.0, 2.0, 3.0])
        w = lib.ones(3, requires_grad=True)
        return fn(lib, x, w)
    both(run)


def _no_grad(lib, f):
    with lib.no_grad():
        return f()


def _inference(lib, f):
    with lib.inference_mode():
        return f()


def test_saving_error_message():
    x = made_inside(flambeau, [1.0, 2.0])
    w = flambeau.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=SAVE_MSG):
        (w * x).sum().backward()
    with flambeau.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        with pytest.raises(RuntimeError, match=SAVE_MSG):
            w * x


@pytest.mark.parametrize("name, fn", [
    ("add_", lambda lib, x: x.add_(1)),
    ("mul_ under no_grad", lambda lib, x: _no_grad(lib, lambda: x.mul_(2))),
    ("copy_", lambda lib, x: x.copy_(lib.zeros(3))),
    ("setitem", lambda lib, x: x.__setitem__(0, 5.0)),
    ("view's add_", lambda lib, x: x[1:].add_(1)),
    ("fill_", lambda lib, x: x.fill_(0)),
    ("normal_", lambda lib, x: x.normal_()),
    ("out=", lambda lib, x: lib.add(lib.ones(3), 1, out=x)),
    ("inside inference_mode", lambda lib, x: _inference(lib, lambda: x.add_(1))),
    ("a normal tensor += an inference one", lambda lib, x: lib.ones(3).add_(x)),
    ("clone then add_", lambda lib, x: x.clone().add_(1)),
    ("resize_ to its own shape", lambda lib, x: tuple(x.resize_(3).shape)),
    ("resize_ to another shape", lambda lib, x: x.resize_(5)),
    ("resize_as_", lambda lib, x: x.resize_as_(lib.ones(3, 1))),
    ("clamp_", lambda lib, x: x.clamp_(0, 1)),
    ("index_add_", lambda lib, x: x.index_add_(0, lib.tensor([0]), lib.ones(1))),
    ("cat out=", lambda lib, x: lib.cat([lib.ones(1), lib.ones(2)], out=x)),
    ("_version", lambda lib, x: x._version),
    ("a view's _version", lambda lib, x: x[1:]._version),
])
def test_in_place(name, fn):
    both(lambda lib: fn(lib, made_inside(lib, [1.0, 2.0, 3.0])))


def test_in_place_error_message_and_no_write():
    x = made_inside(flambeau, [1.0, 2.0])
    with pytest.raises(RuntimeError, match=INPLACE_MSG):
        x.mul_(3)
    assert x.tolist() == [1.0, 2.0]


def test_requires_grad():
    both(lambda lib: made_inside(lib, [1.0]).requires_grad_())
    both(lambda lib: made_inside(lib, [1.0]).requires_grad_(False))
    both(lambda lib: lib.nn.Parameter(made_inside(lib, [1.0])))
    both(lambda lib: _inference(lib, lambda: lib.ones(2).requires_grad_()))
    with pytest.raises(RuntimeError, match=REQ_MSG):
        made_inside(flambeau, [1.0]).requires_grad = True


def test_module_built_inside_inference_mode():
    for lib in (torch, flambeau):
        with lib.inference_mode():
            m = lib.nn.Linear(2, 2)
        assert m.weight.is_inference()
        with pytest.raises(RuntimeError):
            m.weight.requires_grad_()


def test_eval_in_inference_mode_then_train():
    # the scalars and index tensors an op caches internally must not become inference tensors
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((4, 3)).astype(np.float32)
    grads = []
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    for lib in (torch, flambeau):
        m = lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.ReLU(), lib.nn.Linear(5, 2))
        m.load_state_dict({k: lib.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
        with lib.inference_mode():
            y = m(lib.from_numpy(xs)) * 2.5 + 0.75
            y = y.pow(3.0).clamp(min=-1.5)
            assert y.is_inference()
        x = lib.from_numpy(xs).requires_grad_()
        out = (m(x) * 2.5 + 0.75).pow(3.0).clamp(min=-1.5)
        out.sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-5)


def test_threads_have_their_own_flag():
    import threading
    seen = {}
    with flambeau.inference_mode():
        t = threading.Thread(target=lambda: seen.update(inf=flambeau.ones(1).is_inference(),
                                                        mode=flambeau.is_inference_mode_enabled()))
        t.start()
        t.join()
    assert seen == {"inf": False, "mode": False}


def test_sparse_tensors_still_take_requires_grad():
    # a sparse tensor's _impl has no storage to be an inference storage
    for lib in (torch, flambeau):
        s = lib.sparse_coo_tensor(lib.tensor([[0, 2]]), lib.tensor([1.0, 2.0]), (3,))
        assert s.requires_grad_().requires_grad
