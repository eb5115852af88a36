"""PyTorch names flambeau lacked (session 15), each against PyTorch: axis= on the indexing ops, the global
autocast switches, set_warn_always, to_dlpack, CPU Event/Stream, get_device_module, OutOfMemoryError,
init_num_threads; nn.functional.linear_cross_entropy / nn.LinearCrossEntropyLoss, NLLLoss2d, Container,
CrossMapLRN2d, conv_tbc, native_layer_norm/batch_norm/group_norm/dropout, frobenius_norm/nuclear_norm,
segment_reduce, histogramdd, svd_lowrank/pca_lowrank (through reconstructions: randomised), ldl_factor/ldl_solve."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close


def pair(rng, shape, dtype=np.float32, grad=False, low=-2.0, high=2.0):
    a = rng.uniform(low, high, shape).astype(dtype)
    t, f = torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())
    if grad:
        t.requires_grad_()
        f.requires_grad_()
    return t, f


def same(f, t, **kw):
    if isinstance(t, (tuple, list)):
        assert len(f) == len(t)
        for a, b in zip(f, t):
            same(a, b, **kw)
    else:
        assert_close(f, t, **kw)


# ------------------------------------------------------------------------------------------------ axis=
def _index_cases(lib, x, i, i1):
    return {
        "gather": lambda: lib.gather(x, axis=1, index=i),
        "m.gather": lambda: x.gather(axis=1, index=i),
        "index_select": lambda: lib.index_select(x, axis=1, index=i1),
        "m.index_select": lambda: x.index_select(axis=0, index=i1),
        "scatter": lambda: lib.scatter(x, axis=1, index=i, src=x),
        "scatter value": lambda: x.scatter(axis=1, index=i, value=2.0),
        "scatter_": lambda: x.clone().scatter_(axis=1, index=i, src=x),
        "scatter_add": lambda: lib.scatter_add(x, axis=1, index=i, src=x),
        "scatter_add_": lambda: x.clone().scatter_add_(axis=1, index=i, src=x),
        "scatter_reduce": lambda: lib.scatter_reduce(x, axis=1, index=i, src=x, reduce="amax"),
        "scatter_reduce_": lambda: x.clone().scatter_reduce_(axis=1, index=i, src=x, reduce="sum"),
        "take_along_dim": lambda: lib.take_along_dim(x, i, axis=1),
        "index_add": lambda: lib.index_add(x, axis=1, index=i1, source=x[:, :2]),
        "index_add_ alpha": lambda: x.clone().index_add_(axis=1, index=i1, source=x[:, :2], alpha=2.0),
        "index_copy": lambda: lib.index_copy(x, axis=1, index=i1, source=x[:, :2]),
        "index_copy_": lambda: x.clone().index_copy_(axis=1, index=i1, source=x[:, :2]),
        "index_fill": lambda: lib.index_fill(x, axis=1, index=i1, value=1.5),
        "index_fill_": lambda: x.clone().index_fill_(axis=1, index=i1, value=1.5),
        "select": lambda: lib.select(x, axis=1, index=2),
        "narrow": lambda: x.narrow(axis=1, start=1, length=2),
        "keyword dims": lambda: lib.index_add(x, dim=0, index=i1, source=x[:2]),
        "positional": lambda: lib.gather(x, 1, i),
    }


@pytest.mark.parametrize("name", list(_index_cases(torch, None, None, None)))
def test_axis_keyword_on_indexing_ops(name, rng):
    xt, xf = pair(rng, (3, 4))
    idx = rng.integers(0, 4, (3, 4))
    it, if_ = torch.from_numpy(idx), flambeau.from_numpy(idx)
    i1t, i1f = torch.tensor([2, 0]), flambeau.tensor([2, 0])
    same(_index_cases(flambeau, xf, if_, i1f)[name](), _index_cases(torch, xt, it, i1t)[name]())


def test_axis_keyword_gradients_and_errors(rng):
    xt, xf = pair(rng, (3, 4), grad=True)
    idx = rng.integers(0, 4, (3, 2))
    torch.gather(xt, axis=1, index=torch.from_numpy(idx)).pow(2).sum().backward()
    flambeau.gather(xf, axis=1, index=flambeau.from_numpy(idx)).pow(2).sum().backward()
    same(xf.grad, xt.grad)
    for lib in (torch, flambeau):
        x = lib.zeros(2, 2)
        i = lib.zeros(2, 2, dtype=lib.int64)
        with pytest.raises(TypeError):
            lib.gather(x, 1, axis=1, index=i)   # dim twice
        with pytest.raises(TypeError):
            lib.gather(x, index=i)              # no dim
        with pytest.raises(TypeError):
            lib.index_select(x, axis=0)         # no index


# ------------------------------------------------------------------------------------------------ top-level names
def test_autocast_switches_match_torch():
    def run(lib):
        out = []
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out.append((lib.is_autocast_cpu_enabled(), str(lib.get_autocast_cpu_dtype()).split(".")[-1]))
            lib.set_autocast_enabled("cpu", True)
            a, b = lib.ones(2, 3), lib.ones(3, 2)
            out.append(((a @ b).dtype is lib.bfloat16, lib.is_autocast_enabled("cpu")))
            lib.set_autocast_dtype("cpu", lib.float16)
            out.append(((a @ b).dtype is lib.float16, str(lib.get_autocast_dtype("cpu")).split(".")[-1]))
            lib.set_autocast_enabled("cpu", False)
            out.append((a @ b).dtype is lib.float32)
            lib.set_autocast_cpu_enabled(True)
            lib.set_autocast_cpu_dtype(lib.bfloat16)
            out.append(((a @ b).dtype is lib.bfloat16, lib.is_autocast_cpu_enabled()))
            lib.set_autocast_cpu_enabled(False)
            out.append(str(lib.get_autocast_gpu_dtype()).split(".")[-1])
            lib.set_autocast_enabled(True)
            out.append(lib.is_autocast_enabled())
            lib.set_autocast_enabled(False)
            out.append([str(x.category.__name__) for x in w])
        out.append((lib.is_autocast_cache_enabled(), lib.autocast_increment_nesting(),
                    lib.autocast_decrement_nesting()))
        lib.set_autocast_cache_enabled(False)
        out.append(lib.is_autocast_cache_enabled())
        lib.set_autocast_cache_enabled(True)
        lib.clear_autocast_cache()
        return out
    assert run(flambeau) == run(torch)


def test_warn_always_dlpack_threads_and_modules():
    for lib in (torch, flambeau):
        assert not lib.is_warn_always_enabled()
        lib.set_warn_always(True)
        assert lib.is_warn_always_enabled()
        lib.set_warn_always(False)
        x = lib.arange(3.0)
        y = lib.from_dlpack(lib.to_dlpack(x))
        y[0] = 9
        assert x.tolist() == [9.0, 1.0, 2.0]
        assert lib.init_num_threads() is None
        assert lib.get_device_module("cpu") is lib.cpu and lib.get_device_module(lib.device("cpu")) is lib.cpu
        assert lib.get_device_module("cuda") is lib.cuda
        assert lib.GradScaler is lib.amp.GradScaler
        assert issubclass(lib.OutOfMemoryError, RuntimeError) and lib.cuda.OutOfMemoryError is lib.OutOfMemoryError
    assert flambeau.get_device_module() is (flambeau.cuda if flambeau.cuda.is_available() else flambeau.cpu)


def test_cpu_event_and_stream_like_torch():
    def run(lib):
        def tr(f):
            try:
                return f()
            except Exception as e:  # noqa: BLE001 - compared between the libraries
                return type(e).__name__, str(e)
        e, s = lib.Event("cpu"), lib.Stream("cpu")
        return [tr(lambda: e.record()), e.query(), e.synchronize(), e.wait(), s.query(), s.synchronize(),
                s.wait_event(e), tr(lambda: s.wait_stream(s)), tr(lambda: s.record_event()),
                tr(lambda: e.elapsed_time(lib.Event("cpu"))), s.device.type, e.device.type, s.stream_id,
                s.device_index, lib.Stream("cpu") == lib.Stream("cpu"), s.__enter__() is s]
    assert run(flambeau) == run(torch)


# ------------------------------------------------------------------------------------------------ losses, modules
@pytest.mark.parametrize("case", ["plain", "bias", "unbatched", "kdim", "probs", "weight_ignore_smooth", "none"])
def test_linear_cross_entropy(case, rng):
    n, d, c = 5, 4, 6
    xt, xf = pair(rng, (n, d), grad=True)
    wt, wf = pair(rng, (c, d), grad=True)
    kw, bias = {}, None
    tt = rng.integers(0, c, (n,))
    if case == "bias":
        bias = pair(rng, (c,), grad=True)
    if case == "unbatched":
        xt, xf = pair(rng, (d,), grad=True)
        tt = np.array(3)
    if case == "kdim":
        wt, wf = pair(rng, (c, 3, d), grad=True)
        bias = pair(rng, (c, 3), grad=True)
        tt = rng.integers(0, c, (n, 3))
    if case == "probs":
        p = rng.uniform(0, 1, (n, c)).astype(np.float32)
        tt = p / p.sum(1, keepdims=True)
    if case == "weight_ignore_smooth":
        tt[1] = 2
        kw = dict(ignore_index=2, label_smoothing=0.1)
        w = rng.uniform(0.5, 2, c).astype(np.float32)
    if case == "none":
        kw = dict(reduction="none")
    tgt_t, tgt_f = torch.from_numpy(np.asarray(tt)), flambeau.from_numpy(np.asarray(tt))
    extra_t = dict(kw, weight=torch.from_numpy(w)) if case == "weight_ignore_smooth" else dict(kw)
    extra_f = dict(kw, weight=flambeau.from_numpy(w)) if case == "weight_ignore_smooth" else dict(kw)
    if bias is not None:
        extra_t["linear_bias"], extra_f["linear_bias"] = bias
    lt = torch.nn.functional.linear_cross_entropy(xt, wt, tgt_t, **extra_t)
    lf = flambeau.nn.functional.linear_cross_entropy(xf, wf, tgt_f, **extra_f)
    same(lf, lt)
    g = rng.standard_normal(tuple(lt.shape)).astype(np.float32)
    lt.backward(torch.from_numpy(g))
    lf.backward(flambeau.from_numpy(g))
    same(xf.grad, xt.grad, atol=1e-5, rtol=1e-4)
    same(wf.grad, wt.grad, atol=1e-5, rtol=1e-4)
    if bias is not None:
        same(bias[1].grad, bias[0].grad, atol=1e-5, rtol=1e-4)


def test_linear_cross_entropy_errors_and_module(rng):
    for lib in (torch, flambeau):
        F = lib.nn.functional
        x, w = lib.zeros(2, 3), lib.zeros(4, 3)
        with pytest.raises(RuntimeError, match="ignore_index cannot be specified"):
            F.linear_cross_entropy(x, w, lib.zeros(2, 4), ignore_index=1)
        with pytest.raises(RuntimeError, match="expected equal input and linear_weight last dimensions"):
            F.linear_cross_entropy(x, lib.zeros(4, 2), lib.zeros(2, dtype=lib.int64))
        with pytest.raises(RuntimeError, match="expected input with dimensionality 1 or 2"):
            F.linear_cross_entropy(lib.zeros(1, 2, 3), w, lib.zeros(1, dtype=lib.int64))
    tm = torch.nn.LinearCrossEntropyLoss(3, 4, out_features=(2,), bias=True, label_smoothing=0.05)
    fm = flambeau.nn.LinearCrossEntropyLoss(3, 4, out_features=(2,), bias=True, label_smoothing=0.05)
    assert repr(fm) == repr(tm)
    assert sorted(fm.state_dict()) == sorted(tm.state_dict())
    fm.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    xt, xf = pair(rng, (5, 3))
    tgt = rng.integers(0, 4, (5, 2))
    same(fm(xf, flambeau.from_numpy(tgt)), tm(xt, torch.from_numpy(tgt)))


def test_nllloss2d_and_container(rng):
    xt, xf = pair(rng, (2, 3, 4, 5), grad=True)
    tgt = rng.integers(0, 3, (2, 4, 5))
    lt = torch.nn.NLLLoss2d()(torch.log_softmax(xt, 1), torch.from_numpy(tgt))
    lf = flambeau.nn.NLLLoss2d()(flambeau.log_softmax(xf, 1), flambeau.from_numpy(tgt))
    same(lf, lt)
    assert isinstance(flambeau.nn.NLLLoss2d(), flambeau.nn.NLLLoss)
    for lib in (torch, flambeau):
        with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
            c = lib.nn.Container(a=lib.nn.Linear(2, 2), b=lib.nn.ReLU())
        assert list(dict(c.named_children())) == ["a", "b"]


@pytest.mark.parametrize("size, shape", [(5, (2, 7, 3, 4)), (3, (1, 4, 2, 2)), (4, (2, 3, 2, 3)), (2, (1, 3, 1, 1))])
def test_cross_map_lrn2d(size, shape, rng):
    xt, xf = pair(rng, shape, dtype=np.float64, grad=True)
    kw = dict(alpha=0.3, beta=0.75, k=1.5)
    yt = torch.nn.CrossMapLRN2d(size, **kw)(xt)
    yf = flambeau.nn.CrossMapLRN2d(size, **kw)(xf)
    same(yf, yt)
    g = rng.standard_normal(shape)
    yt.backward(torch.from_numpy(g))
    yf.backward(flambeau.from_numpy(g))
    same(xf.grad, xt.grad)
    assert repr(flambeau.nn.CrossMapLRN2d(size, **kw)) == repr(torch.nn.CrossMapLRN2d(size, **kw))


# ------------------------------------------------------------------------------------------------ functions
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_conv_tbc(pad, rng):
    xt, xf = pair(rng, (7, 2, 3), grad=True)
    wt, wf = pair(rng, (3, 3, 4), grad=True)
    bt, bf = pair(rng, (4,), grad=True)
    yt = torch.conv_tbc(xt, wt, bt, pad)
    yf = flambeau.conv_tbc(xf, wf, bf, pad)
    same(yf, yt)
    assert flambeau.nn.functional.conv_tbc is flambeau.conv_tbc
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    yf.backward(flambeau.from_numpy(g))
    for a, b in ((xf, xt), (wf, wt), (bf, bt)):
        same(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_native_norm_ops(rng):
    xt, xf = pair(rng, (3, 4, 5), grad=True)
    wt, wf = pair(rng, (4, 5))
    bt, bf = pair(rng, (4, 5))
    same(flambeau.native_layer_norm(xf, [4, 5], wf, bf, 1e-5), torch.native_layer_norm(xt, [4, 5], wt, bt, 1e-5))
    same(flambeau.native_layer_norm(xf, (5,), None, None, 1e-3), torch.native_layer_norm(xt, (5,), None, None, 1e-3))
    rm_t, rv_t = torch.zeros(4), torch.ones(4)
    rm_f, rv_f = flambeau.zeros(4), flambeau.ones(4)
    same(flambeau.native_batch_norm(xf, None, None, rm_f, rv_f, True, 0.1, 1e-5),
         torch.native_batch_norm(xt, None, None, rm_t, rv_t, True, 0.1, 1e-5))
    same(rm_f, rm_t)
    same(rv_f, rv_t)
    ev_f = flambeau.native_batch_norm(xf, None, None, rm_f, rv_f, False, 0.1, 1e-5)
    ev_t = torch.native_batch_norm(xt, None, None, rm_t, rv_t, False, 0.1, 1e-5)
    same(ev_f[0], ev_t[0])
    assert [tuple(t.shape) for t in ev_f] == [tuple(t.shape) for t in ev_t]
    gt, gf = pair(rng, (4,))
    same(flambeau.native_group_norm(xf, gf, gf, 3, 4, 5, 2, 1e-5),
         torch.native_group_norm(xt, gt, gt, 3, 4, 5, 2, 1e-5))
    out_t = torch.native_layer_norm(xt, [5], None, None, 1e-5)[0]
    out_f = flambeau.native_layer_norm(xf, [5], None, None, 1e-5)[0]
    out_t.sum().backward()
    out_f.sum().backward()
    same(xf.grad, xt.grad, atol=1e-5)


def test_native_dropout(rng):
    x = flambeau.ones(2000)
    out, mask = flambeau.native_dropout(x, 0.25, True)
    assert mask.dtype == flambeau.bool and out.shape == x.shape
    np.testing.assert_allclose(out.numpy()[mask.numpy()], 1 / 0.75, rtol=1e-6)
    assert (out.numpy()[~mask.numpy()] == 0).all() and 0.2 < 1 - mask.float().mean().item() < 0.3
    o, m = flambeau.native_dropout(x, 0.25, False)
    t_o, t_m = torch.native_dropout(torch.ones(2000), 0.25, False)
    assert o.tolist() == t_o.tolist() and m.tolist() == t_m.tolist()


def test_frobenius_and_nuclear_norm(rng):
    xt, xf = pair(rng, (3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(flambeau.frobenius_norm(xf, dim=(0, 1)), torch.frobenius_norm(xt, dim=(0, 1)))
        same(flambeau.frobenius_norm(xf, (1,), True), torch.frobenius_norm(xt, (1,), True))
        same(flambeau.nuclear_norm(xf), torch.nuclear_norm(xt), atol=1e-5)
        same(flambeau.nuclear_norm(xf, keepdim=True), torch.nuclear_norm(xt, keepdim=True), atol=1e-5)
        same(flambeau.nuclear_norm(xf, (0, 1), True), torch.nuclear_norm(xt, (0, 1), True), atol=1e-5)
    with pytest.warns(UserWarning, match="frobenius_norm is deprecated"):
        flambeau.frobenius_norm(xf, dim=(0, 1))
    for lib in (torch, flambeau):
        with pytest.raises(RuntimeError, match="deprecated since version 1.9 and is now removed"):
            lib.matrix_rank(lib.eye(2))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod", "amax"])
@pytest.mark.parametrize("form", ["lengths", "offsets", "initial", "2d"])
def test_segment_reduce(reduce, form, rng):
    lengths = np.array([2, 0, 3, 1])
    shape = (6, 3) if form == "2d" else (6,)
    xt, xf = pair(rng, shape, dtype=np.float64, grad=True)
    kw_t, kw_f = {}, {}
    if form == "offsets":
        off = np.concatenate([[0], np.cumsum(lengths)])
        kw_t["offsets"], kw_f["offsets"] = torch.from_numpy(off), flambeau.from_numpy(off)
    else:
        kw_t["lengths"], kw_f["lengths"] = torch.from_numpy(lengths), flambeau.from_numpy(lengths)
    if form == "initial":
        kw_t["initial"] = kw_f["initial"] = 0.5
    yt = torch.segment_reduce(xt, reduce, **kw_t)
    yf = flambeau.segment_reduce(xf, reduce, **kw_f)
    same(yf, yt)
    mask = np.isfinite(yt.detach().numpy())
    g = rng.standard_normal(tuple(yt.shape)) * mask
    (yt * torch.from_numpy(mask)).backward(torch.from_numpy(g))
    (yf * flambeau.from_numpy(mask)).backward(flambeau.from_numpy(g))
    same(xf.grad, xt.grad)


def test_segment_reduce_errors():
    for lib in (torch, flambeau):
        x = lib.arange(6.0)
        with pytest.raises(RuntimeError, match="Expected all rows of lengths"):
            lib.segment_reduce(x, "sum", lengths=lib.tensor([2, 0, 3]))
        with pytest.raises(RuntimeError, match="reduce argument must be either"):
            lib.segment_reduce(x, "any", lengths=lib.tensor([6]))
        with pytest.raises(RuntimeError, match="lengths contains negative value"):
            lib.segment_reduce(x, "sum", lengths=lib.tensor([7, -1]))
        with pytest.raises(RuntimeError, match="Either lengths or offsets must be defined"):
            lib.segment_reduce(x, "sum")


@pytest.mark.parametrize("case", ["int", "list", "range", "edges", "weight_density", "3d", "constant"])
def test_histogramdd(case, rng):
    xt, xf = pair(rng, (4, 5, 2) if case == "3d" else (40, 2), dtype=np.float64, low=0, high=1)
    kw_t, kw_f = {}, {}
    bins = 3
    if case == "list":
        bins = [2, 4]
    if case == "range":
        bins, kw_t["range"] = [2, 3], [0.0, 1.0, 0.0, 2.0]
        kw_f["range"] = kw_t["range"]
    if case == "edges":
        e0, e1 = np.array([0.0, 0.3, 1.0]), np.array([0.1, 0.5, 0.9])
        bins = ([torch.from_numpy(e0), torch.from_numpy(e1)], [flambeau.from_numpy(e0), flambeau.from_numpy(e1)])
    if case == "weight_density":
        w = rng.uniform(0, 2, 40)
        kw_t.update(weight=torch.from_numpy(w), density=True)
        kw_f.update(weight=flambeau.from_numpy(w), density=True)
    if case == "constant":
        xt, xf = torch.ones(3, 1, dtype=torch.float64), flambeau.ones(3, 1, dtype=flambeau.float64)
        bins = 2
    bt, bf = bins if case == "edges" else (bins, bins)
    rt = torch.histogramdd(xt, bins=bt, **kw_t)
    rf = flambeau.histogramdd(xf, bins=bf, **kw_f)
    same(rf.hist, rt.hist)
    same(tuple(rf.bin_edges), tuple(rt.bin_edges))


def test_svd_and_pca_lowrank(rng):
    # a rank-3 matrix plus small noise: both libraries find the same leading subspace and reconstruction
    m, n, r = 30, 12, 3
    a = (rng.standard_normal((m, r)) @ rng.standard_normal((r, n)) + 1e-6 * rng.standard_normal((m, n)))
    for A in (a, a.T.copy()):
        at, af = torch.from_numpy(A), flambeau.from_numpy(A)
        flambeau.manual_seed(0)
        U, S, V = flambeau.svd_lowrank(af, q=5)
        Ut, St, Vt = torch.svd_lowrank(at, q=5)
        assert tuple(U.shape) == tuple(Ut.shape) and tuple(V.shape) == tuple(Vt.shape)
        np.testing.assert_allclose(S.numpy()[:r], St.numpy()[:r], rtol=1e-8)
        rec = (U.numpy()[:, :r] * S.numpy()[:r]) @ V.numpy()[:, :r].T
        np.testing.assert_allclose(rec, A, atol=1e-5)
        np.testing.assert_allclose(U.numpy().T @ U.numpy(), np.eye(5), atol=1e-10)
    b = rng.standard_normal((50, 4)) @ np.diag([5.0, 2.0, 1e-5, 1e-6]) + 3.0
    U, S, V = flambeau.pca_lowrank(flambeau.from_numpy(b), q=2)
    Ut, St, Vt = torch.pca_lowrank(torch.from_numpy(b), q=2)
    np.testing.assert_allclose(S.numpy(), St.numpy(), rtol=1e-6)
    # the same principal subspace: equal projectors
    np.testing.assert_allclose(V.numpy() @ V.numpy().T, Vt.numpy() @ Vt.numpy().T, atol=1e-8)
    for lib in (torch, flambeau):
        with pytest.raises(ValueError, match="must be non-negative integer and not greater than"):
            lib.pca_lowrank(lib.zeros(3, 2, dtype=lib.float64), q=3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_ldl_factor_and_solve(n, dtype, rng):
    for trial in range(4):
        a = rng.standard_normal((n, n)).astype(dtype)
        a = a + a.T
        if trial == 1:
            a[0, 0] = 0  # a zero pivot forces a 2x2 block
        if trial == 2:
            a -= np.diag(np.diag(a))
        At, Af = torch.from_numpy(a), flambeau.from_numpy(a)
        LDt, pt, it = torch.linalg.ldl_factor_ex(At)
        LDf, pf, if_ = flambeau.linalg.ldl_factor_ex(Af)
        assert if_.tolist() == it.tolist()
        if it.item() != 0:
            continue
        assert pf.dtype == flambeau.int32 and pf.tolist() == pt.tolist()  # the same Bunch-Kaufman pivots
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(LDf.numpy(), LDt.numpy(), **tol)
        b = rng.standard_normal((n, 3)).astype(dtype)
        xt = torch.linalg.ldl_solve(LDt, pt, torch.from_numpy(b))
        xf = flambeau.linalg.ldl_solve(LDf, pf, flambeau.from_numpy(b))
        scale = max(1.0, float(np.abs(xt.numpy()).max()))
        np.testing.assert_allclose(xf.numpy() / scale, xt.numpy() / scale, **tol)
        LD2, p2 = flambeau.linalg.ldl_factor(Af)
        assert p2.tolist() == pt.tolist()


def test_ldl_batched_and_errors(rng):
    a = rng.standard_normal((2, 3, 4, 4))
    a = a + np.swapaxes(a, -1, -2)
    LDt, pt = torch.linalg.ldl_factor(torch.from_numpy(a))
    LDf, pf = flambeau.linalg.ldl_factor(flambeau.from_numpy(a))
    assert pf.tolist() == pt.tolist()
    np.testing.assert_allclose(LDf.numpy(), LDt.numpy(), rtol=1e-10, atol=1e-12)
    b = rng.standard_normal((4, 2))
    np.testing.assert_allclose(flambeau.linalg.ldl_solve(LDf, pf, flambeau.from_numpy(b)).numpy(),
                               torch.linalg.ldl_solve(LDt, pt, torch.from_numpy(b)).numpy(), rtol=1e-9, atol=1e-10)
    with pytest.raises(RuntimeError, match="must be batches of square matrices"):
        flambeau.linalg.ldl_factor(flambeau.zeros(2, 3, dtype=flambeau.float64))
    with pytest.raises(flambeau.linalg.LinAlgError):
        flambeau.linalg.ldl_factor(flambeau.zeros(2, 2, dtype=flambeau.float64))


@pytest.mark.parametrize("mode, kw", [("LSTM", {}), ("GRU", dict(num_layers=2, bidirectional=True)),
                                      ("RNN", dict(nonlinearity="relu", bias=False)), ("RNN", dict(num_layers=2)),
                                      ("LSTM", dict(proj_size=2, batch_first=True)), ("GRU", dict(batch_first=True))])
def test_functional_rnns(mode, kw, rng):
    torch.manual_seed(0)
    tm = getattr(torch.nn, mode)(4, 3, **kw)
    fm = getattr(flambeau.nn, mode)(4, 3, **kw)
    fm.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    bf = kw.get("batch_first", False)
    xt, xf = pair(rng, (2, 5, 4) if bf else (5, 2, 4), grad=True)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hsz = kw.get("proj_size") or 3
    ht, hf = pair(rng, (layers, 2, hsz))
    args = (kw.get("bias", True), kw.get("num_layers", 1), 0.0, False, kw.get("bidirectional", False), bf)
    if mode == "LSTM":
        ct, cf = pair(rng, (layers, 2, 3))
        rt = torch.lstm(xt, (ht, ct), tm._flat_weights, *args)
        rf = flambeau.lstm(xf, (hf, cf), fm._flat_weights, *args)
    else:
        name = "gru" if mode == "GRU" else ("rnn_relu" if kw.get("nonlinearity") == "relu" else "rnn_tanh")
        rt = getattr(torch, name)(xt, ht, tm._flat_weights, *args)
        rf = getattr(flambeau, name)(xf, hf, fm._flat_weights, *args)
    same(rf, rt, atol=1e-5, rtol=1e-4)
    rt[0].sum().backward()
    rf[0].sum().backward()
    same(xf.grad, xt.grad, atol=1e-5, rtol=1e-4)
    for (n, pt), pf in zip(tm.named_parameters(), fm.parameters()):
        same(pf.grad, pt.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n, p", [(5, 0.3), (20, 0.5), (1000, 0.02), (200, 0.9), (3, 0.99), (100, 0.3)])
def test_binomial_distribution(n, p):
    from math import comb
    m = 40000
    flambeau.manual_seed(1)
    s = flambeau.binomial(flambeau.full((m,), float(n)), flambeau.full((m,), p))
    assert s.dtype == flambeau.float32 and s.shape == (m,)
    x = s.numpy().astype(np.int64)
    assert x.min() >= 0 and x.max() <= n
    # each value's frequency within 5 standard errors of its probability (the same distribution PyTorch samples)
    for k in range(n + 1):
        pk = comb(n, k) * p ** k * (1 - p) ** (n - k)
        if pk < 1e-4:
            continue
        freq = (x == k).mean()
        assert abs(freq - pk) < 5 * np.sqrt(pk * (1 - pk) / m) + 1e-4, (k, freq, pk)
    flambeau.manual_seed(1)
    again = flambeau.binomial(flambeau.full((m,), float(n)), flambeau.full((m,), p))
    assert np.array_equal(again.numpy(), s.numpy())


def test_binomial_edges_and_errors():
    for lib in (torch, flambeau):
        r = lib.binomial(lib.tensor([0.0, 7.0, 7.0, 4.0], dtype=lib.float64), lib.tensor([0.5, 0.0, 1.0, 1.0],
                                                                                        dtype=lib.float64))
        assert r.tolist() == [0.0, 0.0, 7.0, 4.0] and r.dtype == lib.float64
        with pytest.raises(ValueError, match="binomial only supports floating-point dtypes for count, got: Long"):
            lib.binomial(lib.tensor([5, 10]), lib.tensor([0.5, 0.2]))


@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=1),
                                dict(weight=True), dict(bias=True), dict(unbatched=True)])
@pytest.mark.parametrize("chunk", [dict(batch_chunk_size=3), dict(), dict(chunking_method="aspect_ratio")])
def test_linear_cross_entropy_chunked(kw, chunk, rng):
    n, d, c = 10, 4, 7
    kw = dict(kw)
    shape = (d,) if kw.pop("unbatched", False) else (n, d)
    xt, xf = pair(rng, shape, grad=True)
    wt, wf = pair(rng, (c, d), grad=True)
    tgt = rng.integers(0, c, shape[:-1])
    if "ignore_index" in kw and tgt.ndim:
        tgt[:3] = 1
    ext, exf = dict(kw), dict(kw)
    if kw.pop("weight", None):
        w = rng.uniform(0.5, 2, c).astype(np.float32)
        ext["weight"], exf["weight"] = torch.from_numpy(w), flambeau.from_numpy(w)
    if kw.pop("bias", None):
        bt, bf = pair(rng, (c,), grad=True)
        ext["linear_bias"], exf["linear_bias"] = bt, bf
        del ext["bias"], exf["bias"]
    tt, tf = torch.from_numpy(np.asarray(tgt)), flambeau.from_numpy(np.asarray(tgt))
    ref = torch.nn.functional.linear_cross_entropy(xt, wt, tt, **ext)  # PyTorch's reference path
    out = flambeau.nn.functional.linear_cross_entropy(xf, wf, tf, options=flambeau.nn.LinearCrossEntropyOptions(
        **chunk), **exf)
    same(out, ref, atol=1e-5, rtol=1e-5)
    g = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    ref.backward(torch.from_numpy(g))
    out.backward(flambeau.from_numpy(g))
    same(xf.grad, xt.grad, atol=1e-5, rtol=1e-4)
    same(wf.grad, wt.grad, atol=1e-5, rtol=1e-4)
    if "linear_bias" in ext:
        same(exf["linear_bias"].grad, ext["linear_bias"].grad, atol=1e-5, rtol=1e-4)


def test_linear_cross_entropy_options_checks():
    for lib in (torch, flambeau):
        O = lib.nn.LinearCrossEntropyOptions
        for bad in (dict(acc_policy="x"), dict(chunking_method="ratio"), dict(batch_chunk_size=0)):
            with pytest.raises(ValueError):
                O(**bad)
        with pytest.warns(UserWarning, match="options`` ignored"):
            lib.nn.functional.linear_cross_entropy(lib.zeros(2, 3), lib.zeros(4, 3), lib.zeros(2, dtype=lib.int64),
                                                   label_smoothing=0.1, options=O())
        with pytest.raises(ValueError, match="give different chunk sizes"):
            lib.nn.functional.linear_cross_entropy(lib.zeros(8, 3), lib.zeros(4, 3), lib.zeros(8, dtype=lib.int64),
                                                   options=O(batch_chunk_size=3, chunking_method="aspect_ratio"))
