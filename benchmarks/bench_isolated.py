"""The issue's near-tie cases, each library in its own process, alternating: flambeau, PyTorch, flambeau,
PyTorch, ... (`rounds` each), best time of each side. 2 threads for both.

Why: bench_act_loss.py and bench_conv.py alternate the two libraries inside one process, where each
library's OpenMP threads keep spinning for a while after its own calls, on the 2 cores the other one
is using; memory-bound kernels that both run at the copy bandwidth then read anywhere from 0.9 to 1.3
from run to run. In separate processes only the host's noise is left, and alternating spreads it over
both sides.

    PYTHONPATH=python python benchmarks/bench_isolated.py [rounds] [substring]
"""
import subprocess
import sys

CHILD = r'''
import sys, time
lib, setup, stmt = sys.argv[1:4]
if lib == "fl":
    import flambeau as m, flambeau.nn.functional as F
    from flambeau import _C
    m.set_num_threads(2)
else:
    import torch as m, torch.nn.functional as F
    m.set_num_threads(2)
import numpy as np
exec(setup)
f = eval("lambda: " + stmt)
f(); f()
_t0 = time.perf_counter(); f(); _one = time.perf_counter() - _t0
_k = max(3, int(0.05 / max(_one, 1e-7)))
_best = 1e9
for _ in range(7):
    _t0 = time.perf_counter()
    for _ in range(_k):
        f()
    _best = min(_best, (time.perf_counter() - _t0) / _k)
print(_best * 1e6)
'''

X4M = "x = m.randn(4194304)"
SMB = ("x = m.randn({s}) * 3; y = m.softmax(x, -1); g = m.randn({s})",
       "_C.softmax_backward(g._impl, y._impl, 1)", "m._softmax_backward_data(g, y, -1, m.float32)")
CONV = "x = m.randn({x}); w = m.randn({w})"

CASES = [  # name, flambeau (setup, stmt), PyTorch (setup, stmt)
    ("relu 4M", (X4M, "F.relu(x)"), (X4M, "F.relu(x)")),
    ("leaky_relu 4M", (X4M, "F.leaky_relu(x, 0.01)"), (X4M, "F.leaky_relu(x, 0.01)")),
    ("hardtanh 4M", (X4M, "F.hardtanh(x)"), (X4M, "F.hardtanh(x)")),
    ("hardswish 4M", (X4M, "F.hardswish(x)"), (X4M, "F.hardswish(x)")),
    ("gelu 4M", (X4M, "F.gelu(x)"), (X4M, "F.gelu(x)")),
    ("sigmoid 4M", (X4M, "m.sigmoid(x)"), (X4M, "m.sigmoid(x)")),
    ("dropout 4M", (X4M, "F.dropout(x, 0.5)"), (X4M, "F.dropout(x, 0.5)")),
] + [
    (f"softmax backward [{s}]", (SMB[0].format(s=s), SMB[1]), (SMB[0].format(s=s), SMB[2]))
    for s in ("64, 50257", "4096, 1000", "1024, 1024")
] + [
    (f"softmax [{s}]", (f"x = m.randn({s})", "m.softmax(x, -1)"), (f"x = m.randn({s})", "m.softmax(x, -1)"))
    for s in ("64, 50257", "4096, 1000")
] + [
    ("cross_entropy fwd [65536, 10]", ("x = m.randn(65536, 10); t = m.randint(0, 10, (65536,))", "F.cross_entropy(x, t)"),
     ("x = m.randn(65536, 10); t = m.randint(0, 10, (65536,))", "F.cross_entropy(x, t)")),
    ("batch_norm train [256, 1024]", ("x = m.randn(256, 1024); rm = m.zeros(1024); rv = m.ones(1024)",
                                      "F.batch_norm(x, rm, rv, training=True)"),
     ("x = m.randn(256, 1024); rm = m.zeros(1024); rv = m.ones(1024)", "F.batch_norm(x, rm, rv, training=True)")),
    ("conv resnet 64->64 32x32 fwd", (CONV.format(x="32, 64, 32, 32", w="64, 64, 3, 3"), "F.conv2d(x, w, padding=1)"),
     (CONV.format(x="32, 64, 32, 32", w="64, 64, 3, 3"), "F.conv2d(x, w, padding=1)")),
    ("conv main job 32->64 14x14 fwd", (CONV.format(x="128, 32, 14, 14", w="64, 32, 3, 3"), "F.conv2d(x, w, padding=1)"),
     (CONV.format(x="128, 32, 14, 14", w="64, 32, 3, 3"), "F.conv2d(x, w, padding=1)")),
]


def run(lib, setup, stmt, env_path):
    out = subprocess.run([sys.executable, "-c", CHILD, lib, setup, stmt], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout)


def main(cases=None, default_rounds=5):
    import os
    cases = CASES if cases is None else cases
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else default_rounds
    pick = sys.argv[2] if len(sys.argv) > 2 else ""
    path = os.environ.get("PYTHONPATH", "python")
    print(f"# each side in its own process, alternating, best of {rounds} processes x 7 repeats; 2 threads")
    print(f"{'case':34s} {'flambeau':>11s} {'PyTorch':>11s}  ratio (PyTorch / ours)")
    for name, ours, theirs in cases:
        if pick not in name:
            continue
        o, t = [], []
        try:
            for _ in range(rounds):
                o.append(run("fl", *ours, path))
                t.append(run("torch", *theirs, path))
        except RuntimeError as e:  # e.g. PyTorch 2.13's batched inv of 256x256 here: "Pivots given to lu_solve ..."
            print(f"{name:34s} failed: {str(e).strip().splitlines()[-1][:90]}", flush=True)
            continue
        print(f"{name:34s} {min(o):9.1f}us {min(t):9.1f}us  {min(t) / min(o):5.2f}", flush=True)


if __name__ == "__main__":
    main()
