"""Layers against PyTorch: same weights in, same outputs, input and parameter gradients, running
statistics; default initialisation in distribution; extra_repr."""
import math

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn
from nn_helpers import assert_close, check_module, t2f, to_np


def pair(ctor):
    """(torch module, flambeau module) built by the same constructor expression."""
    return ctor(torch.nn), ctor(nn)


def randn(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


LAYER_CASES = [
    ("linear", lambda n: n.Linear(5, 3), [(4, 5)]),
    ("linear_3d_nobias", lambda n: n.Linear(5, 3, bias=False), [(2, 4, 5)]),
    ("linear_1d_input", lambda n: n.Linear(5, 3), [(5,)]),
    ("bilinear", lambda n: n.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    ("conv2d", lambda n: n.Conv2d(3, 4, 3), [(2, 3, 7, 6)]),
    ("conv2d_stride_pad", lambda n: n.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 2)),
     [(2, 3, 9, 8)]),
    ("conv2d_dilation_groups", lambda n: n.Conv2d(4, 6, 3, dilation=2, groups=2, bias=False),
     [(2, 4, 9, 9)]),
    ("conv2d_depthwise", lambda n: n.Conv2d(3, 6, 3, padding=1, groups=3), [(1, 3, 5, 5)]),
    ("conv2d_same", lambda n: n.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2)),
     [(2, 2, 6, 7)]),
    ("conv2d_valid_1x1", lambda n: n.Conv2d(3, 2, 1, padding="valid"), [(2, 3, 4, 4)]),
    ("conv2d_reflect", lambda n: n.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"),
     [(1, 2, 5, 6)]),
    ("conv2d_circular", lambda n: n.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
     [(1, 2, 5, 6)]),
    ("conv2d_replicate", lambda n: n.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"),
     [(1, 2, 5, 6)]),
    ("conv2d_unbatched", lambda n: n.Conv2d(2, 3, 3), [(2, 5, 5)]),
    ("conv1d", lambda n: n.Conv1d(3, 4, 3, stride=2, padding=1), [(2, 3, 9)]),
    ("conv1d_groups_same", lambda n: n.Conv1d(4, 4, 4, padding="same", groups=2), [(2, 4, 7)]),
    ("conv_transpose2d", lambda n: n.ConvTranspose2d(3, 4, 3), [(2, 3, 5, 5)]),
    ("conv_transpose2d_strided_groups", lambda n: n.ConvTranspose2d(
        4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2),
     [(2, 4, 4, 5)]),
    ("conv_transpose2d_dilation", lambda n: n.ConvTranspose2d(
        2, 2, 3, stride=2, padding=2, dilation=2, bias=False, output_padding=1), [(1, 2, 4, 4)]),
    ("conv_transpose2d_big_padding", lambda n: n.ConvTranspose2d(2, 3, 3, padding=3),
     [(1, 2, 7, 7)]),
    ("conv_transpose1d", lambda n: n.ConvTranspose1d(3, 2, 4, stride=3, padding=1), [(2, 3, 6)]),
    ("maxpool2d", lambda n: n.MaxPool2d(2), [(2, 3, 6, 7)]),
    ("maxpool2d_pad_stride", lambda n: n.MaxPool2d(3, stride=2, padding=1), [(2, 2, 7, 8)]),
    ("maxpool2d_ceil_dilation", lambda n: n.MaxPool2d((3, 2), stride=2, dilation=(1, 2),
                                                      ceil_mode=True), [(1, 2, 8, 9)]),
    ("maxpool2d_unbatched", lambda n: n.MaxPool2d(2, ceil_mode=True), [(3, 5, 5)]),
    ("maxpool1d", lambda n: n.MaxPool1d(3, stride=2, padding=1), [(2, 3, 10)]),
    ("avgpool2d", lambda n: n.AvgPool2d(2), [(2, 3, 6, 7)]),
    ("avgpool2d_pad_exclude", lambda n: n.AvgPool2d(3, stride=2, padding=1,
                                                    count_include_pad=False), [(2, 2, 7, 8)]),
    ("avgpool2d_pad_include_ceil", lambda n: n.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
     [(2, 2, 8, 9)]),
    ("avgpool2d_ceil_exclude", lambda n: n.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
     [(1, 2, 5, 5)]),
    ("avgpool2d_divisor", lambda n: n.AvgPool2d(2, divisor_override=3), [(1, 2, 4, 4)]),
    ("avgpool1d", lambda n: n.AvgPool1d(3, stride=2, padding=1), [(2, 3, 10)]),
    ("adaptive_avg", lambda n: n.AdaptiveAvgPool2d((3, 4)), [(2, 3, 7, 9)]),
    ("adaptive_avg_1", lambda n: n.AdaptiveAvgPool2d(1), [(2, 3, 5, 5)]),
    ("adaptive_avg_none", lambda n: n.AdaptiveAvgPool2d((None, 2)), [(2, 3, 5, 5)]),
    ("adaptive_avg_upsample", lambda n: n.AdaptiveAvgPool2d(7), [(1, 2, 5, 3)]),
    ("adaptive_avg_1d", lambda n: n.AdaptiveAvgPool1d(4), [(2, 3, 10)]),
    ("adaptive_max", lambda n: n.AdaptiveMaxPool2d((2, 3)), [(2, 3, 7, 8)]),
    ("adaptive_max_1d", lambda n: n.AdaptiveMaxPool1d(3), [(2, 3, 10)]),
    ("layernorm", lambda n: n.LayerNorm(6), [(3, 4, 6)]),
    ("layernorm_2d_nobias", lambda n: n.LayerNorm((4, 6), bias=False, eps=1e-3), [(3, 4, 6)]),
    ("layernorm_no_affine", lambda n: n.LayerNorm(6, elementwise_affine=False), [(3, 6)]),
    ("groupnorm", lambda n: n.GroupNorm(2, 6), [(3, 6, 4, 5)]),
    ("groupnorm_no_affine", lambda n: n.GroupNorm(3, 6, affine=False), [(2, 6, 5)]),
    ("rmsnorm", lambda n: n.RMSNorm(6), [(3, 4, 6)]),
    ("rmsnorm_eps", lambda n: n.RMSNorm([4, 6], eps=1e-4), [(3, 4, 6)]),
    ("instancenorm2d", lambda n: n.InstanceNorm2d(3, affine=True), [(2, 3, 4, 5)]),
    ("instancenorm1d_unbatched", lambda n: n.InstanceNorm1d(3), [(3, 7)]),
    ("localresponsenorm", lambda n: n.LocalResponseNorm(3), [(2, 5, 4, 4)]),
    ("zeropad2d", lambda n: n.ZeroPad2d((1, 2, 0, 3)), [(2, 3, 4, 4)]),
    ("constantpad1d", lambda n: n.ConstantPad1d(2, 3.5), [(2, 3, 4)]),
    ("reflectionpad2d", lambda n: n.ReflectionPad2d((2, 1, 1, 3)), [(2, 3, 5, 5)]),
    ("replicationpad1d", lambda n: n.ReplicationPad1d((3, 1)), [(2, 3, 4)]),
    ("circularpad2d", lambda n: n.CircularPad2d(1), [(2, 3, 4, 4)]),
    ("pairwise_distance", lambda n: n.PairwiseDistance(), [(4, 5), (4, 5)]),
    ("pairwise_distance_p1", lambda n: n.PairwiseDistance(p=1.0, keepdim=True), [(4, 5), (4, 5)]),
    ("cosine_similarity", lambda n: n.CosineSimilarity(dim=1), [(4, 5), (4, 5)]),
    ("flatten", lambda n: n.Flatten(), [(2, 3, 4)]),
]


@pytest.mark.parametrize("name,ctor,shapes", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_matches_pytorch(name, ctor, shapes, device):
    tm, fm = pair(ctor)
    inputs = [randn(*s) for s in shapes]
    check_module(tm, fm, inputs, device)


@pytest.mark.parametrize("name,ctor,shapes", [c for c in LAYER_CASES if "conv" in c[0]
                                              or "norm" in c[0] or c[0] == "linear"][:6],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_layer_matches_pytorch_float64(name, ctor, shapes):
    tm, fm = pair(ctor)
    tm.double(), fm.double()
    inputs = [randn(*s, dtype=np.float64) for s in shapes]
    check_module(tm, fm, inputs, "cpu", "float64")


def test_maxpool_return_indices_match_pytorch():
    for kw, shape in [(dict(kernel_size=3, stride=2, padding=1), (2, 3, 7, 8)),
                      (dict(kernel_size=2, ceil_mode=True, dilation=1), (1, 2, 5, 5)),
                      (dict(kernel_size=(2, 3), stride=1, dilation=(2, 1)), (1, 1, 6, 6))]:
        x = randn(*shape)
        tv, ti = torch.nn.MaxPool2d(return_indices=True, **kw)(torch.from_numpy(x))
        fv, fi = nn.MaxPool2d(return_indices=True, **kw)(t2f(x))
        assert_close(fv, tv)
        assert np.array_equal(to_np(fi), to_np(ti))
    x = randn(2, 3, 7, 9)
    tv, ti = torch.nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(torch.from_numpy(x))
    fv, fi = nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(t2f(x))
    assert_close(fv, tv)
    assert np.array_equal(to_np(fi), to_np(ti))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (4, 3, 5, 6))])
def test_batchnorm_training_running_stats_and_eval(kind, shape, momentum, device):
    tm = getattr(torch.nn, kind)(3, momentum=momentum)
    fm = getattr(nn, kind)(3, momentum=momentum)
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-0.5, 0.5)
    check_module(tm, fm, [randn(*shape)], device)
    for _ in range(2):  # running statistics keep following PyTorch's over several steps
        check_module(tm, fm, [randn(*shape) * 2 + 1], device, copy=False)
    assert int(fm.num_batches_tracked) == 3
    tm.eval(), fm.eval()
    check_module(tm, fm, [randn(*shape)], device, copy=False)


def test_batchnorm_variants():
    for kw in [dict(affine=False), dict(track_running_stats=False), dict(eps=1e-3, momentum=0.3)]:
        tm, fm = torch.nn.BatchNorm2d(3, **kw), nn.BatchNorm2d(3, **kw)
        check_module(tm, fm, [randn(3, 3, 4, 4)])
        tm.eval(), fm.eval()
        check_module(tm, fm, [randn(3, 3, 4, 4)], copy=False)
        assert list(fm.state_dict()) == list(tm.state_dict())
        assert repr(fm) == repr(tm)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(flambeau.randn(3, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(3)(flambeau.randn(1, 3))


def test_embedding_matches_pytorch(device):
    idx = np.random.randint(0, 10, size=(4, 5)).astype(np.int64)
    idx[0, :2] = 3
    for kw in [dict(), dict(padding_idx=3), dict(padding_idx=-1), dict(scale_grad_by_freq=True),
               dict(padding_idx=3, scale_grad_by_freq=True)]:
        tm, fm = torch.nn.Embedding(10, 4, **kw), nn.Embedding(10, 4, **kw)
        check_module(tm, fm, [idx], device)
        assert repr(fm) == repr(tm)
    tm, fm = torch.nn.Embedding(10, 4, max_norm=1.0), nn.Embedding(10, 4, max_norm=1.0)
    check_module(tm, fm, [idx], device)
    assert_close(fm.weight, tm.weight, msg="weights renormalised in place")
    emb = nn.Embedding(5, 2, padding_idx=1)
    assert float(emb.weight[1].abs().sum()) == 0.0
    with pytest.raises(IndexError):
        emb(flambeau.tensor([5]))
    pre = nn.Embedding.from_pretrained(flambeau.ones(3, 2))
    assert not pre.weight.requires_grad and tuple(pre(flambeau.tensor([0, 2])).shape) == (2, 2)


def test_prelu_matches_pytorch(device):
    for num in (1, 4):
        tm, fm = torch.nn.PReLU(num, init=0.1), nn.PReLU(num, init=0.1)
        check_module(tm, fm, [randn(3, 4, 5)], device)
        assert repr(fm) == repr(tm)


def test_dropout_statistics_and_modes(device):
    x = flambeau.ones(200, 50, device=device)
    d = nn.Dropout(0.3)
    y = to_np(d(x))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.03
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    d.eval()
    assert d(x) is x
    assert float(nn.Dropout(1.0)(x).abs().sum()) == 0.0
    assert nn.Dropout(0.0)(x) is x
    # gradient flows through the kept elements only, scaled
    xg = flambeau.ones(100, 10, device=device, requires_grad=True)
    out = nn.Dropout(0.5)(xg)
    out.sum().backward()
    assert np.array_equal(to_np(xg.grad), to_np(out))
    # channel dropout zeroes whole channels
    y2 = to_np(nn.Dropout2d(0.5)(flambeau.ones(20, 30, 4, 4, device=device)))
    per_channel = y2.reshape(20, 30, 16)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    y1 = to_np(nn.Dropout1d(0.5)(flambeau.ones(20, 30, 5, device=device)))
    assert np.all((y1 == 0).all(-1) | (y1 == 2.0).all(-1))
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout(0.2)) == repr(torch.nn.Dropout(0.2))
    # the same seed gives the same mask
    flambeau.manual_seed(3)
    a = to_np(nn.Dropout(0.5)(x))
    flambeau.manual_seed(3)
    b = to_np(nn.Dropout(0.5)(x))
    assert np.array_equal(a, b)


def test_alpha_dropout_keeps_mean_and_variance():
    x = flambeau.randn(400, 100)
    y = to_np(nn.AlphaDropout(0.2)(x))
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    m = nn.AlphaDropout(0.2).eval()
    assert m(x) is x


REPR_CASES = [
    lambda n: n.Linear(3, 4, bias=False), lambda n: n.Bilinear(2, 3, 4),
    lambda n: n.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=False),
    lambda n: n.Conv2d(4, 8, (3, 5), dilation=2, groups=2, padding_mode="reflect", padding=2),
    lambda n: n.Conv2d(4, 8, 3, padding="same"), lambda n: n.Conv1d(2, 3, 5),
    lambda n: n.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2, bias=False),
    lambda n: n.ConvTranspose1d(2, 3, 5, dilation=2),
    lambda n: n.MaxPool2d(3, 2, 1, ceil_mode=True), lambda n: n.AvgPool2d(3, 2, 1),
    lambda n: n.AvgPool1d(3), lambda n: n.MaxPool1d(2),
    lambda n: n.AdaptiveAvgPool2d((2, 3)), lambda n: n.AdaptiveMaxPool2d(4),
    lambda n: n.BatchNorm1d(3, momentum=None), lambda n: n.LayerNorm([3, 4]),
    lambda n: n.GroupNorm(2, 4), lambda n: n.RMSNorm(5), lambda n: n.InstanceNorm2d(3),
    lambda n: n.LocalResponseNorm(2), lambda n: n.Dropout2d(), lambda n: n.Embedding(5, 3),
    lambda n: n.Embedding(5, 3, padding_idx=2, max_norm=1.0, norm_type=1.0,
                          scale_grad_by_freq=True),
    lambda n: n.ZeroPad2d(2), lambda n: n.ConstantPad2d((1, 2, 3, 4), 0.5),
    lambda n: n.ReflectionPad1d(2), lambda n: n.Identity(), lambda n: n.Flatten(0),
]


@pytest.mark.parametrize("ctor", REPR_CASES)
def test_repr_matches_pytorch(ctor):
    tm, fm = pair(ctor)
    assert repr(fm) == repr(tm)


def _uniform_bound_check(t, bound):
    a = to_np(t)
    assert a.min() >= -bound - 1e-7 and a.max() <= bound + 1e-7
    # uniform on [-b, b]: std b / sqrt(3)
    if a.size > 500:
        assert abs(a.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)


def test_default_initialisation_matches_pytorch_distribution():
    lin = nn.Linear(400, 300)
    _uniform_bound_check(lin.weight, 1 / math.sqrt(400))
    _uniform_bound_check(lin.bias, 1 / math.sqrt(400))
    conv = nn.Conv2d(16, 32, 3)
    _uniform_bound_check(conv.weight, 1 / math.sqrt(16 * 9))
    _uniform_bound_check(conv.bias, 1 / math.sqrt(16 * 9))
    convt = nn.ConvTranspose2d(40, 16, 3)  # fan_in from weight dim 1, as PyTorch
    _uniform_bound_check(convt.weight, 1 / math.sqrt(16 * 9))
    emb = to_np(nn.Embedding(1000, 20).weight)
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02
    bil = nn.Bilinear(30, 4, 50)
    _uniform_bound_check(bil.weight, 1 / math.sqrt(30))
    bn = nn.BatchNorm2d(5)
    assert np.all(to_np(bn.weight) == 1) and np.all(to_np(bn.bias) == 0)
    assert np.all(to_np(bn.running_var) == 1) and int(bn.num_batches_tracked) == 0
    assert np.all(to_np(nn.PReLU(3).weight) == 0.25)
    ln = nn.LayerNorm(4)
    assert np.all(to_np(ln.weight) == 1) and np.all(to_np(ln.bias) == 0)
    # reset_parameters re-draws
    before = to_np(lin.weight).copy()
    lin.reset_parameters()
    assert not np.array_equal(before, to_np(lin.weight))
    # seeded construction is reproducible
    flambeau.manual_seed(7)
    a = to_np(nn.Linear(3, 3).weight)
    flambeau.manual_seed(7)
    b = to_np(nn.Linear(3, 3).weight)
    assert np.array_equal(a, b)


def test_conv_transpose_output_size():
    tm, fm = pair(lambda n: n.ConvTranspose2d(3, 4, 3, stride=2))
    x = randn(1, 3, 5, 5)
    check_module(tm, fm, [x])
    for size in ([11, 11], [12, 12], (1, 4, 12, 11)):
        t = tm(torch.from_numpy(x), output_size=size)
        f = fm(t2f(x), output_size=size)
        assert_close(f, t)
    with pytest.raises(ValueError, match="output size"):
        fm(t2f(x), output_size=[14, 14])


def test_factory_kwargs():
    m = nn.Linear(2, 3, dtype=flambeau.float64)
    assert m.weight.dtype == flambeau.float64 and m.bias.dtype == flambeau.float64
    bn = nn.BatchNorm1d(3, dtype=flambeau.float64)
    assert bn.running_mean.dtype == flambeau.float64
    assert bn.num_batches_tracked.dtype == flambeau.int64


def test_layer_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="channels"):
        nn.Conv2d(3, 4, 3)(flambeau.randn(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match="kernel"):
        nn.Conv2d(1, 1, 5)(flambeau.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="features"):
        nn.Linear(3, 2)(flambeau.randn(4, 5))
    with pytest.raises(RuntimeError, match="should be at most half"):
        nn.MaxPool2d(2, padding=2)(flambeau.randn(1, 1, 4, 4))
    with pytest.raises(RuntimeError, match="normalized_shape"):
        nn.LayerNorm(4)(flambeau.randn(2, 3))
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        nn.functional.group_norm(flambeau.randn(2, 5, 3), 2)
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        nn.GroupNorm(2, 5)
