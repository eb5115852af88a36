"""Zero-gradient links for backward formulas that read a forward input without depending on it.

PyTorch computes, for instance, max pooling's gradient as max_pool2d_with_indices_backward(grad, self, ...)
and relu's as threshold_backward(grad, result, 0): under create_graph=True that gradient requires grad
whenever `self` (or `result`) does, even though it is linear in `grad` alone, and differentiating it
gives `self` a zero gradient (derivatives.yaml: `self: zeros_like(self)`). Our backwards call the
kernel on `grad` only, so with a constant grad_output their result did not require grad: a second
`backward()` on it raised "does not require grad" where PyTorch's returns zeros.

`link_zero(value, ctx, {i: shape})` returns `value` joined in the graph to the edge of ctx's forward
input i, with a zero gradient of `shape` for it. It does something only inside a backward with grad mode
on (create_graph=True), so first-order training pays one flag test; the edge is the one recorded at
forward time, so nothing extra is kept alive either. The other helpers: link_zero_to (the same, to given
tensors: a forward result that is empty, or a backward formula's saved tensors), link_none_to (joined
with no gradient: vector_norm's ord=0), LinkedIdentity (a copy whose gradient is grad, linked).
"""
from .. import _C
from .._tensor import _wrap
from ..autograd.function import Function, _NO_EDGE, _edge
from ..autograd.grad_mode import _state as _gs


class _ZeroLink(Function):
    _builtin = True
    _grad_fn_name = "ZeroLinkBackward0"

    @staticmethod
    def backward(ctx, g):
        if ctx.twice is None:  # the operands of an empty result's gradients: none of their own (PyTorch's)
            return (g,) + (None,) * len(ctx.shapes)
        zeros = tuple(_wrap(_C.full(list(s), 0, dt, ctx.device)) for s, dt in zip(ctx.shapes, ctx.dtypes))
        if ctx.twice and _gs.enabled:  # those zeros are a *_backward(grad, input)'s: they require grad too
            edges = list(zip(ctx.next_functions[1:], ctx.shapes, ctx.dtypes))
            zeros = tuple(_link(z, edges, None if ctx.twice == "none" else False) for z in zeros)
        return (g,) + zeros


def link_zero(value, ctx, inputs):
    """value, joined to the graph edges of ctx's forward inputs {index: shape} that require grad (zero
    gradients of that shape and value's dtype); value itself when grad mode is off or none does."""
    if not _gs.enabled or value is None:
        return value
    nig = ctx.needs_input_grad
    dt = value._impl.dtype
    picked = [(ctx.next_functions[i], s, dt) for i, s in inputs.items() if i < len(nig) and nig[i]]
    return _link(value, picked) if picked else value


def link_zero_to(value, *tensors, twice=False):
    """value, joined with zero gradients (each of its tensor's dtype) to those of `tensors` that require
    grad (a backward formula's saved tensors, or the operands of an op whose result is empty), when grad
    mode is on. twice="zeros" or "none": those zero gradients are themselves joined to the operands
    under create_graph=True (an empty pooling's or convolution's gradients, which PyTorch computes with
    the operands as arguments), and differentiating them gives the operands zeros (pooling's
    `self: zeros_like(self)`) or no gradient (convolution_backward's double backward on an empty batch)."""
    if not _gs.enabled:
        return value
    picked = [(_edge(t), t._impl.shape, t._impl.dtype) for t in tensors if t is not None and t._rg]
    return _link(value, picked, twice) if picked else value


def link_none_to(value, *tensors):
    """value, joined to those of `tensors` that require grad with no gradient for them (PyTorch's
    derivatives that return an undefined gradient: vector_norm's for ord=0), when grad mode is on."""
    if not _gs.enabled:
        return value
    picked = [(_edge(t), t._impl.shape, t._impl.dtype) for t in tensors if t is not None and t._rg]
    return _link(value, picked, None) if picked else value


def _link(value, picked, twice=False):
    node = _ZeroLink._backward_cls()
    node.twice = twice
    node.device = value._impl.device
    node.shapes = tuple(s for _, s, _ in picked)
    node.dtypes = tuple(d for _, _, d in picked)
    rg = value._rg
    node.needs_input_grad = (rg,) + (True,) * len(picked)
    node.next_functions = (_edge(value) if rg else _NO_EDGE,) + tuple(e for e, _, _ in picked)
    out = _wrap(value._impl)
    out._rg = True
    out.grad_fn = node
    out._output_nr = 0
    return out


class LinkedIdentity(Function):
    """A copy of x whose gradient is grad itself, joined to x's graph under create_graph=True: PyTorch's
    result where its backward formula returns grad (or x) for a degenerate shape but reads x, e.g.
    logcumsumexp along a dim of size 1, cummax/cummin of an empty input."""

    _builtin = True
    _grad_fn_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x._impl.shape
        return _wrap(_C.clone(x._impl))

    @staticmethod
    def backward(ctx, g):
        return link_zero(g, ctx, {0: ctx.shape})
