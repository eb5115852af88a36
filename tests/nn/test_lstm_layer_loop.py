"""The LSTM layer's time loop in C++ (`_C.lstm_layer`, csrc/cpu/rnn_layer.cpp), used by nn.LSTM on the CPU:
bit for bit the step-by-step loop it replaced (`_C.linear` then `_C.lstm_cell` per step), with and without
the saved per-step state (eval / training), forwards and reversed; nn.LSTM under no_grad against PyTorch
and against its own recorded forward; empty sizes; argument errors."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from flambeau import _C
from flambeau._tensor import _wrap
from nn_helpers import t2f, to_np


def step_loop(xp, h0, c0, w, b, reverse):
    """The Python loop _lstm_layer.py ran before: one _C.linear and one _C.lstm_cell per step."""
    L = xp.shape[0]
    h, c = h0, c0
    hs, cs, acts = [None] * L, [None] * L, [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        h, c, a = _C.lstm_cell(_C.select(xp, 0, t), _C.linear(h, w, b), c)
        hs[t], cs[t], acts[t] = h, c, a
    return hs, cs, acts, h, c


def impls(rng, L, N, H, dtype, bias=True):
    mk = lambda *s: t2f(rng.standard_normal(s).astype(dtype))._impl  # noqa: E731
    return mk(L, N, 4 * H), mk(N, H), mk(N, H), mk(4 * H, H), (mk(4 * H) if bias else None)


def np_(t):
    return to_np(_wrap(t))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("L, N, H", [(1, 1, 1), (7, 3, 5), (50, 32, 128), (4, 33, 17)])
def test_layer_loop_is_the_step_loop_bit_for_bit(dtype, reverse, bias, L, N, H):
    rng = np.random.default_rng(L * 100 + N * 10 + H)
    xp, h0, c0, w, b = impls(rng, L, N, H, dtype, bias)
    hs, cs, acts, h, c = step_loop(xp, h0, c0, w, b, reverse)
    for keep in (False, True):
        r = _C.lstm_layer(xp, h0, c0, w, b, reverse, keep)
        assert len(r) == (5 if keep else 3)
        np.testing.assert_array_equal(np_(r[0]), np.stack([np_(t) for t in hs]))
        np.testing.assert_array_equal(np_(r[1]), np_(h))
        np.testing.assert_array_equal(np_(r[2]), np_(c))
        if keep:
            np.testing.assert_array_equal(np_(r[3]), np.stack([np_(t) for t in cs]))
            np.testing.assert_array_equal(np_(r[4]), np.stack([np_(t) for t in acts]))


def test_layer_loop_takes_strided_operands():
    # views (a transposed weight made contiguous by the op, a non-contiguous xp) give the same bits
    rng = np.random.default_rng(3)
    xp, h0, c0, w, b = impls(rng, 6, 4, 5, "float32")
    xp_t = _C.transpose(_C.contiguous(_C.transpose(xp, 0, 1)), 0, 1)  # the same values, [N, L, 4H] in memory
    assert not xp_t.is_contiguous()
    want = _C.lstm_layer(xp, h0, c0, w, b, False, False)
    got = _C.lstm_layer(xp_t, h0, c0, w, b, False, False)
    for a, g in zip(want, got):
        np.testing.assert_array_equal(np_(a), np_(g))


@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2), dict(bidirectional=True), dict(bias=False),
                                dict(num_layers=2, bidirectional=True, batch_first=True)])
def test_lstm_no_grad_forward_matches_torch_and_the_recorded_forward(kw):
    rng = np.random.default_rng(7)
    tm = torch.nn.LSTM(6, 9, **kw)
    fm = nn.LSTM(6, 9, **kw)
    fm.load_state_dict({k: t2f(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = rng.standard_normal((5, 11, 6) if kw.get("batch_first") else (11, 5, 6)).astype(np.float32)
    dirs = 2 if kw.get("bidirectional") else 1
    h0 = rng.standard_normal((kw.get("num_layers", 1) * dirs, 5, 9)).astype(np.float32)
    c0 = rng.standard_normal(h0.shape).astype(np.float32)
    with torch.no_grad():
        t_out, (t_h, t_c) = tm(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    with flambeau.no_grad():
        f_out, (f_h, f_c) = fm(t2f(x), (t2f(h0), t2f(c0)))
    for a, b in ((f_out, t_out), (f_h, t_h), (f_c, t_c)):
        np.testing.assert_allclose(to_np(a), b.numpy(), rtol=1e-5, atol=1e-6)
    # the recorded (training) forward runs the same loop keeping its state: the same bits
    g_out, (g_h, g_c) = fm(t2f(x).requires_grad_(), (t2f(h0), t2f(c0)))
    assert g_out.requires_grad
    for a, b in ((f_out, g_out), (f_h, g_h), (f_c, g_c)):
        np.testing.assert_array_equal(to_np(a), to_np(b.detach()))


def test_training_output_is_not_the_saved_state():
    # the caller's output is its own copy: writing into it leaves the backward's saved h_{t-1} alone
    rng = np.random.default_rng(8)
    fm = nn.LSTM(3, 4)
    x = t2f(rng.standard_normal((5, 2, 3)).astype(np.float32)).requires_grad_()
    out, _ = fm(x)
    g1, = flambeau.autograd.grad(out.sum(), x, retain_graph=True)
    out2, _ = fm(x)
    loss = out2.sum()
    with flambeau.no_grad():
        out2.zero_()
    g2, = flambeau.autograd.grad(loss, x)
    np.testing.assert_array_equal(to_np(g1), to_np(g2))


def test_layer_loop_empty_sizes():
    z = lambda *s: flambeau.zeros(*s)._impl  # noqa: E731
    out, h, c = _C.lstm_layer(z(0, 2, 12), z(2, 3), flambeau.ones(2, 3)._impl, z(12, 3), None, False, False)
    assert tuple(out.shape) == (0, 2, 3) and tuple(h.shape) == (2, 3)
    np.testing.assert_array_equal(np_(c), np.ones((2, 3), np.float32))
    out, h, c, cs, acts = _C.lstm_layer(z(4, 0, 12), z(0, 3), z(0, 3), z(12, 3), z(12), True, True)
    assert tuple(out.shape) == (4, 0, 3) and tuple(acts.shape) == (4, 0, 12) and tuple(c.shape) == (0, 3)
    with flambeau.no_grad():
        out, (h, c) = nn.LSTM(3, 4)(flambeau.zeros(5, 0, 3))
    assert tuple(out.shape) == (5, 0, 4) and tuple(h.shape) == (1, 0, 4)


def test_layer_loop_checks_its_arguments():
    r = lambda *s: flambeau.randn(*s)._impl  # noqa: E731
    with pytest.raises(RuntimeError, match=r"lstm_layer: expected xp \[L, N, 4H\]"):
        _C.lstm_layer(r(2, 8), r(2, 2), r(2, 2), r(8, 2), None, False, False)
    with pytest.raises(RuntimeError, match=r"lstm_layer: shapes do not match: xp \[3, 2, 8\], h0 \[2, 3\]"):
        _C.lstm_layer(r(3, 2, 8), r(2, 3), r(2, 3), r(12, 3), None, False, False)
    with pytest.raises(RuntimeError, match=r"lstm_layer: b_hh \[7\] must have shape \[8\]"):
        _C.lstm_layer(r(3, 2, 8), r(2, 2), r(2, 2), r(8, 2), r(7), False, False)
    with pytest.raises(TypeError, match="lstm_layer: expected floating-point tensors"):
        z = lambda *s: flambeau.zeros(*s, dtype=flambeau.int64)._impl  # noqa: E731
        _C.lstm_layer(z(3, 2, 8), z(2, 2), z(2, 2), z(8, 2), None, False, False)
    with pytest.raises((TypeError, RuntimeError), match="lstm_layer"):
        _C.lstm_layer(r(3, 2, 8), flambeau.randn(2, 2, dtype=flambeau.float64)._impl, r(2, 2), r(8, 2), None, False,
                      False)
