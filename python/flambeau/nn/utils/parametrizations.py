"""Parametrization-based weight_norm and spectral_norm (PyTorch's torch.nn.utils.parametrizations),
built on nn.utils.parametrize.

weight_norm(module, name, dim): module.parametrizations.<name>.original0 is the magnitude g and
original1 the direction v; module.<name> = v * (g / norm_except_dim(v, 2, dim)), recomputed on every
access. spectral_norm(module, name, ...): module.parametrizations.<name>.original is the weight and
module.parametrizations.<name>[0] holds the power-iteration vectors `_u`, `_v` (buffers); every
access in training mode runs n_power_iterations steps and returns weight / sigma.

orthogonal(module, name, orthogonal_map, use_trivialization): module.<name> is an orthogonal matrix
(or batch of them; orthonormal columns if tall, rows if wide) computed from
module.parametrizations.<name>.original by matrix_exp / the Cayley map of a skew-symmetric matrix,
or by a product of Householder reflectors; with use_trivialization the result is multiplied by the
buffer parametrizations.<name>[0].base (the "dynamic trivialization")."""
import numbers
from enum import Enum, auto

import flambeau
from flambeau._tensor import Tensor
from .. import functional as F
from ..modules.conv import _ConvTransposeNd
from ..modules.module import Module
from . import parametrize
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["orthogonal", "weight_norm", "spectral_norm"]


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


def _is_orthogonal(Q, eps=None):
    n, k = Q.size(-2), Q.size(-1)
    Id = flambeau.eye(k, dtype=Q.dtype, device=Q.device)
    # a reasonable eps, but not too large
    eps = 10.0 * n * flambeau.finfo(Q.dtype).eps
    return flambeau.allclose(Q.mH @ Q, Id, atol=eps)


def _make_orthogonal(A):
    """For a tall A: the Q of A = QR with diag(R) >= 0 (torch computes geqrf + householder_product;
    linalg.qr's Q is that same product of the same reflectors)."""
    Q, R = flambeau.linalg.qr(A)
    return Q * R.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


class _Orthogonal(Module):
    """torch's _Orthogonal: forward maps the unconstrained X to an orthogonal matrix of X's shape,
    right_inverse maps an orthogonal matrix back (with use_trivialization it stores it in `base`
    and returns the X whose image is the identity)."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        if weight.is_complex() and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.size(-2), X.size(-1)
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        # X is tall here: n >= k
        if self.orthogonal_map == _OrthMaps.matrix_exp or self.orthogonal_map == _OrthMaps.cayley:
            # n k - k (k - 1) / 2 parameters: the lower triangle, embedded in a square matrix
            X = X.tril()
            if n != k:
                X = flambeau.cat([X, X.new_zeros(n, n - k).expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mH  # skew-symmetric
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = flambeau.linalg.matrix_exp(A)
            else:
                # the Cayley retraction (I + A/2)(I - A/2)^{-1}
                Id = flambeau.eye(n, dtype=A.dtype, device=A.device)
                Q = flambeau.linalg.solve(flambeau.add(Id, A, alpha=-0.5), flambeau.add(Id, A, alpha=0.5))
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = flambeau.linalg.householder_product(A, tau)
            # the diagonal of X holds the signs (1 or -1); not differentiated through, hence the cast
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        with flambeau.no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):
        if Q.shape != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {Q.shape}.")
        Q_init = Q
        n, k = Q.size(-2), Q.size(-1)
        transpose = n < k
        if transpose:
            Q = Q.mT
            n, k = k, n
        # Q is copied on every path
        if not hasattr(self, "base"):
            if self.orthogonal_map == _OrthMaps.cayley or self.orthogonal_map == _OrthMaps.matrix_exp:
                raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                          "or the Cayley parametrizations when use_trivialization=False.")
            # householder: the reflectors of Q's QR, with the signs of diag(R) on the diagonal (a
            # reflector LAPACK skipped, tau == 0, flips the sign)
            A, tau = flambeau.geqrf(Q)
            A.diagonal(dim1=-2, dim2=-1).sign_()
            A.diagonal(dim1=-2, dim2=-1)[tau == 0.0] *= -1
            return A.mT if transpose else A
        if n == k:
            if not _is_orthogonal(Q):
                Q = _make_orthogonal(Q)
            else:
                Q = Q.clone()
        else:
            # complete Q into a full n x n orthogonal matrix
            N = flambeau.randn(*(Q.size()[:-2] + (n, n - k)), dtype=Q.dtype, device=Q.device)
            Q = flambeau.cat([Q, N], dim=-1)
            Q = _make_orthogonal(Q)
        self.base = Q
        # -Id, as the Householder map reads the signs from the diagonal: householder(-Id) == Id
        neg_Id = flambeau.zeros_like(Q_init)
        neg_Id.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_Id


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Apply an orthogonal parametrization to the matrix (or batch of matrices) `name` of `module`
    (torch.nn.utils.parametrizations.orthogonal). orthogonal_map: "matrix_exp", "cayley" or
    "householder"; default "matrix_exp" for square matrices, "householder" otherwise. With
    use_trivialization=True (default) the buffer parametrizations.<name>[0].base holds an orthogonal
    n x n matrix that multiplies the map's output. The initial value is the tensor itself if it is
    orthogonal, else the Q of its QR decomposition (with use_trivialization or householder)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = ("matrix_exp" if weight.size(-2) == weight.size(-1) or weight.is_complex()
                          else "householder")
    orth_enum = getattr(_OrthMaps, orthogonal_map, None) if isinstance(orthogonal_map, str) else None
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        weight_g = norm_except_dim(weight, 2, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module, name="weight", dim=0):
    """Apply weight normalisation to `name` of `module` through register_parametrization. The
    magnitude is parametrizations.<name>.original0, the direction original1. dim=None: the norm of
    the whole tensor. A state_dict of the hook-based weight_norm (name_g, name_v) loads into it."""
    if not isinstance(module, Module):
        raise TypeError(f"weight_norm: expected an nn.Module, got {type(module).__name__}")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is not None and dim != -1:
        n = max(weight.dim(), 1)
        if not -n <= dim < n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                             f"but got {dim})")
    _weight_norm_module = _WeightNorm(dim)
    parametrize.register_parametrization(module, name, _weight_norm_module, unsafe=True)

    def _weight_norm_compat_hook(state_dict, prefix, local_metadata, strict, missing_keys,
                                 unexpected_keys, error_msgs):
        g_key = f"{prefix}{name}_g"
        v_key = f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            original0 = state_dict.pop(g_key)
            original1 = state_dict.pop(v_key)
            state_dict[f"{prefix}parametrizations.{name}.original0"] = original0
            state_dict[f"{prefix}parametrizations.{name}.original1"] = original1

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] "
                             f"but got {dim})")
        if not isinstance(n_power_iterations, numbers.Integral) or isinstance(n_power_iterations, bool):
            raise TypeError(f"n_power_iterations must be an int, got {type(n_power_iterations).__name__}")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            # u and v are random unit vectors, brought close to the singular vectors by 15 steps
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.size()
            u = weight_mat.new_empty(h).normal_(0, 1)
            v = weight_mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if weight.ndim <= 1:
            raise AssertionError(f"Expected weight to have more than 1 dimension, got {weight.ndim}")
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        # u and v are updated in place: they are buffers, and in-place keeps them shared
        with flambeau.no_grad():
            for _ in range(n_power_iterations):
                self._u = F.normalize(flambeau.mv(weight_mat, self._v), dim=0, eps=self.eps, out=self._u)
                self._v = F.normalize(flambeau.mv(weight_mat.t(), self._u), dim=0, eps=self.eps,
                                      out=self._v)

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # clones, so that later in-place updates of u and v cannot change what backward uses
        u = self._u.clone(memory_format=flambeau.contiguous_format)
        v = self._v.clone(memory_format=flambeau.contiguous_format)
        sigma = flambeau.vdot(u, flambeau.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        # any weight is its own preimage (weight / sigma(weight) is scale invariant)
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Apply spectral normalisation to `name` of `module` through register_parametrization. dim
    defaults to 1 for ConvTranspose modules and 0 otherwise. Returns the module."""
    if not isinstance(module, Module):
        raise TypeError(f"spectral_norm: expected an nn.Module, got {type(module).__name__}")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _ConvTransposeNd) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
