"""OpenMP's wait policy for flambeau's kernels, chosen before `_C` (and with it libgomp) is loaded.

libgomp keeps a thread that finished its part of a parallel region spinning (GOMP_SPINCOUNT,
300000 pause loops by default: milliseconds) so that the next region finds it awake. On cores
shared with other processes (DataLoader workers, a second job, a build) that spinning thread holds a
core the other thread of the region needs, and every region then waits for the scheduler. Measured on
a 2-vCPU machine shared with busy processes (benchmarks/bench_omp_wait.py, RESULTS.md session 14), a
spin of 10000 (about 0.1 ms) made an LSTM training step 3.6x faster than the default, an MLP step 3x,
a loop of relus 78x; idle, it is within noise of the default on those and on the main job (4 epochs
12.6 s against 12.2-13.2), where 1000 cost about 6% (Python gaps between kernels outlast so short a
spin and every region then wakes sleeping threads).

The variable is set only while `_C` loads (libgomp reads it once, at load) and only when the user
has set neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY: their choice wins, and child processes see the
environment unchanged. If libgomp was already loaded by another module, its settings stand.
"""
import os

SPIN_COUNT = "10000"
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
