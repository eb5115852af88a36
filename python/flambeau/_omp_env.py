"""OpenMP's wait policy for flambeau's kernels, chosen before `_C` (and with it libgomp) is loaded.

libgomp keeps a thread that finished its part of a parallel region spinning (GOMP_SPINCOUNT,
300000 pause loops by default: milliseconds) so that the next region finds it awake. On cores
shared with other processes (DataLoader workers, a second job, a build) that spinning thread holds a
core the other thread of the region needs, and every region then waits for the scheduler: on a
2-vCPU machine with two other busy processes, an LSTM training step took 1.8-3.2 s with the default
against 60-95 ms with short spins, and a small CNN step 150-165 ms against 14-23 ms
(benchmarks/bench_omp_wait.py). A short spin still catches back-to-back kernels of one Python
thread, so an idle machine loses nothing measurable (same benchmark, idle rows in RESULTS.md).

The variable is set only while `_C` loads (libgomp reads it once, at load) and only when the user
has set neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY: their choice wins, and child processes see the
environment unchanged. If libgomp was already loaded by another module, its settings stand.
"""
import os

SPIN_COUNT = "1000"
_VARS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


class short_spin_while_loading:
    def __enter__(self):
        self.set = not any(v in os.environ for v in _VARS)
        if self.set:
            os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        return self

    def __exit__(self, *exc):
        if self.set:
            os.environ.pop("GOMP_SPINCOUNT", None)
        return False
