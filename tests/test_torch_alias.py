"""`python -m flambeau.run script.py` and flambeau.install_torch_alias(): a PyTorch script's own `import torch`,
`import torch.nn as nn`, `from torch.utils.data import DataLoader` lines get flambeau's modules (the same
objects under both names), so the script runs unchanged. Each case runs in a fresh interpreter (this one has
PyTorch imported, which the alias refuses to shadow: tested last)."""
import textwrap

import pytest

import flambeau
from helpers import run_python

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch import optim
    from torch.utils.data import DataLoader, TensorDataset
    from torch.optim.lr_scheduler import StepLR

    torch.manual_seed(0)
    X = torch.randn(256, 8)
    y = (X[:, 0] + X[:, 1] > 0).long()
    dl = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, 2, 0.5)
    first = None
    for epoch in range(4):
        for xb, yb in dl:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
            first = first if first is not None else loss.item()
        sched.step()
    print(torch.__name__, nn.__name__, __name__, sys.argv[1:], first > 2 * loss.item())
""")


def test_run_executes_an_unchanged_pytorch_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    r = run_python(f"import sys, runpy; sys.argv = ['flambeau.run', {str(script)!r}, 'a', 'b']; "
                   "runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["flambeau", "flambeau.nn", "__main__", "['a',", "'b']", "True"], r.stdout


def test_run_module_form_and_help(tmp_path):
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "pkgx" / "job.py").write_text("import torch.linalg, sys\nprint(torch.linalg.__name__, sys.argv[1:])\n")
    r = run_python(f"import sys, runpy; sys.path.insert(0, {str(tmp_path)!r}); "
                   "sys.argv = ['flambeau.run', '-m', 'pkgx.job', '--x']; "
                   "runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "flambeau.linalg ['--x']"
    r = run_python("import sys, runpy; sys.argv = ['flambeau.run']; runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 2 and "python -m flambeau.run" in r.stdout


def test_alias_gives_the_same_module_objects_and_clear_errors():
    r = run_python(textwrap.dedent("""
        import flambeau
        flambeau.install_torch_alias()
        import torch, torch.nn, torch.utils.data, torch.nn.functional as F
        from torch.optim import Adam
        assert torch is flambeau and torch.nn is flambeau.nn and F is flambeau.nn.functional
        assert torch.utils.data is flambeau.utils.data and Adam is flambeau.optim.Adam
        try:
            import torch.no_such_module
        except ModuleNotFoundError as e:
            print("missing:", e.name, "|", e)
        flambeau.uninstall_torch_alias()
        import sys
        print("torch" in sys.modules)
    """))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("missing: torch.no_such_module |") and "flambeau.no_such_module" in lines[0]
    assert lines[1] == "False"


def test_alias_refuses_when_pytorch_is_imported():
    import torch  # noqa: F401  (this test process has the real PyTorch)
    with pytest.raises(RuntimeError, match="PyTorch is already imported"):
        flambeau.install_torch_alias()
