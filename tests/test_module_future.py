"""flambeau.__future__'s two switches (overwrite / swap module params on conversion) and Tensor.module_load,
each scenario run on flambeau and on PyTorch and the observations compared."""
import pytest
import torch

import flambeau


@pytest.fixture(autouse=True)
def _reset_switches():
    yield
    for lib in (flambeau, torch):
        lib.__future__.set_overwrite_module_params_on_conversion(False)
        lib.__future__.set_swap_module_params_on_conversion(False)


def _convert_scenario(lib, overwrite, swap):
    lib.__future__.set_overwrite_module_params_on_conversion(overwrite)
    lib.__future__.set_swap_module_params_on_conversion(swap)
    m = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.BatchNorm1d(2))
    opt = lib.optim.SGD(m.parameters(), lr=0.5)
    m(lib.ones(4, 3)).square().sum().backward()
    w, g = m[0].weight, m[0].weight.grad
    m.double()
    seen = [m[0].weight is w, m[0].weight.grad is g, str(m[0].weight.dtype), str(m[0].weight.grad.dtype),
            str(w.dtype), type(m[0].weight).__name__, m[0].weight.requires_grad, str(m[1].running_mean.dtype),
            m[0].weight.is_leaf]
    opt.zero_grad()
    seen.append(opt.param_groups[0]["params"][0] is m[0].weight)
    return [str(v).replace("flambeau.", "torch.") for v in seen]


@pytest.mark.parametrize("overwrite,swap", [(False, False), (True, False), (False, True), (True, True)])
def test_conversion_matches_pytorch(overwrite, swap):
    assert _convert_scenario(flambeau, overwrite, swap) == _convert_scenario(torch, overwrite, swap)


def _load_scenario(lib, swap, assign):
    lib.__future__.set_swap_module_params_on_conversion(swap)
    m = lib.nn.Linear(3, 2)
    w, b = m.weight, m.bias
    src = {"weight": lib.full((2, 3), 2.0), "bias": lib.arange(2.0)}
    m.load_state_dict(src, assign=assign)
    return [m.weight is w, m.bias is b, float(m.weight.sum()), float(m.bias.sum()), type(m.weight).__name__,
            m.weight.requires_grad, m.weight.data_ptr() == src["weight"].data_ptr(),
            src["weight"].requires_grad]


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("assign", [False, True])
def test_load_state_dict_matches_pytorch(swap, assign):
    assert _load_scenario(flambeau, swap, assign) == _load_scenario(torch, swap, assign)


def _subclass_scenario(lib):
    """A subclass says through module_load how a checkpoint's plain tensor becomes one of its own."""
    class Scaled(lib.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is lib.Tensor.module_load:
                self, other = args
                return (other * 10).as_subclass(cls).detach()
            return super().__torch_function__(func, types, args, kwargs)

    lib.__future__.set_swap_module_params_on_conversion(True)
    m = lib.nn.Linear(2, 2, bias=False)
    m.weight = lib.nn.Parameter(lib.zeros(2, 2).as_subclass(Scaled))
    p = m.weight
    m.load_state_dict({"weight": lib.ones(2, 2)})
    return [m.weight is p, float(m.weight.sum()), isinstance(m.weight, lib.nn.Parameter)]


def test_module_load_override_matches_pytorch():
    assert _subclass_scenario(flambeau) == _subclass_scenario(torch)


def test_module_load_returning_an_input_is_refused():
    class Lazy(flambeau.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func is flambeau.Tensor.module_load:
                return args[1]  # the checkpoint's tensor itself: the swap would hand it to the module
            return super().__torch_function__(func, types, args, kwargs or {})

    flambeau.__future__.set_swap_module_params_on_conversion(True)
    m = flambeau.nn.Linear(2, 2, bias=False)
    m.weight = flambeau.nn.Parameter(flambeau.zeros(2, 2).as_subclass(Lazy))
    with pytest.raises(RuntimeError, match="module_load returned one of self or other"):
        m.load_state_dict({"weight": flambeau.ones(2, 2)})


def test_module_load_default():
    a, b = flambeau.zeros(3, requires_grad=True), flambeau.arange(3.0)
    with flambeau.no_grad():
        r = a.module_load(b)
    assert r is not a and r.data_ptr() == a.data_ptr() and r.tolist() == [0.0, 1.0, 2.0] and not r.requires_grad
    r = a.module_load(b, assign=True)
    assert r is not b and r.data_ptr() == b.data_ptr()


def test_swap_keeps_weakref_free_params_and_reports_failures():
    import weakref
    flambeau.__future__.set_swap_module_params_on_conversion(True)
    m = flambeau.nn.Linear(2, 2)
    keep = weakref.ref(m.weight)  # noqa: F841  (a weak reference: swap_tensors refuses, as PyTorch's does)
    with pytest.raises(RuntimeError, match=r"_apply\(\): Couldn't swap Linear.weight"):
        m.double()
