"""optim.Adafactor against torch.optim.Adafactor: trajectories of a model with matrix, 3-D and vector
parameters (factored and unfactored second moments) over several steps, every option, param groups, float64,
state keys and a state_dict round trip that continues identically, and the argument errors."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import optim

TOL = {"float32": dict(atol=1e-6, rtol=1e-5), "float64": dict(atol=1e-12, rtol=1e-10)}
SHAPES = [(6, 5), (3, 4, 2), (5,), (1, 7)]


def params_pair(dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    tp = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    fp = [flambeau.nn.Parameter(flambeau.from_numpy(a.copy())) for a in arrays]
    return tp, fp


def grads(step, dtype):
    rng = np.random.default_rng(100 + step)
    # the scale varies per step, so the relative-step and clipping branches are all taken
    return [(rng.standard_normal(s) * (0.01 if step % 3 == 0 else 3.0)).astype(dtype) for s in SHAPES]


def run_steps(tp, fp, topt, fopt, dtype, steps, start=0):
    for step in range(start, start + steps):
        for t, f, g in zip(tp, fp, grads(step, dtype)):
            t.grad = torch.from_numpy(g.copy())
            f.grad = flambeau.from_numpy(g.copy())
        topt.step()
        fopt.step()
        for t, f in zip(tp, fp):
            np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [dict(), dict(lr=0.5), dict(lr=1e-3, weight_decay=0.1), dict(beta2_decay=-0.5),
                                dict(eps=(1e-20, 1e-2)), dict(d=2.0), dict(maximize=True),
                                dict(lr=torch.tensor(0.05))])
def test_adafactor_matches_torch(dtype, kw):
    tp, fp = params_pair(dtype)
    fkw = {k: (flambeau.tensor(v.item()) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    topt = torch.optim.Adafactor(tp, **kw)
    fopt = optim.Adafactor(fp, **fkw)
    run_steps(tp, fp, topt, fopt, dtype, steps=7)
    for t, f in zip(tp, fp):
        assert sorted(fopt.state[f]) == sorted(topt.state[t])
        for key in topt.state[t]:
            np.testing.assert_allclose(fopt.state[f][key].numpy(), topt.state[t][key].numpy(), **TOL[dtype])


def test_adafactor_param_groups_and_state_dict_round_trip():
    tp, fp = params_pair("float32", seed=1)
    topt = torch.optim.Adafactor([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.3, "weight_decay": 0.01}])
    fopt = optim.Adafactor([{"params": fp[:2]}, {"params": fp[2:], "lr": 0.3, "weight_decay": 0.01}])
    run_steps(tp, fp, topt, fopt, "float32", steps=3)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert [sorted(g) for g in fsd["param_groups"]] == [sorted(g) for g in tsd["param_groups"]]
    fresh = optim.Adafactor([{"params": fp[:2]}, {"params": fp[2:], "lr": 0.3, "weight_decay": 0.01}])
    fresh.load_state_dict(fsd)
    run_steps(tp, fp, topt, fresh, "float32", steps=3, start=3)


def test_adafactor_skips_params_without_grad_and_errors():
    p, q = flambeau.nn.Parameter(flambeau.ones(3, 2)), flambeau.nn.Parameter(flambeau.ones(2))
    opt = optim.Adafactor([p, q])
    p.grad = flambeau.ones(3, 2)
    opt.step()
    assert q not in opt.state or len(opt.state[q]) == 0
    assert sorted(opt.state[p]) == ["col_var", "row_var", "step"]
    for kw, msg in [(dict(lr=-1.0), "learning rate"), (dict(beta2_decay=0.5), "beta2_decay should be <= 0"),
                    (dict(eps=(-1.0, 1e-3)), "epsilon1 should be >= 0"), (dict(eps=(None, -1.0)), "epsilon2"),
                    (dict(d=0.5), "Clipping threshold d should be >= 1"), (dict(weight_decay=-1), "weight_decay")]:
        with pytest.raises(ValueError, match=msg):
            optim.Adafactor([p], **kw)
