"""Host test of the 3-D pooling CUDA kernels' per-element bodies (csrc/cuda/pool3d_index.h): builds
tests/cuda_host/pool3d_test.cpp with the system C++ compiler (no GPU or CUDA toolkit needed) and runs
it: the covering-output ranges of the gather backwards against brute force, and every body (max, avg,
adaptive avg/max forwards, avg and adaptive-avg backwards as gathers, global averaging) bit for bit
against the CPU kernels' loops on random geometries with ties and NaNs."""
from pathlib import Path

from test_conv_cuda_host import _build_and_run

ROOT = Path(__file__).resolve().parents[2]


def test_pool3d_bodies_match_cpu_loops(tmp_path):
    _build_and_run(ROOT / "tests" / "cuda_host" / "pool3d_test.cpp", tmp_path, "300")
