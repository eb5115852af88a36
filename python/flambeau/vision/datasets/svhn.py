"""torchvision's SVHN (Street View House Numbers, cropped digits) from the dataset's .mat files on disk:
root/train_32x32.mat, root/test_32x32.mat, root/extra_32x32.mat, read by flambeau's own MATLAB 5 reader (no
scipy needed). `.data` is a numpy uint8 array (N, 3, 32, 32) and `.labels` a numpy int64 array (N,) with the
file's digit 10 mapped to 0, as torchvision; an item is (numpy uint8 image (32, 32, 3), int), a numpy array
where torchvision gives a PIL image. Nothing is downloaded.
"""
import os

import numpy as np

from .. import _backend
from ._mat import load_mat
from .vision import VisionDataset

__all__ = ["SVHN"]

_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}


class SVHN(VisionDataset):
    """SVHN(root, split='train', transform=None, target_transform=None, download=False); split is 'train',
    'test' or 'extra'."""

    split_list = {k: ["http://ufldl.stanford.edu/housenumbers/" + v, v] for k, v in _FILES.items()}

    def __init__(self, root, split="train", transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        if split not in _FILES:
            raise ValueError(f"Unknown value '{split}' for argument split. Valid values are "
                             "{'train', 'test', 'extra'}.")
        self.split = split
        self.filename = _FILES[split]
        path = os.path.join(self.root, self.filename)
        if not os.path.isfile(path):
            never = "download=True cannot help: flambeau never downloads data. " if download else ""
            raise RuntimeError(f"SVHN: {path} not found. {never}Put {self.filename} (from "
                               f"http://ufldl.stanford.edu/housenumbers/) in {self.root}.")
        mat = load_mat(path)
        if "X" not in mat or "y" not in mat:
            raise RuntimeError(f"SVHN: {path} has no X and y arrays (found {sorted(mat)})")
        x = mat["X"]
        if x.ndim != 4 or x.shape[2] != 3:
            raise RuntimeError(f"SVHN: X in {path} has shape {x.shape}, expected (32, 32, 3, N)")
        # (H, W, C, N) -> (N, C, H, W), torchvision's layout of .data
        self.data = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)).astype(np.uint8))
        labels = mat["y"].astype(np.int64).reshape(-1)
        if labels.shape[0] != self.data.shape[0]:
            raise RuntimeError(f"SVHN: {labels.shape[0]} labels for {self.data.shape[0]} images in {path}")
        np.place(labels, labels == 10, 0)  # the file's '10' is the digit 0
        self.labels = labels

    def __getitem__(self, index):
        img = _backend.image(np.ascontiguousarray(np.transpose(self.data[index], (1, 2, 0))))
        return self._transformed(img, int(self.labels[index]))

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {self.split}"
