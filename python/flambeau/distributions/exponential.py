"""Exponential(rate): density rate * exp(-rate * x) on x >= 0 (torch.distributions.Exponential), an
exponential family with natural parameter -rate. rsample is rate-scaled standard exponential noise from
flambeau's generator, so gradients flow to rate."""
import flambeau
from . import _broadcast, constraints
from ._torch_style import TorchStyle
from .exp_family import ExponentialFamily

__all__ = ["Exponential"]


class Exponential(TorchStyle, ExponentialFamily):
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0
    _expand_params = ("rate",)

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast(rate)
        self._init_checked(self.rate.shape, (), validate_args)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return flambeau.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        noise = flambeau.empty(shape, dtype=self.rate.dtype, device=self.rate.device).exponential_()
        return noise / self.rate

    def log_prob(self, value):
        value = self._value(value, self.rate)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        value = self._value(value, self.rate)
        return 1 - flambeau.exp(-self.rate * value)

    def icdf(self, value):
        return -flambeau.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - flambeau.log(self.rate)

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -flambeau.log(-x)
