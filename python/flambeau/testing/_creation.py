"""make_tensor: PyTorch's torch.testing.make_tensor (torch/testing/_creation.py), for flambeau's dtypes."""
import collections.abc
import functools
import math
import warnings

import flambeau

__all__ = ["make_tensor"]


def _names(*names):
    return [getattr(flambeau, n) for n in names if getattr(flambeau, n, None) is not None]


def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A tensor of `shape`, `dtype` and `device` with values drawn uniformly from [low, high).

    Defaults (PyTorch's): bool [0, 2), signed integers [-9, 10), unsigned [0, 10), floating [-9, 9).
    low/high outside the dtype's finite range are clamped to it; low >= high or NaN raises ValueError.
    noncontiguous=True returns a non-contiguous view (every other element of a tensor twice as wide
    in the last dimension; ignored below two elements). exclude_zero replaces zeros by 1 (bool,
    integers) or the dtype's smallest normal number (floating). requires_grad is for floating dtypes
    only, as in PyTorch.
    """
    integral = _names("uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64")
    unsigned = _names("uint8", "uint16", "uint32", "uint64")
    floating = _names("float16", "bfloat16", "float32", "float64")
    bool_or_integral = [flambeau.bool, *integral]

    def modify_low_high(low, high, *, lowest_inclusive, highest_exclusive, default_low, default_high):
        def clamp(a, lo, hi):
            return min(max(a, lo), hi)

        low = low if low is not None else default_low
        high = high if high is not None else default_high
        if any(isinstance(value, float) and math.isnan(value) for value in [low, high]):
            raise ValueError(f"`low` and `high` cannot be NaN, but got {low=} and {high=}")
        elif low == high and dtype in floating:
            warnings.warn("Passing `low==high` to `flambeau.testing.make_tensor` for floating types is deprecated "
                          "since 2.1 and will be removed in 2.3. Use `flambeau.full(...)` instead.",
                          FutureWarning, stacklevel=3)
        elif low >= high:
            raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
        elif high < lowest_inclusive or low >= highest_exclusive:
            raise ValueError(f"The value interval specified by `low` and `high` is [{low}, {high}), "
                             f"but {dtype} only supports [{lowest_inclusive}, {highest_exclusive})")
        low = clamp(low, lowest_inclusive, highest_exclusive)
        high = clamp(high, lowest_inclusive, highest_exclusive)
        if dtype in bool_or_integral:
            return math.ceil(low), math.ceil(high)
        return low, high

    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = shape[0]
    shape = tuple(shape)
    if noncontiguous and memory_format is not None:
        raise ValueError("The parameters `noncontiguous` and `memory_format` are mutually exclusive, "
                         f"but got {noncontiguous=} and {memory_format=}")
    if requires_grad and dtype in bool_or_integral:
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got {dtype=}")
    noncontiguous = noncontiguous and functools.reduce(lambda x, y: x * y, shape, 1) > 1
    if noncontiguous:
        shape = (*shape[:-1], 2 * shape[-1])

    if dtype is flambeau.bool:
        low, high = modify_low_high(low, high, lowest_inclusive=0, highest_exclusive=2, default_low=0,
                                    default_high=2)
        result = flambeau.randint(low, high, shape, device=device, dtype=dtype)
    elif dtype in integral:
        info = flambeau.iinfo(dtype)
        low, high = modify_low_high(low, high, lowest_inclusive=info.min,
                                    highest_exclusive=info.max + (1 if dtype is not flambeau.int64 else 0),
                                    default_low=0 if dtype in unsigned else -9, default_high=10)
        result = flambeau.randint(low, high, shape, device=device, dtype=dtype)
    elif dtype in floating:
        info = flambeau.finfo(dtype)
        low, high = modify_low_high(low, high, lowest_inclusive=info.min, highest_exclusive=info.max,
                                    default_low=-9, default_high=9)
        result = flambeau.empty(shape, device=device, dtype=dtype)
        if high - low >= info.max:
            result.uniform_(low / 2, high / 2).mul_(2)
        else:
            result.uniform_(low, high)
    else:
        raise TypeError(f"The requested dtype '{dtype}' is not supported by flambeau.testing.make_tensor().")

    if noncontiguous:
        result = result[..., 1::2]
    elif memory_format is not None:
        result = result.clone(memory_format=memory_format)
    if exclude_zero:
        result[result == 0] = 1 if dtype in bool_or_integral else flambeau.finfo(dtype).tiny
    if dtype in floating:
        result.requires_grad = requires_grad
    return result
