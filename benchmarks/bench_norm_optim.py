"""Normalization, dropout and fused-optimizer kernels against PyTorch CPU, in the same run.

    PYTHONPATH=python python benchmarks/bench_norm_optim.py [--threads N] [--reps R] [--quick]

Each case times flambeau and PyTorch alternately (ours, theirs, ours, ...) with the same thread
count, and reports the best time of each, the speed ratio (PyTorch time / ours: > 1 means we are
faster) and our effective bandwidth: the fewest bytes the operation must move (each input read
once, each output written once) over our time, also as a fraction of the measured copy bandwidth
(a large copy_ into an existing buffer: read + write), which is the ceiling for these memory-bound kernels.

Cases:
  batch_norm training forward, and forward + backward, on (64, 64, 56, 56) and (256, 1024) float32
  dropout p=0.5 forward and backward on 16M float32 elements
  Adam step over ~10M float32 parameters in tensors of mixed sizes: ours (one fused multi-tensor
  call) vs torch.optim.Adam foreach=True and fused=True
"""
import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions.normalization import batch_norm
from flambeau._functions.dropout import dropout
from flambeau.optim._fused import fused_adam_


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(ours, theirs, reps):
    """Best-of-reps times, alternating the two (one warm-up each)."""
    ours()
    theirs()
    to, tt = [], []
    for _ in range(reps):
        to.append(timed(ours))
        tt.append(timed(theirs))
    return min(to), min(tt)


ROWS = []


def report(name, t_ours, t_torch, nbytes, copy_bw, torch_label="PyTorch"):
    gbs = nbytes / t_ours / 1e9
    ROWS.append((name, t_ours * 1e3, t_torch * 1e3, t_torch / t_ours, gbs, gbs / copy_bw, torch_label))
    print(f"{name:<44} ours {t_ours * 1e3:8.2f} ms   {torch_label} {t_torch * 1e3:8.2f} ms   "
          f"ratio {t_torch / t_ours:5.2f}x   {gbs:6.2f} GB/s ({100 * gbs / copy_bw:4.0f}% of copy)", flush=True)


def bench_copy(reps):
    n = 32 * 1024 * 1024  # 128 MiB float32, into an existing buffer (no page faults)
    x, y = flambeau.randn(n), flambeau.empty(n)
    tx, ty = torch.randn(n), torch.empty(n)
    t_ours, t_torch = compare(lambda: y.copy_(x), lambda: ty.copy_(tx), reps)
    bw = 2 * n * 4 / min(t_ours, t_torch) / 1e9
    print(f"copy bandwidth (copy_ of 128 MiB, read + write): {bw:.2f} GB/s "
          f"(ours {2 * n * 4 / t_ours / 1e9:.2f}, torch {2 * n * 4 / t_torch / 1e9:.2f})", flush=True)
    return bw


def bench_batch_norm(shape, reps, copy_bw):
    c = shape[1]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    w = np.ones(c, np.float32)
    fx, fg = flambeau.from_numpy(x), flambeau.from_numpy(g)
    fx_rg = flambeau.from_numpy(x).requires_grad_()
    fw, fb = flambeau.from_numpy(w.copy()).requires_grad_(), flambeau.zeros(c).requires_grad_()
    frm, frv = flambeau.zeros(c), flambeau.ones(c)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    tx_rg = torch.from_numpy(x).clone().requires_grad_()
    tw, tb = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
    trm, trv = torch.zeros(c), torch.ones(c)
    n = x.size
    def fo():
        with flambeau.no_grad():
            batch_norm(fx, frm, frv, fw, fb, True, 0.1, 1e-5)

    def ft():
        with torch.no_grad():
            TF.batch_norm(tx, trm, trv, tw, tb, True, 0.1, 1e-5)

    t_o, t_t = compare(fo, ft, reps)
    report(f"batch_norm fwd {tuple(shape)}", t_o, t_t, 2 * n * 4, copy_bw)

    def fbo():
        fx_rg.grad = fw.grad = fb.grad = None
        batch_norm(fx_rg, frm, frv, fw, fb, True, 0.1, 1e-5).backward(fg)

    def fbt():
        tx_rg.grad = tw.grad = tb.grad = None
        TF.batch_norm(tx_rg, trm, trv, tw, tb, True, 0.1, 1e-5).backward(tg)

    t_o, t_t = compare(fbo, fbt, reps)
    # fewest bytes: forward reads x, writes y; backward reads x and dy, writes dx
    report(f"batch_norm fwd+bwd {tuple(shape)}", t_o, t_t, 5 * n * 4, copy_bw)


def bench_dropout(reps, copy_bw):
    n = 16 * 1024 * 1024
    x = flambeau.randn(n)
    tx = torch.randn(n)
    t_o, t_t = compare(lambda: dropout(x, 0.5), lambda: TF.dropout(tx, 0.5), reps)
    report("dropout fwd p=0.5, 16M float32", t_o, t_t, 2 * n * 4, copy_bw)
    xr = flambeau.randn(n).requires_grad_()
    txr = torch.randn(n, requires_grad=True)
    g, tg = flambeau.randn(n), torch.randn(n)

    def fo():
        xr.grad = None
        dropout(xr, 0.5).backward(g)

    def ft():
        txr.grad = None
        TF.dropout(txr, 0.5).backward(tg)

    t_o, t_t = compare(fo, ft, reps)
    report("dropout fwd+bwd p=0.5, 16M float32", t_o, t_t, 4 * n * 4, copy_bw)


def bench_adam(reps, copy_bw):
    # ~10M parameters in tensors of mixed sizes (a few big matrices, many small vectors).
    sizes = [4096 * 1024, 2048 * 1024, 1024 * 1024, 1000 * 1000, 512 * 1024] + [4096] * 200 + [64] * 500
    total = sum(sizes)
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal(s, dtype=np.float32) for s in sizes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in sizes]
    fps = [flambeau.from_numpy(a.copy()) for a in arrs]
    fgs = [flambeau.from_numpy(g) for g in grads]
    m = [flambeau.zeros_like(p) for p in fps]
    v = [flambeau.zeros_like(p) for p in fps]
    steps = [flambeau.tensor(0.0) for _ in fps]

    def ours():
        fused_adam_(fps, fgs, m, v, [], steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                    amsgrad=False, maximize=False)

    nbytes = 7 * total * 4  # read p, g, m, v; write p, m, v
    for label, kw in (("foreach", dict(foreach=True)), ("fused", dict(fused=True))):
        tps = [torch.from_numpy(a.copy()).requires_grad_() for a in arrs]
        for t, g in zip(tps, grads):
            t.grad = torch.from_numpy(g)
        try:
            opt = torch.optim.Adam(tps, lr=1e-3, **kw)
            opt.step()
        except Exception as e:  # fused=True unsupported on this CPU build
            print(f"torch Adam {label}: unavailable ({e})")
            continue
        t_o, t_t = compare(ours, opt.step, reps)
        report(f"Adam step {total / 1e6:.1f}M params ({len(sizes)} tensors)", t_o, t_t, nbytes, copy_bw,
               torch_label=f"torch {label}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer reps, for a smoke run")
    args = ap.parse_args()
    reps = 2 if args.quick else args.reps
    torch.set_num_threads(args.threads)
    flambeau.set_num_threads(args.threads)
    print(f"# {datetime.date.today()}  {cpu_name()}  threads={args.threads}  torch {torch.__version__} "
          f"(capability {torch.backends.cpu.get_cpu_capability()})  flambeau capability {_C.cpu_capability()}")
    copy_bw = bench_copy(reps)
    bench_batch_norm((64, 64, 56, 56), reps, copy_bw)
    bench_batch_norm((256, 1024), max(reps, 20), copy_bw)
    bench_dropout(reps, copy_bw)
    bench_adam(reps, copy_bw)
    print()
    print("| case | ours (ms) | PyTorch (ms) | ratio | ours GB/s | of copy |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, o, t, r, gbs, frac, label in ROWS:
        print(f"| {name} vs {label} | {o:.2f} | {t:.2f} | {r:.2f}x | {gbs:.2f} | {100 * frac:.0f}% |")


if __name__ == "__main__":
    main()
