"""The per-call fast paths (kernel first, checked path when the kernel refuses) keep the exact
semantics of the checked path: dtype promotion, integer inputs, errors, autograd recording."""
import inspect

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F
from flambeau._functions import activation as A


def _t(a, **kw):
    return flambeau.from_numpy(np.ascontiguousarray(a), **kw) if not kw else flambeau.tensor(a, **kw)


@pytest.mark.parametrize("fn", [A.relu, F.relu, lambda x: x.relu()])
def test_integer_relu_takes_the_elementwise_path(fn):
    a = np.array([-3, 0, 5, -1], dtype=np.int64)
    r = fn(_t(a))
    assert r.dtype == flambeau.int64
    np.testing.assert_array_equal(r.numpy(), torch.relu(torch.from_numpy(a)).numpy())


@pytest.mark.parametrize("name", ["silu", "sigmoid", "tanh", "softplus", "gelu", "leaky_relu"])
def test_integer_input_error_message_unchanged(name):
    x = _t(np.arange(4, dtype=np.int64))
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
        getattr(A, name)(x)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("da,db", [("float32", "float64"), ("float32", "int64"), ("int64", "int64"),
                                   ("int64", "float64"), ("float64", "float64")])
def test_binary_promotion_matches_torch(op, da, db):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(7) * 4).astype(da)
    b = (rng.standard_normal(7) * 4 + 9).astype(db)
    r = getattr(flambeau, op)(_t(a), _t(b))
    e = getattr(torch, op)(torch.from_numpy(a), torch.from_numpy(b))
    assert str(r.dtype).split(".")[-1] == str(e.dtype).split(".")[-1]
    np.testing.assert_allclose(r.numpy(), e.numpy(), rtol=1e-6)


def test_bool_sub_still_raises():
    a = _t(np.array([True, False]))
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool tensors is not supported"):
        a - a


def test_fast_path_respects_grad_mode():
    x = flambeau.randn(5, requires_grad=True)
    for f in (A.relu, A.silu, A.sigmoid, A.tanh, lambda t: t + t, lambda t: t * t):
        y = f(x)
        assert y.requires_grad and y.grad_fn is not None
        with flambeau.no_grad():
            z = f(x)
        assert not z.requires_grad and z.grad_fn is None
        np.testing.assert_array_equal(y.detach().numpy(), z.numpy())


def test_functional_keeps_name_signature_and_composed():
    assert F.relu.__name__ == "relu"
    assert list(inspect.signature(F.relu).parameters) == ["input", "inplace"]
    assert callable(F.relu.composed)
    x = flambeau.randn(6)
    np.testing.assert_array_equal(F.relu(x).numpy(), F.relu.composed(x).numpy())
    with pytest.raises(TypeError, match="relu"):
        F.relu([1.0, 2.0])
