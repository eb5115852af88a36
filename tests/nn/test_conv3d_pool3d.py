"""The volumetric (3-D) layers against PyTorch (CPU): F.conv3d / F.conv_transpose3d (stride, padding
int/tuple/'same'/'valid', dilation, groups incl. depthwise, bias, output_padding), the 3-D pools
(max with indices, ceil_mode, dilation and NaN propagation; average with count_include_pad,
ceil_mode, divisor_override; adaptive average and max; max_unpool3d; lp_pool3d), and the modules
(Conv3d with every padding_mode, ConvTranspose3d with output_size, MaxPool3d, AvgPool3d,
AdaptiveAvg/MaxPool3d, MaxUnpool3d, LPPool3d, InstanceNorm3d, BatchNorm3d, the 3-D pads, the lazy
3-D modules): forward values and every gradient, odd sizes, batch 1, empty batches, unbatched
inputs, non-contiguous views, float32 and float64, finite-difference gradient checks, state_dict
keys, reset_parameters, repr, and the error messages."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
import flambeau.nn.functional as F
from flambeau import nn
from flambeau.autograd import gradcheck, gradgradcheck
from helpers import check_op, on_each_cpu_capability
from nn_helpers import check_module, t2f


def pair(ctor):
    """(torch module, flambeau module) built by the same constructor expression."""
    return ctor(torch.nn), ctor(nn)


def randn(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


def conv_fn(**kw):
    """The same conv3d call for both libraries: (x, w[, b]) -> conv3d(x, w, b, **kw)."""
    return (lambda x, w, b=None: TF.conv3d(x, w, b, **kw)), (lambda x, w, b=None: F.conv3d(x, w, b, **kw))


def convt_fn(**kw):
    return ((lambda x, w, b=None: TF.conv_transpose3d(x, w, b, **kw)),
            (lambda x, w, b=None: F.conv_transpose3d(x, w, b, **kw)))


# ---------------------------------------------------------------------------------------------------
# F.conv3d

# (input shape, weight shape, kwargs): odd sizes, every argument, depthwise, batch 1, pointwise.
CONV_CASES = [
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), dict()),
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), dict(padding=1)),
    ((1, 4, 7, 5, 9), (6, 2, 3, 2, 3), dict(stride=(2, 1, 3), padding=(1, 0, 2), groups=2)),
    ((2, 2, 7, 8, 6), (3, 2, 2, 3, 2), dict(dilation=(2, 1, 3), padding=(0, 2, 1))),
    ((2, 4, 6, 5, 7), (4, 1, 3, 3, 3), dict(padding=1, groups=4)),                 # depthwise
    ((1, 3, 5, 5, 5), (6, 1, 3, 1, 3), dict(stride=2, padding=(1, 0, 1), groups=3)),  # depthwise x2
    ((3, 5, 4, 3, 6), (7, 5, 1, 1, 1), dict()),                                  # pointwise
    ((2, 3, 6, 6, 6), (2, 3, 1, 1, 1), dict(stride=2)),                          # strided 1x1x1
    ((1, 2, 9, 4, 5), (3, 2, 4, 2, 3), dict(stride=(3, 2, 1), dilation=(1, 2, 1), padding=2)),
    ((2, 6, 5, 4, 4), (6, 2, 2, 2, 2), dict(groups=3, padding="same")),          # even kernel 'same'
    ((2, 2, 5, 6, 3), (3, 2, 3, 2, 3), dict(padding="same", dilation=(1, 3, 2))),
    ((2, 2, 5, 6, 4), (3, 2, 3, 2, 3), dict(padding="valid", stride=(1, 2, 1))),
]


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_conv3d_matches_torch(xs, ws, kw, bias):
    t_fn, f_fn = conv_fn(**kw)
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    check_op(t_fn, f_fn, shapes=shapes)


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES[1:6], ids=[str(i) for i in range(5)])
def test_conv3d_float64_noncontiguous(xs, ws, kw):
    t_fn, f_fn = conv_fn(**kw)
    check_op(t_fn, f_fn, shapes=[xs, ws, (ws[0],)], dtype="float64", non_contiguous=True)


def test_conv3d_noncontiguous_float32_step():
    t_fn, f_fn = conv_fn(padding=1, stride=(1, 2, 1))
    check_op(t_fn, f_fn, shapes=[(2, 3, 4, 5, 6), (4, 3, 3, 3, 3), (4,)], non_contiguous=True)
    check_op(t_fn, f_fn, shapes=[(2, 3, 4, 5, 6), (4, 3, 3, 3, 3), (4,)], non_contiguous="step")


def test_conv3d_unbatched_and_empty_batch():
    t_fn, f_fn = conv_fn(padding=1, stride=2)
    check_op(t_fn, f_fn, shapes=[(3, 5, 6, 7), (4, 3, 3, 3, 3), (4,)])
    t_out, f_out = check_op(t_fn, f_fn, shapes=[(0, 3, 5, 6, 7), (4, 3, 3, 3, 3), (4,)])
    assert tuple(f_out.shape) == (0, 4, 3, 3, 4)
    # empty batch, backward: zero weight and bias gradients (as torch)
    x = flambeau.zeros(0, 3, 5, 6, 7, requires_grad=True)
    w = flambeau.randn(4, 3, 3, 3, 3, requires_grad=True)
    b = flambeau.randn(4, requires_grad=True)
    F.conv3d(x, w, b, padding=1).sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 5, 6, 7)
    assert float(w.grad.abs().sum()) == 0.0 and float(b.grad.abs().sum()) == 0.0


def test_conv3d_larger_problem_matches_torch():
    # Enough work to go through the threaded paths and several position tiles per image. Each output
    # sums up to 216 products of values in [-2, 2] (|sum| up to ~15): another summation order (the
    # AVX-512 micro-kernel's, say) moves a cancelling output by ~1e-5, so the forward atol is 5e-5.
    t_fn, f_fn = conv_fn(padding=1)
    check_op(t_fn, f_fn, shapes=[(2, 8, 10, 12, 14), (16, 8, 3, 3, 3), (16,)], atol=5e-5, grad_atol=5e-4)
    t_fn, f_fn = conv_fn(padding=(1, 0, 1), stride=(1, 2, 2), groups=2)
    check_op(t_fn, f_fn, shapes=[(1, 8, 9, 16, 16), (12, 4, 3, 2, 3), (12,)], atol=5e-5, grad_atol=5e-4)
    # one image, one group: the input gradient's GEMM threads itself and col2vol splits the channels
    t_fn, f_fn = conv_fn(padding=(0, 1, 2), stride=(1, 1, 2))
    check_op(t_fn, f_fn, shapes=[(1, 6, 8, 12, 14), (16, 6, 3, 3, 3), (16,)], atol=5e-5, grad_atol=5e-4)
    # a small output with many channels: fewer work items than threads, the GEMMs thread themselves
    t_fn, f_fn = conv_fn(padding=1)
    check_op(t_fn, f_fn, shapes=[(1, 32, 4, 4, 4), (32, 32, 3, 3, 3), (32,)], atol=5e-5, grad_atol=5e-4)


def test_conv3d_every_cpu_capability():
    # The GEMM's micro-kernels differ per capability (portable, AVX2, AVX-512): the same answers.
    def run():
        t_fn, f_fn = conv_fn(padding=1, stride=(1, 2, 1), groups=2)
        check_op(t_fn, f_fn, shapes=[(2, 4, 5, 6, 7), (6, 2, 3, 3, 3), (6,)])
        t_fn, f_fn = convt_fn(stride=2, padding=1, output_padding=1)
        check_op(t_fn, f_fn, shapes=[(2, 3, 3, 4, 3), (3, 4, 3, 3, 3), (4,)], dtype="float64")
        return True
    assert all(on_each_cpu_capability(["default", "avx2", "avx512"], run))


# ---------------------------------------------------------------------------------------------------
# F.conv_transpose3d

CONVT_CASES = [
    ((2, 3, 4, 5, 3), (3, 4, 3, 3, 3), dict()),
    ((2, 4, 3, 4, 5), (4, 3, 3, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((1, 2, 4, 3, 5), (2, 3, 2, 3, 2), dict(stride=(2, 1, 3), padding=(0, 1, 1), output_padding=(1, 0, 2))),
    ((2, 2, 3, 4, 3), (2, 2, 3, 3, 2), dict(stride=2, dilation=(2, 1, 2), output_padding=1)),
    ((2, 4, 5, 4, 4), (4, 1, 3, 3, 3), dict(padding=1, groups=4)),                 # depthwise
    ((2, 3, 5, 6, 4), (3, 2, 3, 3, 3), dict(padding=2)),
]


@pytest.mark.parametrize("xs,ws,kw", CONVT_CASES, ids=[str(i) for i in range(len(CONVT_CASES))])
def test_conv_transpose3d_matches_torch(xs, ws, kw):
    t_fn, f_fn = convt_fn(**kw)
    cout = ws[1] * kw.get("groups", 1)
    check_op(t_fn, f_fn, shapes=[xs, ws, (cout,)])
    check_op(t_fn, f_fn, shapes=[xs, ws])


@pytest.mark.parametrize("xs,ws,kw", CONVT_CASES[:4], ids=[str(i) for i in range(4)])
def test_conv_transpose3d_float64_noncontiguous(xs, ws, kw):
    t_fn, f_fn = convt_fn(**kw)
    cout = ws[1] * kw.get("groups", 1)
    check_op(t_fn, f_fn, shapes=[xs, ws, (cout,)], dtype="float64", non_contiguous=True)


def test_conv_transpose3d_unbatched_and_empty_batch():
    t_fn, f_fn = convt_fn(stride=2, output_padding=1)
    check_op(t_fn, f_fn, shapes=[(3, 2, 3, 4), (3, 2, 3, 3, 3), (2,)])
    _, f_out = check_op(t_fn, f_fn, shapes=[(0, 3, 2, 3, 4), (3, 2, 3, 3, 3), (2,)])
    assert tuple(f_out.shape) == (0, 2, 6, 8, 10)


# ---------------------------------------------------------------------------------------------------
# finite-difference gradient checks (float64, tiny)

def _leaf(shape, seed):
    rng = np.random.default_rng(seed)
    return flambeau.tensor(rng.standard_normal(shape), dtype=flambeau.float64, requires_grad=True)


def test_gradcheck_conv3d_and_transpose():
    x, w, b = _leaf((1, 2, 3, 4, 3), 0), _leaf((2, 1, 2, 3, 2), 1), _leaf((2,), 2)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2), (x, w, b))
    assert gradgradcheck(lambda x, w: F.conv3d(x, w, padding=(1, 0, 1), groups=2), (x, w))
    xt, wt, bt = _leaf((1, 2, 2, 3, 2), 3), _leaf((2, 2, 2, 2, 3), 4), _leaf((2,), 5)
    assert gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, stride=2, padding=(0, 1, 1), output_padding=1),
                     (xt, wt, bt))
    assert gradgradcheck(lambda x, w: F.conv_transpose3d(x, w, stride=(1, 2, 1)), (xt, wt))


def test_gradcheck_pools():
    rng = np.random.default_rng(7)
    # distinct values, so that max pooling's finite differences never straddle a tie
    vals = rng.permutation(2 * 4 * 5 * 4).reshape(1, 2, 4, 5, 4) / 7.0
    x = flambeau.tensor(vals, dtype=flambeau.float64, requires_grad=True)
    assert gradcheck(lambda x: F.max_pool3d(x, 2, stride=(1, 2, 1), padding=1, ceil_mode=True), (x,))
    assert gradcheck(lambda x: F.adaptive_max_pool3d(x, (3, 2, 3)), (x,))
    assert gradcheck(lambda x: F.avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False), (x,))
    assert gradgradcheck(lambda x: F.avg_pool3d(x, 2, ceil_mode=True, divisor_override=3), (x,))
    assert gradcheck(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 5)), (x,))
    assert gradgradcheck(lambda x: F.adaptive_avg_pool3d(x, 2), (x,))
    assert gradgradcheck(lambda x: F.max_pool3d(x, 2), (x,))
    y, idx = F.max_pool3d(x.detach(), 2, return_indices=True)
    yv = y.clone().requires_grad_(True)
    assert gradcheck(lambda v: F.max_unpool3d(v, idx, 2, output_size=x.shape), (yv,))


# ---------------------------------------------------------------------------------------------------
# pooling

def _pool(name, **kw):
    return (lambda x: getattr(TF, name)(x, **kw)), (lambda x: getattr(F, name)(x, **kw))


POOL_CASES = [
    ("max_pool3d", dict(kernel_size=2)),
    ("max_pool3d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool3d", dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), dilation=(2, 1, 2))),
    ("max_pool3d", dict(kernel_size=2, ceil_mode=True)),
    ("max_pool3d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True)),
    ("avg_pool3d", dict(kernel_size=2)),
    ("avg_pool3d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool3d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg_pool3d", dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True)),
    ("avg_pool3d", dict(kernel_size=2, ceil_mode=True, count_include_pad=False)),
    ("avg_pool3d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5)),
    ("adaptive_avg_pool3d", dict(output_size=(2, 3, 4))),
    ("adaptive_avg_pool3d", dict(output_size=1)),
    ("adaptive_avg_pool3d", dict(output_size=(None, 2, 9))),
    ("adaptive_max_pool3d", dict(output_size=(3, 2, 4))),
    ("adaptive_max_pool3d", dict(output_size=(1, None, 8), return_indices=True)),
    ("lp_pool3d", dict(norm_type=2, kernel_size=2)),
    ("lp_pool3d", dict(norm_type=3, kernel_size=(2, 1, 2), stride=1, ceil_mode=True)),
]


@pytest.mark.parametrize("name,kw", POOL_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(POOL_CASES)])
def test_pool3d_matches_torch(name, kw):
    t_fn, f_fn = _pool(name, **kw)
    pos = name == "lp_pool3d"
    check_op(t_fn, f_fn, shapes=[(2, 3, 5, 6, 7)], positive=pos)        # odd sizes
    check_op(t_fn, f_fn, shapes=[(3, 4, 5, 6)], positive=pos)           # unbatched
    check_op(t_fn, f_fn, shapes=[(1, 2, 6, 5, 4)], positive=pos, dtype="float64", non_contiguous=True)
    if name != "lp_pool3d":
        _, out = check_op(t_fn, f_fn, shapes=[(0, 2, 6, 5, 4)], positive=pos)  # empty batch
        outs = out if isinstance(out, tuple) else (out,)
        assert outs[0].shape[0] == 0


def test_max_pool3d_indices_and_nan_propagation():
    x = randn(2, 3, 6, 5, 7)
    x[0, 0, 1, 1, 1] = np.nan
    x[1, 2, 4, 3, 5] = np.nan
    x[1, 2, 5, 4, 6] = np.nan
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=(2, 2, 3), dilation=(2, 1, 2), stride=1)):
        tv, ti = TF.max_pool3d(torch.from_numpy(x), return_indices=True, **kw)
        fv, fi = F.max_pool3d(t2f(x), return_indices=True, **kw)
        np.testing.assert_array_equal(fv.numpy(), tv.numpy())   # NaNs in the same places
        np.testing.assert_array_equal(fi.numpy(), ti.numpy())
        tv, ti = TF.adaptive_max_pool3d(torch.from_numpy(x), (3, 2, 4), return_indices=True)
        fv, fi = F.adaptive_max_pool3d(t2f(x), (3, 2, 4), return_indices=True)
        np.testing.assert_array_equal(fv.numpy(), tv.numpy())
        np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    # A dilated window wholly in the padding: -inf and an index past the volume, as torch; no gradient
    # flows from it (torch's backward adds it into the next channel's volume, a bug not copied).
    v = randn(2, 2, 2, 2, 2)
    tv, ti = TF.max_pool3d(torch.from_numpy(v), 2, stride=1, padding=1, dilation=3, return_indices=True)
    fx = t2f(v, requires_grad=True)
    fv, fi = F.max_pool3d(fx, 2, stride=1, padding=1, dilation=3, return_indices=True)
    np.testing.assert_array_equal(fv.detach().numpy(), tv.numpy())
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    fv.sum().backward()
    assert not np.any(fx.grad.numpy())
    # ties: the first maximum wins, as in torch
    z = np.zeros((1, 1, 4, 4, 4), np.float32)
    _, ti = TF.max_pool3d(torch.from_numpy(z), 2, return_indices=True)
    _, fi = F.max_pool3d(t2f(z), 2, return_indices=True)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3, 2), stride=(2, 2, 1))])
def test_max_unpool3d_matches_torch(kw):
    # Overlapping windows give duplicate indices; which duplicate lands is unspecified in torch (its
    # float32 and float64 kernels differ), so the values unpooled are max_pool3d's own outputs: the
    # duplicates then carry equal values. (flambeau writes them in order: the last one lands.)
    x = randn(2, 3, 6, 7, 5, dtype=np.float64)
    tv, ti = TF.max_pool3d(torch.from_numpy(x), return_indices=True, **kw)
    tv, ti = tv.numpy(), ti.numpy()
    k, s, p = kw["kernel_size"], kw.get("stride"), kw.get("padding", 0)
    for size in [(6, 7, 5), (2, 3, 6, 7, 5)]:
        def t_fn(v):
            return TF.max_unpool3d(v, torch.from_numpy(ti), k, s, p, output_size=size)

        def f_fn(v):
            return F.max_unpool3d(v, flambeau.from_numpy(ti.copy()), k, s, p, output_size=size)
        check_op(t_fn, f_fn, inputs=[tv.astype(np.float32)])
        check_op(t_fn, f_fn, inputs=[tv])
    if kw == dict(kernel_size=2):  # the default output size (max_pool3d's inverse), on an input it divides
        x2 = randn(1, 2, 6, 8, 4)
        _, ti2 = TF.max_pool3d(torch.from_numpy(x2), return_indices=True, **kw)
        ti2 = ti2.numpy()
        check_op(lambda v: TF.max_unpool3d(v, torch.from_numpy(ti2), k, s, p),
                 lambda v: F.max_unpool3d(v, flambeau.from_numpy(ti2.copy()), k, s, p), shapes=[ti2.shape])
    # unbatched, via the module
    tm, fm = pair(lambda n: n.MaxUnpool3d(k, s, p))
    tout = tm(torch.from_numpy(tv[1]), torch.from_numpy(ti[1]), output_size=(6, 7, 5))
    fout = fm(t2f(tv[1]), flambeau.from_numpy(ti[1].copy()), output_size=(6, 7, 5))
    np.testing.assert_array_equal(fout.numpy(), tout.numpy())


def test_pool3d_double_backward_matches_torch():
    x = randn(1, 2, 5, 4, 6, dtype=np.float64)
    for fn in (lambda m, v: m.max_pool3d(v, 2, stride=1), lambda m, v: m.avg_pool3d(v, 3, 2, 1),
               lambda m, v: m.adaptive_avg_pool3d(v, (2, 3, 2))):
        tx = torch.from_numpy(x).requires_grad_(True)
        fx = t2f(x, requires_grad=True)
        (tg,) = torch.autograd.grad((fn(TF, tx) ** 2).sum(), tx, create_graph=True)
        (fg,) = flambeau.autograd.grad((fn(F, fx) ** 2).sum(), fx, create_graph=True)
        np.testing.assert_allclose(fg.detach().numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
        (tgg,) = torch.autograd.grad((tg ** 2).sum(), tx)
        (fgg,) = flambeau.autograd.grad((fg ** 2).sum(), fx)
        np.testing.assert_allclose(fgg.numpy(), tgg.numpy(), rtol=1e-9, atol=1e-11)


def test_top_level_aliases():
    x = flambeau.randn(1, 2, 4, 5, 4)
    w = flambeau.randn(3, 2, 3, 3, 3)
    np.testing.assert_array_equal(flambeau.conv3d(x, w, None, 1, 1).numpy(), F.conv3d(x, w, padding=1).numpy())
    np.testing.assert_array_equal(flambeau.conv_transpose3d(x, w.transpose(0, 1), stride=2).numpy(),
                                  F.conv_transpose3d(x, w.transpose(0, 1), stride=2).numpy())
    np.testing.assert_array_equal(flambeau.max_pool3d(x, 2).numpy(), F.max_pool3d(x, 2).numpy())
    assert tuple(torch.max_pool3d(torch.randn(1, 2, 4, 5, 4), 2).shape) == tuple(flambeau.max_pool3d(x, 2).shape)


def test_grad_fn_names():
    x = flambeau.randn(1, 2, 4, 4, 4, requires_grad=True)
    w = flambeau.randn(3, 2, 3, 3, 3, requires_grad=True)
    assert type(F.conv3d(x, w).grad_fn).__name__ == "ConvolutionBackward0"
    assert type(F.max_pool3d(x, 2).grad_fn).__name__ == "MaxPool3DWithIndicesBackward0"
    assert type(F.avg_pool3d(x, 2).grad_fn).__name__ == "AvgPool3DBackward0"
    assert type(F.adaptive_avg_pool3d(x, 2).grad_fn).__name__ == "AdaptiveAvgPool3DBackward0"
    assert type(F.adaptive_max_pool3d(x, 2).grad_fn).__name__ == "AdaptiveMaxPool3DBackward0"


# ---------------------------------------------------------------------------------------------------
# modules

MODULE_CASES = [
    ("conv3d", lambda n: n.Conv3d(3, 4, 3), [(2, 3, 5, 6, 5)]),
    ("conv3d_stride_pad_groups", lambda n: n.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 1), padding=(1, 0, 2),
                                                    groups=2), [(2, 4, 7, 5, 6)]),
    ("conv3d_depthwise_nobias", lambda n: n.Conv3d(3, 3, 3, padding=1, groups=3, bias=False), [(1, 3, 4, 5, 6)]),
    ("conv3d_same_even", lambda n: n.Conv3d(2, 3, (2, 4, 3), padding="same", dilation=(2, 1, 1)),
     [(2, 2, 5, 6, 7)]),
    ("conv3d_reflect", lambda n: n.Conv3d(2, 3, 3, padding=(1, 2, 1), padding_mode="reflect"), [(1, 2, 4, 5, 6)]),
    ("conv3d_replicate", lambda n: n.Conv3d(2, 3, 3, padding=2, padding_mode="replicate"), [(1, 2, 4, 5, 6)]),
    ("conv3d_circular", lambda n: n.Conv3d(2, 3, 3, padding=1, stride=2, padding_mode="circular"),
     [(2, 2, 4, 5, 6)]),
    ("conv3d_reflect_unbatched", lambda n: n.Conv3d(2, 3, 3, padding=1, padding_mode="reflect"), [(2, 4, 5, 6)]),
    ("conv3d_unbatched", lambda n: n.Conv3d(2, 3, 3, stride=(1, 2, 1)), [(2, 4, 5, 6)]),
    ("conv_transpose3d", lambda n: n.ConvTranspose3d(3, 4, 3), [(2, 3, 3, 4, 2)]),
    ("conv_transpose3d_strided_groups", lambda n: n.ConvTranspose3d(
        4, 6, (3, 2, 3), stride=(2, 3, 1), padding=(1, 0, 1), output_padding=(1, 2, 0), groups=2),
     [(2, 4, 3, 4, 3)]),
    ("conv_transpose3d_dilation_unbatched", lambda n: n.ConvTranspose3d(2, 2, 2, dilation=2, bias=False),
     [(2, 3, 3, 3)]),
    ("maxpool3d", lambda n: n.MaxPool3d(2), [(2, 3, 4, 6, 5)]),
    ("maxpool3d_pad_ceil", lambda n: n.MaxPool3d(3, stride=2, padding=1, ceil_mode=True), [(1, 2, 6, 7, 5)]),
    ("avgpool3d", lambda n: n.AvgPool3d((2, 3, 2), stride=1), [(2, 3, 4, 6, 5)]),
    ("avgpool3d_exclude", lambda n: n.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),
     [(1, 2, 6, 7, 5)]),
    ("adaptive_avg3d", lambda n: n.AdaptiveAvgPool3d((2, None, 3)), [(2, 3, 5, 4, 7)]),
    ("adaptive_max3d", lambda n: n.AdaptiveMaxPool3d(2), [(2, 3, 5, 4, 7)]),
    ("lppool3d", lambda n: n.LPPool3d(2, 2), [(1, 2, 4, 4, 4)]),
    ("instancenorm3d", lambda n: n.InstanceNorm3d(3), [(2, 3, 4, 5, 3)]),
    ("instancenorm3d_affine_tracked", lambda n: n.InstanceNorm3d(3, affine=True, track_running_stats=True),
     [(2, 3, 4, 5, 3)]),
    ("instancenorm3d_unbatched", lambda n: n.InstanceNorm3d(3, affine=True), [(3, 4, 5, 3)]),
    ("batchnorm3d", lambda n: n.BatchNorm3d(3), [(2, 3, 4, 3, 5)]),
    ("constantpad3d", lambda n: n.ConstantPad3d((1, 2, 0, 1, 2, 0), 1.5), [(2, 3, 3, 4, 5)]),
    ("zeropad3d", lambda n: n.ZeroPad3d(1), [(3, 3, 4, 5)]),
    ("reflectionpad3d", lambda n: n.ReflectionPad3d((1, 2, 2, 0, 1, 1)), [(2, 3, 3, 4, 5)]),
    ("replicationpad3d", lambda n: n.ReplicationPad3d(2), [(3, 3, 4, 5)]),
    ("circularpad3d", lambda n: n.CircularPad3d((1, 0, 2, 1, 0, 2)), [(2, 2, 3, 4, 5)]),
]


@pytest.mark.parametrize("name,ctor,shapes", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_matches_torch(name, ctor, shapes):
    tm, fm = pair(ctor)
    check_module(tm, fm, [randn(*s) for s in shapes])
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict().keys()) == list(tm.state_dict().keys())


@pytest.mark.parametrize("name,ctor,shapes", [c for c in MODULE_CASES if "conv" in c[0]][:5],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_module_matches_torch_float64(name, ctor, shapes):
    tm, fm = pair(ctor)
    tm.double(), fm.double()
    check_module(tm, fm, [randn(*s, dtype=np.float64) for s in shapes], "cpu", "float64")


def test_conv_modules_state_dict_and_reset_parameters():
    for ctor in (lambda n: n.Conv3d(4, 6, (3, 2, 1), groups=2),
                 lambda n: n.ConvTranspose3d(4, 6, (3, 2, 1), groups=2, bias=False)):
        tm, fm = pair(ctor)
        tsd, fsd = tm.state_dict(), fm.state_dict()
        assert list(fsd.keys()) == list(tsd.keys())
        for k in tsd:
            assert tuple(fsd[k].shape) == tuple(tsd[k].shape), k
        # kaiming_uniform(a=sqrt(5)): |w| <= 1/sqrt(fan_in); the bias within the same bound
        fan_in = fm.weight.shape[1] * math.prod(fm.weight.shape[2:])
        bound = 1 / math.sqrt(fan_in)
        fm.reset_parameters()
        assert float(fm.weight.abs().max()) <= bound + 1e-7
        assert float(fm.weight.abs().max()) > 0.5 * bound
        if fm.bias is not None:
            assert float(fm.bias.abs().max()) <= bound + 1e-7
    # a torch checkpoint loads, and the outputs agree
    tm, fm = pair(lambda n: n.Conv3d(2, 3, 3, padding=1))
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    x = randn(1, 2, 3, 4, 5)
    np.testing.assert_allclose(fm(t2f(x)).detach().numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_conv_transpose3d_output_size():
    tm, fm = pair(lambda n: n.ConvTranspose3d(3, 2, 3, stride=2))
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    x = randn(1, 3, 3, 4, 2)
    for size in ([7, 9, 5], [8, 10, 6], (1, 2, 8, 9, 6)):
        t = tm(torch.from_numpy(x), output_size=size)
        f = fm(t2f(x), output_size=size)
        np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="output size"):
        fm(t2f(x), output_size=[10, 10, 10])


def test_lazy_3d_modules():
    x = flambeau.randn(2, 3, 4, 5, 6)
    m = nn.LazyConv3d(5, 3, padding=1)
    assert type(m).__name__ == "LazyConv3d"
    y = m(x)
    assert type(m) is nn.Conv3d and tuple(m.weight.shape) == (5, 3, 3, 3, 3) and tuple(y.shape) == (2, 5, 4, 5, 6)
    m = nn.LazyConvTranspose3d(4, 2, stride=2)
    y = m(x)
    assert type(m) is nn.ConvTranspose3d and tuple(m.weight.shape) == (3, 4, 2, 2, 2)
    assert tuple(y.shape) == (2, 4, 8, 10, 12)
    m = nn.LazyBatchNorm3d()
    m(x)
    assert type(m) is nn.BatchNorm3d and tuple(m.running_mean.shape) == (3,)
    m = nn.LazyInstanceNorm3d(affine=True)
    m(x)
    assert type(m) is nn.InstanceNorm3d and tuple(m.weight.shape) == (3,)
    assert list(m.state_dict().keys()) == list(torch.nn.InstanceNorm3d(3, affine=True,
                                                                       track_running_stats=True).state_dict())


def test_pad_5d_functional_modes():
    for mode in ("reflect", "replicate", "circular", "constant"):
        for pads, shape in (((1, 2, 2, 0, 1, 1), (2, 3, 3, 4, 5)), ((2, 1, 0, 1, 1, 2), (3, 3, 4, 5))):
            check_op(lambda x: TF.pad(x, pads, mode=mode), lambda x: F.pad(x, pads, mode=mode),
                     shapes=[shape], dtype="float64")


# ---------------------------------------------------------------------------------------------------
# errors

def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()


def test_conv3d_errors_name_op_and_shapes():
    x = flambeau.randn(1, 2, 4, 4, 4)
    # channel mismatch (torch raises RuntimeError too)
    with pytest.raises(RuntimeError):
        TF.conv3d(torch.randn(1, 2, 4, 4, 4), torch.randn(3, 3, 3, 3, 3))
    _raises(RuntimeError, r"conv3d: input \[1, 2, 4, 4, 4\] has 2 channels, weight \[3, 3, 3, 3, 3\] expects 3",
            lambda: F.conv3d(x, flambeau.randn(3, 3, 3, 3, 3)))
    _raises(RuntimeError, r"conv3d: .*groups=2", lambda: F.conv3d(x, flambeau.randn(3, 1, 3, 3, 3), groups=2))
    # kernel larger than the padded input
    with pytest.raises(RuntimeError):
        TF.conv3d(torch.randn(1, 2, 4, 4, 4), torch.randn(3, 2, 5, 3, 3))
    _raises(RuntimeError, r"conv3d: kernel 5x3x3 .* larger than the padded input 4x4x4 \(input \[1, 2, 4, 4, 4\]\)",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 5, 3, 3)))
    F.conv3d(x, flambeau.randn(3, 2, 5, 3, 3), padding=(1, 0, 0))  # fits once padded
    # negative padding
    with pytest.raises(RuntimeError):
        TF.conv3d(torch.randn(1, 2, 4, 4, 4), torch.randn(3, 2, 3, 3, 3), padding=-1)
    _raises(RuntimeError, r"conv3d: negative padding is not supported",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3, 3), padding=(0, -1, 0)))
    _raises(RuntimeError, r"conv3d: bias \[4\] should be 1-D with 3 elements",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3, 3), flambeau.randn(4)))
    _raises(RuntimeError, r"Expected 4D \(unbatched\) or 5D \(batched\) input to conv3d, but got input of size: "
            r"\[2, 4, 4\]", lambda: F.conv3d(flambeau.randn(2, 4, 4), flambeau.randn(3, 2, 3, 3, 3)))
    _raises(RuntimeError, r"conv3d: expected a 5-D weight, got shape \[3, 2, 3, 3\]",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3)))
    _raises(RuntimeError, "strided", lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3, 3), stride=2, padding="same"))
    _raises(RuntimeError, r"stride must be one int or a tuple of three ints|list of 3 values",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3, 3), stride=(1, 2)))
    _raises(TypeError, r"conv3d: input is float32 but weight is float64",
            lambda: F.conv3d(x, flambeau.randn(3, 2, 3, 3, 3, dtype=flambeau.float64)))
    # conv_transpose3d
    _raises(RuntimeError, r"conv_transpose3d: input \[1, 2, 4, 4, 4\] has 2 channels, weight \[3, 2, 3, 3, 3\] "
            r"expects 3", lambda: F.conv_transpose3d(x, flambeau.randn(3, 2, 3, 3, 3)))
    _raises(RuntimeError, r"conv_transpose3d: output_padding .* must be smaller than either stride or dilation",
            lambda: F.conv_transpose3d(x, flambeau.randn(2, 2, 3, 3, 3), stride=2, output_padding=2))
    _raises(RuntimeError, r"conv_transpose3d: negative padding",
            lambda: F.conv_transpose3d(x, flambeau.randn(2, 2, 3, 3, 3), padding=-1))
    # module construction
    _raises(ValueError, "divisible by groups", lambda: nn.Conv3d(3, 4, 3, groups=2))
    _raises(ValueError, "padding_mode", lambda: nn.Conv3d(3, 4, 3, padding_mode="mirror"))


def test_pool3d_errors_name_op_and_shapes():
    x = flambeau.randn(1, 2, 4, 4, 4)
    with pytest.raises(RuntimeError):
        TF.max_pool3d(torch.randn(1, 2, 4, 4, 4), 2, padding=2)
    _raises(RuntimeError, r"max_pool3d: padding \[2\] should be at most half of kernel_size \[2\]",
            lambda: F.max_pool3d(x, 2, padding=2))
    _raises(RuntimeError, r"avg_pool3d: padding must be non-negative",
            lambda: F.avg_pool3d(x, 3, padding=-1))
    _raises(RuntimeError, r"max_pool3d: input \[1, 2, 4, 4, 4\] gives output size 0x0x0",
            lambda: F.max_pool3d(x, 5))
    _raises(RuntimeError, r"avg_pool3d: expected a 4-D \[C, D, H, W\] or 5-D .* got shape \[2, 4, 4\]",
            lambda: F.avg_pool3d(flambeau.randn(2, 4, 4), 2))
    _raises(RuntimeError, r"divisor must be not zero", lambda: F.avg_pool3d(x, 2, divisor_override=0))
    _raises(RuntimeError,
            r"adaptive_avg_pool3d\(\): Expected input to have non-zero size .* \[1, 2, 0, 4, 4\] with dimension 2",
            lambda: F.adaptive_avg_pool3d(flambeau.randn(1, 2, 0, 4, 4), 2))
    _raises(RuntimeError, r"adaptive_max_pool3d: output_size must be 3",
            lambda: F.adaptive_max_pool3d(x, (2, 2)))
    # integer volumes are pooled as PyTorch's (tests/test_fuzz_regressions_nn_linalg.py), bool is refused
    _raises(NotImplementedError, r"\"max_pool3d\" not implemented for 'Bool'",
            lambda: F.max_pool3d(flambeau.zeros(1, 1, 2, 2, 2, dtype=flambeau.bool), 2))
    # max_unpool3d: an index outside the output volume
    v = flambeau.randn(1, 1, 2, 2, 2)
    idx = flambeau.zeros(1, 1, 2, 2, 2, dtype=flambeau.int64)
    idx[0, 0, 1, 1, 1] = 64
    with pytest.raises(RuntimeError):
        TF.max_unpool3d(torch.randn(1, 1, 2, 2, 2), torch.from_numpy(idx.numpy()), 2)
    _raises(RuntimeError, r"max_unpool3d: found an invalid max index 64 \(output volumes are of size 4x4x4\)",
            lambda: F.max_unpool3d(v, idx, 2))
    _raises(RuntimeError, r"max_unpool3d: expected indices to have the shape of input",
            lambda: F.max_unpool3d(v, flambeau.zeros(1, 1, 2, 2, 1, dtype=flambeau.int64), 2))
    _raises(ValueError, r"invalid output_size", lambda: F.max_unpool3d(v, idx, 2, output_size=(9, 9, 9)))
