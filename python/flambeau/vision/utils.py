"""torchvision.utils.make_grid and save_image.

save_image writes PNG itself (zlib + the PNG chunk format, no PIL needed): 8-bit grayscale, RGB or RGBA by
the grid's channel count. Another format (format='JPEG', a .jpg name) goes through PIL when it is installed
and raises a clear error when it is not.
"""
import math
import os

import numpy as np

import flambeau
from .._tensor import Tensor
from ..utils._png import png_bytes

__all__ = ["make_grid", "save_image", "write_png"]


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """The images of tensor (B, C, H, W) (or a list of (C, H, W)) tiled nrow to a row, `padding` pixels of
    pad_value between and around them; one-channel images are made three-channel. normalize=True maps
    value_range (default: the min and max, of each image with scale_each) to [0, 1]."""
    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if isinstance(tensor, list):
        tensor = flambeau.stack(tensor, dim=0)
    if tensor.dim() == 2:  # one image H x W
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:  # one image C x H x W
        if tensor.size(0) == 1:
            tensor = flambeau.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4:
        raise ValueError(f"make_grid: expected images of 2, 3 or 4 dimensions, got shape {tuple(tensor.shape)}")
    if tensor.size(1) == 1:
        tensor = flambeau.cat((tensor, tensor, tensor), 1)
    if normalize is True:
        tensor = tensor.clone()  # the caller's tensor is left alone
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm_ip(img, low, high):
            img.clamp_(min=low, max=high)
            img.sub_(low).div_(max(high - low, 1e-5))

        def norm_range(t):
            if value_range is not None:
                norm_ip(t, value_range[0], value_range[1])
            else:
                norm_ip(t, float(t.min()), float(t.max()))

        if scale_each is True:
            for t in tensor:  # each image of the batch on its own range
                norm_range(t)
        else:
            norm_range(tensor)
    if tensor.size(0) == 1:
        return tensor.squeeze(0)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    grid = tensor.new_full((tensor.size(1), height * ymaps + padding, width * xmaps + padding), pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid.narrow(1, y * height + padding, height - padding).narrow(
                2, x * width + padding, width - padding).copy_(tensor[k])
            k += 1
    return grid


def write_png(fp, array):
    """Writes a uint8 array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as a PNG to a path or a binary file."""
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise TypeError(f"write_png: expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if not (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        raise ValueError(f"write_png: cannot write an image of shape {arr.shape} (1, 3 or 4 channels)")
    png = png_bytes(arr)  # (the TensorBoard writer's encoder: filter 0, zlib level 6)
    if hasattr(fp, "write"):
        fp.write(png)
    else:
        with open(fp, "wb") as f:
            f.write(png)


def save_image(tensor, fp, format=None, **kwargs):
    """make_grid(tensor, **kwargs) saved as an image: values in [0, 1] scaled to 0..255 and rounded to the
    nearest integer (x * 255 + 0.5, clamped, truncated, as torchvision)."""
    grid = make_grid(tensor, **kwargs)
    with flambeau.no_grad():
        ndarr = grid.detach().mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", flambeau.uint8).numpy()
    name = os.fspath(fp) if isinstance(fp, (str, bytes, os.PathLike)) else None
    if format is None and name is not None:
        ext = os.path.splitext(name)[1].lower()
        fmt = "PNG" if ext == ".png" else ext.lstrip(".").upper()
    else:
        fmt = (format or "PNG").upper()
    if fmt == "PNG":
        write_png(fp, ndarr)
        return
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(f"save_image: without PIL only PNG can be written (asked for {fmt or 'no extension'}); "
                           "install pillow or save as .png") from None
    Image.fromarray(ndarr).save(fp, format=format)
