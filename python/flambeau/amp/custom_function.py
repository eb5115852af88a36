"""torch.amp.custom_fwd / custom_bwd: decorators for the forward and backward of a custom autograd.Function,
so that backward runs under the autocast state forward saw and, with cast_inputs, forward runs with autocast
off on inputs cast to one dtype.

flambeau's autocast regions compute in float32 (see amp/__init__.py), so a cast to float16/bfloat16 has
nothing to lower to: those inputs stay float32, as everything in the region does. A cast to a dtype flambeau
computes in (float32) happens as in PyTorch. float64 tensors are never cast, as in PyTorch."""
import collections.abc
import functools

import numpy as np

from .. import _dtype

__all__ = ["custom_fwd", "custom_bwd"]

_COMPUTE_DTYPES = (_dtype.float32, _dtype.float64)


def _cast(value, device_type, dtype):
    from .._tensor import Tensor
    if isinstance(value, Tensor):
        eligible = (value.is_floating_point() and value.device.type == device_type and value.dtype != _dtype.float64
                    and dtype in _COMPUTE_DTYPES)
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes, np.ndarray)):
        return value
    if isinstance(value, collections.abc.Mapping):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, collections.abc.Iterable):
        iterable = (_cast(v, device_type, dtype) for v in value)
        return type(value)(iterable) if isinstance(value, (list, tuple)) else iterable
    return value


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorate a custom Function's forward: records the autocast state for custom_bwd; with cast_inputs,
    inside an enabled autocast region, runs forward with autocast off on inputs cast to cast_inputs."""
    from . import autocast, get_autocast_dtype, is_autocast_enabled
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        args[0]._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        args[0]._fwd_used_autocast = False
        if is_autocast_enabled(device_type):
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))
        return fwd(*args, **kwargs)
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorate a custom Function's backward: it runs under the autocast state its forward ran in."""
    from . import autocast
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        with autocast(device_type=device_type, enabled=args[0]._fwd_used_autocast, dtype=args[0]._dtype):
            return bwd(*args, **kwargs)
    return decorate_bwd
