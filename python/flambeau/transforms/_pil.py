"""PIL images in the transforms: the same Pillow calls torchvision's PIL path makes, so a PIL image
gives the pixels torchvision gives it (Pillow's own resampling, enhancers and ImageOps, not the
tensor arithmetic of the other paths).

Pillow is optional: nothing here imports it until a PIL image is seen. `is_pil` asks whether
PIL.Image is already loaded before asking isinstance, so a pipeline of tensors and arrays never
loads Pillow, and an object can only be a PIL image if Pillow was loaded to make it.
"""
import sys

import numpy as np

# InterpolationMode's value -> PIL's resampling filter code (torchvision's pil_modes_mapping)
_PIL_FILTER = {"nearest": 0, "nearest-exact": 0, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5,
               "lanczos": 1}


def is_pil(img):
    mod = sys.modules.get("PIL.Image")
    return mod is not None and isinstance(img, mod.Image)


def _modules():
    from PIL import Image, ImageEnhance, ImageOps
    return Image, ImageEnhance, ImageOps


def num_channels(img):
    return len(img.getbands())


def dimensions(img):
    """[channels, height, width]."""
    width, height = img.size
    return [num_channels(img), height, width]


def size_hw(img):
    return img.size[1], img.size[0]


def filter_code(mode):
    return _PIL_FILTER[mode.value]


# ---- conversions --------------------------------------------------------------------------------
def to_array(pic, scale_binary=True):
    """(H, W, C) numpy array of the image's values in the dtype torchvision's to_tensor reads them
    in (int32 for 'I', int16 for 'I;16', float32 for 'F', uint8 otherwise; mode '1' as 0/255)."""
    dtypes = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16, "F": np.float32}
    arr = np.array(pic, dtypes.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1" and scale_binary:
        arr = arr * np.uint8(255)
    return arr.reshape(pic.size[1], pic.size[0], num_channels(pic))


def from_array(npimg, mode=None):
    """torchvision's to_pil_image on an (H, W, C) numpy array: the mode inferred from the channels and
    dtype, or `mode` (which must fit them); float data other than mode 'F' is scaled by 255 and
    truncated to uint8."""
    Image = _modules()[0]
    if npimg.ndim == 2:
        npimg = npimg[:, :, None]
    if npimg.ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {npimg.ndim} dimensions.")
    if npimg.shape[-1] > 4:
        raise ValueError(f"pic should not have > 4 channels. Got {npimg.shape[-1]} channels.")
    if np.issubdtype(npimg.dtype, np.floating) and mode != "F":
        npimg = (npimg * 255).astype(np.uint8)
    c = npimg.shape[2]
    if c == 1:
        npimg = npimg[:, :, 0]
        expected = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16" if sys.byteorder == "little" else "I;16B",
                    np.dtype(np.int32): "I", np.dtype(np.float32): "F"}.get(npimg.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {npimg.dtype}. "
                             f"Should be {expected}")
        mode = expected
    else:
        permitted = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}[c]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for {c}-channel inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = permitted[0]
    if mode is None:
        raise TypeError(f"Input type {npimg.dtype} is not supported")
    npimg = np.ascontiguousarray(npimg)
    if c == 1:
        return Image.fromarray(npimg) if mode in ("L", "F", "I") else \
            Image.frombuffer(mode, (npimg.shape[1], npimg.shape[0]), npimg.tobytes(), "raw", mode, 0, 1)
    if npimg.dtype != np.uint8:
        raise TypeError(f"Input type {npimg.dtype} is not supported for mode {mode}")
    # frombuffer reads the bytes as `mode` whatever the data (fromarray would infer RGB/RGBA from
    # the shape and ignore a YCbCr/HSV/CMYK request)
    return Image.frombuffer(mode, (npimg.shape[1], npimg.shape[0]), npimg.tobytes(), "raw", mode, 0, 1)


def _same_mode_from_uint8(arr, mode):
    Image = _modules()[0]
    return Image.frombuffer(mode, (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes(),
                            "raw", mode, 0, 1)


# ---- geometry -----------------------------------------------------------------------------------
def hflip(img):
    return img.transpose(_modules()[0].Transpose.FLIP_LEFT_RIGHT)


def vflip(img):
    return img.transpose(_modules()[0].Transpose.FLIP_TOP_BOTTOM)


def crop(img, top, left, height, width):
    return img.crop((left, top, left + width, top + height))


def resize(img, out_hw, mode):
    return img.resize((int(out_hw[1]), int(out_hw[0])), filter_code(mode))


def parse_fill(fill, img, name="fillcolor"):
    """torchvision's _parse_fill: one value per band, ints unless the image is 'F'."""
    c = num_channels(img)
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float)) and c > 1:
        fill = tuple([fill] * c)
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * c
        elif len(fill) != c:
            raise ValueError("The number of elements in 'fill' does not match the number of channels of the "
                             f"image ({len(fill)} != {c})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(x) for x in fill) if isinstance(fill, tuple) else int(fill)
    return {name: fill}


def pad(img, left, top, right, bottom, fill=0, padding_mode="constant"):
    Image, _, ImageOps = _modules()
    if padding_mode == "constant":
        opts = parse_fill(fill, img, name="fill")
        palette = img.getpalette() if img.mode == "P" else None
        out = ImageOps.expand(img, border=(left, top, right, bottom), **opts)  # negative borders crop
        if palette is not None:
            out.putpalette(palette)
        return out
    # edge/reflect/symmetric: negative padding crops first (torchvision's rule), then numpy pads
    p = np.array([left, top, right, bottom])
    cl, ct, cr, cb = (-np.minimum(p, 0)).tolist()
    if cl or ct or cr or cb:
        img = img.crop((cl, ct, img.width - cr, img.height - cb))
    left, top, right, bottom = np.maximum(p, 0).tolist()
    palette = img.getpalette() if img.mode == "P" else None
    arr = np.asarray(img)
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (arr.ndim - 2)
    res = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
    if palette is not None:
        res.putpalette(palette)
    return res


def rotate(img, angle, mode, expand=False, center=None, fill=None):
    return img.rotate(angle, filter_code(mode), expand, center, **parse_fill(fill, img))


def affine(img, matrix, mode, fill=None):
    Image = _modules()[0]
    return img.transform(img.size, Image.Transform.AFFINE, matrix, filter_code(mode), **parse_fill(fill, img))


# ---- colour -------------------------------------------------------------------------------------
def to_grayscale(img, num_output_channels):
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    img = img.convert("L")
    if num_output_channels == 1:
        return img
    g = np.array(img, dtype=np.uint8)
    return _same_mode_from_uint8(np.dstack([g, g, g]), "RGB")


def _enhance(kind, img, factor, name):
    if factor < 0:
        raise ValueError(f"{name} ({factor}) is not non-negative.")
    ImageEnhance = _modules()[1]
    return getattr(ImageEnhance, kind)(img).enhance(factor)


def adjust_brightness(img, factor):
    return _enhance("Brightness", img, factor, "brightness_factor")


def adjust_contrast(img, factor):
    return _enhance("Contrast", img, factor, "contrast_factor")


def adjust_saturation(img, factor):
    return _enhance("Color", img, factor, "saturation_factor")


def adjust_sharpness(img, factor):
    return _enhance("Sharpness", img, factor, "sharpness_factor")


def adjust_hue(img, hue_factor):
    """Shift the hue band of the HSV image by hue_factor * 255 (uint8 wrap-around, as torchvision)."""
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    Image = _modules()[0]
    input_mode = img.mode
    if input_mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h += np.int32(hue_factor * 255).astype(np.uint8)
    h = _same_mode_from_uint8(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert(input_mode)


def adjust_gamma(img, gamma, gain=1.0):
    if gamma < 0:
        raise ValueError("Gamma should be a non-negative real number")
    input_mode = img.mode
    img = img.convert("RGB")
    gamma_map = [int((255 + 1 - 1e-3) * gain * pow(ele / 255.0, gamma)) for ele in range(256)] * 3
    return img.point(gamma_map).convert(input_mode)


def invert(img):
    return _modules()[2].invert(img)


def posterize(img, bits):
    return _modules()[2].posterize(img, bits)


def solarize(img, threshold):
    return _modules()[2].solarize(img, threshold)


def autocontrast(img):
    return _modules()[2].autocontrast(img)


def equalize(img):
    return _modules()[2].equalize(img)
