"""nn.init: gains identical to PyTorch's, distributions with the right moments and bounds,
deterministic initialisers exact, seeding and generator arguments."""
import math

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn
from flambeau.nn import init
from nn_helpers import to_np


def test_calculate_gain_matches_pytorch():
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1),
                  ("selu", None), ("conv_transpose2d", None)]:
        assert init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_computation_matches_pytorch():
    for shape in [(3, 4), (8, 4, 3, 3), (5, 2, 7)]:
        f = init._calculate_fan_in_and_fan_out(flambeau.empty(*shape))
        t = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
        assert f == t
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(flambeau.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(flambeau.empty(3, 3), mode="fan_avg")


def _moments(t):
    a = to_np(t).astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("tanh", 0),
                                            ("leaky_relu", math.sqrt(5))])
def test_kaiming(mode, nonlinearity, a):
    t = flambeau.empty(256, 64, 3, 3)
    fan = 64 * 9 if mode == "fan_in" else 256 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    mean, s, lo, hi = _moments(t)
    bound = math.sqrt(3) * std
    assert lo >= -bound and hi <= bound and abs(s - std) < 0.02 * std and abs(mean) < 0.02 * std
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    mean, s, _, _ = _moments(t)
    assert abs(s - std) < 0.02 * std and abs(mean) < 0.02 * std


def test_xavier():
    t = flambeau.empty(300, 200)
    init.xavier_uniform_(t, gain=2.0)
    std = 2.0 * math.sqrt(2.0 / 500)
    mean, s, lo, hi = _moments(t)
    assert lo >= -math.sqrt(3) * std and hi <= math.sqrt(3) * std and abs(s - std) < 0.02 * std
    init.xavier_normal_(t)
    std = math.sqrt(2.0 / 500)
    mean, s, _, _ = _moments(t)
    assert abs(s - std) < 0.02 * std and abs(mean) < 0.02 * std


def test_uniform_normal_constant_ones_zeros():
    flambeau.manual_seed(2)  # the moment bounds are ~3 standard errors: a fixed stream, not the suite's order
    t = flambeau.empty(200, 100)
    init.uniform_(t, -2, 3)
    mean, s, lo, hi = _moments(t)
    assert lo >= -2 and hi <= 3 and abs(mean - 0.5) < 0.03
    init.normal_(t, 1.5, 0.5)
    mean, s, _, _ = _moments(t)
    assert abs(mean - 1.5) < 0.01 and abs(s - 0.5) < 0.01
    assert np.all(to_np(init.constant_(t, 0.25)) == 0.25)
    assert np.all(to_np(init.ones_(t)) == 1) and np.all(to_np(init.zeros_(t)) == 0)


def test_trunc_normal_bounds_and_moments():
    t = flambeau.empty(100000)
    init.trunc_normal_(t, mean=0.5, std=2.0, a=-1.0, b=3.0)
    a = to_np(t)
    assert a.min() >= -1.0 and a.max() <= 3.0
    # moments of the truncated normal, from the PyTorch implementation on many samples
    ref = torch.nn.init.trunc_normal_(torch.empty(400000), mean=0.5, std=2.0, a=-1.0, b=3.0)
    assert abs(a.mean() - ref.mean().item()) < 0.02 and abs(a.std() - ref.std().item()) < 0.02
    t2 = init.trunc_normal_(flambeau.empty(50000), std=0.02)
    assert abs(to_np(t2).std() - torch.nn.init.trunc_normal_(torch.empty(50000), std=0.02).std()
               .item()) < 1e-3


def test_eye_dirac_orthogonal():
    e = init.eye_(flambeau.empty(3, 5))
    assert np.array_equal(to_np(e), np.eye(3, 5, dtype=np.float32))
    for shape, groups in [((4, 4, 3, 3), 1), ((6, 3, 3), 2), ((2, 4, 3, 3, 3), 2)]:
        f = init.dirac_(flambeau.empty(*shape), groups)
        t = torch.nn.init.dirac_(torch.empty(*shape), groups)
        assert np.array_equal(to_np(f), t.numpy())
    for shape in [(6, 4), (4, 6), (5, 3, 2)]:
        q = to_np(init.orthogonal_(flambeau.empty(*shape), gain=2.0)).reshape(shape[0], -1)
        if q.shape[0] <= q.shape[1]:
            np.testing.assert_allclose(q @ q.T, 4 * np.eye(q.shape[0]), atol=1e-5)
        else:
            np.testing.assert_allclose(q.T @ q, 4 * np.eye(q.shape[1]), atol=1e-5)


def test_sparse():
    t = init.sparse_(flambeau.empty(10, 6), sparsity=0.3)
    zeros_per_col = (to_np(t) == 0).sum(0)
    assert np.all(zeros_per_col >= 3)


def test_init_is_seeded_and_accepts_generator():
    flambeau.manual_seed(11)
    a = to_np(init.kaiming_uniform_(flambeau.empty(4, 4)))
    flambeau.manual_seed(11)
    b = to_np(init.kaiming_uniform_(flambeau.empty(4, 4)))
    assert np.array_equal(a, b)
    g1, g2 = flambeau.Generator(), flambeau.Generator()
    g1.manual_seed(5)
    g2.manual_seed(5)
    x = to_np(init.normal_(flambeau.empty(8), generator=g1))
    y = to_np(init.normal_(flambeau.empty(8), generator=g2))
    assert np.array_equal(x, y)


def test_init_does_not_record_autograd_and_keeps_identity():
    lin = nn.Linear(3, 3)
    w = lin.weight
    out = init.xavier_uniform_(lin.weight)
    assert out is w and w.grad_fn is None and w.requires_grad
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(flambeau.empty(0, 3))
