"""Run one script body twice, with PyTorch and with flambeau, and compare what it recorded.

A script is a function `body(lib, rec)`: `lib` holds the modules a script imports (`lib.torch`,
`lib.nn`, `lib.F`, `lib.optim`, `lib.data` = torch.utils.data, `lib.lr_scheduler`, `lib.swa_utils`),
`rec` is a Recorder. The script builds its models, calls `rec.sync(name, model)` right after building
each one (the PyTorch run stores its initial state_dict as numpy, the flambeau run loads it, so both
start from the same weights) and `rec.log(name, value)` for every loss / output / gradient worth
comparing. Data comes from numpy, so both runs see the same batches.

`run_both(body)` runs PyTorch first, then flambeau, checks that the two runs logged the same names in
the same order with the same shapes, dtypes and values (float32 tolerance unless told otherwise), and
that flambeau raised no warning PyTorch did not.
"""
import warnings

import torch

import flambeau
from script_parity import FLAMBEAU, TORCH, assert_no_extra_warnings, assert_records_close, to_np  # noqa: F401


class Recorder:
    def __init__(self, lib, states=None):
        self.lib = lib
        self.states = {} if states is None else states
        self.loading = states is not None
        self.logs = []

    def sync(self, name, model):
        """First run: remember model's initial state; second run: load it."""
        if not self.loading:
            self.states[name] = {k: to_np(v) for k, v in model.state_dict().items()}
            return model
        sd = {k: self.lib.torch.from_numpy(v.copy()) for k, v in self.states[name].items()}
        model.load_state_dict(sd)
        return model

    def log(self, name, value):
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                self.log(f"{name}[{i}]", v)
            return
        kind = type(value).__name__ if not isinstance(value, (torch.Tensor, flambeau.Tensor)) else "Tensor"
        self.logs.append((name, kind, to_np(value)))


def _run(body, lib, states, **kw):
    rec = Recorder(lib, states)
    # PyTorch's run on one thread: on this shared 2-core machine its OpenMP threads otherwise wait
    # on each other (a 0.1 s script took 5 s); the reference numbers do not depend on it
    threads = torch.get_num_threads()
    if lib is TORCH:
        torch.set_num_threads(1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            body(lib, rec, **kw)
    finally:
        torch.set_num_threads(threads)
    msgs = [(w.category.__name__, str(w.message)) for w in caught]
    return rec, msgs


def run_both(body, atol=2e-5, rtol=2e-4, tol=None, **kw):
    """Run body with PyTorch, then with flambeau; compare logs. tol: {name prefix: (atol, rtol)}."""
    ref, ref_warn = _run(body, TORCH, None, **kw)
    got, got_warn = _run(body, FLAMBEAU, ref.states, **kw)
    ref_names = [n for n, _, _ in ref.logs]
    got_names = [n for n, _, _ in got.logs]
    assert got_names == ref_names, f"logged names differ:\nflambeau {got_names}\ntorch    {ref_names}"
    tol = tol or {}
    for (name, rkind, r), (_, gkind, g) in zip(ref.logs, got.logs):
        assert gkind == rkind, f"{name}: flambeau gave a {gkind}, torch a {rkind}"
        a, rt = atol, rtol
        for prefix, (pa, pr) in tol.items():
            if name.startswith(prefix):
                a, rt = pa, pr
        assert_records_close(g, r, atol=a, rtol=rt, path=name)
    assert_no_extra_warnings(got_warn, ref_warn)
    return ref, got
