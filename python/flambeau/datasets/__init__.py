"""flambeau.datasets: readers of standard datasets stored on disk (nothing is downloaded)."""
from .idx import read_idx, write_idx  # noqa: F401
from .mnist import MNIST, FashionMNIST  # noqa: F401

__all__ = ["MNIST", "FashionMNIST", "read_idx", "write_idx"]
