"""torch.utils.swap_tensors: exchange the whole contents of two tensor objects (data, dtype, device,
requires_grad, grad, autograd history, Python class and attributes) while each keeps its identity, so
references held elsewhere (an optimizer's parameter list, a module's attribute) see the new contents."""
import weakref

from .._tensor import Tensor

_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")
_UNSET = object()


def _get_slot(t, name):
    try:
        return getattr(Tensor, name).__get__(t)  # the slot itself
    except AttributeError:
        return _UNSET


def _set_slot(t, name, value):
    if value is _UNSET:
        try:
            getattr(Tensor, name).__delete__(t)
        except AttributeError:
            pass
    else:
        getattr(Tensor, name).__set__(t, value)


def _poisoned():
    raise RuntimeError(
        "Trying to execute AccumulateGrad node that was poisoned by swap_tensors this can happen when you try to run "
        "backward on a tensor that was swapped. For a module m with "
        "`torch.__future__.set_swap_module_params_on_conversion(True)` you should not change the device or dtype of "
        "the module (e.g. `m.cpu()` or `m.half()`) between running forward and backward. To resolve this, please only "
        "change the device/dtype before running forward (or after both forward and backward).")


def swap_tensors(t1, t2):
    """Swap the contents of t1 and t2 (both Tensors)."""
    if not isinstance(t1, Tensor) or not isinstance(t2, Tensor):
        raise TypeError(f"swap_tensors: expected two Tensors, got {type(t1).__name__} and {type(t2).__name__}")
    for t, name in ((t1, "t1"), (t2, "t2")):
        acc = _get_slot(t, "_acc")
        own = getattr(acc, "_ref", None) if acc not in (_UNSET, None) else None
        if any(r is not own for r in weakref.getweakrefs(t)):
            raise RuntimeError(f"Cannot swap {name} because it has weakref associated with it")
    t1.__class__, t2.__class__ = t2.__class__, t1.__class__
    d1 = getattr(t1, "__dict__", None)
    d2 = getattr(t2, "__dict__", None)
    if d1 is not None or d2 is not None:
        if d1 is None or d2 is None:
            raise RuntimeError("Cannot swap t1 and t2 if they have different slots")
        saved = dict(d1)
        d1.clear()
        d1.update(d2)
        d2.clear()
        d2.update(saved)
    for name in _SLOTS:
        if name == "_acc":
            # A leaf's gradient accumulator points at the object, which now holds other contents: graphs
            # recorded before the swap must not accumulate into it (PyTorch poisons the node the same way);
            # the next forward creates a fresh one.
            for t in (t1, t2):
                acc = _get_slot(t, name)
                if acc not in (_UNSET, None):
                    acc._ref = _poisoned
                _set_slot(t, name, None)
            continue
        v1, v2 = _get_slot(t1, name), _get_slot(t2, name)
        _set_slot(t1, name, v2)
        _set_slot(t2, name, v1)
