"""The main job (examples/train_fashion_mnist.py) on flambeau and on PyTorch CPU, side by side.

Both runs use the same model (build_model from the example, given flambeau.nn or torch.nn), the same
initial weights (drawn once by flambeau and copied into both), the same optimizer and one-cycle
schedule (make_optimizer from the example), the same training/evaluation loops (examples/_common.py),
the same batches in the same order (a numpy permutation per epoch, identical for both), and the same
number of threads. Only the dropout masks differ. Each library runs in its own subprocess, one after
the other; the wall time is that of the whole training (epochs + per-epoch evaluation), data
preparation excluded.

    PYTHONPATH=python python benchmarks/compare_main_job.py                 # subset, 8 epochs
    PYTHONPATH=python python benchmarks/compare_main_job.py --full --epochs 12
    PYTHONPATH=python python benchmarks/compare_main_job.py --full --model mlp --epochs 15

--model mlp swaps the CNN for the MLP 784-256-128-10 with ReLU (the shape of the Fashion-MNIST
benchmark table's "MLP 256-128-100" entry), everything else unchanged.

This is a comparison script: it is the only place where the main job meets PyTorch.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))


class Batches:
    """(x, y) batches of numpy arrays turned into `lib` tensors, in a seeded random order."""

    def __init__(self, lib, x, y, batch_size, shuffle, seed):
        self.lib, self.x, self.y, self.bs, self.shuffle = lib, x, y, batch_size, shuffle
        self.rng = np.random.RandomState(seed)

    def __len__(self):
        return (len(self.x) + self.bs - 1) // self.bs

    def __iter__(self):
        order = self.rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for i in range(0, len(order), self.bs):
            idx = order[i:i + self.bs]
            yield (self.lib.from_numpy(np.ascontiguousarray(self.x[idx])),
                   self.lib.from_numpy(np.ascontiguousarray(self.y[idx])))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(lib_nn, model):
    """The main job's CNN, or the MLP 784-256-128-10 with ReLU, from the `nn` package given."""
    if model == "cnn":
        from train_fashion_mnist import build_model
        return build_model(lib_nn)
    from activations_mlp import mlp
    return mlp(lib_nn.ReLU, (784, 256, 128, 10), nn=lib_nn)


def child(args):
    """Train with one library; print one JSON line with the results."""
    if args.backend == "torch":
        import torch as lib
    else:
        import flambeau as lib
    lib.set_num_threads(args.threads)
    lib.manual_seed(args.seed)
    import _common as C
    from train_fashion_mnist import make_optimizer

    data = np.load(os.path.join(args.workdir, "data.npz"))
    init = np.load(os.path.join(args.workdir, "init.npz"))
    model = build(lib.nn, args.model)
    model.load_state_dict({k: lib.from_numpy(init[k].copy()) for k in init.files})
    train = Batches(lib, data["x_train"], data["y_train"], args.batch_size, True, args.seed)
    test = Batches(lib, data["x_test"], data["y_test"], 500, False, 0)
    opt, sched = make_optimizer(lib, model, args.optimizer, args.lr, args.epochs, len(train))
    cpu = time.process_time()
    hist = C.fit(model, train, test, opt, args.epochs, sched, per_batch=True, name=args.backend)
    cpu = time.process_time() - cpu
    print("RESULT " + json.dumps({"backend": args.backend, "version": lib.__version__,
                                  "threads": lib.get_num_threads(), "cpu_seconds": cpu, **hist}),
          flush=True)


def parent(args):
    import flambeau
    import _common as C

    work = tempfile.mkdtemp(prefix="compare_main_job_")
    x_train, y_train, x_test, y_test = C.numpy_data(args.full, args.limit)
    np.savez(os.path.join(work, "data.npz"), x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test)
    flambeau.manual_seed(args.seed)
    init = build(flambeau.nn, args.model).state_dict()
    np.savez(os.path.join(work, "init.npz"), **{k: v.numpy() for k, v in init.items()})
    print(f"{args.model}: {len(x_train)} training / {len(x_test)} test images, {args.epochs} epochs, batch "
          f"{args.batch_size}, {args.optimizer} lr {args.lr}, {args.threads} threads")

    results = {}
    load = os.getloadavg()
    for backend in args.order.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--backend", backend,
               "--workdir", work, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--lr", str(args.lr), "--seed", str(args.seed), "--threads", str(args.threads),
               "--optimizer", args.optimizer, "--model", args.model]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                results[backend] = json.loads(line[7:])
                results[backend]["process_wall"] = wall
            else:
                print(line)
        if proc.returncode != 0:
            print(f"{backend}: exit status {proc.returncode}")

    print()
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, load average before/after "
          f"{load[0]:.1f}/{os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}; data: "
          f"{'full' if args.full else 'subset'} {len(x_train)}/{len(x_test)}")
    print("| library | version | threads | final test acc | best test acc | training wall time "
          "| s/epoch | CPU time (all threads) |")
    print("|---|---|---|---|---|---|---|---|")
    for backend, r in results.items():
        secs = r["seconds"][-1]
        print(f"| {backend} | {r['version']} | {r['threads']} | {r['test_acc'][-1]:.4f} | "
              f"{max(r['test_acc']):.4f} | {secs:.1f} s | {secs / len(r['seconds']):.1f} | "
              f"{r['cpu_seconds']:.1f} s |")
    if len(results) == 2:
        f, t = results["flambeau"], results["torch"]
        print(f"flambeau / torch: wall time {f['seconds'][-1] / t['seconds'][-1]:.2f}x, "
              f"CPU time {f['cpu_seconds'] / t['cpu_seconds']:.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--order", default="flambeau,torch", help="which libraries, in which order")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    child(args) if args.child else parent(args)


if __name__ == "__main__":
    main()
