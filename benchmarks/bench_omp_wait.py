"""How OpenMP's wait policy changes small-op workloads, on an idle and on a busy machine.

libgomp's default: a thread that reaches the end of a parallel region spins (GOMP_SPINCOUNT = 300000
pause loops, milliseconds on a Zen 3) before sleeping, so that the next region finds it awake. When
the cores are shared with other processes (DataLoader workers, a second job, a build), the spinning
thread holds a core the other thread of the region needs, and every region waits for the scheduler:
measured on a 2-vCPU guest with two other busy processes, an LSTM step was 20-50x slower than with
one thread. This runs each workload in a fresh process per setting (libgomp reads the variables once,
when it is loaded) and prints the median times.

    python benchmarks/bench_omp_wait.py [--busy N]    # N extra busy processes while measuring

Settings: the library default (flambeau's, see flambeau/__init__.py), explicit GOMP_SPINCOUNT values,
OMP_WAIT_POLICY=passive and =active, and PyTorch (its own libgomp, its default) for reference.
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys

WORKLOAD = r'''
import json, sys, time
lib = sys.argv[1]
if lib == "torch":
    import torch
else:
    import flambeau as torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(0)


def timeit(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


out = {}
lstm = nn.LSTM(64, 128, num_layers=2)
xs = torch.randn(50, 32, 64)


def lstm_step():
    o, _ = lstm(xs)
    o.sum().backward()


out["lstm fwd+bwd (2x128, 32x50)"] = timeit(lstm_step, 7)
cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9)
xb, yb = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))


def cnn_step():
    opt.zero_grad()
    F.cross_entropy(cnn(xb), yb).backward()
    opt.step()


out["cnn train step (batch 64, 28x28)"] = timeit(cnn_step, 15)
mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
opt2 = torch.optim.Adam(mlp.parameters())
xm, ym = torch.randn(64, 784), torch.randint(0, 10, (64,))


def mlp_step():
    opt2.zero_grad()
    F.cross_entropy(mlp(xm), ym).backward()
    opt2.step()


out["mlp train step (784-256-10, batch 64)"] = timeit(mlp_step, 30)
big = torch.randn(1 << 20)


def relu_loop():
    for _ in range(20):
        F.relu(big)


out["20 x relu of 1M floats"] = timeit(relu_loop, 11)
print(json.dumps(out))
'''

SETTINGS = [
    ("flambeau default", "fl", {}),
    ("GOMP_SPINCOUNT=0", "fl", {"GOMP_SPINCOUNT": "0"}),
    ("GOMP_SPINCOUNT=1000", "fl", {"GOMP_SPINCOUNT": "1000"}),
    ("GOMP_SPINCOUNT=10000", "fl", {"GOMP_SPINCOUNT": "10000"}),
    ("GOMP_SPINCOUNT=300000 (libgomp's default)", "fl", {"GOMP_SPINCOUNT": "300000"}),
    ("OMP_WAIT_POLICY=passive", "fl", {"OMP_WAIT_POLICY": "passive"}),
    ("torch (its default)", "torch", {}),
]


def _busy():
    x = 0
    while True:
        x += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--busy", type=int, default=0, help="extra busy-looping processes during the run")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    env0 = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env0["PYTHONPATH"] = os.path.join(here, "..", "python") + os.pathsep + env0.get("PYTHONPATH", "")
    hogs = [mp.Process(target=_busy, daemon=True) for _ in range(args.busy)]
    for h in hogs:
        h.start()
    results = {}
    try:
        for _ in range(args.rounds):  # interleaved rounds: drifts in the host's load hit every setting
            for label, lib, extra in SETTINGS:
                env = dict(env0, **extra)
                r = subprocess.run([sys.executable, "-c", WORKLOAD, lib], env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    print(label, "failed:", r.stderr[-2000:])
                    continue
                for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
                    results.setdefault(k, {}).setdefault(label, []).append(v)
    finally:
        for h in hogs:
            h.terminate()
    print(f"busy processes: {args.busy}, cpus: {os.cpu_count()}, best of {args.rounds} rounds, median ms per call")
    labels = [s[0] for s in SETTINGS]
    print("| workload | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for k, per in results.items():
        print(f"| {k} | " + " | ".join(f"{min(per[l]):.2f}" if l in per else "-" for l in labels) + " |")


if __name__ == "__main__":
    main()
