"""What every torch.distributions family also has, for the families flambeau provides: expand(batch_shape)
(a view of the distribution with its parameters broadcast to a larger batch, as in
Normal(0., 1.).expand([B, D]) priors and TransformedDistribution's broadcasting), arg_constraints and
support (constraints objects), has_enumerate_support / Bernoulli.enumerate_support, and icdf where the
family has a closed form (Normal, Uniform). Kept here, attached to the classes after they are defined,
so the family files stay about their densities."""
import math

import flambeau
from . import Bernoulli, Categorical, Distribution, Normal, Uniform, constraints
from .composite import Independent, MixtureSameFamily
from .gamma_beta import Beta, Dirichlet, Gamma
from .multivariate_normal import MultivariateNormal
from .relaxed import (ExpRelaxedCategorical, LogitRelaxedBernoulli, OneHotCategorical, RelaxedBernoulli,
                      RelaxedOneHotCategorical)
from .transformed_distribution import LogNormal, TransformedDistribution


def _new_like(d, batch_shape):
    """A shallow copy of d re-initialised with batch_shape (no validation, as PyTorch's expand)."""
    new = type(d).__new__(type(d))
    new.__dict__.update(d.__dict__)
    Distribution.__init__(new, batch_shape, d.event_shape, validate_args=False)
    new._validate = d._validate
    return new


def _expand_params(self, batch_shape, _instance=None):
    """Distribution.expand for families whose parameters are tensors of shape batch_shape + (own dims)."""
    batch_shape = flambeau.Size(tuple(batch_shape))
    new = _new_like(self, batch_shape)
    nb = len(self.batch_shape)
    for name in type(self)._expand_params:
        v = self.__dict__.get(name)
        if isinstance(v, flambeau.Tensor):
            new.__dict__[name] = v.expand(tuple(batch_shape) + tuple(v.shape[nb:]))
    return new


def _expand_inner(attr):
    """expand for families that delegate to an inner distribution (Beta's Dirichlet, OneHot's Categorical)."""
    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = _new_like(self, batch_shape)
        setattr(new, attr, getattr(self, attr).expand(batch_shape))
        return new
    return expand


def _expand_independent(self, batch_shape, _instance=None):
    batch_shape = flambeau.Size(tuple(batch_shape))
    new = _new_like(self, batch_shape)
    new.base_dist = self.base_dist.expand(tuple(batch_shape) + tuple(self.event_shape[:self.reinterpreted_batch_ndims]))
    return new


def _expand_mixture(self, batch_shape, _instance=None):
    batch_shape = flambeau.Size(tuple(batch_shape))
    new = _new_like(self, batch_shape)
    new._component_distribution = self._component_distribution.expand(tuple(batch_shape) + (self._num_component,))
    new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
    return new


def _expand_transformed(self, batch_shape, _instance=None):
    batch_shape = flambeau.Size(tuple(batch_shape))
    new = _new_like(self, batch_shape)
    shape = tuple(batch_shape) + tuple(self.event_shape)
    for t in reversed(self.transforms):
        shape = tuple(t.inverse_shape(shape))
    new.base_dist = self.base_dist.expand(shape[:len(shape) - len(self.base_dist.event_shape)])
    return new


def _not_implemented(what):
    def fn(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self)} does not implement {what}")
    return fn


Distribution.expand = _expand_params
Distribution._expand_params = ()
Distribution.arg_constraints = {}
Distribution.has_enumerate_support = False
for _name in ("cdf", "icdf", "entropy", "enumerate_support"):
    if not hasattr(Distribution, _name):
        setattr(Distribution, _name, _not_implemented(_name))

Normal._expand_params = ("loc", "scale")
Normal.arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
Normal.icdf = lambda self, value: self.loc + self.scale * flambeau.erfinv(2 * value - 1) * math.sqrt(2)

Uniform._expand_params = ("low", "high")
Uniform.arg_constraints = {"low": constraints.dependent(is_discrete=False, event_dim=0),
                           "high": constraints.dependent(is_discrete=False, event_dim=0)}
Uniform.support = property(lambda self: constraints.interval(self.low, self.high))
Uniform.icdf = lambda self, value: value * (self.high - self.low) + self.low

Bernoulli._expand_params = ("probs", "logits")
Bernoulli.arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
Bernoulli.support = constraints.boolean
Bernoulli.has_enumerate_support = True
Bernoulli.param_shape = property(lambda self: self.probs.size())


def _bernoulli_enumerate_support(self, expand=True):
    values = flambeau.arange(2, dtype=self.probs.dtype, device=self.probs.device)
    values = values.view((-1,) + (1,) * len(self.batch_shape))
    return values.expand((-1,) + tuple(self.batch_shape)) if expand else values


Bernoulli.enumerate_support = _bernoulli_enumerate_support

Categorical._expand_params = ("probs", "logits")
Categorical.arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
Categorical.support = property(lambda self: constraints.integer_interval(0, self._num_events - 1))
Categorical.has_enumerate_support = True

Gamma._expand_params = ("concentration", "rate")
Gamma.arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
Gamma.support = constraints.nonnegative
Dirichlet._expand_params = ("concentration",)
Dirichlet.arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
Dirichlet.support = constraints.simplex
Beta.expand = _expand_inner("_dirichlet")
Beta.arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
Beta.support = constraints.unit_interval

MultivariateNormal._expand_params = ("loc", "covariance_matrix", "precision_matrix", "scale_tril")
MultivariateNormal.arg_constraints = {"loc": constraints.real_vector,
                                      "covariance_matrix": constraints.positive_definite,
                                      "precision_matrix": constraints.positive_definite,
                                      "scale_tril": constraints.lower_cholesky}

Independent.expand = _expand_independent
MixtureSameFamily.expand = _expand_mixture
MixtureSameFamily.support = property(
    lambda self: constraints.MixtureSameFamilyConstraint(self._component_distribution.support))
TransformedDistribution.expand = _expand_transformed
LogNormal.arg_constraints = {"loc": constraints.real, "scale": constraints.positive}

OneHotCategorical.expand = _expand_inner("_categorical")
OneHotCategorical.arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
ExpRelaxedCategorical.expand = _expand_inner("_categorical")
ExpRelaxedCategorical.arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
LogitRelaxedBernoulli._expand_params = ("probs", "logits")
LogitRelaxedBernoulli.arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
RelaxedOneHotCategorical.arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
RelaxedBernoulli.arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
