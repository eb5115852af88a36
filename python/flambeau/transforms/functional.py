"""flambeau.transforms.functional: torchvision.transforms.functional's per-image operations, for
pipelines that apply one random draw to several images (an image and its segmentation mask):

    if random.random() > 0.5:
        image, mask = TF.hflip(image), TF.hflip(mask)
    i, j, h, w = transforms.RandomCrop.get_params(image, output_size=(256, 256))
    image, mask = TF.crop(image, i, j, h, w), TF.crop(mask, i, j, h, w)
"""
from .color import (adjust_brightness, adjust_contrast, adjust_gamma, adjust_hue,  # noqa: F401
                    adjust_saturation, gaussian_blur, invert, rgb_to_grayscale)
from .affine import affine, rotate  # noqa: F401
from .resize import InterpolationMode, _five_crop, resize  # noqa: F401
from .enhance import adjust_sharpness, autocontrast, equalize, posterize, solarize  # noqa: F401
from .transforms import CenterCrop, Normalize, PILToTensor, ToTensor, _crop, _hflip, _pad, _to_pil_image, _vflip
from . import _pil

__all__ = ["InterpolationMode", "to_tensor", "normalize", "hflip", "vflip", "crop", "center_crop", "pad",
           "resize", "resized_crop", "five_crop", "ten_crop", "adjust_brightness", "adjust_contrast",
           "adjust_saturation", "adjust_hue", "rgb_to_grayscale", "to_grayscale", "gaussian_blur", "rotate", "affine", "invert", "adjust_gamma",
           "get_dimensions", "get_image_size", "get_image_num_channels", "to_pil_image", "pil_to_tensor",
           "adjust_sharpness", "posterize", "solarize", "autocontrast", "equalize"]


def to_tensor(pic):
    return ToTensor()(pic)


def pil_to_tensor(pic):
    return PILToTensor()(pic)


def to_pil_image(pic, mode=None):
    return _to_pil_image(pic, mode)


def normalize(tensor, mean, std, inplace=False):
    return Normalize(mean, std, inplace=inplace)(tensor)


def hflip(img):
    return _hflip(img)


def vflip(img):
    return _vflip(img)


def crop(img, top, left, height, width):
    return _crop(img, top, left, height, width)


def center_crop(img, output_size):
    return CenterCrop(output_size)(img)


def pad(img, padding, fill=0, padding_mode="constant"):
    return _pad(img, padding, fill, padding_mode)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR,
                 antialias=True):
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def five_crop(img, size):
    from .transforms import _setup_size
    return _five_crop(img, tuple(_setup_size(size, "Please provide only two dimensions (h, w) for size.")))


def ten_crop(img, size, vertical_flip=False):
    from .resize import TenCrop
    return TenCrop(size, vertical_flip)(img)


def to_grayscale(img, num_output_channels=1):
    return rgb_to_grayscale(img, num_output_channels)


def get_dimensions(img):
    """[channels, height, width] of a tensor (..., C, H, W), an array (H, W[, C]) or a PIL image."""
    from .transforms import _is_array
    if _pil.is_pil(img):
        return _pil.dimensions(img)
    if _is_array(img):
        return [1 if img.ndim == 2 else img.shape[2], img.shape[0], img.shape[1]]
    if img.dim() < 2:
        raise TypeError(f"Tensor is not a torch image (got {img.dim()} dimensions).")
    c = 1 if img.dim() == 2 else img.shape[-3]
    return [c, img.shape[-2], img.shape[-1]]


def get_image_size(img):
    """[width, height]."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img)[0]
