"""KMNIST, EMNIST and SVHN (flambeau.vision.datasets) on files this test writes in the layouts torchvision reads
(IDX files under root/KMNIST/raw and root/EMNIST/raw, SVHN's MATLAB 5 .mat files, written here by a small
writer and, when scipy is installed, by scipy.io.savemat), checked against the arrays written. Nothing is
downloaded."""
import gzip
import os
import struct
import zlib

import numpy as np
import pytest

import flambeau
from flambeau.datasets import write_idx
from flambeau.vision import datasets, transforms
from flambeau.vision.datasets._mat import load_mat


def _idx_pair(folder, prefix, n, seed, gz=False):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), imgs)
    write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
    return imgs, labels


def test_kmnist(tmp_path):
    train = _idx_pair(tmp_path / "KMNIST" / "raw", "train", 9, 0)
    _idx_pair(tmp_path / "KMNIST" / "raw", "t10k", 4, 1)
    ds = datasets.KMNIST(str(tmp_path), train=True, transform=transforms.ToTensor())
    assert len(ds) == 9 and ds.classes[0] == "o" and ds.classes[-1] == "wo"
    assert ds.data.numpy().tolist() == train[0].tolist() and ds.targets.tolist() == train[1].tolist()
    x, y = ds[3]
    assert tuple(x.shape) == (1, 28, 28) and y == int(train[1][3])
    assert len(datasets.KMNIST(tmp_path, train=False)) == 4


@pytest.mark.parametrize("gzip_folder", [False, True])
def test_emnist_splits(tmp_path, gzip_folder):
    folder = tmp_path / "EMNIST" / "raw" / ("gzip" if gzip_folder else "")
    letters = _idx_pair(folder, "emnist-letters-train", 7, 2, gz=gzip_folder)
    _idx_pair(folder, "emnist-letters-test", 3, 3, gz=gzip_folder)
    balanced_test = _idx_pair(folder, "emnist-balanced-test", 5, 4, gz=gzip_folder)
    _idx_pair(folder, "emnist-balanced-train", 2, 5, gz=gzip_folder)
    ds = datasets.EMNIST(str(tmp_path), split="letters")
    assert len(ds) == 7 and ds.split == "letters" and ds.classes[:3] == ["N/A", "a", "b"] and len(ds.classes) == 27
    img, target = ds[6]
    assert img.tolist() == letters[0][6].tolist() and target == int(letters[1][6])  # stored transposed, as is
    bal = datasets.EMNIST(str(tmp_path), split="balanced", train=False)
    assert bal.targets.tolist() == balanced_test[1].tolist() and len(bal.classes) == 47
    assert len(datasets.EMNIST.classes_split_dict["byclass"]) == 62
    with pytest.raises(ValueError, match="split"):
        datasets.EMNIST(str(tmp_path), split="bogus")
    with pytest.raises(RuntimeError, match="no network download"):
        datasets.EMNIST(str(tmp_path), split="digits", download=True)


# ---- a MATLAB 5 writer (uncompressed or compressed elements), enough for SVHN's two arrays -------------
_MI = {np.dtype("uint8"): (2, 9), np.dtype("float64"): (9, 6), np.dtype("int16"): (3, 10),
       np.dtype("float32"): (7, 7)}  # dtype -> (miTYPE of the data, mxCLASS of the array)


def _element(kind, payload):
    return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def write_mat(path, arrays, compress=False):
    out = bytearray(b"MATLAB 5.0 MAT-file, written by flambeau's tests".ljust(116) + b"\0" * 8
                    + struct.pack("<H", 0x0100) + b"IM")
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        mi, mx = _MI[arr.dtype]
        dims = arr.shape if arr.ndim >= 2 else (1, arr.size)
        body = (_element(6, struct.pack("<II", mx, 0)) + _element(5, struct.pack(f"<{len(dims)}i", *dims))
                + _element(1, name.encode()) + _element(mi, arr.tobytes(order="F")))
        matrix = _element(14, body)
        out += struct.pack("<II", 15, len(z := zlib.compress(matrix))) + z if compress else matrix
    with open(path, "wb") as f:
        f.write(bytes(out))


def _svhn_arrays(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, (n, 1)).astype(np.float64)  # SVHN labels 1..10, 10 meaning the digit 0
    y[0] = 10
    return x, y


@pytest.mark.parametrize("compress", [False, True])
def test_svhn(tmp_path, compress):
    x, y = _svhn_arrays(6, 0)
    write_mat(tmp_path / "train_32x32.mat", {"X": x, "y": y}, compress)
    ds = datasets.SVHN(str(tmp_path))
    assert ds.data.shape == (6, 3, 32, 32) and ds.data.dtype == np.uint8
    assert ds.data.tolist() == x.transpose(3, 2, 0, 1).tolist()
    expect = y[:, 0].astype(np.int64) % 10
    assert ds.labels.tolist() == expect.tolist() and ds.labels[0] == 0
    img, label = ds[2]
    assert img.shape == (32, 32, 3) and img.tolist() == x[:, :, :, 2].tolist() and label == expect[2]
    t, _ = datasets.SVHN(str(tmp_path), transform=transforms.ToTensor())[1]
    assert tuple(t.shape) == (3, 32, 32)
    with pytest.raises(RuntimeError, match="test_32x32.mat not found"):
        datasets.SVHN(str(tmp_path), split="test")
    with pytest.raises(ValueError, match="split"):
        datasets.SVHN(str(tmp_path), split="valid")


def test_mat_reader(tmp_path):
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_mat(tmp_path / "a.mat", {"a": a, "f": np.float32([[1.5, -2.0]])})
    got = load_mat(str(tmp_path / "a.mat"))
    assert got["a"].tolist() == a.tolist() and got["a"].dtype == np.int16 and got["f"].tolist() == [[1.5, -2.0]]
    (tmp_path / "b.mat").write_bytes(b"MATLAB 7.3 MAT-file" + b"\0" * 200)
    with pytest.raises(ValueError, match="7.3"):
        load_mat(str(tmp_path / "b.mat"))
    (tmp_path / "c.mat").write_bytes(b"\0" * 200)
    with pytest.raises(ValueError, match="endian"):
        load_mat(str(tmp_path / "c.mat"))
    try:  # files written by scipy, when it is installed (its small-element and compressed forms)
        import scipy.io
    except ImportError:
        return
    x, y = _svhn_arrays(3, 1)
    for compress in (False, True):
        scipy.io.savemat(str(tmp_path / "s.mat"), {"X": x, "y": y, "s": np.float64(2.5)}, do_compression=compress)
        got = load_mat(str(tmp_path / "s.mat"))
        assert got["X"].tolist() == x.tolist() and got["y"].tolist() == y.tolist() and got["s"].tolist() == [[2.5]]


def test_gzip_members_are_read(tmp_path):
    folder = tmp_path / "KMNIST" / "raw"
    imgs, labels = _idx_pair(folder, "train", 3, 7)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        raw = (folder / name).read_bytes()
        (folder / name).unlink()
        (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
    assert datasets.KMNIST(str(tmp_path)).data.numpy().tolist() == imgs.tolist()
    assert isinstance(flambeau.vision.datasets.KMNIST, type)
