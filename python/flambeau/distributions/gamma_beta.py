"""Gamma, Dirichlet and Beta (torch.distributions' parameterisations and formulas), and KL between
two of a family. Mixup's `Beta(alpha, alpha).sample()` is the common vision use.

Sampling: Marsaglia and Tsang's squeeze-and-reject method for Gamma(alpha, 1) (alpha < 1 boosted by
U^(1/alpha)), vectorised -- every pending element draws a candidate per round, about 1.03 rounds on
average -- from flambeau's generator; Dirichlet normalises independent Gammas, Beta is the first
coordinate of a 2-class Dirichlet, as in PyTorch.

rsample is differentiable in the concentrations through the implicit reparameterisation of the
Gamma draw, dx/dalpha = -(dF(x; alpha)/dalpha) / f(x; alpha), with PyTorch's approximations of it
(a series for small x, Rice's saddle point for large alpha, a rational fit elsewhere). Dirichlet and
Beta differentiate through x = G / sum(G); PyTorch instead differentiates the Beta CDF at x
directly: both are exact pathwise gradients, equal in expectation, not draw for draw (the draws
themselves differ between the libraries anyway).
"""
import numbers

import flambeau
from flambeau.autograd import Function

from . import Distribution, _broadcast, _validating, register_kl

__all__ = ["Gamma", "Dirichlet", "Beta"]


def _tiny(dtype):
    return 2.2250738585072014e-308 if dtype == flambeau.float64 else 1.1754943508222875e-38


def _sample_standard_gamma(alpha):
    """Gamma(alpha, 1) draws of alpha's shape (no autograd), computed in float64."""
    a = alpha.detach().to(flambeau.float64)
    small = a < 1
    a1 = flambeau.where(small, a + 1, a)
    d = a1 - 1.0 / 3.0
    c = 1.0 / flambeau.sqrt(9.0 * d)
    out = flambeau.zeros_like(a)
    done = flambeau.zeros(a.shape, dtype=flambeau.bool, device=a.device)
    while a.numel() and not bool(done.all()):
        x = flambeau.randn(a.shape, dtype=flambeau.float64, device=a.device)
        u = 1 - flambeau.rand(a.shape, dtype=flambeau.float64, device=a.device)  # in (0, 1]
        v = 1 + c * x
        v3 = v * v * v
        log_v3 = flambeau.log(v3.clamp(min=1e-300))
        xx = x * x
        accept = (v > 0) & ((u < 1 - 0.0331 * xx * xx) |
                            (flambeau.log(u) < 0.5 * xx + d * (1 - v3 + log_v3)))
        out = flambeau.where(accept & ~done, d * v3, out)
        done = done | accept
    u = flambeau.rand(a.shape, dtype=flambeau.float64, device=a.device)
    boost = flambeau.where(small, u.pow(1.0 / a), flambeau.ones_like(a))
    out = out * boost
    return out.to(alpha.dtype).clamp(min=_tiny(alpha.dtype))


_COEF_UV = ((0.16009398, -0.094634809, 0.025146376, -0.0030648343, 1, 0.32668115, 0.10406089, 0.0014179084),
            (0.53487893, 0.1298071, 0.065735949, -0.0015649758, 0.16639465, 0.020070113, -0.0035938915,
             -0.00058392623),
            (0.040121004, -0.0065914022, -0.0026286047, -0.0013441777, 0.017050642, -0.0021309326,
             0.00085092367, -1.5247877e-07))


def _standard_gamma_grad(alpha, x):
    """d x / d alpha of a Gamma(alpha, 1) draw x (PyTorch's standard_gamma_grad_one), elementwise,
    computed in float64."""
    dt = alpha.dtype
    a = alpha.to(flambeau.float64)
    x = x.to(flambeau.float64)
    # small x: Taylor series of the incomplete gamma function
    numer = flambeau.ones_like(x)
    denom = a.clone()
    series1 = numer / denom
    series2 = numer / (denom * denom)
    for i in range(1, 6):
        numer = numer * (-x / i)
        denom = denom + 1
        series1 = series1 + numer / denom
        series2 = series2 + numer / (denom * denom)
    pow_x_alpha = flambeau.pow(x, a)
    gamma_pdf = flambeau.pow(x, a - 1) * flambeau.exp(-x)
    gamma_cdf = pow_x_alpha * series1
    gamma_cdf_alpha = (flambeau.log(x) - flambeau.digamma(a)) * gamma_cdf - pow_x_alpha * series2
    small_x = -gamma_cdf_alpha / gamma_pdf
    small_x = flambeau.where(flambeau.isnan(small_x), flambeau.zeros_like(small_x), small_x)
    # large alpha: Rice's saddle point expansion
    numer_1 = 1 + 24 * a * (1 + 12 * a)
    numer_2 = 1440 * (a * a) + 6 * x * (53 - 120 * x) - 65 * x * x / a + a * (107 + 3600 * x)
    near = numer_1 * numer_2 / (1244160 * (a * a) * (a * a))
    den = flambeau.sqrt(8 * a)
    term2 = den / (a - x)
    term3 = flambeau.pow((x - a - a * flambeau.log(x / a)).abs(), -1.5)
    term23 = flambeau.where(x < a, term2 - term3, term2 + term3)
    term1 = flambeau.log(x / a) * term23 - flambeau.sqrt(2 / a) * (a + x) / ((a - x) * (a - x))
    stirling = 1 + 1 / (12 * a) * (1 + 1 / (24 * a))
    far = -stirling * (x * term1) / den
    large_a = flambeau.where((0.9 * a <= x) & (x <= 1.1 * a), near, far)
    # elsewhere: a bivariate rational approximation in log(x / alpha) and log(alpha)
    u = flambeau.log(x / a)
    v = flambeau.log(a)
    cv = [_COEF_UV[0][i] + u * (_COEF_UV[1][i] + u * _COEF_UV[2][i]) for i in range(8)]
    p = cv[0] + v * (cv[1] + v * (cv[2] + v * cv[3]))
    q = cv[4] + v * (cv[5] + v * (cv[6] + v * cv[7]))
    rational = flambeau.exp(p / q)
    out = flambeau.where(x < 0.8, small_x, flambeau.where(a > 8.0, large_a, rational))
    return out.to(dt)


class _StandardGamma(Function):
    @staticmethod
    def forward(ctx, alpha):
        x = _sample_standard_gamma(alpha)
        ctx.save_for_backward(alpha, x)
        return x

    @staticmethod
    def backward(ctx, grad):
        alpha, x = ctx.saved_tensors
        return grad * _standard_gamma_grad(alpha, x)


def _standard_gamma(alpha):
    if alpha.requires_grad and flambeau.is_grad_enabled():
        return _StandardGamma.apply(alpha)
    return _sample_standard_gamma(alpha)


def _xlogy(x, y):
    return flambeau.xlogy(x, y)


def _positive(dist, name, value):
    dist._check(name, value, value > 0, "GreaterThan(lower_bound=0.0)")


def _repr(dist, names):
    """PyTorch's Distribution.__repr__: each parameter, or its size when it has several values."""
    args = ", ".join(f"{k}: {v.item() if v.numel() == 1 else v.size()}"
                     for k, v in ((k, getattr(dist, k)) for k in names))
    return f"{type(dist).__name__}({args})"


class Gamma(Distribution):
    """Gamma(concentration, rate): density rate^a x^(a-1) e^(-rate x) / Gamma(a)."""
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = _broadcast(concentration, rate)
        super().__init__(self.concentration.shape, (), validate_args)
        if _validating(validate_args):
            _positive(self, "concentration", self.concentration)
            _positive(self, "rate", self.rate)

    def __repr__(self):
        return _repr(self, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=_tiny(value.dtype)) if not value.requires_grad else value

    def _check_value(self, value):
        if self._validate:
            self._check_sample(value, value >= 0, "GreaterThanEq(lower_bound=0.0)")

    def log_prob(self, value):
        value = flambeau.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        self._check_value(value)
        return (_xlogy(self.concentration, self.rate) + _xlogy(self.concentration - 1, value)
                - self.rate * value - flambeau.lgamma(self.concentration))

    def entropy(self):
        return (self.concentration - flambeau.log(self.rate) + flambeau.lgamma(self.concentration)
                + (1.0 - self.concentration) * flambeau.digamma(self.concentration))

    def cdf(self, value):
        value = flambeau.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        self._check_value(value)
        return flambeau.igamma(self.concentration, self.rate * value)


class Dirichlet(Distribution):
    """Dirichlet(concentration) over the simplex of the last dim."""
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args)
        if _validating(validate_args):
            self._check("concentration", concentration, concentration > 0,
                        "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)")

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        g = _standard_gamma(self.concentration.expand(shape))
        x = g / g.sum(-1, keepdim=True)
        return x.clamp(min=_tiny(x.dtype)) if not x.requires_grad else x

    def log_prob(self, value):
        value = flambeau.as_tensor(value, dtype=self.concentration.dtype, device=self.concentration.device)
        if self._validate:
            ok = (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)
            self._check_sample(value, ok, "Simplex()")
        return (_xlogy(self.concentration - 1.0, value).sum(-1)
                + flambeau.lgamma(self.concentration.sum(-1))
                - flambeau.lgamma(self.concentration).sum(-1))

    def __repr__(self):
        return _repr(self, ("concentration",))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        concm1 = (self.concentration - 1).clamp(min=0.0)
        mode = concm1 / concm1.sum(-1, True)
        mask = (self.concentration < 1).all(dim=-1, keepdim=True)
        one_hot = flambeau.nn.functional.one_hot(mode.argmax(dim=-1), concm1.shape[-1]).to(mode.dtype)
        return flambeau.where(mask, one_hot, mode)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        k = self.concentration.size(-1)
        a0 = self.concentration.sum(-1)
        return (flambeau.lgamma(self.concentration).sum(-1) - flambeau.lgamma(a0)
                - (k - a0) * flambeau.digamma(a0)
                - ((self.concentration - 1.0) * flambeau.digamma(self.concentration)).sum(-1))


class Beta(Distribution):
    """Beta(concentration1, concentration0) on [0, 1]: the first coordinate of
    Dirichlet([concentration1, concentration0])."""
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        if isinstance(concentration1, numbers.Real) and isinstance(concentration0, numbers.Real):
            c1c0 = flambeau.tensor([float(concentration1), float(concentration0)])
        else:
            c1, c0 = _broadcast(concentration1, concentration0)
            c1c0 = flambeau.stack([c1, c0], -1)
        # (the Dirichlet checks the concentrations, so a bad one is reported as PyTorch reports it)
        self._dirichlet = Dirichlet(c1c0, validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, (), validate_args)

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        value = flambeau.as_tensor(value, dtype=self._dirichlet.concentration.dtype,
                                   device=self._dirichlet.concentration.device)
        if self._validate:
            self._check_sample(value, (value >= 0) & (value <= 1),
                               "Interval(lower_bound=0.0, upper_bound=1.0)")
        heads_tails = flambeau.stack([value, 1.0 - value], -1)
        return self._dirichlet.log_prob(heads_tails)

    def entropy(self):
        return self._dirichlet.entropy()

    @property
    def concentration1(self):
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        return self._dirichlet.concentration[..., 1]



@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    t1 = q.concentration * flambeau.log(p.rate / q.rate)
    t2 = flambeau.lgamma(q.concentration) - flambeau.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * flambeau.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    sum_params_p = p.concentration1 + p.concentration0
    sum_params_q = q.concentration1 + q.concentration0
    t1 = flambeau.lgamma(q.concentration1) + flambeau.lgamma(q.concentration0) + flambeau.lgamma(sum_params_p)
    t2 = flambeau.lgamma(p.concentration1) + flambeau.lgamma(p.concentration0) + flambeau.lgamma(sum_params_q)
    t3 = (p.concentration1 - q.concentration1) * flambeau.digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * flambeau.digamma(p.concentration0)
    t5 = (sum_params_q - sum_params_p) * flambeau.digamma(sum_params_p)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    sum_p = p.concentration.sum(-1)
    sum_q = q.concentration.sum(-1)
    t1 = flambeau.lgamma(sum_p) - flambeau.lgamma(sum_q)
    t2 = (flambeau.lgamma(p.concentration) - flambeau.lgamma(q.concentration)).sum(-1)
    t3 = p.concentration - q.concentration
    t4 = flambeau.digamma(p.concentration) - flambeau.digamma(sum_p).unsqueeze(-1)
    return t1 - t2 + (t3 * t4).sum(-1)

