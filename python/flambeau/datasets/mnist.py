"""MNIST and Fashion-MNIST from the standard IDX files (gzipped or not).

Images come out as numpy uint8 arrays of shape (28, 28) (pass transform=transforms.ToTensor() for
float tensors in [0, 1]) and targets as ints. `.data` is the uint8 array (N, 28, 28) and
`.targets` an int64 tensor (N,). Nothing is downloaded: the files must be on disk
(download=True is accepted, as torchvision's "download if missing", but only changes the error
message when the files are missing).
"""
import os

import flambeau
from ..utils.data import Dataset
from .idx import read_idx

__all__ = ["MNIST", "FashionMNIST"]

_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class MNIST(Dataset):
    """MNIST(root=None, train=True, transform=None, target_transform=None).

    root: a folder holding the four IDX files (or root/<ClassName>/raw, root/<ClassName>,
    root/<dataset-name>, as torchvision and Debian lay them out). With root=None the folders
    $FLAMBEAU_DATA, ~/.cache/flambeau and the system data folder are searched.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    _dataset_dir = "mnist"
    _debian_package = None

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=False):
        self.download = download
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.root = root
        folder = self._find_folder(root)
        images_name, labels_name = self._split_files(train)
        self.data = read_idx(_file_in(folder, images_name))
        targets = read_idx(_file_in(folder, labels_name))
        if self.data.ndim != 3:
            raise ValueError(f"{type(self).__name__}: images file has shape {self.data.shape}, "
                             "expected (N, rows, cols)")
        if targets.ndim != 1 or targets.shape[0] != self.data.shape[0]:
            raise ValueError(f"{type(self).__name__}: labels file has shape {targets.shape}, "
                             f"expected ({self.data.shape[0]},)")
        self._targets_list = [int(t) for t in targets]
        self.targets = flambeau.from_numpy(targets.astype("int64"))
        self.folder = folder

    # ------------------------------------------------------------------ locating the files
    def _split_files(self, train):
        """(images file, labels file) of the split, without .gz."""
        return _FILES[bool(train)]

    @classmethod
    def _candidate_roots(cls):
        roots = []
        env = os.environ.get("FLAMBEAU_DATA")
        if env:
            roots.append(env)
        roots.append(os.path.join(os.path.expanduser("~"), ".cache", "flambeau"))
        roots.append("/usr/share/datasets")
        return roots

    @classmethod
    def _subfolders(cls, root):
        name = cls.__name__
        return [root, os.path.join(root, name, "raw"), os.path.join(root, name),
                os.path.join(root, cls._dataset_dir), os.path.join(root, cls._dataset_dir, "raw")]

    @classmethod
    def _how_to_get(cls):
        files = ("put the four files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                 "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz) in "
                 "$FLAMBEAU_DATA or ~/.cache/flambeau, or pass root=<folder>.")
        if cls._debian_package is None:
            return "To get the data, " + files
        return (f"Install the data with `apt-get install {cls._debian_package}` (it goes to "
                f"/usr/share/datasets/{cls._dataset_dir}), or " + files)

    def _find_folder(self, root):
        roots = [os.fspath(root)] if root is not None else self._candidate_roots()
        tried = []
        for r in roots:
            for folder in self._subfolders(r):
                tried.append(folder)
                both = self._split_files(True) + self._split_files(False)
                if all(_file_in(folder, n, must_exist=False) for n in both) \
                        or all(_file_in(folder, n, must_exist=False) for n in self._split_files(self.train)):
                    return folder
        never = ("download=True cannot help: flambeau never downloads data. "
                 if self.download else "")
        raise RuntimeError(f"{type(self).__name__} dataset not found (looked in: "
                           f"{', '.join(tried)}). " + never + self._how_to_get())

    # ------------------------------------------------------------------ Dataset protocol
    def __getitem__(self, index):
        img = self._image(index)
        target = self._targets_list[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _image(self, index):
        return self.data[index]

    def __len__(self):
        return self.data.shape[0]

    @property
    def class_to_idx(self):
        return {_class: i for i, _class in enumerate(self.classes)}

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"

    def __repr__(self):
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {len(self)}", f"Root location: {self.folder}",
                self.extra_repr()]
        if self.transform is not None:
            body.append("Transform: " + repr(self.transform).replace("\n", "\n    "))
        if self.target_transform is not None:
            body.append("Target transform: " + repr(self.target_transform).replace("\n", "\n    "))
        return "\n".join([head] + ["    " + line for line in body])


class FashionMNIST(MNIST):
    """Fashion-MNIST: the same format and API as MNIST, with clothing classes."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    _dataset_dir = "fashion-mnist"
    _debian_package = "dataset-fashion-mnist"


def _file_in(folder, name, must_exist=True):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    if must_exist:
        raise RuntimeError(f"{name}(.gz) not found in {folder}")
    return None
