"""Every learning-rate scheduler against PyTorch over 30+ steps: the lr of every group (and the
momentum/beta1 that CyclicLR and OneCycleLR cycle) must be identical, not just close. Also
state_dict round trips, step(epoch) closed forms, and the usual warnings."""
import math
import warnings

import pytest
import torch

import flambeau
from flambeau import nn, optim

STEPS = 35


def two_group_optimizer(lib, kind="SGD"):
    p1 = lib.nn.Parameter(lib.zeros(2))
    p2 = lib.nn.Parameter(lib.zeros(2))
    groups = [{"params": [p1]}, {"params": [p2], "lr": 0.05}]
    if kind == "SGD":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def lr_sequence(lib, make, steps=STEPS, kind="SGD", metrics=None):
    opt = two_group_optimizer(lib, kind)
    sched = make(lib.optim.lr_scheduler, opt)
    seq = [tuple(sched.get_last_lr())]
    for i in range(steps):
        opt.step()
        if metrics is not None:
            sched.step(metrics[i])
        else:
            sched.step()
        g = opt.param_groups[0]
        mom = g["momentum"] if "momentum" in g else g["betas"][0]
        seq.append(tuple(sched.get_last_lr()) + tuple(x["lr"] for x in opt.param_groups) + (mom,))
    return seq


SCHEDULERS = {
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR_list": lambda L, o: L.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]),
    "MultiplicativeLR": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda L, o: L.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3),
    "ConstantLR": lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=6),
    "LinearLR": lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=12),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, gamma=0.93),
    "PolynomialLR": lambda L, o: L.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2,
                                                                              eta_min=0.001),
    "CosineAnnealingWarmRestarts_1": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=6),
    "CyclicLR_triangular2": lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2],
                                                    step_size_up=5, step_size_down=3,
                                                    mode="triangular2"),
    "CyclicLR_exp_range": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range",
                                                  gamma=0.9),
    "CyclicLR_custom": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                               scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations",
                                               cycle_momentum=False),
    "OneCycleLR": lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=STEPS),
    "OneCycleLR_3phase_linear": lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 0.3], epochs=5,
                                                          steps_per_epoch=7, three_phase=True,
                                                          anneal_strategy="linear"),
    "SequentialLR": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, 0.1, 1.0, 5), L.ExponentialLR(o, 0.9), L.CosineAnnealingLR(o, 12)],
        milestones=[5, 15]),
    "ChainedScheduler": lambda L, o: L.ChainedScheduler([L.ExponentialLR(o, 0.9),
                                                         L.StepLR(o, 4, 0.5)]),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_identical_to_pytorch(name):
    make = SCHEDULERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lr_sequence(flambeau, make) == lr_sequence(torch, make)


def test_cyclic_and_onecycle_cycle_adam_beta1():
    for name in ["CyclicLR_triangular2", "OneCycleLR"]:
        make = SCHEDULERS[name]
        assert lr_sequence(flambeau, make, kind="Adam") == lr_sequence(torch, make, kind="Adam")


def test_reduce_lr_on_plateau_identical_to_pytorch():
    metrics = [1.0 / (i + 1) if i < 10 else 0.1 + (i % 3) * 0.001 for i in range(STEPS)]
    for kw in [dict(factor=0.5, patience=2, cooldown=1, min_lr=[0.001, 0.01]),
               dict(mode="max", factor=0.2, patience=1, threshold=0.01, threshold_mode="abs"),
               dict(patience=0, eps=1e-3)]:
        def make(L, o, kw=kw):
            return L.ReduceLROnPlateau(o, **kw)
        ms = metrics if kw.get("mode") != "max" else [-m for m in metrics]
        assert lr_sequence(flambeau, make, metrics=ms) == lr_sequence(torch, make, metrics=ms)


def test_step_with_epoch_uses_closed_form_like_pytorch():
    for name in ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                 "PolynomialLR", "ConstantLR", "CosineAnnealingWarmRestarts"]:
        make = SCHEDULERS[name]
        out = {}
        for lib in (flambeau, torch):
            opt = two_group_optimizer(lib)
            sched = make(lib.optim.lr_scheduler, opt)
            seq = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for epoch in [3, 7, 2, 15, 9]:
                    sched.step(epoch)
                    seq.append(tuple(sched.get_last_lr()))
            out[lib.__name__] = seq
        assert out["flambeau"] == out["torch"], name


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "CyclicLR_exp_range",
                                  "OneCycleLR", "SequentialLR", "ChainedScheduler",
                                  "CosineAnnealingWarmRestarts", "LambdaLR"])
def test_state_dict_round_trip(name, tmp_path):
    make = SCHEDULERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = two_group_optimizer(flambeau)
        sched = make(flambeau.optim.lr_scheduler, opt)
        for _ in range(9):
            opt.step()
            sched.step()
        path = tmp_path / "s.flb"
        flambeau.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, path)
        expected = []
        for _ in range(10):
            opt.step()
            sched.step()
            expected.append(tuple(sched.get_last_lr()))

        ckpt = flambeau.load(path)
        opt2 = two_group_optimizer(flambeau)
        sched2 = make(flambeau.optim.lr_scheduler, opt2)
        opt2.load_state_dict(ckpt["opt"])
        sched2.load_state_dict(ckpt["sched"])
        got = []
        for _ in range(10):
            opt2.step()
            sched2.step()
            got.append(tuple(sched2.get_last_lr()))
    assert got == expected


def test_state_dict_keys_match_pytorch():
    for name in ["StepLR", "OneCycleLR", "CosineAnnealingWarmRestarts", "ReduceLROnPlateau"]:
        make = SCHEDULERS.get(name, lambda L, o: L.ReduceLROnPlateau(o))
        keys = []
        for lib in (flambeau, torch):
            opt = two_group_optimizer(lib)
            keys.append(set(make(lib.optim.lr_scheduler, opt).state_dict()))
        assert keys[0] == keys[1], name


def test_initial_lr_and_resume_errors():
    opt = two_group_optimizer(flambeau)
    sched = optim.lr_scheduler.StepLR(opt, 3)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    assert sched.get_last_lr() == [0.1, 0.05]
    fresh = two_group_optimizer(flambeau)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(fresh, 3, last_epoch=5)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        optim.lr_scheduler.StepLR(object(), 3)


def test_warns_when_scheduler_steps_before_optimizer():
    opt = two_group_optimizer(flambeau)
    sched = optim.lr_scheduler.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_schedulers_with_real_training_loop():
    flambeau.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    lrs = []
    for _ in range(20):
        loss = model(flambeau.randn(4, 3)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step() if len(lrs) < 19 else None
        lrs.append(sched.get_last_lr()[0])
    assert max(lrs) <= 0.1 + 1e-12 and math.isclose(max(lrs), 0.1, rel_tol=0.05)


def test_param_group_added_after_the_scheduler_like_torch():
    """A group added after LambdaLR was made has no lambda: PyTorch's step raises ValueError (a strict zip),
    where flambeau used to leave the new group's lr silently unscheduled. StepLR, which scales each group's
    current lr, schedules the new group too, in both."""
    import warnings
    for lib in (torch, flambeau):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = lib.optim.SGD([lib.nn.Parameter(lib.zeros(2))], lr=0.1)
            sched = lib.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5)
            opt.add_param_group({"params": [lib.nn.Parameter(lib.zeros(2))], "lr": 0.2})
            with pytest.raises(ValueError, match="zip"):
                sched.step()
            opt = lib.optim.SGD([lib.nn.Parameter(lib.zeros(2))], lr=0.1)
            sched = lib.optim.lr_scheduler.StepLR(opt, 1, 0.5)
            opt.add_param_group({"params": [lib.nn.Parameter(lib.zeros(2))], "lr": 0.2})
            opt.step()
            sched.step()
            assert [g["lr"] for g in opt.param_groups] == [0.05, 0.1]


def test_step_before_optimizer_step_warns_with_pytorchs_message():
    msgs = []
    for lib in (torch, flambeau):
        p = lib.nn.Parameter(lib.ones(2))
        sched = lib.optim.lr_scheduler.StepLR(lib.optim.SGD([p], lr=0.1), step_size=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()
        msgs.append([str(w.message) for w in caught])
    assert msgs[1] == msgs[0] and len(msgs[0]) == 1
