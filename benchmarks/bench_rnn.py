"""Recurrent layers beside PyTorch: nn.LSTM / nn.GRU training steps and eval forwards.

Each measurement runs in its own process, the libraries alternating, best of `rounds` medians, so
that neither library's OpenMP threads spin while the other computes.

    PYTHONPATH=python python benchmarks/bench_rnn.py [rounds]
"""
import json
import os
import subprocess
import sys

CASE = r'''
import json, sys, time
lib, kind, layers, bidir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if lib == "torch":
    import torch
else:
    import flambeau as torch
torch.manual_seed(0)
m = getattr(torch.nn, kind)(64, 128, num_layers=layers, bidirectional=bidir)
x = torch.randn(50, 32, 64)


def train():
    out, _ = m(x)
    out.sum().backward()


def infer():
    with torch.no_grad():
        m(x)


res = {}
for name, fn in (("fwd+bwd", train), ("eval fwd", infer)):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(9):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    res[name] = ts[4] * 1e3
print(json.dumps(res))
'''

CASES = [("LSTM", 2, False), ("LSTM", 1, True), ("GRU", 2, False)]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.path.join(here, "..", "python"))
    best = {}
    for _ in range(rounds):
        for kind, layers, bidir in CASES:
            for lib in ("fl", "torch"):
                r = subprocess.run([sys.executable, "-c", CASE, lib, kind, str(layers), "1" if bidir else "0"],
                                   env=env, capture_output=True, text=True, check=True)
                for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
                    key = (kind, layers, bidir, k, lib)
                    best[key] = min(best.get(key, float("inf")), v)
    print(f"best of {rounds} rounds, median of 9 calls, ms; batch 32 x 50 steps, 64 -> 128")
    print("| layer | case | flambeau | PyTorch | ratio (PyTorch / flambeau) |")
    print("|---|---|---:|---:|---:|")
    for kind, layers, bidir in CASES:
        for k in ("fwd+bwd", "eval fwd"):
            f, t = best[(kind, layers, bidir, k, "fl")], best[(kind, layers, bidir, k, "torch")]
            name = f"{kind} {layers} layer{'s' if layers > 1 else ''}{', bidirectional' if bidir else ''}"
            print(f"| {name} | {k} | {f:.1f} | {t:.1f} | {t / f:.2f} |")


if __name__ == "__main__":
    main()
