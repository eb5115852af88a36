"""The optimizers' two paths: one fused multi-tensor kernel call per param group (optim/_fused.py,
the default on the CPU) and the per-parameter Python path (the fallback for what the kernels do not
take). Shows which path a step takes (the _fused functions are wrapped to count calls) and that both
follow torch.optim (its single-tensor path, the CPU default) to the tolerances of
test_optimizers.py: mixed float32/float64 params in one group, params without grad, non-contiguous
params, every option, state_dict round trips mid-training (also across the two paths and from
PyTorch's state), autograd's check of in-place updates, and the cases that must fall back
(differentiable=True, grad of another dtype or shape, a parameter listed twice, non-finite lr, beta
out of range, Nesterov without momentum)."""
import copy
import inspect
import math

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn, optim
from flambeau.optim import optimizer as optimizer_mod

STEPS = 6
# shapes of one "model": float32 and float64 mixed, a scalar, one big enough to be split across
# threads; index 2 never gets a gradient
SHAPES = [(7, 5), (5,), (4, 3), (), (3, 7), (3,), (2500,)]
DTYPES = ["float32", "float64", "float32", "float64", "float64", "float32", "float32"]
NO_GRAD = {2}
TOL = {"float32": dict(atol=1e-5, rtol=1e-4), "float64": dict(atol=1e-12, rtol=1e-10)}

KERNEL = {"SGD": "fused_sgd_", "Adam": "fused_adam_", "AdamW": "fused_adam_", "RMSprop": "fused_rmsprop_",
          "Adagrad": "fused_adagrad_"}

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.05)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, maximize=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, maximize=True)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CASES)]


@pytest.fixture(params=["fused", "fallback"])
def path(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setattr(optimizer_mod, "_use_fused_kernels", False)
    return request.param


def _data(seed=0, steps=STEPS, shapes=SHAPES, dtypes=DTYPES):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    grads = [[rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)] for _ in range(steps)]
    return init, grads


def _torch_params(init):
    return [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]


def _flb_params(init):
    return [nn.Parameter(flambeau.from_numpy(a.copy())) for a in init]


def _set_grads(lib, params, grads, no_grad=NO_GRAD):
    for i, (p, g) in enumerate(zip(params, grads)):
        p.grad = None if i in no_grad else lib.from_numpy(g.copy())


def _run(lib, params, opt, grads, no_grad=NO_GRAD):
    for g in grads:
        _set_grads(lib, params, g, no_grad)
        opt.step()


def _torch_opt(name, params, kw):
    # on the CPU, torch.optim's default (foreach=None) is its single-tensor path
    return getattr(torch.optim, name)(params, **kw)


def _assert_params_close(fparams, tparams):
    for i, (fp, tp) in enumerate(zip(fparams, tparams)):
        t = tp.detach().numpy()
        f = fp.detach().numpy()
        assert f.dtype == t.dtype, i
        np.testing.assert_allclose(f, t, err_msg=f"param {i}", **TOL[str(t.dtype)])


def _assert_state_matches(fopt, topt):
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert fsd["param_groups"] == tsd["param_groups"]
    assert fsd["state"].keys() == tsd["state"].keys()
    for k, tstate in tsd["state"].items():
        assert fsd["state"][k].keys() == tstate.keys(), k
        for key, tv in tstate.items():
            fv = fsd["state"][k][key]
            tv = tv.detach().numpy()
            fv = fv.detach().numpy()
            assert fv.dtype == tv.dtype, (k, key)
            np.testing.assert_allclose(fv, tv, err_msg=f"state {k} {key}", **TOL[str(tv.dtype)])


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_both_paths_follow_pytorch_mixed_dtypes(name, kw, path, fused_calls):
    init, grads = _data()
    tparams = _torch_params(init)
    topt = _torch_opt(name, tparams, kw)
    _run(torch, tparams, topt, grads)
    fparams = _flb_params(init)
    fopt = getattr(optim, name)(fparams, **kw)
    _run(flambeau, fparams, fopt, grads)

    expected = STEPS if path == "fused" else 0
    assert fused_calls[KERNEL[name]] == expected
    assert sum(fused_calls.values()) == expected
    _assert_params_close(fparams, tparams)
    # the param without grad did not move, and has no state (but Adagrad's, created eagerly)
    for i in NO_GRAD:
        assert np.array_equal(fparams[i].detach().numpy(), init[i])
    _assert_state_matches(fopt, topt)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_fused_and_fallback_agree(name, kw, monkeypatch):
    init, grads = _data(seed=3)
    results = []
    for use in (True, False):
        monkeypatch.setattr(optimizer_mod, "_use_fused_kernels", use)
        params = _flb_params(init)
        opt = getattr(optim, name)(params, **kw)
        _run(flambeau, params, opt, grads)
        results.append((params, opt.state_dict()))
    (fp, fsd), (sp, ssd) = results
    for i, (a, b) in enumerate(zip(fp, sp)):
        a, b = a.detach().numpy(), b.detach().numpy()
        np.testing.assert_allclose(a, b, err_msg=f"param {i}", **TOL[str(b.dtype)])
    assert fsd["state"].keys() == ssd["state"].keys()
    for k in fsd["state"]:
        assert fsd["state"][k].keys() == ssd["state"][k].keys()
        for key, v in fsd["state"][k].items():
            w = ssd["state"][k][key]
            assert v.dtype == w.dtype and v.shape == w.shape, (k, key)
            np.testing.assert_allclose(v.numpy(), w.numpy(), **TOL[str(w.numpy().dtype)])


@pytest.mark.parametrize("name,kw", [CASES[1], CASES[2], CASES[5], CASES[8], CASES[11], CASES[12]],
                         ids=[IDS[1], IDS[2], IDS[5], IDS[8], IDS[11], IDS[12]])
def test_non_contiguous_params_and_grads(name, kw, path, fused_calls):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal((5, 3)).astype("float64")]
    grads = [[rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal((5, 3)).astype("float64")]
             for _ in range(STEPS)]
    # parameters are transposed views (leaf, non-contiguous); grads are transposed views too
    tparams = [torch.nn.Parameter(torch.from_numpy(a.copy()).t()) for a in init]
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy()).t()) for a in init]
    assert not fparams[0].is_contiguous()
    topt = _torch_opt(name, tparams, kw)
    fopt = getattr(optim, name)(fparams, **kw)
    for g in grads:
        for tp, fp, a in zip(tparams, fparams, g):
            tp.grad = torch.from_numpy(a.copy()).t()
            fp.grad = flambeau.from_numpy(a.copy()).t()
        topt.step()
        fopt.step()
    assert fused_calls[KERNEL[name]] == (STEPS if path == "fused" else 0)
    _assert_params_close(fparams, tparams)
    _assert_state_matches(fopt, topt)


def _groups(params, name):
    """Two groups with different options (the second with its own lr and weight decay)."""
    extra = {"lr": 0.003, "weight_decay": 0.2}
    if name == "SGD":
        extra["momentum"] = 0.5
    return [{"params": params[:3]}, dict(params=params[3:], **extra)]


@pytest.mark.parametrize("name,kw", [CASES[1], CASES[6], CASES[7], CASES[11], CASES[12]],
                         ids=[IDS[1], IDS[6], IDS[7], IDS[11], IDS[12]])
def test_state_dict_round_trip_mid_training(name, kw, path, tmp_path):
    """Save after 3 steps, go on; load into a fresh optimizer (and fresh params), continue: the
    same trajectory exactly. Both match PyTorch."""
    init, grads = _data(seed=7, steps=7)
    tparams = _torch_params(init)
    topt = _torch_opt(name, _groups(tparams, name), kw)
    _run(torch, tparams, topt, grads)

    fparams = _flb_params(init)
    fopt = getattr(optim, name)(_groups(fparams, name), **kw)
    _run(flambeau, fparams, fopt, grads[:3])
    ckpt = tmp_path / "ckpt.flb"
    flambeau.save({"params": [p.detach() for p in fparams], "opt": fopt.state_dict()}, ckpt)
    _run(flambeau, fparams, fopt, grads[3:])

    saved = flambeau.load(ckpt)
    fparams2 = [nn.Parameter(t.clone()) for t in saved["params"]]
    fopt2 = getattr(optim, name)(_groups(fparams2, name), **kw)
    fopt2.load_state_dict(saved["opt"])
    _run(flambeau, fparams2, fopt2, grads[3:])

    for a, b in zip(fparams, fparams2):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    _assert_params_close(fparams, tparams)
    _assert_state_matches(fopt, topt)
    _assert_state_matches(fopt2, topt)


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[5], CASES[10], CASES[12]],
                         ids=[IDS[2], IDS[5], IDS[10], IDS[12]])
def test_switching_paths_mid_training(name, kw, monkeypatch):
    """The two paths keep the same state: 3 steps on one, state_dict, 3 on the other."""
    init, grads = _data(seed=11)
    tparams = _torch_params(init)
    topt = _torch_opt(name, tparams, kw)
    _run(torch, tparams, topt, grads)
    for first in (True, False):
        monkeypatch.setattr(optimizer_mod, "_use_fused_kernels", first)
        fparams = _flb_params(init)
        fopt = getattr(optim, name)(fparams, **kw)
        _run(flambeau, fparams, fopt, grads[:3])
        sd = copy.deepcopy(fopt.state_dict())
        monkeypatch.setattr(optimizer_mod, "_use_fused_kernels", not first)
        fopt2 = getattr(optim, name)(fparams, **kw)
        fopt2.load_state_dict(sd)
        _run(flambeau, fparams, fopt2, grads[3:])
        _assert_params_close(fparams, tparams)
        _assert_state_matches(fopt2, topt)


@pytest.mark.parametrize("name,kw", [CASES[1], CASES[6], CASES[11], CASES[12]],
                         ids=[IDS[1], IDS[6], IDS[11], IDS[12]])
def test_continue_from_pytorch_state(name, kw, fused_calls):
    """A torch.optim state_dict taken mid-training, converted and loaded, continues on the fused path."""
    init, grads = _data(seed=13)
    tparams = _torch_params(init)
    topt = _torch_opt(name, tparams, kw)
    _run(torch, tparams, topt, grads[:3])
    tsd = topt.state_dict()
    fsd = {"param_groups": copy.deepcopy(tsd["param_groups"]),
           "state": {k: {kk: flambeau.from_numpy(vv.numpy().copy()) for kk, vv in v.items()}
                     for k, v in tsd["state"].items()}}
    fparams = [nn.Parameter(flambeau.from_numpy(p.detach().numpy().copy())) for p in tparams]
    fopt = getattr(optim, name)(fparams, **kw)
    fopt.load_state_dict(fsd)
    _run(torch, tparams, topt, grads[3:])
    _run(flambeau, fparams, fopt, grads[3:])
    assert fused_calls[KERNEL[name]] == STEPS - 3
    _assert_params_close(fparams, tparams)
    _assert_state_matches(fopt, topt)


def test_int64_step_counter_and_tensor_lr_stay_fused(fused_calls):
    init, grads = _data(seed=17)
    tparams = _torch_params(init)
    # flambeau uses a Tensor lr's value as a Python float (optimizer._to_scalar) on both paths
    topt = _torch_opt("Adam", tparams, dict(lr=float(np.float32(0.01))))
    _run(torch, tparams, topt, grads)
    fparams = _flb_params(init)
    fopt = optim.Adam(fparams, lr=flambeau.tensor(0.01))
    _run(flambeau, fparams, fopt, grads[:1])
    for st in fopt.state.values():
        st["step"] = st["step"].long()
    _run(flambeau, fparams, fopt, grads[1:])
    assert fused_calls["fused_adam_"] == STEPS
    assert all(st["step"].dtype == flambeau.int64 and st["step"].item() == STEPS
               for st in fopt.state.values())
    _assert_params_close(fparams, tparams)


def test_sgd_momentum_buffers_live_in_state(fused_calls):
    init, grads = _data(seed=19)
    fparams = _flb_params(init)
    opt = optim.SGD(fparams, lr=0.1, momentum=0.9)
    _run(flambeau, fparams, opt, grads[:1])
    assert fused_calls["fused_sgd_"] == 1
    for i, p in enumerate(fparams):
        if i in NO_GRAD:
            assert p not in opt.state
            continue
        buf = opt.state[p]["momentum_buffer"]
        assert buf.dtype == p.dtype and buf.shape == p.shape
        # the first buffer is the first gradient
        np.testing.assert_array_equal(buf.numpy(), grads[0][i])
    # without momentum, no state at all (as torch)
    opt = optim.SGD(fparams, lr=0.1)
    _run(flambeau, fparams, opt, grads[:1])
    assert len(opt.state) == 0


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_step_between_forward_and_backward_is_detected(name, path, fused_calls):
    """A parameter saved for backward and then updated by step(): backward raises, as in torch
    (the fused kernels bump the version counters of what they write)."""
    p = nn.Parameter(flambeau.randn(3))
    p.grad = flambeau.randn(3)
    opt = getattr(optim, name)([p], lr=0.1)
    opt.step()
    versions = {k: v._impl.version for k, v in opt.state[p].items()}
    y = (p * p).sum()
    opt.step()
    assert fused_calls[KERNEL[name]] == (2 if path == "fused" else 0)
    assert all(v._impl.version > versions[k] for k, v in opt.state[p].items())
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ---------------------------------------------------------------------- what falls back
def _one_step_counts(fused_calls, name, params, grads, **kw):
    opt = getattr(optim, name)(params, **kw)
    before = dict(fused_calls)
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    return sum(fused_calls.values()) - sum(before.values()), opt


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_differentiable_falls_back(name, fused_calls):
    p = nn.Parameter(flambeau.randn(4))
    n, _ = _one_step_counts(fused_calls, name, [p], [flambeau.randn(4)], lr=0.1, differentiable=True)
    assert n == 0
    q = nn.Parameter(flambeau.randn(4))
    n, _ = _one_step_counts(fused_calls, name, [q], [flambeau.randn(4)], lr=0.1)
    assert n == 1


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_grad_of_other_dtype_or_shape_falls_back(name, fused_calls):
    # the Python path promotes / broadcasts such grads; the kernel would reject them
    p64 = nn.Parameter(flambeau.randn(4, dtype=flambeau.float64))
    n, _ = _one_step_counts(fused_calls, name, [p64], [flambeau.randn(4)], lr=0.1)
    assert n == 0
    p = nn.Parameter(flambeau.randn(2, 3))
    n, _ = _one_step_counts(fused_calls, name, [p], [flambeau.randn(3)], lr=0.1)
    assert n == 0


def test_state_of_another_dtype_falls_back(fused_calls):
    # state set by hand to another dtype: the Python path updates it in place (rounding to its
    # dtype), the kernel would reject it
    p = nn.Parameter(flambeau.randn(4, dtype=flambeau.float64))
    n, opt = _one_step_counts(fused_calls, "Adam", [p], [flambeau.randn(4, dtype=flambeau.float64)], lr=0.1)
    assert n == 1
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].float()
    opt.step()
    assert fused_calls["fused_adam_"] == 1
    assert opt.state[p]["exp_avg"].dtype == flambeau.float32 and opt.state[p]["step"].item() == 2
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].double()
    opt.step()
    assert fused_calls["fused_adam_"] == 2


def test_duplicate_param_non_finite_lr_and_odd_groups_fall_back(fused_calls):
    rng = np.random.default_rng(23)
    a = rng.standard_normal(5).astype("float32")
    g = rng.standard_normal(5).astype("float32")
    # a parameter listed twice (torch warns) is updated twice in turn, as torch does
    tp = torch.nn.Parameter(torch.from_numpy(a.copy()))
    fp = nn.Parameter(flambeau.from_numpy(a.copy()))
    with pytest.warns(UserWarning, match="duplicate"):
        topt = torch.optim.Adam([tp, tp], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate"):
        fopt = optim.Adam([fp, fp], lr=0.1)
    for _ in range(3):
        tp.grad = torch.from_numpy(g.copy())
        fp.grad = flambeau.from_numpy(g.copy())
        topt.step()
        fopt.step()
    assert fused_calls["fused_adam_"] == 0
    _assert_params_close([fp], [tp])

    # a non-finite lr or a beta out of range set on the group afterwards
    n, opt = _one_step_counts(fused_calls, "SGD", [nn.Parameter(flambeau.ones(2))], [flambeau.ones(2)], lr=0.1)
    assert n == 1
    opt.param_groups[0]["lr"] = math.inf
    opt.step()
    assert fused_calls["fused_sgd_"] == 1
    n, opt = _one_step_counts(fused_calls, "Adam", [nn.Parameter(flambeau.ones(2))], [flambeau.ones(2)], lr=0.1)
    opt.param_groups[0]["betas"] = (0.9, 1.0)
    opt.step()
    assert fused_calls["fused_adam_"] == 1

    # Nesterov in a group without momentum (only the defaults are validated): plain SGD, as torch
    tp = torch.nn.Parameter(torch.from_numpy(a.copy()))
    fp = nn.Parameter(flambeau.from_numpy(a.copy()))
    topt = torch.optim.SGD([{"params": [tp], "momentum": 0}], lr=0.1, momentum=0.9, nesterov=True)
    fopt = optim.SGD([{"params": [fp], "momentum": 0}], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(2):
        tp.grad = torch.from_numpy(g.copy())
        fp.grad = flambeau.from_numpy(g.copy())
        topt.step()
        fopt.step()
    assert fused_calls["fused_sgd_"] == 1
    _assert_params_close([fp], [tp])


def test_fallback_is_per_group(fused_calls):
    """One group the kernel takes, one it does not (differentiable): one kernel call per step."""
    init, grads = _data(seed=29)
    tparams = _torch_params(init)
    topt = _torch_opt("RMSprop", [{"params": tparams[:4]}, {"params": tparams[4:], "momentum": 0.3}],
                      dict(lr=0.01, centered=True))
    _run(torch, tparams, topt, grads)
    fparams = _flb_params(init)
    fopt = optim.RMSprop([{"params": fparams[:4]},
                          {"params": fparams[4:], "momentum": 0.3, "differentiable": True}],
                         lr=0.01, centered=True)
    _run(flambeau, fparams, fopt, grads)
    assert fused_calls["fused_rmsprop_"] == STEPS
    _assert_params_close(fparams, tparams)


def test_cuda_params_take_the_kernel(fused_calls):
    if not flambeau.cuda.is_available():
        pytest.skip("no CUDA device")
    init, grads = _data(seed=31)
    tparams = _torch_params(init)
    topt = _torch_opt("Adam", tparams, dict(lr=0.01, amsgrad=True))
    _run(torch, tparams, topt, grads)
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy()).to("cuda")) for a in init]
    fopt = optim.Adam(fparams, lr=0.01, amsgrad=True)
    for g in grads:
        for i, (p, a) in enumerate(zip(fparams, g)):
            p.grad = None if i in NO_GRAD else flambeau.from_numpy(a.copy()).to("cuda")
        fopt.step()
    assert fused_calls["fused_adam_"] == len(grads)
    _assert_params_close([p.cpu() for p in fparams], tparams)


def test_a_group_on_two_devices_takes_the_python_path(fused_calls):
    if not flambeau.cuda.is_available():
        pytest.skip("no CUDA device")
    init, grads = _data(seed=37)
    tparams = _torch_params(init)
    topt = _torch_opt("Adam", tparams, dict(lr=0.01))
    _run(torch, tparams, topt, grads)
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy()).to("cuda" if i % 2 else "cpu"))
               for i, a in enumerate(init)]
    fopt = optim.Adam(fparams, lr=0.01)
    for g in grads:
        for i, (p, a) in enumerate(zip(fparams, g)):
            p.grad = None if i in NO_GRAD else flambeau.from_numpy(a.copy()).to(p.device)
        fopt.step()
    assert fused_calls["fused_adam_"] == 0
    _assert_params_close([p.cpu() for p in fparams], tparams)


FUSED_CASES = [(n, kw) for n, kw in CASES if "fused" in inspect.signature(getattr(torch.optim, n)).parameters]


@pytest.mark.parametrize("name,kw", FUSED_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FUSED_CASES)])
def test_fused_true_takes_the_kernel_on_every_device(name, kw, device, fused_calls):
    """fused=True keeps state['step'] on the parameter's device (as torch); the kernels take such
    counters (csrc/ops/optimizer.cpp reads them with one device-to-host copy per call), so CUDA
    parameters with fused=True still take the kernel, and follow torch CPU's trajectory."""
    init, grads = _data(seed=41)
    tparams = _torch_params(init)
    topt = _torch_opt(name, tparams, kw)
    _run(torch, tparams, topt, grads)
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy()).to(device)) for a in init]
    fopt = getattr(optim, name)(fparams, fused=True, **kw)
    for g in grads:
        for i, (p, a) in enumerate(zip(fparams, g)):
            p.grad = None if i in NO_GRAD else flambeau.from_numpy(a.copy()).to(device)
        fopt.step()
    assert fused_calls[KERNEL[name]] == len(grads)
    assert sum(fused_calls.values()) == len(grads)
    for i, p in enumerate(fparams):
        assert p.device.type == device
        st = fopt.state.get(p, {})
        for key, v in st.items():
            if hasattr(v, "device"):
                assert v.device.type == device, (i, key)
        if "step" in st:
            assert st["step"].dtype == flambeau.float32
            assert st["step"].item() == (0 if i in NO_GRAD else len(grads))
    _assert_params_close([p.cpu() for p in fparams], tparams)
