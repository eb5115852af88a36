"""flambeau.func: functional_call, stack_module_state and the function transforms grad,
grad_and_value, vjp, jvp, jacrev, jacfwd, hessian and vmap (see _transforms.py for how each is
computed: jvp and jacfwd in forward mode (autograd.forward_ad), the rest in reverse mode)."""
from collections.abc import Sequence

from ..nn.utils.stateless import _functional_call
from ._transforms import grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, vmap  # noqa: F401
from ._extras import linearize, replace_all_batch_norm_modules_, functionalize  # noqa: F401

__all__ = ["functional_call", "stack_module_state", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd",
           "hessian", "vmap", "linearize", "replace_all_batch_norm_modules_", "functionalize"]


def stack_module_state(models):
    """(params, buffers): every parameter and buffer of the same-structured `models` stacked along a new
    leading dim, keyed by name (for vmap over an ensemble with functional_call). The stacked
    parameters are new leaves that require grad; buffers are stacked as they are."""
    from .._functions.join import stack
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    ref = type(models[0])
    if not all(type(m) is ref for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    names = [k for k, _ in models[0].named_parameters()]
    params = {k: stack([dict(m.named_parameters())[k].detach() for m in models]).requires_grad_(True)
              for k in names}
    bnames = [k for k, _ in models[0].named_buffers()]
    buffers = {k: stack([dict(m.named_buffers())[k] for m in models]) for k in bnames}
    return params, buffers


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """module(*args, **kwargs) with the parameters and buffers named in `parameter_and_buffer_dicts`
    (one dict, or a sequence of dicts with distinct keys) used instead of the module's own for this
    call. Gradients flow to the given tensors. tie_weights: a value given for one name of a shared
    tensor is used for all its names; strict: every parameter and buffer must be given."""
    if isinstance(parameter_and_buffer_dicts, dict):
        parameters_and_buffers = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence) and not isinstance(parameter_and_buffer_dicts, str):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated_keys = [k for k, n in counts.items() if n > 1]
        if repeated_keys:
            raise ValueError(f"{repeated_keys} appeared in multiple dictionaries; behavior of functional "
                             "call is ambiguous")
        parameters_and_buffers = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, "
                         f"but got {type(parameter_and_buffer_dicts)}")
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights,
                            strict=strict)
