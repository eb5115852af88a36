"""torch.library.custom_op / register_fake / register_autograd / register_kernel / opcheck and torch.ops,
against PyTorch: the same operators defined in both libraries (numpy kernels, as in PyTorch's custom-op
tutorial), values, gradients through the registered autograd, schemas, and the errors."""
from typing import Optional

import numpy as np
import pytest
import torch

import flambeau
from dynamo_guard import keep_torch_distribution_validation  # noqa: F401  (autouse: PyTorch's dynamo turns it off)

LIBS = {"torch": torch, "flambeau": flambeau}


def define_ops(lib, ns):
    """numpy_sin (with autograd and fake), scaled_pair (two outputs, a float and a list argument),
    add_into (mutates `out`), no_grad_op (no autograd formula)."""
    Tensor = lib.Tensor

    @lib.library.custom_op(f"{ns}::numpy_sin", mutates_args=())
    def numpy_sin(x: Tensor, k: float = 1.0) -> Tensor:
        return lib.from_numpy(np.sin(x.detach().numpy()) * k)

    @numpy_sin.register_fake
    def _(x, k=1.0):
        return lib.empty_like(x)

    def setup_context(ctx, inputs, output):
        x, k = inputs
        ctx.save_for_backward(x)
        ctx.k = k

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.cos() * ctx.k, None

    numpy_sin.register_autograd(backward, setup_context=setup_context)

    @lib.library.custom_op(f"{ns}::scaled_pair", mutates_args=())
    def scaled_pair(x: Tensor, ys: list[Tensor], alpha: float) -> tuple[Tensor, Tensor]:
        return x * alpha, x * ys[0] + ys[1]

    def pair_setup(ctx, inputs, output):
        x, ys, alpha = inputs
        ctx.save_for_backward(x, ys[0])
        ctx.alpha = alpha

    def pair_backward(ctx, g_scaled, g_sum):
        x, y0 = ctx.saved_tensors
        return g_scaled * ctx.alpha + g_sum * y0, [g_sum * x, g_sum], None

    lib.library.register_autograd(f"{ns}::scaled_pair", pair_backward, setup_context=pair_setup)

    @lib.library.custom_op(f"{ns}::add_into", mutates_args={"out"})
    def add_into(x: Tensor, out: Tensor) -> None:
        out.copy_(out + x)

    @lib.library.custom_op(f"{ns}::no_grad_op", mutates_args=())
    def no_grad_op(x: Tensor, bias: Optional[Tensor] = None) -> Tensor:
        return x * 2 if bias is None else x * 2 + bias

    return {"numpy_sin": numpy_sin, "scaled_pair": scaled_pair, "add_into": add_into, "no_grad_op": no_grad_op}


OPS = {"torch": define_ops(torch, "fltest"), "flambeau": define_ops(flambeau, "fltest")}


def _pair(shape, grad=True):
    a = np.random.randn(*shape).astype(np.float32)
    return torch.tensor(a, requires_grad=grad), flambeau.tensor(a, requires_grad=grad)


def _close(f, t, tol=1e-5):
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=tol, rtol=tol)


@pytest.mark.parametrize("via_ops", [False, True])
def test_numpy_sin_forward_backward(via_ops):
    tx, fx = _pair((3, 4))
    if via_ops:
        t, f = torch.ops.fltest.numpy_sin(tx, k=2.5), flambeau.ops.fltest.numpy_sin.default(fx, k=2.5)
    else:
        t, f = OPS["torch"]["numpy_sin"](tx, 2.5), OPS["flambeau"]["numpy_sin"](fx, 2.5)
    _close(f, t)
    assert f.requires_grad and f.grad_fn is not None
    g = np.random.randn(3, 4).astype(np.float32)
    t.backward(torch.tensor(g))
    f.backward(flambeau.tensor(g))
    _close(fx.grad, tx.grad)


def test_two_outputs_list_argument_gradients():
    tx, fx = _pair((5,))
    ty0, fy0 = _pair((5,))
    ty1, fy1 = _pair((5,))
    ta, tb = OPS["torch"]["scaled_pair"](tx, [ty0, ty1], 0.5)
    fa, fb = OPS["flambeau"]["scaled_pair"](fx, [fy0, fy1], 0.5)
    _close(fa, ta)
    _close(fb, tb)
    g1, g2 = np.random.randn(5).astype(np.float32), np.random.randn(5).astype(np.float32)
    (ta * torch.tensor(g1) + tb * torch.tensor(g2)).sum().backward()
    (fa * flambeau.tensor(g1) + fb * flambeau.tensor(g2)).sum().backward()
    for f, t in ((fx, tx), (fy0, ty0), (fy1, ty1)):
        _close(f.grad, t.grad)


def test_mutating_op_and_missing_autograd():
    tx, fx = _pair((4,), grad=False)
    to, fo = _pair((4,), grad=False)
    assert OPS["torch"]["add_into"](tx, to) is None and OPS["flambeau"]["add_into"](fx, fo) is None
    _close(fo, to)
    tx, fx = _pair((4,))
    for lib, x in (("torch", tx), ("flambeau", fx)):
        y = OPS[lib]["no_grad_op"](x, bias=None)
        assert y.requires_grad
        with pytest.raises(RuntimeError, match="no autograd formula was registered"):
            y.sum().backward()


def test_kernel_runs_without_autograd_and_outputs_may_not_alias():
    seen = {}

    @flambeau.library.custom_op("fltest2::probe", mutates_args=())
    def probe(x: flambeau.Tensor) -> flambeau.Tensor:
        seen["grad"] = flambeau.is_grad_enabled()
        return x.clone()
    probe(flambeau.ones(2, requires_grad=True))
    assert seen["grad"] is False  # as torch's kernels run below the Autograd key

    for lib in (torch, flambeau):
        @lib.library.custom_op("fltest2::alias", mutates_args=())
        def alias(x: lib.Tensor) -> lib.Tensor:
            return x
        with pytest.raises(RuntimeError, match="must not also be an input"):
            alias(lib.ones(2))


def test_register_kernel_per_device():
    calls = []

    @flambeau.library.custom_op("fltest2::dev", mutates_args=())
    def dev(x: flambeau.Tensor) -> flambeau.Tensor:
        calls.append("default")
        return x + 1

    @dev.register_kernel("cpu")
    def _(x):
        calls.append("cpu")
        return x + 2
    assert float(dev(flambeau.zeros(1))) == 2.0 and calls == ["cpu"]


def test_schemas_match_pytorch():
    for name in ("numpy_sin", "scaled_pair", "add_into", "no_grad_op"):
        t_schema = str(OPS["torch"][name]._opoverload._schema)
        f_schema = OPS["flambeau"][name]._schema
        # PyTorch prints a float default as '1.' once parsed; infer_schema writes str(1.0)
        assert f_schema.replace("=1.0", "=1.") == t_schema, (f_schema, t_schema)

    def f(x: torch.Tensor, n: int, *, scale: float = 2.0, ys: Optional[list[int]] = None) -> list[torch.Tensor]:
        ...

    def g(x: flambeau.Tensor, n: int, *, scale: float = 2.0, ys: Optional[list[int]] = None) -> list[flambeau.Tensor]:
        ...
    assert flambeau.library.infer_schema(g, mutates_args=()) == torch.library.infer_schema(f, mutates_args=())


@pytest.mark.parametrize("case,match", [("no_annotation", "must have a type annotation"),
                                        ("unsupported", "unsupported type"),
                                        ("mutates_unknown_name", "were not found in the custom op's signature")])
def test_schema_errors(case, match):
    for lib in (torch, flambeau):
        T = lib.Tensor
        fns = {"no_annotation": (lambda x: x, ()),
               "unsupported": (eval("lambda x: x", {}), ()),
               "mutates_unknown_name": (None, ("y",))}
        fn, mutates = fns[case]
        if case == "unsupported":
            def fn(x: dict) -> T:  # noqa: F811
                return x
        if case == "mutates_unknown_name":
            def fn(x: T) -> T:  # noqa: F811
                return x
        with pytest.raises(ValueError, match=match):
            lib.library.custom_op(f"fltest3::{case}_{lib.__name__}", mutates_args=mutates)(fn)


def test_opcheck_results_match_pytorch():
    tx, fx = _pair((3,))
    expected = {"test_schema": "SUCCESS", "test_autograd_registration": "SUCCESS", "test_faketensor": "SUCCESS",
                "test_aot_dispatch_dynamic": "SUCCESS"}
    assert torch.library.opcheck(OPS["torch"]["numpy_sin"], (tx, 2.0)) == expected
    assert flambeau.library.opcheck(OPS["flambeau"]["numpy_sin"], (fx, 2.0)) == expected
    # no fake impl, no autograd: the same two tests fail in both
    for lib, x in (("torch", tx), ("flambeau", fx)):
        mod = LIBS[lib]
        res = mod.library.opcheck(OPS[lib]["no_grad_op"], (x,), raise_exception=False)
        assert res["test_schema"] == res["test_autograd_registration"] == "SUCCESS"
        assert "no fake impl registered" in str(res["test_faketensor"])
        assert "no autograd formula" in str(res["test_aot_dispatch_dynamic"])


def test_opcheck_catches_undeclared_mutation_and_bad_fake():
    for lib in (torch, flambeau):
        T = lib.Tensor

        @lib.library.custom_op(f"fltest4::sneaky_{lib.__name__}", mutates_args=())
        def sneaky(x: T) -> T:
            x.add_(1)
            return x.clone()
        with pytest.raises(Exception, match="Argument x is not defined as mutable but was mutated"):
            lib.library.opcheck(sneaky, (lib.zeros(3),), test_utils="test_schema")

        @lib.library.custom_op(f"fltest4::badfake_{lib.__name__}", mutates_args=())
        def badfake(x: T) -> T:
            return x.clone()

        @badfake.register_fake
        def _(x):
            return x.new_empty(5)
        with pytest.raises(Exception, match="mismatched tensor metadata: Shapes"):
            lib.library.opcheck(badfake, (lib.zeros(3),), test_utils="test_faketensor")


def test_ops_namespace_errors():
    with pytest.raises(AttributeError, match="has no attribute 'nothere'"):
        flambeau.ops.fltest.nothere
    with pytest.raises(ValueError, match="no operator"):
        flambeau.library.register_fake("fltest::missing", lambda x: x)
    with pytest.raises(ValueError, match="namespace::opname"):
        flambeau.library.custom_op("nonamespace", lambda x: x, mutates_args=())
