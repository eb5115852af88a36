"""Resizing transforms with torchvision's names and semantics: InterpolationMode, Resize,
RandomResizedCrop, FiveCrop, TenCrop.

A PIL image is resized by Pillow (Image.resize with the mode's filter, always antialiased), as
torchvision does, and stays a PIL image. Otherwise resizing follows torchvision's tensor path
(F.interpolate, antialiased for bilinear / bicubic by default): a tensor (..., C, H, W) is resized as
is; a numpy image (H, W) or (H, W, C) is resized as the tensor of its values and comes back as an
array of its dtype (integer images rounded, and clamped for bicubic). PIL's own resampling differs from
the tensor path by rounding (torchvision's documented caveat), so arrays follow the tensor numbers.
"""
import math
import numbers
from enum import Enum

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil
from .transforms import _crop, _hflip, _is_array, _rand, _randint, _setup_size, _size_hw, _vflip

__all__ = ["InterpolationMode", "Resize", "RandomResizedCrop", "FiveCrop", "TenCrop"]


class InterpolationMode(Enum):
    """torchvision's interpolation modes (the value is F.interpolate's mode name)."""
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# PIL's integer filter codes, which torchvision still accepts
_FROM_INT = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
             4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}


def _interpolation(mode):
    if isinstance(mode, int) and not isinstance(mode, bool):
        if mode not in _FROM_INT:
            raise ValueError(f"interpolation {mode} is not a PIL filter code (0, 1, 2, 3, 4, 5)")
        mode = _FROM_INT[mode]
    if not isinstance(mode, InterpolationMode):
        raise TypeError("Argument interpolation should be a InterpolationMode or a corresponding "
                        "Pillow integer constant")
    return mode


_PIL_ONLY = (InterpolationMode.BOX, InterpolationMode.HAMMING, InterpolationMode.LANCZOS)


def _tensor_interpolation(mode):
    """The mode, if the tensor path has it (BOX, HAMMING and LANCZOS are Pillow's filters only)."""
    mode = _interpolation(mode)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT,
                    InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
        raise NotImplementedError(f"flambeau.transforms: interpolation {mode} needs a PIL image; tensors and "
                                  "arrays have NEAREST, NEAREST_EXACT, BILINEAR, BICUBIC")
    return mode


def _output_size(h, w, size, max_size):
    """torchvision's _compute_resized_output_size: an int (or 1-list) matches the shorter edge and
    keeps the aspect ratio (the longer edge capped by max_size)."""
    if isinstance(size, numbers.Number) or len(size) == 1:
        requested = int(size) if isinstance(size, numbers.Number) else int(size[0])
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller "
                         "edge, i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    return int(size[0]), int(size[1])


def _resize_tensor(img, out_hw, mode, antialias):
    """torchvision.transforms.functional_tensor.resize on a (..., C, H, W) tensor."""
    if antialias and mode not in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
        antialias = False
    lead = tuple(img.shape[:-3])
    x = img.reshape((-1,) + tuple(img.shape[-3:])) if img.dim() != 3 else img.unsqueeze(0)
    out_dtype = x.dtype
    if not x.is_floating_point():
        x = x.to(flambeau.float32)
    smooth = mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
    x = flambeau.nn.functional.interpolate(x, size=list(out_hw), mode=mode.value,
                                           align_corners=False if smooth else None, antialias=antialias)
    if mode == InterpolationMode.BICUBIC and out_dtype == flambeau.uint8:
        x = x.clamp(min=0, max=255)
    if out_dtype != x.dtype:
        x = flambeau.round(x).to(out_dtype)
    return x.reshape(lead + tuple(x.shape[-3:])) if img.dim() != 3 else x.squeeze(0)


def _resize_array(arr, out_hw, mode, antialias):
    two_d = arr.ndim == 2
    chw = arr[None] if two_d else arr.transpose(2, 0, 1)
    x = flambeau.from_numpy(np.ascontiguousarray(chw, dtype=np.float64 if arr.dtype == np.float64
                                                 else np.float32))
    out = _resize_tensor(x, out_hw, mode, antialias).numpy()
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    out = out.astype(arr.dtype)
    return np.ascontiguousarray(out[0] if two_d else out.transpose(1, 2, 0))


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    mode = _interpolation(interpolation)
    h, w = _size_hw(img)
    out_hw = _output_size(h, w, size, max_size)
    if tuple(out_hw) == (h, w):
        return img
    if _pil.is_pil(img):
        return _pil.resize(img, out_hw, mode)
    mode = _tensor_interpolation(mode)
    if _is_array(img):
        return _resize_array(img, out_hw, mode, antialias)
    if isinstance(img, Tensor):
        return _resize_tensor(img, out_hw, mode, antialias)
    raise TypeError(f"img should be a PIL Image, a numpy array or a Tensor. Got {type(img)}")


class Resize:
    """Resize to `size` ((h, w), or an int for the shorter edge keeping the aspect ratio)."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        if not isinstance(size, (int, list, tuple)) or isinstance(size, bool):
            raise TypeError(f"Size should be int or sequence. Got {type(size)}")
        if isinstance(size, (list, tuple)) and len(size) not in (1, 2):
            raise ValueError("If size is a sequence, it should have 1 or 2 values")
        self.size = size
        self.max_size = max_size
        self.interpolation = _interpolation(interpolation)
        self.antialias = antialias

    def __call__(self, img):
        return resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self):
        detail = f"(size={self.size}, interpolation={self.interpolation.value}, max_size={self.max_size}, " \
                 f"antialias={self.antialias})"
        return f"{self.__class__.__name__}{detail}"


class RandomResizedCrop:
    """A crop of random area fraction (`scale`) and aspect ratio (`ratio`, log-uniform) resized to
    `size` (the Inception-style training crop)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
        self.size = tuple(_setup_size(size, "Please provide only two dimensions (h, w) for size."))
        if not isinstance(scale, (list, tuple)):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, (list, tuple)):
            raise TypeError("Ratio should be a sequence")
        self.interpolation = _interpolation(interpolation)
        self.antialias = antialias
        self.scale = scale
        self.ratio = ratio

    @staticmethod
    def get_params(img, scale, ratio):
        height, width = _size_hw(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * (scale[0] + (scale[1] - scale[0]) * _rand())
            aspect_ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * _rand())
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                i = _randint(0, height - h + 1)
                j = _randint(0, width - w + 1)
                return i, j, h, w
        # Fallback to central crop
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height
            w = int(round(h * max(ratio)))
        else:
            w = width
            h = height
        i = (height - h) // 2
        j = (width - w) // 2
        return i, j, h, w

    def __call__(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return resize(_crop(img, i, j, h, w), list(self.size), self.interpolation, None, self.antialias)

    def __repr__(self):
        return (f"{self.__class__.__name__}(size={self.size}, scale={tuple(round(s, 4) for s in self.scale)}, "
                f"ratio={tuple(round(r, 4) for r in self.ratio)}, interpolation={self.interpolation.value}, "
                f"antialias={self.antialias})")


def _five_crop(img, size):
    h, w = _size_hw(img)
    ch, cw = size
    if ch > h or cw > w:
        raise ValueError(f"Requested crop size {size} is bigger than input size {(h, w)}")
    tl = _crop(img, 0, 0, ch, cw)
    tr = _crop(img, 0, w - cw, ch, cw)
    bl = _crop(img, h - ch, 0, ch, cw)
    br = _crop(img, h - ch, w - cw, ch, cw)
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return tl, tr, bl, br, _crop(img, top, left, ch, cw)


class FiveCrop:
    """The four corner crops and the center crop, as a tuple."""

    def __init__(self, size):
        self.size = tuple(_setup_size(size, "Please provide only two dimensions (h, w) for size."))

    def __call__(self, img):
        return _five_crop(img, self.size)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size})"


class TenCrop:
    """FiveCrop of the image and of its horizontal (or vertical) flip."""

    def __init__(self, size, vertical_flip=False):
        self.size = tuple(_setup_size(size, "Please provide only two dimensions (h, w) for size."))
        self.vertical_flip = vertical_flip

    def __call__(self, img):
        first = _five_crop(img, self.size)
        flipped = _vflip(img) if self.vertical_flip else _hflip(img)
        return first + _five_crop(flipped, self.size)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, vertical_flip={self.vertical_flip})"
