"""Automatic augmentation policies with torchvision's names: AutoAugment (the ImageNet, CIFAR10 and
SVHN policies), RandAugment, TrivialAugmentWide, AugMix.

Each draws its ops and magnitudes from flambeau's generator (Philox), so the sequence for a seed is
flambeau's own, not torch's; each op applied with a given magnitude gives torchvision's pixels (the
ops are those of color.py, enhance.py and affine.py, on uint8 or float tensors, numpy arrays and
PIL images).
"""
import math
from enum import Enum

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil
from .affine import affine, rotate
from .color import adjust_brightness, adjust_contrast, adjust_saturation, invert
from .enhance import adjust_sharpness, autocontrast, equalize, posterize, solarize
from .resize import InterpolationMode, _interpolation

__all__ = ["AutoAugmentPolicy", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"]


def _apply_op(img, op_name, magnitude, interpolation, fill):
    """One augmentation op at one magnitude (torchvision's _apply_op: shears are tan(angle) as in the
    AutoAugment paper, about the top-left corner; translations in whole pixels)."""
    if op_name == "ShearX":
        return affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(magnitude)), 0.0],
                      interpolation=interpolation, fill=fill, center=[0, 0])
    if op_name == "ShearY":
        return affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(magnitude))],
                      interpolation=interpolation, fill=fill, center=[0, 0])
    if op_name == "TranslateX":
        return affine(img, angle=0.0, translate=[int(magnitude), 0], scale=1.0, interpolation=interpolation,
                      shear=[0.0, 0.0], fill=fill)
    if op_name == "TranslateY":
        return affine(img, angle=0.0, translate=[0, int(magnitude)], scale=1.0, interpolation=interpolation,
                      shear=[0.0, 0.0], fill=fill)
    if op_name == "Rotate":
        return rotate(img, magnitude, interpolation=interpolation, fill=fill)
    if op_name == "Brightness":
        return adjust_brightness(img, 1.0 + magnitude)
    if op_name == "Color":
        return adjust_saturation(img, 1.0 + magnitude)
    if op_name == "Contrast":
        return adjust_contrast(img, 1.0 + magnitude)
    if op_name == "Sharpness":
        return adjust_sharpness(img, 1.0 + magnitude)
    if op_name == "Posterize":
        return posterize(img, int(magnitude))
    if op_name == "Solarize":
        return solarize(img, magnitude)
    if op_name == "AutoContrast":
        return autocontrast(img)
    if op_name == "Equalize":
        return equalize(img)
    if op_name == "Invert":
        return invert(img)
    if op_name == "Identity":
        return img
    raise ValueError(f"The provided operator {op_name} is not recognized.")


def _linspace(start, end, steps):
    """torch.linspace's float32 values, which torchvision's magnitude tables are (flambeau.linspace
    gives PyTorch's CPU bits: one ulp can move int(magnitude) of a translation)."""
    return flambeau.linspace(start, end, steps, dtype=flambeau.float32).tolist()


def _posterize_bits(top, num_bins, span):
    """8 - round(arange(num_bins) / ((num_bins - 1) / span)), torchvision's posterize table."""
    return [int(top - float(flambeau.round(flambeau.tensor(i / ((num_bins - 1) / span),
                                                           dtype=flambeau.float32)).item()))
            for i in range(num_bins)]


def _dimensions(img):
    """(channels, height, width)."""
    if _pil.is_pil(img):
        return tuple(_pil.dimensions(img))
    if isinstance(img, np.ndarray):
        return (1 if img.ndim == 2 else img.shape[2]), img.shape[0], img.shape[1]
    if isinstance(img, Tensor):
        if img.dim() < 3:
            raise TypeError(f"expected an image (..., C, H, W), got shape {tuple(img.shape)}")
        return img.shape[-3], img.shape[-2], img.shape[-1]
    raise TypeError(f"img should be PIL Image, Tensor or numpy array. Got {type(img)}")


def _fill_list(img, fill, channels):
    if _pil.is_pil(img):
        return fill  # Pillow takes the number or sequence as is
    if isinstance(fill, (int, float)):
        return [float(fill)] * channels
    if fill is not None:
        return [float(f) for f in fill]
    return None


def _randint(high):
    return int(flambeau.randint(high, (1,)).item())


class AutoAugmentPolicy(Enum):
    IMAGENET = "imagenet"
    CIFAR10 = "cifar10"
    SVHN = "svhn"


_POLICIES = {
    AutoAugmentPolicy.IMAGENET: [
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)), (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)), (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)), (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)), (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)), (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ],
    AutoAugmentPolicy.CIFAR10: [
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)), (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)), (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)), (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)), (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)), (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)), (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)), (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)), (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)), (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)), (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)), (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)), (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ],
    AutoAugmentPolicy.SVHN: [
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)), (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)), (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)), (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)), (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)), (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)), (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)), (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)), (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)), (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)), (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ],
}


def _geometric_space(num_bins, height, width, shear, translate_x, translate_y, rotate_deg):
    return {
        "ShearX": (_linspace(0.0, shear, num_bins), True),
        "ShearY": (_linspace(0.0, shear, num_bins), True),
        "TranslateX": (_linspace(0.0, translate_x, num_bins), True),
        "TranslateY": (_linspace(0.0, translate_y, num_bins), True),
        "Rotate": (_linspace(0.0, rotate_deg, num_bins), True),
    }


def _colour_space(num_bins, top):
    return {name: (_linspace(0.0, top, num_bins), True) for name in ("Brightness", "Color", "Contrast", "Sharpness")}


class AutoAugment:
    """One of the policy's sub-policies, picked at random: two ops, each applied with its
    probability at its magnitude (sign random for the signed ones). Expects uint8 images (tensors
    (..., 1 or 3, H, W), arrays, PIL 'L' or 'RGB')."""

    def __init__(self, policy=AutoAugmentPolicy.IMAGENET, interpolation=InterpolationMode.NEAREST, fill=None):
        if policy not in _POLICIES:
            raise ValueError(f"The provided policy {policy} is not recognized.")
        self.policy = policy
        self.interpolation = _interpolation(interpolation)
        self.fill = fill
        self.policies = _POLICIES[policy]

    def _augmentation_space(self, num_bins, image_size):
        h, w = image_size
        space = _geometric_space(num_bins, h, w, 0.3, 150.0 / 331.0 * w, 150.0 / 331.0 * h, 30.0)
        space.update(_colour_space(num_bins, 0.9))
        space.update({"Posterize": (_posterize_bits(8, num_bins, 4), False),
                      "Solarize": (_linspace(255.0, 0.0, num_bins), False),
                      "AutoContrast": (None, False), "Equalize": (None, False), "Invert": (None, False)})
        return space

    @staticmethod
    def get_params(transform_num):
        policy_id = _randint(transform_num)
        probs = flambeau.rand((2,))
        signs = flambeau.randint(2, (2,))
        return policy_id, probs, signs

    def __call__(self, img):
        channels, height, width = _dimensions(img)
        fill = _fill_list(img, self.fill, channels)
        transform_id, probs, signs = self.get_params(len(self.policies))
        probs, signs = probs.tolist(), signs.tolist()
        op_meta = self._augmentation_space(10, (height, width))
        for i, (op_name, p, magnitude_id) in enumerate(self.policies[transform_id]):
            if probs[i] <= p:
                magnitudes, signed = op_meta[op_name]
                magnitude = float(magnitudes[magnitude_id]) if magnitude_id is not None else 0.0
                if signed and signs[i] == 0:
                    magnitude *= -1.0
                img = _apply_op(img, op_name, magnitude, self.interpolation, fill)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(policy={self.policy}, fill={self.fill})"


class RandAugment:
    """num_ops ops picked uniformly from 14, all at the same magnitude (bin `magnitude` of
    `num_magnitude_bins`), each signed op negated with probability 1/2."""

    def __init__(self, num_ops=2, magnitude=9, num_magnitude_bins=31, interpolation=InterpolationMode.NEAREST,
                 fill=None):
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.num_magnitude_bins = num_magnitude_bins
        self.interpolation = _interpolation(interpolation)
        self.fill = fill

    def _augmentation_space(self, num_bins, image_size):
        h, w = image_size
        space = {"Identity": (None, False)}
        space.update(_geometric_space(num_bins, h, w, 0.3, 150.0 / 331.0 * w, 150.0 / 331.0 * h, 30.0))
        space.update(_colour_space(num_bins, 0.9))
        space.update({"Posterize": (_posterize_bits(8, num_bins, 4), False),
                      "Solarize": (_linspace(255.0, 0.0, num_bins), False),
                      "AutoContrast": (None, False), "Equalize": (None, False)})
        return space

    def __call__(self, img):
        channels, height, width = _dimensions(img)
        fill = _fill_list(img, self.fill, channels)
        op_meta = self._augmentation_space(self.num_magnitude_bins, (height, width))
        names = list(op_meta.keys())
        for _ in range(self.num_ops):
            op_name = names[_randint(len(op_meta))]
            magnitudes, signed = op_meta[op_name]
            magnitude = float(magnitudes[self.magnitude]) if magnitudes is not None else 0.0
            if signed and _randint(2):
                magnitude *= -1.0
            img = _apply_op(img, op_name, magnitude, self.interpolation, fill)
        return img

    def __repr__(self):
        return (f"{self.__class__.__name__}(num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"num_magnitude_bins={self.num_magnitude_bins}, interpolation={self.interpolation}, "
                f"fill={self.fill})")


class TrivialAugmentWide:
    """One op picked uniformly from 14 at a magnitude picked uniformly from its (wide) range."""

    def __init__(self, num_magnitude_bins=31, interpolation=InterpolationMode.NEAREST, fill=None):
        self.num_magnitude_bins = num_magnitude_bins
        self.interpolation = _interpolation(interpolation)
        self.fill = fill

    def _augmentation_space(self, num_bins):
        space = {"Identity": (None, False)}
        space.update(_geometric_space(num_bins, 0, 0, 0.99, 32.0, 32.0, 135.0))
        space.update(_colour_space(num_bins, 0.99))
        space.update({"Posterize": (_posterize_bits(8, num_bins, 6), False),
                      "Solarize": (_linspace(255.0, 0.0, num_bins), False),
                      "AutoContrast": (None, False), "Equalize": (None, False)})
        return space

    def __call__(self, img):
        channels, _, _ = _dimensions(img)
        fill = _fill_list(img, self.fill, channels)
        op_meta = self._augmentation_space(self.num_magnitude_bins)
        op_name = list(op_meta.keys())[_randint(len(op_meta))]
        magnitudes, signed = op_meta[op_name]
        magnitude = float(magnitudes[_randint(len(magnitudes))]) if magnitudes is not None else 0.0
        if signed and _randint(2):
            magnitude *= -1.0
        return _apply_op(img, op_name, magnitude, self.interpolation, fill)

    def __repr__(self):
        return (f"{self.__class__.__name__}(num_magnitude_bins={self.num_magnitude_bins}, "
                f"interpolation={self.interpolation}, fill={self.fill})")


class AugMix:
    """mixture_width chains of 1-3 (or chain_depth) random ops, mixed with Dirichlet(alpha) weights and
    blended with the original by a Beta(alpha, alpha) weight. The mix is computed in float and cast
    back to the image's dtype (truncating, as torchvision's .to(dtype))."""

    _PARAMETER_MAX = 10

    def __init__(self, severity=3, mixture_width=3, chain_depth=-1, alpha=1.0, all_ops=True,
                 interpolation=InterpolationMode.BILINEAR, fill=None):
        if not (1 <= severity <= self._PARAMETER_MAX):
            raise ValueError(f"The severity must be between [1, {self._PARAMETER_MAX}]. Got {severity} instead.")
        self.severity = severity
        self.mixture_width = mixture_width
        self.chain_depth = chain_depth
        self.alpha = alpha
        self.all_ops = all_ops
        self.interpolation = _interpolation(interpolation)
        self.fill = fill

    def _augmentation_space(self, num_bins, image_size):
        h, w = image_size
        space = _geometric_space(num_bins, h, w, 0.3, w / 3.0, h / 3.0, 30.0)
        space.update({"Posterize": (_posterize_bits(4, num_bins, 4), False),
                      "Solarize": (_linspace(255.0, 0.0, num_bins), False),
                      "AutoContrast": (None, False), "Equalize": (None, False)})
        if self.all_ops:
            space.update(_colour_space(num_bins, 0.9))
        return space

    def _sample_dirichlet(self, params):
        """Rows of Dirichlet(params) samples: normalised Gamma draws."""
        g = flambeau.distributions.Gamma(params, flambeau.ones_like(params)).sample()
        return g / g.sum(dim=-1, keepdim=True)

    def __call__(self, orig_img):
        channels, height, width = _dimensions(orig_img)
        pil_mode = orig_img.mode if _pil.is_pil(orig_img) else None
        array = isinstance(orig_img, np.ndarray)
        if pil_mode is not None:
            from .transforms import PILToTensor
            img = PILToTensor()(orig_img)
            fill = self.fill
        elif array:
            img = flambeau.from_numpy(np.ascontiguousarray(
                (orig_img[None] if orig_img.ndim == 2 else orig_img.transpose(2, 0, 1))))
            fill = _fill_list(img, self.fill, channels)
        else:
            img = orig_img
            fill = _fill_list(img, self.fill, channels)
        if isinstance(fill, (int, float)):
            fill = [float(fill)] * channels
        op_meta = self._augmentation_space(self._PARAMETER_MAX, (height, width))
        names = list(op_meta.keys())
        orig_dims = list(img.shape)
        batch = img.reshape([1] * max(4 - img.dim(), 0) + orig_dims)
        n = batch.shape[0]
        batch_dims = [n] + [1] * (batch.dim() - 1)
        m = self._sample_dirichlet(flambeau.tensor([float(self.alpha)] * 2).expand(n, 2).contiguous())
        combined = self._sample_dirichlet(flambeau.tensor([float(self.alpha)] * self.mixture_width)
                                          .expand(n, self.mixture_width).contiguous()) * m[:, 1].reshape(n, -1)
        float_dtype = batch.dtype if batch.is_floating_point() else flambeau.float32
        mix = m[:, 0].reshape(batch_dims).to(batch.device) * batch.to(float_dtype)
        for i in range(self.mixture_width):
            aug = batch
            depth = self.chain_depth if self.chain_depth > 0 else int(flambeau.randint(1, 4, (1,)).item())
            for _ in range(depth):
                op_name = names[_randint(len(op_meta))]
                magnitudes, signed = op_meta[op_name]
                magnitude = float(magnitudes[_randint(self.severity)]) if magnitudes is not None else 0.0
                if signed and _randint(2):
                    magnitude *= -1.0
                aug = _apply_op(aug, op_name, magnitude, self.interpolation, fill)
            mix = mix + combined[:, i].reshape(batch_dims).to(batch.device) * aug.to(float_dtype)
        mix = mix.reshape(orig_dims).to(img.dtype)
        if pil_mode is not None:
            from .transforms import _to_pil_image
            return _to_pil_image(mix)
        if array:
            out = mix.numpy()
            return np.ascontiguousarray(out[0] if orig_img.ndim == 2 else out.transpose(1, 2, 0))
        return mix

    def __repr__(self):
        return (f"{self.__class__.__name__}(severity={self.severity}, mixture_width={self.mixture_width}, "
                f"chain_depth={self.chain_depth}, alpha={self.alpha}, all_ops={self.all_ops}, "
                f"interpolation={self.interpolation}, fill={self.fill})")
