"""F.grid_sample and F.affine_grid against PyTorch (CPU): every mode x padding_mode x align_corners,
grids reaching outside the image, odd and unit sizes, empty batches, non-contiguous inputs, float64,
finite-difference gradient checks, the spatial-transformer composition, and the error cases."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
import flambeau.nn.functional as F
from helpers import check_error, check_op, fl_tensor, on_each_cpu_capability, to_np

MODES = ["bilinear", "nearest", "bicubic"]
PADDINGS = ["zeros", "border", "reflection"]


def _gs(mode, pad, ac):
    """The same call for both libraries (F is torch's or flambeau's functional)."""
    def torch_fn(x, g):
        return TF.grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=ac)

    def fl_fn(x, g):
        return F.grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=ac)
    return torch_fn, fl_fn


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad", PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_matches_torch(mode, pad, ac):
    # Grid values in [-1.5, 1.5]: a quarter of the points fall outside the image.
    t_fn, f_fn = _gs(mode, pad, ac)
    check_op(t_fn, f_fn, shapes=[(2, 3, 5, 7), (2, 4, 6, 2)], low=-1.5, high=1.5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad", PADDINGS)
def test_grid_sample_float64_noncontiguous(mode, pad):
    for ac in (False, True):
        t_fn, f_fn = _gs(mode, pad, ac)
        check_op(t_fn, f_fn, shapes=[(2, 2, 6, 5), (2, 3, 4, 2)], low=-1.5, high=1.5, dtype="float64",
                 non_contiguous=True)


@pytest.mark.parametrize("mode", MODES)
def test_grid_sample_noncontiguous_float32(mode):
    for pad in PADDINGS:
        t_fn, f_fn = _gs(mode, pad, False)
        check_op(t_fn, f_fn, shapes=[(1, 3, 7, 4), (1, 5, 3, 2)], low=-1.5, high=1.5, non_contiguous=True)
        # A step-2 (non-contiguous last dim) grid and input too.
        check_op(t_fn, f_fn, shapes=[(1, 2, 5, 4), (1, 3, 3, 2)], low=-1.5, high=1.5, non_contiguous="step")


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 2, 1, 6), (2, 1, 5, 1), (1, 3, 9, 11), (3, 1, 2, 3)])
def test_grid_sample_odd_and_unit_sizes(shape):
    # Unit spatial dims: align_corners=True has a zero-length span (everything maps to pixel 0).
    n = shape[0]
    for mode in MODES:
        for pad in PADDINGS:
            for ac in (False, True):
                t_fn, f_fn = _gs(mode, pad, ac)
                check_op(t_fn, f_fn, shapes=[shape, (n, 3, 5, 2)], low=-1.5, high=1.5, dtype="float64")


# PyTorch's vectorised CPU kernel is what the flambeau kernels reproduce, FMAs and the order of the
# input gradient's sums included, as built for AVX2 (torch's capability on these machines). Under
# another torch capability (AVX-512 groups 16 points, not 8) only rounding-level agreement is expected.
_TORCH_AVX2 = torch.backends.cpu.get_cpu_capability() == "AVX2"


def _assert_same(actual, expected, what):
    if _TORCH_AVX2:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        tol = 1e-5 if actual.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def test_grid_sample_bitwise():
    # Forward values, input gradients and grid gradients are PyTorch's bits, not merely close.
    rng = np.random.default_rng(0)
    for dt in ("float32", "float64"):
        x = rng.standard_normal((2, 3, 8, 9)).astype(dt)
        g = rng.uniform(-1.3, 1.3, (2, 6, 7, 2)).astype(dt)
        go = rng.standard_normal((2, 3, 6, 7)).astype(dt)
        for mode in MODES:
            for pad in PADDINGS:
                for ac in (False, True):
                    for input_grad in (False, True):
                        tx, tg = torch.tensor(x, requires_grad=input_grad), torch.tensor(g, requires_grad=True)
                        to = TF.grid_sample(tx, tg, mode=mode, padding_mode=pad, align_corners=ac)
                        to.backward(torch.tensor(go))
                        fx, fg = fl_tensor(x, requires_grad=input_grad), fl_tensor(g, requires_grad=True)
                        fo = F.grid_sample(fx, fg, mode=mode, padding_mode=pad, align_corners=ac)
                        fo.backward(fl_tensor(go))
                        what = f"{dt} {mode} {pad} align_corners={ac} input_grad={input_grad}"
                        _assert_same(to_np(fo), to_np(to), "forward " + what)
                        _assert_same(to_np(fg.grad), to_np(tg.grad), "grid grad " + what)
                        if input_grad:
                            _assert_same(to_np(fx.grad), to_np(tx.grad), "input grad " + what)


def test_grid_sample_same_bits_on_each_cpu_capability():
    # The portable build and the AVX2 + FMA build (csrc/cpu/simd/grid_sample_avx2.cpp) agree bit for bit.
    rng = np.random.default_rng(2)
    arrays = {dt: (rng.standard_normal((3, 2, 6, 7)).astype(dt), rng.uniform(-1.4, 1.4, (3, 5, 11, 2)).astype(dt),
                   rng.standard_normal((3, 2, 5, 11)).astype(dt)) for dt in ("float32", "float64")}

    def run():
        res = []
        for dt, (x, g, go) in arrays.items():
            for mode in MODES:
                for pad in PADDINGS:
                    for ac in (False, True):
                        for input_grad in (False, True):
                            fx, fg = fl_tensor(x, requires_grad=input_grad), fl_tensor(g, requires_grad=True)
                            F.grid_sample(fx, fg, mode=mode, padding_mode=pad, align_corners=ac).backward(fl_tensor(go))
                            res.append(to_np(F.grid_sample(fl_tensor(x), fl_tensor(g), mode=mode, padding_mode=pad,
                                                           align_corners=ac)))
                            res.append(to_np(fg.grad))
                            if input_grad:
                                res.append(to_np(fx.grad))
        return res

    results = on_each_cpu_capability(["default", "avx2", "avx512"], run)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_grid_sample_extreme_grid_values():
    # NaN, infinities and huge coordinates: no out-of-bounds reads, PyTorch's values.
    rng = np.random.default_rng(1)
    for dt in ("float32", "float64"):
        x = rng.standard_normal((1, 2, 4, 5)).astype(dt)
        g = rng.uniform(-1, 1, (1, 3, 4, 2)).astype(dt)
        g[0, 0, 0, 0] = np.nan
        g[0, 0, 1, 1] = np.nan
        g[0, 1, 0, :] = 1e10
        g[0, 1, 1, :] = -1e10
        g[0, 1, 2, 0] = np.inf
        g[0, 1, 3, 1] = -np.inf
        g[0, 2, 0, :] = 1e30
        g[0, 2, 1, 0] = 3e9
        for mode in MODES:
            for pad in PADDINGS:
                for ac in (False, True):
                    t = TF.grid_sample(torch.tensor(x), torch.tensor(g), mode=mode, padding_mode=pad,
                                       align_corners=ac)
                    f = F.grid_sample(fl_tensor(x), fl_tensor(g), mode=mode, padding_mode=pad, align_corners=ac)
                    _assert_same(to_np(f), to_np(t), f"{dt} {mode} {pad} {ac}")
                    # Backward (not compared with PyTorch there: its border / reflection backward
                    # reads out of bounds on a NaN coordinate and can crash): every other point's grid
                    # gradient is unaffected, and equals PyTorch's on a grid without the extremes.
                    fg = fl_tensor(g, requires_grad=True)
                    F.grid_sample(fl_tensor(x), fg, mode=mode, padding_mode=pad, align_corners=ac).sum().backward()
                    clean = g.copy()
                    bad = ~np.isfinite(g) | (np.abs(g) > 1e3)
                    clean[bad] = 0.5
                    tg = torch.tensor(clean, requires_grad=True)
                    TF.grid_sample(torch.tensor(x), tg, mode=mode, padding_mode=pad, align_corners=ac).sum().backward()
                    keep = ~bad.any(-1)
                    _assert_same(to_np(fg.grad)[keep], to_np(tg.grad)[keep], f"grid grad {dt} {mode} {pad} {ac}")


@pytest.mark.parametrize("xs,gs", [((0, 3, 4, 5), (0, 3, 4, 2)), ((2, 0, 4, 5), (2, 3, 4, 2)),
                                   ((2, 3, 4, 5), (2, 0, 4, 2)), ((2, 3, 4, 5), (2, 3, 0, 2))])
def test_grid_sample_empty(xs, gs):
    for mode in MODES:
        t_fn, f_fn = _gs(mode, "zeros", False)
        check_op(t_fn, f_fn, shapes=[xs, gs])


def test_grid_sample_one_input_requires_grad():
    for mode in MODES:
        for grad in ([True, False], [False, True]):
            t_fn, f_fn = _gs(mode, "border", True)
            check_op(t_fn, f_fn, shapes=[(2, 3, 5, 6), (2, 4, 3, 2)], low=-1.5, high=1.5, grad=grad)


def test_grid_sample_no_grad_and_grad_fn():
    x, g = flambeau.randn(1, 2, 3, 4), flambeau.rand(1, 2, 2, 2)
    out = F.grid_sample(x, g, align_corners=False)
    assert out.grad_fn is None and not out.requires_grad
    g.requires_grad_()
    out = F.grid_sample(x, g, align_corners=False)
    assert out.requires_grad and out.grad_fn.name() == "GridSampler2DBackward0"
    with flambeau.no_grad():
        assert not F.grid_sample(x, g, align_corners=False).requires_grad


def test_grid_sample_default_align_corners_warns():
    x = np.random.rand(1, 1, 3, 3).astype("float32")
    g = np.random.uniform(-1, 1, (1, 2, 2, 2)).astype("float32")
    with pytest.warns(UserWarning, match="align_corners"):
        t = TF.grid_sample(torch.tensor(x), torch.tensor(g))
    with pytest.warns(UserWarning, match="align_corners"):
        f = F.grid_sample(fl_tensor(x), fl_tensor(g))
    np.testing.assert_array_equal(to_np(f), to_np(t))


# ---- finite-difference gradient checks (float64), coordinates kept away from the kinks

def _smooth_grid(rng, n, oh, ow, h, w, ac, pad):
    """A float64 grid whose pixel coordinates have fractional parts away from 0 and 1/2 (the kinks of
    bilinear / nearest, and of reflection about -1/2 without align_corners), reaching outside the
    image by up to 2 pixels."""
    def axis(size, shape):
        base = rng.integers(-2, size + 1, size=shape).astype(np.float64)
        frac = rng.uniform(0.15, 0.35, size=shape) + 0.5 * rng.integers(0, 2, size=shape)
        pix = base + frac
        return pix / ((size - 1) / 2) - 1 if ac else (2 * pix + 1) / size - 1
    return np.stack([axis(w, (n, oh, ow)), axis(h, (n, oh, ow))], axis=-1)


@pytest.mark.parametrize("mode", MODES)
def test_grid_sample_gradcheck(mode):
    rng = np.random.default_rng(7)
    for pad in PADDINGS:
        for ac in (False, True):
            h, w = 4, 5
            x = flambeau.tensor(rng.standard_normal((2, 2, h, w)), dtype=flambeau.float64, requires_grad=True)
            g = flambeau.tensor(_smooth_grid(rng, 2, 3, 2, h, w, ac, pad), dtype=flambeau.float64,
                                requires_grad=True)
            fn = lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=pad, align_corners=ac)  # noqa: E731
            assert flambeau.autograd.gradcheck(fn, (x, g), eps=1e-6, atol=1e-6, rtol=1e-4), (pad, ac)


@pytest.mark.parametrize("mode", MODES)
def test_grid_sample_gradgradcheck(mode):
    # Second order (PyTorch's GridSampler2DBackwardBackward0 is differentiable): float64 finite differences
    # of the first-order gradients, away from the kinks.
    rng = np.random.default_rng(8)
    for pad in PADDINGS:
        for ac in (False, True):
            h, w = 4, 5
            x = flambeau.tensor(rng.standard_normal((1, 2, h, w)), dtype=flambeau.float64, requires_grad=True)
            g = flambeau.tensor(_smooth_grid(rng, 1, 2, 2, h, w, ac, pad), dtype=flambeau.float64,
                                requires_grad=True)
            fn = lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=pad, align_corners=ac)  # noqa: E731
            assert flambeau.autograd.gradgradcheck(fn, (x, g), eps=1e-6, atol=1e-6, rtol=1e-4), (pad, ac)


def _orders(lib, x, g, go, mode, pad, ac, which):
    """First, second and third order gradients of grid_sample in lib (None where there is none), and
    whether each first-order gradient requires grad."""
    rng = np.random.default_rng(5)
    xs = lib.tensor(x).requires_grad_(which[0])
    gs = lib.tensor(g).requires_grad_(which[1])
    leaves = [t for t, w in zip((xs, gs), which) if w]
    out = lib.nn.functional.grid_sample(xs, gs, mode=mode, padding_mode=pad, align_corners=ac)
    g1 = lib.autograd.grad(out, leaves, lib.tensor(go), create_graph=True)
    live = [t for t in g1 if t.requires_grad]
    g2 = lib.autograd.grad(live, leaves, [lib.tensor(rng.standard_normal(tuple(t.shape))) for t in live],
                           allow_unused=True, create_graph=True)
    l3 = [t.sum() for t in g2 if t is not None and t.requires_grad]
    g3 = lib.autograd.grad(l3, leaves, allow_unused=True) if l3 else ()
    snap = [[None if t is None else t.detach().numpy() for t in ts] for ts in (g1, g2, g3)]
    return snap, [t.requires_grad for t in g1]


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad", PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_double_backward_matches_torch(dims, mode, pad, ac):
    # Which operands require grad decides which gradients exist (nearest's input gradient gives the grid a
    # zero second-order gradient, its grid gradient gives none); up to third order, float64.
    if dims == 3 and mode == "bicubic":
        pytest.skip("no bicubic for 5-D input")
    rng = np.random.default_rng(dims * 100 + MODES.index(mode) * 10 + PADDINGS.index(pad) * 2 + ac)
    spatial = (4, 5) if dims == 2 else (3, 4, 5)
    for which in ((True, True), (True, False), (False, True)):
        x = rng.standard_normal((2, 3) + spatial)
        g = rng.uniform(-1.3, 1.3, (2, 3, 2) + (2,) * (dims - 2) + (dims,))
        go = rng.standard_normal((2, 3, 3, 2) + (2,) * (dims - 2))
        want, want_rg = _orders(torch, x, g, go, mode, pad, ac, which)
        got, got_rg = _orders(flambeau, x, g, go, mode, pad, ac, which)
        assert got_rg == want_rg, which
        for order, (ws, gs) in enumerate(zip(want, got), 1):
            assert [w is None for w in ws] == [t is None for t in gs], (which, order)
            for w, t in zip(ws, gs):
                if w is not None:
                    np.testing.assert_allclose(t, w, rtol=1e-9, atol=1e-9, err_msg=f"{which} order {order}")


@pytest.mark.parametrize("shapes", [((0, 1, 2, 2), (0, 2, 3, 2)), ((2, 1, 2, 2), (2, 0, 3, 2)),
                                    ((2, 0, 2, 2), (2, 2, 3, 2)), ((1, 1, 2, 2, 2), (1, 2, 0, 3, 3))])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_double_backward_empty(shapes, mode):
    # Nothing sampled: PyTorch's double backward still gives (empty) gradients where its formulas read an
    # operand, and none where they do not.
    x, g = (np.zeros(s) for s in shapes)
    go = np.zeros(tuple(TF.grid_sample(torch.tensor(x), torch.tensor(g), align_corners=False).shape))
    for which in ((True, True), (True, False), (False, True)):
        want, want_rg = _orders(torch, x, g, go, mode, "zeros", False, which)
        got, got_rg = _orders(flambeau, x, g, go, mode, "zeros", False, which)
        assert got_rg == want_rg
        for ws, gs in zip(want, got):
            assert [None if w is None else w.shape for w in ws] == [None if t is None else t.shape for t in gs]


def test_grid_sample_create_graph_keeps_kernel_values():
    # Under create_graph the first-order gradients are still the kernel's (PyTorch's bits), not the composed
    # version's.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    g = rng.uniform(-1.2, 1.2, (2, 4, 3, 2)).astype(np.float32)
    go = rng.standard_normal((2, 3, 4, 3)).astype(np.float32)
    for mode in MODES:
        res = []
        for lib, cg in ((torch, False), (flambeau, True), (flambeau, False)):
            xs, gs = lib.tensor(x, requires_grad=True), lib.tensor(g, requires_grad=True)
            out = lib.nn.functional.grid_sample(xs, gs, mode=mode, align_corners=False)
            res.append([t.detach().numpy() for t in lib.autograd.grad(out, (xs, gs), lib.tensor(go),
                                                                      create_graph=cg)])
        for a, b, c in zip(*res):
            np.testing.assert_array_equal(b, c)
            np.testing.assert_array_equal(b, a)


# ---- affine_grid

@pytest.mark.parametrize("size", [(2, 3, 5, 7), (1, 1, 1, 4), (3, 2, 6, 1), (2, 1, 3, 4, 5), (1, 2, 1, 3, 2)])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_affine_grid_matches_torch(size, ac, dtype):
    k = len(size) - 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # align_corners with a unit dimension warns (in both libraries)
        check_op(lambda t: TF.affine_grid(t, size, align_corners=ac),
                 lambda t: F.affine_grid(t, size, align_corners=ac), shapes=[(size[0], k, k + 1)], dtype=dtype)


def test_affine_grid_warnings():
    theta = np.random.rand(1, 2, 3).astype("float32")
    for lib, fn in ((torch, TF.affine_grid), (flambeau, F.affine_grid)):
        t = lib.tensor(theta)
        with pytest.warns(UserWarning, match="align_corners"):
            fn(t, (1, 1, 2, 3))
        with pytest.warns(UserWarning, match="unit-size"):
            fn(t, (1, 1, 1, 3), align_corners=True)


def test_spatial_transformer_theta_gradient():
    # affine_grid + grid_sample, differentiated with respect to theta and the image.
    theta0 = np.array([[[0.9, -0.2, 0.1], [0.15, 1.1, -0.05]], [[1.2, 0.3, -0.2], [-0.1, 0.8, 0.3]]])
    for mode in MODES:
        for pad in PADDINGS:
            def t_fn(img, th):
                return TF.grid_sample(img, TF.affine_grid(th, (2, 3, 6, 5), align_corners=False), mode=mode,
                                      padding_mode=pad, align_corners=False)

            def f_fn(img, th):
                return F.grid_sample(img, F.affine_grid(th, (2, 3, 6, 5), align_corners=False), mode=mode,
                                     padding_mode=pad, align_corners=False)
            img = np.random.standard_normal((2, 3, 7, 8))
            check_op(t_fn, f_fn, inputs=[img, theta0], dtype="float64")


# ---- errors

def test_grid_sample_errors():
    def gs(x_shape, g_shape, x_dt="float32", g_dt="float32", **kw):
        def run(lib):
            x = lib.zeros(x_shape, dtype=getattr(lib, x_dt))
            g = lib.zeros(g_shape, dtype=getattr(lib, g_dt))
            fn = TF.grid_sample if lib is torch else F.grid_sample
            kw.setdefault("align_corners", False)
            return fn(x, g, **kw)
        return run

    check_error(gs((2, 3, 4, 5), (1, 3, 4, 2)), RuntimeError, r"same batch size.*\[2, 3, 4, 5\].*\[1, 3, 4, 2\]")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 3)), RuntimeError, r"size 2 in last dimension.*\[2, 3, 4, 3\]")
    check_error(gs((3, 4, 5), (3, 4, 2)), RuntimeError, r"grid_sample")
    check_error(gs((2, 3, 0, 5), (2, 3, 4, 2)), RuntimeError, r"non-empty spatial dimensions.*\[2, 3, 0, 5\]")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2), g_dt="float64"), RuntimeError, r"grid_sample.*float")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2), x_dt="float64"), RuntimeError, r"grid_sample.*float")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2), x_dt="int64", g_dt="int64"), NotImplementedError, r"grid_sample.*int64")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2), mode="linear"), ValueError, r"mode.*'linear'")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2), padding_mode="wrap"), ValueError, r"padding_mode.*'wrap'")
    check_error(gs((2, 3, 4, 5), (2, 3, 4, 2, 2)), RuntimeError, r"grid_sample")
    with pytest.raises(TypeError):
        F.grid_sample(np.zeros((1, 1, 2, 2)), flambeau.zeros(1, 1, 1, 2), align_corners=False)


def test_grid_sample_backward_binding_errors():
    from flambeau import _C
    x, g = flambeau.zeros(2, 3, 4, 5), flambeau.zeros(2, 6, 7, 2)
    with pytest.raises(RuntimeError, match=r"grid_sample_backward: grad_output has shape \[2, 3, 6, 6\]"):
        _C.grid_sample_backward(flambeau.zeros(2, 3, 6, 6)._impl, x._impl, g._impl, "bilinear", "zeros", False,
                                [True, True])
    with pytest.raises(ValueError, match="grid_sample_backward: expected mode"):
        _C.grid_sample_backward(flambeau.zeros(2, 3, 6, 7)._impl, x._impl, g._impl, "cubic", "zeros", False,
                                [True, True])
    with pytest.raises(ValueError, match="expected padding_mode"):
        _C.grid_sample(x._impl, g._impl, "bilinear", "wrap", False)


# ---- 5-D input (volumetric: trilinear and nearest)

@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pad", PADDINGS)
def test_grid_sample_5d_matches_torch(mode, pad):
    for ac in (False, True):
        t_fn, f_fn = _gs(mode, pad, ac)
        check_op(t_fn, f_fn, shapes=[(2, 2, 3, 4, 5), (2, 2, 3, 4, 3)], low=-1.5, high=1.5)
        check_op(t_fn, f_fn, shapes=[(1, 3, 4, 1, 3), (1, 3, 2, 3, 3)], low=-1.5, high=1.5, dtype="float64",
                 non_contiguous=True)


def test_grid_sample_5d_bitwise_and_extremes():
    # PyTorch's volumetric CPU kernel is its scalar one; flambeau reproduces it bit for bit.
    rng = np.random.default_rng(4)
    for dt in ("float32", "float64"):
        x = rng.standard_normal((2, 2, 3, 4, 5)).astype(dt)
        g = rng.uniform(-1.4, 1.4, (2, 3, 4, 5, 3)).astype(dt)
        g[0, 0, 0, 0, 0] = np.nan
        g[0, 1, 0, :, :] = 1e10
        g[1, 1, 1, 0, 0] = -np.inf
        go = rng.standard_normal((2, 2, 3, 4, 5)).astype(dt)
        for mode in ("bilinear", "nearest"):
            for pad in PADDINGS:
                for ac in (False, True):
                    for input_grad in (False, True):
                        tx, tg = torch.tensor(x, requires_grad=input_grad), torch.tensor(g, requires_grad=True)
                        to = TF.grid_sample(tx, tg, mode=mode, padding_mode=pad, align_corners=ac)
                        to.backward(torch.tensor(go))
                        fx, fg = fl_tensor(x, requires_grad=input_grad), fl_tensor(g, requires_grad=True)
                        fo = F.grid_sample(fx, fg, mode=mode, padding_mode=pad, align_corners=ac)
                        fo.backward(fl_tensor(go))
                        assert fo.grad_fn.name() == "GridSampler3DBackward0"
                        what = f"{dt} {mode} {pad} align_corners={ac} input_grad={input_grad}"
                        np.testing.assert_array_equal(to_np(fo), to_np(to), err_msg="forward " + what)
                        np.testing.assert_array_equal(to_np(fg.grad), to_np(tg.grad), err_msg="grid grad " + what)
                        if input_grad:
                            np.testing.assert_array_equal(to_np(fx.grad), to_np(tx.grad), err_msg="input grad " + what)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_5d_gradcheck(mode):
    rng = np.random.default_rng(8)
    for pad in PADDINGS:
        for ac in (False, True):
            d, h, w = 3, 4, 3
            x = flambeau.tensor(rng.standard_normal((1, 2, d, h, w)), dtype=flambeau.float64, requires_grad=True)
            xy = _smooth_grid(rng, 1, 2, 3, h, w, ac, pad)
            z = _smooth_grid(rng, 1, 2, 3, d, d, ac, pad)[..., :1]
            g = flambeau.tensor(np.concatenate([xy, z], -1)[:, None].repeat(2, axis=1), dtype=flambeau.float64,
                                requires_grad=True)
            fn = lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=pad, align_corners=ac)  # noqa: E731
            assert flambeau.autograd.gradcheck(fn, (x, g), eps=1e-6, atol=1e-6, rtol=1e-4), (pad, ac)


def test_grid_sample_5d_empty():
    for xs, gs in (((0, 2, 3, 4, 5), (0, 1, 2, 3, 3)), ((2, 0, 3, 4, 5), (2, 1, 2, 3, 3)),
                   ((2, 2, 3, 4, 5), (2, 0, 2, 3, 3))):
        t_fn, f_fn = _gs("bilinear", "zeros", True)
        check_op(t_fn, f_fn, shapes=[xs, gs])


def test_grid_sample_5d_errors():
    def gs(x_shape, g_shape, **kw):
        def run(lib):
            fn = TF.grid_sample if lib is torch else F.grid_sample
            kw.setdefault("align_corners", False)
            return fn(lib.zeros(x_shape), lib.zeros(g_shape), **kw)
        return run

    check_error(gs((1, 1, 2, 2, 2), (1, 2, 2, 2, 3), mode="bicubic"), RuntimeError, r"bicubic.*only supports 4D")
    check_error(gs((1, 1, 2, 2, 2), (1, 2, 2, 2)), RuntimeError, r"size 3 in last dimension")
    check_error(gs((1, 1, 2, 2, 2), (1, 2, 2, 2, 2)), RuntimeError, r"size 3 in last dimension")
    check_error(gs((1, 1, 2, 2), (1, 2, 2, 2, 3)), RuntimeError, r"size 2 in last dimension")
    check_error(gs((1, 1, 1, 2, 2, 2), (1, 2, 2, 2, 2, 4)), RuntimeError, r"5D input and grid")
    check_error(gs((1, 1, 2, 0, 2), (1, 2, 2, 2, 3)), RuntimeError, r"non-empty spatial.*dimension 3")


def test_affine_grid_errors():
    def ag(theta_shape, size, dt="float32"):
        def run(lib):
            fn = TF.affine_grid if lib is torch else F.affine_grid
            return fn(lib.zeros(theta_shape, dtype=getattr(lib, dt)), size, align_corners=False)
        return run

    check_error(ag((2, 2, 3), (2, 3, 4, 5), "int64"), ValueError, "floating point")
    check_error(ag((2, 3, 3), (2, 3, 4, 5)), ValueError, "Nx2x3")
    check_error(ag((2, 2, 3), (2, 3, 4, 5, 6)), ValueError, "Nx3x4")
    check_error(ag((2, 2, 3), (2, 3, 4)), NotImplementedError, "4D and 5D")
    check_error(ag((2, 2, 3), (2, 3, 0, 5)), ValueError, "non-zero, positive")
    check_error(ag((2, 2, 3), (3, 3, 4, 5)), RuntimeError, "affine_grid")
