"""flambeau.autograd: Function, backward, grad, gradcheck and the grad-mode switches."""
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode
from .function import Function, FunctionCtx, once_differentiable, InplaceFunction, NestedIOFunction
from . import function, grad_mode, engine
from .engine import run_backward as _run_backward
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from . import functional
from . import anomaly_mode, graph, profiler, forward_ad
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .engine import _is_checkpoint_valid  # noqa: F401
from .. import _tensor


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (_tensor.Tensor, graph.GradientEdge)):
        return (x,)
    return tuple(x)


def _grads_tuple(grads, n, what):
    if grads is None:
        return (None,) * n
    grads = _as_tuple(grads) if not isinstance(grads, (int, float)) else (grads,)
    if len(grads) != n:
        raise RuntimeError(f"{what}: got {len(grads)} gradients for {n} outputs")
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulates d(tensors)/d(leaf) into each leaf's .grad (restricted to `inputs` if given)."""
    if grad_variables is not None:
        grad_tensors = grad_variables
    tensors = _as_tuple(tensors)
    grads = _grads_tuple(grad_tensors, len(tensors), "backward")
    inputs = _as_tuple(inputs)
    if inputs is not None and len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    _run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Returns d(outputs)/d(inputs) without touching any .grad."""
    if is_grads_batched:
        return _grad_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                             materialize_grads)
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if len(inputs) == 0:  # checked first, as PyTorch does
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = _grads_tuple(grad_outputs, len(outputs), "grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    res = _run_backward(outputs, grads, retain_graph, create_graph, inputs=inputs,
                        allow_unused=allow_unused, accumulate=False)
    if materialize_grads:
        if any(r is None and isinstance(x, graph.GradientEdge) for r, x in zip(res, inputs)):
            raise RuntimeError("materialize_grads cannot be used when the given input is a GradientEdge")
        from .._creation import zeros_like
        res = tuple(zeros_like(x) if r is None else r for r, x in zip(res, inputs))
    return res


def _grad_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused, materialize_grads):
    """grad(is_grads_batched=True): the first dim of every grad_output indexes independent
    vector-Jacobian products, one backward pass each (PyTorch vmaps them; the results are the same),
    stacked along a new first dim of every input's gradient."""
    outputs = _as_tuple(outputs)
    grads = _as_tuple(grad_outputs) if grad_outputs is not None else ()
    if len(grads) != len(outputs) or any(g is None for g in grads):
        raise RuntimeError("grad(is_grads_batched=True) needs one batched grad_output tensor per output")
    for i, (g, o) in enumerate(zip(grads, outputs)):
        if g.dim() == 0 or tuple(g.shape[1:]) != tuple(o.shape):
            raise RuntimeError("If `is_grads_batched=True`, we interpret the first dimension of each grad_output as "
                               "the batch dimension. The sizes of the remaining dimensions are expected to match the "
                               f"shape of corresponding output, but a mismatch was detected: grad_output[{i}] has a "
                               f"shape of {g.shape} and output[{i}] has a shape of {o.shape}. If you only want some "
                               "tensors in `grad_output` to be considered batched, consider using vmap.")
    n = grads[0].shape[0]
    if any(g.shape[0] != n for g in grads):
        raise RuntimeError("grad(is_grads_batched=True): every grad_output must have the same batch size")
    from .._functions.join import stack
    per = []
    keep = create_graph if retain_graph is None else retain_graph
    for b in range(n):
        per.append(grad(outputs, inputs, tuple(g[b] for g in grads), retain_graph=True if b < n - 1 else keep,
                        create_graph=create_graph, allow_unused=allow_unused, materialize_grads=materialize_grads))
    if n == 0:
        from .._creation import zeros
        return tuple(zeros((0,) + tuple(x.shape), dtype=x.dtype, device=x.device) for x in _as_tuple(inputs))
    return tuple(None if cols[0] is None else stack(list(cols)) for cols in zip(*per))


class Variable:
    """Legacy: Variable(t) returns t (optionally with requires_grad set), as in modern PyTorch."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        if volatile:
            import warnings
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          stacklevel=2)
        if requires_grad:
            data.requires_grad_(True)
        return data
