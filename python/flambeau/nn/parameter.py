"""nn.Parameter and nn.Buffer: tensor kinds that a Module registers when they are assigned to it."""
import flambeau
from flambeau._tensor import Tensor

__all__ = ["Parameter", "Buffer"]


def _share_as(cls, data, requires_grad):
    """A new object of class `cls` (a Tensor subclass) sharing `data`'s storage, detached from its graph."""
    make = getattr(Tensor, "_make_subclass", None)
    if make is not None:
        return make(cls, data.detach(), requires_grad)
    t = data.detach()
    t.__class__ = cls
    t.requires_grad_(requires_grad)
    return t


class Parameter(Tensor):
    """A Tensor that is a module parameter: assigning one to a Module attribute registers it.

    Parameter(data=None, requires_grad=True) shares `data`'s memory and is a leaf of the autograd graph.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = flambeau.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a Tensor, got {type(data).__name__}")
        return _share_as(cls, data, requires_grad)

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

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = flambeau.empty(0)
        t = _share_as(cls, data, data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass
