"""max_pool2d / avg_pool2d / adaptive_avg_pool2d / adaptive_max_pool2d (`_C` kernels,
csrc/cpu/pooling.cpp) against PyTorch CPU: values, indices (exactly), gradients, PyTorch's output-size
rules (ceil_mode's last-window rule, padding <= kernel/2), count_include_pad and divisor_override, ties
and NaN semantics, unbatched / empty / non-contiguous inputs, float64 gradcheck and gradgradcheck, and
argument errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions.pooling import max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
from helpers import check_op, fl_tensor, to_np, rand_array

DTYPES = ["float32", "float64"]

# shape, kernel, stride, padding, dilation, ceil_mode
MAX_CONFIGS = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 9, 7), 3, 2, 1, 1, False),
    ((2, 3, 9, 7), 3, 2, 1, 1, True),
    ((1, 2, 5, 5), 2, 2, 1, 1, True),          # ceil_mode: the last window would start in the right padding
    ((2, 2, 10, 11), (3, 2), (2, 3), (1, 1), (2, 1), False),
    ((2, 2, 10, 11), (3, 2), (2, 3), (1, 0), (2, 3), True),
    ((3, 4, 7, 6), 1, 1, 0, 1, False),
    ((1, 1, 4, 4), 4, 4, 2, 1, True),
    ((2, 3, 6, 6), (2, 2), (1, 1), 0, 1, False),
    ((1, 2, 13, 5), (5, 3), (4, 1), (2, 1), (1, 1), True),
    ((2, 5, 3, 3), 3, 1, 1, 2, False),
    # wide rows: the vector loop over interior windows (stride 1 or 2, undilated rows), with edges
    ((2, 3, 9, 37), 3, 2, 1, 1, False),
    ((2, 3, 8, 32), 2, 2, 0, 1, False),
    ((1, 2, 7, 23), (2, 3), 1, (1, 1), (2, 1), True),
    ((1, 2, 6, 29), (3, 3), (1, 2), 1, (1, 2), False),   # dilated rows: the scalar loop
]


@pytest.mark.parametrize("cfg", MAX_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_matches_torch(cfg, dtype, rng, device):
    shape, k, s, p, d, ceil = cfg
    t_out, f_out = check_op(lambda x: TF.max_pool2d(x, k, s, p, d, ceil, True),
                            lambda x: max_pool2d(x, k, s, p, d, ceil, True), [shape], dtype=dtype, rng=rng,
                            device=device)
    np.testing.assert_array_equal(to_np(f_out[1]), to_np(t_out[1]))
    assert f_out[1].dtype == flambeau.int64


@pytest.mark.parametrize("cfg", MAX_CONFIGS[:4], ids=str)
def test_max_pool2d_without_indices_and_non_contiguous(cfg, rng):
    shape, k, s, p, d, ceil = cfg
    check_op(lambda x: TF.max_pool2d(x, k, s, p, d, ceil), lambda x: max_pool2d(x, k, s, p, d, ceil), [shape],
             rng=rng, non_contiguous=True)


def test_max_pool2d_ties_take_first_and_nan_wins(rng):
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(np.float32)   # many ties
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan
    x[1, 2, 4, 4] = -np.inf
    x[1, 1] = -np.inf                                             # a plane of -inf
    wide = rng.integers(0, 3, size=(2, 2, 6, 41)).astype(np.float64)   # rows wide enough for the vector loop
    wide[0, 0, 1, 3:9] = np.nan
    wide[0, 1, 2, 10:12] = -np.inf
    for a in (x, wide, wide.astype(np.float32)):
        for args in ((2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), (3, 1, 1, 1, False)):
            tv, ti = TF.max_pool2d(torch.tensor(a), *args, return_indices=True)
            fv, fi = max_pool2d(fl_tensor(a), *args, return_indices=True)
            np.testing.assert_array_equal(to_np(fv), to_np(tv))
            np.testing.assert_array_equal(to_np(fi), to_np(ti))
    tv, ti = TF.adaptive_max_pool2d(torch.tensor(x), (3, 5), return_indices=True)
    fv, fi = adaptive_max_pool2d(fl_tensor(x), (3, 5), return_indices=True)
    np.testing.assert_array_equal(to_np(fv), to_np(tv))
    np.testing.assert_array_equal(to_np(fi), to_np(ti))


# shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
AVG_CONFIGS = [
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((2, 3, 9, 7), 3, 2, 1, False, True, None),
    ((2, 3, 9, 7), 3, 2, 1, False, False, None),
    ((2, 3, 9, 7), 3, 2, 1, True, True, None),
    ((2, 3, 9, 7), 3, 2, 1, True, False, None),
    ((1, 2, 5, 5), 2, 2, 1, True, True, None),
    ((2, 2, 10, 11), (3, 2), (2, 3), (1, 1), True, True, None),
    ((2, 2, 10, 11), (4, 2), (1, 2), (2, 0), False, False, 3),
    ((1, 3, 6, 6), 3, 3, 0, False, True, -2),
    ((3, 1, 7, 5), (5, 3), 1, (2, 1), True, False, None),
]


@pytest.mark.parametrize("cfg", AVG_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d_matches_torch(cfg, dtype, rng, device):
    shape, k, s, p, ceil, cip, div = cfg
    check_op(lambda x: TF.avg_pool2d(x, k, s, p, ceil, cip, div), lambda x: avg_pool2d(x, k, s, p, ceil, cip, div),
             [shape], dtype=dtype, rng=rng, device=device)


@pytest.mark.parametrize("out", [1, 3, (2, 5), (7, 4), (None, 2), (11, 13), (4, None)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_pools_match_torch(out, dtype, rng, device):
    shape = (2, 3, 7, 9)
    check_op(lambda x: TF.adaptive_avg_pool2d(x, out), lambda x: adaptive_avg_pool2d(x, out), [shape],
             dtype=dtype, rng=rng, device=device)
    t_out, f_out = check_op(lambda x: TF.adaptive_max_pool2d(x, out, True),
                            lambda x: adaptive_max_pool2d(x, out, True), [shape], dtype=dtype, rng=rng,
                            device=device)
    np.testing.assert_array_equal(to_np(f_out[1]), to_np(t_out[1]))


@pytest.mark.parametrize("which", ["max", "avg", "aavg", "amax"])
def test_pooling_unbatched_empty_and_non_contiguous(which, rng):
    fns = {
        "max": (lambda x: TF.max_pool2d(x, 3, 2, 1), lambda x: max_pool2d(x, 3, 2, 1)),
        "avg": (lambda x: TF.avg_pool2d(x, 3, 2, 1, True), lambda x: avg_pool2d(x, 3, 2, 1, True)),
        "aavg": (lambda x: TF.adaptive_avg_pool2d(x, (3, 2)), lambda x: adaptive_avg_pool2d(x, (3, 2))),
        "amax": (lambda x: TF.adaptive_max_pool2d(x, (3, 2)), lambda x: adaptive_max_pool2d(x, (3, 2))),
    }
    tf, ff = fns[which]
    check_op(tf, ff, [(4, 7, 6)], rng=rng)                                  # unbatched
    check_op(tf, ff, [(2, 4, 7, 6)], rng=rng, non_contiguous=True)
    x = fl_tensor(np.zeros((0, 3, 7, 6), np.float32), requires_grad=True)  # empty batch
    y = ff(x)
    assert tuple(y.shape) == tuple(tf(torch.zeros(0, 3, 7, 6)).shape)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 7, 6)


def test_adaptive_zero_output_size(rng):
    x = fl_tensor(rand_array((1, 2, 4, 4), "float32", rng), requires_grad=True)
    y = adaptive_avg_pool2d(x, (0, 3))
    assert tuple(y.shape) == (1, 2, 0, 3)
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), np.zeros((1, 2, 4, 4), np.float32))


@pytest.mark.parametrize("which", ["max", "avg", "aavg", "amax"])
def test_pooling_gradcheck_and_gradgradcheck(which, rng):
    fns = {
        "max": lambda x: max_pool2d(x, (3, 2), (2, 1), 1, (1, 2), True),
        "avg": lambda x: avg_pool2d(x, 3, 2, 1, True, False),
        "aavg": lambda x: adaptive_avg_pool2d(x, (3, 4)),
        "amax": lambda x: adaptive_max_pool2d(x, (4, 3)),
    }
    # Distinct, well separated values so that finite differences never cross a max.
    vals = rng.permutation(2 * 3 * 7 * 6).astype(np.float64).reshape(2, 3, 7, 6) * 0.1
    x = fl_tensor(vals, requires_grad=True)
    assert flambeau.autograd.gradcheck(fns[which], (x,), eps=1e-6, atol=1e-6, rtol=1e-5)
    assert flambeau.autograd.gradgradcheck(fns[which], (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
def test_pooling_every_capability(cap, rng):
    prev = _C.cpu_capability()
    _C.set_cpu_capability(cap)
    try:
        check_op(lambda x: TF.max_pool2d(x, 2), lambda x: max_pool2d(x, 2), [(2, 3, 8, 9)], rng=rng)
        check_op(lambda x: TF.avg_pool2d(x, 3, 2, 1), lambda x: avg_pool2d(x, 3, 2, 1), [(2, 3, 8, 9)], rng=rng)
    finally:
        _C.set_cpu_capability(prev)


def test_pooling_thread_count_independent(rng):
    x = rand_array((8, 16, 12, 12), "float32", rng)
    prev = _C.get_num_threads()
    outs = []
    try:
        for nt in (1, 2, 3):
            _C.set_num_threads(nt)
            fx = fl_tensor(x, requires_grad=True)
            (max_pool2d(fx, 3, 1, 1).sum() + avg_pool2d(fx, 3, 1, 1).sum()).backward()
            outs.append(to_np(fx.grad))
    finally:
        _C.set_num_threads(prev)
    for o in outs[1:]:
        np.testing.assert_array_equal(outs[0], o)


# ------------------------------------------------------------------------------------- errors
def _t(shape, dtype="float32"):
    return fl_tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("fn,match", [
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 3, padding=2), r"max_pool2d: padding \[2\] should be at most half of kernel_size \[3\]"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 3, padding=-1), r"max_pool2d: padding must be non-negative"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 3, stride=0), r"max_pool2d: stride must be positive"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 0), r"max_pool2d: kernel_size must be positive"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 2, dilation=0), r"max_pool2d: dilation must be positive"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), 9), r"max_pool2d: input \[1, 2, 7, 7\] gives output size 0x0 .*too small"),
    (lambda: max_pool2d(_t((2, 0, 7, 7)), 2), r"max_pool2d: expected a 3-D \[C, H, W\] or 4-D .* got shape \[2, 0, 7, 7\]"),
    (lambda: max_pool2d(_t((7, 7)), 2), r"max_pool2d: expected a 3-D"),
    (lambda: max_pool2d(_t((1, 2, 7, 7)), (2, 2, 2)), r"kernel_size"),
    (lambda: avg_pool2d(_t((1, 2, 7, 7)), 3, padding=2), r"avg_pool2d: padding \[2\] should be at most half"),
    (lambda: avg_pool2d(_t((1, 2, 7, 7)), 3, divisor_override=0), r"divisor must be not zero"),
    (lambda: adaptive_avg_pool2d(_t((1, 2, 0, 4)), 3),
     r"adaptive_avg_pool2d\(\): Expected input to have non-zero size .* \[1, 2, 0, 4\] with dimension 2"),  # PyTorch's
    (lambda: adaptive_avg_pool2d(_t((1, 2, 4, 4)), -1),
     r"adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received \{-1, -1\}"),
    (lambda: adaptive_max_pool2d(_t((4, 4)), 2), r"adaptive_max_pool2d: expected a 3-D"),
])
def test_pooling_errors(fn, match):
    with pytest.raises(RuntimeError, match=match):
        fn()


def test_pooling_dtype_and_index_errors():
    with pytest.raises(TypeError, match=r"max_pool2d: expected a float32 or float64 input, got int64"):
        _C.max_pool2d(_C.full([1, 1, 4, 4], 0, "int64", "cpu"), 2)
    g = _t((1, 1, 2, 2))._impl
    bad = _C.full([1, 1, 2, 2], 16, "int64", "cpu")
    with pytest.raises(IndexError, match=r"max_pool2d_backward: an index is out of range"):
        _C.max_pool2d_backward(g, bad, [1, 1, 4, 4])
    with pytest.raises(RuntimeError, match=r"indices shape \[1, 1, 1, 2\] differs"):
        _C.max_pool2d_backward(g, _C.full([1, 1, 1, 2], 0, "int64", "cpu"), [1, 1, 4, 4])
    with pytest.raises(RuntimeError, match=r"avg_pool2d_backward: grad_output has shape \[1, 1, 2, 2\], expected \[1, 1, 3, 3\]"):
        _C.avg_pool2d_backward(g, [1, 1, 6, 6], 2, None, 0)
