"""Every loss module against PyTorch: each reduction, class weights, ignore_index, label
smoothing, probability targets, spatial (N, C, d1, ...) inputs; values and gradients."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn
from flambeau.nn import functional as F
from nn_helpers import assert_close, check_module, t2f

REDUCTIONS = ["mean", "sum", "none"]


def randn(*shape):
    return np.random.randn(*shape).astype(np.float32)


def labels(n_classes, *shape):
    return np.random.randint(0, n_classes, size=shape).astype(np.int64)


def prob(*shape):
    return np.random.uniform(0.02, 0.98, size=shape).astype(np.float32)


def softmax_np(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def check_loss(ctor, inputs, device="cpu", grad_inputs=None, **tol):
    """Targets get no gradient unless grad_inputs says so (PyTorch refuses it for several)."""
    if grad_inputs is None:
        grad_inputs = [True] + [False] * (len(inputs) - 1)
    tm, fm = ctor(torch.nn), ctor(nn)
    check_module(tm, fm, inputs, device, grad_inputs=grad_inputs, **tol)
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict()) == list(tm.state_dict())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction, device):
    x, y = randn(4, 5), randn(4, 5)
    check_loss(lambda n: n.MSELoss(reduction=reduction), [x, y], device, grad_inputs=[True, True])
    for ctor in [lambda n: n.MSELoss(reduction=reduction), lambda n: n.L1Loss(reduction=reduction),
                 lambda n: n.SmoothL1Loss(reduction=reduction),
                 lambda n: n.SmoothL1Loss(reduction=reduction, beta=0.5),
                 lambda n: n.SmoothL1Loss(reduction=reduction, beta=0.0),
                 lambda n: n.HuberLoss(reduction=reduction),
                 lambda n: n.HuberLoss(reduction=reduction, delta=0.3),
                 lambda n: n.SoftMarginLoss(reduction=reduction)]:
        check_loss(ctor, [x, y], device)


def test_regression_losses_with_weight():
    x, y, w = randn(4, 5), randn(4, 5), np.random.rand(4, 5).astype(np.float32)
    for name in ["mse_loss", "l1_loss"]:
        for red in REDUCTIONS:
            tx = torch.from_numpy(x).requires_grad_(True)
            fx = t2f(x, requires_grad=True)
            t = getattr(torch.nn.functional, name)(tx, torch.from_numpy(y), reduction=red,
                                                   weight=torch.from_numpy(w))
            f = getattr(F, name)(fx, t2f(y), reduction=red, weight=t2f(w))
            assert_close(f, t)
    t = torch.nn.functional.huber_loss(torch.from_numpy(x), torch.from_numpy(y), weight=torch.from_numpy(w))
    assert_close(F.huber_loss(t2f(x), t2f(y), weight=t2f(w)), t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(reduction, device):
    x, t = randn(6, 5), labels(5, 6)
    w = np.random.uniform(0.5, 2, 5).astype(np.float32)
    t_ign = t.copy()
    t_ign[[1, 4]] = -100
    t_ign2 = t.copy()
    t_ign2[2] = 3
    for ctor, target in [
        (lambda n: n.CrossEntropyLoss(reduction=reduction), t),
        (lambda n: n.CrossEntropyLoss(weight=n2(w, n), reduction=reduction), t),
        (lambda n: n.CrossEntropyLoss(reduction=reduction), t_ign),
        (lambda n: n.CrossEntropyLoss(weight=n2(w, n), reduction=reduction), t_ign),
        (lambda n: n.CrossEntropyLoss(ignore_index=3, reduction=reduction), t_ign2),
        (lambda n: n.CrossEntropyLoss(label_smoothing=0.1, reduction=reduction), t_ign),
        (lambda n: n.CrossEntropyLoss(weight=n2(w, n), label_smoothing=0.2,
                                      reduction=reduction), t_ign),
    ]:
        check_loss(ctor, [x, target], device)


def n2(arr, n):
    """A weight tensor for torch.nn (torch) or flambeau.nn (flambeau)."""
    return torch.from_numpy(arr) if n is torch.nn else t2f(arr)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities_and_spatial(reduction):
    x = randn(3, 4, 5, 2)
    p = softmax_np(randn(3, 4, 5, 2), 1)
    w = np.random.uniform(0.5, 2, 4).astype(np.float32)
    check_loss(lambda n: n.CrossEntropyLoss(reduction=reduction), [x, p])
    check_loss(lambda n: n.CrossEntropyLoss(weight=n2(w, n), label_smoothing=0.3,
                                            reduction=reduction), [x, p])
    t = labels(4, 3, 5, 2)
    t[0, 0, 0] = -100
    check_loss(lambda n: n.CrossEntropyLoss(weight=n2(w, n), reduction=reduction), [x, t])
    check_loss(lambda n: n.CrossEntropyLoss(label_smoothing=0.1, reduction=reduction), [x, t])
    # unbatched (C,) input with a 0-d target
    check_loss(lambda n: n.CrossEntropyLoss(reduction=reduction),
               [randn(5), np.array(2, dtype=np.int64)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction, device):
    logp = np.log(softmax_np(randn(7, 4), 1))
    t = labels(4, 7)
    t[3] = -100
    w = np.random.uniform(0.5, 2, 4).astype(np.float32)
    check_loss(lambda n: n.NLLLoss(reduction=reduction), [logp, t], device)
    check_loss(lambda n: n.NLLLoss(weight=n2(w, n), reduction=reduction), [logp, t], device)
    check_loss(lambda n: n.NLLLoss(ignore_index=1, reduction=reduction),
               [np.log(softmax_np(randn(2, 3, 4, 4), 1)), labels(3, 2, 4, 4)], device)


def test_all_ignored_mean_is_nan_like_pytorch():
    x, t = randn(3, 4), np.full(3, -100, np.int64)
    f = F.cross_entropy(t2f(x), t2f(t))
    tt = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(t))
    assert np.isnan(float(f)) and np.isnan(float(tt))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses(reduction, device):
    x, y = prob(4, 3), np.random.randint(0, 2, (4, 3)).astype(np.float32)
    soft_y = prob(4, 3)
    w = np.random.uniform(0.5, 2, (4, 3)).astype(np.float32)
    pw = np.random.uniform(0.5, 3, 3).astype(np.float32)
    logits = randn(4, 3) * 3
    check_loss(lambda n: n.BCELoss(reduction=reduction), [x, y], device)
    check_loss(lambda n: n.BCELoss(reduction=reduction), [x, soft_y], device)
    check_loss(lambda n: n.BCELoss(weight=n2(w, n), reduction=reduction), [x, y], device)
    check_loss(lambda n: n.BCEWithLogitsLoss(reduction=reduction), [logits, y], device)
    check_loss(lambda n: n.BCEWithLogitsLoss(weight=n2(w, n), pos_weight=n2(pw, n),
                                             reduction=reduction), [logits, soft_y], device)
    check_loss(lambda n: n.MultiLabelSoftMarginLoss(reduction=reduction), [logits, y], device)


def test_bce_extremes_clamp_log_like_pytorch():
    x = np.array([0.0, 1.0, 0.5, 1e-30], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    f = F.binary_cross_entropy(t2f(x), t2f(y), reduction="none")
    t = torch.nn.functional.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(y),
                                                 reduction="none")
    assert_close(f, t)
    big = np.array([100.0, -100.0, 0.0], np.float32)
    tgt = np.array([0.0, 1.0, 1.0], np.float32)
    assert_close(F.binary_cross_entropy_with_logits(t2f(big), t2f(tgt), reduction="none"),
                 torch.nn.functional.binary_cross_entropy_with_logits(
                     torch.from_numpy(big), torch.from_numpy(tgt), reduction="none"))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(t2f(np.array([1.5], np.float32)), t2f(np.array([1.0], np.float32)))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(t2f(x), t2f(y[:2]))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(reduction):
    logp = np.log(softmax_np(randn(4, 5), 1))
    q = softmax_np(randn(4, 5), 1)
    q[0, 0] = 0.0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_loss(lambda n: n.KLDivLoss(reduction=reduction), [logp, q])
        check_loss(lambda n: n.KLDivLoss(reduction=reduction, log_target=True),
                   [logp, np.log(softmax_np(randn(4, 5), 1))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_losses(reduction, device):
    x, t = randn(5, 4), labels(4, 5)
    w = np.random.uniform(0.5, 2, 4).astype(np.float32)
    sign = np.where(np.random.rand(5) > 0.5, 1.0, -1.0).astype(np.float32)
    check_loss(lambda n: n.MultiMarginLoss(reduction=reduction), [x, t], device)
    check_loss(lambda n: n.MultiMarginLoss(p=2, margin=0.5, weight=n2(w, n), reduction=reduction),
               [x, t], device)
    check_loss(lambda n: n.MarginRankingLoss(margin=0.2, reduction=reduction),
               [randn(5), randn(5), sign], device, grad_inputs=[True, True, False])
    check_loss(lambda n: n.HingeEmbeddingLoss(margin=0.5, reduction=reduction),
               [randn(5, 3), np.sign(randn(5, 3)).astype(np.float32)], device)
    check_loss(lambda n: n.CosineEmbeddingLoss(margin=0.1, reduction=reduction),
               [randn(5, 3), randn(5, 3), sign], device, grad_inputs=[True, True, False])
    check_loss(lambda n: n.TripletMarginLoss(reduction=reduction),
               [randn(5, 3), randn(5, 3), randn(5, 3)], device, grad_inputs=[True] * 3)
    check_loss(lambda n: n.TripletMarginLoss(margin=0.5, p=1, swap=True, reduction=reduction),
               [randn(5, 3), randn(5, 3), randn(5, 3)], device, grad_inputs=[True] * 3)
    mt = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 1], [2, 2, 2, 2], [-1, 0, 0, 0]],
                  np.int64)
    check_loss(lambda n: n.MultiLabelMarginLoss(reduction=reduction), [x, mt], device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_likelihood_losses(reduction):
    x, y = randn(4, 3), np.random.poisson(2.0, (4, 3)).astype(np.float32)
    check_loss(lambda n: n.PoissonNLLLoss(reduction=reduction), [x, y])
    check_loss(lambda n: n.PoissonNLLLoss(log_input=False, full=True, reduction=reduction),
               [prob(4, 3) * 3, y])
    var = prob(4, 3)
    check_loss(lambda n: n.GaussianNLLLoss(reduction=reduction), [x, randn(4, 3), var],
               grad_inputs=[True, True, True])
    check_loss(lambda n: n.GaussianNLLLoss(full=True, reduction=reduction),
               [x, randn(4, 3), prob(4, 1)])


def test_loss_errors():
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(flambeau.randn(2, 3), flambeau.tensor([0, 3]))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.cross_entropy(flambeau.randn(2, 3), flambeau.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="batch_size"):
        F.nll_loss(flambeau.randn(2, 3), flambeau.tensor([0, 1, 2]))
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(flambeau.randn(3, 1), flambeau.randn(3))


def test_legacy_size_average_reduce_arguments():
    x, y = randn(3, 4), randn(3, 4)
    with pytest.warns(UserWarning):
        f = F.mse_loss(t2f(x), t2f(y), size_average=False)
    assert_close(f, torch.nn.functional.mse_loss(torch.from_numpy(x), torch.from_numpy(y),
                                                 reduction="sum"))
    with pytest.warns(UserWarning):
        m = nn.L1Loss(reduce=False)
    assert m.reduction == "none"


def test_training_step_with_cross_entropy_reduces_loss():
    flambeau.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x = flambeau.randn(64, 4)
    y = (x[:, 0] > 0).to(flambeau.int64) + (x[:, 1] > 0).to(flambeau.int64)
    opt = flambeau.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for _ in range(30):
        loss = nn.CrossEntropyLoss()(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(loss) < 0.5 * first


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("batched", [True, False])
def test_uint8_class_targets_like_torch(fn, batched):
    """PyTorch's nll_loss / cross_entropy take uint8 class indices for 1-D and 2-D input (labels straight from
    uint8 numpy arrays); flambeau gives the same loss and gradient."""
    x = randn(6, 5) if batched else randn(5)
    y = labels(5, 6).astype(np.uint8) if batched else np.array(3, np.uint8)
    kw = dict(reduction="none") if batched else {}
    tx = torch.from_numpy(x).requires_grad_()
    fx = t2f(x, requires_grad=True)
    want = getattr(torch.nn.functional, fn)(tx, torch.from_numpy(y), **kw)
    got = getattr(F, fn)(fx, flambeau.from_numpy(y), **kw)
    assert_close(got, want)
    want.sum().backward()
    got.sum().backward()
    assert_close(fx.grad, tx.grad)
    assert_close(nn.CrossEntropyLoss(label_smoothing=0.1)(fx, flambeau.from_numpy(y)),
                 torch.nn.CrossEntropyLoss(label_smoothing=0.1)(tx, torch.from_numpy(y)))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("case", ["int32_target", "bool_target", "uint8_spatial", "spatial_size", "target_dims",
                                  "float_target_size", "batch_size", "unbatched_size", "label_smoothing"])
def test_target_error_types_like_torch(fn, case):
    """The exception type PyTorch raises for each bad target (scripts catch RuntimeError / ValueError)."""
    def make(lib):
        z = lambda *s: lib.zeros(*s)  # noqa: E731
        i = lambda *s, dt=lib.int64: lib.zeros(*s, dtype=dt)  # noqa: E731
        f = getattr(lib.nn.functional, fn)
        return {
            "int32_target": lambda: f(z(2, 3), i(2, dt=lib.int32)),
            "bool_target": lambda: f(z(2, 3), i(2, dt=lib.bool)),
            "uint8_spatial": lambda: f(z(2, 3, 4), i(2, 4, dt=lib.uint8)),
            "spatial_size": lambda: f(z(2, 3, 4), i(2, 5)),
            "target_dims": lambda: f(z(2, 3), i(2, 1)),
            "float_target_size": lambda: f(z(2, 3), z(2, 4)),
            "batch_size": lambda: f(z(2, 3), i(3)),
            "unbatched_size": lambda: f(z(3), i(2)),
            "label_smoothing": lambda: lib.nn.functional.cross_entropy(z(2, 3), i(2), label_smoothing=1.5),
        }[case]
    with pytest.raises(Exception) as want:
        make(torch)()
    with pytest.raises(want.type):
        make(flambeau)()
