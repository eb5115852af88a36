"""Forward-mode rules for model ops that otherwise went through the double-vjp (two backward
passes per op): pooling, dropout, group norm, reductions (var, std, logsumexp, 2-norm, max/min
along a dim, amax/amin), addcmul/addcdiv, glu, prelu, pow, and the losses. Same contract as _forward_rules.py:
`rule(ctx, args, outs, tangents)`, built from flambeau ops with the user's grad mode, so the
tangents are differentiable in reverse mode when their inputs are.
"""
from .. import _C, _tensor
from ._forward_rules import _add, _diagonal_rule, linear


def _picked_rule(spatial):
    """Max pooling picks one input element per output (ctx.indices: flat positions within each
    input plane or volume): the tangent is the tangent at that element."""
    def rule(ctx, args, outs, tans):
        t = tans[0]
        idx = ctx.indices
        ishape = tuple(idx.shape)
        lead = tuple(t.shape[:-spatial])
        r = t.reshape(lead + (-1,)).gather(-1, idx.reshape(ishape[:-spatial] + (-1,))).reshape(ishape)
        return (r, None) if len(outs) == 2 else r
    return rule


def _max_min_dim_rule(ctx, args, outs, tans):
    """max/min along dim: the tangent at the selected index."""
    t = tans[0]
    idx, = ctx.saved_tensors
    shape, dim, keepdim = ctx.args
    if not shape:
        return t.reshape(()), None
    if not keepdim:
        idx = idx.unsqueeze(dim)
    r = t.gather(dim, idx)
    return (r if keepdim else r.squeeze(dim)), None


def _reduce_dims(x, dims):
    return tuple(dims) if dims else tuple(range(x.dim()))


def _var_rule(ctx, args, outs, tans):
    """var: 2/(n - c) * sum((x - mean) * t)."""
    x, t = args[0], tans[0]
    shape, dims, c, keepdim = ctx.args
    d = _reduce_dims(x, dims)
    n = 1
    for k in d:
        n *= shape[k]
    scale = 2.0 / (n - c) if n - c > 0 else float("inf")
    return ((x - x.mean(dim=d, keepdim=True)) * t).sum(dim=d, keepdim=keepdim) * scale


def _std_rule(ctx, args, outs, tans):
    """std: sum((x - mean) * t) / ((n - c) * std)."""
    from ._forward_mode import strip
    x, t = args[0], tans[0]
    shape, dims, c, keepdim = ctx.args
    d = _reduce_dims(x, dims)
    n = 1
    for k in d:
        n *= shape[k]
    s = ((x - x.mean(dim=d, keepdim=True)) * t).sum(dim=d, keepdim=keepdim)
    return s / (strip(outs[0]) * float(n - c))


def _logsumexp_rule(ctx, args, outs, tans):
    """logsumexp: sum(softmax(x) * t) over the reduced dims."""
    from ._forward_mode import strip
    x, t = args[0], tans[0]
    shape, dims, keepdim = ctx.args
    d = _reduce_dims(x, dims)
    out = strip(outs[0])
    if not keepdim and x.dim():
        for k in sorted(d):
            out = out.unsqueeze(k)
    return ((x - out).exp() * t).sum(dim=d, keepdim=keepdim)


def _norm2_rule(ctx, args, outs, tans):
    """2-norm: sum(x * t) / norm, 0 where the norm is 0 (PyTorch's)."""
    from ._forward_mode import strip
    x, t = args[0], tans[0]
    shape, dims, keepdim = ctx.args
    d = _reduce_dims(x, dims)
    out = strip(outs[0])
    s = (x * t).sum(dim=d, keepdim=keepdim)
    zero = out == 0
    return (s / out.masked_fill(zero, 1.0)).masked_fill(zero, 0.0)


def _addcmul_rule(ctx, args, outs, tans):
    """s + v * a * b: ts + v * (ta * b + a * tb)."""
    s, a, b, v = args
    ts, ta, tb = tans[:3]
    r = None
    if ta is not None:
        r = ta * b
    if tb is not None:
        r = _add(r, a * tb)
    if r is not None and v != 1:
        r = r * v
    return _broadcast(_add(ts, r), outs[0])


def _addcdiv_rule(ctx, args, outs, tans):
    """s + v * a / b: ts + v * (ta / b - a * tb / b^2)."""
    s, a, b, v = args
    ts, ta, tb = tans[:3]
    r = None
    if ta is not None:
        r = ta / b
    if tb is not None:
        r = _add(r, -(a * tb) / (b * b))
    if r is not None and v != 1:
        r = r * v
    return _broadcast(_add(ts, r), outs[0])


def _broadcast(t, out):
    shape = tuple(out._impl.shape)
    return t if tuple(t.shape) == shape else t.expand(shape)


def _group_norm_rule(ctx, args, outs, tans):
    """Group norm: layer norm over each group of channels (and the spatial dims), then the
    per-channel affine map."""
    x, groups, w, b, eps = args
    tx, tw, tb = tans[0], tans[2], tans[3]
    n, c = x.shape[0], x.shape[1]
    bshape = [1, c] + [1] * (x.dim() - 2)
    xg = x.reshape(n, groups, -1)
    xc = xg - xg.mean(dim=2, keepdim=True)
    rstd = ((xc * xc).mean(dim=2, keepdim=True) + eps).rsqrt()
    xhat = xc * rstd
    r = None
    if tx is not None:
        tg = tx.reshape(n, groups, -1)
        r = (rstd * (tg - tg.mean(dim=2, keepdim=True) - xhat * (tg * xhat).mean(dim=2, keepdim=True)))
        r = r.reshape(tuple(x.shape))
        if w is not None:
            r = r * w.reshape(bshape)
    if tw is not None:
        r = _add(r, xhat.reshape(tuple(x.shape)) * tw.reshape(bshape))
    if tb is not None:
        tbb = tb.reshape(bshape)
        r = _add(r, tbb.expand(tuple(x.shape)) if r is None else tbb)
    return r


def _per_sample_loss_rule(ctx, args, outs, tans):
    """A loss whose every output element depends on one sample's row of the inputs (cross
    entropy: the classes along dim 1 of one sample; any reduction): J t is the row sums of
    (J^T 1) * t, one backward pass with a unit gradient (the double-vjp takes two)."""
    from .grad_mode import _state as gs
    oi = outs[0]._impl
    ones = _tensor._wrap(_C.full(list(oi.shape), 1, oi.dtype, oi.device))
    prev = gs.enabled
    gs.enabled = prev and (any(t is not None and t._rg for t in tans) or not ctx._fw_only)
    try:
        grads = ctx._forward_cls.backward(ctx, ones)
    finally:
        gs.enabled = prev
    r = None
    for g, t in zip(grads, tans):
        if t is None or g is None:
            continue
        p = g * t
        if oi.ndim == 0:
            p = p.sum()
        elif p.dim() == oi.ndim + 1:
            p = p.sum(1)
        r = _add(r, p)
    return r


def _elementwise_rule(ctx, args, outs, tans):
    """An op whose every output element depends on the same element of each tensor argument
    (pow, the pointwise losses): J t = sum_k (J_k^T 1) * t_k from one backward pass with a unit
    gradient. Valid when each argument with a tangent has the output's shape, or when the output
    is a scalar (a reduced loss: J t = <J^T 1, t> for any shapes); otherwise (a broadcast
    argument) the generic double-vjp."""
    from . import _forward_mode
    from .grad_mode import _state as gs
    oi = outs[0]._impl
    if oi.ndim and any(t is not None and t._impl.shape != oi.shape for t in tans):
        return _forward_mode._double_vjp(ctx._forward_cls, ctx, args, outs, tans, gs.enabled)
    return _per_sample_loss_rule(ctx, args, outs, tans)


def _glu_rule(ctx, args, outs, tans):
    """glu(x) = a * sigmoid(b) with (a, b) the halves of x along dim:
    ta * sigmoid(b) + a * sigmoid(b) (1 - sigmoid(b)) tb."""
    x, d = args
    a, b = x.chunk(2, d)
    ta, tb = tans[0].chunk(2, d)
    sb = b.sigmoid()
    return ta * sb + a * sb * (1.0 - sb) * tb


def _prelu_rule(ctx, args, outs, tans):
    """prelu(x, w) = x where x > 0, else w x (w along the channel dim): where(x > 0, tx, w tx + x tw)."""
    from .._functions.activation import _prelu_weight_view
    x, w = args
    tx, tw = tans
    wb = _prelu_weight_view(x, w)
    neg = None
    if tx is not None:
        neg = tx * wb
    if tw is not None:
        neg = _add(neg, x * _prelu_weight_view(x, tw))
    pos = tx if tx is not None else zeros_like(x)
    return pos.where(x > 0, neg)


def zeros_like(x):
    from ._forward_mode import zeros_for
    return zeros_for(x)


def _amax_amin_rule(ctx, args, outs, tans):
    """amax/amin over dims: the mean of the tangent over the elements attaining the extremum
    (ties share evenly, as PyTorch's)."""
    from ._forward_mode import strip
    x, t = args[0], tans[0]
    shape, dims, keepdim = ctx.args
    d = _reduce_dims(x, dims)
    out = strip(outs[0])
    ob = out
    if not keepdim and x.dim():
        for k in sorted(d):
            ob = ob.unsqueeze(k)
    mask = (x == ob).to(t.dtype)
    return (t * mask).sum(dim=d, keepdim=keepdim) / mask.sum(dim=d, keepdim=keepdim)


def install():
    from .._functions import pooling, pooling3d, dropout, normalization, reduction, pointwise, loss
    for cls in (pooling._MaxPool, pooling._AdaptiveMaxPool):
        cls._fw_rule = staticmethod(_picked_rule(2))
    for name in ("_MaxPool", "_AdaptiveMaxPool"):
        cls = getattr(pooling3d, name, None)
        if cls is not None:
            cls._fw_rule = staticmethod(_picked_rule(3))
    lin0 = linear((0,))
    for mod in (pooling, pooling3d):
        for name in ("_AvgPool", "_AdaptiveAvgPool"):
            cls = getattr(mod, name, None)
            if cls is not None:
                cls._fw_rule = staticmethod(lin0)
    dropout.Dropout._fw_rule = staticmethod(_diagonal_rule)  # t * mask / (1 - p)
    normalization.GroupNorm._fw_rule = staticmethod(_group_norm_rule)
    reduction.MaxDim._fw_rule = staticmethod(_max_min_dim_rule)
    reduction.MinDim._fw_rule = staticmethod(_max_min_dim_rule)
    reduction.Var._fw_rule = staticmethod(_var_rule)
    reduction.Std._fw_rule = staticmethod(_std_rule)
    reduction.LogSumExp._fw_rule = staticmethod(_logsumexp_rule)
    reduction.Norm2._fw_rule = staticmethod(_norm2_rule)
    pointwise.Addcmul._fw_rule = staticmethod(_addcmul_rule)
    pointwise.Addcdiv._fw_rule = staticmethod(_addcdiv_rule)
    loss.NllLoss._fw_rule = staticmethod(lin0)  # linear in the log-probabilities
    loss.CrossEntropy._fw_rule = staticmethod(_per_sample_loss_rule)
    for name in ("MseLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BinaryCrossEntropy",
                 "BinaryCrossEntropyWithLogits"):
        getattr(loss, name)._fw_rule = staticmethod(_elementwise_rule)
    from .._functions import elementwise, activation
    elementwise.Pow._fw_rule = staticmethod(_elementwise_rule)
    activation.Glu._fw_rule = staticmethod(_glu_rule)
    activation.PRelu._fw_rule = staticmethod(_prelu_rule)
    for cls in (reduction.Amax, reduction.Amin, reduction._MaxAll, reduction._MinAll):
        cls._fw_rule = staticmethod(_amax_amin_rule)
