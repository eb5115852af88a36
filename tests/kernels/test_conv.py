"""conv2d / conv_transpose2d (fused `_C` kernels, csrc/cpu/conv.cpp) against PyTorch CPU: forward and
every gradient (input, weight, bias) over the argument space (stride, padding incl. 'same'/'valid' and
asymmetric, dilation, groups and depthwise, rectangular kernels, bias or none, batch 1 and empty batch,
unbatched input, non-contiguous inputs, shapes that exercise every kernel path: direct single-channel,
pointwise GEMM, implicit GEMM, im2col + GEMM, col2im), float64 gradcheck and gradgradcheck, every CPU
capability, thread-count independence, and argument errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions.conv import conv2d, conv_transpose2d
from helpers import check_op, fl_tensor, to_np, rand_array

DTYPES = ["float32", "float64"]
CAPS = ["default", "avx2", "avx512"]
# float32 sums of up to ~1000 products of values in [-1, 1): absolute error ~1e-5 * sqrt(terms).
TOL32 = dict(atol=2e-4, rtol=1e-4, grad_atol=1e-3, grad_rtol=1e-4)


def tol(dtype):
    return TOL32 if dtype == "float32" else {}


@pytest.fixture(params=CAPS)
def cap(request):
    prev = _C.cpu_capability()
    _C.set_cpu_capability(request.param)
    yield request.param
    _C.set_cpu_capability(prev)


# (N, C, H, W), (O, C/groups, KH, KW), stride, padding, dilation, groups, bias
CONFIGS = {
    "basic": ((2, 3, 7, 9), (4, 3, 3, 3), 1, 1, 1, 1, True),
    "rect_groups": ((1, 4, 8, 8), (6, 2, 3, 2), 2, (1, 0), (1, 2), 2, True),
    "lenet_direct": ((3, 1, 12, 12), (6, 1, 5, 5), 1, 0, 1, 1, True),
    "one_channel_many_filters": ((2, 1, 12, 12), (32, 1, 5, 5), 1, 0, 1, 1, True),
    "depthwise": ((2, 8, 9, 7), (8, 1, 3, 3), 1, 1, 1, 8, True),
    "depthwise_mult_s2": ((2, 8, 9, 7), (16, 1, 3, 3), 2, 1, 1, 8, False),
    "depthwise_dilated_s3": ((2, 4, 11, 10), (4, 1, 3, 2), (3, 2), (2, 1), (2, 3), 4, True),
    "pointwise": ((2, 6, 6, 5), (4, 6, 1, 1), 1, 0, 1, 1, True),
    "pointwise_s2_groups": ((2, 6, 7, 7), (4, 3, 1, 1), 2, 0, 1, 2, False),
    "pointwise_padded": ((2, 6, 4, 4), (5, 6, 1, 1), 1, 1, 1, 1, True),
    "kernel_is_input": ((1, 5, 5, 5), (3, 5, 5, 5), 1, 0, 1, 1, True),
    "s3_p2_d2": ((2, 3, 10, 11), (5, 3, 3, 3), 3, 2, 2, 1, True),
    "stride_gt_kernel": ((2, 3, 9, 9), (2, 3, 2, 2), 4, 1, 1, 1, True),
    "pad_gt_kernel": ((1, 2, 4, 5), (3, 2, 3, 3), 1, 3, 1, 1, True),
    # padding > dilation*(K-1): the stride-1 input gradient is a convolution with negative padding
    "pad_gt_kernel_implicit": ((2, 16, 5, 6), (8, 16, 3, 3), 1, 3, 1, 1, True),
    "pad_gt_kernel_depthwise": ((2, 4, 5, 6), (4, 1, 3, 2), 1, (3, 2), 1, 4, True),
    "wide_implicit": ((2, 24, 6, 37), (20, 24, 3, 3), 1, 1, 1, 1, True),
    "wide_implicit_s2": ((2, 24, 9, 11), (18, 24, 3, 3), 2, 1, 1, 1, True),
    "groups3_16ch": ((2, 48, 6, 6), (48, 16, 3, 3), 1, 1, 1, 3, True),
    "many_channels_tiles": ((1, 64, 20, 21), (8, 64, 3, 3), 1, 1, 1, 1, True),
    "odd_everything": ((3, 5, 13, 6), (7, 5, 4, 3), (2, 1), (0, 2), (1, 2), 1, True),
    # Small images: the implicit GEMM's items hold several images (ragged last block), 40 rows in
    # panels of 13/13/14; unpadded and grouped: the source read in place.
    "small_images_batched": ((11, 32, 8, 8), (40, 32, 3, 3), 1, 1, 1, 1, True),
    "small_images_groups_in_place": ((9, 32, 6, 6), (24, 16, 3, 3), 1, 0, 1, 2, True),
    # Depthwise planes whose rows are whole vectors (row-by-row direct bodies, dy read in place by the
    # weight gradient), and long ragged rows (row bodies with a partial last vector).
    "depthwise_16x16": ((3, 8, 16, 16), (8, 1, 3, 3), 1, 1, 1, 8, True),
    "depthwise_long_rows": ((2, 4, 5, 70), (4, 1, 3, 3), 1, 1, 1, 4, True),
    "depthwise_mult_16_wide": ((2, 4, 8, 16), (8, 1, 3, 3), 1, 1, 1, 4, True),
    # Pointwise weight gradient with small images side by side in one col row (one packer call per
    # image, the row as wide as the packer's NR: 2 x 16 floats, 4 x 8 floats at unaligned offsets,
    # 2 x 8 doubles): only each image's own columns may be written.
    "pointwise_two_4x4": ((2, 3, 4, 4), (2, 3, 1, 1), 1, 0, 1, 1, True),
    "pointwise_four_2x4": ((4, 3, 2, 4), (2, 3, 1, 1), 1, 0, 1, 1, True),
    "pointwise_two_2x4": ((2, 3, 2, 4), (2, 3, 1, 1), 1, 0, 1, 1, True),
    # CUDA special cases (csrc/cuda/conv_special.cu). Input gradient with <= 4 input channels per
    # group: stem-like 7x7/2 on 3 channels, stride 3 with dilation, groups with 1, 2 and 4 channels
    # each, and 4 channels with 512 filters (shared-memory weights above 48 KB: float32 opts in,
    # float64 exceeds the cap and reads them from global memory).
    "stem_7x7_s2_c3": ((2, 3, 23, 22), (16, 3, 7, 7), 2, 3, 1, 1, True),
    "cin2_s3_dilated": ((2, 2, 14, 13), (5, 2, 3, 4), 3, (2, 1), (2, 3), 1, False),
    "cin1_groups2_s2": ((2, 2, 9, 10), (24, 1, 3, 3), 2, 1, 1, 2, True),
    "cin4_groups2_s2_rect": ((1, 8, 11, 9), (6, 4, 5, 3), (2, 3), (2, 1), 1, 2, True),
    "cin4_512_filters": ((1, 4, 6, 5), (512, 4, 3, 3), 2, 1, 1, 1, False),
    # Pointwise float32 convolutions as batched GEMMs (C and H*W multiples of 4), bias or none;
    # odd H*W and C stay on the implicit GEMM.
    "pointwise_gemm_bias": ((3, 20, 4, 6), (12, 20, 1, 1), 1, 0, 1, 1, True),
    "pointwise_gemm_nobias": ((2, 8, 4, 4), (36, 8, 1, 1), 1, 0, 1, 1, False),
    "pointwise_gemm_batch1": ((1, 12, 2, 6), (7, 12, 1, 1), 1, 0, 1, 1, True),
    "pointwise_odd_hw": ((2, 8, 5, 5), (6, 8, 1, 1), 1, 0, 1, 1, True),
}


def _run_config(name, dtype, rng, non_contiguous=False, device="cpu"):
    xs, ws, s, p, d, g, has_b = CONFIGS[name]
    shapes = [xs, ws] + ([(ws[0],)] if has_b else [])
    if has_b:
        tfn = lambda x, w, b: TF.conv2d(x, w, b, s, p, d, g)
        ffn = lambda x, w, b: conv2d(x, w, b, s, p, d, g)
    else:
        tfn = lambda x, w: TF.conv2d(x, w, None, s, p, d, g)
        ffn = lambda x, w: conv2d(x, w, None, s, p, d, g)
    check_op(tfn, ffn, shapes, dtype=dtype, rng=rng, low=-1.0, high=1.0, non_contiguous=non_contiguous,
             device=device, **tol(dtype))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_matches_torch(name, dtype, rng, device):
    _run_config(name, dtype, rng, device=device)


@pytest.mark.parametrize("name", ["basic", "depthwise", "pointwise", "wide_implicit", "lenet_direct"])
def test_conv2d_non_contiguous(name, rng):
    _run_config(name, "float32", rng, non_contiguous=True)


@pytest.mark.parametrize("name", ["basic", "rect_groups", "depthwise_mult_s2", "pointwise", "wide_implicit",
                                  "wide_implicit_s2", "lenet_direct", "s3_p2_d2", "groups3_16ch",
                                  "small_images_batched", "small_images_groups_in_place", "depthwise_16x16",
                                  "depthwise_long_rows", "depthwise_mult_16_wide", "pointwise_two_4x4",
                                  "pointwise_four_2x4", "pointwise_two_2x4"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_every_capability(cap, name, dtype, rng):
    _run_config(name, dtype, rng)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((4, 4), 1), ((2, 5), (2, 1)), ((3, 2), 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_string_padding(padding, kernel, dilation, dtype, rng):
    ws = (4, 3) + kernel
    check_op(lambda x, w, b: TF.conv2d(x, w, b, 1, padding, dilation),
             lambda x, w, b: conv2d(x, w, b, 1, padding, dilation),
             [(2, 3, 9, 10), ws, (4,)], dtype=dtype, rng=rng, low=-1, high=1, **tol(dtype))


def test_conv2d_batch_one_large_image_splits_over_threads(rng):
    # N=1: the work items are pixel tiles (forward) / the GEMM threads itself (backward).
    check_op(lambda x, w, b: TF.conv2d(x, w, b, 1, 1), lambda x, w, b: conv2d(x, w, b, 1, 1),
             [(1, 32, 30, 30), (24, 32, 3, 3), (24,)], rng=rng, low=-1, high=1, **TOL32)


def test_conv2d_small_images_many_batched_in_weight_grad(rng):
    # P = 16 pixels: the weight gradient batches several images per GEMM (and a ragged last chunk).
    check_op(lambda x, w, b: TF.conv2d(x, w, b, 1, 1), lambda x, w, b: conv2d(x, w, b, 1, 1),
             [(20, 128, 4, 4), (8, 128, 3, 3), (8,)], rng=rng, low=-1, high=1, **TOL32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_unbatched(dtype, rng):
    check_op(lambda x, w, b: TF.conv2d(x, w, b, 1, 1), lambda x, w, b: conv2d(x, w, b, 1, 1),
             [(3, 6, 7), (5, 3, 3, 3), (5,)], dtype=dtype, rng=rng, low=-1, high=1, **tol(dtype))


def test_conv2d_empty_batch(rng):
    x = rand_array((0, 3, 6, 6), "float32", rng)
    w = rand_array((4, 3, 3, 3), "float32", rng)
    b = rand_array((4,), "float32", rng)
    fx, fw, fb = (fl_tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(fx, fw, fb, 1, 1)
    assert tuple(y.shape) == (0, 4, 6, 6)
    y.sum().backward()
    assert tuple(fx.grad.shape) == (0, 3, 6, 6)
    np.testing.assert_array_equal(to_np(fw.grad), np.zeros((4, 3, 3, 3), np.float32))
    np.testing.assert_array_equal(to_np(fb.grad), np.zeros(4, np.float32))


def test_conv2d_grads_only_where_needed(rng):
    x = fl_tensor(rand_array((2, 3, 5, 5), "float32", rng))
    w = fl_tensor(rand_array((4, 3, 3, 3), "float32", rng), requires_grad=True)
    y = conv2d(x, w, None, 1, 1)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert w.grad is not None and x.grad is None
    with flambeau.no_grad():
        z = conv2d(x, w)
    assert not z.requires_grad


@pytest.mark.parametrize("name", ["basic", "rect_groups", "depthwise_mult_s2", "pointwise_s2_groups",
                                  "lenet_direct", "s3_p2_d2"])
def test_conv2d_gradcheck(name, rng):
    xs, ws, s, p, d, g, has_b = CONFIGS[name]
    xs = (min(xs[0], 2),) + xs[1:]
    x = fl_tensor(rand_array(xs, "float64", rng), requires_grad=True)
    w = fl_tensor(rand_array(ws, "float64", rng), requires_grad=True)
    b = fl_tensor(rand_array((ws[0],), "float64", rng), requires_grad=True) if has_b else None
    args = (x, w, b) if has_b else (x, w)
    fn = (lambda x, w, b: conv2d(x, w, b, s, p, d, g)) if has_b else (lambda x, w: conv2d(x, w, None, s, p, d, g))
    assert flambeau.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_gradgradcheck(transposed, rng):
    if transposed:
        x = fl_tensor(rand_array((1, 4, 2, 3), "float64", rng), requires_grad=True)
        w = fl_tensor(rand_array((4, 1, 2, 2), "float64", rng), requires_grad=True)
        b = fl_tensor(rand_array((2,), "float64", rng), requires_grad=True)
        fn = lambda x, w, b: conv_transpose2d(x, w, b, 2, 1, 1, 2)
    else:
        x = fl_tensor(rand_array((1, 4, 4, 5), "float64", rng), requires_grad=True)
        w = fl_tensor(rand_array((4, 2, 3, 2), "float64", rng), requires_grad=True)
        b = fl_tensor(rand_array((4,), "float64", rng), requires_grad=True)
        fn = lambda x, w, b: conv2d(x, w, b, (2, 1), 1, 1, 2)
    assert flambeau.autograd.gradgradcheck(fn, (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_conv2d_double_backward_matches_torch(rng):
    x0 = rand_array((2, 3, 6, 6), "float64", rng)
    w0 = rand_array((4, 3, 3, 3), "float64", rng)
    res = []
    for lib, conv in ((torch, TF.conv2d), (flambeau, conv2d)):
        x = lib.tensor(x0, requires_grad=True)
        w = lib.tensor(w0, requires_grad=True)
        y = conv(x, w, None, 1, 1)
        (gx,) = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        (gw,) = lib.autograd.grad((gx * gx).sum(), w)
        res.append(to_np(gw))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["basic", "wide_implicit", "depthwise", "pointwise", "many_channels_tiles",
                                  "one_channel_many_filters", "small_images_batched", "depthwise_16x16"])
def test_conv2d_deterministic_and_thread_count_independent(name, rng):
    xs, ws, s, p, d, g, has_b = CONFIGS[name]
    x = rand_array((4,) + xs[1:], "float32", rng)
    w = rand_array(ws, "float32", rng)
    prev = _C.get_num_threads()
    outs = []
    try:
        for nt in (1, 2, 2, 3):
            _C.set_num_threads(nt)
            fx, fw = fl_tensor(x, requires_grad=True), fl_tensor(w, requires_grad=True)
            y = conv2d(fx, fw, None, s, p, d, g)
            y.backward(fl_tensor(np.ones(tuple(y.shape), np.float32)))
            outs.append((to_np(y), to_np(fx.grad), to_np(fw.grad)))
    finally:
        _C.set_num_threads(prev)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ conv_transpose2d
TCONFIGS = {
    "basic": ((2, 4, 5, 6), (4, 3, 3, 3), 1, 0, 0, 1, 1, True),
    "s2_p1_op1": ((2, 4, 5, 6), (4, 3, 3, 3), 2, 1, 1, 1, 1, True),
    "groups_rect": ((1, 6, 4, 5), (6, 2, 3, 2), (2, 3), (1, 0), (1, 2), 3, 1, False),
    "dilated": ((2, 3, 5, 5), (3, 5, 3, 3), 2, 2, 1, 1, 2, True),
    "depthwise": ((2, 8, 6, 6), (8, 1, 4, 4), 2, 1, 0, 8, 1, True),
    "wide": ((2, 24, 7, 9), (24, 20, 3, 3), 1, 1, 0, 1, 1, True),
    # forward = conv2d's input gradient with 3 / 2 channels per group: the CUDA small-Cg kernel
    "to_rgb_s2": ((2, 16, 5, 6), (16, 3, 4, 4), 2, 1, 1, 1, 1, True),
    "groups2_s3_dilated": ((1, 6, 4, 5), (6, 2, 3, 3), 3, 1, 2, 2, 2, False),
    # forward = a 1x1 conv2d's input gradient: the CUDA pointwise GEMM
    "pointwise": ((2, 12, 4, 4), (12, 8, 1, 1), 1, 0, 0, 1, 1, True),
}


@pytest.mark.parametrize("name", sorted(TCONFIGS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d_matches_torch(name, dtype, rng, device):
    xs, ws, s, p, op, g, d, has_b = TCONFIGS[name]
    shapes = [xs, ws] + ([(ws[1] * g,)] if has_b else [])
    if has_b:
        tfn = lambda x, w, b: TF.conv_transpose2d(x, w, b, s, p, op, g, d)
        ffn = lambda x, w, b: conv_transpose2d(x, w, b, s, p, op, g, d)
    else:
        tfn = lambda x, w: TF.conv_transpose2d(x, w, None, s, p, op, g, d)
        ffn = lambda x, w: conv_transpose2d(x, w, None, s, p, op, g, d)
    check_op(tfn, ffn, shapes, dtype=dtype, rng=rng, low=-1, high=1, device=device, **tol(dtype))


def test_conv_transpose2d_unbatched_and_gradcheck(rng):
    check_op(lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 1),
             lambda x, w: conv_transpose2d(x, w, None, 2, 1, 1), [(3, 4, 5), (3, 2, 3, 3)], rng=rng, **TOL32)
    x = fl_tensor(rand_array((2, 4, 3, 4), "float64", rng), requires_grad=True)
    w = fl_tensor(rand_array((4, 3, 2, 3), "float64", rng), requires_grad=True)
    b = fl_tensor(rand_array((3,), "float64", rng), requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, (2, 1), (0, 1), (1, 0)),
                                       (x, w, b), eps=1e-6, atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------------------------- errors
def _t(shape, dtype="float32"):
    return fl_tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("fn,match", [
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 4, 3, 3))),
     r"conv2d: input \[1, 3, 5, 5\] has 3 channels, weight \[4, 4, 3, 3\] expects 4 \(groups=1\)"),
    (lambda: conv2d(_t((1, 4, 5, 5)), _t((8, 2, 3, 3)), groups=4), r"conv2d: .* has 4 channels, .*expects 8 \(groups=4\)"),
    (lambda: conv2d(_t((1, 4, 5, 5)), _t((5, 2, 3, 3)), groups=2), r"5 output channels, not divisible by groups=2"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), padding=-1), r"conv2d: negative padding"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=0), r"conv2d: stride must be positive"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), dilation=0), r"conv2d: dilation must be positive"),
    (lambda: conv2d(_t((1, 3, 4, 4)), _t((4, 3, 5, 5))), r"conv2d: kernel 5x5 .* larger than the padded input 4x4"),
    (lambda: conv2d(_t((1, 3, 4, 4)), _t((4, 3, 3, 3)), dilation=2), r"effective 5x5\) is larger than the padded"),
    (lambda: conv2d(_t((3, 4, 4)), _t((4, 3, 3))), r"conv2d: expected a 4-D weight"),
    (lambda: conv2d(_t((1, 1, 3, 4, 4)), _t((4, 3, 3, 3))), r"Expected 3D \(unbatched\) or 4D"),
    (lambda: _C.conv2d(_t((3, 4, 4))._impl, _t((4, 3, 3, 3))._impl), r"conv2d: expected a 4-D input \[N, C, H, W\]"),
    (lambda: conv2d(_t((4, 4)), _t((4, 3, 3, 3))), r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), _t((3,))), r"conv2d: bias \[3\] should be 1-D with 4"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), groups=0), r"conv2d: groups must be positive"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 2, 2)), stride=2, padding="same"), r"strided convolutions"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), padding="full"), r"Invalid padding string"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=(1, 1, 1)), r"stride"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((0, 3, 3, 3))), r"no output channels"),
    (lambda: conv_transpose2d(_t((1, 3, 5, 5)), _t((3, 2, 3, 3)), output_padding=1),
     r"conv_transpose2d: output_padding \[1\] must be smaller than either stride or dilation"),
    (lambda: conv_transpose2d(_t((1, 3, 5, 5)), _t((4, 2, 3, 3))), r"conv_transpose2d: input .* has 3 channels"),
    (lambda: conv_transpose2d(_t((1, 2, 1, 1)), _t((2, 2, 3, 3)), stride=1, padding=3), r"too small"),
])
def test_conv_errors(fn, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        fn()


def test_conv_dtype_errors():
    with pytest.raises(TypeError, match=r"conv2d: input is float64 but weight is float32"):
        conv2d(_t((1, 3, 5, 5), "float64"), _t((4, 3, 3, 3)))
    with pytest.raises(TypeError, match=r"conv2d: expected a float32 or float64 input, got int64"):
        _C.conv2d(_C.full([1, 3, 5, 5], 0, "int64", "cpu"), _C.full([4, 3, 3, 3], 0, "int64", "cpu"))
    with pytest.raises(TypeError, match=r"'stride' must be an int"):
        conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=1.5)


def test_conv_backward_checks_grad_shape():
    with pytest.raises(RuntimeError, match=r"conv2d_backward: grad_output has shape \[1, 4, 5, 5\], expected \[1, 4, 3, 3\]"):
        _C.conv2d_backward(_t((1, 4, 5, 5))._impl, _t((1, 3, 5, 5))._impl, _t((4, 3, 3, 3))._impl)


def test_small_convolutions_leave_the_heap_intact():
    """Many small forward/backward calls (1x1 and 3x3, every capability) in a fresh process: a kernel
    that writes past a buffer shows up as glibc's abort ('corrupted size vs. prev_size'), which a
    value comparison in this process could miss (a WIP conv change did exactly that)."""
    import subprocess
    import sys
    code = (
        "import flambeau as fl\n"
        "from flambeau import _C\n"
        "for i in range(40):\n"
        "    for (c, o, k, s) in [(3, 2, 1, 4), (1, 6, 5, 12), (16, 8, 3, 5), (3, 64, 3, 9)]:\n"
        "        x = fl.randn(2, c, s, s); w = fl.randn(o, c, k, k); g = fl.randn(2, o, s - k + 1, s - k + 1)\n"
        "        _C.conv2d_backward(g._impl, x._impl, w._impl, [1, 1], [0, 0], [1, 1], 1, [True, True, True])\n"
        "import gc; gc.collect()\n"
        "print('ok')\n")
    import os
    from pathlib import Path
    pkg_root = str(Path(flambeau.__file__).resolve().parent.parent)
    for cap in ("default", "avx2", "avx512"):
        env = dict(os.environ, FLAMBEAU_CPU_CAPABILITY=cap,
                   PYTHONPATH=os.pathsep.join([pkg_root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "ok" in proc.stdout, (cap, proc.returncode, proc.stderr[-500:])
