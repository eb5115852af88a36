"""Resize, RandomResizedCrop, Five/TenCrop, the colour transforms, GaussianBlur, ConvertImageDtype and
the random containers against torchvision's tensor-path definitions, written here in torch
(torchvision itself is not installed): float and uint8 tensors, and numpy HWC images."""
import math

import numpy as np
import pytest
import torch

import flambeau
import flambeau.transforms as T
import flambeau.transforms.functional as TF


# ---- torchvision's tensor functional, in torch (the reference) ---------------------------------
def ref_blend(img1, img2, ratio):
    bound = 1.0 if img1.is_floating_point() else 255.0
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, bound).to(img1.dtype)


def ref_gray(img, num_output_channels=1):
    r, g, b = img.unbind(dim=-3)
    l_img = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    return l_img.expand(img.shape) if num_output_channels == 3 else l_img


def ref_brightness(img, f):
    return ref_blend(img, torch.zeros_like(img), f)


def ref_contrast(img, f):
    dtype = img.dtype if torch.is_floating_point(img) else torch.float32
    mean = torch.mean(ref_gray(img).to(dtype), dim=(-3, -2, -1), keepdim=True)
    return ref_blend(img, mean, f)


def ref_saturation(img, f):
    return ref_blend(img, ref_gray(img), f)


def ref_rgb2hsv(img):
    r, g, b = img.unbind(dim=-3)
    maxc = torch.max(img, dim=-3).values
    minc = torch.min(img, dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_divisor = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod(((hr + hg + hb) / 6.0 + 1.0), 1.0)
    return torch.stack((h, s, maxc), dim=-3)


def ref_hsv2rgb(img):
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.to(dtype=torch.int32)
    p = torch.clamp((v * (1.0 - s)), 0.0, 1.0)
    q = torch.clamp((v * (1.0 - s * f)), 0.0, 1.0)
    t = torch.clamp((v * (1.0 - s * (1.0 - f))), 0.0, 1.0)
    i = i % 6
    mask = i.unsqueeze(dim=-3) == torch.arange(6).view(-1, 1, 1)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)
    return torch.einsum("...ijk, ...xijk -> ...xjk", mask.to(dtype=img.dtype), a4)


def ref_hue(img, f):
    orig = img.dtype
    x = img.float() / 255 if orig == torch.uint8 else img
    h, s, v = ref_rgb2hsv(x).unbind(dim=-3)
    out = ref_hsv2rgb(torch.stack(((h + f) % 1.0, s, v), dim=-3))
    return (out * (255 + 1.0 - 1e-3)).to(torch.uint8) if orig == torch.uint8 else out


def ref_resize(img, size, mode="bilinear", antialias=True):
    x = img.unsqueeze(0)
    out_dtype = x.dtype
    x = x.float() if not x.is_floating_point() else x
    smooth = mode in ("bilinear", "bicubic")
    x = torch.nn.functional.interpolate(x, size=size, mode=mode, align_corners=False if smooth else None,
                                        antialias=antialias and smooth)
    if mode == "bicubic" and out_dtype == torch.uint8:
        x = x.clamp(0, 255)
    if out_dtype != x.dtype:
        x = torch.round(x).to(out_dtype)
    return x.squeeze(0)


def ref_blur(img, ksize, sigma):
    def k1(ks, s):
        half = (ks - 1) * 0.5
        pdf = torch.exp(-0.5 * (torch.linspace(-half, half, steps=ks) / s).pow(2))
        return pdf / pdf.sum()
    kernel = torch.mm(k1(ksize[1], sigma[1])[:, None], k1(ksize[0], sigma[0])[None, :])
    c = img.shape[-3]
    kernel = kernel.expand(c, 1, kernel.shape[0], kernel.shape[1])
    x = img.unsqueeze(0)
    dt = x.dtype
    x = x.float() if not x.is_floating_point() else x
    x = torch.nn.functional.pad(x, [ksize[0] // 2, ksize[0] // 2, ksize[1] // 2, ksize[1] // 2], mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel, groups=c)
    if dt != x.dtype:
        x = torch.round(x).to(dt)
    return x.squeeze(0)


# ---- helpers -------------------------------------------------------------------------------------
def images(dtype):
    if dtype == "uint8":
        arr = np.random.randint(0, 256, (3, 11, 14)).astype(np.uint8)
    else:
        arr = np.random.rand(3, 11, 14).astype(np.float32)
    return arr, torch.from_numpy(arr.copy()), flambeau.from_numpy(arr.copy())


def same(f, t, atol=1e-5):
    a, b = f.numpy() if isinstance(f, flambeau.Tensor) else f, t.numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype.kind in "iu":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("fn,ref,factor", [
    (TF.adjust_brightness, ref_brightness, 1.3), (TF.adjust_brightness, ref_brightness, 0.4),
    (TF.adjust_contrast, ref_contrast, 1.5), (TF.adjust_contrast, ref_contrast, 0.3),
    (TF.adjust_saturation, ref_saturation, 1.8), (TF.adjust_saturation, ref_saturation, 0.2),
    (TF.adjust_hue, ref_hue, 0.2), (TF.adjust_hue, ref_hue, -0.45)])
def test_colour_adjustments(fn, ref, factor, dtype):
    arr, t, f = images(dtype)
    same(fn(f, factor), ref(t, factor))
    # the numpy HWC image gives the same numbers
    out = fn(arr.transpose(1, 2, 0).copy(), factor)
    assert isinstance(out, np.ndarray) and out.dtype == arr.dtype
    same(out.transpose(2, 0, 1), ref(t, factor))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_grayscale(dtype):
    arr, t, f = images(dtype)
    same(T.Grayscale()(f), ref_gray(t))
    same(T.Grayscale(num_output_channels=3)(f), ref_gray(t, 3).contiguous())
    g = T.Grayscale()(arr.transpose(1, 2, 0).copy())
    assert g.shape == (11, 14, 1)
    with pytest.raises(ValueError, match="num_output_channels should be either 1 or 3"):
        T.Grayscale(2)(f)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("size,mode", [((7, 9), "bilinear"), ((20, 5), "bicubic"), ((6, 6), "nearest"),
                                        ((5, 17), "bilinear")])
def test_resize_matches_torchvision_tensor_path(size, mode, dtype):
    arr, t, f = images(dtype)
    im = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
          "nearest": T.InterpolationMode.NEAREST}[mode]
    same(T.Resize(size, interpolation=im)(f), ref_resize(t, size, mode))
    out = T.Resize(size, interpolation=im)(arr.transpose(1, 2, 0).copy())
    assert out.dtype == arr.dtype and out.shape == size + (3,)
    same(out.transpose(2, 0, 1), ref_resize(t, size, mode))
    same(T.Resize(size, interpolation=im, antialias=False)(f), ref_resize(t, size, mode, antialias=False))


def test_resize_shorter_edge_and_max_size():
    x = flambeau.rand(3, 20, 30)
    assert tuple(T.Resize(10)(x).shape) == (3, 10, 15)
    assert tuple(T.Resize([10])(x).shape) == (3, 10, 15)
    assert tuple(T.Resize(10, max_size=12)(x).shape) == (3, 8, 12)
    assert tuple(T.Resize(10)(flambeau.rand(2, 5, 3, 30, 20)).shape) == (2, 5, 3, 15, 10)
    assert T.Resize(20)(x) is x  # already that size: the same image back
    assert T.Resize(7, interpolation=3)(np.zeros((14, 14), np.uint8)).shape == (7, 7)  # PIL's BICUBIC code
    with pytest.raises(ValueError, match="max_size"):
        T.Resize((10, 10), max_size=12)(x)
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize(10.5)


def test_random_resized_crop_params_and_output():
    flambeau.manual_seed(0)
    img = np.zeros((40, 60, 3), np.uint8)
    areas, ratios = [], []
    for _ in range(300):
        i, j, h, w = T.RandomResizedCrop.get_params(img, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
        assert 0 <= i <= 40 - h and 0 <= j <= 60 - w and h > 0 and w > 0
        areas.append(h * w / 2400)
        ratios.append(w / h)
    assert 0.06 < min(areas) and max(areas) <= 1.0 and np.mean(areas) > 0.3
    assert 0.7 < min(ratios) and max(ratios) < 1.45
    # impossible ratio: the centre-crop fallback
    assert T.RandomResizedCrop.get_params(img, scale=(1.0, 1.0), ratio=(5.0, 6.0)) == (14, 0, 12, 60)
    x = flambeau.rand(3, 40, 60)
    out = T.RandomResizedCrop((16, 24), scale=(0.5, 1.0))(x)
    assert tuple(out.shape) == (3, 16, 24)
    assert T.RandomResizedCrop(16)(img).shape == (16, 16, 3)
    i, j, h, w = 3, 5, 20, 30
    same(TF.resized_crop(x, i, j, h, w, [10, 12]),
         ref_resize(torch.from_numpy(x.numpy())[:, i:i + h, j:j + w], [10, 12]))


def test_five_and_ten_crop():
    x = flambeau.arange(3 * 6 * 8).float().reshape(3, 6, 8)
    t = torch.from_numpy(x.numpy())
    crops = T.FiveCrop(4)(x)
    refs = [t[:, :4, :4], t[:, :4, 4:], t[:, 2:, :4], t[:, 2:, 4:], t[:, 1:5, 2:6]]
    for c, r in zip(crops, refs):
        same(c, r)
    ten = T.TenCrop((4, 4))(x)
    assert len(ten) == 10
    same(ten[5], t.flip(-1)[:, :4, :4])
    with pytest.raises(ValueError, match="bigger than input size"):
        T.FiveCrop(7)(x)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_gaussian_blur(dtype):
    arr, t, f = images(dtype)
    same(TF.gaussian_blur(f, [3, 5], [0.8, 1.4]), ref_blur(t, [3, 5], [0.8, 1.4]))
    flambeau.manual_seed(1)
    out = T.GaussianBlur(5, sigma=(0.1, 2.0))(f)
    assert out.shape == f.shape and out.dtype == f.dtype
    with pytest.raises(ValueError, match="odd and positive"):
        T.GaussianBlur(4)


def test_color_jitter_draws_and_bounds():
    cj = T.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.3, hue=0.1)
    assert cj.brightness == (0.6, 1.4) and cj.contrast == (0.5, 1.5) and cj.hue == (-0.1, 0.1)
    assert T.ColorJitter().brightness is None
    flambeau.manual_seed(0)
    seen = set()
    for _ in range(50):
        idx, b, c, s, h = cj.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)
        assert sorted(idx.tolist()) == [0, 1, 2, 3]
        seen.add(tuple(idx.tolist()))
        assert 0.6 <= b <= 1.4 and 0.5 <= c <= 1.5 and 0.7 <= s <= 1.3 and -0.1 <= h <= 0.1
    assert len(seen) > 5
    x = flambeau.rand(2, 3, 8, 8)
    out = cj(x)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    u8 = np.random.randint(0, 256, (8, 8, 3)).astype(np.uint8)
    assert cj(u8).dtype == np.uint8
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="must be non negative"):
        T.ColorJitter(brightness=-1)


def test_convert_image_dtype():
    arr, t, f = images("uint8")
    same(T.ConvertImageDtype(flambeau.float32)(f), t.float() / 255)
    x = np.random.rand(3, 4, 5).astype(np.float32)
    same(T.ConvertImageDtype(flambeau.uint8)(flambeau.from_numpy(x)),
         (torch.from_numpy(x) * (255 + 1.0 - 1e-3)).to(torch.uint8))


def test_random_containers():
    flambeau.manual_seed(0)
    x = flambeau.ones(1, 2, 2)
    applied = sum(float(T.RandomApply([lambda im: im * 2], p=0.3)(x).sum()) == 8 for _ in range(400))
    assert abs(applied / 400 - 0.3) < 0.08
    picks = [T.RandomChoice([lambda im: 1, lambda im: 2], p=[1, 3])(x) for _ in range(400)]
    assert abs(picks.count(2) / 400 - 0.75) < 0.08
    orders = {T.RandomOrder([lambda s: s + "a", lambda s: s + "b"])("") for _ in range(50)}
    assert orders == {"ab", "ba"}
    gray = sum(int(np.array_equal(*np.split(T.RandomGrayscale(p=0.5)(
        np.random.randint(0, 256, (4, 4, 3)).astype(np.uint8)), 3, axis=2)[:2])) for _ in range(200))
    assert 60 < gray < 140
    assert math.isclose(T.RandomChoice([abs, abs]).p[0], 0.5)


def ref_invert(img):
    return (255 - img) if img.dtype == torch.uint8 else 1.0 - img


def ref_gamma(img, gamma, gain=1):
    x = img.float() / 255 if img.dtype == torch.uint8 else img
    out = (gain * x ** gamma).clamp(0, 1)
    return (out * (255 + 1.0 - 1e-3)).to(torch.uint8) if img.dtype == torch.uint8 else out


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_invert_gamma_and_image_queries(dtype):
    arr, t, f = images(dtype)
    same(TF.invert(f), ref_invert(t))
    same(TF.adjust_gamma(f, 0.7, gain=1.2), ref_gamma(t, 0.7, 1.2))
    same(T.RandomInvert(p=1.0)(f), ref_invert(t))
    assert T.RandomInvert(p=0.0)(f) is f
    hwc = arr.transpose(1, 2, 0).copy()
    same(TF.invert(hwc).transpose(2, 0, 1), ref_invert(t))
    assert TF.get_dimensions(f) == [3, 11, 14] == TF.get_dimensions(hwc)
    assert TF.get_image_size(f) == [14, 11] and TF.get_image_num_channels(hwc[..., 0]) == 1
    # gaussian_blur's default sigma: 0.15 * k + 0.35
    same(TF.gaussian_blur(f, [5, 3]), ref_blur(t, [5, 3], [5 * 0.15 + 0.35, 3 * 0.15 + 0.35]))
    with pytest.raises(ValueError, match="Gamma should be a non-negative real number"):
        TF.adjust_gamma(f, -1)


def test_v2_image_pipeline():
    from flambeau.transforms import v2
    arr = np.random.randint(0, 256, (12, 10, 3)).astype(np.uint8)
    img = v2.ToImage()(arr)
    assert img.dtype == flambeau.uint8 and tuple(img.shape) == (3, 12, 10)
    f = v2.ToDtype(flambeau.float32, scale=True)(img)
    # v2's to_dtype multiplies by 1 / 255 (ToTensor divides)
    ref = torch.from_numpy(arr.transpose(2, 0, 1).copy()).to(torch.float32).mul_(1.0 / 255)
    np.testing.assert_array_equal(f.numpy(), ref.numpy())
    assert v2.ToDtype(flambeau.float32)(img).numpy().max() == arr.max()
    back = v2.ToDtype(flambeau.uint8, scale=True)(f)
    np.testing.assert_array_equal(back.numpy(), (ref * (255 + 1.0 - 1e-3)).to(torch.uint8).numpy())
    pipe = v2.Compose([v2.ToImage(), v2.ToDtype(flambeau.float32, scale=True),
                       v2.RandomResizedCrop(size=(8, 8), antialias=True), v2.RandomHorizontalFlip(p=0.5),
                       v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]), v2.ToPureTensor()])
    out = pipe(arr)
    assert tuple(out.shape) == (3, 8, 8) and out.dtype == flambeau.float32
    assert tuple(v2.ToImage()(arr[..., 0]).shape) == (1, 12, 10)
