"""Activation checkpointing (flambeau.utils.checkpoint), anomaly mode (autograd.detect_anomaly) and
saved tensor hooks (autograd.graph) against PyTorch and against flambeau's own un-checkpointed graph.

Checkpointed gradients must equal the plain ones bit for bit (same kernels, same order), dropout
included (the recomputation starts from the forward's random state); against PyTorch they are
compared within float tolerance on models without dropout (the random streams differ)."""
import gc
import re
import warnings
import weakref

import numpy as np
import pytest
import torch
import torch.utils.checkpoint as tcp

import flambeau
import flambeau.nn as fnn
from flambeau.utils import checkpoint as fcp
from helpers import assert_close, rand_array

MODES = [True, False]  # use_reentrant


def _same(a, b):
    return a.shape == b.shape and bool((a == b).all())


def _mlp(dropout, device="cpu"):
    layers = [fnn.Linear(7, 16), fnn.ReLU()]
    if dropout:
        layers.append(fnn.Dropout(0.4))
    layers += [fnn.Linear(16, 16), fnn.Tanh()]
    if dropout:
        layers.append(fnn.Dropout(0.25))
    layers += [fnn.Linear(16, 3)]
    return fnn.Sequential(*layers).to(device)


def _torch_mlp(fl_model):
    layers = []
    for m in fl_model:
        if isinstance(m, fnn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features)
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.detach().cpu().numpy()))
                t.bias.copy_(torch.from_numpy(m.bias.detach().cpu().numpy()))
            layers.append(t)
        elif isinstance(m, fnn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, fnn.Tanh):
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def _run(model, x0, how, seed=1234):
    """(output, input grad, param grads, rng state after forward, after backward) of one step."""
    model.zero_grad()
    x = x0.clone().requires_grad_(True)
    flambeau.manual_seed(seed)
    if how == "plain":
        y = model(x)
    elif how == "seq":
        y = fcp.checkpoint_sequential(model, 3, x, use_reentrant=False)
    else:
        y = fcp.checkpoint(model, x, use_reentrant=how)
    s_fwd = flambeau.get_rng_state().tolist()
    (y * y).sum().backward()
    s_bwd = flambeau.get_rng_state().tolist()
    return y.detach(), x.grad, [p.grad.clone() for p in model.parameters()], s_fwd, s_bwd


# ---- checkpoint: gradients ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", [True, False, "seq"])
def test_checkpoint_mlp_dropout_bit_identical(device, how):
    flambeau.manual_seed(0)
    model = _mlp(dropout=True, device=device)
    x0 = flambeau.randn(9, 7, device=device)
    ref = _run(model, x0, "plain")
    got = _run(model, x0, how)
    assert _same(got[0], ref[0])
    assert _same(got[1], ref[1])
    for a, b in zip(got[2], ref[2]):
        assert _same(a, b)
    # the random stream is where the plain run leaves it, after forward and after backward
    assert got[3] == ref[3] and got[4] == ref[4]


def test_checkpoint_without_preserved_rng_recomputes_a_different_mask():
    flambeau.manual_seed(0)
    model = _mlp(dropout=True)
    x0 = flambeau.randn(32, 7)
    ref = _run(model, x0, "plain")
    model.zero_grad()
    x = x0.clone().requires_grad_(True)
    flambeau.manual_seed(1234)
    y = fcp.checkpoint(model, x, use_reentrant=True, preserve_rng_state=False)
    assert _same(y.detach(), ref[0])
    (y * y).sum().backward()
    assert not _same(x.grad, ref[1])


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_mlp_matches_torch(use_reentrant):
    flambeau.manual_seed(0)
    model = _mlp(dropout=False)
    tmodel = _torch_mlp(model)
    xa = rand_array((6, 7))
    x = flambeau.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y = fcp.checkpoint(model, x, use_reentrant=use_reentrant)
    ty = tcp.checkpoint(tmodel, tx, use_reentrant=use_reentrant)
    assert_close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad, atol=1e-5, rtol=1e-4)
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert_close(p.grad, tp.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("use_reentrant", MODES)
@pytest.mark.parametrize("segments", [1, 2, 3, 5])
def test_checkpoint_sequential(use_reentrant, segments):
    flambeau.manual_seed(0)
    model = _mlp(dropout=False)
    tmodel = _torch_mlp(model)
    xa = rand_array((4, 7))

    model.zero_grad()
    x = flambeau.tensor(xa, requires_grad=True)
    model(x).pow(2).sum().backward()
    ref = [x.grad] + [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    x = flambeau.tensor(xa, requires_grad=True)
    y = fcp.checkpoint_sequential(model, segments, x, use_reentrant=use_reentrant)
    y.pow(2).sum().backward()
    got = [x.grad] + [p.grad for p in model.parameters()]
    assert all(_same(a, b) for a, b in zip(got, ref))

    tx = torch.tensor(xa, requires_grad=True)
    tcp.checkpoint_sequential(tmodel, segments, tx, use_reentrant=use_reentrant).pow(2).sum().backward()
    assert_close(x.grad, tx.grad, atol=1e-5, rtol=1e-4)
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert_close(p.grad, tp.grad, atol=1e-5, rtol=1e-4)


def test_checkpoint_sequential_list_of_functions():
    w = flambeau.randn(5, 5, requires_grad=True)
    fns = [lambda t: t @ w, flambeau.tanh, lambda t: t * 2, flambeau.sin]
    x = flambeau.randn(3, 5, requires_grad=True)
    y = fcp.checkpoint_sequential(fns, 2, x, use_reentrant=False)
    y.sum().backward()
    gx, gw = x.grad, w.grad
    x.grad = w.grad = None
    t = x
    for f in fns:
        t = f(t)
    t.sum().backward()
    assert _same(gx, x.grad) and _same(gw, w.grad)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_tuple_outputs_and_non_tensor_args(use_reentrant):
    w = flambeau.randn(4, 4, requires_grad=True)

    def f(x, scale, tag, z):
        h = (x @ w) * scale
        return h.sin(), tag, (h * z).cos(), 7

    x0, z0 = flambeau.randn(3, 4), flambeau.randn(3, 4)

    def run(ck):
        w.grad = None
        x, z = x0.clone().requires_grad_(), z0.clone().requires_grad_()
        out = fcp.checkpoint(f, x, 0.5, "tag", z, use_reentrant=use_reentrant) if ck else f(x, 0.5, "tag", z)
        assert isinstance(out, tuple) and out[1] == "tag" and out[3] == 7
        assert out[0].requires_grad and out[2].requires_grad
        (out[0].sum() + (out[2] * 3).sum()).backward()
        return out, x.grad, z.grad, w.grad

    ref, got = run(False), run(True)
    for a, b in zip((ref[0][0], ref[0][2]) + ref[1:], (got[0][0], got[0][2]) + got[1:]):
        assert _same(a, b)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_one_output_unused(use_reentrant):
    x = flambeau.randn(5, requires_grad=True)
    a, b = fcp.checkpoint(lambda t: (t.sin(), t.exp()), x, use_reentrant=use_reentrant)
    a.sum().backward()
    assert _same(x.grad, x.detach().cos())


def test_checkpoint_kwargs_non_reentrant():
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(2, 4, requires_grad=True)
    bias = flambeau.randn(4, requires_grad=True)

    def f(x, *, bias, act=flambeau.tanh):
        return act(x @ w + bias)

    y = fcp.checkpoint(f, x, bias=bias, act=flambeau.sigmoid, use_reentrant=False)
    y.sum().backward()
    got = (x.grad, w.grad, bias.grad)
    x.grad = w.grad = bias.grad = None
    f(x, bias=bias, act=flambeau.sigmoid).sum().backward()
    assert all(_same(a, b) for a, b in zip(got, (x.grad, w.grad, bias.grad)))


def test_checkpoint_inputs_without_grad():
    # Reentrant: like PyTorch, a warning and an output that does not require grad.
    model = _mlp(dropout=False)
    x = flambeau.randn(3, 7)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = fcp.checkpoint(model, x, use_reentrant=True)
    assert not y.requires_grad
    tx = torch.randn(3, 7)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        assert not tcp.checkpoint(_torch_mlp(model), tx, use_reentrant=True).requires_grad
    # Non-reentrant: the parameters get exactly their plain gradients.
    model.zero_grad()
    y = fcp.checkpoint(model, x, use_reentrant=False)
    assert y.requires_grad
    y.sum().backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    assert all(_same(a, p.grad) for a, p in zip(got, model.parameters()))


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_under_no_grad(use_reentrant):
    x = flambeau.randn(3, requires_grad=True)
    with flambeau.no_grad():
        y = fcp.checkpoint(lambda t: t.sin() * 2, x, use_reentrant=use_reentrant)
    assert not y.requires_grad and _same(y, x.detach().sin() * 2)


def test_checkpoint_autograd_grad_non_reentrant_and_error_reentrant():
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(2, 4, requires_grad=True)

    def f(t):
        return (t @ w).relu().sum()

    g = flambeau.autograd.grad(fcp.checkpoint(f, x, use_reentrant=False), [x, w])
    ref = flambeau.autograd.grad(f(x), [x, w])
    assert all(_same(a, b) for a, b in zip(g, ref))
    msg = "When use_reentrant=True"
    for call in (lambda y: flambeau.autograd.grad(y, [x]), lambda y: y.backward(inputs=[x])):
        with pytest.raises(RuntimeError, match=msg):
            call(fcp.checkpoint(f, x, use_reentrant=True))
    tx = torch.randn(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=msg):
        torch.autograd.grad(tcp.checkpoint(lambda t: t.sin().sum(), tx, use_reentrant=True), [tx])


def test_checkpoint_retain_graph_and_double_backward():
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(3, 4, requires_grad=True)

    def f(t):
        return (t @ w).tanh()

    y = fcp.checkpoint(f, x, use_reentrant=False).pow(2).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.clone()
    y.backward()
    assert _same(x.grad, g1 * 2)

    x.grad = w.grad = None
    gx, = flambeau.autograd.grad(fcp.checkpoint(f, x, use_reentrant=False).pow(2).sum(), x, create_graph=True)
    gx.sum().backward()
    got = (gx.detach(), x.grad, w.grad)
    x.grad = w.grad = None
    gx, = flambeau.autograd.grad(f(x).pow(2).sum(), x, create_graph=True)
    gx.sum().backward()
    assert all(_same(a, b) for a, b in zip(got, (gx.detach(), x.grad, w.grad)))


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_keeps_only_inputs(use_reentrant):
    """Intermediates made inside the function are not kept alive by the graph (sin saves its input
    `h`, so without checkpointing `h` survives until backward)."""
    refs = []
    w = flambeau.randn(6, 6, requires_grad=True)

    def f(x):
        h = x @ w
        refs.append(weakref.ref(h))
        h2 = h.sin()
        refs.append(weakref.ref(h2))
        return h2.exp().sum()

    x = flambeau.randn(5, 6, requires_grad=True)
    y_plain = f(x)
    gc.collect()
    assert refs[0]() is not None  # saved by SinBackward0
    del y_plain
    refs.clear()
    y = fcp.checkpoint(f, x, use_reentrant=use_reentrant)
    gc.collect()
    assert refs[0]() is None and refs[1]() is None
    y.backward()
    got = (x.grad, w.grad)
    x.grad = w.grad = None
    f(x).backward()
    assert _same(got[0], x.grad) and _same(got[1], w.grad)


def test_checkpoint_non_reentrant_saves_placeholders_only():
    w = flambeau.randn(6, 6, requires_grad=True)
    x = flambeau.randn(5, 6, requires_grad=True)
    y = fcp.checkpoint(lambda t: (t @ w).sin().exp(), x, use_reentrant=False)
    from flambeau.autograd.function import _Packed
    node, seen = y.grad_fn, 0
    while node is not None and hasattr(node, "_saved"):
        for s in node._saved or ():
            assert s is None or isinstance(s, _Packed) and not isinstance(s.obj, flambeau.Tensor)
            seen += 1
        node = node.next_functions[0][0]
    assert seen >= 2


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_input_modified_in_place(use_reentrant):
    x = flambeau.randn(3, requires_grad=True)
    w = flambeau.randn(3)
    y = fcp.checkpoint(lambda a, b: (a * b).sin(), x * 1, w, use_reentrant=use_reentrant)
    w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_checkpoint_determinism_check():
    calls = [0]

    def shape_changes(t):
        calls[0] += 1
        return t[:3 if calls[0] == 1 else 2].sin().sum()

    def fewer_saves(t):
        calls[0] += 1
        y = t.sin()
        if calls[0] == 1:
            y = y.cos()
        return y.sum()

    for lib, cp in ((flambeau, fcp), (torch, tcp)):
        x = lib.randn(4, requires_grad=True)
        calls[0] = 0
        with pytest.raises(cp.CheckpointError, match="different metadata than during the forward pass"):
            cp.checkpoint(shape_changes, x, use_reentrant=False).backward()
        calls[0] = 0
        with pytest.raises(cp.CheckpointError, match="A different number of tensors was saved"):
            cp.checkpoint(fewer_saves, x, use_reentrant=False).backward()
    calls[0] = 0
    with pytest.raises(fcp.CheckpointError, match="Tensors saved during recomputation"):
        fcp.checkpoint(fewer_saves, flambeau.randn(4, requires_grad=True), use_reentrant=False,
                       debug=True).backward()
    with pytest.raises(RuntimeError, match="broadcast"):  # no check: the mismatch reaches the backward
        calls[0] = 0
        fcp.checkpoint(shape_changes, flambeau.randn(4, requires_grad=True), use_reentrant=False,
                       determinism_check="none").backward()


def test_checkpoint_context_fn():
    log = []

    class Ctx:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            log.append(self.name)

        def __exit__(self, *a):
            pass

    x = flambeau.randn(3, requires_grad=True)
    y = fcp.checkpoint(lambda t: t.sin().exp(), x, use_reentrant=False,
                       context_fn=lambda: (Ctx("fwd"), Ctx("recompute")))
    assert log == ["fwd"]
    y.sum().backward()
    assert log == ["fwd", "recompute"]


def _warning_texts(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [(x.category, str(x.message)) for x in w]


def test_checkpoint_use_reentrant_none_warns_like_torch():
    x = flambeau.randn(3, requires_grad=True)
    tx = torch.randn(3, requires_grad=True)
    got = _warning_texts(lambda: fcp.checkpoint(flambeau.sin, x))
    ref = _warning_texts(lambda: tcp.checkpoint(torch.sin, tx))
    assert [c for c, _ in got] == [c for c, _ in ref] == [UserWarning]
    assert got[0][1] == ref[0][1].replace("torch.utils", "flambeau.utils")
    # None means reentrant, as in PyTorch
    with pytest.warns(UserWarning):
        assert type(fcp.checkpoint(flambeau.sin, x).grad_fn).__name__ == "CheckpointFunctionBackward"
    seq = fnn.Sequential(fnn.Linear(3, 3), fnn.ReLU())
    tseq = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    got = _warning_texts(lambda: fcp.checkpoint_sequential(seq, 2, x))
    ref = _warning_texts(lambda: tcp.checkpoint_sequential(tseq, 2, tx))
    assert [c for c, _ in got] == [c for c, _ in ref] == [UserWarning]
    assert got[0][1] == ref[0][1].replace("torch.utils", "flambeau.utils")
    assert _warning_texts(lambda: fcp.checkpoint(flambeau.sin, x, use_reentrant=False)) == []


def test_checkpoint_argument_errors_like_torch():
    x = flambeau.randn(3, requires_grad=True)
    tx = torch.randn(3, requires_grad=True)
    cases = [
        (dict(use_reentrant=True, foo=1), "Unexpected keyword arguments: foo"),
        (dict(use_reentrant=True, debug=True), "Passing `context_fn` or `debug` is only supported"),
        (dict(use_reentrant=True, context_fn=lambda: None), "Passing `context_fn` or `debug` is only supported"),
        (dict(use_reentrant=False, determinism_check="x"), "determinism_check should be one of"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=re.escape(msg)):
            tcp.checkpoint(lambda a, foo=0: a.sin(), tx, **kw)
        with pytest.raises(ValueError, match=re.escape(msg)):
            fcp.checkpoint(lambda a, foo=0: a.sin(), x, **kw)
    seq = fnn.Sequential(fnn.Linear(3, 3))
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        fcp.checkpoint_sequential(seq, 1, x, use_reentrant=True, foo=1)
    with pytest.raises(ValueError, match="debug=True is incompatible with non-default context_fn"):
        fcp.checkpoint(flambeau.sin, x, use_reentrant=False, debug=True, context_fn=fcp.noop_context_fn.__call__)


# ---- anomaly mode ---------------------------------------------------------------------------------------------

def _nan_backward(lib):
    x = lib.zeros(3, requires_grad=True)
    y = lib.sqrt(x) * 0
    y.sum().backward()
    return x


def test_detect_anomaly_raises_on_nan_like_torch():
    msgs = []
    for lib in (torch, flambeau):
        with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
            ctx = lib.autograd.detect_anomaly()
        with ctx:
            assert lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
            with pytest.raises(RuntimeError) as info, \
                    pytest.warns(UserWarning, match="Error detected in SqrtBackward0"):
                _nan_backward(lib)
            msgs.append(str(info.value))
        assert not lib.is_anomaly_enabled()
    assert msgs[1] == msgs[0] == "Function 'SqrtBackward0' returned nan values in its 0th output."


def test_anomaly_warning_shows_forward_line():
    x = flambeau.zeros(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = flambeau.autograd.detect_anomaly()
    with ctx:
        y = flambeau.sqrt(x) * 0  # the line the warning must show
        with pytest.warns(UserWarning) as rec, pytest.raises(RuntimeError):
            y.sum().backward()
    text = "\n".join(str(w.message) for w in rec)
    assert "Traceback of forward call that caused the error" in text
    assert "y = flambeau.sqrt(x) * 0  # the line the warning must show" in text
    assert "test_checkpoint_anomaly.py" in text


def test_anomaly_off_by_default_and_check_nan_false():
    assert not flambeau.is_anomaly_enabled()
    x = _nan_backward(flambeau)  # no error: NaN gradients, as in PyTorch
    assert bool(flambeau.isnan(x.grad).all())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = flambeau.autograd.detect_anomaly(check_nan=False)
    with ctx:
        assert flambeau.is_anomaly_enabled() and not flambeau.is_anomaly_check_nan_enabled()
        x = _nan_backward(flambeau)
        assert bool(flambeau.isnan(x.grad).all())
    assert flambeau.is_anomaly_check_nan_enabled()


def test_set_detect_anomaly():
    for lib in (torch, flambeau):
        s = lib.autograd.set_detect_anomaly(True)
        try:
            assert lib.is_anomaly_enabled()
        finally:
            lib.autograd.set_detect_anomaly(False)
        assert not lib.is_anomaly_enabled()
        with lib.autograd.set_detect_anomaly(True, check_nan=False):
            assert lib.is_anomaly_enabled() and not lib.is_anomaly_check_nan_enabled()
        assert not lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        assert type(s).__name__ == "set_detect_anomaly"


def test_anomaly_custom_function_and_backward_error():
    class F(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    class Bad(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom in backward")

    with flambeau.autograd.set_detect_anomaly(True):
        nan_msg = re.escape("Function 'FBackward' returned nan values in its 0th output.")
        with pytest.raises(RuntimeError, match=nan_msg), \
                pytest.warns(UserWarning, match="Error detected in FBackward"):
            F.apply(flambeau.ones(2, requires_grad=True)).sum().backward()
        a = flambeau.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="MulBackward0' returned nan values in its 0th output"), \
                pytest.warns(UserWarning):
            (a * flambeau.tensor([1.0, float("nan")])).sum().backward()
        with pytest.raises(ValueError, match="boom in backward"), \
                pytest.warns(UserWarning, match="Error detected in BadBackward"):
            Bad.apply(flambeau.ones(2, requires_grad=True)).sum().backward()
        # finite gradients pass untouched
        a = flambeau.randn(4, requires_grad=True)
        (a.exp() * a).sum().backward()
        assert _same(a.grad, (a.detach().exp() * a.detach() + a.detach().exp()))
    # a node recorded outside anomaly mode: still checked, with no forward information
    x = flambeau.zeros(2, requires_grad=True)
    y = (flambeau.sqrt(x) * 0).sum()
    with flambeau.autograd.set_detect_anomaly(True):
        with pytest.raises(RuntimeError, match="SqrtBackward0"), \
                pytest.warns(UserWarning, match="No forward pass information"):
            y.backward()


# ---- saved tensor hooks -----------------------------------------------------------------------------------------

def test_saved_tensors_hooks_roundtrip():
    xa = rand_array((5,))
    res = []
    for lib in (torch, flambeau):
        x = lib.tensor(xa, requires_grad=True)
        packed, unpacked = [], []

        def pack(t):
            packed.append(tuple(t.shape))
            return ("box", t.detach().clone())

        def unpack(p):
            unpacked.append(p[0])
            return p[1]

        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = (x.sin() * x).sum()
        y.backward()
        res.append((x.grad, len(packed), len(unpacked)))
    assert_close(res[1][0], res[0][0])
    assert res[1][1] == res[1][2] == res[0][1] == res[0][2]


def test_saved_tensors_hooks_double_backward_and_nesting():
    xa = rand_array((4,))
    out = []
    for lib in (torch, flambeau):
        x = lib.tensor(xa, requires_grad=True)
        outer, inner = [], []
        with lib.autograd.graph.saved_tensors_hooks(lambda t: outer.append(1) or t.detach(), lambda t: t):
            with lib.autograd.graph.saved_tensors_hooks(lambda t: inner.append(1) or t.detach(), lambda t: t):
                y = (x * x * x).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        out.append((g.detach(), x.grad, len(outer), len(inner) > 0))
    assert_close(out[1][0], out[0][0])
    assert_close(out[1][1], out[0][1])
    assert out[1][2] == out[0][2] == 0 and out[1][3] and out[0][3]


def test_saved_tensors_hooks_errors():
    for lib in (torch, flambeau):
        x = lib.randn(3, requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: 5):
            y = x.sin()
        with pytest.raises(TypeError, match="Output of saved tensor unpack_hook expected to be a Tensor but got "
                                            "result of type int"):
            y.sum().backward()
        with lib.autograd.graph.disable_saved_tensors_hooks("hooks are off here"):
            with pytest.raises(RuntimeError, match="hooks are off here"):
                with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass


def test_save_on_cpu():
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(3, 4, requires_grad=True)
    with flambeau.autograd.graph.save_on_cpu():
        y = (x @ w).tanh().sum()
    y.backward()
    got = (x.grad, w.grad)
    x.grad = w.grad = None
    (x @ w).tanh().sum().backward()
    assert _same(got[0], x.grad) and _same(got[1], w.grad)


def test_hooks_off_by_default():
    from flambeau.autograd.grad_mode import _state
    assert _state.saved_hooks is None
    x = flambeau.randn(3, requires_grad=True)
    y = x.sin()
    assert all(s is x for s in y.grad_fn._saved)
    assert np.isfinite(y.sum().item())


@pytest.mark.parametrize("outer_re", MODES)
@pytest.mark.parametrize("inner_re", MODES)
def test_nested_checkpoints(outer_re, inner_re):
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(3, 4, requires_grad=True)

    def inner(t):
        return (t @ w).sin()

    def outer(t):
        return fcp.checkpoint(inner, t.tanh(), use_reentrant=inner_re).exp()

    ref = flambeau.autograd.grad(inner(x.tanh()).exp().sum(), [x, w])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reentrant inside reentrant: inputs made under no_grad warn
        fcp.checkpoint(outer, x, use_reentrant=outer_re).sum().backward()
    assert _same(x.grad, ref[0]) and _same(w.grad, ref[1])


def test_checkpoint_early_stop_off_and_unpack_outside_backward():
    w = flambeau.randn(4, 4, requires_grad=True)
    x = flambeau.randn(3, 4, requires_grad=True)

    def f(t):
        return (t @ w).sin().cos()

    with fcp.set_checkpoint_early_stop(False):
        y = fcp.checkpoint(f, x, use_reentrant=False)
    y.sum().backward()
    got = (x.grad, w.grad)
    x.grad = w.grad = None
    f(x).sum().backward()
    assert _same(got[0], x.grad) and _same(got[1], w.grad)
    # reading a node's saved tensors outside backward recomputes them
    y = fcp.checkpoint(f, x, use_reentrant=False)
    saved, = y.grad_fn.saved_tensors
    assert _same(saved, (x @ w).sin().detach())


def test_get_set_device_states_and_cuda_initialized_like_pytorch():
    import torch.utils.checkpoint as tck
    import flambeau.utils.checkpoint as fck
    for lib, ck in ((torch, tck), (flambeau, fck)):
        args = (lib.ones(2), [lib.zeros(1), {"a": lib.ones(3)}], 5)
        assert ck.get_device_states(*args) == ([], [])  # CPU tensors carry no device RNG state
        ck.set_device_states([], [])
        assert lib.cuda._initialized == lib.cuda.is_initialized()
    if flambeau.cuda.is_available():
        x = flambeau.ones(2, device="cuda")
        ids, states = fck.get_device_states(x)
        a = flambeau.rand(3, device="cuda")
        fck.set_device_states(ids, states)
        assert ids == [0] and bool((flambeau.rand(3, device="cuda") == a).all())
