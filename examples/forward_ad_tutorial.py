"""PyTorch's "Forward-mode Automatic Differentiation" tutorial, section by section, under
`import flambeau as torch`. The only change from the tutorial: its random tensors come from numpy
(`randn` below), so that the same script run with `import torch` (tests/test_forward_ad.py does
both) sees the same numbers. Prints each section's result and keeps them in RESULTS.

    PYTHONPATH=python python examples/forward_ad_tutorial.py
"""
import numpy as np

import flambeau as torch
import flambeau.autograd.forward_ad as fwAD
import flambeau.nn as nn
from flambeau.func import functional_call, jvp

RESULTS = {}
_rng = np.random.default_rng(0)


def randn(*shape, dtype=None):
    t = torch.tensor(_rng.standard_normal(shape).astype(np.float32))
    return t if dtype is None else t.to(dtype)


def record(name, value):
    RESULTS[name] = value.detach().numpy().copy()
    print(f"{name}: shape {tuple(value.shape)}, sum {float(value.sum()):.6f}")


# ---- Basic usage
primal = randn(10, 10)
tangent = randn(10, 10)


def fn(x, y):
    return x ** 2 + y ** 2


with fwAD.dual_level():
    dual_input = fwAD.make_dual(primal, tangent)
    assert fwAD.unpack_dual(dual_input).tangent is tangent
    # A tangent whose layout differs from the primal's is copied
    dual_input_alt = fwAD.make_dual(primal, tangent.T)
    assert fwAD.unpack_dual(dual_input_alt).tangent is not tangent
    plain_tensor = randn(10, 10)
    dual_output = fn(dual_input, plain_tensor)
    jvp_basic = fwAD.unpack_dual(dual_output).tangent
record("basic", jvp_basic)
assert fwAD.unpack_dual(dual_output).tangent is None

# ---- Usage with Modules
model = nn.Linear(5, 5)
with torch.no_grad():
    model.weight.copy_(randn(5, 5) * 0.3)
    model.bias.copy_(randn(5))
input = randn(16, 5)
params = {name: p for name, p in model.named_parameters()}
tangents = {name: torch.tensor(_rng.random(tuple(p.shape)).astype(np.float32)) for name, p in params.items()}

with fwAD.dual_level():
    for name, p in params.items():
        delattr(model, name)
        setattr(model, name, fwAD.make_dual(p, tangents[name]))
    out = model(input)
    jvp_module = fwAD.unpack_dual(out).tangent
record("module", jvp_module)

# ---- Using the functional Module API
model = nn.Linear(5, 5)
with torch.no_grad():
    model.weight.copy_(params["weight"])
    model.bias.copy_(params["bias"])
dual_params = {}
with fwAD.dual_level():
    for name, p in params.items():
        dual_params[name] = fwAD.make_dual(p, tangents[name])
    out = functional_call(model, dual_params, input)
    jvp_functional = fwAD.unpack_dual(out).tangent
record("functional_call", jvp_functional)
assert np.allclose(RESULTS["functional_call"], RESULTS["module"], rtol=1e-6, atol=1e-6)


# ---- Custom autograd Function
class Fn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, foo):
        result = torch.exp(foo)
        # Tensors stored in ctx can be used in the subsequent forward grad computation.
        ctx.result = result
        return result

    @staticmethod
    def jvp(ctx, gI):
        gO = gI * ctx.result
        # If the tensor stored in ctx will not also be used in the backward pass, one can manually
        # free it using ``del``
        del ctx.result
        return gO


fn = Fn.apply
primal = randn(10, 10, dtype=torch.double).requires_grad_(True)
tangent = randn(10, 10)

with fwAD.dual_level():
    dual_input = fwAD.make_dual(primal, tangent)
    dual_output = fn(dual_input)
    jvp_custom = fwAD.unpack_dual(dual_output).tangent
record("custom_function", jvp_custom)

# It is important to use ``autograd.gradcheck`` to verify that your custom autograd Function
# computes the gradients correctly. By default, gradcheck only checks the backward-mode
# (reverse-mode) AD gradients; specify check_forward_ad=True to also check forward grads.
assert torch.autograd.gradcheck(Fn.apply, (primal,), check_forward_ad=True, check_backward_ad=False,
                                check_undefined_grad=False, check_batched_grad=False)

# ---- Functional API (torch.func.jvp)
primal0 = randn(10, 10)
tangent0 = randn(10, 10)
primal1 = randn(10, 10)
tangent1 = randn(10, 10)


def fn(x, y):
    return x ** 2 + y ** 2


primal_out, tangent_out = jvp(fn, (primal0, primal1), (tangent0, tangent1))
record("func_jvp_primal", primal_out)
record("func_jvp_tangent", tangent_out)

# ---- Using the functional API with Modules
model = nn.Linear(5, 5)
with torch.no_grad():
    model.weight.copy_(params["weight"])
    model.bias.copy_(params["bias"])
input = randn(16, 5)
tangents = tuple([torch.tensor(_rng.random(tuple(p.shape)).astype(np.float32)) for p in model.parameters()])
params = dict(model.named_parameters())


def func(params, input):
    return functional_call(model, params, input)


def func_params_only(params):
    return func(params, input)


model_output, jvp_out = jvp(func_params_only, (params,), ({k: t for k, t in zip(params, tangents)},))
record("func_jvp_module_output", model_output)
record("func_jvp_module_tangent", jvp_out)
