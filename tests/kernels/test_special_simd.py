"""The vector float32 bodies of asin, acos, asinh, acosh, atanh, erfinv (csrc/cpu/simd/unary_vec.inc) and of
atan, sinh, cosh (in float64, rounded once: csrc/cpu/simd/math_f64_vec.inc, unary_f32), each
CPU capability forced in turn:

- accuracy against a float64 reference over a sweep of float32 bit patterns of the domain (both
  signs), bounded in ulp of the float32-rounded reference, plus dense runs near the edges of the
  branches (|x| = 1/2 and 1, 4096, the sinh/cosh overflow);
- special values (+-0, subnormals, +-1, large magnitudes, +-inf, NaN, overflow) as PyTorch gives them,
  each in every lane position;
- strided and offset inputs, odd tails and in-place calls give the same bits as the contiguous call.
"""
import numpy as np
import pytest
import torch

import flambeau
from helpers import with_cpu_capability

CAPS = ["avx2", "avx512"]

# name -> (float64 reference, domain, ulp bound). Measured maxima (every 197th float32 bit pattern of
# the domain, AVX2 leaf): asin 1.52, acos 1.04, asinh 1.46, acosh 1.72, atanh 1.56, erfinv 1.82 (also at each
# function in unary_vec.inc); atan, sinh and cosh 0.50 (in float64 and rounded once since
# session 22, math_f64_vec.inc's unary_f32; they were 1.22, 1.55, 1.42).
ULP = {
    "asin": (np.arcsin, lambda v: np.abs(v) <= 1, 1.6),
    "acos": (np.arccos, lambda v: np.abs(v) <= 1, 1.1),
    "atan": (np.arctan, lambda v: v == v, 0.51),
    "sinh": (np.sinh, lambda v: np.abs(v) < 90, 0.51),
    "cosh": (np.cosh, lambda v: np.abs(v) < 90, 0.51),
    "asinh": (np.arcsinh, lambda v: v == v, 1.5),
    "acosh": (np.arccosh, lambda v: v >= 1, 1.8),
    "atanh": (np.arctanh, lambda v: np.abs(v) <= 1, 1.6),
    "erfinv": (lambda v: _erfinv_f64(v), lambda v: np.abs(v) <= 1, 1.9),
}
NAMES = sorted(ULP)


def _erfinv_f64(v):
    """float64 erfinv (PyTorch's, ~1 ulp of double): the reference, without a scipy dependency."""
    return torch.special.erfinv(torch.from_numpy(np.asarray(v, np.float64))).numpy()


def _run(name, x):
    return getattr(flambeau, name)(flambeau.from_numpy(np.ascontiguousarray(x))).numpy()


def _near(v, k):
    """The k float32 values on either side of each of v (v itself included)."""
    b = np.asarray(v, np.float32).view(np.int32)
    return (b[:, None] + np.arange(-k, k + 1, dtype=np.int32)).reshape(-1).view(np.float32)


def _sweep(step):
    pos = np.arange(0, 0x7F800000, step, dtype=np.int64).astype(np.int32).view(np.float32)
    edges = _near([0.5, 1.0, 4096.0, 88.72, 89.41, 1e-3, 0.99663, 2.0 ** -63], 3000)
    pos = np.concatenate([pos, edges[edges > 0]])
    return np.concatenate([pos, -pos])


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_bounds(name, cap):
    ref_fn, domain, bound = ULP[name]
    x = _sweep(1999)
    x = x[domain(x.astype(np.float64))]
    with np.errstate(all="ignore"):
        ref = ref_fn(x.astype(np.float64))
        r32 = ref.astype(np.float32)
    ours = with_cpu_capability(cap, lambda: _run(name, x)).astype(np.float64)
    ok = np.isfinite(r32) & (np.abs(ref) >= np.finfo(np.float32).tiny)
    ulp = np.abs(ours[ok] - ref[ok]) / np.spacing(np.abs(r32[ok])).astype(np.float64)
    assert ulp.max() <= bound, f"{name}/{cap}: {ulp.max():.2f} ulp at x={x[ok][ulp.argmax()]!r}"
    # Outside the normal range of results (subnormal results, overflow, the poles): the float32
    # rounding of the reference, within one subnormal step, infinities and NaN exactly.
    rest = ~ok
    assert np.array_equal(np.isnan(ours[rest]), np.isnan(r32[rest])), name
    inf = rest & np.isinf(r32)
    assert np.array_equal(ours[inf], r32[inf].astype(np.float64)), (name, x[inf][ours[inf] != r32[inf]])
    fin = rest & np.isfinite(r32)
    assert np.all(np.abs(ours[fin] - r32[fin]) <= np.finfo(np.float32).smallest_subnormal), name


SPECIAL = np.array([0.0, -0.0, 1e-45, -1e-45, 3e-39, -1e-40, 1.1754942e-38, 1e-30, -1e-20, 1e-8, -3e-9, 0.5,
                    -0.5, 0.50000006, 0.99999994, -0.99999994, 1.0, -1.0, 1.0000001, -1.0000001, 2.0, -2.5, 4096.0,
                    4096.0005, -5000.0, 88.72, 89.0, 89.41, 89.42, -89.42, 100.0, 1e20, -1e30, 3.4028235e38,
                    -3.4028235e38, np.inf, -np.inf, np.nan], dtype=np.float32)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", NAMES)
def test_special_values_match_torch(name, cap):
    # Each value in every lane position of a vector (the vector path, not only the tail).
    x = np.tile(SPECIAL, 17)
    want = getattr(torch, name)(torch.from_numpy(x)).numpy()
    if name in ("sinh", "cosh"):
        # PyTorch's vectorised float32 sinh/cosh (Sleef) overflow with exp, from 88.7228 on, while its
        # scalar loop, libm and the float64 functions stay finite up to ln(2 FLT_MAX) = 89.4159862; we
        # follow the latter (test_overflow_threshold).
        band = (np.abs(x) > 88.72) & (np.abs(x) < 89.42)
        want[band] = getattr(torch, name)(torch.from_numpy(x[band].astype(np.float64))).numpy().astype(np.float32)
    got = with_cpu_capability(cap, lambda: _run(name, x))
    assert np.array_equal(np.isnan(got), np.isnan(want)), (name, x[np.isnan(got) != np.isnan(want)])
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), (name, x[inf][got[inf] != want[inf]])
    fin = np.isfinite(want)
    tol = 3 * np.spacing(np.abs(want[fin])).astype(np.float64)
    err = np.abs(got[fin].astype(np.float64) - want[fin])
    assert np.all(err <= tol), (name, x[fin][err > tol], got[fin][err > tol], want[fin][err > tol])
    z = fin & (want == 0)
    assert np.array_equal(np.signbit(got[z]), np.signbit(want[z])), name  # signed zeros


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", ["sinh", "cosh"])
def test_overflow_threshold(name, cap):
    # The float32 values around ln(2 FLT_MAX) = 89.4159862: inf from the same value as the correctly
    # rounded result (PyTorch's float64 function rounded to float32; its float32 scalar loop agrees),
    # or one float32 step away. (PyTorch's vectorised float32 loop overflows from 88.7228 on.)
    x = _near([89.415985], 40)
    x = np.concatenate([x, -x])
    with np.errstate(over="ignore"):
        want = np.isinf(getattr(torch, name)(torch.from_numpy(x.astype(np.float64))).numpy().astype(np.float32))
    got = np.isinf(with_cpu_capability(cap, lambda: _run(name, x)))
    first = lambda m: int(np.argmax(m[:81]))  # noqa: E731  (the positive half, increasing)
    assert want[:81].any() and abs(first(got) - first(want)) <= 1
    assert np.array_equal(got[:81], got[81:])


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", NAMES)
def test_bits_independent_of_layout(name, cap, rng):
    # The whole tensor, odd tails, single elements, an offset view, a strided view, a transposed view
    # and the in-place op: the same bits for each element.
    x = rng.normal(0, 3, 20011).astype(np.float32)
    if name in ("asin", "acos", "atanh", "erfinv"):
        x = np.tanh(x).astype(np.float32)
    elif name == "acosh":
        x = 1 + np.abs(x)

    def go():
        whole = _run(name, x)
        for n in (1, 7, 15, 17, 33):
            np.testing.assert_array_equal(_run(name, x[:n]).view(np.int32), whole[:n].view(np.int32))
        t = flambeau.from_numpy(x)
        f = getattr(flambeau, name)
        np.testing.assert_array_equal(f(t[3:]).numpy().view(np.int32), whole[3:].view(np.int32))
        np.testing.assert_array_equal(f(t[::3]).numpy().view(np.int32), whole[::3].view(np.int32))
        m = flambeau.from_numpy(x[:20000].reshape(100, 200)).t()
        np.testing.assert_array_equal(f(m).numpy().view(np.int32),
                                      whole[:20000].reshape(100, 200).T.view(np.int32))
        u = flambeau.from_numpy(x.copy())
        getattr(u, name + "_")()
        np.testing.assert_array_equal(u.numpy().view(np.int32), whole.view(np.int32))

    with_cpu_capability(cap, go)
