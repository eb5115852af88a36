"""flambeau.device names every device type PyTorch does (libraries compare with device("meta") or
device("mps") without making tensors there: safetensors checks `t.device != torch.device("meta")` when it
saves), with PyTorch's error for a type no one knows; tensors live on cpu and cuda only, so asking for one
anywhere else raises a RuntimeError naming the device."""
import pytest
import torch

import flambeau

TYPES = ["meta", "mps", "xpu", "hpu", "xla", "privateuseone", "meta:0", "mps:1"]


@pytest.mark.parametrize("name", TYPES)
def test_device_objects_like_pytorch(name):
    ours, theirs = flambeau.device(name), torch.device(name)
    assert (ours.type, ours.index, str(ours), repr(ours)) == (theirs.type, theirs.index, str(theirs), repr(theirs))
    assert ours == flambeau.device(name) and ours == name
    assert ours != flambeau.device("cpu")
    assert flambeau.ones(1).device != ours


def test_unknown_type_raises_like_pytorch():
    with pytest.raises(RuntimeError) as theirs:
        torch.device("foo")
    with pytest.raises(RuntimeError) as ours:
        flambeau.device("foo")
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["mps", "xpu:0"])
def test_no_tensor_off_cpu_cuda_and_meta(name):
    # (meta tensors exist: tests/test_meta_device.py)
    dev = flambeau.device(name)
    with pytest.raises(RuntimeError, match=f"flambeau has no '{dev.type}' device"):
        flambeau.zeros(2, device=name)
    with pytest.raises(RuntimeError, match=f"flambeau has no '{dev.type}' device"):
        flambeau.ones(2).to(dev)
