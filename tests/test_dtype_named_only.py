"""float8_e4m3fn/e5m2 (and their fnuz forms) and uint16/32/64: dtypes flambeau names, with PyTorch's
properties, but does not compute in. Libraries list them in tables at import time (transformers maps
safetensors' "F8_E4M3" to torch.float8_e4m3fn); making a tensor of one raises a TypeError naming it."""
import pickle

import pytest
import torch

import flambeau

NAMES = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("name", NAMES)
def test_properties_like_pytorch(name):
    ours, theirs = getattr(flambeau, name), getattr(torch, name)
    assert (ours.is_floating_point, ours.is_signed, ours.itemsize, ours.is_complex) == \
        (theirs.is_floating_point, theirs.is_signed, theirs.itemsize, theirs.is_complex)
    assert repr(ours) == "flambeau." + name
    assert pickle.loads(pickle.dumps(ours)) is ours
    assert ours != flambeau.float32 and ours != flambeau.uint8


@pytest.mark.parametrize("name", NAMES)
def test_no_tensor_of_a_named_only_dtype(name):
    dt = getattr(flambeau, name)
    with pytest.raises(TypeError, match=f"unsupported dtype '{name}'"):
        flambeau.zeros(2, dtype=dt)
    with pytest.raises(TypeError, match=f"unsupported dtype '{name}'"):
        flambeau.ones(3).to(dt)
