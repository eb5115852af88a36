"""parameters_to_vector and vector_to_parameters."""
from flambeau._tensor import Tensor

import flambeau

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(param, old_param_device):
    if old_param_device is None:
        return param.device
    if param.device != old_param_device:
        raise TypeError("Found two parameters on different devices, this is currently not "
                        "supported.")
    return old_param_device


def parameters_to_vector(parameters):
    """One 1-D tensor holding all parameters, flattened and concatenated (differentiable)."""
    param_device = None
    vec = []
    for param in parameters:
        param_device = _check_same_device(param, param_device)
        vec.append(param.reshape(-1))
    return flambeau.cat(vec)


def vector_to_parameters(vec, parameters):
    """Copy slices of the 1-D tensor `vec` into the parameters (each parameter's .data becomes a
    view of `vec`, as in PyTorch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    param_device = None
    pointer = 0
    for param in parameters:
        param_device = _check_same_device(param, param_device)
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
