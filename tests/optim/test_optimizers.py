"""Optimizers against PyTorch: parameter trajectories over several steps for every option,
param groups with per-group options, add_param_group, state_dict round trips (continuing gives the
same trajectory), zero_grad, closures and argument validation."""
import copy

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn, optim

STEPS = 8


def make_pair(device="cpu", dtype="float32"):
    """The same small MLP in torch and flambeau, with identical weights."""
    tm = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    if dtype == "float64":
        tm.double()
    fm = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    fm.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    return tm, fm.to(device)


def batches(n, dtype="float32"):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((7, 3)).astype(dtype))
            for _ in range(n)]


def loss_of(lib, model, x, y, device="cpu"):
    if lib is torch:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    else:
        xt, yt = flambeau.from_numpy(x).to(device), flambeau.from_numpy(y).to(device)
    return ((model(xt) - yt) ** 2).mean()


def run(lib, model, opt, data, device="cpu"):
    for x, y in data:
        opt.zero_grad()
        loss_of(lib, model, x, y, device).backward()
        opt.step()


def assert_models_close(tm, fm, atol=1e-5, rtol=1e-4):
    for (name, tp), fp in zip(tm.named_parameters(), fm.parameters()):
        np.testing.assert_allclose(fp.detach().cpu().numpy(), tp.detach().numpy(), atol=atol,
                                   rtol=rtol, err_msg=name)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.7)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2,
                     eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_trajectory_matches_pytorch(name, kw, device):
    tm, fm = make_pair(device)
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    fopt = getattr(optim, name)(fm.parameters(), **kw)
    data = batches(STEPS)
    run(torch, tm, topt, data)
    run(flambeau, fm, fopt, data, device)
    assert_models_close(tm, fm)
    # the state holds the same entries with the same values
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert fsd["param_groups"] == tsd["param_groups"]
    assert fsd["state"].keys() == tsd["state"].keys()
    for k in tsd["state"]:
        assert fsd["state"][k].keys() == tsd["state"][k].keys()
        for key, tv in tsd["state"][k].items():
            fv = fsd["state"][k][key]
            np.testing.assert_allclose(fv.detach().cpu().numpy(), tv.detach().numpy(), atol=1e-5,
                                       rtol=1e-4, err_msg=f"state {k} {key}")
    assert repr(fopt) == repr(topt)


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[6], CASES[11], CASES[15], CASES[17]])
def test_trajectory_float64_is_tight(name, kw):
    tm, fm = make_pair(dtype="float64")
    fm.double()
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    fopt = getattr(optim, name)(fm.parameters(), **kw)
    data = batches(STEPS, "float64")
    run(torch, tm, topt, data)
    run(flambeau, fm, fopt, data)
    assert_models_close(tm, fm, atol=1e-12, rtol=1e-10)


def test_param_groups_with_per_group_options():
    tm, fm = make_pair()

    def groups(m):
        return [{"params": m[0].parameters(), "lr": 0.05, "momentum": 0.5},
                {"params": m[2].parameters(), "weight_decay": 0.1}]

    topt = torch.optim.SGD(groups(tm), lr=0.1, momentum=0.9)
    fopt = optim.SGD(groups(fm), lr=0.1, momentum=0.9)
    assert [g["lr"] for g in fopt.param_groups] == [0.05, 0.1]
    assert [g["momentum"] for g in fopt.param_groups] == [0.5, 0.9]
    run(torch, tm, topt, batches(5))
    run(flambeau, fm, fopt, batches(5))
    assert_models_close(tm, fm)
    assert fopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    assert repr(fopt) == repr(topt)


def test_add_param_group():
    tm, fm = make_pair()
    topt = torch.optim.Adam(tm[0].parameters(), lr=0.01)
    fopt = optim.Adam(fm[0].parameters(), lr=0.01)
    run(torch, tm, topt, batches(2))
    run(flambeau, fm, fopt, batches(2))
    topt.add_param_group({"params": tm[2].parameters(), "lr": 0.001, "betas": (0.5, 0.6)})
    fopt.add_param_group({"params": fm[2].parameters(), "lr": 0.001, "betas": (0.5, 0.6)})
    run(torch, tm, topt, batches(4))
    run(flambeau, fm, fopt, batches(4))
    assert_models_close(tm, fm)
    assert fopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    with pytest.raises(ValueError, match="more than one parameter group"):
        fopt.add_param_group({"params": [fm[0].weight]})
    with pytest.raises(TypeError, match="ordered collections"):
        fopt.add_param_group({"params": {fm[0].weight}})


@pytest.mark.parametrize("name,kw", [CASES[3], CASES[7], CASES[11], CASES[15], CASES[17], CASES[20], CASES[22],
                                     CASES[25], CASES[28]])
def test_state_dict_round_trip_continues_identically(name, kw, tmp_path):
    data = batches(10)
    _, fm = make_pair()
    ref = copy.deepcopy(fm)
    opt = getattr(optim, name)(fm.parameters(), **kw)
    run(flambeau, fm, opt, data[:5])
    path = tmp_path / "ckpt.flb"
    flambeau.save({"model": fm.state_dict(), "opt": opt.state_dict()}, path)
    run(flambeau, fm, opt, data[5:])

    ckpt = flambeau.load(path)
    ref.load_state_dict(ckpt["model"])
    opt2 = getattr(optim, name)(ref.parameters(), **kw)
    opt2.load_state_dict(ckpt["opt"])
    run(flambeau, ref, opt2, data[5:])
    for a, b in zip(fm.parameters(), ref.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_from_pytorch_values_and_errors():
    tm, fm = make_pair()
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    run(torch, tm, topt, batches(3))
    tsd = topt.state_dict()
    fsd = {"param_groups": copy.deepcopy(tsd["param_groups"]),
           "state": {k: {kk: flambeau.from_numpy(vv.numpy().copy()) for kk, vv in v.items()}
                     for k, v in tsd["state"].items()}}
    fm.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    fopt = optim.Adam(fm.parameters(), lr=0.5)
    fopt.load_state_dict(fsd)
    assert fopt.param_groups[0]["lr"] == 0.01
    assert fopt.param_groups[0]["params"][0] is fm[0].weight
    run(torch, tm, topt, batches(3))
    run(flambeau, fm, fopt, batches(3))
    assert_models_close(tm, fm)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        fopt.load_state_dict({"state": {}, "param_groups": []})
    bad = copy.deepcopy(fopt.state_dict())
    bad["param_groups"][0]["params"] = bad["param_groups"][0]["params"][:2]
    with pytest.raises(ValueError, match="doesn't match the size"):
        fopt.load_state_dict(bad)


def test_state_tensors_follow_param_dtype_on_load():
    p = nn.Parameter(flambeau.randn(3, dtype=flambeau.float64))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = flambeau.ones(3, dtype=flambeau.float64)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = sd["state"][0]["momentum_buffer"].float()
    opt.load_state_dict(sd)
    assert opt.state[p]["momentum_buffer"].dtype == flambeau.float64


def test_zero_grad_and_skipping_params_without_grad():
    _, fm = make_pair()
    opt = optim.SGD(fm.parameters(), lr=0.1)
    loss_of(flambeau, fm, *batches(1)[0]).backward()
    opt.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in fm.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in fm.parameters())
    before = [p.detach().numpy().copy() for p in fm.parameters()]
    opt.step()  # no grads: nothing moves
    for b, p in zip(before, fm.parameters()):
        assert np.array_equal(b, p.detach().numpy())


def test_step_with_closure():
    tm, fm = make_pair()
    x, y = batches(1)[0]
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    fopt = optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)

    def closure_for(lib, model, opt):
        def closure():
            opt.zero_grad()
            loss = loss_of(lib, model, x, y)
            loss.backward()
            return loss
        return closure

    for _ in range(3):
        tl = topt.step(closure_for(torch, tm, topt)).detach()
        fl = fopt.step(closure_for(flambeau, fm, fopt)).detach()
        assert abs(tl.item() - fl.item()) < 1e-5
    assert_models_close(tm, fm)


def test_named_parameters_are_accepted():
    _, fm = make_pair()
    opt = optim.Adam(fm.named_parameters())
    assert opt.param_groups[0]["param_names"] == [n for n, _ in fm.named_parameters()]
    assert opt.state_dict()["param_groups"][0]["param_names"][0] == "0.weight"


def test_argument_validation_matches_pytorch():
    p = [nn.Parameter(flambeau.ones(1))]
    for cls, kw in [("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-1)),
                    ("SGD", dict(lr=0.1, nesterov=True)), ("Adam", dict(betas=(1.0, 0.9))),
                    ("Adam", dict(eps=-1)), ("AdamW", dict(weight_decay=-1)),
                    ("RMSprop", dict(alpha=-1)), ("Adagrad", dict(lr_decay=-1))]:
        with pytest.raises(ValueError) as fe:
            getattr(optim, cls)(p, **kw)
        with pytest.raises(ValueError) as te:
            getattr(torch.optim, cls)([torch.nn.Parameter(torch.ones(1))], **kw)
        assert str(fe.value) == str(te.value)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p[0], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p[0] * 2], lr=0.1)


def test_step_hooks():
    _, fm = make_pair()
    opt = optim.SGD(fm.parameters(), lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.step()
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    opt.step()
    assert calls == ["pre", "post"]


def test_training_reduces_loss_on_a_regression_problem():
    flambeau.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    x = flambeau.randn(128, 3)
    y = x[:, :1] * 2 - x[:, 1:2] + 0.5
    for cls, kw in [(optim.SGD, dict(lr=0.05, momentum=0.9)), (optim.Adam, dict(lr=0.01)),
                    (optim.AdamW, dict(lr=0.01)), (optim.RMSprop, dict(lr=0.005)),
                    (optim.Adagrad, dict(lr=0.1))]:
        m = copy.deepcopy(model)
        opt = cls(m.parameters(), **kw)
        losses = []
        for _ in range(60):
            loss = ((m(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        assert losses[-1] < 0.2 * losses[0], cls.__name__


@pytest.mark.parametrize("name, kw, msg", [
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adadelta", dict(lr=-1), "Invalid learning rate: -1"),
    ("Adamax", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    ("NAdam", dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
    ("RAdam", dict(eps=-1), "Invalid epsilon value: -1"),
    ("RAdam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_per_parameter_optimizers_validate_like_pytorch(name, kw, msg):
    _, fm = make_pair()
    tm, _ = make_pair()
    with pytest.raises(ValueError, match=msg):
        getattr(optim, name)(fm.parameters(), **kw)
    with pytest.raises(ValueError, match=msg):
        getattr(torch.optim, name)(tm.parameters(), **kw)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam"])
def test_per_parameter_optimizers_skip_params_without_grad_and_refuse_capturable(name):
    _, fm = make_pair()
    opt = getattr(optim, name)(fm.parameters())
    x, y = batches(1)[0]
    loss_of(flambeau, fm[:1], x, np.zeros((7, 6), np.float32)).backward()  # grads for layer 0 only
    before = fm[2].weight.detach().numpy().copy()
    opt.step()
    assert np.array_equal(fm[2].weight.detach().numpy(), before)
    assert len(opt.state) == 2  # layer 0's weight and bias
    opt2 = getattr(optim, name)(fm.parameters(), capturable=True)
    with pytest.raises(NotImplementedError, match="capturable"):
        opt2.step()
