"""flambeau.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp (reverse mode; jvp by the
double-backward trick, as PyTorch computes it)."""
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


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): PyTorch's double-backward trick. With u a dummy cotangent the vjp
    g(u) = J^T u is linear in u, so d<g(u), v>/du = J v."""
    from . import grad
    from .._creation import zeros_like
    ins = tuple(x.detach().requires_grad_(True) for x in _tuple(inputs))
    if v is None:
        if not all(x.numel() == 1 for x in ins):
            raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                               "single Tensor with a single element.")
        vs = tuple(x.new_ones(x.shape) for x in ins)
    else:
        vs = _tuple(v)
    if len(vs) != len(ins):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(ins)} but got {len(vs)}.")
    for x, vv in zip(ins, vs):
        if tuple(x.shape) != tuple(vv.shape):
            raise RuntimeError(f"Entry 0 in v has invalid size: should be {tuple(x.shape)} but got "
                               f"{tuple(vv.shape)}.")
    from .grad_mode import enable_grad
    with enable_grad():
        outs = func(*ins)
        is_tensor_out = isinstance(outs, _tensor.Tensor)
        outs = _tuple(outs)
        us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
        diff = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
        jv = [None] * len(outs)
        if diff:
            gs = grad(tuple(o for o, _ in diff), ins, tuple(u for _, u in diff), create_graph=True, allow_unused=True)
            pairs = [(g, vv) for g, vv in zip(gs, vs) if g is not None and g.requires_grad]
            if pairs:
                jv = list(grad(tuple(g for g, _ in pairs), us, tuple(vv for _, vv in pairs),
                               create_graph=create_graph, allow_unused=True))
    jv = tuple(zeros_like(o.detach()) if j is None else (j if create_graph else j.detach()) for j, o in zip(jv, outs))
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return (outs[0], jv[0]) if is_tensor_out else (outs, jv)
