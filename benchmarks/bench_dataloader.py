"""DataLoader throughput with worker processes: flambeau's DataLoader against torch.utils.data.DataLoader,
the same dataset code and the same number of workers, alternating, best of `--repeat` epochs.

    python benchmarks/bench_dataloader.py [--repeat 3] [--workers 2]

Cases:
  cifar    128x3x32x32 float32 batches (+ int64 labels) from a map-style dataset of per-sample tensors
           (the batch is stacked in the worker and crosses to the main process in shared memory)
  mnist    256x1x28x28 float32 batches, the same way
  gil      a GIL-bound per-sample transform (a Python loop over a numpy image, ~1 ms a sample):
           num_workers=0 against num_workers=W, for each library (the speed-up workers give)

batches/s counts only the steady state: the first batch (worker start-up, the fork or spawn) is
timed separately as "first". Ratio = PyTorch time / ours (> 1: we are faster). On a machine shared with
other jobs the rates swing with their load, so the CPU time per batch is printed too: the main process's
(what it spends receiving a batch) and the workers' (getrusage of the reaped children, start-up included),
medians over the epochs; those depend far less on the machine's other load.
"""
import resource
import statistics
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import flambeau  # noqa: E402
import torch  # noqa: E402
import torch.utils.data  # noqa: E402
import flambeau.utils.data  # noqa: E402


class Samples:
    """n samples of `shape` float32 (preloaded, as a decoded dataset in memory) and an int label."""

    def __init__(self, lib, n, shape):
        rng = np.random.default_rng(0)
        self.x = lib.from_numpy(rng.standard_normal((n,) + shape).astype(np.float32))
        self.y = list(rng.integers(0, 10, n).tolist())

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class GilBound:
    """A transform in pure Python (holds the GIL): a 3x3 box blur of one 16x16 channel, by hand."""

    def __init__(self, lib, n):
        self.lib = lib
        self.img = np.random.default_rng(0).random((16, 16)).tolist()
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        img = self.img
        out = [[sum(img[r + a][c + b] for a in (-1, 0, 1) for b in (-1, 0, 1)) / 9.0
                for c in range(1, 15)] for r in range(1, 15)]
        return self.lib.tensor(out, dtype=self.lib.float32), i


def make_dataset(lib, case, n):
    if case == "cifar":
        return Samples(lib, n, (3, 32, 32))
    if case == "mnist":
        return Samples(lib, n, (1, 28, 28))
    return GilBound(lib, n)


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def epoch(lib, dataset, batch_size, workers):
    """(seconds for the first batch, seconds for the rest, batches after the first,
    main-process CPU seconds for the rest, workers' CPU seconds for the whole epoch)."""
    DataLoader = lib.utils.data.DataLoader
    c0 = _children_cpu()
    t0 = time.perf_counter()
    it = iter(DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers))
    next(it)
    t1, p1 = time.perf_counter(), time.process_time()
    k = 0
    for x, y in it:
        k += 1
    t2, p2 = time.perf_counter(), time.process_time()
    del it, x, y
    return t1 - t0, t2 - t1, k, p2 - p1, _children_cpu() - c0


def best(lib, dataset, batch_size, workers, repeat):
    """(first-batch s, batches/s, main CPU ms per batch, workers' CPU ms per batch)."""
    runs = [epoch(lib, dataset, batch_size, workers) for _ in range(repeat)]
    first = min(r[0] for r in runs)
    rest = min(r[1] for r in runs)
    main_ms = statistics.median(r[3] / r[2] for r in runs) * 1e3
    workers_ms = statistics.median(r[4] / (r[2] + 1) for r in runs) * 1e3
    return first, runs[0][2] / rest, main_ms, workers_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    flambeau.set_num_threads(2)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.workers} workers, best of {args.repeat}")
    print(f"{'case':<20}{'flambeau b/s':>13}{'torch b/s':>10}{'ratio':>7}{'first ms ours/torch':>21}"
          f"{'main CPU ms/batch':>19}{'worker CPU ms/batch':>21}")
    for case, n, bs in (("cifar", 128 * 60, 128), ("mnist", 256 * 60, 256)):
        ours_ds, torch_ds = make_dataset(flambeau, case, n), make_dataset(torch, case, n)
        f_first, f_rate, f_main, f_work = best(flambeau, ours_ds, bs, args.workers, args.repeat)
        t_first, t_rate, t_main, t_work = best(torch, torch_ds, bs, args.workers, args.repeat)
        print(f"{case + f' {bs}/batch':<20}{f_rate:>13.1f}{t_rate:>10.1f}{f_rate / t_rate:>7.2f}"
              f"{f_first * 1e3:>13.0f} / {t_first * 1e3:<5.0f}{f_main:>11.2f} / {t_main:<5.2f}"
              f"{f_work:>13.2f} / {t_work:.2f}")
    n, bs = 32 * 40, 32
    for lib in (flambeau, torch):
        ds = make_dataset(lib, "gil", n)
        r0 = best(lib, ds, bs, 0, args.repeat)[1]
        rw = best(lib, ds, bs, args.workers, args.repeat)[1]
        print(f"gil-bound {lib.__name__:<18} num_workers=0: {r0:.1f} b/s, num_workers={args.workers}: {rw:.1f} b/s, "
              f"speed-up {rw / r0:.2f}x")


if __name__ == "__main__":
    main()
