"""Script parity: training-loop utilities, each a small realistic script written against module parameters,
run once with PyTorch and once with flambeau from the same initial weights on the same numpy data.

- SWA (AveragedModel + SWALR + update_bn) with gradient accumulation and a BatchNorm model;
- an EMA of the weights three ways: AveragedModel(multi_avg_fn=get_ema_multi_avg_fn, use_buffers=True),
  a hand-written `ema.mul_(d).add_(p, alpha=1-d)` loop, and timm's ModelEmaV3 idiom with torch._foreach_*;
- activation checkpointing (utils.checkpoint.checkpoint, reentrant and not, checkpoint_sequential) against
  the same model without it, with gradient clipping (clip_grad_norm_ / clip_grad_value_).
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _mlp_bn(nn):
    # no bias before the BatchNorm: its true gradient is 0, and Adam would amplify the rounding noise in it
    return nn.Sequential(nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


# ---------------------------------------------------------------- 1. SWA with gradient accumulation
def swa_training(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from importlib import import_module
    swa_utils = import_module(torch.__name__ + ".optim.swa_utils")
    model = _mlp_bn(nn)
    load_state(lib, model, state)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    swa_model = swa_utils.AveragedModel(model)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    swa_sched = swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=2, anneal_strategy="linear")
    swa_start, accum = 3, 2
    ds = lib.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = lib.data.DataLoader(ds, batch_size=6)
    rec = {"loss": [], "lr": [], "n_averaged": []}
    for epoch in range(6):
        model.train()
        opt.zero_grad()
        for i, (xb, yb) in enumerate(loader):
            loss = F.cross_entropy(model(xb), yb) / accum
            loss.backward()
            if (i + 1) % accum == 0:
                opt.step()
                opt.zero_grad()
            rec["loss"].append(loss.item())
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_sched.step()
        else:
            sched.step()
        rec["lr"].append(opt.param_groups[0]["lr"])
        rec["n_averaged"].append(swa_model.n_averaged)
    swa_utils.update_bn(loader, swa_model)
    swa_model.eval()
    with torch.no_grad():
        rec["swa_out"] = swa_model(torch.from_numpy(X))
    rec["swa_state"] = {k: v for k, v in swa_model.state_dict().items()}
    rec["swa_keys"] = sorted(swa_model.state_dict())
    return rec


def test_swa_with_gradient_accumulation():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((24, 6)).astype(np.float32)
    Y = rng.integers(0, 3, 24).astype(np.int64)
    rt, rf = run_both_checked(swa_training, numpy_state(_mlp_bn(torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- 2. EMA of the weights, three idioms
def ema_training(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    import copy
    from importlib import import_module
    swa_utils = import_module(torch.__name__ + ".optim.swa_utils")
    model = _mlp_bn(nn)
    load_state(lib, model, state)
    decay = 0.9
    ema_avg = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)
    ema_fn = swa_utils.AveragedModel(model, avg_fn=swa_utils.get_ema_avg_fn(decay))
    ema_manual = copy.deepcopy(model).eval()
    for p in ema_manual.parameters():
        p.requires_grad_(False)
    ema_foreach = copy.deepcopy(model).eval().requires_grad_(False)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rec = {"loss": [], "ema_manual_out": []}
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for step in range(5):
        model.train()
        loss = F.cross_entropy(model(x[step * 4:(step + 1) * 4 + 4]), y[step * 4:(step + 1) * 4 + 4])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
        ema_avg.update_parameters(model)
        ema_fn.update_parameters(model)
        with torch.no_grad():
            msd = model.state_dict()
            for k, v in ema_manual.state_dict().items():
                if v.dtype.is_floating_point:
                    v.mul_(decay).add_(msd[k].detach(), alpha=1 - decay)
                else:
                    v.copy_(msd[k])
            # timm ModelEmaV3: lerp the parameters, copy the buffers
            ema_p = [p for p in ema_foreach.parameters()]
            cur_p = [p.detach() for p in model.parameters()]
            torch._foreach_lerp_(ema_p, cur_p, weight=1.0 - decay)
            for eb, mb in zip(ema_foreach.buffers(), model.buffers()):
                eb.copy_(mb)
            rec["ema_manual_out"].append(ema_manual(x[:5]))
    rec["ema_avg"] = dict(ema_avg.module.state_dict())
    rec["ema_fn"] = dict(ema_fn.module.state_dict())
    rec["ema_manual"] = dict(ema_manual.state_dict())
    rec["ema_foreach"] = dict(ema_foreach.state_dict())
    with torch.no_grad():
        ema_avg.eval()
        rec["ema_avg_out"] = ema_avg(x)
    return rec


def test_ema_of_weights():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((24, 6)).astype(np.float32)
    Y = rng.integers(0, 3, 24).astype(np.int64)
    rt, rf = run_both_checked(ema_training, numpy_state(_mlp_bn(torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- 3. activation checkpointing + clipping
def _blocks(nn):
    return nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8)) for _ in range(4)],
                         nn.Linear(8, 2))


def checkpointed_training(lib, state, X, Y, mode):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from importlib import import_module
    checkpoint = import_module(torch.__name__ + ".utils.checkpoint")
    model = _blocks(nn)
    load_state(lib, model, state)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    rec = {"loss": [], "norm": [], "grads": []}

    def forward(inp):
        if mode == "plain":
            return model(inp)
        if mode == "sequential":
            return checkpoint.checkpoint_sequential(model, 2, inp, use_reentrant=False)
        h = inp
        for block in list(model)[:-1]:
            h = checkpoint.checkpoint(block, h, use_reentrant=(mode == "reentrant"))
        return model[-1](h)

    for step in range(4):
        inp = x.clone().requires_grad_(mode == "reentrant")  # reentrant checkpoint needs an input needing grad
        loss = F.cross_entropy(forward(inp), y)
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.05)
        rec["grads"].append([p.grad.clone() for p in model.parameters()])
        opt.step()
        rec["loss"].append(loss.item())
        rec["norm"].append(norm)
    # gradient norm with the other norm types and the foreach switch
    rec["inf_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9, norm_type="inf")
    rec["l1_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9, norm_type=1.0, foreach=True)
    rec["get_total_norm"] = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    return rec


def test_activation_checkpointing_and_clipping():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((10, 8)).astype(np.float32)
    Y = rng.integers(0, 2, 10).astype(np.int64)
    state = numpy_state(_blocks(torch.nn))
    results = {mode: run_both_checked(checkpointed_training, state, X, Y, mode)
               for mode in ("plain", "reentrant", "non_reentrant", "sequential")}
    for mode, (rt, rf) in results.items():
        assert_records_close(rf, rt, atol=2e-5, rtol=2e-4, path=mode)
        # checkpointing recomputes the same forward: same gradients as without it
        assert_records_close(rf, results["plain"][1], atol=1e-6, rtol=1e-5, path=f"{mode} vs plain")
