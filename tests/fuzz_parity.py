"""The two pieces every fuzz-regression file shares (tests/test_fuzz_regressions*.py): a case's outcome in one
library, and a result as numpy for comparison."""
import warnings

import flambeau
import torch


def to_numpy(x):
    """A tensor of either library as a contiguous numpy array (bfloat16, which numpy lacks, as float32)."""
    x = x.detach()
    if x.dtype in (torch.bfloat16, flambeau.bfloat16):
        x = x.float()
    return x.contiguous().numpy()


def outcome(fn, lib):
    """(True, fn(lib)) or (False, the exception it raised); warnings silenced (PyTorch's deprecation ones)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return True, fn(lib)
        except Exception as e:  # noqa: BLE001 -- the callers compare the type and message
            return False, e
