"""Helpers of the flambeau.distributed tests: run a function on N spawned ranks, free ports, scripts."""
import contextlib
import datetime
import os
import socket
import subprocess
import sys

import flambeau
import flambeau.multiprocessing as fmp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The folder holding the flambeau this test session imported: the repository's python/ in a developer tree,
# site-packages where the package is installed (CI), whose python/ then has no compiled module
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(flambeau.__file__)))


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, world_size, init_method, args):
    import flambeau.distributed as dist
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=180))  # generous: a loaded 2-core machine
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_world(fn, world_size, *args, init_method=None):
    """Runs fn(rank, world_size, *args) in world_size spawned processes joined by a process group;
    the first failing rank's exception is raised here (flambeau.multiprocessing.ProcessRaisedException)."""
    if init_method is None:
        init_method = f"tcp://127.0.0.1:{free_port()}"
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # 2-core machine: one thread per rank
    try:
        fmp.spawn(_entry, args=(fn, world_size, init_method, args), nprocs=world_size)
    finally:
        if old is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = old


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = PYTHON_DIR + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["OMP_NUM_THREADS"] = "1"
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run(cmd, timeout=240, **extra_env):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(**extra_env), cwd=ROOT)


def launcher(*args):
    return [sys.executable, "-m", "flambeau.distributed.run", *map(str, args)]


def tensor_equal(a, b):
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and bool(flambeau.equal(a, b))
