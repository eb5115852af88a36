"""torchvision's MNIST and FashionMNIST: signature (root, train=True, transform=None, target_transform=None,
download=False), files in torchvision's layout root/MNIST/raw/*-ubyte[.gz] (root/FashionMNIST/raw/) or in
flambeau.datasets' (the files in root itself, root/mnist, ...). `.data` is a uint8 tensor (N, 28, 28),
`.targets` an int64 tensor (N,), as torchvision; an item is (numpy uint8 image (28, 28), int label), the
image a numpy array where torchvision gives a PIL image (what flambeau.transforms take).

Nothing is downloaded: download=True is a no-op when the files are there, and when they are not the error
says so and where to put them.
"""
import os

import flambeau
from ... import datasets as _fd

__all__ = ["MNIST", "FashionMNIST"]


class MNIST(_fd.MNIST):
    """MNIST(root, train=True, transform=None, target_transform=None, download=False)."""

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        if isinstance(root, (str, bytes, os.PathLike)):
            root = os.path.expanduser(os.fspath(root))
        super().__init__(root, train=train, transform=transform, target_transform=target_transform,
                         download=download)
        self._images = self.data  # numpy, indexed by __getitem__
        self.data = flambeau.from_numpy(self._images)

    def _image(self, index):  # (the numpy image, as flambeau.datasets.MNIST gives; .data is a tensor here)
        return self._images[index]

    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "processed")

    # torchvision's deprecated names, still found in older scripts
    @property
    def train_data(self):
        return self.data

    @property
    def test_data(self):
        return self.data

    @property
    def train_labels(self):
        return self.targets

    @property
    def test_labels(self):
        return self.targets

    def _how_to_get(self):
        return ("flambeau has no network download (download=True only checks that the files are there): put "
                "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                "t10k-labels-idx1-ubyte (optionally .gz) in "
                f"{os.path.join(str(self.root), self.__class__.__name__, 'raw')}.")


class FashionMNIST(MNIST, _fd.FashionMNIST):
    """Fashion-MNIST: MNIST's format and API with clothing classes (files in root/FashionMNIST/raw)."""
