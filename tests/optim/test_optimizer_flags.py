"""The `foreach=` and `fused=` constructor flags, as torch.optim 2.13 treats them on the CPU.

Path taken: our fused multi-tensor kernel (optim/_fused.py) for fused=True, foreach=True, or both
None (the default); the per-parameter path for foreach=False (unless fused=True) and for fused=False
with foreach None (torch's single-tensor loop for those flags). Every accepted combination follows
torch.optim with the same flags (its fused CPU kernel, its foreach path, its loop) and stores the
flags in param_groups as torch does, so state_dicts round-trip and compare equal. torch's argument
errors are raised with torch's type and message. Also: the per-group eligibility cache
(Optimizer._group_entry, _fused_state_ok) notices parameters and state tensors that change.
"""
import copy

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn, optim

STEPS = 5
SHAPES = [(7, 5), (5,), (4, 3), (), (3, 7), (2500,)]
DTYPES = ["float32", "float64", "float32", "float64", "float64", "float32"]
NO_GRAD = {2}
TOL = {"float32": dict(atol=1e-5, rtol=1e-4), "float64": dict(atol=1e-12, rtol=1e-10)}
KERNEL = {"SGD": "fused_sgd_", "Adam": "fused_adam_", "AdamW": "fused_adam_", "RMSprop": "fused_rmsprop_",
          "Adagrad": "fused_adagrad_"}
OPTS = {
    "SGD": dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.05),
    "AdamW": dict(lr=0.02, weight_decay=0.3, maximize=True),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
}
HAS_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}  # torch 2.13: RMSprop takes no `fused`
FLAGS = [{}, dict(foreach=None), dict(foreach=False), dict(foreach=True), dict(fused=None), dict(fused=True),
         dict(fused=False), dict(fused=True, foreach=False), dict(fused=False, foreach=True),
         dict(fused=False, foreach=False), dict(fused=None, foreach=False)]


def _uses_kernel(flags):
    fused, foreach = flags.get("fused"), flags.get("foreach")
    return bool(fused or foreach or (fused is None and foreach is None))


def _combos():
    for name in OPTS:
        for flags in FLAGS:
            if "fused" in flags and name not in HAS_FUSED:
                continue
            yield pytest.param(name, flags, id=f"{name}-{'-'.join(f'{k}={v}' for k, v in flags.items()) or 'default'}")


@pytest.fixture
def single_calls(monkeypatch):
    """Counts the per-parameter path's calls (one per param group and step), per optimizer class."""
    calls = {}
    for cls in (optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad):
        fn = cls._single_tensor_step

        def counting(self, *args, _fn=fn, **kwargs):
            calls[type(self).__name__] = calls.get(type(self).__name__, 0) + 1
            return _fn(self, *args, **kwargs)

        monkeypatch.setattr(cls, "_single_tensor_step", counting)
    return calls


def _data(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(d) for s, d in zip(SHAPES, DTYPES)]
    grads = [[rng.standard_normal(s).astype(d) for s, d in zip(SHAPES, DTYPES)] for _ in range(steps)]
    return init, grads


def _run(lib, params, opt, grads):
    for g in grads:
        for i, (p, a) in enumerate(zip(params, g)):
            p.grad = None if i in NO_GRAD else lib.from_numpy(a.copy())
        opt.step()


def _assert_same_as_torch(fparams, tparams, fopt, topt):
    for i, (fp, tp) in enumerate(zip(fparams, tparams)):
        t, f = tp.detach().numpy(), fp.detach().numpy()
        assert f.dtype == t.dtype
        np.testing.assert_allclose(f, t, err_msg=f"param {i}", **TOL[str(t.dtype)])
    fsd, tsd = fopt.state_dict(), topt.state_dict()
    assert fsd["param_groups"] == tsd["param_groups"]
    assert fsd["state"].keys() == tsd["state"].keys()
    for k, tstate in tsd["state"].items():
        assert fsd["state"][k].keys() == tstate.keys()
        for key, tv in tstate.items():
            tv, fv = tv.detach().numpy(), fsd["state"][k][key].detach().numpy()
            assert fv.dtype == tv.dtype and fv.shape == tv.shape, (k, key)
            np.testing.assert_allclose(fv, tv, err_msg=f"state {k} {key}", **TOL[str(tv.dtype)])


@pytest.mark.parametrize("name,flags", list(_combos()))
def test_flags_follow_pytorch_and_pick_the_path(name, flags, fused_calls, single_calls):
    init, grads = _data()
    tparams = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    topt = getattr(torch.optim, name)(tparams, **OPTS[name], **flags)
    _run(torch, tparams, topt, grads)
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy())) for a in init]
    fopt = getattr(optim, name)(fparams, **OPTS[name], **flags)
    _run(flambeau, fparams, fopt, grads)

    kernel = _uses_kernel(flags)
    assert fused_calls[KERNEL[name]] == (STEPS if kernel else 0)
    assert sum(fused_calls.values()) == fused_calls[KERNEL[name]]
    assert single_calls.get(name, 0) == (0 if kernel else STEPS)
    _assert_same_as_torch(fparams, tparams, fopt, topt)

    # state_dict round trip (the flags travel in param_groups): same path, same trajectory
    sd = copy.deepcopy(fopt.state_dict())
    fparams2 = [nn.Parameter(p.detach().clone()) for p in fparams]
    fopt2 = getattr(optim, name)(fparams2, **OPTS[name])
    fopt2.load_state_dict(sd)
    assert fopt2.param_groups[0]["foreach"] == flags.get("foreach")
    before = fused_calls[KERNEL[name]]
    more = _data(seed=1, steps=2)[1]
    _run(flambeau, fparams, fopt, more)
    _run(flambeau, fparams2, fopt2, more)
    assert fused_calls[KERNEL[name]] - before == (4 if kernel else 0)
    for a, b in zip(fparams, fparams2):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adagrad"])
def test_fused_step_counter_is_float32_like_torch(name):
    """fused=True keeps state['step'] in float32 whatever the default dtype (torch's
    _get_scalar_dtype(is_fused=True)); otherwise the default dtype."""
    old_t, old_f = torch.get_default_dtype(), flambeau.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    flambeau.set_default_dtype(flambeau.float64)
    try:
        for flags in ({}, dict(fused=True)):
            tp = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
            fp = nn.Parameter(flambeau.ones(3, dtype=flambeau.float32))
            topt = getattr(torch.optim, name)([tp], lr=0.1, **flags)
            fopt = getattr(optim, name)([fp], lr=0.1, **flags)
            tp.grad = torch.ones(3, dtype=torch.float32)
            fp.grad = flambeau.ones(3, dtype=flambeau.float32)
            topt.step()
            fopt.step()
            assert str(topt.state[tp]["step"].dtype).split(".")[1] == str(fopt.state[fp]["step"].dtype).split(".")[1]
            assert fopt.state[fp]["step"].item() == 1
    finally:
        torch.set_default_dtype(old_t)
        flambeau.set_default_dtype(old_f)


def _both_raise(make, exc_type=None):
    """`make(lib_torch, optim_module, Parameter)` raises the same exception type and message on both."""
    with pytest.raises(Exception) as te:
        make(torch, torch.optim, torch.nn.Parameter)
    with pytest.raises(type(te.value) if exc_type is None else exc_type) as fe:
        make(flambeau, optim, nn.Parameter)
    assert str(fe.value) == str(te.value)


@pytest.mark.parametrize("name", sorted(HAS_FUSED))
def test_constructor_errors_match_torch(name):
    _both_raise(lambda lib, o, P: getattr(o, name)([P(lib.ones(2))], lr=0.1, fused=True, foreach=True))
    _both_raise(lambda lib, o, P: getattr(o, name)([P(lib.ones(2))], lr=0.1, fused=True, differentiable=True))
    # both at once: differentiable is reported first, as torch
    _both_raise(lambda lib, o, P: getattr(o, name)([P(lib.ones(2))], lr=0.1, fused=True, foreach=True,
                                                   differentiable=True))


def test_rmsprop_has_no_fused_flag():
    for o in (torch.optim, optim):
        with pytest.raises(TypeError, match="unexpected keyword argument 'fused'"):
            o.RMSprop([nn.Parameter(flambeau.ones(2)) if o is optim else torch.nn.Parameter(torch.ones(2))],
                      fused=True)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_tensor_lr_or_betas_with_foreach_raise_like_torch(name):
    _both_raise(lambda lib, o, P: getattr(o, name)([P(lib.ones(2))], lr=lib.tensor(0.1), foreach=True))
    _both_raise(lambda lib, o, P: getattr(o, name)([P(lib.ones(2))], betas=(lib.tensor(0.9), lib.tensor(0.99)),
                                                   foreach=True))

    # a Tensor lr set on a foreach group afterwards: RuntimeError at step
    def late(lib, o, P):
        p = P(lib.ones(2))
        opt = getattr(o, name)([p], lr=0.1, foreach=True)
        opt.param_groups[0]["lr"] = lib.tensor(0.1)
        p.grad = lib.ones(2)
        opt.step()

    _both_raise(late)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_foreach_with_differentiable_raises_at_step_like_torch(name):
    def make(lib, o, P):
        p = P(lib.ones(2))
        opt = getattr(o, name)([p], lr=0.1, foreach=True, differentiable=True)
        p.grad = lib.ones(2)
        opt.step()

    _both_raise(make)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adagrad"])
def test_fused_group_with_differentiable_raises_at_step_like_torch(name):
    def make(lib, o, P):
        p = P(lib.ones(2))
        opt = getattr(o, name)([{"params": [p], "differentiable": True}], lr=0.1, fused=True)
        p.grad = lib.ones(2)
        opt.step()

    _both_raise(make)


@pytest.mark.parametrize("name", sorted(HAS_FUSED))
def test_fused_rejects_integer_params_like_torch(name):
    def make(lib, o, P):
        p = P(lib.ones(3, dtype=lib.int64), requires_grad=False)
        p.grad = lib.ones(3, dtype=lib.int64)
        getattr(o, name)([p], lr=0.1, fused=True).step()

    with pytest.raises(RuntimeError) as te:
        make(torch, torch.optim, torch.nn.Parameter)
    with pytest.raises(RuntimeError) as fe:
        make(flambeau, optim, nn.Parameter)
    # same sentence; the device list is each library's own
    prefix = "`fused=True` requires all the params to be floating point Tensors of supported devices: "
    assert str(te.value).startswith(prefix) and str(fe.value).startswith(prefix)
    assert str(fe.value).endswith("but flambeau.int64 and cpu")


def test_foreach_false_group_among_default_groups(fused_calls, single_calls):
    """foreach/fused are per-group options like any other: a group may ask for the per-parameter path."""
    init, grads = _data(seed=5)
    groups = lambda ps: [{"params": ps[:3]}, {"params": ps[3:], "foreach": False}]  # noqa: E731
    tparams = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    topt = torch.optim.Adam(groups(tparams), lr=0.01)
    _run(torch, tparams, topt, grads)
    fparams = [nn.Parameter(flambeau.from_numpy(a.copy())) for a in init]
    fopt = optim.Adam(groups(fparams), lr=0.01)
    _run(flambeau, fparams, fopt, grads)
    assert fused_calls["fused_adam_"] == STEPS and single_calls["Adam"] == STEPS
    _assert_same_as_torch(fparams, tparams, fopt, topt)


# ---------------------------------------------------------------------- the eligibility cache
def test_cache_follows_changed_params_and_state(fused_calls):
    """Each step re-checks what may have changed since the cached check: parameters given new data
    (other dtype or shape), parameters added to the group, grads, state tensors replaced."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)).astype("float32")
    tp, fp = torch.nn.Parameter(torch.from_numpy(a.copy())), nn.Parameter(flambeau.from_numpy(a.copy()))
    topt, fopt = torch.optim.Adam([tp], lr=0.1), optim.Adam([fp], lr=0.1)

    def step(g, n_fused):
        # (torch refuses a grad of another dtype than its parameter: it gets the promoted one)
        tp.grad = torch.from_numpy(g.astype(str(tp.dtype).split(".")[1]))
        fp.grad = flambeau.from_numpy(g.copy())
        topt.step()
        fopt.step()
        assert fused_calls["fused_adam_"] == n_fused
        np.testing.assert_allclose(fp.detach().numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5)

    step(rng.standard_normal((4, 3)).astype("float32"), 1)
    step(rng.standard_normal((4, 3)).astype("float32"), 2)
    # new data of another dtype (with its state cast, as load_state_dict would): still the kernel,
    # on the new tensors
    tp.data, fp.data = tp.data.double(), fp.data.double()
    for t_st, f_st in ((topt.state[tp], fopt.state[fp]),):
        for k in ("exp_avg", "exp_avg_sq"):
            t_st[k], f_st[k] = t_st[k].double(), f_st[k].double()
    step(rng.standard_normal((4, 3)), 3)
    # a grad of another dtype: the per-parameter path (it promotes; the kernel would refuse it)
    step(rng.standard_normal((4, 3)).astype("float32"), 3)
    step(rng.standard_normal((4, 3)), 4)
    # a state tensor replaced by one of another dtype: per-parameter path; replaced back: kernel
    fopt.state[fp]["exp_avg_sq"] = fopt.state[fp]["exp_avg_sq"].float()
    topt.state[tp]["exp_avg_sq"] = topt.state[tp]["exp_avg_sq"].float()
    step(rng.standard_normal((4, 3)), 4)
    fopt.state[fp]["exp_avg_sq"] = fopt.state[fp]["exp_avg_sq"].double()
    topt.state[tp]["exp_avg_sq"] = topt.state[tp]["exp_avg_sq"].double()
    step(rng.standard_normal((4, 3)), 5)
    # the same parameter appended to its group: the per-parameter path (it updates it twice)
    fopt.param_groups[0]["params"].append(fp)
    topt.param_groups[0]["params"].append(tp)
    step(rng.standard_normal((4, 3)), 5)
    fopt.param_groups[0]["params"].pop()
    topt.param_groups[0]["params"].pop()
    step(rng.standard_normal((4, 3)), 6)
    # new data of another shape: the kernel on the new shape
    tp.data, fp.data = torch.zeros(5, dtype=torch.float64), flambeau.zeros(5, dtype=flambeau.float64)
    for st in (topt.state[tp], fopt.state[fp]):
        st.clear()
    step(rng.standard_normal(5), 7)
