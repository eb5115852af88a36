"""The launcher, torchrun's common subset: starts one worker process per rank and watches them.

    python -m flambeau.distributed.run --nproc_per_node=2 train.py [args...]
    python -m flambeau.run -m torch.distributed.run --nproc_per_node=2 train.py   # torchrun, torch = flambeau

Each worker runs `python train.py args` (or `python -m module` with -m, or the command itself with
--no_python) with torchrun's environment: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
ROLE_RANK, ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RUN_ID, TORCHELASTIC_RESTART_COUNT,
TORCHELASTIC_MAX_RESTARTS, and OMP_NUM_THREADS=1 when it is not set and there is more than one worker
(torchrun's default, which keeps N workers from each starting one thread per core).

When the launcher itself runs under flambeau's torch alias (flambeau.run), the workers do too, so a PyTorch
script's `import torch` gives flambeau in every rank.

Supported flags: --nproc_per_node (an int, or "cpu"/"auto": the number of cores), --nnodes (an int or
"N:N"), --node_rank, --master_addr, --master_port, --standalone (a free port on localhost), --max_restarts
(the whole group restarts after a failure, up to that many times), --rdzv_endpoint (host:port, as
--master_addr/--master_port), --rdzv_backend/--rdzv_id (accepted; rendezvous is static), --monitor_interval,
--start_method, --role, --log_dir/--redirects/--tee (accepted, ignored), -m/--module, --no_python/--no-python,
--run_path. torchrun's dashed spellings (--nproc-per-node) work too. There is no elastic membership:
--nnodes must be a single number.

A worker that fails ends the run: the others are terminated (SIGTERM, then SIGKILL after a grace period),
the launcher prints which rank failed, its exit code and its error: the exception written by
torch.distributed.elastic.multiprocessing.errors.record when the worker's entry point is decorated with it
(TORCHELASTIC_ERROR_FILE, as torchrun), else the last lines of its stderr (which also goes to the launcher's
stderr as it is written). It exits with status 1, as torchrun does.
"""
import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import json

__all__ = ["main", "get_args_parser", "parse_args", "run"]

_TAIL_LINES = 40


def _env_default(name, default):
    return os.environ.get(f"PET_{name.upper()}", default)


def get_args_parser():
    p = argparse.ArgumentParser(prog="flambeau.distributed.run",
                                description="flambeau's torchrun: starts one process per rank on this node")

    def add(*names, **kw):
        spellings = []
        for n in names:
            spellings.append(n)
            if n.startswith("--") and "_" in n:
                spellings.append(n.replace("_", "-"))
        p.add_argument(*spellings, **kw)

    add("--nnodes", default=_env_default("nnodes", "1"), help="number of nodes (or MIN:MAX with MIN == MAX)")
    add("--nproc_per_node", default=_env_default("nproc_per_node", "1"),
        help="workers per node: an int, or 'cpu'/'auto' for the number of CPU cores")
    add("--node_rank", type=int, default=int(_env_default("node_rank", 0)))
    add("--master_addr", default=_env_default("master_addr", "127.0.0.1"))
    add("--master_port", type=int, default=int(_env_default("master_port", 29500)))
    add("--standalone", action="store_true", help="single node, a free port on localhost")
    add("--rdzv_backend", default=_env_default("rdzv_backend", "static"))
    add("--rdzv_endpoint", default=_env_default("rdzv_endpoint", ""))
    add("--rdzv_id", default=_env_default("rdzv_id", "none"))
    add("--rdzv_conf", default="")
    add("--max_restarts", type=int, default=int(_env_default("max_restarts", 0)))
    add("--monitor_interval", type=float, default=0.1)
    add("--start_method", default="spawn", choices=["spawn", "fork", "forkserver"])
    add("--role", default="default")
    add("--log_dir", default=None)
    add("-r", "--redirects", default="0")
    add("-t", "--tee", default="0")
    add("--local_addr", default=None)
    add("--local_ranks_filter", default="")
    add("-m", "--module", action="store_true", help="run the script as a module (python -m)")
    add("--no_python", action="store_true", help="run the script as an executable, not through python")
    add("--run_path", action="store_true")
    p.add_argument("training_script", help="the script (or module with -m, or command with --no_python)")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return p


def parse_args(args=None):
    return get_args_parser().parse_args(args)


def _nproc(value):
    if value in ("cpu", "auto"):
        return os.cpu_count() or 1
    if value == "gpu":
        raise ValueError("--nproc_per_node=gpu: flambeau's launcher runs CPU workers; give a number")
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--nproc_per_node must be an int, 'cpu' or 'auto', got {value!r}") from None
    if n < 1:
        raise ValueError(f"--nproc_per_node must be at least 1, got {n}")
    return n


def _nnodes(value):
    lo, _, hi = str(value).partition(":")
    lo, hi = int(lo), int(hi or lo)
    if lo != hi:
        raise ValueError(f"--nnodes={value}: elastic ranges are not supported (flambeau's launcher is static)")
    return lo


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _under_torch_alias():
    mod = sys.modules.get("flambeau._torch_alias")
    return mod is not None and mod._finder is not None


def _worker_command(args):
    if args.no_python:
        if args.module:
            raise ValueError("--no_python and -m cannot be used together")
        return [args.training_script] + args.training_script_args
    cmd = [sys.executable, "-u"]
    if _under_torch_alias():
        cmd += ["-m", "flambeau.run"]
    cmd += (["-m", args.training_script] if args.module else [args.training_script])
    return cmd + args.training_script_args


class _Worker:
    def __init__(self, local_rank, rank, proc):
        self.local_rank, self.rank, self.proc = local_rank, rank, proc
        self.tail = collections.deque(maxlen=_TAIL_LINES)
        self.exit_time = None  # when its stderr closed and it exited: the first failure is the root cause
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        """Copies the worker's stderr to ours as it comes, keeping the last lines for the failure report."""
        for line in iter(self.proc.stderr.readline, b""):
            self.tail.append(line.decode(errors="replace"))
            try:
                sys.stderr.buffer.write(line) if hasattr(sys.stderr, "buffer") else sys.stderr.write(line.decode(
                    errors="replace"))
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        self.proc.stderr.close()
        self.proc.wait()
        self.exit_time = time.monotonic()


def _terminate(workers, grace=5.0):
    for w in workers:
        if w.proc.poll() is None:
            try:
                w.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + grace
    for w in workers:
        left = max(0.0, deadline - time.monotonic())
        try:
            w.proc.wait(left)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()


def _start(args, cmd, nproc, world, master_addr, master_port, run_id, restart, error_dir):
    workers = []
    base = dict(os.environ)
    if nproc > 1 and "OMP_NUM_THREADS" not in base:
        base["OMP_NUM_THREADS"] = "1"
    for local_rank in range(nproc):
        rank = args.node_rank * nproc + local_rank
        env = dict(base)
        env.update(RANK=str(rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(nproc),
                   GROUP_RANK=str(args.node_rank), GROUP_WORLD_SIZE=str(world // nproc), ROLE_RANK=str(rank),
                   ROLE_NAME=args.role, ROLE_WORLD_SIZE=str(world), MASTER_ADDR=master_addr,
                   MASTER_PORT=str(master_port), TORCHELASTIC_RUN_ID=run_id,
                   TORCHELASTIC_RESTART_COUNT=str(restart), TORCHELASTIC_MAX_RESTARTS=str(args.max_restarts),
                   TORCH_NCCL_ASYNC_ERROR_HANDLING=env.get("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"))
        error_file = os.path.join(error_dir, str(restart), str(local_rank), "error.json")
        os.makedirs(os.path.dirname(error_file), exist_ok=True)
        env["TORCHELASTIC_ERROR_FILE"] = error_file  # @record writes the worker's exception there
        wcmd = cmd
        if getattr(args, "_pass_local_rank", False):  # torch.distributed.launch without --use-env
            at = len(cmd) - len(args.training_script_args)
            wcmd = cmd[:at] + [f"--local-rank={local_rank}"] + cmd[at:]
        proc = subprocess.Popen(wcmd, env=env, stderr=subprocess.PIPE)
        workers.append(_Worker(local_rank, rank, proc))
        workers[-1].error_file = error_file
    return workers


def _watch(workers, interval):
    """None when every worker exited 0; else the worker that failed first (the others are terminated)."""
    while True:
        codes = [w.proc.poll() for w in workers]
        failed = [w for w, c in zip(workers, codes) if c not in (None, 0)]
        if failed:
            for w in failed:
                w.pump.join(timeout=5)
            # the earliest to exit: a rank that failed because its peer died exits after the peer
            first = min(failed, key=lambda w: (w.exit_time is None, w.exit_time or 0.0, w.rank))
            _terminate(workers)
            return first
        if all(c == 0 for c in codes):
            return None
        time.sleep(interval)


def _report(w, script):
    w.pump.join(timeout=5)
    code = w.proc.returncode
    how = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
    tail = "".join(w.tail).rstrip()
    try:  # the exception @record wrote, when the worker's entry point is decorated
        with open(w.error_file) as fh:
            info = json.load(fh)["message"]
        tail = info["extraInfo"]["py_callstack"].rstrip() or info["message"]
        source = "source     : the exception @record wrote (error_file)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        source = "source     : the last lines of the worker's stderr (error_file: <N/A>, no @record)"
    bar = "=" * 60
    msg = (f"{bar}\n{script} FAILED\n{bar}\nRoot Cause (first observed failure):\n"
           f"  rank       : {w.rank} (local_rank: {w.local_rank})\n  exitcode   : {code} ({how})\n"
           f"  pid        : {w.proc.pid}\n  {source}\n  error      :\n"
           + ("\n".join("    " + line for line in tail.splitlines()) if tail else "    (no error output)")
           + f"\n{bar}\n")
    sys.stderr.write(msg)
    sys.stderr.flush()


def run(args):
    """Runs the workers described by parsed args; returns the launcher's exit status."""
    nproc = _nproc(args.nproc_per_node)
    nnodes = _nnodes(args.nnodes)
    if not 0 <= args.node_rank < nnodes:
        raise ValueError(f"--node_rank={args.node_rank} must be in [0, {nnodes})")
    master_addr, master_port = args.master_addr, args.master_port
    if args.rdzv_endpoint:
        host, _, port = args.rdzv_endpoint.rpartition(":")
        master_addr, master_port = host or args.rdzv_endpoint, int(port or master_port)
    if args.standalone:
        if nnodes != 1:
            raise ValueError("--standalone runs a single node (--nnodes=1)")
        master_addr, master_port = "127.0.0.1", _free_port()
    world = nnodes * nproc
    cmd = _worker_command(args)
    run_id = args.rdzv_id if args.rdzv_id != "none" else uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="flambeau_run_") as error_dir:
        return _run_loop(args, cmd, nproc, world, master_addr, master_port, run_id, error_dir)


def _run_loop(args, cmd, nproc, world, master_addr, master_port, run_id, error_dir):
    restart = 0
    while True:
        workers = _start(args, cmd, nproc, world, master_addr, master_port, run_id, restart, error_dir)

        def forward(signum, frame):
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signum)
        old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            failed = _watch(workers, args.monitor_interval)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        for w in workers:
            w.pump.join(timeout=5)
        if failed is None:
            return 0
        if restart < args.max_restarts:
            restart += 1
            sys.stderr.write(f"flambeau.distributed.run: rank {failed.rank} failed (exit code "
                             f"{failed.proc.returncode}); restarting the workers ({restart}/{args.max_restarts})\n")
            continue
        _report(failed, args.training_script)
        return 1


def main(args=None):
    parsed = parse_args(args)
    try:
        return run(parsed)
    except ValueError as e:
        sys.stderr.write(f"flambeau.distributed.run: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
