"""Spectral normalisation (https://arxiv.org/abs/1802.05957), PyTorch's hook-based API.

`spectral_norm(module, name)` replaces parameter `name` by `name_orig` and the buffers `name_u`,
`name_v` (the power-iteration vectors); a forward pre-hook sets the plain attribute
`name = name_orig / sigma` before every forward, where sigma = u . (W v) with W the weight reshaped
to a matrix (dimension `dim` first). In training mode each forward first runs `n_power_iterations`
steps of power iteration, updating u and v in place; in eval mode u and v are left alone.
state_dict keys (name_orig, name_u, name_v) and the 'spectral_norm' metadata version are
PyTorch's. The parametrization-based version is nn.utils.parametrizations.spectral_norm."""
import numbers

import numpy as np

import flambeau
from .. import functional as F
from ..modules.conv import _ConvTransposeNd
from ..modules.module import Module
from ..parameter import Parameter
from .weight_norm import _is_uninitialized

__all__ = ["SpectralNorm", "SpectralNormLoadStateDictPreHook", "SpectralNormStateDictHook",
           "spectral_norm", "remove_spectral_norm"]


def _check_power_iterations(n_power_iterations):
    if not isinstance(n_power_iterations, numbers.Integral) or isinstance(n_power_iterations, bool):
        raise TypeError(f"n_power_iterations must be an int, got {type(n_power_iterations).__name__}")
    if n_power_iterations <= 0:
        raise ValueError("Expected n_power_iterations to be positive, but got "
                         f"n_power_iterations={n_power_iterations}")


class SpectralNorm:
    """The forward pre-hook that recomputes `name` = name_orig / sigma."""

    _version = 1  # version 1: `name` is no longer saved in state_dict, name_v is

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        self.name = name
        self.dim = dim
        _check_power_iterations(n_power_iterations)
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight):
        weight_mat = weight
        if self.dim != 0:
            weight_mat = weight_mat.permute(self.dim, *[d for d in range(weight_mat.dim()) if d != self.dim])
        height = weight_mat.size(0)
        return weight_mat.reshape(height, -1)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with flambeau.no_grad():
                for _ in range(self.n_power_iterations):
                    # u and v are updated in place (they are the module's buffers)
                    v = F.normalize(flambeau.mv(weight_mat.t(), u), dim=0, eps=self.eps, out=v)
                    u = F.normalize(flambeau.mv(weight_mat, v), dim=0, eps=self.eps, out=u)
                if self.n_power_iterations > 0:
                    # clones, so the next in-place update cannot change what backward uses
                    u = u.clone(memory_format=flambeau.contiguous_format)
                    v = v.clone(memory_format=flambeau.contiguous_format)
        sigma = flambeau.dot(u, flambeau.mv(weight_mat, v))
        return weight / sigma

    def remove(self, module):
        with flambeau.no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    def _solve_v_and_rescale(self, weight_mat, u, target_sigma):
        # v such that u = normalize(W v) (the least-squares solution pinv(W^T W) W^T u), rescaled so
        # that u . (W v) = target_sigma. Only used to load version-0 state_dicts.
        w = weight_mat.detach().cpu().to(flambeau.float64).numpy()
        un = u.detach().cpu().to(flambeau.float64).numpy()
        vn = np.linalg.pinv(w.T @ w) @ w.T @ un
        v = flambeau.from_numpy(np.ascontiguousarray(vn)).to(dtype=weight_mat.dtype,
                                                            device=weight_mat.device)
        return v.mul_(target_sigma / flambeau.dot(u, flambeau.mv(weight_mat, v)))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        if not isinstance(module, Module):
            raise TypeError(f"spectral_norm: expected an nn.Module, got {type(module).__name__}")
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        if name not in module._parameters:
            raise KeyError(name)
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if _is_uninitialized(weight):
            raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying spectral normalization")
        if weight.dim() == 0:
            raise ValueError(f"spectral_norm: parameter `{name}` must have at least one dimension")
        if not -weight.dim() <= dim < weight.dim():
            raise IndexError(f"Dimension out of range (expected to be in range of [{-weight.dim()}, "
                             f"{weight.dim() - 1}], but got {dim})")
        fn.dim = dim % weight.dim()
        with flambeau.no_grad():
            weight_mat = fn.reshape_weight_to_matrix(weight)
            h, w = weight_mat.size()
            # random unit vectors; the power iteration makes them converge
            u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=fn.eps)
            v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=fn.eps)

        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        # `name` is a plain attribute until the first forward sets it (as in PyTorch, which stores
        # weight.data here so that the module is usable for e.g. DataParallel replication)
        setattr(module, fn.name, weight.data)
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)

        module.register_forward_pre_hook(fn)
        module._register_state_dict_hook(SpectralNormStateDictHook(fn))
        module._register_load_state_dict_pre_hook(SpectralNormLoadStateDictPreHook(fn))
        return fn


class SpectralNormLoadStateDictPreHook:
    """Converts a version-0 state_dict (which saved `name` and not `name_v`) when loading."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs):
        fn = self.fn
        version = local_metadata.get("spectral_norm", {}).get(fn.name + ".version", None)
        if version is None or version < 1:
            weight_key = prefix + fn.name
            if (version is None and all(weight_key + s in state_dict for s in ("_orig", "_u", "_v"))
                    and weight_key not in state_dict):
                # a state_dict without metadata that already has every version-1 key
                return
            has_missing_keys = False
            for suffix in ("_orig", "", "_u"):
                key = weight_key + suffix
                if key not in state_dict:
                    has_missing_keys = True
                    if strict:
                        missing_keys.append(key)
            if has_missing_keys:
                return
            with flambeau.no_grad():
                weight_orig = state_dict[weight_key + "_orig"]
                weight = state_dict.pop(weight_key)
                sigma = (weight_orig / weight).mean()
                weight_mat = fn.reshape_weight_to_matrix(weight_orig)
                u = state_dict[weight_key + "_u"]
                v = fn._solve_v_and_rescale(weight_mat, u, sigma)
                state_dict[weight_key + "_v"] = v


class SpectralNormStateDictHook:
    """Records the spectral_norm version in the state_dict's metadata."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, module, state_dict, prefix, local_metadata):
        if "spectral_norm" not in local_metadata:
            local_metadata["spectral_norm"] = {}
        key = self.fn.name + ".version"
        if key in local_metadata["spectral_norm"]:
            raise RuntimeError(f"Unexpected key in metadata['spectral_norm']: {key}")
        local_metadata["spectral_norm"][key] = self.fn._version


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Apply spectral normalisation to parameter `name` of `module`. dim (the output dimension)
    defaults to 1 for ConvTranspose modules and 0 otherwise. Returns the module."""
    if dim is None:
        dim = 1 if isinstance(module, _ConvTransposeNd) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Remove the spectral normalisation reparametrisation of `name` from `module`."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            break
    else:
        raise ValueError(f"spectral_norm of '{name}' not found in {module}")
    for k, hook in module._state_dict_hooks.items():
        if isinstance(hook, SpectralNormStateDictHook) and hook.fn.name == name:
            del module._state_dict_hooks[k]
            break
    for k, hook in module._load_state_dict_pre_hooks.items():
        if isinstance(hook, SpectralNormLoadStateDictPreHook) and hook.fn.name == name:
            del module._load_state_dict_pre_hooks[k]
            break
    return module
