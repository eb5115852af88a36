"""Families built from Gamma draws, as torch.distributions builds them: Chi2(df) = Gamma(df / 2, 1 / 2);
StudentT(df, loc, scale) = loc + scale * N / sqrt(Chi2 / df); FisherSnedecor(df1, df2) = (Chi2_1 / df1) /
(Chi2_2 / df2) as a ratio of Gammas; InverseGamma = 1 / Gamma through PowerTransform(-1). All sample
through flambeau's Gamma sampler and its implicit reparameterisation, so rsample is differentiable in
the degrees of freedom as well as in loc and scale."""
import math

import flambeau
from . import Distribution, _broadcast, _validating, constraints
from ._expand_support import _new_like
from ._torch_style import TorchStyle
from .gamma_beta import Gamma
from .transformed_distribution import TransformedDistribution
from .transforms import PowerTransform

__all__ = ["Chi2", "StudentT", "FisherSnedecor", "InverseGamma"]


class Chi2(TorchStyle, Gamma):
    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        # Gamma's own checks would name `concentration`; PyTorch's name the degrees of freedom
        super().__init__(0.5 * df, 0.5, validate_args=False)
        self._validate = _validating(validate_args)
        if self._validate:
            self._check_arg_constraints()

    @property
    def df(self):
        return self.concentration * 2


class StudentT(TorchStyle, Distribution):
    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = _broadcast(df, loc, scale)
        self._chi2 = Chi2(self.df)
        self._init_checked(self.df.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = _new_like(self, batch_shape)
        for name in ("df", "loc", "scale"):
            setattr(new, name, getattr(self, name).expand(batch_shape))
        new._chi2 = self._chi2.expand(batch_shape)
        return new

    @property
    def mean(self):
        return flambeau.where(self.df <= 1, math.nan, self.loc)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        finite = df > 2
        safe_df = flambeau.where(finite, df, 3.0)  # keeps the unused branch (and its gradient) finite
        var = flambeau.where(finite, self.scale.pow(2) * safe_df / (safe_df - 2), math.inf)
        return flambeau.where(df <= 1, math.nan, var)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        x = flambeau.randn(shape, dtype=self.df.dtype, device=self.df.device)
        z = self._chi2.rsample(sample_shape)
        y = x * flambeau.rsqrt(z / self.df)
        return self.loc + self.scale * y

    def log_prob(self, value):
        value = self._value(value, self.df)
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi)
             + flambeau.lgamma(0.5 * self.df) - flambeau.lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * flambeau.log1p(y ** 2.0 / self.df) - z

    def entropy(self):
        lbeta = flambeau.lgamma(0.5 * self.df) + math.lgamma(0.5) - flambeau.lgamma(0.5 * (self.df + 1))
        return (self.scale.log()
                + 0.5 * (self.df + 1) * (flambeau.digamma(0.5 * (self.df + 1)) - flambeau.digamma(0.5 * self.df))
                + 0.5 * self.df.log() + lbeta)


class FisherSnedecor(TorchStyle, Distribution):
    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = _broadcast(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        self._init_checked(self.df1.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = _new_like(self, batch_shape)
        new.df1 = self.df1.expand(batch_shape)
        new.df2 = self.df2.expand(batch_shape)
        new._gamma1 = self._gamma1.expand(batch_shape)
        new._gamma2 = self._gamma2.expand(batch_shape)
        return new

    @property
    def mean(self):
        df2 = self.df2
        defined = df2 > 2
        safe = flambeau.where(defined, df2, 3.0)
        return flambeau.where(defined, safe / (safe - 2), math.nan)

    @property
    def mode(self):
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return flambeau.where(self.df1 <= 2, math.nan, mode)

    @property
    def variance(self):
        defined = self.df2 > 4
        df2 = flambeau.where(defined, self.df2, 5.0)
        var = 2 * df2.pow(2) * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2).pow(2) * (df2 - 4))
        return flambeau.where(defined, var, math.nan)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        x1 = self._gamma1.rsample(sample_shape).view(shape)
        x2 = self._gamma2.rsample(sample_shape).view(shape)
        tiny = flambeau.finfo(x2.dtype).tiny
        return (x1 / x2.clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value):
        value = self._value(value, self.df1)
        ct1 = self.df1 * 0.5
        ct2 = self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = (ct1 + ct2).lgamma() - ct1.lgamma() - ct2.lgamma()
        t2 = ct1 * ct3.log() + (ct1 - 1) * flambeau.log(value)
        t3 = (ct1 + ct2) * flambeau.log1p(ct3 * value)
        return t1 + t2 - t3


class InverseGamma(TorchStyle, TransformedDistribution):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        base_dist = Gamma(concentration, rate, validate_args=validate_args)
        neg_one = -base_dist.rate.new_ones(())
        super().__init__(base_dist, PowerTransform(neg_one), validate_args=validate_args)
        if self._validate:
            self._check_arg_constraints()

    @property
    def concentration(self):
        return self.base_dist.concentration

    @property
    def rate(self):
        return self.base_dist.rate

    @property
    def mean(self):
        result = self.rate / (self.concentration - 1)
        return flambeau.where(self.concentration > 1, result, math.inf)

    @property
    def mode(self):
        return self.rate / (self.concentration + 1)

    @property
    def variance(self):
        result = self.rate.square() / ((self.concentration - 1).square() * (self.concentration - 2))
        return flambeau.where(self.concentration > 2, result, math.inf)

    def entropy(self):
        return (self.concentration + self.rate.log() + self.concentration.lgamma()
                - (1 + self.concentration) * self.concentration.digamma())
