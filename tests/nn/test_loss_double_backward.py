"""Double backward (create_graph=True) through the fused losses against PyTorch: the first-order gradient taken
with a graph, then the gradient of a penalty on it (second order) with respect to the input, the target where it
has one, and a weight feeding the input; plus float64 gradgradchecks. MAML-style inner loops and gradient
penalties differentiate through cross_entropy / mse_loss this way; flambeau raised NotImplementedError."""
import numpy as np
import pytest
import torch

import flambeau
from nn_helpers import assert_close, to_np

CASES = [
    ("cross_entropy", "index", {}),
    ("cross_entropy", "index", dict(weight="w", ignore_index=2, label_smoothing=0.2, reduction="mean")),
    ("cross_entropy", "index", dict(reduction="sum", label_smoothing=0.1)),
    ("cross_entropy", "index", dict(reduction="none", weight="w")),
    ("cross_entropy", "index_spatial", dict(ignore_index=1)),
    ("cross_entropy", "prob", dict(label_smoothing=0.1)),
    ("cross_entropy", "prob", dict(weight="w", reduction="sum")),
    ("nll_loss", "index", dict(weight="w", ignore_index=0)),
    ("nll_loss", "index", dict(reduction="none")),
    ("mse_loss", "float", {}),
    ("mse_loss", "float", dict(reduction="sum")),
    ("l1_loss", "float", {}),
    ("smooth_l1_loss", "float", dict(beta=0.5)),
    ("huber_loss", "float", dict(delta=0.7, reduction="none")),
    ("binary_cross_entropy", "unit", dict(weight="wx")),
    ("binary_cross_entropy_with_logits", "float01", dict(pos_weight="w", reduction="sum")),
    ("kl_div", "float", dict(reduction="batchmean", log_target=True)),
]


def make(kind, rng, dtype):
    x = rng.standard_normal((4, 5)).astype(dtype)
    if kind == "index":
        return x, rng.integers(0, 5, 4)
    if kind == "index_spatial":
        return rng.standard_normal((2, 5, 3)).astype(dtype), rng.integers(0, 5, (2, 3))
    if kind == "prob":
        p = rng.random((4, 5)).astype(dtype)
        return x, p / p.sum(1, keepdims=True)
    if kind == "unit":
        return x, rng.random((4, 5)).astype(dtype)
    if kind == "float01":
        return x, (rng.random((4, 5)) > 0.5).astype(dtype)
    return x, rng.standard_normal((4, 5)).astype(dtype)


@pytest.mark.parametrize("name,kind,kw", CASES)
def test_loss_double_backward_matches_torch(name, kind, kw):
    rng = np.random.default_rng(3)
    x, t = make(kind, rng, np.float32)
    w = rng.random(5).astype(np.float32) + 0.5
    lin = rng.standard_normal((x.shape[-1] if x.ndim == 2 else 5, 5)).astype(np.float32) * 0.5
    target_grad = t.dtype.kind == "f" and name not in ("binary_cross_entropy",)
    out = []
    for lib in (torch, flambeau):
        W = lib.from_numpy(lin.copy()).requires_grad_()
        xs = lib.from_numpy(x.copy()).requires_grad_()
        ts = lib.from_numpy(t.copy()).requires_grad_(target_grad)
        h = (xs.transpose(1, -1) @ W).transpose(1, -1) if x.ndim == 3 else xs @ W
        if name == "binary_cross_entropy":
            h = lib.sigmoid(h)
        if name == "kl_div":
            h = lib.log_softmax(h, -1)
        args = {k: (lib.from_numpy(w.copy()) if v == "w" else lib.from_numpy(np.resize(w, x.shape).copy())
                    if v == "wx" else v) for k, v in kw.items()}
        loss = getattr(lib.nn.functional, name)(h, ts, **args)
        inputs = [xs, W] + ([ts] if target_grad else [])
        g_out = lib.ones_like(loss) if loss.dim() else None
        grads = lib.autograd.grad(loss, inputs, g_out, create_graph=True)
        penalty = sum((g ** 2).sum() for g in grads)
        penalty.backward()
        out.append([to_np(g) for g in grads] + [to_np(v.grad) for v in inputs])
    for got, want in zip(out[1], out[0]):
        assert_close(got, want, atol=2e-5, rtol=2e-4)


@pytest.mark.parametrize("name,kind,kw", [c for c in CASES if "w" not in c[2].values() and "wx" not in c[2].values()])
def test_loss_gradgradcheck(name, kind, kw):
    rng = np.random.default_rng(4)
    x, t = make(kind, rng, np.float64)
    xs = flambeau.from_numpy(x).requires_grad_()
    ts = flambeau.from_numpy(t)
    fn = getattr(flambeau.nn.functional, name)
    if name == "binary_cross_entropy":
        f = lambda a: fn(flambeau.sigmoid(a), ts, **kw)  # noqa: E731
    elif name == "kl_div":
        f = lambda a: fn(flambeau.log_softmax(a, -1), ts, **kw)  # noqa: E731
    else:
        f = lambda a: fn(a, ts, **kw)  # noqa: E731
    assert flambeau.autograd.gradgradcheck(f, (xs,), eps=1e-6, atol=1e-5, rtol=1e-3)
