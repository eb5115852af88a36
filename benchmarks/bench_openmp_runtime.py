"""Parallel ops through the module's OpenMP runtime (csrc/platform/omp_runtime.cpp, used when no libgomp is
loaded in the process) against libgomp, which the module forwards to when it is loaded:

    PYTHONPATH=python python benchmarks/bench_openmp_runtime.py                    # own runtime
    LD_PRELOAD=/lib/x86_64-linux-gnu/libgomp.so.1 PYTHONPATH=python python benchmarks/bench_openmp_runtime.py

(Don't import torch here: its libgomp would make both runs the second.) Best of 5 timeit repeats, in us."""
import timeit

import flambeau as t

a = t.randn(512, 512)
b = t.randn(512, 512)
x = t.randn(1 << 20)
s = t.randn(64, 64)
for stmt in ["a @ b", "x.exp()", "x.sum()", "x + x", "s + s", "t.nn.functional.relu(x)"]:
    n = 200 if "@" in stmt else 2000
    best = min(timeit.repeat(stmt, globals=globals(), number=n, repeat=5)) / n
    print(f"{stmt:28s} {best * 1e6:8.2f} us")
