"""The forward-mode AD mechanism behind autograd.forward_ad (read that module's docstring first).

`apply(cls, args, kwargs)` replaces Function.apply for every op while a dual level is open. When no
argument carries a tangent it answers NO_TANGENT and the caller goes on as usual. Otherwise it runs
the op's forward, records its node (so that the outputs are tracked: forward-only or real, see
forward_ad) and computes the output tangents, in this order of preference:

1. A custom autograd.Function (user code): its `jvp(ctx, *tangents)` staticmethod, PyTorch's
   NotImplementedError when it has none.
2. A rule registered on the op's class (`_fw_rule`, installed by `_forward_rules.py`): for ops
   linear in some inputs the op itself applied to the tangents; the product rule for bilinear ops.
   Exact and as cheap as the forward.
3. Otherwise the op's own backward, by the double-vjp trick: with u a dummy cotangent for every
   output, g(u) = J^T u is linear in u and d<g(u), t>/du = J t. flambeau's backward formulas are
   written with differentiable ops for double backward, so this works for every op that records
   a node. A backward that turns out not to be differentiable in u (a raw kernel call) cannot
   lose the tangent silently: it raises, naming the op.

Rules and the double-vjp run with the hook off (no tangents of tangents: one level only) and with
grad mode as the user has it, so when a primal or a tangent requires grad the tangent is
differentiable in reverse mode. Forward-only primals are replaced by untracked aliases there, so
no reverse graph is built for tensors nobody can differentiate.
"""
from .. import _C, _tensor
from . import function as _function
from .grad_mode import _state as _gs
from . import forward_ad as _fw

NO_TANGENT = _function._fw_none
_FLOAT = frozenset(("float32", "float64", "float16", "bfloat16"))


# ---------------------------------------------------------------- tracked aliases
class _DualRoot(_function.Function):
    """The gradient edge of a forward-AD leaf (its `_acc`, see forward_ad): gradients reaching it
    are dropped."""
    _builtin = True
    _grad_fn_name = "DualRoot"

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, *g):
        return ()


_DualRoot._backward_cls._fw_only = True
_ROOT = _DualRoot._backward_cls()


def _alias_impl(impl):
    return _C.as_strided(impl, list(impl.shape), list(impl.stride), impl.storage_offset)


def alias_of(t):
    """A view of t that can carry a tangent: tracked in reverse mode when t requires grad (and grad
    mode is on), otherwise tracked for forward AD only."""
    if t._rg and _real_grad_enabled() and not _fw.is_fw_only(t):
        prev = _function._fw_hook
        _function._fw_hook = None
        try:
            return t.view_as(t)
        finally:
            _function._fw_hook = prev
    # Not a view for autograd (no _base): an in-place op on the dual gives it a new tangent but
    # leaves the primal without one, as in PyTorch.
    d = _tensor._wrap(_alias_impl(t._impl))
    d._rg = True
    d._acc = _ROOT
    return d


def _fw_only_alias(t):
    """t tracked for forward AD only (a graph edge to the dropping root)."""
    d = _tensor._wrap(t._impl)
    d._rg = True
    d._acc = _ROOT
    return d


def primal_view(t):
    """unpack_dual's primal: a view of t without tangent, tracked in reverse mode iff t is; not a
    forward view of t (see forward_ad._primal_views)."""
    if t._rg and not _fw.is_fw_only(t) and _real_grad_enabled():
        prev = _function._fw_hook
        _function._fw_hook = None
        try:
            p = t.view_as(t)
        finally:
            _function._fw_hook = prev
    else:
        p = _tensor._wrap_view(_alias_impl(t._impl), t)
    _fw.mark_primal_view(p)
    return p


def laid_out_like(tangent, pi):
    """tangent copied into the primal's layout (dense primal) or row-major (otherwise)."""
    if _C.is_non_overlapping_and_dense(pi) and not tangent._rg:
        out = _C.empty_strided(list(pi.shape), list(pi.stride), tangent._impl.dtype, tangent._impl.device)
        _C.copy_(out, tangent._impl)
        return _tensor._wrap(out)
    return tangent.contiguous() if not tangent.is_contiguous() else tangent.clone()


def same_layout(a, b):
    """Whether impls a and b (same shape) address their elements alike (strides of size-1 dims
    do not matter)."""
    sa, sb = a.stride, b.stride
    return sa == sb or all(x == y or n == 1 for n, x, y in zip(a.shape, sa, sb))


def _real_grad_enabled():
    return _gs.enabled and not _gs.fw_gate


def strip(a, leaf=False):
    """a without forward-only tracking: an untracked alias (for rules, whose results the user
    sees), or with leaf=True a fresh leaf alias that requires grad and keeps a's tangent (for the
    op's forward: its saved tensors must stay differentiable, since some backward formulas
    differentiate through them, and keep their tangents, since a backward run inside the level
    carries tangents through its formulas: forward-over-reverse)."""
    if a.__class__ is not _tensor.Tensor and not isinstance(a, _tensor.Tensor):
        return a
    if a._rg:
        if _function._is_fw_tracked(a) or not _real_grad_enabled():
            s = _tensor._wrap(a._impl)
            if leaf:
                s._rg = True
                if a._fw is not None:
                    _fw.set_tangent(s, a._fw)
            return s
    return a


def _probe_like(o):
    """A fixed, irregular cotangent shaped like o. The double-vjp's result does not depend on it
    (the backward is linear in it), but a backward that is not differentiable gives a gradient
    detached from it, which is an error unless that gradient is zero: with an irregular probe a
    zero J^T u means a zero Jacobian, where an all-zeros or all-ones probe could cancel out."""
    import numpy as np
    oi = o._impl
    a = np.cos(1.0 + 0.7 * np.arange(oi.numel, dtype=np.float64))
    impl = _C.view(_C.from_numpy(a), list(oi.shape))
    return _tensor._wrap(_C.to(impl, oi.dtype, oi.device, False))


def zeros_for(a):
    return _tensor._wrap(_C.full(list(a._impl.shape), 0, a._impl.dtype, a._impl.device))


# ---------------------------------------------------------------- the apply hook
def apply(cls, args, kwargs):
    Tensor = _tensor.Tensor
    tans = [(a._fw if a._fw is not None or a._base is None else _fw.tangent_of(a)) if isinstance(a, Tensor) else None
            for a in args]
    if not any(t is not None for t in tans) or _gs.inference:
        if not _gs.inference:
            _check_nested(cls, args)
        if not _gs.fw_gate:
            return NO_TANGENT
        # no_grad inside the level: the gate let this op in, but nothing is recorded for it.
        _function._fw_hook = None
        _gs.enabled = False
        try:
            return cls.apply(*args, **(kwargs or {}))
        finally:
            _function._fw_hook = apply
            _gs.enabled = True
    grad_on = _real_grad_enabled()
    flags = tuple(isinstance(a, Tensor) and a._rg for a in args)
    real = tuple(f and not _fw.is_fw_only(a) for f, a in zip(flags, args))
    # Edges: to every tracked input when grad mode is on. Under no_grad (or in a backward pass run
    # inside the level) nothing is recorded for reverse mode: forward-only edges only, from every
    # input carrying a tangent, so that the outputs are tracked and carry theirs.
    if grad_on:
        edges, rec_args = flags, args
    else:
        edges = tuple(isinstance(a, Tensor) and a._rg and (not r or a._fw is not None) for a, r in zip(args, real))
        rec_args = tuple(_fw_only_alias(a) if r and e else a for a, r, e in zip(args, real, edges))
    user_fn = not cls._builtin and not cls.__module__.startswith("flambeau.")
    ctx = cls._backward_cls()
    prev_hook = _function._fw_hook
    prev_mode = _gs.enabled
    _function._fw_hook = None
    try:
        if cls._builtin:
            ctx.needs_input_grad = flags
            sargs = [strip(a, True) for a in args]
            out = _rebase_views(cls.forward(ctx, *sargs), sargs, args, ctx)
        else:
            ctx.needs_input_grad = real if grad_on else (False,) * len(args)
            if not user_fn:
                ctx.needs_input_grad = flags  # flambeau's own: the backward must serve the double-vjp
            _gs.enabled = False
            try:
                sargs = [strip(a, not user_fn) if (isinstance(a, Tensor) and a._fw is not None) else a for a in args]
                if cls.setup_context is not _function.Function.setup_context:
                    out = cls.forward(*sargs, **kwargs)
                    cls.setup_context(ctx, tuple(sargs), out)
                else:
                    out = cls.forward(ctx, *sargs, **kwargs)
                out = _rebase_views(out, sargs, args, ctx)
            finally:
                _gs.enabled = prev_mode
        if True in edges:
            out = _function._record(ctx, rec_args, edges, out)
            ctx._fw_only = not grad_on or not any(e and r for e, r in zip(edges, real))
            if ctx._fw_only:
                _as_fw_leaves(ctx, out)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        if grad_on is False:
            _gs.enabled = False
        if user_fn:
            touts = _user_jvp(cls, ctx, args, tans)
        else:
            rule = getattr(cls, "_fw_rule", None)
            sargs = [strip(a) for a in args]
            if rule is not None:
                touts = rule(ctx, sargs, outs, tans)
            else:
                touts = _double_vjp(cls, ctx, args, outs, tans, grad_on)
        if not isinstance(touts, (tuple, list)):
            touts = (touts,)
    finally:
        _function._fw_hook = prev_hook
        _gs.enabled = prev_mode
    non_diff = ctx._non_diff
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor) or o._impl.dtype not in _FLOAT or not o._rg:
            continue
        if non_diff is not None and id(o) in non_diff:
            continue
        t = touts[k] if k < len(touts) else None
        if t is None:
            t = zeros_for(o)
        elif not isinstance(t, Tensor):
            raise TypeError(f"forward AD: {cls.__name__} gave a tangent of type {type(t).__name__} for output {k}")
        elif t._impl.shape != o._impl.shape:
            raise RuntimeError(f"forward AD: {cls.__name__} gave a tangent of shape {list(t._impl.shape)} for an "
                               f"output of shape {list(o._impl.shape)}")
        elif not t._rg and not same_layout(t._impl, o._impl) and o._impl.numel > 1:
            # PyTorch's layout rule: a tangent is laid out like its primal, so that a view of the
            # primal addresses the same elements of the tangent (views share tangents; in-place
            # ops write into them).
            t = laid_out_like(t, o._impl)
        _fw.set_tangent(o, t)
    saved = ctx._saved
    if saved:  # outputs saved for backward keep their tangents (see strip)
        for s in saved:
            if s.__class__ is _function._SavedOutput:
                o = outs[s.output_nr]
                s.fw = o._fw if isinstance(o, Tensor) else None
    return out


def _as_fw_leaves(ctx, out):
    """The outputs of a node recorded only for forward AD become forward-AD leaves (no grad_fn, as
    in PyTorch; see forward_ad); those that cannot carry a tangent are not tracked at all."""
    Tensor = _tensor.Tensor
    for o in (out if isinstance(out, tuple) else (out,)):
        if isinstance(o, Tensor) and o.grad_fn is ctx:
            o.grad_fn = None
            if o._impl.dtype in _FLOAT:
                o._acc = _ROOT
            else:
                o._rg = False


def _check_nested(cls, args):
    """A tangent inside a list argument would be invisible here (rules and the double-vjp see
    top-level tensors only): refuse it rather than lose it."""
    for a in args:
        if isinstance(a, (list, tuple)):
            for x in a:
                if isinstance(x, _tensor.Tensor) and x._fw is not None:
                    raise NotImplementedError(f"flambeau forward-mode AD: {cls.__name__} takes tensors in a list; "
                                              "their tangents cannot be propagated")


def _rebase_views(out, sargs, args, ctx):
    """The forward ran on stripped aliases: views it made of one become views of the original
    argument (an in-place op on them must update the tensor owning the storage, as for any view),
    and an alias it returned itself (an in-place op, marked dirty) becomes the original again.
    Returns the outputs."""
    remap = {id(s): a for s, a in zip(sargs, args) if s is not a}
    if not remap:
        return out
    single = not isinstance(out, tuple)
    res = []
    for o in ((out,) if single else out):
        r = remap.get(id(o))
        if r is not None:
            o = r
        else:
            b = getattr(o, "_base", None)
            if b is not None and id(b) in remap:
                a = remap[id(b)]
                o._base = a if a._base is None else a._base
                o._vsrc = o._base.grad_fn
        res.append(o)
    for name in ("_dirty", "_non_diff"):
        ids = ctx.__dict__.get(name)
        if ids:
            setattr(ctx, name, {id(remap[i]) if i in remap else i for i in ids})
    return res[0] if single else tuple(res)


def _user_jvp(cls, ctx, args, tans):
    """A custom Function's jvp(ctx, *tangents): one tangent per forward input (zeros for a tensor
    without one, None for non-tensors), as PyTorch calls it."""
    if cls.jvp is _function.Function.jvp:
        raise NotImplementedError("You must implement the jvp function for custom autograd.Function to use it "
                                  "with forward mode AD.")
    Tensor = _tensor.Tensor
    ins = [(t if t is not None else zeros_for(a)) if isinstance(a, Tensor) else None for a, t in zip(args, tans)]
    ctx._fw_jvp_running = True
    try:
        return cls.jvp(ctx, *ins)
    finally:
        ctx._fw_jvp_running = False


def _double_vjp(cls, ctx, args, outs, tans, grad_on):
    """J t from the node's backward: d/du <backward(u), t> (see the module docstring)."""
    from . import grad as autograd_grad
    Tensor = _tensor.Tensor
    us, grads_in = [], []
    for o in outs:
        if isinstance(o, Tensor) and o._impl.dtype in _FLOAT and o._rg:
            u = _probe_like(o)
            u._rg = True
            us.append(u)
            grads_in.append(u)
        elif isinstance(o, Tensor):
            grads_in.append(zeros_for(o) if o._impl.dtype in _FLOAT else None)
        else:
            grads_in.append(None)
    if not us:
        return ()
    create = grad_on and (any(r for r in (isinstance(a, Tensor) and a._rg and not _fw.is_fw_only(a) for a in args))
                          or any(t is not None and t._rg for t in tans))
    if len(us) == 1 and us[0]._impl.numel == 1 and len(outs) == 1:
        return _scalar_jvp(cls, ctx, outs[0], tans, create)
    _gs.enabled = True
    try:
        gs = cls.backward(ctx, *grads_in)
    except (NotImplementedError, RuntimeError) as e:
        if type(e) not in (NotImplementedError, RuntimeError):
            raise
        raise type(e)(f"flambeau forward-mode AD: the tangent of {cls.__name__} is computed from its backward, "
                      f"which cannot be differentiated here: {e}") from None
    if not isinstance(gs, tuple):
        gs = (gs,)
    total = None
    for i, (a, t) in enumerate(zip(args, tans)):
        if t is None or i >= len(gs) or gs[i] is None:
            continue
        g = gs[i]
        if not g._rg:
            if g._impl.numel and bool(g.ne(0).any()):
                raise NotImplementedError(
                    f"flambeau forward-mode AD: the tangent of {cls.__name__} cannot be computed (its backward is not "
                    "differentiable and it has no forward rule)")
            continue
        if g._impl.shape != t._impl.shape:
            from .._functions.shape import _sum_to
            g = _sum_to(g, t._impl.shape)
        term = (g * t.to(g.dtype)).sum()
        total = term if total is None else total + term
    if total is None or not total._rg:
        _gs.enabled = grad_on
        return ()
    try:
        jv = autograd_grad((total,), us, create_graph=create, allow_unused=True)
    except (NotImplementedError, RuntimeError) as e:
        if type(e) not in (NotImplementedError, RuntimeError):
            raise
        raise type(e)(f"flambeau forward-mode AD: the tangent of {cls.__name__} is computed from its backward, "
                      f"which cannot be differentiated here: {e}") from None
    _gs.enabled = grad_on
    res, k = [], 0
    for o in outs:
        if isinstance(o, Tensor) and o._impl.dtype in _FLOAT and o._rg:
            j = jv[k]
            k += 1
            res.append(j if create or j is None else j.detach())
        else:
            res.append(None)
    return tuple(res)


def _scalar_jvp(cls, ctx, out, tans, create):
    """One scalar output (a loss, a full reduction): J is a row, so J t = sum_i <J_i^T 1, t_i>: one
    backward pass with a unit gradient instead of the double-vjp's two (with the fused backward
    kernels when the tangent need not be differentiable)."""
    Tensor = _tensor.Tensor
    oi = out._impl
    _gs.enabled = create
    try:
        gs = cls.backward(ctx, _tensor._wrap(_C.full(list(oi.shape), 1, oi.dtype, oi.device)))
    except (NotImplementedError, RuntimeError) as e:
        if type(e) not in (NotImplementedError, RuntimeError):
            raise
        raise type(e)(f"flambeau forward-mode AD: the tangent of {cls.__name__} is computed from its backward, "
                      f"which failed: {e}") from None
    if not isinstance(gs, tuple):
        gs = (gs,)
    total = None
    for i, t in enumerate(tans):
        if t is None or i >= len(gs) or gs[i] is None:
            continue
        g = gs[i]
        if not isinstance(g, Tensor):
            continue
        if g._impl.shape != t._impl.shape:
            from .._functions.shape import _sum_to
            g = _sum_to(g, t._impl.shape)
        term = (g * t.to(g.dtype)).sum()
        total = term if total is None else total + term
    if total is None:
        return ()
    return (total.reshape(tuple(oi.shape)),)


_installed = [False]


def install_rules():
    if not _installed[0]:
        from . import _forward_rules
        _forward_rules.install()
        _installed[0] = True
