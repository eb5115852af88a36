"""The per-call fast paths (kernel first, checked path when the kernel refuses) keep the exact
semantics of the checked path: dtype promotion, integer inputs, errors, autograd recording."""
import inspect

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F
from flambeau._functions import activation as A


def _t(a, **kw):
    return flambeau.from_numpy(np.ascontiguousarray(a), **kw) if not kw else flambeau.tensor(a, **kw)


@pytest.mark.parametrize("fn", [A.relu, F.relu, lambda x: x.relu()])
def test_integer_relu_takes_the_elementwise_path(fn):
    a = np.array([-3, 0, 5, -1], dtype=np.int64)
    r = fn(_t(a))
    assert r.dtype == flambeau.int64
    np.testing.assert_array_equal(r.numpy(), torch.relu(torch.from_numpy(a)).numpy())


@pytest.mark.parametrize("name", ["silu", "sigmoid", "tanh", "softplus", "gelu", "leaky_relu"])
def test_integer_input_error_message_unchanged(name):
    x = _t(np.arange(4, dtype=np.int64))
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
        getattr(A, name)(x)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("da,db", [("float32", "float64"), ("float32", "int64"), ("int64", "int64"),
                                   ("int64", "float64"), ("float64", "float64")])
def test_binary_promotion_matches_torch(op, da, db):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(7) * 4).astype(da)
    b = (rng.standard_normal(7) * 4 + 9).astype(db)
    r = getattr(flambeau, op)(_t(a), _t(b))
    e = getattr(torch, op)(torch.from_numpy(a), torch.from_numpy(b))
    assert str(r.dtype).split(".")[-1] == str(e.dtype).split(".")[-1]
    np.testing.assert_allclose(r.numpy(), e.numpy(), rtol=1e-6)


def test_bool_sub_still_raises():
    a = _t(np.array([True, False]))
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool tensors is not supported"):
        a - a


def test_fast_path_respects_grad_mode():
    x = flambeau.randn(5, requires_grad=True)
    for f in (A.relu, A.silu, A.sigmoid, A.tanh, lambda t: t + t, lambda t: t * t):
        y = f(x)
        assert y.requires_grad and y.grad_fn is not None
        with flambeau.no_grad():
            z = f(x)
        assert not z.requires_grad and z.grad_fn is None
        np.testing.assert_array_equal(y.detach().numpy(), z.numpy())


def test_functional_keeps_name_signature_and_composed():
    assert F.relu.__name__ == "relu"
    assert list(inspect.signature(F.relu).parameters) == ["input", "inplace"]
    assert callable(F.relu.composed)
    x = flambeau.randn(6)
    np.testing.assert_array_equal(F.relu(x).numpy(), F.relu.composed(x).numpy())
    with pytest.raises(TypeError, match="relu"):
        F.relu([1.0, 2.0])


# ---------------------------------------------------------------- basic indexing in one C++ call
def _random_basic_index(rng, ndim):
    """A random tuple of ints, slices, None and at most one Ellipsis (sometimes out of range)."""
    items = []
    for _ in range(rng.integers(0, ndim + 3)):
        k = rng.integers(0, 10)
        if k < 3:
            items.append(int(rng.integers(-6, 6)))
        elif k < 7:
            pick = lambda: None if rng.random() < 0.3 else int(rng.integers(-8, 9))  # noqa: E731
            step = None if rng.random() < 0.5 else int(rng.integers(1, 4))
            items.append(slice(pick(), pick(), step))
        elif k < 9:
            items.append(None)
        elif Ellipsis not in items:
            items.append(Ellipsis)
    return items[0] if len(items) == 1 and rng.random() < 0.5 else tuple(items)


def _outcome(lib_tensor, idx):
    try:
        return lib_tensor[idx]
    except (IndexError, ValueError, TypeError, RuntimeError) as e:
        return type(e)


def test_basic_getitem_matches_torch_views_on_random_indices(rng):
    """Shape, strides, storage offset (the same view geometry as PyTorch), values and error types."""
    for trial in range(400):
        shape = tuple(int(s) for s in rng.integers(0, 6, size=rng.integers(0, 4)))
        a = rng.standard_normal(shape).astype(np.float32)
        t, f = torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())
        if trial % 3 == 0 and len(shape) >= 2:  # a non-contiguous base
            t, f = t.transpose(0, 1), f.transpose(0, 1)
        idx = _random_basic_index(rng, t.dim())
        rt, rf = _outcome(t, idx), _outcome(f, idx)
        if isinstance(rt, type):
            assert rf is rt, (shape, idx, rf)
            continue
        assert not isinstance(rf, type), (shape, idx, rf)
        assert tuple(rf.shape) == tuple(rt.shape), (shape, idx)
        if rt.numel():
            assert rf.stride() == rt.stride() and rf.storage_offset() == rt.storage_offset(), (shape, idx)
        np.testing.assert_array_equal(rf.numpy(), rt.numpy())
        assert rf._base is not None  # a view


def test_basic_setitem_matches_torch_on_random_indices(rng):
    for _ in range(200):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 4)))
        a = rng.standard_normal(shape).astype(np.float32)
        t, f = torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())
        idx = _random_basic_index(rng, t.dim())
        try:
            t[idx] = 7.5
        except (IndexError, ValueError) as e:
            with pytest.raises(type(e)):
                f[idx] = 7.5
            continue
        f[idx] = 7.5
        np.testing.assert_array_equal(f.numpy(), t.numpy())


def test_basic_getitem_error_messages_and_fallbacks():
    f = flambeau.arange(12.0).reshape(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        f[3]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        f[0, -5]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        f[0, 0, 0]
    # several ellipses: PyTorch takes them (numpy does not); an index after the second one is refused
    np.testing.assert_array_equal(f[..., ...].numpy(), f.numpy())
    np.testing.assert_array_equal(f[..., 0, ...].numpy(), f.numpy()[:, 0])
    with pytest.raises(IndexError, match="second ellipsis"):
        f[..., ..., 0]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        f[::0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        f[::-1]
    # Not basic for the C++ path (numpy ints, bools, tensors, huge ints): the Python plan answers.
    t = torch.arange(12.0).reshape(3, 4)
    for idx in [np.int64(1), (np.int64(2), slice(np.int64(1), None)), True, (0, False), (slice(0, 2**70),), [0, 2]]:
        np.testing.assert_array_equal(f[idx].numpy(), t[idx].numpy())
    np.testing.assert_array_equal(f[flambeau.tensor(1):].numpy(), t[1:].numpy())
    # The plan (taken when autograd records) gives the same messages.
    g = flambeau.zeros(3, 4, requires_grad=True)
    for idx, msg in [((0, -5), "dimension 1 with size 4"), ((None, 0, 7), "dimension 2 with size 4")]:
        for x in (f, g):
            with pytest.raises(IndexError, match=msg):
                x[idx]
    with pytest.raises(IndexError):
        f[2**70]


def test_basic_getitem_with_grad_still_records():
    x = flambeau.randn(3, 4, requires_grad=True)
    y = x[1, ::2]
    assert y.grad_fn is not None
    y.sum().backward()
    expect = np.zeros((3, 4), np.float32)
    expect[1, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expect)


def test_unary_out_writes_in_place_and_keeps_the_checked_cases():
    x = flambeau.from_numpy(np.linspace(-2, 2, 37))
    out = flambeau.empty(37, dtype=flambeau.float64)
    ptr = out.data_ptr()
    r = flambeau.exp(x, out=out)
    assert r is out and out.data_ptr() == ptr
    np.testing.assert_array_equal(out.numpy(), flambeau.exp(x).numpy())
    # A different dtype or shape still goes through the checked copy (PyTorch's casting and resizing).
    o32 = flambeau.empty(37)
    flambeau.exp(x, out=o32)
    np.testing.assert_allclose(o32.numpy(), np.exp(np.linspace(-2, 2, 37)), rtol=1e-6)
    o_small = flambeau.empty(3, dtype=flambeau.float64)
    assert flambeau.exp(x, out=o_small).shape == (37,)
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        flambeau.exp(x, out=flambeau.empty(37, dtype=flambeau.float64, requires_grad=True))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_setitem_with_a_full_shape_bool_mask_and_a_number(dtype, rng):
    """x[mask] = number with mask shaped like x takes one select; the same values as PyTorch, on a
    non-contiguous view too, and the version counter moves (autograd sees the write)."""
    y = (rng.standard_normal((6, 9)) * 5).astype(dtype)
    m = (y > 0) if dtype != "bool" else ~y
    value = False if dtype == "bool" else (3 if dtype == "int64" else 2.5)
    f, t = flambeau.from_numpy(y.copy()), torch.from_numpy(y.copy())
    v0 = f._impl.version
    f[flambeau.from_numpy(m)] = value
    t[torch.from_numpy(m)] = value
    np.testing.assert_array_equal(f.numpy(), t.numpy())
    assert f._impl.version > v0
    f2, t2 = flambeau.from_numpy(y.copy()), torch.from_numpy(y.copy())
    f2.t()[flambeau.from_numpy(np.ascontiguousarray(m.T))] = value
    t2.t()[torch.from_numpy(np.ascontiguousarray(m.T))] = value
    np.testing.assert_array_equal(f2.numpy(), t2.numpy())


def test_getitem_with_an_int_index_tensor_takes_index_select(rng):
    """x[j] with an int64 tensor of 1+ dims copies rows by index_select: the values and shape of
    PyTorch's advanced index (negatives, 2-D and empty indices), a copy, and its error."""
    x = rng.standard_normal((50, 7, 3)).astype(np.float32)
    f, t = flambeau.from_numpy(x), torch.from_numpy(x)
    for j in [rng.integers(-50, 50, 20), rng.integers(0, 50, (4, 5)), np.zeros(0, np.int64), np.array([49, -50])]:
        r = f[flambeau.from_numpy(j)]
        np.testing.assert_array_equal(r.numpy(), t[torch.from_numpy(j)].numpy())
        assert r._base is None  # a copy, not a view
    with pytest.raises(IndexError, match="out of bounds"):
        f[flambeau.from_numpy(np.array([50]))]
    g = flambeau.from_numpy(x.copy()).requires_grad_()
    g[flambeau.from_numpy(np.array([1, 1, 3]))].sum().backward()  # autograd keeps the plan's Index
    expect = np.zeros_like(x)
    expect[1] = 2
    expect[3] = 1
    np.testing.assert_array_equal(g.grad.numpy(), expect)
