"""Storages against PyTorch: Tensor.storage() (TypedStorage, with PyTorch's deprecation warning) and
untyped_storage(), the legacy FloatStorage/DoubleStorage/LongStorage/... constructors and isinstance checks,
size/nbytes/element_size/data_ptr/tolist/indexing/fill_/copy_/clone, memory shared with the tensor both ways,
Tensor.set_(storage, offset, size, stride) and its errors."""
import warnings

import numpy as np
import pytest
import torch

import flambeau


def both(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(torch), fn(flambeau)


def test_typed_storage_of_a_tensor():
    def run(lib):
        x = lib.arange(6.0).view(2, 3)
        s = x.storage()
        info = (str(s.dtype).split(".")[-1], s.size(), len(s), s.nbytes(), s.element_size(), s.tolist(), s[1], s[-1],
                s.data_ptr() == x.data_ptr(), x[1].storage().data_ptr() == x.data_ptr(), x[1].storage().size(),
                s.type().split(".")[-1], isinstance(s, lib.TypedStorage), isinstance(s, lib.FloatStorage),
                isinstance(s, lib.DoubleStorage), lib.is_storage(s), lib.is_storage(x), list(iter(s))[:2])
        s[0] = 10
        x[1, 1] = -1
        return info, x.tolist(), s[4], s.tolist()
    t, f = both(run)
    assert f == t


def test_untyped_storage():
    def run(lib):
        x = lib.tensor([1.0, -2.0, 0.5])
        u = x.untyped_storage()
        info = (u.nbytes(), u.size(), len(u), u.element_size(), u.data_ptr() == x.data_ptr(), u.tolist(), u[3],
                u[2:6].tolist(), lib.is_storage(u), isinstance(u, lib.UntypedStorage), u.device.type)
        u[3] = 0  # the sign byte of 1.0 (little-endian): 1.0 -> 2.0**-127 * ... no, 1.0's top byte
        return info, x.tolist()
    t, f = both(run)
    assert f == t


def test_deprecation_warning_once_and_warn_always():
    flambeau._storage._warned = False
    x = flambeau.ones(2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        x.storage()
        x.storage()
    assert len(w) == 1 and "TypedStorage is deprecated" in str(w[0].message) and w[0].category is UserWarning
    flambeau.set_warn_always(True)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            x.storage()
            x.storage()
        assert len(w) == 2
    finally:
        flambeau.set_warn_always(False)


@pytest.mark.parametrize("name, args", [("FloatStorage", (4,)), ("FloatStorage", ([1, 2, 3],)),
                                        ("DoubleStorage", ([1.5, 2],)), ("LongStorage", ([1, 2],)),
                                        ("IntStorage", ([7],)), ("ByteStorage", ([255, 1],)),
                                        ("BoolStorage", ([True, False],)), ("HalfStorage", ([0.5],)),
                                        ("FloatStorage", ())])
def test_legacy_constructors(name, args):
    def run(lib):
        s = getattr(lib, name)(*args)
        return (type(s).__name__, str(s.dtype).split(".")[-1], s.size(), s.nbytes(),
                s.tolist() if args and not isinstance(args[0], int) else None, isinstance(s, getattr(lib, name)),
                isinstance(s, lib.TypedStorage))
    t, f = both(run)
    assert f == t


def test_typed_and_untyped_constructors():
    def run(lib):
        ts = lib.TypedStorage(3, dtype=lib.float64)
        us = lib.UntypedStorage(8)
        wrapped = lib.TypedStorage(wrap_storage=lib.UntypedStorage([0, 0, 128, 63, 0, 0, 0, 64]), dtype=lib.float32)
        return ts.size(), str(ts.dtype), us.nbytes(), wrapped.tolist(), wrapped.untyped().nbytes()
    t, f = both(run)
    assert f[0] == t[0] and f[2:] == t[2:] and f[1].split(".")[-1] == t[1].split(".")[-1]


def test_set_storage_shares_memory_both_ways():
    def run(lib):
        fs = lib.FloatStorage([1, 2, 3, 4, 5, 6])
        a = lib.tensor([]).set_(fs)
        b = lib.tensor([]).set_(fs, 1, (2,), (1,))
        c = lib.tensor([]).set_(fs, 0, (2, 2), (1, 2))
        b[0] = 100
        fs[5] = -6
        x = lib.arange(6.0)
        d = lib.tensor([], dtype=lib.float32).set_(x.untyped_storage(), 2, (2, 2), (1, 2))
        d[0, 0] = 42
        e = lib.zeros(3).set_(x)
        return (a.tolist(), b.tolist(), c.tolist(), fs.tolist(), d.tolist(), x.tolist(), e.tolist(),
                a.is_set_to(lib.tensor([]).set_(fs)), b.storage_offset(), c.stride(), e.data_ptr() == x.data_ptr())
    t, f = both(run)
    assert f == t


def test_set_errors():
    for lib in (torch, flambeau):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fs = lib.FloatStorage([1, 2, 3])
        with pytest.raises(RuntimeError, match="Expected a Storage of type double or an UntypedStorage, but got "
                                               "type Float"):
            lib.tensor([], dtype=lib.float64).set_(fs)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            lib.zeros(3, requires_grad=True).set_(fs)
    with pytest.raises(RuntimeError, match="flambeau does not grow storages"):
        flambeau.tensor([]).set_(flambeau.FloatStorage([1, 2, 3]), 1, (5,), (1,))


def test_storage_ops():
    def run(lib):
        x = lib.arange(4.0)
        s = x.storage()
        c = s.clone()
        c[0] = 9
        s2 = lib.FloatStorage(4).fill_(2.5)
        s.copy_(s2)
        return (x.tolist(), c.tolist(), s.double().tolist(), str(s.long().dtype).split(".")[-1],
                s.float() is s, s.float().data_ptr() == s.data_ptr(), s.is_shared(), s.is_pinned(), s.device.type, s.cpu() is s, s.cpu().data_ptr() == s.data_ptr())
    t, f = both(run)
    assert f == t


def test_storage_of_views_and_other_dtypes():
    def run(lib):
        x = lib.arange(12, dtype=lib.int64).view(3, 4)
        v = x[1:, ::2]
        return (v.storage().size(), v.storage().tolist(), v.storage_offset(),
                v.untyped_storage().nbytes(), lib.tensor([True, False]).storage().tolist())
    t, f = both(run)
    assert f == t


def test_pickle_round_trip():
    import pickle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = flambeau.DoubleStorage([1.5, -2.0])
    r = pickle.loads(pickle.dumps(s))
    assert r.tolist() == [1.5, -2.0] and r.dtype == flambeau.float64 and r.data_ptr() != s.data_ptr()
    u = pickle.loads(pickle.dumps(flambeau.UntypedStorage([1, 2, 255])))
    assert u.tolist() == [1, 2, 255]


def test_numpy_round_trip_through_storage():
    a = np.arange(5, dtype=np.float32)
    t = flambeau.from_numpy(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.storage()[2] = 7
    assert a[2] == 7
