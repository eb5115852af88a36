"""Image transforms with torchvision's names and semantics.

Images are PIL images (when Pillow is installed; a PIL image gives back a PIL image, through the
Pillow calls torchvision makes: see _pil.py), numpy arrays (H, W) or (H, W, C) -- what
flambeau.datasets return -- or flambeau tensors (..., C, H, W). ToTensor turns a PIL image or an array
into a float tensor (C, H, W), scaled to [0, 1] when the data is uint8. Random transforms draw from
flambeau's global generator, so flambeau.manual_seed makes them reproducible.
"""
import math
import numbers

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil

__all__ = ["Compose", "ToTensor", "PILToTensor", "ToPILImage", "Normalize", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomCrop", "CenterCrop", "Pad", "RandomErasing", "Lambda"]


def _rand():
    return float(flambeau.rand(1).item())


def _randint(low, high):
    """An int uniformly in [low, high)."""
    return int(flambeau.randint(low, high, (1,)).item())


def _is_array(img):
    return isinstance(img, np.ndarray)


def _size_hw(img):
    if _is_array(img):
        return img.shape[0], img.shape[1]
    if _pil.is_pil(img):
        return _pil.size_hw(img)
    return img.shape[-2], img.shape[-1]


class Compose:
    """Applies transforms in order."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        format_string = self.__class__.__name__ + "("
        for t in self.transforms:
            format_string += "\n"
            format_string += f"    {t}"
        format_string += "\n)"
        return format_string


class ToTensor:
    """PIL image or numpy array (H, W) or (H, W, C) -> tensor (C, H, W); uint8 data becomes float32
    divided by 255 (a PIL image of mode 'I', 'I;16' or 'F' keeps int32, int16, float32 values)."""

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("pic should be PIL Image or ndarray. Got a Tensor")
        if _pil.is_pil(pic):
            pic = _pil.to_array(pic)
        if not _is_array(pic):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        if pic.ndim == 2:
            pic = pic[:, :, None]
        arr = np.ascontiguousarray(pic.transpose((2, 0, 1)))
        if arr.dtype == np.uint8:
            return flambeau.from_numpy(arr.astype(np.float32) / np.float32(255))
        if arr.dtype == np.float64:
            return flambeau.from_numpy(arr.copy())
        if arr.dtype == np.bool_:
            return flambeau.from_numpy(arr.copy())
        if arr.dtype in (np.int64, np.int32, np.int16, np.int8):  # kept, as torchvision's ToTensor
            return flambeau.from_numpy(arr.copy())
        if arr.dtype.kind in "iu":  # uint16/32/64: no such tensors in flambeau
            return flambeau.from_numpy(arr.astype(np.int64))
        return flambeau.from_numpy(arr.astype(np.float32))

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class PILToTensor:
    """PIL image -> tensor (C, H, W) of the same values and dtype (no scaling)."""

    def __call__(self, pic):
        if not _pil.is_pil(pic):
            raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
        arr = np.array(pic, copy=True)
        if arr.dtype == np.uint16:  # mode 'I;16': no uint16 tensors in flambeau; int32 keeps the values
            arr = arr.astype(np.int32)
        arr = arr.reshape(pic.size[1], pic.size[0], _pil.num_channels(pic))
        return flambeau.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __repr__(self):
        return f"{self.__class__.__name__}()"


def _to_pil_image(pic, mode=None):
    if isinstance(pic, Tensor):
        if pic.dim() not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.dim()} dimensions.")
        arr = pic.detach().cpu().numpy()
        if arr.ndim == 3:
            arr = arr.transpose(1, 2, 0)
    elif _is_array(pic):
        arr = pic
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    return _pil.from_array(arr, mode)


class ToPILImage:
    """Tensor (C, H, W) or array (H, W, C) -> PIL image; float data is multiplied by 255 and truncated
    to uint8 unless mode='F'. The mode is inferred from the channels (L, LA, RGB, RGBA) and dtype
    when not given. Needs Pillow."""

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        return _to_pil_image(pic, self.mode)

    def __repr__(self):
        return f"{self.__class__.__name__}(" + (f"mode={self.mode}" if self.mode is not None else "") + ")"


class Normalize:
    """(tensor - mean) / std per channel of a (..., C, H, W) float tensor."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace
        self._cache = {}

    def _constants(self, c, dtype, device):
        key = (c, str(dtype), str(device))
        hit = self._cache.get(key)
        if hit is None:
            mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
            std = np.asarray(self.std, dtype=np.float64).reshape(-1)
            if mean.size not in (1, c) or std.size not in (1, c):
                raise ValueError(f"Normalize: mean and std must have 1 or {c} values")
            if (std == 0).any():
                raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading "
                                 "to division by zero.")
            m = np.broadcast_to(mean, (c,)).reshape(c, 1, 1).copy()
            sd = np.broadcast_to(std, (c,)).reshape(c, 1, 1).copy()
            hit = (flambeau.from_numpy(m).to(dtype=dtype, device=device),
                   flambeau.from_numpy(sd).to(dtype=dtype, device=device))
            if not flambeau._C._is_inference_mode_enabled():  # an inference tensor cached would be one forever
                self._cache[key] = hit
        return hit

    def __call__(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Input tensor should be a torch tensor. Got {type(tensor)}.")
        if not tensor.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.dim() < 3:
            raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                             f"tensor.size() = {tuple(tensor.shape)}")
        m, s = self._constants(tensor.shape[-3], tensor.dtype, tensor.device)
        if self.inplace:
            return tensor.sub_(m).div_(s)
        return (tensor - m) / s

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


def _hflip(img):
    if _is_array(img):
        return np.ascontiguousarray(img[:, ::-1])
    if _pil.is_pil(img):
        return _pil.hflip(img)
    return img.flip(-1)  # one reversed-row copy (an arange and an index_select before)


def _vflip(img):
    if _is_array(img):
        return np.ascontiguousarray(img[::-1])
    if _pil.is_pil(img):
        return _pil.vflip(img)
    return img.flip(-2)


class RandomHorizontalFlip:
    """Flips the image left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if _rand() < self.p:
            return _hflip(img)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip:
    """Flips the image upside down with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if _rand() < self.p:
            return _vflip(img)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


def _setup_size(size, error_msg):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size


def _parse_padding(padding):
    """torchvision's padding argument -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (padding[0],) * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a "
                     f"{len(padding)} element tuple")


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
                 "symmetric": "symmetric"}


def _pad(img, padding, fill=0, padding_mode="constant"):
    left, top, right, bottom = _parse_padding(padding)
    if padding_mode not in _NP_PAD_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    if _pil.is_pil(img):
        return _pil.pad(img, left, top, right, bottom, fill, padding_mode)
    if _is_array(img):
        if padding_mode == "constant" and min(left, top, right, bottom) >= 0:
            # A filled array and one slice assignment: np.pad took 35 us of RandomCrop(32, padding=4)'s 61.
            out = np.full((img.shape[0] + top + bottom, img.shape[1] + left + right) + img.shape[2:], fill,
                          dtype=img.dtype)
            out[top:top + img.shape[0], left:left + img.shape[1]] = img
            return out
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        if padding_mode == "constant":
            return np.pad(img, widths, mode="constant", constant_values=fill)
        return np.pad(img, widths, mode=_NP_PAD_MODES[padding_mode])
    from flambeau.nn import functional as F
    if padding_mode == "constant":
        return F.pad(img, (left, right, top, bottom), value=float(fill))
    mode = {"edge": "replicate", "reflect": "reflect"}.get(padding_mode)
    if mode is None:
        # symmetric: reflect including the edge pixel
        h, w = img.shape[-2], img.shape[-1]
        hi = np.arange(-top, h + bottom)
        wi = np.arange(-left, w + right)
        hi = np.where(hi < 0, -hi - 1, np.where(hi >= h, 2 * h - hi - 1, hi))
        wi = np.where(wi < 0, -wi - 1, np.where(wi >= w, 2 * w - wi - 1, wi))
        out = img.index_select(img.dim() - 2, flambeau.from_numpy(hi.astype(np.int64)).to(img.device))
        return out.index_select(img.dim() - 1, flambeau.from_numpy(wi.astype(np.int64)).to(img.device))
    return F.pad(img, (left, right, top, bottom), mode=mode)


def _crop(img, top, left, height, width):
    if _is_array(img):
        return np.ascontiguousarray(img[top:top + height, left:left + width])
    if _pil.is_pil(img):
        return _pil.crop(img, top, left, height, width)
    return img[..., top:top + height, left:left + width]


class Pad:
    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        return _pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self):
        return (f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class CenterCrop:
    def __init__(self, size):
        self.size = _setup_size(size, "Please provide only two dimensions (h, w) for size.")

    def __call__(self, img):
        h, w = _size_hw(img)
        th, tw = self.size
        if th > h or tw > w:
            pad_lr = max(tw - w, 0)
            pad_tb = max(th - h, 0)
            img = _pad(img, (pad_lr // 2, pad_tb // 2, (pad_lr + 1) // 2, (pad_tb + 1) // 2))
            h, w = _size_hw(img)
        top = int(round((h - th) / 2.0))
        left = int(round((w - tw) / 2.0))
        return _crop(img, top, left, th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size})"


class RandomCrop:
    """Pads (optionally) then crops a random size[0] x size[1] window."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = tuple(_setup_size(size, "Please provide only two dimensions (h, w) for size."))
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        h, w = _size_hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size "
                             f"{(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        i = _randint(0, h - th + 1)
        j = _randint(0, w - tw + 1)
        return i, j, th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = _pad(img, self.padding, self.fill, self.padding_mode)
        height, width = _size_hw(img)
        if self.pad_if_needed and width < self.size[1]:
            padding = [self.size[1] - width, 0]
            img = _pad(img, padding, self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            padding = [0, self.size[0] - height]
            img = _pad(img, padding, self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return _crop(img, i, j, h, w)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomErasing:
    """With probability p, erases a random rectangle of a (..., C, H, W) tensor (area fraction in
    `scale`, aspect ratio in `ratio`, log-uniform) with `value` (a number, a per-channel sequence,
    or 'random' for normal noise)."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, (tuple, list)):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, (tuple, list)):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            raise ValueError("Scale and ratio should be of kind (min, max)")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * (scale[0] + (scale[1] - scale[0]) * _rand())
            aspect_ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * _rand())
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = flambeau.randn((img_c, h, w), dtype=img.dtype, device=img.device)
            else:
                v = flambeau.tensor(value, dtype=img.dtype, device=img.device).reshape(-1, 1, 1)
            i = _randint(0, img_h - h + 1)
            j = _randint(0, img_w - w + 1)
            return i, j, h, w, v
        return 0, 0, img_h, img_w, img

    def __call__(self, img):
        if not isinstance(img, Tensor):
            raise TypeError(f"RandomErasing expects a tensor image (..., C, H, W), got {type(img)}")
        if _rand() < self.p:
            if isinstance(self.value, (int, float)):
                value = [float(self.value)]
            elif isinstance(self.value, str):
                value = None
            elif isinstance(self.value, (list, tuple)):
                value = [float(v) for v in self.value]
            else:
                value = self.value
            if value is not None and len(value) not in (1, img.shape[-3]):
                raise ValueError("If value is a sequence, it should have either a single value or "
                                 f"{img.shape[-3]} (number of input channels)")
            x, y, h, w, v = self.get_params(img, scale=self.scale, ratio=self.ratio, value=value)
            if v is img:
                return img
            return _erase(img, x, y, h, w, v, self.inplace)
        return img

    def __repr__(self):
        return (f"{self.__class__.__name__}(p={self.p}, scale={self.scale}, ratio={self.ratio}, "
                f"value={self.value}, inplace={self.inplace})")


def _erase(img, i, j, h, w, v, inplace=False):
    if not inplace:
        img = img.clone()
    img[..., i:i + h, j:j + w] = v.expand(tuple(img[..., i:i + h, j:j + w].shape))
    return img


class Lambda:
    """Applies a user function."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{self.__class__.__name__}()"
