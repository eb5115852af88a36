"""Shared pytest setup.

- Puts the in-tree python/ first on sys.path when it holds a developer build of _C (unless
  FLAMBEAU_TEST_INSTALLED=1), so `python -m pytest tests` tests the tree it sits in; otherwise
  the installed package is tested.
- Any test taking a `device` argument runs once per device: 'cpu', plus 'cuda' when
  flambeau.cuda.is_available(). The oracle (PyTorch) always runs on CPU.
- numpy's global generator (which tests/helpers.py draws from) and torch's are seeded per test from
  the test id: fresh inputs for every test, the same inputs on every run.
"""
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The in-tree package is only importable once a developer build (tools/build_dev.sh) has put _C
# beside it; a fresh checkout (CI) tests the installed wheel instead.
if os.environ.get("FLAMBEAU_TEST_INSTALLED") != "1" and any((ROOT / "python" / "flambeau").glob("_C*.so")):
    sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402


def _cuda_available():
    try:
        import flambeau
        return bool(flambeau.cuda.is_available())
    except Exception:
        return False


DEVICES = ["cpu"] + (["cuda"] if _cuda_available() else [])


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", DEVICES)


@pytest.fixture
def devices():
    return list(DEVICES)


@pytest.fixture(autouse=True)
def _seed_per_test(request):
    seed = zlib.crc32(request.node.nodeid.encode())
    np.random.seed(seed)
    torch.manual_seed(seed)
    yield


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()) + 1)
