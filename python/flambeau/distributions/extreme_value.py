"""The extreme-value and tail families, as torch.distributions defines them: Gumbel (the law of maxima;
Uniform pushed through -log(-log(u)) and an affine map), Weibull (Exponential(1) ** (1 / concentration)
* scale), Pareto (scale * exp(Exponential(alpha))) and GeneralizedPareto (location-scale with a
concentration that moves between the three, sampled through its icdf). All are reparameterised."""
import math

import flambeau
from . import Distribution, Uniform, _broadcast, constraints
from ._expand_support import _expand_transformed, _new_like
from ._torch_style import TorchStyle
from .exponential import Exponential
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, ExpTransform, PowerTransform

__all__ = ["Gumbel", "Weibull", "Pareto", "GeneralizedPareto"]

EULER_GAMMA = 0.57721566490153286060


class Gumbel(TorchStyle, TransformedDistribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast(loc, scale)
        finfo = flambeau.finfo(self.loc.dtype)
        base_dist = Uniform(flambeau.full_like(self.loc, finfo.tiny), flambeau.full_like(self.loc, 1 - finfo.eps),
                            validate_args=validate_args)
        transforms = [ExpTransform().inv, AffineTransform(loc=0, scale=-flambeau.ones_like(self.scale)),
                      ExpTransform().inv, AffineTransform(loc=loc, scale=-self.scale)]
        super().__init__(base_dist, transforms, validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    def expand(self, batch_shape, _instance=None):
        new = _expand_transformed(self, batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        return new

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        y = (self.loc - value) / self.scale
        return (y - y.exp()) - self.scale.log()

    @property
    def mean(self):
        return self.loc + self.scale * EULER_GAMMA

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def entropy(self):
        return self.scale.log() + (1 + EULER_GAMMA)


class Weibull(TorchStyle, TransformedDistribution):
    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive

    def __init__(self, scale, concentration, validate_args=None):
        self.scale, self.concentration = _broadcast(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base_dist = Exponential(flambeau.ones_like(self.scale), validate_args=validate_args)
        transforms = [PowerTransform(exponent=self.concentration_reciprocal),
                      AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base_dist, transforms, validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    def expand(self, batch_shape, _instance=None):
        new = _new_like(self, batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.concentration_reciprocal = new.concentration.reciprocal()
        new.base_dist = self.base_dist.expand(batch_shape)
        new.transforms = [PowerTransform(exponent=new.concentration_reciprocal),
                          AffineTransform(loc=0, scale=new.scale)]
        return new

    @property
    def mean(self):
        return self.scale * flambeau.exp(flambeau.lgamma(1 + self.concentration_reciprocal))

    @property
    def mode(self):
        return self.scale * ((self.concentration - 1) / self.concentration) ** self.concentration.reciprocal()

    @property
    def variance(self):
        return self.scale.pow(2) * (flambeau.exp(flambeau.lgamma(1 + 2 * self.concentration_reciprocal))
                                    - flambeau.exp(2 * flambeau.lgamma(1 + self.concentration_reciprocal)))

    def entropy(self):
        return (EULER_GAMMA * (1 - self.concentration_reciprocal)
                + flambeau.log(self.scale * self.concentration_reciprocal) + 1)


class Pareto(TorchStyle, TransformedDistribution):
    """Pareto type I: density alpha * scale^alpha / x^(alpha + 1) on x >= scale."""
    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}

    def __init__(self, scale, alpha, validate_args=None):
        self.scale, self.alpha = _broadcast(scale, alpha)
        base_dist = Exponential(self.alpha, validate_args=validate_args)
        transforms = [ExpTransform(), AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base_dist, transforms, validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    def expand(self, batch_shape, _instance=None):
        new = _expand_transformed(self, batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.alpha = self.alpha.expand(batch_shape)
        return new

    @property
    def mean(self):
        a = self.alpha.clamp(min=1)
        return a * self.scale / (a - 1)

    @property
    def mode(self):
        return self.scale

    @property
    def variance(self):
        a = self.alpha.clamp(min=2)
        return self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2))

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than_eq(self.scale)

    def entropy(self):
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())


class GeneralizedPareto(TorchStyle, Distribution):
    """GPD(loc, scale, concentration): survival (1 + c z)^(-1/c) for z = (x - loc) / scale (exp(-z) at
    c = 0), on [loc, loc - scale / c] for c < 0 and [loc, inf) otherwise."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "concentration": constraints.real}
    has_rsample = True
    _expand_params = ("loc", "scale", "concentration")

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = _broadcast(loc, scale, concentration)
        self._init_checked(self.loc.shape, (), validate_args)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = flambeau.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.icdf(u)

    def _safe_concentration(self):
        """(c == 0 up to isclose's tolerance, c with those entries replaced by 1 so no branch divides by 0)."""
        eq_zero = flambeau.isclose(self.concentration, flambeau.zeros_like(self.concentration))
        return eq_zero, flambeau.where(eq_zero, flambeau.ones_like(self.concentration), self.concentration)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        z = self._z(value)
        eq_zero, safe_conc = self._safe_concentration()
        y = 1 / safe_conc + flambeau.ones_like(z)
        where_nonzero = flambeau.where(y == 0, y, y * flambeau.log1p(safe_conc * z))
        return -self.scale.log() - flambeau.where(eq_zero, z, where_nonzero)

    def log_survival_function(self, value):
        if self._validate:
            self._validate_sample(value)
        z = self._z(value)
        eq_zero, safe_conc = self._safe_concentration()
        where_nonzero = -flambeau.log1p(safe_conc * z) / safe_conc
        return flambeau.where(eq_zero, -z, where_nonzero)

    def log_cdf(self, value):
        return flambeau.log1p(-flambeau.exp(self.log_survival_function(value)))

    def cdf(self, value):
        return flambeau.exp(self.log_cdf(value))

    def icdf(self, value):
        eq_zero, safe_conc = self._safe_concentration()
        logu = flambeau.log1p(-value)
        where_nonzero = self.loc + self.scale / safe_conc * flambeau.expm1(-safe_conc * logu)
        where_zero = self.loc - self.scale * logu
        return flambeau.where(eq_zero, where_zero, where_nonzero)

    def _z(self, x):
        return (x - self.loc) / self.scale

    @property
    def mean(self):
        valid = self.concentration < 1
        safe_conc = flambeau.where(valid, self.concentration, 0.5)
        return flambeau.where(valid, self.loc + self.scale / (1 - safe_conc), math.nan)

    @property
    def variance(self):
        valid = self.concentration < 0.5
        safe_conc = flambeau.where(valid, self.concentration, 0.25)
        return flambeau.where(valid, self.scale ** 2 / ((1 - safe_conc) ** 2 * (1 - 2 * safe_conc)), math.nan)

    def entropy(self):
        return flambeau.broadcast_to(flambeau.log(self.scale) + self.concentration + 1, self._batch_shape)

    @property
    def mode(self):
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        upper = flambeau.where(self.concentration < 0, self.loc - self.scale / self.concentration, math.inf)
        return constraints.interval(self.loc, upper)
