"""Script parity: optimizers written by users on top of torch.optim.Optimizer, as found in popular repositories,
run with PyTorch and with flambeau from the same weights on the same data.

- Lion (the lucidrains implementation: @torch.no_grad() step with a closure, self.state[p] lazily filled,
  sign updates via lerp/sign_/add_);
- LARS (trust-ratio scaling per parameter, exclusion of biases and norms by a per-group flag, momentum
  buffers, a torch.where on the norms);
- Lookahead wrapping an inner optimizer (sharing its param_groups and state, slow weights copied every k
  steps, state_dict / load_state_dict of the wrapper), with an LR scheduler stepping the wrapped optimizer;
- an optimizer step post-hook counting steps and a pre-hook, zero_grad(set_to_none=False).
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _net(nn):
    return nn.Sequential(nn.Linear(5, 12), nn.LayerNorm(12), nn.ReLU(), nn.Linear(12, 3))


def _optimizers(torch):
    Optimizer = torch.optim.Optimizer

    class Lion(Optimizer):
        def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
            assert lr > 0.0 and all(0.0 <= beta <= 1.0 for beta in betas)
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in filter(lambda p: p.grad is not None, group["params"]):
                    grad, lr, wd, (beta1, beta2) = p.grad, group["lr"], group["weight_decay"], group["betas"]
                    state = self.state[p]
                    if len(state) == 0:
                        state["exp_avg"] = torch.zeros_like(p)
                    exp_avg = state["exp_avg"]
                    p.data.mul_(1.0 - lr * wd)
                    update = exp_avg.clone().mul_(beta1).add(grad, alpha=1.0 - beta1).sign_()
                    p.add_(update, alpha=-lr)
                    exp_avg.lerp_(grad, 1.0 - beta2)
            return loss

    class LARS(Optimizer):
        def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=1e-4, eta=0.001):
            super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta,
                                          lars_exclude=False))

        @torch.no_grad()
        def step(self):
            for g in self.param_groups:
                for p in g["params"]:
                    dp = p.grad
                    if dp is None:
                        continue
                    if not g["lars_exclude"]:
                        dp = dp.add(p, alpha=g["weight_decay"])
                        param_norm = torch.norm(p)
                        update_norm = torch.norm(dp)
                        one = torch.ones_like(param_norm)
                        q = torch.where(param_norm > 0.0,
                                        torch.where(update_norm > 0, (g["eta"] * param_norm / update_norm), one), one)
                        dp = dp.mul(q)
                    param_state = self.state[p]
                    if "mu" not in param_state:
                        param_state["mu"] = torch.zeros_like(p)
                    mu = param_state["mu"]
                    mu.mul_(g["momentum"]).add_(dp)
                    p.add_(mu, alpha=-g["lr"])

    class Lookahead(Optimizer):
        def __init__(self, base_optimizer, alpha=0.5, k=3):
            defaults = dict(lookahead_alpha=alpha, lookahead_k=k, lookahead_step=0)
            self._base_optimizer = base_optimizer
            self.param_groups = base_optimizer.param_groups
            self.defaults = base_optimizer.defaults
            self.defaults.update(defaults)
            self.state = base_optimizer.state
            self._optimizer_step_pre_hooks = {}
            self._optimizer_step_post_hooks = {}
            for group in self.param_groups:
                for name, default in defaults.items():
                    group.setdefault(name, default)

        @torch.no_grad()
        def update_slow(self, group):
            for fast_p in group["params"]:
                if fast_p.grad is None:
                    continue
                param_state = self._base_optimizer.state[fast_p]
                if "lookahead_slow_buff" not in param_state:
                    param_state["lookahead_slow_buff"] = torch.empty_like(fast_p)
                    param_state["lookahead_slow_buff"].copy_(fast_p)
                slow = param_state["lookahead_slow_buff"]
                slow.add_(fast_p - slow, alpha=group["lookahead_alpha"])
                fast_p.copy_(slow)

        def step(self, closure=None):
            loss = self._base_optimizer.step(closure)
            for group in self._base_optimizer.param_groups:
                group["lookahead_step"] += 1
                if group["lookahead_step"] % group["lookahead_k"] == 0:
                    self.update_slow(group)
            return loss

        def state_dict(self):
            return self._base_optimizer.state_dict()

        def load_state_dict(self, state_dict):
            self._base_optimizer.load_state_dict(state_dict)
            self.param_groups = self._base_optimizer.param_groups

    return Lion, LARS, Lookahead


def custom_optimizer_script(lib, state, X, Y, kind):
    torch, nn, F = lib.torch, lib.nn, lib.F
    Lion, LARS, Lookahead = _optimizers(torch)
    model = _net(nn)
    load_state(lib, model, state)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    if kind == "lion":
        opt = Lion(model.parameters(), lr=1e-3, weight_decay=1e-2)
    elif kind == "lars":
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        rest = [p for n, p in model.named_parameters() if p.ndim <= 1]
        opt = LARS([{"params": decay}, {"params": rest, "lars_exclude": True}], lr=0.2)
    else:
        opt = Lookahead(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), alpha=0.5, k=2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt if kind != "lookahead" else opt._base_optimizer,
                                              lambda s: 1.0 / (1.0 + 0.1 * s))
    calls = {"pre": 0, "post": 0}
    base = opt._base_optimizer if kind == "lookahead" else opt
    base.register_step_pre_hook(lambda o, a, k: calls.__setitem__("pre", calls["pre"] + 1))
    base.register_step_post_hook(lambda o, a, k: calls.__setitem__("post", calls["post"] + 1))
    rec = {"loss": [], "lr": []}

    def closure():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss
    for step in range(5):
        if kind == "lion":
            loss = opt.step(closure)
        else:
            loss = closure()
            opt.step()
        sched.step()
        rec["loss"].append(loss.item())
        rec["lr"].append([g["lr"] for g in opt.param_groups])
    rec["calls"] = (calls["pre"], calls["post"])
    rec["final"] = dict(model.state_dict())
    sd = opt.state_dict()
    rec["state_keys"] = sorted({k for s in sd["state"].values() for k in s})
    rec["group_keys"] = sorted(k for k in sd["param_groups"][0] if k != "params")
    return rec


def test_user_written_optimizers():
    rng = np.random.default_rng(95)
    X = rng.standard_normal((10, 5)).astype(np.float32)
    Y = rng.integers(0, 3, 10).astype(np.int64)
    state = numpy_state(_net(torch.nn))
    for kind in ("lion", "lars", "lookahead"):
        rt, rf = run_both_checked(custom_optimizer_script, state, X, Y, kind)
        assert_records_close(rf, rt, atol=2e-5, rtol=2e-4, path=kind)
