"""MultivariateNormal, as torch.distributions.MultivariateNormal: parameterised by exactly one of a
covariance matrix, a precision matrix or a lower-triangular scale (Cholesky factor), all kept as the
unbroadcast Cholesky factor L (Sigma = L L^T) from which log_prob (a batched triangular solve for the
Mahalanobis term), entropy, rsample (loc + L eps) and the moments are computed, with PyTorch's formulas
so that the numbers agree to float rounding. Arguments are validated as PyTorch validates them by default."""
import math

import flambeau
from . import Distribution, _validating, register_kl

__all__ = ["MultivariateNormal"]


def _batch_mv(bmat, bvec):
    """Matrix-vector products over broadcastable batch shapes."""
    return flambeau.matmul(bmat, bvec.unsqueeze(-1)).squeeze(-1)


def _batch_mahalanobis(bL, bx):
    """x^T (L L^T)^-1 x for batches of L and x whose batch shapes broadcast (L's to x's). PyTorch's
    reshaping trick: x's batch dims are folded so that one batched triangular solve per distinct L
    serves every x that shares it, instead of expanding L to x's batch shape."""
    n = bx.size(-1)
    bx_batch_shape = tuple(bx.shape[:-1])
    bx_batch_dims = len(bx_batch_shape)
    bL_batch_dims = bL.dim() - 2
    outer_batch_dims = bx_batch_dims - bL_batch_dims
    old_batch_dims = outer_batch_dims + bL_batch_dims
    new_batch_dims = outer_batch_dims + 2 * bL_batch_dims
    bx_new_shape = tuple(bx.shape[:outer_batch_dims])
    for sL, sx in zip(bL.shape[:-2], bx.shape[outer_batch_dims:-1]):
        bx_new_shape += (sx // sL, sL)
    bx_new_shape += (n,)
    bx = bx.reshape(bx_new_shape)
    permute_dims = (list(range(outer_batch_dims)) + list(range(outer_batch_dims, new_batch_dims, 2))
                    + list(range(outer_batch_dims + 1, new_batch_dims, 2)) + [new_batch_dims])
    bx = bx.permute(permute_dims)
    flat_L = bL.reshape(-1, n, n)
    flat_x = bx.reshape(-1, flat_L.size(0), n)
    flat_x_swap = flat_x.permute(1, 2, 0)
    M_swap = flambeau.linalg.solve_triangular(flat_L, flat_x_swap, upper=False).pow(2).sum(-2)
    M = M_swap.t()
    permuted_M = M.reshape(bx.shape[:-1])
    permute_inv_dims = list(range(outer_batch_dims))
    for i in range(bL_batch_dims):
        permute_inv_dims += [outer_batch_dims + i, old_batch_dims + i]
    return permuted_M.permute(permute_inv_dims).reshape(bx_batch_shape)


def _precision_to_scale_tril(P):
    """Lower Cholesky factor of P^-1 without inverting P: the flipped Cholesky factor of the flipped P."""
    Lf = flambeau.linalg.cholesky(flambeau.flip(P, (-2, -1)))
    L_inv = flambeau.transpose(flambeau.flip(Lf, (-2, -1)), -2, -1)
    Id = flambeau.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    return flambeau.linalg.solve_triangular(L_inv, Id, upper=False)


def _is_positive_definite(value):
    symmetric = flambeau.isclose(value, value.mT, atol=1e-6).all(-2).all(-1)
    if not bool(symmetric.all()):
        return symmetric
    return flambeau.linalg.cholesky_ex(value).info.eq(0)


def _is_lower_cholesky(value):
    lower = (value.tril() == value).reshape(tuple(value.shape[:-2]) + (-1,)).all(-1)
    positive_diagonal = (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)
    return lower & positive_diagonal


class MultivariateNormal(Distribution):
    """N(loc, Sigma) over vectors of the last dimension of loc."""
    has_rsample = True
    _param_names = ("loc", "covariance_matrix", "precision_matrix", "scale_tril")

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        given = {"scale_tril": scale_tril, "covariance_matrix": covariance_matrix,
                 "precision_matrix": precision_matrix}
        name, matrix = next((k, v) for k, v in given.items() if v is not None)
        if matrix.dim() < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional leading batch dimensions"
                             if name == "scale_tril" else
                             f"{name} must be at least two-dimensional, with optional leading batch dimensions")
        batch_shape = tuple(flambeau.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        self.__dict__[name] = matrix.expand(batch_shape + (-1, -1))
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(batch_shape, tuple(self.loc.shape[-1:]), validate_args)
        if _validating(validate_args):
            self._check("loc", self.loc, (self.loc == self.loc).all(-1), "IndependentConstraint(Real(), 1)")
            if name == "scale_tril":
                self._check(name, self.scale_tril, _is_lower_cholesky(self.scale_tril), "LowerCholesky()")
            else:
                self._check(name, self.__dict__[name], _is_positive_definite(self.__dict__[name]), "PositiveDefinite()")
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = flambeau.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    # scale_tril / covariance_matrix / precision_matrix: the given one is stored in __dict__ at
    # construction; the others are computed on first use and cached there, as PyTorch's lazy_property
    def __getattr__(self, name):
        if name in ("scale_tril", "covariance_matrix", "precision_matrix") and "_unbroadcasted_scale_tril" in self.__dict__:
            L = self._unbroadcasted_scale_tril
            shape = tuple(self._batch_shape) + tuple(self._event_shape) * 2
            if name == "scale_tril":
                value = L.expand(shape)
            elif name == "covariance_matrix":
                value = flambeau.matmul(L, L.mT).expand(shape)
            else:
                value = flambeau.cholesky_inverse(L).expand(shape)
            self.__dict__[name] = value
            return value
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = flambeau.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def log_prob(self, value):
        if self._validate:
            self._validate_sample(value)
        diff = value - self.loc
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - half_log_det

    def entropy(self):
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        if len(self._batch_shape) == 0:
            return H
        return H.expand(tuple(self._batch_shape))

    def _validate_sample(self, value):
        self._validate_sample_shape(value)
        self._check_sample(value, (value == value).all(-1), "IndependentConstraint(Real(), 1)")

    def __repr__(self):
        names = [k for k in self._param_names if k in self.__dict__]
        args = ", ".join(f"{k}: {self.__dict__[k] if self.__dict__[k].numel() == 1 else self.__dict__[k].size()}"
                         for k in names)
        return f"{type(self).__name__}({args})"


def _batch_trace_XXT(bmat):
    n, m = bmat.size(-1), bmat.size(-2)
    return bmat.reshape(-1, m * n).pow(2).sum(-1).reshape(bmat.shape[:-2])


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_multivariatenormal_multivariatenormal(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot be "
                         "computed")
    half_term1 = (q._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
                  - p._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1))
    combined_batch_shape = tuple(flambeau.broadcast_shapes(tuple(q._unbroadcasted_scale_tril.shape[:-2]),
                                                           tuple(p._unbroadcasted_scale_tril.shape[:-2])))
    n = p.event_shape[0]
    q_scale_tril = q._unbroadcasted_scale_tril.expand(combined_batch_shape + (n, n))
    p_scale_tril = p._unbroadcasted_scale_tril.expand(combined_batch_shape + (n, n))
    term2 = _batch_trace_XXT(flambeau.linalg.solve_triangular(q_scale_tril, p_scale_tril, upper=False))
    term3 = _batch_mahalanobis(q._unbroadcasted_scale_tril, (q.loc - p.loc))
    return half_term1 + 0.5 * (term2 + term3 - n)
