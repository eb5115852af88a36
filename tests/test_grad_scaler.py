"""amp.GradScaler("cpu") against PyTorch's: the same scale, growth tracker, skipped steps on inf/NaN gradients,
parameters and state_dict step by step, PyTorch's state-machine errors, and the disabled "cuda" scaler."""
import warnings

import numpy as np
import pytest
import torch

import flambeau


def _train(lib, state, X, Y, poison_steps, growth_interval=3, unscale_first=True, steps=9):
    model = lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 2))
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25,
                                growth_interval=growth_interval)
    x, y = lib.from_numpy(X), lib.from_numpy(Y)
    rec = []
    for step in range(steps):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        scaled = scaler.scale(loss)
        scaled.backward()
        if step in poison_steps:  # an overflowing gradient, as float16 training produces
            model[0].weight.grad[0, 0] = float("inf") if step % 2 else float("nan")
        if unscale_first:
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        ret = scaler.step(opt)
        scaler.update()
        rec.append((scaled.item(), loss.item(), scaler.get_scale(), scaler._get_growth_tracker(), ret,
                    [p.detach().numpy().copy() for p in model.parameters()],
                    model[2].bias.grad.numpy().copy()))
    return rec, scaler.state_dict()


@pytest.mark.parametrize("unscale_first", [True, False])
def test_grad_scaler_cpu_matches_pytorch(unscale_first):
    rng = np.random.default_rng(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    state = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    X = rng.standard_normal((8, 4)).astype(np.float32)
    Y = rng.integers(0, 2, 8).astype(np.int64)
    poison = {3, 7}  # growth after steps 0-2 and 4-6, back-off at 3 and 7
    want, want_sd = _train(torch, state, X, Y, poison, unscale_first=unscale_first)
    got, got_sd = _train(flambeau, state, X, Y, poison, unscale_first=unscale_first)
    assert got_sd == want_sd
    for step, (g, w) in enumerate(zip(got, want)):
        assert g[2:5] == w[2:5], f"step {step}: (scale, tracker, step return) {g[2:5]} != {w[2:5]}"
        np.testing.assert_allclose(g[0], w[0], rtol=1e-6)
        np.testing.assert_allclose(g[1], w[1], rtol=1e-6, atol=1e-7)
        for a, b in zip(g[5], w[5]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g[6], w[6], rtol=1e-5, atol=1e-6)  # unscaled gradients


def test_grad_scaler_state_dict_round_trip_and_new_scale():
    s = flambeau.amp.GradScaler("cpu")
    t = torch.amp.GradScaler("cpu")
    assert s.state_dict() == t.state_dict()
    assert s.get_scale() == t.get_scale() == 65536.0 and s.is_enabled()
    sd = {"scale": 128.0, "growth_factor": 3.0, "backoff_factor": 0.5, "growth_interval": 7, "_growth_tracker": 2}
    s.load_state_dict(sd)
    t.load_state_dict(sd)
    assert s.state_dict() == t.state_dict()
    x = flambeau.tensor(1.5, requires_grad=True)
    assert s.scale(x).item() == 192.0
    assert [v.item() for v in s.scale([x, (x, x)])[1]] == [192.0, 192.0]
    p = flambeau.nn.Parameter(flambeau.ones(2))
    opt = flambeau.optim.SGD([p], lr=1.0)
    s.scale((p * 2).sum()).backward()
    s.step(opt)
    s.update(new_scale=4.0)
    assert s.get_scale() == 4.0
    with pytest.raises(RuntimeError, match="empty"):
        flambeau.amp.GradScaler("cpu").load_state_dict({})


def test_grad_scaler_state_machine_errors_match_pytorch():
    for lib in (torch, flambeau):
        p = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="_scale is None"):
            s.unscale_(opt)
        s.scale((p * p).sum()).backward()
        s.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called on this optimizer"):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            s.step(opt)
        with pytest.raises(RuntimeError, match="after step"):
            s.unscale_(opt)
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            s.step(opt, closure=lambda: None)
        s.update()
        with pytest.raises(AssertionError, match="No inf checks"):
            s.update()
        with pytest.raises(AssertionError, match="growth factor"):
            lib.amp.GradScaler("cpu", growth_factor=1.0)


@pytest.mark.skipif(flambeau.cuda.is_available(), reason="the 'cuda' scaler is enabled where CUDA is")
def test_cuda_scaler_without_cuda_warns_and_is_disabled_like_pytorch():
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling."):
        s = flambeau.amp.GradScaler("cuda")
    t = flambeau.tensor(2.0)
    assert s.scale(t) is t and not s.is_enabled() and s.get_scale() == 1.0 and s.state_dict() == {}
    s.load_state_dict({})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not flambeau.cuda.amp.GradScaler().is_enabled()
