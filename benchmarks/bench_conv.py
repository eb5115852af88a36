"""conv2d and pooling on the CPU: flambeau against PyTorch, same machine, same run, alternating.

    PYTHONPATH=python python benchmarks/bench_conv.py [--threads 2] [--reps 7] [--quick] [--clock wall|cpu]

For each shape: forward alone, and forward + backward (input, weight and bias gradients), each the
best of `reps` alternating runs (ours, PyTorch, ours, ...). Prints milliseconds, the ratio
PyTorch/ours (> 1 means we are faster), GFLOP/s (2*N*O*OH*OW*C/groups*KH*KW per forward, three
times that for forward + backward) and the fraction of the machine's peak (--peak GFLOP/s).
Both libraries use the same number of threads. Record results in benchmarks/RESULTS-conv.md.

--clock cpu times with the process's CPU time instead of the wall clock: on a shared machine whose other
tenants steal cores (load average above the core count), wall-clock times mostly measure the
scheduler; CPU time (with --threads 1) still compares the work each library does.
"""
import argparse
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as TF

import flambeau
import flambeau._functions.conv as fconv
import flambeau._functions.pooling as fpool

CONV_SHAPES = [
    # name, N, C, H, W, O, k, stride, pad, groups
    ("resnet 64->64 32x32 3x3", 32, 64, 32, 32, 64, 3, 1, 1, 1),
    ("resnet 128->128 16x16 3x3", 32, 128, 16, 16, 128, 3, 1, 1, 1),
    ("resnet 256->256 8x8 3x3", 32, 256, 8, 8, 256, 3, 1, 1, 1),
    ("resnet 64->128 32x32 3x3 s2", 32, 64, 32, 32, 128, 3, 2, 1, 1),
    ("resnet 1x1 128->256 16x16", 32, 128, 16, 16, 256, 1, 1, 0, 1),
    ("lenet 1->6 28x28 5x5", 64, 1, 28, 28, 6, 5, 1, 0, 1),
    ("mnist 1->32 28x28 5x5", 64, 1, 28, 28, 32, 5, 1, 0, 1),
    ("lenet 6->16 12x12 5x5", 64, 6, 12, 12, 16, 5, 1, 0, 1),
    ("cifar 3->64 32x32 3x3", 32, 3, 32, 32, 64, 3, 1, 1, 1),
    ("depthwise 128 16x16 3x3", 32, 128, 16, 16, 128, 3, 1, 1, 128),
    ("batch1 64->64 56x56 3x3", 1, 64, 56, 56, 64, 3, 1, 1, 1),
    # the main job's two layers (examples/train_fashion_mnist.py, batch 128)
    ("fashion 1->32 28x28 3x3 p1", 128, 1, 28, 28, 32, 3, 1, 1, 1),
    ("fashion 32->64 14x14 3x3 p1", 128, 32, 14, 14, 64, 3, 1, 1, 1),
]

POOL_SHAPES = [
    # name, fn, N, C, H, W
    ("max_pool2d 2x2 s2 64x32x32", "max2", 32, 64, 32, 32),
    ("max_pool2d 3x3 s2 p1 64x56x56", "max3", 32, 64, 56, 56),
    ("avg_pool2d 2x2 s2 64x32x32", "avg2", 32, 64, 32, 32),
    ("adaptive_avg_pool2d 1 512x7x7", "aavg", 32, 512, 7, 7),
]


CLOCK = [time.perf_counter]


def best_of_alternating(fa, fb, reps):
    clock = CLOCK[0]
    fa(), fb()  # warm up (scratch buffers, page faults, thread pools)
    ta, tb = [], []
    for _ in range(reps):
        t = clock(); fa(); ta.append(clock() - t)
        t = clock(); fb(); tb.append(clock() - t)
    return min(ta), min(tb)


def bench_conv(reps, peak, shapes):
    print(f"{'shape':32s} {'pass':8s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'ours GF/s':>9s} "
          f"{'torch GF/s':>10s} {'% peak':>6s}")
    rows = []
    for name, N, C, H, W, O, k, s, p, g in shapes:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = (rng.standard_normal((O, C // g, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(O).astype(np.float32)
        OH = (H + 2 * p - k) // s + 1
        OW = (W + 2 * p - k) // s + 1
        flops = 2.0 * N * O * OH * OW * (C // g) * k * k
        gy = rng.standard_normal((N, O, OH, OW)).astype(np.float32)

        fx, fw, fb = (flambeau.from_numpy(a) for a in (x, w, b))
        fgy = flambeau.from_numpy(gy)
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        tgy = torch.from_numpy(gy)

        def ours_fwd():
            return fconv.conv2d(fx, fw, fb, s, p, 1, g)

        def torch_fwd():
            with torch.no_grad():
                return TF.conv2d(tx, tw, tb, s, p, 1, g)

        fxr, fwr, fbr = (t.detach().requires_grad_() for t in (fx, fw, fb))
        txr, twr, tbr = (t.detach().requires_grad_() for t in (tx, tw, tb))

        def ours_fb():
            fxr.grad = fwr.grad = fbr.grad = None
            fconv.conv2d(fxr, fwr, fbr, s, p, 1, g).backward(fgy)

        def torch_fb():
            txr.grad = twr.grad = tbr.grad = None
            TF.conv2d(txr, twr, tbr, s, p, 1, g).backward(tgy)

        for label, fa, fb_, fl in (("fwd", ours_fwd, torch_fwd, flops), ("fwd+bwd", ours_fb, torch_fb, 3 * flops)):
            ta, tt = best_of_alternating(fa, fb_, reps)
            gf = fl / ta / 1e9
            print(f"{name:32s} {label:8s} {ta*1e3:9.3f} {tt*1e3:9.3f} {tt/ta:6.2f} {gf:9.1f} {fl/tt/1e9:10.1f} "
                  f"{100*gf/peak:5.1f}%", flush=True)
            rows.append((name, label, ta, tt))
    return rows


def bench_pool(reps):
    print(f"\n{'shape':32s} {'pass':8s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'ours GB/s':>9s}")
    for name, kind, N, C, H, W in POOL_SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        fx, tx = flambeau.from_numpy(x), torch.from_numpy(x)
        if kind == "max2":
            fo, to = (lambda t: fpool.max_pool2d(t, 2)), (lambda t: TF.max_pool2d(t, 2))
        elif kind == "max3":
            fo, to = (lambda t: fpool.max_pool2d(t, 3, 2, 1)), (lambda t: TF.max_pool2d(t, 3, 2, 1))
        elif kind == "avg2":
            fo, to = (lambda t: fpool.avg_pool2d(t, 2)), (lambda t: TF.avg_pool2d(t, 2))
        else:
            fo, to = (lambda t: fpool.adaptive_avg_pool2d(t, 1)), (lambda t: TF.adaptive_avg_pool2d(t, 1))
        with torch.no_grad():
            out_shape = tuple(to(tx).shape)
        gy = rng.standard_normal(out_shape).astype(np.float32)
        fgy, tgy = flambeau.from_numpy(gy), torch.from_numpy(gy)
        fxr, txr = fx.detach().requires_grad_(), tx.detach().requires_grad_()

        def tf():
            with torch.no_grad():
                to(tx)

        def ofb():
            fxr.grad = None
            fo(fxr).backward(fgy)

        def tfb():
            txr.grad = None
            to(txr).backward(tgy)

        nbytes = x.nbytes + gy.nbytes
        for label, fa, fb_, nb in (("fwd", lambda: fo(fx), tf, nbytes), ("fwd+bwd", ofb, tfb, 3 * nbytes)):
            ta, tt = best_of_alternating(fa, fb_, reps)
            print(f"{name:32s} {label:8s} {ta*1e3:9.3f} {tt*1e3:9.3f} {tt/ta:6.2f} {nb/ta/1e9:9.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--peak", type=float, default=200.0, help="machine peak GFLOP/s (float32, all threads)")
    ap.add_argument("--quick", action="store_true", help="first three conv shapes only, no pooling")
    ap.add_argument("--only", default=None, help="substring of the conv shape names to run")
    ap.add_argument("--pool-only", action="store_true", help="pooling only")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter; cpu: time.process_time (see the module docstring)")
    args = ap.parse_args()
    CLOCK[0] = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    flambeau._C.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={args.threads}, "
          f"clock={args.clock}, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
          f"flambeau capability {flambeau._C.cpu_capability()}, {time.strftime('%Y-%m-%d %H:%M')}")
    shapes = CONV_SHAPES[:3] if args.quick else CONV_SHAPES
    if args.only:
        shapes = [s for s in CONV_SHAPES if args.only in s[0]]
    if not args.pool_only:
        bench_conv(args.reps, args.peak, shapes)
    if not args.quick and not args.only:
        bench_pool(args.reps)


if __name__ == "__main__":
    main()
