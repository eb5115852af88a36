"""Per-step cost of the optimizers on a model of many small parameters (where Python overhead, not
the arithmetic, is the cost), flambeau vs torch.optim with the same constructor flags, same run.

    PYTHONPATH=python python benchmarks/bench_optim_overhead.py [--layers 25] [--width 16] [--reps 7]

The model is an MLP of `--layers` Linear(width, width) layers: 2 * layers parameters (50 by
default, 6800 float32 numbers at width 16: the update itself is a few microseconds). Gradients are
set once; each timed sample is `--steps` calls of opt.step() (no forward/backward, no zero_grad),
ours and torch's alternating; the reported time per step is the median sample / steps.

Columns: ours per step; of it, the time inside the `_C.fused_*` kernel call (measured by wrapping
the _C function: list conversion in pybind11, checks, the update) and the Python rest (the
optimizer's own overhead, what this benchmark is about); torch.optim's per step; ratio = torch / ours.
One thread on both sides by default (--threads): the tensors are far below the size at which
either library splits work across threads, and a single thread is less disturbed by other load.

Flags: default (foreach=None, fused=None: our fused multi-tensor kernel, torch's single-tensor loop
on the CPU), foreach=False (per-parameter path on both sides), foreach=True (our kernel, torch's
foreach path), fused=True (our kernel, torch's fused CPU kernel; not RMSprop, which has no `fused`).
"""
import argparse
import datetime
import os
import statistics
import time

import numpy as np
import torch

import flambeau
from flambeau import nn, optim

CASES = [
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("Adam", dict(lr=1e-3)),
    ("AdamW", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3)),
    ("Adagrad", dict(lr=1e-2)),
]
FLAGS = [("default", {}), ("foreach=False", dict(foreach=False)), ("foreach=True", dict(foreach=True)),
         ("fused=True", dict(fused=True))]


def make_params(layers, width, seed=0):
    rng = np.random.default_rng(seed)
    arrs = []
    for _ in range(layers):
        arrs.append(rng.standard_normal((width, width)).astype("float32") * 0.1)
        arrs.append(rng.standard_normal(width).astype("float32") * 0.1)
    grads = [rng.standard_normal(a.shape).astype("float32") * 1e-3 for a in arrs]
    fl = [nn.Parameter(flambeau.from_numpy(a.copy())) for a in arrs]
    th = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrs]
    for p, g in zip(fl, grads):
        p.grad = flambeau.from_numpy(g.copy())
    for p, g in zip(th, grads):
        p.grad = torch.from_numpy(g.copy())
    return fl, th


KERNEL_TIME = [0.0]


def _timed_kernels():
    """Wraps each _C.fused_* so that the time spent inside it accumulates in KERNEL_TIME[0]."""
    from flambeau import _C
    for name in ("fused_sgd_", "fused_adam_", "fused_rmsprop_", "fused_adagrad_"):
        fn = getattr(_C, name)

        def timed(*args, _fn=fn):
            t0 = time.perf_counter()
            try:
                return _fn(*args)
            finally:
                KERNEL_TIME[0] += time.perf_counter() - t0

        setattr(_C, name, timed)


def sample(opt, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=25)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated optimizer names")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    flambeau.set_num_threads(args.threads)
    _timed_kernels()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  load {os.getloadavg()[0]:.2f}  "
          f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"{2 * args.layers} params ({args.layers} x Linear({args.width}, {args.width}))")
    only = set(args.only.split(",")) if args.only else None
    rows = []
    for name, kw in CASES:
        if only and name not in only:
            continue
        for label, flags in FLAGS:
            if name == "RMSprop" and "fused" in flags:
                continue
            fl, th = make_params(args.layers, args.width)
            fo = getattr(optim, name)(fl, **kw, **flags)
            to = getattr(torch.optim, name)(th, **kw, **flags)
            sample(fo, 5), sample(to, 5)
            so, sk, st = [], [], []
            for _ in range(args.reps):
                KERNEL_TIME[0] = 0.0
                so.append(sample(fo, args.steps))
                sk.append(KERNEL_TIME[0] / args.steps)
                st.append(sample(to, args.steps))
            i = so.index(statistics.median_low(so))
            o, k, t = so[i] * 1e6, sk[i] * 1e6, statistics.median(st) * 1e6
            rows.append((name, label, o, k, t))
            print(f"{name:<8} {label:<14} ours {o:8.1f} us/step (kernel call {k:6.1f}, Python {o - k:6.1f})   "
                  f"torch {t:8.1f} us/step   ratio {t / o:5.2f}x", flush=True)
    print("\n| optimizer | flags | ours (us/step) | of it: kernel call | of it: Python | torch (us/step) | ratio |\n"
          "|---|---|---:|---:|---:|---:|---:|")
    for name, label, o, k, t in rows:
        print(f"| {name} | {label} | {o:.1f} | {k:.1f} | {o - k:.1f} | {t:.1f} | {t / o:.2f}x |")


if __name__ == "__main__":
    main()
