"""optim.Muon against torch.optim.Muon: trajectories of several 2-D parameters (wide, tall, square) over several
steps for each option, param groups, a state_dict round trip that continues identically, the argument errors;
the bfloat16 addmm it relies on (float32 compute, one rounding, as PyTorch's CPU addmm/baddbmm); and
optim.swap_in_optimizer_params_and_state."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import optim

SHAPES = [(6, 5), (4, 9), (7, 7), (1, 3)]


def params_pair(dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    tp = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    fp = [flambeau.nn.Parameter(flambeau.from_numpy(a.copy())) for a in arrays]
    return tp, fp


def set_grads(tp, fp, step, dtype="float32"):
    rng = np.random.default_rng(1000 + step)
    for t, f in zip(tp, fp):
        g = (rng.standard_normal(tuple(t.shape)) * (0.01 if step % 3 == 0 else 2.0)).astype(dtype)
        t.grad = torch.from_numpy(g.copy())
        f.grad = flambeau.from_numpy(g.copy())


def run_steps(tp, fp, topt, fopt, steps, start=0, dtype="float32"):
    for step in range(start, start + steps):
        set_grads(tp, fp, step, dtype)
        topt.step()
        fopt.step()
        for t, f in zip(tp, fp):
            # the Newton-Schulz part is bfloat16 in both and matches bit for bit; the rest is the same
            # float ops in the same order
            np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-6, rtol=1e-6)
            np.testing.assert_allclose(fopt.state[f]["momentum_buffer"].numpy(),
                                       topt.state[t]["momentum_buffer"].numpy(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.02), dict(lr=0.05, weight_decay=0.0), dict(momentum=0.9),
                                dict(nesterov=False), dict(adjust_lr_fn="original"),
                                dict(adjust_lr_fn="match_rms_adamw"), dict(ns_steps=3),
                                dict(ns_coefficients=(2.0, -1.5, 0.5), eps=1e-3), dict(momentum=0.0)])
def test_muon_matches_torch(kw):
    tp, fp = params_pair()
    topt = torch.optim.Muon(tp, **kw)
    fopt = optim.Muon(fp, **kw)
    run_steps(tp, fp, topt, fopt, steps=6)
    assert all(sorted(fopt.state[f]) == ["momentum_buffer"] for f in fp)


def test_muon_float64_params():
    tp, fp = params_pair("float64", seed=3)
    topt = torch.optim.Muon(tp, lr=0.03)
    fopt = optim.Muon(fp, lr=0.03)
    run_steps(tp, fp, topt, fopt, steps=4, dtype="float64")


def test_muon_tensor_lr_and_skipped_params():
    tp, fp = params_pair(seed=4)
    topt = torch.optim.Muon(tp, lr=torch.tensor(0.02))
    fopt = optim.Muon(fp, lr=flambeau.tensor(0.02))
    set_grads(tp, fp, 1)
    tp[1].grad = None
    fp[1].grad = None
    topt.step()
    fopt.step()
    assert fp[1] not in fopt.state
    for t, f in zip(tp, fp):
        np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=1e-6, rtol=1e-6)


def test_muon_param_groups_and_state_dict_round_trip():
    tp, fp = params_pair(seed=1)
    topt = torch.optim.Muon([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.04, "nesterov": False}], lr=0.01)
    fopt = optim.Muon([{"params": fp[:2]}, {"params": fp[2:], "lr": 0.04, "nesterov": False}], lr=0.01)
    run_steps(tp, fp, topt, fopt, steps=3)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert [sorted(g) for g in fsd["param_groups"]] == [sorted(g) for g in tsd["param_groups"]]
    assert sorted(fsd["state"]) == sorted(tsd["state"])
    # a new optimizer on copies of the parameters, loaded from the state dict, continues identically
    fp2 = [flambeau.nn.Parameter(f.detach().clone()) for f in fp]
    fopt2 = optim.Muon([{"params": fp2[:2]}, {"params": fp2[2:]}])
    fopt2.load_state_dict(fsd)
    assert fopt2.param_groups[1]["lr"] == 0.04 and fopt2.param_groups[1]["nesterov"] is False
    run_steps(tp, fp2, topt, fopt2, steps=3, start=3)


def test_muon_closure_returns_loss():
    w = flambeau.nn.Parameter(flambeau.randn(3, 4))
    opt = optim.Muon([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    before = w.detach().clone()
    loss = opt.step(closure)
    assert abs(loss.item() - float((before * before).sum())) < 1e-4
    assert not np.allclose(w.detach().numpy(), before.numpy())


@pytest.mark.parametrize("args, kw, msg", [
    ((), dict(lr=-1.0), "Learning rate should be >= 0"),
    ((), dict(momentum=-0.1), "momentum should be >= 0"),
    ((), dict(weight_decay=-0.1), "weight decay should be >= 0"),
    ((), dict(adjust_lr_fn="nope"), "Adjust learning rate function nope is not supported"),
])
def test_muon_argument_errors(args, kw, msg):
    for lib in (torch, flambeau):
        with pytest.raises(ValueError, match=msg):
            lib.optim.Muon([lib.nn.Parameter(lib.zeros(2, 2))], **kw)


def test_muon_rejects_non_2d_params_and_bad_ns_steps():
    for lib in (torch, flambeau):
        with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
            lib.optim.Muon([lib.nn.Parameter(lib.zeros(3))])
        p = lib.nn.Parameter(lib.zeros(2, 2))
        opt = lib.optim.Muon([p], ns_steps=100)
        p.grad = lib.ones(2, 2)
        with pytest.raises(ValueError, match="Number of steps must be less than 100"):
            opt.step()


@pytest.mark.parametrize("dt", ["bfloat16", "float16"])
def test_half_addmm_and_baddbmm_round_once_like_torch(dt):
    rng = np.random.default_rng(7)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in [(7, 9), (9, 6), (7, 6)])
    t = [torch.from_numpy(x).to(getattr(torch, dt)) for x in (c, a, b)]
    f = [flambeau.from_numpy(x).to(getattr(flambeau, dt)) for x in (c, a, b)]
    for beta, alpha in [(1, 1), (-4.775, 2.0315), (0.3, 1.7)]:
        r_t = torch.addmm(*t, beta=beta, alpha=alpha)
        r_f = flambeau.addmm(*f, beta=beta, alpha=alpha)
        assert r_f.dtype == getattr(flambeau, dt)
        np.testing.assert_array_equal(r_f.float().numpy(), r_t.float().numpy())
    a3, b3 = rng.standard_normal((3, 7, 9)).astype(np.float32), rng.standard_normal((3, 9, 6)).astype(np.float32)
    r_t = torch.baddbmm(t[0], torch.from_numpy(a3).to(t[0].dtype), torch.from_numpy(b3).to(t[0].dtype),
                        beta=0.3, alpha=1.7)
    r_f = flambeau.baddbmm(f[0], flambeau.from_numpy(a3).to(f[0].dtype), flambeau.from_numpy(b3).to(f[0].dtype),
                           beta=0.3, alpha=1.7)
    np.testing.assert_array_equal(r_f.float().numpy(), r_t.float().numpy())


def test_half_addmm_gradients_flow():
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(6,), (5, 4), (4, 6)]]
    t = [torch.from_numpy(x).bfloat16().requires_grad_() for x in arrays]
    f = [flambeau.from_numpy(x).bfloat16().requires_grad_() for x in arrays]
    torch.addmm(*t, beta=0.5, alpha=2.0).float().sum().backward()
    flambeau.addmm(*f, beta=0.5, alpha=2.0).float().sum().backward()
    for x, y in zip(t, f):
        assert y.grad.dtype == flambeau.bfloat16
        np.testing.assert_allclose(y.grad.float().numpy(), x.grad.float().numpy(), rtol=2 ** -7, atol=2 ** -7)


def _swap_case(lib):
    rng = np.random.default_rng(11)
    w = [lib.nn.Parameter(lib.from_numpy(rng.standard_normal(s).astype(np.float32))) for s in [(3, 4), (4, 2)]]
    opt = lib.optim.SGD([{"params": [w[0]]}, {"params": [w[1]], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in w:
        p.grad = lib.ones_like(p)
    opt.step()
    osd = opt.state_dict()
    other = {f"p{i}": lib.nn.Parameter(lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
             for i, p in enumerate(w)}
    for p in other.values():
        p.grad = lib.full_like(p, 2.0)
    swap_state = {"state": {k: {kk: vv.clone() for kk, vv in v.items()} for k, v in osd["state"].items()},
                  "param_groups": [dict(g, lr=0.25) for g in osd["param_groups"]]}
    live_before = [p.detach().clone() for p in w]
    with lib.optim.swap_in_optimizer_params_and_state(opt, other, swap_state):
        assert opt.param_groups[0]["params"][0] is other["p0"] and opt.param_groups[1]["lr"] == 0.25
        opt.step()
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["params"][0] is w[0]
    assert all(np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(live_before, w))
    return ([p.detach().numpy() for p in other.values()]
            + [swap_state["state"][k]["momentum_buffer"].numpy() for k in sorted(swap_state["state"])])


def test_swap_in_optimizer_params_and_state_matches_torch():
    for a, b in zip(_swap_case(torch), _swap_case(flambeau)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def test_swap_in_errors():
    for lib in (torch, flambeau):
        p = lib.nn.Parameter(lib.zeros(2, 2))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        with pytest.raises(RuntimeError, match="requires initialized optimizer state"):
            with lib.optim.swap_in_optimizer_params_and_state(opt, {"p": p}, opt.state_dict()):
                pass
        p.grad = lib.ones(2, 2)
        opt.step()
        bad = opt.state_dict()
        bad["param_groups"] = bad["param_groups"] * 2
        with pytest.raises(RuntimeError, match="different number of parameter groups"):
            with lib.optim.swap_in_optimizer_params_and_state(opt, {"p": p}, bad):
                pass


@pytest.mark.parametrize("other_dt", ["bfloat16", "float16"])
def test_add_alpha_scales_a_half_operand_in_the_result_dtype(other_dt):
    # float32 += alpha * bfloat16 (Muon's last line): PyTorch scales in float32, never rounds alpha * other to
    # half. (PyTorch also fuses the multiply-add, one rounding; flambeau rounds alpha * other to float32 first,
    # hence one float32 ulp of tolerance; rounding to half had given errors of a half ulp of alpha * other.)
    rng = np.random.default_rng(9)
    p, u = rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((6, 5)).astype(np.float32)
    tu, fu = torch.from_numpy(u).to(getattr(torch, other_dt)), flambeau.from_numpy(u).to(getattr(flambeau, other_dt))
    for alpha in (-0.0012247, 3.3):
        tol_scale = np.abs(p).max() + abs(alpha) * np.abs(u).max()  # one float32 ulp of the operands
        for op in ("add", "sub"):
            t = getattr(torch.from_numpy(p.copy()), op)(tu, alpha=alpha)
            f = getattr(flambeau.from_numpy(p.copy()), op)(fu, alpha=alpha)
            np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=0, atol=2.4e-7 * tol_scale)
            t = getattr(torch.from_numpy(p.copy()), op + "_")(tu, alpha=alpha)
            f = getattr(flambeau.from_numpy(p.copy()), op + "_")(fu, alpha=alpha)
            np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=0, atol=2.4e-7 * tol_scale)
