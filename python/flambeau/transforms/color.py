"""Colour and blur transforms with torchvision's names and tensor-path arithmetic: Grayscale,
RandomGrayscale, ColorJitter (brightness, contrast, saturation, hue), GaussianBlur, invert,
adjust_gamma, RandomInvert, ConvertImageDtype.

Images are tensors (..., C, H, W) or numpy arrays (H, W[, C]). The arithmetic is done in float; an
integer image keeps torchvision's integer steps (a blend is clamped to [0, 255] and truncated as
`.to(torch.uint8)` truncates, grayscale truncates, hue goes through convert_image_dtype), so a
uint8 image gets the numbers torchvision gives a uint8 tensor. A PIL image goes through Pillow's
ImageEnhance / convert calls, as torchvision's PIL path does, and stays a PIL image.
"""
import numbers

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil
from .transforms import _is_array, _rand

__all__ = ["Grayscale", "RandomGrayscale", "ColorJitter", "GaussianBlur", "ConvertImageDtype", "RandomInvert"]

_INT_DTYPES = ("uint8", "int8", "int16", "int32", "int64")


def _dtype_name(dt):
    return str(dt).split(".")[-1]


class _Img:
    """A float (..., C, H, W) tensor plus what is needed to give the image back in its own form."""

    def __init__(self, img):
        self.array = _is_array(img)
        if self.array:
            self.two_d = img.ndim == 2
            self.np_dtype = img.dtype
            chw = img[None] if self.two_d else img.transpose(2, 0, 1)
            self.integer = img.dtype.kind in "iu"
            ft = np.float64 if img.dtype == np.float64 else np.float32
            self.t = flambeau.from_numpy(np.ascontiguousarray(chw, dtype=ft))
        elif isinstance(img, Tensor):
            self.dtype = img.dtype
            self.integer = _dtype_name(img.dtype) in _INT_DTYPES
            self.t = img.to(flambeau.float32) if not img.is_floating_point() else img
        else:
            raise TypeError(f"img should be a Tensor or a numpy array. Got {type(img)}")
        if self.t.dim() < 3:
            raise TypeError(f"Tensor is not a torch image (expected (..., C, H, W), got shape "
                            f"{tuple(self.t.shape)}).")
        self.bound = 255.0 if self.integer else 1.0

    def cast(self, x):
        """`.to(img.dtype)` of torchvision's integer path: truncation toward zero."""
        return flambeau.trunc(x) if self.integer else x

    def out(self, x):
        if self.array:
            a = x.numpy()
            a = a[0] if self.two_d else a.transpose(1, 2, 0)
            return np.ascontiguousarray(a.astype(self.np_dtype))
        return x.to(self.dtype) if self.integer else x


def _channels(x, allowed):
    c = x.shape[-3]
    if c not in allowed:
        raise TypeError(f"Input image tensor permitted channel values are {allowed}, but found {c}")


def _blend(im, img1, img2, ratio):
    ratio = float(ratio)
    return im.cast((ratio * img1 + (1.0 - ratio) * img2).clamp(0, im.bound))


def _gray(im, x):
    if x.shape[-3] == 3:
        r, g, b = x.unbind(dim=-3)
        return im.cast(0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(dim=-3)
    return x.clone()


def rgb_to_grayscale(img, num_output_channels=1):
    if _pil.is_pil(img):
        return _pil.to_grayscale(img, num_output_channels)
    im = _Img(img)
    _channels(im.t, [1, 3])
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    g = _gray(im, im.t)
    if num_output_channels == 3:
        g = g.expand(tuple(im.t.shape[:-3]) + (3,) + tuple(im.t.shape[-2:])).contiguous()
    return im.out(g)


def _brightness(im, x, factor):
    if factor < 0:
        raise ValueError(f"brightness_factor ({factor}) is not non-negative.")
    _channels(x, [1, 3])
    return _blend(im, x, flambeau.zeros_like(x), factor)


def _contrast(im, x, factor):
    if factor < 0:
        raise ValueError(f"contrast_factor ({factor}) is not non-negative.")
    _channels(x, [3, 1])
    src = _gray(im, x) if x.shape[-3] == 3 else x
    mean = flambeau.mean(src, dim=(-3, -2, -1), keepdim=True)
    return _blend(im, x, mean, factor)


def _saturation(im, x, factor):
    if factor < 0:
        raise ValueError(f"saturation_factor ({factor}) is not non-negative.")
    _channels(x, [1, 3])
    if x.shape[-3] == 1:
        return x
    return _blend(im, x, _gray(im, x), factor)


def _rgb2hsv(img):
    r, g, b = img.unbind(dim=-3)
    maxc = flambeau.max(img, dim=-3).values
    minc = flambeau.min(img, dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = flambeau.ones_like(maxc)
    s = cr / flambeau.where(eqc, ones, maxc)
    cr_divisor = flambeau.where(eqc, ones, cr)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = hr + hg + hb
    h = flambeau.fmod((h / 6.0 + 1.0), 1.0)
    return flambeau.stack((h, s, maxc), dim=-3)


def _hsv2rgb(img):
    h, s, v = img.unbind(dim=-3)
    i = flambeau.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.to(dtype=flambeau.int64) % 6
    p = flambeau.clamp((v * (1.0 - s)), 0.0, 1.0)
    q = flambeau.clamp((v * (1.0 - s * f)), 0.0, 1.0)
    t = flambeau.clamp((v * (1.0 - s * (1.0 - f))), 0.0, 1.0)
    mask = (i.unsqueeze(dim=-3) == flambeau.arange(6, device=i.device).view(-1, 1, 1)).to(img.dtype)
    a1 = flambeau.stack((v, q, p, p, t, v), dim=-3)
    a2 = flambeau.stack((t, v, v, q, p, p), dim=-3)
    a3 = flambeau.stack((p, p, t, v, v, q), dim=-3)
    a4 = flambeau.stack((a1, a2, a3), dim=-4)
    return flambeau.einsum("...ijk, ...xijk -> ...xjk", mask, a4)


def _hue(im, x, factor):
    if not (-0.5 <= factor <= 0.5):
        raise ValueError(f"hue_factor ({factor}) is not in [-0.5, 0.5].")
    _channels(x, [1, 3])
    if x.shape[-3] == 1:
        return x
    if im.integer:
        x = x / 255.0  # convert_image_dtype(uint8 -> float32)
    h, s, v = _rgb2hsv(x).unbind(dim=-3)
    h = (h + factor) % 1.0
    out = _hsv2rgb(flambeau.stack((h, s, v), dim=-3))
    if im.integer:
        out = flambeau.trunc(out * (255 + 1.0 - 1e-3))  # convert_image_dtype(float32 -> uint8)
    return out


def adjust_brightness(img, brightness_factor):
    if _pil.is_pil(img):
        return _pil.adjust_brightness(img, brightness_factor)
    im = _Img(img)
    return im.out(_brightness(im, im.t, brightness_factor))


def adjust_contrast(img, contrast_factor):
    if _pil.is_pil(img):
        return _pil.adjust_contrast(img, contrast_factor)
    im = _Img(img)
    return im.out(_contrast(im, im.t, contrast_factor))


def adjust_saturation(img, saturation_factor):
    if _pil.is_pil(img):
        return _pil.adjust_saturation(img, saturation_factor)
    im = _Img(img)
    return im.out(_saturation(im, im.t, saturation_factor))


def adjust_hue(img, hue_factor):
    if _pil.is_pil(img):
        return _pil.adjust_hue(img, hue_factor)
    im = _Img(img)
    return im.out(_hue(im, im.t, hue_factor))


def invert(img):
    """bound - img (bound 255 for integer images, 1 for float)."""
    if _pil.is_pil(img):
        return _pil.invert(img)
    im = _Img(img)
    _channels(im.t, [1, 3])
    return im.out(im.bound - im.t)


def adjust_gamma(img, gamma, gain=1):
    """gain * img ** gamma on [0, 1] (integer images through convert_image_dtype)."""
    if gamma < 0:
        raise ValueError("Gamma should be a non-negative real number")
    if _pil.is_pil(img):
        return _pil.adjust_gamma(img, gamma, gain)
    im = _Img(img)
    x = im.t / 255.0 if im.integer else im.t
    out = (gain * x ** gamma).clamp(0, 1)
    if im.integer:
        out = flambeau.trunc(out * (255 + 1.0 - 1e-3))
    return im.out(out)


class RandomInvert:
    """invert with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if _rand() < self.p:
            return invert(img)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class Grayscale:
    def __init__(self, num_output_channels=1):
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        return rgb_to_grayscale(img, num_output_channels=self.num_output_channels)

    def __repr__(self):
        return f"{self.__class__.__name__}(num_output_channels={self.num_output_channels})"


class RandomGrayscale:
    """Grayscale with probability p, keeping the number of channels."""

    def __init__(self, p=0.1):
        self.p = p

    def __call__(self, img):
        if _pil.is_pil(img):
            c = _pil.num_channels(img)
        else:
            c = img.shape[-1] if _is_array(img) and img.ndim == 3 else (1 if _is_array(img) else img.shape[-3])
        if _rand() < self.p:
            return rgb_to_grayscale(img, num_output_channels=c)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, applied in a random order."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def _check_input(value, name, center=1, bound=(0, float("inf")), clip_first_on_zero=True):
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"If {name} is a single number, it must be non negative.")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            value = [float(value[0]), float(value[1])]
        else:
            raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"{name} values should be between {bound}, but got {value}.")
        if value[0] == value[1] == center:
            return None
        return tuple(value)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        fn_idx = flambeau.randperm(4)

        def draw(rng):
            return None if rng is None else float(rng[0] + (rng[1] - rng[0]) * _rand())
        return fn_idx, draw(brightness), draw(contrast), draw(saturation), draw(hue)

    def __call__(self, img):
        fn_idx, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        if _pil.is_pil(img):
            steps = {0: (_pil.adjust_brightness, b), 1: (_pil.adjust_contrast, c),
                     2: (_pil.adjust_saturation, s), 3: (_pil.adjust_hue, h)}
            for fn_id in fn_idx.tolist():
                fn, factor = steps[fn_id]
                if factor is not None:
                    img = fn(img, factor)
            return img
        im = _Img(img)
        x = im.t
        for fn_id in fn_idx.tolist():
            if fn_id == 0 and b is not None:
                x = _brightness(im, x, b)
            elif fn_id == 1 and c is not None:
                x = _contrast(im, x, c)
            elif fn_id == 2 and s is not None:
                x = _saturation(im, x, s)
            elif fn_id == 3 and h is not None:
                x = _hue(im, x, h)
        return im.out(x)

    def __repr__(self):
        return (f"{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


def _gaussian_kernel1d(kernel_size, sigma):
    ksize_half = (kernel_size - 1) * 0.5
    x = np.linspace(-ksize_half, ksize_half, kernel_size, dtype=np.float32)
    pdf = np.exp(-0.5 * (x / np.float32(sigma)) ** 2).astype(np.float32)
    return (pdf / pdf.sum(dtype=np.float32)).astype(np.float32)


def gaussian_blur(img, kernel_size, sigma=None):
    """torchvision's tensor gaussian_blur: a separable Gaussian kernel, reflect padding, one
    depthwise conv2d; integer images are rounded. sigma defaults to 0.3 * ((k - 1) * 0.5 - 1) + 0.8."""
    if isinstance(kernel_size, numbers.Number):
        kernel_size = [int(kernel_size), int(kernel_size)]
    if sigma is None:
        sigma = [ksize * 0.15 + 0.35 for ksize in kernel_size]
    if isinstance(sigma, numbers.Number):
        sigma = [float(sigma), float(sigma)]
    if _pil.is_pil(img):  # torchvision blurs the tensor of the PIL image's values and converts back
        out = gaussian_blur(np.array(img), kernel_size, sigma)
        return _pil.from_array(out, mode=img.mode)
    im = _Img(img)
    x = im.t
    kx = _gaussian_kernel1d(kernel_size[0], sigma[0])
    ky = _gaussian_kernel1d(kernel_size[1], sigma[1])
    kernel2d = np.outer(ky, kx).astype(np.float32)
    c = x.shape[-3]
    lead = tuple(x.shape[:-3])
    x4 = x.reshape((-1,) + tuple(x.shape[-3:]))
    w = flambeau.from_numpy(np.ascontiguousarray(np.broadcast_to(kernel2d, (c, 1) + kernel2d.shape)))
    w = w.to(dtype=x.dtype, device=x.device)
    padding = [kernel_size[0] // 2, kernel_size[0] // 2, kernel_size[1] // 2, kernel_size[1] // 2]
    x4 = flambeau.nn.functional.pad(x4, padding, mode="reflect")
    out = flambeau.nn.functional.conv2d(x4, w, groups=c).reshape(lead + (c,) + tuple(x.shape[-2:]))
    if im.integer:
        out = flambeau.round(out)
    return im.out(out)


class GaussianBlur:
    """Blur with a Gaussian of standard deviation drawn uniformly from `sigma` (or fixed)."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0)):
        if isinstance(kernel_size, numbers.Number):
            kernel_size = (int(kernel_size), int(kernel_size))
        if len(kernel_size) != 2:
            raise ValueError("Kernel size should be a tuple/list of two integers")
        for ks in kernel_size:
            if ks <= 0 or ks % 2 == 0:
                raise ValueError("Kernel size value should be an odd and positive number.")
        if isinstance(sigma, numbers.Number):
            if sigma <= 0:
                raise ValueError("If sigma is a single number, it must be positive.")
            sigma = (float(sigma), float(sigma))
        elif isinstance(sigma, (list, tuple)) and len(sigma) == 2:
            if not 0.0 < sigma[0] <= sigma[1]:
                raise ValueError("sigma values should be positive and of the form (min, max).")
        else:
            raise ValueError("sigma should be a single number or a list/tuple with length 2.")
        self.kernel_size = tuple(kernel_size)
        self.sigma = tuple(sigma)

    @staticmethod
    def get_params(sigma_min, sigma_max):
        return float(sigma_min + (sigma_max - sigma_min) * _rand())

    def __call__(self, img):
        s = self.get_params(self.sigma[0], self.sigma[1])
        return gaussian_blur(img, list(self.kernel_size), [s, s])

    def __repr__(self):
        return f"{self.__class__.__name__}(kernel_size={self.kernel_size}, sigma={self.sigma})"


class ConvertImageDtype:
    """A tensor image to another dtype, rescaling values (uint8 [0, 255] <-> float [0, 1])."""

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, image):
        if not isinstance(image, Tensor):
            raise TypeError("Input img should be Tensor Image")
        src, dst = _dtype_name(image.dtype), _dtype_name(self.dtype)
        if src == dst:
            return image
        if image.is_floating_point():
            if dst in ("float32", "float64"):
                return image.to(self.dtype)
            if dst != "uint8":
                raise NotImplementedError(f"ConvertImageDtype: float -> {dst} is not supported")
            eps = 1e-3
            return (image * (255 + 1.0 - eps)).to(self.dtype)
        if src != "uint8":
            raise NotImplementedError(f"ConvertImageDtype: {src} input is not supported")
        if dst in ("float32", "float64"):
            return image.to(self.dtype) / 255
        raise NotImplementedError(f"ConvertImageDtype: uint8 -> {dst} is not supported")

    def __repr__(self):
        return f"{self.__class__.__name__}()"
