"""Version-counter checks against PyTorch: y = op(x), then x or y written in place (under no_grad, or
recorded), then backward. Where PyTorch saved the written tensor it raises "one of the variables needed for
gradient computation has been modified by an inplace operation"; where it did not, the gradient must come out
as PyTorch's. Flambeau must never compute a gradient from a tensor that changed after it was saved, and
should not refuse what PyTorch computes (ops that save their operands rather than their result, or the
reverse, as PyTorch's derivatives.yaml does)."""
import numpy as np
import pytest
import torch

import flambeau

_X = np.random.default_rng(7).uniform(0.2, 0.9, (3, 5))

OPS = {
    "div": lambda m, x: x / (x + 1),
    "div_const_numerator": lambda m, x: m.tensor(_X[::-1].copy()) / x,
    "div_by_norm": lambda m, x: x / x.norm(),
    "normalize": lambda m, x: m.nn.functional.normalize(x),
    "erfinv": lambda m, x: (x - 0.5).erfinv(),
    "exp": lambda m, x: x.exp(),
    "mul_self": lambda m, x: x * x,
    "sigmoid": lambda m, x: x.sigmoid(),
    "pow2": lambda m, x: x.pow(2),
    "sqrt": lambda m, x: x.sqrt(),
    "matmul": lambda m, x: x @ x.t(),
    "softmax": lambda m, x: x.softmax(1),
}


def _run(m, op, which, recorded):
    leaf = m.tensor(_X.copy(), requires_grad=True)
    x = leaf * 1
    y = OPS[op](m, x)
    t = x if which == "input" else y
    if recorded:
        t.mul_(1.5)
    else:
        with m.no_grad():
            t.mul_(1.5)
    w = m.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)) * 0.1 + 1)
    try:
        (y * w).sum().backward()
    except RuntimeError as e:
        return "raise", str(e)
    return "ok", leaf.grad.numpy()


@pytest.mark.parametrize("recorded", [False, True], ids=["no_grad_write", "recorded_write"])
@pytest.mark.parametrize("which", ["input", "output"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_inplace_after_save_matches_pytorch(op, which, recorded):
    ours = _run(flambeau, op, which, recorded)
    ref = _run(torch, op, which, recorded)
    assert ours[0] == ref[0], (ours, ref)
    if ref[0] == "raise":
        assert "modified by an inplace operation" in ours[1] and "is at version" in ours[1]
    else:
        np.testing.assert_allclose(ours[1], ref[1], rtol=1e-12, atol=1e-14)


def test_div_saves_operands_not_result():
    """y = a / b: writing y in place leaves the gradient computable (PyTorch saves a and b, not y);
    writing b (saved) raises."""
    grads = []
    for m in (flambeau, torch):
        a = m.tensor(_X.copy(), requires_grad=True)
        b = m.tensor(_X[::-1].copy() + 1, requires_grad=True)
        y = a / b
        y.add_(1)
        y.sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
    for m in (flambeau, torch):
        a = m.tensor(_X.copy(), requires_grad=True)
        b = m.tensor(_X.copy() + 1, requires_grad=True) * 1
        y = a / b
        with m.no_grad():
            b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_div_other_gradient_bits():
    """d(a/b)/db is PyTorch's -grad * ((a / b) / b), to the last bit (float32)."""
    rng = np.random.default_rng(3)
    a_np = rng.standard_normal((7, 9)).astype(np.float32)
    b_np = (rng.uniform(0.5, 2.0, (7, 9)) * rng.choice([-1, 1], (7, 9))).astype(np.float32)
    g_np = rng.standard_normal((7, 9)).astype(np.float32)
    res = []
    for m in (flambeau, torch):
        a = m.tensor(a_np, requires_grad=True)
        b = m.tensor(b_np, requires_grad=True)
        (a / b).backward(m.tensor(g_np))
        res.append((a.grad.numpy(), b.grad.numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
