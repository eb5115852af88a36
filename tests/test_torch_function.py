"""The __torch_function__ protocol (python/flambeau/_torch_function.py) against PyTorch's: subclass
preservation through functions, methods, operators, indexing, nn modules and named-tuple results;
overrides that see `func` and can replace the result; NotImplemented and the TypeError; tensor-like
non-Tensor classes through flambeau.overrides; Parameter and the disabled impl; gradients through a
subclass. Every case runs in both libraries on the same data."""
import numpy as np
import pytest
import torch

import flambeau


def _both(fn):
    return fn(torch), fn(flambeau)


def _subclass(lib):
    class MyT(lib.Tensor):
        pass
    return MyT


CALLS = {
    "add_op": lambda lib, x: x + 1,
    "radd_plain": lambda lib, x: lib.ones(2, 3) + x,
    "mul_method": lambda lib, x: x.mul(2),
    "exp_fn": lambda lib, x: lib.exp(x),
    "sum": lambda lib, x: x.sum(),
    "getitem": lambda lib, x: x[0],
    "getitem_mask": lambda lib, x: x[x > 0],
    "T": lambda lib, x: x.T,
    "data": lambda lib, x: x.data,
    "detach": lambda lib, x: x.detach(),
    "clone": lambda lib, x: x.clone(),
    "to": lambda lib, x: x.to(lib.float64),
    "view": lambda lib, x: x.view(3, 2),
    "cat": lambda lib, x: lib.cat([x, lib.zeros(2, 3)]),
    "stack_kw": lambda lib, x: lib.stack(tensors=[x, x]),
    "where": lambda lib, x: lib.where(x > 0, x, lib.zeros(2, 3)),
    "zeros_like": lambda lib, x: lib.zeros_like(x),
    "new_zeros": lambda lib, x: x.new_zeros(4),
    "relu": lambda lib, x: lib.nn.functional.relu(x),
    "softmax": lambda lib, x: lib.nn.functional.softmax(x, dim=1),
    "matmul": lambda lib, x: x @ lib.ones(3, 4),
    "linalg_norm": lambda lib, x: lib.linalg.norm(x),
    "max_dim": lambda lib, x: x.max(1),
    "sort": lambda lib, x: lib.sort(x, dim=1),
    "unbind": lambda lib, x: x.unbind(0),
    "chunk": lambda lib, x: x.chunk(3, dim=1),
    "item": lambda lib, x: x[0, 0].item(),
    "tolist": lambda lib, x: x.tolist(),
    "shape": lambda lib, x: tuple(x.shape),
    "len": lambda lib, x: len(x),
}


def _describe(r, values):
    """Type names of a result (tuples element by element); its numbers go to `values`."""
    if isinstance(r, tuple):
        return [type(r).__name__ if type(r) is not tuple else "tuple"] + [_describe(e, values) for e in r]
    if hasattr(r, "detach") and hasattr(r, "numpy"):
        values.append(np.asarray(r.detach().numpy(), dtype=np.float64))
        return type(r).__name__
    values.append(np.asarray(r, dtype=np.float64))
    return type(r).__name__


@pytest.mark.parametrize("name", list(CALLS))
def test_subclass_is_preserved_as_in_pytorch(name):
    x_np = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)

    def run(lib):
        x = lib.tensor(x_np).as_subclass(_subclass(lib))
        values = []
        return _describe(CALLS[name](lib, x), values), values
    want, got = _both(run)
    assert got[0] == want[0]
    assert len(got[1]) == len(want[1])
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)  # (float32 sums and exp: an ulp apart)


def test_nn_module_output_and_gradient():
    x_np = np.random.default_rng(4).standard_normal((5, 3))

    def run(lib):
        lib.manual_seed(0)
        MyT = _subclass(lib)
        lin = lib.nn.Linear(3, 2).double()
        with lib.no_grad():
            lin.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3) / 7))
            lin.bias.fill_(0.5)
        x = lib.tensor(x_np, requires_grad=True)
        y = lin(x.as_subclass(MyT))
        loss = (y * y).sum()
        loss.backward()
        return (type(y).__name__, type(loss).__name__, type(x.grad).__name__, type(lin.weight).__name__,
                y.detach().numpy().tolist(), x.grad.numpy().tolist(), lin.weight.grad.numpy().tolist())
    want, got = _both(run)
    assert got[:4] == want[:4]
    np.testing.assert_allclose(np.array(got[4]), np.array(want[4]), rtol=1e-12)
    np.testing.assert_allclose(np.array(got[5]), np.array(want[5]), rtol=1e-12)
    np.testing.assert_allclose(np.array(got[6]), np.array(want[6]), rtol=1e-12)


def test_override_sees_func_and_can_replace_the_result():
    def run(lib):
        seen = []

        class Logged(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                seen.append((func is lib.add, func is lib.Tensor.add, func is lib.nn.functional.relu,
                             [t.__name__ for t in types]))
                if func is lib.nn.functional.relu:
                    return "replaced"
                return super().__torch_function__(func, types, args, kwargs)
        x = lib.ones(3).as_subclass(Logged)
        r1 = lib.add(x, 1)
        r2 = x.add(1)
        r3 = lib.nn.functional.relu(x)
        return seen, type(r1).__name__, type(r2).__name__, r3
    want, got = _both(run)
    assert got == want


def test_plain_subclass_inside_disable_block_gives_plain_tensors():
    def run(lib):
        MyT = _subclass(lib)
        x = lib.ones(2).as_subclass(MyT)
        with lib._C.DisableTorchFunctionSubclass():
            inside = type(x + 1).__name__
            enabled = lib._C._is_torch_function_enabled()
        return inside, enabled, type(x + 1).__name__, lib._C._is_torch_function_enabled()
    want, got = _both(run)
    assert got == want


def test_not_implemented_everywhere_raises_type_error():
    for lib in (torch, flambeau):
        class Refuses(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return NotImplemented
        x = lib.ones(2).as_subclass(Refuses)
        with pytest.raises(TypeError, match="Multiple dispatch failed for '.*add'; all __torch_function__ "
                                            "handlers returned NotImplemented"):
            lib.add(x, 1)


def test_subclass_wins_over_its_parent():
    def run(lib):
        order = []

        class A(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                order.append("A")
                return super().__torch_function__(func, types, args, kwargs)

        class B(A):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                order.append("B")
                return super().__torch_function__(func, types, args, kwargs)
        a, b = lib.ones(2).as_subclass(A), lib.ones(2).as_subclass(B)
        r = lib.add(a, b)
        return order, type(r).__name__
    want, got = _both(run)
    assert got == want


def test_tensor_like_object_through_handle_torch_function():
    def run(lib):
        handled = {}

        class Scalarish:
            def __init__(self, v):
                self.v = v

            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return handled[func](*args, **(kwargs or {}))

        def my_mean(x):
            if lib.overrides.has_torch_function((x,)):
                return lib.overrides.handle_torch_function(my_mean, (x,), x)
            return x.mean()
        handled[my_mean] = lambda s: s.v * 10
        return (my_mean(Scalarish(3)), float(my_mean(lib.ones(4))), lib.overrides.is_tensor_like(Scalarish(1)),
                lib.overrides.is_tensor_like(lib.ones(1)), lib.overrides.is_tensor_like(3))
    want, got = _both(run)
    assert got == want


def test_parameter_and_disabled_impl_return_plain_tensors():
    def run(lib):
        p = lib.nn.Parameter(lib.ones(2))

        class Off(lib.Tensor):
            __torch_function__ = lib._C._disabled_torch_function_impl
        o = lib.ones(2).as_subclass(Off)
        return type(p * 2).__name__, type(p.detach()).__name__, type(o + 1).__name__
    want, got = _both(run)
    assert got == want


def test_repr_names_the_subclass():
    def run(lib):
        return repr(lib.tensor([1.0, 2.0]).as_subclass(_subclass(lib)))
    want, got = _both(run)
    assert got == want


def _counting_mode(lib):
    class Count(lib.overrides.TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))
    return Count


def test_torch_function_mode_sees_every_call_and_nests():
    def run(lib):
        Count = _counting_mode(lib)
        x = lib.ones(3)
        with Count() as outer:
            y = lib.relu(x * 2).sum()
            z = lib.zeros(2)
            with Count() as inner:
                w = lib.nn.functional.linear(x, lib.ones(2, 3))
        after = lib.exp(x)  # no mode: not recorded anywhere
        return outer.names, inner.names, float(y), z.tolist(), w.tolist(), after.tolist()
    want, got = _both(run)
    assert got == want


def test_mode_can_replace_results_and_disable_turns_it_off():
    def run(lib):
        class Zeroing(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                r = func(*args, **(kwargs or {}))
                return r * 0 if func.__name__ == "exp" else r
        x = lib.ones(2)
        with Zeroing():
            a = lib.exp(x).tolist()
            with lib._C.DisableTorchFunction():
                b = lib.exp(x).tolist()
            with lib._C.DisableTorchFunctionSubclass():
                c = lib.exp(x).tolist()  # modes still run here
            d = lib.overrides.has_torch_function((x,))
        return a, b, c, d, lib.overrides.has_torch_function((x,))
    want, got = _both(run)
    assert got == want


def test_mode_sees_subclass_types():
    def run(lib):
        seen = []
        MyT = _subclass(lib)

        class Types(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                seen.append([t.__name__ for t in types])
                return func(*args, **(kwargs or {}))
        x = lib.ones(2).as_subclass(MyT)
        with Types():
            r = lib.add(x, 1)
            q = lib.add(lib.ones(2), 1)
        return seen, type(r).__name__, type(q).__name__
    want, got = _both(run)
    assert got == want


def test_mode_returning_not_implemented_without_subclasses_raises():
    for lib in (torch, flambeau):
        class Refuses(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                return NotImplemented
        with Refuses():
            with pytest.raises(TypeError, match="(?s)Multiple dispatch failed.*mode object"):
                lib.add(lib.ones(2), 1)


PROPERTIES = ("shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "layout", "is_cuda", "T", "data",
              "grad_fn")


def test_property_getters_dispatch_with_their_get_as_func():
    def run(lib):
        seen = []

        class Logged(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                seen.append(func)
                return super().__torch_function__(func, types, args, kwargs or {})
        x = lib.randn(2, 3).as_subclass(Logged)
        out = []
        for name in PROPERTIES:
            seen.clear()
            r = getattr(x, name)
            out.append((name, type(r).__name__ if isinstance(r, lib.Tensor) else str(r).replace(lib.__name__, "lib"),
                        len(seen), bool(seen) and seen[0] == getattr(lib.Tensor, name).__get__))
        return out
    want, got = _both(run)
    assert got == want


def test_override_can_answer_a_property():
    def run(lib):
        class Fake(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func == lib.Tensor.shape.__get__:
                    return (7, 7)
                if func == lib.Tensor.dtype.__get__:
                    return lib.float16
                return super().__torch_function__(func, types, args, kwargs or {})
        y = lib.randn(2).as_subclass(Fake)
        with lib._C.DisableTorchFunctionSubclass():
            inside = tuple(y.shape)
        return y.shape, str(y.dtype).replace(lib.__name__, "lib"), inside, tuple((y + 1).shape)
    want, got = _both(run)
    assert got == want


def test_mode_sees_property_getters():
    def run(lib):
        seen = []

        class Names(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                seen.append(func.__name__)
                return func(*args, **(kwargs or {}))
        z = lib.ones(2)
        with Names():
            z.shape, z.dtype, z.requires_grad  # noqa: B018
            z + 1
        return seen
    want, got = _both(run)
    assert got == want


def test_as_subclass_is_an_alias_in_the_graph():
    def run(lib):
        a = lib.randn(3, requires_grad=True)
        x = a.as_subclass(_subclass(lib))
        y = (x * 2).sum()
        y.backward()
        return type(x.grad_fn).__name__, x.is_leaf, x._base is a, a.grad.tolist()
    want, got = _both(run)
    assert got[:3] == want[:3]
    assert got[3] == [2.0, 2.0, 2.0]


# Saved subclasses name their class: at module level, so that both libraries can pickle the name.
class SavedTorchT(torch.Tensor):
    pass


class SavedFlambeauT(flambeau.Tensor):
    pass


def test_save_and_load_keep_the_subclass_and_its_attributes(tmp_path):
    def run(lib):
        cls = SavedTorchT if lib is torch else SavedFlambeauT
        x = lib.arange(6.0).reshape(2, 3).as_subclass(cls)
        x.tag = "hello"
        g = lib.ones(2, requires_grad=True).as_subclass(cls)
        path = tmp_path / f"{lib.__name__}.pt"
        lib.save({"x": x, "both": [x, x[0]], "g": g, "plain": lib.zeros(1)}, path)
        results = []
        for kw in ({}, {"weights_only": False}):
            with lib.serialization.safe_globals([cls]):
                d = lib.load(path, **kw)
            results.append((type(d["x"]) is cls, d["x"].tag, d["x"].tolist(), d["both"][0] is d["x"],
                            type(d["both"][1]) is cls, getattr(d["both"][1], "tag", None),
                            d["g"].requires_grad, d["g"].is_leaf, type(d["plain"]).__name__))
        with pytest.raises(Exception, match="(?i)unsupported global|weights only load failed"):
            lib.load(path)  # the class is not trusted: refused, as PyTorch's weights_only load refuses it
        return results
    want, got = _both(run)
    assert got == want


def test_saving_a_local_subclass_instance_names_the_problem(tmp_path):
    class Local(flambeau.Tensor):
        pass
    with pytest.raises(TypeError, match="local Tensor subclass"):
        flambeau.save(flambeau.ones(2).as_subclass(Local), tmp_path / "x.pt")


def test_plain_tensors_carry_python_attributes_through_save_copy_and_pickle(tmp_path):
    import copy
    import pickle

    def run(lib):
        x = lib.arange(3.0)
        x.note = {"epoch": 3}
        path = tmp_path / f"attr_{lib.__name__}.pt"
        lib.save({"x": x}, path)
        loaded = lib.load(path)["x"]
        return (type(loaded).__name__, loaded.note, copy.deepcopy(x).note, pickle.loads(pickle.dumps(x)).note,
                hasattr(x + 1, "note"), hasattr(x.detach(), "note"))
    want, got = _both(run)
    assert got == want


def _subclass_parameter_scenario(lib):
    class Tagged(lib.Tensor):
        pass

    p = lib.nn.Parameter(lib.ones(2, 3).as_subclass(Tagged))
    m = lib.nn.Linear(3, 2)
    m.weight = p
    return [type(p).__name__, isinstance(p, lib.nn.Parameter), p.requires_grad, p.is_leaf,
            [n for n, _ in m.named_parameters()], m.weight is p, sorted(m.state_dict()),
            isinstance(lib.ones(2), lib.nn.Parameter), isinstance(Tagged(), lib.nn.Parameter),
            type(lib.nn.Parameter(lib.ones(2))).__name__, lib.nn.Parameter(p, requires_grad=False).requires_grad]


def test_parameter_of_a_subclass_keeps_the_subclass_like_pytorch():
    # (the same scenario on both libraries)
    assert _subclass_parameter_scenario(flambeau) == _subclass_parameter_scenario(torch)
