"""all_reduce and a DDP training step on 2 CPU processes: flambeau's backend against PyTorch's gloo.

    PYTHONPATH=python python3 benchmarks/bench_distributed.py [--rounds 3]

Each round starts two ranks per library (spawned processes, OMP_NUM_THREADS=1, loopback TCP), times
all_reduce(SUM) of float32 tensors of several sizes (median of the iterations, after warm-up) and a DDP step
(forward, backward with gradient averaging, SGD step) of an MLP, on flambeau and on PyTorch alternately.
ratio = PyTorch time / flambeau time (> 1: flambeau faster). Rank 0 reports.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = [256, 65536, 1 << 20, 4 << 20]  # elements (float32): 1 KiB .. 16 MiB


def worker(lib, rank, port, out):
    if lib == "flambeau":
        import flambeau as torch
        import flambeau.distributed as dist
        from flambeau.nn.parallel import DistributedDataParallel as DDP
    else:
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    res = {}
    for n in SIZES:
        t = torch.ones(n)
        iters = max(5, min(200, (4 << 20) // n * 2))
        for _ in range(3):
            dist.all_reduce(t)
        times = []
        for _ in range(iters):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - t0)
        res[f"all_reduce {n * 4 // 1024} KiB"] = statistics.median(times)
    torch.manual_seed(0)
    model = DDP(torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
    times = []
    for i in range(30):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    res["DDP step MLP 256-512-10, batch 64"] = statistics.median(times)
    dist.destroy_process_group()
    if rank == 0:
        with open(out, "w") as fh:
            json.dump(res, fh)


def run_lib(lib, out):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", lib, str(r), str(port), out], env=env)
             for r in range(2)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{lib} rank failed")
    with open(out) as fh:
        return json.load(fh)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import tempfile
    acc = {"flambeau": {}, "torch": {}}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.rounds):
            for lib in ("flambeau", "torch"):
                for k, v in run_lib(lib, os.path.join(d, f"{lib}.json")).items():
                    acc[lib].setdefault(k, []).append(v)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"{'case':40s} {'flambeau':>12s} {'PyTorch':>12s} {'ratio':>7s}")
    for k in acc["flambeau"]:
        a, b = min(acc["flambeau"][k]), min(acc["torch"][k])
        print(f"{k:40s} {a * 1e3:10.3f}ms {b * 1e3:10.3f}ms {b / a:7.2f}")


if __name__ == "__main__":
    main()
