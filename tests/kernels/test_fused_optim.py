"""Fused multi-tensor optimizer steps (flambeau.optim._fused -> `_C.fused_*_`) against
torch.optim.X(..., foreach=False): 10-step trajectories of the parameters and of every state
tensor, for every combination of options, float32 and float64, on a list of parameters of mixed
sizes (including a 0-d and an empty one). Plus mixed dtypes, non-contiguous parameters, step
counters, thread-count independence and argument errors. Every test taking `device` also runs on
CUDA when available (parameters, grads, states and step counters on the device); the cross-device
tests check that CPU and CUDA give bitwise-identical trajectories over many steps. CPU-only: thread
counts and CPU capabilities."""
import itertools

import numpy as np
import pytest
import torch

import flambeau
from flambeau import _C
from flambeau.optim._fused import fused_sgd_, fused_adam_, fused_adamw_, fused_rmsprop_, fused_adagrad_
from helpers import fl_tensor, to_np, rand_array

SHAPES = [(3, 4), (17,), (5, 3, 2), (), (0, 3), (1031,)]
# float32: torch contracts some ops into FMAs and takes sqrt from its vector library; ours are
# plain IEEE ops, so trajectories agree to a few ulp. float64: the same, at double precision.
# atol is relative to the largest magnitude in the tensor: a state that is a difference of large
# terms (momentum buffers summing +-g/avg) carries rounding of the terms' size.
TOL = {"float32": dict(rtol=1e-6, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def assert_close(ours, ref, dtype, what, device=None):
    if device is not None:
        assert ours.device.type == device, f"{what} on {ours.device}, expected {device}"
    a, b = to_np(ours), ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale, err_msg=what)


def _combos(**options):
    keys = list(options)
    for values in itertools.product(*(options[k] for k in keys)):
        yield dict(zip(keys, values))


def _ids(cases):
    return ["-".join(f"{k}={v}" for k, v in c.items()) for c in cases]


SGD_CASES = [c for c in _combos(lr=[0.1], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                                weight_decay=[0.0, 0.1], maximize=[False, True])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = list(_combos(lr=[0.01], betas=[(0.9, 0.999), (0.3, 0.8)], weight_decay=[0.0, 0.1],
                          amsgrad=[False, True], maximize=[False, True]))
RMSPROP_CASES = list(_combos(lr=[0.01], alpha=[0.99, 0.3], weight_decay=[0.0, 0.1], momentum=[0.0, 0.9],
                             centered=[False, True], maximize=[False, True]))
ADAGRAD_CASES = list(_combos(lr=[0.1], lr_decay=[0.0, 0.1], weight_decay=[0.0, 0.1],
                             initial_accumulator_value=[0.0, 0.5], maximize=[False, True]))


def _zeros_like(p):
    return flambeau.zeros_like(p)


def _step_tensor(device="cpu", value=0.0):
    return flambeau.tensor(value, device=device)  # float32, as torch's state['step']


class _Fused:
    """Optimizer state kept the way torch.optim keeps it, stepped with the fused functions."""

    def __init__(self, name, kw, params, step_device=None):
        """step_device: where the step counters live (default: the parameters' device, as torch's
        fused=True; the kernels also take CPU counters)."""
        self.name, self.kw, self.params = name, dict(kw), params
        self.steps = [_step_tensor(step_device or (p.device.type if params else "cpu")) for p in params]
        z = lambda: [_zeros_like(p) for p in params]
        if name == "SGD":
            self.bufs = [None] * len(params)
        elif name in ("Adam", "AdamW"):
            self.exp_avgs, self.exp_avg_sqs, self.max_sqs = z(), z(), z()
        elif name == "RMSprop":
            self.square_avgs, self.grad_avgs, self.bufs = z(), z(), z()
        elif name == "Adagrad":
            v = kw.get("initial_accumulator_value", 0.0)
            self.sums = [flambeau.full_like(p, v) for p in params]

    def step(self, grads):
        kw, p = self.kw, self.params
        if self.name == "SGD":
            fused_sgd_(p, grads, self.bufs, lr=kw["lr"], momentum=kw["momentum"], dampening=kw["dampening"],
                       weight_decay=kw["weight_decay"], nesterov=kw["nesterov"], maximize=kw["maximize"])
        elif self.name in ("Adam", "AdamW"):
            fn = fused_adam_ if self.name == "Adam" else fused_adamw_
            b1, b2 = kw["betas"]
            fn(p, grads, self.exp_avgs, self.exp_avg_sqs, self.max_sqs, self.steps, lr=kw["lr"], beta1=b1,
               beta2=b2, eps=1e-8, weight_decay=kw["weight_decay"], amsgrad=kw["amsgrad"],
               maximize=kw["maximize"])
        elif self.name == "RMSprop":
            fused_rmsprop_(p, grads, self.square_avgs, self.grad_avgs, self.bufs, self.steps, lr=kw["lr"],
                           alpha=kw["alpha"], eps=1e-8, weight_decay=kw["weight_decay"], momentum=kw["momentum"],
                           centered=kw["centered"], maximize=kw["maximize"])
        else:
            fused_adagrad_(p, grads, self.sums, self.steps, lr=kw["lr"], lr_decay=kw["lr_decay"],
                           weight_decay=kw["weight_decay"], eps=1e-10, maximize=kw["maximize"])

    def states(self, i):
        """(name in torch's state dict, our tensor) pairs for parameter i."""
        n = self.name
        if n == "SGD":
            return [("momentum_buffer", self.bufs[i])] if self.kw["momentum"] != 0 else []
        if n in ("Adam", "AdamW"):
            out = [("exp_avg", self.exp_avgs[i]), ("exp_avg_sq", self.exp_avg_sqs[i]), ("step", self.steps[i])]
            return out + ([("max_exp_avg_sq", self.max_sqs[i])] if self.kw["amsgrad"] else [])
        if n == "RMSprop":
            out = [("square_avg", self.square_avgs[i]), ("step", self.steps[i])]
            out += [("grad_avg", self.grad_avgs[i])] if self.kw["centered"] else []
            return out + ([("momentum_buffer", self.bufs[i])] if self.kw["momentum"] > 0 else [])
        return [("sum", self.sums[i]), ("step", self.steps[i])]


def _trajectory(name, kw, dtype, rng, shapes=SHAPES, steps=10, device="cpu"):
    arrs = [rand_array(s, dtype, rng) for s in shapes]
    tps = [torch.tensor(a, requires_grad=True) for a in arrs]
    topt = getattr(torch.optim, name)(tps, foreach=False, **kw)
    fps = [fl_tensor(a, device=device) for a in arrs]
    opt = _Fused(name, kw, fps)
    for _ in range(steps):
        gs = [rand_array(s, dtype, rng) for s in shapes]
        for t, g in zip(tps, gs):
            t.grad = torch.tensor(g)
        topt.step()
        opt.step([fl_tensor(g, device=device) for g in gs])
    # (the CUDA kernels claim bitwise equality with the CPU ones: the same tolerance to torch)
    for i, (t, f) in enumerate(zip(tps, fps)):
        assert_close(f, t, dtype, f"param {i}", device)
        for key, ours in opt.states(i):
            assert_close(ours, topt.state[t][key], dtype, f"param {i} state {key}", device)
    return fps, opt


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", SGD_CASES, ids=_ids(SGD_CASES))
def test_sgd(kw, dtype, rng, device):
    _trajectory("SGD", kw, dtype, rng, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", ADAM_CASES, ids=_ids(ADAM_CASES))
def test_adam(kw, name, dtype, rng, device):
    _trajectory(name, kw, dtype, rng, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", RMSPROP_CASES, ids=_ids(RMSPROP_CASES))
def test_rmsprop(kw, dtype, rng, device):
    _trajectory("RMSprop", kw, dtype, rng, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", ADAGRAD_CASES, ids=_ids(ADAGRAD_CASES))
def test_adagrad(kw, dtype, rng, device):
    _trajectory("Adagrad", kw, dtype, rng, device=device)


def test_large_params_many_threads(rng, device):
    # Sizes that split unevenly across threads and vector lanes (and CUDA chunks of 32768).
    _trajectory("Adam", dict(lr=0.01, betas=(0.9, 0.999), weight_decay=0.1, amsgrad=True, maximize=False),
                "float32", rng, shapes=[(70001,), (3,), (50000, 3), (1,)], steps=3, device=device)


def test_mixed_dtypes_one_call(rng, device):
    a32, a64 = rand_array((7, 3), "float32", rng), rand_array((11,), "float64", rng)
    g32, g64 = rand_array((7, 3), "float32", rng), rand_array((11,), "float64", rng)
    tp = [torch.tensor(a32, requires_grad=True), torch.tensor(a64, requires_grad=True)]
    tp[0].grad, tp[1].grad = torch.tensor(g32), torch.tensor(g64)
    topt = torch.optim.Adam(tp, lr=0.1, foreach=False)
    topt.step()
    fp = [fl_tensor(a32, device=device), fl_tensor(a64, device=device)]
    opt = _Fused("Adam", dict(lr=0.1, betas=(0.9, 0.999), weight_decay=0.0, amsgrad=False, maximize=False), fp)
    opt.step([fl_tensor(g32, device=device), fl_tensor(g64, device=device)])
    assert fp[0].device.type == device and fp[1].device.type == device
    np.testing.assert_allclose(to_np(fp[0]), tp[0].detach().numpy(), **TOL["float32"])
    np.testing.assert_allclose(to_np(fp[1]), tp[1].detach().numpy(), **TOL["float64"])


def test_non_contiguous_params_and_grads(rng, device):
    base = rand_array((6, 5), "float32", rng)
    g = rand_array((5, 6), "float32", rng)
    tp = torch.tensor(np.ascontiguousarray(base.T), requires_grad=True)
    tp.grad = torch.tensor(g)
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False)
    fbase = fl_tensor(base, device=device)
    fp = fbase.t()                                        # a transposed view: updated through the view
    fg = fl_tensor(np.ascontiguousarray(g.T), device=device).t()  # a non-contiguous gradient
    bufs = [None]
    for _ in range(3):
        topt.step()
        fused_sgd_([fp], [fg], bufs, lr=0.1, momentum=0.9, weight_decay=0.01)
    assert fbase.device.type == device and bufs[0].device.type == device
    np.testing.assert_allclose(to_np(fbase).T, tp.detach().numpy(), **TOL["float32"])
    # a non-contiguous state tensor is written back too
    p2, m = fl_tensor(base, device=device), fl_tensor(np.zeros((5, 6), np.float32), device=device).t()
    v = flambeau.zeros(6, 5, device=device)
    st = [_step_tensor(device)]
    fused_adam_([p2], [fl_tensor(base, device=device)], [m], [v], [], st, lr=0.1, beta1=0.9, beta2=0.999,
                eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    np.testing.assert_allclose(to_np(m), 0.1 * base, rtol=1e-6)
    assert st[0].item() == 1.0


@pytest.mark.parametrize("step_on", ["cpu", "param"])
def test_step_counters(rng, device, step_on):
    # Counters on the CPU, or on the parameters' device (torch's fused=True): incremented in place,
    # in their own dtype, and the incremented value used (Adagrad's lr decay, Adam's bias correction).
    sd = "cpu" if step_on == "cpu" else device
    a = rand_array((4,), "float32", rng)
    ones = lambda: flambeau.ones(4, device=device)
    zeros = lambda: flambeau.zeros(4, device=device)
    p = [fl_tensor(a, device=device)]
    st = [flambeau.tensor(5.0, device=sd)]
    fused_adagrad_(p, [ones()], [zeros()], st, lr=0.1, lr_decay=0.5, weight_decay=0.0, eps=1e-10, maximize=False)
    assert st[0].item() == 6.0 and st[0].dtype == flambeau.float32 and st[0].device.type == sd
    # Adagrad: clr = lr / (1 + (step - 1) * lr_decay) with step 6; sum = 1, so p -= clr * 1 / (1 + eps)
    np.testing.assert_allclose(to_np(p[0]), a - np.float32(0.1 / (1 + 5 * 0.5)), rtol=1e-6, atol=1e-6)
    # several counters of several dtypes (float32, float64, int64; 0-d and shape [1]) in one call
    ps = [fl_tensor(rand_array((3,), "float64", rng), device=device) for _ in range(4)]
    sts = [flambeau.tensor(1.0, dtype=flambeau.float64, device=sd), flambeau.tensor([2.0], device=sd),
           flambeau.tensor(3, dtype=flambeau.int64, device=sd), flambeau.tensor(2.0**24, device=sd)]
    z3 = lambda: [flambeau.zeros(3, dtype=flambeau.float64, device=device) for _ in ps]
    fused_adam_(ps, [flambeau.ones(3, dtype=flambeau.float64, device=device) for _ in ps], z3(), z3(), [], sts,
                lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    assert [s.item() for s in sts] == [2.0, 3.0, 4, 2.0**24]  # float32 2^24 + 1 rounds to 2^24, as torch
    assert [s.dtype for s in sts] == [flambeau.float64, flambeau.float32, flambeau.int64, flambeau.float32]
    assert all(s.device.type == sd for s in sts) and tuple(sts[1].shape) == (1,)
    rm = [flambeau.tensor(0.0, device=sd)]
    fused_rmsprop_(p, [ones()], [zeros()], [], [], rm, lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0.0,
                   momentum=0.0, centered=False, maximize=False)
    assert rm[0].item() == 1.0


def test_thread_count_independent(rng):
    arrs = [rand_array((100003,), "float32", rng), rand_array((7, 9), "float32", rng)]
    grads = [rand_array(a.shape, "float32", rng) for a in arrs]
    n0 = _C.get_num_threads()
    results = []
    try:
        for nt in (1, max(2, n0)):
            _C.set_num_threads(nt)
            ps = [fl_tensor(a) for a in arrs]
            opt = _Fused("RMSprop", dict(lr=0.01, alpha=0.99, weight_decay=0.1, momentum=0.9, centered=True,
                                         maximize=False), ps)
            for _ in range(3):
                opt.step([fl_tensor(g) for g in grads])
            results.append([to_np(p) for p in ps])
    finally:
        _C.set_num_threads(n0)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_errors(rng, device):
    zs = lambda *shape, dtype=flambeau.float32: flambeau.zeros(*shape, dtype=dtype, device=device)
    p = [zs(3, 4), zs(5)]
    g = [zs(3, 4), zs(5)]
    z = lambda: [zs(3, 4), zs(5)]
    st = lambda: [_step_tensor(device), _step_tensor(device)]
    kw = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    with pytest.raises(ValueError, match=r"fused_adam_: got 2 params but 1 grads"):
        fused_adam_(p, g[:1], z(), z(), [], st(), **kw)
    with pytest.raises(ValueError, match=r"fused_adam_: exp_avgs\[1\] has shape \[6\] but params\[1\] has shape \[5\]"):
        fused_adam_(p, g, [zs(3, 4), zs(6)], z(), [], st(), **kw)
    with pytest.raises(TypeError, match=r"fused_adam_: grads\[0\] has dtype float64 but params\[0\] has dtype float32"):
        fused_adam_(p, [zs(3, 4, dtype=flambeau.float64), g[1]], z(), z(), [], st(), **kw)
    with pytest.raises(ValueError, match=r"fused_adam_: state_steps\[0\] should have 1 element"):
        fused_adam_(p, g, z(), z(), [], [zs(2), _step_tensor(device)], **kw)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64"):
        fused_sgd_([zs(3, dtype=flambeau.int64)], [zs(3, dtype=flambeau.int64)], [None], lr=0.1)
    with pytest.raises(ValueError, match=r"fused_rmsprop_: got 2 params but 1 momentum_buffers"):
        fused_rmsprop_(p, g, z(), [], [zs(3, 4)], st(), lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0,
                       momentum=0.9, centered=False, maximize=False)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        fused_sgd_(p, g, [None, None], lr=0.1, momentum=0.0, nesterov=True)
    # Nothing was modified by the failed calls (checks come first, steps untouched).
    s = st()
    with pytest.raises(ValueError):
        fused_adam_(p, g, z(), z(), [], [s[0], zs(2)], **kw)
    assert s[0].item() == 0.0
    assert not np.any(to_np(p[0])) and p[0].device.type == device
    with pytest.raises(TypeError, match=r"fused_adam_: state_steps\[1\] has dtype bool"):
        fused_adam_(p, g, z(), z(), [], [s[0], zs(1, dtype=flambeau.bool)], **kw)
    assert s[0].item() == 0.0


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="torch's kernels fuse multiply-adds only in its AVX2/AVX-512 builds")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_bit_exact(dtype, rng, device):
    # SGD has no sqrt: with the FMAs placed where torch's kernels place them, every bit agrees.
    kw = dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False, maximize=True)
    shapes = [(33,), (4, 5), ()]
    arrs = [rand_array(s, dtype, rng) for s in shapes]
    tps = [torch.tensor(a, requires_grad=True) for a in arrs]
    topt = torch.optim.SGD(tps, foreach=False, **kw)
    fps = [fl_tensor(a, device=device) for a in arrs]
    opt = _Fused("SGD", kw, fps)
    for _ in range(10):
        gs = [rand_array(s, dtype, rng) for s in shapes]
        for t, g in zip(tps, gs):
            t.grad = torch.tensor(g)
        topt.step()
        opt.step([fl_tensor(g, device=device) for g in gs])
    for t, f in zip(tps, fps):
        assert f.device.type == device
        np.testing.assert_array_equal(to_np(f), t.detach().numpy())


@pytest.mark.parametrize("name,kw", [
    ("Adam", dict(lr=0.01, betas=(0.3, 0.8), weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, weight_decay=0.1, momentum=0.9, centered=True, maximize=False)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5, maximize=False)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.1, nesterov=True, maximize=False)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_on_every_cpu_capability(name, kw, dtype, rng):
    shapes = [(37,), (5, 7)]
    arrs = [rand_array(s, dtype, rng) for s in shapes]
    grads = [[rand_array(s, dtype, rng) for s in shapes] for _ in range(3)]
    before = _C.cpu_capability()
    results = []
    try:
        for cap in ("default", "avx2", "avx512"):
            _C.set_cpu_capability(cap)  # capped at what this CPU has
            ps = [fl_tensor(a) for a in arrs]
            opt = _Fused(name, kw, ps)
            for gs in grads:
                opt.step([fl_tensor(g) for g in gs])
            results.append([to_np(p) for p in ps])
    finally:
        _C.set_cpu_capability(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------- CPU vs CUDA
# csrc/cuda/optimizer.cu spells every operation with `_rn` intrinsics in the CPU kernels' order:
# trajectories must agree bit for bit with the CPU's, parameters, every state and the counters.

def _cuda_devices(devices):
    others = [d for d in devices if d != "cpu"]
    if not others:
        pytest.skip("no CUDA device")
    return others


# many small tensors (odd sizes, a 0-d and an empty one) plus one above a CUDA chunk (32768)
CROSS_SHAPES = [(3, 4), (17,), (5, 3, 2), (), (0, 3), (1,), (2, 2), (31,), (7, 5), (64,), (129,), (3, 3, 3)] * 3 \
    + [(32768 + 4099,)]
ALL_CASES = ([("SGD", c) for c in SGD_CASES] + [(n, c) for n in ("Adam", "AdamW") for c in ADAM_CASES]
             + [("RMSprop", c) for c in RMSPROP_CASES] + [("Adagrad", c) for c in ADAGRAD_CASES])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", ALL_CASES, ids=[f"{n}-{i}" for n, i in zip((c[0] for c in ALL_CASES),
                                                                                   _ids([c[1] for c in ALL_CASES]))])
def test_cross_device_bitwise_trajectories(name, kw, dtype, devices, rng):
    cudas = _cuda_devices(devices)
    arrs = [rand_array(s, dtype, rng) for s in CROSS_SHAPES]
    grads = [[rand_array(s, dtype, rng) for s in CROSS_SHAPES] for _ in range(4)]
    steps = 25
    runs = {}
    for dev in ["cpu"] + cudas:
        ps = [fl_tensor(a, device=dev) for a in arrs]
        opt = _Fused(name, kw, ps)
        for k in range(steps):
            opt.step([fl_tensor(g, device=dev) for g in grads[k % len(grads)]])
        runs[dev] = (ps, opt)
    cps, copt = runs["cpu"]
    for dev in cudas:
        dps, dopt = runs[dev]
        for i in range(len(arrs)):
            assert dps[i].device.type == dev
            np.testing.assert_array_equal(to_np(dps[i]), to_np(cps[i]), err_msg=f"{dev} param {i}")
            for (key, ours), (_, ref) in zip(dopt.states(i), copt.states(i)):
                assert ours.device.type == dev
                np.testing.assert_array_equal(to_np(ours), to_np(ref), err_msg=f"{dev} param {i} state {key}")


def test_cross_device_step_counters(devices, rng):
    """CUDA parameters with CPU counters, with counters on the device, and a CPU counter beside CUDA
    ones in one call: the same trajectory; a counter on another device than the parameters raises."""
    cudas = _cuda_devices(devices)
    kw = dict(lr=0.01, betas=(0.9, 0.999), weight_decay=0.1, amsgrad=True, maximize=False)
    shapes = [(5,), (40000,), ()]
    arrs = [rand_array(s, "float32", rng) for s in shapes]
    grads = [[rand_array(s, "float32", rng) for s in shapes] for _ in range(3)]
    results = []
    for dev, step_device in [("cpu", "cpu")] + [(d, sd) for d in cudas for sd in ("cpu", d, "mixed")]:
        ps = [fl_tensor(a, device=dev) for a in arrs]
        opt = _Fused("Adam", kw, ps, step_device="cpu" if step_device == "mixed" else step_device)
        if step_device == "mixed":
            opt.steps[1] = _step_tensor(dev)
        for k in range(12):
            opt.step([fl_tensor(g, device=dev) for g in grads[k % 3]])
        assert all(s.item() == 12.0 for s in opt.steps)
        results.append([to_np(p) for p in ps])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    # counters must be on the CPU or on the parameters' device
    p = [flambeau.zeros(3)]
    with pytest.raises(RuntimeError, match=r"fused_adagrad_: state_steps\[0\] must be a CPU tensor or on "
                                           r"params\[0\]'s device \(cpu\), got cuda"):
        fused_adagrad_(p, [flambeau.zeros(3)], [flambeau.zeros(3)], [_step_tensor(cudas[0])], lr=0.1,
                       lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False)
