"""torch.compiler and torch._dynamo's script-facing API: PyTorch's eager semantics (nothing is being
compiled; decorators keep what runs and what it returns; config values read back; bad names fail)."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from dynamo_guard import keep_torch_distribution_validation  # noqa: F401  (autouse: PyTorch's dynamo turns it off)


def test_nothing_is_compiling():
    for name in ("is_compiling", "is_dynamo_compiling", "is_exporting"):
        assert getattr(flambeau.compiler, name)() is getattr(torch.compiler, name)() is False
    assert flambeau._dynamo.is_compiling() is False


def test_disable_function_and_module():
    def f(x, k=1):
        return x * 2 + k
    for lib in (torch, flambeau):
        g = lib.compiler.disable(f)
        h = lib.compiler.disable(recursive=False)(f)
        assert g(3, k=2) == h(3, k=2) == 8 and g.__wrapped__ is f and g.__name__ == "f"
    a = np.random.randn(3, 2).astype(np.float32)
    tm, fm = torch.nn.Linear(2, 4), flambeau.nn.Linear(2, 4)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    td, fd = torch.compiler.disable(tm), flambeau.compiler.disable(fm)
    assert list(fd.state_dict()) == list(td.state_dict())  # '_orig_mod.' prefix, as PyTorch's wrapper
    np.testing.assert_allclose(fd(flambeau.tensor(a)).detach().numpy(), td(torch.tensor(a)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_graph_hints_return_their_function():
    def fn(x):
        return x
    for lib in (torch, flambeau):
        assert lib.compiler.allow_in_graph(fn) is fn
        assert lib.compiler.allow_in_graph([fn]) == [fn]
        assert lib.compiler.assume_constant_result(fn) is fn and fn._dynamo_marked_constant
        with pytest.raises(AssertionError, match="callable"):
            lib.compiler.allow_in_graph(3)
        assert lib.compiler.reset() is None and lib.compiler.cudagraph_mark_step_begin() is None
        x = lib.ones(3)
        assert lib._dynamo.mark_dynamic(x, 0) is None and lib._dynamo.mark_static(x) is None
        assert lib._dynamo.reset() is None


def test_set_stance_call_context_decorator():
    state = flambeau.compiler._state
    with flambeau.compiler.set_stance("force_eager"):
        assert state["stance"] == "force_eager"
    assert state["stance"] == "default"

    @flambeau.compiler.set_stance("fail_on_recompile")
    def f():
        return state["stance"]
    assert state["stance"] == "default" and f() == "fail_on_recompile" and state["stance"] == "default"
    flambeau.compiler.set_stance("eager_on_recompile")
    assert state["stance"] == "eager_on_recompile"
    flambeau.compiler.set_stance()
    assert state["stance"] == "default"
    for lib in (torch, flambeau):
        with pytest.raises(RuntimeError, match="force_backend"):
            lib.compiler.set_stance("force_eager", force_backend="eager")
    with pytest.raises(RuntimeError, match="invalid torch.compile stance"):
        flambeau.compiler.set_stance("bogus")


def test_dynamo_config():
    for name in ("suppress_errors", "cache_size_limit", "recompile_limit", "capture_scalar_outputs",
                 "optimize_ddp", "automatic_dynamic_shapes", "compiled_autograd", "allow_rnn", "repro_level"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert getattr(flambeau._dynamo.config, name) == getattr(torch._dynamo.config, name), name
    cfg = flambeau._dynamo.config
    cfg.cache_size_limit = 64
    try:
        assert cfg.cache_size_limit == 64 and cfg.recompile_limit == 64  # PyTorch's alias
        with cfg.patch(cache_size_limit=3, suppress_errors=True):
            assert cfg.cache_size_limit == 3 and cfg.suppress_errors
        assert cfg.cache_size_limit == 64 and not cfg.suppress_errors
    finally:
        cfg.cache_size_limit = 8
    for lib in (torch, flambeau):
        with pytest.raises(AttributeError, match="does not exist"):
            lib._dynamo.config.no_such_option = 1
    import flambeau._dynamo.config as imported
    assert imported is cfg


def test_module_compile_in_place_keeps_calls_and_checks_arguments():
    rng = np.random.default_rng()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    fm = flambeau.nn.Linear(4, 2)
    before = fm(flambeau.tensor(x)).detach().numpy()
    assert fm.compile(mode="reduce-overhead") is None  # in place, as torch.nn.Module.compile
    np.testing.assert_array_equal(fm(flambeau.tensor(x)).detach().numpy(), before)
    assert isinstance(fm, flambeau.nn.Linear)
    with pytest.raises(RuntimeError, match="mode or options"):
        fm.compile(mode="max-autotune", options={"a": 1})
    tm = torch.nn.Linear(4, 2)
    with pytest.raises(RuntimeError, match="mode or options"):
        tm.compile(mode="max-autotune", options={"a": 1})
