"""flambeau.transforms: image transforms with torchvision's names (transforms.py, resize.py, color.py,
affine.py, enhance.py, autoaugment.py, containers.py; PIL images through _pil.py; per-image operations in
flambeau.transforms.functional; v2's image path in flambeau.transforms.v2)."""
from .transforms import (Compose, ToTensor, PILToTensor, ToPILImage, Normalize,  # noqa: F401
                         RandomHorizontalFlip, RandomVerticalFlip, RandomCrop, CenterCrop, Pad,
                         RandomErasing, Lambda)
from .resize import InterpolationMode, Resize, RandomResizedCrop, FiveCrop, TenCrop  # noqa: F401
from .color import (Grayscale, RandomGrayscale, ColorJitter, GaussianBlur,  # noqa: F401
                    ConvertImageDtype, RandomInvert)
from .containers import RandomApply, RandomChoice, RandomOrder  # noqa: F401
from .affine import RandomRotation, RandomAffine  # noqa: F401
from .enhance import (RandomAdjustSharpness, RandomPosterize, RandomSolarize,  # noqa: F401
                      RandomAutocontrast, RandomEqualize)
from .autoaugment import AutoAugmentPolicy, AutoAugment, RandAugment, TrivialAugmentWide, AugMix  # noqa: F401
from . import functional, v2  # noqa: F401

__all__ = ["Compose", "ToTensor", "PILToTensor", "ToPILImage", "Normalize", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomCrop", "CenterCrop", "Pad", "RandomErasing", "Lambda",
           "InterpolationMode", "Resize", "RandomResizedCrop", "FiveCrop", "TenCrop",
           "Grayscale", "RandomGrayscale", "ColorJitter", "GaussianBlur", "ConvertImageDtype",
           "RandomApply", "RandomChoice", "RandomOrder", "RandomRotation", "RandomAffine",
           "RandomInvert", "RandomAdjustSharpness", "RandomPosterize", "RandomSolarize", "RandomAutocontrast",
           "RandomEqualize", "AutoAugmentPolicy", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"]
