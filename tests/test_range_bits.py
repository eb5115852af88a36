"""arange, linspace and logspace in float32/float64 bit for bit against PyTorch's CPU kernels, over many
random (start, end, steps): linspace's two halves each one multiply-add (fused, as PyTorch's AVX2 and
AVX-512 builds), arange's 32-byte vector blocks restarting at each at::parallel_for chunk (so ranges
over 32768 elements at one and two threads), logspace's glibc pow per element; each CPU capability
against PyTorch forced to the same one (ATEN_CPU_CAPABILITY, in a subprocess): DEFAULT has no FMA.
How the kernels do it: csrc/cpu/simd/range_body.h."""
import random

import numpy as np
import pytest
import torch

import flambeau
from helpers import run_python

DTYPES = ["float32", "float64"]


def _same_bits(a, b):
    a, b = a.numpy(), b.numpy()
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def _cases(seed, count, big=False):
    rng = random.Random(seed)
    for _ in range(count):
        scale = rng.choice([1.0, 1e-3, 1e3, 1e6])
        s, e = rng.uniform(-1, 1) * scale, rng.uniform(-1, 1) * scale
        n = rng.choice([rng.randint(0, 40), rng.randint(2, 500)] + ([rng.randint(32769, 90000)] if big else []))
        yield s, e, n


def _mismatches(seed, count, big):
    bad = []
    for s, e, n in _cases(seed, count, big):
        st = (e - s) / max(n, 1) or 1.0
        for dt in DTYPES:
            pairs = [("linspace", flambeau.linspace(s, e, n, dtype=getattr(flambeau, dt)),
                      torch.linspace(s, e, n, dtype=getattr(torch, dt))),
                     ("arange", flambeau.arange(s, s + st * n, st, dtype=getattr(flambeau, dt)),
                      torch.arange(s, s + st * n, st, dtype=getattr(torch, dt)))]
            if abs(s) < 30 and abs(e) < 30:
                pairs.append(("logspace", flambeau.logspace(s, e, n, 2.5, dtype=getattr(flambeau, dt)),
                              torch.logspace(s, e, n, 2.5, dtype=getattr(torch, dt))))
            bad += [(name, dt, s, e, n) for name, f, t in pairs if not _same_bits(f, t)]
    return bad


def test_random_ranges_bit_exact():
    assert _mismatches(0, 300, big=False) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_long_ranges_at_each_thread_count(threads):
    prev_f, prev_t = flambeau.get_num_threads(), torch.get_num_threads()
    try:
        flambeau.set_num_threads(threads)
        torch.set_num_threads(threads)
        assert _mismatches(threads, 12, big=True) == []
    finally:
        flambeau.set_num_threads(prev_f)
        torch.set_num_threads(prev_t)


def test_known_cases():
    # 1 ulp off before (float32 computed in double, then rounded): PyTorch rounds start, end and step to
    # float32 first and fuses each multiply-add in float32
    for args in [(0.0, 1.0, 7), (-3.3, 17.1, 30), (0.1, 0.7, 101), (255.0, 0.0, 31), (1e-3, 5.0, 1), (2.0, 2.0, 5)]:
        for dt in DTYPES:
            assert _same_bits(flambeau.linspace(*args, dtype=getattr(flambeau, dt)),
                              torch.linspace(*args, dtype=getattr(torch, dt))), (args, dt)
    assert _same_bits(flambeau.logspace(-2, 3, 1), torch.logspace(-2, 3, 1))
    assert _same_bits(flambeau.logspace(0.5, 3, 0, dtype=flambeau.float64), torch.logspace(0.5, 3, 0, dtype=torch.float64))


def test_logspace_one_step_overflow_is_an_error():
    # PyTorch fills one step with base ** start in double and refuses what float32 cannot hold
    with pytest.raises(RuntimeError, match="cannot be converted to type float without overflow"):
        torch.logspace(53.3, 0.0, 1)
    with pytest.raises(RuntimeError, match="cannot be converted to type float without overflow"):
        flambeau.logspace(53.3, 0.0, 1)
    assert _same_bits(flambeau.logspace(53.3, 0.0, 1, dtype=flambeau.float64),
                      torch.logspace(53.3, 0.0, 1, dtype=torch.float64))


_SUB = """
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath({here!r})))
import torch, flambeau
from test_range_bits import _mismatches
assert torch.backends.cpu.get_cpu_capability() == {cap!r}.upper(), torch.backends.cpu.get_cpu_capability()
print("BAD", _mismatches(5, 120, big=True)[:3])
"""


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
def test_each_cpu_capability_against_pytorch_forced_to_it(cap):
    if cap == "avx512" and torch.backends.cpu.get_cpu_capability() != "AVX512":
        pytest.skip("no AVX-512 here")
    if cap == "avx2" and torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("no AVX2 here")
    res = run_python(_SUB.format(here=__file__, cap=cap),
                     env={"FLAMBEAU_CPU_CAPABILITY": cap, "ATEN_CPU_CAPABILITY": cap})
    assert "BAD []" in res.stdout, res.stdout + res.stderr
