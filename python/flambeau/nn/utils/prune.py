"""Pruning with PyTorch's reparametrisation: pruning parameter `name` of a module replaces it by the
parameter `name + '_orig'` and the buffer `name + '_mask'`, and a forward pre-hook recomputes the
attribute `name = name_orig * name_mask` before every forward. `remove` makes the pruning permanent.

Supported methods: identity, random_unstructured, l1_unstructured, custom_from_mask,
global_unstructured (unstructured only), ln_structured and random_structured (whole channels along a
dim). Pruning the same parameter again prunes among the entries (or, for a structured method, the
channels) that are still unpruned, as PyTorch's PruningContainer does."""
import numbers
from abc import ABC, abstractmethod

import numpy as np

import flambeau

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned"]


def _validate_pruning_amount_init(amount):
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _validate_pruning_amount(amount, tensor_size):
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to "
                         f"prune={tensor_size}")


def _compute_nparams_toprune(amount, tensor_size):
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


def _to_numpy(t):
    return t.detach().cpu().numpy()


def _from_numpy(arr, like):
    return flambeau.from_numpy(np.array(arr, order="C")).to(dtype=like.dtype, device=like.device)


class BasePruningMethod(ABC):
    """A pruning method is also the forward pre-hook that recomputes the pruned tensor."""

    _tensor_name = None
    PRUNING_TYPE = "unstructured"

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """A mask (same shape as t) combining default_mask with this method's pruning of t."""

    def apply_mask(self, module):
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return orig * mask.to(dtype=orig.dtype)

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        def _get_composite_method(cls, module, name, *args, **kwargs):
            old_method = None
            found = 0
            hooks_to_remove = []
            for k, hook in module._forward_pre_hooks.items():
                if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                    old_method = hook
                    hooks_to_remove.append(k)
                    found += 1
            if found > 1:
                raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor "
                                     f"{name} of module {module}. Use a PruningContainer.")
            for k in hooks_to_remove:
                del module._forward_pre_hooks[k]
            method = cls(*args, **kwargs)
            method._tensor_name = name
            if old_method is not None:
                if isinstance(old_method, PruningContainer):
                    old_method.add_pruning_method(method)
                    method = old_method
                else:
                    container = PruningContainer(old_method)
                    container.add_pruning_method(method)
                    method = container
            return method

        method = _get_composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(f"importance_scores should have the same shape as parameter "
                                     f"{name} of {module}")
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            # first pruning of this tensor: reparametrise name -> name_orig * name_mask
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = flambeau.ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception as e:
            if not isinstance(method, PruningContainer):
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise e
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        if importance_scores is not None and tuple(importance_scores.shape) != tuple(t.shape):
            raise AssertionError("importance_scores should have the same shape as tensor t")
        importance_scores = importance_scores if importance_scores is not None else t
        default_mask = default_mask if default_mask is not None else flambeau.ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module):
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods applied iteratively to the same tensor."""

    def __init__(self, *args):
        self._pruning_methods = tuple()
        if len(args) == 1 and not isinstance(args[0], (tuple, list)):
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        elif len(args) == 1:
            for method in args[0]:
                self.add_pruning_method(method)
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError("Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found "
                             f"'{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        if method.PRUNING_TYPE == "global":
            return method.compute_mask(t, default_mask=default_mask)
        if method.PRUNING_TYPE == "structured":
            return self._compute_structured_mask(method, t, default_mask)
        if method.PRUNING_TYPE != "unstructured":
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        old = _to_numpy(default_mask)
        keep = old == 1
        if not keep.any():
            return default_mask
        t_np = _to_numpy(t)
        sub_t = _from_numpy(t_np[keep], t)
        sub_mask = method.compute_mask(sub_t, default_mask=_from_numpy(old[keep], default_mask))
        new = old.copy()
        new[keep] = _to_numpy(sub_mask)
        return _from_numpy(new, default_mask)


    @staticmethod
    def _compute_structured_mask(method, t, default_mask):
        """The new method prunes among the channels along method.dim not already entirely pruned."""
        if not hasattr(method, "dim"):
            raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute '
                                 "`dim` defined.")
        n_dims = t.dim()
        dim = method.dim + n_dims if method.dim < 0 else method.dim
        if dim < 0:
            raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
        old = _to_numpy(default_mask)
        keep_channel = old.sum(axis=tuple(d for d in range(n_dims) if d != dim)) != 0
        slc = tuple(keep_channel if d == dim else slice(None) for d in range(n_dims))
        t_np = _to_numpy(t)
        sub_mask = method.compute_mask(_from_numpy(t_np[slc], t), default_mask=_from_numpy(old[slc], default_mask))
        new = old.astype(t_np.dtype)
        new[slc] = _to_numpy(sub_mask)
        return _from_numpy(new, t)


class Identity(BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prune `amount` entries chosen uniformly at random."""
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        tensor_size = t.numel()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        mask = _to_numpy(default_mask).copy()
        if nparams_toprune != 0:
            prob = _to_numpy(flambeau.rand(tuple(t.shape))).reshape(-1)
            idx = np.argsort(-prob, kind="stable")[:nparams_toprune]
            flat = mask.reshape(-1)
            flat[idx] = 0
            mask = flat.reshape(mask.shape)
        return _from_numpy(mask, default_mask)

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prune the `amount` entries of smallest absolute value."""
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        tensor_size = t.numel()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        mask = _to_numpy(default_mask).copy()
        if nparams_toprune != 0:
            scores = np.abs(_to_numpy(t)).reshape(-1)
            idx = np.argsort(scores, kind="stable")[:nparams_toprune]
            flat = mask.reshape(-1)
            flat[idx] = 0
            mask = flat.reshape(mask.shape)
        return _from_numpy(mask, default_mask)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _validate_structured_pruning(t):
    if t.dim() <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor of "
                         f"shape {tuple(t.shape)} with {t.dim()} dims")


def _validate_pruning_dim(t, dim):
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _channel_mask(t, dim, channels, default_mask):
    """Ones on the given channels along dim (indices or a boolean vector), zeros elsewhere, times default_mask."""
    mask = np.zeros(tuple(t.shape), dtype=_to_numpy(t).dtype)
    slc = [slice(None)] * t.dim()
    slc[dim] = channels
    mask[tuple(slc)] = 1
    return _from_numpy(mask * _to_numpy(default_mask).astype(mask.dtype), t)


class RandomStructured(BasePruningMethod):
    """Prune `amount` whole channels along `dim`, chosen at random."""
    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        nchannels = t.shape[self.dim]
        nparams_toprune = _compute_nparams_toprune(self.amount, nchannels)
        _validate_pruning_amount(nparams_toprune, nchannels)
        if nparams_toprune == 0:
            return default_mask
        # as PyTorch: one uniform number per channel, the nparams_toprune lowest are pruned
        prob = flambeau.rand(nchannels)
        threshold = flambeau.kthvalue(prob, k=nparams_toprune).values
        return _channel_mask(t, self.dim, _to_numpy(prob > threshold), default_mask)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prune the `amount` whole channels along `dim` of smallest L`n`-norm."""
    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        nchannels = t.shape[self.dim]
        nparams_toprune = _compute_nparams_toprune(self.amount, nchannels)
        _validate_pruning_amount(nparams_toprune, nchannels)
        if nparams_toprune == 0:
            return default_mask
        dims = list(range(t.dim()))
        dims.remove(dims[self.dim])
        norm = flambeau.norm(t.detach(), p=self.n, dim=dims)
        keep = flambeau.topk(norm, k=nchannels - nparams_toprune, largest=True).indices
        return _channel_mask(t, self.dim, _to_numpy(keep), default_mask)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError("mask and default_mask must have the same shape")
        return default_mask * self.mask.to(dtype=default_mask.dtype, device=default_mask.device)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name):
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune `amount` (int: count, float: fraction) random entries of module.<name>."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the `amount` (int: count, float: fraction) entries of module.<name> with the
    smallest absolute value (or smallest |importance_scores|)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune `amount` (int: count, float: fraction) random whole channels of module.<name> along dim."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune the `amount` (int: count, float: fraction) whole channels of module.<name> along dim with the
    smallest L`n`-norm (of importance_scores, if given)."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name, mask):
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune the union of (module, name) tensors at once with an unstructured method, so that the
    entries pruned are chosen across all of them (e.g. the globally smallest by L1 norm)."""
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    scores = []
    masks = []
    for module, name in parameters:
        s = importance_scores.get((module, name), getattr(module, name))
        scores.append(_to_numpy(s).reshape(-1))
        m = getattr(module, name + "_mask", None)
        masks.append(_to_numpy(m).reshape(-1) if m is not None else np.ones(scores[-1].size))
    relevant = flambeau.from_numpy(np.concatenate(scores).astype(np.float64))
    default_mask = flambeau.from_numpy(np.concatenate(masks).astype(np.float64))
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final_mask = _to_numpy(container.compute_mask(relevant, default_mask))
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        n = param.numel()
        param_mask = _from_numpy(final_mask[pointer:pointer + n].reshape(tuple(param.shape)), param)
        custom_from_mask(module, name, mask=param_mask)
        pointer += n


def remove(module, name):
    """Make the pruning of module.<name> permanent: <name> becomes a Parameter holding
    <name>_orig * <name>_mask, and <name>_orig, <name>_mask and the hook are removed."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can "
                     "be removed")


def is_pruned(module):
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False
