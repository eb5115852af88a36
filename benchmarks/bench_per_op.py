"""Python per-op cost of the calls small models and RL scripts make on every step, flambeau beside
PyTorch CPU in the same process (alternating rounds, median of the rounds' mean time per call, us):

    PYTHONPATH=python python benchmarks/bench_per_op.py [--cpu-time] [--rounds 7]

Tensors are tiny (4 elements, 8x8, a 32x64 batch) so that the arithmetic is negligible and what is
measured is the path from the Python call to the kernel and back: argument handling, autograd
recording, Tensor creation, attribute reads. --cpu-time counts only this process's CPU time (other
load on the cores then inflates neither library's rounds). To compare two flambeau trees, run it once
per tree (PYTHONPATH) in the same window; the torch column is the yardstick of each run.
"""
import statistics
import sys
import time

import numpy as np

import flambeau

try:
    import torch
except ImportError:  # still reports our numbers
    torch = None

_clock = time.process_time if "--cpu-time" in sys.argv else time.perf_counter
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 7


def per_call_us(fn, n):
    fn()
    t0 = _clock()
    for _ in range(n):
        fn()
    return (_clock() - t0) / n * 1e6


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def case_add(lib, rg):
    a = lib.tensor(_arr(4), requires_grad=rg)
    b = lib.tensor(_arr(4, seed=1), requires_grad=rg)
    return lambda: a + b


def case_relu(lib, rg):
    a = lib.tensor(_arr(4), requires_grad=rg)
    return lambda: a.relu()


def case_matmul(lib, rg):
    a = lib.tensor(_arr(8, 8), requires_grad=rg)
    b = lib.tensor(_arr(8, 8, seed=1), requires_grad=rg)
    return lambda: a @ b


def case_linear(lib, rg):
    F = lib.nn.functional
    x = lib.tensor(_arr(32, 64))
    w = lib.tensor(_arr(64, 64, seed=1), requires_grad=rg)
    b = lib.tensor(_arr(64, seed=2), requires_grad=rg)
    return lambda: F.linear(x, w, b)


def case_view(lib, expr):
    x = lib.tensor(_arr(64, 64))
    return {"x.view(-1)": lambda: x.view(-1), "x[0]": lambda: x[0], "x.size(0)": lambda: x.size(0),
            "x.shape": lambda: x.shape}[expr]


def case_misc(lib, expr):
    v = lib.tensor(_arr(4))
    a = _arr(4)
    dev = v.device
    return {"cat": lambda: lib.cat([v, v]), "stack": lambda: lib.stack([v, v]), "to": lambda: v.to(dev),
            "from_numpy": lambda: lib.from_numpy(a)}[expr]


def case_grad_read(lib):
    p = lib.nn.Parameter(lib.tensor(_arr(4)))
    p.grad = lib.tensor(_arr(4, seed=1))
    return lambda: p.grad


def case_backward(lib):
    a = lib.tensor(_arr(4), requires_grad=True)
    b = lib.tensor(_arr(4, seed=1), requires_grad=True)

    def step():
        ((a * b).relu().sum()).backward()
        a.grad = None
        b.grad = None
    return step


def _mlp(lib):
    lib.manual_seed(0)
    nn = lib.nn
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def case_sgd_step(lib):
    model = _mlp(lib)
    for p in model.parameters():
        p.grad = lib.ones_like(p) * 1e-3
    opt = lib.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    return opt.step


def case_mlp_step(lib):
    """A full training step of a 3-layer MLP on a 32x64 batch: forward, loss, zero_grad, backward, SGD."""
    model = _mlp(lib)
    opt = lib.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = lib.tensor(_arr(32, 64))
    y = lib.tensor(np.arange(32) % 10)
    F = lib.nn.functional

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def case_rl_loop(lib):
    """An RL-like step of tiny ops: a 4->32->2 policy on one observation, softmax, a value update with
    scalar arithmetic, .item() to hand an action to the environment (no autograd)."""
    lib.manual_seed(0)
    nn = lib.nn
    policy = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 2))
    obs = lib.tensor(_arr(4))
    v = lib.zeros(4)

    def step():
        with lib.no_grad():
            logits = policy(obs)
            probs = logits.softmax(-1)
            a = int(probs.argmax().item())
            v.mul_(0.99).add_(obs * probs[a])
            return a
    return step


def case_categorical(lib):
    """A policy's action draw: Categorical over 10 probabilities, one sample (multinomial underneath)."""
    probs = lib.tensor(np.full(10, 0.1, np.float32))
    dist = lib.distributions.Categorical(probs=probs)
    return dist.sample


def case_multinomial(lib):
    p = lib.tensor(np.linspace(0.1, 1.0, 10).astype(np.float32))
    return lambda: lib.multinomial(p, 1)


CASES = [
    ("a + b (4)", lambda lib: case_add(lib, False), 20000),
    ("a + b (4, requires_grad)", lambda lib: case_add(lib, True), 20000),
    ("a.relu() (4)", lambda lib: case_relu(lib, False), 20000),
    ("a.relu() (4, requires_grad)", lambda lib: case_relu(lib, True), 20000),
    ("a @ b (8x8)", lambda lib: case_matmul(lib, False), 20000),
    ("a @ b (8x8, requires_grad)", lambda lib: case_matmul(lib, True), 20000),
    ("F.linear (32x64, 64->64)", lambda lib: case_linear(lib, False), 5000),
    ("F.linear (32x64, 64->64, rg)", lambda lib: case_linear(lib, True), 5000),
    ("x.view(-1)", lambda lib: case_view(lib, "x.view(-1)"), 20000),
    ("x[0]", lambda lib: case_view(lib, "x[0]"), 20000),
    ("x.size(0)", lambda lib: case_view(lib, "x.size(0)"), 50000),
    ("x.shape", lambda lib: case_view(lib, "x.shape"), 50000),
    ("p.grad (set)", case_grad_read, 50000),
    ("cat([v, v]) (4)", lambda lib: case_misc(lib, "cat"), 20000),
    ("stack([v, v]) (4)", lambda lib: case_misc(lib, "stack"), 20000),
    ("v.to(v.device)", lambda lib: case_misc(lib, "to"), 50000),
    ("from_numpy (4)", lambda lib: case_misc(lib, "from_numpy"), 20000),
    ("(a*b).relu().sum().backward()", case_backward, 3000),
    ("SGD(momentum).step(), 6 params", case_sgd_step, 3000),
    ("MLP 32x64 fwd+bwd+SGD step", case_mlp_step, 500),
    ("RL loop step (tiny policy)", case_rl_loop, 5000),
    ("Categorical(10 probs).sample()", case_categorical, 20000),
    ("multinomial(p of 10, 1)", case_multinomial, 20000),
]


def main():
    if torch is not None:
        torch.set_num_threads(1)
    flambeau.set_num_threads(1)
    libs = [flambeau] + ([torch] if torch is not None else [])
    load = open("/proc/loadavg").read().split()[0] if sys.platform.startswith("linux") else "?"
    print(f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load {load}, "
          f"{'cpu' if _clock is time.process_time else 'wall'} time, {ROUNDS} rounds, 1 thread, "
          f"torch {torch.__version__ if torch else '-'}")
    print(f"{'case':34s} {'flambeau us':>12s} {'torch us':>10s} {'torch/ours':>10s}")
    for name, make, n in CASES:
        fns = {lib: make(lib) for lib in libs}
        times = {lib: [] for lib in libs}
        for _ in range(ROUNDS):
            for lib in libs:
                times[lib].append(per_call_us(fns[lib], n))
        o = statistics.median(times[flambeau])
        t = statistics.median(times[torch]) if torch is not None else float("nan")
        print(f"{name:34s} {o:12.2f} {t:10.2f} {t / o:10.2f}", flush=True)


if __name__ == "__main__":
    main()
