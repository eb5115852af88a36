"""cat/stack's one-_C-call paths (join._cat_common, join._stack_common) against PyTorch: the cases they hand to
the general path (promotion, the legacy 1-d empty skip, channels_last inputs, errors) give PyTorch's results
and messages, and inputs that require grad are recorded only with grad mode on."""
import numpy as np
import pytest
import torch

import flambeau


def pair(*shape, dtype=np.float32, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())


def same(t, f):
    assert tuple(f.shape) == tuple(t.shape) and str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(f.numpy(), t.numpy())


def test_cat_promotes_and_skips_legacy_empty():
    ta, fa = pair(2, 3)
    tb, fb = pair(2, 3, dtype=np.float64, seed=1)
    same(torch.cat([ta, tb]), flambeau.cat([fa, fb]))
    te, fe = torch.zeros(0, dtype=torch.int64), flambeau.zeros(0, dtype=flambeau.int64)
    same(torch.cat([te, ta.to(torch.int64)]), flambeau.cat([fe, fa.to(flambeau.int64)]))
    same(torch.cat([ta, torch.zeros(0)], 1), flambeau.cat([fa, flambeau.zeros(0)], 1))
    same(torch.cat([torch.zeros(0), torch.zeros(0)]), flambeau.cat([flambeau.zeros(0), flambeau.zeros(0)]))


def test_cat_channels_last_keeps_its_layout():
    ta, fa = pair(2, 3, 4, 5)
    tcl, fcl = ta.to(memory_format=torch.channels_last), fa.to(memory_format=flambeau.channels_last)
    t, f = torch.cat([tcl, tcl], 1), flambeau.cat([fcl, fcl], 1)
    same(t, f)
    assert f.stride() == t.stride()
    # (a leading 1-d empty tensor: PyTorch's result is then row-major, flambeau's general path keeps
    # channels_last; the values agree)
    same(torch.cat([torch.zeros(0), tcl, tcl], 1), flambeau.cat([flambeau.zeros(0), fcl, fcl], 1))


@pytest.mark.parametrize("op,args", [
    ("cat", lambda m: ([m.zeros(2, 3), m.zeros(2, 3)], 2)),
    ("cat", lambda m: ([m.zeros(()), m.zeros(())], 0)),
    ("stack", lambda m: ([m.zeros(2, 3), m.zeros(2, 4)], 0)),
    ("stack", lambda m: ([m.zeros(2, 3), m.zeros(2, 3)], 3)),
    ("stack", lambda m: ([m.zeros(2, 3), m.zeros(2, 3)], -4)),
])
def test_errors_match_torch(op, args):
    tl, td = args(torch)
    fl, fd = args(flambeau)
    with pytest.raises(Exception) as want:
        getattr(torch, op)(tl, td)
    with pytest.raises(Exception) as got:
        getattr(flambeau, op)(fl, fd)
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value).replace("torch.", "flambeau.")


def test_stack_promotes_and_handles_zero_dim():
    ta, fa = pair(3)
    tb, fb = pair(3, dtype=np.float64, seed=1)
    same(torch.stack([ta, tb], 1), flambeau.stack([fa, fb], 1))
    same(torch.stack([ta[0], tb[1]]), flambeau.stack([fa[0], fb[1]]))
    same(torch.stack((ta.to(torch.int64), ta.to(torch.int64)), -1),
         flambeau.stack((fa.to(flambeau.int64), fa.to(flambeau.int64)), -1))


@pytest.mark.parametrize("op", ["cat", "stack"])
def test_grad_recorded_only_with_grad_mode(op):
    a = flambeau.tensor([1.0, 2.0], requires_grad=True)
    b = flambeau.tensor([3.0, 4.0])
    fn = getattr(flambeau, op)
    with flambeau.no_grad():
        r = fn([a, b])
    assert not r.requires_grad and r.grad_fn is None
    r = fn([a, b])
    assert r.requires_grad
    (r * flambeau.arange(4.0).reshape(r.shape)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(4.0, dtype=np.float32).reshape(
        (2, 2) if op == "stack" else (4,))[0 if op == "stack" else slice(0, 2)])
