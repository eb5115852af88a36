"""nn.utils reparametrisations against PyTorch: weight_norm / spectral_norm (hook-based and
parametrization-based), nn.utils.parametrize, conv/linear + BatchNorm fusion, skip_init and
functional_call (nn.utils.stateless and flambeau.func)."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrize  # noqa: F401
import torch.nn.utils.parametrizations  # noqa: F401

import flambeau
from flambeau import nn
from flambeau.nn.utils import parametrize
from nn_helpers import assert_close, t2f, to_np

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def twin(kind, dtype="float32"):
    """The same layer in torch and flambeau, with identical weights drawn from numpy."""
    if kind == "linear":
        tm, fm = torch.nn.Linear(5, 4), nn.Linear(5, 4)
        x = np.random.randn(3, 5)
    elif kind == "conv":
        tm, fm = torch.nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
        x = np.random.randn(2, 3, 5, 6)
    elif kind == "convT":
        tm, fm = torch.nn.ConvTranspose2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3)
        x = np.random.randn(2, 3, 4, 5)
    else:
        raise ValueError(kind)
    npd = np.float32 if dtype == "float32" else np.float64
    if dtype == "float64":
        tm.double()
        fm.double()
    state = {k: np.random.randn(*v.shape).astype(npd) for k, v in tm.state_dict().items()}
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    fm.load_state_dict({k: t2f(v) for k, v in state.items()})
    return tm, fm, x.astype(npd)


def run_both(tm, fm, x, dtype="float32", backward=True):
    """Forward both on x; compare outputs; backward the same upstream gradient; compare input grads.
    Returns nothing: the parameter gradients stay on the modules."""
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    fx = t2f(x, requires_grad=True)
    to, fo = tm(tx), fm(fx)
    assert_close(fo, to, dtype, "output")
    if backward:
        g = np.random.randn(*to.shape).astype(x.dtype)
        (to * torch.from_numpy(g)).sum().backward()
        (fo * t2f(g)).sum().backward()
        assert_close(fx.grad, tx.grad, dtype, "input grad")


def assert_state_dicts_equal(fm, tm, dtype="float32"):
    fsd, tsd = fm.state_dict(), tm.state_dict()
    assert list(fsd.keys()) == list(tsd.keys())
    for k in tsd:
        assert_close(fsd[k], tsd[k], dtype, k)


def assert_param_grads_equal(fm, tm, dtype="float32"):
    fparams, tparams = dict(fm.named_parameters()), dict(tm.named_parameters())
    assert list(fparams) == list(tparams)
    for k, tp in tparams.items():
        assert_close(fparams[k].grad, tp.grad, dtype, k + ".grad")


# ---------------------------------------------------------------------------- hook-based weight_norm
@pytest.mark.parametrize("kind,dim", [("linear", 0), ("linear", 1), ("linear", None), ("conv", 0),
                                      ("conv", 2), ("conv", -1), ("conv", None), ("convT", 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weight_norm_matches_pytorch(kind, dim, dtype):
    tm, fm, x = twin(kind, dtype)
    torch.nn.utils.weight_norm(tm, dim=dim)
    nn.utils.weight_norm(fm, dim=dim)
    assert_state_dicts_equal(fm, tm, dtype)
    assert "weight" not in fm._parameters and isinstance(fm.weight_g, nn.Parameter)
    assert tuple(fm.weight_g.shape) == tuple(tm.weight_g.shape)
    for _ in range(2):
        fm.zero_grad()
        tm.zero_grad()
        run_both(tm, fm, x, dtype)
        assert_param_grads_equal(fm, tm, dtype)
    # remove: a plain parameter holding g * v / ||v||
    torch.nn.utils.remove_weight_norm(tm)
    nn.utils.remove_weight_norm(fm)
    assert isinstance(fm.weight, nn.Parameter) and fm.weight.requires_grad
    assert not fm._forward_pre_hooks
    assert_state_dicts_equal(fm, tm, dtype)
    run_both(tm, fm, x, dtype, backward=False)


def test_weight_norm_errors():
    m = nn.utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        nn.utils.weight_norm(m)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(m, "bias")
    with pytest.raises(AttributeError):
        nn.utils.weight_norm(nn.Linear(3, 2), name="nope")
    lin = nn.Linear(3, 2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.weight_norm(lin, dim=4)
    assert "weight" in lin._parameters  # the module is unchanged after the error


def test_weight_norm_zero_dim_and_the_module_trains():
    m = nn.utils.weight_norm(nn.Linear(3, 2))
    opt = flambeau.optim.SGD(m.parameters(), lr=0.1)
    x = flambeau.randn(4, 3)
    before = to_np(m(x))
    m(x).pow(2).sum().backward()
    opt.step()
    assert not np.allclose(to_np(m(x)), before)  # the pre-hook recomputes the weight from g and v


# ---------------------------------------------------------------------------- hook-based spectral_norm
@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_matches_pytorch(kind, n_iter):
    dtype = "float64"
    tm, fm, x = twin(kind, dtype)
    torch.nn.utils.spectral_norm(tm, n_power_iterations=n_iter)
    nn.utils.spectral_norm(fm, n_power_iterations=n_iter)
    assert list(fm.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert list(fm.state_dict()) == list(tm.state_dict())
    # the random initial u, v differ: start ours from PyTorch's
    with flambeau.no_grad():
        fm.weight_u.copy_(t2f(tm.weight_u))
        fm.weight_v.copy_(t2f(tm.weight_v))
    u_buffer = fm.weight_u
    for _ in range(3):  # training mode: each forward runs the power iteration
        fm.zero_grad()
        tm.zero_grad()
        run_both(tm, fm, x, dtype)
        assert_close(fm.weight_u, tm.weight_u, dtype, "u")
        assert_close(fm.weight_v, tm.weight_v, dtype, "v")
        assert_param_grads_equal(fm, tm, dtype)
    assert fm.weight_u is u_buffer  # updated in place
    assert_state_dicts_equal(fm, tm, dtype)

    # eval: u and v are left alone
    tm.eval()
    fm.eval()
    u0 = to_np(fm.weight_u).copy()
    for _ in range(2):
        run_both(tm, fm, x, dtype)
    np.testing.assert_array_equal(to_np(fm.weight_u), u0)
    assert_close(fm.weight_u, tm.weight_u, dtype)

    torch.nn.utils.remove_spectral_norm(tm)
    nn.utils.remove_spectral_norm(fm)
    assert isinstance(fm.weight, nn.Parameter)
    assert not fm._forward_pre_hooks and not fm._state_dict_hooks and not fm._load_state_dict_pre_hooks
    assert_state_dicts_equal(fm, tm, dtype)


def test_spectral_norm_normalises_and_round_trips_state_dict():
    m = nn.utils.spectral_norm(nn.Linear(6, 5), n_power_iterations=1)
    for _ in range(30):
        m(flambeau.randn(2, 6))
    s = np.linalg.svd(to_np(m.weight), compute_uv=False)
    assert abs(s[0] - 1.0) < 1e-3
    sd = m.state_dict()
    assert sd._metadata[""]["spectral_norm"] == {"weight.version": 1}
    m2 = nn.utils.spectral_norm(nn.Linear(6, 5))
    m2.load_state_dict(sd)
    m.eval()
    m2.eval()
    x = flambeau.randn(3, 6)
    assert_close(m2(x), m(x))


def test_spectral_norm_loads_a_version0_state_dict_like_pytorch():
    tm, fm, x = twin("linear", "float64")
    torch.nn.utils.spectral_norm(tm)
    nn.utils.spectral_norm(fm)
    tm(torch.from_numpy(x))
    # a version-0 checkpoint: `weight` saved, `weight_v` not
    old = {"bias": tm.bias.detach(), "weight_orig": tm.weight_orig.detach(),
           "weight_u": tm.weight_u.detach(), "weight": tm.weight.detach()}
    tm2 = torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4).double())
    fm2 = nn.utils.spectral_norm(nn.Linear(5, 4).double())
    tm2.load_state_dict(dict(old))
    fm2.load_state_dict({k: t2f(v) for k, v in old.items()})
    assert_close(fm2.weight_v, tm2.weight_v, "float64", atol=1e-8, rtol=1e-6)


def test_spectral_norm_errors():
    m = nn.utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        nn.utils.spectral_norm(m)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        nn.utils.remove_spectral_norm(m, "bias")
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="cannot be applied as parameter `bias` is None"):
        nn.utils.spectral_norm(nn.Linear(3, 2, bias=False), name="bias")
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.spectral_norm(nn.Linear(3, 2), dim=2)


# ---------------------------------------------------------------------------- parametrizations.*
@pytest.mark.parametrize("kind,dim", [("linear", 0), ("linear", None), ("conv", 0), ("conv", 1)])
def test_parametrizations_weight_norm_matches_pytorch(kind, dim):
    dtype = "float64"
    tm, fm, x = twin(kind, dtype)
    torch.nn.utils.parametrizations.weight_norm(tm, dim=dim)
    nn.utils.parametrizations.weight_norm(fm, dim=dim)
    assert type(fm).__name__ == type(tm).__name__  # ParametrizedLinear / ParametrizedConv2d
    assert parametrize.type_before_parametrizations(fm) in (nn.Linear, nn.Conv2d)
    assert_state_dicts_equal(fm, tm, dtype)
    assert "parametrizations.weight.original0" in fm.state_dict()
    assert_close(fm.weight, tm.weight, dtype)
    run_both(tm, fm, x, dtype)
    assert_param_grads_equal(fm, tm, dtype)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    parametrize.remove_parametrizations(fm, "weight")
    assert type(fm) in (nn.Linear, nn.Conv2d) and not hasattr(fm, "parametrizations")
    assert isinstance(fm.weight, nn.Parameter)
    assert_state_dicts_equal(fm, tm, dtype)


def test_parametrizations_weight_norm_loads_old_state_dict():
    tm, fm, x = twin("linear", "float64")
    torch.nn.utils.weight_norm(tm)
    old = {k: t2f(v) for k, v in tm.state_dict().items()}  # bias, weight_g, weight_v
    new = nn.utils.parametrizations.weight_norm(nn.Linear(5, 4).double())
    new.load_state_dict(old)
    assert_close(new(t2f(x)), tm(torch.from_numpy(x)), "float64")
    # nested: the compat hook sees the prefixed keys
    seq = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(5, 4).double()))
    seq.load_state_dict({"0." + k: v for k, v in old.items()})
    assert_close(seq(t2f(x)), tm(torch.from_numpy(x)), "float64")


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
def test_parametrizations_spectral_norm_matches_pytorch(kind):
    dtype = "float64"
    tm, fm, x = twin(kind, dtype)
    torch.nn.utils.parametrizations.spectral_norm(tm, n_power_iterations=2)
    nn.utils.parametrizations.spectral_norm(fm, n_power_iterations=2)
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert "parametrizations.weight.0._u" in fm.state_dict()
    fsn, tsn = fm.parametrizations.weight[0], tm.parametrizations.weight[0]
    with flambeau.no_grad():
        fsn._u.copy_(t2f(tsn._u))
        fsn._v.copy_(t2f(tsn._v))
    for _ in range(3):  # every access of .weight in training mode is a power-iteration step
        fm.zero_grad()
        tm.zero_grad()
        run_both(tm, fm, x, dtype)
        assert_close(fsn._u, tsn._u, dtype, "u")
        assert_close(fsn._v, tsn._v, dtype, "v")
        assert_param_grads_equal(fm, tm, dtype)
    assert_state_dicts_equal(fm, tm, dtype)
    tm.eval()
    fm.eval()
    u0 = to_np(fsn._u).copy()
    run_both(tm, fm, x, dtype)
    np.testing.assert_array_equal(to_np(fsn._u), u0)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    parametrize.remove_parametrizations(fm, "weight")
    assert_state_dicts_equal(fm, tm, dtype)


def test_parametrizations_spectral_norm_1d_and_errors():
    m = nn.Linear(3, 4)
    nn.utils.parametrizations.spectral_norm(m, name="bias")
    assert abs(float(m.bias.norm()) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="no parameter or buffer with name 'nope'"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 4), name="nope")
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 4), dim=3)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 4), n_power_iterations=-1)
    with pytest.raises(ValueError, match="no parameter or buffer"):
        nn.utils.parametrizations.weight_norm(nn.Linear(3, 4, bias=False), name="bias")


# ---------------------------------------------------------------------------- user parametrizations
def make_symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()

    return Symmetric()


def make_scale(lib, s):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * s

        def right_inverse(self, A):
            return A / s

    return Scale()


def sym_twins():
    tm, fm = torch.nn.Linear(4, 4).double(), nn.Linear(4, 4).double()
    w = np.random.randn(4, 4)
    b = np.random.randn(4)
    tm.load_state_dict({"weight": torch.from_numpy(w.copy()), "bias": torch.from_numpy(b.copy())})
    fm.load_state_dict({"weight": t2f(w), "bias": t2f(b)})
    return tm, fm, np.random.randn(3, 4)


def test_register_parametrization_symmetric_matches_pytorch():
    tm, fm, x = sym_twins()
    orig_param = fm.weight
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", make_symmetric(torch))
    parametrize.register_parametrization(fm, "weight", make_symmetric(flambeau))
    assert parametrize.is_parametrized(fm) and parametrize.is_parametrized(fm, "weight")
    assert not parametrize.is_parametrized(fm, "bias")
    assert type(fm).__name__ == "ParametrizedLinear" and isinstance(fm, nn.Linear)
    assert parametrize.type_before_parametrizations(fm) is nn.Linear
    assert fm.parametrizations.weight.original is orig_param  # identity kept (optimizers hold it)
    w = to_np(fm.weight)
    np.testing.assert_allclose(w, w.T)
    assert_state_dicts_equal(fm, tm, "float64")
    assert list(fm.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    run_both(tm, fm, x, "float64")
    assert_param_grads_equal(fm, tm, "float64")

    # assigning the tensor runs right_inverse
    s = np.random.randn(4, 4)
    s = s + s.T
    with torch.no_grad():
        tm.weight = torch.from_numpy(s.copy())
    fm.weight = t2f(s)
    assert_close(fm.parametrizations.weight.original, np.triu(s), "float64")
    assert_close(fm.weight, s, "float64")
    assert_state_dicts_equal(fm, tm, "float64")

    # a second parametrization chains after the first
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", make_scale(torch, 2.0))
    parametrize.register_parametrization(fm, "weight", make_scale(flambeau, 2.0))
    assert len(fm.parametrizations.weight) == 2
    assert_close(fm.weight, tm.weight, "float64")
    assert_state_dicts_equal(fm, tm, "float64")
    fm.zero_grad()
    tm.zero_grad()
    run_both(tm, fm, x, "float64")
    assert_param_grads_equal(fm, tm, "float64")

    # load_state_dict round trip
    fm2 = nn.Linear(4, 4).double()
    parametrize.register_parametrization(fm2, "weight", make_symmetric(flambeau))
    parametrize.register_parametrization(fm2, "weight", make_scale(flambeau, 2.0))
    fm2.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    assert_close(fm2(t2f(x)), tm(torch.from_numpy(x)), "float64")


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations_matches_pytorch(leave):
    tm, fm, x = sym_twins()
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", make_symmetric(torch))
    parametrize.register_parametrization(fm, "weight", make_symmetric(flambeau))
    original = fm.parametrizations.weight.original
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight", leave_parametrized=leave)
    parametrize.remove_parametrizations(fm, "weight", leave_parametrized=leave)
    assert type(fm) is nn.Linear and not hasattr(fm, "parametrizations")
    assert "weight" not in type(fm).__dict__
    assert fm.weight is original and isinstance(fm.weight, nn.Parameter)
    assert_state_dicts_equal(fm, tm, "float64")
    run_both(tm, fm, x, "float64")


def test_parametrize_two_tensors_and_buffers():
    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", make_symmetric(flambeau))
    parametrize.register_parametrization(m, "bias", make_scale(flambeau, 3.0))
    b = to_np(m.parametrizations.bias.original)
    assert_close(m.bias, b * 3.0)
    parametrize.remove_parametrizations(m, "weight")
    assert parametrize.is_parametrized(m) and type(m).__name__ == "ParametrizedLinear"
    parametrize.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear
    # a buffer can be parametrized too, and stays a buffer
    bn = nn.BatchNorm1d(3)
    parametrize.register_parametrization(bn, "running_var", make_scale(flambeau, 2.0))
    assert "parametrizations.running_var.original" in bn.state_dict()
    assert_close(bn.running_var, np.full(3, 1.0, np.float32))
    parametrize.remove_parametrizations(bn, "running_var")
    assert "running_var" in bn._buffers


def test_parametrize_cached():
    m = nn.Linear(4, 4)
    calls = []

    class Counting(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 2

    parametrize.register_parametrization(m, "weight", Counting())
    calls.clear()
    assert m.weight is not m.weight
    assert len(calls) == 2
    calls.clear()
    with parametrize.cached():
        w1 = m.weight
        with parametrize.cached():  # nested contexts share the cache
            assert m.weight is w1
        assert m.weight is w1
        y = m(flambeau.randn(2, 4)) + m(flambeau.randn(2, 4))
    assert len(calls) == 1
    assert m.weight is not w1  # the cache is cleared on exit
    y.sum().backward()
    assert m.parametrizations.weight.original.grad is not None


def test_parametrize_right_inverse_sequence_and_unsafe():
    class SplitSum(nn.Module):  # weight = a + b, stored as two tensors
        def forward(self, a, b):
            return a + b

        def right_inverse(self, w):
            return w * 0.25, w * 0.75

    m = nn.Linear(3, 2)
    w = to_np(m.weight).copy()
    parametrize.register_parametrization(m, "weight", SplitSum())
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0",
                                    "parametrizations.weight.original1"]
    assert_close(m.weight, w)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(m, "weight")
    assert isinstance(m.weight, nn.Parameter)
    assert_close(m.weight, w)

    class Flatten(nn.Module):
        def forward(self, X):
            return X.reshape(-1)

    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(m, "weight", Flatten())
    assert "weight" in m._parameters and type(m) is nn.Linear  # nothing changed
    parametrize.register_parametrization(m, "weight", Flatten(), unsafe=True)
    assert tuple(m.weight.shape) == (6,)


def test_parametrize_errors():
    m = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized"):
        parametrize.register_parametrization(m, "nope", make_symmetric(flambeau))
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(m, "weight")

    class NoInverse(nn.Module):
        def forward(self, X):
            return X + 1

    parametrize.register_parametrization(m, "weight", NoInverse())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m.weight = flambeau.zeros(3, 3)

    class ToDouble(nn.Module):
        def forward(self, X):
            return X.double()

    with pytest.raises(ValueError, match="may not change the dtype"):
        parametrize.register_parametrization(m, "weight", ToDouble())


def test_parametrized_module_deepcopy_and_to():
    m = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
    m2 = copy.deepcopy(m)
    assert type(m2) is type(m)
    assert m2.parametrizations.weight.original0 is not m.parametrizations.weight.original0
    x = flambeau.randn(4, 3)
    assert_close(m2(x), m(x))
    m.double()
    assert m.weight.dtype == flambeau.float64


# ---------------------------------------------------------------------------- fusion
def bn_with_stats(tbn, fbn, c):
    state = {"weight": np.random.randn(c), "bias": np.random.randn(c),
             "running_mean": np.random.randn(c), "running_var": np.random.uniform(0.5, 2.0, c)}
    state = {k: v.astype(np.float32) for k, v in state.items()}
    tbn.load_state_dict({**{k: torch.from_numpy(v.copy()) for k, v in state.items()},
                         "num_batches_tracked": torch.tensor(0)}, strict=False)
    fbn.load_state_dict({k: t2f(v) for k, v in state.items()}, strict=False)
    tbn.eval()
    fbn.eval()


@pytest.mark.parametrize("kind,bias", [("conv", True), ("conv", False), ("convT", True)])
def test_fuse_conv_bn_eval_matches_unfused(kind, bias):
    tconv, fconv, x = twin(kind)
    if not bias:
        tconv.bias, fconv.bias = None, None
    tbn, fbn = torch.nn.BatchNorm2d(4), nn.BatchNorm2d(4)
    bn_with_stats(tbn, fbn, 4)
    tconv.eval()
    fconv.eval()
    transpose = kind == "convT"
    fused = nn.utils.fuse_conv_bn_eval(fconv, fbn, transpose=transpose)
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn, transpose=transpose)
    assert fused is not fconv and type(fused) is type(fconv)
    assert isinstance(fused.weight, nn.Parameter) and isinstance(fused.bias, nn.Parameter)
    assert fused.bias.requires_grad == tfused.bias.requires_grad
    assert_state_dicts_equal(fused, tfused)
    fx = t2f(x)
    assert_close(fused(fx), fbn(fconv(fx)), atol=1e-4, rtol=1e-4)
    assert_close(fused(fx), tbn(tconv(torch.from_numpy(x))), atol=1e-4, rtol=1e-4)
    w, b = nn.utils.fusion.fuse_conv_bn_weights(fconv.weight, fconv.bias, fbn.running_mean,
                                                fbn.running_var, fbn.eps, fbn.weight, fbn.bias, transpose)
    assert_close(w, fused.weight)
    assert_close(b, fused.bias)


def test_fuse_linear_bn_eval_matches_unfused():
    tl, fl, x = twin("linear")
    tbn, fbn = torch.nn.BatchNorm1d(4), nn.BatchNorm1d(4)
    bn_with_stats(tbn, fbn, 4)
    tl.eval()
    fl.eval()
    fused = nn.utils.fuse_linear_bn_eval(fl, fbn)
    tfused = torch.nn.utils.fuse_linear_bn_eval(tl, tbn)
    assert_state_dicts_equal(fused, tfused)
    fx = t2f(x)
    assert_close(fused(fx), fbn(fl(fx)), atol=1e-4, rtol=1e-4)
    w, b = nn.utils.fuse_linear_bn_weights(fl.weight, None, fbn.running_mean, fbn.running_var,
                                           fbn.eps, fbn.weight, fbn.bias)
    tw, tb = torch.nn.utils.fuse_linear_bn_weights(tl.weight, None, tbn.running_mean, tbn.running_var,
                                                   tbn.eps, tbn.weight, tbn.bias)
    assert_close(w, tw)
    assert_close(b, tb)
    assert b.requires_grad == tb.requires_grad


def test_fusion_errors():
    conv, bn = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        nn.utils.fuse_conv_bn_eval(conv, bn)
    lin, bn5 = nn.Linear(2, 3).eval(), nn.BatchNorm1d(5).eval()
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        nn.utils.fuse_linear_bn_eval(lin, bn5)
    nostats = nn.BatchNorm2d(3, track_running_stats=False).eval()
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        nn.utils.fuse_conv_bn_eval(conv.eval(), nostats)


# ---------------------------------------------------------------------------- skip_init
def test_skip_init():
    state = flambeau.get_rng_state()
    m = nn.utils.skip_init(nn.Linear, 5, 3, bias=True, dtype=flambeau.float64)
    assert type(m) is nn.Linear and tuple(m.weight.shape) == (3, 5) and tuple(m.bias.shape) == (3,)
    assert m.weight.dtype == flambeau.float64 and isinstance(m.weight, nn.Parameter)
    assert m.weight.device.type == "cpu"
    np.testing.assert_array_equal(to_np(flambeau.get_rng_state()), to_np(state))  # no RNG used
    c = nn.utils.skip_init(nn.Conv2d, 2, 4, 3, device="cpu")
    assert tuple(c.weight.shape) == (4, 2, 3, 3)
    # the initialisers work again afterwards
    w = nn.Linear(5, 3).weight
    assert float(w.abs().sum()) > 0 and float(w.abs().max()) <= 1 / np.sqrt(5) + 1e-6

    class NoDevice(nn.Module):
        def __init__(self, n):
            super().__init__()

    with pytest.raises(RuntimeError, match="must support a 'device' arg"):
        nn.utils.skip_init(NoDevice, 3)
    with pytest.raises(RuntimeError, match="Expected a Module"):
        nn.utils.skip_init(int, 3)


# ---------------------------------------------------------------------------- functional_call
class Net:
    @staticmethod
    def make(lib):
        return lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.BatchNorm1d(5), lib.nn.Tanh(),
                                 lib.nn.Linear(5, 2))


def net_twins():
    tm, fm = Net.make(torch), Net.make(flambeau)
    fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
    return tm, fm


@pytest.mark.parametrize("api", ["func", "stateless"])
def test_functional_call_gradients_match_pytorch(api):
    tm, fm = net_twins()
    names = ["0.weight", "0.bias", "3.weight", "1.running_mean"]
    vals = {n: np.random.randn(*tm.get_parameter(n).shape if "running" not in n else (5,)) for n in names}
    vals = {k: v.astype(np.float32) for k, v in vals.items()}
    tp = {k: torch.from_numpy(v.copy()).requires_grad_("running" not in k) for k, v in vals.items()}
    fp = {k: t2f(v, requires_grad="running" not in k) for k, v in vals.items()}
    x = np.random.randn(6, 4).astype(np.float32)
    tm.eval()
    fm.eval()
    fw0 = to_np(fm[0].weight).copy()
    f_call = flambeau.func.functional_call if api == "func" else nn.utils.stateless.functional_call
    to = torch.func.functional_call(tm, tp, (torch.from_numpy(x),))
    fo = f_call(fm, fp, (t2f(x),))
    assert_close(fo, to)
    to.pow(2).sum().backward()
    fo.pow(2).sum().backward()
    for k in names:
        if "running" not in k:
            assert_close(fp[k].grad, tp[k].grad, msg=k)
    # the module's own tensors are back, untouched and without gradients
    assert isinstance(fm[0].weight, nn.Parameter)
    np.testing.assert_array_equal(to_np(fm[0].weight), fw0)
    assert fm[0].weight.grad is None and fm[3].bias.grad is not None  # not replaced: used as usual
    assert_close(fm(t2f(x)), tm(torch.from_numpy(x)))


def test_functional_call_kwargs_single_arg_and_buffer_updates():
    tm, fm = net_twins()
    rm = t2f(np.zeros(5, np.float32))
    x = t2f(np.random.randn(6, 4).astype(np.float32))
    fm.train()
    running_before = to_np(fm[1].running_mean).copy()
    flambeau.func.functional_call(fm, {"1.running_mean": rm}, x)  # a single argument, not a tuple
    assert float(rm.abs().sum()) > 0  # the training forward updated the given buffer in place
    np.testing.assert_array_equal(to_np(fm[1].running_mean), running_before)

    class KW(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(flambeau.ones(3))

        def forward(self, x, scale=1.0):
            return self.w * x * scale

    out = flambeau.func.functional_call(KW(), ({"w": flambeau.full((3,), 2.0)},), (flambeau.ones(3),),
                                        {"scale": 3.0})
    assert_close(out, np.full(3, 6.0, np.float32))


def test_functional_call_tied_weights_and_strict():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3, bias=False)
            self.b = nn.Linear(3, 3, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    w = flambeau.eye(3) * 2
    x = flambeau.ones(1, 3)
    assert_close(flambeau.func.functional_call(m, {"a.weight": w}, (x,)), np.full((1, 3), 4.0))
    out = flambeau.func.functional_call(m, {"a.weight": w}, (x,), tie_weights=False)
    expect = to_np(x @ w.t() @ m.b.weight.t())
    assert_close(out, expect)
    with pytest.raises(ValueError, match="which are tied"):
        flambeau.func.functional_call(m, {"a.weight": w, "b.weight": w * 3}, (x,))
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): 'b.weight'"):
        flambeau.func.functional_call(m, {"a.weight": w}, (x,), tie_weights=False, strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'c'"):
        flambeau.func.functional_call(m, {"a.weight": w, "c": w}, (x,), strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        flambeau.func.functional_call(m, ({"a.weight": w}, {"a.weight": w}), (x,))
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict"):
        flambeau.func.functional_call(m, 3, (x,))
    with pytest.raises(AttributeError, match="has no attribute `zz`"):
        flambeau.func.functional_call(m, {"zz.weight": w}, (x,))
    assert m.a.weight is m.b.weight and isinstance(m.a.weight, nn.Parameter)


def test_functional_call_restores_on_error_and_parametrized():
    m = nn.Linear(3, 2)
    orig = m.weight

    def boom(*args):
        raise KeyError("boom")

    m.register_forward_pre_hook(boom)
    with pytest.raises(KeyError, match="boom"):
        flambeau.func.functional_call(m, {"weight": flambeau.zeros(2, 3)}, (flambeau.ones(1, 3),))
    assert m.weight is orig
    with pytest.warns(FutureWarning, match="torch.func.functional_call"):
        nn.utils.stateless.functional_call(nn.Linear(2, 2), {}, (flambeau.ones(1, 2),))
    # a parametrized module takes values for its originals
    p = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
    g = flambeau.ones(2, 1, requires_grad=True)
    out = flambeau.func.functional_call(p, {"parametrizations.weight.original0": g}, flambeau.ones(1, 3))
    out.sum().backward()
    assert g.grad is not None and tuple(g.grad.shape) == (2, 1)
