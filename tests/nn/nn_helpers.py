"""Helpers for the nn tests: move weights and inputs between PyTorch (the oracle) and flambeau,
and check a module's forward, backward, parameter gradients and buffers against PyTorch's."""
import numpy as np
import torch

import flambeau

TOL = {"float32": dict(atol=2e-5, rtol=2e-4), "float64": dict(atol=1e-10, rtol=1e-9)}


def to_np(t):
    if isinstance(t, (torch.Tensor, flambeau.Tensor)):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def t2f(t, device="cpu", requires_grad=False):
    """A flambeau copy of a torch tensor (or numpy array)."""
    arr = to_np(t).copy()
    out = flambeau.from_numpy(arr)
    if device != "cpu":
        out = out.to(device)
    if requires_grad:
        out.requires_grad_(True)
    return out


def n2t(arr, requires_grad=False):
    t = torch.from_numpy(np.array(arr, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def copy_state(tmod, fmod, device="cpu"):
    """Load torch module tmod's state_dict into flambeau module fmod (same keys) on device."""
    fmod.load_state_dict({k: t2f(v) for k, v in tmod.state_dict().items()})
    return fmod.to(device)


def assert_close(actual, expected, dtype="float32", msg="", **tol):
    kw = dict(TOL[dtype])
    kw.update(tol)
    a, e = to_np(actual), to_np(expected)
    assert a.shape == e.shape, f"{msg}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, err_msg=msg, **kw)


def _flatten_out(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def check_module(tmod, fmod, inputs, device="cpu", dtype="float32", grad_inputs=None,
                 copy=True, check_buffers=True, **tol):
    """Run torch module tmod and flambeau module fmod on the same numpy inputs; compare outputs,
    input gradients, parameter gradients (by name) and buffers. inputs: list of numpy arrays
    (float arrays get requires_grad unless grad_inputs says otherwise)."""
    if copy:
        copy_state(tmod, fmod, device)
    if grad_inputs is None:
        grad_inputs = [np.asarray(x).dtype.kind == "f" for x in inputs]
    t_in = [n2t(x, g) for x, g in zip(inputs, grad_inputs)]
    f_in = [t2f(x, device, g) for x, g in zip(inputs, grad_inputs)]
    t_out = _flatten_out(tmod(*t_in))
    f_out = _flatten_out(fmod(*f_in))
    assert len(t_out) == len(f_out)
    for i, (a, e) in enumerate(zip(f_out, t_out)):
        assert_close(a, e, dtype, f"output {i}", **tol)
    diff_outs = [(a, e) for a, e in zip(f_out, t_out) if e.requires_grad]
    if diff_outs:
        t_loss, f_loss = 0, 0
        rng = np.random.default_rng(0)
        for a, e in diff_outs:
            g = rng.standard_normal(tuple(e.shape)).astype(to_np(e).dtype)
            t_loss = t_loss + (e * n2t(g)).sum()
            f_loss = f_loss + (a * t2f(g, device)).sum()
        t_loss.backward()
        f_loss.backward()
        for i, (ti, fi) in enumerate(zip(t_in, f_in)):
            if ti.requires_grad:
                assert fi.grad is not None, f"input {i} has no grad"
                assert_close(fi.grad, ti.grad, dtype, f"grad of input {i}", **tol)
        fparams = dict(fmod.named_parameters())
        for name, tp in tmod.named_parameters():
            if tp.grad is None:
                assert fparams[name].grad is None, f"param {name} should have no grad"
                continue
            assert fparams[name].grad is not None, f"param {name} has no grad"
            assert_close(fparams[name].grad, tp.grad, dtype, f"grad of {name}", **tol)
    if check_buffers:
        fbufs = dict(fmod.named_buffers())
        for name, tb in tmod.named_buffers():
            assert_close(fbufs[name], tb, dtype if tb.is_floating_point() else "float64",
                         f"buffer {name}", **tol)
    return t_out, f_out
