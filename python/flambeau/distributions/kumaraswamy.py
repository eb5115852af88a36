"""Kumaraswamy(concentration1, concentration0) on [0, 1]: a Beta look-alike with a closed-form cdf, built
as PyTorch builds it (Uniform(0, 1) through u ** (1 / c0), 1 - v, w ** (1 / c1)), so rsample is
reparameterised; moments via lgamma, entropy via digamma."""
import math

import flambeau
from . import Uniform, _broadcast, constraints
from ._expand_support import _expand_transformed
from ._torch_style import TorchStyle
from .extreme_value import EULER_GAMMA
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform

__all__ = ["Kumaraswamy"]


def _moments(a, b, n):
    """E[X^n] = b * B(1 + n / a, b)."""
    arg1 = 1 + n / a
    log_value = flambeau.lgamma(arg1) + flambeau.lgamma(b) - flambeau.lgamma(arg1 + b)
    return b * flambeau.exp(log_value)


class Kumaraswamy(TorchStyle, TransformedDistribution):
    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = _broadcast(concentration1, concentration0)
        base_dist = Uniform(flambeau.full_like(self.concentration0, 0), flambeau.full_like(self.concentration0, 1),
                            validate_args=validate_args)
        transforms = [PowerTransform(exponent=self.concentration0.reciprocal()),
                      AffineTransform(loc=1.0, scale=-1.0),
                      PowerTransform(exponent=self.concentration1.reciprocal())]
        super().__init__(base_dist, transforms, validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    def expand(self, batch_shape, _instance=None):
        new = _expand_transformed(self, batch_shape)
        new.concentration1 = self.concentration1.expand(batch_shape)
        new.concentration0 = self.concentration0.expand(batch_shape)
        return new

    @property
    def mean(self):
        return _moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self):
        log_mode = (self.concentration0.reciprocal() * (-self.concentration0).log1p()
                    - (-self.concentration0 * self.concentration1).log1p())
        undefined = (self.concentration0 < 1) | (self.concentration1 < 1)
        return flambeau.where(undefined, math.nan, log_mode).exp()

    @property
    def variance(self):
        return _moments(self.concentration1, self.concentration0, 2) - flambeau.pow(self.mean, 2)

    def entropy(self):
        t1 = 1 - self.concentration1.reciprocal()
        t0 = 1 - self.concentration0.reciprocal()
        h0 = flambeau.digamma(self.concentration0 + 1) + EULER_GAMMA
        return t0 + t1 * h0 - flambeau.log(self.concentration1) - flambeau.log(self.concentration0)
