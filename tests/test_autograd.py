"""Autograd behaviour against PyTorch: requires_grad/.grad/.grad_fn/is_leaf, backward(gradient,
retain_graph), accumulation, detach, requires_grad_, retain_grad, broadcast gradients, no_grad/enable_grad
(context managers and decorators), custom autograd.Function, autograd.grad, gradcheck (and float64
gradchecks of every op family), clear errors for freed graphs and non-scalar outputs."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor, rand_array


def _pair(arr, device, requires_grad=True):
    return (torch.tensor(arr, requires_grad=requires_grad),
            fl_tensor(arr, device, requires_grad=requires_grad))


# ---- leaf / non-leaf bookkeeping ---------------------------------------------------------------------------

def test_leaf_attributes(device):
    x = flambeau.tensor([1.0, 2.0], device=device)
    assert x.requires_grad is False and x.grad is None and x.grad_fn is None and x.is_leaf
    w = flambeau.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert w.requires_grad is True and w.is_leaf and w.grad is None and w.grad_fn is None
    y = w * 2
    assert y.requires_grad is True and y.grad_fn is not None and not y.is_leaf
    z = x * 2
    assert z.requires_grad is False and z.grad_fn is None and z.is_leaf
    for make in (flambeau.zeros, flambeau.ones, flambeau.randn, flambeau.rand):
        t = make(2, 3, device=device, requires_grad=True)
        assert t.requires_grad and t.is_leaf


def test_backward_scalar(device, rng):
    a = rand_array((3, 4), "float64", rng)
    t, f = _pair(a, device)
    (t * t).sum().backward()
    (f * f).sum().backward()
    assert_close(f.grad, t.grad)
    np.testing.assert_allclose(f.grad.to("cpu").numpy(), 2 * a)
    assert not f.grad.requires_grad
    assert f.grad.dtype == flambeau.float64 and f.grad.shape == (3, 4)


def test_backward_with_gradient_argument(device, rng):
    a, g = rand_array((3, 4), "float32", rng), rand_array((3, 4), "float32", rng)
    t, f = _pair(a, device)
    t.exp().backward(torch.tensor(g))
    f.exp().backward(gradient=fl_tensor(g, device))
    assert_close(f.grad, t.grad)


def test_backward_on_0d_with_explicit_gradient(device):
    f = flambeau.tensor(3.0, device=device, requires_grad=True)
    (f * f).backward(flambeau.tensor(2.0, device=device))
    assert f.grad.item() == pytest.approx(12.0)


def test_gradient_accumulates_across_calls(device, rng):
    a = rand_array((5,), "float64", rng)
    t, f = _pair(a, device)
    for lib_x in (t, f):
        (lib_x * 3).sum().backward()
        (lib_x.sin()).sum().backward()
        (lib_x * lib_x).sum().backward()
    assert_close(f.grad, t.grad)
    np.testing.assert_allclose(f.grad.to("cpu").numpy(), 3 + np.cos(a) + 2 * a, rtol=1e-12)


def test_grad_reset_by_assigning_none(device):
    f = flambeau.tensor([1.0, 2.0], device=device, requires_grad=True)
    (f * 2).sum().backward()
    f.grad = None
    (f * 5).sum().backward()
    assert f.grad.tolist() == [5.0, 5.0]


def test_retain_graph_allows_second_backward(device, rng):
    a = rand_array((4,), "float64", rng)
    t, f = _pair(a, device)
    for x in (t, f):
        y = (x * x).exp().sum()
        y.backward(retain_graph=True)
        y.backward()
    assert_close(f.grad, t.grad)


def test_backward_twice_through_freed_graph_raises(device):
    for lib in (torch, flambeau):
        x = lib.tensor([1.0, 2.0], requires_grad=True) if lib is torch else \
            lib.tensor([1.0, 2.0], device=device, requires_grad=True)
        y = (x * x).exp().sum()
        y.backward()
        with pytest.raises(RuntimeError, match=r"(?i)second time|freed|retain_graph"):
            y.backward()


def test_backward_on_non_scalar_without_gradient_raises(device):
    t = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError):
        (t * 2).backward()
    f = flambeau.ones(2, 3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?i)scalar"):
        (f * 2).backward()


def test_backward_on_tensor_without_grad_raises(device):
    with pytest.raises(RuntimeError):
        (torch.ones(3) * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"(?i)requires? grad|grad_fn"):
        (flambeau.ones(3, device=device) * 2).sum().backward()


def test_detach(device, rng):
    a = rand_array((3,), "float32", rng)
    f = fl_tensor(a, device, requires_grad=True)
    d = f.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 42.0  # shares storage with f
    assert f[0].item() == 42.0
    # No gradient flows through the detached branch.
    check_op(lambda x: x * x.detach() + x.detach().exp(), shapes=[(3, 4)], device=device)


def test_requires_grad_(device):
    f = flambeau.zeros(3, device=device)
    r = f.requires_grad_()
    assert r is f and f.requires_grad and f.is_leaf
    f.requires_grad_(False)
    assert not f.requires_grad
    f.requires_grad = True
    assert f.requires_grad
    (f * 2).sum().backward()
    assert f.grad.tolist() == [2.0, 2.0, 2.0]


def test_retain_grad(device, rng):
    a = rand_array((2, 3), "float64", rng)
    t, f = _pair(a, device)
    res = []
    for x in (t, f):
        y = x * 3
        y.retain_grad()
        z = y.tanh()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert z.grad is None  # non-leaf, not retained
        z.sum().backward()
        res.append(y.grad)
    assert_close(res[1], res[0])


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((), (2, 3)), ((5,), (2, 3, 5)), ((2, 1, 4), (3, 1))],
                         ids=str)
def test_broadcast_gradients_are_summed_back(shapes, device):
    t, f = check_op(lambda a, b: a * b + a, shapes=list(shapes), device=device)


def test_broadcast_gradient_shapes(device):
    a = flambeau.ones(3, 1, device=device, requires_grad=True)
    b = flambeau.ones(4, device=device, requires_grad=True)
    c = flambeau.tensor(2.0, device=device, requires_grad=True)
    (a + b * c).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,) and c.grad.shape == ()
    assert a.grad.tolist() == [[4.0]] * 3 and b.grad.tolist() == [6.0] * 4 and c.grad.item() == 12.0


def test_diamond_and_reuse(device):
    check_op(lambda x: (lambda y: y * y + y.exp() - y.sum())(x * 2), shapes=[(3, 4)], device=device)
    check_op(lambda x, w: (x @ w + x @ w.T).tanh() * x,
             shapes=[(4, 4), (4, 4)], device=device)


def test_deep_graph_does_not_overflow_the_stack(device):
    x = flambeau.tensor([1.0], device=device, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 3000, rel=1e-4)


def test_grad_dtype_and_device_follow_leaf(device):
    x = flambeau.ones(3, device=device, requires_grad=True)
    (x.double() * 2).sum().backward()  # gradient flows back through the cast
    assert x.grad.dtype == flambeau.float32
    assert x.grad.device == x.device
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_manual_sgd_step_under_no_grad(device, rng):
    a = rand_array((3, 2), "float32", rng)
    t, f = _pair(a, device)
    for _ in range(3):
        for lib, w in ((torch, t), (flambeau, f)):
            (w ** 2).sum().backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
    assert_close(f, t)
    assert f.is_leaf and f.requires_grad


# ---- grad mode -----------------------------------------------------------------------------------------------

def test_no_grad_context(device):
    x = flambeau.ones(3, device=device, requires_grad=True)
    assert flambeau.is_grad_enabled()
    with flambeau.no_grad():
        assert not flambeau.is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with flambeau.enable_grad():
            assert flambeau.is_grad_enabled()
            z = x * 2
            assert z.requires_grad
        w = flambeau.zeros(2, device=device, requires_grad=True)
        assert w.requires_grad and w.is_leaf
    assert flambeau.is_grad_enabled()
    assert (x * 2).requires_grad


def test_no_grad_restores_state_after_exception():
    with pytest.raises(ValueError):
        with flambeau.no_grad():
            raise ValueError("boom")
    assert flambeau.is_grad_enabled()


def test_no_grad_and_enable_grad_decorators(device):
    x = flambeau.ones(3, device=device, requires_grad=True)

    @flambeau.no_grad()
    def f1(t):
        return t * 2

    @flambeau.no_grad
    def f2(t):
        return t * 2

    @flambeau.enable_grad()
    def g1(t):
        return t * 2

    @flambeau.enable_grad
    def g2(t):
        return t * 2

    assert not f1(x).requires_grad and not f2(x).requires_grad
    with flambeau.no_grad():
        assert g1(x).requires_grad and g2(x).requires_grad
        assert not flambeau.is_grad_enabled()
    assert f1.__name__ == "f1"  # functools.wraps


def test_set_grad_enabled(device):
    x = flambeau.ones(3, device=device, requires_grad=True)
    with flambeau.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    flambeau.set_grad_enabled(False)
    try:
        assert not flambeau.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        flambeau.set_grad_enabled(True)
    assert flambeau.is_grad_enabled()


def test_inference_results_do_not_require_grad_for_int_outputs(device):
    x = flambeau.randn(4, 5, device=device, requires_grad=True)
    for y in (x > 0, x.argmax(1), x.max(1)[1], x.long()):
        assert not y.requires_grad


# ---- custom Function -------------------------------------------------------------------------------------

def _make_scaled_exp(lib):
    class ScaledExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            y = x.exp() * scale
            ctx.save_for_backward(y)
            ctx.scale = scale
            ctx.grad_enabled_in_forward = lib.is_grad_enabled()
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y, None
    return ScaledExp


def test_custom_function_matches_torch(device):
    t_fn, f_fn = _make_scaled_exp(torch), _make_scaled_exp(flambeau)
    check_op(lambda x: t_fn.apply(x, 2.5) * x, lambda x: f_fn.apply(x, 2.5) * x, shapes=[(3, 4)], device=device)
    y = f_fn.apply(flambeau.ones(2, device=device, requires_grad=True), 1.0)
    assert y.requires_grad and y.grad_fn is not None


def test_custom_function_forward_runs_without_grad_tracking(device):
    seen = {}

    class Probe(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["enabled"] = flambeau.is_grad_enabled()
            y = x * 2
            seen["inner_requires_grad"] = y.requires_grad
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = flambeau.ones(3, device=device, requires_grad=True)
    out = Probe.apply(x)
    assert seen == {"enabled": False, "inner_requires_grad": False}
    assert out.requires_grad
    out.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_custom_function_needs_input_grad(device):
    recorded = []

    class Mul(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            recorded.append(tuple(ctx.needs_input_grad))
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b if ctx.needs_input_grad[0] else None
            gb = g * a if ctx.needs_input_grad[1] else None
            return ga, gb, None

    a = flambeau.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = flambeau.tensor([3.0, 4.0], device=device)
    Mul.apply(a, b, 2.0).sum().backward()
    assert recorded[-1] == (True, False, False)
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None
    b.requires_grad_()
    Mul.apply(a, b, 1.0).sum().backward()
    assert recorded[-1] == (True, True, False)
    assert b.grad.tolist() == [1.0, 2.0]


def test_custom_function_multiple_outputs(device):
    def make(lib):
        class SinCos(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.sin(), x.cos()

            @staticmethod
            def backward(ctx, gs, gc):
                (x,) = ctx.saved_tensors
                return gs * x.cos() - gc * x.sin()
        return lambda x: SinCos.apply(x)
    check_op(make(torch), make(flambeau), shapes=[(5,)], dtype="float64", device=device)


def test_custom_function_wrong_number_of_grads_raises(device):
    class Bad(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g  # should be two gradients

    a = flambeau.ones(2, device=device, requires_grad=True)
    b = flambeau.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?i)number of gradients|expected 2"):
        Bad.apply(a, b).sum().backward()


# ---- autograd.grad -------------------------------------------------------------------------------------

def test_autograd_grad(device, rng):
    a, b = rand_array((3,), "float64", rng), rand_array((3,), "float64", rng)
    ta, fa = _pair(a, device)
    tb, fb = _pair(b, device)
    tg = torch.autograd.grad((ta * tb).exp().sum(), (ta, tb))
    fg = flambeau.autograd.grad((fa * fb).exp().sum(), (fa, fb))
    assert isinstance(fg, tuple) and len(fg) == 2
    assert_close(fg[0], tg[0])
    assert_close(fg[1], tg[1])
    assert fa.grad is None and fb.grad is None  # grad() does not accumulate into .grad


def test_autograd_grad_with_grad_outputs_and_retain(device, rng):
    a, g = rand_array((2, 3), "float64", rng), rand_array((2, 3), "float64", rng)
    t, f = _pair(a, device)
    ty, fy = t.tanh(), f.tanh()
    tg = torch.autograd.grad(ty, t, grad_outputs=torch.tensor(g), retain_graph=True)
    fg = flambeau.autograd.grad(fy, f, grad_outputs=fl_tensor(g, device), retain_graph=True)
    assert_close(fg[0], tg[0])
    fg2 = flambeau.autograd.grad(fy.sum(), [f])
    assert_close(fg2[0], torch.autograd.grad(ty.sum(), [t])[0])


def test_autograd_grad_allow_unused(device):
    a = flambeau.ones(2, device=device, requires_grad=True)
    b = flambeau.ones(2, device=device, requires_grad=True)
    ga, gb = flambeau.autograd.grad((a * 3).sum(), (a, b), allow_unused=True)
    assert ga.tolist() == [3.0, 3.0] and gb is None
    with pytest.raises(RuntimeError):
        flambeau.autograd.grad((a * 3).sum(), (a, b))


# ---- gradcheck -----------------------------------------------------------------------------------------------

def _gc_inputs(shapes, device, rng, positive=False):
    return tuple(fl_tensor(rand_array(s, "float64", rng, positive=positive), device, requires_grad=True)
                 for s in shapes)


GRADCHECK_OPS = {
    "add_broadcast": (lambda a, b: a + b, [(3, 1), (1, 4)], False),
    "sub_mul": (lambda a, b: (a - b) * a, [(2, 3), (3,)], False),
    "div": (lambda a, b: a / b, [(2, 3), (2, 3)], True),
    "pow": (lambda a, b: a ** b, [(4,), (4,)], True),
    "pow_scalar": (lambda a: a ** 3 + 2 ** a, [(4,)], False),
    "neg_abs": (lambda a: -a.abs(), [(5,)], True),
    "exp_log_sqrt": (lambda a: a.exp() + a.log() + a.sqrt(), [(5,)], True),
    "trig": (lambda a: a.sin() * a.cos(), [(2, 3)], False),
    "tanh_sigmoid": (lambda a: a.tanh() + a.sigmoid(), [(2, 3)], False),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), [(6,)], False),
    "maximum_minimum": (lambda a, b: flambeau.maximum(a, b) + flambeau.minimum(a, b) * 2, [(3, 4), (4,)], False),
    "where": (lambda a, b: flambeau.where(a > 0, a, b), [(3, 4), (3, 4)], False),
    "sum_mean": (lambda a: a.sum(1, keepdim=True) * a.mean((0, 2)).sum(), [(2, 3, 4)], False),
    "var_std": (lambda a: a.var(1) + a.std(0, correction=0).sum(), [(3, 4)], False),
    "max_min": (lambda a: a.max(1)[0] + a.min(0)[0].sum() + a.max(), [(3, 4)], False),
    "prod": (lambda a: a.prod(1) + a.prod(), [(3, 4)], True),
    "logsumexp": (lambda a: a.logsumexp(1), [(3, 4)], False),
    "softmax": (lambda a: flambeau.softmax(a, 1) * flambeau.log_softmax(a, 0), [(3, 4)], False),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 2)], False),
    "matmul_vec": (lambda a, b: a @ b, [(4,), (4, 3)], False),
    "shape_ops": (lambda a: a.permute(2, 0, 1).reshape(4, 6).T.unsqueeze(0).expand(2, 6, 4).flatten(1), [(2, 3, 4)],
                  False),
    "cat_stack_split": (lambda a, b: flambeau.stack(flambeau.cat([a, b], 0).split(2, 0)[:2], 1), [(2, 3), (3, 3)],
                        False),
    "chunk_squeeze": (lambda a: a.chunk(2, 1)[1].squeeze(0) * 3, [(1, 5)], False),
    "getitem": (lambda a: a[1:, ::2][flambeau.tensor([0, 0, 1])] + a[..., None, 0].sum(), [(3, 5)], False),
    "getitem_mask": (lambda a: a[a > 0.5], [(3, 5)], False),
}


@pytest.mark.parametrize("name", list(GRADCHECK_OPS))
def test_gradcheck_ops(name, device, rng):
    fn, shapes, positive = GRADCHECK_OPS[name]
    inputs = _gc_inputs(shapes, device, rng, positive)
    assert flambeau.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_gradcheck_detects_wrong_backward(device, rng):
    def make(lib):
        class WrongExp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, g):
                (y,) = ctx.saved_tensors
                return g * y * 1.1  # wrong by 10%
        return WrongExp
    a = rand_array((3,), "float64", rng)
    t_in, f_in = torch.tensor(a, requires_grad=True), fl_tensor(a, device, requires_grad=True)
    with pytest.raises(RuntimeError):
        torch.autograd.gradcheck(make(torch).apply, (t_in,))
    with pytest.raises(RuntimeError):
        flambeau.autograd.gradcheck(make(flambeau).apply, (f_in,))
    assert flambeau.autograd.gradcheck(make(flambeau).apply, (f_in,), raise_exception=False) is False
    assert flambeau.autograd.gradcheck(lambda x: x.exp(), (f_in,), raise_exception=False) is True


def test_autograd_names_importable():
    from flambeau.autograd import Function, grad, gradcheck
    assert callable(grad) and callable(gradcheck) and isinstance(Function, type)


def test_autograd_grad_empty_inputs_error_matches_pytorch():
    for lib in (torch, flambeau):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="`inputs` argument to `grad\\(\\)` cannot be empty."):
            lib.autograd.grad((x * 2,), [])  # checked before the non-scalar output's missing grad_outputs
