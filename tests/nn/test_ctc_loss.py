"""CTC loss (F.ctc_loss, nn.CTCLoss) against torch.nn.functional.ctc_loss: forward values for every
reduction, padded and concatenated targets, blank first and last, impossible alignments with and
without zero_infinity, repeated labels, varied and zero input lengths, unbatched input, float32 and
float64; gradients (through log_softmax, and on log_probs directly, where torch's formula carries an
extra softmax term), a float64 gradcheck, and the argument errors."""
import numpy as np
import pytest
import torch

import flambeau as fl
import flambeau.nn as nn
import flambeau.nn.functional as F

DT = {"float32": (fl.float32, torch.float32), "float64": (fl.float64, torch.float64)}
TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-10)}


def _case(T, N, C, S, blank, rng, il=None, tl=None):
    """Random logits [T, N, C], padded targets [N, S] without the blank label, lengths."""
    x = rng.standard_normal((T, N, C)) * 2
    labels = [c for c in range(C) if c != blank]
    tg = rng.choice(labels, size=(N, S))
    if il is None:
        il = rng.integers(max(1, T // 2), T + 1, N).tolist()
    if tl is None:
        tl = rng.integers(0, S + 1, N).tolist()
    return x, tg, list(il), list(tl)


def _concat(tg, tl):
    return np.concatenate([tg[b, :tl[b]] for b in range(len(tl))]).astype(np.int64)


def _run(x, tg, il, tl, dtype, *, blank=0, reduction="mean", zero_infinity=False, through_softmax=True,
         lengths_as_tensors=False, grad=True):
    """(flambeau loss, flambeau grad, torch loss, torch grad) as numpy arrays; gradients of sum(loss)
    with respect to the logits (through log_softmax) or to log_probs itself."""
    fdt, tdt = DT[dtype]
    out = []
    for lib, dt, F_ in ((fl, fdt, F), (torch, tdt, torch.nn.functional)):
        xt = lib.tensor(x, dtype=dt, requires_grad=grad)
        if through_softmax:
            lp = xt.log_softmax(-1)
        else:
            lp = xt
        t = lib.tensor(tg)
        i, l_ = (lib.tensor(il), lib.tensor(tl)) if lengths_as_tensors else (il, tl)
        loss = F_.ctc_loss(lp, t, i, l_, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
        if grad:
            loss.sum().backward()
        out += [loss.detach().numpy(), xt.grad.numpy() if grad else None]
    return out


def _close(a, b, dtype, **kw):
    tol = dict(TOL[dtype])
    tol.update(kw)
    np.testing.assert_allclose(a, b, equal_nan=True, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank", ["first", "last"])
def test_forward_backward_matches_torch(dtype, reduction, layout, blank):
    rng = np.random.default_rng(hash((dtype, reduction, layout, blank)) % 2**32)
    T, N, C, S = 20, 5, 7, 6
    b = 0 if blank == "first" else C - 1
    x, tg, il, tl = _case(T, N, C, S, b, rng)
    tl[0] = S  # a full-length target and an empty one
    tl[1] = 0
    if layout == "concatenated":
        tg = _concat(tg, tl)
    lf, gf, lt, gt = _run(x, tg, il, tl, dtype, blank=b, reduction=reduction)
    assert lf.shape == lt.shape and lf.dtype == lt.dtype
    _close(lf, lt, dtype)
    _close(gf, gt, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_on_log_probs_directly(dtype):
    # torch's gradient on log_probs is exp(lp) - exp(lcab + nll - lp), not the plain derivative.
    rng = np.random.default_rng(3)
    x, tg, il, tl = _case(9, 3, 5, 3, 0, rng)
    lp = torch.tensor(x).log_softmax(-1).numpy()
    for red in ("none", "sum", "mean"):
        lf, gf, lt, gt = _run(lp, tg, il, tl, dtype, reduction=red, through_softmax=False)
        _close(lf, lt, dtype)
        _close(gf, gt, dtype)


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_impossible_alignments(zero_infinity, reduction):
    # element 0: target longer than its input; element 1: repeated labels need a blank between them
    # (1 1 1 needs 5 frames, has 4); element 2: input length 0 with a non-empty target; element 3:
    # input length 0 and empty target (loss -0.0); element 4: feasible.
    rng = np.random.default_rng(5)
    T, N, C = 6, 5, 4
    x = rng.standard_normal((T, N, C))
    tg = np.array([[1, 2, 3, 1, 2, 3, 1], [1, 1, 1, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0], [0] * 7, [3, 3, 0, 0, 0, 0, 0]])
    il, tl = [5, 4, 0, 0, 6], [7, 3, 1, 0, 2]
    for dtype in ("float32", "float64"):
        lf, gf, lt, gt = _run(x, tg, il, tl, dtype, reduction=reduction, zero_infinity=zero_infinity)
        _close(lf, lt, dtype)
        _close(gf, gt, dtype)  # NaN where torch has NaN (inf loss without zero_infinity)
        if reduction == "none":
            assert np.isinf(lf[0]) != zero_infinity and np.isinf(lf[1]) != zero_infinity
            assert np.signbit(lf[3]) == np.signbit(lt[3])
        if zero_infinity:
            assert np.all(np.isfinite(gf)) and np.all(gf[:, :3] == 0)
        else:
            assert np.all(np.isnan(gf[:5, 0])) and np.all(gf[5:, 0] == 0)


def test_repeated_labels_and_blank_inside_target():
    rng = np.random.default_rng(7)
    T, N, C = 10, 4, 5
    x = rng.standard_normal((T, N, C))
    # repeats that just fit (2 2 2 needs 5 frames), runs of repeats, and targets holding the blank
    # label itself (torch handles these its own way; we follow it, including a final blank)
    tg = np.array([[2, 2, 2, 0, 0], [1, 1, 2, 2, 1], [1, 0, 2, 0, 0], [3, 4, 0, 0, 0]])
    il, tl = [5, 10, 8, 9], [3, 5, 3, 3]
    for dtype in ("float32", "float64"):
        for red in ("none", "mean"):
            lf, gf, lt, gt = _run(x, tg, il, tl, dtype, reduction=red)
            _close(lf, lt, dtype)
            _close(gf, gt, dtype)
            lf, gf, lt, gt = _run(x, tg, il, tl, dtype, reduction=red, through_softmax=False)
            _close(gf, gt, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_varied_input_lengths_and_larger_batch(dtype):
    # a batch big enough to split among threads; time steps past input_lengths get zero gradient
    rng = np.random.default_rng(11)
    T, N, C, S = 40, 33, 12, 15
    x, tg, il, tl = _case(T, N, C, S, 0, rng, il=rng.integers(0, 41, 33))
    lf, gf, lt, gt = _run(x, tg, il, tl, dtype, reduction="none", zero_infinity=True, lengths_as_tensors=True)
    _close(lf, lt, dtype, rtol=1e-5 if dtype == "float32" else 1e-10)
    _close(gf, gt, dtype, atol=1e-4 if dtype == "float32" else 1e-10)
    for b in range(N):
        assert np.all(gf[il[b]:, b] == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unbatched(dtype):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((8, 5))
    tg = np.array([1, 3, 3, 2])
    for red in ("none", "sum", "mean"):
        for targets, lengths in ((tg, ([8], [4])), (tg[None], ([7], [3])), (tg, (np.array(6), np.array(4)))):
            res = []
            for lib, F_ in ((fl, F), (torch, torch.nn.functional)):
                xt = lib.tensor(x, dtype=DT[dtype][0 if lib is fl else 1], requires_grad=True)
                il, tl = lengths
                if isinstance(il, np.ndarray):
                    il, tl = lib.tensor(il), lib.tensor(tl)
                loss = F_.ctc_loss(xt.log_softmax(-1), lib.tensor(targets), il, tl, reduction=red)
                loss.backward()
                res += [loss.detach().numpy(), xt.grad.numpy()]
            assert res[0].shape == res[2].shape == ()
            _close(res[0], res[2], dtype)
            _close(res[1], res[3], dtype)


def test_lengths_and_targets_types_and_noncontiguous_input():
    rng = np.random.default_rng(17)
    x, tg, il, tl = _case(7, 3, 6, 4, 0, rng)
    ref = torch.nn.functional.ctc_loss(torch.tensor(x).log_softmax(-1), torch.tensor(tg), il, tl, reduction="none")
    lp = fl.tensor(x).log_softmax(-1)
    # tuples, numpy ints, tensors of other shapes; float targets are read as labels, as in torch
    variants = [
        (fl.tensor(tg), tuple(il), tuple(tl)),
        (fl.tensor(tg), [np.int64(v) for v in il], fl.tensor(tl).reshape(1, 3)),
        (fl.tensor(tg.astype(np.float64)), fl.tensor(il), fl.tensor(tl)),
        (fl.tensor(np.ascontiguousarray(tg.T)).t(), il, tl),  # non-contiguous targets
    ]
    if hasattr(fl, "int32"):
        variants.append((fl.tensor(tg).to(fl.int32), fl.tensor(il).to(fl.int32), fl.tensor(tl).to(fl.int32)))
    for targets, i, t in variants:
        out = F.ctc_loss(lp, targets, i, t, reduction="none")
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)
    # log_probs as a non-contiguous (N, T, C) -> (T, N, C) view
    lpn = fl.tensor(np.ascontiguousarray(x.transpose(1, 0, 2))).log_softmax(-1).transpose(0, 1)
    assert not lpn.is_contiguous()
    np.testing.assert_allclose(F.ctc_loss(lpn, fl.tensor(tg), il, tl, reduction="none").numpy(), ref.numpy(),
                               rtol=1e-12)


def test_module_and_grad_fn():
    rng = np.random.default_rng(19)
    x, tg, il, tl = _case(9, 4, 6, 3, 5, rng)
    m = nn.CTCLoss(blank=5, reduction="sum", zero_infinity=True)
    assert (m.blank, m.reduction, m.zero_infinity) == (5, "sum", True)
    tm = torch.nn.CTCLoss(blank=5, reduction="sum", zero_infinity=True)
    xf = fl.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    lf = m(xf.log_softmax(2), fl.tensor(tg), il, tl)
    lt = tm(xt.log_softmax(2), torch.tensor(tg), il, tl)
    lf.backward()
    lt.backward()
    np.testing.assert_allclose(lf.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert (nn.CTCLoss().blank, nn.CTCLoss().reduction, nn.CTCLoss().zero_infinity) == (0, "mean", False)
    lp = fl.tensor(x).log_softmax(2).requires_grad_()
    assert F.ctc_loss(lp, fl.tensor(tg), il, tl, reduction="none").grad_fn.name() == "CtcLossBackward0"
    with fl.no_grad():
        assert F.ctc_loss(lp, fl.tensor(tg), il, tl).grad_fn is None


def test_gradcheck_float64():
    rng = np.random.default_rng(23)
    x = fl.tensor(rng.standard_normal((5, 2, 4)), dtype=fl.float64, requires_grad=True)
    tg = fl.tensor([[1, 2, 2], [3, 1, 0]])
    for red in ("none", "sum", "mean"):
        def f(inp):
            return F.ctc_loss(inp.log_softmax(2), tg, [5, 4], [3, 2], reduction=red)
        assert fl.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_double_backward_raises():
    x = fl.tensor(np.random.default_rng(0).standard_normal((4, 1, 3)), dtype=fl.float64, requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(2), fl.tensor([[1, 2]]), [4], [2])
    with pytest.raises(RuntimeError, match="not implemented"):
        fl.autograd.grad(loss, x, create_graph=True)


def _lp(T=5, N=2, C=4, dtype=fl.float32):
    return fl.tensor(np.random.default_rng(0).standard_normal((T, N, C)), dtype=dtype).log_softmax(-1)


TG = [[1, 2], [3, 3]]


@pytest.mark.parametrize("args, kwargs, exc, msg", [
    ((_lp(), fl.tensor(TG), [6, 5], [2, 2]), {}, RuntimeError,
     r"ctc_loss: Expected input_lengths to have value at most 5, but got value 6"),
    ((_lp(), fl.tensor(TG), [-1, 5], [2, 2]), {}, RuntimeError,
     r"Expected input_lengths to have value at least 0, but got value -1"),
    ((_lp(), fl.tensor(TG), [5, 5], [-1, 2]), {}, RuntimeError,
     r"Expected target_lengths to have value at least 0, but got value -1"),
    ((_lp(), fl.tensor(TG), [5, 5], [3, 2]), {}, RuntimeError,
     r"Expected tensor to have size at least 3 at dimension 1, but got size 2 for argument #2 'targets'"),
    ((_lp(), fl.tensor([1, 2, 3, 3]), [5, 5], [2, 3]), {}, RuntimeError,
     r"Expected tensor to have size 5 at dimension 0, but got size 4 for argument #2 'targets'"),
    ((_lp(), fl.tensor([[1, 2]]), [5, 5], [2, 2]), {}, RuntimeError,
     r"Expected tensor to have size 2 at dimension 0, but got size 1 for argument #2 'targets'"),
    ((_lp(), fl.tensor(TG), [5, 5], [2, 2]), {"blank": 4}, RuntimeError, r"blank must be in label range \[0, 4\)"),
    ((_lp(), fl.tensor(TG), [5, 5], [2, 2]), {"blank": -1}, RuntimeError, r"blank must be in label range"),
    ((_lp(), fl.tensor(TG), [5], [2, 2]), {}, RuntimeError, r"input_lengths must be of size batch_size"),
    ((_lp(), fl.tensor(TG), [5, 5], [2]), {}, RuntimeError, r"target_lengths must be of size batch_size"),
    ((_lp().reshape(5, 2, 4, 1), fl.tensor(TG), [5, 5], [2, 2]), {}, RuntimeError,
     r"Expected 3-dimensional tensor, but got 5-dimensional tensor for argument #1 'log_probs'.*\[5, 2, 4, 1\]"),
    ((_lp().reshape(-1), fl.tensor(TG), [5, 5], [2, 2]), {}, RuntimeError,
     r"Expected 3-dimensional tensor, but got 2-dimensional tensor for argument #1 'log_probs'"),
    ((_lp(), fl.tensor(TG).reshape(1, 2, 2), [5, 5], [2, 2]), {}, RuntimeError,
     r"Expected 1 to 2 dimensions, but got 3-dimensional tensor for argument #2 'targets'"),
    ((_lp(), fl.tensor(1), [5, 5], [1, 0]), {}, RuntimeError,
     r"Expected 1 to 2 dimensions, but got 0-dimensional tensor"),
    ((fl.empty(5, 0, 4), fl.empty(0, 2, dtype=fl.int64), [], []), {}, RuntimeError,
     r"log_probs tensor must not be empty"),
    ((_lp(), fl.tensor(TG), fl.tensor([5.0, 5.0]), [2, 2]), {}, RuntimeError, r"input_lengths must be integral"),
    ((_lp(), fl.tensor(TG), [5, 5], fl.tensor([2.0, 2.0])), {}, RuntimeError, r"target_lengths must be integral"),
    ((_lp(), fl.tensor(TG), [5, 5], [2, 2.5]), {}, TypeError, r"'target_lengths' must be a tuple of ints"),
    ((_lp(), fl.tensor(TG), 5, [2, 2]), {}, TypeError, r"'input_lengths' must be a Tensor or a tuple of ints"),
    ((_lp(), fl.tensor(TG), [5, 5], [2, 2]), {"reduction": "bad"}, ValueError, r"bad is not a valid value"),
    ((_lp(), TG, [5, 5], [2, 2]), {}, TypeError, r"argument 'targets'"),
    ((fl.tensor([[[1, 2]]]), fl.tensor(TG), [1], [1]), {}, NotImplementedError, r"ctc_loss: not implemented for dtype int64"),
    ((_lp(), fl.tensor([[1, 5], [3, 3]]), [5, 5], [2, 2]), {}, IndexError,
     r"ctc_loss: target label 5 \(batch element 0, position 1\) is out of range for log_probs with 4 classes"),
    ((_lp(), fl.tensor([[1, -1], [3, 3]]), [5, 5], [2, 2]), {}, IndexError, r"target label -1"),
])
def test_errors(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        F.ctc_loss(*args, **kwargs)


def test_padding_beyond_target_length_is_ignored():
    # labels past target_lengths (padding, even out-of-range values) are never read
    lp = _lp()
    a = F.ctc_loss(lp, fl.tensor([[1, -1], [3, 99]]), [5, 5], [1, 1], reduction="none")
    b = F.ctc_loss(lp, fl.tensor([[1, 2], [3, 3]]), [5, 5], [1, 1], reduction="none")
    np.testing.assert_array_equal(a.numpy(), b.numpy())
