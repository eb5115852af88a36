"""torch._foreach_* against PyTorch: every operand form (scalar, scalar list, tensor, tensor list, alpha),
in-place forms updating the given tensors and returning the list, gradients through the out-of-place forms,
and PyTorch's errors for empty and mismatched lists."""
import numpy as np
import pytest
import torch

import flambeau

SHAPES = [(3,), (2, 4), (5, 1, 2)]


def _lists(n=1, positive=False):
    """n lists of fresh arrays, one array per shape."""
    out = []
    for _ in range(n):
        arrs = [np.random.standard_normal(s).astype(np.float32) for s in SHAPES]
        out.append([np.abs(a) + 0.5 for a in arrs] if positive else arrs)
    return out


def _t(lib, arrs, grad=False):
    return [lib.tensor(a.copy(), requires_grad=grad) for a in arrs]


def _close(got, want, atol=1e-6, rtol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), atol=atol, rtol=rtol)


UNARY = ["abs", "ceil", "cos", "erf", "exp", "expm1", "floor", "frac", "neg", "round", "sigmoid", "sign", "sin",
         "tanh", "trunc", "sqrt", "log", "log1p", "rsqrt", "reciprocal"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_out_of_place_and_inplace(name):
    a, = _lists(1, positive=name in ("sqrt", "log", "log1p", "rsqrt", "reciprocal"))
    want = getattr(torch, f"_foreach_{name}")(_t(torch, a))
    got = getattr(flambeau, f"_foreach_{name}")(_t(flambeau, a))
    assert isinstance(got, tuple)
    _close(got, want)
    ta, fa = _t(torch, a), _t(flambeau, a)
    getattr(torch, f"_foreach_{name}_")(ta)
    assert getattr(flambeau, f"_foreach_{name}_")(fa) is fa
    _close(fa, ta)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "clamp_min", "clamp_max"])
@pytest.mark.parametrize("form", ["scalar", "scalar_list", "tensor_list", "tensor"])
def test_binary_forms(name, form):
    a, b = _lists(2, positive=True)
    if form == "tensor" and name not in ("mul", "div"):
        pytest.skip("PyTorch takes a single tensor operand only for mul and div")
    ops = {
        "scalar": lambda lib: 0.75,
        "scalar_list": lambda lib: [0.5, -1.25, 2.0],
        "tensor_list": lambda lib: _t(lib, b),
        "tensor": lambda lib: lib.tensor(1.5),
    }
    other = {lib.__name__: ops[form](lib) for lib in (torch, flambeau)}
    want = getattr(torch, f"_foreach_{name}")(_t(torch, a), other["torch"])
    got = getattr(flambeau, f"_foreach_{name}")(_t(flambeau, a), other["flambeau"])
    _close(got, want)
    ta, fa = _t(torch, a), _t(flambeau, a)
    getattr(torch, f"_foreach_{name}_")(ta, other["torch"])
    assert getattr(flambeau, f"_foreach_{name}_")(fa, other["flambeau"]) is fa
    _close(fa, ta)


def test_add_sub_alpha_and_gradients():
    a, b = _lists(2)
    ta, fa = _t(torch, a, grad=True), _t(flambeau, a, grad=True)
    tb, fb = _t(torch, b, grad=True), _t(flambeau, b, grad=True)
    for name in ("add", "sub"):
        want = getattr(torch, f"_foreach_{name}")(ta, tb, alpha=-0.3)
        got = getattr(flambeau, f"_foreach_{name}")(fa, fb, alpha=-0.3)
        _close(got, want)
        sum((w * w).sum() for w in want).backward()
        sum((g * g).sum() for g in got).backward()
    _close([x.grad for x in fa + fb], [x.grad for x in ta + tb])


def test_lerp_addcmul_addcdiv_pow_norm_max():
    a, b, c = _lists(3, positive=True)
    for lib_w in (0.3, [0.1, 0.5, 0.9]):
        _close(flambeau._foreach_lerp(_t(flambeau, a), _t(flambeau, b), lib_w),
               torch._foreach_lerp(_t(torch, a), _t(torch, b), lib_w))
    _close(flambeau._foreach_lerp(_t(flambeau, a), _t(flambeau, b), _t(flambeau, c)),
           torch._foreach_lerp(_t(torch, a), _t(torch, b), _t(torch, c)))
    ta, fa = _t(torch, a), _t(flambeau, a)
    torch._foreach_lerp_(ta, _t(torch, b), 0.1)
    assert flambeau._foreach_lerp_(fa, _t(flambeau, b), 0.1) is fa
    _close(fa, ta)
    for name in ("addcmul", "addcdiv"):
        for value in (1, -0.5, [0.5, 1.0, 2.0]):
            _close(getattr(flambeau, f"_foreach_{name}")(_t(flambeau, a), _t(flambeau, b), _t(flambeau, c), value),
                   getattr(torch, f"_foreach_{name}")(_t(torch, a), _t(torch, b), _t(torch, c), value))
        ta, fa = _t(torch, a), _t(flambeau, a)
        getattr(torch, f"_foreach_{name}_")(ta, _t(torch, b), _t(torch, c), torch.tensor([0.5, 1.0, 2.0]))
        getattr(flambeau, f"_foreach_{name}_")(fa, _t(flambeau, b), _t(flambeau, c), flambeau.tensor([0.5, 1.0, 2.0]))
        _close(fa, ta)
    _close(flambeau._foreach_pow(_t(flambeau, a), 1.5), torch._foreach_pow(_t(torch, a), 1.5))
    _close(flambeau._foreach_pow(_t(flambeau, a), _t(flambeau, b)), torch._foreach_pow(_t(torch, a), _t(torch, b)))
    _close(flambeau._foreach_pow(2.0, _t(flambeau, a)), torch._foreach_pow(2.0, _t(torch, a)))
    for ord in (2, 1, float("inf")):
        _close(flambeau._foreach_norm(_t(flambeau, a), ord), torch._foreach_norm(_t(torch, a), ord))
    got = flambeau._foreach_norm(_t(flambeau, a), dtype=flambeau.float64)
    assert all(g.dtype == flambeau.float64 and g.dim() == 0 for g in got)
    _close(flambeau._foreach_max(_t(flambeau, a)), torch._foreach_max(_t(torch, a)))


def test_zero_copy_clone():
    a, b = _lists(2)
    fa = _t(flambeau, a)
    clones = flambeau._foreach_clone(fa)
    assert flambeau._foreach_zero_(fa) is fa
    assert all(float(x.abs().sum()) == 0 for x in fa)
    _close(clones, _t(torch, a))
    assert flambeau._foreach_copy_(fa, _t(flambeau, b)) is fa
    _close(fa, _t(torch, b))


def test_errors_match_pytorch():
    fa = _t(flambeau, _lists(1)[0])
    with pytest.raises(RuntimeError, match="at least one tensor"):
        flambeau._foreach_add([], 1)
    with pytest.raises(RuntimeError, match="same number of tensors, got 3 and 1"):
        flambeau._foreach_add(fa, [flambeau.ones(3)])
    with pytest.raises(RuntimeError, match="same number of elements as scalar list"):
        flambeau._foreach_mul(fa, [1.0])
    with pytest.raises(TypeError, match="_foreach_mul"):
        flambeau._foreach_mul(flambeau.ones(3), 2.0)
