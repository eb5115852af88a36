"""torch.autograd.forward_ad: dual tensors and forward-mode AD (one level, as PyTorch 2.x).

    with forward_ad.dual_level():
        d = forward_ad.make_dual(x, t)          # x + t*eps
        y = f(d)
        jvp = forward_ad.unpack_dual(y).tangent  # J_f(x) @ t, computed eagerly op by op

How flambeau does it (the mechanism lives in _forward_mode.py):
- A tensor's tangent is its `_fw` slot. Every op that carries a tangent must reach autograd's
  Function machinery, and every op already does when an input has `_rg` set and grad mode is on.
  So a dual tensor whose primal does not require grad gets `_rg` anyway, as a "forward-AD leaf":
  no grad_fn, and for gradient edge (its `_acc`) a root marked `_fw_only` that drops what reaches
  it. An op whose tracked inputs are all such leaves returns such leaves too (its node is used to
  compute the tangents, then dropped). So to the user, as in PyTorch, these tensors have no
  grad_fn, are leaves and do not require grad (`requires_grad` and backward() look at `_acc`),
  while ops on them still reach the forward-AD hook; an op mixing them with tensors that require
  grad records a real node, whose edges to them lead to the dropping root.
- While a level is open, Function.apply (and the builtin fast applies) hand every call to
  `_forward_mode.apply`, which runs the op, records its node and computes the output tangents:
  by a per-op rule where one is registered (linear ops: the op applied to the tangents; bilinear
  ops: the product rule; custom Functions: their `jvp`), otherwise generically from the node's own
  backward by the double-vjp trick (J t = d/du <J^T u, t>). Rules are written with flambeau ops,
  so tangents are themselves differentiable in reverse mode (forward-over-reverse composes).
- In-place ops, as PyTorch's: the op's result tangent is written into the tangent the tensor
  already has (update_tangent), so the object unpack_dual returned sees the new values, and a
  view's tangent, being a view of its base's, follows writes through either. A view made before
  its base got a tangent gets the matching view of it on first use (tangent_of); such views of
  untracked tensors are noted while the level is open (_note_view) and tracked once their base
  gets a tangent. Tangents are laid out like their primals, so that views line up.
- Tangents live only inside their level: exit_dual_level clears every tangent set in it and
  un-tracks the forward-only tensors.
- Under no_grad the level keeps grad recording's gate open (ops must still reach the Function
  machinery) while `is_grad_enabled()` reports False and no reverse graph is recorded; see
  grad_mode.no_grad. inference_mode drops tangents, as PyTorch's does.
"""
import weakref
from collections import namedtuple

from .. import _C, _tensor
from . import function as _function
from . import grad_mode as _grad_mode
from .grad_mode import _state as _gs

__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual"]


class UnpackedDualTensor(namedtuple("UnpackedDualTensor", ["primal", "tangent"])):
    """What unpack_dual returns: the primal (a view without tangent) and the tangent (or None)."""


_current_level = -1     # -1: no level open (PyTorch's `forward_ad._current_level`)
_duals = []             # weakrefs to every tensor given a tangent in the open level


def enter_dual_level():
    """Opens the (single) forward AD level and returns its index, 0."""
    global _current_level
    if _current_level >= 0:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    from . import _forward_mode
    _forward_mode.install_rules()
    _current_level = 0
    _function._fw_hook = _forward_mode.apply
    _tensor._view_hook = _note_view
    _grad_mode._fw_open[0] = True
    if not _gs.enabled and not _gs.inference:  # opened under no_grad: keep the ops' gate open
        _gs.enabled = _gs.fw_gate = True
    return 0


def exit_dual_level(*, level=None):
    """Closes the level: every tangent made in it is dropped, and tensors that were tracked only
    for forward AD stop being tracked."""
    global _current_level
    if level is None:
        level = _current_level
    if level != _current_level or level < 0:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that was created. "
                           "This is not supported.")
    _function._fw_hook = None
    _tensor._view_hook = None
    del _plain_views[:]
    _current_level = -1
    _grad_mode._fw_open[0] = False
    if _gs.fw_gate:
        _gs.enabled = _gs.fw_gate = False
    refs = _duals[:]
    del _duals[:]
    _primal_views.clear()
    for r in refs:
        t = r()
        if t is None:
            continue
        t._fw = None
        if t._rg and t.grad_fn is None and _function._is_fw_leaf(t):
            t._rg = False
            t._acc = None


class dual_level:
    """Context manager (and decorator) opening the forward AD level for its block."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with dual_level():
                return fn(*args, **kwargs)
        return wrapper


def _check_level(level, what):
    if level is None:
        level = _current_level
    if level < 0:
        if what == "make":
            raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure to "
                               "enter_dual_level() first.")
        return None
    if level != _current_level:
        raise RuntimeError(f"Invalid level given to forward AD: level {level} is not the current level "
                           f"{_current_level}")
    return level


def tangent_of(t):
    """t's tangent at the open level, or None. A view without a tangent of its own whose base has
    one gets (and keeps) the matching view of the base's tangent, as PyTorch's views do: the base
    got its tangent from an in-place op after the view was made."""
    fw = t._fw
    if fw is None and t._base is not None and t._base._fw is not None and _current_level >= 0:
        return _view_tangent(t)
    return fw


def _view_tangent(v):
    if is_primal_view(v):
        return None
    base = v._base
    bi, vi = base._impl, v._impl
    bt = base._fw
    from ._forward_mode import same_layout
    if not same_layout(bt._impl, bi) and bi.numel > 1:
        # The view addresses the base's layout: lay the base's tangent out like the base (its
        # values are kept; views taken of the old tangent object no longer follow it).
        if not _C.is_non_overlapping_and_dense(bi):
            return None
        from ._forward_mode import laid_out_like
        bt = laid_out_like(bt, bi)
        set_tangent(base, bt)
    bti = bt._impl
    geometry = (list(vi.shape), list(vi.stride), bti.storage_offset + vi.storage_offset - bi.storage_offset)
    if bt._rg:  # a tangent differentiable in reverse mode: a differentiable view of it
        prev = _function._fw_hook
        _function._fw_hook = None
        try:
            vt = bt.as_strided(*geometry)
        finally:
            _function._fw_hook = prev
    else:
        vt = _tensor._wrap_view(_C.as_strided(bti, *geometry), bt)
    set_tangent(v, vt)
    return vt


# unpack_dual's primals: views of the dual for reverse mode, but not forward views (PyTorch's):
# an in-place op on one gives it a tangent of its own and leaves the dual's tangent as it was.
# id -> weakref (a WeakSet would compare tensors with ==, which is elementwise).
_primal_views = {}


def mark_primal_view(p):
    key = id(p)

    def forget(ref):
        if _primal_views.get(key) is ref:
            del _primal_views[key]
    _primal_views[key] = weakref.ref(p, forget)


def is_primal_view(t):
    r = _primal_views.get(id(t))
    return r is not None and r() is t


# Views made in the level of tensors that are not tracked (no tangent, no grad): if an in-place op
# later gives their base a tangent, they must see (a view of) it, as PyTorch's views do; being
# untracked, ops on them would not reach the forward-AD hook, so they are tracked from then on.
# (Views made before the level opened are not known: such a view keeps seeing no tangent.)
_plain_views = []
_plain_compact_at = [1024]


def _note_view(v):
    if not v._base._rg:
        _plain_views.append(weakref.ref(v))
        if len(_plain_views) >= _plain_compact_at[0]:
            _plain_views[:] = [r for r in _plain_views if r() is not None and not r()._rg]
            _plain_compact_at[0] = max(1024, 2 * len(_plain_views))


def _track_views_of(base):
    from ._forward_mode import _ROOT
    for r in _plain_views:
        v = r()
        if v is not None and v._base is base and not v._rg and not is_primal_view(v):
            v._rg = True
            v._acc = _ROOT
            _duals.append(r)  # (untracked again when the level closes)


def update_tangent(t, new):
    """After an in-place op wrote new values into t: its tangent becomes `new` (None: the op's
    result carries none). As in PyTorch, a tangent t already has is updated in place (the object
    unpack_dual returned, and the tangents of t's views, which are views of it, see the new
    values); a tangent that must stay differentiable in reverse mode is replaced instead."""
    old = tangent_of(t)
    if old is None:
        if new is not None:
            set_tangent(t, new)
            if t._base is None and _plain_views:
                _track_views_of(t)
        return
    if old is new:
        return
    oi = old._impl
    if new is None:
        if not old._rg:
            _C.fill_(oi, 0)
            return
        new = _tensor._wrap(_C.full(list(oi.shape), 0, oi.dtype, oi.device))
    ni = new._impl
    from ._forward_mode import same_layout
    if old._rg or new._rg or ni.shape != oi.shape or not same_layout(oi, t._impl):
        set_tangent(t, new)
        return
    if ni.dtype != oi.dtype or ni.device != oi.device:
        ni = _C.to(ni, oi.dtype, oi.device, False)
    _C.copy_(oi, ni)


def set_tangent(t, tangent):
    """Gives tensor t `tangent` at the open level (t keeps its values and history)."""
    t._fw = tangent
    _duals.append(weakref.ref(t))
    if len(_duals) >= _compact_at[0]:  # a long level (a training loop): drop the dead references
        _duals[:] = [r for r in _duals if r() is not None]
        _compact_at[0] = max(1024, 2 * len(_duals))


_compact_at = [1024]


def set_tangent_tracked(t, tangent):
    """set_tangent for a tensor that may not be tracked yet (a detached one): tracked for forward
    AD only then, so that ops reach the forward-AD hook with it."""
    if not t._rg:
        from ._forward_mode import _ROOT
        t._rg = True
        t.grad_fn = None
        t._acc = _ROOT
    set_tangent(t, tangent)


def is_fw_only(t):
    """Whether t is tracked only because it carries a tangent (not for reverse mode)."""
    return _function._is_fw_tracked(t)


def make_dual(tensor, tangent, *, level=None):
    """A view of `tensor` carrying `tangent` as its forward gradient at `level` (the open one)."""
    Tensor = _tensor.Tensor
    _check_level(level, "make")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual: expected Tensor primal and tangent, got "
                        f"{type(tensor).__name__} and {type(tangent).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor.dtype}")
    if not tangent.is_floating_point():
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {tangent.dtype}")
    pi, ti = tensor._impl, tangent._impl
    if pi.shape != ti.shape:
        raise RuntimeError("Trying to set a forward gradient that has a different size than that of the original "
                           f"Tensor, this is not supported. Tensor is of size {list(pi.shape)} while the given "
                           f"forward gradient is of size {list(ti.shape)}.")
    if pi.device != ti.device:
        raise RuntimeError(f"make_dual: the tangent is on {ti.device} but the primal is on {pi.device}")
    if tensor._fw is not None:
        raise RuntimeError("Making a dual Tensor based on a Tensor that already has a forward gradient at the same "
                           "level 0 is not supported.")
    from . import _forward_mode
    if ti.dtype != pi.dtype:
        # PyTorch keeps such a tangent in its own dtype, and then some ops take it and others
        # raise; flambeau casts it to the primal's dtype once, here.
        tangent = tangent.to(tensor.dtype)
        ti = tangent._impl
    # The tangent is kept as given when its layout matches the primal's (unpack_dual then returns
    # the very object, as PyTorch does); otherwise a copy laid out like the primal.
    if ti.stride != pi.stride and pi.numel > 1:
        tangent = _forward_mode.laid_out_like(tangent, pi)
    dual = _forward_mode.alias_of(tensor)
    set_tangent(dual, tangent)
    return dual


def unpack_dual(tensor, *, level=None):
    """(primal, tangent) of `tensor`: primal a view of it without tangent (tracked for reverse mode
    when `tensor` requires grad), tangent None when it has none at the level."""
    Tensor = _tensor.Tensor
    level = _check_level(level, "unpack")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    if level is None or tangent_of(tensor) is None:
        return UnpackedDualTensor(tensor, None)
    from . import _forward_mode
    return UnpackedDualTensor(_forward_mode.primal_view(tensor), tensor._fw)


def _is_fwd_grad_enabled():
    return True
