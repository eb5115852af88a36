"""Tensor has no __getattr__ (it would keep CPython from specialising attribute reads on tensors): every
slot is set wherever a tensor is made, and `grad` is a property over the slot `_grad`. These tests hold
the behaviour the old __getattr__ gave: the non-leaf .grad warning, AttributeError for unknown names,
all slots readable after every way of making a tensor (ops, views, constructors, subclasses, pickling,
copy, deepcopy, sparse and quantized tensors, swap_tensors), `__dict__` and weakrefs."""
import copy
import pickle
import warnings
import weakref

import pytest
import torch

import flambeau
from flambeau import nn

SLOTS = [s for s in flambeau.Tensor.__slots__ if s not in ("__dict__", "__weakref__")]


def _all_slots_set(t):
    for name in SLOTS:
        getattr(flambeau.Tensor, name).__get__(t)  # raises AttributeError if the slot was left unset


class MyT(flambeau.Tensor):
    pass


def _made_every_way():
    x = flambeau.randn(3, 4, requires_grad=True)
    y = x * 2
    p = nn.Parameter(flambeau.randn(2))
    p.note = "kept"
    with flambeau.no_grad():
        v_ng = y[1:]
    q = flambeau.quantize_per_tensor(flambeau.randn(4), 0.1, 0, flambeau.quint8)
    a, b = flambeau.randn(2), flambeau.randn(3)
    flambeau.utils.swap_tensors(a, b)
    return {
        "leaf": x, "op": y, "view": y[0], "view_no_grad": v_ng, "view_of_plain": flambeau.randn(4)[1:],
        "legacy Tensor(2, 3)": flambeau.Tensor(2, 3), "Tensor([1, 2])": flambeau.Tensor([1.0, 2.0]),
        "Parameter": p, "as_subclass": flambeau.randn(2).as_subclass(MyT), "detach": y.detach(), "data": y.data,
        "deepcopy": copy.deepcopy(p), "copy": copy.copy(p), "pickle": pickle.loads(pickle.dumps(p)),
        "sparse": flambeau.randn(3, 3).to_sparse(), "sparse_csr": flambeau.eye(3).to_sparse_csr(),
        "quantized": q, "swapped a": a, "swapped b": b,
    }


@pytest.mark.parametrize("name", list(_made_every_way()))
def test_every_slot_set(name):
    t = _made_every_way()[name]
    _all_slots_set(t)
    t.grad_fn, t.requires_grad, t.is_leaf, t.retains_grad, t.output_nr  # noqa: B018 - readable


def test_no_getattr_on_tensor():
    # A __getattr__ on Tensor would make every attribute read on every tensor ~7x slower (CPython 3.11
    # does not specialise LOAD_ATTR for a type that overrides attribute lookup).
    assert "__getattr__" not in vars(flambeau.Tensor)
    assert type(flambeau.randn(2)).__getattribute__ is object.__getattribute__


def test_pickled_and_copied_keep_state_and_dict():
    p = nn.Parameter(flambeau.randn(3))
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p), copy.copy(p)):
        assert type(q) is nn.Parameter and q.requires_grad and q.is_leaf and q.grad is None
        assert q._output_nr == 0 and not q.retains_grad and q.grad_fn is None
        assert flambeau.equal(q, p)
    x = flambeau.randn(3, requires_grad=True)
    x.grad = flambeau.ones(3)
    assert flambeau.equal(copy.deepcopy(x).grad, flambeau.ones(3))  # (as torch; Parameter's drops it, as torch's)
    m = flambeau.randn(2).as_subclass(MyT)  # a subclass's instance attributes live in __dict__
    m.note = {"k": 1}
    for q in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m), copy.copy(m)):
        assert type(q) is MyT and q.note == {"k": 1} and q.grad is None and not q.requires_grad
        _all_slots_set(q)


def test_weakref():
    t = flambeau.randn(2)
    r = weakref.ref(t)
    assert r() is t
    del t
    assert r() is None


@pytest.mark.parametrize("lib", [flambeau, torch], ids=["flambeau", "torch"])
def test_unknown_attribute_message(lib):
    t = lib.randn(2)
    with pytest.raises(AttributeError, match=r"^'Tensor' object has no attribute 'nope'$"):
        t.nope
    p = lib.nn.Parameter(lib.randn(2))
    with pytest.raises(AttributeError, match=r"'Parameter' object has no attribute 'nope'"):
        p.nope
    assert not hasattr(t, "nope") and getattr(t, "nope", 5) == 5


def _grad_warnings(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = fn()
    return r, [x for x in w if "is not a leaf Tensor is being accessed" in str(x.message)]


@pytest.mark.parametrize("lib", [flambeau, torch], ids=["flambeau", "torch"])
def test_non_leaf_grad_warning(lib):
    x = lib.randn(3, requires_grad=True)
    y = x * 2
    g, w = _grad_warnings(lambda: y.grad)
    assert g is None and len(w) == 1 and w[0].category is UserWarning
    assert w[0].filename == __file__  # points at the caller, as PyTorch's
    _, w = _grad_warnings(lambda: x.grad)
    assert w == []  # a leaf's .grad: no warning
    z = x * 3
    z.retain_grad()
    _, w = _grad_warnings(lambda: z.grad)
    assert w == []  # retains_grad: no warning
    z.sum().backward()
    g, w = _grad_warnings(lambda: z.grad)
    assert w == [] and g.tolist() == [1.0, 1.0, 1.0]
    y.grad = lib.ones(3)  # a set gradient is read back without a warning
    g, w = _grad_warnings(lambda: y.grad)
    assert w == [] and g.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("lib", [flambeau, torch], ids=["flambeau", "torch"])
def test_del_grad(lib):
    x = lib.randn(3, requires_grad=True)
    x.sum().backward()
    assert x.grad is not None
    del x.grad
    assert x.grad is None
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_optimizer_reads_grad_slot():
    # zero_grad and step read the slot under .grad: a grad set through the property is seen, and
    # zero_grad(set_to_none) clears it for the property too.
    p = nn.Parameter(flambeau.ones(2))
    opt = flambeau.optim.SGD([p], lr=0.5)
    p.grad = flambeau.ones(2)
    opt.step()
    assert p.tolist() == [0.5, 0.5]
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # no gradient: no update
    assert p.tolist() == [0.5, 0.5]
