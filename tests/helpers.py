"""Op-parity helpers: run the same function on PyTorch (CPU, the oracle) and on flambeau, compare.

The style is tinygrad's `helper_test_op`: one call builds fresh random inputs in numpy, turns them into
torch and flambeau tensors (leaves that require grad), runs both forwards, compares the outputs, then
backpropagates the *same* random upstream gradient through both graphs and compares every input's
gradient.

    check_op(lambda a, b: a + b, shapes=[(3, 1), (1, 4)])                 # same code for both libraries
    check_op(lambda x: x.log(), shapes=[(7,)], positive=True, dtype="float64")
    check_op(lambda x: torch.max(x, dim=1), lambda x: flambeau.max(x, dim=1), shapes=[(3, 5)])

Options: `non_contiguous=True` feeds transposed / step-2 strided views instead of contiguous tensors
(gradients are then compared on the underlying leaves), `positive=True` draws inputs in [0.2, 2) (log,
sqrt, pow bases), `low`/`high` set the range, `inputs=` passes explicit numpy arrays, `dtype` may be one
name or one per input, `grad` may be one bool or one per input, `device` picks flambeau's device (the
oracle always runs on CPU).

Randomness comes from numpy's global generator, which tests/conftest.py seeds per test from the test id,
so each test sees fresh but reproducible inputs.
"""
import numpy as np
import pytest
import torch

import flambeau

FLOAT_DTYPES = ("float32", "float64")

# (atol, rtol) for forward values and for gradients.
FWD_TOL = {"float32": (1e-5, 1e-4), "float64": (1e-10, 1e-9)}
GRAD_TOL = {"float32": (1e-4, 1e-3), "float64": (1e-9, 1e-8)}

NP_DTYPE = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


def tdt(name):
    """torch dtype from a name ('float32' -> torch.float32)."""
    return getattr(torch, name)


def fdt(name):
    """flambeau dtype from a name ('float32' -> flambeau.float32)."""
    return getattr(flambeau, name)


def dtype_name(dt):
    """'float32' for torch.float32, flambeau.float32, 'float32', np.float32 ..."""
    if isinstance(dt, str):
        return dt
    s = str(dt)
    return s.split(".")[-1].strip("'>")


def get_rng(rng=None):
    if rng is not None:
        return rng
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


def rand_array(shape, dtype="float32", rng=None, low=-2.0, high=2.0, positive=False):
    """A fresh random numpy array. Floats are uniform in [low, high) (or [0.2, 2) when positive),
    int64 in [-5, 5] (or [1, 5]), bool fair coin flips."""
    rng = get_rng(rng)
    shape = tuple(shape)
    if dtype in FLOAT_DTYPES:
        lo, hi = (0.2, 2.0) if positive else (low, high)
        return rng.uniform(lo, hi, size=shape).astype(NP_DTYPE[dtype])
    if dtype == "int64":
        lo, hi = (1, 6) if positive else (-5, 6)
        return rng.integers(lo, hi, size=shape).astype(np.int64)
    if dtype == "bool":
        return rng.random(size=shape) < 0.5
    raise ValueError(dtype)


def to_np(t):
    """numpy copy of a flambeau or torch tensor (any device), or of a Python scalar."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    if isinstance(t, flambeau.Tensor):
        return np.array(t.detach().to("cpu").numpy(), copy=True)
    return np.asarray(t)


def fl_tensor(arr, device="cpu", requires_grad=False):
    """flambeau tensor holding a copy of numpy array `arr`."""
    return flambeau.tensor(arr, dtype=fdt(str(arr.dtype)), device=device, requires_grad=requires_grad)


def assert_close(fl, ref, atol=None, rtol=None, what="value", check_dtype=True):
    """flambeau tensor `fl` equals torch tensor `ref`: same shape, same dtype, values within tolerance
    (exact for int/bool; NaNs must match NaNs, infinities must match)."""
    assert isinstance(fl, flambeau.Tensor), f"{what}: expected a flambeau.Tensor, got {type(fl)}"
    assert tuple(fl.shape) == tuple(ref.shape), f"{what}: shape {tuple(fl.shape)} != torch {tuple(ref.shape)}"
    dn = dtype_name(ref.dtype)
    if check_dtype:
        assert dtype_name(fl.dtype) == dn, f"{what}: dtype {fl.dtype} != torch {ref.dtype}"
    a, b = to_np(fl), to_np(ref)
    if dn in FLOAT_DTYPES:
        d_atol, d_rtol = FWD_TOL[dn]
        np.testing.assert_allclose(a, b, atol=d_atol if atol is None else atol,
                                   rtol=d_rtol if rtol is None else rtol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten(o))
        return res
    return [out]


def _make_view(base, mode):
    """The non-contiguous view used for `non_contiguous=True`; works on torch and flambeau tensors."""
    if mode == "T":
        return base.transpose(-1, -2)
    if mode == "step":
        return base[..., ::2]
    return base


def _view_mode(shape, non_contiguous):
    if not non_contiguous or len(shape) == 0:
        return None
    if non_contiguous == "step" or len(shape) == 1:
        return "step"
    return "T"


def _base_shape(shape, mode):
    shape = list(shape)
    if mode == "T":
        shape[-1], shape[-2] = shape[-2], shape[-1]
    elif mode == "step":
        shape[-1] = 2 * shape[-1]
    return tuple(shape)


def make_inputs(shapes=None, inputs=None, dtype="float32", device="cpu", grad=True, non_contiguous=False,
                low=-2.0, high=2.0, positive=False, rng=None):
    """Build matching torch and flambeau inputs.

    Returns (torch_args, fl_args, torch_leaves, fl_leaves): the args are what the op sees (possibly
    non-contiguous views), the leaves are the tensors whose .grad is compared."""
    rng = get_rng(rng)
    if inputs is None:
        n = len(shapes)
    else:
        n = len(inputs)
    dtypes = [dtype] * n if isinstance(dtype, str) else list(dtype)
    grads = [grad] * n if isinstance(grad, bool) else list(grad)
    t_args, f_args, t_leaves, f_leaves = [], [], [], []
    for i in range(n):
        if inputs is not None:
            arr = np.asarray(inputs[i])
            dt = str(arr.dtype)
            if dt not in NP_DTYPE:
                raise ValueError(f"unsupported input dtype {arr.dtype}")
            shape = arr.shape
        else:
            dt, shape = dtypes[i], tuple(shapes[i])
            arr = None
        rg = bool(grads[i]) and dt in FLOAT_DTYPES
        mode = _view_mode(shape, non_contiguous)
        if arr is not None:
            if mode == "T":
                base_arr = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
            elif mode == "step":
                base_arr = np.repeat(arr, 2, axis=-1)
                base_arr[..., 1::2] = rand_array(arr.shape, dt, rng)
            else:
                base_arr = arr
        else:
            base_arr = rand_array(_base_shape(shape, mode), dt, rng, low=low, high=high, positive=positive)
        t_base = torch.tensor(base_arr, requires_grad=rg)
        f_base = fl_tensor(base_arr, device=device, requires_grad=rg)
        t_view, f_view = _make_view(t_base, mode), _make_view(f_base, mode)
        assert tuple(t_view.shape) == tuple(shape)
        t_args.append(t_view)
        f_args.append(f_view)
        if rg:
            t_leaves.append(t_base)
            f_leaves.append(f_base)
        else:
            t_leaves.append(None)
            f_leaves.append(None)
    return t_args, f_args, t_leaves, f_leaves


def check_op(torch_fn, fl_fn=None, shapes=None, *, inputs=None, dtype="float32", device="cpu", grad=True,
             atol=None, rtol=None, grad_atol=None, grad_rtol=None, non_contiguous=False, low=-2.0,
             high=2.0, positive=False, rng=None):
    """Compare `fl_fn(*flambeau_inputs)` with `torch_fn(*torch_inputs)`, forward and backward.

    `fl_fn` defaults to `torch_fn` (most expressions read the same in both libraries). Returns
    (torch_output, flambeau_output)."""
    fl_fn = torch_fn if fl_fn is None else fl_fn
    rng = get_rng(rng)
    t_args, f_args, t_leaves, f_leaves = make_inputs(shapes, inputs, dtype, device, grad, non_contiguous,
                                                     low, high, positive, rng)
    t_out = torch_fn(*t_args)
    f_out = fl_fn(*f_args)

    t_outs, f_outs = _flatten(t_out), _flatten(f_out)
    assert len(t_outs) == len(f_outs), f"torch returned {len(t_outs)} outputs, flambeau {len(f_outs)}"
    for k, (t, f) in enumerate(zip(t_outs, f_outs)):
        if not isinstance(t, torch.Tensor):
            assert not isinstance(f, flambeau.Tensor), f"output {k}: torch gives {type(t)}, flambeau a Tensor"
            assert f == t, f"output {k}: {f!r} != torch {t!r}"
            continue
        assert_close(f, t, atol, rtol, what=f"forward output {k}")
        if device != "cpu":
            assert f.device.type == flambeau.device(device).type, f"output {k} on {f.device}, expected {device}"
        assert bool(f.requires_grad) == bool(t.requires_grad), (
            f"output {k}: requires_grad {f.requires_grad} != torch {t.requires_grad}")

    # Backward: the same random upstream gradient through every differentiable output.
    diff = [(t, f) for t, f in zip(t_outs, f_outs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff or not any(l is not None for l in t_leaves):
        return t_out, f_out
    ups = [rand_array(tuple(t.shape), dtype_name(t.dtype), rng, low=-1.0, high=1.0) for t, _ in diff]
    if len(diff) == 1:
        (t, f), g = diff[0], ups[0]
        t.backward(torch.tensor(g))
        f.backward(fl_tensor(g, device=device))
    else:
        t_loss = sum((t * torch.tensor(g)).sum() for (t, _), g in zip(diff, ups))
        f_loss = None
        for (_, f), g in zip(diff, ups):
            term = (f * fl_tensor(g, device=device)).sum()
            f_loss = term if f_loss is None else f_loss + term
        t_loss.backward()
        f_loss.backward()
    for i, (tl, fl) in enumerate(zip(t_leaves, f_leaves)):
        if tl is None:
            continue
        dn = dtype_name(tl.dtype)
        g_atol, g_rtol = GRAD_TOL[dn]
        g_atol = g_atol if grad_atol is None else grad_atol
        g_rtol = g_rtol if grad_rtol is None else grad_rtol
        if tl.grad is None:
            assert fl.grad is None or not np.any(to_np(fl.grad)), f"input {i}: torch has no grad, flambeau has one"
            continue
        assert fl.grad is not None, f"input {i}: flambeau grad is None, torch has one"
        assert_close(fl.grad, tl.grad, g_atol, g_rtol, what=f"grad of input {i}")
    return t_out, f_out


def check_error(fn, exc, match=None, fl_fn=None):
    """`fn(torch)` must raise `exc` (so the expectation is PyTorch's behaviour), and `fn(flambeau)` (or
    `fl_fn(flambeau)`) must raise `exc` with a message matching the regex `match`."""
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc, match=match):
        (fl_fn or fn)(flambeau)


def shape_re(shape):
    """A regex matching a shape written as [2, 3] or (2, 3) or 2x3."""
    dims = [str(int(d)) for d in shape]
    return r"(\[{0}\]|\({0}\)|{1})".format(r",\s*".join(dims), "x".join(dims))


def run_python(code, env=None, timeout=300):
    """Run `code` in a fresh interpreter that imports the same flambeau as this test session.
    Returns the CompletedProcess (stdout/stderr as text)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    full_env = dict(os.environ)
    pkg_root = str(Path(flambeau.__file__).resolve().parent.parent)
    here = str(Path(__file__).resolve().parent)
    full_env["PYTHONPATH"] = os.pathsep.join([pkg_root, here] + [p for p in [full_env.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def with_cpu_capability(cap, fn):
    """fn() with the CPU capability forced to `cap` ('default', 'avx2', 'avx512'), restored after;
    skips the test where this CPU lacks it."""
    from flambeau import _C
    prev = _C.cpu_capability()
    try:
        _C.set_cpu_capability(cap)
        if _C.cpu_capability() != cap:
            pytest.skip(f"{cap} not supported here")
        return fn()
    finally:
        _C.set_cpu_capability(prev)


def on_each_cpu_capability(caps, fn):
    """[fn() under each capability of `caps` that this CPU has], in order; skips the test only when it
    has none of them (so that a comparison of leaves still runs its checks on an AVX2-only CPU)."""
    from flambeau import _C
    prev = _C.cpu_capability()
    out = []
    try:
        for cap in caps:
            _C.set_cpu_capability(cap)
            if _C.cpu_capability() == cap:
                out.append(fn())
    finally:
        _C.set_cpu_capability(prev)
    if not out:
        pytest.skip(f"none of {caps} supported here")
    return out


def expit64(v):
    """float64 logistic function without overflow: exp of a non-positive argument only."""
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
