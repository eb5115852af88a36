"""Weight normalisation (https://arxiv.org/abs/1602.07868), PyTorch's hook-based API.

`weight_norm(module, name, dim)` replaces parameter `name` by `name_g` (the magnitude,
norm_except_dim(weight, 2, dim)) and `name_v` (the direction, the old weight), and a forward pre-hook
recomputes the plain attribute `name = name_v * (name_g / ||name_v||)` before every forward.
`remove_weight_norm` makes the current value a plain parameter again. The parametrization-based
version is nn.utils.parametrizations.weight_norm."""
import warnings

from .. import parameter as _parameter
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


def _wrap_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim + n if dim < 0 else dim


def norm_except_dim(v, pow=2, dim=0):  # noqa: A002  (PyTorch's argument name)
    """The `pow`-norm of v over every dimension except `dim`, keeping v's rank (size 1 on the
    reduced dimensions); dim=-1 gives the norm of the whole tensor (a scalar), as torch.norm_except_dim."""
    if dim == -1:
        return v.norm(pow)
    d = _wrap_dim(dim, v.dim())
    others = tuple(i for i in range(v.dim()) if i != d)
    if not others:
        return v.abs()
    return v.norm(pow, dim=others, keepdim=True)


def _is_uninitialized(t):
    cls = getattr(_parameter, "UninitializedParameter", None)  # lazy modules' placeholder
    return cls is not None and isinstance(t, cls)


def _weight_norm(v, g, dim=0):
    """v * (g / norm_except_dim(v, 2, dim)), as torch._weight_norm."""
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes `name` from `name_g` and `name_v`."""

    name: str
    dim: int

    def __init__(self, name, dim):
        if dim is None:
            dim = -1
        self.name = name
        self.dim = dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        if not isinstance(module, Module):
            raise TypeError(f"weight_norm: expected an nn.Module, got {type(module).__name__}")
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        if name not in module._parameters or module._parameters[name] is None:
            raise AttributeError(f"'{type(module).__name__}' object has no parameter '{name}'")
        weight = getattr(module, name)
        if _is_uninitialized(weight):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying weight normalization")
        if weight.dim() == 0:
            raise ValueError(f"weight_norm: parameter '{name}' must have at least one dimension")
        g = norm_except_dim(weight, 2, dim)  # checks dim before the module is changed
        del module._parameters[name]
        # express w as g / ||v|| * v with g and v new parameters
        module.register_parameter(name + "_g", Parameter(g.data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Apply weight normalisation to parameter `name` of `module` (norm over every dimension except
    `dim`; dim=None: over the whole tensor). Returns the module."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Remove the weight normalisation reparametrisation of `name` from `module`."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
