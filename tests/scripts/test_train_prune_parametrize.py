"""Script parity: pruning and parametrizations in training scripts (the PyTorch pruning tutorial and the
parametrizations tutorial, shrunk), run with PyTorch and with flambeau from the same weights on the same data.

- iterative magnitude pruning: l1_unstructured, ln_structured, global_unstructured, custom_from_mask,
  fine-tuning with the masks in place, sparsity bookkeeping, prune.remove and the final state_dict;
- parametrizations: weight_norm, spectral_norm and orthogonal from nn.utils.parametrizations, a custom
  register_parametrization (symmetric matrix), parametrize.cached(), remove_parametrizations, and the
  legacy nn.utils.weight_norm / remove_weight_norm.
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


class _LeNetish:
    @staticmethod
    def build(nn):
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.ReLU(),
                             nn.Linear(10, 3))


def pruning_script(lib, state, X, Y, mask):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from importlib import import_module
    prune = import_module(torch.__name__ + ".nn.utils.prune")
    model = _LeNetish.build(nn)
    load_state(lib, model, state)
    conv, fc1, fc2 = model[0], model[3], model[5]
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    rec = {"loss": [], "sparsity": [], "keys": [], "buffers": []}

    def finetune(steps):
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())

    prune.l1_unstructured(conv, name="weight", amount=0.3)
    prune.ln_structured(fc1, name="weight", amount=2, n=2, dim=0)
    rec["keys"].append(sorted(model.state_dict().keys()))
    rec["buffers"].append(sorted(n for n, _ in model.named_buffers()))
    rec["is_pruned"] = prune.is_pruned(model)
    finetune(3)
    # iterative: a second round on top of the first (PruningContainer combines the masks)
    prune.l1_unstructured(conv, name="weight", amount=0.3)
    prune.global_unstructured([(fc1, "weight"), (fc2, "weight"), (fc2, "bias")],
                              pruning_method=prune.L1Unstructured, amount=0.25)
    prune.custom_from_mask(fc2, name="bias", mask=torch.from_numpy(mask))
    finetune(3)
    for name, m in (("conv", conv), ("fc1", fc1), ("fc2", fc2)):
        rec["sparsity"].append(float((m.weight == 0).sum()) / m.weight.nelement())
    rec["masks"] = [conv.weight_mask, fc1.weight_mask, fc2.weight_mask, fc2.bias_mask]
    rec["orig_grad"] = conv.weight_orig.grad
    for m, n in ((conv, "weight"), (fc1, "weight"), (fc2, "weight"), (fc2, "bias")):
        prune.remove(m, n)
    rec["keys"].append(sorted(model.state_dict().keys()))
    rec["final"] = dict(model.state_dict())
    rec["is_pruned_after"] = prune.is_pruned(model)
    return rec


def test_iterative_pruning_and_finetuning():
    rng = np.random.default_rng(20)
    X = rng.standard_normal((12, 1, 8, 8)).astype(np.float32)
    Y = rng.integers(0, 3, 12).astype(np.int64)
    mask = (rng.random(3) > 0.3).astype(np.float32)
    rt, rf = run_both_checked(pruning_script, numpy_state(_LeNetish.build(torch.nn)), X, Y, mask)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- parametrizations
class _ParamNet:
    @staticmethod
    def build(nn):
        return nn.ModuleDict({"wn": nn.Linear(5, 6), "sn": nn.Linear(6, 6), "orth": nn.Linear(6, 6),
                              "sym": nn.Linear(6, 6), "legacy": nn.Linear(6, 3)})


def parametrize_script(lib, raw_state, X, Y, orth_map):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from importlib import import_module
    P = import_module(torch.__name__ + ".nn.utils.parametrizations")
    parametrize = import_module(torch.__name__ + ".nn.utils.parametrize")

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    net = _ParamNet.build(nn)
    load_state(lib, net, raw_state)
    P.weight_norm(net["wn"], name="weight", dim=0)
    P.spectral_norm(net["sn"], n_power_iterations=2)
    P.orthogonal(net["orth"], orthogonal_map=orth_map)
    parametrize.register_parametrization(net["sym"], "weight", Symmetric())
    nn.utils.weight_norm(net["legacy"])
    rec = {"keys": sorted(net.state_dict().keys()), "loss": [], "sigma": [], "orth_err": [], "sym_err": []}
    return net, rec


def parametrize_training(lib, raw_state, param_state, X, Y, orth_map):
    torch, F, optim = lib.torch, lib.F, lib.optim
    from importlib import import_module
    parametrize = import_module(torch.__name__ + ".nn.utils.parametrize")
    net, rec = parametrize_script(lib, raw_state, X, Y, orth_map)
    if param_state is not None:  # the parametrized state (spectral norm's u/v, orthogonal's base) from torch
        load_state(lib, net, param_state)
    rec["is_parametrized"] = [parametrize.is_parametrized(net[k]) for k in ("wn", "sn", "orth", "sym", "legacy")]

    def forward(x):
        h = torch.tanh(net["wn"](x))
        h = torch.tanh(net["sn"](h))
        h = torch.tanh(net["orth"](h))
        h = torch.tanh(net["sym"](h))
        return net["legacy"](h)

    opt = optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for step in range(4):
        net.train()
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
        with torch.no_grad():
            w = net["orth"].weight
            rec["orth_err"].append((w @ w.T - torch.eye(6)).abs().max().item() < 1e-5)
            s = net["sym"].weight
            rec["sym_err"].append((s - s.T).abs().max().item())
    net.eval()
    with torch.no_grad():
        rec["sigma"] = torch.linalg.matrix_norm(net["sn"].weight, ord=2)
    with parametrize.cached():
        rec["cached_out"] = forward(x)
    rec["grads"] = {n: p.grad for n, p in net.named_parameters()}
    rec["state"] = dict(net.state_dict())
    parametrize.remove_parametrizations(net["wn"], "weight", leave_parametrized=True)
    parametrize.remove_parametrizations(net["sym"], "weight", leave_parametrized=False)
    torch.nn.utils.remove_weight_norm(net["legacy"])
    rec["keys_after"] = sorted(net.state_dict().keys())
    rec["after"] = {k: v for k, v in net.state_dict().items() if not k.startswith(("sn.", "orth."))}
    return rec


def test_parametrizations_training():
    rng = np.random.default_rng(21)
    X = rng.standard_normal((10, 5)).astype(np.float32)
    Y = rng.integers(0, 3, 10).astype(np.int64)
    raw = numpy_state(_ParamNet.build(torch.nn))
    for orth_map in ("matrix_exp", "cayley", "householder"):
        torch_net, _ = parametrize_script(
            __import__("script_parity").TORCH, raw, X, Y, orth_map)
        param_state = numpy_state(torch_net)
        rt, rf = run_both_checked(parametrize_training, raw, param_state, X, Y, orth_map)
        assert_records_close(rf, rt, atol=3e-5, rtol=3e-4, path=orth_map)
