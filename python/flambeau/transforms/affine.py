"""Geometric transforms by an affine warp, with torchvision's tensor-path semantics: rotate, affine,
RandomRotation, RandomAffine.

torchvision builds the inverse affine matrix of (rotation about the centre, translation, scale,
shear), turns it into a sampling grid in normalised coordinates (its own _gen_affine_grid, which
normalises after applying the matrix, so `expand=True` can cover a larger canvas) and samples the
image with grid_sample (nearest or bilinear, zeros outside); the fill colour goes through an extra
all-ones channel that marks which output pixels came from inside the image. Positive angles rotate
counter-clockwise. A PIL image is warped by Pillow (Image.rotate / Image.transform with torchvision's
matrix, which for PIL puts the default centre at (w/2, h/2) in pixel coordinates) and stays a PIL
image. Arrays (H, W[, C]) are warped as the tensor of their values and come back in
their dtype (integer images rounded).
"""
import math
import numbers

import numpy as np

import flambeau
from flambeau._tensor import Tensor

from . import _pil
from .resize import InterpolationMode, _interpolation
from .transforms import _is_array, _rand

__all__ = ["rotate", "affine", "RandomRotation", "RandomAffine"]


def _get_inverse_affine_matrix(center, angle, translate, scale, shear):
    # output pixel -> input pixel: (C * T * R * S * Sh * C^-1)^-1, with the rotation-scale-shear
    # part RSS = R(angle) * Sh(shear) as torchvision writes it
    rot = math.radians(angle)
    sx = math.radians(shear[0])
    sy = math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [d, -b, 0.0, -c, a, 0.0]
    matrix = [x / scale for x in matrix]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def _compute_affine_output_size(matrix, w, h):
    """The canvas (w, h) holding the whole transformed image (PIL's rule, as torchvision)."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    theta = np.array(matrix, dtype=np.float32).reshape(2, 3)
    new_pts = pts @ theta.T
    min_vals = new_pts.min(0) + np.array([w * 0.5, h * 0.5], dtype=np.float32)
    max_vals = new_pts.max(0) + np.array([w * 0.5, h * 0.5], dtype=np.float32)
    tol = np.float32(1e-4)  # truncate precision so that a 1e-15 overshoot does not ceil to one more pixel
    cmax = np.ceil(np.trunc(max_vals / tol) * tol)
    cmin = np.floor(np.trunc(min_vals / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def _gen_affine_grid(theta, w, h, ow, oh):
    d = 0.5
    xs = flambeau.linspace(-ow * 0.5 + d, ow * 0.5 + d - 1, steps=ow, dtype=theta.dtype)
    ys = flambeau.linspace(-oh * 0.5 + d, oh * 0.5 + d - 1, steps=oh, dtype=theta.dtype)
    base_grid = flambeau.stack([xs.view(1, ow).expand(oh, ow), ys.view(oh, 1).expand(oh, ow),
                                flambeau.ones(oh, ow, dtype=theta.dtype)], dim=-1).view(1, oh * ow, 3)
    rescaled_theta = theta.transpose(1, 2) / flambeau.tensor([0.5 * w, 0.5 * h], dtype=theta.dtype)
    return base_grid.bmm(rescaled_theta).view(1, oh, ow, 2)


def _apply_grid_transform(img, grid, mode, fill):
    """img: float (N, C, H, W)."""
    if img.shape[0] > 1:
        grid = grid.expand(img.shape[0], grid.shape[1], grid.shape[2], grid.shape[3])
    if fill is not None:
        mask = flambeau.ones((img.shape[0], 1, img.shape[2], img.shape[3]), dtype=img.dtype)
        img = flambeau.cat((img, mask), dim=1)
    img = flambeau.nn.functional.grid_sample(img, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = img[:, -1:, :, :]
        img = img[:, :-1, :, :]
        mask = mask.expand_as(img)
        fill_list, len_fill = (fill, len(fill)) if isinstance(fill, (tuple, list)) else ([float(fill)], 1)
        fill_img = flambeau.tensor(fill_list, dtype=img.dtype).view(1, len_fill, 1, 1).expand_as(img)
        if mode == "nearest":
            img = flambeau.where(mask < 0.5, fill_img, img)
        else:
            img = img * mask + (1.0 - mask) * fill_img
    return img


def _warp(img, matrix, mode, fill, expand=False):
    array = _is_array(img)
    if array:
        two_d = img.ndim == 2
        np_dtype = img.dtype
        chw = img[None] if two_d else img.transpose(2, 0, 1)
        x = flambeau.from_numpy(np.ascontiguousarray(chw, dtype=np.float64 if img.dtype == np.float64
                                                     else np.float32))
    elif isinstance(img, Tensor):
        x = img
    else:
        raise TypeError(f"img should be a Tensor or a numpy array. Got {type(img)}")
    out_dtype = x.dtype
    integer = not x.is_floating_point()
    h, w = x.shape[-2], x.shape[-1]
    ow, oh = _compute_affine_output_size(matrix, w, h) if expand else (w, h)
    lead = tuple(x.shape[:-3])
    x4 = x.reshape((-1,) + tuple(x.shape[-3:]))
    if integer:
        x4 = x4.to(flambeau.float32)
    theta = flambeau.tensor(matrix, dtype=x4.dtype).reshape(1, 2, 3)
    grid = _gen_affine_grid(theta, w=w, h=h, ow=ow, oh=oh)
    out = _apply_grid_transform(x4, grid, mode, fill)
    out = out.reshape(lead + tuple(out.shape[-3:]))
    if integer:
        out = flambeau.round(out).to(out_dtype)
    if array:
        a = out.numpy()
        if np_dtype.kind in "iu":
            info = np.iinfo(np_dtype)
            a = np.clip(np.round(a), info.min, info.max)
        a = a.astype(np_dtype)
        return np.ascontiguousarray(a[0] if two_d else a.transpose(1, 2, 0))
    return out


def _channels(img):
    if _pil.is_pil(img):
        return _pil.num_channels(img)
    if _is_array(img):
        return 1 if img.ndim == 2 else img.shape[2]
    return img.shape[-3]


def _size_wh(img):
    if _pil.is_pil(img):
        return img.size
    if _is_array(img):
        return img.shape[1], img.shape[0]
    return img.shape[-1], img.shape[-2]


def _center_f(img, center):
    if center is None:
        return [0.0, 0.0]
    width, height = _size_wh(img)
    # pixel coordinates shifted so that (0, 0) is the image centre
    return [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]


def _mode(interpolation):
    mode = _interpolation(interpolation)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"Interpolation mode '{mode.value}' is unsupported with Tensor input")
    return mode.value


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=None):
    """Rotate by `angle` degrees counter-clockwise about the centre (or `center`, in pixels)."""
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if _pil.is_pil(img):
        return _pil.rotate(img, angle, _interpolation(interpolation), expand, center, fill)
    # torchvision's rotate and affine disagree on the angle's direction: rotate passes -angle
    matrix = _get_inverse_affine_matrix(_center_f(img, center), -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    return _warp(img, matrix, _mode(interpolation), fill, expand)


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST, fill=None,
           center=None):
    """Rotation (clockwise for positive angle, as torchvision's affine), translation in pixels,
    scale and shear (degrees, one value or (x, y)) about the centre."""
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = [float(s) for s in shear]
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    if _pil.is_pil(img):
        width, height = img.size
        pil_center = [width * 0.5, height * 0.5] if center is None else center
        matrix = _get_inverse_affine_matrix(pil_center, float(angle), list(translate), float(scale), shear)
        return _pil.affine(img, matrix, _interpolation(interpolation), fill)
    matrix = _get_inverse_affine_matrix(_center_f(img, center), float(angle), [1.0 * t for t in translate],
                                        float(scale), shear)
    return _warp(img, matrix, _mode(interpolation), fill)


def _setup_angle(x, name, req_sizes=(2,)):
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]
    elif not isinstance(x, (list, tuple)) or len(x) not in req_sizes:
        raise ValueError(f"{name} should be a sequence of length {' or '.join(str(s) for s in req_sizes)}.")
    return [float(d) for d in x]


def _uniform(lo, hi):
    return lo + (hi - lo) * _rand()


def _fill_for(img, fill):
    if fill is None:
        return None
    c = _channels(img)
    if isinstance(fill, (int, float)):
        return [float(fill)] * c
    return [float(f) for f in fill]


class RandomRotation:
    """Rotation by an angle drawn uniformly from `degrees` ((-d, d) for a number)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=0):
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
            raise ValueError("center should be a sequence of length 2.")
        if fill is None:
            fill = 0
        elif not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Fill should be either a sequence or a number.")
        self.interpolation = _interpolation(interpolation)
        self.expand = expand
        self.center = center
        self.fill = fill

    @staticmethod
    def get_params(degrees):
        return float(_uniform(float(degrees[0]), float(degrees[1])))

    def __call__(self, img):
        angle = self.get_params(self.degrees)
        return rotate(img, angle, self.interpolation, self.expand, self.center, _fill_for(img, self.fill))

    def __repr__(self):
        s = (f"{self.__class__.__name__}(degrees={self.degrees}, interpolation={self.interpolation.value}, "
             f"expand={self.expand}")
        if self.center is not None:
            s += f", center={self.center}"
        if self.fill is not None:
            s += f", fill={self.fill}"
        return s + ")"


class RandomAffine:
    """Random rotation (`degrees`), translation (fractions of the size), scale and shear."""

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None):
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if translate is not None:
            if not isinstance(translate, (list, tuple)) or len(translate) != 2:
                raise ValueError("translate should be a sequence of length 2.")
            for t in translate:
                if not (0.0 <= t <= 1.0):
                    raise ValueError("translation values should be between 0 and 1")
        if scale is not None:
            if not isinstance(scale, (list, tuple)) or len(scale) != 2:
                raise ValueError("scale should be a sequence of length 2.")
            for s in scale:
                if s <= 0:
                    raise ValueError("scale values should be positive")
        self.shear = _setup_angle(shear, name="shear", req_sizes=(2, 4)) if shear is not None else None
        if fill is None:
            fill = 0
        elif not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Fill should be either a sequence or a number.")
        if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
            raise ValueError("center should be a sequence of length 2.")
        self.translate = translate
        self.scale = scale
        self.interpolation = _interpolation(interpolation)
        self.fill = fill
        self.center = center

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size):
        angle = float(_uniform(float(degrees[0]), float(degrees[1])))
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            tx = int(round(_uniform(-max_dx, max_dx)))
            ty = int(round(_uniform(-max_dy, max_dy)))
            translations = (tx, ty)
        else:
            translations = (0, 0)
        scale = float(_uniform(scale_ranges[0], scale_ranges[1])) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = float(_uniform(shears[0], shears[1]))
            if len(shears) == 4:
                shear_y = float(_uniform(shears[2], shears[3]))
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img):
        img_size = list(_size_wh(img))  # [width, height]
        ret = self.get_params(self.degrees, self.translate, self.scale, self.shear, img_size)
        return affine(img, *ret, interpolation=self.interpolation, fill=_fill_for(img, self.fill),
                      center=self.center)

    def __repr__(self):
        s = f"{self.__class__.__name__}(degrees={self.degrees}"
        s += f", translate={self.translate}" if self.translate is not None else ""
        s += f", scale={self.scale}" if self.scale is not None else ""
        s += f", shear={self.shear}" if self.shear is not None else ""
        s += f", interpolation={self.interpolation.value}" if self.interpolation != InterpolationMode.NEAREST else ""
        s += f", fill={self.fill}" if self.fill != 0 else ""
        s += f", center={self.center}" if self.center is not None else ""
        return s + ")"
