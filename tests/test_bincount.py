"""bincount without weights (one C++ pass, csrc/cpu/bincount.cpp) against PyTorch: every integer dtype,
empty input, minlength below and above max + 1, a strided view, and PyTorch's errors."""
import numpy as np
import pytest
import torch

import flambeau


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_bincount_matches_torch(dtype):
    rng = np.random.default_rng(3)
    for n, top, minlength in [(0, 1, 0), (0, 1, 5), (1, 1, 0), (513, 100, 0), (513, 100, 300), (1000, 127, 7)]:
        x = rng.integers(0, top, n).astype(dtype)
        f = flambeau.bincount(flambeau.from_numpy(x), minlength=minlength)
        t = torch.bincount(torch.from_numpy(x), minlength=minlength)
        assert f.dtype == flambeau.int64 and f.tolist() == t.tolist()
    x = rng.integers(0, 50, 101)
    assert flambeau.from_numpy(x)[::3].bincount().tolist() == torch.from_numpy(x)[::3].bincount().tolist()


def test_bincount_errors():
    with pytest.raises(RuntimeError, match="non-negative"):
        flambeau.bincount(flambeau.tensor([1, -2, 3]))
    with pytest.raises(RuntimeError, match="1-d"):
        flambeau.bincount(flambeau.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match="minlength should be >= 0"):
        flambeau.bincount(flambeau.tensor([1, 2]), minlength=-1)
    with pytest.raises(NotImplementedError, match="Float"):
        flambeau.bincount(flambeau.tensor([1.0]))
