"""flambeau.transforms.v2: torchvision.transforms.v2's image path, as the current tutorials write it:

    transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                            v2.RandomResizedCrop(size=(224, 224), antialias=True), v2.Normalize(mean, std)])

ToImage turns a numpy image (H, W[, C]) into a (C, H, W) tensor of the same dtype, ToDtype converts
(scale=True maps uint8 [0, 255] to float [0, 1] by multiplying by 1/255, as v2 does), and the other
names are the v1 transforms, which act on tensors and arrays the way v2 acts on plain images.
tv_tensors (bounding boxes, masks transformed jointly with the image) are not supported: a transform
given a tuple or dict raises instead of transforming only part of it.
"""
import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import functional  # noqa: F401
from .affine import RandomAffine, RandomRotation  # noqa: F401
from .autoaugment import AugMix, AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide  # noqa: F401
from .enhance import (RandomAdjustSharpness, RandomAutocontrast, RandomEqualize, RandomPosterize,  # noqa: F401
                      RandomSolarize)
from . import _pil
from .color import ColorJitter, GaussianBlur, Grayscale, RandomGrayscale, RandomInvert  # noqa: F401
from .containers import RandomApply, RandomChoice, RandomOrder  # noqa: F401
from .resize import FiveCrop, InterpolationMode, RandomResizedCrop, Resize, TenCrop  # noqa: F401
from .transforms import (CenterCrop, Compose, Lambda, Normalize, Pad, PILToTensor, RandomCrop,  # noqa: F401
                         RandomErasing, RandomHorizontalFlip, RandomVerticalFlip, ToPILImage)

__all__ = ["ToImage", "ToDtype", "ToPureTensor", "Compose", "Normalize", "Resize", "RandomResizedCrop",
           "RandomCrop", "CenterCrop", "Pad", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomErasing",
           "Lambda", "ColorJitter", "GaussianBlur", "Grayscale", "RandomGrayscale", "RandomInvert",
           "RandomApply", "RandomChoice", "RandomOrder", "RandomAffine", "RandomRotation", "FiveCrop",
           "TenCrop", "InterpolationMode", "AutoAugment", "AutoAugmentPolicy", "RandAugment", "TrivialAugmentWide",
           "AugMix", "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize", "RandomPosterize",
           "RandomSolarize", "ToPILImage", "PILToTensor"]

_MAX = {"uint8": 255, "int8": 127, "int16": 32767, "int32": 2147483647, "int64": 9223372036854775807}


def _name(dtype):
    return str(dtype).split(".")[-1]


class ToImage:
    """numpy image (H, W) / (H, W, C) or PIL image -> tensor (C, H, W), dtype unchanged; tensors pass
    through."""

    def __call__(self, inpt):
        if isinstance(inpt, Tensor):
            return inpt
        if _pil.is_pil(inpt):
            return PILToTensor()(inpt)
        if not isinstance(inpt, np.ndarray):
            raise TypeError(f"ToImage: expected a PIL image, a numpy image or a Tensor, got {type(inpt)}")
        arr = inpt[:, :, None] if inpt.ndim == 2 else inpt
        if arr.ndim != 3:
            raise ValueError(f"ToImage: expected an image of 2 or 3 dimensions, got {inpt.ndim}")
        return flambeau.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class ToDtype:
    """Converts the image's dtype; with scale=True, between the integer range and [0, 1]."""

    def __init__(self, dtype, scale=False):
        if isinstance(dtype, dict):
            raise NotImplementedError("ToDtype: a dict of dtypes per tv_tensor type is not supported")
        self.dtype = dtype
        self.scale = scale

    def __call__(self, image):
        if not isinstance(image, Tensor):
            raise TypeError(f"ToDtype: expected a Tensor, got {type(image)}")
        if image.dtype == self.dtype:
            return image
        if not self.scale:
            return image.to(self.dtype)
        src, dst = _name(image.dtype), _name(self.dtype)
        float_in, float_out = image.is_floating_point(), dst in ("float32", "float64")
        if float_in and float_out:
            return image.to(self.dtype)
        if float_in:  # float -> int
            return image.mul(_MAX[dst] + 1.0 - 1e-3).to(self.dtype)
        if float_out:  # int -> float
            return image.to(self.dtype).mul_(1.0 / _MAX[src])
        raise NotImplementedError(f"ToDtype: scaling {src} to {dst} is not supported")

    def __repr__(self):
        return f"{self.__class__.__name__}(scale={self.scale})"


class ToPureTensor:
    """A plain tensor (flambeau has no tv_tensors subclasses): the input itself."""

    def __call__(self, inpt):
        return inpt

    def __repr__(self):
        return f"{self.__class__.__name__}()"
