"""nn.AdaptiveLogSoftmaxWithLoss against PyTorch: state-dict keys and shapes, forward output and loss, input and
parameter gradients, log_prob and predict, batches of one, unbatched input, and the argument errors."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from nn_helpers import assert_close, copy_state, t2f, to_np


def pair(*args, **kw):
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    fm = nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    assert {k: tuple(v.shape) for k, v in tm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in fm.state_dict().items()}
    copy_state(tm, fm)
    return tm, fm


@pytest.mark.parametrize("kw", [dict(cutoffs=[5, 12]), dict(cutoffs=[3], div_value=2.0, head_bias=True),
                                dict(cutoffs=[2, 6, 10, 15], div_value=1.5)])
@pytest.mark.parametrize("n", [1, 2, 9, 40])
def test_adaptive_log_softmax_forward_backward(kw, n):
    tm, fm = pair(16, 20, **kw)
    x = np.random.randn(n, 16).astype(np.float32)
    target = np.random.randint(0, 20, size=n)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    fx = t2f(x, requires_grad=True)
    tout, tloss = tm(tx, torch.from_numpy(target))
    fout, floss = fm(fx, flambeau.from_numpy(target))
    assert_close(fout, tout)
    assert_close(floss, tloss)
    g = np.random.randn(*tout.shape).astype(np.float32)
    (tout * torch.from_numpy(g)).sum().add(tloss).backward()
    (fout * t2f(g)).sum().add(floss).backward()
    assert_close(fx.grad, tx.grad)
    fparams = dict(fm.named_parameters())
    for name, p in tm.named_parameters():
        if p.grad is None:  # a tail cluster no target fell in
            assert fparams[name].grad is None, name
        else:
            assert_close(fparams[name].grad, p.grad, msg=name)
    with torch.no_grad(), flambeau.no_grad():
        assert_close(fm.log_prob(fx), tm.log_prob(tx))
        np.testing.assert_array_equal(to_np(fm.predict(fx)), to_np(tm.predict(tx)))
        np.testing.assert_allclose(np.exp(to_np(fm.log_prob(fx))).sum(1), 1.0, rtol=1e-5)


def test_adaptive_log_softmax_predict_mixes_head_and_tail():
    """predict's three branches: all rows in the shortlist, none, and a mix (a large head bias steers each)."""
    tm, fm = pair(8, 12, cutoffs=[4, 8], head_bias=True)
    x = np.random.randn(6, 8).astype(np.float32)
    for bias in ([9, 0, 0, 0, 0, 0], [0, 0, 0, 0, 9, 0], None):
        if bias is not None:
            with torch.no_grad(), flambeau.no_grad():
                tm.head.bias.copy_(torch.tensor(bias, dtype=torch.float32))
                fm.head.bias.copy_(flambeau.tensor(bias, dtype=flambeau.float32))
        with torch.no_grad(), flambeau.no_grad():
            np.testing.assert_array_equal(to_np(fm.predict(t2f(x))), to_np(tm.predict(torch.from_numpy(x))))


def test_adaptive_log_softmax_unbatched():
    tm, fm = pair(8, 10, cutoffs=[3, 6])
    x = np.random.randn(8).astype(np.float32)
    for target in (1, 7):
        tout, tloss = tm(torch.from_numpy(x), torch.tensor(target))
        fout, floss = fm(t2f(x), flambeau.tensor(target))
        assert tuple(fout.shape) == tuple(tout.shape) == ()
        assert_close(fout, tout)
        assert_close(floss, tloss)


def test_adaptive_log_softmax_errors():
    for cutoffs in ([], [5, 3], [0, 4], [4, 10], [3, 3]):
        with pytest.raises(ValueError, match="cutoffs should be a sequence"):
            nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=cutoffs)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[3, 6])
    with pytest.raises(RuntimeError, match="Target values should be in \\[0, 9\\]"):
        m(flambeau.randn(2, 8), flambeau.tensor([1, 10]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        m(flambeau.randn(3, 8), flambeau.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        m(flambeau.randn(3, 8), flambeau.zeros(3, 2, dtype=flambeau.int64))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input"):
        m(flambeau.randn(3, 8), flambeau.tensor(1))
