"""Loss kernels (flambeau._functions.loss -> _C, csrc/cpu/loss.cpp) against PyTorch CPU: forward and
every gradient for cross_entropy (class indices and probabilities, weights, ignore_index, label
smoothing, N-d inputs, unbatched input, logits in the thousands), nll_loss, the pointwise losses
(mse, l1, smooth_l1, huber, bce, bce with logits + pos_weight, kl_div), multi_margin_loss and
cosine_embedding_loss; every reduction, empty inputs, non-contiguous inputs, every CPU capability,
float64 gradchecks, determinism across thread counts and argument errors.

Every test that can run on CUDA takes `device` (tests/conftest.py runs it on 'cpu' and, when available,
'cuda'; the PyTorch oracle stays on the CPU): inputs, targets and weights are built on `device`, and each
test checks that the result lives there. CPU capabilities (`cap`) only apply to the cpu variant; the
thread-determinism and SIMD ulp-bound tests are CPU-only."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau import _C
from flambeau._functions import loss as L
from helpers import check_op, fl_tensor, to_np, assert_close, rand_array

CAPS = ["default", "avx2", "avx512"]
REDS = ["mean", "sum", "none"]


@pytest.fixture(autouse=True, scope="module")
def _torch_single_thread():
    # The oracle runs tiny tensors: one thread avoids its thread-pool wake-ups (which cost ~10 ms a
    # call on a loaded 2-core machine and would dominate this file's run time).
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(params=CAPS)
def cap(request):
    device = request.node.callspec.params.get("device", "cpu") if hasattr(request.node, "callspec") else "cpu"
    if device != "cpu" and request.param != "default":
        pytest.skip("CPU capabilities do not apply to the cuda kernels")
    prev = _C.cpu_capability()
    _C.set_cpu_capability(request.param)
    yield request.param
    _C.set_cpu_capability(prev)


def _targets(rng, shape, C, ignore=None, frac_ignored=0.25):
    t = rng.integers(0, C, size=shape).astype(np.int64)
    if ignore is not None and t.size:
        t[rng.random(size=shape) < frac_ignored] = ignore
    return t


def _pair_t(t, device="cpu"):
    return torch.tensor(t), fl_tensor(t, device)


def _pair_w(w, device="cpu"):
    """(torch, flambeau-on-device) copies of an optional weight array."""
    return (None, None) if w is None else (torch.tensor(w), fl_tensor(w, device))


def _on(t, device):
    assert t.device.type == device, f"result on {t.device}, expected {device}"
    return t


# ---------------------------------------------------------------- cross-entropy, class indices
CE_SHAPES = [(4, 5), (1, 1), (7, 3), (33, 17), (3, 1000), (2, 5, 3), (2, 4, 3, 5), (3, 2, 300), (5,), (0, 4)]


@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cross_entropy_index(shape, weighted, cap, rng, device):
    for reduction in REDS:
        for ignore in [None, 1]:
            for ls in [0.0, 0.1]:
                _ce_index_case(shape, reduction, weighted, ignore, ls, rng, device)


def _ce_index_case(shape, reduction, weighted, ignore, ls, rng, device):
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    tgt = _targets(rng, tshape, C, ignore)
    if len(shape) == 1 and ignore is not None:
        tgt = np.array(ignore if rng.random() < 0.3 else tgt, dtype=np.int64)
    tt, ft = _pair_t(tgt, device)
    w = rand_array((C,), "float32", rng, positive=True) if weighted else None
    tw, fw = _pair_w(w, device)
    ii = -100 if ignore is None else ignore
    check_op(lambda x: TF.cross_entropy(x, tt, tw, ignore_index=ii, reduction=reduction, label_smoothing=ls),
             lambda x: L.cross_entropy(x, ft, fw, ignore_index=ii, reduction=reduction, label_smoothing=ls),
             [shape], low=-4, high=4, rng=rng, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ls", [0.0, 0.3])
def test_cross_entropy_large_logits(dtype, ls, cap, rng, device):
    # Logits in the thousands (and one row of equal huge values) stay exact to float rounding.
    x = (rand_array((16, 10), dtype, rng) * 3000).astype(dtype)
    x[3] = 5000.0
    tgt = _targets(rng, (16,), 10)
    tt, ft = _pair_t(tgt, device)
    for red in REDS:
        t, f = check_op(lambda x: TF.cross_entropy(x, tt, reduction=red, label_smoothing=ls),
                        lambda x: L.cross_entropy(x, ft, reduction=red, label_smoothing=ls), inputs=[x],
                        rtol=1e-5 if dtype == "float32" else 1e-9, device=device)
        assert np.all(np.isfinite(to_np(f)))


def test_cross_entropy_all_ignored_mean_is_nan(rng, device):
    x = rand_array((3, 4), "float32", rng)
    tgt = np.full(3, -100, np.int64)
    tt, ft = _pair_t(tgt, device)
    t = TF.cross_entropy(torch.tensor(x), tt)
    f = _on(L.cross_entropy(fl_tensor(x, device), ft), device)
    assert np.isnan(t.item()) and np.isnan(f.item())
    check_op(lambda x: TF.cross_entropy(x, tt, reduction="sum"), lambda x: L.cross_entropy(x, ft, reduction="sum"),
             inputs=[x], device=device)
    # all ignored with weights and label smoothing: mean is NaN, sum and none are zeros (grads too)
    w = rand_array((4,), "float32", rng, positive=True)
    tw, fw = _pair_w(w, device)
    for red in REDS:
        t, f = check_op(lambda x: TF.cross_entropy(x, tt, tw, reduction=red, label_smoothing=0.1),
                        lambda x: L.cross_entropy(x, ft, fw, reduction=red, label_smoothing=0.1), inputs=[x],
                        device=device)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (2, 3, 2, 2), (6,), (0, 3)], ids=str)
def test_cross_entropy_prob_targets(shape, cap, rng, device):
    for reduction in REDS:
        for weighted in [False, True]:
            for ls in [0.0, 0.2]:
                # with and without the target's gradient, alternating so the case count stays the same
                _ce_prob_case(shape, reduction, weighted, ls, rng, device, target_grad=weighted != (ls > 0))


def _ce_prob_case(shape, reduction, weighted, ls, rng, device, target_grad=True):
    C = shape[0] if len(shape) == 1 else shape[1]
    w = rand_array((C,), "float32", rng, positive=True) if weighted else None
    tw, fw = _pair_w(w, device)
    cd = 0 if len(shape) == 1 else 1
    p = rand_array(shape, "float32", rng, positive=True)
    if p.size:
        p = p / p.sum(axis=cd, keepdims=True)
    # gradient flows to the probabilities too (or only to the logits: the kernel skips the target grad)
    check_op(lambda x, t: TF.cross_entropy(x, t, tw, reduction=reduction, label_smoothing=ls),
             lambda x, t: L.cross_entropy(x, t, fw, reduction=reduction, label_smoothing=ls),
             inputs=[rand_array(shape, "float32", rng, low=-3, high=3), p], grad=[True, target_grad], device=device)


def test_cross_entropy_non_contiguous(rng, device):
    tgt = _targets(rng, (6,), 5, -100)
    tt, ft = _pair_t(tgt, device)
    check_op(lambda x: TF.cross_entropy(x, tt), lambda x: L.cross_entropy(x, ft), [(6, 5)], non_contiguous="T",
             rng=rng, device=device)
    check_op(lambda x: TF.cross_entropy(x, tt, label_smoothing=0.1),
             lambda x: L.cross_entropy(x, ft, label_smoothing=0.1), [(6, 5)], non_contiguous="step", rng=rng,
             device=device)
    # non-contiguous target
    t2 = _targets(rng, (6, 2), 5)
    tt2, ft2 = torch.tensor(t2)[:, 1], fl_tensor(t2, device)[:, 1]
    check_op(lambda x: TF.cross_entropy(x, tt2), lambda x: L.cross_entropy(x, ft2), [(6, 5)], rng=rng, device=device)
    # non-contiguous probability target (and class weight seen through a step-2 view)
    p = rand_array((5, 6), "float32", rng, positive=True)
    p = p / p.sum(axis=0, keepdims=True)
    w = rand_array((10,), "float32", rng, positive=True)
    tw, fw = torch.tensor(w)[::2], fl_tensor(w, device)[::2]
    check_op(lambda x, t: TF.cross_entropy(x, t.T, tw, label_smoothing=0.1),
             lambda x, t: L.cross_entropy(x, t.T, fw, label_smoothing=0.1),
             inputs=[rand_array((6, 5), "float32", rng), p], device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_gradcheck(dtype, rng, device):
    x = fl_tensor(rand_array((5, 4, 3), "float64", rng), device, requires_grad=True)
    tgt = fl_tensor(_targets(rng, (5, 3), 4, ignore=2), device)
    w = fl_tensor(rand_array((4,), "float64", rng, positive=True), device)
    _on(L.cross_entropy(x, tgt, w), device)
    assert flambeau.autograd.gradcheck(
        lambda x: L.cross_entropy(x, tgt, w, ignore_index=2, label_smoothing=0.15), (x,))
    p = fl_tensor(rand_array((5, 4), "float64", rng, positive=True), device, requires_grad=True)
    x2 = fl_tensor(rand_array((5, 4), "float64", rng), device, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda x, p: L.cross_entropy(x, p, w, label_smoothing=0.1), (x2, p))


@pytest.mark.parametrize("shape", [(4099, 37), (3, 21, 37, 41)], ids=["2d", "nd"])
def test_cross_entropy_deterministic_across_threads(shape, rng):
    """The same loss bits for 1, 2 and 3 threads, for [N, C] rows and for N-d (N, C, d1, d2) tiles."""
    c = shape[1]
    x = fl_tensor(rand_array(shape, "float32", rng, low=-5, high=5))
    tgt = fl_tensor(_targets(rng, shape[:1] + shape[2:], c, -100))
    w = fl_tensor(rand_array((c,), "float32", rng, positive=True))
    vals = []
    prev = _C.get_num_threads()
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            vals.append(L.cross_entropy(x, tgt, w, label_smoothing=0.1).item())
    finally:
        _C.set_num_threads(prev)
    assert vals[0] == vals[1] == vals[2]


# ---------------------------------------------------------------- cross-entropy, N-d (N, C, d1, ...)
# The N-d kernels work on tiles of up to 256 positions of one sample ([C][J] buffers, SIMD across
# positions): odd map sizes and tile tails, one pixel, C = 1, C > 64 (float64 sums), several tiles.
ND_SHAPES = [(2, 3, 7, 5), (3, 4, 1, 1), (2, 1, 7, 5), (1, 21, 17, 19), (2, 70, 3, 5), (2, 6, 300), (1, 5, 2, 3, 3)]


@pytest.mark.parametrize("shape", ND_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_nd_all_options(shape, dtype, cap, rng, device):
    C = shape[1]
    tshape = (shape[0],) + shape[2:]
    for weighted in [False, True]:
        for ignore in [None, 0]:
            for ls in [0.0, 0.2]:
                for reduction in REDS:
                    tgt = _targets(rng, tshape, C, ignore)
                    tt, ft = _pair_t(tgt, device)
                    w = rand_array((C,), dtype, rng, positive=True) if weighted else None
                    tw, fw = _pair_w(w, device)
                    ii = -100 if ignore is None else ignore
                    check_op(lambda x: TF.cross_entropy(x, tt, tw, ignore_index=ii, reduction=reduction,
                                                        label_smoothing=ls),
                             lambda x: L.cross_entropy(x, ft, fw, ignore_index=ii, reduction=reduction,
                                                       label_smoothing=ls),
                             [shape], dtype=dtype, low=-4, high=4, rng=rng, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_nd_large_logits_and_specials(dtype, cap, rng, device):
    # Logits in the thousands, per position offsets of +-3000: every loss and gradient finite and
    # as exact as PyTorch's.
    x = rand_array((2, 6, 9, 7), dtype, rng, low=-3, high=3)
    x += (rng.uniform(-3000, 3000, size=(2, 1, 9, 7))).astype(dtype)
    tgt = _targets(rng, (2, 9, 7), 6)
    tt, ft = _pair_t(tgt, device)
    for ls in [0.0, 0.3]:
        for red in REDS:
            t, f = check_op(lambda x: TF.cross_entropy(x, tt, reduction=red, label_smoothing=ls),
                            lambda x: L.cross_entropy(x, ft, reduction=red, label_smoothing=ls), inputs=[x],
                            rtol=1e-5 if dtype == "float32" else 1e-9, device=device)
            assert np.all(np.isfinite(to_np(f)))
    # NaN at one position and an all -inf position: NaN exactly where PyTorch has NaN (loss and grad)
    x = rand_array((2, 4, 3, 3), dtype, rng)
    x[0, 1, 0, 0] = np.nan
    x[1, :, 1, 1] = -np.inf
    tgt = _targets(rng, (2, 3, 3), 4)
    tt, ft = _pair_t(tgt, device)
    tx, fx = torch.tensor(x, requires_grad=True), fl_tensor(x, device, requires_grad=True)
    tl = TF.cross_entropy(tx, tt, reduction="none")
    fl = _on(L.cross_entropy(fx, ft, reduction="none"), device)
    tl.sum().backward()
    fl.sum().backward()
    np.testing.assert_array_equal(np.isnan(to_np(fl)), np.isnan(tl.detach().numpy()))
    np.testing.assert_array_equal(np.isnan(to_np(fx.grad)), np.isnan(tx.grad.numpy()))


def test_cross_entropy_nd_non_contiguous_and_empty(rng, device):
    # NHWC storage seen as NCHW (class stride 1, spatial strides C): the op copies to NCHW first.
    x = rand_array((2, 7, 5, 3), "float32", rng)
    tgt = _targets(rng, (2, 7, 5), 3, 1)
    tt, ft = _pair_t(tgt, device)
    check_op(lambda x: TF.cross_entropy(x.permute(0, 3, 1, 2), tt, ignore_index=1, label_smoothing=0.1),
             lambda x: L.cross_entropy(x.permute(0, 3, 1, 2), ft, ignore_index=1, label_smoothing=0.1),
             inputs=[x], device=device)
    # empty batch and empty map
    for shape in [(0, 3, 4, 5), (2, 3, 0, 5)]:
        tgt = _targets(rng, (shape[0],) + shape[2:], 3)
        tt, ft = _pair_t(tgt, device)
        for red in ["sum", "none"]:
            check_op(lambda x: TF.cross_entropy(x, tt, reduction=red), lambda x: L.cross_entropy(x, ft, reduction=red),
                     [shape], rng=rng, device=device)


def test_cross_entropy_nd_gradcheck(rng, device):
    x = fl_tensor(rand_array((2, 3, 7, 5), "float64", rng), device, requires_grad=True)
    tgt = fl_tensor(_targets(rng, (2, 7, 5), 3, ignore=1), device)
    w = fl_tensor(rand_array((3,), "float64", rng, positive=True), device)
    _on(L.cross_entropy(x, tgt, w, reduction="none"), device)
    for red in REDS:
        assert flambeau.autograd.gradcheck(
            lambda x: L.cross_entropy(x, tgt, w, ignore_index=1, label_smoothing=0.15, reduction=red), (x,))
    x1 = fl_tensor(rand_array((2, 1, 3, 1), "float64", rng), device, requires_grad=True)
    t1 = fl_tensor(np.zeros((2, 3, 1), np.int64), device)
    assert flambeau.autograd.gradcheck(lambda x: L.cross_entropy(x, t1), (x1,))


def test_cross_entropy_errors(device):
    x = fl_tensor(np.zeros((3, 5), np.float32), device)

    def T(v):
        return flambeau.tensor(v, device=device)
    assert _on(L.cross_entropy(x, T([1, 4, 2])), device).item() == pytest.approx(np.log(5.0))
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of bounds for 5 classes"):
        L.cross_entropy(x, T([1, 7, 2]))
    with pytest.raises(IndexError, match="target -3 is out of bounds"):
        L.cross_entropy(x, T([1, -3, 2]))
    with pytest.raises(IndexError, match="cross_entropy: target 5 is out of bounds for 5 classes"):
        L.cross_entropy(fl_tensor(np.zeros((2, 5, 3), np.float32), device), T([[0, 1, 2], [5, 0, 0]]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        L.cross_entropy(x, T([1, 2]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 5 classes"):
        L.cross_entropy(x, T([1, 2, 3]), weight=fl_tensor(np.ones(4, np.float32), device))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        L.cross_entropy(x, T([1, 2, 3]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        L.cross_entropy(x, T([1, 2, 3]), reduction="avg")
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        L.cross_entropy(x, x, ignore_index=1)
    # PyTorch raises RuntimeError for a wrong target size or dtype (ValueError only for the batch size)
    with pytest.raises(RuntimeError, match=r"expected target size \[3, 5\]"):
        L.cross_entropy(x, fl_tensor(np.zeros((3, 4), np.float32), device))
    with pytest.raises(RuntimeError, match="int64"):
        L.cross_entropy(x, T([True, False, True]))
    with pytest.raises(RuntimeError, match=r"expected target size \[2, 4\]"):
        L.cross_entropy(fl_tensor(np.zeros((2, 3, 4), np.float32), device), T([[0, 1, 2], [0, 1, 2]]))


def test_cross_entropy_weight_grad_raises(device):
    x = fl_tensor(np.zeros((3, 5), np.float32), device, requires_grad=True)
    w = fl_tensor(np.ones(5, np.float32), device, requires_grad=True)
    assert _on(L.cross_entropy(x, flambeau.tensor([1, 2, 3], device=device), w.detach()), device).requires_grad
    with pytest.raises(RuntimeError, match="derivative for 'weight' is not implemented"):
        L.cross_entropy(x, flambeau.tensor([1, 2, 3], device=device), w)


# ---------------------------------------------------------------- NLL
@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (2, 5, 3), (2, 3, 2, 4), (5,), (0, 3)], ids=str)
def test_nll_loss(shape, rng, device):
    for reduction in REDS:
        for weighted in [False, True]:
            for ignore in [None, 0]:
                _nll_case(shape, reduction, weighted, ignore, rng, device)


def _nll_case(shape, reduction, weighted, ignore, rng, device):
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    tt, ft = _pair_t(_targets(rng, tshape, C, ignore), device)
    w = rand_array((C,), "float32", rng, positive=True) if weighted else None
    tw, fw = _pair_w(w, device)
    ii = -100 if ignore is None else ignore
    check_op(lambda x: TF.nll_loss(x, tt, tw, ignore_index=ii, reduction=reduction),
             lambda x: L.nll_loss(x, ft, fw, ignore_index=ii, reduction=reduction), [shape], rng=rng, device=device)


def test_nll_loss_errors(device):
    x = fl_tensor(np.zeros((3, 5), np.float32), device)
    _on(L.nll_loss(x, flambeau.tensor([1, 4, 2], device=device)), device)
    with pytest.raises(IndexError, match="nll_loss: target 5 is out of bounds for 5 classes"):
        L.nll_loss(x, flambeau.tensor([1, 5, 2], device=device))
    with pytest.raises(ValueError, match="batch_size"):
        L.nll_loss(x, flambeau.tensor([1], device=device))


def test_legacy_size_average_reduce(rng, device):
    x = rand_array((4, 3), "float32", rng)
    tt, ft = _pair_t(_targets(rng, (4,), 3), device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = TF.nll_loss(torch.tensor(x), tt, size_average=False)
        f = _on(L.nll_loss(fl_tensor(x, device), ft, size_average=False), device)
        assert_close(f, t)
        t = TF.mse_loss(torch.tensor(x), torch.tensor(x * 2), reduce=False)
        f = _on(L.mse_loss(fl_tensor(x, device), fl_tensor(x * 2, device), reduce=False), device)
        assert_close(f, t)


# ---------------------------------------------------------------- pointwise losses
POINT = {
    "mse": (TF.mse_loss, L.mse_loss, {}),
    "l1": (TF.l1_loss, L.l1_loss, {}),
    "smooth_l1": (TF.smooth_l1_loss, L.smooth_l1_loss, {}),
    "smooth_l1_b0.5": (TF.smooth_l1_loss, L.smooth_l1_loss, {"beta": 0.5}),
    "smooth_l1_b0": (TF.smooth_l1_loss, L.smooth_l1_loss, {"beta": 0.0}),
    "huber": (TF.huber_loss, L.huber_loss, {}),
    "huber_d0.3": (TF.huber_loss, L.huber_loss, {"delta": 0.3}),
}


@pytest.mark.parametrize("name", sorted(POINT))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_losses(name, dtype, rng, device):
    tf, ff, kw = POINT[name]
    for shape in [(7,), (3, 5), (2, 3, 4), (), (0, 3), (40001,)]:
        for reduction in REDS:
            check_op(lambda x, t: tf(x, t, reduction=reduction, **kw),
                     lambda x, t: ff(x, t, reduction=reduction, **kw), [shape, shape], dtype=dtype, rng=rng,
                     device=device)


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
@pytest.mark.parametrize("reduction", REDS)
def test_regression_weighted(name, reduction, rng, device):
    tf, ff, kw = POINT[name]
    w = rand_array((3, 5), "float32", rng, positive=True)
    tw, fw = _pair_w(w, device)
    check_op(lambda x, t: tf(x, t, reduction=reduction, weight=tw, **kw),
             lambda x, t: ff(x, t, reduction=reduction, weight=fw, **kw), [(3, 5), (3, 5)], rng=rng, device=device)


@pytest.mark.parametrize("name", sorted(POINT))
def test_regression_broadcast_and_strided(name, rng, device):
    tf, ff, kw = POINT[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(lambda x, t: tf(x, t, **kw), lambda x, t: ff(x, t, **kw), [(4, 5), (1, 5)], rng=rng, device=device)
        check_op(lambda x, t: tf(x, t, reduction="none", **kw), lambda x, t: ff(x, t, reduction="none", **kw),
                 [(4, 1), (3,)], rng=rng, device=device)
    check_op(lambda x, t: tf(x, t, **kw), lambda x, t: ff(x, t, **kw), [(6, 7), (6, 7)], non_contiguous="T", rng=rng,
             device=device)
    check_op(lambda x, t: tf(x, t, reduction="none", **kw), lambda x, t: ff(x, t, reduction="none", **kw),
             [(5, 3), (5, 3)], non_contiguous="step", dtype="float64", rng=rng, device=device)


def test_regression_edges(device):
    x = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 1.0, 0.3], np.float32)
    t = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0], np.float32)
    for name, (tf, ff, kw) in POINT.items():
        check_op(lambda x, t: tf(x, t, reduction="sum", **kw), lambda x, t: ff(x, t, reduction="sum", **kw),
                 inputs=[x, t], device=device)


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (), (0,), (30001,)], ids=str)
def test_binary_cross_entropy(shape, rng, device):
    for reduction in REDS:
        for weighted in [False, True]:
            _bce_case(shape, reduction, weighted, rng, device)


def _bce_case(shape, reduction, weighted, rng, device):
    x = rand_array(shape, "float32", rng, low=0.02, high=0.98)
    t = rand_array(shape, "float32", rng, low=0.0, high=1.0)
    w = rand_array(shape[-1:] if shape else (), "float32", rng, positive=True) if weighted else None
    tw, fw = _pair_w(w, device)
    check_op(lambda x, t: TF.binary_cross_entropy(x, t, tw, reduction=reduction),
             lambda x, t: L.binary_cross_entropy(x, t, fw, reduction=reduction), inputs=[x, t], device=device)


def test_binary_cross_entropy_float64_and_strided(rng, device):
    x = rand_array((5, 8), "float64", rng, low=0.02, high=0.98)
    t = rand_array((5, 8), "float64", rng, low=0.0, high=1.0)
    w = rand_array((8,), "float64", rng, positive=True)
    for red in REDS:
        check_op(lambda x, t: TF.binary_cross_entropy(x, t, torch.tensor(w), reduction=red),
                 lambda x, t: L.binary_cross_entropy(x, t, fl_tensor(w, device), reduction=red), inputs=[x, t],
                 non_contiguous="step", device=device)


def test_binary_cross_entropy_clamps_log(device):
    # input exactly 0 and 1: logs clamp at -100, so the loss is finite, as in PyTorch
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3], np.float32)
    for red in REDS:
        check_op(lambda x, t: TF.binary_cross_entropy(x, t, reduction=red),
                 lambda x, t: L.binary_cross_entropy(x, t, reduction=red), inputs=[x, t], grad=[False, False],
                 device=device)


@pytest.mark.parametrize("cap", CAPS)
def test_binary_cross_entropy_simd_values(cap, rng):
    """The float32 SIMD path (vector log / log1p with the rounding of 1 - x corrected) against the
    float64 result: within a few ulp over (0, 1), tiny inputs included; vectors holding 0, 1 or a
    subnormal go through the scalar formula, so their neighbours (same vector) are checked too."""
    x = np.concatenate([rng.uniform(0, 1, 20000), 10.0 ** rng.uniform(-37, -1, 4000),
                        1 - 10.0 ** rng.uniform(-7, -1, 2000),
                        [0.0, 1.0, 1e-40, 5e-39, 2.0 ** -126, 1 - 2.0 ** -24, 0.5, 1e-30]]).astype(np.float32)
    t = rng.uniform(0, 1, x.size).astype(np.float32)
    prev = _C.cpu_capability()
    try:
        _C.set_cpu_capability(cap)
        ours = to_np(L.binary_cross_entropy(fl_tensor(x), fl_tensor(t), reduction="none")).astype(np.float64)
        mean = float(to_np(L.binary_cross_entropy(fl_tensor(x), fl_tensor(t))))
    finally:
        _C.set_cpu_capability(prev)
    ref = TF.binary_cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64),
                                  reduction="none").numpy()
    ulp = np.abs(ours - ref) / np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert ulp.max() <= 4.0, f"max error {ulp.max():.1f} ulp at x={x[ulp.argmax()]!r}"
    assert abs(mean - ref.mean()) <= 1e-6 * abs(ref.mean())


def test_binary_cross_entropy_extreme_inputs(rng, device):
    """Inputs near 0 (down to subnormals) and near 1, and exactly 0 / 1, against the float64 result: the
    device-independent counterpart of test_binary_cross_entropy_simd_values (whose few-ulp bound is a CPU
    SIMD property). 16 float32 ulp leaves room for CUDA's libm log/log1p and a reordered mean."""
    x = np.concatenate([10.0 ** rng.uniform(-37, -1, 600), 1 - 10.0 ** rng.uniform(-7, -1, 300),
                        [0.0, 1.0, 1e-40, 5e-39, 2.0 ** -126, 1 - 2.0 ** -24, 0.5, 1e-30]]).astype(np.float32)
    t = rng.uniform(0, 1, x.size).astype(np.float32)
    ours = _on(L.binary_cross_entropy(fl_tensor(x, device), fl_tensor(t, device), reduction="none"), device)
    mean = float(to_np(L.binary_cross_entropy(fl_tensor(x, device), fl_tensor(t, device))))
    ref = TF.binary_cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64),
                                  reduction="none").numpy()
    np.testing.assert_allclose(to_np(ours), ref, rtol=16 * 2.0 ** -24, atol=0)
    assert abs(mean - ref.mean()) <= 1e-6 * abs(ref.mean())


def test_binary_cross_entropy_range_errors(device):
    def T(v):
        return fl_tensor(np.array(v, np.float32), device)
    _on(L.binary_cross_entropy(T([0.0, 0.5, 1.0]), T([1.0, 0.5, 0.0])), device)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        L.binary_cross_entropy(T([1.5]), T([1.0]))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        L.binary_cross_entropy(T([0.5] * 40 + [-0.1] + [0.5] * 40), T([1.0] * 81))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        L.binary_cross_entropy(T([0.5, np.nan]), T([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        L.binary_cross_entropy(T([0.5]), T([1.5]))
    with pytest.raises(ValueError, match="different to the input size"):
        L.binary_cross_entropy(T(np.ones(3) / 2), T(np.ones(2) / 2))


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (), (0, 4), (30001,)], ids=str)
def test_bce_with_logits(shape, rng, device):
    for reduction in REDS:
        for weighted in [False, True]:
            for pos in [False, True]:
                _bcewl_case(shape, reduction, weighted, pos, rng, device)


def _bcewl_case(shape, reduction, weighted, pos, rng, device, dtype="float32", non_contiguous=False):
    last = shape[-1:] if shape else ()
    w = rand_array(last, dtype, rng, positive=True) if weighted else None
    pw = rand_array(last, dtype, rng, positive=True) * 2 if pos else None
    tw, fw = _pair_w(w, device)
    tpw, fpw = _pair_w(pw, device)
    x = rand_array(shape, dtype, rng, low=-30, high=30)
    t = rand_array(shape, dtype, rng, low=0.0, high=1.0)
    check_op(lambda x, t: TF.binary_cross_entropy_with_logits(x, t, tw, reduction=reduction, pos_weight=tpw),
             lambda x, t: L.binary_cross_entropy_with_logits(x, t, fw, reduction=reduction, pos_weight=fpw),
             inputs=[x, t], non_contiguous=non_contiguous, device=device)


def test_bce_with_logits_float64_and_strided(rng, device):
    for reduction in REDS:
        _bcewl_case((5, 6), reduction, True, True, rng, device, dtype="float64", non_contiguous="T")
        _bcewl_case((3, 7), reduction, False, True, rng, device, non_contiguous="step")


def test_bce_with_logits_extreme_logits_stable(device):
    x = np.array([-1000.0, -90.0, 0.0, 90.0, 1000.0], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    check_op(lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none"),
             lambda x, t: L.binary_cross_entropy_with_logits(x, t, reduction="none"), inputs=[x, t], device=device)
    pw = np.array([3.0, 0.5, 2.0, 1.5, 4.0], np.float32)
    check_op(lambda x, t: TF.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(pw), reduction="none"),
             lambda x, t: L.binary_cross_entropy_with_logits(x, t, pos_weight=fl_tensor(pw, device),
                                                             reduction="none"), inputs=[x, t], device=device)


@pytest.mark.parametrize("shape", [(4, 5), (3,), (2, 3, 4), (0, 2)], ids=str)
@pytest.mark.parametrize("reduction", REDS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(shape, reduction, log_target, rng, device):
    x = np.log(rand_array(shape, "float32", rng, positive=True))
    if log_target:
        t = np.log(rand_array(shape, "float32", rng, positive=True))
    else:
        t = rand_array(shape, "float32", rng, positive=True)
        if t.size > 2:
            t.flat[1] = 0.0  # xlogy(0, 0) = 0
    grads = [True, not (not log_target and t.size > 2)]  # target grad is NaN at t == 0 (as in PyTorch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target),
                 lambda x, t: L.kl_div(x, t, reduction=reduction, log_target=log_target), inputs=[x, t], grad=grads,
                 device=device)


def test_kl_div_target_grad(rng, device):
    x = np.log(rand_array((3, 4), "float32", rng, positive=True))
    t = rand_array((3, 4), "float32", rng, positive=True)
    check_op(lambda x, t: TF.kl_div(x, t, reduction="batchmean"), lambda x, t: L.kl_div(x, t, reduction="batchmean"),
             inputs=[x, t], device=device)
    for log_target in [False, True]:
        check_op(lambda x, t: TF.kl_div(x, t, reduction="sum", log_target=log_target),
                 lambda x, t: L.kl_div(x, t, reduction="sum", log_target=log_target), [(4, 6), (4, 6)],
                 dtype="float64", positive=True, non_contiguous="T", rng=rng, device=device)


@pytest.mark.parametrize("dtype", ["float64"])
def test_pointwise_gradcheck(dtype, rng, device):
    x = fl_tensor(rand_array((3, 4), dtype, rng), device, requires_grad=True)
    t = fl_tensor(rand_array((3, 4), dtype, rng), device, requires_grad=True)
    w = fl_tensor(rand_array((3, 4), dtype, rng, positive=True), device)
    gc = flambeau.autograd.gradcheck
    _on(L.mse_loss(x, t, weight=w), device)
    assert gc(lambda x, t: L.mse_loss(x, t, weight=w), (x, t))
    assert gc(lambda x, t: L.huber_loss(x, t, delta=0.7), (x, t))
    assert gc(lambda x, t: L.smooth_l1_loss(x, t, beta=0.4, reduction="sum"), (x, t))
    p = fl_tensor(rand_array((3, 4), dtype, rng, low=0.1, high=0.9), device, requires_grad=True)
    q = fl_tensor(rand_array((3, 4), dtype, rng, low=0.1, high=0.9), device, requires_grad=True)
    assert gc(lambda p, q: L.binary_cross_entropy(p, q, w), (p, q))
    pw = fl_tensor(rand_array((4,), dtype, rng, positive=True), device)
    assert gc(lambda x, q: L.binary_cross_entropy_with_logits(x, q, w, pos_weight=pw), (x, q))
    assert gc(lambda x, q: L.kl_div(x, q, reduction="batchmean"), (x, q))
    assert gc(lambda x, t: L.kl_div(x, t, reduction="sum", log_target=True), (x, t))


def test_pointwise_errors(device):
    x = fl_tensor(np.zeros(3, np.float32), device)
    _on(L.smooth_l1_loss(x, x), device)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        L.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        L.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        L.mse_loss(x, x, weight=fl_tensor(np.ones(2, np.float32), device))
    with pytest.raises(ValueError, match="must be the same as input size"):
        L.binary_cross_entropy_with_logits(x, fl_tensor(np.zeros(2, np.float32), device))
    with pytest.raises(RuntimeError, match=r"mse_loss: shapes \[3\] and \[2\] cannot be broadcast"):
        _C.mse_loss(x._impl, fl_tensor(np.zeros(2, np.float32), device)._impl)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        L.l1_loss(x, x, reduction="max")
    with pytest.raises(TypeError, match="expected target to have the input's dtype"):
        _C.l1_loss(x._impl, fl_tensor(np.zeros(3, np.float64), device)._impl)


def test_mixed_dtypes_promote(rng, device):
    x = rand_array((4,), "float32", rng)
    t = rand_array((4,), "float64", rng)
    tr = TF.mse_loss(torch.tensor(x), torch.tensor(t))
    fr = _on(L.mse_loss(fl_tensor(x, device), fl_tensor(t, device)), device)
    assert_close(fr, tr)


# ---------------------------------------------------------------- multi-margin
@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (7, 3), (6,), (0, 3), (65, 33)], ids=str)
def test_multi_margin(shape, rng, device):
    for reduction in REDS:
        if shape[0] == 0 and reduction != "none":
            continue  # PyTorch returns uninitialised memory there (see test_multi_margin_empty_batch)
        for p in [1, 2]:
            for weighted in [False, True]:
                _mm_case(shape, reduction, p, weighted, rng, device)


def _mm_case(shape, reduction, p, weighted, rng, device, dtype="float32", non_contiguous=False):
    C = shape[-1]
    tgt = _targets(rng, shape[:1] if len(shape) == 2 else (), C)
    tt, ft = _pair_t(tgt, device)
    w = rand_array((C,), dtype, rng, positive=True) if weighted else None
    tw, fw = _pair_w(w, device)
    check_op(lambda x: TF.multi_margin_loss(x, tt, p=p, margin=0.7, weight=tw, reduction=reduction),
             lambda x: L.multi_margin_loss(x, ft, p=p, margin=0.7, weight=fw, reduction=reduction), [shape], rng=rng,
             dtype=dtype, non_contiguous=non_contiguous, device=device)


def test_multi_margin_float64_and_strided(rng, device):
    for p in [1, 2]:
        _mm_case((5, 7), "sum", p, True, rng, device, dtype="float64", non_contiguous="T")
        _mm_case((4, 3), "none", p, False, rng, device, non_contiguous="step")


def test_multi_margin_empty_batch(device):
    x = fl_tensor(np.zeros((0, 3), np.float32), device)
    t = flambeau.tensor(np.zeros(0, np.int64), device=device)
    assert _on(L.multi_margin_loss(x, t, reduction="sum"), device).item() == 0.0
    assert np.isnan(L.multi_margin_loss(x, t).item())


def test_multi_margin_errors(device):
    x = fl_tensor(np.zeros((3, 5), np.float32), device)

    def T(v):
        return flambeau.tensor(v, device=device)
    _on(L.multi_margin_loss(x, T([1, 4, 2])), device)
    with pytest.raises(IndexError, match="multi_margin_loss: target 5 is out of bounds for 5 classes"):
        L.multi_margin_loss(x, T([1, 5, 2]))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        L.multi_margin_loss(x, T([1, 2, 2]), p=3)
    with pytest.raises(ValueError, match="inconsistent target size"):
        L.multi_margin_loss(x, T([1, 2]))


# ---------------------------------------------------------------- cosine embedding
@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (9, 17), (6,), (0, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding(shape, reduction, margin, rng, device):
    tgt = rng.choice([-1.0, 1.0], size=shape[:1] if len(shape) == 2 else ()).astype(np.float32)
    tt, ft = torch.tensor(tgt), fl_tensor(tgt, device)
    check_op(lambda a, b: TF.cosine_embedding_loss(a, b, tt, margin=margin, reduction=reduction),
             lambda a, b: L.cosine_embedding_loss(a, b, ft, margin=margin, reduction=reduction), [shape, shape],
             rng=rng, device=device)


def test_cosine_embedding_int_target(rng, device):
    tgt = np.array([1, -1, 1, -1], np.int64)
    tt, ft = torch.tensor(tgt), fl_tensor(tgt, device)
    check_op(lambda a, b: TF.cosine_embedding_loss(a, b, tt), lambda a, b: L.cosine_embedding_loss(a, b, ft),
             [(4, 3), (4, 3)], rng=rng, device=device)


def test_cosine_embedding_float64_and_strided(rng, device):
    tgt = rng.choice([-1.0, 1.0], size=(6,))
    tt, ft = torch.tensor(tgt), fl_tensor(tgt, device)
    for red in REDS:
        check_op(lambda a, b: TF.cosine_embedding_loss(a, b, tt, margin=0.2, reduction=red),
                 lambda a, b: L.cosine_embedding_loss(a, b, ft, margin=0.2, reduction=red), [(6, 9), (6, 9)],
                 dtype="float64", non_contiguous="T", rng=rng, device=device)


# ---------------------------------------------------------------- double backward
def test_double_backward_works_or_is_refused_clearly(device):
    """Double backward runs through the losses' composed versions (tests/nn/test_loss_double_backward.py
    compares it with PyTorch); the two losses without it raise clearly."""
    x = fl_tensor(np.ones((2, 3), np.float32), device, requires_grad=True)
    loss = _on(L.cross_entropy(x * 2, flambeau.tensor([0, 1], device=device)), device)
    g, = flambeau.autograd.grad(loss, x, create_graph=True)
    assert g.requires_grad
    loss = _on(L.multi_margin_loss(x * 2, flambeau.tensor([0, 1], device=device)), device)
    with pytest.raises(NotImplementedError, match="double backward"):
        flambeau.autograd.grad(loss, x, create_graph=True)
