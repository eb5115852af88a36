"""Small and medium products (the shapes where thread start-up, packing and the epilogue weigh most),
flambeau beside PyTorch CPU in the same process, 2 threads each (THREADS=n to change).

Each case alternates rounds of flambeau and PyTorch (ours, theirs, ours, ...) so that both see the same
machine state, with a 30 ms pause before each round (see main); a round is as many calls as take ~10 ms. Prints the best and the median round in us and
the ratio of bests and of medians (PyTorch time / ours: > 1 means we are faster).

    PYTHONPATH=python python benchmarks/gemm/bench_small.py [rounds] [name filter]

The cases are those of bench_training_ops.py and bench_ops_survey.py that go through the GEMM (F.linear,
bmm, einsum, G.t() @ G, cdist, views of a 1024 x 1024 matrix, GEMV) plus a few nearby shapes.
"""
import os
import statistics
import sys
import time

import numpy as np

THREADS = int(os.environ.get("THREADS", "2"))

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import flambeau as fl  # noqa: E402
import flambeau.nn.functional as F  # noqa: E402

torch.set_num_threads(THREADS)
fl.set_num_threads(THREADS)

rng = np.random.default_rng(0)
arr = {
    "sm": rng.standard_normal((128, 256)).astype(np.float32),
    "w": rng.standard_normal((256, 256)).astype(np.float32),
    "bias": rng.standard_normal(256).astype(np.float32),
    "q": rng.standard_normal((32, 8, 128, 64)).astype(np.float32),
    "seq": rng.standard_normal((64, 128, 256)).astype(np.float32),
    "big": rng.standard_normal((4096, 1024)).astype(np.float32),
    "x": rng.standard_normal((1024, 1024)).astype(np.float32),
    "y": rng.standard_normal((1024, 1024)).astype(np.float32),
    "x64": rng.standard_normal((128, 784)).astype(np.float32),
    "w1": rng.standard_normal((512, 784)).astype(np.float32),
    "b1": rng.standard_normal(512).astype(np.float32),
    "w2": rng.standard_normal((10, 512)).astype(np.float32),
    "h": rng.standard_normal((128, 512)).astype(np.float32),
}


def cases(m, Fm, T):
    a = {k: T(v) for k, v in arr.items()}
    S, W, Bi, Q, X, G, x, y = a["sm"], a["w"], a["bias"], a["q"], a["seq"], a["big"], a["x"], a["y"]
    return {
        "linear 128x256 @256x256": lambda: Fm.linear(S, W),
        "linear 128x256 @256x256 +bias": lambda: Fm.linear(S, W, Bi),
        "linear 128x784 @512x784 +bias": lambda: Fm.linear(a["x64"], a["w1"], a["b1"]),
        "linear 128x512 @10x512": lambda: Fm.linear(a["h"], a["w2"]),
        "mm 128x256 @ 256x256": lambda: S @ W,
        "mm 256 (views of 1024^2)": lambda: x[:256, :256] @ y[:256, :256],
        "mm 256 contiguous": lambda: W @ W,
        "bmm [256,128,64]x[256,64,128]": lambda: m.bmm(Q.reshape(256, 128, 64), Q.reshape(256, 128, 64).transpose(1, 2)),
        "einsum bij,bjk": lambda: m.einsum("bij,bjk->bik", X[:, :64, :128], X[:, :128, :64]),
        "G.t() @ small": lambda: G[:256].t() @ G[:256],
        "cdist [128,256]x[128,256]": lambda: m.cdist(S, S),
        "mv 1024": lambda: x @ y[0],
        "vm 1024": lambda: y[0] @ x,
        "linear b1 (1x1024 @ 512x1024)": lambda: Fm.linear(x[:1], y[:512]),
        "mv 256": lambda: W @ Bi,
        "dot 1k": lambda: x[0] @ y[0],
    }


def rounds(f, k):
    t = time.perf_counter()
    for _ in range(k):
        f()
    return (time.perf_counter() - t) / k * 1e6


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    pick = sys.argv[2] if len(sys.argv) > 2 else ""
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f}; threads {THREADS}; flambeau {fl.backends.cpu.capability()}; "
          f"torch {torch.__version__}; {reps} alternating rounds, best (median) us")
    ours, theirs = cases(fl, F, fl.from_numpy), cases(torch, TF, torch.from_numpy)
    for name in ours:
        if pick not in name:
            continue
        fo, ft = ours[name], theirs[name]
        for f in (fo, ft, fo, ft):
            f()
        one = min(rounds(fo, 1), rounds(ft, 1))
        k = max(3, int(0.01e6 / max(one, 0.1)))
        to, tt = [], []
        for _ in range(reps):
            # a pause before each library's round: the other library's OpenMP threads (PyTorch's libgomp
            # spins 300000 pauses after a region, milliseconds) would otherwise still hold a core.
            time.sleep(0.03)
            to.append(rounds(fo, k))
            time.sleep(0.03)
            tt.append(rounds(ft, k))
        bo, bt, mo, mt = min(to), min(tt), statistics.median(to), statistics.median(tt)
        flag = "  <<<" if bt / bo < 0.9 else ""
        print(f"{name:32s} ours {bo:8.1f} ({mo:8.1f})  torch {bt:8.1f} ({mt:8.1f})  "
              f"ratio {bt / bo:5.2f} ({mt / mo:5.2f}){flag}")


if __name__ == "__main__":
    main()
