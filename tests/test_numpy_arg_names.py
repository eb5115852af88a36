"""PyTorch accepts numpy's axis= for dim= and keepdims= for keepdim= (torch.cumprod(a, axis=0),
x.sum(axis=1, keepdims=True), as diffusion schedules and Spinning Up's SAC write them); flambeau's
functions and Tensor methods give the same results as PyTorch's for both spellings, and the same
TypeError when a dim is given twice or a required one is missing; shapes of the varargs-shape functions
may be given by keyword (x.reshape(shape=...), torch.zeros(size=...))."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close

# name -> extra positional args before dim; None where the op also takes keepdim(s)
REDUCTIONS = ["sum", "nansum", "mean", "nanmean", "prod", "amax", "amin", "argmax", "argmin", "all", "any", "var",
              "std", "logsumexp", "median", "nanmedian"]
OTHERS = {"cumsum": (), "cumprod": (), "softmax": (), "log_softmax": (), "squeeze": (), "unsqueeze": (),
          "count_nonzero": (), "diff": (), "sort": (), "argsort": (), "topk": (2,), "chunk": (2,), "unbind": ()}
TUPLE_RESULTS = {"max", "min", "median", "nanmedian", "kthvalue", "mode", "sort", "topk", "cummax", "cummin"}


def _both(rng, shape=(3, 4, 5)):
    a = rng.standard_normal(shape).astype(np.float32)
    return torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())


def _compare(got, want):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _compare(g, w)
    else:
        assert_close(got, want)


@pytest.mark.parametrize("method", [False, True])
@pytest.mark.parametrize("name", REDUCTIONS + ["max", "min", "kthvalue", "mode", "var_mean", "std_mean"])
def test_reductions_take_axis_and_keepdims(name, method, rng):
    t, f = _both(rng)
    if name in ("all", "any"):
        t, f = t > 0, f > 0
    if method and not hasattr(torch.Tensor, name):
        pytest.skip("no such Tensor method in PyTorch")
    extra = (2,) if name == "kthvalue" else ()
    for kw in (dict(axis=1), dict(axis=-1, keepdims=True), dict(axis=0, keepdim=True)):
        if method:
            want, got = getattr(t, name)(*extra, **kw), getattr(f, name)(*extra, **kw)
        else:
            want, got = getattr(torch, name)(t, *extra, **kw), getattr(flambeau, name)(f, *extra, **kw)
        _compare(got, want)
    if name in ("sum", "nansum", "mean", "nanmean", "amax", "amin", "var", "std", "logsumexp"):
        _compare(getattr(flambeau, name)(f, axis=(0, 2)), getattr(torch, name)(t, axis=(0, 2)))


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_dim_ops_take_axis(name, rng):
    t, f = _both(rng, (3, 1, 5) if name == "squeeze" else (3, 2, 5))
    extra = OTHERS[name]
    _compare(getattr(flambeau, name)(f, *extra, axis=1), getattr(torch, name)(t, *extra, axis=1))
    _compare(getattr(f, name)(*extra, axis=-1), getattr(t, name)(*extra, axis=-1))


def test_join_ops_take_axis(rng):
    (t1, f1), (t2, f2) = _both(rng, (2, 3)), _both(rng, (2, 3))
    for name in ("cat", "concat", "concatenate", "stack"):
        _compare(getattr(flambeau, name)([f1, f2], axis=1), getattr(torch, name)([t1, t2], axis=1))


def test_axis_gradients_match(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    t = torch.tensor(a, requires_grad=True)
    f = flambeau.tensor(a, requires_grad=True)
    (t.cumprod(axis=0).sum(axis=1, keepdims=True) * t.softmax(axis=1).mean(axis=1, keepdims=True)).sum().backward()
    (f.cumprod(axis=0).sum(axis=1, keepdims=True) * f.softmax(axis=1).mean(axis=1, keepdims=True)).sum().backward()
    assert_close(f.grad, t.grad)


@pytest.mark.parametrize("call", [
    lambda m, x: m.sum(x, 1, axis=0),
    lambda m, x: x.mean(dim=1, axis=0),
    lambda m, x: m.sum(x, 1, keepdim=True, keepdims=True),
    lambda m, x: m.cumsum(x),
    lambda m, x: m.cumprod(x),
    lambda m, x: m.logsumexp(x),
    lambda m, x: x.unsqueeze(),
    lambda m, x: m.cat([x, x], dim=1, axis=0),
])
def test_dim_given_twice_or_missing_is_torchs_type_error(call):
    with pytest.raises(TypeError) as te:
        call(torch, torch.ones(2, 3))
    with pytest.raises(TypeError) as fe:
        call(flambeau, flambeau.ones(2, 3))
    assert str(fe.value) == str(te.value)


# shapes given by keyword, as PyTorch allows for its varargs-shape functions (DiT's and MAE's unpatchify
# write x.reshape(shape=(n, h, w, p, p, c)))
SIZE_KEYWORD_CALLS = [
    ("reshape", lambda m, x: x.reshape(shape=(3, 2))), ("torch.reshape", lambda m, x: m.reshape(x, shape=(6,))),
    ("view", lambda m, x: x.view(size=(3, 2))), ("expand", lambda m, x: x.expand(size=(4, 2, 3))),
    ("repeat", lambda m, x: x.repeat(repeats=(2, 1))), ("permute", lambda m, x: x.permute(dims=(1, 0))),
    ("torch.permute", lambda m, x: m.permute(x, dims=(1, 0))),
    ("zeros", lambda m, x: m.zeros(size=(2, 3))), ("ones", lambda m, x: m.ones(size=[4])),
    ("empty", lambda m, x: m.empty(size=(2, 0)).shape), ("new_zeros", lambda m, x: x.new_zeros(size=(2,))),
    ("new_ones", lambda m, x: x.new_ones(size=(1, 2), dtype=m.float64)),
    ("new_empty", lambda m, x: x.new_empty(size=(3,)).shape),
    ("rand", lambda m, x: m.rand(size=(2, 3)).shape), ("randn", lambda m, x: m.randn(size=(5,)).shape),
]


@pytest.mark.parametrize("name,call", SIZE_KEYWORD_CALLS, ids=[c[0] for c in SIZE_KEYWORD_CALLS])
def test_shape_given_by_keyword(name, call, rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    want = call(torch, torch.from_numpy(a.copy()))
    got = call(flambeau, flambeau.from_numpy(a.copy()))
    if isinstance(want, torch.Size):
        assert tuple(got) == tuple(want)
    else:
        assert_close(got, want)


def test_shape_keyword_gradients_match(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    t = torch.tensor(a, requires_grad=True)
    f = flambeau.tensor(a, requires_grad=True)
    for x, g in ((t, torch.arange(24.0).reshape(4, 3, 2)), (f, flambeau.arange(24.0).reshape(4, 3, 2))):
        (x.permute(dims=(1, 0)).reshape(shape=(1, 3, 2)).expand(size=(4, 3, 2)) * g).sum().backward()
    assert_close(f.grad, t.grad)


def test_shape_given_both_ways_is_a_type_error():
    x = flambeau.ones(2, 3)
    for call in (lambda: x.reshape(3, 2, shape=(6,)), lambda: flambeau.zeros(2, size=(2,)),
                 lambda: x.permute(1, 0, dims=(1, 0))):
        with pytest.raises(TypeError, match="got multiple values for argument"):
            call()
