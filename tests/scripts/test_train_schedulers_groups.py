"""Script parity: learning-rate schedules and optimizer parameter groups as training scripts use them, run with
PyTorch and with flambeau from the same weights on the same data.

- schedulers in combination, each stepped per batch or per epoch as the idiom wants, with a checkpoint
  mid-run (model, optimizer and scheduler state_dicts saved, fresh objects built, states loaded, training
  continued): OneCycleLR (cos and linear, three-phase), CyclicLR (triangular2 and exp_range with momentum
  cycling), ReduceLROnPlateau on a validation loss, SequentialLR(LinearLR warm-up, CosineAnnealingLR),
  ChainedScheduler(ExponentialLR, MultiStepLR), LambdaLR with a linear warm-up then inverse-sqrt decay;
- discriminative learning rates: backbone/head param groups with different lrs and weight decays, a group
  added with add_param_group when a frozen layer is unfrozen, per-group schedule (LambdaLR with one lambda
  per group), optimizer.state_dict() round trip.
"""
import io

import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _net(nn):
    return nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 3))


def _make(lib, kind, model):
    torch, optim = lib.torch, lib.optim
    sch = optim.lr_scheduler
    if kind == "onecycle_cos":
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        return opt, sch.OneCycleLR(opt, max_lr=0.1, total_steps=12, pct_start=0.3), "batch"
    if kind == "onecycle_linear3":
        opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        return opt, sch.OneCycleLR(opt, max_lr=[0.02], epochs=3, steps_per_epoch=4, anneal_strategy="linear",
                                   three_phase=True, div_factor=10.0, final_div_factor=100.0), "batch"
    if kind == "cyclic_tri2":
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return opt, sch.CyclicLR(opt, base_lr=0.001, max_lr=0.05, step_size_up=2, mode="triangular2"), "batch"
    if kind == "cyclic_exp":
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.8)
        return opt, sch.CyclicLR(opt, base_lr=0.002, max_lr=0.04, step_size_up=3, step_size_down=1,
                                 mode="exp_range", gamma=0.9, base_momentum=0.7, max_momentum=0.95), "batch"
    if kind == "plateau":
        opt = optim.Adam(model.parameters(), lr=0.05)
        return opt, sch.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0, threshold=0.05,
                                          cooldown=1, min_lr=1e-4), "plateau"
    if kind == "warmup_cosine":
        opt = optim.SGD(model.parameters(), lr=0.1)
        warm = sch.LinearLR(opt, start_factor=0.1, total_iters=2)
        cos = sch.CosineAnnealingLR(opt, T_max=4, eta_min=1e-3)
        return opt, sch.SequentialLR(opt, schedulers=[warm, cos], milestones=[2]), "epoch"
    if kind == "chained":
        opt = optim.RMSprop(model.parameters(), lr=0.01)
        return opt, sch.ChainedScheduler([sch.ExponentialLR(opt, gamma=0.9),
                                          sch.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)]), "epoch"
    if kind == "lambda_warmup":
        opt = optim.Adam(model.parameters(), lr=3e-3)
        warmup = 3

        def lr_lambda(step):  # linear warm-up, then inverse square root (the Transformer schedule)
            return (step + 1) / warmup if step < warmup else (warmup / (step + 1)) ** 0.5
        return opt, sch.LambdaLR(opt, lr_lambda), "batch"
    raise ValueError(kind)


def scheduler_script(lib, kind, state, X, Y, Xv, Yv):
    torch, F = lib.torch, lib.F
    x, y, xv, yv = (torch.from_numpy(a) for a in (X, Y, Xv, Yv))
    model = _net(lib.nn)
    load_state(lib, model, state)
    opt, sched, per = _make(lib, kind, model)
    rec = {"lr": [], "loss": [], "val": [], "momentum": []}

    def train_epoch(model, opt, sched):
        for i in range(4):
            xb, yb = x[i * 4:(i + 1) * 4], y[i * 4:(i + 1) * 4]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if per == "batch":
                sched.step()
            rec["loss"].append(loss.item())
            rec["lr"].append([g["lr"] for g in opt.param_groups])
            g = opt.param_groups[0]
            rec["momentum"].append(g["momentum"] if "momentum" in g else g.get("betas", (0.0,))[0])
        with torch.no_grad():
            val = F.cross_entropy(model(xv), yv).item()
        rec["val"].append(val)
        if per == "epoch":
            sched.step()
        elif per == "plateau":
            sched.step(val)

    for epoch in range(2):
        train_epoch(model, opt, sched)
    # checkpoint mid-run, then resume into fresh objects
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    model = _net(lib.nn)
    model.load_state_dict(ckpt["model"])
    opt, sched, per = _make(lib, kind, model)
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    rec["resumed_last_lr"] = sched.get_last_lr() if per != "plateau" else [g["lr"] for g in opt.param_groups]
    for epoch in range(2, 3 if kind.startswith("onecycle") else 4):
        train_epoch(model, opt, sched)
    rec["final"] = dict(model.state_dict())
    rec["sched_keys"] = sorted(k for k in sched.state_dict() if not k.startswith("_"))
    return rec


KINDS = ["onecycle_cos", "onecycle_linear3", "cyclic_tri2", "cyclic_exp", "plateau", "warmup_cosine", "chained",
         "lambda_warmup"]


def test_schedulers_with_checkpoint_resume():
    rng = np.random.default_rng(30)
    X = rng.standard_normal((16, 5)).astype(np.float32)
    Y = rng.integers(0, 3, 16).astype(np.int64)
    Xv = rng.standard_normal((8, 5)).astype(np.float32)
    Yv = rng.integers(0, 3, 8).astype(np.int64)
    state = numpy_state(_net(torch.nn))
    for kind in KINDS:
        rt, rf = run_both_checked(scheduler_script, kind, state, X, Y, Xv, Yv)
        assert_records_close(rf, rt, atol=2e-5, rtol=2e-4, path=kind)


# ---------------------------------------------------------------- param groups
class _Backbone:
    @staticmethod
    def build(nn):
        return nn.ModuleDict({"stem": nn.Linear(6, 10), "body": nn.Linear(10, 10), "head": nn.Linear(10, 4)})


def param_group_script(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    net = _Backbone.build(nn)
    load_state(lib, net, state)
    for p in net["stem"].parameters():  # frozen at first
        p.requires_grad_(False)
    decay, no_decay = [], []
    for name, p in net["body"].named_parameters():
        (no_decay if name.endswith("bias") else decay).append(p)
    opt = optim.AdamW([
        {"params": decay, "weight_decay": 0.05},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": net["head"].parameters(), "lr": 1e-2},
    ], lr=1e-3, betas=(0.9, 0.98))
    sched = optim.lr_scheduler.LambdaLR(opt, [lambda e: 0.9 ** e, lambda e: 0.9 ** e, lambda e: 1.0 / (1 + e)])
    x, y = torch.from_numpy(X), torch.from_numpy(Y)

    def forward():
        return net["head"](torch.relu(net["body"](torch.relu(net["stem"](x)))))

    rec = {"loss": [], "lrs": [], "groups": []}
    for epoch in range(5):
        if epoch == 2:  # unfreeze the stem with a smaller lr
            for p in net["stem"].parameters():
                p.requires_grad_(True)
            opt.add_param_group({"params": list(net["stem"].parameters()), "lr": 1e-4, "weight_decay": 0.0})
            sched = optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0, last_epoch=-1)
        loss = F.cross_entropy(forward(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        rec["loss"].append(loss.item())
        rec["lrs"].append([g["lr"] for g in opt.param_groups])
        rec["groups"].append([(len(g["params"]), g["weight_decay"], g["initial_lr"]) for g in opt.param_groups])
    sd = opt.state_dict()
    rec["sd_groups"] = [sorted(k for k in g if k != "params") for g in sd["param_groups"]]
    rec["sd_params"] = [g["params"] for g in sd["param_groups"]]
    rec["sd_state"] = {k: {n: v for n, v in s.items()} for k, s in sd["state"].items()}
    rec["stem_grad"] = net["stem"].weight.grad
    rec["final"] = dict(net.state_dict())
    # round trip into a fresh optimizer over the same parameters
    opt2 = optim.AdamW([{"params": decay}, {"params": no_decay}, {"params": net["head"].parameters()},
                        {"params": list(net["stem"].parameters())}], lr=0.5)
    opt2.load_state_dict(sd)
    rec["loaded_lrs"] = [g["lr"] for g in opt2.param_groups]
    loss = F.cross_entropy(forward(), y)
    opt2.zero_grad()
    loss.backward()
    opt2.step()
    rec["after_reload"] = dict(net.state_dict())
    return rec


def test_param_groups_and_add_param_group():
    rng = np.random.default_rng(31)
    X = rng.standard_normal((12, 6)).astype(np.float32)
    Y = rng.integers(0, 4, 12).astype(np.int64)
    rt, rf = run_both_checked(param_group_script, numpy_state(_Backbone.build(torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
