"""flambeau.transforms: image transforms with torchvision's names (see transforms.py)."""
from .transforms import (Compose, ToTensor, Normalize, RandomHorizontalFlip,  # noqa: F401
                         RandomVerticalFlip, RandomCrop, CenterCrop, Pad, RandomErasing, Lambda)

__all__ = ["Compose", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomCrop", "CenterCrop", "Pad", "RandomErasing", "Lambda"]
