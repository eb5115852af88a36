"""torch._dynamo._trace_wrapped_higher_order_op.TransformGetItemToIndex against PyTorch's: inside the mode,
x[i, j] with 0-d index tensors or ints reads the same values as PyTorch (as advanced indexing), other
indices pass through to __getitem__, and a vmapped mask function built like transformers' attention masks
gives PyTorch's mask."""
import numpy as np
import pytest
import torch
from torch._dynamo._trace_wrapped_higher_order_op import TransformGetItemToIndex as TorchMode

import flambeau
from flambeau._dynamo._trace_wrapped_higher_order_op import TransformGetItemToIndex as Mode


def _pair(a):
    return torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())


@pytest.mark.parametrize("index", [
    lambda lib: (lib.tensor(2), lib.tensor(1)),
    lambda lib: (1, lib.tensor(3)),
    lambda lib: 2,
    lambda lib: lib.tensor([0, 2, 2]),
    lambda lib: (lib.tensor([[1], [0]]), lib.tensor([0, 4])),
    lambda lib: (slice(1, 3), lib.tensor(1)),      # a slice: left to __getitem__
    lambda lib: (Ellipsis, 0),
])
def test_getitem_under_mode_like_pytorch(index):
    a = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    t, f = _pair(a)
    with TorchMode():
        want = t[index(torch)]
    with Mode():
        got = f[index(flambeau)]
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_gradient_flows_through_the_index():
    a = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    t, f = _pair(a)
    t.requires_grad_(True)
    f.requires_grad_(True)
    with TorchMode():
        (t[torch.tensor(1), 2] * 3 + t[3, torch.tensor(0)]).backward()
    with Mode():
        (f[flambeau.tensor(1), 2] * 3 + f[3, flambeau.tensor(0)]).backward()
    np.testing.assert_array_equal(f.grad.numpy(), t.grad.numpy())


def _mask(lib, pad):
    # transformers' sdpa_mask_recent_torch: causal & padding, vmapped over batch, head, query, key
    def causal(b, h, q, kv):
        return kv <= q

    def padding(b, h, q, kv):
        return pad[b, kv]

    def both(b, h, q, kv):
        return causal(b, h, q, kv) & padding(b, h, q, kv)

    fn = both
    for dims in [(None, None, None, 0), (None, None, 0, None), (None, 0, None, None), (0, None, None, None)]:
        fn = lib.vmap(fn, in_dims=dims, out_dims=0)
    return fn(lib.arange(2), lib.arange(1), lib.arange(4), lib.arange(5))


def test_vmapped_mask_function_like_pytorch():
    pad = np.ones((2, 5), dtype=bool)
    pad[1, -2:] = False
    t, f = _pair(pad)
    with TorchMode():
        want = _mask(torch, t)
    with Mode():
        got = _mask(flambeau, f)
    assert got.dtype == flambeau.bool and tuple(got.shape) == (2, 1, 4, 5)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
