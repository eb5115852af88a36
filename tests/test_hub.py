"""flambeau.hub (torch.hub's weight download and cache) with file:// URLs: download into the cache,
reuse of the cached file, hash-prefix checks, safetensors files, PyTorch pickles refused with
flambeau.load's message, get_dir / set_dir / FLAMBEAU_HOME; utils.model_zoo.load_url; hub.load / list / help
of local directories (hubconf.py), GitHub sources refused."""
import hashlib
import os

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from flambeau.utils import model_zoo


def _saved(tmp_path, name):
    model = nn.Linear(3, 2)
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    path = src / name
    flambeau.save(model.state_dict(), str(path))
    return model, path


def test_load_state_dict_from_url_downloads_once(tmp_path, capsys):
    model, path = _saved(tmp_path, "linear.pth")
    cache = tmp_path / "cache"
    sd = flambeau.hub.load_state_dict_from_url(path.as_uri(), model_dir=str(cache))
    assert "Downloading" in capsys.readouterr().out
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(sd)
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), model.weight.detach().numpy())
    assert (cache / "linear.pth").is_file()
    os.remove(path)  # the cached copy is used from now on
    sd2 = flambeau.hub.load_state_dict_from_url(path.as_uri(), model_dir=str(cache))
    assert "Downloading" not in capsys.readouterr().out
    np.testing.assert_array_equal(sd2["bias"].numpy(), model.bias.detach().numpy())
    assert not [p for p in os.listdir(cache) if p.endswith(".partial")]


def test_hash_prefix_checks(tmp_path):
    _, path = _saved(tmp_path, "tmp.pth")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    good = path.with_name(f"linear-{digest[:8]}.pth")
    path.rename(good)
    sd = model_zoo.load_url(good.as_uri(), model_dir=str(tmp_path / "c1"), check_hash=True)
    assert set(sd) == {"weight", "bias"}
    bad = good.with_name("linear-00000000.pth")
    good.rename(bad)
    with pytest.raises(RuntimeError, match="invalid hash value"):
        flambeau.hub.load_state_dict_from_url(bad.as_uri(), model_dir=str(tmp_path / "c2"), check_hash=True)
    assert not os.path.exists(tmp_path / "c2" / bad.name)


def test_safetensors_and_pytorch_pickles(tmp_path):
    w = np.random.rand(2, 3).astype(np.float32)
    st = tmp_path / "w.safetensors"
    flambeau.save_safetensors({"weight": flambeau.from_numpy(w)}, str(st))
    sd = flambeau.hub.load_state_dict_from_url(st.as_uri(), model_dir=str(tmp_path / "c"))
    np.testing.assert_array_equal(sd["weight"].numpy(), w)
    pt = tmp_path / "torch.pth"
    linear = torch.nn.Linear(3, 2)
    torch.save(linear.state_dict(), str(pt))
    # a PyTorch checkpoint loads through flambeau.load's restricted unpickler
    sd = flambeau.hub.load_state_dict_from_url(pt.as_uri(), model_dir=str(tmp_path / "c"))
    for k, v in linear.state_dict().items():
        np.testing.assert_array_equal(sd[k].numpy(), v.numpy())


def test_get_dir_set_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(flambeau.hub, "_hub_dir", None)
    monkeypatch.setenv("FLAMBEAU_HOME", str(tmp_path / "home"))
    assert flambeau.hub.get_dir() == str(tmp_path / "home" / "hub")
    monkeypatch.delenv("FLAMBEAU_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert flambeau.hub.get_dir() == str(tmp_path / "xdg" / "flambeau" / "hub")
    flambeau.hub.set_dir(str(tmp_path / "mine"))
    assert flambeau.hub.get_dir() == str(tmp_path / "mine")
    _, path = _saved(tmp_path, "m.pth")
    flambeau.hub.load_state_dict_from_url(path.as_uri())
    assert (tmp_path / "mine" / "checkpoints" / "m.pth").is_file()


# ---------------------------------------------------------------- hub.load / list / help of local dirs
_HUBCONF = '''
import flambeau
dependencies = {deps}


def linear(in_features=3, out_features=2, *, zero=False):
    """A Linear layer (optionally zeroed)."""
    m = flambeau.nn.Linear(in_features, out_features)
    if zero:
        with flambeau.no_grad():
            m.weight.zero_()
    return m


def helper_value():
    from helper_module import VALUE  # the repository's own modules are importable
    return VALUE


def _private():
    pass


NOT_CALLABLE = 3
'''


def _repo(tmp_path, deps='["numpy"]'):
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    (repo / "hubconf.py").write_text(_HUBCONF.format(deps=deps))
    (repo / "helper_module.py").write_text("VALUE = 42\n")
    return str(repo)


def test_hub_load_local_calls_the_entry_point(tmp_path):
    repo = _repo(tmp_path)
    m = flambeau.hub.load(repo, "linear", 4, source="local", out_features=5, zero=True)
    assert isinstance(m, nn.Linear) and tuple(m.weight.shape) == (5, 4) and float(m.weight.abs().sum()) == 0.0
    assert flambeau.hub.load(repo, "helper_value", source="local") == 42
    import sys
    assert repo not in sys.path  # the repository leaves sys.path afterwards, as in PyTorch


def test_hub_list_and_help_of_a_local_dir(tmp_path):
    repo = _repo(tmp_path)
    assert flambeau.hub.list(repo) == ["helper_value", "linear"]
    assert flambeau.hub.help(repo, "linear") == "A Linear layer (optionally zeroed)."


def test_hub_errors_match_pytorch(tmp_path):
    repo = _repo(tmp_path, deps='["numpy", "no_such_package_xyz"]')
    for lib in (torch, flambeau):
        with pytest.raises(RuntimeError, match="Missing dependencies: no_such_package_xyz"):
            lib.hub.load(repo, "linear", source="local")
    repo = _repo(tmp_path)
    for lib in (torch, flambeau):
        with pytest.raises(RuntimeError, match="Cannot find callable NOT_CALLABLE in hubconf"):
            lib.hub.load(repo, "NOT_CALLABLE", source="local")
        with pytest.raises(ValueError, match="Unknown source"):
            lib.hub.load(repo, "linear", source="ftp")
        with pytest.raises(ValueError, match="model should be a string"):
            lib.hub.load(repo, 3, source="local")


def test_hub_github_sources_are_refused_clearly():
    with pytest.raises(RuntimeError, match="source='local'"):
        flambeau.hub.load("pytorch/vision", "resnet18")
    with pytest.raises(RuntimeError, match="not a local directory"):
        flambeau.hub.list("pytorch/vision:main")
