"""The ops whose kernels are CPU only (and a few once gated), on every device against PyTorch:
3-D convolution and pooling, grid_sample, ctc_loss, scatter_reduce, the dense linear algebra, and the
composed ops built on them (interpolate's area/trilinear/bicubic/antialias, fractional max pooling).

On a CUDA device they go through the host (python/flambeau/_functions/host_route.py), except 3-D pooling
and scatter_reduce, which have CUDA kernels (run on an H100 in session 17): results and gradients must be PyTorch's
and land on the device. On the CPU each case also runs with the host route forced (`forced`: real
copies of CPU tensors), which checks the routing of every call site without a GPU, and that the
route was taken.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
import flambeau.nn.functional as FF
from flambeau._functions import host_route
from helpers import assert_close


@pytest.fixture(params=[False, True], ids=["direct", "forced"])
def route(request, device, monkeypatch):
    """(device, forced): forced routes CPU tensors through host copies; only meaningful on the CPU."""
    if request.param and device != "cpu":
        pytest.skip("the forced route is a CPU-only check")
    monkeypatch.setattr(host_route, "_FORCE", request.param)
    monkeypatch.setattr(host_route, "_ROUTED", set())
    return device, request.param


def _compare(t_fn, f_fn, arrays, route, grads=None, routed=(), atol=1e-5, rtol=1e-4, rng=None):
    """t_fn(*torch) vs f_fn(*flambeau on the device): outputs (a tensor or a tuple), then the gradients
    of a random projection of the float outputs, which must land on the device. `routed`: kernel names
    the forced route must have taken."""
    device, forced = route
    grads = [a.dtype.kind == "f" for a in arrays] if grads is None else grads
    tin = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    fin = [flambeau.tensor(a, device=device, requires_grad=g) for a, g in zip(arrays, grads)]
    tout, fout = t_fn(*tin), f_fn(*fin)
    touts = tout if isinstance(tout, (tuple, list)) else (tout,)
    fouts = fout if isinstance(fout, (tuple, list)) else (fout,)
    assert len(touts) == len(fouts)
    for t, f in zip(touts, fouts):
        assert f.device.type == flambeau.device(device).type, f"output on {f.device}, expected {device}"
        assert_close(f, t, atol, rtol)
    diff = [(t, f) for t, f in zip(touts, fouts) if t.requires_grad]
    if diff:
        _compare_grads(diff, tin, fin, device, atol, rtol, rng)
    if forced:
        assert set(routed) <= host_route._ROUTED, f"not routed: {set(routed) - host_route._ROUTED}"


def _compare_grads(diff, tin, fin, device, atol, rtol, rng):
    rng = rng or np.random.default_rng(0)
    tl = fl = 0
    for t, f in diff:
        up = rng.standard_normal(tuple(t.shape)).astype(str(t.dtype).split(".")[-1])
        tl = tl + (t * torch.tensor(up)).sum()
        fl = fl + (f * flambeau.tensor(up, device=device)).sum()
    tl.backward()
    fl.backward()
    for t, f in zip(tin, fin):
        if t.grad is not None:  # (inputs an op does not use have none)
            assert f.grad is not None
            assert f.grad.device.type == flambeau.device(device).type, f"gradient on {f.grad.device}"
            assert_close(f.grad, t.grad, atol * 10, rtol * 10)


def _r(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------------
# 3-D convolution and pooling

def test_conv3d(route, rng):
    args = [_r(rng, 2, 3, 5, 6, 4), _r(rng, 4, 3, 3, 2, 3), _r(rng, 4)]
    _compare(lambda x, w, b: TF.conv3d(x, w, b, stride=(1, 2, 1), padding=1),
             lambda x, w, b: FF.conv3d(x, w, b, stride=(1, 2, 1), padding=1), args, route,
             routed=["conv3d", "conv3d_backward"])


def test_conv_transpose3d(route, rng):
    args = [_r(rng, 2, 3, 4, 3, 3), _r(rng, 3, 2, 3, 2, 3), _r(rng, 2)]
    _compare(lambda x, w, b: TF.conv_transpose3d(x, w, b, stride=2, output_padding=1),
             lambda x, w, b: FF.conv_transpose3d(x, w, b, stride=2, output_padding=1), args, route,
             routed=["conv_transpose3d", "conv_transpose3d_backward"])


def test_max_pool3d_and_unpool(route, rng):
    x = _r(rng, 2, 3, 6, 5, 7)
    _compare(lambda x: TF.max_pool3d(x, 3, 2, 1, return_indices=True),
             lambda x: FF.max_pool3d(x, 3, 2, 1, return_indices=True), [x], route,
             routed=())  # a CUDA kernel: not routed

    def unpool(F, x):
        y, i = F.max_pool3d(x, 2, return_indices=True)
        return F.max_unpool3d(y, i, 2, output_size=x.shape[-3:])
    _compare(lambda x: unpool(TF, x), lambda x: unpool(FF, x), [x], route, routed=["max_unpool3d"])


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool3d(route, rng, count_include_pad):
    x = _r(rng, 2, 3, 7, 5, 6)
    _compare(lambda x: TF.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad),
             lambda x: FF.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad), [x],
             route)


def test_adaptive_pool3d(route, rng):
    x = _r(rng, 2, 3, 7, 5, 6)
    _compare(lambda x: TF.adaptive_avg_pool3d(x, (3, 2, 4)), lambda x: FF.adaptive_avg_pool3d(x, (3, 2, 4)),
             [x], route)
    _compare(lambda x: TF.adaptive_max_pool3d(x, (3, 4, 4), return_indices=True),
             lambda x: FF.adaptive_max_pool3d(x, (3, 4, 4), return_indices=True), [x], route)


# ---------------------------------------------------------------------------------------------------
# interpolate and fractional max pooling (composed; area 3-D is adaptive_avg_pool3d)

@pytest.mark.parametrize("mode,shape,kw", [
    ("trilinear", (2, 3, 4, 5, 3), dict(size=(6, 3, 7), align_corners=False)),
    ("trilinear", (1, 2, 3, 4, 5), dict(scale_factor=1.7, align_corners=True)),
    ("bicubic", (2, 3, 5, 6), dict(size=(8, 4), align_corners=False)),
    ("bilinear", (2, 3, 9, 8), dict(size=(4, 5), antialias=True, align_corners=False)),
    ("bicubic", (2, 3, 9, 8), dict(size=(5, 3), antialias=True, align_corners=False)),
    ("area", (2, 3, 7, 6, 5), dict(size=(3, 4, 2))),
    ("area", (2, 3, 7, 6), dict(size=(3, 4))),
])
def test_interpolate(route, rng, mode, shape, kw):
    x = _r(rng, *shape)
    _compare(lambda x: TF.interpolate(x, mode=mode, **kw), lambda x: FF.interpolate(x, mode=mode, **kw), [x],
             route)


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool(route, rng, nd):
    x = _r(rng, *((2, 3) + (9,) * nd))
    samples = rng.random((2, 3, nd)).astype(np.float32)
    name = f"fractional_max_pool{nd}d"
    _compare(lambda x, s: getattr(TF, name)(x, 2, output_size=5, _random_samples=s, return_indices=True),
             lambda x, s: getattr(FF, name)(x, 2, output_size=5, _random_samples=s, return_indices=True),
             [x, samples], route, grads=[True, False])


# ---------------------------------------------------------------------------------------------------
# grid_sample

@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_2d(route, rng, mode, padding_mode, align_corners):
    x = _r(rng, 2, 3, 5, 7)
    grid = (rng.random((2, 4, 6, 2)) * 2.4 - 1.2).astype(np.float32)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    _compare(lambda x, g: TF.grid_sample(x, g, **kw), lambda x, g: FF.grid_sample(x, g, **kw), [x, grid], route,
             grads=[True, mode != "nearest"], routed=["grid_sample", "grid_sample_backward"], atol=1e-4)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_3d(route, rng, mode):
    x = _r(rng, 2, 2, 4, 5, 3)
    grid = (rng.random((2, 3, 2, 4, 3)) * 2.2 - 1.1).astype(np.float32)
    kw = dict(mode=mode, padding_mode="border", align_corners=False)
    _compare(lambda x, g: TF.grid_sample(x, g, **kw), lambda x, g: FF.grid_sample(x, g, **kw), [x, grid], route,
             grads=[True, mode != "nearest"], routed=["grid_sample", "grid_sample_backward"], atol=1e-4)


# ---------------------------------------------------------------------------------------------------
# ctc_loss

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss(route, rng, reduction):
    T, N, C, S = 12, 3, 5, 4
    logits = _r(rng, T, N, C)
    targets = rng.integers(1, C, (N, S)).astype(np.int64)
    il, tl = [12, 10, 7], [4, 3, 2]

    def run(lib, F, x, t):
        return F.ctc_loss(x.log_softmax(2), t, il, tl, reduction=reduction)
    _compare(lambda x, t: run(torch, TF, x, t), lambda x, t: run(flambeau, FF, x, t), [logits, targets], route,
             routed=["ctc_loss", "ctc_loss_backward"])


# ---------------------------------------------------------------------------------------------------
# scatter_reduce

@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(route, rng, reduce, include_self):
    x = _r(rng, 5, 6)
    src = _r(rng, 7, 6)
    idx = rng.integers(0, 5, (7, 6)).astype(np.int64)
    _compare(lambda x, i, s: x.scatter_reduce(0, i, s, reduce, include_self=include_self),
             lambda x, i, s: x.scatter_reduce(0, i, s, reduce, include_self=include_self), [x, idx, src], route)


def test_scatter_reduce_int64(route, rng):
    x = rng.integers(-5, 6, (4, 6)).astype(np.int64)
    src = rng.integers(-5, 6, (7, 6)).astype(np.int64)
    idx = rng.integers(0, 4, (7, 6)).astype(np.int64)
    _compare(lambda x, i, s: x.scatter_reduce(0, i, s, "mean", include_self=False),
             lambda x, i, s: x.scatter_reduce(0, i, s, "mean", include_self=False), [x, idx, src], route,
             atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------------
# dense linear algebra

def _spd(rng, n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(np.float64)


@pytest.mark.parametrize("name", ["solve", "inv", "det", "slogdet", "cholesky", "qr", "eigh", "svd", "matrix_exp",
                                  "lu_factor", "solve_triangular", "pinv", "lstsq"])
def test_linalg(route, rng, name):
    A = _spd(rng, 4, (2,))
    B = rng.standard_normal((2, 4, 3))
    routed = {"solve": ["linalg_lu_factor", "linalg_lu_solve"], "cholesky": ["linalg_cholesky"],
              "qr": ["linalg_qr"], "eigh": ["linalg_eigh"], "svd": ["linalg_svd"],
              "matrix_exp": ["linalg_matrix_exp"], "lu_factor": ["linalg_lu_factor"],
              "solve_triangular": ["linalg_solve_triangular"]}.get(name, ())

    def run(lib, A, B):
        L = lib.linalg
        if name == "solve":
            return L.solve(A, B)
        if name == "inv":
            return L.inv(A)
        if name == "det":
            return L.det(A)
        if name == "slogdet":
            return L.slogdet(A)[1]
        if name == "cholesky":
            return L.cholesky(A)
        if name == "qr":
            return L.qr(A @ B)
        if name == "eigh":
            return L.eigvalsh(A)
        if name == "svd":
            return L.svdvals(B)
        if name == "matrix_exp":
            return L.matrix_exp(A * 0.1)
        if name == "lu_factor":
            return L.lu_factor(A)[0]
        if name == "solve_triangular":
            return L.solve_triangular(A.triu(), B, upper=True)
        if name == "pinv":
            return L.pinv(B)
        return L.lstsq(A, B).solution
    _compare(lambda A, B: run(torch, A, B), lambda A, B: run(flambeau, A, B), [A, B], route, routed=routed,
             atol=1e-9, rtol=1e-8)


# ---------------------------------------------------------------------------------------------------
# fold / unfold's kernel path, cdist / pdist's direct kernels

def test_fold(route, rng):
    cols = _r(rng, 2, 3 * 2 * 3, 4 * 3)
    _compare(lambda c: TF.fold(c, (5, 7), (2, 3), stride=(1, 2)), lambda c: FF.fold(c, (5, 7), (2, 3), stride=(1, 2)),
             [cols], route, routed=["fold2d", "unfold2d"])


@pytest.mark.parametrize("p", [1.0, 3.0])
def test_cdist_pdist(route, rng, p):
    a, b = _r(rng, 2, 5, 3, dtype=np.float64), _r(rng, 2, 4, 3, dtype=np.float64)
    _compare(lambda a, b: torch.cdist(a, b, p), lambda a, b: flambeau.cdist(a, b, p), [a, b], route,
             routed=["cdist", "cdist_backward"], atol=1e-10, rtol=1e-9)
    _compare(lambda a: TF.pdist(a[0], p), lambda a: FF.pdist(a[0], p), [a], route, routed=["pdist", "pdist_backward"],
             atol=1e-10, rtol=1e-9)


# ---------------------------------------------------------------------------------------------------
# cumsum: the CPU scan's bits on every device (CUDA: the gated scan.cu kernel, else the host route)

@pytest.mark.parametrize("shape,dim", [((7,), 0), ((5, 300), 1), ((300, 5), 0), ((3, 40, 33), 1), ((2, 3, 4), -1),
                                       ((0, 4), 1), ((4, 0), 1)])
def test_cumsum(route, rng, shape, dim):
    x = _r(rng, *shape)
    _compare(lambda x: torch.cumsum(x, dim), lambda x: flambeau.cumsum(x, dim), [x], route,
             routed=["cumsum"] if x.size else (), atol=0, rtol=0)
    x64 = _r(rng, *shape, dtype=np.float64)
    _compare(lambda x: x.cumsum(dim), lambda x: x.cumsum(dim), [x64], route, routed=(), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_cumsum_integers(route, rng, dtype):
    x = rng.integers(-3, 4, (6, 9)).astype(dtype)
    _compare(lambda x: torch.cumsum(x, 1), lambda x: flambeau.cumsum(x, 1), [x], route, routed=["cumsum"],
             atol=0, rtol=0)


def test_cumsum_large_one_line(route, rng):
    # one long line (the CUDA kernel's worst case, and what a triangular matmul could not hold)
    x = _r(rng, 200_003)
    _compare(lambda x: torch.cumsum(x, 0), lambda x: flambeau.cumsum(x, 0), [x], route, routed=["cumsum"],
             atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------------
# the 3-D pooling and scatter_reduce CUDA kernels (once gated, run on an H100 in session 17)

def test_pool3d_and_scatter_reduce_cuda_kernels_give_the_cpu_bits(device, rng):
    """CUDA only: the _C entry points take CUDA tensors themselves (no host route) and give the CPU
    kernel's bits."""
    if device == "cpu":
        pytest.skip("CUDA only")
    from flambeau import _C
    from flambeau._tensor import _wrap
    x = flambeau.tensor(_r(rng, 2, 3, 5, 6, 7))
    args = ([3], [2], [1], True, False, None)
    got = _wrap(_C.avg_pool3d(x.to(device)._impl, *args))
    assert got.device.type == "cuda"
    np.testing.assert_array_equal(got.cpu().numpy(), _wrap(_C.avg_pool3d(x._impl, *args)).numpy())
    base = flambeau.tensor(_r(rng, 5, 6))
    src = flambeau.tensor(_r(rng, 7, 6))
    idx = flambeau.tensor(rng.integers(0, 5, (7, 6)).astype(np.int64))
    for reduce in ("sum", "prod", "amax", "amin", "assign"):
        want, got = base.clone(), base.to(device)
        _C.scatter_reduce_(want._impl, 0, idx._impl, src._impl, reduce)
        _C.scatter_reduce_(got._impl, 0, idx.to(device)._impl, src.to(device)._impl, reduce)
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy(), err_msg=reduce)
