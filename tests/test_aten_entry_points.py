"""Top-level ATen entry points (flambeau/_aten_entry_points.py) against PyTorch CPU: torch.convolution,
grid_sampler(_2d/_3d), affine_grid_generator, batch_norm_update_stats, norm_except_dim/_weight_norm,
embedding_renorm_, gcd_/lcm_, from_file, the sym_* helpers."""
import math

import numpy as np
import pytest
import torch

import flambeau
from flambeau.autograd import gradcheck


def _pair(rng, *shape, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    return flambeau.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


CONV_CASES = [  # weight shape, stride, padding, dilation, transposed, output_padding, groups
    ((4, 3, 3), [2], [1], [1], False, [0], 1),
    ((6, 2, 3, 2), [1, 2], [1, 0], [2, 1], False, [0, 0], 2),
    ((4, 3, 2, 3, 2), [1, 1, 2], [0, 1, 1], [1, 1, 1], False, [0, 0, 0], 1),
    ((3, 2, 3, 3), [2, 2], [1, 1], [1, 1], True, [1, 0], 1),
    ((4, 2, 3), [3], [1], [2], True, [2], 2),
    ((3, 2, 2, 2, 3), [2, 1, 2], [0, 1, 1], [1, 1, 1], True, [1, 0, 1], 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_convolution_matches_pytorch(case, with_bias):
    wshape, stride, padding, dilation, transposed, output_padding, groups = case
    rng = np.random.default_rng()
    nd = len(wshape) - 2
    cin = wshape[0] if transposed else wshape[1] * groups
    cout = wshape[1] * groups if transposed else wshape[0]
    fx, tx = _pair(rng, 2, cin, *[7, 6, 5][:nd])
    fw, tw = _pair(rng, *wshape)
    fb, tb = _pair(rng, cout) if with_bias else (None, None)
    f = flambeau.convolution(fx, fw, fb, stride, padding, dilation, transposed, output_padding, groups)
    t = torch.convolution(tx, tw, tb, stride, padding, dilation, transposed, output_padding, groups)
    assert tuple(f.shape) == tuple(t.shape)
    _close(f, t, 1e-4)
    go = rng.standard_normal(tuple(t.shape)).astype(np.float32)
    f.backward(flambeau.tensor(go))
    t.backward(torch.tensor(go))
    _close(fx.grad, tx.grad, 1e-4)
    _close(fw.grad, tw.grad, 1e-4)
    if with_bias:
        _close(fb.grad, tb.grad, 1e-4)


def test_convolution_errors_and_gradcheck():
    x = flambeau.randn(1, 2, 5, 5)
    with pytest.raises(RuntimeError, match="convolution"):
        flambeau.convolution(x, flambeau.randn(2, 2), None, [1], [0], [1], False, [0], 1)
    with pytest.raises(RuntimeError, match="output_padding"):
        flambeau.convolution(x, flambeau.randn(3, 2, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [1, 1], 1)
    xd = flambeau.randn(1, 2, 5, 4, dtype=flambeau.float64, requires_grad=True)
    wd = flambeau.randn(2, 3, 2, 2, dtype=flambeau.float64, requires_grad=True)
    assert gradcheck(lambda a, b: flambeau.convolution(a, b, None, [2, 1], [1, 0], [1, 1], True, [1, 0], 1),
                     (xd, wd))


@pytest.mark.parametrize("interp", [0, 1, 2])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sampler_codes(interp, pad, align):
    rng = np.random.default_rng()
    fx, tx = _pair(rng, 2, 3, 5, 4)
    g = (rng.random((2, 3, 6, 2)) * 2.4 - 1.2).astype(np.float32)
    f = flambeau.grid_sampler(fx, flambeau.tensor(g), interp, pad, align)
    t = torch.grid_sampler(tx, torch.tensor(g), interp, pad, align)
    _close(f, t)
    f2 = flambeau.grid_sampler_2d(fx, flambeau.tensor(g), interp, pad, align)
    _close(f2, torch.grid_sampler_2d(tx, torch.tensor(g), interp, pad, align))
    f.sum().backward()
    t.sum().backward()
    _close(fx.grad, tx.grad, 1e-4)


def test_grid_sampler_3d_and_errors():
    rng = np.random.default_rng()
    fx, tx = _pair(rng, 1, 2, 3, 4, 5)
    g = (rng.random((1, 2, 3, 2, 3)) * 2 - 1).astype(np.float32)
    for interp, pad in [(0, 0), (1, 1), (0, 2)]:
        _close(flambeau.grid_sampler_3d(fx, flambeau.tensor(g), interp, pad, False),
               torch.grid_sampler_3d(tx, torch.tensor(g), interp, pad, False))
    with pytest.raises(RuntimeError, match="interpolation_mode"):
        flambeau.grid_sampler(fx, flambeau.tensor(g), 5, 0, False)
    with pytest.raises(RuntimeError, match="padding_mode"):
        flambeau.grid_sampler(fx, flambeau.tensor(g), 0, 3, False)
    with pytest.raises(RuntimeError, match="grid_sampler_2d"):
        flambeau.grid_sampler_2d(fx, flambeau.tensor(g), 0, 0, False)


@pytest.mark.parametrize("size", [[3, 2, 4, 5], [2, 1, 3, 2, 4]])
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_generator(size, align):
    rng = np.random.default_rng()
    nd = len(size) - 2
    theta = rng.standard_normal((size[0], nd, nd + 1)).astype(np.float32)
    _close(flambeau.affine_grid_generator(flambeau.tensor(theta), size, align),
           torch.affine_grid_generator(torch.tensor(theta), size, align))


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5)])
@pytest.mark.parametrize("with_running", [False, True])
def test_batch_norm_update_stats(shape, with_running):
    rng = np.random.default_rng()
    x = rng.standard_normal(shape).astype(np.float32)
    rm0, rv0 = rng.standard_normal(3).astype(np.float32), rng.random(3).astype(np.float32) + 0.5
    frm, frv = (flambeau.tensor(rm0), flambeau.tensor(rv0)) if with_running else (None, None)
    trm, trv = (torch.tensor(rm0), torch.tensor(rv0)) if with_running else (None, None)
    fm, fv = flambeau.batch_norm_update_stats(flambeau.tensor(x), frm, frv, 0.3)
    tm, tv = torch.batch_norm_update_stats(torch.tensor(x), trm, trv, 0.3)
    _close(fm, tm)
    _close(fv, tv)
    if with_running:
        _close(frm, trm)
        _close(frv, trv)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_norm_except_dim_and_weight_norm(dim):
    rng = np.random.default_rng()
    fv, tv = _pair(rng, 4, 3, 5)
    _close(flambeau.norm_except_dim(fv, 2, dim), torch.norm_except_dim(tv, 2, dim))
    if dim == -1:
        return
    gshape = [1, 1, 1]
    gshape[dim] = (4, 3, 5)[dim]
    fg, tg = _pair(rng, *gshape)
    f, t = flambeau._weight_norm(fv, fg, dim), torch._weight_norm(tv, tg, dim)
    _close(f, t)
    f.pow(2).sum().backward()
    t.pow(2).sum().backward()
    _close(fv.grad, tv.grad, 1e-4)
    _close(fg.grad, tg.grad, 1e-4)


def test_embedding_renorm_in_place():
    rng = np.random.default_rng()
    w = (rng.standard_normal((10, 4)) * 2).astype(np.float32)
    idx = np.array([1, 2, 2, 7, 9])
    fw, tw = flambeau.tensor(w), torch.tensor(w)
    assert flambeau.embedding_renorm_(fw, flambeau.tensor(idx), 1.0, 2.0) is fw
    torch.embedding_renorm_(tw, torch.tensor(idx), 1.0, 2.0)
    _close(fw, tw)
    untouched = [i for i in range(10) if i not in idx]
    np.testing.assert_array_equal(fw.numpy()[untouched], w[untouched])


def test_gcd_lcm_in_place():
    rng = np.random.default_rng()
    a = rng.integers(-50, 50, 17)
    b = rng.integers(-50, 50, 17)
    for name in ("gcd_", "lcm_"):
        fa, ta = flambeau.tensor(a), torch.tensor(a)
        assert getattr(flambeau, name)(fa, flambeau.tensor(b)) is fa
        getattr(torch, name)(ta, torch.tensor(b))
        np.testing.assert_array_equal(fa.numpy(), ta.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bfloat16"])
def test_from_file_private_and_shared(tmp_path, dtype):
    rng = np.random.default_rng()
    path = str(tmp_path / "data.bin")
    raw = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(raw)
    fdt, tdt = getattr(flambeau, dtype), getattr(torch, dtype)
    n = 64 // torch.tensor([], dtype=tdt).element_size()
    f = flambeau.from_file(path, False, n, dtype=fdt)
    t = torch.from_file(path, False, n, dtype=tdt)
    assert f.dtype == fdt and tuple(f.shape) == (n,)
    np.testing.assert_array_equal(f.float().numpy(), t.float().numpy())
    f.zero_()  # private: the file is untouched
    assert open(path, "rb").read() == raw
    g = flambeau.from_file(path, True, n, dtype=fdt)
    g.fill_(1)
    del g
    t2 = torch.from_file(path, False, n, dtype=tdt)
    assert (t2 == 1).all()


def test_from_file_creates_when_shared_and_refuses_short_private(tmp_path):
    path = str(tmp_path / "new.bin")
    f = flambeau.from_file(path, True, 10, dtype=flambeau.float32)
    assert tuple(f.shape) == (10,) and (f == 0).all()
    import os
    assert os.path.getsize(path) == 40
    with pytest.raises(RuntimeError, match="from_file"):
        flambeau.from_file(path, False, 11, dtype=flambeau.float32)
    assert tuple(flambeau.from_file(path, False, 0).shape) == (0,)


@pytest.mark.parametrize("args", [(3, 5), (5, 3), (2, 3.5), (2.5, 1), (-1, -1.0)])
def test_sym_helpers(args):
    a, b = args
    for name in ("sym_max", "sym_min"):
        r, e = getattr(flambeau, name)(a, b), getattr(torch, name)(a, b)
        assert r == e and type(r) is type(e), (name, r, e)
    for v in (a, b, 3.7, -3.7, 0.0):
        assert flambeau.sym_int(v) == torch.sym_int(v) and type(flambeau.sym_int(v)) is type(torch.sym_int(v))
        assert flambeau.sym_float(v) == torch.sym_float(v)
    assert flambeau.sym_not(a > b) == torch.sym_not(a > b)
    assert flambeau.sym_ite(a > b, "x", "y") == torch.sym_ite(a > b, "x", "y")
    assert flambeau.sym_sqrt(4) == torch.sym_sqrt(4) == math.sqrt(4)
    assert flambeau.sym_sum([a, b, 1]) == torch.sym_sum([a, b, 1])


def test_sym_constrain_range_and_flags():
    flambeau.sym_constrain_range(3, min=0, max=5)
    torch.sym_constrain_range(3, min=0, max=5)
    with pytest.raises(RuntimeError):
        torch.sym_constrain_range(7, min=0, max=5)
    with pytest.raises(RuntimeError):
        flambeau.sym_constrain_range(7, min=0, max=5)
    flambeau.sym_constrain_range_for_size(4)
    x = flambeau.randn(2)
    assert flambeau.is_distributed(x) is torch.is_distributed(torch.randn(2)) is False
    assert flambeau.compiled_with_cxx11_abi() is True
