"""One-hot and relaxed (Gumbel-softmax / Concrete) categorical distributions, as torch.distributions':
OneHotCategorical (a Categorical whose samples are one-hot vectors), OneHotCategoricalStraightThrough
(rsample = sample + probs - probs.detach()), ExpRelaxedCategorical (log of a Concrete sample, with its
density), RelaxedOneHotCategorical (its exp, on the simplex), and LogitRelaxedBernoulli /
RelaxedBernoulli. PyTorch's formulas (uniforms clamped to (eps, 1 - eps) before the double log)."""
import flambeau
from . import Categorical, Distribution, _broadcast, _clamp_probs, _logits_to_probs, _probs_to_logits, constraints
from .transformed_distribution import TransformedDistribution
from .transforms import ExpTransform, SigmoidTransform

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough", "ExpRelaxedCategorical",
           "RelaxedOneHotCategorical", "LogitRelaxedBernoulli", "RelaxedBernoulli"]


def _temperature(t, like):
    return t if isinstance(t, flambeau.Tensor) else flambeau.tensor(float(t), dtype=like.dtype, device=like.device)


class OneHotCategorical(Distribution):
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args)

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        probs = self._categorical.probs
        return flambeau.nn.functional.one_hot(probs.argmax(dim=-1), num_classes=probs.shape[-1]).to(probs)

    @property
    def variance(self):
        return self._categorical.probs * (1 - self._categorical.probs)

    @property
    def param_shape(self):
        return self._categorical.param_shape

    def sample(self, sample_shape=()):
        indices = self._categorical.sample(sample_shape)
        return flambeau.nn.functional.one_hot(indices, self._categorical._num_events).to(self._categorical.probs)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample_shape(value)
            self._check_sample(value, constraints.one_hot.check(value), "OneHot()")
        return self._categorical.log_prob(value.max(-1)[1])

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        n = self.event_shape[0]
        values = flambeau.eye(n, dtype=self.probs.dtype, device=self.probs.device)
        values = values.view((n,) + (1,) * len(self.batch_shape) + (n,))
        if expand:
            values = values.expand((n,) + tuple(self.batch_shape) + (n,))
        return values

    def __repr__(self):
        return f"{type(self).__name__}(probs: {self.probs.size()})"


class OneHotCategoricalStraightThrough(OneHotCategorical):
    has_rsample = True

    def sample(self, sample_shape=()):
        with flambeau.no_grad():
            return super().sample(sample_shape)

    def rsample(self, sample_shape=()):
        samples = super().sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


class ExpRelaxedCategorical(Distribution):
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args)
        self.temperature = _temperature(temperature, self._categorical.logits)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args)

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def probs(self):
        return self._categorical.probs

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        uniforms = _clamp_probs(flambeau.rand(shape, dtype=self.logits.dtype, device=self.logits.device))
        gumbels = -((-(uniforms.log())).log())
        scores = (self.logits + gumbels) / self.temperature
        return scores - scores.logsumexp(dim=-1, keepdim=True)

    def log_prob(self, value):
        K = self._categorical._num_events
        if self._validate:
            self._validate_sample_shape(value)
        logits, value = flambeau.broadcast_tensors(self.logits, value)
        log_scale = flambeau.full_like(self.temperature, float(K)).lgamma() - self.temperature.log().mul(-(K - 1))
        score = logits - value.mul(self.temperature)
        score = (score - score.logsumexp(dim=-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(TransformedDistribution):
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base_dist = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base_dist, ExpTransform(), validate_args=validate_args)

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs


class LogitRelaxedBernoulli(Distribution):
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = _broadcast(probs)
            self.logits = _probs_to_logits(self.probs, is_binary=True)
        else:
            (self.logits,) = _broadcast(logits)
            self.probs = _logits_to_probs(self.logits, is_binary=True)
        self.temperature = _temperature(temperature, self.logits)
        super().__init__(self.logits.shape, (), validate_args)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        probs = _clamp_probs(self.probs.expand(shape))
        uniforms = _clamp_probs(flambeau.rand(shape, dtype=probs.dtype, device=probs.device))
        return (uniforms.log() - (-uniforms).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def log_prob(self, value):
        if self._validate:
            self._validate_sample_shape(value)
        logits, value = flambeau.broadcast_tensors(self.logits, value)
        diff = logits - value.mul(self.temperature)
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class RelaxedBernoulli(TransformedDistribution):
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base_dist = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base_dist, SigmoidTransform(), validate_args=validate_args)

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs
