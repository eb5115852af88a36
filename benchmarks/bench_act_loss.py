"""Activations and losses on the CPU: Flambeau's fused kernels beside PyTorch CPU, same process,
alternating, the same thread count for both.

    PYTHONPATH=python python benchmarks/bench_act_loss.py            # everything
    PYTHONPATH=python python benchmarks/bench_act_loss.py --quick    # fewer repeats
    PYTHONPATH=python python benchmarks/bench_act_loss.py --only gelu,cross_entropy
    PYTHONPATH=python python benchmarks/bench_act_loss.py --threads 1

For each case: the median time (ms or us) over rounds of the best-of-k time, ours and PyTorch's, the
ratio torch/ours (>= 1 means we are at least as fast), and the bytes each pass must move at least
(input read + output written, for backward grad and saved read + grad_in written) over our time,
as GB/s and as a fraction of a measured copy's bandwidth (a copy moves 2 bytes per element byte:
the same read+write pattern as a forward activation).

Calls go through the public Python functions (flambeau._functions.activation/loss and
torch.nn.functional) for forward; backward is timed on the kernels themselves (_C.*_backward and
torch.ops.aten.*_backward), so neither side pays autograd bookkeeping in the backward numbers.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions import activation as A
from flambeau._functions import loss as L
from flambeau._tensor import _wrap


def best_of(fn, k):
    fn()
    best = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def inner_loop(fn, n):
    def run():
        for _ in range(n):
            fn()
    return run


def compare(ours, theirs, rounds, k, n=1):
    o, t = [], []
    fo, ft = inner_loop(ours, n), inner_loop(theirs, n)
    for _ in range(rounds):
        o.append(best_of(fo, k) / n)
        t.append(best_of(ft, k) / n)
    return statistics.median(o), statistics.median(t)


def copy_bandwidth(nbytes, rounds, k):
    a = np.ones(nbytes // 4, np.float32)
    fa = flambeau.from_numpy(a)
    t = statistics.median(best_of(lambda: fa.clone(), k) for _ in range(rounds))
    return 2 * nbytes / t / 1e9


ACTS = [
    ("relu", lambda x: A.relu(x), lambda x: TF.relu(x)),
    ("leaky_relu", lambda x: A.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    ("hardtanh", lambda x: A.hardtanh(x), lambda x: TF.hardtanh(x)),
    ("hardswish", lambda x: A.hardswish(x), lambda x: TF.hardswish(x)),
    ("sigmoid", lambda x: A.sigmoid(x), lambda x: torch.sigmoid(x)),
    ("tanh", lambda x: A.tanh(x), lambda x: torch.tanh(x)),
    ("silu", lambda x: A.silu(x), lambda x: TF.silu(x)),
    ("gelu", lambda x: A.gelu(x), lambda x: TF.gelu(x)),
    ("gelu_tanh", lambda x: A.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("elu", lambda x: A.elu(x), lambda x: TF.elu(x)),
    ("selu", lambda x: A.selu(x), lambda x: TF.selu(x)),
    ("softplus", lambda x: A.softplus(x), lambda x: TF.softplus(x)),
    ("mish", lambda x: A.mish(x), lambda x: TF.mish(x)),
    ("logsigmoid", lambda x: A.logsigmoid(x), lambda x: TF.logsigmoid(x)),
    ("softsign", lambda x: A.softsign(x), lambda x: TF.softsign(x)),
    ("tanhshrink", lambda x: A.tanhshrink(x), lambda x: TF.tanhshrink(x)),
]

UNARY = ["exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "erf", "tanh", "sigmoid", "relu",
         "floor", "round"]
POSITIVE = {"log", "log2", "log1p", "sqrt", "rsqrt"}

aten = torch.ops.aten
# (name, ours(g_impl, s_impl), theirs(g, s) with s = what each backward reads)
ACT_BWD = [
    ("relu", "y", lambda g, s: _C.act_relu_backward(g, s), lambda g, s: aten.threshold_backward(g, s, 0.0)),
    ("sigmoid", "y", lambda g, s: _C.act_sigmoid_backward(g, s), lambda g, s: aten.sigmoid_backward(g, s)),
    ("tanh", "y", lambda g, s: _C.act_tanh_backward(g, s), lambda g, s: aten.tanh_backward(g, s)),
    ("silu", "x", lambda g, s: _C.silu_backward(g, s), lambda g, s: aten.silu_backward(g, s)),
    ("gelu", "x", lambda g, s: _C.gelu_backward(g, s, "none"), lambda g, s: aten.gelu_backward(g, s)),
    ("gelu_tanh", "x", lambda g, s: _C.gelu_backward(g, s, "tanh"),
     lambda g, s: aten.gelu_backward(g, s, approximate="tanh")),
    ("elu", "x", lambda g, s: _C.elu_backward(g, s, 1.0, 1.0, 1.0, False),
     lambda g, s: aten.elu_backward(g, 1.0, 1, 1, False, s)),
    ("softplus", "x", lambda g, s: _C.softplus_backward(g, s, 1.0, 20.0),
     lambda g, s: aten.softplus_backward(g, s, 1.0, 20.0)),
    ("mish", "x", lambda g, s: _C.mish_backward(g, s), lambda g, s: aten.mish_backward(g, s)),
    ("hardswish", "x", lambda g, s: _C.hardswish_backward(g, s), lambda g, s: aten.hardswish_backward(g, s)),
    ("leaky_relu", "x", lambda g, s: _C.leaky_relu_backward(g, s, 0.1),
     lambda g, s: aten.leaky_relu_backward(g, s, 0.1, False)),
]


def fmt_time(s):
    return f"{s * 1e3:9.3f} ms" if s >= 1e-3 else f"{s * 1e6:9.2f} us"


def row(name, o, t, nbytes=None, copy_bw=None):
    extra = ""
    if nbytes:
        gbs = nbytes / o / 1e9
        extra = f"  {gbs:7.1f} GB/s  {gbs / copy_bw * 100:5.0f}% of copy"
    print(f"{name:42s} {fmt_time(o)} {fmt_time(t)}   {t / o:6.2f}x{extra}", flush=True)
    return (name, o, t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--numel", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (default: ours)")
    args = ap.parse_args()
    if args.threads:
        _C.set_num_threads(args.threads)
    only = set(s for s in args.only.split(",") if s)
    rounds, k = (3, 3) if args.quick else (5, 5)
    nt = flambeau.get_num_threads()
    torch.set_num_threads(nt)
    n = args.numel
    rng = np.random.default_rng(0)
    print(f"# flambeau {_C.cpu_capability()} capability, {nt} threads (torch.set_num_threads({nt})), "
          f"torch {torch.__version__}")
    bw = copy_bandwidth(n * 4, rounds, k)
    print(f"# copy bandwidth (clone of {n * 4 / 2**20:.0f} MiB, read + write): {bw:.1f} GB/s")
    print(f"{'case':42s} {'flambeau':>12s} {'pytorch':>12s}   {'torch/ours':>7s}")

    xs = (rng.standard_normal(n) * 3).astype(np.float32)
    fx, tx = flambeau.from_numpy(xs), torch.from_numpy(xs)
    small = (rng.standard_normal(1000) * 3).astype(np.float32)
    fs, ts = flambeau.from_numpy(small), torch.from_numpy(small)
    print(f"## activations, forward, {n} float32 elements")
    for name, fo, ft in ACTS:
        if only and name not in only:
            continue
        o, t = compare(lambda: fo(fx), lambda: ft(tx), rounds, k)
        row(name, o, t, 8 * n, bw)
    print(f"## activations, backward kernels, {n} float32 elements")
    g = rng.standard_normal(n).astype(np.float32)
    fg, tg = flambeau.from_numpy(g), torch.from_numpy(g)
    for name, which, fo, ft in ACT_BWD:
        if only and name not in only:
            continue
        if which == "y":
            fs_ = dict(relu=A.relu, sigmoid=A.sigmoid, tanh=A.tanh)[name](fx)
            ts_ = dict(relu=TF.relu, sigmoid=torch.sigmoid, tanh=torch.tanh)[name](tx)
        else:
            fs_, ts_ = fx, tx
        o, t = compare(lambda: fo(fg._impl, fs_._impl), lambda: ft(tg, ts_), rounds, k)
        row(name + " backward", o, t, 12 * n, bw)
    print("## activations, forward, 1000 float32 elements (per-call overhead)")
    for name, fo, ft in ACTS:
        if only and name not in only:
            continue
        o, t = compare(lambda: fo(fs), lambda: ft(ts), rounds, k, n=200)
        row(name + " (1000)", o, t)

    # The foundation unary ops under their torch.* names (flambeau.exp, ...: cpu/simd/unary_vec.inc),
    # on the same input; log-type ops on |x| + 0.5.
    print(f"## foundation unary ops (flambeau.<name> vs torch.<name>), forward, {n} float32 elements")
    fpos, tpos = flambeau.from_numpy(np.abs(xs) + 0.5), torch.from_numpy(np.abs(xs) + 0.5)
    for name in UNARY:
        if only and name not in only and "unary" not in only:
            continue
        a, b = (fpos, tpos) if name in POSITIVE else (fx, tx)
        o, t = compare(lambda: getattr(flambeau, name)(a), lambda: getattr(torch, name)(b), rounds, k)
        row("torch." + name, o, t, 8 * n, bw)

    if not only or "softmax" in only:
        # Over a non-last dim (the class dim of a segmentation map, stride 128*128): forward through
        # the public functions, backward on the kernels (_C.*_backward vs aten._*_backward_data).
        # Also tiny inner sizes ([4000,50,3]: 3 positions per outer index, most SIMD lanes padding).
        # Then over the last dim (classifier heads, attention rows, a GPT-2 vocabulary row).
        cases = [((8, 21, 128, 128), 1), ((4000, 50, 3), 1), ((1000, 50, 8), 1),
                 ((1024, 1024), -1), ((4096, 1000), -1), ((32768, 10), -1), ((64, 50257), -1)]
        for shape, dim in cases:
            name = ",".join(map(str, shape))
            print(f"## softmax / log_softmax over dim={dim} of float32 [{name}]")
            x = (rng.standard_normal(shape) * 3).astype(np.float32)
            gx = rng.standard_normal(shape).astype(np.float32)
            fxx, txx = flambeau.from_numpy(x), torch.from_numpy(x)
            fgx, tgx = flambeau.from_numpy(gx), torch.from_numpy(gx)
            for op in ("log_softmax", "softmax"):
                fo_, to_ = getattr(flambeau, op), getattr(torch, op)
                o, t = compare(lambda: fo_(fxx, dim), lambda: to_(txx, dim), rounds, k)
                row(f"{op} dim={dim} [{name}]", o, t, 8 * x.size, bw)
                fy, ty = fo_(fxx, dim), to_(txx, dim)
                fb, tb = getattr(_C, op + "_backward"), getattr(aten, "_" + op + "_backward_data")
                o, t = compare(lambda: fb(fgx._impl, fy._impl, dim), lambda: tb(tgx, ty, dim, torch.float32),
                               rounds, k)
                row(f"{op} backward dim={dim} [{name}]", o, t, 12 * x.size, bw)

    if not only or "cross_entropy" in only:
        print("## cross_entropy forward + backward (class indices, mean), float32 logits [N, C]")
        for N, C in [(4096, 10), (16384, 10), (65536, 10), (4096, 100), (16384, 100), (4096, 1000),
                     (16384, 1000), (65536, 1000)]:
            x = (rng.standard_normal((N, C)) * 2).astype(np.float32)
            tgt = rng.integers(0, C, N)
            fxx, txx = flambeau.from_numpy(x), torch.from_numpy(x)
            ftg, ttg = flambeau.from_numpy(tgt), torch.from_numpy(tgt)
            fxx.requires_grad_(True)
            txx.requires_grad_(True)

            def ours():
                loss = L.cross_entropy(fxx, ftg)
                loss.backward()
                fxx.grad = None

            def theirs():
                loss = TF.cross_entropy(txx, ttg)
                loss.backward()
                txx.grad = None

            o, t = compare(ours, theirs, rounds, k)
            # at least: logits read twice (forward, backward) and the gradient written once
            row(f"cross_entropy fwd+bwd N={N} C={C}", o, t, 3 * 4 * N * C, bw)
        for N, C, ls in [(16384, 100, 0.1)]:
            x = (rng.standard_normal((N, C)) * 2).astype(np.float32)
            tgt = rng.integers(0, C, N)
            w = rng.uniform(0.5, 2, C).astype(np.float32)
            fxx, txx = flambeau.from_numpy(x), torch.from_numpy(x)
            fxx.requires_grad_(True)
            txx.requires_grad_(True)
            ftg, ttg = flambeau.from_numpy(tgt), torch.from_numpy(tgt)
            fw, tw = flambeau.from_numpy(w), torch.from_numpy(w)

            def ours():
                L.cross_entropy(fxx, ftg, fw, label_smoothing=ls).backward()
                fxx.grad = None

            def theirs():
                TF.cross_entropy(txx, ttg, tw, label_smoothing=ls).backward()
                txx.grad = None

            o, t = compare(ours, theirs, rounds, k)
            row(f"cross_entropy weighted+ls N={N} C={C}", o, t, 3 * 4 * N * C, bw)
        # N-d (segmentation-like)
        N, C, H, W = 8, 21, 128, 128
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        tgt = rng.integers(0, C, (N, H, W))
        fxx, txx = flambeau.from_numpy(x), torch.from_numpy(x)
        fxx.requires_grad_(True)
        txx.requires_grad_(True)
        ftg, ttg = flambeau.from_numpy(tgt), torch.from_numpy(tgt)

        def ours():
            L.cross_entropy(fxx, ftg).backward()
            fxx.grad = None

        def theirs():
            TF.cross_entropy(txx, ttg).backward()
            txx.grad = None

        o, t = compare(ours, theirs, rounds, k)
        row(f"cross_entropy fwd+bwd [{N},{C},{H},{W}]", o, t, 3 * 4 * x.size, bw)
        # small
        x = rng.standard_normal((32, 10)).astype(np.float32)
        tgt = rng.integers(0, 10, 32)
        fxx, txx = flambeau.from_numpy(x), torch.from_numpy(x)
        fxx.requires_grad_(True)
        txx.requires_grad_(True)
        ftg, ttg = flambeau.from_numpy(tgt), torch.from_numpy(tgt)

        def ours():
            L.cross_entropy(fxx, ftg).backward()
            fxx.grad = None

        def theirs():
            TF.cross_entropy(txx, ttg).backward()
            txx.grad = None

        o, t = compare(ours, theirs, rounds, k, n=50)
        row("cross_entropy fwd+bwd N=32 C=10 (small)", o, t)

    if not only or "losses" in only:
        print(f"## pointwise losses forward + backward (mean), {n} float32 elements")
        y = rng.standard_normal(n).astype(np.float32)
        p = rng.uniform(0.01, 0.99, n).astype(np.float32)
        t01 = rng.uniform(0, 1, n).astype(np.float32)
        for name, fo_, to_, a, b in [
                ("mse_loss", L.mse_loss, TF.mse_loss, xs, y), ("l1_loss", L.l1_loss, TF.l1_loss, xs, y),
                ("smooth_l1_loss", L.smooth_l1_loss, TF.smooth_l1_loss, xs, y),
                ("huber_loss", L.huber_loss, TF.huber_loss, xs, y),
                ("binary_cross_entropy", L.binary_cross_entropy, TF.binary_cross_entropy, p, t01),
                ("bce_with_logits", L.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, xs, t01)]:
            fa, ta = flambeau.from_numpy(a.copy()), torch.from_numpy(a.copy())
            fa.requires_grad_(True)
            ta.requires_grad_(True)
            fb, tb = flambeau.from_numpy(b), torch.from_numpy(b)

            def ours():
                fo_(fa, fb).backward()
                fa.grad = None

            def theirs():
                to_(ta, tb).backward()
                ta.grad = None

            o, t = compare(ours, theirs, rounds, k)
            row(f"{name} fwd+bwd", o, t, 5 * 4 * n, bw)


if __name__ == "__main__":
    main()
