"""LogisticNormal(loc, scale) on the simplex: Normal(loc, scale) over K - 1 coordinates pushed through
the StickBreakingTransform, as torch.distributions.LogisticNormal."""
from . import Normal, constraints, transforms
from ._torch_style import TorchStyle
from .transformed_distribution import TransformedDistribution

__all__ = ["LogisticNormal"]


class LogisticNormal(TorchStyle, TransformedDistribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        stick_breaking = transforms.StickBreakingTransform()
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
