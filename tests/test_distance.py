"""torch.cdist and F.pdist against PyTorch: both of cdist's paths (the direct kernel `_C.cdist`, CPU only,
and the Euclidean matrix-product path), every kind of p, broadcast batches, odd and empty sizes,
non-contiguous inputs, gradients of both operands, float64 gradchecks and the error messages."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor, rand_array

PS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, float("inf")]
DIRECT = "donot_use_mm_for_euclid_dist"


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [[(5, 3), (7, 3)], [(2, 4, 6), (2, 9, 6)], [(1, 1), (1, 1)],
                                    [(3, 1, 4, 5), (2, 3, 5)], [(3, 17), (4, 17)]])
def test_cdist_direct_matches_torch(p, dtype, shapes):
    # Few rows: PyTorch's default takes the direct path for every p; so does ours.
    check_op(lambda a, b: torch.cdist(a, b, p), lambda a, b: flambeau.cdist(a, b, p), shapes=shapes, dtype=dtype)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, float("inf")])
def test_cdist_direct_non_contiguous(p):
    check_op(lambda a, b: torch.cdist(a, b, p), lambda a, b: flambeau.cdist(a, b, p),
             shapes=[(6, 5), (4, 5)], non_contiguous=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [[(40, 8), (6, 8)], [(3, 30, 5), (3, 27, 5)], [(2, 26, 3), (1, 4, 3)]])
def test_cdist_euclidean_matrix_product_path(device, dtype, shapes):
    # More than 25 rows: both libraries use ||a||^2 + ||b||^2 - 2 a.b (the same rounding behaviour).
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == "float32" else {}
    check_op(lambda a, b: torch.cdist(a, b), lambda a, b: flambeau.cdist(a, b), shapes=shapes, dtype=dtype,
             device=device, **tol)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", DIRECT, "use_mm_for_euclid_dist_if_necessary"])
def test_cdist_compute_modes(mode):
    check_op(lambda a, b: torch.cdist(a, b, compute_mode=mode), lambda a, b: flambeau.cdist(a, b, compute_mode=mode),
             shapes=[(5, 4), (30, 4)], dtype="float64")


def test_cdist_zero_distance_has_zero_gradient():
    # Equal rows: the distance is 0 and both paths give PyTorch's subgradient 0 (not NaN). Small
    # integers, so that the matrix-product path's |a|^2 + |b|^2 - 2 a.b is exact (0 for equal rows).
    x = np.random.randint(-4, 5, size=(30, 3)).astype(np.float64)
    x[3] = x[0]
    for p in [1.0, 1.5, 2.0, 3.0, float("inf")]:
        for mode in [DIRECT, "use_mm_for_euclid_dist"]:
            if p != 2.0 and mode != DIRECT:
                continue
            check_op(lambda a: torch.cdist(a, a, p, compute_mode=mode),
                     lambda a: flambeau.cdist(a, a, p, compute_mode=mode), inputs=[x], dtype="float64")


def test_cdist_inf_ties_and_zero_differences():
    # p = inf passes the gradient to every coordinate that attains the maximum; p < 1 gives 0 where a
    # coordinate difference is 0 (its power's derivative would be infinite).
    a = np.array([[0.0, 1.0, -1.0], [2.0, 2.0, 0.5]])
    b = np.array([[0.0, 0.0, 0.0], [2.0, 3.0, 0.5]])
    for p in [float("inf"), 0.5, 1.0]:
        check_op(lambda x, y: torch.cdist(x, y, p), lambda x, y: flambeau.cdist(x, y, p), inputs=[a, b],
                 dtype="float64")


@pytest.mark.parametrize("shapes", [[(0, 3), (4, 3)], [(2, 0), (3, 0)], [(2, 3, 4), (2, 0, 4)], [(0, 5, 2), (5, 2)]])
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_cdist_empty(shapes, p):
    check_op(lambda a, b: torch.cdist(a, b, p), lambda a, b: flambeau.cdist(a, b, p), shapes=shapes)


def test_cdist_large_values_keep_relative_accuracy():
    # The direct path sums powers in float64: no overflow of |d|^p for moderate p, and float32 results
    # within an ulp or two of the float64 answer.
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((4, 50)) * 1e3).astype(np.float32)
    b = (rng.standard_normal((6, 50)) * 1e3).astype(np.float32)
    for p in [1.0, 2.0, 3.0]:
        got = flambeau.cdist(flambeau.tensor(a), flambeau.tensor(b), p).numpy()
        d = a.astype(np.float64)[:, None, :] - b.astype(np.float64)[None, :, :]
        ref = (np.abs(d) ** p).sum(-1) ** (1 / p)
        np.testing.assert_allclose(got, ref, rtol=3e-7)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, float("inf")])
def test_cdist_gradcheck(p, rng):
    a = fl_tensor(rand_array((3, 4), "float64", rng), requires_grad=True)
    b = fl_tensor(rand_array((2, 5, 4), "float64", rng), requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda x, y: flambeau.cdist(x, y, p), (a, b), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_cdist_euclidean_path_double_backward(rng):
    a = fl_tensor(rand_array((30, 3), "float64", rng), requires_grad=True)
    b = fl_tensor(rand_array((4, 3), "float64", rng), requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda x, y: flambeau.cdist(x, y), (a, b))


def test_cdist_direct_path_has_no_double_backward():
    a = flambeau.randn(3, 2, dtype=flambeau.float64, requires_grad=True)
    d = flambeau.cdist(a, a, 1.0)
    with pytest.raises(NotImplementedError, match="_cdist_backward"):
        flambeau.autograd.grad(d.sum(), a, create_graph=True)


def test_cdist_grad_fn_names():
    a = flambeau.randn(3, 2, requires_grad=True)
    assert type(flambeau.cdist(a, a).grad_fn).__name__ == "CdistBackward0"


@pytest.mark.parametrize("bad, msg", [
    (lambda: flambeau.cdist(flambeau.randn(3), flambeau.randn(3, 3)), "cdist only supports at least 2D tensors, X1 got: 1D"),
    (lambda: flambeau.cdist(flambeau.randn(3, 3), flambeau.randn(3)), "cdist only supports at least 2D tensors, X2 got: 1D"),
    (lambda: flambeau.cdist(flambeau.randn(2, 3), flambeau.randn(3, 4)),
     "X1 and X2 must have the same number of columns. X1: 3 X2: 4"),
    (lambda: flambeau.cdist(flambeau.randn(2, 3), flambeau.randn(3, 3), p=-1),
     "cdist only supports non-negative p values"),
    (lambda: flambeau.cdist(flambeau.ones(2, 3, dtype=flambeau.int64), flambeau.ones(3, 3, dtype=flambeau.int64)),
     "cdist only supports floating-point dtypes, X1 got: Long"),
    (lambda: flambeau.cdist(flambeau.randn(2, 3), flambeau.randn(3, 3, dtype=flambeau.float64)),
     "expected scalar type Float but found Double"),
    (lambda: flambeau.cdist(flambeau.randn(2, 2, 3), flambeau.randn(3, 3, 3)), "must match|broadcast"),
])
def test_cdist_errors(bad, msg):
    with pytest.raises(RuntimeError, match=msg):
        bad()


def test_cdist_bad_compute_mode():
    with pytest.raises(ValueError, match="bad is not a valid value for compute_mode"):
        flambeau.cdist(flambeau.randn(2, 3), flambeau.randn(3, 3), compute_mode="bad")


def test_cdist_kernel_checks_shapes():
    from flambeau import _C
    with pytest.raises(RuntimeError, match=r"cdist: expected 3-D tensors"):
        _C.cdist(flambeau.randn(1, 2, 2, 3)._impl, flambeau.randn(1, 2, 2, 3)._impl, 2.0)
    with pytest.raises(RuntimeError, match=r"cdist: expected 3-D tensors"):
        _C.cdist(flambeau.randn(2, 3)._impl, flambeau.randn(1, 2, 3)._impl, 2.0)
    with pytest.raises(RuntimeError, match=r"differ in the batch or the number of columns"):
        _C.cdist(flambeau.randn(2, 3, 4)._impl, flambeau.randn(3, 3, 4)._impl, 2.0)
    with pytest.raises(RuntimeError, match=r"must both have shape"):
        _C.cdist_backward(flambeau.randn(1, 2, 2)._impl, flambeau.randn(1, 2, 3)._impl, flambeau.randn(1, 3, 3)._impl,
                          flambeau.randn(1, 2, 3)._impl, 2.0)


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 2.5, float("inf")])
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_pdist_matches_torch(p, n):
    check_op(lambda a: torch.nn.functional.pdist(a, p), lambda a: flambeau.nn.functional.pdist(a, p),
             shapes=[(n, 5)], dtype="float64")
    check_op(lambda a: torch.pdist(a, p), lambda a: flambeau.pdist(a, p), shapes=[(n, 3)])


def test_pdist_errors():
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors"):
        flambeau.pdist(flambeau.randn(2, 3, 4))
    with pytest.raises(RuntimeError, match="pdist only supports non-negative p values"):
        flambeau.pdist(flambeau.randn(2, 3), -1)
    # PyTorch's messages, for the record
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors"):
        torch.pdist(torch.randn(2, 3, 4))


def test_cdist_direct_on_any_device(device):
    # the direct kernel is CPU only; CUDA tensors go through the host and come back (host_route.py)
    a = np.random.standard_normal((3, 2))
    fa = flambeau.tensor(a, device=device)
    r = flambeau.cdist(fa, fa, 1.0)
    assert r.device.type == flambeau.device(device).type
    np.testing.assert_allclose(r.cpu().numpy(), torch.cdist(torch.tensor(a), torch.tensor(a), 1.0).numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, float("inf")])
def test_pdist_gradcheck_and_grad_fn(p, rng):
    x = fl_tensor(rand_array((6, 3), "float64", rng), requires_grad=True)
    assert flambeau.autograd.gradcheck(lambda a: flambeau.pdist(a, p), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert type(flambeau.pdist(x, p).grad_fn).__name__ == "PdistBackward0"
    with pytest.raises(NotImplementedError, match="_pdist_backward"):
        flambeau.autograd.grad(flambeau.pdist(x, p).sum(), x, create_graph=True)


@pytest.mark.parametrize("shape", [(1, 3), (5, 0)])
def test_pdist_empty_and_single_row(shape):
    check_op(lambda a: torch.pdist(a), lambda a: flambeau.pdist(a), shapes=[shape])


def test_pdist_of_no_rows():
    # (PyTorch 2.13's own backward of pdist over 0 rows segfaults: compared forward only.)
    assert torch.pdist(torch.ones(0, 3)).shape == (0,)
    x = flambeau.ones(0, 3, requires_grad=True)
    d = flambeau.pdist(x)
    assert d.shape == (0,)
    d.sum().backward()
    assert x.grad.shape == (0, 3)


def test_pdist_non_contiguous_and_dtype():
    check_op(lambda a: torch.pdist(a, 1.5), lambda a: flambeau.pdist(a, 1.5), shapes=[(7, 5)], non_contiguous=True)
    with pytest.raises(RuntimeError, match="floating-point"):
        flambeau.pdist(flambeau.ones(3, 2, dtype=flambeau.int64))
