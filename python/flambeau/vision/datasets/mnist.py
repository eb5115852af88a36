"""torchvision's MNIST, FashionMNIST, KMNIST and EMNIST: signature (root, train=True, transform=None,
target_transform=None, download=False) (EMNIST's with split=), files in torchvision's layout
root/MNIST/raw/*-ubyte[.gz] (root/FashionMNIST/raw/, root/KMNIST/raw/, root/EMNIST/raw/emnist-<split>-<train|test>-
*-ubyte, or EMNIST's gzip/ folder as unzipped) or in flambeau.datasets' (the files in root itself, root/mnist,
...). `.data` is a uint8 tensor (N, 28, 28), `.targets` an int64 tensor (N,), as torchvision; an item is (numpy
uint8 image (28, 28), int label), the image a numpy array where torchvision gives a PIL image (what
flambeau.transforms take).

Nothing is downloaded: download=True is a no-op when the files are there, and when they are not the error
says so and where to put them.
"""
import os
import string

import flambeau
from ... import datasets as _fd
from .. import _backend

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "EMNIST"]


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
        return _backend.image(self._images[index])

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


class KMNIST(MNIST):
    """Kuzushiji-MNIST: cursive Japanese characters in MNIST's format (files in root/KMNIST/raw)."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    _dataset_dir = "kmnist"


class EMNIST(MNIST):
    """EMNIST(root, split, train=True, transform=None, target_transform=None, download=False): NIST's letters
    and digits in MNIST's format, one pair of IDX files per split and part (emnist-<split>-<train|test>-
    images-idx3-ubyte, ...). The images are stored transposed, and come out as stored, as torchvision's do."""

    splits = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    # bymerge and balanced merge the letters whose upper and lower case look alike
    _merged_classes = {"c", "i", "j", "k", "l", "m", "o", "p", "s", "u", "v", "w", "x", "y", "z"}
    _all_classes = set(string.digits + string.ascii_letters)
    classes_split_dict = {
        "byclass": sorted(_all_classes),
        "bymerge": sorted(_all_classes - _merged_classes),
        "balanced": sorted(_all_classes - _merged_classes),
        "letters": ["N/A"] + list(string.ascii_lowercase),
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }
    _dataset_dir = "emnist"

    def __init__(self, root, split, **kwargs):
        if split not in self.splits:
            raise ValueError(f"Unknown value '{split}' for argument split. Valid values are "
                             f"{{{', '.join(repr(s) for s in self.splits)}}}.")
        self.split = split
        super().__init__(root, **kwargs)
        self.classes = self.classes_split_dict[split]

    def _split_files(self, train):
        prefix = f"emnist-{self.split}-{'train' if train else 'test'}"
        return prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"

    @classmethod
    def _subfolders(cls, root):
        folders = super()._subfolders(root)
        return folders + [os.path.join(root, cls.__name__, "raw", "gzip"), os.path.join(root, "gzip")]

    def _how_to_get(self):
        return ("flambeau has no network download (download=True only checks that the files are there): unzip "
                "EMNIST's gzip.zip (https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip) so that "
                f"emnist-{self.split}-train-images-idx3-ubyte.gz and its siblings are in "
                f"{os.path.join(str(self.root), 'EMNIST', 'raw')}.")
