"""flambeau.autograd.functional: jacobian, hessian, vjp, vector products (reverse mode only)."""
from .. import _tensor


def _tuple(x):
    return (x,) if isinstance(x, _tensor.Tensor) else tuple(x)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    from . import grad
    is_tensor = isinstance(inputs, _tensor.Tensor)
    ins = tuple(x.detach().requires_grad_(True) for x in _tuple(inputs))
    out = func(*ins)
    gs = grad(out, ins, v, create_graph=create_graph, allow_unused=True)
    from .._creation import zeros_like
    gs = tuple(zeros_like(x) if g is None else g for g, x in zip(gs, ins))
    out = out if create_graph else out.detach()
    return out, (gs[0] if is_tensor else gs)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """J[i][j] = d out_i / d in_j, each of shape out_i.shape + in_j.shape (tuples unwrapped like PyTorch)."""
    from . import grad
    from .._creation import zeros_like
    from .._functions.join import stack
    is_tensor_in = isinstance(inputs, _tensor.Tensor)
    ins = tuple(x.detach().requires_grad_(True) for x in _tuple(inputs))
    outs = func(*ins)
    is_tensor_out = isinstance(outs, _tensor.Tensor)
    outs = _tuple(outs)
    result = []
    for o in outs:
        flat = o.reshape(-1)
        rows = [[] for _ in ins]
        for i in range(flat.numel()):
            gs = grad(flat[i], ins, retain_graph=True, create_graph=create_graph, allow_unused=True)
            for j, (g, x) in enumerate(zip(gs, ins)):
                rows[j].append(zeros_like(x) if g is None else g)
        per_in = []
        for j, x in enumerate(ins):
            if rows[j]:
                J = stack(rows[j]).reshape(tuple(o.shape) + tuple(x.shape))
            else:
                J = zeros_like(x).reshape(tuple(o.shape) + tuple(x.shape))
            per_in.append(J if create_graph else J.detach())
        result.append(per_in[0] if is_tensor_in else tuple(per_in))
    return result[0] if is_tensor_out else tuple(result)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    is_tensor_in = isinstance(inputs, _tensor.Tensor)

    def grad_fn(*xs):
        from . import grad
        out = func(*xs)
        gs = grad(out, xs, create_graph=True, allow_unused=True)
        from .._creation import zeros_like
        gs = tuple(zeros_like(x) if g is None else g for g, x in zip(gs, xs))
        return gs[0] if is_tensor_in else gs

    return jacobian(grad_fn, inputs, create_graph=create_graph)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    from . import grad
    is_tensor = isinstance(inputs, _tensor.Tensor)
    ins = tuple(x.detach().requires_grad_(True) for x in _tuple(inputs))
    out = func(*ins)
    gs = grad(out, ins, create_graph=True)
    vs = _tuple(v)
    dot = sum((g * vv).sum() for g, vv in zip(gs, vs))
    hv = grad(dot, ins, create_graph=create_graph, allow_unused=True)
    return out.detach(), (hv[0] if is_tensor else hv)


vhp = hvp
