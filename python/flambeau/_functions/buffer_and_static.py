"""torch.frombuffer (a tensor over a Python buffer's memory), torch.empty_permuted (an empty tensor whose
memory is laid out in a given dim order) and torch.nonzero_static (nonzero with a fixed number of rows)."""
import numbers
import warnings

import numpy as np

from .. import _creation
from .._dtype import _to_dtype
from .._tensor import Tensor


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor sharing memory with `buffer` (anything with the buffer protocol): `count` elements of
    `dtype` from byte `offset` (count -1: to the end). Writes through the tensor change the buffer."""
    dt = _to_dtype(dtype)
    mv = memoryview(buffer)
    length = mv.nbytes
    size = dt.itemsize
    if length == 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if offset < 0 or offset >= length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than buffer length ({length} "
                         f"bytes) minus 1")
    if count < 0:
        if (length - offset) % size != 0:
            raise ValueError(f"buffer length ({length - offset} bytes) after offset ({offset} bytes) must be a "
                             f"multiple of element size ({size})")
        count = (length - offset) // size
    elif offset + count * size > length:
        raise ValueError(f"requested buffer length ({count} * {size} bytes) after offset ({offset} bytes) must not be "
                         f"greater than actual buffer length ({length} bytes)")
    if mv.readonly:
        warnings.warn("The given buffer is not writable, and PyTorch does not support non-writable tensors. This "
                      "means you can write to the underlying (supposedly non-writable) buffer using the tensor. You "
                      "may want to copy the buffer to protect its data or make it writable before converting it to a "
                      "tensor. This type of warning will be suppressed for the rest of this program.")
    from ..serialization import _NUMPY_DTYPES
    name = str(dt).rsplit(".", 1)[-1]
    # numpy has no bfloat16: its bits are read as int16 and the tensor reinterpreted (a view, so the
    # memory is still the buffer's).
    np_dtype = np.dtype("<i2") if name == "bfloat16" else _NUMPY_DTYPES[name]
    arr = np.frombuffer(buffer, dtype=np_dtype, count=count, offset=offset)
    t = _creation.from_numpy(arr)
    if name == "bfloat16":
        t = t.view(dt)
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad=False,
                   pin_memory=False):
    """An uninitialised tensor of shape `size` whose dims are laid out in memory in the order
    physical_layout (outermost first): empty_permuted((N, C, H, W), (0, 2, 3, 1)) is channels_last."""
    size = tuple(int(s) for s in size)
    perm = tuple(int(p) for p in physical_layout)
    if len(perm) != len(size):
        raise RuntimeError(f"Number of dimensions in size does not match the length of the physical_layout; i.e. "
                           f"len(size) = {len(size)} is not equal to len(physical_layout) = {len(perm)}")
    if sorted(perm) != list(range(len(size))):
        raise RuntimeError("Duplicate dim not allowed" if len(set(perm)) != len(perm)
                           else f"physical_layout {list(perm)} is not a permutation of the dims")
    phys = _creation.empty(tuple(size[p] for p in perm), dtype=dtype, device=device)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    out = phys.permute(*inverse) if perm else phys
    if requires_grad:
        out.requires_grad_(True)
    return out


def nonzero_static(input, *, size, fill_value=-1):
    """nonzero(input) with exactly `size` rows: truncated, or padded with fill_value."""
    if not isinstance(input, Tensor):
        raise TypeError(f"nonzero_static(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not isinstance(size, numbers.Integral) or size < 0:
        raise RuntimeError("nonzero_static: 'size' must be an non-negative integer")
    idx = input.nonzero()
    n = idx.shape[0]
    if n >= size:
        return idx[:size].clone()
    pad = _creation.full((size - n, input.dim()), fill_value, dtype=idx.dtype, device=idx.device)
    from .join import cat
    return cat([idx, pad], 0)


TOP_LEVEL = ["frombuffer", "empty_permuted", "nonzero_static"]


def attach_methods():
    Tensor.nonzero_static = nonzero_static
