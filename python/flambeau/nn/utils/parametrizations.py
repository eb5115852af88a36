"""Parametrization-based weight_norm and spectral_norm (PyTorch's torch.nn.utils.parametrizations),
built on nn.utils.parametrize.

weight_norm(module, name, dim): module.parametrizations.<name>.original0 is the magnitude g and
original1 the direction v; module.<name> = v * (g / norm_except_dim(v, 2, dim)), recomputed on every
access. spectral_norm(module, name, ...): module.parametrizations.<name>.original is the weight and
module.parametrizations.<name>[0] holds the power-iteration vectors `_u`, `_v` (buffers); every
access in training mode runs n_power_iterations steps and returns weight / sigma.

PyTorch's `orthogonal` is not provided: its maps need matrix_exp, linalg.qr / householder_product
or linalg.solve, which flambeau does not have yet."""
import numbers

import flambeau
from flambeau._tensor import Tensor
from .. import functional as F
from ..modules.conv import _ConvTransposeNd
from ..modules.module import Module
from . import parametrize
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["weight_norm", "spectral_norm"]


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
