"""F.interpolate against PyTorch in the modes added after nearest/(bi)linear: bicubic, trilinear,
5-D nearest / nearest-exact, area, and antialias=True (bilinear, bicubic): forward and input
gradient in float32 and float64, sizes up and down, scale factors, align_corners; the errors."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F
from nn_helpers import assert_close


def run(shape, dtype, **kw):
    x = np.random.randn(*shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    fx = flambeau.from_numpy(x.copy()).requires_grad_()
    to = torch.nn.functional.interpolate(tx, **kw)
    fo = F.interpolate(fx, **kw)
    assert tuple(fo.shape) == tuple(to.shape)
    dname = "float32" if dtype == np.float32 else "float64"
    assert_close(fo, to, dname, msg=f"forward {kw}")
    g = np.random.randn(*to.shape).astype(dtype)
    to.backward(torch.from_numpy(g))
    fo.backward(flambeau.from_numpy(g))
    assert_close(fx.grad, tx.grad, dname, msg=f"grad {kw}")


SIZES_2D = [((8, 9), (16, 5)), ((13, 7), (4, 3)), ((5, 5), (5, 11)), ((32, 30), (7, 9)), ((3, 4), (1, 1)),
            ((1, 1), (3, 2)), ((6, 6), (6, 6))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("hw,size", SIZES_2D)
def test_bicubic(hw, size, align_corners, dtype):
    run((2, 3) + hw, dtype, size=size, mode="bicubic", align_corners=align_corners)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("hw,size", [s for s in SIZES_2D if s[1][1] != 1])
def test_antialias(mode, hw, size, align_corners, dtype):
    # (output width 1 is left out: PyTorch 2.13's antialiased forward then repeats the first
    # output row down the column -- F.interpolate(torch.arange(3.).view(1, 1, 3, 1), size=(5, 1),
    # mode='bilinear', antialias=True) is all 0.5 -- while its backward is right; flambeau gives
    # the right forward there too)
    run((2, 3) + hw, dtype, size=size, mode=mode, antialias=True, align_corners=align_corners)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_and_bicubic_scale_factors(mode):
    run((1, 2, 9, 12), np.float32, scale_factor=(1.7, 0.45), mode=mode, antialias=True)
    run((1, 2, 9, 12), np.float32, scale_factor=(1.7, 0.45), mode=mode)
    run((1, 2, 13, 7), np.float32, scale_factor=0.3, mode=mode, antialias=True, recompute_scale_factor=True)
    run((1, 2, 5, 6), np.float64, scale_factor=2.5, mode=mode, align_corners=True)


def test_antialias_width_one_output_is_the_column_mean_resize():
    # where PyTorch's forward is wrong (see above), flambeau agrees with resizing the column alone
    x = np.random.randn(1, 2, 6, 4).astype(np.float32)
    out = F.interpolate(flambeau.from_numpy(x), size=(9, 1), mode="bilinear", antialias=True)
    col = torch.nn.functional.interpolate(torch.from_numpy(x), size=(6, 1), mode="bilinear", antialias=True)
    ref = torch.nn.functional.interpolate(col, size=(9, 2), mode="bilinear", antialias=True)[..., :1]
    assert_close(out, ref)


@pytest.mark.parametrize("mode", ["trilinear", "nearest", "nearest-exact", "area"])
def test_5d(mode):
    kw = {"align_corners": False} if mode == "trilinear" else {}
    run((2, 2, 4, 5, 6), np.float32, size=(7, 3, 6), mode=mode, **kw)
    run((1, 2, 4, 5, 6), np.float64, scale_factor=(2, 0.5, 1.5), mode=mode, **kw)
    if mode == "trilinear":
        run((2, 2, 4, 5, 3), np.float32, size=(7, 3, 6), mode=mode, align_corners=True)
        run((1, 1, 3, 3, 3), np.float32, scale_factor=2, mode=mode)  # align_corners defaults to False


def test_area():
    run((2, 3, 9, 7), np.float32, size=(4, 5), mode="area")
    run((2, 3, 9), np.float32, size=4, mode="area")
    run((2, 3, 9, 8), np.float32, scale_factor=0.5, mode="area")


def test_upsample_module_modes():
    x = np.random.randn(2, 3, 5, 6).astype(np.float32)
    for kw in [dict(scale_factor=2, mode="bicubic"), dict(size=(7, 4), mode="bicubic", align_corners=True)]:
        t = torch.nn.Upsample(**kw)(torch.from_numpy(x))
        f = flambeau.nn.Upsample(**kw)(flambeau.from_numpy(x))
        assert_close(f, t)
    v = np.random.randn(1, 2, 3, 4, 5).astype(np.float32)
    t = torch.nn.Upsample(scale_factor=2, mode="trilinear")(torch.from_numpy(v))
    f = flambeau.nn.Upsample(scale_factor=2, mode="trilinear")(flambeau.from_numpy(v))
    assert_close(f, t)


def _error(fn_t, fn_f):
    with pytest.raises(Exception) as et:
        fn_t(torch)
    with pytest.raises(type(et.value)) as ef:
        fn_f(flambeau)
    assert str(ef.value) == str(et.value)


@pytest.mark.parametrize("case", [
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3), size=4, mode="bilinear"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 3), size=4, mode="trilinear"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 3, 3), size=4, mode="bicubic"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 3), size=4, mode="linear"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 3, 3), size=4, mode="trilinear", antialias=True),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 3), size=(0, 2), mode="bilinear"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4, 5), size=(0, 2, 2)),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3), size=(0,), mode="linear"),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), scale_factor=0.1, mode="bicubic"),
    lambda m: m.nn.functional.interpolate(m.zeros(2, 3), size=4),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), size=(2,)),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), size=(2, 2.0)),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), size=(2, 2), mode="area", align_corners=True),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), size=(2, 2), recompute_scale_factor=True),
    lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 3, 4), size=2, mode="lanczos"),
])
def test_errors_match_pytorch(case):
    _error(case, case)


@pytest.mark.parametrize("kw", [dict(size=(7, 9)), dict(size=(3, 4), mode="nearest-exact"),
                                dict(size=(3, 4), mode="bilinear"), dict(size=(11, 14), mode="bilinear"),
                                dict(size=(4, 5), mode="bilinear", antialias=True),
                                dict(size=(11, 13), mode="bilinear", align_corners=True),
                                dict(size=(3, 4), mode="bicubic"), dict(size=(12, 15), mode="bicubic"),
                                dict(size=(4, 5), mode="bicubic", antialias=True)])
def test_uint8_images(kw):
    # PyTorch resizes uint8 images in uint8 (each separable pass rounded and saturated, with
    # fixed-point weights): flambeau rounds the same passes in float, so a few pixels may be 1 off
    x = np.random.randint(0, 256, (2, 3, 6, 7)).astype(np.uint8)
    t = torch.nn.functional.interpolate(torch.from_numpy(x), **kw).numpy().astype(np.int64)
    f = F.interpolate(flambeau.from_numpy(x), **kw)
    assert f.dtype == flambeau.uint8
    d = np.abs(f.numpy().astype(np.int64) - t)
    assert d.max() <= 1 and (d > 0).mean() < 0.05


@pytest.mark.parametrize("dtype,mode", [("int64", "bilinear"), ("int32", "bicubic"), ("uint8", "area"),
                                        ("int64", "area"), ("bool", "bilinear")])
def test_integer_input_errors_match_pytorch(dtype, mode):
    _error(lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 4, 4, dtype=getattr(m, dtype)), size=2, mode=mode),
           lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 4, 4, dtype=getattr(m, dtype)), size=2, mode=mode))
    _error(lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 4, dtype=m.uint8), size=2, mode="linear"),
           lambda m: m.nn.functional.interpolate(m.zeros(1, 1, 4, dtype=m.uint8), size=2, mode="linear"))


@pytest.mark.parametrize("mode,shape,sf", [("linear", (1, 2, 4), 1.1), ("bilinear", (1, 2, 4, 4), (1.1, 1.5)),
                                           ("bilinear", (1, 2, 4, 5), (1.5, 1.1)), ("bilinear", (1, 2, 6, 6), 1.1),
                                           ("trilinear", (1, 1, 4, 4, 4), (1.1, 1.5, 1.1)),
                                           ("nearest", (1, 2, 4, 4), 1.1)])
def test_kept_size_with_a_scale_factor(mode, shape, sf):
    # floor(4 * 1.1) == 4: PyTorch's linear modes copy that dim; nearest still maps by the scale
    run(shape, np.float32, scale_factor=sf, mode=mode)


def test_kept_size_bicubic_forward():
    # bicubic resamples a kept dim by the scale factor too (PyTorch's backward then treats it as
    # a copy, inconsistent with its forward; flambeau's gradient is its forward's)
    x = np.random.randn(1, 2, 4, 4).astype(np.float32)
    t = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=1.1, mode="bicubic")
    assert_close(F.interpolate(flambeau.from_numpy(x), scale_factor=1.1, mode="bicubic"), t)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_nearest_index_maps_by_scale_factor(mode, nd):
    # PyTorch's 2-D nearest copies a kept size and halves for a doubling; its 1-D and 3-D ones
    # and nearest-exact map every size by the scale
    for n in (2, 3, 4, 7):
        x = np.arange(n ** nd, dtype=np.float32).reshape((1, 1) + (n,) * nd)
        for sf in (1.1, 2.0, 2.3, 0.7):
            if int(n * sf) >= 1:
                t = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=sf, mode=mode).numpy()
                f = F.interpolate(flambeau.from_numpy(x), scale_factor=sf, mode=mode).numpy()
                np.testing.assert_array_equal(f, t, err_msg=f"{n} * {sf}")


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_index_maps(mode):
    # every (input size, output size) up to 40 x 60 by size, and common scale factors
    for n in range(1, 41):
        x = np.arange(n, dtype=np.float32).reshape(1, 1, n)
        for m in range(1, 61):
            t = torch.nn.functional.interpolate(torch.from_numpy(x), size=m, mode=mode).numpy()
            f = F.interpolate(flambeau.from_numpy(x), size=m, mode=mode).numpy()
            if mode == "nearest-exact" and any((2 * d + 1) * n % (2 * m) == 0 for d in range(m)):
                # a source coordinate (d + 0.5) * n / m that is exactly an integer (20.5 * 2 / 41):
                # PyTorch's kernel may land on it or just below it
                continue
            np.testing.assert_array_equal(f, t, err_msg=f"{n} -> {m}")
        for sf in (0.3, 0.45, 0.7, 1.1, 1.5, 2.0, 2.3, 3.7, 1 / 3):
            if int(n * sf) >= 1:
                t = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=sf, mode=mode).numpy()
                f = F.interpolate(flambeau.from_numpy(x), scale_factor=sf, mode=mode).numpy()
                np.testing.assert_array_equal(f, t, err_msg=f"{n} * {sf}")
