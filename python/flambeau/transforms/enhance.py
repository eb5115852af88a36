"""The tone operations AutoAugment and its relatives use, with torchvision's tensor-path arithmetic:
adjust_sharpness, posterize, solarize, autocontrast, equalize (and the RandomX transforms around
them).

Tensors (..., C, H, W) and numpy arrays (H, W[, C]) follow torchvision's _functional_tensor; a PIL
image goes through Pillow (ImageEnhance.Sharpness, ImageOps) as torchvision's PIL path does.
posterize and equalize take uint8 images only, as torchvision's.
"""
import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil
from .color import _blend, _channels, _Img
from .transforms import _rand

__all__ = ["adjust_sharpness", "posterize", "solarize", "autocontrast", "equalize", "RandomAdjustSharpness",
           "RandomPosterize", "RandomSolarize", "RandomAutocontrast", "RandomEqualize"]


def _is_uint8(img):
    if isinstance(img, np.ndarray):
        return img.dtype == np.uint8
    return img.dtype == flambeau.uint8


def _check_image(img, op):
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise TypeError(f"{op}: expected an image of 2 or 3 dimensions, got shape {img.shape}")
    elif isinstance(img, Tensor):
        if img.dim() < 3:
            raise TypeError(f"{op}: Input image tensor should have at least 3 dimensions, but found {img.dim()}")
    else:
        raise TypeError(f"{op}: img should be PIL Image, Tensor or numpy array. Got {type(img)}")


def adjust_sharpness(img, sharpness_factor):
    """Blend with the image smoothed by the 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13 (border pixels
    kept): factor 0 smooths, 1 is the identity, 2 sharpens."""
    if _pil.is_pil(img):
        return _pil.adjust_sharpness(img, sharpness_factor)
    if sharpness_factor < 0:
        raise ValueError(f"sharpness_factor ({sharpness_factor}) is not non-negative.")
    _check_image(img, "adjust_sharpness")
    im = _Img(img)
    x = im.t
    _channels(x, [1, 3])
    if x.shape[-1] <= 2 or x.shape[-2] <= 2:
        return img
    kernel = flambeau.ones((3, 3), dtype=x.dtype)
    kernel[1, 1] = 5.0
    kernel = kernel / kernel.sum()
    c = x.shape[-3]
    kernel = kernel.expand(c, 1, 3, 3).contiguous().to(x.device)
    lead = tuple(x.shape[:-3])
    x4 = x.reshape((-1,) + tuple(x.shape[-3:]))
    smooth = flambeau.nn.functional.conv2d(x4, kernel, groups=c)
    if im.integer:
        smooth = flambeau.round(smooth)  # torchvision rounds the blurred integer image back
    degenerate = x4.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    degenerate = degenerate.reshape(lead + tuple(x.shape[-3:]))
    return im.out(_blend(im, x, degenerate, sharpness_factor))


def posterize(img, bits):
    """Keep the `bits` most significant bits of each uint8 value."""
    if _pil.is_pil(img):
        return _pil.posterize(img, bits)
    _check_image(img, "posterize")
    if not _is_uint8(img):
        raise TypeError(f"posterize: Only uint8 images are supported, but found {img.dtype}")
    if not 0 <= int(bits) <= 8:
        raise ValueError(f"posterize: bits must be in [0, 8], got {bits}")
    mask = -int(2 ** (8 - int(bits)))  # ~(2 ** (8 - bits) - 1)
    if isinstance(img, np.ndarray):
        return img & np.uint8(mask & 0xFF)
    _channels(img, [1, 3])
    return img & mask


def solarize(img, threshold):
    """Invert the values at or above `threshold`."""
    if _pil.is_pil(img):
        return _pil.solarize(img, threshold)
    _check_image(img, "solarize")
    im = _Img(img)
    _channels(im.t, [1, 3])
    if threshold > im.bound:
        raise TypeError("Threshold should be less than bound of img.")
    return im.out(flambeau.where(im.t >= threshold, im.bound - im.t, im.t))


def autocontrast(img):
    """Stretch each channel's range to [0, bound] (a constant channel is left as it is)."""
    if _pil.is_pil(img):
        return _pil.autocontrast(img)
    _check_image(img, "autocontrast")
    im = _Img(img)
    x = im.t
    _channels(x, [1, 3])
    minimum = x.amin(dim=(-2, -1), keepdim=True)
    maximum = x.amax(dim=(-2, -1), keepdim=True)
    scale = im.bound / (maximum - minimum)
    flat = flambeau.isfinite(scale).logical_not()
    minimum = flambeau.where(flat, flambeau.zeros_like(minimum), minimum)
    scale = flambeau.where(flat, flambeau.ones_like(scale), scale)
    return im.out(im.cast(((x - minimum) * scale).clamp(0, im.bound)))


def _equalize_channel(chan):
    """torchvision's _scale_channel on one uint8 (H, W) numpy channel: the cumulative histogram,
    spread over 255 steps, as a lookup table."""
    hist = np.bincount(chan.reshape(-1), minlength=256).astype(np.int64)
    nonzero = hist[hist != 0]
    step = nonzero[:-1].sum() // 255
    if step == 0:
        return chan
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255).astype(np.uint8)
    return lut[chan]


def equalize(img):
    """Histogram equalisation of each channel of a uint8 image."""
    if _pil.is_pil(img):
        return _pil.equalize(img)
    _check_image(img, "equalize")
    if not _is_uint8(img):
        raise TypeError(f"equalize: Only uint8 images are supported, but found {img.dtype}")
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            return _equalize_channel(img)
        return np.stack([_equalize_channel(img[:, :, k]) for k in range(img.shape[2])], axis=2)
    if not 3 <= img.dim() <= 4:
        raise TypeError(f"equalize: Input image tensor should have 3 or 4 dimensions, but found {img.dim()}")
    _channels(img, [1, 3])
    arr = img.detach().cpu().numpy()
    out = np.empty_like(arr)
    for idx in np.ndindex(arr.shape[:-2]):  # every (image,) channel on its own
        out[idx] = _equalize_channel(arr[idx])
    return flambeau.from_numpy(out).to(img.device)


class _RandomOp:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if _rand() < self.p:
            return self._apply(img)
        return img


class RandomAdjustSharpness(_RandomOp):
    def __init__(self, sharpness_factor, p=0.5):
        super().__init__(p)
        self.sharpness_factor = sharpness_factor

    def _apply(self, img):
        return adjust_sharpness(img, self.sharpness_factor)

    def __repr__(self):
        return f"{self.__class__.__name__}(sharpness_factor={self.sharpness_factor},p={self.p})"


class RandomPosterize(_RandomOp):
    def __init__(self, bits, p=0.5):
        super().__init__(p)
        self.bits = bits

    def _apply(self, img):
        return posterize(img, self.bits)

    def __repr__(self):
        return f"{self.__class__.__name__}(bits={self.bits},p={self.p})"


class RandomSolarize(_RandomOp):
    def __init__(self, threshold, p=0.5):
        super().__init__(p)
        self.threshold = threshold

    def _apply(self, img):
        return solarize(img, self.threshold)

    def __repr__(self):
        return f"{self.__class__.__name__}(threshold={self.threshold},p={self.p})"


class RandomAutocontrast(_RandomOp):
    def _apply(self, img):
        return autocontrast(img)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomEqualize(_RandomOp):
    def _apply(self, img):
        return equalize(img)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"
