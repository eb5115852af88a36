"""HalfNormal(scale) and HalfCauchy(scale): |X| for X ~ Normal(0, scale) or Cauchy(0, scale), built as
PyTorch builds them (a TransformedDistribution through AbsTransform), the usual priors on scales in
Bayesian models. The density is twice the base's on x >= 0 and -inf below; cdf/icdf fold the base's."""
import math

import flambeau
from . import Normal, _as_tensor, constraints
from ._torch_style import TorchStyle
from .laplace_cauchy import Cauchy
from .transformed_distribution import TransformedDistribution
from .transforms import AbsTransform

__all__ = ["HalfNormal", "HalfCauchy"]


class _Half(TorchStyle, TransformedDistribution):
    """|X| for a base X symmetric about 0 with scale `scale`."""
    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, base_dist, validate_args=None):
        super().__init__(base_dist, AbsTransform(), validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mode(self):
        return flambeau.zeros_like(self.scale)

    def _folded_log_prob(self, value):
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return flambeau.where(value >= 0, log_prob, -math.inf)

    def cdf(self, value):
        if self._validate:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Half):
    def __init__(self, scale, validate_args=None):
        super().__init__(Normal(0, scale, validate_args=False), validate_args=validate_args)

    @property
    def mean(self):
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self):
        return self.scale.pow(2) * (1 - 2 / math.pi)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        return self._folded_log_prob(value)


class HalfCauchy(_Half):
    def __init__(self, scale, validate_args=None):
        super().__init__(Cauchy(0, scale, validate_args=False), validate_args=validate_args)

    @property
    def mean(self):
        return flambeau.full(self._extended_shape(), math.inf, dtype=self.scale.dtype, device=self.scale.device)

    @property
    def variance(self):
        return self.base_dist.variance

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        return self._folded_log_prob(_as_tensor(value, self.scale))
