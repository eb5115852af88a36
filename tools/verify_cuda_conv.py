"""Verify and time the CUDA convolution kernels (csrc/cuda/conv.cu) on a GPU machine.

    PYTHONPATH=python python tools/verify_cuda_conv.py            # correctness battery + timings
    PYTHONPATH=python python tools/verify_cuda_conv.py --no-bench # correctness only (~1 min)
    PYTHONPATH=python python tools/verify_cuda_conv.py --bench-only
    PYTHONPATH=python python tools/verify_cuda_conv.py --dry-run-cpu  # CPU vs CPU: checks the script

Correctness: calls the `_C` ops directly (conv2d, conv2d_backward, conv_transpose2d,
conv_transpose2d_backward) on CUDA and on the CPU with the same data, float32 and float64, over a
battery of shapes that reaches every path of conv.cu: each tile configuration (128x128 float32
with many tiles, 64x64, 128x32 narrow N, 32x128 narrow M for the weight gradient), split-K weight
gradients, the direct (depthwise) kernels and the GEMM on both sides of their boundary (8 / 9
filters per group), strides, dilations, asymmetric padding, groups, rectangular and 1x1 kernels,
odd sizes, batch 1 and empty batch, conv_transpose2d with output_padding, and every output_mask.
Prints the max abs error and the max error relative to the largest reference magnitude per output;
a row fails above 1e-4 (float32) / 1e-11 (float64) relative. Also checks that the weight and bias
gradients are bitwise identical across two runs (determinism), and that non-contiguous inputs
work. Exit status 1 if anything fails.

Timing: ResNet-50-style layers (and a depthwise layer) at batch 32, float32: forward, input
gradient and weight gradient of flambeau's kernels against torch.nn.functional.conv2d / cuDNN
(TF32 off: both sides do true float32 FMAs), alternating the two, median of repeats. Needs a
CUDA build of torch; without one the flambeau times are printed alone.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import flambeau
from flambeau import _C
from flambeau._tensor import _wrap


# ------------------------------------------------------------------ helpers
DEV = "cuda"  # the device under test; --dry-run-cpu sets "cpu" (the script's own plumbing check)


def to_dev(a, device):
    t = flambeau.from_numpy(np.ascontiguousarray(a))
    return (t.cuda() if device == "cuda" else t)._impl


def to_np(impl):
    if impl is None:
        return None
    t = _wrap(impl)
    if t.device.type != "cpu":
        t = t.cpu()
    return t.numpy().copy()


def sync():
    if DEV == "cuda":
        flambeau.cuda.synchronize()


def rel_err(got, ref):
    if ref.size == 0:
        return 0.0, 0.0
    abs_err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))))
    scale = max(1.0, float(np.max(np.abs(ref))))
    return abs_err, abs_err / scale


# (name, (N, C, H, W), (O, C/groups, KH, KW), stride, padding, dilation, groups, bias)
# padding: one int, a pair, or [top, bottom, left, right] (the ops entry's explicit padding).
CONV_CASES = [
    ("basic 3x3", (2, 3, 7, 9), (4, 3, 3, 3), [1], [1], [1], 1, True),
    ("rect kernel, stride 2, dil", (2, 4, 11, 13), (6, 2, 3, 2), [2, 1], [1, 0], [1, 2], 2, True),
    ("asym padding", (3, 5, 10, 7), (7, 5, 2, 4), [1, 2], [0, 2, 1, 3], [1], 1, False),
    ("stride 3 dil 2", (2, 6, 17, 15), (10, 3, 3, 3), [3], [2], [2], 2, True),
    ("groups 3 odd", (1, 9, 9, 11), (12, 3, 5, 3), [1, 2], [2, 1], [1], 3, True),
    ("pointwise 1x1", (4, 32, 14, 14), (48, 32, 1, 1), [1], [0], [1], 1, True),
    ("pointwise stride 2", (2, 16, 15, 15), (24, 16, 1, 1), [2], [0], [1], 1, False),
    ("depthwise 3x3 (direct)", (4, 16, 12, 12), (16, 1, 3, 3), [1], [1], [1], 16, True),
    ("depthwise s2 dil (direct)", (2, 8, 13, 11), (16, 1, 3, 5), [2], [2], [2, 1], 8, True),
    ("dw x8 (direct)", (2, 3, 9, 9), (24, 1, 3, 3), [1], [1], [1], 3, True),
    ("dw x9 (GEMM)", (2, 3, 9, 9), (27, 1, 3, 3), [1], [1], [1], 3, True),
    ("single channel first layer", (3, 1, 28, 28), (6, 1, 5, 5), [1], [0], [1], 1, True),
    ("few filters (128x32)", (4, 16, 20, 20), (8, 16, 3, 3), [1], [1], [1], 1, True),
    ("many filters (multi N tiles)", (2, 8, 9, 9), (200, 8, 3, 3), [1], [1], [1], 1, True),
    ("split-K wgrad", (16, 64, 28, 28), (128, 64, 3, 3), [1], [1], [1], 1, True),
    ("128x128 tiles fwd/dgrad (f32)", (64, 128, 28, 28), (128, 128, 3, 3), [1], [1], [1], 1, False),
    ("grouped wide: 128x128 wgrad", (2, 2048, 4, 4), (1024, 512, 3, 3), [1], [1], [1], 4, True),
    ("resnet stem 7x7 s2", (2, 3, 64, 64), (64, 3, 7, 7), [2], [3], [1], 1, False),
    ("resnet 3x3 s2", (4, 64, 28, 28), (128, 64, 3, 3), [2], [1], [1], 1, False),
    ("wgrad narrow M", (8, 256, 8, 8), (16, 256, 3, 3), [1], [1], [1], 1, True),
    ("batch 1 large image", (1, 8, 96, 80), (16, 8, 3, 3), [1], [1], [1], 1, True),
    ("kernel = padded input", (2, 4, 5, 6), (3, 4, 7, 8), [1], [1], [1], 1, True),
    ("1x1 image", (3, 5, 1, 1), (4, 5, 1, 1), [1], [0], [1], 1, True),
    ("empty batch", (0, 4, 8, 8), (6, 4, 3, 3), [1], [1], [1], 1, True),
    # conv_special.cu: small-Cg input gradient (full-size stem; 2 groups of 4 channels with 512
    # filters each: weights 72 KB in shared memory for float32, global memory for float64, restaged
    # per group) and pointwise GEMMs (128x128 tiles with 4 images; M = 64 with 3 images)
    ("small-Cg dgrad: stem 7x7/2 @224", (2, 3, 224, 224), (64, 3, 7, 7), [2], [3], [1], 1, False),
    ("small-Cg dgrad: G2 x 4ch, 512 f/g", (2, 8, 17, 19), (1024, 4, 3, 3), [2], [1], [1], 2, True),
    ("pointwise GEMM 64->256 @56", (4, 64, 56, 56), (256, 64, 1, 1), [1], [0], [1], 1, True),
    ("pointwise GEMM 256->64 @28", (3, 256, 28, 28), (64, 256, 1, 1), [1], [0], [1], 1, False),
]

# (name, (N, Cin, H, W), (Cin, Cout/groups, KH, KW), stride, padding, output_padding, groups, dilation, bias)
TRANSPOSE_CASES = [
    ("tconv basic", (2, 4, 5, 6), (4, 3, 3, 3), [1], [1], [0], 1, [1], True),
    ("tconv s2 op1", (2, 6, 7, 5), (6, 4, 4, 3), [2], [1], [1], 2, [1], True),
    ("tconv s3 dil2 op2", (1, 4, 6, 6), (4, 2, 3, 3), [3], [2, 1], [2, 1], 1, [2], False),
    ("tconv depthwise", (2, 8, 9, 9), (8, 1, 3, 3), [2], [1], [1], 8, [1], True),
    ("tconv decoder 64->32", (4, 64, 14, 14), (64, 32, 4, 4), [2], [1], [0], 1, [1], True),
    ("tconv to RGB 64->3 (small-Cg)", (4, 64, 32, 32), (64, 3, 4, 4), [2], [1], [0], 1, [1], True),
]

MASKS = [[True, True, True], [True, False, False], [False, True, False], [False, False, True]]


class Report:
    def __init__(self):
        self.failures = 0
        self.rows = 0

    def check(self, case, dtype, what, got, ref):
        tol = 1e-4 if dtype == "float32" else 1e-11
        if ref is None and got is None:
            return
        if (ref is None) != (got is None) or got.shape != ref.shape:
            print(f"  FAIL {case:34s} {dtype:8s} {what:10s} shape/presence mismatch "
                  f"{None if got is None else got.shape} vs {None if ref is None else ref.shape}")
            self.failures += 1
            return
        a, r = rel_err(got, ref)
        bad = not (r <= tol) or not np.all(np.isfinite(got) == np.isfinite(ref))
        self.rows += 1
        self.failures += bad
        print(f"  {'FAIL' if bad else 'ok  '} {case:34s} {dtype:8s} {what:10s} max abs {a:9.2e}  rel {r:9.2e}")


def run_conv_cases(rep, rng):
    print("conv2d / conv2d_backward: CUDA vs CPU (_C ops)")
    for name, xs, ws, stride, padding, dilation, groups, bias in CONV_CASES:
        for dtype in ("float32", "float64"):
            x = rng.uniform(-1, 1, xs).astype(dtype)
            w = rng.uniform(-1, 1, ws).astype(dtype)
            b = rng.uniform(-1, 1, ws[0]).astype(dtype) if bias else None
            outs = {}
            for dev in ("cpu", DEV):
                xi, wi = to_dev(x, dev), to_dev(w, dev)
                bi = to_dev(b, dev) if bias else None
                y = _C.conv2d(xi, wi, bi, stride, padding, dilation, groups)
                outs[dev] = [to_np(y)]
            rep.check(name, dtype, "forward", outs[DEV][0], outs["cpu"][0])
            gy = rng.uniform(-1, 1, outs["cpu"][0].shape).astype(dtype)
            for mask in MASKS:
                res = {}
                for dev in ("cpu", DEV):
                    r = _C.conv2d_backward(to_dev(gy, dev), to_dev(x, dev), to_dev(w, dev), stride, padding,
                                           dilation, groups, mask)
                    res[dev] = [to_np(t) for t in r]
                for k, what in enumerate(("grad_x", "grad_w", "grad_b")):
                    if mask[k] or res[DEV][k] is not None:
                        rep.check(name, dtype, what + ("" if mask == [True] * 3 else "*"), res[DEV][k],
                                  res["cpu"][k])
            # determinism: weight and bias gradients bitwise equal across runs
            if dtype == "float32" and xs[0] > 0:
                a = [to_np(t) for t in _C.conv2d_backward(to_dev(gy, DEV), to_dev(x, DEV), to_dev(w, DEV),
                                                            stride, padding, dilation, groups, [False, True, True])]
                b2 = [to_np(t) for t in _C.conv2d_backward(to_dev(gy, DEV), to_dev(x, DEV), to_dev(w, DEV),
                                                             stride, padding, dilation, groups, [False, True, True])]
                same = np.array_equal(a[1], b2[1]) and np.array_equal(a[2], b2[2])
                rep.failures += not same
                if not same:
                    print(f"  FAIL {name:34s} weight/bias gradient differ between two runs (not deterministic)")


def run_transpose_cases(rep, rng):
    print("conv_transpose2d / conv_transpose2d_backward: CUDA vs CPU (_C ops)")
    for name, xs, ws, stride, padding, out_pad, groups, dilation, bias in TRANSPOSE_CASES:
        for dtype in ("float32", "float64"):
            x = rng.uniform(-1, 1, xs).astype(dtype)
            w = rng.uniform(-1, 1, ws).astype(dtype)
            b = rng.uniform(-1, 1, ws[1] * groups).astype(dtype) if bias else None
            outs = {}
            for dev in ("cpu", DEV):
                y = _C.conv_transpose2d(to_dev(x, dev), to_dev(w, dev), to_dev(b, dev) if bias else None, stride,
                                        padding, out_pad, groups, dilation)
                outs[dev] = to_np(y)
            rep.check(name, dtype, "forward", outs[DEV], outs["cpu"])
            gy = rng.uniform(-1, 1, outs["cpu"].shape).astype(dtype)
            res = {}
            for dev in ("cpu", DEV):
                r = _C.conv_transpose2d_backward(to_dev(gy, dev), to_dev(x, dev), to_dev(w, dev), stride, padding,
                                                 out_pad, groups, dilation, [True, True, True])
                res[dev] = [to_np(t) for t in r]
            for k, what in enumerate(("grad_x", "grad_w", "grad_b")):
                rep.check(name, dtype, what, res[DEV][k], res["cpu"][k])


def run_noncontiguous(rep, rng):
    print("non-contiguous CUDA inputs (the ops layer makes them contiguous)")
    x = rng.uniform(-1, 1, (2, 5, 9, 11)).astype("float32")
    w = rng.uniform(-1, 1, (6, 5, 3, 3)).astype("float32")
    xt = flambeau.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).to(DEV).transpose(2, 3)
    y = to_np(_C.conv2d(xt._impl, to_dev(w, DEV), None, [1], [1], [1], 1))
    ref = to_np(_C.conv2d(to_dev(x, "cpu"), to_dev(w, "cpu"), None, [1], [1], [1], 1))
    rep.check("transposed-view input", "float32", "forward", y, ref)


# ------------------------------------------------------------------ timing
# (name, N, C, H, W, O, K, stride, pad, groups)
BENCH = [
    ("stem 7x7/2 3->64 @224", 32, 3, 224, 224, 64, 7, 2, 3, 1),
    ("3x3 64->64 @56", 32, 64, 56, 56, 64, 3, 1, 1, 1),
    ("1x1 64->256 @56", 32, 64, 56, 56, 256, 1, 1, 0, 1),
    ("1x1 256->64 @56", 32, 256, 56, 56, 64, 1, 1, 0, 1),
    ("3x3/2 128->128 @56", 32, 128, 56, 56, 128, 3, 2, 1, 1),
    ("3x3 128->128 @28", 32, 128, 28, 28, 128, 3, 1, 1, 1),
    ("3x3 256->256 @14", 32, 256, 14, 14, 256, 3, 1, 1, 1),
    ("3x3 512->512 @7", 32, 512, 7, 7, 512, 3, 1, 1, 1),
    ("1x1 2048->512 @7", 32, 2048, 7, 7, 512, 1, 1, 0, 1),
    ("dw 3x3 256 @28", 32, 256, 28, 28, 256, 3, 1, 1, 256),
]


def median_time(fn, sync_fn, reps):
    ts = []
    for _ in range(reps):
        sync_fn()
        t0 = time.perf_counter()
        fn()
        sync_fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def run_bench(reps, batch=None):
    try:
        import torch
        have_torch = torch.cuda.is_available() and DEV == "cuda"
    except Exception:
        have_torch = False
    if have_torch:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    print(f"\ntiming, float32, median of {reps} (ms; TFLOP/s = 2*MACs/time; ratio = flambeau / cuDNN)"
          + ("" if have_torch else "  [torch without CUDA: flambeau only]"))
    print(f"  {'layer':24s} {'pass':6s} {'flambeau':>9s} {'TFLOP/s':>8s} {'cuDNN':>9s} {'TFLOP/s':>8s} {'ratio':>6s}")
    rng = np.random.default_rng(0)
    for name, N, C, H, W, O, K, s, p, G in BENCH:
        N = batch or N
        OH = (H + 2 * p - K) // s + 1
        OW = (W + 2 * p - K) // s + 1
        flops = 2.0 * N * O * OH * OW * (C // G) * K * K
        x = rng.uniform(-1, 1, (N, C, H, W)).astype("float32")
        w = rng.uniform(-1, 1, (O, C // G, K, K)).astype("float32")
        gy = rng.uniform(-1, 1, (N, O, OH, OW)).astype("float32")
        xi, wi, gyi = to_dev(x, DEV), to_dev(w, DEV), to_dev(gy, DEV)
        args = ([s], [p], [1], G)
        fl = {
            "fwd": lambda: _C.conv2d(xi, wi, None, *args),
            "dgrad": lambda: _C.conv2d_backward(gyi, xi, wi, *args, [True, False, False]),
            "wgrad": lambda: _C.conv2d_backward(gyi, xi, wi, *args, [False, True, False]),
        }
        th = {}
        if have_torch:
            tx, tw, tgy = (torch.from_numpy(a).cuda() for a in (x, w, gy))
            th = {
                "fwd": lambda: torch.nn.functional.conv2d(tx, tw, None, s, p, 1, G),
                "dgrad": lambda: torch.nn.grad.conv2d_input(tx.shape, tw, tgy, s, p, 1, G),
                "wgrad": lambda: torch.nn.grad.conv2d_weight(tx, tw.shape, tgy, s, p, 1, G),
            }
        for pass_ in ("fwd", "dgrad", "wgrad"):
            fl[pass_]()  # warm-up (allocator, first launch)
            if have_torch:
                th[pass_]()
            tf, tt = [], []
            for _ in range(reps):  # alternate
                tf.append(median_time(fl[pass_], sync, 1))
                if have_torch:
                    tt.append(median_time(th[pass_], torch.cuda.synchronize, 1))
            a = statistics.median(tf)
            line = f"  {name:24s} {pass_:6s} {a * 1e3:9.3f} {flops / a / 1e12:8.2f}"
            if have_torch:
                b = statistics.median(tt)
                line += f" {b * 1e3:9.3f} {flops / b / 1e12:8.2f} {a / b:6.2f}"
            print(line, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--bench-only", action="store_true")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--dry-run-cpu", action="store_true", help="device under test = CPU: checks the script itself (bench at batch 1)")
    a = ap.parse_args()
    global DEV
    if a.dry_run_cpu:
        DEV = "cpu"
    elif not flambeau.cuda.is_available():
        print("flambeau.cuda.is_available() is False: needs a CUDA build on a GPU machine")
        return 2
    rep = Report()
    t0 = time.time()
    if not a.bench_only:
        rng = np.random.default_rng(1234)
        run_conv_cases(rep, rng)
        run_transpose_cases(rep, rng)
        run_noncontiguous(rep, rng)
        print(f"\ncorrectness: {rep.rows} comparisons, {rep.failures} failures ({time.time() - t0:.1f} s)")
    if not a.no_bench:
        if a.dry_run_cpu:
            run_bench(1, batch=1)  # plumbing only
        else:
            run_bench(a.reps)
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
