"""In-place ops on tensors inside an autograd graph whose backward needs the value they overwrite
(pow_, atan2_, exp2_, polygamma_, lerp_ with a weight that requires grad) compute from a snapshot, as
PyTorch saves the original self: Barlow Twins' off_diagonal(c).pow_(2).sum() raised "modified by an
inplace operation" in backward. addcmul_/addcdiv_/lerp_ save only the operands the needed gradients read,
so an operand sharing self's storage (a .detach() of it) does not break backward either. Values and
gradients against PyTorch."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close

CASES = {
    "pow_scalar": lambda m, x, y: (x * 1.0).pow_(3),
    "pow_half": lambda m, x, y: (x + 3.0).pow_(0.5),
    "pow_tensor_exponent": lambda m, x, y: (x + 3.0).pow_(y),
    "ipow": lambda m, x, y: _ipow(x * 2.0),
    "atan2_": lambda m, x, y: (x * 1.0).atan2_(y),
    "exp2_": lambda m, x, y: (x * 1.0).exp2_(),
    "polygamma_": lambda m, x, y: (x.abs() + 1.0).polygamma_(1),
    "lerp_tensor_weight": lambda m, x, y: (x * 1.0).lerp_(y.detach() * 2, m.sigmoid(y)),
    "addcmul_aliased": lambda m, x, y: _aliased(x, lambda z: z.addcmul_(z.detach(), z.detach(), value=0.5)),
    "addcdiv_aliased": lambda m, x, y: _aliased(x, lambda z: z.addcdiv_(z.detach(), z.detach().abs() + 1)),
    "lerp_aliased": lambda m, x, y: _aliased(x, lambda z: z.lerp_(z.detach() * 2, 0.3)),
    "barlow_off_diagonal": lambda m, x, y: _off_diagonal(x @ x.T).pow_(2).sum() + m.diagonal(x @ x.T).add_(-1).pow_(2).sum(),
}


def _ipow(z):
    z **= 2
    return z


def _aliased(x, fn):
    z = x * 1.0
    return fn(z)


def _off_diagonal(c):
    n, _ = c.shape
    return c.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_grads_match_torch(name, rng):
    a = rng.uniform(-1.5, 1.5, (4, 4)).astype(np.float64)
    b = rng.uniform(0.5, 1.5, (4, 4)).astype(np.float64)
    grads = []
    for m in (torch, flambeau):
        x = m.tensor(a, requires_grad=True)
        y = m.tensor(b, requires_grad=True)
        out = CASES[name](m, x, y)
        w = m.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)) / 7)
        (out * w).sum().backward()
        grads.append((out.detach(), x.grad, y.grad))
    (to, tx, ty), (fo, fx, fy) = grads
    assert_close(fo, to)
    assert_close(fx, tx)
    if ty is None:
        assert fy is None
    else:
        assert_close(fy, ty)


def test_pow_inplace_of_a_leaf_still_refused():
    x = flambeau.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.pow_(2)
