"""torch.cond and torch.while_loop against PyTorch: values, gradients through the branch taken and
through the loop iterations, and the argument errors."""
import numpy as np
import pytest
import torch

import flambeau
from dynamo_guard import keep_torch_distribution_validation  # noqa: F401  (autouse: PyTorch's dynamo turns it off)


def _pair(shape):
    a = np.random.randn(*shape).astype(np.float32)
    return torch.tensor(a, requires_grad=True), flambeau.tensor(a, requires_grad=True)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_value_and_grad(sign):
    tx, fx = _pair((4, 3))
    tw, fw = _pair((3,))
    with torch.no_grad():
        tx.mul_(0).add_(sign)  # pred decided by the sign
    with flambeau.no_grad():
        fx.mul_(0).add_(sign)

    def run(lib, x, w):
        return lib.cond(x.sum() > 0, lambda a, b: (a * b).sin(), lambda a, b: a.cos() + b, (x, w))
    t, f = run(torch, tx, tw), run(flambeau, fx, fw)
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-6)
    g = np.random.randn(4, 3).astype(np.float32)
    t.backward(torch.tensor(g))
    f.backward(flambeau.tensor(g))
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(fw.grad.numpy(), tw.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_cond_python_pred_and_nested_operands():
    tx, fx = _pair((3,))
    for lib, x in ((torch, tx), (flambeau, fx)):
        assert lib.cond(True, lambda a: a + 1, lambda a: a - 1, (x,)).sum().item() == pytest.approx(
            (x.detach().numpy() + 1).sum(), rel=1e-5)
    t = torch.cond(torch.tensor(False), lambda d: d["a"] * 2, lambda d: d["a"] * 3, ({"a": tx},))
    f = flambeau.cond(flambeau.tensor(False), lambda d: d["a"] * 2, lambda d: d["a"] * 3, ({"a": fx},))
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("pred,operands,match", [
    ("two", (), "Expected pred to be bool or tensor"),
    ("vector", (), "single-element tensor"),
    ("scalar", [1], "tensor leaves"),
])
def test_cond_errors(pred, operands, match):
    for lib in (torch, flambeau):
        p = {"two": "x", "vector": lib.tensor([True, False]), "scalar": lib.tensor(True)}[pred]
        with pytest.raises(RuntimeError, match=match):
            lib.cond(p, lambda *a: lib.zeros(1), lambda *a: lib.ones(1), operands)


def test_while_loop_value_and_grad():
    tx, fx = _pair((2, 3))

    def run(lib, x):
        return lib.while_loop(lambda i, a: i < 4, lambda i, a: (i + 1, (a * 1.5).tanh() + a), (lib.tensor(0), x))
    (ti, t), (fi, f) = run(torch, tx), run(flambeau, fx)
    assert int(fi) == int(ti) == 4
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-5, rtol=1e-5)
    g = np.random.randn(2, 3).astype(np.float32)
    t.backward(torch.tensor(g))
    f.backward(flambeau.tensor(g))
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_while_loop_int_carry_and_no_iteration():
    tx, fx = _pair((3,))
    for lib, x in ((torch, tx.detach()), (flambeau, fx.detach())):
        n, y = lib.while_loop(lambda i, a: 2 * i < a.shape[0] + 3, lambda i, a: (i + 1, a + i), (0, x))
        assert n == 3  # i = 0, 1, 2 ran
        np.testing.assert_allclose(y.numpy(), x.numpy() + 3, atol=1e-6)
        k, z = lib.while_loop(lambda i, a: i < 0, lambda i, a: (i + 1, a.clone()), (lib.tensor(5), x))
        assert int(k) == 5 and z is not x and np.array_equal(z.numpy(), x.numpy())  # a clone when no step ran


def test_while_loop_errors():
    with pytest.raises(RuntimeError, match="boolean"):
        flambeau.while_loop(lambda a: a.sum(), lambda a: (a,), (flambeau.ones(2),))
    with pytest.raises(RuntimeError, match="callable"):
        flambeau.while_loop(3, lambda a: (a,), (flambeau.ones(2),))
    with pytest.raises(RuntimeError, match="tuple or list"):
        flambeau.while_loop(lambda a: a.sum() > 0, lambda a: (a,), flambeau.ones(2))
    with pytest.raises(RuntimeError, match="same number of elements"):
        flambeau.while_loop(lambda a: a.sum() > 0, lambda a: (a - 10, a), (flambeau.ones(2),))
