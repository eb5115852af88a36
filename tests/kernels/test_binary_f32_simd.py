"""float32 binary ops computed in the float64 leaves (cpu/simd/math_f64_vec.inc): fmod (exact, so
C's fmodf bit for bit, on every capability) and hypot (glibc's hypotf: the float64 sum of the exact
squares, one sqrt, rounded once; an infinite operand wins over NaN). Hard cases: quotients up to and
beyond the leaf's 2^51 limit (libm takes those lanes), dividends next to multiples of the divisor
(the off-by-one quotient the correction steps fix), subnormals, exact zeros with the dividend's sign,
specials, every tail length, a scalar divisor, in-place and strided operands."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import with_cpu_capability

CAPS = ["default", "avx2", "avx512"]


def _hard_fmod_pairs(rng, n=20000):
    y = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)).astype(np.float32)
    k = np.floor(rng.random(n) * 2.0 ** rng.integers(0, 60, n))  # quotients from 0 to 2^60
    x = (k * y.astype(np.float64)).astype(np.float32)
    step = rng.integers(-2, 3, n)
    for s in (-2, -1, 1, 2):  # a few float steps off the multiple
        x[step == s] = np.nextafter(x[step == s], np.float32(np.inf) * s) if abs(s) == 1 else \
            np.nextafter(np.nextafter(x[step == s], np.float32(np.inf) * s), np.float32(np.inf) * s)
    x[: n // 10] = (rng.standard_normal(n // 10) * 100).astype(np.float32)  # ordinary pairs
    sub = rng.random(n) < 0.03
    y[sub] = (rng.random(sub.sum()) * 1e-40).astype(np.float32)  # subnormal divisors
    x *= np.where(rng.random(n) < 0.5, -1, 1).astype(np.float32)
    specials = np.array([[0.0, 1.0], [-0.0, 1.0], [6.0, 3.0], [-6.0, 3.0], [6.0, -3.0], [-6.0, -3.0], [1.0, 0.0],
                         [-1.0, -0.0], [0.0, 0.0], [np.inf, 2.0], [-np.inf, 2.0], [2.0, np.inf], [-2.0, -np.inf],
                         [np.inf, np.inf], [np.nan, 1.0], [1.0, np.nan], [3e38, 1e-45], [1e-45, 3e38],
                         [3.4028235e38, 1.0], [-1e-45, 1e-45], [2.0 ** 51, 1.0], [2.0 ** 51 - 1, 1.0],
                         [2.0 ** 52 + 2, 3.0], [7.0, 2.0 ** -100]], dtype=np.float32)
    return np.concatenate([x, specials[:, 0]]), np.concatenate([y, specials[:, 1]])


@pytest.mark.parametrize("cap", CAPS)
def test_fmod_is_exact_on_every_capability(cap, rng):
    x, y = _hard_fmod_pairs(rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.fmod(x, y)
        tame = np.abs(x.astype(np.float64) / y.astype(np.float64)) < 1e38
    got = with_cpu_capability(cap, lambda: flambeau.fmod(flambeau.from_numpy(x), flambeau.from_numpy(y)).numpy())
    np.testing.assert_array_equal(got, want)
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))  # -0 stays -0
    # PyTorch's vector fmod (Sleef) gives NaN where |x / y| passes FLT_MAX (its scalar tail does not):
    # compared below that.
    np.testing.assert_array_equal(got[tame], torch.fmod(torch.from_numpy(x), torch.from_numpy(y)).numpy()[tame])


@pytest.mark.parametrize("cap", CAPS)
def test_fmod_tails_scalar_inplace_and_strided(cap, rng):
    def run():
        for n in range(1, 40):
            x = (rng.standard_normal(n) * 1000).astype(np.float32)
            y = (rng.standard_normal(n) + 0.1).astype(np.float32)
            got = flambeau.fmod(flambeau.from_numpy(x), flambeau.from_numpy(y)).numpy()
            np.testing.assert_array_equal(got, np.fmod(x, y))
            np.testing.assert_array_equal(flambeau.fmod(flambeau.from_numpy(x), 0.7).numpy(),
                                          torch.fmod(torch.from_numpy(x), 0.7).numpy())
            t = flambeau.from_numpy(x.copy())
            t.fmod_(flambeau.from_numpy(y))  # the output aliases the dividend
            np.testing.assert_array_equal(t.numpy(), np.fmod(x, y))
            u = flambeau.from_numpy(y.copy())
            flambeau.fmod(flambeau.from_numpy(x), u, out=u)  # ... and the divisor
            np.testing.assert_array_equal(u.numpy(), np.fmod(x, y))
        a = (rng.standard_normal((37, 41)) * 50).astype(np.float32)
        b = (rng.standard_normal((41, 37)) + 0.1).astype(np.float32)
        got = flambeau.fmod(flambeau.from_numpy(a), flambeau.from_numpy(b).t()).numpy()
        np.testing.assert_array_equal(got, np.fmod(a, b.T))
    with_cpu_capability(cap, run)


@pytest.mark.parametrize("cap", CAPS)
def test_hypot_is_glibc_hypotf_on_every_capability(cap, rng):
    n = 20011
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)).astype(np.float32)
    y = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)).astype(np.float32)
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.0, 3.4028235e38, 1e-45], dtype=np.float32)
    x = np.concatenate([x, np.repeat(sp, len(sp))])
    y = np.concatenate([y, np.tile(sp, len(sp))])
    with np.errstate(invalid="ignore", over="ignore"):
        want = np.hypot(x, y)  # glibc's hypotf
    for m in range(1, 20):  # every tail length
        got = with_cpu_capability(cap, lambda: flambeau.hypot(flambeau.from_numpy(x[:n - m]),
                                                              flambeau.from_numpy(y[:n - m])).numpy())
        np.testing.assert_array_equal(got, want[:n - m])
    got = with_cpu_capability(cap, lambda: flambeau.hypot(flambeau.from_numpy(x), flambeau.from_numpy(y)).numpy())
    np.testing.assert_array_equal(got, want)
    # PyTorch's (Sleef's) hypotf differs from glibc's by an ulp on some tiny results (as the scalar loop did)
    fin = np.isfinite(want)
    np.testing.assert_array_max_ulp(got[fin], torch.hypot(torch.from_numpy(x), torch.from_numpy(y)).numpy()[fin], maxulp=1)
    c = np.array([2.5], dtype=np.float32)  # one element, broadcast: the scalar form of the leaf
    got = with_cpu_capability(cap, lambda: flambeau.hypot(flambeau.from_numpy(x), flambeau.from_numpy(c)).numpy())
    np.testing.assert_array_equal(got, np.hypot(x, c))
