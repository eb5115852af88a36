"""Regressions found by tools/fuzz_ops.py in nn and linalg (session 19, seeds 21-23).

Each case is `fn(lib)`, run with lib=torch and lib=flambeau: either both return the same thing (shape,
dtype, values: integers exactly), or both raise the same exception type, flambeau's message naming the
op, the kernel or the shapes. The comment on each group says what flambeau did before.
"""
import numpy as np
import pytest
import torch

import flambeau
from fuzz_parity import check as fuzz_check, to_numpy as _np


def _same(t, f, path="result", rtol=1e-5, atol=1e-6):
    if isinstance(t, (tuple, list)):
        assert isinstance(f, (tuple, list)) and len(t) == len(f), f"{path}: {t!r} vs {f!r}"
        for i, (a, b) in enumerate(zip(t, f)):
            _same(a, b, f"{path}[{i}]", rtol, atol)
        return
    assert isinstance(t, torch.Tensor), f"{path}: {t!r}"
    assert isinstance(f, flambeau.Tensor), f"{path}: got {type(f).__name__}"
    assert str(t.dtype).split(".")[-1] == str(f.dtype).split(".")[-1], f"{path}: dtype {t.dtype} vs {f.dtype}"
    assert tuple(t.shape) == tuple(f.shape), f"{path}: shape {tuple(t.shape)} vs {tuple(f.shape)}"
    a, b = _np(t), _np(f)
    if a.dtype.kind in "iub":
        np.testing.assert_array_equal(b, a, err_msg=path)  # integer results: exactly, wraparound included
    else:
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)


def check(fn, names=None, rtol=1e-5, atol=1e-6):
    """fn(torch) and fn(flambeau) agree; when both raise, the types agree and flambeau's message
    matches `names`."""
    fuzz_check(fn, lambda t, f: _same(t, f, rtol=rtol, atol=atol), names, same_exception_type=True)


def T(L, shape, dtype="float32", big=False, seed=0):
    """The same tensor in either library: small integers (or their floats), or (big=True) integers over
    the dtype's whole range, so that sums and products wrap around."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        a = rng.integers(0, 2, shape).astype(bool)
    elif dtype in ("float32", "float64", "float16", "bfloat16", "complex64"):
        a = rng.standard_normal(shape) * 2
        if dtype == "complex64":
            a = (a + 1j * rng.standard_normal(shape)).astype(np.complex64)
        t = L.tensor(a)
        return t if dtype == "complex64" else t.to(getattr(L, dtype))
    else:
        info = np.iinfo(getattr(np, dtype))
        if big:
            a = rng.integers(info.min, info.max, shape, dtype=getattr(np, dtype), endpoint=True)
        else:
            a = rng.integers(max(info.min, -5), 6, shape).astype(getattr(np, dtype))
    return L.tensor(a)


INTS = ["int64", "int32", "int16", "int8", "uint8"]

# ------------------------------------------------------------------ integer convolutions and linear
# flambeau raised "conv2d: expected a float32 or float64 input, got int64" (and "linear: expected
# floating-point tensors") where PyTorch's CPU computes exactly, wrapping around like the dtype.

CONVS = [
    ("conv1d", (2, 3, 7), (4, 3, 3), (4,), dict(stride=2, padding=1)),
    ("conv1d", (3, 7), (4, 3, 3), None, dict()),
    ("conv1d", (2, 4, 7), (4, 2, 3), (4,), dict(groups=2, padding="same")),
    ("conv2d", (2, 3, 6, 5), (4, 3, 3, 2), (4,), dict(stride=(2, 1), padding=(1, 0))),
    ("conv2d", (2, 4, 6, 5), (4, 2, 3, 2), None, dict(groups=2)),
    ("conv3d", (2, 2, 4, 5, 3), (3, 2, 2, 3, 2), (3,), dict(padding=1)),
]
# PyTorch builds its dilated and transposed slow kernels for int64 only
CONVS_INT64 = [
    ("conv1d", (2, 3, 9), (4, 3, 3), (4,), dict(dilation=2)),
    ("conv2d", (2, 4, 6, 5), (4, 2, 3, 2), None, dict(groups=2, dilation=2)),
    ("conv_transpose1d", (2, 3, 5), (3, 2, 3), (2,), dict(stride=2, output_padding=1)),
    ("conv_transpose2d", (2, 3, 5, 4), (3, 2, 3, 3), (2,), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", (2, 4, 5, 4), (4, 1, 3, 3), None, dict(groups=2, dilation=2)),
    ("conv3d", (2, 2, 6, 5, 5), (3, 2, 2, 3, 2), (3,), dict(dilation=2)),
    ("conv_transpose3d", (2, 2, 4, 5, 3), (2, 3, 2, 3, 2), (3,), dict(stride=2)),
]


def _conv_case(name, xs, ws, bs, kw, dtype, big):
    def fn(L):
        b = None if bs is None else T(L, bs, dtype, big, 3)
        return getattr(L.nn.functional, name)(T(L, xs, dtype, big, 1), T(L, ws, dtype, big, 2), b, **kw)
    return fn


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("dtype", INTS + ["bool"])
@pytest.mark.parametrize("case", CONVS + CONVS_INT64, ids=lambda c: f"{c[0]}{c[1]}{sorted(c[4])}")
def test_integer_convolutions(case, dtype, big):
    check(_conv_case(*case, dtype, big), r"not implemented for")


@pytest.mark.parametrize("dtype", INTS + ["bool"])
@pytest.mark.parametrize("case", CONVS + CONVS_INT64, ids=lambda c: f"{c[0]}{c[1]}{sorted(c[4])}")
def test_integer_convolutions_on_empty_batch(case, dtype):
    name, xs, ws, bs, kw = case
    check(_conv_case(name, (0,) + xs[1:] if len(xs) == len(ws) else xs, ws, bs, kw, dtype, False))


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("dtype", INTS + ["bool"])
@pytest.mark.parametrize("xs,ws,bs", [((2, 3), (5, 3), (5,)), ((3,), (5, 3), (5,)), ((0, 3), (5, 3), None),
                                      ((4, 2, 3), (5, 3), (5,)), ((2, 3), (0, 3), (0,)), ((2, 3), (5, 3), ()),
                                      ((2, 4), (5, 3), None)])
def test_integer_linear(xs, ws, bs, dtype, big):
    check(lambda L: L.nn.functional.linear(T(L, xs, dtype, big, 1), T(L, ws, dtype, big, 2),
                                           None if bs is None else T(L, bs, dtype, big, 3)),
          r"linear|addmm|addmv|dot|mat")


# ------------------------------------------------------------------ integer average pooling
# flambeau raised "avg_pool2d: expected a float32 or float64 input, got int64": PyTorch sums int64
# windows (wrapping) and divides with truncation; every other integer dtype is refused, even empty.
POOLS = [
    ("avg_pool1d", (2, 3, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool1d", (2, 3, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool1d", (0, 3, 7), dict(kernel_size=2)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=1, ceil_mode=True)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=3, padding=1, count_include_pad=False)),
    ("avg_pool2d", (3, 7, 6), dict(kernel_size=3, divisor_override=-3, padding=1)),
    ("avg_pool3d", (2, 2, 5, 6, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool3d", (2, 5, 6, 4), dict(kernel_size=2, divisor_override=3)),
]


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("case", POOLS, ids=lambda c: f"{c[0]}{c[1]}")
def test_integer_avg_pool(case, dtype, big):
    name, shape, kw = case
    check(lambda L: getattr(L.nn.functional, name)(T(L, shape, dtype, big), **kw), r"avg_pool")


def test_avg_pool_checks_shapes_before_the_dtype():
    check(lambda L: L.nn.functional.avg_pool1d(T(L, (2, 3, 1), "int32"), 2), r"avg_pool2d.*\[2, 3, 1, 1\]")


# ------------------------------------------------------------------ adaptive pools and interpolate('area')
# flambeau raised "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero C, H, W" for empty
# batches / planes, and "Input and output sizes should be greater than 0" for interpolate(mode='area')
# with an empty output; PyTorch routes an all-ones output through mean, returns empty outputs of any
# dtype and refuses empty pooled dims with its own message.
ADAPTIVE = ["F.adaptive_avg_pool2d(x, {})".format(o) for o in ["1", "(1, 1)", "(2, 3)", "0", "(0, 2)", "(None, 2)"]] + \
    ["F.interpolate(x, size={}, mode='area')".format(o) for o in ["(0, 2)", "(3, 4)", "(1, 1)"]] + \
    ["F.adaptive_avg_pool1d(x[0], {})".format(o) for o in ["1", "0", "3"]] + \
    ["F.interpolate(x[0], scale_factor={}, mode='area')".format(o) for o in ["0", "0.5", "-1"]] + \
    ["F.adaptive_avg_pool3d(x[None], {})".format(o) for o in ["1", "0", "(2, 1, 3)"]]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape", [(1, 4, 0, 4), (0, 4, 3, 4), (1, 0, 3, 4), (1, 4, 3, 0), (2, 3, 5, 4)])
@pytest.mark.parametrize("code", ADAPTIVE)
def test_adaptive_avg_pool_empty_and_integer(code, shape, dtype):
    check(lambda L: eval(code, {"F": L.nn.functional, "x": T(L, shape, dtype)}),
          r"adaptive_avg_pool|mean|Input dimension|out of bounds")  # (x[0] of an empty batch: both IndexError)


def test_adaptive_avg_pool_mean_route_gradient():
    # output size 1 is the mean over H, W (PyTorch's route): same values and gradients, NaN on empty planes
    for shape in [(2, 3, 5, 4), (1, 2, 0, 3)]:
        grads = []
        for L in (torch, flambeau):
            x = T(L, shape, "float64").requires_grad_()
            y = L.nn.functional.adaptive_avg_pool2d(x, 1)
            (y.nan_to_num() * T(L, y.shape, "float64", seed=5)).sum().backward()
            grads.append((y, x.grad))
        _same(grads[0][0], grads[1][0])
        _same(grads[0][1], grads[1][1])


# ------------------------------------------------------------------ empty batches: conv, grid_sample
# flambeau refused an empty batch with an empty spatial dim ("conv3d: input [0, 1, 3, 4, 0] has an empty
# spatial dimension"), held an empty transposed convolution to the output_padding rule, and checked
# grid_sample's grid dtype on an empty batch; PyTorch only computes the output shape there.
EMPTY_CONVS = [
    "F.conv3d(z(0, 1, 3, 4, 0), o(2, 1, 2, 1, 2), padding=1)", "F.conv3d(z(0, 1, 3, 4, 0), o(2, 1, 2, 1, 2))",
    "F.conv2d(z(0, 1, 3, 0), o(2, 1, 2, 1), padding=1)", "F.conv2d(z(0, 1, 3, 3), o(2, 1, 2, 1), o(2), stride=2)",
    "F.conv_transpose2d(z(0, 3, 2, 9), o(3, 2, 3, 3), stride=2, output_padding=2)",
    "F.conv_transpose2d(z(1, 3, 2, 9), o(3, 2, 3, 3), stride=2, output_padding=2)",
    "F.conv_transpose1d(z(0, 1, 0), o(1, 2, 3), output_padding=1)", "F.conv_transpose2d(z(0, 4, 0, 4), o(4, 2, 3, 3))",
    "F.conv_transpose2d(z(0, 4, 0, 4), o(4, 2, 3, 3), stride=2, padding=1)",
    "F.conv_transpose2d(z(0, 4, 0, 4), o(3, 2, 1, 1))", "F.conv2d(z(0, 4, 3, 3), o(2, 2, 2, 2))",
    "F.conv_transpose3d(z(0, 2, 0, 3, 3), o(2, 2, 1, 2, 2), stride=2, output_padding=1)",
    "F.conv1d(z(0, 3, 6), o(2, 3, 3), padding='same')",
]


@pytest.mark.parametrize("code", EMPTY_CONVS)
def test_convolution_of_empty_batch(code):
    def fn(L):
        z = lambda *s: L.zeros(s)  # noqa: E731
        o = lambda *s: L.ones(s)  # noqa: E731
        return eval(code, {"F": L.nn.functional, "z": z, "o": o})
    check(fn, r"conv|channels|output size|Kernel size")


def test_convolution_of_empty_batch_gradient():
    # the operands of an empty convolution get (zero) gradients, as PyTorch's
    for L in (torch, flambeau):
        x = L.zeros(0, 2, 3, 3, requires_grad=True)
        w = L.ones(4, 2, 2, 2, requires_grad=True)
        b = L.ones(4, requires_grad=True)
        y = L.nn.functional.conv2d(x, w, b)
        assert tuple(y.shape) == (0, 4, 2, 2)
        y.sum().backward()
        assert tuple(x.grad.shape) == (0, 2, 3, 3) and float(x.grad.abs().sum()) == 0.0
        assert w.grad is None or float(w.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("code", [
    "F.grid_sample(z(0, 1, 1, 1, dtype=L.float64), z(0, 2, 3, 2, dtype=L.complex64), align_corners=False)",
    "F.grid_sample(z(0, 1, 7, 3, dtype=L.bfloat16), z(0, 2, 3, 2, dtype=L.bool), align_corners=False)",
    "F.grid_sample(z(0, 1, 7, 3, dtype=L.int64), z(0, 2, 3, 2, dtype=L.int64), align_corners=False)",
    "F.grid_sample(z(0, 1, 4, 4, 4), z(0, 2, 3, 2, 3, dtype=L.int32), align_corners=False)",
    "F.grid_sample(z(0, 1, 7, 3), z(0, 2, 3, 3, dtype=L.int16), align_corners=False)",
    "F.grid_sample(z(0, 1, 0, 3, dtype=L.int16), z(0, 2, 3, 2), align_corners=False)",
    "F.grid_sample(z(1, 1, 7, 3), z(1, 2, 3, 2, dtype=L.int16), align_corners=False)",
])
def test_grid_sample_empty_batch(code):
    def fn(L):
        z = lambda *s, dtype=L.float32: L.zeros(s, dtype=dtype)  # noqa: E731
        return eval(code, {"F": L.nn.functional, "z": z, "L": L})
    check(fn, r"grid_sample|dtype")


# ------------------------------------------------------------------ losses and norms on other dtypes
@pytest.mark.parametrize("d1", ["float32", "float16", "int64", "bool", "complex64"])
@pytest.mark.parametrize("d2", ["float32", "float64", "int64", "uint8"])
@pytest.mark.parametrize("tshape", [(2, 3), (4,), (2, 1)])
@pytest.mark.parametrize("reduction", ["mean", "none", "bad"])
def test_mse_loss_dtypes_and_reduction(d1, d2, tshape, reduction):
    # flambeau refused integer input with a float target (PyTorch promotes), computed integer pairs and
    # complex input (PyTorch: "mse_cpu" not implemented), and read the reduction before broadcasting
    check(lambda L: L.nn.functional.mse_loss(T(L, (2, 3), d1), T(L, tshape, d2, seed=1), reduction=reduction),
          r"mse|reduction|broadcast|shape", rtol=1e-2, atol=1e-2)


def test_mse_loss_integer_target_gradient():
    grads = []
    for L in (torch, flambeau):
        x = T(L, (2, 3), "float64").requires_grad_()
        L.nn.functional.mse_loss(x, T(L, (2, 3), "int64", seed=1)).backward()
        grads.append(x.grad)
    _same(grads[0], grads[1])


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8", "bool"])
@pytest.mark.parametrize("code", ["F.instance_norm(x)", "F.instance_norm(x[:0])", "F.normalize(x)",
                                  "F.normalize(x, p=1, dim=0)", "F.normalize(x[:, :0])"])
def test_norms_of_integer_input(code, dtype):
    # instance_norm raised mean()'s message (PyTorch: "batch_norm" not implemented, but an empty input
    # passes); normalize computed on int8/uint8 and raised abs_cpu's message for bool
    check(lambda L: eval(code, {"F": L.nn.functional, "x": T(L, (2, 3, 4, 4), dtype)}),
          r"batch_norm|vector_norm")


# ------------------------------------------------------------------ linalg on float16/bfloat16 and ints
# flambeau raised "Low precision dtypes not supported" everywhere; PyTorch runs no kernel for empty
# inputs (they pass, in the half dtype: det 1) and otherwise raises the kernel's NotImplementedError
# after its shape checks. eigh/eigvalsh and lu_factor pass empty integer inputs too.
LINALG = {
    "cholesky": "LA.cholesky(a)", "cholesky_ex": "LA.cholesky_ex(a)", "solve": "LA.solve(a, a)",
    "solve_ex": "LA.solve_ex(a, a)", "det": "LA.det(a)", "slogdet": "LA.slogdet(a)", "svdvals": "LA.svdvals(a)",
    "svd": "LA.svd(a)", "inv": "LA.inv(a)", "inv_ex": "LA.inv_ex(a)", "qr": "LA.qr(a)", "eigh": "LA.eigh(a)",
    "eigvalsh": "LA.eigvalsh(a)", "lu": "LA.lu(a)", "solve_shapes": "LA.solve(a, a[..., :1, :])",
    "matrix_norm_2": "LA.matrix_norm(a, ord=2)", "matrix_norm_1": "LA.matrix_norm(a, ord=1)",
    "matrix_norm_inf": "LA.matrix_norm(a, ord=float('inf'))", "matrix_norm_nuc": "LA.matrix_norm(a, ord='nuc')",
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int64", "int32", "bool"])
@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3, 3), (3, 3), (2, 3, 0, 0)])
@pytest.mark.parametrize("op", sorted(LINALG))
def test_linalg_low_precision_and_integer(op, shape, dtype):
    if op == "solve_shapes" and shape[-1] == 0:
        pytest.skip("no row to take")
    if op == "matrix_norm_1" and dtype in ("float16", "bfloat16") and shape == (3, 3):
        pytest.skip("PyTorch computes it; half-precision rounding is tested elsewhere")

    def fn(L):
        a = (L.eye(shape[-1], dtype=L.float64) * 2 + 1).expand(shape).to(getattr(L, dtype))
        r = eval(LINALG[op], {"LA": L.linalg, "a": a})
        return tuple(r) if isinstance(r, tuple) else r
    check(fn, r"not implemented for|linalg\.|Low precision|Incompatible|square")


def test_matrix_norm_of_empty_matrices():
    # ord=1 / inf / 2 of 0 x 0 matrices is 0 in PyTorch (flambeau: amax() of an empty dim)
    for dtype in ("float32", "complex64"):
        for ord_ in (1, float("inf"), 2, "nuc", "fro"):
            check(lambda L: L.linalg.matrix_norm(T(L, (2, 3, 0, 0), dtype), ord=ord_))
        check(lambda L: L.linalg.matrix_norm(T(L, (2, 3, 2, 0), dtype), ord=-1), r"amin")


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (0, 2, 2), (1, 1), (0, 0)])
def test_inv_ex_complex(shape):
    # flambeau raised "linalg.inv_ex: Expected a floating point or complex tensor as input. Got complex64"
    def fn(L):
        rng = np.random.default_rng(7)
        a = (rng.integers(-3, 4, shape) + 1j * rng.integers(-3, 4, shape)).astype(np.complex64)
        a = a + 4 * np.eye(shape[-1], dtype=np.complex64)  # invertible: info 0 (a singular one's differs in rounding)
        return tuple(L.linalg.inv_ex(L.tensor(a)))
    check(fn, rtol=1e-4, atol=1e-5)


def test_inv_ex_complex_gradient():
    grads = []
    for L in (torch, flambeau):
        a = L.tensor(np.array([[2 + 1j, 0.5], [1j, 3 - 1j]], dtype=np.complex128)).requires_grad_()
        inv, _ = L.linalg.inv_ex(a)
        (inv.real.sum() + 2 * inv.imag.sum()).backward()
        grads.append(a.grad)
    _same(grads[0], grads[1])


# ------------------------------------------------------------------ refusals PyTorch makes and flambeau did not
@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8", "bool", "float16", "bfloat16", "float32"])
@pytest.mark.parametrize("code", [
    "F.max_pool1d(x, 2)", "F.max_pool1d(x[:0], 2)", "F.max_pool1d(x, 2, return_indices=True)",  # max_pool1d_impl
    "F.unfold(y, 2)", "F.unfold(y[:0], 2)",                                                    # im2col_out_cpu
    "F.avg_pool3d(z, 2)", "F.avg_pool3d(z[:0], 2)",                                           # avg_pool3d_out_frame
])
def test_pooling_and_unfold_dtype_refusals(code, dtype):
    # flambeau computed these; PyTorch's CPU kernels refuse the dtypes (even for empty input)
    def fn(L):
        env = {"F": L.nn.functional, "x": T(L, (2, 3, 6), dtype), "y": T(L, (2, 3, 6, 6), dtype),
               "z": T(L, (2, 3, 6, 6, 6), dtype)}
        r = eval(code, env)
        return tuple(r) if isinstance(r, tuple) else r
    check(fn, r"not implemented for", rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("ord_", [-1, -1.0, -0.5, float("inf"), -float("inf"), 0, 2])
@pytest.mark.parametrize("dim", [None, 1, 0, (0, 1)])
def test_vector_norm_without_identity_on_empty(ord_, dim):
    # flambeau returned a value for the -1 / inf norms of an empty tensor (or dim); PyTorch refuses
    check(lambda L: L.linalg.vector_norm(T(L, (2, 0), "float32"), ord=ord_, dim=dim), r"vector_norm.*identity")


@pytest.mark.parametrize("shape,groups", [((1, 4, 1, 1), 4), ((1, 4, 1, 1), 2), ((1, 2, 1), 2), ((0, 2, 1), 2)])
def test_group_norm_single_value_per_group(shape, groups):
    # flambeau normalised a single value per group (to 0); PyTorch's F.group_norm refuses it
    check(lambda L: L.nn.functional.group_norm(T(L, shape, "float32"), groups), r"more than 1 value")


# ------------------------------------------------------------------ integer max pooling
MAXPOOLS = [
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", (3, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ("max_pool2d", (0, 3, 7, 6), dict(kernel_size=2)),
    ("max_pool2d", (2, 3, 1, 1), dict(kernel_size=2)),
    ("max_pool3d", (2, 2, 5, 6, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool3d", (2, 5, 6, 4), dict(kernel_size=2, dilation=2)),
    ("max_pool3d", (0, 2, 5, 6, 4), dict(kernel_size=2)),
]


@pytest.mark.parametrize("return_indices", [False, True])
@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("case", MAXPOOLS, ids=lambda c: f"{c[0]}{c[1]}")
def test_integer_max_pool(case, dtype, big, return_indices):
    # max_pool3d raised "expected a float32 or float64 input, got int64"; max_pool2d compared float64 copies,
    # so int64 values beyond 2^53 that round alike could pick the wrong (first) maximum
    name, shape, kw = case

    def fn(L):
        x = T(L, shape, dtype, big)
        if big and dtype == "int64" and x.numel():
            x[..., 0] = 2 ** 60 + x[..., 0] % 3  # neighbours float64 cannot tell apart
        r = getattr(L.nn.functional, name)(x, return_indices=return_indices, **kw)
        return tuple(r) if isinstance(r, tuple) else r
    check(fn, r"max_pool|output size")


@pytest.mark.parametrize("code", [
    "F.avg_pool3d(z(1, 1, 1, 4, 4), 2, padding=1)", "F.avg_pool3d(z(0, 1, 1, 4, 3), 3, padding=1)",
    "F.avg_pool3d(z(1, 1, 1, 4, 4), (1, 2, 2))", "F.avg_pool2d(z(1, 1, 4, 4).half(), 2)",
    "F.unfold(z(2, 3, 0, 4), 2)", "F.unfold(z(0, 3, 4, 4), 2)", "F.unfold(z(3, 0, 4), 2)",
    "F.unfold(z(2, 3, 4, 4).long(), 9)", "F.unfold(z(2, 3, 0, 4).long(), 2)",
    "LA.qr(z(3, 3).half(), mode='bad')", "LA.qr(z(3, 3).long(), mode='bad')",
])
def test_shape_checks_come_first(code):
    # PyTorch's shape checks (avg_pool3d: the input itself must hold a window; unfold: non-empty non-batch
    # dims; qr: the mode) come before its dtype refusals; flambeau refused the dtype first, or computed
    def fn(L):
        r = eval(code, {"F": L.nn.functional, "LA": L.linalg, "z": lambda *s: L.zeros(s)})
        return tuple(r) if isinstance(r, tuple) else r
    check(fn, r"input image|unfold|Expected 3D or 4D|sliding|kernel|qr|mode")


@pytest.mark.parametrize("code", ["F.conv1d(x, w, padding=-1)", "F.conv1d(x, w, stride=0)",
                                  "F.conv1d(x.long(), w.long(), padding=-1)", "F.conv_transpose1d(x, w2, padding=-1)"])
def test_conv1d_argument_errors_name_conv1d(code):
    # the message named conv2d (the kernel conv1d runs on), and the dtype was refused before the padding
    check(lambda L: eval(code, {"F": L.nn.functional, "x": L.ones(1, 2, 5), "w": L.ones(3, 2, 2),
                                "w2": L.ones(2, 3, 2)}), r"conv(_transpose)?1d: (negative padding|non-positive stride)")


@pytest.mark.parametrize("pads", [(-6, 0), (-2, -2), (-3, 0), (-1, -1, 2, -3), (0, -4)])
def test_constant_pad_cropping_too_much(pads):
    # narrow() raised "start out of range" (an IndexError naming neither pad nor the shapes)
    check(lambda L: L.nn.functional.pad(L.ones(2, 3), pads), r"pad: narrow\(\).*input \[2, 3\]")


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "bool", "uint8", "complex64"])
@pytest.mark.parametrize("code", [
    "F.interpolate(o(1, 2, 3, 4), size=(5, 6))", "F.interpolate(o(1, 2, 4), scale_factor=2)",
    "F.interpolate(o(1, 2, 3, 4, 5), size=(5, 6, 2))", "F.interpolate(o(0, 2, 3, 4), size=(5, 6))",
    "F.interpolate(o(1, 2, 3, 4), size=(5, 6), mode='nearest-exact')", "F.interpolate(o(1, 2, 3, 4), size=(0, 6))"])
def test_interpolate_nearest_dtypes(code, dtype):
    # flambeau's nearest modes copied any integer, bool or complex tensor; PyTorch's kernels take uint8 only
    check(lambda L: eval(code, {"F": L.nn.functional, "o": lambda *s: T(L, s, dtype)}),
          r"not implemented for|sizes should be greater than 0")
