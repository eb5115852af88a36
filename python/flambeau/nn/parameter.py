"""nn.Parameter and nn.Buffer: tensor kinds that a Module registers when they are assigned to it."""
import weakref

import flambeau
from flambeau._tensor import Tensor, _disabled_torch_function_impl

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "is_lazy"]


def _share_as(cls, data, requires_grad):
    """A new object of class `cls` (a Tensor subclass) sharing `data`'s storage, detached from its graph."""
    make = getattr(Tensor, "_make_subclass", None)
    if make is not None:
        return make(cls, data.detach(), requires_grad)
    t = data.detach()
    t.__class__ = cls
    t.requires_grad_(requires_grad)
    return t


class _ParameterMeta(type):
    """`isinstance(t, Parameter)` also holds for an instance of a user's Tensor subclass made a parameter by
    Parameter(t) (flagged `_is_param`, as PyTorch's custom-tensor path does), so a Module registers it."""

    def __instancecheck__(cls, instance):
        t = type(instance)
        if t is Tensor:  # (the common negative; a plain Tensor is never flagged)
            return False
        if type.__instancecheck__(cls, instance):
            return True
        if cls is Parameter and issubclass(t, Tensor):
            return bool(instance.__dict__.get("_is_param", False))
        return False


class Parameter(Tensor, metaclass=_ParameterMeta):
    """A Tensor that is a module parameter: assigning one to a Module attribute registers it.

    Parameter(data=None, requires_grad=True) shares `data`'s memory and is a leaf of the autograd graph.
    `data` of a user's Tensor subclass stays of that class (detached, flagged as a parameter), as in PyTorch.
    """
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = flambeau.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a Tensor, got {type(data).__name__}")
        if type(data) is Tensor or type(data) is Parameter or cls is not Parameter or \
                getattr(type(data), "__torch_function__", None) is _disabled_torch_function_impl:
            return _share_as(cls, data, requires_grad)
        # a user's subclass: it stays what it is (PyTorch's path for custom tensors)
        t = data.detach().requires_grad_(requires_grad)
        if type(t) is not type(data):
            raise RuntimeError(f"Creating a Parameter from an instance of type {type(data).__name__} requires "
                               f"that detach() returns an instance of the same type, but return type "
                               f"{type(t).__name__} was found instead.")
        t._is_param = True
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """A Tensor that a Module registers as a buffer when it is assigned to a Module attribute
    (`persistent=False` keeps it out of state_dict())."""
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = flambeau.empty(0)
        t = _share_as(cls, data, data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass


# ----------------------------------------------------------------------------------------------
# Uninitialized parameters and buffers (the lazy modules' placeholders)
# ----------------------------------------------------------------------------------------------
class UninitializedTensorMixin:
    """A placeholder whose shape is not known yet: it holds an empty tensor of the dtype and device
    the real one will have, and `materialize(shape)` turns it, in place, into its `cls_to_become`
    (the object keeps its identity, so an optimizer built before materialization still holds it).

    As in PyTorch, `.shape` raises; `.to()`/`.double()`/`.cuda()` (Module.to and friends) change
    the dtype and device it will be materialized with."""

    __slots__ = ()
    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None):
        data = self.data
        if device is None:
            device = data.device
        if dtype is None:
            dtype = data.dtype
        self.data = flambeau.empty(shape, device=device, dtype=dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call "
                           "`forward` to initialize the parameters before calling "
                           "`module.share_memory()`.")

    def _rewrap(self, out):
        """`out` (a converted copy of the placeholder's empty data) as a placeholder of this class."""
        if out is self:
            return self
        new = Tensor._make_subclass(type(self), out.detach(), self.requires_grad)
        if isinstance(self, UninitializedBuffer):
            new.persistent = self.persistent
        return new

    def to(self, *args, **kwargs):
        return self._rewrap(Tensor.to(self, *args, **kwargs))

    def _cast(self, name):
        return self._rewrap(Tensor._cast(self, name))

    def __repr__(self):
        return f"<{self.__class__.__name__}>"

    def __reduce_ex__(self, proto):
        return (self.__class__, (self.requires_grad,))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        data = self.data
        result = type(self)(self.requires_grad, data.device, data.dtype)
        memo[id(self)] = result
        return result


def is_lazy(param):
    """Whether `param` is an UninitializedParameter or UninitializedBuffer."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (see the lazy modules); `materialize(shape)` makes
    it a regular Parameter. The device and dtype it will have can be given here."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        data = flambeau.empty(0, device=device, dtype=dtype)
        return Tensor._make_subclass(cls, data, requires_grad)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass


# UninitializedBuffer has no __dict__ (its layout must equal Tensor's for `materialize` to turn it
# into a plain Tensor in place), so its `persistent` flag lives here, keyed by the object's id
# and dropped when the object dies.
_BUFFER_PERSISTENT = {}


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (see the lazy modules); `materialize(shape)` makes it
    a regular Tensor. The device and dtype it will have can be given here."""
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)

    __slots__ = ()
    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None, persistent=True):
        data = flambeau.empty(0, device=device, dtype=dtype)
        t = Tensor._make_subclass(cls, data, requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, requires_grad=False, device=None, dtype=None, persistent=True):
        pass

    @property
    def persistent(self):
        return _BUFFER_PERSISTENT.get(id(self), True)

    @persistent.setter
    def persistent(self, value):
        key = id(self)
        if key not in _BUFFER_PERSISTENT:
            weakref.finalize(self, _BUFFER_PERSISTENT.pop, key, None)
        _BUFFER_PERSISTENT[key] = bool(value)
