"""What PyTorch's Distribution base does for every family and flambeau's older families each write out:
lazy_property (a parameter derived from the given one on first use, e.g. logits from probs),
validation of the parameters against arg_constraints and of scored values against support (ValueError
naming the parameter or value and the constraint), and PyTorch's repr. Mixed into the newer families."""
import flambeau
from . import constraints


class lazy_property:
    """PyTorch's lazy_property: computed on first access (with grad enabled, so that it stays
    differentiable when first touched under no_grad), then stored in the instance's __dict__."""
    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with flambeau.enable_grad():
            value = self.fn(instance)
        instance.__dict__[self.fn.__name__] = value
        return value


class ValidatedArgs:
    """Mixin for Distribution subclasses: call self._validate_parameters() at the end of __init__."""

    def _validate_parameters(self):
        if not self._validate:
            return
        for name, constraint in self.arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            if name not in self.__dict__ and isinstance(getattr(type(self), name, None), lazy_property):
                continue  # not given: derived from a parameter that is validated
            value = getattr(self, name)
            self._check(name, value, constraint.check(value), repr(constraint))

    def _validate_sample(self, value):
        self._validate_sample_shape(value)
        support = self.support
        self._check_sample(value, support.check(value), repr(support))

    def __repr__(self):
        parts = []
        for name in self.arg_constraints:
            if name in self.__dict__:
                v = self.__dict__[name]
                parts.append(f"{name}: {v.item() if v.dim() == 0 else (v if v.numel() == 1 else v.size())}")
        return f"{type(self).__name__}({', '.join(parts)})"
