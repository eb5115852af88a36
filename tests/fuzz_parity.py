"""What the fuzz-regression files share (tests/test_fuzz_regressions*.py): a case's outcome in one library, a
result as numpy, the comparison of two results, and `check`, which runs a case in both libraries."""
import math
import re
import warnings

import numpy as np

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


def same(t, f, path="result", rtol=0.0, atol=0.0):
    """PyTorch's result t and flambeau's f agree: tuples element by element, tensors in type, dtype, shape and
    values (within rtol/atol, NaN equal to NaN), anything else by ==."""
    if isinstance(t, (tuple, list)):
        assert isinstance(f, (tuple, list)) and len(t) == len(f), f"{path}: {t!r} vs {f!r}"
        for i, (a, b) in enumerate(zip(t, f)):
            same(a, b, f"{path}[{i}]", rtol, atol)
        return
    if isinstance(t, torch.Tensor):
        assert isinstance(f, flambeau.Tensor), f"{path}: got {type(f).__name__}"
        assert str(t.dtype).split(".")[-1] == str(f.dtype).split(".")[-1], f"{path}: dtype {t.dtype} vs {f.dtype}"
        assert tuple(t.shape) == tuple(f.shape), f"{path}: shape {tuple(t.shape)} vs {tuple(f.shape)}"
        np.testing.assert_allclose(to_numpy(f), to_numpy(t), rtol=rtol, atol=atol, equal_nan=True, err_msg=path)
        return
    assert t == f or (isinstance(t, float) and math.isnan(t) and math.isnan(f)), f"{path}: {t!r} vs {f!r}"


def check(fn, compare, names=None, same_exception_type=False):
    """fn(torch) and fn(flambeau) both return, and compare(torch's, flambeau's) passes; or both raise, flambeau's
    message matching the regex `names` and (same_exception_type) its exception of PyTorch's kind."""
    tok, tv = outcome(fn, torch)
    fok, fv = outcome(fn, flambeau)
    if not tok:
        assert not fok, f"PyTorch raises {type(tv).__name__}: {tv}, flambeau returned {fv!r}"
        if same_exception_type:
            assert isinstance(fv, type(tv)) or type(fv).__name__ == type(tv).__name__ or \
                (isinstance(tv, RuntimeError) and isinstance(fv, RuntimeError)), \
                f"PyTorch raises {type(tv).__name__}: {tv}; flambeau {type(fv).__name__}: {fv}"
        if names:
            assert re.search(names, str(fv)), f"flambeau's message {fv!s} does not match {names}"
        return
    assert fok, f"flambeau raises {type(fv).__name__}: {fv} where PyTorch returns"
    compare(tv, fv)
