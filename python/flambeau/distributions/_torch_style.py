"""What torch.distributions.Distribution does for every family and flambeau's base class leaves to each
family: validating the parameters named in `arg_constraints` at construction (skipping dependent
constraints and lazily built parameters), validating a value against the shapes and the support
(`_validate_sample`), PyTorch's repr, and `lazy_property`. The continuous families (exponential.py,
laplace_cauchy.py, ...) mix `TorchStyle` in ahead of Distribution or TransformedDistribution so their
errors and reprs read as PyTorch's."""
import flambeau
from . import _as_tensor, constraints

__all__ = ["TorchStyle", "lazy_property"]


class lazy_property:
    """torch.distributions.utils.lazy_property: computed on first access and stored on the instance (so a
    parameter given as `probs` builds `logits` only when asked, and expand can tell which was given)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with flambeau.enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


class TorchStyle:
    """Mixin: PyTorch's argument checks, sample checks and repr on top of flambeau's Distribution."""

    def _check_arg_constraints(self):
        """Distribution.__init__'s loop: each parameter must satisfy its constraint, else ValueError."""
        for param, constraint in type(self).arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            if param not in self.__dict__ and isinstance(getattr(type(self), param, None), lazy_property):
                continue
            value = getattr(self, param)
            if not bool(constraint.check(value).all()):
                raise ValueError(f"Expected parameter {param} ({type(value).__name__} of shape "
                                 f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                 f"{constraint!r}, but found invalid values:\n{value}")

    def _init_checked(self, batch_shape, event_shape=(), validate_args=None):
        """Distribution.__init__ followed by the parameter checks when validation is on."""
        from . import Distribution
        Distribution.__init__(self, batch_shape, event_shape, validate_args)
        if self._validate:
            self._check_arg_constraints()

    def _validate_sample(self, value):
        """The value's shape must broadcast with batch_shape + event_shape and the value lie in the support."""
        self._validate_sample_shape(value)
        support = self.support
        if not bool(support.check(value).all()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be "
                             f"within the support ({support!r}) of the distribution {self!r}, but found invalid "
                             f"values:\n{value}")

    def _value(self, value, like):
        """The value to score as a tensor (numbers as like's dtype), validated when validation is on."""
        if self._validate:
            self._validate_sample(value)
        return _as_tensor(value, like)

    def __repr__(self):
        names = [k for k in type(self).arg_constraints if k in self.__dict__]
        args = ", ".join(f"{k}: {self.__dict__[k] if self.__dict__[k].numel() == 1 else self.__dict__[k].size()}"
                         for k in names)
        return f"{type(self).__name__}({args})"
