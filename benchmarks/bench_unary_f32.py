"""float32 transcendental unary ops (flambeau.exp, log, ..., erf, erfinv; F.tanh, F.tanhshrink) beside
PyTorch CPU, same process, alternating, the same thread count for both.

    PYTHONPATH=python python benchmarks/bench_unary_f32.py                 # 1 and 2 threads
    PYTHONPATH=python python benchmarks/bench_unary_f32.py --threads 1 --only tanh,erf --cpu-time

Session 22 moved these ops to a float64 evaluation rounded once (cpu/simd/math_f64_vec.inc,
unary_f32); run this file with PYTHONPATH pointing at an older tree for the before numbers. For each
op and size (64K floats: in cache; 4M: memory-bound), the median over rounds of the best-of-k time,
ours and PyTorch's, and the ratio torch/ours (> 1: we are faster).
"""
import argparse
import statistics
import time

import numpy as np
import torch

import flambeau
import flambeau.nn.functional as F
from flambeau import _C

# name -> (ours, PyTorch's, input generator on a numpy RandomState)
OPS = {
    "exp": (flambeau.exp, torch.exp, lambda r, n: r.normal(0, 3, n)),
    "log": (flambeau.log, torch.log, lambda r, n: r.uniform(1e-3, 100, n)),
    "log2": (flambeau.log2, torch.log2, lambda r, n: r.uniform(1e-3, 100, n)),
    "log10": (flambeau.log10, torch.log10, lambda r, n: r.uniform(1e-3, 100, n)),
    "log1p": (flambeau.log1p, torch.log1p, lambda r, n: r.uniform(-0.9, 10, n)),
    "expm1": (flambeau.expm1, torch.expm1, lambda r, n: r.normal(0, 3, n)),
    "sin": (flambeau.sin, torch.sin, lambda r, n: r.normal(0, 10, n)),
    "cos": (flambeau.cos, torch.cos, lambda r, n: r.normal(0, 10, n)),
    "tanh": (flambeau.tanh, torch.tanh, lambda r, n: r.normal(0, 2, n)),
    "erf": (flambeau.erf, torch.erf, lambda r, n: r.normal(0, 1.5, n)),
    "erfc": (flambeau.erfc, torch.erfc, lambda r, n: r.normal(0, 1.5, n)),
    "atan": (flambeau.atan, torch.atan, lambda r, n: r.normal(0, 3, n)),
    "sinh": (flambeau.sinh, torch.sinh, lambda r, n: r.normal(0, 3, n)),
    "cosh": (flambeau.cosh, torch.cosh, lambda r, n: r.normal(0, 3, n)),
    "erfinv": (flambeau.erfinv, torch.erfinv, lambda r, n: r.uniform(-0.999, 0.999, n)),
    "F.tanh": (F.tanh, torch.nn.functional.tanh, lambda r, n: r.normal(0, 2, n)),
    "F.tanhshrink": (F.tanhshrink, torch.nn.functional.tanhshrink, lambda r, n: r.normal(0, 2, n)),
}


CLOCK = time.perf_counter


def best_of(fn, k):
    fn()
    best = float("inf")
    for _ in range(k):
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
    return best


def compare(ours, theirs, rounds, k, inner):
    def loop(f):
        def run():
            for _ in range(inner):
                f()
        return run
    o, t = [], []
    for _ in range(rounds):
        o.append(best_of(loop(ours), k) / inner)
        t.append(best_of(loop(theirs), k) / inner)
    return statistics.median(o), statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="")
    ap.add_argument("--sizes", default="65536,4194304")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu-time", action="store_true",
                    help="process CPU time instead of wall time (a loaded machine; with 2 threads the sum of both)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    names = args.only.split(",") if args.only else list(OPS)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# flambeau {_C.cpu_capability()} capability; PyTorch {torch.__version__}; "
          f"{'process CPU' if args.cpu_time else 'wall'} time")
    print(f"{'op':14s} {'thr':>3s} {'n':>8s} {'ours':>10s} {'torch':>10s} {'ratio':>6s}")
    for nt in [int(t) for t in args.threads.split(",")]:
        _C.set_num_threads(nt)
        torch.set_num_threads(nt)
        for name in names:
            ours_fn, torch_fn, gen = OPS[name]
            for n in sizes:
                x = gen(np.random.RandomState(0), n).astype(np.float32)
                xo, xt = flambeau.from_numpy(x), torch.from_numpy(x)
                inner = max(1, 2_000_000 // n)
                o, t = compare(lambda: ours_fn(xo), lambda: torch_fn(xt), args.rounds, 5, inner)
                unit, s = ("us", 1e6) if n < 1_000_000 else ("ms", 1e3)
                print(f"{name:14s} {nt:3d} {n:8d} {o * s:8.1f}{unit} {t * s:8.1f}{unit} {t / o:6.2f}", flush=True)


if __name__ == "__main__":
    main()
