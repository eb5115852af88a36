"""functional_call: run a module with some of its parameters and buffers replaced by given tensors
(PyTorch's torch.nn.utils.stateless / torch.func.functional_call). The module's own tensors are
put back afterwards, even if the call raises; gradients flow to the tensors that were passed."""
import contextlib
import warnings

from flambeau._tensor import Tensor
from ..modules.module import Module

__all__ = ["functional_call"]

_MISSING = object()


def _swap_tensor(module, name, tensor):
    """Put `tensor` (or remove the attribute, for _MISSING) as module.<name>; return what was there."""
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of torch.Tensor")
    if "." in name:
        raise KeyError('tensor name can\'t contain "."')
    if name == "":
        raise KeyError('tensor name can\'t be empty string ""')
    if name in module._parameters:
        orig = module._parameters[name]
        if tensor is not _MISSING:
            module._parameters[name] = tensor  # any tensor, not only a Parameter: kept in the graph
        else:
            del module._parameters[name]
    elif name in module._buffers:
        orig = module._buffers[name]
        if tensor is not _MISSING:
            module._buffers[name] = tensor
        else:
            del module._buffers[name]
    else:
        # a plain attribute, or a parametrized tensor (a property: its setter runs right_inverse)
        orig = getattr(module, name) if hasattr(module, name) else _MISSING
        if orig is not _MISSING and orig is not None and not isinstance(orig, Tensor):
            raise TypeError(f"attribute `{name}`: {orig} is not an instance of torch.Tensor")
        if tensor is not _MISSING:
            setattr(module, name, tensor)
        elif hasattr(module, name):
            delattr(module, name)
    return orig


class _Accessor:
    def __init__(self, module):
        self.module = module
        self.memo = {}

    def get_submodule(self, name):
        if not name:
            return self.module
        if name in self.memo:
            return self.memo[name]
        prefix, dot, attr = name.rpartition(".")
        module = self.get_submodule(prefix) if dot else self.module
        try:
            submodule = getattr(module, attr)
        except AttributeError as ex:
            raise AttributeError(f"{module._get_name()} has no attribute `{attr}`") from ex
        if not isinstance(submodule, Module):
            raise TypeError(f"submodule `{name}`: {submodule} is not an instance of torch.nn.Module")
        self.memo[name] = submodule
        return submodule

    def swap_tensor(self, name, value):
        prefix, _, attr = name.rpartition(".")
        return _swap_tensor(self.get_submodule(prefix), attr, value)

    def swap_tensors_dict(self, named_tensors):
        orig_named_tensors = {}
        try:
            for name, tensor in named_tensors.items():
                orig_named_tensors[name] = self.swap_tensor(name, tensor)
        except Exception:
            for name, orig_tensor in orig_named_tensors.items():
                self.swap_tensor(name, orig_tensor)
            raise
        return orig_named_tensors

    def check_keys(self, keys):
        keys = set(keys)
        valid_keys = {name for name, _ in self.module.named_parameters(remove_duplicate=False)}
        valid_keys |= {name for name, _ in self.module.named_buffers(remove_duplicate=False)}
        return sorted(valid_keys - keys), sorted(keys - valid_keys)


def _untie_named_tensors_map(module, parameters_and_buffers):
    """parameters_and_buffers, with the value given for one name of a tied (shared) tensor also
    given for its other names."""
    all_named_tensors = {}
    all_named_tensors.update(module.named_parameters(remove_duplicate=False))
    all_named_tensors.update(module.named_buffers(remove_duplicate=False))

    tied = {}  # id(tensor) -> names
    for name, tensor in all_named_tensors.items():
        tied.setdefault(id(tensor), set()).add(name)
    tied_names_map = {}
    for names in tied.values():
        if len(names) > 1:
            for name in names:
                tied_names_map[name] = names

    given_names = set(parameters_and_buffers.keys())
    given_names_for_tied_tensors = {name for name in given_names if name in tied_names_map}
    for given_name in given_names_for_tied_tensors:
        tied_names = tied_names_map[given_name]
        given_tied = tied_names & given_names_for_tied_tensors
        if len(given_tied) > 1 and len({id(parameters_and_buffers[n]) for n in given_tied}) != 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied_names)}, "
                             "which are tied. Consider using tie_weights=False")

    untied = dict(parameters_and_buffers)
    for given_name in given_names_for_tied_tensors:
        for tied_name in tied_names_map[given_name]:
            untied[tied_name] = parameters_and_buffers[given_name]
    return untied


@contextlib.contextmanager
def _reparametrize_module(module, parameters_and_buffers, tie_weights=False, strict=False):
    if tie_weights:
        untied = _untie_named_tensors_map(module, parameters_and_buffers)
    else:
        untied = parameters_and_buffers
    accessor = _Accessor(module)
    if strict:
        missing_keys, unexpected_keys = accessor.check_keys(untied)
        error_msgs = []
        if unexpected_keys:
            error_msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected_keys))}.")
        if missing_keys:
            error_msgs.append(f"Missing key(s): {', '.join(map(repr, missing_keys))}.")
        if error_msgs:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(
                module._get_name(), "\n\t".join(error_msgs)))

    orig = {}
    try:
        orig = accessor.swap_tensors_dict(untied)
        yield
    finally:
        new = accessor.swap_tensors_dict(orig)
        # an in-place replacement done by the module during the call (e.g. a buffer reassigned)
        # is reported back to the caller's dict, as PyTorch does
        parameters_and_buffers.update({k: new[k] for k in parameters_and_buffers if k in new})


def _check_module(module):
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected an nn.Module, got {type(module).__name__}")


def _functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True,
                     strict=False):
    _check_module(module)
    if not isinstance(parameters_and_buffers, dict):
        raise TypeError("functional_call: parameters_and_buffers must be a dict of name -> Tensor, got "
                        f"{type(parameters_and_buffers).__name__}")
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **kwargs)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """module(*args, **kwargs) with the parameters and buffers named in `parameters_and_buffers`
    (keys as in named_parameters()/named_buffers()) replaced by the given tensors for the call.
    tie_weights: a value given for one name of a shared tensor is used for all its names.
    strict: every parameter and buffer must be given, and nothing else.
    Deprecated in PyTorch in favour of torch.func.functional_call (the same function)."""
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will "
                  "be removed in a future version of PyTorch. Please use `torch.func.functional_call` "
                  "instead which is a drop-in replacement.", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights,
                            strict=strict)
