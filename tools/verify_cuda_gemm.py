"""Checks and times flambeau's CUDA GEMMs (csrc/cuda/matmul.cu) on a GPU machine, in one call.

    PYTHONPATH=python python3 tools/verify_cuda_gemm.py            # checks, then the benchmark
    PYTHONPATH=python python3 tools/verify_cuda_gemm.py --check    # checks only (~20 s)
    PYTHONPATH=python python3 tools/verify_cuda_gemm.py --bench    # benchmark only

Checks (exit status 1 on any failure): mm / bmm / linear / addmm / matmul on CUDA against float64
numpy on the CPU over odd M/N/K, K = 0, K = 1, transposed views, batches, sliced views whose
pointers or strides are misaligned for 16-byte loads (these must take the reference kernel),
each with TF32 off and on; the tuned float32 kernel against the reference kernel (expected
bit-identical: both sum k in order with FMAs, then add the bias), run-to-run determinism, outputs
poisoned with NaN beforehand (an unwritten element shows), linear/addmm gradients.
Tolerances, ||out - ref|| / ||ref|| (METHOD.md): float32 < 1e-5, TF32 < 3e-3, NaN never.

Benchmark: median time of ours vs torch.matmul / F.linear (cuBLAS) on CUDA, interleaved, with
TFLOP/s and the fraction of the H100 SXM's datasheet peaks (67 TFLOP/s float32 FMA, 495 TFLOP/s
dense TF32) and of cuBLAS; also the reference kernel (the 'before' number).
"""
import argparse
import math
import os
import statistics
import sys
import time

import numpy as np

import flambeau as fl

PEAK_FP32 = 67e12   # H100 SXM5 datasheet, non-tensor float32
PEAK_TF32 = 495e12  # H100 SXM5 datasheet, dense TF32 tensor core

failures = []
DEVICE = "cuda"  # --device cpu dry-runs the checks on a machine without a GPU (tests this script)


def set_path(path):
    """FLAMBEAU_CUDA_GEMM is read by matmul.cu at every call: auto | reference | big | small."""
    if path == "auto":
        os.environ.pop("FLAMBEAU_CUDA_GEMM", None)
    else:
        os.environ["FLAMBEAU_CUDA_GEMM"] = path


def set_tf32(on):
    fl.backends.cuda.matmul.allow_tf32 = on
    assert fl.backends.cuda.matmul.allow_tf32 == on


def to_np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def cuda(a):
    return fl.from_numpy(np.ascontiguousarray(a)).to(DEVICE)


def poison(shape, dtype):
    # The caching allocator hands the next same-sized request this block: outputs start as NaN.
    junk = fl.full(shape, float("nan"), dtype=dtype, device=DEVICE)
    if DEVICE != "cpu":
        fl.cuda.synchronize()
    del junk


def rel_err(out, ref):
    out = np.asarray(out, dtype=np.float64)
    if out.shape != ref.shape:
        return float("inf")
    if np.isnan(out).any():
        return float("nan")
    den = np.linalg.norm(ref)
    num = np.linalg.norm(out - ref)
    return num / den if den > 0 else num


def record(name, err, tol):
    ok = err == err and err <= tol  # NaN fails
    print(f"  {'ok ' if ok else 'BAD'} {name:<62} rel err {err:.2e} (tol {tol:.0e})")
    if not ok:
        failures.append(name)


def rng_arr(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Operand builders: each returns (flambeau CUDA view, float64 numpy copy of the same values)
# ---------------------------------------------------------------------------------------------
def make_2d(rng, rows, cols, kind, dtype=np.float32):
    """kind: contig | T (transposed view) | off1 (pointer 1 element off: misaligned) |
    off4 (4 elements off, padded stride: aligned) | pad1 (row stride cols+1) | step2 (column step 2)"""
    if kind == "contig":
        a = rng_arr(rng, (rows, cols), dtype)
        return cuda(a), a.astype(np.float64)
    if kind == "T":
        a = rng_arr(rng, (cols, rows), dtype)
        return cuda(a).t(), a.T.astype(np.float64)
    if kind == "off1":
        a = rng_arr(rng, (rows, cols + 1), dtype)
        return cuda(a)[:, 1:], a[:, 1:].astype(np.float64)
    if kind == "off4":
        a = rng_arr(rng, (rows, cols + 8), dtype)
        return cuda(a)[:, 4:4 + cols], a[:, 4:4 + cols].astype(np.float64)
    if kind == "pad1":
        a = rng_arr(rng, (rows, cols + 1), dtype)
        return cuda(a)[:, :cols], a[:, :cols].astype(np.float64)
    if kind == "step2":
        a = rng_arr(rng, (rows, 2 * cols), dtype)
        return cuda(a)[:, ::2], a[:, ::2].astype(np.float64)
    raise ValueError(kind)


def check_mm(rng, tf32):
    tol = 3e-3 if tf32 else 1e-5
    shapes = [(1, 1, 1), (1, 7, 5), (7, 1, 5), (5, 9, 1), (3, 4, 0), (17, 33, 65), (64, 64, 64),
              (127, 129, 131), (128, 128, 8), (200, 300, 257), (513, 257, 129), (1024, 768, 512),
              (130, 2000, 3)]
    kinds = ["contig", "T", "off1", "off4", "pad1", "step2"]
    for (M, N, K) in shapes:
        for ka in kinds:
            for kb in kinds:
                if (ka, kb) not in (("contig", "contig"), ("T", "contig"), ("contig", "T"), ("T", "T")) and \
                        (M, N, K) not in ((127, 129, 131), (17, 33, 65), (5, 9, 1)):
                    continue
                a, an = make_2d(rng, M, K, ka)
                b, bn = make_2d(rng, K, N, kb)
                poison((M, N), fl.float32)
                out = fl.mm(a, b)
                record(f"mm {M}x{K} @ {K}x{N} A:{ka} B:{kb}", rel_err(to_np(out), an @ bn), tol)


def check_bmm(rng, tf32):
    tol = 3e-3 if tf32 else 1e-5
    for (B, M, N, K) in [(1, 5, 7, 3), (3, 17, 33, 65), (4, 128, 64, 96), (5, 131, 67, 0), (2, 64, 64, 1),
                         (7, 200, 100, 37)]:
        for layout in ["contig", "Ta", "Tb", "perm", "off1"]:
            a = rng_arr(rng, (B, M, K))
            b = rng_arr(rng, (B, K, N))
            if layout == "contig":
                fa, fb = cuda(a), cuda(b)
            elif layout == "Ta":
                fa, fb = cuda(np.ascontiguousarray(a.transpose(0, 2, 1))).transpose(1, 2), cuda(b)
            elif layout == "Tb":
                fa, fb = cuda(a), cuda(np.ascontiguousarray(b.transpose(0, 2, 1))).transpose(1, 2)
            elif layout == "perm":  # batch stride not the outermost: (M, B, K) storage
                fa = cuda(np.ascontiguousarray(a.transpose(1, 0, 2))).permute(1, 0, 2)
                fb = cuda(b)
            else:  # off1: every operand 1 element off alignment
                fa = cuda(np.concatenate([np.zeros((B, M, 1), np.float32), a], axis=2))[:, :, 1:]
                fb = cuda(b)
            poison((B, M, N), fl.float32)
            out = fl.bmm(fa, fb)
            record(f"bmm {B}x{M}x{K} @ {B}x{K}x{N} {layout}",
                   rel_err(to_np(out), a.astype(np.float64) @ b.astype(np.float64)), tol)
    # matmul: batch folded into rows, and broadcast batch
    a = rng_arr(rng, (3, 5, 37, 29))
    b = rng_arr(rng, (29, 41))
    record("matmul 3x5x37x29 @ 29x41", rel_err(to_np(fl.matmul(cuda(a), cuda(b))), a.astype(np.float64) @ b), tol)


def check_linear_addmm(rng, tf32):
    tol = 3e-3 if tf32 else 1e-5
    F = fl.nn.functional
    for (M, K, N) in [(1, 1, 1), (7, 5, 3), (33, 0, 17), (64, 128, 96), (127, 129, 131), (256, 784, 512),
                      (300, 512, 10)]:
        for xk in ["contig", "T", "off1"]:
            x, xn = make_2d(rng, M, K, xk)
            w, wn = make_2d(rng, N, K, "contig")
            bias = rng_arr(rng, (N,))
            poison((M, N), fl.float32)
            y = F.linear(x, w, cuda(bias))
            record(f"linear x:{M}x{K} ({xk}) w:{N}x{K} + bias", rel_err(to_np(y), xn @ wn.T + bias), tol)
            y = F.linear(x, w)
            record(f"linear x:{M}x{K} ({xk}) w:{N}x{K} no bias", rel_err(to_np(y), xn @ wn.T), tol)
            # addmm with a 1-d bias row: the fused path; 2-d input / beta: the general path
            b2, b2n = make_2d(rng, K, N, "contig")
            record(f"addmm bias[{N}] + {M}x{K} @ {K}x{N} ({xk})",
                   rel_err(to_np(fl.addmm(cuda(bias), x, b2)), bias + xn @ b2n), tol)
            inp = rng_arr(rng, (M, N))
            record(f"addmm 0.5*in[{M}x{N}] + 2*{M}x{K} @ {K}x{N}",
                   rel_err(to_np(fl.addmm(cuda(inp), x, b2, beta=0.5, alpha=2.0)), 0.5 * inp + 2 * (xn @ b2n)), tol)
    # gradients of linear (x, w, b) on CUDA against float64 numpy
    M, K, N = 67, 45, 33
    x = cuda(rng_arr(rng, (M, K))).requires_grad_()
    w = cuda(rng_arr(rng, (N, K))).requires_grad_()
    b = cuda(rng_arr(rng, (N,))).requires_grad_()
    g = rng_arr(rng, (M, N))
    y = F.linear(x, w, b)
    y.backward(cuda(g))
    xn, wn, gn = to_np(x), to_np(w), g.astype(np.float64)
    record("linear backward grad_input", rel_err(to_np(x.grad), gn @ wn), tol)
    record("linear backward grad_weight", rel_err(to_np(w.grad), gn.T @ xn), tol)
    record("linear backward grad_bias", rel_err(to_np(b.grad), gn.sum(0)), 1e-5)
    x.grad = w.grad = b.grad = None
    out = fl.addmm(b, x, w.t())
    out.backward(cuda(g))
    record("addmm backward grad mat1", rel_err(to_np(x.grad), gn @ wn), tol)
    record("addmm backward grad mat2", rel_err(to_np(w.grad), gn.T @ xn), tol)
    record("addmm backward grad input", rel_err(to_np(b.grad), gn.sum(0)), 1e-5)


def check_float64_int64(rng):
    a, b = rng_arr(rng, (37, 29), np.float64), rng_arr(rng, (29, 41), np.float64)
    record("mm float64 (reference kernel)", rel_err(to_np(fl.mm(cuda(a), cuda(b))), a @ b), 1e-12)
    x, w, bias = rng_arr(rng, (37, 29), np.float64), rng_arr(rng, (41, 29), np.float64), rng_arr(rng, (41,), np.float64)
    record("linear float64 (reference kernel)",
           rel_err(to_np(fl.nn.functional.linear(cuda(x), cuda(w), cuda(bias))), x @ w.T + bias), 1e-12)
    ai = rng.integers(-50, 50, (19, 23))
    bi = rng.integers(-50, 50, (23, 7))
    got = fl.mm(cuda(ai), cuda(bi)).cpu().numpy()
    ok = np.array_equal(got, ai @ bi)
    print(f"  {'ok ' if ok else 'BAD'} mm int64 exact")
    if not ok:
        failures.append("mm int64")


def check_tuned_vs_reference(rng):
    """SIMT tuned kernel vs reference kernel: same k order, same FMAs -> same bits. And determinism."""
    set_tf32(False)
    for (M, N, K, ka, kb) in [(127, 129, 131, "contig", "contig"), (1024, 512, 768, "contig", "T"),
                              (300, 200, 100, "T", "contig"), (2048, 2048, 256, "T", "T"),
                              (129, 65, 1000, "off4", "contig")]:
        a, _ = make_2d(rng, M, K, ka)
        b, _ = make_2d(rng, K, N, kb)
        outs = {}
        for path in ("reference", "big", "small", "auto"):
            set_path(path)
            outs[path] = fl.mm(a, b).cpu().numpy()
        set_path("auto")
        again = fl.mm(a, b).cpu().numpy()
        det = np.array_equal(outs["auto"], again)
        same = all(np.array_equal(outs["reference"], outs[p]) for p in ("big", "small", "auto"))
        maxdiff = max(float(np.abs(outs["reference"] - outs[p]).max()) for p in ("big", "small", "auto"))
        print(f"  {'ok ' if det else 'BAD'} deterministic mm {M}x{K}@{K}x{N} {ka}/{kb}; "
              f"tuned == reference bitwise: {same} (max diff {maxdiff:.1e})")
        if not det:
            failures.append(f"determinism {M}x{N}x{K}")
        if not same:
            # Not a correctness failure (both are float32 sums in k order), but unexpected: say so.
            print("      note: expected identical bits (both FMA in k order); check FMA contraction")
    set_tf32(True)
    a, _ = make_2d(rng, 1000, 700, "contig")
    b, _ = make_2d(rng, 700, 900, "T")
    o1 = fl.mm(a, b).cpu().numpy()
    o2 = fl.mm(a, b).cpu().numpy()
    det = np.array_equal(o1, o2)
    print(f"  {'ok ' if det else 'BAD'} deterministic TF32 mm")
    if not det:
        failures.append("determinism tf32")
    set_tf32(False)


def run_checks():
    rng = np.random.default_rng(0)
    name = fl.cuda.get_device_name(0) if DEVICE != "cpu" and hasattr(fl.cuda, "get_device_name") else DEVICE
    print(f"device: {name}")
    for tf32 in (False, True):
        set_tf32(tf32)
        for path in ("auto", "reference") if not tf32 else ("auto",):
            set_path(path)
            print(f"== TF32 {'on' if tf32 else 'off'}, path {path}")
            check_mm(rng, tf32)
            check_bmm(rng, tf32)
            check_linear_addmm(rng, tf32)
    set_path("auto")
    set_tf32(False)
    print("== float64 / int64")
    check_float64_int64(rng)
    print("== tuned vs reference, determinism")
    check_tuned_vs_reference(rng)
    print(f"checks: {len(failures)} failure(s)" + (": " + ", ".join(failures[:10]) if failures else ""))


# ---------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------
def bench(fn, sync, min_time=0.15, repeats=7):
    if DEVICE == "cpu":
        min_time = 0.01
    """Median seconds per call: calls batched until a batch takes min_time, repeats batches."""
    fn()
    sync()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 14:
            break
        n = max(n * 2, int(n * min_time / max(dt, 1e-6)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def run_bench():
    import torch
    if DEVICE == "cpu":  # dry run of this function: tiny shapes, CPU torch
        dev, tsync, fsync = torch.device("cpu"), (lambda: None), (lambda: None)
    else:
        dev, tsync, fsync = torch.device("cuda"), torch.cuda.synchronize, fl.cuda.synchronize
    rng = np.random.default_rng(1)
    # (label, op, batch, M, K, N); op: mm (A row-major, B row-major), linear (x @ W^T + b),
    # dW (G^T @ X: A transposed), bmm
    cases = [(f"mm {s}^3", "mm", 1, s, s, s) for s in (1024, 2048, 4096, 8192)]
    cases += [
        ("linear fwd 8192x4096 -> 4096 (+bias)", "linear", 1, 8192, 4096, 4096),
        ("linear fwd 8192x4096 -> 16384 (+bias)", "linear", 1, 8192, 4096, 16384),
        ("linear bwd dX = G @ W 8192x16384 @ 16384x4096", "mm", 1, 8192, 16384, 4096),
        ("linear bwd dW = G^T @ X 4096x8192 @ 8192x4096", "dW", 1, 4096, 8192, 4096),
        ("MNIST MLP linear 512x784 -> 1024 (+bias)", "linear", 1, 512, 784, 1024),
        ("bmm 64 x 512x64 @ 64x512 (attention QK^T)", "bmmT", 64, 512, 64, 512),
        ("bmm 64 x 512x512 @ 512x64 (attention PV)", "bmm", 64, 512, 512, 64),
    ]
    if DEVICE == "cpu":
        cases = [(c[0], c[1], max(1, c[2] // 16), c[3] // 16, c[4] // 16, c[5] // 16) for c in cases]
    rows = []
    for tf32 in (False, True):
        set_tf32(tf32)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        peak = PEAK_TF32 if tf32 else PEAK_FP32
        for (label, op, B, M, K, N) in cases:
            flops = 2.0 * B * M * N * K
            nsets = max(1, min(4, int(2e8 // (4 * B * (M * K + K * N + M * N)))))  # rotate when L2-resident
            sets = []
            for _ in range(nsets):
                if op == "mm":
                    a, b = rng_arr(rng, (M, K)), rng_arr(rng, (K, N))
                elif op == "linear":
                    a, b = rng_arr(rng, (M, K)), rng_arr(rng, (N, K))
                elif op == "dW":
                    a, b = rng_arr(rng, (K, M)), rng_arr(rng, (K, N))  # A = a^T
                elif op == "bmm":
                    a, b = rng_arr(rng, (B, M, K)), rng_arr(rng, (B, K, N))
                else:  # bmmT: B operand = b^T, b is (B, N, K)
                    a, b = rng_arr(rng, (B, M, K)), rng_arr(rng, (B, N, K))
                bias = rng_arr(rng, (N,))
                sets.append(((cuda(a), cuda(b), cuda(bias)),
                             (torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev), torch.from_numpy(bias).to(dev))))
            it = {"f": 0, "t": 0}

            def call(which, path=None):
                k = which[0]
                i = it[k] = (it[k] + 1) % nsets
                x, w, bias = sets[i][0] if k == "f" else sets[i][1]
                if k == "f":
                    F = fl.nn.functional
                    if op == "mm": return fl.mm(x, w)
                    if op == "linear": return F.linear(x, w, bias)
                    if op == "dW": return fl.mm(x.t(), w)
                    if op == "bmm": return fl.bmm(x, w)
                    return fl.bmm(x, w.transpose(1, 2))
                if op == "mm": return torch.mm(x, w)
                if op == "linear": return torch.nn.functional.linear(x, w, bias)
                if op == "dW": return torch.mm(x.t(), w)
                if op == "bmm": return torch.bmm(x, w)
                return torch.bmm(x, w.transpose(1, 2))

            # interleave: torch, ours, reference, torch, ours, ... ; median of each
            t_t, t_f, t_r = [], [], []
            for _ in range(3):
                t_t.append(bench(lambda: call("t"), tsync, repeats=3))
                set_path("auto")
                t_f.append(bench(lambda: call("f"), fsync, repeats=3))
                if not tf32 and flops <= 2.2e12:
                    set_path("reference")
                    t_r.append(bench(lambda: call("f"), fsync, repeats=3, min_time=0.1))
                set_path("auto")
            tt, tf = statistics.median(t_t), statistics.median(t_f)
            tr = statistics.median(t_r) if t_r else float("nan")
            rows.append((("TF32 " if tf32 else "FP32 ") + label, flops / tf / 1e12, flops / tt / 1e12,
                         flops / tr / 1e12, tt / tf, flops / tf / peak))
            print(f"  {rows[-1][0]:<58} ours {rows[-1][1]:7.2f} TFLOP/s  cuBLAS {rows[-1][2]:7.2f}  "
                  f"ref {rows[-1][3]:6.2f}  ours/cuBLAS {rows[-1][4]:5.2f}  of peak {rows[-1][5]:5.1%}", flush=True)
    set_tf32(False)
    torch.backends.cuda.matmul.allow_tf32 = False
    print()
    print(f"| case | ours TFLOP/s | cuBLAS TFLOP/s | reference TFLOP/s | ours / cuBLAS | ours / peak "
          f"(fp32 {PEAK_FP32/1e12:.0f}, tf32 {PEAK_TF32/1e12:.0f}) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ref = "" if r[3] != r[3] else f"{r[3]:.2f}"
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {ref} | {r[4]:.2f} | {r[5]:.1%} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu: dry-run the checks without a GPU")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cpu":
        if not args.bench:
            run_checks()
        if args.bench:
            run_bench()
        return 1 if failures else 0
    if not fl.cuda.is_available():
        print("verify_cuda_gemm: no CUDA device (flambeau.cuda.is_available() is False)")
        return 2
    do_check = args.check or not args.bench
    do_bench = args.bench or not args.check
    if do_check:
        run_checks()
    if do_bench:
        run_bench()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
