"""The CPU caching allocator (csrc/core/cpu_allocator.cpp): freed blocks are reused, the cache stays
under its bound, it is safe under threads and across fork, and it can be turned off."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import flambeau
from flambeau import _C
from flambeau.backends import cpu as fcpu


@pytest.fixture
def cache():
    """A known state: default-sized bound, empty cache, zeroed counters; restored afterwards."""
    old = fcpu.memory_stats()["limit_bytes"]
    fcpu.set_cache_limit(256 << 20)
    fcpu.empty_cache()
    fcpu.reset_memory_stats()
    yield
    fcpu.set_cache_limit(old)


def _ptr(t):
    return t._impl.data_ptr


def test_freed_block_is_reused(cache):
    a = flambeau.empty(1000)
    p = _ptr(a)
    assert p % 64 == 0
    del a
    s = fcpu.memory_stats()
    assert s["cached_blocks"] >= 1 and s["cached_bytes"] >= 4000
    b = flambeau.empty(1000)
    assert _ptr(b) == p
    assert fcpu.memory_stats()["hits"] >= 1


def test_size_classes_reuse_close_sizes_and_results_are_right(cache):
    # 1000 and 1010 float32 (4000 and 4040 bytes) share a size class; the reused block must be
    # big enough and the op results exact.
    x = flambeau.from_numpy(np.arange(1010, dtype=np.float32) - 500)
    a = flambeau.empty(1000)
    p = _ptr(a)
    del a
    y = x.relu()
    assert _ptr(y) == p
    np.testing.assert_array_equal(y.numpy(), np.maximum(np.arange(1010, dtype=np.float32) - 500, 0))


def test_every_size_is_aligned_and_writable(cache):
    for n in [0, 1, 3, 15, 16, 17, 63, 64, 65, 255, 257, 1000, 4097, 65537, 1 << 20, (1 << 20) + 3]:
        t = flambeau.full((n,), 3.0)
        assert _ptr(t) % 64 == 0
        np.testing.assert_array_equal(t.numpy(), np.full(n, 3.0, np.float32))


def test_bound_and_eviction(cache):
    fcpu.set_cache_limit(1 << 20)
    ts = [flambeau.empty(50_000) for _ in range(12)]  # 200 KB each: 2.4 MB in all
    del ts
    s = fcpu.memory_stats()
    assert s["limit_bytes"] == 1 << 20
    assert 0 < s["cached_bytes"] <= 1 << 20
    assert s["evictions"] > 0
    # A block bigger than a quarter of the bound is never cached.
    before = fcpu.memory_stats()["cached_bytes"]
    big = flambeau.empty(100_000)  # 400 KB > 256 KB
    del big
    assert fcpu.memory_stats()["cached_bytes"] == before
    fcpu.empty_cache()
    s = fcpu.memory_stats()
    assert s["cached_bytes"] == 0 and s["cached_blocks"] == 0


def test_limit_zero_turns_cache_off(cache):
    fcpu.set_cache_limit(0)
    a = flambeau.empty(1000)
    del a
    s = fcpu.memory_stats()
    assert s["cached_bytes"] == 0 and s["cached_blocks"] == 0
    b = flambeau.ones(1000)
    assert float(b.sum()) == 1000.0
    with pytest.raises(ValueError, match="cpu_set_cache_limit"):
        _C.cpu_set_cache_limit(-1)


def test_threads_allocate_and_compute_concurrently(cache):
    # Big ops release the GIL, so the allocator and kernels really run on several threads at once.
    fcpu.set_cache_limit(8 << 20)  # small enough that eviction happens under contention too
    errors = []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for i in range(60):
                n = int(rng.integers(1, 70_000))
                a = rng.standard_normal(n).astype(np.float32)
                b = rng.standard_normal(n).astype(np.float32)
                fa, fb = flambeau.from_numpy(a), flambeau.from_numpy(b)
                r = (fa + fb).relu()
                s = flambeau.nn.functional.silu(fa)
                np.testing.assert_array_equal(r.numpy(), np.maximum(a + b, 0))
                assert s.shape == (n,)
                keep = flambeau.full((int(rng.integers(1, 5000)),), float(i))
                assert float(keep.numpy()[-1]) == float(i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    s = fcpu.memory_stats()
    assert s["cached_bytes"] <= 8 << 20
    assert s["hits"] > 0


def _run(code, **env):
    e = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(flambeau.__file__)))
    e["PYTHONPATH"] = root + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=120)


def test_env_var_turns_cache_off():
    code = ("import flambeau; from flambeau.backends import cpu\n"
            "a = flambeau.empty(1000); del a; b = flambeau.empty(1000)\n"
            "s = cpu.memory_stats(); assert s['limit_bytes'] == 0 and s['hits'] == 0 and s['cached_bytes'] == 0, s\n"
            "print('ok')")
    r = _run(code, FLAMBEAU_CPU_CACHE_MB="0")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
    r = _run("import flambeau; from flambeau.backends import cpu; "
             "assert cpu.memory_stats()['limit_bytes'] == 3 << 20; print('ok')", FLAMBEAU_CPU_CACHE_MB="3")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_other_threads_allocate():
    # The allocator's lock is held across fork(), so a child never inherits it locked.
    code = """
import os, threading, flambeau
stop = False
def churn():
    while not stop:
        flambeau.empty(50_000).relu()
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for _ in range(20):
    pid = os.fork()
    if pid == 0:
        x = flambeau.ones(100_000) + flambeau.ones(100_000)
        os._exit(0 if float(x.sum()) == 200_000.0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
stop = True
for t in ts: t.join()
print('ok')
"""
    r = _run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_blocks_outlive_interpreter_teardown():
    # Tensors still alive at exit are freed after (or while) the cache is torn down: no crash.
    code = ("import flambeau\nkeep = [flambeau.ones(n) for n in (10, 1000, 100_000, 3_000_000)]\n"
            "import atexit; atexit.register(lambda: keep.clear())\nprint('ok')")
    r = _run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.parametrize("limit", [256 << 20, 0])
def test_allocated_bytes_follow_live_tensors(limit):
    """allocated_bytes (what profile_memory reports) counts blocks handed out and not released, cached
    or not: up by at least the tensor's size while it lives, back to where it was after."""
    old = fcpu.memory_stats()["limit_bytes"]
    fcpu.set_cache_limit(limit)
    try:
        before = fcpu.memory_stats()["allocated_bytes"]
        a = flambeau.empty(250_000)
        during = fcpu.memory_stats()["allocated_bytes"]
        assert during - before >= 1_000_000
        del a
        assert fcpu.memory_stats()["allocated_bytes"] == before
    finally:
        fcpu.set_cache_limit(old)
