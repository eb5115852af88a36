"""AutoAugment, RandAugment, TrivialAugmentWide, AugMix and their tone ops (adjust_sharpness, posterize,
solarize, autocontrast, equalize) on tensors and numpy arrays, against torchvision's tensor formulas written
here in torch (torchvision is not imported), hand cases, and torch.linspace for the magnitude tables.
The random draws are flambeau's (Philox), so the op sequence for a seed is ours: tested for
reproducibility and for the ops it may pick, not against torch's sequence."""
import math

import numpy as np
import pytest
import torch

import flambeau
import flambeau.transforms as T
import flambeau.transforms.functional as TF
from flambeau.transforms import autoaugment as AA


# ---- torchvision's tensor functional, in torch (the reference) ---------------------------------
def _bound(img):
    return 1.0 if img.is_floating_point() else 255.0


def ref_blend(img1, img2, ratio):
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, _bound(img1)).to(img1.dtype)


def ref_sharpness(img, factor):
    dtype = img.dtype if img.is_floating_point() else torch.float32
    kernel = torch.ones((3, 3), dtype=dtype)
    kernel[1, 1] = 5.0
    kernel /= kernel.sum()
    kernel = kernel.expand(img.shape[-3], 1, 3, 3)
    x = img.reshape(-1, *img.shape[-3:]).to(dtype)
    blurred = torch.nn.functional.conv2d(x, kernel, groups=img.shape[-3])
    if not img.is_floating_point():
        blurred = torch.round(blurred)
    degenerate = img.clone()
    degenerate[..., 1:-1, 1:-1] = blurred.to(img.dtype).reshape(*img.shape[:-2], img.shape[-2] - 2, img.shape[-1] - 2)
    return ref_blend(img, degenerate, factor)


def ref_solarize(img, threshold):
    return torch.where(img >= threshold, _bound(img) - img, img).to(img.dtype)


def ref_autocontrast(img):
    bound = _bound(img)
    dtype = img.dtype if img.is_floating_point() else torch.float32
    minimum = img.amin(dim=(-2, -1), keepdim=True).to(dtype)
    maximum = img.amax(dim=(-2, -1), keepdim=True).to(dtype)
    scale = bound / (maximum - minimum)
    eq = torch.isfinite(scale).logical_not()
    minimum[eq] = 0
    scale[eq] = 1
    return ((img - minimum) * scale).clamp(0, bound).to(img.dtype)


def ref_equalize_channel(chan):
    hist = torch.bincount(chan.reshape(-1), minlength=256)
    nonzero = hist[hist != 0]
    step = torch.div(nonzero[:-1].sum(), 255, rounding_mode="floor")
    if step == 0:
        return chan
    lut = torch.div(torch.cumsum(hist, 0) + torch.div(step, 2, rounding_mode="floor"), step, rounding_mode="floor")
    lut = torch.nn.functional.pad(lut, [1, 0])[:-1].clamp(0, 255)
    return lut[chan.to(torch.int64)].to(torch.uint8)


def ref_equalize(img):
    flat = img.reshape(-1, *img.shape[-2:])
    return torch.stack([ref_equalize_channel(c) for c in flat]).reshape(img.shape)


def _images(shape, seed):
    rng = np.random.default_rng(seed)
    u8 = rng.integers(0, 256, shape, dtype=np.uint8)
    u8[..., :4, :4] = 37  # a flat patch
    return u8, (u8 / 255.0).astype(np.float32)


def check(ours, ref, tol=0.0):
    ours = ours.numpy() if hasattr(ours, "numpy") else ours
    ref = ref.numpy()
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    if tol:
        np.testing.assert_allclose(ours, ref, rtol=0, atol=tol)
    else:
        assert np.array_equal(ours, ref)


SHAPES = [(3, 21, 26), (1, 9, 13), (2, 3, 12, 11)]


@pytest.mark.parametrize("shape", SHAPES)
def test_tone_ops_match_torchvision_formulas(shape):
    u8, f32 = _images(shape, sum(shape))
    for img in (u8, f32):
        t, r = flambeau.from_numpy(img), torch.from_numpy(img)
        for factor in (0.0, 0.3, 1.0, 1.9):
            # 1-channel float: the 3x3 conv sums in another order than PyTorch's (1 ulp)
            check(TF.adjust_sharpness(t, factor), ref_sharpness(r, factor), 1e-6 if img is f32 else 0.0)
        for thr in ((0, 100, 255.0) if img is u8 else (0.0, 0.4, 1.0)):
            check(TF.solarize(t, thr), ref_solarize(r, thr))
        check(TF.autocontrast(t), ref_autocontrast(r))
    t, r = flambeau.from_numpy(u8), torch.from_numpy(u8)
    for bits in range(0, 9):
        check(TF.posterize(t, bits), r & -int(2 ** (8 - bits)))
    check(TF.equalize(t), ref_equalize(r))


def test_tone_ops_on_arrays_and_edge_cases():
    u8, _ = _images((10, 12, 3), 4)
    chw = torch.from_numpy(np.ascontiguousarray(u8.transpose(2, 0, 1)))
    for ours, ref in [(TF.adjust_sharpness(u8, 1.5), ref_sharpness(chw, 1.5)), (TF.posterize(u8, 3), chw & -32),
                      (TF.solarize(u8, 128), ref_solarize(chw, 128)), (TF.autocontrast(u8), ref_autocontrast(chw)),
                      (TF.equalize(u8), ref_equalize(chw))]:
        assert isinstance(ours, np.ndarray) and ours.dtype == np.uint8
        assert np.array_equal(ours, ref.numpy().transpose(1, 2, 0))
    flat = flambeau.full((3, 5, 5), 9, dtype=flambeau.uint8)
    assert TF.autocontrast(flat).tolist() == flat.tolist()  # a constant channel is left alone
    assert TF.equalize(flat).tolist() == flat.tolist()
    tiny = flambeau.rand(3, 2, 7)
    assert TF.adjust_sharpness(tiny, 2.0) is tiny  # no interior pixel
    ramp = flambeau.arange(0, 256, dtype=flambeau.int64).to(flambeau.uint8).reshape(1, 16, 16)
    assert TF.equalize(ramp).tolist() == ramp.tolist()  # already uniform
    assert TF.autocontrast(flambeau.tensor([[[0.25, 0.5], [0.5, 0.75]]])).tolist() == [[[0.0, 0.5], [0.5, 1.0]]]
    with pytest.raises(TypeError, match="uint8"):
        TF.posterize(flambeau.rand(3, 4, 4), 2)
    with pytest.raises(TypeError, match="uint8"):
        TF.equalize(flambeau.rand(3, 4, 4))
    with pytest.raises(TypeError, match="Threshold"):
        TF.solarize(flambeau.rand(3, 4, 4), 2.0)
    with pytest.raises(ValueError, match="non-negative"):
        TF.adjust_sharpness(flambeau.rand(3, 4, 4), -1.0)
    with pytest.raises(TypeError, match="channel"):
        TF.autocontrast(flambeau.rand(2, 4, 4))


def test_magnitude_tables_are_torch_linspace():
    for start, end, n in [(0.0, 0.3, 10), (0.0, 0.99, 31), (0.0, 32.0, 31), (0.0, 135.0, 31), (255.0, 0.0, 31),
                          (0.0, 150.0 / 331.0 * 224, 31), (0.0, 0.9, 31), (0.0, 1.7, 1001), (3.3, -2.1, 777)]:
        assert AA._linspace(start, end, n) == torch.linspace(start, end, n).tolist()
    for top, bins, span in [(8, 10, 4), (8, 31, 4), (8, 31, 6), (4, 10, 4)]:
        ref = (top - (torch.arange(bins) / ((bins - 1) / span)).round().int()).tolist()
        assert AA._posterize_bits(top, bins, span) == ref


def test_apply_op_geometry_hand_cases():
    x = (flambeau.arange(20 * 16, dtype=flambeau.int64) % 250 + 1).to(flambeau.uint8).reshape(1, 20, 16)
    near = T.InterpolationMode.NEAREST
    out = AA._apply_op(x, "TranslateX", 2.7, near, [7.0])  # int(2.7) = 2 pixels right, filled with 7
    assert out[..., 2:].tolist() == x[..., :-2].tolist() and (out[..., :2] == 7).all()
    out = AA._apply_op(x, "TranslateY", -3.0, near, None)
    assert out[:, :-3].tolist() == x[:, 3:].tolist() and (out[:, -3:] == 0).all()
    out = AA._apply_op(x, "ShearX", 0.3, near, None)  # about the top-left corner: row 0 stays
    assert out[0, 0].tolist() == x[0, 0].tolist()
    assert out[0, 10].tolist() == x[0, 10, 3:].tolist() + [0, 0, 0]  # row 10 moves by round(0.3 * 10.5)
    sq = x[:, :16, :].contiguous()
    assert AA._apply_op(sq, "Rotate", 90.0, near, None).tolist() == torch.rot90(
        torch.from_numpy(sq.numpy()), 1, (1, 2)).tolist()
    ref = TF.affine(x, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(-0.2))], near, None, center=[0, 0])
    assert AA._apply_op(x, "ShearY", -0.2, near, None).tolist() == ref.tolist()
    u8, _ = _images((3, 8, 8), 1)
    t = flambeau.from_numpy(u8)
    assert AA._apply_op(t, "Identity", 0.0, near, None) is t
    r = torch.from_numpy(u8)
    check(AA._apply_op(t, "Brightness", -0.4, near, None), ref_blend(r, torch.zeros_like(r), 0.6))
    check(AA._apply_op(t, "Invert", 0.0, near, None), 255 - r)
    with pytest.raises(ValueError, match="not recognized"):
        AA._apply_op(t, "Blur", 1.0, near, None)


def test_policies():
    assert {len(AA._POLICIES[p]) for p in T.AutoAugmentPolicy} == {25}
    assert AA._POLICIES[T.AutoAugmentPolicy.IMAGENET][0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert AA._POLICIES[T.AutoAugmentPolicy.CIFAR10][-1] == (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None))
    assert AA._POLICIES[T.AutoAugmentPolicy.SVHN][12] == (("Equalize", 0.9, None), ("TranslateY", 0.6, 6))
    ops = set(T.RandAugment()._augmentation_space(31, (32, 32)))
    assert ops == {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                   "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"}
    assert list(T.TrivialAugmentWide()._augmentation_space(31)) == list(T.RandAugment()._augmentation_space(31, (8, 8)))
    assert T.TrivialAugmentWide()._augmentation_space(31)["Rotate"][0][-1] == 135.0
    assert T.AutoAugment()._augmentation_space(10, (331, 662))["TranslateX"][0][-1] == pytest.approx(300.0)
    assert len(T.AugMix(all_ops=False)._augmentation_space(10, (9, 9))) == 9
    with pytest.raises(ValueError, match="severity"):
        T.AugMix(severity=11)


@pytest.mark.parametrize("make", [lambda: T.AutoAugment(T.AutoAugmentPolicy.IMAGENET),
                                  lambda: T.AutoAugment(T.AutoAugmentPolicy.CIFAR10, fill=128),
                                  lambda: T.AutoAugment(T.AutoAugmentPolicy.SVHN),
                                  lambda: T.RandAugment(num_ops=3, magnitude=12),
                                  lambda: T.TrivialAugmentWide(interpolation=T.InterpolationMode.BILINEAR),
                                  lambda: T.AugMix(), lambda: T.AugMix(chain_depth=2, all_ops=False)])
def test_policies_run_and_repeat_with_the_seed(make):
    u8, _ = _images((3, 24, 20), 9)
    aug = make()
    for img in (flambeau.from_numpy(u8), flambeau.from_numpy(u8[None].repeat(2, 0)), u8.transpose(1, 2, 0).copy()):
        outs = []
        for _ in range(2):
            flambeau.manual_seed(1234)
            outs.append([aug(img) for _ in range(6)])
        for a, b in zip(*outs):
            a = a if isinstance(a, np.ndarray) else a.numpy()
            b = b if isinstance(b, np.ndarray) else b.numpy()
            shape = img.shape if isinstance(img, np.ndarray) else tuple(img.shape)
            assert a.dtype == np.uint8 and a.shape == shape
            assert np.array_equal(a, b)
    assert repr(aug).startswith(type(aug).__name__ + "(")


def test_trivial_augment_picks_every_op():
    img = flambeau.from_numpy(_images((3, 16, 16), 2)[0])
    seen = set()
    orig = AA._apply_op

    def spy(im, name, magnitude, interpolation, fill):
        seen.add(name)
        return orig(im, name, magnitude, interpolation, fill)
    AA._apply_op = spy
    try:
        flambeau.manual_seed(0)
        for _ in range(200):
            T.TrivialAugmentWide()(img)
    finally:
        AA._apply_op = orig
    assert seen == set(T.TrivialAugmentWide()._augmentation_space(31))


def test_augmix_weights_and_pil():
    aug = T.AugMix(mixture_width=4)
    flambeau.manual_seed(3)
    w = aug._sample_dirichlet(flambeau.tensor([1.0] * 4).expand(5, 4).contiguous())
    assert tuple(w.shape) == (5, 4) and float(w.min()) > 0
    assert np.allclose(w.sum(dim=-1).numpy(), 1.0, atol=1e-6)
    # the policies take uint8 images (Posterize and Equalize refuse float ones, as torchvision's)
    Image = pytest.importorskip("PIL.Image")
    im = Image.fromarray(_images((12, 12, 3), 6)[0])
    for aug in (T.AugMix(), T.AutoAugment(), T.RandAugment(), T.TrivialAugmentWide()):
        res = aug(im)
        assert isinstance(res, Image.Image) and res.mode == "RGB" and res.size == (12, 12)


def test_random_tone_transforms():
    u8, _ = _images((3, 8, 8), 7)
    t = flambeau.from_numpy(u8)
    r = torch.from_numpy(u8)
    check(T.RandomPosterize(2, p=1.0)(t), r & -64)
    check(T.RandomSolarize(100, p=1.0)(t), ref_solarize(r, 100))
    check(T.RandomAutocontrast(p=1.0)(t), ref_autocontrast(r))
    check(T.RandomEqualize(p=1.0)(t), ref_equalize(r))
    check(T.RandomAdjustSharpness(2.0, p=1.0)(t), ref_sharpness(r, 2.0))
    assert T.RandomEqualize(p=0.0)(t) is t
