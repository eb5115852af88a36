"""ContinuousBernoulli(probs or logits) on [0, 1] (Loaiza-Ganem and Cunningham, NeurIPS 2019): the
normalised density C(p) p^x (1 - p)^(1 - x) that VAEs with pixel intensities in [0, 1] should use in place
of the Bernoulli. Formulas are torch.distributions': near p = 1/2 (inside `lims`) the log-normaliser,
mean and variance switch to Taylor expansions; sampling and rsample go through the closed-form icdf."""
import math

import flambeau
from . import _broadcast, _clamp_probs, _logits_to_probs, _probs_to_logits, constraints
from ._torch_style import TorchStyle, lazy_property
from .exp_family import ExponentialFamily

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(TorchStyle, ExponentialFamily):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = _broadcast(probs)
            # PyTorch checks probs here only when validate_args is given, then clamps them into (0, 1)
            if validate_args is not None and not bool(self.arg_constraints["probs"].check(self.probs).all()):
                raise ValueError("The parameter probs has invalid values")
            self.probs = _clamp_probs(self.probs)
        else:
            (self.logits,) = _broadcast(logits)
        self._param = self.probs if probs is not None else self.logits
        self._lims = lims
        self._init_checked(self._param.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None):
        from ._expand_support import _new_like
        new = _new_like(self, batch_shape)
        for name in ("probs", "logits"):
            new.__dict__.pop(name, None)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape)
            new._param = new.logits
        return new

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        return flambeau.where(self._outside_unstable_region(), self.probs,
                              self._lims[0] * flambeau.ones_like(self.probs))

    def _cont_bern_log_norm(self):
        """log C(p), the log normalising constant, as a function of probs."""
        cut_probs = self._cut_probs()
        below_half = flambeau.where(cut_probs <= 0.5, cut_probs, flambeau.zeros_like(cut_probs))
        above_half = flambeau.where(cut_probs >= 0.5, cut_probs, flambeau.ones_like(cut_probs))
        log_norm = (flambeau.log(flambeau.abs(flambeau.log1p(-cut_probs) - flambeau.log(cut_probs)))
                    - flambeau.where(cut_probs <= 0.5, flambeau.log1p(-2.0 * below_half),
                                     flambeau.log(2.0 * above_half - 1.0)))
        x = flambeau.pow(self.probs - 0.5, 2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return flambeau.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut_probs = self._cut_probs()
        mus = cut_probs / (2.0 * cut_probs - 1.0) + 1.0 / (flambeau.log1p(-cut_probs) - flambeau.log(cut_probs))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * flambeau.pow(x, 2)) * x
        return flambeau.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self):
        return flambeau.sqrt(self.variance)

    @property
    def variance(self):
        cut_probs = self._cut_probs()
        variances = (cut_probs * (cut_probs - 1.0) / flambeau.pow(1.0 - 2.0 * cut_probs, 2)
                     + 1.0 / flambeau.pow(flambeau.log1p(-cut_probs) - flambeau.log(cut_probs), 2))
        x = flambeau.pow(self.probs - 0.5, 2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return flambeau.where(self._outside_unstable_region(), variances, taylor)

    @lazy_property
    def logits(self):
        return _probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return _clamp_probs(_logits_to_probs(self.logits, is_binary=True))

    @property
    def param_shape(self):
        return self._param.size()

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = flambeau.rand(shape, dtype=self.probs.dtype, device=self.probs.device)
        with flambeau.no_grad():
            return self.icdf(u)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = flambeau.rand(shape, dtype=self.probs.dtype, device=self.probs.device)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        logits, value = _broadcast(self.logits, value)
        bce = flambeau.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -bce + self._cont_bern_log_norm()

    def cdf(self, value):
        if self._validate:
            self._validate_sample(value)
        cut_probs = self._cut_probs()
        cdfs = ((flambeau.pow(cut_probs, value) * flambeau.pow(1.0 - cut_probs, 1.0 - value) + cut_probs - 1.0)
                / (2.0 * cut_probs - 1.0))
        unbounded_cdfs = flambeau.where(self._outside_unstable_region(), cdfs, value)
        return flambeau.where(value <= 0.0, flambeau.zeros_like(value),
                              flambeau.where(value >= 1.0, flambeau.ones_like(value), unbounded_cdfs))

    def icdf(self, value):
        cut_probs = self._cut_probs()
        inverted = ((flambeau.log1p(-cut_probs + value * (2.0 * cut_probs - 1.0)) - flambeau.log1p(-cut_probs))
                    / (flambeau.log(cut_probs) - flambeau.log1p(-cut_probs)))
        return flambeau.where(self._outside_unstable_region(), inverted, value)

    def entropy(self):
        log_probs0 = flambeau.log1p(-self.probs)
        log_probs1 = flambeau.log(self.probs)
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        """log C as a function of the natural parameter (the logits)."""
        out_unst_reg = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut_nat_params = flambeau.where(out_unst_reg, x, (self._lims[0] - 0.5) * flambeau.ones_like(x))
        log_norm = (flambeau.log(flambeau.abs(flambeau.expm1(cut_nat_params)))
                    - flambeau.log(flambeau.abs(cut_nat_params)))
        taylor = 0.5 * x + flambeau.pow(x, 2) / 24.0 - flambeau.pow(x, 4) / 2880.0
        return flambeau.where(out_unst_reg, log_norm, taylor)
