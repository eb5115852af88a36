"""Small API behaviours practitioners rely on, against PyTorch: the warnings PyTorch gives (a
non-leaf's .grad, meshgrid without indexing=, copy-constructing from a tensor), searchsorted /
bucketize out_int32, the determinism flags read back, torch.version."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, rand_array


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w if issubclass(x.category, UserWarning)]


def _first_words(msgs, n=8):
    return [" ".join(m.split()[:n]) for m in msgs]


def test_non_leaf_grad_warns_like_pytorch():
    def access(lib):
        def run():
            x = lib.ones(2, requires_grad=True)
            y = x * 2
            (y ** 2).sum().backward()
            assert y.grad is None
        return run
    wt, wf = _warnings_of(access(torch)), _warnings_of(access(flambeau))
    assert len(wt) == len(wf) == 1
    assert _first_words(wf, 20) == _first_words(wt, 20)

    # no warning for leaves, retained non-leaves, or tensors outside autograd
    def quiet(lib):
        def run():
            x = lib.ones(2, requires_grad=True)
            y = x * 2
            y.retain_grad()
            (y ** 2).sum().backward()
            assert x.grad is not None and y.grad is not None
            assert lib.ones(2).grad is None
        return run
    assert _warnings_of(quiet(flambeau)) == _warnings_of(quiet(torch)) == []


def test_meshgrid_without_indexing_warns():
    for lib in (torch, flambeau):
        msgs = _warnings_of(lambda: lib.meshgrid(lib.arange(3), lib.arange(2)))
        assert any("indexing argument" in m for m in msgs)
        assert _warnings_of(lambda: lib.meshgrid(lib.arange(3), lib.arange(2), indexing="xy")) == []
    a, b = flambeau.meshgrid(flambeau.arange(3), flambeau.arange(2))
    assert tuple(a.shape) == (3, 2)


def test_copy_construct_warnings():
    for lib in (torch, flambeau):
        src = lib.ones(2, dtype=lib.float64)
        m1 = _warnings_of(lambda: lib.tensor(src))
        assert len(m1) == 1 and "rather than torch.tensor(sourceTensor)" in m1[0]
        m2 = _warnings_of(lambda: src.new_tensor(src))
        assert len(m2) == 1 and "rather than tensor.new_tensor(sourceTensor)" in m2[0]
    src = flambeau.ones(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = src.new_tensor(src, dtype=flambeau.float64)
    assert c.dtype == flambeau.float64 and not c.requires_grad and c.is_leaf


@pytest.mark.parametrize("out_int32", [False, True])
@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_bucketize_out_int32(out_int32, right):
    seq = np.sort(rand_array((7,)))
    vals = rand_array((3, 4))
    rt = torch.searchsorted(torch.from_numpy(seq), torch.from_numpy(vals), out_int32=out_int32, right=right)
    rf = flambeau.searchsorted(flambeau.from_numpy(seq), flambeau.from_numpy(vals), out_int32=out_int32, right=right)
    assert_close(rf, rt, atol=0, rtol=0)
    bt = torch.bucketize(torch.from_numpy(vals), torch.from_numpy(seq), out_int32=out_int32, right=right)
    bf = flambeau.bucketize(flambeau.from_numpy(vals), flambeau.from_numpy(seq), out_int32=out_int32, right=right)
    assert_close(bf, bt, atol=0, rtol=0)


def test_deterministic_flags_read_back():
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        for lib in (torch, flambeau):
            lib.use_deterministic_algorithms(False)
            assert lib.get_deterministic_debug_mode() == 0 and not lib.are_deterministic_algorithms_enabled()
            lib.use_deterministic_algorithms(True, warn_only=True)
            assert lib.are_deterministic_algorithms_enabled() and lib.is_deterministic_algorithms_warn_only_enabled()
            assert lib.get_deterministic_debug_mode() == 1
            lib.set_deterministic_debug_mode("error")
            assert lib.get_deterministic_debug_mode() == 2 and not lib.is_deterministic_algorithms_warn_only_enabled()
            lib.set_deterministic_debug_mode(0)
            assert not lib.are_deterministic_algorithms_enabled()
            with pytest.raises(RuntimeError):
                lib.set_deterministic_debug_mode("loud")
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        flambeau.use_deterministic_algorithms(False)


def test_version_module():
    assert flambeau.version.__version__ == flambeau.__version__
    # a CPU-only build reports no CUDA, as PyTorch's CPU wheels do; a CUDA build its "major.minor"
    if flambeau._C.cuda_is_built():
        major, minor = flambeau.version.cuda.split(".")
        assert major.isdigit() and minor.isdigit()
    else:
        assert flambeau.version.cuda is None
    assert flambeau.version.hip is None


def test_compile_returns_optimized_module_like_pytorch():
    """torch.compile(module): a wrapper whose _orig_mod is the module, with PyTorch's '_orig_mod.'
    state_dict prefix and the module's mode and attributes (calls are compared against the module
    itself). PyTorch's own torch.compile is not called here: importing its compiler changes global
    state (distributions' argument validation) that other tests rely on; the names below are what
    torch.compile(nn.Sequential(nn.Linear(2, 3), nn.ReLU())) gives in PyTorch 2.x."""
    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU())
    mf = build(flambeau)
    cf = flambeau.compile(mf)
    assert type(cf).__name__ == "OptimizedModule"
    assert cf._orig_mod is mf and isinstance(cf, flambeau.nn.Module)
    assert list(cf.state_dict()) == ["_orig_mod.0.weight", "_orig_mod.0.bias"]
    assert [k for k, _ in cf.named_parameters()] == ["_orig_mod.0.weight", "_orig_mod.0.bias"]
    assert cf.training and cf._orig_mod[0] is mf[0]
    cf.eval()
    assert not mf.training and not cf.training
    cf.train()
    assert mf.training
    x = flambeau.from_numpy(rand_array((4, 2)))
    assert_close(cf(x), mf(x), atol=0, rtol=0)
    sd = cf.state_dict()
    fresh = build(flambeau)
    fresh.load_state_dict({k.replace("_orig_mod.", ""): v for k, v in sd.items()})
    assert_close(fresh(x), mf(x), atol=0, rtol=0)
    fn = flambeau.compile(lambda t: t * 2)
    assert_close(fn(x), x * 2)
    deco = flambeau.compile(mode="reduce-overhead")(lambda t: t + 1)
    assert_close(deco(x), x + 1)
    with pytest.raises(RuntimeError, match="mode or options"):
        flambeau.compile(mf, mode="default", options={})


def test_random_module_and_fork_rng():
    for lib in (torch, flambeau):
        lib.random.manual_seed(5)
        assert lib.random.initial_seed() == 5 == lib.initial_seed()
        with lib.random.fork_rng():
            inside = lib.rand(3)
        after = lib.rand(3)
        assert bool((inside == after).all())  # the draws inside did not advance the stream
        s = lib.random.get_rng_state()
        a = lib.rand(2)
        lib.random.set_rng_state(s)
        assert bool((a == lib.rand(2)).all())
        with lib.random.fork_rng(enabled=False):
            lib.rand(1)
        assert isinstance(lib.random.default_generator, lib.Generator)


def test_T_on_non_matrices_warns_like_pytorch():
    """PyTorch warns once per process (TORCH_WARN_ONCE) for x.T on 0-D and on 3-D+ tensors, never on 1-D
    or 2-D; whether torch has already warned in this process depends on test order, so flambeau's counts
    are checked from a cleared state and the messages against torch's where torch gives one."""
    from flambeau import _tensor_methods
    _tensor_methods._T_WARNED.clear()
    for shape, n in [((2, 3), 0), ((2, 3, 4), 1), ((2, 3, 4), 0), ((3,), 0), ((), 1), ((), 0)]:
        wf = _warnings_of(lambda: flambeau.ones(shape).T)
        assert len(wf) == n
        wt = _warnings_of(lambda: torch.ones(shape).T)
        if wt and wf:
            assert _first_words(wf) == _first_words(wt)
        assert tuple(flambeau.ones(shape).T.shape) == tuple(torch.ones(shape).T.shape)
    with pytest.raises(RuntimeError, match="only supported on matrices"):
        flambeau.ones(2, 3, 4).H
    assert tuple(flambeau.ones(2, 3).H.shape) == (3, 2)


def test_scatter_reduce_argument_deprecation_warning():
    for lib in (torch, flambeau):
        w1 = _warnings_of(lambda: lib.zeros(3).scatter_(0, lib.tensor([0]), lib.ones(1), reduce="add"))
        w2 = _warnings_of(lambda: lib.zeros(3).scatter(0, lib.tensor([0]), 1.0, reduce="add"))
        assert len(w1) == 1 and "scatter_reduce" in w1[0] and w2 == []


def test_grad_fn_metadata_dict():
    for lib in (torch, flambeau):
        a = lib.ones(2, requires_grad=True)
        y = a.exp()
        assert y.grad_fn.metadata == {}
        y.grad_fn.metadata["tag"] = "exp"
        assert y.grad_fn.metadata["tag"] == "exp"
        assert y.grad_fn.next_functions[0][0].metadata == {}


def test_torch_functional_module_names():
    # `from torch.functional import einsum` and friends: the same functions as the top-level ones
    from flambeau.functional import einsum, meshgrid
    assert sorted(flambeau.functional.__all__) == sorted(torch.functional.__all__)
    assert einsum is flambeau.einsum and meshgrid is flambeau.meshgrid
    for name in flambeau.functional.__all__:
        assert getattr(flambeau.functional, name) is getattr(flambeau, name)
    a, b = flambeau.randn(2, 3), flambeau.randn(3, 4)
    np.testing.assert_allclose(flambeau.functional.einsum("ij,jk->ik", a, b).numpy(), (a @ b).numpy(), rtol=1e-6)
    assert flambeau.DisableTorchFunctionSubclass is flambeau._C.DisableTorchFunctionSubclass
