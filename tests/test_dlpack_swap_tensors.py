"""torch.utils.dlpack (to_dlpack / from_dlpack round trips with numpy and PyTorch, shared memory) and
torch.utils.swap_tensors (contents exchanged, identities kept), against PyTorch."""
import weakref

import numpy as np
import pytest
import torch

import flambeau
from flambeau.utils import dlpack as fdl


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_round_trips_share_memory(dtype):
    a = (np.random.randn(3, 4) * 10).astype(dtype)
    f = flambeau.tensor(a)
    t = torch.utils.dlpack.from_dlpack(fdl.to_dlpack(f))  # flambeau -> capsule -> PyTorch
    np.testing.assert_array_equal(t.numpy(), a)
    back = fdl.from_dlpack(torch.utils.dlpack.to_dlpack(t))  # PyTorch -> capsule -> flambeau
    np.testing.assert_array_equal(back.numpy(), a)
    if dtype == "float32":
        f[0, 0] = 123.0  # all three share one buffer
        assert t[0, 0].item() == 123.0 and back[0, 0].item() == 123.0
    n = fdl.from_dlpack(np.ascontiguousarray(a.T))  # any __dlpack__ object
    np.testing.assert_array_equal(n.numpy(), a.T)


def test_to_dlpack_of_a_tensor_requiring_grad_and_views():
    a = np.random.randn(4, 5).astype(np.float32)
    f = flambeau.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    np.testing.assert_array_equal(torch.from_dlpack(fdl.to_dlpack(f)).numpy(),
                                  torch.from_dlpack(torch.utils.dlpack.to_dlpack(t)).detach().numpy())
    v = flambeau.tensor(a)[:, 1::2].t()  # a strided view keeps its strides through DLPack
    np.testing.assert_array_equal(torch.from_dlpack(fdl.to_dlpack(v)).numpy(), a[:, 1::2].T)
    assert int(fdl.DLDeviceType.kDLCPU) == int(torch.utils.dlpack.DLDeviceType.kDLCPU)
    assert int(fdl.DLDeviceType.kDLCUDA) == int(torch.utils.dlpack.DLDeviceType.kDLCUDA)


def _state(t):
    return (t.detach().numpy().copy(), t.dtype, tuple(t.shape), t.requires_grad, type(t).__name__,
            None if t.grad is None else t.grad.numpy().copy())


def test_swap_tensors_matches_pytorch():
    a = np.random.randn(2, 3).astype(np.float32)
    b = np.random.randn(5).astype(np.float64)
    states = {}
    for lib in (torch, flambeau):
        t1 = lib.nn.Parameter(lib.tensor(a))
        t2 = lib.nn.Parameter(lib.tensor(b), requires_grad=False)
        t1.sum().backward()
        t1.note = "one"
        id1, id2 = id(t1), id(t2)
        lib.utils.swap_tensors(t1, t2)
        assert id(t1) == id1 and id(t2) == id2
        assert t2.note == "one" and not hasattr(t1, "note")
        states[lib] = (_state(t1), _state(t2))
    for (ft, tt) in zip(states[flambeau], states[torch]):
        np.testing.assert_array_equal(ft[0], tt[0])
        assert str(ft[1]).split(".")[-1] == str(tt[1]).split(".")[-1] and ft[2:5] == tt[2:5]
        assert (ft[5] is None) == (tt[5] is None)
        if ft[5] is not None:
            np.testing.assert_array_equal(ft[5], tt[5])


def test_swapped_parameter_trains_and_module_sees_it():
    lin = flambeau.nn.Linear(3, 2)
    new_w = flambeau.nn.Parameter(flambeau.ones(2, 3))
    w = lin.weight
    flambeau.utils.swap_tensors(w, new_w)
    assert lin.weight is w and float(lin.weight.sum()) == 6.0
    lin(flambeau.ones(4, 3)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((2, 3), 4.0))


def test_swap_tensors_errors():
    t1, t2 = flambeau.ones(2), flambeau.zeros(2)
    r = weakref.ref(t1)
    with pytest.raises(RuntimeError, match="weakref"):
        flambeau.utils.swap_tensors(t1, t2)
    del r
    with pytest.raises(TypeError, match="Tensors"):
        flambeau.utils.swap_tensors(t1, 3)


def test_backward_through_a_graph_recorded_before_the_swap_raises():
    for lib in (torch, flambeau):
        p = lib.nn.Parameter(lib.ones(3))
        y = (p * 2).sum()
        lib.utils.swap_tensors(p, lib.nn.Parameter(lib.zeros(3)))
        with pytest.raises(RuntimeError, match="poisoned by swap_tensors"):
            y.backward()


def test_toplevel_to_dlpack_accepts_requires_grad_as_pytorch():
    a = np.random.randn(3).astype(np.float32)
    t = torch.from_dlpack(torch.to_dlpack(torch.tensor(a, requires_grad=True)))
    f = torch.from_dlpack(flambeau.to_dlpack(flambeau.tensor(a, requires_grad=True)))
    np.testing.assert_array_equal(f.numpy(), t.detach().numpy())
