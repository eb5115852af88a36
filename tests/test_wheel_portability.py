"""The compiled module loads on any x86-64 Linux with glibc >= 2.17 (the manylinux2014 policy), and what
makes it so does not change results: tools/check_wheel_portability.py on the imported flambeau._C, the
checker itself, the old libm symbol versions the module is pinned to (same values as the new ones on
this glibc), and the module's own OpenMP runtime (csrc/platform/omp_runtime.cpp) against PyTorch and
across fork()."""
import ctypes
import importlib.util
import math
import os
import platform
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import flambeau
from flambeau import _C

ROOT = Path(__file__).resolve().parents[1]
linux_x86_64 = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                                  reason="the manylinux check is for Linux x86-64 builds")


def _checker():
    spec = importlib.util.spec_from_file_location("check_wheel_portability",
                                                  ROOT / "tools" / "check_wheel_portability.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@linux_x86_64
def test_module_meets_manylinux2014():
    check = _checker()
    with open(_C.__file__, "rb") as f:
        problems, highest = check.check_elf(f.read())
    assert problems == [], f"{_C.__file__} is not manylinux2014:\n" + "\n".join(problems)
    assert highest.get("GLIBC", (0,)) <= (2, 17)
    assert check.main([_C.__file__]) == 0


def test_checker_version_limits():
    check = _checker()
    assert not check.version_violation("GLIBC_2.17")
    assert not check.version_violation("GLIBC_2.2.5")
    assert check.version_violation("GLIBC_2.18")
    assert check.version_violation("GLIBC_2.34")
    assert not check.version_violation("GLIBCXX_3.4.19")
    assert check.version_violation("GLIBCXX_3.4.20")
    assert check.version_violation("CXXABI_1.3.8")
    assert not check.version_violation("CXXABI_TM_1")
    assert not check.version_violation("GCC_4.2.0")
    assert check.version_violation("GCC_7.0.0")
    assert check.version_violation("GOMP_4.5")  # libgomp is not a system library under the policy
    assert check.version_violation("OMP_1.0")


@linux_x86_64
def test_checker_reports_a_module_built_for_a_newer_system():
    # This glibc's own libstdc++/libgomp need its newer glibc: the checker must say so (where this
    # machine's glibc is itself 2.17 or older there is nothing newer to find).
    check = _checker()
    glibc = tuple(int(x) for x in platform.libc_ver()[1].split(".")[:2] or (0,))
    if glibc <= (2, 17):
        pytest.skip("this glibc is not newer than the policy's")
    for name in ("libgomp.so.1", "libstdc++.so.6"):
        for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"):
            path = Path(d) / name
            if path.exists():
                problems, highest = check.check_elf(path.read_bytes())
                if highest.get("GLIBC", (0,)) > (2, 17):
                    assert any("above the manylinux2014 limit" in p for p in problems)
                    assert check.main([str(path)]) == 1
                    return
    pytest.skip("no libgomp/libstdc++ of this system needing a glibc above 2.17")


def test_checker_rejects_non_elf(tmp_path):
    check = _checker()
    with pytest.raises(ValueError, match="ELF"):
        check.read_elf(b"not an elf file at all, long enough to read" * 4)


# csrc/platform/glibc_compat.cpp routes these to their GLIBC_2.2.5 versions: on this glibc those must give
# the bits the current default versions give.
_OLD_MATH = [("exp", 1), ("log", 1), ("log2", 1), ("pow", 2), ("hypot", 2),
             ("expf", 1), ("logf", 1), ("log2f", 1), ("powf", 2)]


def _versioned(libm, name, version):
    dlvsym = ctypes.CDLL(None).dlvsym
    dlvsym.restype = ctypes.c_void_p
    dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    return dlvsym(libm._handle, name.encode(), version.encode())


@linux_x86_64
@pytest.mark.parametrize("name,arity", _OLD_MATH)
def test_old_libm_versions_give_the_same_values(name, arity):
    try:
        libm = ctypes.CDLL("libm.so.6")
        ctypes.CDLL(None).dlvsym
    except (OSError, AttributeError):
        pytest.skip("no glibc libm with dlvsym")
    old = _versioned(libm, name, "GLIBC_2.2.5")
    if not old:
        pytest.skip(f"{name}@GLIBC_2.2.5 is not in this libm")
    f32 = name.endswith("f")
    ct = ctypes.c_float if f32 else ctypes.c_double
    proto = ctypes.CFUNCTYPE(ct, *([ct] * arity))
    f_old, f_new = proto(old), getattr(libm, name)
    f_new.restype, f_new.argtypes = ct, [ct] * arity
    dt = np.float32 if f32 else np.float64
    fi = np.finfo(dt)
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 3.0, -3.5, 10.0, 88.7, 89.0, 709.7, 710.0, -745.2,
                        -746.0, 1e-300, float(fi.tiny), float(fi.tiny) / 8, float(fi.max), -float(fi.max),
                        math.inf, -math.inf, math.nan, 1024.0, -1075.0, 0.1, 1e10, -1e10], dtype=np.float64)
    rng = np.random.default_rng(20)
    rand = rng.uniform(-1, 1, 1500) * 10.0 ** rng.uniform(-8, 3, 1500)
    xs = np.concatenate([special, rand]).astype(dt)
    ys = np.concatenate([special[::-1], rng.uniform(-4, 4, 1500)]).astype(dt)
    pack = "f" if f32 else "d"
    for i in range(len(xs)):
        args = (float(xs[i]),) if arity == 1 else (float(xs[i]), float(ys[i]))
        a, b = f_old(*args), f_new(*args)
        if name.startswith("log") and args[0] < 0:
            # The one known difference, which glibc_compat.cpp answers itself: NaN, of another sign.
            assert math.isnan(a) and math.isnan(b), f"{name}{args}: {a!r} / {b!r}"
            continue
        assert struct.pack(pack, a) == struct.pack(pack, b), f"{name}{args}: GLIBC_2.2.5 gives {a!r}, default {b!r}"


# The module's own OpenMP runtime runs where no libgomp.so.1 is loaded (its users' processes); here PyTorch's
# is, and the module forwards to it, so these run in a subprocess: FLAMBEAU_OWN_OPENMP=1 keeps the pool.
_FORK_SCRIPT = r"""
import os, sys
import numpy as np
import flambeau
x = flambeau.arange(1 << 20, dtype=flambeau.float64)
expect = float((x * 2).sum())  # a parallel reduction: the pool's (or libgomp's) threads now exist
pid = os.fork()
if pid == 0:
    y = flambeau.arange(1 << 20, dtype=flambeau.float64)
    os._exit(0 if float((y * 2).sum()) == expect else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

_THREADS_SCRIPT = r"""
import sys
import numpy as np
import torch
import flambeau
threads = int(sys.argv[1])
flambeau.set_num_threads(threads)
assert flambeau.get_num_threads() == threads
rng = np.random.default_rng(threads)
a = rng.standard_normal((301, 257)).astype(np.float32)
b = rng.standard_normal((257, 199)).astype(np.float32)
img = rng.standard_normal((3, 5, 37, 41)).astype(np.float32)
w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
v = rng.standard_normal(1 << 18)
got_mm = (flambeau.tensor(a) @ flambeau.tensor(b)).numpy()
got_conv = flambeau.nn.functional.conv2d(flambeau.tensor(img), flambeau.tensor(w), padding=1).numpy()
got_exp = flambeau.tensor(v).exp().numpy()
got_sum = float(flambeau.tensor(v).sum())
np.testing.assert_allclose(got_mm, (torch.tensor(a) @ torch.tensor(b)).numpy(), rtol=1e-4, atol=1e-4)
np.testing.assert_allclose(got_conv, torch.nn.functional.conv2d(torch.tensor(img), torch.tensor(w), padding=1).numpy(),
                           rtol=1e-4, atol=1e-4)
# (against numpy's exp: in one full-suite run out of several, PyTorch's own float64 exp in this subprocess,
# its libgomp pool running beside ours, came back 3e-9 off in half the elements while ours matched numpy)
np.testing.assert_allclose(got_exp, np.exp(v), rtol=1e-15, atol=0)
np.testing.assert_allclose(got_sum, float(torch.tensor(v).sum()), rtol=1e-12)
# The same bits with one thread: a parallel split may not change what each element computes.
flambeau.set_num_threads(1)
np.testing.assert_array_equal(flambeau.tensor(v).exp().numpy(), got_exp)
np.testing.assert_array_equal((flambeau.tensor(a) @ flambeau.tensor(b)).numpy(), got_mm)
"""


def _run(script, *args, own_openmp=True, timeout=180):
    env = dict(os.environ)
    env.pop("FLAMBEAU_OWN_OPENMP", None)
    if own_openmp:
        env["FLAMBEAU_OWN_OPENMP"] = "1"
    # The same flambeau as this process (the in-tree build or the installed one), and nothing else of this
    # process's sys.path: tests/test_torch_alias.py leaves a `torch` that is flambeau on it.
    env["PYTHONPATH"] = str(Path(flambeau.__file__).parents[1])
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("own_openmp", [True, False], ids=["own_pool", "libgomp_loaded"])
def test_openmp_after_fork(own_openmp):
    # A forked child has none of its parent's threads: its first parallel op must start new ones, not wait
    # for the parent's forever (libgomp's own regions do wait: with PyTorch's libgomp loaded, the module
    # forwards to it in the parent and uses its own pool in the child).
    script = ("import torch\n" if not own_openmp else "") + _FORK_SCRIPT
    try:
        r = _run(script, own_openmp=own_openmp, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a parallel op in a forked child hung")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_openmp_own_pool_thread_counts_match_torch(threads):
    # Thread counts other than the machine's (more threads than cores too): the parallel_for split, the
    # GEMM's dynamic tile loop and barrier, a convolution's dynamic loop and a reduction, against PyTorch.
    r = _run(_THREADS_SCRIPT, str(threads))
    assert r.returncode == 0, r.stdout + r.stderr
