"""One-process sgemm comparison: flambeau, numpy (OpenBLAS) and torch, interleaved, median of repeats.

    PYTHONPATH=python python benchmarks/gemm/bench_inproc.py [repeats] [shape filter]

Every library multiplies the same float32 C-contiguous operands with the same thread count (2, or
THREADS=n). numpy and torch write into a preallocated output (out=); flambeau's mm returns a fresh
tensor (its allocator reuses the freed block from the previous call, so after the warm-up this
costs no page faults below glibc's 32 MiB mmap threshold). Each repeat runs every library once, for
`inner` calls (~0.1 s), in a rotating order, so that all see the same machine state; the table
gives the median (and best) GFLOP/s over the repeats and the ratio of medians. MLP shapes with
layout 't' multiply by W.T (a transposed view, as F.linear does).
"""
import os
import statistics
import sys
import time

import numpy as np

THREADS = int(os.environ.get("THREADS", "2"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))

import torch  # noqa: E402

import flambeau  # noqa: E402
from flambeau import _C  # noqa: E402

SHAPES = [("square", 512, 512, 512, "n"), ("square", 1024, 1024, 1024, "n"), ("square", 2048, 2048, 2048, "n"),
          ("square", 4096, 4096, 4096, "n"), ("mlp", 4096, 512, 784, "n"), ("mlp", 4096, 512, 784, "t"),
          ("mlp", 128, 512, 784, "n"), ("mlp", 128, 512, 784, "t"), ("mlp", 4096, 10, 512, "t"),
          ("mlp", 512, 784, 4096, "n")]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    filt = sys.argv[2] if len(sys.argv) > 2 else None
    torch.set_num_threads(THREADS)
    flambeau.set_num_threads(THREADS)
    blas = "?"
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(THREADS, user_api="blas")
        for info in threadpool_info():
            if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
                blas = f"{info['internal_api']} {info.get('version')} {info.get('architecture')} threads={info['num_threads']}"
    except ImportError:
        pass
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}; "
          f"flambeau {flambeau.backends.cpu.capability()} threads={THREADS}; "
          f"numpy {np.__version__} {blas}; torch {torch.__version__} threads={torch.get_num_threads()}")
    print(f"# median (best) GFLOP/s over {reps} interleaved repeats")
    print(f"{'shape':6} {'M':>5} {'N':>5} {'K':>5} B {'flambeau':>14} {'numpy':>14} {'torch':>14} "
          f"{'/numpy':>6} {'/torch':>6}")
    rng = np.random.default_rng(0)
    for name, m, n, k, layout in SHAPES:
        if filt and filt not in f"{name}{m}x{n}x{k}{layout}":
            continue
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32) if layout == "n" else \
            rng.uniform(-1, 1, (n, k)).astype(np.float32).T
        c = np.empty((m, n), np.float32)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((m, n))
        fa, fb = flambeau.from_numpy(a)._impl, flambeau.from_numpy(b)._impl
        flop = 2.0 * m * n * k
        inner = max(1, int(0.1 * 150e9 / flop))
        libs = {
            "flambeau": lambda: _C.mm(fa, fb),
            "numpy": lambda: np.matmul(a, b, out=c),
            "torch": lambda: torch.mm(ta, tb, out=tc),
        }
        times = {key: [] for key in libs}
        for fn in libs.values():
            fn()
            fn()
        order = list(libs)
        for r in range(reps):
            for key in order[r % 3:] + order[:r % 3]:
                fn = libs[key]
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                times[key].append((time.perf_counter() - t0) / inner)
        med = {key: flop / statistics.median(t) / 1e9 for key, t in times.items()}
        best = {key: flop / min(t) / 1e9 for key, t in times.items()}
        cols = " ".join(f"{med[key]:6.1f} ({best[key]:5.1f})" for key in libs)
        print(f"{name:6} {m:5} {n:5} {k:5} {layout} {cols} {med['flambeau'] / med['numpy']:6.2f} "
              f"{med['flambeau'] / med['torch']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
