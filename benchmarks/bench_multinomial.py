"""torch.multinomial, flambeau vs PyTorch CPU in the same process (alternating, median of the rounds, process
CPU time so that other load on the machine inflates neither side), at the sizes scripts use:

    PYTHONPATH=python python3 benchmarks/bench_multinomial.py [--threads N] [--rounds 9]

nanoGPT's next-token draw (64 rows of a 50257-token vocabulary, one sample each), word2vec's negative
sampling (100k draws with replacement from 10k weights), a char-RNN's draw (one row of 65), sampling without
replacement (8 rows, 100 of 10k), and the tiny one-draw call of a policy (10 categories). Ratio = PyTorch
time / ours (> 1: we are faster). The generators differ, so the draws do, not their distribution."""
import statistics
import sys
import time

import numpy as np
import torch

import flambeau

THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 9


def per_call_us(fn, min_s=0.05):
    fn()
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t0
        if dt >= min_s:
            return dt / n * 1e6
        n *= 4 if dt < min_s / 8 else 2


def main():
    torch.set_num_threads(THREADS)
    flambeau.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 50257)).astype(np.float32)
    vocab = np.exp(logits - logits.max(1, keepdims=True))
    vocab /= vocab.sum(1, keepdims=True)
    cases = [
        ("64 x 50257, 1 draw (nanoGPT)", vocab, 1, False),
        ("1 x 10000, 100k draws, replacement", rng.random(10000).astype(np.float32) ** 0.75, 100000, True),
        ("1 x 65, 1 draw (char-RNN)", rng.random(65).astype(np.float32), 1, False),
        ("8 x 10000, 100 without replacement", rng.random((8, 10000)).astype(np.float32), 100, False),
        ("1 x 10, 1 draw", np.linspace(0.1, 1.0, 10).astype(np.float32), 1, False),
        ("1 x 10, 1000 draws, replacement", np.linspace(0.1, 1.0, 10).astype(np.float32), 1000, True),
    ]
    load = open("/proc/loadavg").read().split()[0] if sys.platform.startswith("linux") else "?"
    print(f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load {load}, process CPU time, {ROUNDS} rounds, "
          f"{THREADS} thread(s), torch {torch.__version__}")
    print(f"{'case':40s} {'flambeau us':>12s} {'torch us':>10s} {'torch/ours':>10s}")
    for name, p, k, repl in cases:
        fp, tp = flambeau.from_numpy(p), torch.from_numpy(p)
        fns = {"f": lambda: flambeau.multinomial(fp, k, replacement=repl),
               "t": lambda: torch.multinomial(tp, k, replacement=repl)}
        times = {"f": [], "t": []}
        for _ in range(ROUNDS):
            for key in ("f", "t"):
                times[key].append(per_call_us(fns[key]))
        o, t = statistics.median(times["f"]), statistics.median(times["t"])
        print(f"{name:40s} {o:12.2f} {t:10.2f} {t / o:10.2f}", flush=True)


if __name__ == "__main__":
    main()
