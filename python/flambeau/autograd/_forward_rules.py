"""Forward-mode rules for the commonest ops (see _forward_mode.py): exact and as cheap as the op.

A rule is `rule(ctx, args, outs, tangents) -> tangent or tuple of tangents`, where args are the
op's arguments (forward-only tracking stripped) and tangents[i] is args[i]'s tangent or None. It
runs with the forward-AD hook off and the user's grad mode, built from flambeau ops, so the
tangents it returns are differentiable in reverse mode when their inputs are.

- linear(positions): the op is linear in the tensors at `positions` jointly (views, copies,
  sums, concatenation, indexing, add/sub): its tangent is the op applied to their tangents (zeros
  where an input has none), the other arguments kept.
- bilinear(i, j): product rule, op(t_i, a_j) + op(a_i, t_j) (mul, mm, bmm).
- Linear and convolution: bilinear in (input, weight) plus the bias' tangent.
- division: ta / b - y tb / b; log_softmax; layer_norm and batch_norm (written out below).
- diagonal: elementwise ops of one tensor (exp, tanh, relu, gelu, clamp, x ** c, ...) and softmax
  have a symmetric Jacobian, so J t = J^T t: the op's own backward applied to the tangent.
Every other op falls back to the generic double-vjp of _forward_mode.
"""
from .. import _tensor
from ._forward_mode import zeros_for


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def linear(positions=None):
    def rule(ctx, args, outs, tans):
        cls = ctx._forward_cls
        Tensor = _tensor.Tensor
        pos = positions if positions is not None else \
            tuple(i for i, a in enumerate(args) if isinstance(a, Tensor) and a.is_floating_point())
        new = list(args)
        for i in pos:
            a = args[i]
            if isinstance(a, Tensor):
                t = tans[i]
                new[i] = t if t is not None else zeros_for(a)
            elif isinstance(a, (int, float)) and not isinstance(a, bool):
                new[i] = 0  # a constant operand (x[i] = 3.0) contributes no tangent
        return cls.apply(*new)
    return rule


def bilinear(i, j):
    def rule(ctx, args, outs, tans):
        cls = ctx._forward_cls
        r = None
        if tans[i] is not None:
            new = list(args)
            new[i] = tans[i]
            r = cls.apply(*new)
        if tans[j] is not None:
            new = list(args)
            new[j] = tans[j]
            r = _add(r, cls.apply(*new))
        return r
    return rule


def _linear_rule(ctx, args, outs, tans):
    """y = x W^T + b: ty = tx W^T + x tW^T + tb."""
    from .._functions.linear import Linear
    x, w, b = args
    tx, tw, tb = tans
    r = None
    if tx is not None or tb is not None:
        r = Linear.apply(tx if tx is not None else zeros_for(x), w, tb)
    if tw is not None:
        r = _add(r, Linear.apply(x, tw, None))
    return r


def _conv_rule(ctx, args, outs, tans):
    """y = conv(x, w) + b: ty = conv(tx, w) + conv(x, tw) + tb."""
    from .._functions.conv import _Conv
    x, w, b, p = args
    tx, tw, tb = tans[:3]
    r = None
    if tx is not None or tb is not None:
        r = _Conv.apply(tx if tx is not None else zeros_for(x), w, tb, p)
    if tw is not None:
        r = _add(r, _Conv.apply(x, tw, None, p))
    return r


def _constant_pad_rule(ctx, args, outs, tans):
    """pad(x, value): the tangent padded with zeros."""
    x, pads, value = args
    return ctx._forward_cls.apply(tans[0], pads, 0.0)


def _diagonal_rule(ctx, args, outs, tans):
    """J t = J^T t for a symmetric Jacobian: the node's backward with t as the incoming gradient.
    With a graph only when the tangent must be differentiable (a primal or the tangent requires
    grad); otherwise the backward's fused kernels, and nothing recorded."""
    from .grad_mode import _state as gs
    t = tans[0]
    prev = gs.enabled
    gs.enabled = prev and (t._rg or not ctx._fw_only)
    try:
        r = ctx._forward_cls.backward(ctx, t)
    finally:
        gs.enabled = prev
    return r[0] if isinstance(r, tuple) else r


def _div_rule(ctx, args, outs, tans):
    """y = a / b: ty = ta / b - y * tb / b."""
    from ._forward_mode import strip
    a, b = args
    ta, tb = tans
    r = None
    if ta is not None:
        r = ta / b
    if tb is not None:
        r = _add(r, -(strip(outs[0]) * tb) / b)
    return r


def _log_softmax_rule(ctx, args, outs, tans):
    """y = log_softmax(x): ty = t - sum(softmax(x) * t) along dim."""
    from ._forward_mode import strip
    t = tans[0]
    dim = args[1]
    return t - (strip(outs[0]).exp() * t).sum(dim, keepdim=True)


def _layer_norm_rule(ctx, args, outs, tans):
    """y = xhat * w + b, xhat = (x - mean) * rstd over the trailing dims:
    t_xhat = rstd * (tx - mean(tx) - xhat * mean(tx * xhat)), ty = t_xhat * w + xhat * tw + tb."""
    x, normalized_shape, w, b, eps = args
    tx, tw, tb = tans[0], tans[2], tans[3]
    dims = list(range(x.dim() - len(normalized_shape), x.dim()))
    xc = x - x.mean(dim=dims, keepdim=True)
    rstd = ((xc * xc).mean(dim=dims, keepdim=True) + eps).rsqrt()
    xhat = xc * rstd
    r = None
    if tx is not None:
        r = rstd * (tx - tx.mean(dim=dims, keepdim=True) - xhat * (tx * xhat).mean(dim=dims, keepdim=True))
        if w is not None:
            r = r * w
    if tw is not None:
        r = _add(r, xhat * tw)
    if tb is not None:
        r = _add(r, tb.expand(tuple(x.shape)) if r is None else tb)
    return r


def _batch_norm_rule(ctx, args, outs, tans):
    """Batch norm over (N, *spatial) per channel: in training as layer_norm over those dims; in eval
    mode the running statistics are constants, so t_xhat = tx * rstd."""
    from .. import _C
    x, w, b = args[0], args[1], args[2]
    tx, tw, tb = tans[0], tans[1], tans[2]
    bshape = [1, x.shape[1]] + [1] * (x.dim() - 2)
    dims = [0] + list(range(2, x.dim()))
    if ctx.training:
        xc = x - x.mean(dim=dims, keepdim=True)
        rstd = ((xc * xc).mean(dim=dims, keepdim=True) + ctx.eps).rsqrt()
    else:
        xc = x - _tensor._wrap(_C.view(ctx.mean, bshape))
        rstd = _tensor._wrap(_C.view(ctx.invstd, bshape))
    xhat = xc * rstd
    r = None
    if tx is not None:
        r = rstd * (tx - tx.mean(dim=dims, keepdim=True) - xhat * (tx * xhat).mean(dim=dims, keepdim=True)) \
            if ctx.training else tx * rstd
        if w is not None:
            r = r * w.reshape(bshape)
    if tw is not None:
        r = _add(r, xhat * tw.reshape(bshape))
    if tb is not None:
        tbb = tb.reshape(bshape)
        r = _add(r, tbb.expand(tuple(x.shape)) if r is None else tbb)
    return r


def install():
    from .._functions import shape, join, indexing, linalg, reduction, elementwise, conv, linear as lin_mod
    from ..nn import functional as F
    lin0 = linear((0,))
    for cls in (shape.View, shape.Reshape, shape.Permute, shape.Transpose, shape.Expand, shape.ShapeOnly,
                shape.Select, shape.Slice, shape.Diagonal, shape.AsStrided, shape.Clone, shape.ToCopy,
                shape._ViewFn, shape._ScatterIntoZeros, join.SplitViews, join.Unbind, join.Flip, join.Roll,
                indexing.Index, indexing._IndexPutAccumulateIntoZeros, indexing.IndexSelect, indexing.Gather,
                indexing.Tri, reduction.Sum, reduction.Mean, reduction.Cumsum, F._Embedding, F._PadGather,
                F._Unfold2d, F._Fold2d):
        cls._fw_rule = staticmethod(lin0)
    elementwise.Add._fw_rule = staticmethod(linear((0, 1)))
    elementwise.Sub._fw_rule = staticmethod(linear((0, 1)))
    join.Cat._fw_rule = staticmethod(linear())
    indexing.IndexPut._fw_rule = staticmethod(linear((0, 1)))
    indexing.ScatterAdd._fw_rule = staticmethod(linear((0, 3)))
    elementwise.Mul._fw_rule = staticmethod(bilinear(0, 1))
    linalg.Mm._fw_rule = staticmethod(bilinear(0, 1))
    linalg.Bmm._fw_rule = staticmethod(bilinear(0, 1))
    lin_mod.Linear._fw_rule = staticmethod(_linear_rule)
    conv._Conv._fw_rule = staticmethod(_conv_rule)
    F._ConstantPad._fw_rule = staticmethod(_constant_pad_rule)
    from .._functions._dispatch import _CopySlicesInplace
    _CopySlicesInplace._fw_rule = staticmethod(_copy_slices_rule)
    from .._indexing import SetItem
    from .._functions import activation, pointwise
    elementwise.Div._fw_rule = staticmethod(_div_rule)
    linalg.LogSoftmax._fw_rule = staticmethod(_log_softmax_rule)
    from .._functions import normalization
    normalization.LayerNorm._fw_rule = staticmethod(_layer_norm_rule)
    normalization.BatchNorm._fw_rule = staticmethod(_batch_norm_rule)
    pointwise.Where._fw_rule = staticmethod(linear((1, 2)))
    for cls in (elementwise._Unary, elementwise.PowScalar, activation._Pointwise, pointwise.Clamp, linalg.Softmax):
        cls._fw_rule = staticmethod(_diagonal_rule)
    SetItem._fw_rule = staticmethod(linear((0, 1)))
    from . import _forward_rules_nn
    _forward_rules_nn.install()


def _copy_slices_rule(ctx, args, outs, tans):
    """base with a view's region replaced by r (an in-place write into a view): the same write on
    a fresh contiguous copy of base's tangent (the layout the recorded view_fn addresses)."""
    from .._functions._dispatch import _CopySlicesInplace
    from .. import _C
    base, r, view_fn = args
    tb, tr = tans[0], tans[1]
    nt = (tb if tb is not None else zeros_for(base)).clone()
    if not nt.is_contiguous():
        nt = nt.contiguous()
    tr = tr if tr is not None else zeros_for(r)
    out = _CopySlicesInplace.apply(nt, tr, view_fn)
    _C.copy_(view_fn(out._impl), tr._impl)
    return out
