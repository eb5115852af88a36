"""DataLoader worker processes (num_workers > 0), against PyTorch's semantics: batch order, IterableDataset
replication and sharding, per-worker seeds, per-worker dataset copies, errors with the worker's traceback,
timeout, persistent workers, spawn, clean shutdown, dead workers, shared-memory batches.

Workers are forked (Linux's default) except in the tests whose point is spawn (each spawned worker
re-imports flambeau: ~1 s)."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.utils.data

import flambeau
from flambeau.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info



def _values(b):
    """A batch as plain Python values (tensors of either library to lists), for comparisons."""
    if isinstance(b, (flambeau.Tensor, torch.Tensor)):
        return ("tensor", str(b.dtype).split(".")[-1], b.tolist())
    if isinstance(b, dict):
        return {k: _values(v) for k, v in b.items()}
    if isinstance(b, (list, tuple)):
        return [_values(v) for v in b]
    if isinstance(b, np.ndarray):
        return ("ndarray", b.dtype.str, b.tolist())
    return b


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not reaped) is gone too
        return f.read().split(")")[-1].split()[0] != "Z"


def _wait_gone(pids, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


class Pids(Dataset):
    """Each sample: (index, the worker's pid, the worker's id)."""

    def __init__(self, n=8):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        return i, os.getpid(), -1 if info is None else info.id


class Jittery(Dataset):
    """Samples that take different times (so workers finish out of order)."""

    def __len__(self):
        return 24

    def __getitem__(self, i):
        time.sleep(0.002 * ((i * 7) % 5))
        return i


class Stream(IterableDataset):
    """range(n) from every worker unless shard=True (then worker w yields w, w + W, ...)."""

    def __init__(self, n, shard):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if not self.shard or info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def _uneven(info):
    w = 0 if info is None else info.id
    return iter(range(w * 100, w * 100 + 3 * (w + 1)))


class Uneven(IterableDataset):
    """Worker w yields 3 * (w + 1) samples w * 100 + k: workers run dry at different times."""

    def __iter__(self):
        return _uneven(get_worker_info())


class TorchUneven(torch.utils.data.IterableDataset):
    def __iter__(self):
        return _uneven(torch.utils.data.get_worker_info())


class Randoms(Dataset):
    def __init__(self, lib):
        self.lib = lib

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info() if self.lib is flambeau else torch.utils.data.get_worker_info()
        return (info.id, info.seed, float(self.lib.rand(1)), random.random(), float(np.random.rand()))


class Mixed(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": np.full((2, 3), i, np.float32), "t": (i, float(i) / 2, f"s{i}", b"b"),
                "big": np.full((100, 100), i, np.float64), "flag": i % 2 == 0, "u8": np.uint8(i)}


class Log(Dataset):
    """Appends each index it serves to self.log (in whichever process serves it)."""

    def __init__(self):
        self.log = []

    def __len__(self):
        return 6

    def __getitem__(self, i):
        self.log.append(i)
        return i, len(self.log)


class Sleepy(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(1.5 if i >= 1 else 0.0)
        return i


class FailAt(Dataset):
    def __init__(self, exc, at=3):
        self.exc, self.at = exc, at

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == self.at:
            raise self.exc
        return i


class SpawnSquares(Dataset):
    """Module level, so that a spawned worker can unpickle it."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return flambeau.full((2,), float(i * i)), os.getpid()


def _ids(batches):
    return [b[0].tolist() for b in batches]


def test_batches_come_in_sampler_order_and_in_order_false_yields_them_all():
    flambeau.manual_seed(0)
    g = flambeau.Generator().manual_seed(5)
    want = [b.tolist() for b in DataLoader(Jittery(), batch_size=2, shuffle=True, generator=g)]
    g.manual_seed(5)
    got = [b.tolist() for b in DataLoader(Jittery(), batch_size=2, shuffle=True, generator=g, num_workers=3)]
    assert got == want
    g.manual_seed(5)
    loose = [b.tolist() for b in DataLoader(Jittery(), batch_size=2, shuffle=True, generator=g, num_workers=3,
                                            in_order=False)]
    assert sorted(loose) == sorted(want)
    # the samples really were fetched by the workers, dealt in turn
    batches = list(DataLoader(Pids(12), batch_size=2, num_workers=3))
    assert [b[2].tolist() for b in batches] == [[w, w] for w in (0, 1, 2, 0, 1, 2)]
    assert os.getpid() not in {p for b in batches for p in b[1].tolist()}


def test_iterable_dataset_is_replicated_per_worker_unless_it_shards():
    assert sorted(v for b in DataLoader(Stream(5, False), batch_size=2, num_workers=2) for v in b.tolist()) == \
        sorted(list(range(5)) * 2)
    sharded = [b.tolist() for b in DataLoader(Stream(10, True), batch_size=2, num_workers=3)]
    assert sorted(v for b in sharded for v in b) == list(range(10))
    # the same batches in the same order as PyTorch's DataLoader, workers running dry at different times
    for kw in ({"batch_size": 2}, {"batch_size": 2, "drop_last": True}, {"batch_size": None}):
        ours = [_values(b) for b in DataLoader(Uneven(), num_workers=3, **kw)]
        theirs = [_values(b) for b in torch.utils.data.DataLoader(TorchUneven(), num_workers=3, **kw)]
        assert ours == theirs and len(ours) > 3


def test_worker_seeds_differ_per_worker_and_repeat_with_the_generator_seed():
    def run(seed):
        g = flambeau.Generator().manual_seed(seed)
        return [b for b in DataLoader(Randoms(flambeau), batch_size=None, num_workers=2, generator=g)]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    by_worker = {w: [s for s in a if s[0] == w] for w in (0, 1)}
    assert by_worker[0][0][1] + 1 == by_worker[1][0][1]  # seed = base_seed + worker_id
    for k in (2, 3, 4):  # flambeau, random and numpy draws all differ between the workers
        assert by_worker[0][0][k] != by_worker[1][0][k]
    # the base seed is drawn from flambeau's global generator when no generator is given
    flambeau.manual_seed(7)
    d = list(DataLoader(Randoms(flambeau), batch_size=None, num_workers=2))
    flambeau.manual_seed(7)
    assert list(DataLoader(Randoms(flambeau), batch_size=None, num_workers=2)) == d


def test_worker_seeding_is_pytorchs_for_the_same_base_seed():
    from flambeau.utils.data._utils import worker
    from torch.utils.data._utils import worker as tworker
    rng = np.random.default_rng(0)
    for _ in range(20):
        base = int(rng.integers(0, 2 ** 63 - 1))
        wid = int(rng.integers(0, 64))
        assert worker._generate_state(base, wid) == tworker._generate_state(base, wid)
    # Python's random and numpy's global generator in a worker, as PyTorch seeds them
    ours = list(DataLoader(Randoms(flambeau), batch_size=None, num_workers=2))
    seeds = {s[0]: s[1] for s in ours}
    for w, seed in seeds.items():
        random.seed(seed)
        np.random.seed(worker._generate_state(seed - w, w))
        first = next(s for s in ours if s[0] == w)
        assert first[3] == random.random() and first[4] == float(np.random.rand())


def test_each_worker_has_its_own_copy_of_the_dataset():
    ds = Log()
    got = [tuple(b) for b in DataLoader(ds, batch_size=None, num_workers=2)]
    assert ds.log == []  # nothing the workers did reached this process
    assert [i for i, _ in got] == list(range(6))
    assert [n for _, n in got] == [1, 1, 2, 2, 3, 3]  # each worker's copy saw every other index
    for _ in range(2):  # and each epoch starts from fresh copies
        assert [n for _, n in DataLoader(ds, batch_size=None, num_workers=2)] == [1, 1, 2, 2, 3, 3]


def test_worker_errors_are_reraised_with_the_workers_traceback():
    with pytest.raises(ValueError) as e:
        list(DataLoader(FailAt(ValueError("bad sample 3")), batch_size=None, num_workers=2))
    msg = str(e.value)
    assert msg.startswith("Caught ValueError in DataLoader worker process 1.\nOriginal Traceback")
    assert "in __getitem__" in msg and "ValueError: bad sample 3" in msg
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 1"):
        list(DataLoader(FailAt(KeyError("k"), at=2), batch_size=2, num_workers=2))  # batch 1: worker 1

    def bad_init(worker_id):
        raise OSError(f"init of worker {worker_id} failed")

    with pytest.raises(OSError, match="(?s)Caught OSError in DataLoader worker process 0.*init of worker 0"):
        list(DataLoader(Pids(4), batch_size=2, num_workers=2, worker_init_fn=bad_init))

    class LocalError(Exception):  # cannot be pickled: the same message, as a RuntimeError
        pass

    with pytest.raises(RuntimeError, match="(?s)Caught LocalError in DataLoader worker process 1.*oops"):
        list(DataLoader(FailAt(LocalError("oops"), at=1), batch_size=None, num_workers=2))
    with pytest.raises(Exception, match="(?s)in DataLoader worker process 0 \\(sending the batch\\)"):
        list(DataLoader(Pids(2), batch_size=None, num_workers=1, collate_fn=lambda s: (lambda: s)))
    # the loader works again afterwards
    assert [b.tolist() for b in DataLoader(FailAt(ValueError()), batch_size=3, num_workers=2,
                                           sampler=[0, 1, 2])] == [[0, 1, 2]]


def test_timeout():
    t0 = time.monotonic()
    it = iter(DataLoader(Sleepy(), batch_size=None, num_workers=1, timeout=0.5))
    assert next(it) == 0
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds"):
        next(it)
    del it
    assert time.monotonic() - t0 < 10.0
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(Sleepy(), num_workers=1, timeout=-1)


def test_persistent_workers_keep_their_processes_across_epochs():
    ds = Log()
    dl = DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
    pid_dl = DataLoader(Pids(6), batch_size=None, num_workers=2, persistent_workers=True)
    epochs = [[n for _, n in dl] for _ in range(3)]
    assert epochs == [[1, 1, 2, 2, 3, 3], [4, 4, 5, 5, 6, 6], [7, 7, 8, 8, 9, 9]]  # the same copies go on
    pids = [{p for _, p, _ in pid_dl} for _ in range(2)]
    assert pids[0] == pids[1] and len(pids[0]) == 2
    # an epoch left half-way: the next one starts afresh, what was in flight is dropped
    it = iter(pid_dl)
    next(it)
    assert [i for i, _, _ in pid_dl] == list(range(6))
    # without persistent_workers every epoch has new processes
    plain = DataLoader(Pids(4), batch_size=None, num_workers=2)
    assert {p for _, p, _ in plain}.isdisjoint({p for _, p, _ in plain})
    old = pids[0]
    del dl, pid_dl, it
    assert _wait_gone(old)


def test_spawn_with_a_module_level_dataset():
    dl = DataLoader(SpawnSquares(), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    batches = list(dl)
    assert [b[0][:, 0].tolist() for b in batches] == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]]
    assert os.getpid() not in batches[0][1].tolist()

    class Local(Dataset):  # spawn pickles the dataset: a local class cannot be, as in PyTorch
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return i

    with pytest.raises((AttributeError, TypeError, Exception), match="(?i)pickle|local"):
        list(DataLoader(Local(), num_workers=1, multiprocessing_context="spawn"))


def test_multiprocessing_context_argument_matches_pytorch():
    import multiprocessing
    for lib in (flambeau, torch):
        with pytest.raises(ValueError, match="should specify a valid start method"):
            lib.utils.data.DataLoader(Pids(), num_workers=1, multiprocessing_context="nope")
        with pytest.raises(TypeError, match="should be a valid context object"):
            lib.utils.data.DataLoader(Pids(), num_workers=1, multiprocessing_context=3)
        with pytest.raises(ValueError, match="can only be used with multi-process loading"):
            lib.utils.data.DataLoader(Pids(), num_workers=0, multiprocessing_context="fork")
    ctx = multiprocessing.get_context("fork")
    dl = DataLoader(Pids(4), batch_size=4, num_workers=1, multiprocessing_context=ctx)
    assert dl.multiprocessing_context is ctx and list(dl)[0][0].tolist() == [0, 1, 2, 3]
    assert DataLoader(Pids(), num_workers=1, multiprocessing_context="spawn").multiprocessing_context \
        is multiprocessing.get_context("spawn")


def test_empty_drop_last_batch_size_none_and_structures_match_num_workers_0():
    class Empty(Dataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)

    assert list(DataLoader(Empty(), batch_size=4, num_workers=2)) == []
    assert list(DataLoader(Stream(0, True), batch_size=4, num_workers=2)) == []
    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
               {"batch_size": 2, "shuffle": True}):
        flambeau.manual_seed(4)
        want = [_values(b) for b in DataLoader(Mixed(), **kw)]
        flambeau.manual_seed(4)
        got = [_values(b) for b in DataLoader(Mixed(), num_workers=2, **kw)]
        assert got == want
    # and the same values PyTorch's DataLoader gives with workers
    ours = [_values(b) for b in DataLoader(Mixed(), batch_size=3, num_workers=2)]
    theirs = [_values(b) for b in torch.utils.data.DataLoader(Mixed(), batch_size=3, num_workers=2)]
    assert ours == theirs


def test_large_batches_travel_in_shared_memory_with_their_views_dtypes_and_flags():
    from flambeau.utils.data._utils import sharing

    class Big(Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return flambeau.full((3, 32, 32), float(i)), np.full((64, 64), i, np.uint8)

    def collate(samples):  # several tensors on one shared file, views of it, other dtypes
        from flambeau.utils.data import default_collate
        x, m = default_collate(samples)
        assert get_worker_info() is not None
        return x, x[:, 1], x.transpose(0, 3), m, m.to(flambeau.int64), m > 3, x[:2].clone().requires_grad_()

    for kw in ({}, {"collate_fn": collate}):
        kept = list(DataLoader(Big(), batch_size=8, num_workers=2, **kw))
        assert len(kept) == 5
        for k, b in enumerate(kept):
            want = flambeau.arange(8 * k, 8 * k + 8, dtype=flambeau.float32)
            assert flambeau.equal(b[0], want.reshape(8, 1, 1, 1).expand(8, 3, 32, 32))
            assert b[0].is_contiguous() and b[0].dtype == flambeau.float32
            assert flambeau.equal(b[1 if not kw else 3], flambeau.arange(8 * k, 8 * k + 8).to(flambeau.uint8)
                                  .reshape(8, 1, 1).expand(8, 64, 64))
            if kw:
                assert flambeau.equal(b[1], b[0][:, 1]) and flambeau.equal(b[2], b[0].transpose(0, 3))
                assert b[4].dtype == flambeau.int64 and b[5].dtype == flambeau.bool
                assert flambeau.equal(b[4], b[3].to(flambeau.int64)) and flambeau.equal(b[5], b[3] > 3)
                assert b[6].requires_grad and b[6].is_leaf and not b[0].requires_grad
            b[0].add_(1)  # batches are ordinary writable tensors
    # files are reused once the main process drops a batch, never while it holds one
    assert sharing.POOL_SLOTS < 40
    prev = None
    for k, (x, _) in enumerate(DataLoader(Big(), batch_size=1, num_workers=2)):
        assert float(x[0, 0, 0, 0]) == k
        if prev is not None:
            assert float(prev[0, 0, 0, 0]) == k - 1
        prev = x
    assert float(prev[0, 0, 0, 0]) == 39


def test_workers_exit_when_the_iterator_is_deleted():
    it = iter(DataLoader(Pids(40), batch_size=None, num_workers=2))
    pids = {next(it)[1], next(it)[1]}
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    del it
    assert _wait_gone(pids, 5.0)


def test_a_worker_killed_by_a_signal_or_exiting_is_reported():
    class Die(Dataset):
        def __init__(self, how):
            self.how = how

        def __len__(self):
            return 6

        def __getitem__(self, i):
            if i == 3:
                if self.how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                os._exit(3)
            return i

    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) is killed by signal: Killed"):
        list(DataLoader(Die("kill"), batch_size=None, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 3"):
        list(DataLoader(Die("exit"), batch_size=None, num_workers=2))


def _run_script(body, timeout=60):
    # the flambeau this test imported (the source tree's, or the installed one in CI's venv, where the source
    # tree has no compiled module)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(flambeau.__file__))))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_workers_exit_when_the_main_process_dies_and_on_keyboard_interrupt():
    killed = _run_script("""
        import os, signal, time
        from flambeau.utils.data import DataLoader, Dataset
        class D(Dataset):
            def __len__(self): return 100
            def __getitem__(self, i):
                time.sleep(0.05)
                return os.getpid()
        it = iter(DataLoader(D(), batch_size=None, num_workers=2))
        print(next(it), next(it), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    pids = [int(p) for p in killed.stdout.split()]
    assert len(pids) == 2 and _wait_gone(pids, 10.0), killed.stderr
    interrupted = _run_script("""
        import _thread, os, threading, time
        from flambeau.utils.data import DataLoader, Dataset
        class D(Dataset):
            def __len__(self): return 100
            def __getitem__(self, i):
                time.sleep(0.2 if i > 1 else 0)
                return os.getpid()
        it = iter(DataLoader(D(), batch_size=None, num_workers=2))
        pids = [next(it), next(it)]
        threading.Timer(0.1, _thread.interrupt_main).start()
        try:
            list(it)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        del it
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split(")")[-1].split()[0] != "Z"]
        print("alive", alive)
    """)
    assert "interrupted" in interrupted.stdout and "alive []" in interrupted.stdout, interrupted.stderr


def test_workers_do_not_hang_in_openmp_after_fork_with_pytorch_loaded():
    # flambeau forwards its parallel regions to PyTorch's libgomp when PyTorch is loaded; a forked worker
    # must still run multi-threaded-capable ops (a parent pool's threads do not exist in the child).
    out = _run_script("""
        import torch, flambeau
        from flambeau.utils.data import DataLoader, Dataset
        flambeau.set_num_threads(2); torch.set_num_threads(2)
        a = flambeau.randn(512, 512); (a @ a).sum(); float(torch.randn(512, 512).exp().sum())
        class D(Dataset):
            def __len__(self): return 4
            def __getitem__(self, i):
                x = flambeau.randn(256, 256)
                return float((x @ x).exp().sum() * 0) + flambeau.get_num_threads()
        print([float(b) for b in DataLoader(D(), batch_size=None, num_workers=2)])
        print(float((a @ a).sum() * 0))
    """, timeout=120)
    assert out.returncode == 0 and out.stdout.split("\n")[0] == "[1.0, 1.0, 1.0, 1.0]", out.stderr


def test_prefetch_factor_bounds_the_tasks_in_flight():
    import multiprocessing
    fetched = multiprocessing.get_context("fork").Value("i", 0)

    class Count(Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            with fetched.get_lock():
                fetched.value += 1
            return i

    it = iter(DataLoader(Count(), batch_size=None, num_workers=2, prefetch_factor=3))
    next(it)
    time.sleep(0.5)
    assert fetched.value <= 2 * 3 + 1  # prefetch_factor per worker, plus the one sent for the batch taken
    assert list(it) == list(range(1, 40))
