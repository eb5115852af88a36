"""flambeau.backends.cpu.capability(), and every CPU capability forced in turn (FLAMBEAU_CPU_CAPABILITY,
read at import, so each run is a subprocess) gives the same results, and the same as PyTorch.

The rest of the suite runs with the best capability of this machine; this file is what exercises the
others."""
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import flambeau
from _capability_battery import battery
from helpers import run_python

ORDER = ["default", "avx2", "avx512"]


def machine_best():
    """The best capability this CPU supports (None if it can't be told, e.g. not Linux/x86)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(r"^flags\s*:(.*)$", text, re.M)
    if not m:
        return None
    flags = set(m.group(1).split())
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "default"


def test_capability_reports_a_known_value():
    cap = flambeau.backends.cpu.capability()
    assert cap in ORDER
    best = machine_best()
    if best is not None and "FLAMBEAU_CPU_CAPABILITY" not in os.environ:
        assert cap == best


@pytest.fixture(scope="module")
def forced_runs(tmp_path_factory):
    """{forced capability: (reported capability, results dict)}, one subprocess each."""
    runs = {}
    script = Path(__file__).with_name("_capability_battery.py")
    for cap in ORDER:
        out = tmp_path_factory.mktemp("cap") / f"{cap}.npz"
        code = f"import runpy, sys; sys.argv = ['x', {str(out)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')"
        proc = run_python(code, env={"FLAMBEAU_CPU_CAPABILITY": cap})
        if proc.returncode != 0:
            runs[cap] = (None, proc.stderr[-3000:])
            continue
        reported = re.search(r"CAPABILITY=(\w+)", proc.stdout).group(1)
        with np.load(out) as z:
            runs[cap] = (reported, {k.replace("|", "/"): z[k] for k in z.files})
    return runs


@pytest.fixture(scope="module")
def reference():
    return battery(torch)


@pytest.mark.parametrize("cap", ORDER)
def test_forced_capability_is_reported(cap, forced_runs):
    reported, res = forced_runs[cap]
    assert reported is not None, f"subprocess with FLAMBEAU_CPU_CAPABILITY={cap} failed:\n{res}"
    best = machine_best()
    if best is None:
        assert ORDER.index(reported) <= ORDER.index(cap)
    else:
        # Forcing picks that capability, capped at what the CPU has.
        assert reported == ORDER[min(ORDER.index(cap), ORDER.index(best))]


def _tol(key):
    return (2e-5, 2e-5) if key.startswith("float32") else (1e-11, 1e-11)


@pytest.mark.parametrize("cap", ORDER)
def test_forced_capability_matches_torch(cap, forced_runs, reference):
    reported, res = forced_runs[cap]
    assert reported is not None, f"subprocess with FLAMBEAU_CPU_CAPABILITY={cap} failed:\n{res}"
    assert set(res) == set(reference)
    bad = []
    for key, ref in reference.items():
        got = res[key]
        atol, rtol = _tol(key)
        if "mm" in key or "dot" in key:
            atol, rtol = atol * 10, rtol * 10
        if got.shape != ref.shape or got.dtype != ref.dtype:
            bad.append(f"{key}: {got.shape}/{got.dtype} vs torch {ref.shape}/{ref.dtype}")
        elif not np.allclose(got, ref, atol=atol, rtol=rtol, equal_nan=True):
            err = np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))
            bad.append(f"{key}: max abs err {err:.3g}")
    assert not bad, f"capability {cap} (running as {reported}) differs from torch:\n" + "\n".join(bad)


@pytest.mark.parametrize("cap", ["avx2", "avx512"])
def test_capabilities_agree_with_each_other(cap, forced_runs):
    base, base_res = forced_runs["default"]
    reported, res = forced_runs[cap]
    assert base is not None and reported is not None, "a forced-capability subprocess failed"
    bad = []
    for key, ref in base_res.items():
        atol, rtol = _tol(key)
        if not np.allclose(res[key], ref, atol=atol, rtol=rtol, equal_nan=True):
            bad.append(key)
        if ref.dtype.kind in "biu":  # integer/bool results (argmax, comparisons) must be identical
            if not np.array_equal(res[key], ref):
                bad.append(key + " (exact)")
    assert not bad, f"{cap} vs default differ: {bad}"


def test_invalid_capability_value_is_reported():
    proc = run_python("import flambeau; x = flambeau.ones(1000); print(((x.exp() + x) @ x).item())",
                      env={"FLAMBEAU_CPU_CAPABILITY": "sse9"})
    # Either refuse loudly at import or ignore with a warning; never silently run as something unknown.
    assert "sse9" in proc.stderr, (
        f"an invalid FLAMBEAU_CPU_CAPABILITY was silently accepted (rc={proc.returncode}): {proc.stderr[-2000:]}")
