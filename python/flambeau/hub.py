"""flambeau.hub: torch.hub's weight download and cache (load_state_dict_from_url,
download_url_to_file, get_dir / set_dir), which model definitions copied from torchvision import at
their top.

Files are cached under $FLAMBEAU_HOME/hub/checkpoints ($FLAMBEAU_HOME defaults to
$XDG_CACHE_HOME/flambeau, i.e. ~/.cache/flambeau). A downloaded file is read with flambeau.load, or
with load_safetensors when its name ends in .safetensors; flambeau.load reads PyTorch .pth
checkpoints with its restricted unpickler, which never runs code from the file.

hub.load(dir, model, source='local') runs the hubconf.py of a local directory (code the caller chose to
run), checks its `dependencies` and calls the entry point, as PyTorch does; hub.list / hub.help accept a
local directory too. Sources on GitHub ('owner/repo[:ref]') would have to be downloaded and their code
run: they raise a RuntimeError saying so (use a local clone with source='local').
"""
import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from urllib.parse import urlparse

import flambeau

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url", "set_dir"]

# a hash prefix in a file name: resnet18-5c106cde.pth
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_hub_dir = None


def _get_flambeau_home():
    return os.path.expanduser(os.getenv("FLAMBEAU_HOME", os.path.join(
        os.getenv("XDG_CACHE_HOME", "~/.cache"), "flambeau")))


def get_dir():
    """The hub cache directory: set_dir's, else $FLAMBEAU_HOME/hub."""
    if _hub_dir is not None:
        return _hub_dir
    return os.path.join(_get_flambeau_home(), "hub")


def set_dir(d):
    global _hub_dir
    _hub_dir = os.path.expanduser(d)


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Download url to the file dst (written to a temporary file in dst's folder, then moved), checking
    that its SHA-256 starts with hash_prefix when one is given."""
    dst = os.path.expanduser(dst)
    dst_dir = os.path.dirname(os.path.abspath(dst))
    f = tempfile.NamedTemporaryFile(delete=False, dir=dst_dir, prefix=os.path.basename(dst) + ".",
                                    suffix=".partial")
    try:
        sha256 = hashlib.sha256() if hash_prefix is not None else None
        req = urllib.request.Request(url, headers={"User-Agent": "flambeau.hub"})
        with urllib.request.urlopen(req) as u:
            while True:
                buffer = u.read(1 << 16)
                if not buffer:
                    break
                f.write(buffer)
                if sha256 is not None:
                    sha256.update(buffer)
        f.close()
        if sha256 is not None:
            digest = sha256.hexdigest()
            if digest[:len(hash_prefix)] != hash_prefix:
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}")')
        shutil.move(f.name, dst)
    finally:
        f.close()
        if os.path.exists(f.name):
            os.remove(f.name)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=False):
    """The object saved at url (downloaded once into model_dir, default get_dir()/checkpoints)."""
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    cached_file = os.path.join(model_dir, filename)
    if not os.path.exists(cached_file):
        sys.stdout.write(f'Downloading: "{url}" to {cached_file}\n')
        hash_prefix = None
        if check_hash:
            r = HASH_REGEX.search(filename)
            hash_prefix = r.group(1) if r else None
        download_url_to_file(url, cached_file, hash_prefix, progress=progress)
    if cached_file.endswith(".safetensors"):
        device = map_location if isinstance(map_location, str) else "cpu"
        return flambeau.load_safetensors(cached_file, device=device)
    return flambeau.load(cached_file, map_location=map_location, weights_only=weights_only)


# ------------------------------------------------------------------------------- hubconf entry points
MODULE_HUBCONF = "hubconf.py"
VAR_DEPENDENCY = "dependencies"


def _repo_dir(repo_or_dir, what):
    """A local directory holding hubconf.py; GitHub repositories are refused (no download, no remote code)."""
    if os.path.isdir(repo_or_dir):
        if not os.path.isfile(os.path.join(repo_or_dir, MODULE_HUBCONF)):
            raise FileNotFoundError(f"{what}: no {MODULE_HUBCONF} in {repo_or_dir}")
        return repo_or_dir
    raise RuntimeError(f"{what}: {repo_or_dir!r} is not a local directory. flambeau.hub does not download GitHub "
                       "repositories nor run their code; clone the repository and pass its directory with "
                       "source='local'.")


@contextlib.contextmanager
def _add_to_sys_path(path):
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.path.remove(path)


def _import_hubconf(repo_dir):
    path = os.path.join(repo_dir, MODULE_HUBCONF)
    with _add_to_sys_path(repo_dir):
        spec = importlib.util.spec_from_file_location("hubconf", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _check_dependencies(m):
    dependencies = getattr(m, VAR_DEPENDENCY, None)
    if dependencies is not None:
        missing = [pkg for pkg in dependencies if importlib.util.find_spec(pkg) is None]
        if missing:
            raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")


def _load_entry_from_hubconf(m, model):
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    _check_dependencies(m)
    func = getattr(m, model, None)
    if func is None or not callable(func):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return func


def list(github, force_reload=False, skip_validation=False, trust_repo=None, verbose=True):
    """Names of the entry points (public callables) of a local directory's hubconf.py."""
    hub_module = _import_hubconf(_repo_dir(github, "hub.list"))
    return [f for f in dir(hub_module) if callable(getattr(hub_module, f)) and not f.startswith("_")]


def help(github, model, force_reload=False, skip_validation=False, trust_repo=None):
    """The docstring of entry point `model` of a local directory's hubconf.py."""
    hub_module = _import_hubconf(_repo_dir(github, "hub.help"))
    return _load_entry_from_hubconf(hub_module, model).__doc__


def load(repo_or_dir, model, *args, source="github", trust_repo=None, force_reload=False, verbose=True,
         skip_validation=False, **kwargs):
    """Call entry point `model` of repo_or_dir's hubconf.py with *args/**kwargs (source='local': a local
    directory; source='github' is refused, nothing is downloaded)."""
    source = source.lower()
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        raise RuntimeError(f"hub.load: source='github' ({repo_or_dir!r}) would download a repository and run its "
                           "code; flambeau.hub loads only local directories: clone it and call "
                           "hub.load(<directory>, model, source='local').")
    if not os.path.isdir(repo_or_dir):
        raise FileNotFoundError(f"hub.load: {repo_or_dir!r} is not a directory")
    with _add_to_sys_path(repo_or_dir):
        hub_module = _import_hubconf(repo_or_dir)
        entry = _load_entry_from_hubconf(hub_module, model)
        return entry(*args, **kwargs)
