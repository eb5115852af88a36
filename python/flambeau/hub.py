"""flambeau.hub: torch.hub's weight download and cache (load_state_dict_from_url,
download_url_to_file, get_dir / set_dir), which model definitions copied from torchvision import at
their top.

Files are cached under $FLAMBEAU_HOME/hub/checkpoints ($FLAMBEAU_HOME defaults to
$XDG_CACHE_HOME/flambeau, i.e. ~/.cache/flambeau). A downloaded file is read with flambeau.load, or
with load_safetensors when its name ends in .safetensors; flambeau.load reads PyTorch .pth
checkpoints with its restricted unpickler, which never runs code from the file. torch.hub.load /
list / help, which download a repository and run its hubconf.py, are not provided.
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from urllib.parse import urlparse

import flambeau

__all__ = ["download_url_to_file", "get_dir", "load_state_dict_from_url", "set_dir"]

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
