"""torch.distributions' most used families: Normal, Uniform, Bernoulli, Categorical (and Gamma,
Dirichlet, Beta in gamma_beta.py; MultivariateNormal in multivariate_normal.py; Independent and
MixtureSameFamily in composite.py; TransformedDistribution and LogNormal over transforms.py and
constraints.py; one-hot and relaxed categoricals in relaxed.py), with sample /
rsample (reparameterised, differentiable in the parameters), log_prob, entropy, cdf, moments and
kl_divergence between two of a family. Parameters broadcast to the batch shape; draws come from
flambeau's generator (manual_seed makes them reproducible; the numbers are not PyTorch's). Arguments
are validated as PyTorch validates them by default (ValueError naming the parameter and constraint).

    from flambeau.distributions import Categorical
    dist = Categorical(logits=policy(state))
    action = dist.sample()
    loss = -(dist.log_prob(action) * advantage).mean()
"""
import math
import numbers

import flambeau
from .._tensor import Tensor

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "Gamma", "Dirichlet", "Beta",
           "MultivariateNormal", "Independent", "MixtureSameFamily", "TransformedDistribution", "LogNormal",
           "OneHotCategorical", "OneHotCategoricalStraightThrough", "RelaxedOneHotCategorical", "RelaxedBernoulli",
           "kl_divergence", "register_kl", "constraints", "transforms"]


def _as_tensor(v, like=None):
    if isinstance(v, Tensor):
        return v
    dtype = like.dtype if isinstance(like, Tensor) and like.is_floating_point() else flambeau.get_default_dtype()
    device = like.device if isinstance(like, Tensor) else None
    return flambeau.tensor(float(v), dtype=dtype, device=device)


def _broadcast(*values):
    like = next((v for v in values if isinstance(v, Tensor)), None)
    ts = [_as_tensor(v, like) for v in values]
    return flambeau.broadcast_tensors(*ts)


def _shape(sample_shape):
    if isinstance(sample_shape, numbers.Integral):
        return (int(sample_shape),)
    return tuple(sample_shape)


def _validating(validate_args):
    """Whether a distribution built with this validate_args checks its arguments: the given value, else
    the default (True, as PyTorch's under `python` without -O; set_default_validate_args changes it)."""
    return Distribution._default_validate if validate_args is None else bool(validate_args)


class Distribution:
    has_rsample = False
    _default_validate = True

    @staticmethod
    def set_default_validate_args(value):
        if value not in [True, False]:
            raise ValueError
        Distribution._default_validate = value

    @property
    def _validate_args(self):  # PyTorch's name for the flag
        return self._validate

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._validate = _validating(validate_args)
        self._batch_shape = flambeau.Size(batch_shape)
        self._event_shape = flambeau.Size(event_shape)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        return flambeau.Size(_shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=()):
        with flambeau.no_grad():
            return self.rsample(sample_shape) if self.has_rsample else self._sample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample (rsample)")

    def sample_n(self, n):
        return self.sample((n,))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def perplexity(self):
        return flambeau.exp(self.entropy())

    def _check(self, name, value, ok, constraint):
        if not bool(ok.all()):
            raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape {tuple(value.shape)}) of "
                             f"distribution {self!r} to satisfy the constraint {constraint}, but found invalid values:"
                             f"\n{value}")

    def _check_sample(self, value, ok, constraint):
        if not bool(ok.all()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be "
                             f"within the support ({constraint}) of the distribution {self!r}, but found invalid "
                             f"values:\n{value}")

    def _validate_sample_shape(self, value):
        """PyTorch's shape checks of a value to score: a Tensor whose rightmost dims are the event shape
        and whose shape broadcasts with batch_shape + event_shape."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = len(value.size()) - len(self._event_shape)
        if value.size()[event_dim_start:] != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {value.size()} vs "
                             f"{self._event_shape}.")
        expected = flambeau.Size(tuple(self._batch_shape) + tuple(self._event_shape))
        for i, j in zip(reversed(value.size()), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {value.size()} vs "
                                 f"{expected}.")

    def __repr__(self):
        names = [k for k in ("loc", "scale", "low", "high", "probs", "logits") if k in self.__dict__]
        args = ", ".join(f"{k}: {self.__dict__[k].shape if self.__dict__[k].numel() > 1 else self.__dict__[k]}"
                         for k in names[:2])
        return f"{type(self).__name__}({args})"


class Normal(Distribution):
    """N(loc, scale^2)."""
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)
        if _validating(validate_args):
            self._check("loc", self.loc, self.loc == self.loc, "Real()")
            self._check("scale", self.scale, self.scale > 0, "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self.scale.pow(2)

    @property
    def stddev(self):
        return self.scale

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = flambeau.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        var = self.scale ** 2
        log_scale = self.scale.log()
        return -((value - self.loc) ** 2) / (2 * var) - log_scale - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        value = _as_tensor(value, self.loc)
        return 0.5 * (1 + flambeau.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + flambeau.log(self.scale)


class Uniform(Distribution):
    """Uniform on [low, high)."""
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast(low, high)
        super().__init__(self.low.shape, (), validate_args)
        if _validating(validate_args):
            self._check("low", self.low, self.low < self.high, f"LessThan(upper_bound={self.high})")

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = flambeau.rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        value = _as_tensor(value, self.low)
        self._check_support(value)
        lb = (self.low <= value).to(self.low.dtype)
        ub = (self.high > value).to(self.low.dtype)
        return flambeau.log(lb * ub) - flambeau.log(self.high - self.low)

    def cdf(self, value):
        value = _as_tensor(value, self.low)
        self._check_support(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def entropy(self):
        return flambeau.log(self.high - self.low)

    def _check_support(self, value):
        if self._validate:
            self._check_sample(value, (value >= self.low) & (value <= self.high),
                               f"Interval(lower_bound={self.low}, upper_bound={self.high})")


def _logits_to_probs(logits, is_binary=False):
    return flambeau.sigmoid(logits) if is_binary else flambeau.softmax(logits, dim=-1)


def _clamp_probs(probs):
    eps = 1.1920928955078125e-07 if probs.dtype == flambeau.float32 else 2.220446049250313e-16
    return probs.clamp(min=eps, max=1 - eps)


def _probs_to_logits(probs, is_binary=False):
    ps = _clamp_probs(probs)
    if is_binary:
        return flambeau.log(ps) - flambeau.log1p(-ps)
    return flambeau.log(ps)


class Bernoulli(Distribution):
    """1 with probability probs (or sigmoid(logits)), else 0."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = _broadcast(probs)
            if _validating(validate_args):
                self._check("probs", self.probs, (self.probs >= 0) & (self.probs <= 1), "Interval(lower_bound=0.0, "
                            "upper_bound=1.0)")
            self.logits = _probs_to_logits(self.probs, is_binary=True)
        else:
            (self.logits,) = _broadcast(logits)
            self.probs = _logits_to_probs(self.logits, is_binary=True)
        super().__init__(self.probs.shape, (), validate_args)

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        return (self.probs >= 0.5).to(self.probs.dtype)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def _sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return flambeau.bernoulli(self.probs.expand(shape))

    def log_prob(self, value):
        value = _as_tensor(value, self.logits)
        if self._validate:
            self._check_sample(value, (value == 0) | (value == 1), "Boolean()")
        logits, value = flambeau.broadcast_tensors(self.logits, value)
        return -flambeau.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return flambeau.nn.functional.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """One of K categories with probabilities probs (normalised over the last dim) or softmax(logits)."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            if _validating(validate_args):
                self._check("probs", probs, (probs >= 0) & flambeau.isfinite(probs), "IndependentConstraint(Real(), 1)")
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = _probs_to_logits(self.probs)
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            self.probs = _logits_to_probs(self.logits)
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1], (), validate_args)

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return flambeau.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(dim=-1)

    @property
    def variance(self):
        return flambeau.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def _sample(self, sample_shape=()):
        shape = _shape(sample_shape)
        n = 1
        for s in shape:
            n *= s
        probs_2d = self.probs.reshape(-1, self._num_events)
        draws = flambeau.multinomial(probs_2d, n, replacement=True).T  # [n, batch]
        return draws.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate:
            self._check_sample(value, (value == value.long()) & (value >= 0) & (value < self._num_events),
                               f"IntegerInterval(lower_bound=0, upper_bound={self._num_events - 1})")
        value = value.long().unsqueeze(-1)
        value, log_pmf = flambeau.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        min_real = -3.4028234663852886e38 if self.logits.dtype == flambeau.float32 else -1.7976931348623157e308
        logits = self.logits.clamp(min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = flambeau.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


_KL = {}
_KL_MEMO = {}  # (type(p), type(q)) -> the function dispatch_kl found, or None


def register_kl(type_p, type_q):
    """Decorator: fn(p, q) computes KL(p || q) for distributions of these types (and their subclasses)."""
    def deco(fn):
        _KL[(type_p, type_q)] = fn
        _KL_MEMO.clear()  # a new pair may be a closer match for a pair looked up before
        return fn
    return deco


def kl_divergence(p, q):
    key = (type(p), type(q))
    if key not in _KL_MEMO:
        from ._kl_dispatch import dispatch_kl
        _KL_MEMO[key] = dispatch_kl(_KL, *key)
    fn = _KL_MEMO[key]
    if fn is None:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                                  f"{type(q).__name__}")
    return fn(p, q)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    sp = flambeau.nn.functional.softplus
    t1 = p.probs * (sp(-q.logits) - sp(-p.logits))
    t1 = flambeau.where(q.probs == 0, flambeau.full_like(t1, float("inf")), t1)
    t1 = flambeau.where(p.probs == 0, flambeau.zeros_like(t1), t1)
    t2 = (1 - p.probs) * (sp(q.logits) - sp(p.logits))
    t2 = flambeau.where(q.probs == 1, flambeau.full_like(t2, float("inf")), t2)
    t2 = flambeau.where(p.probs == 1, flambeau.zeros_like(t2), t2)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = flambeau.where(q.probs == 0, flambeau.full_like(t, float("inf")), t)
    t = flambeau.where(p.probs == 0, flambeau.zeros_like(t), t)
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    bad = (q.low > p.low) | (q.high < p.high)
    return flambeau.where(bad, flambeau.full_like(result, float("inf")), result)


from .gamma_beta import Gamma, Dirichlet, Beta  # noqa: E402  (they subclass Distribution above)
from .multivariate_normal import MultivariateNormal  # noqa: E402
from .composite import Independent, MixtureSameFamily  # noqa: E402
from . import constraints, transforms  # noqa: E402
from .transforms import (AbsTransform, AffineTransform, ComposeTransform, ExpTransform,  # noqa: E402,F401
                         IndependentTransform, PowerTransform, SigmoidTransform, SoftplusTransform, TanhTransform,
                         Transform)
from .transformed_distribution import TransformedDistribution, LogNormal  # noqa: E402
from . import transformed_distribution  # noqa: E402,F401  (torch.distributions.transformed_distribution)
# (ExpRelaxedCategorical and LogitRelaxedBernoulli stay in relaxed.py: PyTorch keeps them out of its top level)
from .relaxed import (OneHotCategorical, OneHotCategoricalStraightThrough, RelaxedOneHotCategorical,  # noqa: E402
                      RelaxedBernoulli)
# supports, for TransformedDistribution's validation and for user code reading dist.support
Normal.support = constraints.real
MultivariateNormal.support = constraints.real_vector
Independent.support = property(lambda self: constraints.independent(self.base_dist.support,
                                                                     self.reinterpreted_batch_ndims)
                               if self.reinterpreted_batch_ndims else self.base_dist.support)
from . import _expand_support  # noqa: E402,F401  (expand, arg_constraints, support, icdf on the families above)
from . import _module_paths  # noqa: E402,F401  (flambeau.distributions.kl, .normal, .categorical, ...)
# the continuous families, each in its own file, and the KL pairs PyTorch registers for them
from .exp_family import ExponentialFamily  # noqa: E402
from .exponential import Exponential  # noqa: E402
from .laplace_cauchy import Laplace, Cauchy  # noqa: E402
from .half_families import HalfNormal, HalfCauchy  # noqa: E402
from .extreme_value import Gumbel, Weibull, Pareto, GeneralizedPareto  # noqa: E402
from .gamma_derived import Chi2, StudentT, FisherSnedecor, InverseGamma  # noqa: E402
from .kumaraswamy import Kumaraswamy  # noqa: E402
from .von_mises import VonMises  # noqa: E402
from .continuous_bernoulli import ContinuousBernoulli  # noqa: E402
from .logistic_normal import LogisticNormal  # noqa: E402
from . import kl_continuous, _continuous_paths, _exp_family_members  # noqa: E402,F401
__all__ += ["ExponentialFamily", "Exponential", "Laplace", "Cauchy", "HalfNormal", "HalfCauchy", "Gumbel", "Weibull",
            "Pareto", "GeneralizedPareto", "Chi2", "StudentT", "FisherSnedecor", "InverseGamma", "Kumaraswamy",
            "VonMises", "ContinuousBernoulli", "LogisticNormal"]
from .discrete import Poisson, Binomial, Geometric, NegativeBinomial, Multinomial  # noqa: E402
__all__ += ["Poisson", "Binomial", "Geometric", "NegativeBinomial", "Multinomial"]
from .transforms_structured import (CatTransform, CorrCholeskyTransform,  # noqa: E402
                                    CumulativeDistributionTransform, LowerCholeskyTransform,
                                    PositiveDefiniteTransform, ReshapeTransform, SoftmaxTransform, StackTransform,
                                    StickBreakingTransform)
from .transforms import identity_transform  # noqa: E402
from .constraint_registry import biject_to, transform_to  # noqa: E402
from . import constraint_registry  # noqa: E402,F401
__all__ += ["AbsTransform", "AffineTransform", "CatTransform", "ComposeTransform", "CorrCholeskyTransform",
            "CumulativeDistributionTransform", "ExpTransform", "IndependentTransform", "LowerCholeskyTransform",
            "PositiveDefiniteTransform", "PowerTransform", "ReshapeTransform", "SigmoidTransform",
            "SoftmaxTransform", "SoftplusTransform", "StackTransform", "StickBreakingTransform", "TanhTransform",
            "Transform", "biject_to", "identity_transform", "transform_to"]
from .lowrank_wishart_lkj import LowRankMultivariateNormal, Wishart, LKJCholesky  # noqa: E402
__all__ += ["LowRankMultivariateNormal", "Wishart", "LKJCholesky"]
from . import _module_paths_structured  # noqa: E402,F401  (.poisson, .wishart, ..., utils.vec_to_tril_matrix)
