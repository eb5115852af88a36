"""nn.functional entry points not covered through a module: pad, unfold, one_hot, embedding,
scaled_dot_product_attention, conv with explicit weights, distance functions, float64 gradients
through the composite ops (against PyTorch)."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau.nn import functional as F
from nn_helpers import assert_close, t2f, to_np

TF = torch.nn.functional


def randn(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


def compare(fn_f, fn_t, arrays, dtype="float32", grads=None, **tol):
    """fn_f(*flambeau tensors) vs fn_t(*torch tensors): values and gradients of float inputs."""
    grads = grads if grads is not None else [a.dtype.kind == "f" for a in arrays]
    ti = [torch.from_numpy(a.copy()).requires_grad_(g) for a, g in zip(arrays, grads)]
    fi = [t2f(a, requires_grad=g) for a, g in zip(arrays, grads)]
    tout, fout = fn_t(*ti), fn_f(*fi)
    assert_close(fout, tout, dtype, "value", **tol)
    if tout.requires_grad:
        g = randn(*tout.shape, dtype=to_np(tout).dtype)
        (tout * torch.from_numpy(g)).sum().backward()
        (fout * t2f(g)).sum().backward()
        for i, (a, b) in enumerate(zip(fi, ti)):
            if b.requires_grad:
                assert_close(a.grad, b.grad, dtype, f"grad {i}", **tol)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode):
    x = randn(2, 3, 5, 6)
    for p in [(2, 1, 0, 3), (1, 1, 1, 1)]:
        compare(lambda t: F.pad(t, p, mode=mode), lambda t: TF.pad(t, p, mode=mode), [x])
    compare(lambda t: F.pad(t, (1, 2), mode=mode), lambda t: TF.pad(t, (1, 2), mode=mode),
            [randn(2, 3, 5)])
    if mode != "constant":
        with pytest.raises(NotImplementedError, match="Padding size 2 is not supported"):
            F.pad(t2f(x), (1, 2), mode=mode)
    if mode == "constant":
        compare(lambda t: F.pad(t, (-1, 2, 1, -2), value=3.0),
                lambda t: TF.pad(t, (-1, 2, 1, -2), value=3.0), [x])
        compare(lambda t: F.pad(t, (1, 1, 0, 0, 2, 0)), lambda t: TF.pad(t, (1, 1, 0, 0, 2, 0)),
                [x])


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_constant_pad_dtypes_views_and_empty(dtype):
    # _C.constant_pad: one pass over the output rows (border, input row, border), any dtype, from a
    # non-contiguous input, with empty dims, and a value of the input's dtype.
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((3, 4, 10)) * 5).astype(dtype)
    fx, tx = flambeau.from_numpy(a), torch.from_numpy(a)
    for p in [(1, 2, 3, 0), (0, 0, 2, 2, 1, 1), (5, 0)]:
        np.testing.assert_array_equal(F.pad(fx.transpose(1, 2), p).numpy(), TF.pad(tx.transpose(1, 2), p).numpy())
    v = True if dtype == np.bool_ else 7
    np.testing.assert_array_equal(F.pad(fx, (2, 1), value=v).numpy(), TF.pad(tx, (2, 1), value=v).numpy())
    e = np.zeros((2, 0, 3), dtype)
    np.testing.assert_array_equal(F.pad(flambeau.from_numpy(e), (1, 1, 1, 1)).numpy(),
                                  TF.pad(torch.from_numpy(e), (1, 1, 1, 1)).numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,p", [((2, 3, 9, 12), (4, 3, 2, 5)), ((2, 3, 7), (3, 0)),
                                     ((1, 2, 4, 5, 6), (1, 1, 2, 0, 1, 2)), ((2, 2, 6, 6), (0, 0, 3, 3))], ids=str)
def test_gather_pads_forward_backward(mode, shape, p):
    # _C.pad_gather: each output row an identity run (a plain copy) and gathered edges, reached through
    # a running multi-index of the padded dims; the backward adds through the same maps (edges fold
    # onto the same inputs). Float64 values and gradients exactly as PyTorch's; a strided int input.
    x = randn(*shape).astype(np.float64)
    compare(lambda t: F.pad(t, p, mode=mode), lambda t: TF.pad(t, p, mode=mode), [x])
    xi = np.random.default_rng(1).integers(-9, 9, shape)
    f = F.pad(flambeau.from_numpy(xi).transpose(0, 1), p, mode=mode).numpy()
    t = TF.pad(torch.from_numpy(xi).transpose(0, 1).double(), p, mode=mode).numpy()
    np.testing.assert_array_equal(f, t.astype(np.int64))


def test_pad_errors():
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(flambeau.zeros(2, 2), (1,))
    with pytest.raises(RuntimeError, match="Padding size should be less"):
        F.pad(flambeau.zeros(1, 1, 3), (3, 0), mode="reflect")


@pytest.mark.parametrize("geom", [(3, 1, 1, 1), ((2, 3), (2, 1), (1, 0), (2, 3)), (5, 1, 2, 2), (1, 1, 0, 1),
                                  ((3, 3), (1, 2), (2, 2), (1, 2))], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fold_and_unfold_kernels(geom, dtype):
    # _C.unfold2d / _C.fold2d (the convolution's im2col and col2im): values and gradients against
    # PyTorch, batched and unbatched, and fold as unfold's adjoint (<unfold x, c> = <x, fold c>).
    k, d, p, s = geom
    x = randn(2, 3, 10, 12, dtype=np.float64 if dtype == "float64" else np.float32)
    compare(lambda t: F.unfold(t, k, d, p, s), lambda t: TF.unfold(t, k, d, p, s), [x], dtype)
    compare(lambda t: F.unfold(t, k, d, p, s), lambda t: TF.unfold(t, k, d, p, s), [x[0]], dtype)
    cols = TF.unfold(torch.from_numpy(x), k, d, p, s).numpy()
    c = randn(*cols.shape, dtype=x.dtype)
    compare(lambda t: F.fold(t, (10, 12), k, d, p, s), lambda t: TF.fold(t, (10, 12), k, d, p, s), [c], dtype)
    compare(lambda t: F.fold(t, (10, 12), k, d, p, s), lambda t: TF.fold(t, (10, 12), k, d, p, s), [c[0]], dtype)
    lhs = float((F.unfold(t2f(x), k, d, p, s) * t2f(c)).sum())
    rhs = float((t2f(x) * F.fold(t2f(c), (10, 12), k, d, p, s)).sum())
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))


def test_fold_module_and_errors():
    m = flambeau.nn.Fold((4, 5), 2)
    assert tuple(m(flambeau.randn(1, 12, 12)).shape) == (1, 3, 4, 5)
    assert "output_size=(4, 5)" in repr(m)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(flambeau.ones(1, 10, 12), (4, 5), 2)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks"):
        F.fold(flambeau.ones(1, 12, 11), (4, 5), 2)
    with pytest.raises(RuntimeError, match="too small"):
        F.unfold(flambeau.ones(1, 1, 2, 2), 3)


def test_fold_gradcheck():
    c = flambeau.from_numpy(np.random.default_rng(0).standard_normal((1, 8, 6))).requires_grad_(True)
    assert flambeau.autograd.gradcheck(lambda t: F.fold(t, (3, 4), 2), (c,))
    x = flambeau.from_numpy(np.random.default_rng(1).standard_normal((1, 2, 4, 5))).requires_grad_(True)
    assert flambeau.autograd.gradcheck(lambda t: F.unfold(t, 2, padding=1, stride=2), (x,))


def test_unfold_matches_pytorch():
    x = randn(2, 3, 6, 7)
    for kw in [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=2, padding=1),
               dict(kernel_size=3, dilation=2, padding=(0, 1))]:
        compare(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x])


def test_conv2d_functional_explicit_weights_and_float64():
    x, w, b = randn(2, 4, 7, 6, dtype=np.float64), randn(6, 2, 3, 3, dtype=np.float64), \
        randn(6, dtype=np.float64)
    compare(lambda a, c, d: F.conv2d(a, c, d, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
            lambda a, c, d: TF.conv2d(a, c, d, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
            [x, w, b], "float64")
    compare(lambda a, c: F.conv1d(a, c, None, 2, "valid"), lambda a, c: TF.conv1d(a, c, None, 2),
            [randn(2, 3, 9), randn(4, 3, 3)])
    wt = randn(4, 3, 3, 3, dtype=np.float64)
    compare(lambda a, c: F.conv_transpose2d(a, c, None, 2, 1, 1),
            lambda a, c: TF.conv_transpose2d(a, c, None, 2, 1, 1),
            [randn(1, 4, 4, 5, dtype=np.float64), wt], "float64")


def test_pooling_functional_float64_gradients():
    x = randn(2, 3, 7, 8, dtype=np.float64)
    compare(lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1), [x], "float64")
    compare(lambda t: F.avg_pool2d(t, 3, 2, 1, True, False), lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False),
            [x], "float64")
    compare(lambda t: F.adaptive_avg_pool2d(t, (3, 5)), lambda t: TF.adaptive_avg_pool2d(t, (3, 5)),
            [x], "float64")
    compare(lambda t: F.adaptive_max_pool2d(t, 4), lambda t: TF.adaptive_max_pool2d(t, 4), [x],
            "float64")


def test_normalization_functional_float64():
    x = randn(4, 6, 3, 2, dtype=np.float64)
    rm, rv = np.zeros(6), np.ones(6)
    compare(lambda t: F.batch_norm(t, None, None, training=True),
            lambda t: TF.batch_norm(t, None, None, training=True), [x], "float64")
    compare(lambda t, w, b: F.group_norm(t, 3, w, b), lambda t, w, b: TF.group_norm(t, 3, w, b),
            [x, randn(6, dtype=np.float64), randn(6, dtype=np.float64)], "float64")
    compare(lambda t: F.layer_norm(t, (3, 2)), lambda t: TF.layer_norm(t, (3, 2)), [x], "float64")
    compare(lambda t: F.instance_norm(t), lambda t: TF.instance_norm(t), [x], "float64")
    compare(lambda t: F.rms_norm(t, (2,)), lambda t: TF.rms_norm(t, (2,)), [x], "float64")
    f_rm, f_rv = t2f(rm), t2f(rv)
    t_rm, t_rv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    F.batch_norm(t2f(x), f_rm, f_rv, training=True, momentum=0.3)
    TF.batch_norm(torch.from_numpy(x), t_rm, t_rv, training=True, momentum=0.3)
    assert_close(f_rm, t_rm, "float64")
    assert_close(f_rv, t_rv, "float64")


def test_one_hot_and_embedding_functional():
    idx = np.array([[0, 3], [2, 2]], np.int64)
    assert np.array_equal(to_np(F.one_hot(t2f(idx), 5)), TF.one_hot(torch.from_numpy(idx), 5).numpy())
    assert tuple(F.one_hot(t2f(idx)).shape) == (2, 2, 4)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(t2f(idx), 2)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(t2f(np.array([1, -1], np.int64)), 3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(t2f(np.zeros(0, np.int64)))
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(flambeau.tensor([1.0]), 3)
    for a in (np.array(2, np.int64), np.zeros((0, 3), np.int64), np.arange(12).reshape(3, 4)[:, ::2]):
        np.testing.assert_array_equal(F.one_hot(t2f(a), 12).numpy(), TF.one_hot(torch.from_numpy(a), 12).numpy())
    w = randn(5, 3)
    compare(lambda ww: F.embedding(t2f(idx), ww, padding_idx=2),
            lambda ww: TF.embedding(torch.from_numpy(idx), ww, padding_idx=2), [w])


@pytest.mark.parametrize("case", ["plain", "bool_mask", "float_mask", "causal", "scale", "gqa"])
def test_scaled_dot_product_attention(case):
    q, k, v = randn(2, 4, 5, 8), randn(2, 4, 6, 8), randn(2, 4, 6, 8)
    kw = {}
    arrays = [q, k, v]
    if case == "bool_mask":
        mask = np.random.rand(5, 6) > 0.3
        mask[:, 0] = True
        kw["attn_mask"] = mask
    elif case == "float_mask":
        kw["attn_mask"] = randn(5, 6)
    elif case == "causal":
        k, v = randn(2, 4, 5, 8), randn(2, 4, 5, 8)
        arrays = [q, k, v]
        kw["is_causal"] = True
    elif case == "scale":
        kw["scale"] = 0.3
    elif case == "gqa":
        arrays = [q, randn(2, 2, 6, 8), randn(2, 2, 6, 8)]
        kw["enable_gqa"] = True

    def fkw():
        return {a: (t2f(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}

    def tkw():
        return {a: (torch.from_numpy(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}

    compare(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **fkw()),
            lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, **tkw()), arrays)


def test_distances_and_similarity():
    a, b = randn(4, 5), randn(4, 5)
    compare(lambda x, y: F.pairwise_distance(x, y, 3.0), lambda x, y: TF.pairwise_distance(x, y, 3.0),
            [a, b])
    compare(lambda x, y: F.cosine_similarity(x, y, dim=0), lambda x, y: TF.cosine_similarity(x, y, dim=0),
            [a, b])
    compare(lambda x, y: F.bilinear(x, y, t2f(randn_w), None),
            lambda x, y: TF.bilinear(x, y, torch.from_numpy(randn_w), None), [a, randn(4, 2)])


randn_w = np.random.RandomState(0).randn(3, 5, 2).astype(np.float32)


@pytest.mark.parametrize("kw,shape", [
    (dict(scale_factor=2), (2, 3, 4, 5)),
    (dict(size=(7, 3)), (2, 3, 4, 5)),
    (dict(scale_factor=1.7, mode="nearest-exact"), (1, 2, 5, 4)),
    (dict(scale_factor=(2, 1.5), mode="bilinear"), (2, 3, 4, 5)),
    (dict(size=(9, 2), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    (dict(size=(3, 7), mode="bilinear", align_corners=False), (1, 2, 6, 5)),
    (dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True), (1, 1, 3, 3)),
    (dict(scale_factor=3, mode="linear"), (2, 3, 5)),
    (dict(size=4, mode="nearest"), (2, 3, 9)),
])
def test_interpolate_matches_pytorch(kw, shape):
    compare(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw),
            [randn(*shape, dtype=np.float64)], "float64")


def test_interpolate_modules_and_errors():
    import flambeau.nn as fnn
    for ctor in [lambda n: n.Upsample(scale_factor=2, mode="bilinear"), lambda n: n.Upsample(size=5),
                 lambda n: n.PixelShuffle(2), lambda n: n.PixelUnshuffle(2),
                 lambda n: n.Unfold((2, 3), padding=1, stride=2)]:
        tm, fm = ctor(torch.nn), ctor(fnn)
        assert repr(fm) == repr(tm)
        x = randn(2, 8, 4, 6)
        compare(lambda t: fm(t), lambda t: tm(t), [x])
    with pytest.raises(NotImplementedError, match="lanczos"):  # bicubic: test_interpolate_modes.py
        F.interpolate(flambeau.zeros(1, 1, 2, 2), scale_factor=2, mode="lanczos", antialias=True)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):  # PyTorch's
        F.interpolate(flambeau.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(flambeau.zeros(1, 1, 2, 2), size=3, scale_factor=2)


@pytest.mark.parametrize("kind", ["bool", "float_inf", "bool_4d", "float_4d_mixed"])
def test_scaled_dot_product_attention_fully_masked_rows(kind):
    """A query whose every key is masked gets zero attention in PyTorch (output 0, no gradient through it)
    instead of softmax's NaN; other rows are unaffected. Left-padded or all-padding batches rely on it."""
    q, k, v = randn(2, 3, 4, 8), randn(2, 3, 6, 8), randn(2, 3, 6, 8)
    mask = np.random.rand(2, 1, 4, 6) > 0.4
    mask[..., 0] = True
    mask[0, 0, 1] = False  # batch 0, query 1: nothing to attend to
    mask[1, 0, 3] = False
    if kind == "bool":
        mask = mask[0, 0]
    elif kind == "float_inf":
        mask = np.where(mask[0, 0], 0.0, -np.inf).astype(np.float32)
    elif kind == "float_4d_mixed":  # -inf and finite penalties: only all -inf rows are dead
        mask = np.where(mask, randn(2, 1, 4, 6), -np.inf).astype(np.float32)
    tm, fm = torch.from_numpy(mask), t2f(mask)
    compare(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=fm),
            lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, attn_mask=tm), [q, k, v])


def test_attention_modules_with_an_all_padding_sequence():
    """MultiheadAttention without weights and a training-mode TransformerEncoderLayer stay finite, as in
    PyTorch, when one sequence of the batch is padding only (its attention goes through the same sdpa)."""
    x = randn(3, 5, 8)
    pad = np.zeros((3, 5), bool)
    pad[1] = True
    pad[2, 3:] = True
    for make in (lambda lib: lib.nn.MultiheadAttention(8, 2, batch_first=True),
                 lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)):
        tm, fm = make(torch), make(flambeau)
        fm.load_state_dict({k: t2f(v) for k, v in tm.state_dict().items()})
        tx, fx = torch.from_numpy(x).requires_grad_(), t2f(x, requires_grad=True)
        if isinstance(tm, torch.nn.MultiheadAttention):
            tout = tm(tx, tx, tx, key_padding_mask=torch.from_numpy(pad), need_weights=False)[0]
            fout = fm(fx, fx, fx, key_padding_mask=t2f(pad), need_weights=False)[0]
        else:
            tout = tm(tx, src_key_padding_mask=torch.from_numpy(pad))
            fout = fm(fx, src_key_padding_mask=t2f(pad))
        assert np.isfinite(to_np(tout)).all()
        assert_close(fout, tout, "float32", "value", atol=1e-5, rtol=1e-4)
        tout.sum().backward()
        fout.sum().backward()
        assert_close(fx.grad, tx.grad, "float32", "grad", atol=1e-5, rtol=1e-4)



# ---- max pooling of integer images (PyTorch pools uint8 ... int64; bool is refused) -------------
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(2, 3), dilation=(1, 2))])
def test_max_pool2d_integer_images(dtype, kw):
    x = np.random.randint(-128 if dtype == "int8" else 0, 128 if dtype == "int8" else 255, (2, 3, 7, 8))
    x = x.astype(dtype)
    to, ti = torch.nn.functional.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    fo, fi = F.max_pool2d(flambeau.from_numpy(x.copy()), return_indices=True, **kw)
    assert str(fo.dtype) == "flambeau." + dtype
    np.testing.assert_array_equal(fo.numpy(), to.numpy())
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    np.testing.assert_array_equal(flambeau.nn.MaxPool2d(2)(flambeau.from_numpy(x[0].copy())).numpy(),
                                  torch.nn.MaxPool2d(2)(torch.from_numpy(x[0])).numpy())
    with pytest.raises(NotImplementedError, match="\"max_pool2d\" not implemented for 'Bool'"):
        F.max_pool2d(flambeau.zeros(1, 1, 2, 2, dtype=flambeau.bool), 2)
