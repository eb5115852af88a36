"""Host test of the CUDA convolution's index arithmetic (csrc/cuda/conv_igemm.h): builds
tests/cuda_host/conv_igemm_test.cpp with the system C++ compiler (no GPU or CUDA toolkit needed)
and runs it. The program drives conv.cu's launch plans, tile loaders, micro-tile update and stores
with one loop standing in for a block's threads, for every tile configuration, with image chunking
and split-K forced on small shapes, plus the direct (depthwise) bodies, and requires bit-exact
agreement with a naive convolution (integer-valued doubles) for random strides, paddings,
dilations, groups and odd sizes. FLAMBEAU_CONV_HOST_CASES / _SEED override the case count / seed."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "tests" / "cuda_host" / "conv_igemm_test.cpp"


def _compiler():
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _build_and_run(src, tmp_path, default_cases):
    """Compiles tests/cuda_host/<src> with the system C++ compiler (warnings are errors), runs it
    with FLAMBEAU_CONV_HOST_CASES (default `default_cases`) random cases and
    FLAMBEAU_CONV_HOST_SEED, and requires its last line to be "OK: ..."."""
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler on PATH")
    exe = tmp_path / src.stem
    build = subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'csrc'}",
                            "-o", str(exe), str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"compiling {src.name} failed:\n{build.stderr}"
    cases = os.environ.get("FLAMBEAU_CONV_HOST_CASES", default_cases)
    seed = os.environ.get("FLAMBEAU_CONV_HOST_SEED", "12345")
    run = subprocess.run([str(exe), cases, seed], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1].startswith("OK:"), run.stdout[-2000:]


def test_conv_igemm_indices_match_naive_conv(tmp_path):
    _build_and_run(SRC, tmp_path, "36")


def test_conv_special_small_cg_dgrad_matches_naive(tmp_path):
    """csrc/cuda/conv_special.h: tap_run against brute force, and the small-Cg input-gradient body
    (polyphase pixel slots, global and staged shared-memory weights) bit-exact against a naive input
    gradient for random geometries (tests/cuda_host/conv_special_test.cpp)."""
    _build_and_run(ROOT / "tests" / "cuda_host" / "conv_special_test.cpp", tmp_path, "200")
