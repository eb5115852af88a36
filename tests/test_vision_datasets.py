"""flambeau.vision.datasets: torchvision's dataset classes on files each test writes in the layouts torchvision
reads (MNIST IDX files under root/MNIST/raw, CIFAR python pickles under root/cifar-10-batches-py, image folders),
checked against the numbers the test wrote. Nothing is downloaded."""
import gzip
import os
import pickle

import numpy as np
import pytest

import flambeau
from flambeau.datasets import write_idx
from flambeau.vision import datasets, transforms
from flambeau.vision.datasets.folder import numpy_loader
from flambeau.vision.utils import write_png


def _mnist_files(folder, n_train=12, n_test=5, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), imgs)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
        arrays[prefix] = (imgs, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_torchvisions_layout(tmp_path, gz):
    arrays = _mnist_files(tmp_path / "MNIST" / "raw", gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = datasets.MNIST(str(tmp_path), train=train)
        imgs, labels = arrays[key]
        assert len(ds) == len(labels)
        assert isinstance(ds.data, flambeau.Tensor) and ds.data.dtype == flambeau.uint8
        assert tuple(ds.data.shape) == imgs.shape and np.array_equal(ds.data.numpy(), imgs)
        assert ds.targets.dtype == flambeau.int64 and ds.targets.tolist() == labels.tolist()
        img, target = ds[3]
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and np.array_equal(img, imgs[3])
        assert type(target) is int and target == labels[3]
    assert ds.classes[0] == "0 - zero" and ds.class_to_idx["9 - nine"] == 9
    assert ds.raw_folder == os.path.join(str(tmp_path), "MNIST", "raw")


def test_mnist_transforms_pathlike_root_and_flambeau_layout(tmp_path):
    arrays = _mnist_files(tmp_path)  # flambeau.datasets' layout: the files in root itself
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(tmp_path, train=True, transform=t, target_transform=lambda y: y + 100, download=True)
    x, y = ds[0]
    imgs, labels = arrays["train"]
    expected = (imgs[0].astype(np.float32) / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)
    assert tuple(x.shape) == (1, 28, 28) and np.allclose(x.numpy()[0], expected, atol=1e-6)
    assert y == labels[0] + 100
    loader = flambeau.utils.data.DataLoader(ds, batch_size=5)
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (5, 1, 28, 28) and yb.tolist() == [int(v) + 100 for v in labels[:5]]


def test_fashion_mnist_folder_and_classes(tmp_path):
    _mnist_files(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = datasets.FashionMNIST(str(tmp_path), train=False, download=True)
    assert len(ds) == 5 and ds.classes[9] == "Ankle boot"
    assert ds.folder == os.path.join(str(tmp_path), "FashionMNIST", "raw")
    with pytest.raises(RuntimeError, match=r"MNIST dataset not found"):
        datasets.MNIST(str(tmp_path))  # Fashion's files are not MNIST's


def test_missing_files_say_there_is_no_download(tmp_path):
    for download in (False, True):
        with pytest.raises(RuntimeError) as info:
            datasets.MNIST(str(tmp_path / "data"), download=download)
        msg = str(info.value)
        assert "no network download" in msg and os.path.join(str(tmp_path / "data"), "MNIST", "raw") in msg
    with pytest.raises(RuntimeError, match="no network download") as info:
        datasets.CIFAR10(str(tmp_path), download=True)
    assert "cifar-10-batches-py" in str(info.value) and "data_batch_1" in str(info.value)


def _cifar_batch(path, n, rng, label_key="labels"):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    entry = {"batch_label": "batch", label_key: labels, "data": data, "filenames": [f"f{i}.png" for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)
    return data, labels


def test_cifar10_from_python_batches(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train = [_cifar_batch(folder / f"data_batch_{i}", 3 + i, rng) for i in range(1, 6)]
    test_data, test_labels = _cifar_batch(folder / "test_batch", 4, rng)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": 10000, "num_vis": 3072}, f, protocol=2)

    ds = datasets.CIFAR10(str(tmp_path), train=True, download=True)
    data = np.concatenate([d for d, _ in train])
    assert len(ds) == len(data) == 4 + 5 + 6 + 7 + 8
    assert ds.data.dtype == np.uint8 and ds.data.shape == (len(data), 32, 32, 3)
    # a row holds the 1024 red values, then green, then blue, each row-major: pixel (r, c) of channel k
    assert ds.data[7, 5, 9, 2] == data[7, 2 * 1024 + 5 * 32 + 9]
    assert np.array_equal(ds.data, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert ds.targets == sum((lab for _, lab in train), [])
    assert ds.classes == names and ds.class_to_idx["truck"] == 9
    img, target = ds[len(ds) - 1]
    assert img.shape == (32, 32, 3) and target == train[-1][1][-1]

    test = datasets.CIFAR10(str(tmp_path), train=False, transform=transforms.ToTensor())
    x, y = test[2]
    assert tuple(x.shape) == (3, 32, 32) and y == test_labels[2]
    assert np.allclose(x.numpy() * 255, test_data[2].reshape(3, 32, 32), atol=1e-4)
    assert "Split: Test" in repr(test)


def test_cifar100_fine_labels(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data, labels = _cifar_batch(folder / "train", 6, rng, label_key="fine_labels")
    _cifar_batch(folder / "test", 2, rng, label_key="fine_labels")
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": ["x"] * 20}, f)
    ds = datasets.CIFAR100(tmp_path)
    assert ds.targets == labels and len(ds.classes) == 100 and ds.class_to_idx["c42"] == 42
    assert np.array_equal(ds.data[5].transpose(2, 0, 1).reshape(-1), data[5])


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_batches_are_read_without_running_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        _cifar_batch(folder / name, 1, rng)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": _Evil()}, f)
    with pytest.raises(RuntimeError, match="refusing to load posix.system|refusing to load os.system"):
        datasets.CIFAR10(str(tmp_path))


def _write_ppm(path, arr):
    if arr.ndim == 2:
        header = f"P5\n# a comment\n{arr.shape[1]} {arr.shape[0]}\n255\n".encode()
    else:
        header = f"P6\n{arr.shape[1]} {arr.shape[0]}\n255\n".encode()
    path.write_bytes(header + np.ascontiguousarray(arr).tobytes())


def test_image_folder_classes_samples_and_loaders(tmp_path):
    rng = np.random.default_rng(4)
    made = {}
    for cls, names in (("dog", ["b.ppm", "a.png"]), ("cat", ["z.pgm"]), ("ant", ["sub/x.ppm", "y.ppm"])):
        for name in names:
            path = tmp_path / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".pgm"):
                arr = rng.integers(0, 256, (5, 7), dtype=np.uint8)
                _write_ppm(path, arr)
                arr = np.repeat(arr[:, :, None], 3, axis=2)  # loaders give RGB
            else:
                arr = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
                write_png(path, arr) if name.endswith(".png") else _write_ppm(path, arr)
            made[str(path)] = arr
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(str(tmp_path))
    assert ds.classes == ["ant", "cat", "dog"] and ds.class_to_idx == {"ant": 0, "cat": 1, "dog": 2}
    expect = [(str(tmp_path / "ant" / "sub" / "x.ppm"), 0), (str(tmp_path / "ant" / "y.ppm"), 0),
              (str(tmp_path / "cat" / "z.pgm"), 1), (str(tmp_path / "dog" / "a.png"), 2),
              (str(tmp_path / "dog" / "b.ppm"), 2)]
    # torchvision walks each class folder top-down: files of a folder before its subfolders' ... sorted by os.walk
    assert sorted(ds.samples) == sorted(expect) and ds.imgs is ds.samples
    assert ds.targets == [t for _, t in ds.samples] and len(ds) == 5
    pytest.importorskip("PIL")
    for i, (path, target) in enumerate(ds.samples):
        img, t = ds[i]
        assert t == target and img.dtype == np.uint8 and np.array_equal(img, made[path])


def test_loaders_without_pil_and_dataset_folder(tmp_path):
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (3, 5), dtype=np.uint8)
    _write_ppm(tmp_path / "g.pgm", gray)
    assert np.array_equal(numpy_loader(str(tmp_path / "g.pgm")), np.repeat(gray[:, :, None], 3, axis=2))
    (tmp_path / "a.ppm").write_bytes(b"P3\n2 1\n255\n1 2 3  250 251 252\n")
    assert numpy_loader(str(tmp_path / "a.ppm")).tolist() == [[[1, 2, 3], [250, 251, 252]]]
    with pytest.raises(RuntimeError, match="without PIL"):
        numpy_loader(str(tmp_path / "x.jpg"))
    for cls in ("a", "b"):
        (tmp_path / "set" / cls).mkdir(parents=True)
        np.save(tmp_path / "set" / cls / "0.npy", np.full((2, 2), ord(cls), np.int16))
    ds = datasets.DatasetFolder(str(tmp_path / "set"), loader=np.load, extensions=(".npy",))
    assert [int(ds[i][0][0, 0]) for i in range(2)] == [97, 98] and ds.targets == [0, 1]
    with pytest.raises(ValueError, match="Both extensions and is_valid_file"):
        datasets.DatasetFolder(str(tmp_path / "set"), loader=np.load)
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes a, b"):
        datasets.ImageFolder(str(tmp_path / "set"))
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(tmp_path / "set" / "a"))


def test_fakedata_is_deterministic_per_index_and_keeps_the_rng(tmp_path):
    ds = datasets.FakeData(size=6, image_size=(3, 5, 4), num_classes=3, random_offset=7)
    flambeau.manual_seed(123)
    before = flambeau.rand(3)
    flambeau.manual_seed(123)
    img, target = ds[2]
    assert flambeau.equal(flambeau.rand(3), before)  # the caller's stream is untouched
    assert img.shape == (5, 4, 3) and img.dtype == np.uint8 and 0 <= target < 3 and type(target) is int
    img2, target2 = ds[2]
    assert np.array_equal(img, img2) and target == target2
    # the rule: seed index + random_offset, randn(C, H, W), then randint for the label; x * 255 cast to uint8
    flambeau.manual_seed(2 + 7)
    x = flambeau.randn(3, 5, 4)
    label = int(flambeau.randint(0, 3, (1,))[0])
    wrapped = np.trunc(x.numpy().astype(np.float32) * np.float32(255)).astype(np.int64) % 256
    assert np.array_equal(img, wrapped.astype(np.uint8).transpose(1, 2, 0)) and target == label
    assert not np.array_equal(ds[3][0], img)
    with pytest.raises(IndexError):
        ds[6]
    gray = datasets.FakeData(size=2, image_size=(1, 8, 8), transform=transforms.ToTensor())
    assert tuple(gray[0][0].shape) == (1, 8, 8) and len(gray) == 2


def test_gzip_idx_written_by_torchvision_style_tools(tmp_path):
    """A .gz file torchvision's layout keeps next to the extracted one: either is read."""
    folder = tmp_path / "MNIST" / "raw"
    arrays = _mnist_files(folder)
    for name in os.listdir(folder):
        raw = (folder / name).read_bytes()
        (folder / name).unlink()
        (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
    ds = datasets.MNIST(str(tmp_path), train=False)
    assert np.array_equal(ds.data.numpy(), arrays["t10k"][0])


def test_image_folder_without_pil_reads_ppm_pgm(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL` now raises ImportError, as when not installed
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (3, 2), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_ppm(tmp_path / "a" / "0.ppm", rgb)
    _write_ppm(tmp_path / "b" / "0.pgm", gray)
    write_png(tmp_path / "b" / "1.png", rgb)
    ds = datasets.ImageFolder(str(tmp_path))
    assert np.array_equal(ds[0][0], rgb) and np.array_equal(ds[1][0], np.repeat(gray[:, :, None], 3, axis=2))
    with pytest.raises(RuntimeError, match="cannot read .*1.png without PIL"):
        ds[2]
