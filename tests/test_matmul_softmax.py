"""matmul / @ for 1-D, 2-D and batched (broadcast) operands, mm/bmm, and softmax/log_softmax, against
PyTorch: forward and gradient, odd and empty sizes, transposed operands, numerical stability."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((4, 3), (3,)),
    ((3,), (3, 5)),
    ((4, 3), (3, 5)),
    ((1, 1), (1, 1)),
    ((7, 13), (13, 9)),
    ((2, 4, 3), (2, 3, 5)),
    ((2, 4, 3), (3, 5)),
    ((4, 3), (2, 3, 5)),
    ((3,), (2, 3, 5)),
    ((2, 4, 3), (3,)),
    ((2, 1, 4, 3), (5, 3, 2)),
    ((1, 3, 2, 4), (2, 1, 4, 3)),
    ((0, 3), (3, 4)),
    ((4, 3), (3, 0)),
    ((4, 0), (0, 5)),
    ((0,), (0,)),
    ((2, 0, 3), (3, 4)),
    ((0, 2, 3), (0, 3, 4)),
]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype, non_contiguous, device):
    check_op(lambda a, b: a @ b, shapes=list(shapes), dtype=dtype, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("shapes", [((4, 3), (3, 5)), ((2, 4, 3), (3,)), ((3,), (3,))], ids=str)
def test_matmul_function_and_method(shapes, device):
    check_op(lambda a, b: torch.matmul(a, b), lambda a, b: flambeau.matmul(a, b), shapes=list(shapes),
             device=device)
    check_op(lambda a, b: a.matmul(b), shapes=list(shapes), device=device)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shapes", [((4, 3), (3, 5)), ((1, 7), (7, 1)), ((0, 2), (2, 3))], ids=str)
def test_mm(shapes, non_contiguous, device):
    check_op(lambda a, b: torch.mm(a, b), lambda a, b: flambeau.mm(a, b), shapes=list(shapes),
             non_contiguous=non_contiguous, device=device)
    check_op(lambda a, b: a.mm(b), shapes=list(shapes), device=device)


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shapes", [((2, 4, 3), (2, 3, 5)), ((1, 1, 1), (1, 1, 1)), ((3, 0, 2), (3, 2, 4))],
                         ids=str)
def test_bmm(shapes, non_contiguous, device):
    check_op(lambda a, b: torch.bmm(a, b), lambda a, b: flambeau.bmm(a, b), shapes=list(shapes),
             non_contiguous=non_contiguous, device=device)
    check_op(lambda a, b: a.bmm(b), shapes=list(shapes), device=device)


# Sizes around GEMM register/cache blocking (tails in m, n and k), float32 with a looser tolerance.
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 17, 3), (17, 5, 33), (64, 64, 64), (65, 129, 33),
                                   (127, 255, 67), (256, 128, 1), (1, 300, 257)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_blocking_sizes(m, k, n, dtype, device):
    tol = 2e-4 if dtype == "float32" else 1e-10
    check_op(lambda a, b: a @ b, shapes=[(m, k), (k, n)], dtype=dtype, low=-1, high=1, atol=tol,
             grad_atol=10 * tol, device=device)
    # x @ W.T: the Linear layout, with the weight transposed (non-contiguous).
    check_op(lambda a, w: a @ w.T, shapes=[(m, k), (n, k)], dtype=dtype, low=-1, high=1, atol=tol,
             grad_atol=10 * tol, device=device)
    check_op(lambda a, b: a.T @ b, shapes=[(k, m), (k, n)], dtype=dtype, low=-1, high=1, atol=tol,
             grad_atol=10 * tol, device=device)


def test_matmul_batched_large(device):
    check_op(lambda a, b: a @ b, shapes=[(6, 33, 47), (6, 47, 29)], low=-1, high=1, atol=1e-4, grad_atol=1e-3,
             device=device)


def test_matmul_int64(device, rng):
    a = rng.integers(-5, 6, size=(3, 4)).astype(np.int64)
    b = rng.integers(-5, 6, size=(4, 2)).astype(np.int64)
    check_op(lambda x, y: x @ y, inputs=[a, b], device=device)


def test_matmul_zero_k_gives_zeros(device):
    out = flambeau.ones(3, 0, device=device) @ flambeau.ones(0, 4, device=device)
    assert out.shape == (3, 4)
    assert out.tolist() == [[0.0] * 4] * 3


def test_matmul_then_sum_gradients(device):
    # A 2-layer MLP-like expression: gradients through two matmuls and broadcast bias adds.
    check_op(lambda x, w1, b1, w2: ((x @ w1.T + b1).tanh() @ w2).sum(1).mean(),
             shapes=[(8, 5), (7, 5), (7,), (7, 3)], device=device)


SOFTMAX_CASES = [((7,), 0), ((7,), -1), ((3, 5), 1), ((3, 5), 0), ((3, 5), -1), ((2, 3, 4), 0),
                 ((2, 3, 4), 1), ((2, 3, 4), 2), ((1, 1), 1), ((0, 3), 1), ((3, 0), 1), ((), 0), ((3, 1001), 1),
                 ((2, 3, 17), -2)]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SOFTMAX_CASES, ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op, case, dtype, non_contiguous, device):
    shape, dim = case
    check_op(lambda x: getattr(torch, op)(x, dim), lambda x: getattr(flambeau, op)(x, dim), shapes=[shape],
             dtype=dtype, low=-4, high=4, non_contiguous=non_contiguous, device=device)
    check_op(lambda x: getattr(x, op)(dim=dim), shapes=[shape], dtype=dtype, device=device)
    check_op(lambda x: getattr(x, op)(dim), shapes=[shape], dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_is_stable(op, dtype, device, rng):
    x = (rng.uniform(-1, 1, size=(4, 9)) * 1000).astype(dtype)
    x[1, 3] = -np.inf  # a masked entry: probability 0, log-probability -inf, no NaN anywhere
    x[2, :] += 1e4
    check_op(lambda t: getattr(t, op)(dim=1), inputs=[x], grad=False, device=device)
    check_op(lambda t: getattr(t, op)(dim=1), inputs=[np.delete(x, 1, axis=0)], device=device)


def test_softmax_rows_sum_to_one(device, rng):
    x = fl_tensor(rng.standard_normal((5, 37)).astype(np.float32) * 10, device)
    s = flambeau.softmax(x, 1).sum(1)
    np.testing.assert_allclose(s.to("cpu").numpy(), np.ones(5), rtol=1e-6, atol=1e-6)


def test_softmax_composes_with_nll(device):
    # Cross-entropy written by hand: -log_softmax(x)[range(n), y].mean()
    y = np.array([2, 0, 4, 1, 1])

    def make(lib, dev):
        def fn(x):
            return -(lib.log_softmax(x, 1)[lib.arange(5, device=dev), lib.tensor(y, device=dev)]).mean()
        return fn
    check_op(make(torch, "cpu"), make(flambeau, device), shapes=[(5, 6)], device=device)


# addmm with a 1-d bias row (beta = alpha = 1): on CUDA one GEMM with the bias in its epilogue
# (the Linear kernel); elsewhere mm + add. Forward and gradients of all three operands.
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 3, 7), (33, 65, 17), (4, 0, 3)])
def test_addmm_bias_row(m, k, n, device):
    check_op(lambda b, x, w: torch.addmm(b, x, w), lambda b, x, w: flambeau.addmm(b, x, w),
             shapes=[(n,), (m, k), (k, n)], low=-1, high=1, atol=1e-5, grad_atol=1e-4, device=device)
    check_op(lambda b, x, w: torch.addmm(b, x, w.T), lambda b, x, w: flambeau.addmm(b, x, w.T),
             shapes=[(n,), (m, k), (n, k)], low=-1, high=1, atol=1e-5, grad_atol=1e-4, device=device)


# Views whose data pointer or row stride is not a multiple of 16 bytes (the CUDA GEMM then uses its
# reference kernel), next to aligned ones (its vectorised kernel); strided columns.
@pytest.mark.parametrize("view", ["off1", "off4", "pad1", "step2"])
def test_mm_sliced_views(view, device, rng):
    def cut(arr, cols):
        return {"off1": arr[:, 1:1 + cols], "off4": arr[:, 4:4 + cols], "pad1": arr[:, :cols],
                "step2": arr[:, ::2][:, :cols]}[view]
    m, k, n = 37, 29, 45
    a = rng.standard_normal((m, 2 * k + 8)).astype(np.float32)
    b = rng.standard_normal((k, 2 * n + 8)).astype(np.float32)
    fa, fb = fl_tensor(a, device), fl_tensor(b, device)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert_close(flambeau.mm(cut(fa, k), cut(fb, n)), torch.mm(cut(ta, k), cut(tb, n)), atol=1e-4)
    w = rng.standard_normal((n, 2 * k + 8)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    got = flambeau.nn.functional.linear(cut(fa, k), cut(fl_tensor(w, device), k), fl_tensor(bias, device))
    want = torch.nn.functional.linear(cut(ta, k), cut(torch.from_numpy(w), k), torch.from_numpy(bias))
    assert_close(got, want, atol=1e-4)


def test_allow_tf32_flag_reaches_the_kernels():
    flags = flambeau.backends.cuda.matmul
    assert flags.allow_tf32 is False  # PyTorch's default
    try:
        flags.allow_tf32 = True
        assert flags.allow_tf32 is True and flambeau._C.cuda_matmul_allow_tf32() is True
        a = flambeau.randn(5, 3)
        assert_close(a @ a.T, torch.from_numpy(a.numpy()) @ torch.from_numpy(a.numpy()).T, atol=1e-5)  # CPU: unaffected
    finally:
        flags.allow_tf32 = False
    assert flambeau._C.cuda_matmul_allow_tf32() is False


# Non-last dims run tiles of up to 512 inner positions (csrc/cpu/softmax.cpp, SIMD lanes across the
# inner dim; the float32 SIMD backward 384-1024): inner sizes around the SIMD widths and the tile
# widths, several dims of 3-D/4-D tensors.
SOFTMAX_INNER_CASES = [((4, 5, 1), 1), ((4, 5, 3), 1), ((3, 6, 7), 1), ((2, 9, 255), 1), ((2, 9, 256), 1),
                       ((2, 9, 257), 1), ((2, 5, 1000), 1), ((3, 70, 33), 1), ((300, 5), 0), ((2, 3, 4, 5), 0),
                       ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -2), ((2, 21, 16, 17), 1), ((1, 1, 9), 1), ((2, 0, 5), 1),
                       ((2, 3, 0), 1), ((2, 5, 1023), 1), ((1, 5, 1025), 1), ((1, 3, 2063), 1), ((2, 64, 385), 1)]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SOFTMAX_INNER_CASES, ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
def test_softmax_inner_dims(op, case, dtype, non_contiguous, device):
    shape, dim = case
    mod = torch.nn.functional if op == "softmin" else torch
    fmod = flambeau.nn.functional if op == "softmin" else flambeau
    check_op(lambda x: getattr(mod, op)(x, dim), lambda x: getattr(fmod, op)(x, dim), shapes=[shape],
             dtype=dtype, low=-6, high=6, non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_inner_dims_specials(op, dtype, device, rng):
    # Large logits, -inf entries, an all -inf line, +inf and NaN lines, over dim 1 of [3, 6, 19].
    x = (rng.uniform(-1, 1, size=(3, 6, 19)) * 1000).astype(dtype)
    x[0] += 1e4
    x[1, 2, 4] = -np.inf
    x[1, :, 5] = -np.inf
    x[2, 3, 6] = np.inf
    x[2, 1, 7] = np.nan
    x[2, 0, 8] = np.nan
    x[2, 5, 8] = np.inf
    check_op(lambda t: getattr(t, op)(dim=1), inputs=[x], grad=False, device=device)
    # Gradients where everything is finite.
    y = (rng.uniform(-1, 1, size=(3, 6, 19)) * 1000).astype(dtype)
    y[1, 2, 4] = -np.inf
    check_op(lambda t: getattr(t, op)(dim=1), inputs=[y], device=device)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((2, 3, 5), 1), ((3, 4, 2, 3), 0), ((2, 3, 4, 5), 2)])
def test_softmax_inner_dims_gradcheck(op, shape, dim, rng):
    x = flambeau.tensor(rng.standard_normal(shape), dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda t: getattr(flambeau, op)(t, dim), (x,))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_inner_dims_backward_threads(op, rng):
    # The backward's per-position sums are formed in class order whatever the tiling or thread split:
    # 1 and 2 threads give the same bits.
    from flambeau import _C
    x = flambeau.from_numpy(rng.standard_normal((3, 37, 1100)).astype(np.float32) * 3)
    g = rng.standard_normal((3, 37, 1100)).astype(np.float32)
    y = getattr(flambeau, op)(x, 1)
    outs = []
    prev = _C.get_num_threads()
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            outs.append(flambeau._tensor._wrap(getattr(_C, op + "_backward")(flambeau.from_numpy(g)._impl, y._impl, 1)).numpy())
    finally:
        _C.set_num_threads(prev)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_softmax_inner_dims_big(rng):
    # The benchmark's shape: [8, 21, 128, 128] over dim 1, forward and backward (random upstream
    # gradient), against torch.
    x = rng.standard_normal((8, 21, 128, 128)).astype(np.float32) * 3
    for op in ("softmax", "log_softmax"):
        check_op(lambda t: getattr(t, op)(1), inputs=[x], device="cpu")


@pytest.mark.parametrize("shapes", [((5,), (5,)), ((2, 3), (4, 3)), ((2, 3), (3,)), ((2, 5, 3), (4, 3)), ((3,), (2, 5, 3)),
                                    ((), (2, 3)), ((2, 3), ())])
def test_inner_any_rank(shapes):
    """torch.inner sums over the last dims for any ranks (it was dot, which only takes 1-D tensors)."""
    check_op(lambda a, b: torch.inner(a, b), lambda a, b: flambeau.inner(a, b), shapes=list(shapes))
    check_op(lambda a, b: a.inner(b), lambda a, b: a.inner(b), shapes=list(shapes))


def test_inner_last_dims_must_match():
    with pytest.raises(RuntimeError, match="the last dimension must match"):
        flambeau.inner(flambeau.zeros(2, 3), flambeau.zeros(2, 4))
