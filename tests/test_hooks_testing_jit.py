"""nn.Module backward hooks, flambeau.testing, flambeau.jit, flambeau.distributed (guards) and
flambeau.multiprocessing, against PyTorch where PyTorch defines the behaviour."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as fnn
import flambeau.nn.modules.module as fmodule
import torch.nn.modules.module as tmodule


# ---------------------------------------------------------------- helpers
def _lib(lib):
    return (torch, torch.nn) if lib == "torch" else (flambeau, fnn)


def _np(t):
    return None if t is None else t.detach().numpy()


def _same_weights(fm, tm):
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _close(a, b, tol=1e-5):
    if a is None or b is None:
        assert a is None and b is None, (a, b)
        return
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _close_tuple(fa, ta, tol=1e-5):
    assert len(fa) == len(ta)
    for x, y in zip(fa, ta):
        _close(x, y, tol)


def _cnn(lib):
    L, nn = _lib(lib)
    L.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))


def _pair_cnn():
    tm = _cnn("torch")
    fm = _cnn("flambeau")
    _same_weights(fm, tm)
    return fm, tm


# ---------------------------------------------------------------- module backward hooks
def test_gradcam_matches_torch():
    """Grad-CAM: forward hook keeps the target conv's activation, full backward hook its grad_output."""
    fm, tm = _pair_cnn()
    x = np.random.rand(2, 3, 7, 7).astype(np.float32)
    res = {}
    for name, m, L in (("f", fm, flambeau), ("t", tm, torch)):
        store = {}
        target = m[2]
        h1 = target.register_forward_hook(lambda mod, inp, out, s=store: s.__setitem__("act", out.detach()))
        h2 = target.register_full_backward_hook(
            lambda mod, gi, go, s=store: s.update(grad=go[0].detach(), gi=gi, n=s.get("n", 0) + 1))
        logits = m(L.tensor(x))
        cls = logits.argmax(1)
        logits.gather(1, cls[:, None]).sum().backward()
        weights = store["grad"].mean(dim=(2, 3), keepdim=True)
        cam = L.relu((weights * store["act"]).sum(1))
        store["cam"] = cam
        res[name] = store
        h1.remove()
        h2.remove()
    assert res["f"]["n"] == res["t"]["n"] == 1
    _close(res["f"]["act"], res["t"]["act"])
    _close(res["f"]["grad"], res["t"]["grad"])
    _close(res["f"]["cam"], res["t"]["cam"])
    assert len(res["f"]["gi"]) == len(res["t"]["gi"]) == 1
    _close(res["f"]["gi"][0], res["t"]["gi"][0])
    # the parameter gradients are unchanged by an observing hook
    for (k, fp), (_, tp) in zip(fm.named_parameters(), tm.named_parameters()):
        _close(fp.grad, tp.grad)


def _mlp(lib):
    L, nn = _lib(lib)
    L.manual_seed(1)
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid(), nn.Linear(3, 2))
    return m


@pytest.mark.parametrize("kind", ["grad_input", "grad_output"])
def test_hook_modifies_gradients_like_torch(kind):
    tm = _mlp("torch")
    fm = _mlp("flambeau")
    _same_weights(fm, tm)
    x = np.random.randn(6, 4).astype(np.float32)
    seen = {}
    for name, m, L in (("f", fm, flambeau), ("t", tm, torch)):
        if kind == "grad_input":
            m[2].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 3.0,))
        else:
            m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * -0.5,))
        # a second hook sees what the first returned / what the pre-hook produced
        m[2].register_full_backward_hook(lambda mod, gi, go, n=name: seen.__setitem__(n, (gi, go)))
        xt = L.tensor(x, requires_grad=True)
        m(xt).pow(2).sum().backward()
        seen[name + "x"] = xt.grad
    _close(seen["fx"], seen["tx"])
    _close_tuple(seen["f"][0], seen["t"][0])
    _close_tuple(seen["f"][1], seen["t"][1])
    for (k, fp), (_, tp) in zip(fm.named_parameters(), tm.named_parameters()):
        _close(fp.grad, tp.grad)


def _multi(lib):
    L, nn = _lib(lib)

    class M(nn.Module):
        def forward(self, a, b, k):
            return a * 2 + b, b * 3, k

    return M()


@pytest.mark.parametrize("case", ["both_used", "first_only", "second_only", "b_no_grad", "no_input_grad"])
def test_grad_input_grad_output_none_pattern_matches_torch(case):
    a = np.random.randn(2, 3).astype(np.float32)
    b = np.random.randn(2, 3).astype(np.float32)
    out = {}
    for lib in ("flambeau", "torch"):
        L, _ = _lib(lib)
        m = _multi(lib)
        calls = []
        m.register_full_backward_pre_hook(lambda mod, go: calls.append(("pre", go)))
        m.register_full_backward_hook(lambda mod, gi, go: calls.append(("full", gi, go)))
        ta = L.tensor(a, requires_grad=case != "no_input_grad")
        tb = L.tensor(b, requires_grad=case not in ("b_no_grad", "no_input_grad"))
        p, q, k = m(ta, tb, 7)
        assert k == 7
        if case == "no_input_grad":
            assert p.grad_fn is None and q.grad_fn is None
            out[lib] = calls
            continue
        assert p.grad_fn is q.grad_fn or case == "b_no_grad"
        loss = {"both_used": lambda: (p * p).sum() + q.sum(), "first_only": lambda: (p * p).sum(),
                "second_only": lambda: q.sum(), "b_no_grad": lambda: (p * p).sum()}[case]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss.backward()
        out[lib] = calls
    fc, tc = out["flambeau"], out["torch"]
    assert [c[0] for c in fc] == [c[0] for c in tc]
    assert len(tc) == (0 if case == "no_input_grad" else 2)
    for f, t in zip(fc, tc):
        for fs, ts in zip(f[1:], t[1:]):
            assert [x is None for x in fs] == [x is None for x in ts]
            _close_tuple(fs, ts)


def test_no_input_requires_grad_fires_from_outputs_with_warning():
    out = {}
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        L.manual_seed(0)
        lin = nn.Linear(3, 2)
        calls = []
        lin.register_full_backward_hook(lambda mod, gi, go: calls.append((gi, go)))
        y = lin(L.ones(4, 3))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y.sum().backward()
        assert any("no inputs require gradients" in str(x.message) for x in w)
        out[lib] = calls
    assert len(out["flambeau"]) == len(out["torch"]) == 1
    assert out["flambeau"][0][0] == (None,) and out["torch"][0][0] == (None,)
    _close_tuple(out["flambeau"][0][1], out["torch"][0][1])


def test_fires_once_with_several_outputs_and_removal():
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        lstm = nn.LSTM(3, 4, batch_first=True)
        n = [0]
        h = lstm.register_full_backward_hook(lambda mod, gi, go: n.__setitem__(0, n[0] + 1))
        x = L.randn(2, 5, 3, requires_grad=True)
        out, (hn, cn) = lstm(x)
        (out.sum() + hn.sum() + cn.sum()).backward()
        assert n[0] == 1, lib
        h.remove()
        out, (hn, cn) = lstm(x)
        out.sum().backward()
        assert n[0] == 1, lib
        with lstm.register_full_backward_pre_hook(lambda mod, go: n.__setitem__(0, n[0] + 10)):
            lstm(x)[0].sum().backward()
        lstm(x)[0].sum().backward()
        assert n[0] == 11, lib


def _order_model(lib, log):
    L, nn = _lib(lib)
    L.manual_seed(0)
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Tanh()), nn.Linear(4, 2))
    for name, mod in seq.named_modules():
        name = name or "root"
        mod.register_full_backward_pre_hook(lambda m, go, n=name: log.append("pre:" + n))
        mod.register_full_backward_hook(lambda m, gi, go, n=name: log.append("full:" + n))
    mod = seq[2][0]
    mod.register_full_backward_hook(lambda m, gi, go: log.append("full:prepended"), prepend=True)
    mod.register_full_backward_pre_hook(lambda m, go: log.append("pre:prepended"), prepend=True)
    return seq


@pytest.mark.parametrize("input_grad", [True, False])
def test_sequential_firing_order_matches_torch(input_grad):
    logs = {}
    for lib in ("flambeau", "torch"):
        L, _ = _lib(lib)
        log = []
        seq = _order_model(lib, log)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq(L.randn(5, 3, requires_grad=input_grad)).sum().backward()
        logs[lib] = log
    assert len(logs["torch"]) > 10 and logs["torch"][0] == "pre:root"
    assert logs["flambeau"] == logs["torch"]


def test_deprecated_backward_hook_and_mixing_errors():
    x = np.random.randn(3, 4).astype(np.float32)
    res = {}
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        m = nn.Sigmoid()
        got = []
        m.register_backward_hook(lambda mod, gi, go: got.append((gi, go)))
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            m.register_full_backward_hook(lambda *a: None)
        xt = L.tensor(x, requires_grad=True)
        with pytest.warns(FutureWarning, match="non-full backward hook"):
            y = m(xt)
        y.sum().backward()
        res[lib] = got
        m2 = nn.Tanh()
        m2.register_full_backward_hook(lambda *a: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            m2.register_backward_hook(lambda *a: None)
    assert len(res["flambeau"]) == len(res["torch"]) == 1
    _close_tuple(res["flambeau"][0][0], res["torch"][0][0])
    _close_tuple(res["flambeau"][0][1], res["torch"][0][1])


def test_global_module_hooks():
    res = {}
    for lib, mod in (("flambeau", fmodule), ("torch", tmodule)):
        L, nn = _lib(lib)
        L.manual_seed(0)
        seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        log = []
        hs = [mod.register_module_forward_pre_hook(lambda m, a: log.append("fpre:" + type(m).__name__)),
              mod.register_module_forward_hook(lambda m, a, o: log.append("fwd:" + type(m).__name__)),
              mod.register_module_full_backward_hook(lambda m, gi, go: log.append("bwd:" + type(m).__name__)),
              mod.register_module_full_backward_pre_hook(lambda m, go: log.append("bpre:" + type(m).__name__))]
        seq.register_forward_hook(lambda m, a, o: log.append("own_fwd"))
        try:
            seq(L.randn(2, 3, requires_grad=True)).sum().backward()
        finally:
            for h in hs:
                h.remove()
        seq(L.randn(2, 3, requires_grad=True)).sum().backward()
        res[lib] = log
    assert res["flambeau"] == res["torch"]


def test_inplace_on_hooked_output_raises_like_torch():
    msgs = {}
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        L.manual_seed(0)
        seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU(inplace=True))
        seq[0].register_full_backward_hook(lambda *a: None)
        with pytest.raises(RuntimeError) as e1:
            seq(L.randn(2, 3, requires_grad=True))
        lin = nn.Linear(3, 3)
        lin.register_full_backward_pre_hook(lambda *a: None)
        y = lin(L.randn(2, 3, requires_grad=True))
        with pytest.raises(RuntimeError) as e2:
            y += 1
        with L.no_grad():
            y.mul_(2)  # allowed without autograd, as in torch
        msgs[lib] = (str(e1.value), str(e2.value))
    assert msgs["flambeau"] == msgs["torch"]


def test_hook_returning_wrong_count_raises():
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        lin = nn.Linear(3, 3)
        lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 2, "
                                               "but expected 1"):
            lin(L.randn(2, 3, requires_grad=True)).sum().backward()
        lin2 = nn.Linear(3, 3)
        lin2.register_full_backward_pre_hook(lambda m, go: ())
        with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output, got 0, "
                                               "but expected 1"):
            lin2(L.randn(2, 3, requires_grad=True)).sum().backward()


def test_hooks_do_nothing_under_no_grad():
    for lib in ("flambeau", "torch"):
        L, nn = _lib(lib)
        lin = nn.Linear(3, 3)
        lin.register_full_backward_hook(lambda *a: None)
        with L.no_grad():
            y = lin(L.randn(2, 3, requires_grad=True))
        assert y.grad_fn is None
        y += 1  # not a hooked view: fine


# ---------------------------------------------------------------- flambeau.testing
def _assert_close_outcome(lib, make):
    L, _ = _lib(lib)
    try:
        make(L)
    except Exception as e:  # noqa: BLE001
        msg = str(e).replace("flambeau._tensor.Tensor", "LIB.Tensor")
        return type(e).__name__, msg.replace("torch.", "LIB.").replace("flambeau.", "LIB.")
    return "ok", ""


_CASES = [
    lambda L: L.testing.assert_close(L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.0, 3.0])),
    lambda L: L.testing.assert_close(L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 4.0, 5.0])),
    lambda L: L.testing.assert_close(L.tensor([[1.0, 2.0], [3.0, 7.0]]), L.tensor([[1.0, 2.0], [3.0, 7.0001]])),
    lambda L: L.testing.assert_close(L.tensor([[1.0, 2.0], [3.0, 7.0]]), L.tensor([[1.0, 2.0], [3.0, 7.000001]])),
    lambda L: L.testing.assert_close(L.tensor([1.0], dtype=L.float64), L.tensor([1.0 + 1e-6], dtype=L.float64)),
    lambda L: L.testing.assert_close(L.tensor([1, 2, 3]), L.tensor([1, 2, 5])),
    lambda L: L.testing.assert_close(L.tensor([True, False]), L.tensor([True, True])),
    lambda L: L.testing.assert_close(L.tensor(float("nan")), L.tensor(float("nan"))),
    lambda L: L.testing.assert_close(L.tensor([float("nan"), 1.0]), L.tensor([float("nan"), 1.0]), equal_nan=True),
    lambda L: L.testing.assert_close(L.tensor(2.0), L.tensor(2.5)),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([1.0], dtype=L.float64), check_dtype=False),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([1.0, 2.0])),
    lambda L: L.testing.assert_close(L.ones(2, 3), L.ones(3, 2).t(), check_stride=True),
    lambda L: L.testing.assert_close(L.ones(2, 3), L.ones(3, 2).t().contiguous().t().t()),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([1.05]), rtol=0.1, atol=0.0),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([1.5]), rtol=0.1, atol=0.0),
    lambda L: L.testing.assert_close(L.tensor([1.0]), L.tensor([2.0]), rtol=0.1),
    lambda L: L.testing.assert_close(1.0, 1),
    lambda L: L.testing.assert_close(1.0, 1, check_dtype=False),
    lambda L: L.testing.assert_close(1.0, 1.0 + 1e-9),
    lambda L: L.testing.assert_close(3, 4),
    lambda L: L.testing.assert_close(None, None),
    lambda L: L.testing.assert_close(None, 1),
    lambda L: L.testing.assert_close(True, False),
    lambda L: L.testing.assert_close("a", "a"),
    lambda L: L.testing.assert_close([L.tensor(1.0), {"a": (L.tensor([1.0, 2.0]),)}],
                                     [L.tensor(1.0), {"a": (L.tensor([1.0, 3.0]),)}]),
    lambda L: L.testing.assert_close({"a": 1}, {"b": 1}),
    lambda L: L.testing.assert_close([1, 2], [1, 2, 3]),
    lambda L: L.testing.assert_close((L.zeros(2), 1.0), [L.zeros(2), 1.0]),
    lambda L: L.testing.assert_close(L.tensor([1.0]), np.array([1.0], dtype=np.float32)),
    lambda L: L.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1])),
    lambda L: L.testing.assert_close(L.tensor([1.0, 2.0]), L.tensor([1.0, 3.0]), msg="custom message"),
    lambda L: L.testing.assert_close(L.tensor([1.0, 2.0]), L.tensor([1.0, 3.0]), msg=lambda m: "Header\n" + m),
    lambda L: L.testing.assert_close(L.zeros(3, 4)[:, ::2], L.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 1e-3]])),
    lambda L: L.testing.assert_close(L.nn.Parameter(L.ones(2)), L.ones(2)),
    lambda L: L.testing.assert_close(L.nn.Parameter(L.ones(2)), L.ones(2), allow_subclasses=False),
]


@pytest.mark.parametrize("k", range(len(_CASES)))
def test_assert_close_matches_torch(k):
    f = _assert_close_outcome("flambeau", _CASES[k])
    t = _assert_close_outcome("torch", _CASES[k])
    assert f == t


def test_assert_allclose_deprecated_and_loose():
    with pytest.warns(FutureWarning):
        flambeau.testing.assert_allclose(flambeau.tensor([1.0]), [1.00005])
    with pytest.warns(FutureWarning), pytest.raises(AssertionError):
        flambeau.testing.assert_allclose(flambeau.tensor([1.0]), [1.1])


def test_make_tensor():
    mt = flambeau.testing.make_tensor
    t = mt(4, 5, dtype=flambeau.float32, device="cpu")
    assert t.shape == (4, 5) and t.dtype == flambeau.float32 and t.is_contiguous()
    v = t.numpy()
    assert (v >= -9).all() and (v < 9).all()
    t = mt((3, 4), dtype=flambeau.float64, device="cpu", low=-1, high=1, noncontiguous=True, requires_grad=True)
    assert t.shape == (3, 4) and not t.is_contiguous() and t.requires_grad and t.is_leaf
    assert (t.detach().abs().numpy() < 1).all()
    t = mt([200], dtype=flambeau.int64, device="cpu", low=0, high=3, exclude_zero=True)
    assert set(np.unique(t.numpy())) <= {1, 2}
    t = mt(50, dtype=flambeau.bool, device="cpu")
    assert t.dtype == flambeau.bool
    with pytest.raises(ValueError, match="requires_grad=True` is not supported"):
        mt(2, dtype=flambeau.int64, device="cpu", requires_grad=True)
    with pytest.raises(ValueError, match="`low` must be less than `high`"):
        mt(2, dtype=flambeau.float32, device="cpu", low=2, high=1)
    assert mt(dtype=flambeau.float32, device="cpu").shape == ()


# ---------------------------------------------------------------- flambeau.jit
def test_jit_is_a_passthrough():
    jit = flambeau.jit
    m = fnn.Linear(2, 2)

    def f(x):
        return x * 2

    assert jit.script(m) is m and jit.script(f) is f
    assert jit.trace(f, (flambeau.ones(2),)) is f and jit.trace(m, flambeau.ones(1, 2)) is m
    assert jit.trace_module(m, {"forward": flambeau.ones(1, 2)}) is m
    assert jit.freeze(m) is m and jit.optimize_for_inference(m) is m
    assert jit.ignore(f) is f and jit.ignore(drop=True)(f) is f
    assert jit.unused(f) is f and jit.export(f) is f and jit.interface(fnn.Linear) is fnn.Linear
    assert jit.is_scripting() is False and jit.is_tracing() is False
    assert jit.annotate(list, [1]) == [1]
    assert jit.fork(f, flambeau.ones(1)).wait().item() == 2.0
    assert not isinstance(m, jit.ScriptModule)

    class WithFinal(fnn.Module):
        n: jit.Final[int] = 3

    assert WithFinal.n == 3
    for fn, args in ((jit.save, (m, "/nonexistent/x.pt")), (jit.load, ("/nonexistent/x.pt",))):
        with pytest.raises(NotImplementedError, match="state_dict"):
            fn(*args)


# ---------------------------------------------------------------- flambeau.distributed
def test_distributed_guards_before_init():
    # flambeau.distributed is real now (tests/test_distributed*.py); before init_process_group the usual
    # guards see an available, uninitialised package, and calls needing a group raise PyTorch's ValueError.
    dist = flambeau.distributed
    assert dist.is_available() is True and dist.is_initialized() is False
    assert dist.is_gloo_available() and not dist.is_nccl_available()
    for fn, args in ((dist.get_rank, ()), (dist.get_world_size, ()), (dist.barrier, ()),
                     (dist.all_reduce, (flambeau.ones(1),)), (dist.broadcast, (flambeau.ones(1), 0))):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn(*args)
    with pytest.raises(RuntimeError, match="doesn't have NCCL built in"):
        dist.init_process_group("nccl")
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    assert rank == 0
    assert dist.ReduceOp.SUM is not None and dist.group.WORLD is None


# ---------------------------------------------------------------- flambeau.multiprocessing
def _mp_worker(i, q, t, received):
    q.put((i, t * (i + 1)))
    # A tensor on a Queue travels as a shared-memory file descriptor that the receiver fetches from this
    # process (as PyTorch's): stay alive until it has (PyTorch's rule for producers)
    received.wait(60)


def _mp_failing_worker(i):
    raise ValueError(f"boom from {i}")


def test_multiprocessing_spawn_with_queue_and_tensors():
    mp = flambeau.multiprocessing
    assert mp.cpu_count() >= 1 and mp.get_context is not None and mp.Process is not None
    ctx = mp.get_context("spawn")
    q, received = ctx.Queue(), ctx.Event()
    t = flambeau.arange(3.0)
    procs = mp.spawn(_mp_worker, args=(q, t, received), nprocs=2, join=False)
    got = sorted(q.get(timeout=30) for _ in range(2))
    received.set()
    procs.join()
    assert all(r.is_shared() for _, r in got) and t.is_shared()
    assert [i for i, _ in got] == [0, 1]
    for i, r in got:
        assert isinstance(r, flambeau.Tensor)
        np.testing.assert_array_equal(r.numpy(), np.arange(3.0) * (i + 1))
    with pytest.raises(mp.ProcessRaisedException, match="ValueError: boom from 0") as e:
        mp.spawn(_mp_failing_worker, nprocs=1)
    assert e.value.error_index == 0 and "-- Process 0 terminated with the following error" in str(e.value)
