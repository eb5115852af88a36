"""SyncBatchNorm against PyTorch's (which, with no initialised process group, is batch norm over the
local batch): forward, gradients, running statistics, eval mode, convert_sync_batchnorm, repr,
state_dict keys and the input checks; torch.nn.modules.batchnorm's names."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as fnn
from nn_helpers import assert_close, copy_state, t2f


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_forward_backward_running_stats(shape, momentum):
    tm = torch.nn.SyncBatchNorm(3, momentum=momentum)
    fm = copy_state(tm, fnn.SyncBatchNorm(3, momentum=momentum))
    assert repr(fm) == repr(tm)
    for step in range(2):
        x = np.random.randn(*shape).astype(np.float32) * 2 + 1
        tx = torch.from_numpy(x).requires_grad_()
        fx = t2f(x, requires_grad=True)
        to, fo = tm(tx), fm(fx)
        assert_close(fo, to, msg="forward")
        g = np.random.randn(*shape).astype(np.float32)
        to.backward(torch.from_numpy(g))
        fo.backward(t2f(g))
        assert_close(fx.grad, tx.grad, msg="input grad")
        assert_close(fm.weight.grad, tm.weight.grad, msg="weight grad")
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            assert_close(getattr(fm, name), getattr(tm, name), msg=name)
    tm.eval()
    fm.eval()
    x = np.random.randn(*shape).astype(np.float32)
    assert_close(fm(t2f(x)), tm(torch.from_numpy(x)), msg="eval")


def test_convert_sync_batchnorm_shares_parameters_and_buffers():
    def build(nn):
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                             nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2, affine=False)))
    tm, fm = build(torch.nn), build(fnn)
    fm[1].eval()
    conv_t = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tm)
    conv_f = fnn.SyncBatchNorm.convert_sync_batchnorm(fm)
    assert repr(conv_f) == repr(conv_t)
    assert list(conv_f.state_dict()) == list(conv_t.state_dict())
    assert conv_f[1].weight is fm[1].weight and conv_f[1].running_mean is fm[1].running_mean
    assert conv_f[1].training is False and conv_f[2][1].training is True
    assert isinstance(conv_f[1], fnn.modules.batchnorm._BatchNorm)
    assert isinstance(fnn.BatchNorm2d(2), fnn.modules.batchnorm._BatchNorm)
    bn = fnn.BatchNorm2d(3)
    assert isinstance(fnn.SyncBatchNorm.convert_sync_batchnorm(bn), fnn.SyncBatchNorm)


def test_input_checks():
    for mod, shape in [(torch, (3,)), (flambeau, (3,))]:
        with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
            mod.nn.SyncBatchNorm(3)(mod.zeros(*shape))
    with pytest.raises(ValueError, match="number of input channels should be non-zero"):
        torch.nn.SyncBatchNorm(0)(torch.zeros(2, 0, 3))
    with pytest.raises(ValueError, match="number of input channels should be non-zero"):
        fnn.SyncBatchNorm(0)(flambeau.zeros(2, 0, 3))
