"""More nn names against PyTorch: lazy modules and uninitialized parameters, upsampling modules,
max-unpooling, LP pooling, channel shuffle, gumbel-softmax, DataParallel, embedding bags and the
triplet loss with a distance function. Forward values and gradients are compared with PyTorch's
(check_op / check_module), the new differentiable functionals also by float64 finite differences,
and bad input must raise errors naming the op and the shapes."""
import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import nn
from flambeau.nn import functional as F
from helpers import check_error, check_op
from nn_helpers import assert_close, check_module, t2f, to_np


def both(fn):
    """(torch version, flambeau version) of fn(lib, F, *args)."""
    return (lambda *a: fn(torch, TF, *a)), (lambda *a: fn(flambeau, F, *a))


def randn(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


def gradcheck(fn, *arrays, positive=False):
    """float64 finite-difference check of fn on fresh leaves built from numpy arrays (or shapes)."""
    leaves = []
    for a in arrays:
        if isinstance(a, tuple):
            a = np.random.uniform(0.3, 1.5, a) if positive else np.random.randn(*a)
        leaves.append(flambeau.tensor(np.asarray(a, dtype=np.float64), requires_grad=True))
    assert flambeau.autograd.gradcheck(fn, tuple(leaves))


# ================================================================================ lazy modules
LAZY_CASES = [
    ("linear", lambda n: n.LazyLinear(3), "Linear", (4, 5), [("weight", (3, 5)), ("bias", (3,))]),
    ("linear_nobias_3d", lambda n: n.LazyLinear(2, bias=False), "Linear", (2, 3, 7),
     [("weight", (2, 7))]),
    ("conv1d", lambda n: n.LazyConv1d(4, 3, stride=2, padding=1), "Conv1d", (2, 3, 9),
     [("weight", (4, 3, 3)), ("bias", (4,))]),
    ("conv2d_groups", lambda n: n.LazyConv2d(4, (3, 2), groups=2, bias=False), "Conv2d",
     (1, 6, 5, 6), [("weight", (4, 3, 3, 2))]),
    ("conv2d_unbatched", lambda n: n.LazyConv2d(2, 3, padding=1), "Conv2d", (3, 5, 5),
     [("weight", (2, 3, 3, 3)), ("bias", (2,))]),
    ("conv_transpose1d", lambda n: n.LazyConvTranspose1d(2, 4, stride=3, padding=1),
     "ConvTranspose1d", (2, 3, 6), [("weight", (3, 2, 4)), ("bias", (2,))]),
    ("conv_transpose2d", lambda n: n.LazyConvTranspose2d(6, 3, stride=2, output_padding=1,
                                                          groups=2), "ConvTranspose2d",
     (2, 4, 3, 3), [("weight", (4, 3, 3, 3)), ("bias", (6,))]),
    ("batchnorm1d", lambda n: n.LazyBatchNorm1d(), "BatchNorm1d", (5, 3),
     [("weight", (3,)), ("bias", (3,)), ("running_mean", (3,)), ("running_var", (3,))]),
    ("batchnorm2d_no_affine", lambda n: n.LazyBatchNorm2d(affine=False, momentum=0.3),
     "BatchNorm2d", (3, 4, 3, 5), [("running_mean", (4,)), ("running_var", (4,))]),
    ("batchnorm2d_no_stats", lambda n: n.LazyBatchNorm2d(track_running_stats=False),
     "BatchNorm2d", (2, 3, 4, 4), [("weight", (3,)), ("bias", (3,))]),
    ("instancenorm1d", lambda n: n.LazyInstanceNorm1d(), "InstanceNorm1d", (2, 3, 7),
     [("weight", (3,)), ("bias", (3,)), ("running_mean", (3,))]),
    ("instancenorm2d", lambda n: n.LazyInstanceNorm2d(affine=False), "InstanceNorm2d",
     (2, 3, 4, 5), [("running_var", (3,))]),
]


@pytest.mark.parametrize("name,ctor,becomes,shape,expect", LAZY_CASES,
                         ids=[c[0] for c in LAZY_CASES])
def test_lazy_module_materializes_like_pytorch(name, ctor, becomes, shape, expect, device):
    tm, fm = ctor(torch.nn), ctor(nn)
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert repr(fm) == repr(tm)
    for key, t in fm.state_dict().items():
        if key != "num_batches_tracked":
            assert nn.parameter.is_lazy(t), key
            assert repr(t) == repr(tm.state_dict()[key])
    x = randn(*shape)
    tm(torch.from_numpy(x))
    fm(t2f(x))
    assert type(fm) is getattr(nn, becomes) and type(tm).__name__ == becomes
    assert not hasattr(fm, "_initialize_hook") and not fm._forward_pre_hooks
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict()) == list(tm.state_dict())
    for key, shp in expect:
        assert tuple(fm.state_dict()[key].shape) == shp == tuple(tm.state_dict()[key].shape)
    for p in fm.parameters():
        assert type(p) is nn.Parameter and p.requires_grad
    for b in fm.buffers():
        assert type(b) is flambeau.Tensor
    # the materialized module is the regular one: same forward and gradients as PyTorch's
    check_module(tm, fm, [randn(*shape)], device)


def test_lazy_default_initialisation_is_the_regular_one():
    m = nn.LazyLinear(200)
    m(flambeau.randn(2, 50))
    bound = 1 / np.sqrt(50)
    w, b = to_np(m.weight), to_np(m.bias)
    assert np.abs(w).max() <= bound + 1e-6 and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound + 1e-6 and w.std() > 0.5 * bound / np.sqrt(3)
    bn = nn.LazyBatchNorm1d()
    bn.eval()
    bn(flambeau.randn(4, 6))
    assert np.all(to_np(bn.weight) == 1) and np.all(to_np(bn.bias) == 0)
    assert np.all(to_np(bn.running_mean) == 0) and np.all(to_np(bn.running_var) == 1)


def test_lazy_optimizer_built_before_first_forward_follows_pytorch():
    # PyTorch materializes the placeholders in place, so an optimizer built on the lazy module
    # holds the real parameters afterwards; flambeau does the same
    tm, fm = torch.nn.LazyLinear(3), nn.LazyLinear(3)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    fopt = flambeau.optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    params_before = list(fm.parameters())
    x = randn(6, 4)
    tm(torch.from_numpy(x)), fm(t2f(x))
    assert all(a is b for a, b in zip(params_before, fm.parameters()))
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    for _ in range(3):
        x = randn(6, 4)
        topt.zero_grad(), fopt.zero_grad()
        (tm(torch.from_numpy(x)) ** 2).sum().backward()
        (fm(t2f(x)) ** 2).sum().backward()
        topt.step(), fopt.step()
    assert_close(fm.weight, tm.weight, msg="weight after 3 SGD steps")
    assert_close(fm.bias, tm.bias, msg="bias after 3 SGD steps")
    # Adam too (its state is created at the first step, after materialization)
    fm2 = nn.LazyConv2d(2, 3)
    opt = flambeau.optim.Adam(fm2.parameters(), lr=0.01)
    fm2(flambeau.randn(1, 3, 5, 5)).sum().backward()
    before = to_np(fm2.weight).copy()
    opt.step()
    assert not np.allclose(before, to_np(fm2.weight))


@pytest.mark.parametrize("ctor,shape", [(lambda n: n.LazyLinear(3), (2, 4)),
                                        (lambda n: n.LazyConv2d(4, 3, groups=2), (1, 6, 5, 5)),
                                        (lambda n: n.LazyBatchNorm2d(), (2, 3, 4, 4))])
def test_lazy_load_state_dict_materializes(ctor, shape):
    ref_t = ctor(torch.nn)
    ref_t(torch.from_numpy(randn(*shape)))           # a trained regular torch module
    with torch.no_grad():
        for p in ref_t.parameters():
            p.uniform_(-1, 1)
    sd = ref_t.state_dict()
    tm, fm = ctor(torch.nn), ctor(nn)
    tm.load_state_dict(sd)
    res = fm.load_state_dict({k: t2f(v) for k, v in sd.items()})
    assert not res.missing_keys and not res.unexpected_keys
    assert type(fm).__name__ == type(tm).__name__ and type(fm).__name__.startswith("Lazy")
    for (k, a), (_, b) in zip(fm.state_dict().items(), tm.state_dict().items()):
        assert not nn.parameter.is_lazy(a)
        np.testing.assert_array_equal(to_np(a), to_np(b), err_msg=k)
    tm.eval(), fm.eval()
    x = randn(*shape)
    assert_close(fm(t2f(x)), tm(torch.from_numpy(x)), msg="forward after loading")
    assert type(fm).__name__ == type(tm).__name__ and not type(fm).__name__.startswith("Lazy")
    assert list(fm.state_dict()) == list(tm.state_dict())


def test_lazy_state_dict_round_trips_and_errors():
    a, b = nn.LazyLinear(3), nn.LazyLinear(3)
    res = b.load_state_dict(a.state_dict())         # placeholders into placeholders
    assert not res.missing_keys and not res.unexpected_keys
    assert nn.parameter.is_lazy(b.weight)
    c = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        c.load_state_dict({"weight": flambeau.randn(3, 4)})
    assert type(c.weight) is nn.Parameter and tuple(c.weight.shape) == (3, 4)
    assert nn.parameter.is_lazy(c.bias)
    # a placeholder cannot be loaded into a materialized module (as in PyTorch: no shape)
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        nn.Linear(4, 3).load_state_dict(nn.LazyLinear(3).state_dict())
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        nn.LazyLinear(3).weight.shape
    # the conversions before the first forward set the dtype the parameters will have
    m = nn.LazyLinear(3).double()
    assert nn.parameter.is_lazy(m.weight) and m.weight.dtype == flambeau.float64
    m(flambeau.randn(2, 5, dtype=flambeau.float64))
    assert m.weight.dtype == flambeau.float64 and type(m) is nn.Linear
    bn = nn.LazyBatchNorm1d().double()
    assert nn.parameter.is_lazy(bn.running_mean) and bn.running_mean.dtype == flambeau.float64
    bn(flambeau.randn(3, 2, dtype=flambeau.float64))
    assert bn.running_mean.dtype == flambeau.float64
    # a deep copy of a lazy module is lazy on its own
    d = copy.deepcopy(nn.LazyConv1d(2, 3))
    d(flambeau.randn(2, 5, 7))
    d(flambeau.randn(2, 5, 7))
    assert type(d) is nn.Conv1d and tuple(d.weight.shape) == (2, 5, 3)


def test_lazy_errors_match_pytorch():
    check_error(lambda lib: lib.nn.LazyConv2d(4, 3, groups=2)(lib.randn(1, 3, 5, 5)), ValueError,
                "in_channels must be divisible by groups")
    check_error(lambda lib: lib.nn.LazyConv2d(4, 3)(lib.randn(5, 5)), RuntimeError,
                r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d.*\[5, 5\]")
    check_error(lambda lib: lib.nn.LazyConv1d(4, 3)(lib.randn(2, 2, 5, 5)), RuntimeError,
                r"LazyConv1d.*\[2, 2, 5, 5\]")
    # PyTorch reads num_features from dim 1 also for unbatched instance-norm input
    check_error(lambda lib: lib.nn.LazyInstanceNorm1d()(lib.randn(3, 7)), ValueError,
                "num_features")


def test_uninitialized_parameter_and_buffer():
    assert nn.UninitializedParameter is nn.parameter.UninitializedParameter
    p = nn.parameter.UninitializedParameter(dtype=flambeau.float64)
    assert repr(p) == "<UninitializedParameter>" and p.requires_grad and isinstance(p, nn.Parameter)
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and tuple(p.shape) == (2, 3) and p.dtype == flambeau.float64
    b = nn.parameter.UninitializedBuffer(persistent=False)
    assert repr(b) == "<UninitializedBuffer>" and not b.persistent and not b.requires_grad
    assert b.to(flambeau.float64).persistent is False
    b.materialize((4,))
    assert type(b) is flambeau.Tensor and tuple(b.shape) == (4,)
    assert torch.nn.parameter.UninitializedBuffer().persistent
    assert nn.parameter.UninitializedBuffer().persistent


# ================================================================================ upsampling
@pytest.mark.parametrize("ctor,shape", [
    (lambda n: n.UpsamplingNearest2d(scale_factor=2), (2, 3, 4, 5)),
    (lambda n: n.UpsamplingNearest2d(size=(7, 3)), (1, 2, 4, 5)),
    (lambda n: n.UpsamplingBilinear2d(scale_factor=2), (2, 3, 4, 5)),
    (lambda n: n.UpsamplingBilinear2d(size=(7, 9)), (1, 2, 3, 5)),
    (lambda n: n.UpsamplingBilinear2d(scale_factor=(1.5, 3)), (0, 2, 4, 3)),
])
def test_upsampling_modules(ctor, shape, device):
    tm, fm = ctor(torch.nn), ctor(nn)
    assert repr(fm) == repr(tm)
    check_module(tm, fm, [randn(*shape)], device)


@pytest.mark.parametrize("fn", [
    lambda lib, F, x: F.upsample_nearest(x, scale_factor=2),
    lambda lib, F, x: F.upsample_nearest(x, size=(5, 7)),
    lambda lib, F, x: F.upsample_bilinear(x, scale_factor=3),
    lambda lib, F, x: F.upsample_bilinear(x, size=(5, 4)),
    lambda lib, F, x: F.upsample(x, scale_factor=2, mode="bilinear"),
])
def test_upsample_functionals(fn):
    tf, ff = both(fn)
    with pytest.warns(UserWarning, match="deprecated"):
        check_op(tf, ff, shapes=[(2, 3, 3, 4)], non_contiguous=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradcheck(lambda x: fn(flambeau, F, x), (1, 2, 3, 3))


# ================================================================================ max unpooling
def _pool_unpool_2d(kw, out_size=None):
    def fn(lib, F, x):
        v, i = F.max_pool2d(x, return_indices=True, **kw)
        return F.max_unpool2d(v * 2, i, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                              output_size=out_size)
    return both(fn)


@pytest.mark.parametrize("kw,shape,out_size", [
    (dict(kernel_size=2), (2, 3, 6, 8), None),
    (dict(kernel_size=2), (2, 3, 5, 5), (5, 5)),
    (dict(kernel_size=2), (2, 3, 5, 5), [2, 3, 5, 5]),
    (dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 8), (7, 8)),
    (dict(kernel_size=(3, 2), stride=(1, 2)), (2, 1, 5, 6), None),   # overlapping windows
    (dict(kernel_size=2), (3, 5, 5), (5, 5)),                          # unbatched
    (dict(kernel_size=2), (1, 1, 2, 2), None),
    (dict(kernel_size=2), (0, 3, 4, 4), None),                         # empty batch
])
def test_max_unpool2d_after_max_pool2d(kw, shape, out_size):
    tf, ff = _pool_unpool_2d(kw, out_size)
    check_op(tf, ff, shapes=[shape])
    check_op(tf, ff, shapes=[shape], non_contiguous=True, dtype="float64")


def test_max_unpool2d_gradient_wrt_its_input():
    x = torch.from_numpy(randn(2, 3, 7, 6))
    _, idx = TF.max_pool2d(x, 3, stride=2, return_indices=True)
    tf = lambda v: TF.max_unpool2d(v, idx, 3, 2, output_size=(7, 6))
    ff = lambda v: F.max_unpool2d(v, t2f(idx), 3, 2, output_size=(7, 6))
    check_op(tf, ff, shapes=[tuple(idx.shape)])
    check_op(tf, ff, shapes=[tuple(idx.shape)], non_contiguous=True)
    # finite differences need distinct indices (overlapping windows may repeat one: the forward
    # keeps one of the values there, the backward gives each its gradient, as in PyTorch)
    _, idx2 = TF.max_pool2d(x, 2, return_indices=True)
    gradcheck(lambda v: F.max_unpool2d(v, t2f(idx2), 2, output_size=(7, 6)), tuple(idx2.shape))


@pytest.mark.parametrize("kw,shape,out_size", [
    (dict(kernel_size=2), (2, 3, 7), None),
    (dict(kernel_size=2), (2, 3, 7), [7]),
    (dict(kernel_size=3, stride=2, padding=1), (1, 2, 9), (9,)),
    (dict(kernel_size=3, stride=1), (2, 4, 8), None),
    (dict(kernel_size=2), (3, 5), None),                               # unbatched
    (dict(kernel_size=2), (0, 2, 6), None),
])
def test_max_unpool1d_after_max_pool1d(kw, shape, out_size):
    def fn(lib, F, x):
        v, i = F.max_pool1d(x, return_indices=True, **kw)
        return F.max_unpool1d(v, i, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                              output_size=out_size)
    tf, ff = both(fn)
    check_op(tf, ff, shapes=[shape])
    check_op(tf, ff, shapes=[shape], non_contiguous=True)
    if kw.get("stride", kw["kernel_size"]) < kw["kernel_size"]:
        return  # overlapping windows may repeat an index: no finite-difference check
    x = flambeau.randn(*shape)
    _, i = F.max_pool1d(x, return_indices=True, **kw)
    gradcheck(lambda v: F.max_unpool1d(v, i, kw["kernel_size"], kw.get("stride"),
                                       kw.get("padding", 0), output_size=out_size),
              tuple(i.shape))


def test_max_unpool_modules():
    for dims, shape in ((1, (2, 3, 9)), (2, (2, 3, 4, 6))):
        pool = f"MaxPool{dims}d"
        unpool = f"MaxUnpool{dims}d"
        tp, fp = getattr(torch.nn, pool)(2, stride=2, return_indices=True), \
            getattr(nn, pool)(2, stride=2, return_indices=True)
        tu, fu = getattr(torch.nn, unpool)(2, stride=2), getattr(nn, unpool)(2, stride=2)
        assert repr(fu) == repr(tu)
        assert fu.kernel_size == tu.kernel_size and fu.stride == tu.stride
        x = randn(*shape)
        tv, ti = tp(torch.from_numpy(x))
        fv, fi = fp(t2f(x))
        out_size = shape[2:]
        assert_close(fu(fv, fi, output_size=out_size), tu(tv, ti, output_size=out_size))
        assert_close(fu(fv, fi), tu(tv, ti))
        assert list(fu.state_dict()) == []


def test_max_unpool_errors():
    def pooled(lib, shape=(2, 3, 5, 5)):
        x = lib.from_numpy(np.random.randn(*shape).astype(np.float32))
        return lib.nn.functional.max_pool2d(x, 2, return_indices=True)

    def call(lib, **kw):
        v, i = pooled(lib)
        return lib.nn.functional.max_unpool2d(v, i, 2, **kw)

    check_error(lambda lib: call(lib, output_size=(6, 5)), ValueError,
                r'invalid output_size "\[6, 5\]" \(dim 0 must be between 2 and 6\)')
    check_error(lambda lib: call(lib, output_size=(5,)), ValueError,
                "output_size should be a sequence containing 2 or 4 elements")
    # the default output size (4x4) cannot hold the index 18 of a 5x5 plane
    v, i = pooled(torch)
    j = i.clone()
    j.view(-1)[0] = 18
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v, j, 2), RuntimeError,
                r"max_unpool2d: found an invalid max index 18 \(output volumes are of size 4x4\)",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v), t2f(j), 2))
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v, i - 20, 2), RuntimeError,
                "max_unpool2d: found an invalid max index -",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v), t2f(i - 20), 2))
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v, i[:1], 2), RuntimeError,
                r"max_unpool2d: .*indices.*\[2, 3, 2, 2\].*\[1, 3, 2, 2\]",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v), t2f(i[:1]), 2))
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v, i.double(), 2), RuntimeError,
                "max_unpool2d: indices must be int64",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v), t2f(i.double()), 2))
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v[0, 0], i[0, 0], 2), RuntimeError,
                r"max_unpool2d: expected a 3D or 4D input, got \[2, 2\]",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v[0, 0]), t2f(i[0, 0]), 2))
    check_error(lambda lib: lib.nn.functional.max_unpool2d(v[:, :0], i[:, :0], 2), RuntimeError,
                r"max_unpool2d: expected input to have non-zero size.*\[2, 0, 2, 2\]",
                fl_fn=lambda lib: F.max_unpool2d(t2f(v[:, :0]), t2f(i[:, :0]), 2))


def test_with_indices_names_match_pytorch():
    x = randn(2, 3, 7, 6)
    for name, args in [("max_pool2d_with_indices", (3, 2, 1)),
                       ("adaptive_max_pool2d_with_indices", ((3, 2),))]:
        tv, ti = getattr(TF, name)(torch.from_numpy(x), *args)
        fv, fi = getattr(F, name)(t2f(x), *args)
        assert_close(fv, tv)
        np.testing.assert_array_equal(to_np(fi), to_np(ti))
    x = randn(2, 3, 9)
    for name, args in [("max_pool1d_with_indices", (3, 2)),
                       ("adaptive_max_pool1d_with_indices", (4,))]:
        tv, ti = getattr(TF, name)(torch.from_numpy(x), *args)
        fv, fi = getattr(F, name)(t2f(x), *args)
        assert_close(fv, tv)
        np.testing.assert_array_equal(to_np(fi), to_np(ti))
    res = F.max_pool2d_with_indices(flambeau.randn(1, 1, 4, 4), 2, return_indices=False)
    assert isinstance(res, tuple) and len(res) == 2


# ================================================================================ LP pooling
@pytest.mark.parametrize("p,args,shape,positive", [
    (2, (2,), (2, 3, 6, 7), False),
    (2.0, ((3, 2), (2, 1)), (1, 2, 7, 6), False),
    (2, (3, 2, True), (2, 2, 8, 7), False),                  # ceil_mode: partial windows
    (3, (2,), (2, 3, 5, 5), True),
    (1.5, ((2, 3),), (2, 1, 4, 6), True),
    (1, (2, 1), (1, 2, 4, 5), True),
    (2, (2,), (3, 5, 4), False),                             # unbatched
    (2, (2,), (0, 2, 4, 4), False),                          # empty batch
    (float("inf"), (2,), (2, 3, 4, 5), False),
])
def test_lp_pool2d(p, args, shape, positive):
    tf, ff = both(lambda lib, F, x: F.lp_pool2d(x, p, *args))
    check_op(tf, ff, shapes=[shape], positive=positive)
    check_op(tf, ff, shapes=[shape], positive=positive, non_contiguous=True, dtype="float64")
    if shape[0] and p != float("inf"):
        gradcheck(lambda x: F.lp_pool2d(x, p, *args), (1,) + shape[1:], positive=True)


@pytest.mark.parametrize("p,args,shape,positive", [
    (2, (2,), (2, 3, 7), False),
    (2, (3, 2, True), (2, 3, 8), False),
    (3, (3, 1), (1, 2, 6), True),
    (1.5, (2,), (3, 6), True),
    (2, (2,), (0, 3, 6), False),
    (float("inf"), (3, 2), (2, 2, 7), False),
])
def test_lp_pool1d(p, args, shape, positive):
    tf, ff = both(lambda lib, F, x: F.lp_pool1d(x, p, *args))
    check_op(tf, ff, shapes=[shape], positive=positive)
    check_op(tf, ff, shapes=[shape], positive=positive, non_contiguous=True)
    if shape[0] and p != float("inf"):
        gradcheck(lambda x: F.lp_pool1d(x, p, *args), shape, positive=True)


def test_lp_pool_modules():
    for ctor, shape in [(lambda n: n.LPPool2d(2, 3, stride=2), (2, 3, 7, 8)),
                        (lambda n: n.LPPool2d(1.5, (2, 3), ceil_mode=True), (1, 2, 5, 7)),
                        (lambda n: n.LPPool1d(2, 3), (2, 3, 9)),
                        (lambda n: n.LPPool1d(3, 2, stride=1), (2, 3, 5))]:
        tm, fm = ctor(torch.nn), ctor(nn)
        assert repr(fm) == repr(tm)
        check_module(tm, fm, [np.abs(randn(*shape)) + 0.1])
    with pytest.raises(RuntimeError, match="avg_pool2d"):
        F.lp_pool2d(flambeau.randn(1, 1, 2, 2), 2, 3)


# ================================================================================ channel shuffle
@pytest.mark.parametrize("groups,shape", [(3, (2, 6, 4, 5)), (2, (1, 4, 3)), (4, (3, 8, 2, 2, 2)),
                                          (1, (2, 3, 4, 4)), (5, (2, 5, 3)), (2, (0, 4, 3, 3)),
                                          (3, (6, 3, 2))])
def test_channel_shuffle(groups, shape):
    tf, ff = both(lambda lib, F, x: F.channel_shuffle(x, groups))
    check_op(tf, ff, shapes=[shape])
    check_op(tf, ff, shapes=[shape], non_contiguous=True)
    tm, fm = torch.nn.ChannelShuffle(groups), nn.ChannelShuffle(groups)
    assert repr(fm) == repr(tm)
    check_module(tm, fm, [randn(*shape)])
    if shape[0]:
        gradcheck(lambda x: F.channel_shuffle(x, groups), shape)


def test_channel_shuffle_errors():
    check_error(lambda lib: lib.nn.functional.channel_shuffle(lib.randn(2, 6, 3), 4), RuntimeError,
                r"channel_shuffle: number of channels must be divisible by groups. Got 6 channels "
                r"and 4 groups \(input \[2, 6, 3\]\)")
    check_error(lambda lib: lib.nn.functional.channel_shuffle(lib.randn(2, 6, 3), 0), RuntimeError,
                "channel_shuffle: number of groups to divide channels in must be positive")
    check_error(lambda lib: lib.nn.functional.channel_shuffle(lib.randn(2, 6), 3), RuntimeError,
                r"channel_shuffle: expects input with > 2 dims, but got input with sizes \[2, 6\]")


# ================================================================================ gumbel-softmax
def _fixed_noise(monkeypatch, shape, rng):
    """Make both libraries' exponential_() write the same Exponential(1) samples."""
    e = rng.exponential(size=shape).astype(np.float64)
    monkeypatch.setattr(torch.Tensor, "exponential_",
                        lambda self, *a, **k: self.copy_(torch.from_numpy(e)), raising=True)
    monkeypatch.setattr(flambeau.Tensor, "exponential_",
                        lambda self, *a, **k: self.copy_(flambeau.tensor(e, dtype=self.dtype)),
                        raising=True)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau,dim,shape", [(1.0, -1, (4, 5)), (0.5, 0, (3, 7)),
                                           (2.0, 1, (2, 3, 4)), (1.0, -1, (1, 1)),
                                           (1.0, -1, (0, 3))])
def test_gumbel_softmax_with_the_same_noise_matches_pytorch(monkeypatch, rng, hard, tau, dim,
                                                            shape):
    _fixed_noise(monkeypatch, shape, rng)
    tf, ff = both(lambda lib, F, x: F.gumbel_softmax(x, tau=tau, hard=hard, dim=dim))
    check_op(tf, ff, shapes=[shape])
    check_op(tf, ff, shapes=[shape], dtype="float64", non_contiguous=True)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient(monkeypatch, rng):
    _fixed_noise(monkeypatch, (6, 5), rng)
    x = flambeau.tensor(np.random.randn(6, 5), requires_grad=True)
    g = flambeau.tensor(np.random.randn(6, 5))
    hard = F.gumbel_softmax(x, tau=0.7, hard=True)
    y = to_np(hard)
    assert set(np.unique(y)) <= {0.0, 1.0} and np.all(y.sum(-1) == 1)
    (hard * g).sum().backward()
    g_hard = to_np(x.grad)
    x.grad = None
    soft = F.gumbel_softmax(x, tau=0.7, hard=False)
    np.testing.assert_array_equal(y.argmax(-1), to_np(soft).argmax(-1))
    (soft * g).sum().backward()
    np.testing.assert_allclose(g_hard, to_np(x.grad), rtol=1e-12, atol=1e-12)


def test_gumbel_softmax_statistics():
    flambeau.manual_seed(3)
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    n = 20000
    x = flambeau.tensor(np.tile(logits, (n, 1)))
    y = to_np(F.gumbel_softmax(x, hard=True))
    freq = y.mean(0)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.015)
    soft = to_np(F.gumbel_softmax(x, tau=1.0))
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-12)
    assert np.all(soft > 0)
    # lower temperature: samples closer to one-hot
    sharp = to_np(F.gumbel_softmax(x, tau=0.1)).max(-1).mean()
    assert sharp > soft.max(-1).mean() + 0.2
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(x[:2], eps=1e-5)


# ================================================================================ DataParallel
@pytest.mark.skipif(flambeau.cuda.is_available(), reason="passthrough form is the CPU-only one")
def test_data_parallel_passthrough_matches_pytorch():
    def make(n):
        return n.Sequential(n.Linear(4, 5), n.ReLU(), n.BatchNorm1d(5), n.Linear(5, 2))
    tinner, finner = make(torch.nn), make(nn)
    tm, fm = torch.nn.DataParallel(tinner), nn.DataParallel(finner)
    assert fm.module is finner and fm.device_ids == [] == tm.device_ids
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert all(k.startswith("module.") for k in fm.state_dict())
    check_module(tm, fm, [randn(6, 4)])
    assert fm.training and finner.training
    fm.eval()
    assert not finner.training
    assert isinstance(nn.parallel.DataParallel(finner), nn.Module)
    out = nn.parallel.data_parallel(finner, t2f(randn(3, 4)))
    assert tuple(out.shape) == (3, 2)
    # keyword arguments pass through too
    mha_t = torch.nn.DataParallel(torch.nn.MultiheadAttention(4, 2, batch_first=True))
    mha_f = nn.DataParallel(nn.MultiheadAttention(4, 2, batch_first=True))
    assert list(mha_f.state_dict()) == list(mha_t.state_dict())
    q = t2f(randn(2, 3, 4))
    out, w = mha_f(q, q, q, need_weights=True)
    assert tuple(w.shape) == (2, 3, 3)


# ================================================================================ embedding bags
BAG_INPUT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 4, 7, 7], dtype=np.int64)

BAG_CASES = [
    # (kwargs, input, offsets)
    (dict(mode="sum"), BAG_INPUT, [0, 4, 4, 9]),              # an empty bag in the middle
    (dict(mode="mean"), BAG_INPUT, [0, 4, 4, 9]),
    (dict(mode="max"), BAG_INPUT, [0, 4, 4, 9]),
    (dict(mode="sum", padding_idx=4), BAG_INPUT, [0, 3, 5, 12]),   # the last bag is empty
    (dict(mode="mean", padding_idx=4), BAG_INPUT, [0, 3, 5, 11]),
    (dict(mode="max", padding_idx=-6), BAG_INPUT, [0, 3, 5]),       # bag [4, 3]... padding 4
    (dict(mode="mean", include_last_offset=True), BAG_INPUT, [0, 2, 7, 12]),
    (dict(mode="sum", include_last_offset=True, padding_idx=0), BAG_INPUT, [0, 2, 7, 12]),
    (dict(mode="max", include_last_offset=True), BAG_INPUT, [0, 5, 5, 12]),
    (dict(mode="mean"), BAG_INPUT.reshape(3, 4), None),        # 2-D input: bags of 4
    (dict(mode="max"), BAG_INPUT.reshape(4, 3), None),
    (dict(mode="sum", padding_idx=7), BAG_INPUT.reshape(2, 6), None),
    (dict(mode="mean"), BAG_INPUT, [0]),                        # one bag
    (dict(mode="mean"), np.zeros(0, dtype=np.int64), [0, 0]),   # empty bags only
    (dict(mode="max"), np.zeros(0, dtype=np.int64), [0, 0, 0]),
]


def _bag_fns(kw, inp, offsets, psw=False):
    def fn(lib, F, w, *rest):
        off = None if offsets is None else lib.tensor(offsets, dtype=lib.int64)
        psw_t = rest[0] if psw else None
        return F.embedding_bag(lib.from_numpy(inp.copy()), w, off, per_sample_weights=psw_t, **kw)
    return both(fn)


@pytest.mark.parametrize("kw,inp,offsets", BAG_CASES, ids=[str(i) for i in range(len(BAG_CASES))])
def test_embedding_bag_matches_pytorch(kw, inp, offsets):
    tf, ff = _bag_fns(kw, inp, offsets)
    check_op(tf, ff, shapes=[(10, 3)])
    check_op(tf, ff, shapes=[(10, 5)], dtype="float64", non_contiguous=True)


@pytest.mark.parametrize("inp,offsets", [(np.zeros((0, 3), dtype=np.int64), None),
                                         (BAG_INPUT, [0])])
def test_embedding_bag_no_bags(inp, offsets):
    # PyTorch 2.13 crashes the process on zero bags (its backward, and with a non-empty input
    # some modes' forward): only the empty 2-D input's forward is compared with it
    for mode in ("sum", "mean", "max"):
        kw = dict(mode=mode, include_last_offset=offsets is not None)
        w = flambeau.ones(10, 3, requires_grad=True)
        fo = F.embedding_bag(flambeau.from_numpy(inp.copy()), w,
                             None if offsets is None else flambeau.tensor(offsets), **kw)
        assert tuple(fo.shape) == (0, 3)
        if offsets is None:
            assert_close(fo, TF.embedding_bag(torch.from_numpy(inp), torch.ones(10, 3), **kw))
        assert fo.requires_grad
        fo.sum().backward()
        assert float(w.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("inp,offsets,kw", [
    (BAG_INPUT, [0, 4, 4, 9], dict()),
    (BAG_INPUT, [0, 3, 5, 12], dict(padding_idx=4)),
    (BAG_INPUT.reshape(3, 4), None, dict()),
    (BAG_INPUT, [0, 5, 12], dict(include_last_offset=True)),
])
def test_embedding_bag_per_sample_weights(inp, offsets, kw):
    tf, ff = _bag_fns(dict(mode="sum", **kw), inp, offsets, psw=True)
    check_op(tf, ff, shapes=[(10, 3), inp.shape])
    check_op(tf, ff, shapes=[(10, 4), inp.shape], non_contiguous=True, dtype="float64")
    off = None if offsets is None else flambeau.tensor(offsets)
    gradcheck(lambda w, p: F.embedding_bag(flambeau.from_numpy(inp.copy()), w, off, mode="sum",
                                           per_sample_weights=p, **kw), (10, 3), inp.shape)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(mode):
    inp = flambeau.from_numpy(BAG_INPUT.copy())
    off = flambeau.tensor([0, 4, 4, 9])
    gradcheck(lambda w: F.embedding_bag(inp, w, off, mode=mode), (10, 3))
    gradcheck(lambda w: F.embedding_bag(inp, w, off, mode=mode, padding_idx=4), (10, 3))


@pytest.mark.parametrize("kw,inp,offsets", [
    (dict(mode="sum"), BAG_INPUT, [0, 6]),
    (dict(mode="mean", padding_idx=2), BAG_INPUT.reshape(6, 2), None),
])
def test_embedding_bag_scale_grad_by_freq(kw, inp, offsets):
    # PyTorch 2.13's CPU backward divides by the wrong count when counts differ (pytorch#190063,
    # its CUDA backward is right): the reference is its unscaled gradient over the index counts
    w = randn(10, 3)
    g = randn(len(offsets) if offsets is not None else inp.shape[0], 3)
    tw = torch.from_numpy(w).requires_grad_()
    off_t = None if offsets is None else torch.tensor(offsets)
    to = TF.embedding_bag(torch.from_numpy(inp), tw, off_t, **kw)
    to.backward(torch.from_numpy(g))
    counts = np.bincount(inp.reshape(-1), minlength=10).astype(np.float32)
    ref_grad = to_np(tw.grad) / np.maximum(counts, 1)[:, None]
    fw = t2f(w, requires_grad=True)
    off_f = None if offsets is None else flambeau.tensor(offsets)
    fo = F.embedding_bag(flambeau.from_numpy(inp.copy()), fw, off_f, scale_grad_by_freq=True, **kw)
    assert_close(fo, to)
    fo.backward(t2f(g))
    assert_close(fw.grad, ref_grad, msg="grad scaled by 1/count")


def test_embedding_bag_include_last_offset_short_of_the_end():
    # the extra offset should be len(input) (CSR); PyTorch's CPU kernels disagree when it is less
    # (its float32 'sum' path stops there, the others run to the end): flambeau stops there
    w = randn(10, 3)
    off = [0, 2, 7, 9]
    to = TF.embedding_bag(torch.from_numpy(BAG_INPUT), torch.from_numpy(w), torch.tensor(off),
                          mode="sum", include_last_offset=True)
    for mode, red in (("sum", np.sum), ("mean", np.mean), ("max", np.max)):
        fo = F.embedding_bag(flambeau.from_numpy(BAG_INPUT.copy()), t2f(w), flambeau.tensor(off),
                             mode=mode, include_last_offset=True)
        ref = np.stack([red(w[BAG_INPUT[a:b]], axis=0) for a, b in zip(off[:-1], off[1:])])
        assert_close(fo, ref, msg=mode)
        if mode == "sum":
            assert_close(fo, to, msg="PyTorch's float32 sum")


def test_embedding_bag_max_norm_renormalises_like_pytorch():
    w = randn(10, 3) * 2
    tw, fw = torch.from_numpy(w.copy()), t2f(w)
    to = TF.embedding_bag(torch.from_numpy(BAG_INPUT), tw, torch.tensor([0, 5]), max_norm=1.0)
    fo = F.embedding_bag(flambeau.from_numpy(BAG_INPUT.copy()), fw, flambeau.tensor([0, 5]),
                         max_norm=1.0)
    assert_close(fo, to)
    assert_close(fw, tw, msg="rows renormalised in place")


def test_embedding_bag_module(device):
    for kw in [dict(), dict(mode="sum", padding_idx=2), dict(mode="max"),
               dict(mode="mean", include_last_offset=True, max_norm=2.0, norm_type=1.0),
               dict(mode="sum", padding_idx=-1)]:
        tm, fm = torch.nn.EmbeddingBag(10, 4, **kw), nn.EmbeddingBag(10, 4, **kw)
        assert repr(fm) == repr(tm)
        assert list(fm.state_dict()) == list(tm.state_dict()) == ["weight"]
        assert fm.padding_idx == tm.padding_idx
        offsets = [0, 3, 3, 7] + ([12] if kw.get("include_last_offset") else [])
        check_module(tm, fm, [BAG_INPUT, np.array(offsets)], device)
        check_module(tm, fm, [BAG_INPUT.reshape(3, 4)], device)
    bag = nn.EmbeddingBag(5, 2, padding_idx=1)
    assert float(bag.weight[1].abs().sum()) == 0.0
    w = np.random.randn(6, 3).astype(np.float32)
    tm = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(w), mode="sum")
    fm = nn.EmbeddingBag.from_pretrained(t2f(w), mode="sum")
    assert not fm.weight.requires_grad and repr(fm) == repr(tm)
    x = np.array([[0, 5, 2], [1, 1, 3]])
    assert_close(fm(flambeau.from_numpy(x)), tm(torch.from_numpy(x)))
    fm = nn.EmbeddingBag.from_pretrained(t2f(w), freeze=False, mode="max")
    fm(flambeau.from_numpy(x)).sum().backward()
    assert fm.weight.grad is not None


def test_embedding_bag_errors():
    def bag(lib, inp=BAG_INPUT, offsets=(0, 4), **kw):
        off = None if offsets is None else lib.tensor(list(offsets), dtype=lib.int64)
        return lib.nn.functional.embedding_bag(lib.from_numpy(np.asarray(inp).copy()),
                                               lib.ones(10, 3), off, **kw)

    check_error(lambda lib: bag(lib, offsets=(1, 4)), RuntimeError,
                r"embedding_bag: offsets\[0\] has to be 0.*got 1 \(offsets \[1, 4\]\)")
    check_error(lambda lib: bag(lib, offsets=(0, 4, 13)), RuntimeError,
                r"embedding_bag: offsets\[-1\] can not be greater than input's length 12")
    check_error(lambda lib: bag(lib, offsets=(0, 5, 4)), RuntimeError,
                r"embedding_bag: offsets must be non-decreasing, got \[0, 5, 4\]")
    check_error(lambda lib: bag(lib, inp=BAG_INPUT + 5), RuntimeError,
                r"embedding_bag: index 14 is out of range for weight of shape \[10, 3\]")
    check_error(lambda lib: bag(lib, inp=BAG_INPUT - 5), RuntimeError,
                r"embedding_bag: index -5 is out of range")
    check_error(lambda lib: bag(lib, mode="mean", per_sample_weights=lib.ones(12)),
                NotImplementedError, "per_sample_weights is only supported for mode='sum'")
    check_error(lambda lib: bag(lib, mode="sum", per_sample_weights=lib.ones(11)), ValueError,
                r"embedding_bag: If per_sample_weights \(\[11\]\).*input \(\[12\]\)")
    check_error(lambda lib: bag(lib, inp=BAG_INPUT.reshape(3, 4)), ValueError,
                "if input is 2D, then offsets has to be None")
    check_error(lambda lib: bag(lib, offsets=None), ValueError, "offsets has to be a 1D Tensor")
    check_error(lambda lib: bag(lib, inp=BAG_INPUT.reshape(2, 2, 3), offsets=None), ValueError,
                "input has to be 1D or 2D Tensor, but got Tensor of dimension 3")
    check_error(lambda lib: bag(lib, mode="median"), ValueError, "mode has to be one of")
    check_error(lambda lib: bag(lib, mode="max", scale_grad_by_freq=True), ValueError,
                "max mode does not support scaling the gradient")
    check_error(lambda lib: bag(lib, padding_idx=10), RuntimeError,
                "padding_idx must be within the number of embeddings, -10 through 9")
    check_error(lambda lib: bag(lib, inp=BAG_INPUT.astype(np.float32)), RuntimeError,
                "embedding_bag: expected indices")
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(4, 2, padding_idx=4)


# ================================================================================ triplet loss
def _cosine_distance(lib):
    return lambda a, b: 1.0 - lib.nn.functional.cosine_similarity(a, b)


@pytest.mark.parametrize("kw", [dict(), dict(margin=0.5, swap=True), dict(reduction="sum"),
                                dict(reduction="none", swap=True), dict(distance="cosine"),
                                dict(distance="l1", margin=2.0, reduction="none")])
@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (0, 4)])
def test_triplet_margin_with_distance_loss(kw, shape):
    kw = dict(kw)
    dist = kw.pop("distance", None)

    def fn(lib, F, a, p, n):
        d = None
        if dist == "cosine":
            d = _cosine_distance(lib)
        elif dist == "l1":
            d = lambda x, y: (x - y).abs().sum(-1)
        return F.triplet_margin_with_distance_loss(a, p, n, distance_function=d, **kw)

    tf, ff = both(fn)
    check_op(tf, ff, shapes=[shape] * 3)
    check_op(tf, ff, shapes=[shape] * 3, non_contiguous=True, dtype="float64")
    if shape[0]:
        gradcheck(lambda a, p, n: fn(flambeau, F, a, p, n), shape, shape, shape)

    def mod(lib):
        d = _cosine_distance(lib) if dist == "cosine" else None
        mkw = {k: v for k, v in kw.items()}
        return lib.nn.TripletMarginWithDistanceLoss(distance_function=d, **mkw)
    if dist != "l1":
        tm, fm = mod(torch), mod(flambeau)
        assert list(fm.state_dict()) == list(tm.state_dict())
        assert repr(fm) == repr(tm)
        check_module(tm, fm, [randn(*shape) for _ in range(3)])


def test_triplet_margin_with_distance_loss_errors():
    check_error(lambda lib: lib.nn.functional.triplet_margin_with_distance_loss(
        lib.randn(3, 4), lib.randn(3, 4), lib.randn(4), margin=1.0), RuntimeError,
        "triplet_margin_with_distance_loss: .*anchor 2D, positive 2D, and negative 1D")
    check_error(lambda lib: lib.nn.functional.triplet_margin_with_distance_loss(
        lib.randn(3, 4), lib.randn(3, 4), lib.randn(3, 4), margin=0.0), ValueError,
        "margin must be greater than 0, got 0.0")
    check_error(lambda lib: lib.nn.functional.triplet_margin_with_distance_loss(
        lib.randn(3, 4), lib.randn(3, 4), lib.randn(3, 4), reduction="avg"), ValueError,
        "avg is not a valid value for reduction")
    check_error(lambda lib: lib.nn.TripletMarginWithDistanceLoss(margin=-1), ValueError,
                "TripletMarginWithDistanceLoss: expected margin to be greater than 0")
