"""flambeau.vision.datasets: torchvision's dataset classes, read from files on disk (never downloaded)."""
from .vision import VisionDataset  # noqa: F401
from .mnist import MNIST, FashionMNIST, KMNIST, EMNIST  # noqa: F401
from .svhn import SVHN  # noqa: F401
from .cifar import CIFAR10, CIFAR100  # noqa: F401
from .folder import DatasetFolder, ImageFolder, IMG_EXTENSIONS, default_loader  # noqa: F401
from .fakedata import FakeData  # noqa: F401

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "SVHN", "CIFAR10", "CIFAR100",
           "DatasetFolder", "ImageFolder", "FakeData"]
