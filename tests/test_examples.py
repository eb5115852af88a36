"""Smoke tests of examples/: a few scripts run end to end in a subprocess on a few hundred images
(--limit) for one epoch, and must exit 0 and print an accuracy. Not a measure of how well they
learn (that is in examples/README.md); they catch an example broken by an API change."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(script, *args, tmp_path, timeout=120):
    env = dict(os.environ)
    # The subprocess imports the same flambeau as this test session (in-tree build or installed wheel).
    import flambeau
    pkg_root = str(Path(flambeau.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args, "--out", str(tmp_path)],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def accuracy_in(text, label):
    m = re.search(label + r"\D*([01]\.\d+)", text)
    assert m, f"no '{label}' in the output:\n{text}"
    return float(m.group(1))


def test_main_job_runs(tmp_path):
    out = run_example("train_fashion_mnist.py", "--epochs", "1", "--limit", "256",
                      "--batch-size", "64", tmp_path=tmp_path)
    acc = accuracy_in(out, "final test accuracy")
    assert 0.0 <= acc <= 1.0
    assert (tmp_path / "fashion_cnn.flb").is_file()


def test_activations_mlp_runs(tmp_path):
    out = run_example("activations_mlp.py", "--epochs", "1", "--limit", "512", "--only", "ReLU",
                      tmp_path=tmp_path)
    # one epoch on 512 images: well above chance (0.1)
    assert accuracy_in(out, r"ReLU\s+train acc [\d.]+ test acc") > 0.3


def test_xor_is_solved(tmp_path):
    out = run_example("xor.py", "--steps", "300", tmp_path=tmp_path)
    assert "XOR solved" in out
    assert accuracy_in(out, "accuracy") == 1.0
