"""nn.utils against PyTorch: gradient clipping, parameter/vector conversion, pruning."""
import math

import numpy as np
import pytest
import torch
import torch.nn.utils.prune  # noqa: F401  (not imported by torch.nn.utils itself)

import flambeau
from flambeau import nn
from flambeau.nn.utils import prune
from nn_helpers import assert_close, copy_state, t2f, to_np


def models_with_grads(scale=1.0):
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    fm = copy_state(tm, nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)))
    x = np.random.randn(6, 4).astype(np.float32)
    (tm(torch.from_numpy(x)) * scale).sum().backward()
    (fm(t2f(x)) * scale).sum().backward()
    return tm, fm


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.1, 1000.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    tm, fm = models_with_grads(5.0)
    tn = torch.nn.utils.clip_grad_norm_(tm.parameters(), max_norm, norm_type)
    fn = nn.utils.clip_grad_norm_(fm.parameters(), max_norm, norm_type)
    assert_close(fn, tn)
    for tp, fp in zip(tm.parameters(), fm.parameters()):
        assert_close(fp.grad, tp.grad)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(flambeau.ones(3))
    assert float(nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no gradients
    p.grad = flambeau.tensor([3.0, 4.0, 0.0])
    total = nn.utils.clip_grad_norm_(p, 1.0)  # a single tensor is accepted
    assert abs(float(total) - 5.0) < 1e-6
    assert abs(float((p.grad * p.grad).sum().sqrt()) - 1.0) < 1e-5
    p.grad = flambeau.tensor([float("inf"), 1.0, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    tn = nn.utils.get_total_norm([flambeau.tensor([3.0, 4.0]), flambeau.tensor([12.0])])
    assert abs(float(tn) - 13.0) < 1e-5


def test_clip_grad_value_matches_pytorch():
    tm, fm = models_with_grads(3.0)
    torch.nn.utils.clip_grad_value_(tm.parameters(), 0.5)
    nn.utils.clip_grad_value_(fm.parameters(), 0.5)
    for tp, fp in zip(tm.parameters(), fm.parameters()):
        assert_close(fp.grad, tp.grad)
        assert float(fp.grad.abs().max()) <= 0.5


def test_parameters_to_vector_and_back():
    tm, fm = models_with_grads()
    tv = torch.nn.utils.parameters_to_vector(tm.parameters())
    fv = nn.utils.parameters_to_vector(fm.parameters())
    assert_close(fv, tv)
    new = np.arange(fv.numel(), dtype=np.float32)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(new), tm.parameters())
    fvec = t2f(new)
    nn.utils.vector_to_parameters(fvec, fm.parameters())
    for tp, fp in zip(tm.parameters(), fm.parameters()):
        assert_close(fp, tp)
    # the vector is differentiable
    x = nn.Parameter(flambeau.ones(2, 2))
    v = nn.utils.parameters_to_vector([x])
    (v * 2).sum().backward()
    assert np.all(to_np(x.grad) == 2)
    with pytest.raises(TypeError):
        nn.utils.vector_to_parameters([1.0], fm.parameters())


def test_l1_unstructured_matches_pytorch():
    tm = torch.nn.Linear(6, 5)
    fm = copy_state(tm, nn.Linear(6, 5))
    torch.nn.utils.prune.l1_unstructured(tm, "weight", amount=0.4)
    prune.l1_unstructured(fm, "weight", amount=0.4)
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert np.array_equal(to_np(fm.weight_mask), tm.weight_mask.numpy())
    assert_close(fm.weight, tm.weight)
    assert not isinstance(fm.weight, nn.Parameter)
    x = np.random.randn(3, 6).astype(np.float32)
    assert_close(fm(t2f(x)), tm(torch.from_numpy(x)))
    # iterative pruning prunes among the remaining entries
    torch.nn.utils.prune.l1_unstructured(tm, "weight", amount=5)
    prune.l1_unstructured(fm, "weight", amount=5)
    assert np.array_equal(to_np(fm.weight_mask), tm.weight_mask.numpy())
    assert int((to_np(fm.weight_mask) == 0).sum()) == 12 + 5
    # gradients flow to weight_orig, masked
    fm(t2f(x)).sum().backward()
    tm(torch.from_numpy(x)).sum().backward()
    assert_close(fm.weight_orig.grad, tm.weight_orig.grad)
    # remove makes it permanent
    torch.nn.utils.prune.remove(tm, "weight")
    prune.remove(fm, "weight")
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert isinstance(fm.weight, nn.Parameter)
    assert_close(fm.weight, tm.weight)
    assert not prune.is_pruned(fm)
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(fm, "weight")


def test_l1_unstructured_with_importance_scores_and_bias():
    tm = torch.nn.Conv2d(2, 3, 3)
    fm = copy_state(tm, nn.Conv2d(2, 3, 3))
    scores = np.random.rand(3).astype(np.float32)
    torch.nn.utils.prune.l1_unstructured(tm, "bias", 1, importance_scores=torch.from_numpy(scores))
    prune.l1_unstructured(fm, "bias", 1, importance_scores=t2f(scores))
    assert np.array_equal(to_np(fm.bias_mask), tm.bias_mask.numpy())
    assert prune.is_pruned(fm)


def test_random_unstructured():
    m = nn.Linear(10, 10)
    w = to_np(m.weight).copy()
    prune.random_unstructured(m, "weight", amount=0.3)
    mask = to_np(m.weight_mask)
    assert int((mask == 0).sum()) == 30
    assert np.array_equal(to_np(m.weight), w * mask)
    prune.random_unstructured(m, "weight", amount=0.5)  # half of the remaining 70
    assert int((to_np(m.weight_mask) == 0).sum()) == 30 + 35
    assert np.all(to_np(m.weight_mask)[mask == 0] == 0)  # pruned entries stay pruned
    m(flambeau.randn(2, 10))  # the pre-hook recomputes weight
    prune.remove(m, "weight")
    assert int((to_np(m.weight) == 0).sum()) >= 65
    with pytest.raises(ValueError, match="amount"):
        prune.random_unstructured(nn.Linear(2, 2), "weight", amount=1.5)
    with pytest.raises(ValueError, match="smaller than the number of parameters"):
        prune.random_unstructured(nn.Linear(2, 2), "weight", amount=5)


def test_global_unstructured_matches_pytorch():
    tms = [torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)]
    fms = [copy_state(t, nn.Linear(t.in_features, t.out_features)) for t in tms]
    torch.nn.utils.prune.global_unstructured([(m, "weight") for m in tms],
                                             torch.nn.utils.prune.L1Unstructured, amount=7)
    prune.global_unstructured([(m, "weight") for m in fms], prune.L1Unstructured, amount=7)
    for t, f in zip(tms, fms):
        assert np.array_equal(to_np(f.weight_mask), t.weight_mask.numpy())


@pytest.mark.parametrize("n,dim,amount", [(2, 0, 2), (1, 1, 0.5), (float("inf"), -1, 1), (2, 0, 0.0)])
def test_ln_structured_matches_pytorch(n, dim, amount):
    tm = torch.nn.Conv2d(3, 5, 2)
    fm = copy_state(tm, nn.Conv2d(3, 5, 2))
    torch.nn.utils.prune.ln_structured(tm, "weight", amount=amount, n=n, dim=dim)
    prune.ln_structured(fm, "weight", amount=amount, n=n, dim=dim)
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert np.array_equal(to_np(fm.weight_mask), tm.weight_mask.numpy())
    # a second structured round prunes among the channels still alive; an unstructured one on top
    torch.nn.utils.prune.ln_structured(tm, "weight", amount=1, n=1, dim=0)
    prune.ln_structured(fm, "weight", amount=1, n=1, dim=0)
    torch.nn.utils.prune.l1_unstructured(tm, "weight", amount=4)
    prune.l1_unstructured(fm, "weight", amount=4)
    assert np.array_equal(to_np(fm.weight_mask), tm.weight_mask.numpy())
    x = np.random.randn(2, 3, 4, 4).astype(np.float32)
    fm(t2f(x)).square().sum().backward()
    tm(torch.from_numpy(x)).square().sum().backward()
    assert_close(fm.weight_orig.grad, tm.weight_orig.grad)
    torch.nn.utils.prune.remove(tm, "weight")
    prune.remove(fm, "weight")
    assert_close(fm.weight, tm.weight)


def test_ln_structured_importance_scores_and_errors():
    tm = torch.nn.Linear(4, 6)
    fm = copy_state(tm, nn.Linear(4, 6))
    scores = np.random.rand(6, 4).astype(np.float32)
    torch.nn.utils.prune.ln_structured(tm, "weight", 3, 2, 0, importance_scores=torch.from_numpy(scores))
    prune.ln_structured(fm, "weight", 3, 2, 0, importance_scores=t2f(scores))
    assert np.array_equal(to_np(fm.weight_mask), tm.weight_mask.numpy())
    with pytest.raises(ValueError, match="multidimensional"):
        prune.ln_structured(nn.Linear(2, 2), "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index 2"):
        prune.ln_structured(nn.Linear(2, 2), "weight", amount=1, n=2, dim=2)
    with pytest.raises(ValueError, match="smaller than the number of parameters"):
        prune.ln_structured(nn.Linear(2, 3), "weight", amount=4, n=2, dim=0)
    m = nn.Linear(2, 3)
    assert "weight" in dict(m.named_parameters())  # a failed pruning leaves the module as it was


def test_random_structured():
    m = nn.Conv2d(2, 8, 3)
    prune.random_structured(m, "weight", amount=0.25, dim=0)
    mask = to_np(m.weight_mask)
    alive = mask.reshape(8, -1).all(axis=1)
    dead = (mask.reshape(8, -1) == 0).all(axis=1)
    assert alive.sum() == 6 and dead.sum() == 2 and (alive | dead).all()  # whole channels only
    prune.random_structured(m, "weight", amount=3, dim=0)  # 3 of the 6 channels still alive
    mask2 = to_np(m.weight_mask).reshape(8, -1)
    assert (mask2 == 0).all(axis=1).sum() == 5 and np.all(mask2[dead] == 0)
    prune.remove(m, "weight")
    assert isinstance(m.weight, nn.Parameter)


def _memory_format_scenario(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ConvTranspose2d(4, 2, 2, groups=2)), nn.Linear(5, 5),
                      nn.Conv3d(2, 3, (1, 2, 3)))
    w0 = m[0].weight
    out = lib.nn.utils.convert_conv2d_weight_memory_format(m, lib.channels_last)
    seen = [out is m, m[0].weight is w0, m[0].weight.stride(), m[1][0].weight.stride(), m[2].weight.stride(),
            m[3].weight.stride()]
    lib.nn.utils.convert_conv3d_weight_memory_format(m, lib.channels_last_3d)
    seen += [m[3].weight.stride(), m[0].weight.is_contiguous(memory_format=lib.channels_last),
             m[0].weight.requires_grad, type(m[0].weight).__name__]
    return seen


def test_convert_conv_weight_memory_format_matches_pytorch():
    assert _memory_format_scenario(flambeau) == _memory_format_scenario(torch)
