"""Counting distributions, as torch.distributions has them: Poisson, Binomial, Geometric, NegativeBinomial
and Multinomial, with PyTorch's parameterisations (probs or logits, the other computed on first use),
argument and support validation (ValueError naming the parameter and the constraint), log_prob, entropy
where PyTorch has one, moments, enumerate_support (Binomial), expand, and the KL divergences PyTorch
registers among them (Poisson, Binomial, Geometric pairs; Bernoulli || Poisson; Poisson || Bernoulli or
Binomial is infinite). Sampling: flambeau.poisson and _discrete_sampling.binomial (PyTorch's
algorithms), Gamma-Poisson mixing for NegativeBinomial, inversion for Geometric, counts of categorical
draws for Multinomial."""
import numbers

import flambeau
from .. import _discrete_sampling
from . import (Bernoulli, Categorical, Distribution, _broadcast, _logits_to_probs, _probs_to_logits, _shape,
               constraints, register_kl)
from ._arg_validation import ValidatedArgs, lazy_property
from .exp_family import ExponentialFamily
from .gamma_beta import Gamma

__all__ = ["Poisson", "Binomial", "Geometric", "NegativeBinomial", "Multinomial"]


class _Counting(ValidatedArgs, Distribution):
    """What these families share besides validation: an expand over their tensor parameters."""
    _expand_params = ()

    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        nb = len(self.batch_shape)
        for name in self._expand_params:
            v = self.__dict__.get(name)
            if isinstance(v, flambeau.Tensor):
                new.__dict__[name] = v.expand(tuple(batch_shape) + tuple(v.shape[nb:]))
        if "_param" in self.__dict__:  # the given one of probs / logits
            new._param = new.__dict__["probs"] if self._param is self.__dict__.get("probs") else new.__dict__["logits"]
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate = self._validate
        return new


def _batch_shape_of(arg, tensor):
    """PyTorch: a Python number gives an empty batch shape, a tensor its (broadcast) shape."""
    return flambeau.Size(()) if isinstance(arg, numbers.Number) else tensor.size()


class Poisson(_Counting, ExponentialFamily):
    """Counts with rate^k e^-rate / k!."""
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer
    _expand_params = ("rate",)

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast(rate)
        super().__init__(_batch_shape_of(rate, self.rate), (), validate_args)
        self._validate_parameters()

    @property
    def mean(self):
        return self.rate

    # ExponentialFamily: theta = log rate, F(theta) = exp(theta) (PyTorch gives no carrier measure, so
    # entropy raises NotImplementedError as PyTorch's)
    @property
    def _natural_params(self):
        return (flambeau.log(self.rate),)

    def _log_normalizer(self, x):
        return flambeau.exp(x)

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def _sample(self, sample_shape=()):
        return flambeau.poisson(self.rate.expand(self._extended_shape(sample_shape)))

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        rate, value = _broadcast(self.rate, value)
        return value.xlogy(rate) - rate - (value + 1).lgamma()


class _ProbsOrLogits(_Counting):
    """probs / logits computed from whichever was given, on first use (binary parameterisation)."""

    @lazy_property
    def logits(self):
        return _probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return _logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self._param.size()

    def _init_count_and_param(self, total_count, probs, logits):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        name, given = ("probs", probs) if probs is not None else ("logits", logits)
        if isinstance(total_count, flambeau.Tensor) and not isinstance(given, flambeau.Tensor):
            given = flambeau.tensor(float(given), dtype=flambeau.get_default_dtype(), device=total_count.device)
        count, param = _broadcast(total_count, given)
        self.__dict__[name] = param
        self.total_count = count.to(param.dtype)
        self._param = param


class Binomial(_ProbsOrLogits):
    """Successes in total_count Bernoulli(probs) trials."""
    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    has_enumerate_support = True
    _expand_params = ("total_count", "probs", "logits")

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        self._init_count_and_param(total_count, probs, logits)
        super().__init__(self._param.size(), (), validate_args)
        self._validate_parameters()

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def _sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return _discrete_sampling.binomial(self.total_count.expand(shape).contiguous(),
                                           self.probs.expand(shape).contiguous())

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        log_factorial_n = flambeau.lgamma(self.total_count + 1)
        log_factorial_k = flambeau.lgamma(value + 1)
        log_factorial_nmk = flambeau.lgamma(self.total_count - value + 1)
        logits = self.logits
        # PyTorch's _clamp_by_zero: max(x, 0) whose gradient at 0 is 1/2
        clamped = (logits.clamp(min=0) + logits - logits.clamp(max=0)) / 2
        normalize_term = (self.total_count * clamped + self.total_count * flambeau.log1p(flambeau.exp(-logits.abs()))
                          - log_factorial_n)
        return value * logits - log_factorial_k - log_factorial_nmk - normalize_term

    def _homogeneous_count(self, what):
        total_count = int(self.total_count.max())
        if not int(self.total_count.min()) == total_count:
            raise NotImplementedError(f"Inhomogeneous total count not supported by `{what}`.")
        return total_count

    def entropy(self):
        self._homogeneous_count("entropy")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(flambeau.exp(log_prob) * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        total_count = self._homogeneous_count("enumerate_support")
        values = flambeau.arange(1 + total_count, dtype=self._param.dtype, device=self._param.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


class Geometric(_ProbsOrLogits):
    """Failures before the first success of Bernoulli(probs) trials: P(k) = (1 - p)^k p, k = 0, 1, ..."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer
    _expand_params = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = probs if probs is not None else logits
        (value,) = _broadcast(given)
        self.__dict__["probs" if probs is not None else "logits"] = value
        super().__init__(_batch_shape_of(given, value), (), validate_args)
        self._validate_parameters()
        if self._validate and probs is not None:
            valid = self.probs > 0
            if not bool(valid.all()):
                raise ValueError(f"Expected parameter probs ({type(self.probs).__name__} of shape "
                                 f"{tuple(self.probs.shape)}) of distribution {self!r} to be positive but found "
                                 f"invalid values:\n{self.probs.detach()[~valid]}")

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return flambeau.zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def _sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        tiny = flambeau.finfo(self.probs.dtype).tiny
        u = flambeau.rand(shape, dtype=self.probs.dtype, device=self.probs.device).clamp(min=tiny)
        return (u.log() / (-self.probs).log1p()).floor()

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        value, probs = _broadcast(value, self.probs)
        # a certain success scores 0 failures with probability 1 (0 * log(0) taken as 0)
        probs = flambeau.where((probs == 1) & (value == 0), flambeau.zeros_like(probs), probs)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self):
        bce = flambeau.nn.functional.binary_cross_entropy_with_logits
        return bce(self.logits, self.probs, reduction="none") / self.probs


class NegativeBinomial(_ProbsOrLogits):
    """Successes before total_count failures of Bernoulli(probs) trials (total_count may be real)."""
    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0), "logits": constraints.real}
    support = constraints.nonnegative_integer
    _expand_params = ("total_count", "probs", "logits")

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        self._init_count_and_param(total_count, probs, logits)
        super().__init__(self._param.size(), (), validate_args)
        self._validate_parameters()

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance)
        new.__dict__.pop("_gamma", None)  # rebuilt for the new batch shape
        return new

    @property
    def mean(self):
        return self.total_count * flambeau.exp(self.logits)

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / flambeau.sigmoid(-self.logits)

    @lazy_property
    def _gamma(self):
        return Gamma(concentration=self.total_count, rate=flambeau.exp(-self.logits), validate_args=False)

    def _sample(self, sample_shape=()):
        rate = self._gamma.sample(sample_shape)
        return flambeau.poisson(rate)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        logsigmoid = flambeau.nn.functional.logsigmoid
        log_unnormalized_prob = self.total_count * logsigmoid(-self.logits) + value * logsigmoid(self.logits)
        log_normalization = (-flambeau.lgamma(self.total_count + value) + flambeau.lgamma(1.0 + value)
                             + flambeau.lgamma(self.total_count))
        # zero failures to wait for: the count is 0 with probability 1
        log_normalization = log_normalization.masked_fill(self.total_count + value == 0.0, 0.0)
        return log_unnormalized_prob - log_normalization


class Multinomial(_Counting):
    """Counts per category of total_count draws from Categorical(probs or logits)."""
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, numbers.Integral) or isinstance(total_count, bool):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = int(total_count)
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=self.total_count, probs=self.probs)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args)
        self._validate_parameters()

    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = type(self).__new__(type(self))
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate = self._validate
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def _sample(self, sample_shape=()):
        sample_shape = _shape(sample_shape)
        counts = flambeau.zeros(self._extended_shape(sample_shape), dtype=flambeau.int64, device=self.probs.device)
        if self.total_count == 0:
            return counts.to(self.probs.dtype)
        samples = self._categorical.sample((self.total_count,) + sample_shape)
        # (total_count, *sample, *batch) -> (*sample, *batch, total_count)
        samples = samples.permute(*range(1, samples.dim()), 0)
        counts = counts.scatter_add(-1, samples, flambeau.ones_like(samples))
        return counts.to(self.probs.dtype)

    def entropy(self):
        n = flambeau.tensor(float(self.total_count), dtype=self.probs.dtype)
        cat_entropy = self._categorical.entropy()
        # PyTorch takes lgamma(n + 1) of an integer tensor, i.e. in float32 whatever probs' dtype: the same
        # rounding here keeps float64 entropies equal to PyTorch's
        log_factorial_n = flambeau.lgamma(flambeau.tensor(float(self.total_count + 1), dtype=flambeau.float32))
        term1 = n * cat_entropy - log_factorial_n.to(self.probs.dtype)
        binomial = Binomial(total_count=self.total_count, probs=self.probs)
        support = binomial.enumerate_support(expand=False)[1:]
        binomial_probs = flambeau.exp(binomial.log_prob(support))
        weights = flambeau.lgamma(support + 1)
        term2 = (binomial_probs * weights).sum([0, -1])
        return term1 + term2

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        logits, value = flambeau.broadcast_tensors(self.logits, value)
        log_factorial_n = flambeau.lgamma(value.sum(-1) + 1)
        log_factorial_xs = flambeau.lgamma(value + 1).sum(-1)
        # a category of probability 0 drawn 0 times contributes 0 (not 0 * -inf)
        logits = logits.masked_fill((value == 0) & (logits == float("-inf")), 0.0)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers


def _infinite_like(tensor):
    return flambeau.full_like(tensor, float("inf"))


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    if bool((p.total_count < q.total_count).any()):
        raise NotImplementedError("KL between Binomials where q.total_count > p.total_count is not implemented")
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return flambeau.where(p.total_count > q.total_count, _infinite_like(kl), kl)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p, q):
    return -p.entropy() - flambeau.log1p(-q.probs) / p.probs - q.logits


@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p, q):
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


@register_kl(Poisson, Bernoulli)
@register_kl(Poisson, Binomial)
def _kl_poisson_infinity(p, q):
    return _infinite_like(p.rate)
