"""How an elementwise op reaches `_C`: PyTorch's dtype promotion and the in-place rules.

Operands are cast to one dtype before `_C` is called (a differentiable cast when they require
grad), Python scalars become cached 0-dim tensors, a 0-dim CPU tensor may meet a CUDA one, and an
in-place op under autograd is computed out of place and written back (`_rebase`), which for a view
also gives the tensor owning the storage a new history (`_rebase_view`, PyTorch's CopySlices).
"""
import numbers

from .. import _C
from .._dtype import _default_dtype, _BY_NAME
from .._promote import result_type_names, result_type_tensor_scalar, scalar_impl, can_cast_names, _FLOAT
from .._tensor import MULTI_OUTPUT_VIEW, NoGradView, Tensor, _wrap, set_requires_grad
from ..autograd.function import Function, apply_binary, _is_fw_leaf, _is_fw_tracked, _take_history
from ..autograd.grad_mode import _state as _gs
from .shape import _to


def _cast(t, dt):
    return t if t._impl.dtype == dt else _to(t, dt, t._impl.device)


def _as_tensor_operand(x):
    """numpy arrays (and 0-d arrays) used as operands become tensors, as in PyTorch."""
    if hasattr(x, "__array__") and not isinstance(x, numbers.Number):
        from .._creation import tensor
        return tensor(x)
    return None


def _devices_fixed(ai, bi):
    """PyTorch lets a 0-dim CPU tensor meet a CUDA tensor; move it. Otherwise raise its error."""
    da, db = ai.device, bi.device
    if da == db:
        return None
    if db == "cpu" and bi.ndim == 0:
        return ai, _C.to(bi, bi.dtype, da, False)
    if da == "cpu" and ai.ndim == 0:
        return _C.to(ai, ai.dtype, db, False), bi
    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                       f"{da} and {db}!")


def refuse_complex(x, message, exc=NotImplementedError):
    """PyTorch's refusal of a complex input, in its words: `message` with {T} for the type ('ComplexFloat').
    (Reached otherwise, the real kernels would refuse in their own names: sort for median, max for min.)"""
    if isinstance(x, Tensor) and x._impl.dtype in ("complex64", "complex128"):
        raise exc(message.format(T=_TORCH_TYPE_NAMES[x._impl.dtype]))


def _write_out(out, res, *inputs, op="out=", partial=True):
    """Writes an op's result into a user-given out= tensor (resizing it like PyTorch if needed). `inputs`:
    the op's tensor inputs, checked as PyTorch checks them against out (check_overlap)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"out must be a Tensor, got {type(out).__name__}")
    if inputs:
        check_overlap(out, inputs, op, partial)
    if res._fw is not None:
        raise NotImplementedError("Trying to use forward AD with an out= function that does not support it because "
                                  "it is an out= function")
    if (out._rg or res._rg) and _gs.enabled and not _gs.fw_gate:
        raise RuntimeError("functions with out=... arguments don't support automatic differentiation, but one "
                           "of the arguments requires grad.")
    oi, ri = out._impl, res._impl
    if not can_cast_names(ri.dtype, oi.dtype):
        raise RuntimeError(f"result type {_TORCH_TYPE_NAMES[ri.dtype]} can't be cast to the desired output type "
                           f"{_TORCH_TYPE_NAMES[oi.dtype]} (out= of shape {list(oi.shape)})")  # (PyTorch's words)
    if oi.shape == ri.shape:
        _C.copy_(oi, ri)
    else:
        out._impl = _C.to(ri, oi.dtype, oi.device, True)
    return out


# ---------------------------------------------------------------- binary dispatch
# Complex operands: flambeau/_complex registers its arithmetic here (kernel -> fn(a, b)). The real path
# runs first and reaches it only after refusing a complex operand (the compute kernels refuse complex
# dtypes, scalar_impl a complex number), so real operands pay nothing for complex support.
COMPLEX_BINARY = {}
_REFUSALS = (TypeError, RuntimeError, ValueError, KeyError, NotImplementedError)
_COMPLEX_NAMES = ("complex64", "complex128")


def _is_complex_operand(x):
    impl = getattr(x, "_impl", None)
    if impl is not None:
        return impl.dtype in _COMPLEX_NAMES
    return isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real)


def _binary(a, b, cfn, Fn):
    """a (Tensor) op b (Tensor or number) with promotion; Fn records the graph when needed."""
    try:
        return _binary_real(a, b, cfn, Fn)
    except _REFUSALS:
        cimpl = COMPLEX_BINARY.get(cfn)
        if cimpl is None or not (_is_complex_operand(a) or _is_complex_operand(b)):
            raise
    return cimpl(a, b)


def _binary_real(a, b, cfn, Fn):
    ai = a._impl
    if isinstance(b, Tensor):
        bi = b._impl
        if ai.dtype != bi.dtype:
            dt = result_type_names(a, b)
            a, b = _cast(a, dt), _cast(b, dt)
            ai, bi = a._impl, b._impl
        if (a._rg or b._rg) and _gs.enabled:
            try:
                return apply_binary(Fn, a, b)
            except Exception:
                fixed = _devices_fixed(ai, bi)
                if fixed is None:
                    raise
                a = _wrap(fixed[0]) if fixed[0] is not ai else a
                b = _wrap(fixed[1]) if fixed[1] is not bi else b
                return Fn.apply(a, b)
        try:
            return _wrap(cfn(ai, bi))
        except Exception:
            fixed = _devices_fixed(ai, bi)
            if fixed is None:
                raise
            return _wrap(cfn(*fixed))
    if not isinstance(b, numbers.Number):
        t = _as_tensor_operand(b)
        if t is None:
            raise TypeError(f"unsupported operand type for {Fn.__name__.lower()}: 'Tensor' and '{type(b).__name__}'")
        return _binary(a, t, cfn, Fn)
    da = ai.dtype
    dt = result_type_tensor_scalar(da, b)
    if da != dt:
        a = _cast(a, dt)
        ai = a._impl
    sdt = _scalar_dtype(cfn, dt)
    if sdt != dt and ai.ndim == 0:
        # the core takes the float32 scalar next to a half tensor with dims only (a 0-d one raised a dtype
        # mismatch, e.g. half_loss.mean()'s backward): as a 1-element tensor, reshaped back
        from .shape import reshape
        return reshape(_binary_real(reshape(a, (1,)), b, cfn, Fn), ())
    bi = scalar_impl(b, sdt, ai.device)
    if a._rg and _gs.enabled:
        return apply_binary(Fn, a, _wrap(bi))
    return _wrap(cfn(ai, bi))


_HALF = ("float16", "bfloat16")


def _scalar_dtype(cfn, dt):
    """The dtype of a Python scalar operand's 0-d tensor for an op of result dtype dt: dt, except that
    float16/bfloat16 mul and div take it in float32 (PyTorch's CPU kernels multiply by the scalar's
    own value there, not by its half rounding; the core computes these ops in float32 anyway)."""
    if dt in _HALF and (cfn is _C.mul or cfn is _C.div):
        return "float32"
    return dt


def _rbinary(a, s, cfn, Fn):
    """s (number) op a (Tensor): the reflected operators (2 - t, 1 / t, 2 ** t)."""
    try:
        return _rbinary_real(a, s, cfn, Fn)
    except _REFUSALS:
        cimpl = COMPLEX_BINARY.get(cfn)
        if cimpl is None or not (_is_complex_operand(a) or _is_complex_operand(s)):
            raise
    return cimpl(s, a)


def _rbinary_real(a, s, cfn, Fn):
    if not isinstance(s, numbers.Number):
        t = _as_tensor_operand(s)
        if t is None:
            return NotImplemented
        return _binary(t, a, cfn, Fn)
    ai = a._impl
    da = ai.dtype
    dt = result_type_tensor_scalar(da, s)
    if da != dt:
        a = _cast(a, dt)
        ai = a._impl
    si = scalar_impl(s, _scalar_dtype(cfn, dt), ai.device)
    if a._rg and _gs.enabled:
        return Fn.apply(_wrap(si), a)
    return _wrap(cfn(si, ai))


def _first_tensor(a, b, op):
    if isinstance(a, Tensor):
        return a, b, False
    if isinstance(b, Tensor):
        return b, a, True
    raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(a).__name__}")


def _snapshot(a):
    """A copy of `a` carrying a's place in the graph: in-place ops whose backward needs the old
    value of `a` compute from this, since `a`'s storage is about to be overwritten."""
    s = _wrap(_C.clone(a._impl))
    if a._rg:
        s._rg = True
        _take_history(s, a)
        fw = _tangent_of(a)
        if fw is not None:  # (a forward-AD tangent: autograd/forward_ad.py)
            s._fw = fw
    return s


def _tangent_of(a):
    """a's forward-AD tangent, the view of its base's for a view (autograd/forward_ad.py)."""
    fw = a._fw
    if fw is None and a._base is not None and a._base._fw is not None:
        from ..autograd.forward_ad import tangent_of
        return tangent_of(a)
    return fw


_CUSTOM_VIEW_INPLACE_MSG = (
    "Output {nr} of {name} is a view and is being modified inplace. This view was created inside a "
    "custom Function (or because an input was returned as-is) and the autograd logic to handle "
    "view+inplace would override the custom backward associated with the custom Function, leading to "
    "incorrect gradients. This behavior is forbidden. You can fix this by cloning the output of the "
    "custom Function.")


def _check_custom_view_inplace(a):
    """PyTorch's error for an in-place write (under autograd) into an output of a node marked
    `_forbid_inplace` (nn.Module backward hooks' identity node), or into a view of one."""
    fn = a.grad_fn
    base = a._base
    if getattr(fn, "_forbid_inplace", False) or (
            base is not None and getattr(base.grad_fn, "_forbid_inplace", False)):
        import re
        name = re.sub(r"Backward\d*$", "", type(fn).__name__)
        raise RuntimeError(_CUSTOM_VIEW_INPLACE_MSG.format(nr=a._output_nr, name=name))


def _rebase(a, r):
    """After an in-place op under autograd: `a` holds r's values and takes over r's history.
    When `a` is a view, the tensor owning the storage gets a new history too (PyTorch's
    CopySlices), or gradients through it would silently miss the write."""
    if _gs.fw_gate and not r._rg:  # no_grad inside a forward-AD level, no tangent: a plain write
        _C.copy_(a._impl, r._impl)
        return a
    base = a._base
    if getattr(a.grad_fn, "_forbid_inplace", False) or (base is not None and base.grad_fn is not None):
        _check_custom_view_inplace(a)
    if base is not None:
        return _rebase_view(a, base, r)
    _C.copy_(a._impl, r._impl)
    _track_inplace(a, r)
    if r._fw is not None or a._fw is not None:
        _take_tangent(a, r)
    return a


def _track_inplace(a, r):
    """a (not a view) takes over r's history after an in-place write. A reverse-mode history makes
    the views a had before require grad too (_tensor.set_requires_grad); one kept only for forward
    AD leaves them alone (forward_ad.py gives views their tangents)."""
    if a._rg.__class__ is list and not _is_fw_tracked(r):
        set_requires_grad(a)
    else:
        a._rg = True
    _take_history(a, r)


def _take_tangent(a, r):
    """After an in-place op: a's forward-AD tangent takes r's values, in place where a has one
    (autograd/forward_ad.py)."""
    from ..autograd import forward_ad
    forward_ad.update_tangent(a, r._fw)


class _CopySlicesInplace(Function):
    """base with the region `view_fn` selects replaced by `r`, recorded for a write that has
    been (or is about to be) made in place. Forward returns an alias of base (no copy)."""
    _builtin = True
    _grad_fn_name = "CopySlices"

    @staticmethod
    def forward(ctx, base, r, view_fn):
        ctx.view_fn = view_fn
        ctx.rshape = r._impl.shape
        return _wrap(base._impl)

    @staticmethod
    def backward(ctx, g):
        view_fn = ctx.view_fn
        nig = ctx.needs_input_grad
        gi = g._impl
        if not gi.is_contiguous():  # view_fn addresses a dense base-shaped layout (g may be expanded)
            gi = _C.contiguous(gi)
        gb = gr = None
        if nig[0]:
            z = _C.clone(gi)
            _C.fill_(view_fn(z), 0)
            gb = _wrap(z)
        if nig[1]:
            gr = _wrap(_C.contiguous(view_fn(gi)))
        return gb, gr, None


def _view_geometry(v, base, what):
    """A function giving, of any contiguous tensor shaped like `base`, the region view `v` covers of base."""
    bi, vi = base._impl, v._impl
    if not bi.is_contiguous():
        raise NotImplementedError(f"flambeau: {what} cannot be recorded by autograd when the view's base is "
                                  "not contiguous; make the base contiguous first")
    rel = vi.storage_offset - bi.storage_offset
    size, stride = list(vi.shape), list(vi.stride)

    def view_fn(impl):
        return _C.as_strided(impl, size, stride, impl.storage_offset + rel)
    return view_fn


_MULTI_OUTPUT_VIEW_MSG = (
    "A view was created in no_grad mode and its base or another view of its base has been modified inplace with "
    "grad mode enabled. This view is the output of a function that returns multiple views. Such functions do not "
    "allow the output views to be modified inplace. You should replace the inplace operation by an out-of-place one.")


def no_grad_view_error(v, direct):
    """PyTorch's error for a view made under no_grad / inference_mode (_tensor.NoGradView): written in place
    with grad mode on (direct), or used by autograd after its storage was written (indirect)."""
    mode, when = ("inference", "in normal mode") if v._vsrc.inference else ("no_grad", "with grad mode enabled")
    fn = v._gfn
    if fn is None:
        who = f"A view was created in {mode} mode"
    else:
        import re
        who = (f"Output {v._output_nr} of {re.sub(r'Backward[0-9]*$', '', type(fn).__name__)} is a view of a view "
               f"which was created in {mode} mode")
    what = "is being modified inplace" if direct else "its base or another view of its base has been modified inplace"
    block = "inference_mode" if v._vsrc.inference else "no_grad"
    return RuntimeError(f"{who} and {what} {when}. Given that this use case is ambiguous and error-prone, it is "
                        f"forbidden. You can clarify your code by moving both the view and the inplace either both "
                        f"inside the {block} block (if you don't want the inplace to be tracked) or both outside (if "
                        f"you want the inplace to be tracked).")


def _check_no_grad_view(v):
    """The history of view v made under no_grad (its `_vsrc` a NoGradView): its own (None, or that of a
    view taken of it with grad mode on), unless its storage was written since it was made while autograd
    needs it (its base requires grad, or it has a history): PyTorch then raises."""
    fn = v._gfn
    if v._impl.version != v._vsrc.version and (fn is not None or v._base._rg):
        raise no_grad_view_error(v, False)
    return fn


def refresh_stale_view(v):
    """Gives view v the history "a view of its base as the base is now" and returns its grad_fn (see
    autograd.function._refresh_view). A base without a history now (detach_()) leaves v as it was."""
    from ..autograd.function import _take_history
    from .shape import _ViewFn
    base = v._base
    fn = base._gfn
    if v._vsrc.__class__ is NoGradView:
        return _check_no_grad_view(v)
    if v._vsrc is MULTI_OUTPUT_VIEW:
        if fn is None:
            return v._gfn
        raise RuntimeError(_MULTI_OUTPUT_VIEW_MSG)
    v._vsrc = fn
    if fn is None:
        return v._gfn
    prev = _gs.enabled
    _gs.enabled = True
    try:
        nv = _ViewFn.apply(base, _view_geometry(v, base, "a view used after an in-place operation on its base"))
    finally:
        _gs.enabled = prev
    _take_history(v, nv)
    return v._gfn


def _rebase_view(v, base, r):
    if v._vsrc.__class__ is NoGradView:
        raise no_grad_view_error(v, True)
    if v._vsrc is MULTI_OUTPUT_VIEW:
        raise RuntimeError(_MULTI_OUTPUT_VIEW_MSG.replace(
            "its base or another view of its base has been modified inplace", "is being modified inplace"))
    if base._rg and base.grad_fn is None and _gs.enabled and not _is_fw_leaf(base):
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    view_fn = _view_geometry(v, base, "an in-place operation on a view")
    node_out = _CopySlicesInplace.apply(base, r, view_fn)
    _C.copy_(v._impl, r._impl)  # the write itself (into the shared storage)
    _track_inplace(base, node_out)
    primal_view = (node_out._fw is not None or base._fw is not None) and _is_primal_view(v)
    if (node_out._fw is not None or base._fw is not None) and not primal_view:
        _take_tangent(base, node_out)
    from .shape import _ViewFn
    nv = _ViewFn.apply(base, view_fn)
    v._rg = True
    _take_history(v, nv)
    v._vsrc = base.grad_fn
    if primal_view:  # its new tangent is the op's, not a view of the base's
        _take_tangent(v, r)
    elif nv._fw is not None or v._fw is not None:
        _take_tangent(v, nv)
    return v


def _is_primal_view(v):
    """unpack_dual's primal is a view of the dual, but not a forward view: writing into it leaves
    the dual's tangent alone (autograd/forward_ad.py)."""
    from ..autograd import forward_ad
    return forward_ad._current_level >= 0 and forward_ad.is_primal_view(v)


def check_overlap(out, inputs, op, partial=True):
    """PyTorch's refusal to write into `out` what overlaps one of `inputs` (`_C.assert_no_overlap`: partially
    for elementwise ops and copy_, at all for index ops and cat), for the writes made from Python (out=, in-place
    ops computed out of place: `_C` never sees both), and of an out with elements sharing memory (expanded).
    Only tensors of one view family (the same `_base`, or out itself) can share memory here, so the common call
    reads two slots per tensor and calls nothing (an alias made by detach() or .data is not checked: the result,
    computed apart and copied, is still the well-defined one)."""
    ob = out._base
    root = out if ob is None else ob
    if ob is not None:  # (only a view can have elements sharing memory)
        check_no_internal_overlap(out._impl, op)
    for x in inputs:
        if isinstance(x, Tensor):
            xb = x._base
            if (x if xb is None else xb) is root and type(x._impl) is _C.TensorImpl and \
                    type(out._impl) is _C.TensorImpl:
                _C.assert_no_overlap(out._impl, x._impl, op, partial)


def check_no_internal_overlap(impl, op):
    """PyTorch refuses to write into a tensor several of whose elements share one memory location (an
    expanded view): the result would depend on the order of the writes. Same message as its
    assert_no_internal_overlap, with the op and the shape."""
    stride = impl.stride
    if 0 not in stride or impl.numel == 0:  # (the common case, cheaply) / an empty tensor: nothing is written
        return
    shape = impl.shape
    for n, s in zip(shape, stride):
        if s == 0 and n > 1:
            raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor "
                               f"(shape {list(shape)}) refers to a single memory location. Please clone() the "
                               f"tensor before performing the operation.")


def _check_inplace_leaf(a):
    # (fw_gate: no_grad in a forward-AD level; a forward-AD leaf does not require grad)
    if a._rg and a.grad_fn is None and not _gs.fw_gate and not _is_fw_leaf(a):
        if a._base is not None and a._vsrc.__class__ is NoGradView:  # (no leaf: a view made under no_grad)
            raise no_grad_view_error(a, True)
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")


def _op_name(cfn):
    return getattr(cfn, "__name__", "in-place op")


def _inplace_binary(a, b, cfn, Fn):
    """a op= b: computed in a's dtype (after checking the result type may be cast into it)."""
    ai = a._impl
    da = ai.dtype
    if isinstance(b, Tensor):
        db = b._impl.dtype
        if db != da:
            dt = result_type_names(a, b)
            if not can_cast_names(dt, da):
                raise RuntimeError(f"{_op_name(cfn)}_: result type {_BY_NAME[dt]} can't be cast to the desired output "
                                   f"type {_BY_NAME[da]} (shapes {list(ai.shape)} and {list(b._impl.shape)})")
            b = _cast(b, da)
        bt = b
    else:
        if not isinstance(b, numbers.Number):
            t = _as_tensor_operand(b)
            if t is None:
                raise TypeError(f"unsupported operand type: 'Tensor' and '{type(b).__name__}'")
            return _inplace_binary(a, t, cfn, Fn)
        dt = result_type_tensor_scalar(da, b)
        if not can_cast_names(dt, da):
            raise RuntimeError(f"{_op_name(cfn)}_: result type {_BY_NAME[dt]} can't be cast to the desired output "
                               f"type {_BY_NAME[da]} (shape {list(ai.shape)} and a {type(b).__name__} scalar)")
        bt = None
        bi = scalar_impl(b, _scalar_dtype(cfn, da), ai.device)
    if (a._rg or (bt is not None and bt._rg)) and _gs.enabled:
        _check_inplace_leaf(a)
        if bt is not None:  # (`_C` checks it on the path below)
            _C.assert_no_overlap(ai, bt._impl, _op_name(cfn) + "_", True)
        src = _snapshot(a) if Fn._saves_self else a
        r = Fn.apply(src, bt if bt is not None else _wrap(bi))
        return _rebase(a, r)
    bi = bt._impl if bt is not None else bi
    try:
        cfn(ai, bi, out=ai)
    except Exception:
        fixed = _devices_fixed(ai, bi) if bt is not None else None
        if fixed is None:
            raise
        cfn(ai, fixed[1], out=ai)
    return a


def _scalar_like(t, v):
    return _wrap(scalar_impl(v, t._impl.dtype if t._impl.dtype in _FLOAT else _default_dtype[0]._name, t._impl.device))


_TORCH_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "float16": "Half", "bfloat16": "BFloat16",
                     "complex64": "ComplexFloat", "complex128": "ComplexDouble"}
