"""torchvision's CIFAR10 and CIFAR100 from the python-pickle batches on disk (root/cifar-10-batches-py:
data_batch_1..5, test_batch, batches.meta; root/cifar-100-python: train, test, meta), as the dataset's site
distributes them. `.data` is a numpy uint8 array (N, 32, 32, 3), `.targets` a list of ints, `.classes` the
names from the meta file, as torchvision; an item is (numpy image (32, 32, 3), int), a numpy array where
torchvision gives a PIL image.

The batches are read with a restricted unpickler that builds only dicts, lists, strings, numbers and numpy
arrays (a pickle can otherwise run any code). Nothing is downloaded and no checksum is required (a file with
the right name and content loads).
"""
import os
import pickle

import numpy as np

from .. import _backend
from .vision import VisionDataset

__all__ = ["CIFAR10", "CIFAR100"]

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
            ("__builtin__", "object"), ("builtins", "object"),
            ("_codecs", "encode")}  # protocol-2 pickles written by Python 3 store bytes as codecs.encode(str)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch: refusing to load {module}.{name} (only numpy arrays and "
                                     "plain Python values are read)")


def _load_batch(path):
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise RuntimeError(f"{path}: not a CIFAR python batch ({e})") from None


class CIFAR10(VisionDataset):
    """CIFAR10(root, train=True, transform=None, target_transform=None, download=False)."""

    base_folder = "cifar-10-batches-py"
    archive = "cifar-10-python.tar.gz"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        missing = [n for n in self.train_list + self.test_list + [self.meta["filename"]]
                   if not os.path.isfile(os.path.join(self.root, self.base_folder, n))]
        if missing:
            raise RuntimeError(
                f"{type(self).__name__}: dataset not found: {', '.join(missing)} missing in "
                f"{os.path.join(self.root, self.base_folder)}. flambeau has no network download"
                f"{' (download=True only checks that the files are there)' if download else ''}: extract "
                f"{self.archive} (the python version of the dataset) into {self.root}.")
        data, self.targets = [], []
        for name in (self.train_list if train else self.test_list):
            entry = _load_batch(os.path.join(self.root, self.base_folder, name))
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
            self.targets.extend(int(t) for t in labels)
        data = np.vstack(data) if data else np.zeros((0, 3072), np.uint8)
        if data.shape[1:] != (3072,) or data.shape[0] != len(self.targets):
            raise RuntimeError(f"{type(self).__name__}: batches hold data of shape {data.shape} and "
                               f"{len(self.targets)} labels; expected (N, 3072) and N labels")
        self.data = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1)))  # HWC
        meta = _load_batch(os.path.join(self.root, self.base_folder, self.meta["filename"]))
        self.classes = list(meta[self.meta["key"]])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        img, target = _backend.image(self.data[index]), self.targets[index]
        return self._transformed(img, target)

    def __len__(self):
        return len(self.data)

    def download(self):
        """No network download: a no-op (the constructor says what is missing)."""

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR100: CIFAR10's API, 100 fine classes (root/cifar-100-python: train, test, meta)."""

    base_folder = "cifar-100-python"
    archive = "cifar-100-python.tar.gz"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}
