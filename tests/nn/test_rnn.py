"""nn.RNN / LSTM / GRU and their cells against PyTorch: outputs, final states, gradients of the input,
of the initial states and of every parameter (PyTorch's weights loaded: same state-dict keys and
order), every option (layers, bidirectional, batch_first, bias, relu), unbatched inputs, dropout
between layers, float64 gradchecks, errors, and a small model that learns."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from nn_helpers import check_module, copy_state, t2f, to_np

TN = torch.nn


def rnd(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


class Flat:
    """module(x, hx) with the states given as separate inputs and the outputs flattened."""

    def __init__(self, mod, lstm):
        self.mod, self.lstm = mod, lstm

    def __call__(self, x, *hs):
        out, hid = self.mod(x, (tuple(hs) if self.lstm else hs[0]) if hs else None)
        return (out,) + (tuple(hid) if self.lstm else (hid,))

    def named_parameters(self):
        return self.mod.named_parameters()

    def named_buffers(self):
        return self.mod.named_buffers()


OPTIONS = [dict(), dict(num_layers=2), dict(bidirectional=True), dict(num_layers=2, bidirectional=True),
           dict(batch_first=True), dict(bias=False)]


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("kw", OPTIONS, ids=[str(k) for k in OPTIONS])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_layers_match_torch(cls, kw, with_state):
    tm, fm = getattr(TN, cls)(5, 6, **kw), getattr(nn, cls)(5, 6, **kw)
    assert list(tm.state_dict()) == list(fm.state_dict())
    copy_state(tm, fm)
    lstm = cls == "LSTM"
    x = rnd(3, 4, 5)  # (L, N) or (N, L) with batch_first
    n = 3 if kw.get("batch_first") else 4
    k = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    states = [rnd(k, n, 6) for _ in range(2 if lstm else 1)] if with_state else []
    check_module(Flat(tm, lstm), Flat(fm, lstm), [x] + states, copy=False)


def test_rnn_relu_and_unbatched():
    tm, fm = TN.RNN(4, 3, nonlinearity="relu", num_layers=2), nn.RNN(4, 3, nonlinearity="relu", num_layers=2)
    copy_state(tm, fm)
    check_module(Flat(tm, False), Flat(fm, False), [rnd(6, 2, 4)], copy=False)
    for cls in ["RNN", "LSTM", "GRU"]:
        tm, fm = getattr(TN, cls)(4, 3, bidirectional=True), getattr(nn, cls)(4, 3, bidirectional=True)
        copy_state(tm, fm)
        lstm = cls == "LSTM"
        states = [rnd(2, 3) for _ in range(2 if lstm else 1)]
        check_module(Flat(tm, lstm), Flat(fm, lstm), [rnd(5, 4)] + states, copy=False)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(cls, bias):
    tm, fm = getattr(TN, cls)(5, 4, bias=bias), getattr(nn, cls)(5, 4, bias=bias)
    assert list(tm.state_dict()) == list(fm.state_dict())
    lstm = cls == "LSTMCell"

    def call(m):
        def f(x, *hs):
            out = m(x, tuple(hs) if lstm else hs[0])
            return tuple(out) if lstm else out
        f.named_parameters, f.named_buffers = m.named_parameters, m.named_buffers
        return f
    copy_state(tm, fm)
    states = [rnd(3, 4) for _ in range(2 if lstm else 1)]
    check_module(call(tm), call(fm), [rnd(3, 5)] + states, copy=False)
    unb = [rnd(4) for _ in range(2 if lstm else 1)]
    check_module(call(tm), call(fm), [rnd(5)] + unb, copy=False)
    out = fm(t2f(rnd(3, 5)))  # no state: zeros
    ref = tm(torch.from_numpy(np.zeros((3, 5), np.float32)))
    assert (out[0] if lstm else out).shape == (ref[0] if lstm else ref).shape


def test_dropout_between_layers_only_in_training():
    flambeau.manual_seed(0)
    m = nn.LSTM(4, 8, num_layers=2, dropout=0.5)
    x = flambeau.randn(5, 3, 4)
    a, b = m(x)[0], m(x)[0]
    assert not np.array_equal(a.detach().numpy(), b.detach().numpy())
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_gradcheck_float64(cls):
    m = getattr(nn, cls)(3, 2, num_layers=2, bidirectional=True).double()
    x = flambeau.randn(4, 2, 3, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda a: m(a)[0], (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_init_and_errors_like_torch():
    m = nn.GRU(3, 16)
    assert float(m.weight_hh_l0.abs().max()) <= 0.25 and m.weight_ih_l0.shape == (48, 3)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    lstm = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 6"):
        lstm(flambeau.randn(5, 2, 6))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 4\), got \[2, 2, 4\]"):
        lstm(flambeau.randn(5, 2, 3), (flambeau.zeros(2, 2, 4), flambeau.zeros(1, 2, 4)))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        nn.GRU(3, 4)(flambeau.randn(5, 2, 3), flambeau.zeros(1, 3, 4))
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(flambeau.randn(2, 5, 2, 3))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        lstm(flambeau.randn(0, 2, 3))


def test_lstm_learns_to_sum_a_sequence():
    flambeau.manual_seed(0)
    lstm, head = nn.LSTM(1, 16, batch_first=True), nn.Linear(16, 1)
    opt = flambeau.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.02)
    x = flambeau.rand(64, 8, 1)
    y = x.sum(1)
    first = None
    for _ in range(150):
        opt.zero_grad()
        out, (h, c) = lstm(x)
        loss = ((head(h[-1]) - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    assert float(loss) < 0.05 * first


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_fused_step_double_backward(cls):
    # The fused CPU step's backward under create_graph runs the step's composite ops instead.
    m = getattr(nn, cls)(3, 2).double()
    x = flambeau.randn(3, 2, 3, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda a: m(a)[0], (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("fn, composite, gates", [
    ("lstm", "_lstm_composite", 4), ("gru", "_gru_composite", 3)])
def test_fused_step_matches_its_composite_ops(fn, composite, gates):
    from flambeau.nn.modules import rnn
    rng = np.random.default_rng(2)
    for dtype in ("float32", "float64"):
        xp = t2f(rng.standard_normal((5, gates * 7)).astype(dtype) * 2, requires_grad=True)
        hp = t2f(rng.standard_normal((5, gates * 7)).astype(dtype) * 2, requires_grad=True)
        st = t2f(rng.standard_normal((5, 7)).astype(dtype), requires_grad=True)
        ref = getattr(rnn, composite)(xp, hp, st)
        got = rnn._LSTMCellFn.apply(xp, hp, st) if fn == "lstm" else rnn._GRUCellFn.apply(xp, hp, st)
        ref, got = (ref, got) if fn == "lstm" else ((ref,), (got,))
        tol = dict(rtol=1e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-13)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol)
        gs = [t2f(rng.standard_normal(o.shape).astype(dtype)) for o in ref]
        gr = flambeau.autograd.grad(list(ref), [xp, hp, st], gs)
        gg = flambeau.autograd.grad(list(got), [xp, hp, st], gs)
        for a, b in zip(gg, gr):
            np.testing.assert_allclose(a.numpy(), b.numpy(), **tol)


def test_fused_step_kernels_check_shapes():
    from flambeau import _C
    with pytest.raises(RuntimeError, match=r"lstm_cell: gates \[2, 8\] and \[2, 8\] must have shape \[2, 12\]"):
        _C.lstm_cell(flambeau.randn(2, 8)._impl, flambeau.randn(2, 8)._impl, flambeau.randn(2, 3)._impl)
    with pytest.raises(RuntimeError, match="gru_cell: expected 2-D gates and state"):
        _C.gru_cell(flambeau.randn(2, 9)._impl, flambeau.randn(2, 9)._impl, flambeau.randn(3)._impl)
    with pytest.raises(TypeError, match="lstm_cell: expected floating-point tensors"):
        z = flambeau.zeros(2, 4, dtype=flambeau.int64)._impl
        _C.lstm_cell(z, z, flambeau.zeros(2, 1, dtype=flambeau.int64)._impl)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_create_graph_gradients_match_torch(cls, num_layers):
    """A gradient penalty through a recurrent layer: the first-order gradient taken with create_graph=True
    (the fused CPU steps then run their composite ops) equals PyTorch's and the plain backward's, and the
    parameters' second-order gradients agree. A GRU step's h_prev, which also makes its hp, was counted twice."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    tm = getattr(torch.nn, cls)(3, 5, num_layers=num_layers, batch_first=True)
    fm = getattr(nn, cls)(3, 5, num_layers=num_layers, batch_first=True)
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    results = []
    for lib, m in ((torch, tm), (flambeau, fm)):
        xs = lib.from_numpy(x.copy()).requires_grad_()
        plain, = lib.autograd.grad(m(xs)[0].pow(2).sum(), xs)
        g, = lib.autograd.grad(m(xs)[0].pow(2).sum(), xs, create_graph=True)
        np.testing.assert_allclose(to_np(g), to_np(plain), rtol=1e-5, atol=1e-6)
        ((g.norm(2, dim=-1) - 1) ** 2).mean().backward()
        results.append([to_np(g)] + [to_np(p.grad) for _, p in sorted(m.named_parameters())])
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_lstm_gru_layer_is_one_graph_node_as_in_torch(cls):
    """A CPU LSTM/GRU layer over an unpacked sequence is recorded as one node (nn/modules/_lstm_layer.py,
    _gru_layer.py), named as PyTorch's CPU node; its gradients are checked against PyTorch by
    test_recurrent_layers_match_torch, gradchecks and double backward below."""
    names = []
    for lib in (TN, nn):
        mod = getattr(lib, cls)(3, 4)
        x = (torch if lib is TN else flambeau).randn(5, 2, 3, requires_grad=True)
        names.append(mod(x)[0].grad_fn.name())
    assert names[0] == names[1] == ("MkldnnRnnLayerBackward0" if cls == "LSTM" else "StackBackward0")
    if cls == "GRU":  # one node: its inputs are the projected inputs, h0 and the recurrent weights
        out = nn.GRU(3, 4)(flambeau.randn(5, 2, 3, requires_grad=True))[0]
        assert len(out.grad_fn.next_functions) == 5
