"""numpy/OpenBLAS sgemm timings in bench_gemm.cpp's output format ("name M N K layout gflops").

Run by run.sh, alternating with bench_gemm so that both see the same machine state.
layout 't' multiplies by W.T (a transposed view, as F.linear does) instead of a row-major B.
"""
import sys
import time

import numpy as np

SHAPES = [("square", 1024, 1024, 1024, "n"), ("square", 2048, 2048, 2048, "n"), ("mlp", 4096, 512, 784, "n"),
          ("mlp", 4096, 512, 784, "t"), ("mlp", 128, 512, 784, "n"), ("mlp", 128, 512, 784, "t"),
          ("small", 128, 128, 128, "n"), ("small", 256, 256, 256, "n"), ("small", 512, 512, 512, "n")]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                print(f"# numpy {np.__version__} {info['internal_api']} {info.get('version')} "
                      f"kernel={info.get('architecture')} threads={info['num_threads']}")
    except ImportError:
        print(f"# numpy {np.__version__} (threadpoolctl not installed: BLAS kernel unknown)")
    rng = np.random.default_rng(0)
    for name, m, n, k, layout in SHAPES:
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32) if layout == "n" else \
            rng.uniform(-1, 1, (n, k)).astype(np.float32).T
        c = np.empty((m, n), np.float32)
        flop = 2.0 * m * n * k
        inner = max(1, int(0.05 * 150e9 / flop))
        np.matmul(a, b, out=c)
        best = 1e30
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                np.matmul(a, b, out=c)
            best = min(best, (time.perf_counter() - t0) / inner)
        print(f"{name} {m} {n} {k} {layout} {flop / best / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
