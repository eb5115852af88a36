"""IDX reading (files written by the test itself, gzipped or not), MNIST/FashionMNIST lookup and
errors, and the transforms against their definitions (and torch where the math is the same)."""
import gzip
import os

import numpy as np
import pytest
import torch

import flambeau
from flambeau import datasets, transforms
from flambeau.datasets import read_idx, write_idx
from flambeau.utils.data import DataLoader


def np_of(t):
    return t.detach().cpu().numpy()


def raw_idx(arr, code):
    """IDX bytes built by hand from the format description (independent of write_idx)."""
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                        (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_every_type(tmp_path, dtype, code, gz):
    arr = (np.random.rand(3, 4, 5) * 100).astype(dtype)
    data = raw_idx(arr, code)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and np.array_equal(out, arr)
    write_idx(tmp_path / "b.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "b.gz"), arr)


def test_read_idx_rejects_bad_files(tmp_path):
    good = raw_idx(np.zeros((2, 3), np.uint8), 0x08)
    cases = {"magic": b"\x01" + good[1:], "type": good[:2] + b"\x07" + good[3:],
             "short": good[:-1], "long": good + b"\0", "header": good[:6]}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError):
            read_idx(p)
    p = tmp_path / "badgz.gz"
    p.write_bytes(gzip.compress(good)[:-5])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(p)


def write_fake_mnist(folder, n_train=12, n_test=5, gz=True):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    sets = {}
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), labels)
        sets[prefix] = (images, labels)
    return sets


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_root(tmp_path, gz):
    sets = write_fake_mnist(tmp_path / "FashionMNIST" / "raw", gz=gz)
    ds = datasets.FashionMNIST(tmp_path, train=True)
    assert len(ds) == 12
    img, label = ds[3]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
    assert np.array_equal(img, sets["train"][0][3]) and label == int(sets["train"][1][3])
    assert ds.targets.dtype == flambeau.int64 and np_of(ds.targets).tolist() == \
        sets["train"][1].tolist()
    test = datasets.FashionMNIST(root=tmp_path, train=False, transform=transforms.ToTensor(),
                                 target_transform=lambda t: t + 100)
    x, t = test[0]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == flambeau.float32
    np.testing.assert_allclose(np_of(x)[0], sets["t10k"][0][0] / 255.0, rtol=1e-6)
    assert t == int(sets["t10k"][1][0]) + 100
    assert "Split: Test" in repr(test) and "ToTensor()" in repr(test)
    assert ds.classes[9] == "Ankle boot" and ds.class_to_idx["Bag"] == 8
    xb, yb = next(iter(DataLoader(test, batch_size=4)))
    assert tuple(xb.shape) == (4, 1, 28, 28) and yb.dtype == flambeau.int64


def test_mnist_search_path_uses_flambeau_data(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path / "mnist", n_train=4, n_test=2, gz=False)
    monkeypatch.setenv("FLAMBEAU_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ds = datasets.MNIST(train=False)
    assert len(ds) == 2 and ds.folder == str(tmp_path / "mnist")


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FLAMBEAU_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(RuntimeError, match="apt-get install dataset-fashion-mnist"):
        datasets.FashionMNIST(root=tmp_path / "empty")
    with pytest.raises(RuntimeError, match="never downloads"):
        datasets.FashionMNIST(root=tmp_path, download=True)
    write_fake_mnist(tmp_path / "here", n_train=2, n_test=1)
    assert len(datasets.FashionMNIST(root=tmp_path / "here", download=True)) == 2
    with pytest.raises(RuntimeError, match="not found"):
        datasets.MNIST(root=tmp_path)


def test_inconsistent_files_are_rejected(tmp_path):
    write_fake_mnist(tmp_path, n_train=4, n_test=2, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="labels file"):
        datasets.MNIST(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="dataset-fashion-mnist is not installed")
def test_system_fashion_mnist_if_installed(monkeypatch):
    monkeypatch.delenv("FLAMBEAU_DATA", raising=False)
    ds = datasets.FashionMNIST(train=False)
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28)
    assert sorted(set(np_of(ds.targets).tolist())) == list(range(10))


# ---------------------------------------------------------------------------------- transforms
def test_to_tensor_and_normalize_match_torch_math():
    img = np.random.randint(0, 256, (5, 6, 3)).astype(np.uint8)
    t = transforms.ToTensor()(img)
    assert tuple(t.shape) == (3, 5, 6) and t.dtype == flambeau.float32
    ref = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
    np.testing.assert_allclose(np_of(t), ref.numpy(), rtol=1e-6)
    gray = transforms.ToTensor()(img[:, :, 0])
    assert tuple(gray.shape) == (1, 5, 6)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    n = transforms.Normalize(mean, std)(t)
    ref_n = (ref - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    np.testing.assert_allclose(np_of(n), ref_n.numpy(), rtol=1e-5, atol=1e-6)
    n1 = transforms.Normalize((0.5,), (0.5,))(gray)
    np.testing.assert_allclose(np_of(n1), (np_of(gray) - 0.5) / 0.5, rtol=1e-6)
    with pytest.raises(TypeError):
        transforms.ToTensor()(t)
    with pytest.raises(ValueError, match="division by zero"):
        transforms.Normalize((0.0,), (0.0,))(gray)
    assert repr(transforms.Normalize(mean, std)) == f"Normalize(mean={mean}, std={std})"


def test_flips_on_arrays_and_tensors():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(transforms.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    assert np.array_equal(transforms.RandomHorizontalFlip(p=0.0)(img), img)
    assert np.array_equal(transforms.RandomVerticalFlip(p=1.0)(img), img[::-1])
    t = flambeau.arange(24, dtype=flambeau.float32).reshape(2, 3, 4)
    assert np.array_equal(np_of(transforms.RandomHorizontalFlip(1.0)(t)), np_of(t)[..., ::-1])
    assert np.array_equal(np_of(transforms.RandomVerticalFlip(1.0)(t)), np_of(t)[..., ::-1, :])
    flips = [transforms.RandomHorizontalFlip()(img)[0, 0] != 0 for _ in range(200)]
    assert 60 < sum(flips) < 140


def test_random_crop_with_padding():
    img = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    out = transforms.RandomCrop(5, padding=2)(img)
    assert out.shape == (5, 5)
    padded = np.pad(img, 2)
    found = any(np.array_equal(out, padded[i:i + 5, j:j + 5]) for i in range(5) for j in range(5))
    assert found
    positions = set()
    for _ in range(100):
        o = transforms.RandomCrop(3)(img)
        positions.add((int(o[0, 0]) - 1) // 5 * 10 + (int(o[0, 0]) - 1) % 5)
    assert len(positions) == 9  # every 3x3 window of a 5x5 image occurs
    t = flambeau.arange(2 * 4 * 4, dtype=flambeau.float32).reshape(2, 4, 4)
    ct = transforms.RandomCrop((2, 3), padding=1, fill=-1)(t)
    assert tuple(ct.shape) == (2, 2, 3)
    edge = transforms.RandomCrop(6, padding=1, padding_mode="edge")(img)
    assert np.array_equal(edge[:6, :6][np.ix_([0], [0])], edge[:1, :1])
    assert tuple(transforms.RandomCrop(8, pad_if_needed=True)(img).shape) == (8, 8)
    with pytest.raises(ValueError, match="larger than input"):
        transforms.RandomCrop(8)(img)


def test_constant_pad_of_arrays_matches_numpy():
    # The array path of a constant pad fills an array and assigns the image into it (np.pad was most of
    # RandomCrop(32, padding=4)'s time): the same array as np.pad, for HWC and HW images and any fill.
    from flambeau.transforms.transforms import _pad
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, (5, 7, 3)).astype(np.uint8), rng.standard_normal((4, 6)).astype(np.float32)):
        for pad, widths in ((2, [(2, 2), (2, 2)]), ((1, 3), [(3, 3), (1, 1)]), ((1, 2, 3, 4), [(2, 4), (1, 3)])):
            ref = np.pad(img, widths + [(0, 0)] * (img.ndim - 2), constant_values=7)
            out = _pad(img, pad, 7)
            assert out.dtype == img.dtype and np.array_equal(out, ref)


def test_random_erasing():
    t = flambeau.ones(3, 20, 20)
    out = transforms.RandomErasing(p=1.0, value=0)(t)
    a = np_of(out)
    zero = a == 0
    assert zero.any() and float(np_of(t).min()) == 1.0  # not in place by default
    rows, cols = np.where(zero[0])
    assert zero[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
    area = zero[0].sum() / 400
    assert 0.02 * 0.5 <= area <= 0.33 * 1.5
    assert transforms.RandomErasing(p=0.0)(t) is t
    rnd = np_of(transforms.RandomErasing(p=1.0, value="random")(t))
    assert (rnd != 1).any()
    per_channel = np_of(transforms.RandomErasing(p=1.0, value=(2.0, 3.0, 4.0))(t))
    assert set(np.unique(per_channel[1])) <= {1.0, 3.0}
    inplace = flambeau.ones(1, 8, 8)
    transforms.RandomErasing(p=1.0, inplace=True)(inplace)
    assert float(np_of(inplace).min()) == 0.0
    with pytest.raises(ValueError):
        transforms.RandomErasing(scale=(0.5, 0.1))


def test_compose_lambda_and_seeded_reproducibility():
    pipeline = transforms.Compose([transforms.RandomCrop(4, padding=1),
                                   transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                   transforms.Normalize((0.5,), (0.5,)),
                                   transforms.Lambda(lambda x: x * 2)])
    img = np.random.randint(0, 256, (4, 4)).astype(np.uint8)
    flambeau.manual_seed(0)
    a = [np_of(pipeline(img)) for _ in range(5)]
    flambeau.manual_seed(0)
    b = [np_of(pipeline(img)) for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert "Compose(" in repr(pipeline) and "    ToTensor()" in repr(pipeline)
    with pytest.raises(TypeError):
        transforms.Lambda(3)


_SUBSET = os.path.join(os.path.dirname(datasets.__file__), "data", "fashion-mnist-subset")


@pytest.mark.skipif(not os.path.isdir(_SUBSET), reason="no packaged Fashion-MNIST subset")
def test_packaged_fashion_mnist_subset_reads():
    train = datasets.FashionMNIST(_SUBSET, train=True)
    test = datasets.FashionMNIST(_SUBSET, train=False, transform=transforms.ToTensor())
    assert len(train) > 0 and len(test) > 0 and train.data.shape[1:] == (28, 28)
    assert set(np_of(train.targets).tolist()) <= set(range(10))
    x, y = test[0]
    assert tuple(x.shape) == (1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
