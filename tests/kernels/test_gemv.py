"""Products with one row or one column of output take the GEMM's GEMV path (csrc/cpu/gemm.cpp, gemv;
loops in csrc/cpu/simd/gemv_body.inc): matrix @ vector, vector @ matrix, dot products (long ones in
fixed pieces), F.linear and addmm of one row, every operand layout (the dot and axpy forms and the
strided vector copy), float32/float64, every CPU capability, gradients, and the same bits for any
thread count."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import _C
from helpers import check_op, with_cpu_capability

TOL = {"float32": dict(rtol=2e-5, atol=2e-4), "float64": dict(rtol=1e-12, atol=1e-11)}


def _layouts(rng, m, k, dtype):
    """(flambeau matrix, float64 reference) for a contiguous, a transposed and a strided m x k matrix."""
    a = rng.standard_normal((m, k)).astype(dtype)
    at = np.ascontiguousarray(rng.standard_normal((k, m)).astype(dtype))
    wide = rng.standard_normal((m, 2 * k)).astype(dtype)
    return [(flambeau.from_numpy(a), a), (flambeau.from_numpy(at).t(), at.T), (flambeau.from_numpy(wide)[:, ::2], wide[:, ::2])]


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m,k", [(1, 1), (7, 33), (300, 129), (64, 1000), (1, 70001)])
def test_matrix_vector_products(cap, dtype, m, k, rng):
    def run():
        v = rng.standard_normal(2 * k).astype(dtype)
        for fv, nv in ((flambeau.from_numpy(v[:k].copy()), v[:k]), (flambeau.from_numpy(v)[::2], v[::2])):
            for fa, na in _layouts(rng, m, k, dtype):
                ref = na.astype(np.float64) @ nv.astype(np.float64)
                np.testing.assert_allclose((fa @ fv).numpy(), ref, **TOL[dtype])      # A @ x (N == 1)
                np.testing.assert_allclose((fv @ fa.t()).numpy(), ref, **TOL[dtype])  # x @ A^T (M == 1)
    with_cpu_capability(cap, run)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [0, 1, 5, 1000, 65536, 65537, 300001])
def test_dot_products(dtype, n, rng):
    a, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    tol = TOL[dtype]
    for fa, fb in ((flambeau.from_numpy(a), flambeau.from_numpy(b)),):
        np.testing.assert_allclose((fa @ fb).item(), ref, rtol=tol["rtol"] * 10, atol=tol["atol"] * np.sqrt(n + 1))
        np.testing.assert_allclose(flambeau.dot(fa, fb).item(), ref, rtol=tol["rtol"] * 10, atol=tol["atol"] * np.sqrt(n + 1))
    if n > 2:  # strided operands
        r = flambeau.from_numpy(a)[::2] @ flambeau.from_numpy(b)[::2]
        np.testing.assert_allclose(r.item(), a[::2].astype(np.float64) @ b[::2], rtol=tol["rtol"] * 10,
                                   atol=tol["atol"] * np.sqrt(n + 1))


def test_linear_addmm_and_gradients_of_one_row(device, rng):
    check_op(lambda x, w, b: torch.nn.functional.linear(x, w, b), lambda x, w, b: flambeau.nn.functional.linear(x, w, b),
             shapes=[(1, 37), (23, 37), (23,)], device=device, rng=rng)
    check_op(lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0),
             lambda c, a, b: flambeau.addmm(c, a, b, beta=0.5, alpha=2.0), shapes=[(1, 9), (1, 40), (40, 9)],
             device=device, rng=rng)
    check_op(lambda a, x: a @ x, shapes=[(31, 40), (40,)], device=device, rng=rng, dtype="float64")
    check_op(lambda x, a: x @ a, shapes=[(40,), (40, 31)], device=device, rng=rng, non_contiguous=True)
    check_op(lambda x, y: x @ y, shapes=[(77,), (77,)], device=device, rng=rng)
    check_op(lambda x, y: torch.mv(x, y), lambda x, y: flambeau.mv(x, y), shapes=[(5, 6), (6,)], device=device, rng=rng)


def test_same_bits_for_any_thread_count(rng):
    a = rng.standard_normal((513, 3001)).astype(np.float32)
    v = rng.standard_normal(3001).astype(np.float32)
    big = rng.standard_normal(400000).astype(np.float32)
    fa, fv, fb = flambeau.from_numpy(a), flambeau.from_numpy(v), flambeau.from_numpy(big)
    prev = _C.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            _C.set_num_threads(t)
            outs.append([(fa @ fv).numpy(), (fv @ fa.t()).numpy(), (fa.t().contiguous().t() @ fv).numpy(),
                         (fb @ fb).numpy()])
    finally:
        _C.set_num_threads(prev)
    for o in outs[1:]:
        for x, y in zip(outs[0], o):
            np.testing.assert_array_equal(x, y)
