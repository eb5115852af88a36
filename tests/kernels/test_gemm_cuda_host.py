"""Host test of the tuned CUDA GEMM's index math (csrc/cuda/gemm_tile.cuh): builds
tools/check_gemm_tiling.cu with nvcc as plain host code (no GPU needed) and runs it. The program
walks every block's per-thread load/store/compute/epilogue steps for each tile configuration and
operand layout (TF32 mma emulated from the PTX fragment tables) and compares with a naive product:
loader coverage, output ownership, odd sizes, K = 0, bias, batch. Skipped where nvcc is absent."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "tools" / "check_gemm_tiling.cu"


def _nvcc():
    for cand in (os.environ.get("NVCC"), "nvcc", "/usr/local/cuda/bin/nvcc"):
        if cand and shutil.which(cand):
            return cand
    return None


def test_gemm_tiling_matches_naive_product(tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found: the host check of the CUDA GEMM tiling needs it to compile")
    exe = tmp_path / "check_gemm_tiling"
    build = subprocess.run([nvcc, "-std=c++17", "-O1", f"-I{ROOT / 'csrc'}", "-o", str(exe), str(SRC)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"compiling {SRC.name} failed:\n{build.stderr[-4000:]}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "all passed" in run.stdout.strip().splitlines()[-1], run.stdout[-2000:]
