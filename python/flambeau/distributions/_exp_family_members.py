"""Normal, Bernoulli, Gamma, Beta and Dirichlet are exponential families in PyTorch (subclasses of
ExponentialFamily, with natural parameters and log-normalisers). Their classes are defined before
ExponentialFamily exists (in __init__.py and gamma_beta.py), so they are re-based onto it here -- their
own base was Distribution, which ExponentialFamily extends, so nothing else about them changes -- and given
PyTorch's `_natural_params`, `_log_normalizer` and `_mean_carrier_measure`. isinstance(d, ExponentialFamily)
then answers as PyTorch's, and the Bregman entropy / KL of ExponentialFamily work for them."""
import math

import flambeau
from . import Bernoulli, Distribution, Normal
from .exp_family import ExponentialFamily
from .gamma_beta import Beta, Dirichlet, Gamma


def _normal_log_normalizer(self, x, y):
    return -0.25 * x.pow(2) / y + 0.5 * flambeau.log(-math.pi / y)


def _gamma_log_normalizer(self, x, y):
    return flambeau.lgamma(x + 1) + (x + 1) * flambeau.log(-y.reciprocal())


def _beta_log_normalizer(self, x, y):
    return flambeau.lgamma(x) + flambeau.lgamma(y) - flambeau.lgamma(x + y)


def _dirichlet_log_normalizer(self, x):
    return x.lgamma().sum(-1) - flambeau.lgamma(x.sum(-1))


_MEMBERS = {
    Normal: (lambda self: (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal()),
             _normal_log_normalizer, 0),
    Bernoulli: (lambda self: (flambeau.logit(self.probs),),
                lambda self, x: flambeau.log1p(flambeau.exp(x)), 0),
    Gamma: (lambda self: (self.concentration - 1, -self.rate), _gamma_log_normalizer, 0),
    Beta: (lambda self: (self.concentration1, self.concentration0), _beta_log_normalizer, None),
    Dirichlet: (lambda self: (self.concentration,), _dirichlet_log_normalizer, None),
}

for _cls, (_natural, _log_normalizer, _carrier) in _MEMBERS.items():
    if _cls.__bases__ == (Distribution,):
        _cls.__bases__ = (ExponentialFamily,)
    _cls._natural_params = property(_natural)
    _cls._log_normalizer = _log_normalizer
    if _carrier is not None:  # (PyTorch's Beta and Dirichlet leave it undefined)
        _cls._mean_carrier_measure = _carrier
