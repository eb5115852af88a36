"""F.pdist's vector loops (csrc/cpu/simd/pdist_body.h, the AVX2 build, also run on AVX-512) for p = 0, 1, 2, inf,
and its backward's (pdist_backward_body.h: p = 1, 2, inf, bit for bit as PyTorch's on the vector capabilities):
on every CPU capability against PyTorch (within float tolerance everywhere; bit for bit on the AVX2 and
AVX-512 capabilities when PyTorch runs its AVX2 kernel, which it also does on AVX-512 CPUs: the loops
follow its arithmetic), row lengths around the vector widths (short rows, tails), NaN and infinity,
non-contiguous input; other p keep the portable float64 path."""
import math

import numpy as np
import pytest
import torch

import flambeau
from helpers import on_each_cpu_capability

NORMS = [0.0, 1.0, 2.0, math.inf]
# PyTorch's pdist kernel is its AVX2 build on AVX2 and AVX-512 CPUs (no AVX-512 build is registered)
TORCH_VECTOR = torch.backends.cpu.get_cpu_capability().lower() in ("avx2", "avx512")


def bitwise(cap):
    return TORCH_VECTOR and cap in ("avx2", "avx512")


def both(x, p):
    want = torch.nn.functional.pdist(torch.from_numpy(x), p).numpy()
    got = flambeau.nn.functional.pdist(flambeau.from_numpy(x.copy()), p).numpy()
    return got, want


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", NORMS)
def test_pdist_vector_loops_match_torch(dtype, p):
    rng = np.random.default_rng(int(p if p != math.inf else 9) * 10 + (dtype == "float64"))
    shapes = [(2, 1), (9, 3), (6, 4), (7, 7), (5, 8), (8, 15), (5, 16), (9, 17), (12, 33), (40, 64), (33, 256)]

    def run():
        cap = flambeau._C.cpu_capability()
        for n, m in shapes:
            x = rng.standard_normal((n, m)).astype(dtype)
            if p == 0.0:  # repeated coordinates, so that the counts are not all m
                x[:, ::2] = np.round(x[:, ::2])
            got, want = both(x, p)
            assert got.shape == want.shape and got.dtype == want.dtype
            tol = 2e-6 if dtype == "float32" else 1e-14
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{cap} {n}x{m} p={p}")
            if bitwise(cap):
                np.testing.assert_array_equal(got, want, err_msg=f"{cap} {n}x{m} p={p}: not PyTorch's bits")
        return cap

    assert on_each_cpu_capability(["avx512", "avx2", "default"], run)


@pytest.mark.parametrize("p", NORMS)
def test_pdist_vector_loops_nan_and_inf(p):
    x = np.random.default_rng(4).standard_normal((6, 19)).astype(np.float32)
    x[1, 17] = np.nan  # in the tail of a 16-lane row
    x[3, 2] = np.inf
    x[4, 2] = np.inf

    def run():
        got, want = both(x, p)
        if p != 0.0:  # (p = 0: PyTorch's vector count gives NaN, its scalar loop 1; the portable path counts)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        fin = ~np.isnan(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=2e-6)
        return True

    on_each_cpu_capability(["avx512", "avx2"], run)


def test_pdist_vector_loops_non_contiguous_and_other_p():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((37, 21)).astype(np.float32)

    def run():
        for p in NORMS + [3.0, 0.5]:
            want = torch.nn.functional.pdist(torch.from_numpy(x).t(), p).numpy()
            got = flambeau.nn.functional.pdist(flambeau.from_numpy(x.copy()).t(), p).numpy()
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
        return True

    on_each_cpu_capability(["avx512", "avx2"], run)


def test_pdist_many_rows_split_among_threads():
    # chunks of pairs start in the middle of a row: each chunk finds its (i, j)
    x = np.random.default_rng(5).standard_normal((300, 40)).astype(np.float32)

    def run():
        for p in NORMS:
            got, want = both(x, p)
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
            if bitwise(flambeau._C.cpu_capability()):
                np.testing.assert_array_equal(got, want)
        return True

    on_each_cpu_capability(["avx512", "avx2"], run)


# ---------------------------------------------------------------- backward (csrc/cpu/simd/pdist_backward_body.h)
def grads(x, p, g):
    t = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.pdist(t, p).backward(torch.from_numpy(g))
    f = flambeau.from_numpy(x.copy()).requires_grad_()
    flambeau.nn.functional.pdist(f, p).backward(flambeau.from_numpy(g.copy()))
    return f.grad.numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", NORMS + [3.0])
def test_pdist_backward_matches_torch(dtype, p):
    # Column counts around the 4-register blocks (32 float32 / 16 float64 columns), single registers and
    # masked tails; repeated rows (D = 0) and, for inf, ties of |d| with D. Bit for bit where PyTorch runs
    # its vector loop and the capability is a vector one (p = 1, 2, inf: the same order and arithmetic).
    rng = np.random.default_rng(int(p if p != math.inf else 9) * 10 + (dtype == "float64") + 100)
    shapes = [(2, 1), (3, 3), (9, 5), (7, 8), (6, 15), (5, 16), (9, 17), (12, 33), (10, 40), (40, 64), (33, 71)]

    def run():
        cap = flambeau._C.cpu_capability()
        for n, m in shapes:
            x = rng.standard_normal((n, m)).astype(dtype)
            if p == math.inf:
                x = np.round(x * 2) / 2
            if n > 3:
                x[3] = x[1]  # a pair at distance 0
            g = rng.standard_normal(n * (n - 1) // 2).astype(dtype)
            got, want = grads(x, p, g)
            tol = 2e-5 if dtype == "float32" else 1e-12
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{cap} {n}x{m} p={p}")
            if bitwise(cap) and p in (1.0, 2.0, math.inf):
                np.testing.assert_array_equal(got, want, err_msg=f"{cap} {n}x{m} p={p}: not PyTorch's bits")
        return cap

    assert on_each_cpu_capability(["avx512", "avx2", "default"], run)


def test_pdist_backward_threads_and_non_contiguous():
    # The columns split among threads (any split gives the same bits); a transposed input.
    x = np.random.default_rng(8).standard_normal((150, 200)).astype(np.float32)
    g = np.random.default_rng(9).standard_normal(150 * 149 // 2).astype(np.float32)

    def run():
        for p in (1.0, 2.0):
            got, want = grads(x, p, g)
            one = flambeau.get_num_threads()
            flambeau.set_num_threads(1)
            try:
                single, _ = grads(x, p, g)
            finally:
                flambeau.set_num_threads(one)
            np.testing.assert_array_equal(got, single)
            if bitwise(flambeau._C.cpu_capability()):
                np.testing.assert_array_equal(got, want)
        f = flambeau.from_numpy(x[:40, :60].copy()).requires_grad_()
        flambeau.nn.functional.pdist(f.t(), 2).backward(flambeau.from_numpy(g[:60 * 59 // 2].copy()))
        t = torch.from_numpy(x[:40, :60].copy()).requires_grad_()
        torch.nn.functional.pdist(t.t(), 2).backward(torch.from_numpy(g[:60 * 59 // 2].copy()))
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=2e-5, atol=2e-5)
        return True

    on_each_cpu_capability(["avx512", "avx2"], run)
