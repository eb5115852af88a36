"""flambeau/_omp_env.py: libgomp gets a short spin count when flambeau loads it, unless the user chose a
wait policy; the process environment is left as it was. Checked through libgomp's own report of its
settings (OMP_DISPLAY_ENV), in fresh processes (libgomp reads its variables once, when loaded)."""
import os
import subprocess
import sys

import pytest

import flambeau
from flambeau import _omp_env

pytestmark = pytest.mark.skipif(not flambeau._C.has_openmp, reason="built without OpenMP")
# the flambeau this test imported (the source tree in development, the installed wheel in CI)
PYPATH = os.path.dirname(os.path.dirname(os.path.abspath(flambeau.__file__)))


def _load(extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(extra, OMP_DISPLAY_ENV="verbose", PYTHONPATH=PYPATH)
    code = "import os, flambeau; print('left:', os.environ.get('GOMP_SPINCOUNT'))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = r.stdout + r.stderr
    spin = [ln.split("=", 1)[1].strip().strip("'") for ln in report.splitlines() if "GOMP_SPINCOUNT =" in ln]
    if not spin:
        pytest.skip("libgomp did not report its settings (another OpenMP runtime?)")
    return spin[0], report


def test_short_spin_by_default_and_environment_untouched():
    spin, report = _load({})
    assert spin == _omp_env.SPIN_COUNT
    assert "left: None" in report


@pytest.mark.parametrize("extra, expected", [({"GOMP_SPINCOUNT": "7"}, "7"),
                                             ({"OMP_WAIT_POLICY": "active"}, None)])
def test_user_choice_wins(extra, expected):
    spin, report = _load(extra)
    if expected is not None:
        assert spin == expected
    else:
        assert spin != _omp_env.SPIN_COUNT
    assert f"left: {extra.get('GOMP_SPINCOUNT')}" in report
