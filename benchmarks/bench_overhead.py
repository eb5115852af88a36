"""Per-op overhead: a tiny `a + b` with and without autograd, and the metadata, view and basic
indexing calls of a training script (x[0, 0], x[:, 1], x.view(-1), x.size(0), ...) on a 64x64
tensor, Flambeau beside PyTorch CPU.

Both libraries run in the same process, alternating, so machine noise hits both alike. We report
the median over several rounds of the mean time per call, in microseconds.

    python benchmarks/bench_overhead.py
    python benchmarks/bench_overhead.py --cpu-time   # process CPU time instead of wall time

--cpu-time counts only the time this process ran, so other processes sharing the cores (a load of 10+
on a 2-core machine) do not inflate one library's rounds more than the other's; to compare two
flambeau trees, run it once per tree (PYTHONPATH) and alternate.
"""
import sys
import statistics
import time

import numpy as np

import flambeau

try:
    import torch
except ImportError:  # the benchmark still reports our numbers
    torch = None


_clock = time.process_time if "--cpu-time" in sys.argv else time.perf_counter


def per_call_us(fn, n=20000):
    fn()
    t0 = _clock()
    for _ in range(n):
        fn()
    return (_clock() - t0) / n * 1e6


def measure(lib, requires_grad, size):
    a = lib.tensor(np.random.rand(size).astype(np.float32), requires_grad=requires_grad)
    b = lib.tensor(np.random.rand(size).astype(np.float32), requires_grad=requires_grad)
    if requires_grad:
        def step():
            (a + b).sum().backward()
        return per_call_us(step, 5000)
    return per_call_us(lambda: a + b)


VIEW_CASES = [
    ("x[0, 0]", lambda x: x[0, 0]), ("x[:, 1]", lambda x: x[:, 1]), ("x[::2]", lambda x: x[::2]),
    ("x[1:3, 2:5]", lambda x: x[1:3, 2:5]), ("x[..., None]", lambda x: x[..., None]),
    ("x[0, 0] = 1.0", lambda x: x.__setitem__((0, 0), 1.0)), ("x[0, 0].item()", lambda x: x[0, 0].item()),
    ("x.view(-1)", lambda x: x.view(-1)), ("x.reshape(32, 128)", lambda x: x.reshape(32, 128)),
    ("x.flatten()", lambda x: x.flatten()), ("x.T", lambda x: x.T), ("x.unbind(0) (64 views)", lambda x: x.unbind(0)),
    ("x.size(0)", lambda x: x.size(0)), ("x.shape", lambda x: x.shape), ("x.float()", lambda x: x.float()),
]


def main():
    if torch is not None:
        torch.set_num_threads(flambeau.get_num_threads())
    rows = []
    cases = [("a + b, 4 elements", False, 4), ("a + b, 1000 elements", False, 1000),
             ("(a + b).sum().backward(), 4 elements", True, 4)]
    for name, rg, size in cases:
        ours, theirs = [], []
        for _ in range(5):
            ours.append(measure(flambeau, rg, size))
            if torch is not None:
                theirs.append(measure(torch, rg, size))
        o = statistics.median(ours)
        t = statistics.median(theirs) if theirs else float("nan")
        rows.append((name, o, t))
    a = np.random.rand(64, 64).astype(np.float32)
    tensors = {flambeau: flambeau.from_numpy(a.copy())}
    if torch is not None:
        tensors[torch] = torch.from_numpy(a.copy())
    for name, fn in VIEW_CASES:
        ours, theirs = [], []
        for _ in range(5):
            ours.append(per_call_us(lambda: fn(tensors[flambeau]), 5000))
            if torch is not None:
                theirs.append(per_call_us(lambda: fn(tensors[torch]), 5000))
        rows.append((name + " (64x64)", statistics.median(ours),
                     statistics.median(theirs) if theirs else float("nan")))
    print(f"{'case':40s} {'flambeau us':>12s} {'torch us':>10s} {'torch/ours':>10s}")
    for name, o, t in rows:
        print(f"{name:40s} {o:12.2f} {t:10.2f} {t / o:10.2f}")


if __name__ == "__main__":
    main()
