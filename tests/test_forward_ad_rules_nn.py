"""Forward-mode rules of autograd/_forward_rules_nn.py (pooling, dropout, group norm, reductions,
addcmul/addcdiv, classification losses) against PyTorch's jvp on fresh random inputs; each op
must be served by its rule, not by the double-vjp fallback."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau.autograd import _forward_mode
from test_forward_ad import check_jvp


@pytest.fixture(autouse=True)
def no_double_vjp(monkeypatch):
    def refuse(cls, *args):
        raise AssertionError(f"{cls.__name__} went through the double-vjp")
    monkeypatch.setattr(_forward_mode, "_double_vjp", refuse)
    monkeypatch.setattr(_forward_mode, "_scalar_jvp", refuse)


def _t(L, data):
    return L.tensor(data)


def _ce(**kw):
    def f(L, x):
        tgt = L.tensor([0, 2, 1, 3, 2])
        opts = dict(kw)
        w = opts.pop("weight_", None)
        return L.nn.functional.cross_entropy(x, tgt, weight=None if w is None else L.tensor(w, dtype=x.dtype), **opts)
    return f


OPS = {
    "max_pool2d": (lambda L, x: L.nn.functional.max_pool2d(x, 2), [(2, 3, 6, 7)]),
    "max_pool2d_pad_stride": (lambda L, x: L.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)]),
    "max_pool2d_indices": (lambda L, x: L.nn.functional.max_pool2d(x, 2, return_indices=True)[0], [(3, 6, 6)]),
    "max_pool1d": (lambda L, x: L.nn.functional.max_pool1d(x, 3), [(2, 3, 10)]),
    "adaptive_max_pool2d": (lambda L, x: L.nn.functional.adaptive_max_pool2d(x, (2, 3)), [(2, 3, 7, 8)]),
    "max_pool3d": (lambda L, x: L.nn.functional.max_pool3d(x, 2), [(2, 2, 4, 5, 4)]),
    "avg_pool2d": (lambda L, x: L.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(2, 3, 7, 6)]),
    "avg_pool3d": (lambda L, x: L.nn.functional.avg_pool3d(x, 2), [(1, 2, 4, 4, 6)]),
    "adaptive_avg_pool2d": (lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, (3, 2)), [(2, 3, 7, 5)]),
    "adaptive_avg_pool3d": (lambda L, x: L.nn.functional.adaptive_avg_pool3d(x, 2), [(1, 2, 5, 4, 3)]),
    "max_dim": (lambda L, x: x.max(1)[0], [(4, 5, 3)]),
    "min_dim_keepdim": (lambda L, x: x.min(-1, keepdim=True)[0], [(4, 5)]),
    "var": (lambda L, x: x.var((0, 2)), [(4, 5, 3)]),
    "var_all_keepdim": (lambda L, x: L.var(x, dim=None, correction=0, keepdim=True), [(4, 5)]),
    "std": (lambda L, x: x.std(1, keepdim=True), [(4, 5, 3)]),
    "std_all": (lambda L, x: x.std(), [(4, 5)]),
    "logsumexp": (lambda L, x: x.logsumexp((0, 2)), [(4, 5, 3)]),
    "logsumexp_keepdim": (lambda L, x: x.logsumexp(1, keepdim=True), [(4, 5)]),
    "norm_dim": (lambda L, x: L.linalg.vector_norm(x, dim=1), [(4, 5)]),
    "norm_all": (lambda L, x: x.norm(), [(4, 5)]),
    "group_norm": (lambda L, x: L.nn.functional.group_norm(x, 2), [(2, 4, 3, 5)]),
    "cross_entropy": (_ce(), [(5, 4)]),
    "cross_entropy_none": (_ce(reduction="none"), [(5, 4)]),
    "cross_entropy_sum_smooth": (_ce(reduction="sum", label_smoothing=0.2), [(5, 4)]),
    "cross_entropy_weight_ignore": (_ce(weight_=[1.0, 2.0, 0.5, 3.0], ignore_index=2), [(5, 4)]),
    "cross_entropy_nd": (lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([[0, 2, 1], [3, 3, 0]]),
                                                                    reduction="none"), [(2, 4, 3)]),
    "nll_loss": (lambda L, x: L.nn.functional.nll_loss(x, L.tensor([0, 2, 1, 3, 2]), reduction="none"), [(5, 4)]),
    "nll_loss_mean_weight": (lambda L, x: L.nn.functional.nll_loss(x, L.tensor([0, 2, 1, 3, 2]),
                                                                   weight=L.tensor([1.0, 2.0, 0.5, 3.0],
                                                                                   dtype=x.dtype)), [(5, 4)]),
}

OPS.update({
    "glu": (lambda L, x: L.nn.functional.glu(x, 1), [(3, 6, 2)]),
    "prelu_scalar_weight": (lambda L, x: L.nn.functional.prelu(x, L.tensor([0.2], dtype=x.dtype)), [(3, 4, 5)]),
    "amax_dims": (lambda L, x: x.clamp(-0.5, 0.5).amax((0, 2)), [(3, 4, 5)]),
    "amin_keepdim": (lambda L, x: L.amin(x.clamp(-0.3, 0.3), 1, keepdim=True), [(3, 4)]),
    "max_all_ties": (lambda L, x: x.clamp(max=0.2).max(), [(3, 4)]),
    "pow_scalar_base": (lambda L, x: L.pow(x.abs() + 0.5, x), [(3, 4)]),
})

BINARY = {
    "addcmul": (lambda L, s, a: L.addcmul(s, a, a.exp(), value=0.5), [(3, 4), (3, 4)]),
    "addcmul_bcast": (lambda L, s, a: L.addcmul(s, a, a * 2), [(3, 1), (4,)]),
    "addcdiv": (lambda L, s, a: L.addcdiv(s, a, a * a + 1, value=2.0), [(3, 4), (4,)]),
    "group_norm_affine": (lambda L, x, w: L.nn.functional.group_norm(x, 2, w, w * 3), [(2, 4, 6), (4,)]),
    "pow": (lambda L, a, b: (a.abs() + 0.1) ** b, [(3, 4), (3, 4)]),
    "prelu": (lambda L, x, w: L.nn.functional.prelu(x, w), [(2, 3, 4), (3,)]),
    "mse_none": (lambda L, a, b: L.nn.functional.mse_loss(a, b, reduction="none"), [(3, 4), (3, 4)]),
    "mse_mean": (lambda L, a, b: L.nn.functional.mse_loss(a, b), [(3, 4), (3, 4)]),
    "l1_sum": (lambda L, a, b: L.nn.functional.l1_loss(a, b, reduction="sum"), [(3, 4), (3, 4)]),
    "huber_none": (lambda L, a, b: L.nn.functional.huber_loss(a, b, reduction="none", delta=0.5), [(3, 4), (3, 4)]),
    "smooth_l1_none": (lambda L, a, b: L.nn.functional.smooth_l1_loss(a, b, reduction="none", beta=0.7),
                       [(3, 4), (3, 4)]),
    "bce_none": (lambda L, a, b: L.nn.functional.binary_cross_entropy(a.sigmoid(), b.sigmoid(), reduction="none"),
                 [(3, 4), (3, 4)]),
    "bce_logits_none": (lambda L, a, b: L.nn.functional.binary_cross_entropy_with_logits(
        a, b.sigmoid(), reduction="none", pos_weight=L.tensor([1.0, 2.0, 0.5, 1.5], dtype=a.dtype)), [(3, 4), (3, 4)]),
    "soft_target_ce": (lambda L, x, y: L.nn.functional.cross_entropy(x, y.softmax(1), reduction="none"),
                       [(5, 4), (5, 4)]),
    "soft_target_ce_smooth": (lambda L, x, y: L.nn.functional.cross_entropy(x, y.softmax(1), label_smoothing=0.1),
                              [(5, 4), (5, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_unary_rules(name, dtype):
    fn, shapes = OPS[name]
    check_jvp(fn, shapes, dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_rules(name):
    fn, shapes = BINARY[name]
    for mask in (None, [True, False], [False, True]):
        check_jvp(fn, shapes, "float64", tangent_mask=mask)


def test_norm_rule_at_zero():
    def f(L, x):
        return L.linalg.vector_norm(x * L.tensor([[1.0], [0.0], [1.0]], dtype=x.dtype), dim=1)
    check_jvp(f, [(3, 4)], "float64")


def test_dropout_rule_uses_the_forward_mask():
    """Dropout's tangent is t * mask / (1 - p) with the forward's mask (RNGs differ from PyTorch's,
    so the mask is read off the output)."""
    import flambeau.autograd.forward_ad as ffw
    x = flambeau.tensor(np.random.uniform(0.5, 1.5, (6, 7)))
    t = flambeau.tensor(np.random.randn(6, 7))
    for fn in (lambda d: flambeau.nn.functional.dropout(d, 0.3), lambda d: flambeau.nn.functional.dropout2d(
            d.reshape(2, 3, 7), 0.5).reshape(6, 7)):
        with ffw.dual_level():
            y = fn(ffw.make_dual(x, t))
            p, ty = ffw.unpack_dual(y)
            kept = (p != 0).numpy()
            scale = (p.numpy()[kept] / x.numpy()[kept])
            np.testing.assert_allclose(ty.numpy()[kept], t.numpy()[kept] * scale, rtol=1e-12)
            assert not ty.numpy()[~kept].any()


def test_rules_differentiable_in_reverse():
    """A tangent computed by a rule is differentiable when the primal requires grad
    (forward-over-reverse), as PyTorch's."""
    import torch.autograd.forward_ad as tfw
    import flambeau.autograd.forward_ad as ffw
    xa, ta = np.random.randn(2, 4, 6), np.random.randn(2, 4, 6)
    res = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.tensor(xa, requires_grad=True)
        with fw.dual_level():
            d = fw.make_dual(x, L.tensor(ta))
            y = L.nn.functional.group_norm(d, 2) * d.var(2, keepdim=True) + d.std(1, keepdim=True)
            y = L.nn.functional.max_pool1d(y, 2)
            fw.unpack_dual(y).tangent.pow(2).sum().backward()
        res.append(x.grad.numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("loss", ["nll", "cross_entropy"])
def test_loss_backward_inside_a_dual_level(loss, no_double_vjp):
    """Reverse mode through the losses while a dual level is open (their backward takes a
    differentiable composed path there), as PyTorch."""
    import torch.autograd.forward_ad as tfw
    import flambeau.autograd.forward_ad as ffw
    xa = np.random.randn(4, 5)
    grads = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.tensor(xa, requires_grad=True)
        with fw.dual_level():
            tgt = L.tensor([1, 0, 3, 3])
            y = L.nn.functional.nll_loss(L.log_softmax(x, 1), tgt) if loss == "nll" else \
                L.nn.functional.cross_entropy(x, tgt, label_smoothing=0.1)
            y.backward()
        grads.append(x.grad)
    assert not grads[0].requires_grad
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-12, atol=1e-14)


def test_broadcast_arguments_fall_back_to_the_double_vjp(monkeypatch):
    """A broadcast argument with a tangent (no longer elementwise): the generic path, still exact."""
    monkeypatch.undo()
    check_jvp(lambda L, a, b: (a.abs() + 0.1) ** b, [(3, 4), (4,)], "float64")
    check_jvp(lambda L, a, b: L.nn.functional.mse_loss(a, b.expand(3, 4), reduction="none"), [(3, 4), (4,)],
              "float64")
    check_jvp(lambda L, a, b: (a - b) ** 2, [(3, 4), (4,)], "float64")
