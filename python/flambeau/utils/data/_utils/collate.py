"""Batch collation, as torch.utils.data._utils.collate: `collate(batch, collate_fn_map=...)` dispatches on the
type of the batch's first element through a {type: fn} map before recursing into mappings, namedtuples and
sequences, so a script can extend default collation for its own types:

    def collate_boxes(batch, *, collate_fn_map=None):
        return list(batch)
    my_collate = functools.partial(collate, collate_fn_map={Boxes: collate_boxes, **default_collate_fn_map})

default_collate is collate with default_collate_fn_map: tensors and numpy arrays are stacked along a new
first dim, numbers become 1-D tensors (float64 for floats, int64 for ints, bool for bools), strings stay a
list. default_convert turns numpy arrays (and numpy scalars) into tensors without batching."""
import collections.abc
import copy
import re

import numpy as np

import flambeau
from flambeau._tensor import Tensor

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map", "collate_tensor_fn",
           "collate_numpy_array_fn", "collate_numpy_scalar_fn", "collate_float_fn", "collate_int_fn",
           "collate_str_fn"]

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def _from_numpy(arr):
    """A flambeau tensor from a numpy array (copy), of the array's dtype (uint8 images stay uint8);
    integer arrays the core lacks (uint16/32/64) become int64 (float16 stays float16, as in PyTorch)."""
    arr = np.array(arr, order="C")
    try:
        return flambeau.from_numpy(arr)
    except (TypeError, ValueError, RuntimeError):
        if arr.dtype.kind in "iu":
            return flambeau.from_numpy(arr.astype(np.int64))
        if arr.dtype.kind == "f":
            return flambeau.from_numpy(arr.astype(np.float32))
        raise


def default_convert(data):
    """Convert numpy arrays (and numpy scalars) to tensors, recursing into containers."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "SaUO":
        return _from_numpy(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return type(data)({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate(batch, *, collate_fn_map=None):
    """Collate a list of samples, dispatching on the first sample's type through collate_fn_map."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                # a copy keeps the mapping's type and any extra attributes (e.g. a BatchEncoding-like dict)
                clone = copy.copy(elem)
                clone.update({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
                return clone
            return elem_type({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
        except TypeError:
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map) for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    # In a DataLoader worker process a large batch is stacked straight into shared memory, which the
    # main process then maps without a copy (as PyTorch's collate does in its workers).
    from . import sharing
    out = sharing.shared_empty_like_stack(batch)
    if out is not None:
        return out
    return flambeau.stack(list(batch), 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return collate([_from_numpy(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    if batch[0].dtype.kind in "SaUO":
        raise TypeError(default_collate_err_msg_format.format(batch[0].dtype))
    return _from_numpy(np.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return flambeau.tensor(list(batch), dtype=flambeau.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    # bools are ints too: flambeau.tensor of bools is a bool tensor, as torch.tensor's
    return flambeau.tensor(list(batch))


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Stack a list of samples into a batch (see the module docstring)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)
