"""Sort / topk / cumsum / cumprod / cummax on a 1000x1000 float32 tensor: flambeau vs PyTorch, CPU.

Run under the shared bench lock:  flock /tmp/flambeau-bench.lock env PYTHONPATH=python python benchmarks/bench_sort_scan.py
Alternates flambeau and torch per repetition and reports the median of each."""
import sys
import time

import numpy as np
import torch

import flambeau


def med(fn, reps=7):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    a = np.random.default_rng(0).standard_normal((1000, 1000)).astype(np.float32)
    f, t = flambeau.tensor(a), torch.tensor(a)
    torch.set_num_threads(flambeau._C.get_num_threads())
    cases = [
        ("sort dim=-1", lambda x, m: m.sort(x, dim=-1)),
        ("sort dim=0", lambda x, m: m.sort(x, dim=0)),
        ("topk k=10 dim=-1", lambda x, m: m.topk(x, 10, dim=-1)),
        ("cumsum dim=-1", lambda x, m: m.cumsum(x, dim=-1)),
        ("cumsum dim=0", lambda x, m: m.cumsum(x, dim=0)),
        ("cumprod dim=-1", lambda x, m: m.cumprod(x, dim=-1)),
        ("cummax dim=-1", lambda x, m: m.cummax(x, dim=-1)),
    ]
    only = sys.argv[1:]
    print(f"{'op':20s} {'flambeau ms':>12s} {'torch ms':>10s} {'ratio':>7s}")
    for name, fn in cases:
        if only and not any(o in name for o in only):
            continue
        tf = med(lambda: fn(f, flambeau))
        tt = med(lambda: fn(t, torch))
        print(f"{name:20s} {tf*1e3:12.2f} {tt*1e3:10.2f} {tf/tt:7.2f}")


if __name__ == "__main__":
    main()
