"""Writing a value of another dtype through an index, with PyTorch 2.13's rules (found by experiment):
basic indexing (ints, slices, None, ..., a lone True/False) copies and casts; Python numbers, numpy integers
and float64 are cast everywhere; advanced indexing (setitem or index_put_) needs the value's dtype to be the
destination's ("Index put requires the source and destination dtypes match"), except a one-element value
with a single mask as the only advanced index, which PyTorch turns into masked_fill_ (a cast; a uint8 mask
then raises); index_copy_/index_add_/index_reduce_/masked_scatter_/put_ refuse another dtype in their own
words; lists, arrays and other numpy scalars as setitem values raise TypeError. Each case runs in both
libraries: the same values, or the same exception type and message."""
import warnings

import numpy as np
import pytest
import torch

import flambeau


def _setitem(x, i, v):
    x[i] = v
    return x


def _mk(m, spec):
    """Builds an argument: ('t', data, dtype) a tensor, ('mask', data) a bool mask, anything else as is."""
    if isinstance(spec, tuple) and spec and spec[0] == "t":
        return m.tensor(spec[1], dtype=getattr(m, spec[2]))
    if isinstance(spec, tuple) and spec and spec[0] == "mask":
        return m.tensor(spec[1], dtype=m.bool)
    if isinstance(spec, tuple) and spec and spec[0] == "tup":
        return tuple(_mk(m, s) for s in spec[1:])
    return spec


IDX = ("t", [0, 2], "int64")
MASK = ("mask", [True, False, True, False])
U8MASK = ("t", [1, 0, 1, 0], "uint8")

# name: (destination shape, destination dtype, index spec, value spec)
SETITEM = {
    "int_index_uint8_value": ((4,), "float32", IDX, ("t", [1, 2], "uint8")),
    "int_index_float64_value": ((4,), "float32", IDX, ("t", [1.5, 2], "float64")),
    "int_index_int64_value": ((4,), "float32", IDX, ("t", [1, 2], "int64")),
    "int_index_0d_int64": ((4,), "float32", IDX, ("t", 3, "int64")),
    "int_index_0d_float64": ((4,), "float32", IDX, ("t", 3.5, "float64")),
    "int_index_one_element": ((4,), "float32", IDX, ("t", [3], "int64")),
    "int_index_float16_value": ((4,), "float32", IDX, ("t", [1, 2], "float16")),
    "int_index_bool_value": ((4,), "float32", IDX, ("t", [True, False], "bool")),
    "long_dest_float_value": ((4,), "int64", IDX, ("t", [1.5, 2.5], "float32")),
    "int_index_same_dtype": ((4,), "float32", IDX, ("t", [1.5, 2.5], "float32")),
    "int_index_python_int": ((4,), "float32", IDX, 3),
    "int_index_python_float_into_long": ((4,), "int64", IDX, 3.7),
    "int_index_python_bool": ((4,), "float32", IDX, True),
    "int_index_python_complex": ((4,), "float32", IDX, 1 + 2j),
    "list_index_int64_value": ((4,), "float32", [0, 2], ("t", [1, 2], "int64")),
    "bool_list_index_0d": ((4,), "float32", [True, False, True, False], ("t", 1, "int64")),
    "bool_list_index_values": ((4,), "float32", [True, False, True, False], ("t", [1, 2], "int64")),
    "mask_int64_values": ((4,), "float32", MASK, ("t", [1, 2], "int64")),
    "mask_0d_int64": ((4,), "float32", MASK, ("t", 3, "int64")),
    "mask_0d_float64": ((4,), "float32", MASK, ("t", 3.5, "float64")),
    "mask_0d_bool": ((4,), "float32", MASK, ("t", True, "bool")),
    "mask_one_element_1d": ((4,), "float32", MASK, ("t", [3], "int64")),
    "mask_bool_values": ((4,), "float32", MASK, ("t", [True, False], "bool")),
    "mask_in_tuple_0d": ((4,), "float32", ("tup", MASK), ("t", 3, "int64")),
    "mask_then_int_0d": ((4, 2), "float32", ("tup", MASK, 0), ("t", 3, "int64")),
    "int_then_mask_0d": ((2, 4), "float32", ("tup", 0, MASK), ("t", 3, "int64")),
    "slice_then_mask_0d": ((2, 4), "float32", ("tup", slice(None), MASK), ("t", 3, "int64")),
    "mask_then_none_0d": ((4,), "float32", ("tup", MASK, None), ("t", 3, "int64")),
    "two_masks_0d": ((2, 2), "float32", ("tup", ("mask", [True, False]), ("mask", [False, True])), ("t", 1, "int64")),
    "mask_2d_0d": ((2, 2), "float32", ("mask", [[True, False], [False, True]]), ("t", 3, "int64")),
    "mask_2d_values": ((2, 2), "float32", ("mask", [[True, False], [False, True]]), ("t", [1, 2], "int64")),
    "uint8_mask_0d": ((4,), "float32", U8MASK, ("t", 3.0, "float32")),
    "uint8_mask_number": ((4,), "float32", U8MASK, 3.0),
    "uint8_mask_values": ((4,), "float32", U8MASK, ("t", [1.0, 2.0], "float32")),
    "0d_bool_index_0d_value": ((4,), "float32", ("t", True, "bool"), ("t", 3, "int64")),
    "python_bool_and_int_index": ((4, 2), "float32", ("tup", True, IDX), ("t", 1, "int64")),
    "slice_int64_values": ((4,), "float32", slice(0, 2), ("t", [1, 2], "int64")),
    "int_0d_int64": ((4,), "float32", 1, ("t", 5, "int64")),
    "0d_int_tensor_index": ((4,), "float32", ("t", 1, "int64"), ("t", 5, "int64")),
    "lone_true": ((4,), "float32", True, ("t", [1, 2, 3, 4], "int64")),
    "none": ((4,), "float32", None, ("t", [1, 2, 3, 4], "int64")),
    "ellipsis": ((4,), "float32", Ellipsis, ("t", [1, 2, 3, 4], "int64")),
    "slice_then_index_2d": ((2, 4), "float32", ("tup", slice(None), IDX), ("t", [[1, 2], [3, 4]], "int64")),
    "int_then_index_2d": ((2, 4), "float32", ("tup", 0, IDX), ("t", [1, 2], "int64")),
    "empty_index_empty_value": ((4,), "float32", ("t", [], "int64"), ("t", [], "int64")),
    "empty_mask_empty_value": ((4,), "float32", ("mask", [False] * 4), ("t", [], "int64")),
    "value_shape_error": ((4,), "float32", IDX, ("t", [1, 2, 3], "float32")),
    "value_shape_error_2d": ((4, 3), "float32", IDX, ("t", [[1, 2], [3, 4]], "float32")),
    "mask_value_overflows_uint8": ((4,), "uint8", MASK, ("t", [float("nan")], "float16")),
    "mask_value_fits_uint8": ((4,), "uint8", MASK, ("t", [7.0], "float16")),
    "mask_value_overflows_int32": ((4,), "int32", MASK, ("t", 3e10, "float64")),
    "mask_complex_value_into_int32": ((4,), "int32", MASK, ("t", [1 + 2j], "complex64")),
    "mask_real_complex_value_into_int32": ((4,), "int32", MASK, ("t", [3 + 0j], "complex64")),
    "slice_nan_into_int32": ((4,), "int32", slice(1, 3), float("nan")),
    "size0_dim_index_before_dtype": ((0, 3), "float64", ("t", [0, 0], "int64"), ("t", [[1, 2, 3]] * 2, "bfloat16")),
    "numpy_float64": ((4,), "float32", IDX, np.float64(2.5)),
    "numpy_int64": ((4,), "float32", IDX, np.int64(2)),
    "numpy_int32_slice": ((4,), "float32", slice(0, 2), np.int32(2)),
    "numpy_float32": ((4,), "float32", IDX, np.float32(2.5)),
    "numpy_float16_slice": ((4,), "float32", slice(0, 2), np.float16(2.5)),
    "numpy_bool": ((4,), "float32", 1, np.bool_(True)),
    "numpy_array": ((4,), "float32", IDX, np.array([1.0, 2.0])),
    "numpy_0d_array": ((4,), "float32", slice(0, 2), np.array(2.0)),
    "list_value": ((4,), "float32", IDX, [1, 2]),
    "tuple_value": ((4,), "float32", 1, (1, 2)),
}


def _outcome(fn):
    res = []
    for m in (torch, flambeau):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (uint8 masks: both warn that they are deprecated)
                out = fn(m)
            res.append(("ok", str(out.dtype).split(".")[-1], out.tolist()))
        except (RuntimeError, TypeError, IndexError) as e:
            msg = str(e).replace("torch.", "").replace("flambeau.", "")
            res.append((type(e).__name__, msg))
    return res


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_value_dtype_rules(name):
    shape, dt, idx, val = SETITEM[name]
    t, f = _outcome(lambda m: _setitem(m.zeros(shape, dtype=getattr(m, dt)), _mk(m, idx), _mk(m, val)))
    assert f == t


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_value_dtype_rules_under_autograd(name):
    """The same rules when the destination requires grad (the recording path)."""
    shape, dt, idx, val = SETITEM[name]
    if dt != "float32":
        return

    def fn(m):
        x = m.zeros(shape, requires_grad=True)
        y = x * 1
        _setitem(y, _mk(m, idx), _mk(m, val))
        return y.detach()
    t, f = _outcome(fn)
    assert f == t


# name: (call with the library as m)
OPS = {
    "index_put_int64": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor([1, 2])),
    "index_put_0d_int64": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor(1)),
    "index_put_0d_float64": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor(1.0, dtype=m.float64)),
    "index_put_accumulate": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor([1, 2]), accumulate=True),
    "index_put_accumulate_0d": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor(1), accumulate=True),
    "index_put_out_of_place": lambda m: m.zeros(4).index_put((m.tensor([0, 2]),), m.tensor([1, 2])),
    "torch_index_put": lambda m: m.index_put(m.zeros(4), (m.tensor([0, 2]),), m.tensor([1, 2])),
    "index_put_mask_values": lambda m: m.zeros(4).index_put_((m.tensor([True, False, True, False]),),
                                                             m.tensor([1, 2])),
    "index_put_mask_0d": lambda m: m.zeros(4).index_put_((m.tensor([True, False, True, False]),), m.tensor(7)),
    "index_put_mask_0d_accumulate": lambda m: m.zeros(4).index_put_((m.tensor([True, False, True, False]),),
                                                                    m.tensor(7), accumulate=True),
    "index_put_bool_values": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor([True, False])),
    "index_put_same_dtype": lambda m: m.zeros(4).index_put_((m.tensor([0, 2]),), m.tensor([1.5, 2.5])),
    "index_put_shape_error": lambda m: m.zeros(4, 3).index_put_((m.tensor([0, 2]),), m.zeros(2, 2)),
    "index_copy_int64": lambda m: m.zeros(4).index_copy_(0, m.tensor([0, 2]), m.tensor([1, 2])),
    "index_copy_float64": lambda m: m.zeros(4).index_copy_(0, m.tensor([0, 2]), m.tensor([1.0, 2], dtype=m.float64)),
    "index_copy_out_of_place": lambda m: m.zeros(4).index_copy(0, m.tensor([0, 2]), m.tensor([1, 2])),
    "torch_index_copy": lambda m: m.index_copy(m.zeros(4), 0, m.tensor([0, 2]), m.tensor([1, 2])),
    "index_copy_0d_self": lambda m: m.zeros(()).index_copy_(0, m.tensor([0]), m.tensor(2)),
    "index_add_int64": lambda m: m.zeros(4).index_add_(0, m.tensor([0, 2]), m.tensor([1, 2])),
    "index_add_float64": lambda m: m.zeros(4).index_add_(0, m.tensor([0, 2]), m.tensor([1.0, 2], dtype=m.float64)),
    "index_add_out_of_place": lambda m: m.zeros(4).index_add(0, m.tensor([0, 2]), m.tensor([1, 2])),
    "torch_index_add": lambda m: m.index_add(m.zeros(4), 0, m.tensor([0, 2]), m.tensor([1, 2])),
    "index_add_long_self": lambda m: m.zeros(4, dtype=m.int64).index_add_(0, m.tensor([0, 2]), m.tensor([1.0, 2])),
    "index_add_0d_self_other_dtype": lambda m: m.zeros(()).index_add_(0, m.tensor([0]), m.tensor(2)),
    "index_add_0d_self": lambda m: m.zeros(()).index_add_(0, m.tensor([0]), m.tensor(2.0)),
    "index_add_0d_self_alpha": lambda m: m.zeros(()).index_add(0, m.tensor([0]), m.tensor(2.0), alpha=3),
    "index_add_0d_self_1d_source": lambda m: m.zeros(()).index_add_(-1, m.tensor([0, 0]), m.tensor([2.0, 1])),
    "index_add_0d_self_two_indices": lambda m: m.zeros(()).index_add_(0, m.tensor([0, 0]), m.tensor(2.0)),
    "index_add_same_dtype_alpha": lambda m: m.zeros(4).index_add_(0, m.tensor([0, 2]), m.tensor([1.0, 2]), alpha=2),
    "index_reduce_int64": lambda m: m.ones(4).index_reduce_(0, m.tensor([0, 2]), m.tensor([1, 2]), "prod"),
    "index_fill_0d_float64": lambda m: m.zeros(4).index_fill_(0, m.tensor([0, 2]), m.tensor(2.5, dtype=m.float64)),
    "index_fill_0d_int64": lambda m: m.zeros(4).index_fill_(0, m.tensor([0, 2]), m.tensor(2)),
    "index_fill_out_of_place": lambda m: m.zeros(4).index_fill(0, m.tensor([0, 2]), m.tensor(2)),
    "index_fill_complex_number": lambda m: m.zeros(4).index_fill_(0, m.tensor([0, 2]), 1 + 2j),
    "index_put_size0_dim_before_dtype": lambda m: m.zeros(0, 3).index_put_((m.tensor([0]),), m.ones(1, 3, dtype=m.int64)),
    "masked_scatter_int64": lambda m: m.zeros(4).masked_scatter_(m.tensor([True, False, True, False]),
                                                                 m.tensor([1, 2])),
    "scatter_int64_src": lambda m: m.zeros(4).scatter_(0, m.tensor([0, 2]), m.tensor([1, 2])),
    "put_int64": lambda m: m.zeros(4).put_(m.tensor([0, 2]), m.tensor([1, 2])),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_index_ops_value_dtype_rules(name):
    t, f = _outcome(OPS[name])
    assert f == t


def test_index_put_grads_with_mask_cast():
    """The masked_fill_ path casts a one-element value of another dtype; gradients flow to the
    destination (the value's dtype cannot require grad: int64), as in PyTorch."""
    grads = []
    for m in (torch, flambeau):
        x = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * 2
        y[m.tensor([True, False, True, False])] = m.tensor(5)
        (y * m.arange(4.0)).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]
