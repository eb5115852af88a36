"""SummaryWriter cost per call: flambeau.utils.tensorboard against torch.utils.tensorboard (tensorboard's
protobuf writer, PIL for PNG), same inputs, same process, alternating, best of `--repeat` runs.

    python benchmarks/bench_tensorboard.py [--repeat 5]

Ratio = PyTorch time / ours (> 1: we are faster). The writers flush once, at close, inside the timing.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import flambeau  # noqa: E402
import torch  # noqa: E402
from flambeau.utils.tensorboard import SummaryWriter as FlambeauWriter  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

rng = np.random.default_rng(0)
HIST = rng.standard_normal(10_000)
IMG = rng.random((3, 256, 256)).astype(np.float32)
TEXT = "epoch 3: loss 0.25, accuracy 0.91 " * 4


def case_scalar(w, lib, n=2000):
    for i in range(n):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    return n


def case_scalar_tensor(w, lib, n=2000):
    x = lib.tensor(0.5)
    for i in range(n):
        w.add_scalar("loss", x, i)
    return n


def case_histogram(w, lib, n=50):
    x = lib.tensor(HIST)
    for i in range(n):
        w.add_histogram("w", x, i)
    return n


def case_image(w, lib, n=20):
    x = lib.tensor(IMG)
    for i in range(n):
        w.add_image("img", x, i)
    return n


def case_text(w, lib, n=1000):
    for i in range(n):
        w.add_text("log", TEXT, i)
    return n


CASES = [("add_scalar(float)", case_scalar), ("add_scalar(0-d tensor)", case_scalar_tensor),
         ("add_histogram 10k values", case_histogram), ("add_image 3x256x256 float", case_image),
         ("add_text", case_text)]


def run(writer_cls, lib, case):
    d = tempfile.mkdtemp()
    try:
        t0 = time.perf_counter()
        w = writer_cls(d, max_queue=10, flush_secs=120)
        n = case(w, lib)
        w.close()
        return (time.perf_counter() - t0) / n
    finally:
        shutil.rmtree(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}  torch {torch.__version__}  numpy {np.__version__}")
    print(f"{'case':28s} {'flambeau':>12s} {'PyTorch':>12s} {'ratio':>7s}")
    for name, case in CASES:
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(run(FlambeauWriter, flambeau, case))
            theirs.append(run(TorchWriter, torch, case))
        a, b = min(ours), min(theirs)
        print(f"{name:28s} {a * 1e6:10.1f}us {b * 1e6:10.1f}us {b / a:7.2f}")


if __name__ == "__main__":
    main()
