"""LogisticNormal(loc, scale) on the simplex: Normal(loc, scale) over K - 1 coordinates pushed through
the StickBreakingTransform, as torch.distributions.LogisticNormal. StickBreakingTransform belongs to the
structured transforms (the s15-distd branch adds it to transforms.py); until it is there, constructing a
LogisticNormal raises NotImplementedError naming what is missing rather than building something else."""
from . import Normal, constraints, transforms
from ._torch_style import TorchStyle
from .transformed_distribution import TransformedDistribution

__all__ = ["LogisticNormal"]


def _stick_breaking_transform():
    cls = getattr(transforms, "StickBreakingTransform", None)
    if cls is None:
        raise NotImplementedError("LogisticNormal needs flambeau.distributions.transforms.StickBreakingTransform, "
                                  "which this build of flambeau does not have")
    return cls()


class LogisticNormal(TorchStyle, TransformedDistribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        stick_breaking = _stick_breaking_transform()
        base_dist = Normal(loc, scale, validate_args=validate_args)
        if not base_dist.batch_shape:
            base_dist = base_dist.expand([1])
        super().__init__(base_dist, stick_breaking, validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    @property
    def loc(self):
        return self.base_dist.base_dist.loc

    @property
    def scale(self):
        return self.base_dist.base_dist.scale
