"""Per-op overhead: a tiny `a + b` with and without autograd, Flambeau beside PyTorch CPU.

Both libraries run in the same process, alternating, so machine noise hits both alike. We report
the median over several rounds of the mean time per call, in microseconds.

    python benchmarks/bench_overhead.py
"""
import statistics
import time

import numpy as np

import flambeau

try:
    import torch
except ImportError:  # the benchmark still reports our numbers
    torch = None


def per_call_us(fn, n=20000):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def measure(lib, requires_grad, size):
    a = lib.tensor(np.random.rand(size).astype(np.float32), requires_grad=requires_grad)
    b = lib.tensor(np.random.rand(size).astype(np.float32), requires_grad=requires_grad)
    if requires_grad:
        def step():
            (a + b).sum().backward()
        return per_call_us(step, 5000)
    return per_call_us(lambda: a + b)


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
    print(f"{'case':40s} {'flambeau us':>12s} {'torch us':>10s} {'torch/ours':>10s}")
    for name, o, t in rows:
        print(f"{name:40s} {o:12.2f} {t:10.2f} {t / o:10.2f}")


if __name__ == "__main__":
    main()
