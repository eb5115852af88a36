"""The float sum loops of the reductions (csrc/cpu/simd/reduce_body.h, built for SSE2, AVX2 and
AVX-512): sum / mean / var / std over the last dims of contiguous rows, sums over the outer dim
(add_rows), and whole-tensor sum and var, for row lengths around the 32-lane block and the four-sum
short rows. Each CPU capability gives the same bits, the whole-tensor results are the same with 1
and 2 threads, and every result matches a float64 reference (PyTorch's float32 sums are less
accurate than ours, so the reference is numpy's float64). Also the whole-tensor max / min loops
(max_min_fold): exact, NaN anywhere gives NaN, +-inf; and max / min / argmax / argmin with indices
along contiguous rows (arg_max_min_fold): PyTorch's values and indices bit for bit."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import _C
from helpers import with_cpu_capability

CAPS = ["default", "avx2", "avx512"]
LENGTHS = [0, 1, 2, 3, 4, 5, 15, 16, 31, 32, 33, 63, 64, 65, 100, 1000, 4097]


def _supported(cap):
    from flambeau import _C
    prev = _C.cpu_capability()
    try:
        _C.set_cpu_capability(cap)
        return _C.cpu_capability() == cap
    finally:
        _C.set_cpu_capability(prev)


def _all_caps(fn):
    # Every capability this CPU has (the portable one always; on an AVX2-only CPU the AVX-512 build
    # is left out rather than skipping the comparison of the other two).
    return [with_cpu_capability(cap, fn) for cap in CAPS if _supported(cap)]


def _same_bits(results):
    for r in results[1:]:
        for a, b in zip(results[0], r):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", LENGTHS)
def test_last_dim_rows(n, dtype, rng):
    x = (rng.standard_normal((7, n)) * 5 + 3).astype(dtype)
    t = flambeau.from_numpy(x)
    res = _all_caps(lambda: (t.sum(-1).numpy(), t.mean(-1).numpy(), t.var(-1).numpy(), t.std(-1).numpy()))
    _same_bits(res)
    x64 = x.astype(np.float64)
    s, m, v, sd = res[0]
    np.testing.assert_allclose(s, x64.sum(-1), rtol=1e-6, atol=1e-5)
    if n:
        np.testing.assert_allclose(m, x64.mean(-1), rtol=1e-6, atol=1e-6)
    if n > 1:
        np.testing.assert_allclose(v, x64.var(-1, ddof=1), rtol=1e-6)
        np.testing.assert_allclose(sd, x64.std(-1, ddof=1), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 7, 8, 9, 1000])
@pytest.mark.parametrize("cols", [16, 17, 100])
def test_outer_dim_rows(rows, cols, dtype, rng):
    # sum(0) of [rows, cols] adds rows into per-column float64 sums four rows at a time: the same bits
    # as adding them one by one, in order (checked against numpy's float64 cumulative order).
    x = (rng.standard_normal((rows, cols)) * 5).astype(dtype)
    t = flambeau.from_numpy(x)
    res = _all_caps(lambda: (t.sum(0).numpy(), t.mean(0).numpy()))
    _same_bits(res)
    seq = np.zeros(cols)
    for r in range(rows):
        seq = seq + x[r].astype(np.float64)
    np.testing.assert_array_equal(res[0][0], seq.astype(dtype))
    # A strided view (columns of a wider tensor) takes the same path over an inner block.
    wide = flambeau.from_numpy(np.concatenate([x, x], axis=1))[:, :cols]
    np.testing.assert_array_equal(wide.sum(0).numpy(), res[0][0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [131073, 65536 * 5 + 3])
def test_whole_tensor_sum_and_var(n, dtype, rng):
    x = (rng.standard_normal(n) * 3 + 1000).astype(dtype)
    t = flambeau.from_numpy(x)
    prev = _C.get_num_threads()
    try:
        out = []
        for nt in (1, 2):
            _C.set_num_threads(nt)
            out.append(_all_caps(lambda: (t.sum().numpy(), t.var().numpy(), t.std(correction=0).numpy())))
    finally:
        _C.set_num_threads(prev)
    _same_bits(out[0] + out[1])
    x64 = x.astype(np.float64)
    s, v, sd = out[0][0]
    np.testing.assert_allclose(s, x64.sum(), rtol=1e-7)
    np.testing.assert_allclose(v, x64.var(ddof=1), rtol=1e-6)
    np.testing.assert_allclose(sd, x64.std(), rtol=1e-6)


# ---------------------------------------------------------------- whole-tensor max / min (max_min_fold)
@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whole_tensor_max_min(cap, dtype, rng):
    for n in [1, 3, 15, 16, 31, 63, 64, 65, 127, 129, 1000, 65536 + 17, 300001]:
        x = rng.standard_normal(n).astype(dtype) * 100

        def run(a):
            t = flambeau.from_numpy(a)
            return t.max().item(), t.min().item()

        mx, mn = with_cpu_capability(cap, lambda: run(x))
        assert mx == x.max() and mn == x.min(), n
        for pos in sorted({0, n // 2, n - 1}):  # a NaN anywhere (inside the vector part or the tail)
            y = x.copy()
            y[pos] = np.nan
            mx, mn = with_cpu_capability(cap, lambda: run(y))
            assert np.isnan(mx) and np.isnan(mn), (n, pos)
        if n >= 3:
            y = x.copy()
            y[n // 3] = np.inf
            y[-1] = -np.inf
            mx, mn = with_cpu_capability(cap, lambda: run(y))
            assert mx == np.inf and mn == -np.inf


# ---------------------------------------------------------------- max / min / argmax along contiguous rows (arg_max_min_fold)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 63, 64, 65, 100, 2047, 2048, 2049, 5000])
def test_row_max_min_with_indices_match_pytorch_bits_on_every_capability(n, dtype, rng):
    # Rows of a few kinds: random, with ties of the extreme (the first index wins), +0 and -0 tied
    # (the first one's sign comes back), +-inf, a NaN early, late or in a later 2048-element block
    # (the first NaN wins), and small integers with many ties.
    rows = [rng.standard_normal(n) * 100, np.round(rng.standard_normal(n) * 2)]
    tie = rng.standard_normal(n)
    if n > 3:
        tie[[n // 3, n - 1]] = 50.0
        tie[[n // 4, n - 2]] = -50.0
    rows.append(tie)
    zeros = -np.abs(rng.standard_normal(n)) - 1.0
    zeros[rng.integers(0, n, 3)] = -0.0
    zeros[rng.integers(0, n, 3)] = 0.0
    rows += [zeros, -zeros]
    inf = rng.standard_normal(n)
    inf[rng.integers(0, n, 2)] = np.inf
    inf[rng.integers(0, n, 2)] = -np.inf
    rows.append(inf)
    for pos in sorted({0, n // 2, n - 1, min(n - 1, 2100)}):
        r = rng.standard_normal(n)
        r[pos] = np.nan
        if pos + 7 < n:
            r[pos + 7] = np.nan
        rows.append(r)
    x = np.stack(rows).astype(dtype)
    t = torch.from_numpy(x)
    want = [t.max(1), t.min(1), t.argmax(1), t.argmin(1)]

    def run():
        f = flambeau.from_numpy(x)
        mx, mn = f.max(1), f.min(1)
        return mx.values.numpy(), mx.indices.numpy(), mn.values.numpy(), mn.indices.numpy(), \
            f.argmax(1).numpy(), f.argmin(1).numpy()

    for got in _all_caps(run):
        assert got[0].tobytes() == want[0].values.numpy().tobytes()
        assert got[2].tobytes() == want[1].values.numpy().tobytes()
        np.testing.assert_array_equal(got[1], want[0].indices.numpy())
        np.testing.assert_array_equal(got[3], want[1].indices.numpy())
        np.testing.assert_array_equal(got[4], want[2].numpy())
        np.testing.assert_array_equal(got[5], want[3].numpy())


def test_row_max_min_of_views_and_3d(rng):
    # Rows that are contiguous inside a non-contiguous tensor (a column slice, a 3-d batch) take the
    # same row loop through their own base pointers.
    x = rng.standard_normal((6, 7, 300)).astype(np.float32)
    x[2, 3, 299] = 9.0
    x[4, 1, 5] = np.nan
    for view in (lambda m: m, lambda m: m[:, 2:, 10:250], lambda m: m.transpose(0, 1)):
        want = view(torch.from_numpy(x)).max(-1)
        got = view(flambeau.from_numpy(x)).max(-1)
        assert got.values.numpy().tobytes() == want.values.numpy().tobytes()
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


# ---------------------------------------------------------------- the 2-norm (_C.norm2: the same sum_sq loops)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,dim", [((1000,), None), ((300001,), None), ((37, 65), 1), ((37, 65), 0),
                                       ((4, 5, 33), (0, 2)), ((0, 5), 1), ((5, 0), 1), ((), None)])
def test_norm2_matches_a_float64_reference_on_every_capability(shape, dim, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)

    def run():
        return flambeau.from_numpy(x).norm(dim=dim).numpy(), flambeau.from_numpy(x).norm(dim=dim, keepdim=True).numpy()

    results = _all_caps(run)
    _same_bits(results)
    ref = np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=dim))
    np.testing.assert_allclose(results[0][0], ref.astype(dtype), rtol=1e-6 if dtype == "float32" else 1e-14)
    assert results[0][1].shape == np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=dim, keepdims=True)).shape
    if x.ndim == 2:  # a non-contiguous input takes the strided rows
        got = flambeau.from_numpy(x).t().norm(dim=dim).numpy()
        np.testing.assert_allclose(got, np.sqrt(np.sum(x.T.astype(np.float64) ** 2, axis=dim)).astype(dtype),
                                   rtol=1e-6 if dtype == "float32" else 1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", LENGTHS)
def test_prod_rows(n, dtype, rng):
    # prod over contiguous rows (reduce_body.h, prod: eight running float64 products): the same bits
    # on every capability, over the last dim, the whole tensor and a reduction of two dims.
    x = (rng.uniform(0.97, 1.03, (5, n)) * np.where(rng.random((5, n)) < 0.5, -1, 1)).astype(dtype)
    if n > 20:
        x[1, 7], x[2, n - 1], x[3, 4] = np.nan, 0.0, np.inf
    t = flambeau.from_numpy(x)
    res = _all_caps(lambda: (t.prod(-1).numpy(), t.prod().numpy(), t.reshape(5, 1, n).prod((1, 2)).numpy()))
    _same_bits(res)
    ref = np.prod(x.astype(np.float64), axis=-1)
    np.testing.assert_allclose(res[0][0], ref.astype(dtype), rtol=1e-6 if dtype == "float32" else 1e-13, equal_nan=True)
