"""Every activation module (and its functional form) against PyTorch: values and gradients,
including the points where the formula switches (0, thresholds), in-place variants and reprs."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn
from flambeau.nn import functional as F
from nn_helpers import assert_close, check_module, t2f, to_np

ACTIVATIONS = [
    lambda n: n.ReLU(), lambda n: n.ReLU6(), lambda n: n.LeakyReLU(), lambda n: n.LeakyReLU(0.2),
    lambda n: n.ELU(), lambda n: n.ELU(alpha=0.5), lambda n: n.SELU(), lambda n: n.CELU(1.5),
    lambda n: n.GELU(), lambda n: n.GELU(approximate="tanh"), lambda n: n.SiLU(), lambda n: n.Mish(),
    lambda n: n.Softplus(), lambda n: n.Softplus(beta=2.0, threshold=1.0), lambda n: n.Hardtanh(),
    lambda n: n.Hardtanh(-0.5, 2.0), lambda n: n.Sigmoid(), lambda n: n.Tanh(),
    lambda n: n.Hardsigmoid(), lambda n: n.Hardswish(), lambda n: n.LogSigmoid(),
    lambda n: n.Softsign(), lambda n: n.Tanhshrink(), lambda n: n.Softshrink(),
    lambda n: n.Softshrink(1.0), lambda n: n.Hardshrink(), lambda n: n.Hardshrink(0.8),
    lambda n: n.Threshold(0.1, 20.0), lambda n: n.Softmax(dim=1), lambda n: n.Softmax(dim=-1),
    lambda n: n.LogSoftmax(dim=1), lambda n: n.Softmin(dim=0), lambda n: n.Softmax2d(),
    lambda n: n.GLU(), lambda n: n.GLU(dim=1), lambda n: n.PReLU(), lambda n: n.RReLU(),
]


def _input(shape=(3, 4, 6)):
    # values spread over the interesting ranges, avoiding points where a one-sided derivative
    # is taken (exact 0, thresholds), which the kink test below handles
    x = np.random.uniform(-4, 4, size=shape).astype(np.float32)
    x[np.abs(x) < 1e-2] = 0.5
    return x


@pytest.mark.parametrize("ctor", ACTIVATIONS)
def test_activation_matches_pytorch(ctor, device):
    tm, fm = ctor(torch.nn), ctor(nn)
    if isinstance(tm, torch.nn.RReLU):
        tm.eval(), fm.eval()  # training mode draws random slopes
    check_module(tm, fm, [_input()], device)
    assert repr(fm) == repr(tm)


@pytest.mark.parametrize("ctor", ACTIVATIONS[:28])
def test_activation_float64(ctor):
    tm, fm = ctor(torch.nn).double(), ctor(nn).double()
    if isinstance(tm, torch.nn.RReLU):
        tm.eval(), fm.eval()
    # rtol 1e-7: PyTorch's float64 hardsigmoid/hardswish kernels use float32 constants (1.0f/6)
    check_module(tm, fm, [_input((5, 7)).astype(np.float64)], "cpu", "float64", rtol=1e-7)


def test_gradients_at_kinks_match_pytorch():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 20.0], np.float32)
    fns = [
        ("relu", lambda m, t: m.relu(t)), ("leaky", lambda m, t: m.leaky_relu(t, 0.1)),
        ("elu", lambda m, t: m.elu(t)), ("hardshrink", lambda m, t: m.hardshrink(t, 0.5)),
        ("softshrink", lambda m, t: m.softshrink(t, 0.5)), ("threshold", lambda m, t: m.threshold(t, 1.0, 0.0)),
        ("hardsigmoid", lambda m, t: m.hardsigmoid(t)), ("selu", lambda m, t: m.selu(t)),
        ("softplus", lambda m, t: m.softplus(t, 1.0, 20.0)), ("celu", lambda m, t: m.celu(t)),
        ("silu", lambda m, t: m.silu(t)),
    ]
    for name, fn in fns:
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        fx = t2f(x, requires_grad=True)
        ty, fy = fn(torch.nn.functional, tx), fn(F, fx)
        assert_close(fy, ty, msg=name)
        ty.sum().backward()
        fy.sum().backward()
        assert_close(fx.grad, tx.grad, msg=name + " grad")


def test_large_inputs_do_not_overflow():
    x = np.array([-100.0, -30.0, 30.0, 100.0], np.float32)
    for name in ["softplus", "logsigmoid", "elu", "selu", "mish", "silu", "celu"]:
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        fx = t2f(x, requires_grad=True)
        ty = getattr(torch.nn.functional, name)(tx)
        fy = getattr(F, name)(fx)
        assert_close(fy, ty, msg=name)
        ty.sum().backward()
        fy.sum().backward()
        assert np.all(np.isfinite(to_np(fx.grad))), name
        assert_close(fx.grad, tx.grad, msg=name + " grad")


def test_inplace_activations_modify_input_and_backprop():
    for ctor in [lambda n: n.ReLU(inplace=True), lambda n: n.LeakyReLU(0.1, inplace=True),
                 lambda n: n.ELU(inplace=True), lambda n: n.Hardtanh(inplace=True),
                 lambda n: n.SiLU(inplace=True), lambda n: n.ReLU6(inplace=True)]:
        x = _input((4, 5))
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        fx = t2f(x, requires_grad=True)
        th, fh = tx * 1.5, fx * 1.5          # in-place on a non-leaf, as in a network
        ty, fy = ctor(torch.nn)(th), ctor(nn)(fh)
        assert_close(fh, th, msg="input modified in place")
        assert_close(fy, ty)
        (ty * ty).sum().backward()
        (fy * fy).sum().backward()
        assert_close(fx.grad, tx.grad)
        assert repr(ctor(nn)) == repr(ctor(torch.nn))


def test_rrelu_training_draws_slopes_in_range():
    x = flambeau.full((1000,), -1.0)
    y = to_np(nn.RReLU(0.1, 0.3)(x))
    assert np.all(y <= -0.1 + 1e-6) and np.all(y >= -0.3 - 1e-6) and y.std() > 0.03
    pos = flambeau.full((10,), 2.0)
    assert np.all(to_np(nn.RReLU()(pos)) == 2.0)


def test_softmax_implicit_dim_warns_like_pytorch():
    x = _input((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(t2f(x))
    with pytest.warns(UserWarning):
        ty = torch.nn.functional.softmax(torch.from_numpy(x))
    assert_close(y, ty)


def test_softmax_dtype_argument():
    x = _input((2, 5))
    y = F.log_softmax(t2f(x), dim=1, dtype=flambeau.float64)
    assert y.dtype == flambeau.float64
    assert_close(y, torch.log_softmax(torch.from_numpy(x).double(), 1), "float64")


def test_functional_forms_match_pytorch():
    x = _input((3, 8))
    tx = torch.from_numpy(x)
    fx = t2f(x)
    tf = torch.nn.functional
    for name, args in [("relu6", ()), ("hardtanh", (-2.0, 2.0)), ("glu", (1,)),
                       ("normalize", (2.0, 1)), ("normalize", (1.0, 0)),
                       ("gelu", ()), ("tanhshrink", ()), ("softsign", ())]:
        assert_close(getattr(F, name)(fx, *args), getattr(tf, name)(tx, *args), msg=name)
    assert_close(F.normalize(t2f(np.zeros((2, 3), np.float32))),
                 tf.normalize(torch.zeros(2, 3)))
    assert_close(F.prelu(fx, t2f(np.array([0.3], np.float32))),
                 tf.prelu(tx, torch.tensor([0.3])))
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(t2f(_input((3, 5))))


def test_normalize_gradient_at_zero_is_finite():
    x = t2f(np.zeros((2, 3), np.float32), requires_grad=True)
    F.normalize(x).sum().backward()
    assert np.all(np.isfinite(to_np(x.grad)))
