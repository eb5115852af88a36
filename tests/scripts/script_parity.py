"""Shared helpers for the script-parity tests: scripts that return their records as plain dicts and lists
(test_nlp_*.py, test_api_idioms_scripts.py, test_train_*.py, test_domain_*.py) use these directly; the vision
tests' Recorder (vision_parity.py) is built on the same namespaces, conversion and comparison.

Each test holds one realistic PyTorch script written against module parameters (`lib.torch`, `lib.nn`,
`lib.F`, `lib.optim`), runs it once with PyTorch and once with flambeau from the same initial weights
(copied through numpy) on the same numpy data, and compares what the script records step by step."""
import types

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn
import flambeau.nn.functional
import flambeau.func
import flambeau.optim
import flambeau.optim.lr_scheduler
import flambeau.optim.swa_utils
import flambeau.utils.data
import torch.optim.swa_utils

def _libs(mod):
    """The namespace a script sees: what `import torch; import torch.nn as nn; ...` would give."""
    return types.SimpleNamespace(torch=mod, nn=mod.nn, F=mod.nn.functional, optim=mod.optim, data=mod.utils.data,
                                 func=mod.func, lr_scheduler=mod.optim.lr_scheduler,
                                 swa_utils=mod.optim.swa_utils, name=mod.__name__)


TORCH = _libs(torch)
FLAMBEAU = _libs(flambeau)


@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    """These scripts run thousands of tiny ops; on a shared, loaded machine PyTorch's intra-op thread pool makes
    them 10-40x slower (threads wait for each other), so the oracle runs on one thread here. Imported into
    each test module, which makes it autouse there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def to_np(x):
    """numpy copy of a tensor of either library, or of a Python number / list."""
    if isinstance(x, (torch.Tensor, flambeau.Tensor)):
        return x.detach().cpu().numpy().copy()
    return np.asarray(x)


def numpy_state(model):
    """A module's state_dict as numpy arrays (the bridge between the two libraries)."""
    return {k: to_np(v) for k, v in model.state_dict().items()}


def load_numpy_state(lib, model, state):
    """Load a numpy state (from numpy_state) into a module of library lib; keys must match exactly."""
    model.load_state_dict({k: lib.torch.from_numpy(np.array(v, copy=True)) for k, v in state.items()})


def assert_records_close(got, want, atol=2e-5, rtol=2e-4, path="record"):
    """Compare two nested records (dicts / lists / tuples of numbers and arrays) element by element."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_records_close(got[k], want[k], atol, rtol, f"{path}[{k!r}]")
    elif isinstance(want, (str, type(None))):
        assert got == want, f"{path}: {got!r} != {want!r}"
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_records_close(g, w, atol, rtol, f"{path}[{i}]")
    else:
        g, w = to_np(got), to_np(want)
        assert g.shape == w.shape, f"{path}: shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"{path}: dtype {g.dtype} != {w.dtype}"
        if g.dtype.kind not in "fc":  # integers, bools, strings: exactly
            np.testing.assert_array_equal(g, w, err_msg=path)
        else:
            np.testing.assert_allclose(g, w, atol=atol, rtol=rtol, err_msg=path)


def run_both_checked(script, *args, **kwargs):
    """script(lib, *args, **kwargs) with PyTorch, then with flambeau; returns both records, after checking
    that flambeau raised no warning category PyTorch did not raise in the same script."""
    import warnings
    caught = []
    records = []
    for lib in (TORCH, FLAMBEAU):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            records.append(script(lib, *args, **kwargs))
        caught.append([(w.category.__name__, str(w.message)) for w in got])
    assert_no_extra_warnings(caught[1], caught[0])
    return records[0], records[1]


def assert_no_extra_warnings(flambeau_warnings, torch_warnings):
    """Each a list of (category name, message): flambeau may not raise a category PyTorch did not."""
    torch_categories = {c for c, _ in torch_warnings}
    extra = [w for w in flambeau_warnings if w[0] not in torch_categories]
    assert not extra, f"flambeau warned where torch did not: {extra}"
