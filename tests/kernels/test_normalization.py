"""batch_norm / layer_norm / group_norm (fused `_C` kernels) against PyTorch CPU: forward, every
gradient, running statistics, evaluation mode, odd / empty / non-contiguous inputs, float64
gradchecks, numerical stability, thread-count independence and argument errors.

Tests taking `device` run on every device (tests/conftest.py: 'cpu', plus 'cuda' when available; the
CUDA kernels are csrc/cuda/normalization.cu behind the same `_C` entry points); PyTorch, the oracle,
always runs on the CPU. Thread-count and CPU-capability bit-equality tests stay CPU-only."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions.normalization import batch_norm, layer_norm, group_norm
from helpers import check_op, fl_tensor, to_np, assert_close, rand_array

DTYPES = ["float32", "float64"]
NP = {"float32": np.float32, "float64": np.float64}


def _pair(arr, requires_grad=False, device="cpu"):
    return (torch.tensor(arr, requires_grad=requires_grad),
            fl_tensor(arr, device=device, requires_grad=requires_grad))


# ------------------------------------------------------------------------------------ batch norm
BN_SHAPES = [(4, 3), (2, 5), (5, 3, 7, 9), (2, 4, 3), (3, 2, 1, 1), (2, 3, 2, 3, 4), (65, 17), (2, 6, 1, 33)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(shape, dtype, affine, device, rng):
    c = shape[1]
    rm0, rv0 = rand_array((c,), dtype, rng), rand_array((c,), dtype, rng, positive=True)
    t_rm, f_rm = _pair(rm0, device=device)
    t_rv, f_rv = _pair(rv0, device=device)
    shapes = [shape] + ([(c,), (c,)] if affine else [])
    if affine:
        tfn = lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, True, 0.1, 1e-5)
        ffn = lambda x, w, b: batch_norm(x, f_rm, f_rv, w, b, True, 0.1, 1e-5)
    else:
        tfn = lambda x: TF.batch_norm(x, t_rm, t_rv, None, None, True, 0.1, 1e-5)
        ffn = lambda x: batch_norm(x, f_rm, f_rv, None, None, True, 0.1, 1e-5)
    check_op(tfn, ffn, shapes, dtype=dtype, rng=rng, device=device)
    assert f_rm.device.type == device
    assert_close(f_rm, t_rm, what="running_mean")
    assert_close(f_rv, t_rv, what="running_var")


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_running_stats_several_steps(shape, dtype, device, rng):
    c = shape[1]
    t_rm, f_rm = _pair(np.zeros(c, NP[dtype]), device=device)
    t_rv, f_rv = _pair(np.ones(c, NP[dtype]), device=device)
    for step in range(5):
        x = rand_array(shape, dtype, rng, low=-1, high=3)
        tx, fx = _pair(x, device=device)
        TF.batch_norm(tx, t_rm, t_rv, None, None, True, 0.3, 1e-5)
        out = batch_norm(fx, f_rm, f_rv, None, None, True, 0.3, 1e-5)
    assert out.device.type == device
    assert_close(f_rm, t_rm, what="running_mean")
    assert_close(f_rv, t_rv, what="running_var")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_momentum_none_cumulative(dtype, device, rng):
    # momentum=None: the module passes 1/num_batches_tracked (torch's _BatchNorm does the same).
    c = 4
    mod = torch.nn.BatchNorm2d(c, momentum=None).to(getattr(torch, dtype))
    f_rm, f_rv = fl_tensor(np.zeros(c, NP[dtype]), device=device), fl_tensor(np.ones(c, NP[dtype]), device=device)
    for step in range(1, 6):
        x = rand_array((3, c, 4, 5), dtype, rng, low=-2, high=4)
        mod(torch.tensor(x))
        batch_norm(fl_tensor(x, device=device), f_rm, f_rv, None, None, True, 1.0 / step, 1e-5)
    assert f_rm.device.type == device
    assert_close(f_rm, mod.running_mean, what="running_mean")
    assert_close(f_rv, mod.running_var, what="running_var")


@pytest.mark.parametrize("shape", [(4, 3), (5, 3, 7, 9), (1, 3, 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval(shape, dtype, device, rng):
    c = shape[1]
    rm, rv = rand_array((c,), dtype, rng), rand_array((c,), dtype, rng, positive=True)
    t_rm, f_rm = _pair(rm, device=device)
    t_rv, f_rv = _pair(rv, device=device)
    check_op(lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, False, 0.1, 1e-3),
             lambda x, w, b: batch_norm(x, f_rm, f_rv, w, b, False, 0.1, 1e-3),
             [shape, (c,), (c,)], dtype=dtype, rng=rng, device=device)
    np.testing.assert_array_equal(to_np(f_rm), rm)  # eval never touches the running stats
    np.testing.assert_array_equal(to_np(f_rv), rv)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_non_contiguous(training, device, rng):
    c = 4
    t_rm, f_rm = _pair(np.zeros(c, np.float32), device=device)
    t_rv, f_rv = _pair(np.ones(c, np.float32), device=device)
    # x is a transposed view (N, C, W, H) of a contiguous (N, C, H, W) tensor.
    check_op(lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training, 0.1, 1e-5),
             lambda x, w, b: batch_norm(x, f_rm, f_rv, w, b, training, 0.1, 1e-5),
             [(3, c, 5, 6), (c,), (c,)], non_contiguous=True, rng=rng, device=device)
    assert_close(f_rm, t_rm, what="running_mean")
    # channels-last input: a permuted view.
    x = rand_array((3, 5, 6, c), "float32", rng)
    tx, fx = _pair(x, device=device)
    out = batch_norm(fx.permute(0, 3, 1, 2), f_rm, f_rv, None, None, training)
    assert out.device.type == device
    assert_close(out, TF.batch_norm(tx.permute(0, 3, 1, 2), t_rm, t_rv, None, None, training))


def test_batch_norm_running_stats_views(device, rng):
    # Running stats that are strided views are updated through the view.
    base_t, base_f = _pair(np.zeros((3, 2), np.float32), device=device)
    vt, vf = _pair(np.ones((3, 2), np.float32), device=device)
    x = rand_array((6, 3), "float32", rng)
    TF.batch_norm(torch.tensor(x), base_t[:, 0], vt[:, 1], None, None, True, 0.5)
    out = batch_norm(fl_tensor(x, device=device), base_f[:, 0], vf[:, 1], None, None, True, 0.5)
    assert out.device.type == device and base_f.device.type == device
    assert_close(base_f, base_t)
    assert_close(vf, vt)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1), (1, 2, 1)])
def test_batch_norm_one_value_per_channel(shape, device):
    x = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        TF.batch_norm(torch.tensor(x), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        batch_norm(fl_tensor(x, device=device), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        _C.batch_norm(fl_tensor(x, device=device)._impl, None, None, None, None, True, 0.1, 1e-5)
    # Evaluation with one value is fine.
    rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
    out = batch_norm(fl_tensor(x, device=device), fl_tensor(rm, device=device), fl_tensor(rv, device=device),
                     training=False)
    assert out.device.type == device
    assert_close(out, TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), training=False))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_empty_batch(training, device, rng):
    c = 3
    rm, rv = rand_array((c,), "float32", rng), rand_array((c,), "float32", rng, positive=True)
    t_rm, f_rm = _pair(rm, device=device)
    t_rv, f_rv = _pair(rv, device=device)
    check_op(lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training),
             lambda x, w, b: batch_norm(x, f_rm, f_rv, w, b, training),
             [(0, c, 4, 4), (c,), (c,)], rng=rng, device=device)
    np.testing.assert_array_equal(to_np(f_rm), rm)
    np.testing.assert_array_equal(to_np(f_rv), rv)
    check_op(lambda x: TF.batch_norm(x, t_rm, t_rv, None, None, training),
             lambda x: batch_norm(x, f_rm, f_rv, None, None, training), [(0, c)], rng=rng, device=device)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training, device, rng):
    c = 2
    rm = fl_tensor(rand_array((c,), "float64", rng), device=device)
    rv = fl_tensor(rand_array((c,), "float64", rng, positive=True), device=device)
    x = fl_tensor(rand_array((3, c, 2), "float64", rng), device=device, requires_grad=True)
    w = fl_tensor(rand_array((c,), "float64", rng), device=device, requires_grad=True)
    b = fl_tensor(rand_array((c,), "float64", rng), device=device, requires_grad=True)
    # momentum 0 keeps the running stats fixed across gradcheck's many evaluations.
    fn = lambda x, w, b: batch_norm(x, rm, rv, w, b, training, 0.0, 1e-5)
    assert fn(x, w, b).device.type == device
    assert flambeau.autograd.gradcheck(fn, (x, w, b))
    assert flambeau.autograd.gradgradcheck(fn, (x, w, b))
    x2 = fl_tensor(rand_array((5, c), "float64", rng), device=device, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda x: batch_norm(x, None, None, None, None, True), (x2,))


@pytest.mark.parametrize("dtype", ["float32"])
def test_batch_norm_large_offset_stable(dtype, device, rng):
    # Mean 1e4, std 1e-1: a naive float sum of squares loses every digit of the variance.
    # (The CPU and CUDA kernels both sum shifted values in double: the same bound holds.)
    x = (1e4 + 0.1 * rng.standard_normal((16, 3, 32, 32))).astype(np.float32)
    # (PyTorch's own kernels are off by ~1e-2 here: they compute x * alpha + (b - mean * alpha).)
    eps = 1e-5
    x64 = x.astype(np.float64)
    out = batch_norm(fl_tensor(x, device=device), None, None, training=True, eps=eps)
    assert out.device.type == device
    out = to_np(out)
    m = x64.mean(axis=(0, 2, 3), keepdims=True)
    ref = (x64 - m) / np.sqrt(x64.var(axis=(0, 2, 3), keepdims=True) + eps)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)
    ln = to_np(layer_norm(fl_tensor(x.reshape(16, -1), device=device), (3 * 32 * 32,), eps=eps))
    x2 = x64.reshape(16, -1)
    ref2 = (x2 - x2.mean(1, keepdims=True)) / np.sqrt(x2.var(1, keepdims=True) + eps)
    np.testing.assert_allclose(ln, ref2, atol=1e-5, rtol=1e-5)
    gn = to_np(group_norm(fl_tensor(x, device=device), 1, eps=eps))
    x3 = x64.reshape(16, -1)
    ref3 = ((x3 - x3.mean(1, keepdims=True)) / np.sqrt(x3.var(1, keepdims=True) + eps)).reshape(x.shape)
    np.testing.assert_allclose(gn, ref3, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("c", [6, 3])  # C=3: channel-by-channel on 1 thread, blocked on 2 (same bits)
def test_batch_norm_thread_count_independent(c, rng):
    # CPU-only (thread counts); test_norm_deterministic is the per-device version.
    x = fl_tensor(rand_array((8, c, 40, 40), "float32", rng))
    g = fl_tensor(rand_array((8, c, 40, 40), "float32", rng))
    x2 = fl_tensor(rand_array((300, 70), "float32", rng))
    n0 = _C.get_num_threads()
    res = []
    try:
        for nt in (1, max(2, n0)):
            _C.set_num_threads(nt)
            out, m, s = _C.batch_norm(x._impl, None, None, None, None, True, 0.1, 1e-5)
            gi, gw, gb = _C.batch_norm_backward(g._impl, x._impl, None, m, s, True, [True, True, True])
            o2, _, _ = _C.batch_norm(x2._impl, None, None, None, None, True, 0.1, 1e-5)
            res.append([_C.to_numpy(t).copy() for t in (out, m, s, gi, gw, gb, o2)])
    finally:
        _C.set_num_threads(n0)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_errors(device, rng):
    d = device
    x = fl_tensor(rand_array((4, 3, 2), "float32", rng), device=d)
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean should contain 3 elements not 4"):
        batch_norm(x, flambeau.zeros(4, device=d), flambeau.ones(3, device=d), training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm: weight should contain 3 elements not 2"):
        batch_norm(x, None, None, flambeau.ones(2, device=d), training=True)
    with pytest.raises(TypeError, match=r"batch_norm: bias has dtype float64 but input has dtype float32"):
        batch_norm(x, None, None, None, flambeau.zeros(3, dtype=flambeau.float64, device=d), training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm: expected at least 2-D input"):
        batch_norm(flambeau.ones(5, device=d), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean and running_var must be defined in evaluation mode"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(TypeError, match="floating-point"):
        batch_norm(flambeau.ones(4, 3, dtype=flambeau.int64, device=d), None, None, training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm_backward: grad_output shape \[4, 3\] differs from input "
                                         r"shape \[4, 3, 2\]"):
        _C.batch_norm_backward(flambeau.ones(4, 3, device=d)._impl, x._impl, None, flambeau.zeros(3, device=d)._impl,
                               flambeau.ones(3, device=d)._impl, True, [True, True, True])


# ------------------------------------------------------------------------------------ layer norm
LN_CASES = [((4, 7), (7,)), ((3, 5, 6), (5, 6)), ((2, 3, 1000), (1000,)), ((1, 1), (1,)), ((9, 33), (33,)),
            ((2, 3, 4, 5), (3, 4, 5))]


@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["wb", "w", "b", "none"])
def test_layer_norm(shape, ns, dtype, affine, device, rng):
    shapes = [shape] + [ns] * len(affine.replace("none", ""))
    def make(F, lib):
        def fn(x, *p):
            it = iter(p)
            w = next(it) if "w" in affine else None
            b = next(it) if "b" in affine and affine != "none" else None
            return F(x, ns, w, b, 1e-5)
        return fn
    check_op(make(TF.layer_norm, torch), make(layer_norm, flambeau), shapes, dtype=dtype, rng=rng, device=device)


def test_layer_norm_non_contiguous_and_empty(device, rng):
    check_op(lambda x, w, b: TF.layer_norm(x, (5,), w, b), lambda x, w, b: layer_norm(x, 5, w, b),
             [(4, 6, 5), (5,), (5,)], non_contiguous=True, rng=rng, device=device)
    check_op(lambda x, w, b: TF.layer_norm(x, (5,), w, b), lambda x, w, b: layer_norm(x, 5, w, b),
             [(0, 5), (5,), (5,)], rng=rng, device=device)


def test_layer_norm_stats_shape(device):
    x = flambeau.randn(2, 3, 4, 5, device=device)
    out, mean, rstd = _C.layer_norm(x._impl, [4, 5], None, None, 1e-5)
    _, tm, tr = torch.native_layer_norm(torch.randn(2, 3, 4, 5), [4, 5], None, None, 1e-5)
    assert mean.shape == tuple(tm.shape) and rstd.shape == tuple(tr.shape)
    assert flambeau._tensor._wrap(mean).device.type == device


def test_layer_norm_gradcheck(device, rng):
    x = fl_tensor(rand_array((3, 4, 5), "float64", rng), device=device, requires_grad=True)
    w = fl_tensor(rand_array((4, 5), "float64", rng), device=device, requires_grad=True)
    b = fl_tensor(rand_array((4, 5), "float64", rng), device=device, requires_grad=True)
    fn = lambda x, w, b: layer_norm(x, (4, 5), w, b)
    assert fn(x, w, b).device.type == device
    assert flambeau.autograd.gradcheck(fn, (x, w, b))
    assert flambeau.autograd.gradgradcheck(fn, (x, w, b))


def test_layer_norm_errors(device, rng):
    x = fl_tensor(rand_array((2, 3), "float32", rng), device=device)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                         r"but got input of size\[2, 3\]"):
        layer_norm(x, 4)
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got "
                                         r"weight of shape \[2\] and normalized_shape = \[3\]"):
        layer_norm(x, 3, flambeau.ones(2, device=device))
    with pytest.raises(RuntimeError, match="at least 1-dimensional"):
        layer_norm(x, [])


# ------------------------------------------------------------------------------------ group norm
GN_CASES = [((2, 6, 5), 3), ((3, 8, 4, 4), 4), ((2, 4), 2), ((1, 6, 7), 1), ((2, 6, 3), 6), ((4, 9, 2, 3, 2), 3)]


@pytest.mark.parametrize("shape,groups", GN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape, groups, dtype, affine, device, rng):
    c = shape[1]
    if affine:
        check_op(lambda x, w, b: TF.group_norm(x, groups, w, b), lambda x, w, b: group_norm(x, groups, w, b),
                 [shape, (c,), (c,)], dtype=dtype, rng=rng, device=device)
    else:
        check_op(lambda x: TF.group_norm(x, groups), lambda x: group_norm(x, groups), [shape], dtype=dtype,
                 rng=rng, device=device)


def test_group_norm_non_contiguous_and_empty(device, rng):
    check_op(lambda x, w, b: TF.group_norm(x, 2, w, b), lambda x, w, b: group_norm(x, 2, w, b),
             [(3, 4, 5, 6), (4,), (4,)], non_contiguous=True, rng=rng, device=device)
    check_op(lambda x, w, b: TF.group_norm(x, 2, w, b), lambda x, w, b: group_norm(x, 2, w, b),
             [(0, 4, 5), (4,), (4,)], rng=rng, device=device)


def test_group_norm_gradcheck(device, rng):
    x = fl_tensor(rand_array((2, 6, 3), "float64", rng), device=device, requires_grad=True)
    w = fl_tensor(rand_array((6,), "float64", rng), device=device, requires_grad=True)
    b = fl_tensor(rand_array((6,), "float64", rng), device=device, requires_grad=True)
    fn = lambda x, w, b: group_norm(x, 3, w, b)
    assert fn(x, w, b).device.type == device
    assert flambeau.autograd.gradcheck(fn, (x, w, b))
    assert flambeau.autograd.gradgradcheck(fn, (x, w, b))


def test_group_norm_errors(device, rng):
    x = fl_tensor(rand_array((2, 6, 4), "float32", rng), device=device)
    with pytest.raises(RuntimeError, match=r"Expected number of channels in input to be divisible by num_groups, "
                                         r"but got input of shape \[2, 6, 4\] and num_groups=4"):
        group_norm(x, 4)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the number of "
                                         r"channels in input, but got weight of shape \[3\]"):
        group_norm(x, 3, flambeau.ones(3, device=device))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        group_norm(flambeau.ones(6, device=device), 3)


# ------------------------------------------------------------------------------------ every gradient alone
# (x, weight, bias) gradients asked for one at a time, in pairs and together: the backward kernels get
# the matching output mask (only what needs_input_grad asks for is computed).
GRAD_MASKS = [(True, False, False), (False, True, False), (False, False, True), (True, True, False),
              (True, False, True), (False, True, True), (True, True, True)]
NORM_KINDS = {
    # kind: (input shape, parameter length); odd sizes, batch norm 2-D (S == 1) and 4-D
    "bn2d_train": ((13, 5), 5), "bn4d_train": ((3, 5, 7, 9), 5), "bn4d_eval": ((3, 5, 7, 9), 5),
    "bn2d_eval": ((13, 5), 5), "ln": ((3, 5, 33), 33), "gn": ((3, 6, 7, 5), 6),
}


@pytest.mark.parametrize("mask", GRAD_MASKS, ids=lambda m: "".join("xwb"[i] for i in range(3) if m[i]))
@pytest.mark.parametrize("kind", sorted(NORM_KINDS))
def test_norm_each_gradient(kind, mask, device, rng):
    shape, c = NORM_KINDS[kind]
    for dtype in DTYPES:
        if kind.startswith("bn"):
            training = kind.endswith("train")
            rm, rv = rand_array((c,), dtype, rng), rand_array((c,), dtype, rng, positive=True)
            t_rm, f_rm = _pair(rm, device=device)
            t_rv, f_rv = _pair(rv, device=device)
            tfn = lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training, 0.1, 1e-5)
            ffn = lambda x, w, b: batch_norm(x, f_rm, f_rv, w, b, training, 0.1, 1e-5)
        elif kind == "ln":
            tfn = lambda x, w, b: TF.layer_norm(x, (c,), w, b)
            ffn = lambda x, w, b: layer_norm(x, c, w, b)
        else:
            tfn = lambda x, w, b: TF.group_norm(x, 3, w, b)
            ffn = lambda x, w, b: group_norm(x, 3, w, b)
        check_op(tfn, ffn, [shape, (c,), (c,)], dtype=dtype, grad=list(mask), rng=rng, device=device)
        if kind.startswith("bn"):
            assert_close(f_rm, t_rm, what="running_mean")
            assert_close(f_rv, t_rv, what="running_var")


def test_norm_deterministic(device, rng):
    """Forward and every gradient give the same bits when run again (no float atomics on any device),
    on sizes that take the multi-block / split reductions (batch norm planes of 1600, 300 rows of 2-D
    input, layer norm rows of 3000, group norm groups of 4000)."""
    cases = [("bn", (8, 6, 40, 40)), ("bn", (300, 70)), ("ln", (7, 3000)), ("gn", (4, 6, 40, 50))]
    for kind, shape in cases:
        x = rand_array(shape, "float32", rng)
        g = rand_array(shape, "float32", rng)
        c = shape[-1] if kind == "ln" else shape[1]
        res = []
        for _ in range(2):
            xf = fl_tensor(x, device=device, requires_grad=True)
            w = fl_tensor(np.linspace(0.5, 1.5, c).astype(np.float32), device=device, requires_grad=True)
            b = fl_tensor(np.linspace(-1, 1, c).astype(np.float32), device=device, requires_grad=True)
            if kind == "bn":
                y = batch_norm(xf, None, None, w, b, True)
            elif kind == "ln":
                y = layer_norm(xf, c, w, b)
            else:
                y = group_norm(xf, 3, w, b)
            assert y.device.type == device
            y.backward(fl_tensor(g, device=device))
            res.append([to_np(t) for t in (y, xf.grad, w.grad, b.grad)])
        for a, b_ in zip(*res):
            np.testing.assert_array_equal(a, b_, err_msg=f"{kind} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_on_every_cpu_capability(dtype, rng):
    # The elementwise loops are built for SSE2, AVX2 and AVX-512 (FMA contraction off): same bits.
    cases = [(rand_array((9, 5, 7, 3), dtype, rng), "bn4"), (rand_array((37, 21), dtype, rng), "bn2"),
             (rand_array((6, 33), dtype, rng), "ln"), (rand_array((4, 6, 11), dtype, rng), "gn")]
    before = _C.cpu_capability()
    results = []
    try:
        for cap in ("default", "avx2", "avx512"):
            _C.set_cpu_capability(cap)
            out = []
            for x, kind in cases:
                xf = fl_tensor(x, requires_grad=True)
                c = x.shape[1] if kind != "ln" else x.shape[-1]
                w = fl_tensor(np.linspace(0.5, 1.5, c).astype(x.dtype), requires_grad=True)
                b = fl_tensor(np.linspace(-1, 1, c).astype(x.dtype), requires_grad=True)
                if kind.startswith("bn"):
                    y = batch_norm(xf, None, None, w, b, True)
                elif kind == "ln":
                    y = layer_norm(xf, c, w, b)
                else:
                    y = group_norm(xf, 3, w, b)
                y.backward(fl_tensor(np.cos(x)))
                out += [to_np(y), to_np(xf.grad), to_np(w.grad), to_np(b.grad)]
            results.append(out)
    finally:
        _C.set_cpu_capability(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
