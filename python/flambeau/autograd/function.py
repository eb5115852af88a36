"""Function: the unit of differentiation, public so users can write their own ops.

A Function subclass defines `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`. `apply`
runs forward with recording off and, when an input requires grad, makes `ctx` the grad_fn of the
outputs: the context object *is* the graph node (as in PyTorch, where it is a BackwardCFunction),
so saved tensors, needs_input_grad and the edges to the inputs' nodes all live in one object.

Reference cycles are avoided on purpose: an output saved for backward is kept as its bare
TensorImpl (output -> grad_fn -> saved output would be a cycle, freed only by the cyclic GC,
which on CUDA means memory that lingers), and AccumulateGrad refers to its leaf through a weakref.
"""
import weakref

from .. import _C, _tensor
from .grad_mode import _state as _gs

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


class RemovableHandle:
    """Returned by register_hook; `remove()` unregisters the hook."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_hook_ids = [0]


def _add_hook(hooks, fn):
    _hook_ids[0] += 1
    hooks[_hook_ids[0]] = fn
    return RemovableHandle(hooks, _hook_ids[0])


class Node:
    """Base of every graph node (grad_fn objects and AccumulateGrad)."""

    _name = "Node"
    _forbid_inplace = False  # True on nn.Module backward-hook nodes: their outputs reject in-place writes
    _fw_only = False  # True on nodes recorded only to carry forward-AD tangents (forward_ad.py)

    def name(self):
        return self._name

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) runs after this node's backward; may return new grad_inputs."""
        d = self.__dict__.get("_post_hooks")
        if d is None:
            d = self._post_hooks = {}
        return _add_hook(d, fn)

    @property
    def metadata(self):
        """A dict for the user's own annotations of this node (PyTorch's Node.metadata), made on first use."""
        d = self.__dict__.get("_metadata")
        if d is None:
            d = self._metadata = {}
        return d

    def register_prehook(self, fn):
        """fn(grad_outputs) runs before this node's backward; may return new grad_outputs."""
        d = self.__dict__.get("_node_pre_hooks")
        if d is None:
            d = self._node_pre_hooks = {}
        return _add_hook(d, fn)

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: adds incoming gradients into `variable.grad`."""

    _name = "torch::autograd::AccumulateGrad"
    next_functions = ()
    _n_outputs = 1

    def __init__(self, tensor):
        self._ref = weakref.ref(tensor)

    @property
    def variable(self):
        return self._ref()


def _accumulate_node(t):
    """The (cached) AccumulateGrad node of leaf tensor t."""
    node = t._acc
    if node is None:
        node = t._acc = AccumulateGrad(t)
    return node


# Anomaly mode (autograd.detect_anomaly) on: every recorded node keeps the stack of the forward call
# that created it, for the engine's error report. Set by autograd.anomaly_mode only.
_anomaly_enabled = False


def _is_fw_leaf(t):
    """Whether t (with _rg set and no grad_fn) is tracked only to carry a forward-AD tangent: its
    gradient edge is forward_ad's dropping root instead of an AccumulateGrad. To the user it is a
    leaf that does not require grad, as in PyTorch (forward_ad.py)."""
    acc = t._acc
    return acc is not None and acc._fw_only


def _is_fw_tracked(t):
    """Whether tracked tensor t is tracked for forward AD only: a forward-AD leaf, or (internally,
    a saved output re-attached to its node) an output of a node recorded only for forward AD."""
    fn = t._gfn
    return _is_fw_leaf(t) if fn is None else fn._fw_only


def _take_history(dst, src):
    """dst takes over src's place in the graph (after an in-place op wrote src's values into dst):
    its grad_fn, or for a forward-AD leaf src its tangent-carrying edge."""
    fn = src.grad_fn
    dst._gfn = fn
    dst._output_nr = src._output_nr
    if fn is None:
        dst._acc = src._acc


def _forward_trace():
    import traceback
    return traceback.extract_stack()[:-2]


# Detecting in-place changes to saved tensors needs a per-storage version counter from `_C`
# (TensorImpl.version, bumped by every write into an existing tensor). Without it, no check.
_HAS_VERSION = hasattr(_C.TensorImpl, "version")


def _versions_of(saved):
    # saved_version: the version, or PyTorch's error for an inference tensor saved outside inference_mode
    return [None if s is None else (s.impl.version if s.__class__ is _SavedOutput else s._impl.saved_version)
            for s in saved]


def _raise_modified(node, t, s, expected):
    impl = t._impl
    from .._tensor import _TYPE_NAMES as kind
    import re
    fwd_name = lambda n: re.sub(r"Backward\d*$", "", n)  # noqa: E731 - PyTorch names the forward op
    what = (f"output {s.output_nr} of {fwd_name(node._name)}" if s.__class__ is _SavedOutput
            else (f"output {t._output_nr} of {fwd_name(type(t.grad_fn).__name__)}" if t.grad_fn is not None
                  else "a leaf Variable"))
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[flambeau.{kind[impl.dtype]} {list(impl.shape)}], which is {what}, is at version {impl.version}; "
        f"expected version {expected} instead. Hint: the saved value was overwritten after the forward pass; "
        "use an out-of-place operation (or .clone()) instead.")


class _SavedOutput:
    """An output saved for backward, kept as its impl to avoid an output <-> grad_fn cycle (and
    the output's forward-AD tangent, set while a dual level is open: forward_ad.py)."""

    __slots__ = ("impl", "output_nr", "fw")

    def __init__(self, impl, output_nr):
        self.impl, self.output_nr = impl, output_nr
        self.fw = None


class _Packed:
    """A tensor saved under autograd.graph.saved_tensors_hooks: what pack_hook returned, the
    unpack_hook to call on it, and the saved tensor's place in the graph (output_nr >= 0: output
    `output_nr` of the node itself; otherwise an input, with its grad_fn or leaf AccumulateGrad),
    so the unpacked tensor carries the same history for double backward, as in PyTorch."""

    __slots__ = ("obj", "unpack", "output_nr", "rg", "grad_fn", "nr", "acc")

    def __init__(self, obj, unpack, output_nr, rg, grad_fn, nr, acc):
        self.obj, self.unpack, self.output_nr = obj, unpack, output_nr
        self.rg, self.grad_fn, self.nr, self.acc = rg, grad_fn, nr, acc


def _keep_saved(ctx, to_save, out):
    """ctx's saved state after a built-in forward with the one output `out`: the tensors it saved, `out`
    kept as its impl (_SavedOutput: no output <-> node cycle), with their version counters, or packed by
    the saved-tensor hooks. Loops rather than comprehensions, which cost a frame each on every op."""
    ctx.to_save = ()
    saved = []
    for t in to_save:
        saved.append(_SavedOutput(t._impl, 0) if t is out else t)
    if _gs.saved_hooks is not None:
        ctx._saved = _pack_saved(saved, (out,))
        return
    ctx._saved = saved
    if _HAS_VERSION:
        versions = []
        for t in saved:  # (as _versions_of)
            versions.append(None if t is None else (t.impl.version if t.__class__ is _SavedOutput
                                                    else t._impl.saved_version))
        ctx._versions = versions


def _pack_saved(saved, outs):
    """Applies the innermost saved_tensors_hooks' pack hook to each saved tensor (the hooks are
    off while a pack hook runs, so one that calls recording ops does not recurse)."""
    pack, unpack = _gs.saved_hooks
    for s in saved:  # an inference tensor cannot be saved outside inference_mode, hooks or not
        if s is not None and s.__class__ is not _SavedOutput and type(s._impl) is _C.TensorImpl:
            s._impl.saved_version
    res = []
    _gs.saved_hooks = None
    try:
        for s in saved:
            if s is None:
                res.append(None)
            elif s.__class__ is _SavedOutput:
                res.append(_Packed(pack(outs[s.output_nr]), unpack, s.output_nr, True, None, 0, None))
            else:
                rg = s._rg
                fn = s.grad_fn if rg else None
                acc = _accumulate_node(s) if rg and fn is None else None
                res.append(_Packed(pack(s), unpack, -1, rg, fn, s._output_nr if fn is not None else 0, acc))
    finally:
        _gs.saved_hooks = (pack, unpack)
    return res


class BackwardCFunction(Node):
    """The grad_fn of a Function's outputs, and the `ctx` its forward/backward receive."""

    _forward_cls = None
    _validate = True  # check gradient count/shape/dtype (skipped for built-in ops, known correct)

    # Per-node state lives in class-level defaults, overridden per instance only when set: creating
    # a node is then a bare object allocation (this runs once per recorded op).
    to_save = ()
    _saved = None
    _freed = False
    materialize_grads = True
    _non_diff = None
    _dirty = None
    needs_input_grad = ()
    next_functions = ()
    _n_outputs = 1

    # --- the ctx API used inside forward/backward ---
    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, _tensor.Tensor):
                raise TypeError("save_for_backward can only save tensors or None, but got "
                                f"{type(t).__name__}")
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        """Tensors for a custom Function's jvp, read there as ctx.saved_tensors (PyTorch's API)."""
        for t in tensors:
            if t is not None and not isinstance(t, _tensor.Tensor):
                raise TypeError("save_for_forward expects all arguments to be tensors or None, but got "
                                f"{type(t).__name__}")
        self._fw_saved = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = {id(t) for t in tensors}

    def mark_dirty(self, *tensors):
        self._dirty = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        if self.__dict__.get("_fw_jvp_running"):  # inside jvp: what save_for_forward kept
            return tuple(self.__dict__.get("_fw_saved", ()))
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        saved = self._saved
        if saved is None:
            # Accessed inside forward (or no graph was recorded): hand back what was given.
            return tuple(self.to_save)
        versions = self.__dict__.get("_versions")
        out = []
        for k, s in enumerate(saved):
            if s.__class__ is _SavedOutput:
                # Re-attach the output to this node so double backward sees its history.
                t = _tensor._wrap(s.impl)
                t._rg = True
                t._gfn = self
                t._output_nr = s.output_nr
                if s.fw is not None and _fw_hook is not None:
                    t._fw = s.fw
            elif s.__class__ is _Packed:
                out.append(self._unpack(s))
                continue
            else:
                t = s
            if versions is not None and t is not None and t._impl.version != versions[k]:
                _raise_modified(self, t, s, versions[k])
            out.append(t)
        return tuple(out)

    saved_variables = saved_tensors

    def _unpack(self, s):
        """The tensor a saved_tensors_hooks unpack hook gives back, re-attached to the graph."""
        t = s.unpack(s.obj)
        if not isinstance(t, _tensor.Tensor):
            raise TypeError("Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                            f"{type(t).__name__}")
        if s.output_nr >= 0:
            t = _tensor._wrap(t._impl)
            t._rg = True
            t._gfn = self
            t._output_nr = s.output_nr
        elif s.rg:
            fn = s.grad_fn
            if not (t._rg and t._gfn is fn and (fn is not None or t._acc is s.acc)):
                t = _tensor._wrap(t._impl)
                t._rg = True
                if fn is not None:
                    t._gfn = fn
                    t._output_nr = s.nr
                else:
                    t._acc = s.acc
        elif t._rg:
            t = _tensor._wrap(t._impl)
        return t

    def _release(self):
        """Frees what backward needed (called after backward unless retain_graph)."""
        if self._saved:
            self._saved = None
            self._freed = True
        # Attributes a built-in op stashed on ctx (tensors kept outside save_for_backward).
        extra = self.__dict__.get("_release_attrs")
        if extra:
            for name in extra:
                self.__dict__.pop(name, None)
            self._freed = True

    def apply(self, *grad_outputs):
        """Calls the Function's backward (what the engine does for this node)."""
        return self._forward_cls.backward(self, *grad_outputs)


class FunctionMeta(type):
    """Gives every Function subclass its own node class, named like PyTorch's (`ExpBackward0`
    for built-ins via `_grad_fn_name`, `MyFnBackward` for user functions), and gives built-in
    ops the lean `apply` below."""

    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        node_name = attrs.get("_grad_fn_name") or name + "Backward"
        builtin = getattr(cls, "_builtin", False)
        cls._backward_cls = type(node_name, (BackwardCFunction,), {
            "_forward_cls": cls, "_name": node_name, "_validate": not builtin})
        if builtin and "apply" not in attrs:
            cls.apply = classmethod(_apply_builtin)


def _apply_builtin(cls, *args):
    """Function.apply for flambeau's own ops: positional args only, forward(ctx, ...) style, a
    forward that calls only `_C`, outputs differentiable unless marked otherwise. Same graph as
    the generic path, with less work per call."""
    if _fw_hook is not None:
        r = _fw_hook(cls, args, None)
        if r is not _fw_none:
            return r
    Tensor = _tensor.Tensor
    ctx = cls._backward_cls()
    flags = []
    nexts = []
    for a in args:
        if isinstance(a, Tensor) and a._rg:
            flags.append(True)
            nexts.append(_edge(a))
        else:
            flags.append(False)
            nexts.append(_NO_EDGE)
    record = True in flags and _gs.enabled
    ctx.needs_input_grad = tuple(flags) if record else (False,) * len(args)
    # Built-in forwards call only `_C` (never a recording op), so grad mode is left as it is:
    # toggling the thread-local flag would cost more than the rest of this function.
    out = cls.forward(ctx, *args)
    if not record:
        return out
    ctx.next_functions = tuple(nexts)
    if _anomaly_enabled:
        ctx._fwd_trace = _forward_trace()
    if out.__class__ is Tensor and ctx._dirty is None and ctx._non_diff is None:
        for a in args:
            if a is out:  # forward returned an input: _record_outputs makes the alias
                return _record_outputs(ctx, args, out)
        out._rg = True
        out._gfn = ctx
        out._output_nr = 0
        to_save = ctx.to_save
        if to_save:
            _keep_saved(ctx, to_save, out)
        return out
    return _record_outputs(ctx, args, out)


_NO_EDGE = (None, 0)

# While a forward-AD level is open: _forward_mode.apply, which every apply path hands its call to
# first (it answers _fw_none when no argument carries a tangent). None otherwise: one global read.
_fw_hook = None
_fw_none = object()


def _refresh_view(t):
    """t.grad_fn for a view t whose base got a new history (an in-place op recorded on the base or on
    another of its views) after t was made: t becomes a view of the base's current value first, as
    PyTorch regenerates a view's grad_fn when its base's version moved. Without it, gradients through
    t would silently miss that write (y = x * 1; v = y[1:]; y.mul_(c); v.sum() -> dv/dx must be c)."""
    from .._functions._dispatch import refresh_stale_view
    return refresh_stale_view(t)


def _edge(t):
    fn = t._gfn
    if fn is not None:
        b = t._base
        if b is not None and t._vsrc is not b._gfn:
            fn = _refresh_view(t)
        return (fn, t._output_nr)
    node = t._acc
    if node is None:
        if t._base is not None and t._vsrc.__class__ is _tensor.NoGradView:
            # made under no_grad of a base requiring grad: no history and no gradient of its own (PyTorch's
            # no_grad view), or PyTorch's error if its storage was written since
            _refresh_view(t)
            return _NO_EDGE
        if t._base is not None and t._rg.__class__ is list:
            # A view requiring grad without a history: its base was given one in place after the view
            # was made (the view's shared `_rg` cell flipped, _tensor._wrap_view). It becomes a view of
            # the base as it is now. A base made a leaf requiring grad (requires_grad_()) leaves it a
            # leaf without a gradient of its own: PyTorch gives such a view no grad accumulator.
            fn = _refresh_view(t)
            return (fn, t._output_nr) if fn is not None else _NO_EDGE
        node = t._acc = AccumulateGrad(t)
    return (node, 0)


def apply_unary(cls, x):
    """_apply_builtin specialised for one Tensor input that requires grad, with grad mode on (the
    caller has checked both): the per-op path of every unary op under autograd."""
    if _fw_hook is not None:
        r = _fw_hook(cls, (x,), None)
        if r is not _fw_none:
            return r
    ctx = cls._backward_cls()
    if _anomaly_enabled:
        ctx._fwd_trace = _forward_trace()
    ctx.needs_input_grad = _TRUE1
    ctx.next_functions = (_edge(x),)
    out = cls.forward(ctx, x)
    out._rg = True
    out._gfn = ctx
    out._output_nr = 0
    to_save = ctx.to_save
    if to_save:
        _keep_saved(ctx, to_save, out)
    return out


def apply_unary_kernel(cls, x, cfn, save):
    """apply_unary for a built-in op whose forward is y = cfn(x._impl), its backward reading nothing (save
    0), x (1) or y (2): elementwise._Unary's forward inlined, so no forward call, save_for_backward round
    trip or list comprehensions (about a third of a unary op's recording time); the same node and saved
    state. Forward AD, anomaly mode and saved-tensor hooks take apply_unary."""
    if _fw_hook is not None or _anomaly_enabled or _gs.saved_hooks is not None:
        return apply_unary(cls, x)
    ctx = cls._backward_cls()
    ctx.needs_input_grad = _TRUE1
    ctx.next_functions = (_edge(x),)
    yi = cfn(x._impl)
    out = _tensor._wrap(yi)
    out._rg = True
    out._gfn = ctx
    out._output_nr = 0
    if save == 2:
        ctx._saved = [_SavedOutput(yi, 0)]
        if _HAS_VERSION:
            ctx._versions = [yi.version]
    elif save == 1:
        ctx._saved = [x]
        if _HAS_VERSION:
            ctx._versions = [x._impl.saved_version]
    return out


def apply_tensor_first(cls, x, *rest):
    """_apply_builtin specialised for a first argument that is a Tensor requiring grad, with grad mode on
    (the caller has checked both), and other arguments that are not tensors (dims, flags): the same
    node, without the per-argument scan (sum(), mean(), ... under autograd)."""
    if _fw_hook is not None:
        r = _fw_hook(cls, (x,) + rest, None)
        if r is not _fw_none:
            return r
    ctx = cls._backward_cls()
    n = len(rest)
    ctx.needs_input_grad = (True,) + (False,) * n
    edges = (_edge(x),) + (_NO_EDGE,) * n
    out = cls.forward(ctx, x, *rest)
    ctx.next_functions = edges
    if _anomaly_enabled:
        ctx._fwd_trace = _forward_trace()
    if out.__class__ is _tensor.Tensor and ctx._dirty is None and ctx._non_diff is None and out is not x:
        out._rg = True
        out._gfn = ctx
        out._output_nr = 0
        to_save = ctx.to_save
        if to_save:
            _keep_saved(ctx, to_save, out)
        return out
    return _record_outputs(ctx, (x,) + rest, out)


def apply_binary(cls, a, b):
    """_apply_builtin specialised for two Tensor inputs, at least one requiring grad, grad mode on."""
    if _fw_hook is not None:
        r = _fw_hook(cls, (a, b), None)
        if r is not _fw_none:
            return r
    ctx = cls._backward_cls()
    if _anomaly_enabled:
        ctx._fwd_trace = _forward_trace()
    ra = True if a._rg else False  # (a view's `_rg` may be its base's cell: _tensor._wrap_view)
    rb = True if b._rg else False
    ctx.needs_input_grad = (ra, rb)
    ctx.next_functions = (_edge(a) if ra else _NO_EDGE, _edge(b) if rb else _NO_EDGE)
    out = cls.forward(ctx, a, b)
    out._rg = True
    out._gfn = ctx
    out._output_nr = 0
    to_save = ctx.to_save
    if to_save:
        _keep_saved(ctx, to_save, out)
    return out


_TRUE1 = (True,)


class Function(metaclass=FunctionMeta):
    """Base class for differentiable operations; see the module docstring."""

    _builtin = False

    def __init__(self, *args, **kwargs):
        raise RuntimeError("Function objects are not instantiated: call MyFunction.apply(...) instead "
                           "(legacy autograd functions with non-static forward are not supported)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not overridden")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("You must implement the jvp function for custom autograd.Function to use it "
                                  "with forward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        if _fw_hook is not None:
            r = _fw_hook(cls, args, kwargs)
            if r is not _fw_none:
                return r
        Tensor = _tensor.Tensor
        ctx = cls._backward_cls()
        prev = _gs.enabled
        record = False
        if prev:
            flags = tuple([isinstance(a, Tensor) and a._rg for a in args])
            record = True in flags
        ctx.needs_input_grad = flags if record else (False,) * len(args)
        _gs.enabled = False
        try:
            if cls.setup_context is not Function.setup_context:
                # New-style function: forward(*args) + setup_context(ctx, inputs, output).
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            _gs.enabled = prev
        if not record:
            return outputs
        return _record(ctx, args, flags, outputs)


def _record(ctx, args, flags, outputs):
    if _anomaly_enabled:
        ctx._fwd_trace = _forward_trace()
    nexts = []
    for a, f in zip(args, flags):
        if f:
            nexts.append(_edge(a))
        else:
            nexts.append(_NO_EDGE)
    ctx.next_functions = tuple(nexts)
    return _record_outputs(ctx, args, outputs)


def _record_outputs(ctx, args, outputs):
    """Makes ctx the grad_fn of every differentiable output and converts saved outputs."""
    Tensor = _tensor.Tensor
    builtin = ctx._forward_cls._builtin
    single = not isinstance(outputs, tuple)
    outs = (outputs,) if single else outputs
    non_diff = ctx._non_diff
    dirty = ctx._dirty
    arg_ids = {id(a) for a in args}
    result = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            result.append(o)
            continue
        if dirty is not None and id(o) in dirty:
            # In-place custom op: the input itself now carries this node's history.
            if o.grad_fn is None and o._rg and not _is_fw_leaf(o):
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        elif id(o) in arg_ids:
            # forward returned an input unchanged: the output is a new alias with its own history.
            o = _tensor._wrap(o._impl)
        if (non_diff is not None and id(outs[i]) in non_diff) or \
                (not builtin and o._impl.dtype not in _FLOAT_NAMES):
            o._rg = False
            o._gfn = None
            result.append(o)
            continue
        if o._base is None and o._rg.__class__ is list:  # an input marked dirty: its views require grad too
            _tensor.set_requires_grad(o)
        o._rg = True
        o._gfn = ctx
        o._output_nr = i
        result.append(o)
    ctx._n_outputs = len(outs)
    if len(outs) > 1 or not builtin:
        # Shapes of the outputs, to materialise zero gradients for outputs that got none.
        ctx._out_meta = tuple((o._impl.shape, o._impl.dtype, o._impl.device) if isinstance(o, Tensor) else None
                              for o in result)
        if not builtin:
            ctx._in_meta = tuple((a._impl.shape, a._impl.dtype, a._impl.device) if f else None
                                 for a, f in zip(args, ctx.needs_input_grad))
    to_save = ctx.to_save
    if to_save:
        saved = []
        for t in to_save:
            for j, o in enumerate(result):
                if isinstance(o, Tensor) and (t is o or t is outs[j]):
                    saved.append(_SavedOutput(o._impl, j))
                    break
            else:
                saved.append(t)
        ctx._saved = saved
        ctx.to_save = ()
        if _gs.saved_hooks is not None:
            ctx._saved = _pack_saved(saved, result)
        elif _HAS_VERSION:
            ctx._versions = _versions_of(saved)
    return result[0] if single else tuple(result)


# The dtypes whose outputs are differentiable (PyTorch's: floating and complex).
_FLOAT_NAMES = frozenset(("float32", "float64", "float16", "bfloat16", "complex64", "complex128"))


class InplaceFunction(Function):
    pass


class NestedIOFunction(Function):
    pass


def once_differentiable(fn):
    """Accepted for compatibility: runs backward with grad mode off, so its result is not
    differentiable again."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = _gs.enabled
        _gs.enabled = False
        try:
            return fn(ctx, *args)
        finally:
            _gs.enabled = prev
    return wrapper


# The ctx type seen by forward/backward (PyTorch exposes it under this name).
FunctionCtx = BackwardCFunction
