"""LowRankMultivariateNormal, Wishart and LKJCholesky, as torch.distributions has them.

LowRankMultivariateNormal: covariance W W^T + diag(D); log_prob and entropy through the m x m
"capacitance" matrix I + W^T D^-1 W (Woodbury identity and determinant lemma), rsample
loc + W eps_W + sqrt(D) eps_D, and PyTorch's KL with itself and with MultivariateNormal both ways.
Wishart: Bartlett's construction (chi-square diagonal from Gamma(df_i / 2, 1/2) draws, differentiable
in df through Gamma's reparameterisation, normal entries below), redrawn where a draw is not positive
definite. PyTorch marks the wrong draws as singular (its check's result is not negated), so it warns and
redraws almost always; flambeau redraws only the singular ones and warns only then.
LKJCholesky: Cholesky factors of correlation matrices by the onion method as PyTorch vectorises it (Beta
draws for the row lengths, uniform directions), with the Beta concentrations of the paper, which PyTorch
gets wrong from the third row on (see __init__); sample only, as PyTorch."""
import math
import warnings

import flambeau
from . import Distribution, _broadcast, constraints, register_kl
from ._arg_validation import ValidatedArgs, lazy_property
from .exp_family import ExponentialFamily
from .gamma_beta import Beta, Gamma
from .multivariate_normal import (MultivariateNormal, _batch_mahalanobis, _batch_mv, _batch_trace_XXT,
                                  _precision_to_scale_tril)

__all__ = ["LowRankMultivariateNormal", "Wishart", "LKJCholesky"]


def _add_identity(K):
    m = K.shape[-1]
    return K + flambeau.eye(m, dtype=K.dtype, device=K.device)


def _batch_capacitance_tril(W, D):
    """Cholesky factor of I + W^T D^-1 W."""
    Wt_Dinv = W.mT / D.unsqueeze(-2)
    return flambeau.linalg.cholesky(_add_identity(flambeau.matmul(Wt_Dinv, W)))


def _batch_lowrank_logdet(W, D, capacitance_tril):
    """log |W W^T + D| = log |C| + log |D| (matrix determinant lemma)."""
    return 2 * capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + D.log().sum(-1)


def _batch_lowrank_mahalanobis(W, D, x, capacitance_tril):
    """x^T (W W^T + D)^-1 x by the Woodbury identity."""
    Wt_Dinv = W.mT / D.unsqueeze(-2)
    Wt_Dinv_x = _batch_mv(Wt_Dinv, x)
    mahalanobis_term1 = (x.pow(2) / D).sum(-1)
    mahalanobis_term2 = _batch_mahalanobis(capacitance_tril, Wt_Dinv_x)
    return mahalanobis_term1 - mahalanobis_term2


class LowRankMultivariateNormal(ValidatedArgs, Distribution):
    """N(loc, cov_factor cov_factor^T + diag(cov_diag))."""
    arg_constraints = {"loc": constraints.real_vector, "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = tuple(loc.shape[-1:])
        if cov_factor.dim() < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional leading batch dimensions")
        if tuple(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(f"cov_factor must be a batch of matrices with shape {event_shape[0]} x m")
        if tuple(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {flambeau.Size(event_shape)}")
        try:
            loc_, self.cov_factor, cov_diag_ = flambeau.broadcast_tensors(loc.unsqueeze(-1), cov_factor,
                                                                          cov_diag.unsqueeze(-1))
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"Incompatible batch shapes: loc {loc.shape}, cov_factor {cov_factor.shape}, "
                             f"cov_diag {cov_diag.shape}") from e
        self.loc = loc_[..., 0]
        self.cov_diag = cov_diag_[..., 0]
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        super().__init__(tuple(self.loc.shape[:-1]), event_shape, validate_args)
        self._validate_parameters()  # before the Cholesky factorisation, which fails on a bad cov_diag
        self._capacitance_tril = _batch_capacitance_tril(cov_factor, cov_diag)

    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = type(self).__new__(type(self))
        loc_shape = tuple(batch_shape) + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new.cov_diag = self.cov_diag.expand(loc_shape)
        new.cov_factor = self.cov_factor.expand(loc_shape + tuple(self.cov_factor.shape[-1:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate = self._validate
        return new

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    def _full_matrix_shape(self):
        return tuple(self._batch_shape) + tuple(self._event_shape) * 2

    @lazy_property
    def variance(self):
        return (self._unbroadcasted_cov_factor.pow(2).sum(-1) + self._unbroadcasted_cov_diag).expand(
            tuple(self._batch_shape) + tuple(self._event_shape))

    @lazy_property
    def scale_tril(self):
        # Cholesky of D^1/2 (I + D^-1/2 W W^T D^-1/2) D^1/2, as PyTorch computes it
        cov_diag_sqrt_unsqueeze = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        Dinvsqrt_W = self._unbroadcasted_cov_factor / cov_diag_sqrt_unsqueeze
        K = _add_identity(flambeau.matmul(Dinvsqrt_W, Dinvsqrt_W.mT))
        return (cov_diag_sqrt_unsqueeze * flambeau.linalg.cholesky(K)).expand(self._full_matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        return (flambeau.matmul(W, W.mT) + flambeau.diag_embed(self._unbroadcasted_cov_diag)).expand(
            self._full_matrix_shape())

    @lazy_property
    def precision_matrix(self):
        Wt_Dinv = self._unbroadcasted_cov_factor.mT / self._unbroadcasted_cov_diag.unsqueeze(-2)
        A = flambeau.linalg.solve_triangular(self._capacitance_tril, Wt_Dinv, upper=False)
        precision = flambeau.diag_embed(self._unbroadcasted_cov_diag.reciprocal()) - A.mT @ A
        return precision.expand(self._full_matrix_shape())

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        W_shape = tuple(shape[:-1]) + tuple(self.cov_factor.shape[-1:])
        eps_W = flambeau.randn(W_shape, dtype=self.loc.dtype, device=self.loc.device)
        eps_D = flambeau.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return (self.loc + _batch_mv(self._unbroadcasted_cov_factor, eps_W)
                + self._unbroadcasted_cov_diag.sqrt() * eps_D)

    def _log_det(self):
        return _batch_lowrank_logdet(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                                     self._capacitance_tril)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        diff = value - self.loc
        M = _batch_lowrank_mahalanobis(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag, diff,
                                       self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._log_det() + M)

    def entropy(self):
        H = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return H if len(self._batch_shape) == 0 else H.expand(tuple(self._batch_shape))


def _check_same_event(p, q, low_rank_both):
    if p.event_shape != q.event_shape:
        what = "two Low Rank Multivariate Normals" if low_rank_both else "two (Low Rank) Multivariate Normals"
        raise ValueError(f"KL-divergence between {what} with different event shapes cannot be computed")


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrankmultivariatenormal_lowrankmultivariatenormal(p, q):
    _check_same_event(p, q, True)
    term1 = q._log_det() - p._log_det()
    term3 = _batch_lowrank_mahalanobis(q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, q.loc - p.loc,
                                       q._capacitance_tril)
    # inv(qcov) @ pcov = [inv(qD) - A^T A] @ (pD + pW pW^T), A = inv(qC_tril) qW^T inv(qD)
    qWt_qDinv = q._unbroadcasted_cov_factor.mT / q._unbroadcasted_cov_diag.unsqueeze(-2)
    A = flambeau.linalg.solve_triangular(q._capacitance_tril, qWt_qDinv, upper=False)
    term21 = (p._unbroadcasted_cov_diag / q._unbroadcasted_cov_diag).sum(-1)
    term22 = _batch_trace_XXT(p._unbroadcasted_cov_factor * q._unbroadcasted_cov_diag.rsqrt().unsqueeze(-1))
    term23 = _batch_trace_XXT(A * p._unbroadcasted_cov_diag.sqrt().unsqueeze(-2))
    term24 = _batch_trace_XXT(A.matmul(p._unbroadcasted_cov_factor))
    term2 = term21 + term22 - term23 - term24
    return 0.5 * (term1 + term2 + term3 - p.event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_multivariatenormal_lowrankmultivariatenormal(p, q):
    _check_same_event(p, q, False)
    term1 = q._log_det() - 2 * p._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    term3 = _batch_lowrank_mahalanobis(q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, q.loc - p.loc,
                                       q._capacitance_tril)
    # inv(qcov) @ pcov = [inv(qD) - A^T A] @ p_tril p_tril^T
    qWt_qDinv = q._unbroadcasted_cov_factor.mT / q._unbroadcasted_cov_diag.unsqueeze(-2)
    A = flambeau.linalg.solve_triangular(q._capacitance_tril, qWt_qDinv, upper=False)
    term21 = _batch_trace_XXT(p._unbroadcasted_scale_tril * q._unbroadcasted_cov_diag.rsqrt().unsqueeze(-1))
    term22 = _batch_trace_XXT(A.matmul(p._unbroadcasted_scale_tril))
    return 0.5 * (term1 + term21 - term22 + term3 - p.event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrankmultivariatenormal_multivariatenormal(p, q):
    _check_same_event(p, q, False)
    term1 = 2 * q._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) - p._log_det()
    term3 = _batch_mahalanobis(q._unbroadcasted_scale_tril, (q.loc - p.loc))
    # inv(qcov) @ pcov = inv(q_tril q_tril^T) @ (pW pW^T + pD)
    combined_batch_shape = tuple(flambeau.broadcast_shapes(tuple(q._unbroadcasted_scale_tril.shape[:-2]),
                                                           tuple(p._unbroadcasted_cov_factor.shape[:-2])))
    n = p.event_shape[0]
    q_scale_tril = q._unbroadcasted_scale_tril.expand(combined_batch_shape + (n, n))
    p_cov_factor = p._unbroadcasted_cov_factor.expand(combined_batch_shape + (n, p.cov_factor.size(-1)))
    p_cov_diag = flambeau.diag_embed(p._unbroadcasted_cov_diag.sqrt()).expand(combined_batch_shape + (n, n))
    term21 = _batch_trace_XXT(flambeau.linalg.solve_triangular(q_scale_tril, p_cov_factor, upper=False))
    term22 = _batch_trace_XXT(flambeau.linalg.solve_triangular(q_scale_tril, p_cov_diag, upper=False))
    return 0.5 * (term1 + term21 + term22 + term3 - p.event_shape[0])


_LOG_2 = math.log(2)


def _mvdigamma(x, p):
    """Multivariate digamma: sum_i digamma(x - i / 2), i < p."""
    if not bool(x.gt((p - 1) / 2).all()):
        raise AssertionError("Wrong domain for multivariate digamma function.")
    return flambeau.digamma(x.unsqueeze(-1) - flambeau.arange(p, dtype=x.dtype, device=x.device).div(2)
                            .expand(tuple(x.shape) + (-1,))).sum(-1)


class Wishart(ValidatedArgs, ExponentialFamily):
    """Wishart(df, Sigma) over p x p positive-definite matrices, Sigma given as exactly one of
    covariance_matrix, precision_matrix or scale_tril (its Cholesky factor)."""
    support = constraints.positive_definite
    has_rsample = True

    @property
    def arg_constraints(self):
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self.event_shape[-1] - 1)}

    # ExponentialFamily, as PyTorch's: theta = (-Sigma^-1 / 2, (df - p - 1) / 2)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x, y):
        p = self._event_shape[-1]
        return (y + (p + 1) / 2) * (-flambeau.linalg.slogdet(-2 * x).logabsdet + math.log(2) * p) + \
            flambeau.mvlgamma(y + (p + 1) / 2, p=p)

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                                 "specified.")
        param = next(p for p in (covariance_matrix, precision_matrix, scale_tril) if p is not None)
        if param.dim() < 2:
            raise ValueError("scale_tril must be at least two-dimensional, with optional leading batch dimensions")
        if isinstance(df, flambeau.Tensor):
            batch_shape = tuple(flambeau.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(batch_shape)
        else:
            batch_shape = tuple(param.shape[:-2])
            self.df = flambeau.tensor(float(df), dtype=param.dtype, device=param.device)
        event_shape = tuple(param.shape[-2:])
        if bool(self.df.le(event_shape[-1] - 1).any()):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {event_shape[-1] - 1}.")
        name = ("scale_tril" if scale_tril is not None else
                "covariance_matrix" if covariance_matrix is not None else "precision_matrix")
        self.__dict__[name] = param.expand(batch_shape + (-1, -1))
        if bool(self.df.lt(event_shape[-1]).any()):
            warnings.warn("Low df values detected. Singular samples are highly likely to occur for ndim - 1 < df "
                          "< ndim.", stacklevel=2)
        super().__init__(batch_shape, event_shape, validate_args)
        self._validate_parameters()
        self._batch_dims = [-(x + 1) for x in range(len(self._batch_shape))]
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = flambeau.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = type(self).__new__(type(self))
        cov_shape = tuple(batch_shape) + tuple(self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(tuple(batch_shape))
        new._batch_dims = [-(x + 1) for x in range(len(batch_shape))]
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(cov_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate = self._validate
        return new

    def _chi2(self):
        """Chi2(df - i) for the diagonal's i-th entry, as Gamma((df - i) / 2, rate 1/2)."""
        L = self._unbroadcasted_scale_tril
        df = (self.df.unsqueeze(-1) - flambeau.arange(self._event_shape[-1], dtype=L.dtype, device=L.device)
              .expand(tuple(self._batch_shape) + (-1,)))
        return Gamma(0.5 * df, flambeau.full_like(df, 0.5), validate_args=False)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(tuple(self._batch_shape) + tuple(self._event_shape))

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-2, -1)).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        identity = flambeau.eye(self._event_shape[-1], device=L.device, dtype=L.dtype)
        return flambeau.cholesky_solve(identity, L).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    def _df_as_matrix(self, df):
        return df.view(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self):
        return self._df_as_matrix(self.df) * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df - self.covariance_matrix.shape[-1] - 1
        factor = flambeau.where(factor <= 0, flambeau.full_like(factor, float("nan")), factor)  # no mode there
        return self._df_as_matrix(factor) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        diag_V = V.diagonal(dim1=-2, dim2=-1)
        return self._df_as_matrix(self.df) * (V.pow(2) + diag_V.unsqueeze(-1) * diag_V.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape=()):
        p = self._event_shape[-1]
        chi = self._chi2().rsample(sample_shape).sqrt()
        chi = chi.clamp(min=flambeau.finfo(chi.dtype).eps)
        normal = flambeau.randn(tuple(sample_shape) + tuple(self._batch_shape) + (p, p), dtype=chi.dtype,
                                device=chi.device)
        noise = normal.tril(-1) + flambeau.diag_embed(chi)
        chol = self._unbroadcasted_scale_tril @ noise
        return chol @ chol.transpose(-2, -1)

    def rsample(self, sample_shape=(), max_try_correction=None):
        """Bartlett draws; where one is singular (not positive definite, rare unless df < p) the whole
        batch of that sample index is redrawn, up to max_try_correction (10) times."""
        if max_try_correction is None:
            max_try_correction = 10
        sample_shape = tuple(flambeau.Size(sample_shape) if not isinstance(sample_shape, int) else (sample_shape,))
        sample = self._bartlett_sampling(sample_shape)
        is_singular = self._singular(sample)
        if bool(is_singular.any()):
            warnings.warn("Singular sample detected.", stacklevel=2)
            for _ in range(max_try_correction):
                redraw = self._bartlett_sampling(sample_shape)
                mask = is_singular.reshape(tuple(is_singular.shape) + (1,) * (sample.dim() - is_singular.dim()))
                sample = flambeau.where(mask, redraw, sample)
                is_singular = is_singular & self._singular(redraw)
                if not bool(is_singular.any()):
                    break
        return sample

    def _singular(self, sample):
        bad = ~self.support.check(sample)
        nb = len(self._batch_shape)
        if nb:  # a sample index is singular when any of its batch entries is
            bad = bad.reshape(tuple(bad.shape[:bad.dim() - nb]) + (-1,)).any(-1)
        return bad

    def _half_log_det_plus(self, p):
        return p * _LOG_2 / 2 + self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        return (-nu * self._half_log_det_plus(p) - flambeau.mvlgamma(nu / 2, p=p)
                + (nu - p - 1) / 2 * flambeau.linalg.slogdet(value).logabsdet
                - flambeau.cholesky_solve(value, self._unbroadcasted_scale_tril).diagonal(dim1=-2, dim2=-1)
                .sum(dim=-1) / 2)

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        return ((p + 1) * self._half_log_det_plus(p) + flambeau.mvlgamma(nu / 2, p=p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p=p) + nu * p / 2)

    def __repr__(self):
        names = [k for k in ("df", "covariance_matrix", "precision_matrix", "scale_tril") if k in self.__dict__]
        parts = [f"{k}: {self.__dict__[k].item() if self.__dict__[k].dim() == 0 else self.__dict__[k].size()}"
                 for k in names]
        return f"Wishart({', '.join(parts)})"


class LKJCholesky(ValidatedArgs, Distribution):
    """LKJ(concentration) over Cholesky factors of dim x dim correlation matrices."""
    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        if dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = _broadcast(concentration)
        marginal_conc = self.concentration + 0.5 * (self.dim - 2)
        offset = flambeau.arange(self.dim - 1, dtype=self.concentration.dtype, device=self.concentration.device)
        offset = flambeau.cat([offset.new_zeros((1,)), offset])
        # row i's squared length below the diagonal is Beta(i / 2, marginal - (i - 1) / 2) (Lewandowski,
        # Kurowicka and Joe 2009, sec. 3.2). PyTorch has offset + 0.5 for the first concentration, i.e. i - 1/2
        # instead of i / 2 from the third row on, and its draws then do not follow its own log_prob (the
        # correlations' marginals come out too wide); flambeau draws from the LKJ distribution itself
        beta_conc1 = 0.5 * offset + 0.5
        beta_conc0 = marginal_conc.unsqueeze(-1) - 0.5 * offset
        super().__init__(tuple(self.concentration.shape), (dim, dim), validate_args)
        self._validate_parameters()
        self._beta = Beta(beta_conc1, beta_conc0)

    def expand(self, batch_shape, _instance=None):
        batch_shape = flambeau.Size(tuple(batch_shape))
        new = type(self).__new__(type(self))
        new.dim = self.dim
        new.concentration = self.concentration.expand(tuple(batch_shape))
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate = self._validate
        return new

    def sample(self, sample_shape=()):
        """The onion method: row i's squared length below the diagonal is a Beta draw, its direction a
        uniform one; the diagonal completes each row to unit length."""
        with flambeau.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u_normal = flambeau.randn(self._extended_shape(sample_shape), dtype=y.dtype, device=y.device).tril(-1)
            norm = u_normal.norm(dim=-1, keepdim=True)
            # row 0 has nothing below the diagonal: its direction is 0 (PyTorch fills the 0 / 0 with 0)
            first_row = flambeau.arange(self.dim, device=y.device).reshape(-1, 1) == 0
            u_hypersphere = flambeau.where(first_row, flambeau.zeros_like(u_normal), u_normal / norm)
            w = flambeau.sqrt(y) * u_hypersphere
            eps = flambeau.finfo(w.dtype).tiny
            diag_elems = flambeau.clamp(1 - flambeau.sum(w ** 2, dim=-1), min=eps).sqrt()
            return w + flambeau.diag_embed(diag_elems)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        diag_elems = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = flambeau.arange(2, self.dim + 1, device=self.concentration.device)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized_log_pdf = flambeau.sum(order * diag_elems.log(), dim=-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        denominator = flambeau.lgamma(alpha) * dm1
        numerator = flambeau.mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        return unnormalized_log_pdf - (pi_constant + numerator - denominator)
