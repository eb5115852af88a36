"""The vector float64 bodies of the foundation unary ops (csrc/cpu/simd/math_f64_vec.inc):
flambeau.exp, log, log2, log10, log1p, expm1, tanh, sigmoid, sqrt, rsqrt, reciprocal, floor, ceil,
round, trunc, relu, sign on contiguous float64, each vector CPU capability forced in turn.

- Accuracy against an 80-bit long double reference over random bit patterns and common ranges,
  bounded in ulp of the float64-rounded reference.
- The AVX2 and AVX-512 leaves give the same bits; the exact ops give the bits of the portable
  scalar loop (capability 'default').
- Special values (+-0, +-inf, NaN, subnormal inputs and results, overflow edges) as libm (numpy).
- Every element gets the same bits wherever it sits (tails, thread chunks, offsets, in place).
- The F.* activations on float64 (forward and backward, from the same leaves): both leaves give the
  same bits, within a few ulp of the scalar kernel (the portable capability), specials alike.
- sin and cos near multiples of pi/2 (the reduction's deep stage), within half an ulp there; lanes
  beyond the reduction (libm's) in long streamed calls, in place and in pieces alike.
- atan2 on float64 (within 1.5 ulp) and float32 (computed in float64: correctly rounded), C99's cases.
- float32 x ** y (scalar and tensor exponents) computed in float64: correctly rounded on the sweep,
  C99's special cases as libm, both leaves alike, tails and in place.
"""
import numpy as np
import pytest

import flambeau
from helpers import on_each_cpu_capability, with_cpu_capability

CAPS = ["avx2", "avx512"]
LONG = np.finfo(np.longdouble).nmant >= 63  # x86-64's 80-bit long double: 11 bits beyond float64


def _expit(v):
    return 1 / (1 + np.exp(-v))


# name -> (reference on long double or float64 arrays, domain, ulp bound). Measured maxima (both
# leaves alike): exp 0.54, log 0.75, log2 1.50, log10 1.64, log1p 1.37, expm1 1.93, tanh 2.53,
# sigmoid 2.28, sqrt 0.50, rsqrt 1.47, sin 0.77, cos 0.74.
ULP = {
    "exp": (np.exp, lambda v: v < 709.7, 1.0),
    "log": (np.log, lambda v: v > 0, 1.0),
    "log2": (np.log2, lambda v: v > 0, 2.0),
    "log10": (np.log10, lambda v: v > 0, 2.0),
    "log1p": (np.log1p, lambda v: v > -1, 1.5),
    "expm1": (np.expm1, lambda v: v < 709.7, 2.5),
    "tanh": (np.tanh, lambda v: np.abs(v) < 30, 3.0),
    "sigmoid": (_expit, lambda v: v > -700, 3.0),
    "sqrt": (np.sqrt, lambda v: v >= 0, 0.5),
    "rsqrt": (lambda v: 1 / np.sqrt(v), lambda v: v > 0, 1.5),
    "sin": (np.sin, lambda v: np.abs(v) < 1e22, 1.0),  # beyond 823549.6: the scalar libm call
    "cos": (np.cos, lambda v: np.abs(v) < 1e22, 1.0),
}
EXACT = ["sqrt", "rsqrt", "reciprocal", "floor", "ceil", "round", "trunc", "relu", "sign", "neg", "abs", "square"]
SPECIALS = np.array([823549.6, 823549.7, 1e22, -1e22, 0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310,
                     709.782712893384, 709.7827128933841, 710.0, -708.39, -745.1332191019411,
                     -745.1332191019412, -746.0, 1.0, -1.0, 0.5, -0.5, 1e-300, 1e300, -1e300, 22.0, -22.0,
                     36.0, 37.5, -40.0, -36.8, 1 - 2**-53, 1 + 2**-52, -1 + 2**-53, 1e-17, -1e-17, 0.3465, -0.3466])


def _sweep(rng, n):
    bits = rng.integers(0, 0x7FF0000000000000, size=n, dtype=np.int64)
    x = bits.view(np.float64)
    return np.concatenate([x, -x, rng.uniform(-40, 40, n), rng.uniform(-1, 1, n), rng.uniform(-1e-6, 1e-6, n),
                           rng.uniform(0, 4, n), rng.uniform(-9e5, 9e5, n)])


def _run(name, x):
    return getattr(flambeau, name)(flambeau.from_numpy(np.ascontiguousarray(x))).numpy()


@pytest.mark.skipif(not LONG, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", sorted(ULP))
def test_ulp_bounds(name, cap, rng):
    ref_fn, domain, bound = ULP[name]
    x = _sweep(rng, 40000)
    x = x[domain(x)]
    with np.errstate(all="ignore"):
        refl = ref_fn(x.astype(np.longdouble))
        ref = refl.astype(np.float64)
    ours = with_cpu_capability(cap, lambda: _run(name, x))
    ok = np.isfinite(ref) & (np.abs(ref) >= np.finfo(np.float64).tiny)
    ulp = np.abs(ours[ok].astype(np.longdouble) - refl[ok]) / np.spacing(np.abs(ref[ok])).astype(np.longdouble)
    assert ulp.max() <= bound, f"{name}/{cap}: {float(ulp.max()):.2f} ulp at x={x[ok][ulp.argmax()]!r}"
    # Results outside the normal range: the reference's class (0, subnormal, inf), within 2 subnormal steps.
    fin = ~ok & np.isfinite(ref)
    assert np.all(np.abs(ours[fin] - ref[fin]) <= 2 * 5e-324), name
    assert np.array_equal(ours[np.isinf(ref)], ref[np.isinf(ref)]), name


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", sorted(ULP) + ["reciprocal", "floor", "ceil", "round", "trunc", "relu", "sign"])
def test_special_values(name, cap):
    ref_fn = ULP[name][0] if name in ULP else {
        "reciprocal": lambda v: 1 / v, "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc,
        "relu": lambda v: np.where(v < 0, 0.0, v),
        "sign": lambda v: np.nan_to_num(np.sign(v), nan=0.0)}[name]  # sign(NaN) = 0, as PyTorch
    with np.errstate(all="ignore"):
        ref = ref_fn(SPECIALS)
    ours = with_cpu_capability(cap, lambda: _run(name, SPECIALS))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=name)
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(ours[~fin], ref[~fin], err_msg=name)  # inf and NaN exactly
    tol = 2 * np.spacing(np.abs(ref[fin]))
    assert np.all(np.abs(ours[fin] - ref[fin]) <= tol), (name, SPECIALS[fin][np.abs(ours[fin] - ref[fin]) > tol])
    zero = fin & (ref == 0)
    np.testing.assert_array_equal(np.signbit(ours[zero]), np.signbit(ref[zero]), err_msg=f"{name}: sign of zero")


@pytest.mark.parametrize("name", sorted(ULP) + EXACT)
def test_leaves_agree_and_exact_ops_match_the_scalar_loop(name, rng):
    x = np.concatenate([_sweep(rng, 5000), SPECIALS])
    leaves = on_each_cpu_capability(CAPS, lambda: _run(name, x))
    for other in leaves[1:]:
        np.testing.assert_array_equal(leaves[0].view(np.int64), other.view(np.int64), err_msg=name)
    if name in EXACT:
        default = with_cpu_capability("default", lambda: _run(name, x))
        np.testing.assert_array_equal(leaves[-1].view(np.int64), default.view(np.int64), err_msg=name)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", ["exp", "log1p", "tanh", "sigmoid", "expm1", "sin", "erf"])
def test_bits_do_not_depend_on_position(name, cap, rng):
    base = rng.uniform(-3, 3, 300000)  # big enough for two thread chunks and the streaming stores
    if name == "log1p":
        base = np.abs(base)

    def run():
        whole = _run(name, base)
        for n in range(0, 21):  # every tail length, against the same elements inside the long call
            np.testing.assert_array_equal(_run(name, base[:n]), whole[:n])
        np.testing.assert_array_equal(getattr(flambeau, name)(flambeau.from_numpy(base)[3:]).numpy(), whole[3:])
        t = flambeau.from_numpy(base.copy())
        getattr(t, name + "_")()  # in place: out aliases x
        np.testing.assert_array_equal(t.numpy(), whole)
        out = flambeau.empty(len(base), dtype=flambeau.float64)
        getattr(flambeau, name)(flambeau.from_numpy(base), out=out)
        np.testing.assert_array_equal(out.numpy(), whole)

    with_cpu_capability(cap, run)


# ---------------------------------------------------------------- erf (fdlibm's ranges, vectorised)
@pytest.mark.parametrize("cap", CAPS)
def test_erf_within_an_ulp_and_specials(cap, rng):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    edges = [0.84375, 1.25, 2.8571434020996094, 6.0, 28.0, 0.25, 1e-310, 5e-324, 1e-20, 27.5]
    mags = np.concatenate([rng.uniform(0, 6.5, 3000), rng.uniform(0.8, 1.3, 1000), rng.uniform(6, 40, 300),
                           np.exp(rng.uniform(-700, 0, 500)), edges, np.nextafter(edges, 0), np.nextafter(edges, 9)])
    x = np.concatenate([mags, -mags])
    ref = np.array([float(mpmath.erf(mpmath.mpf(float(v)))) for v in x])  # correctly rounded
    ours = with_cpu_capability(cap, lambda: _run("erf", x))
    ulp = np.abs(ours - ref) / np.maximum(np.spacing(np.abs(ref)), 5e-324)
    assert ulp.max() <= 1.0, f"erf/{cap}: {ulp.max():.2f} ulp at x={x[ulp.argmax()]!r}"
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 40.0, -40.0])
    got = with_cpu_capability(cap, lambda: _run("erf", sp))
    np.testing.assert_array_equal(got[:4], [0.0, -0.0, 1.0, -1.0])
    assert np.signbit(got[1]) and np.isnan(got[4]) and got[5] == 1.0 and got[6] == -1.0
    both = on_each_cpu_capability(CAPS, lambda: _run("erf", x))
    for other in both[1:]:
        np.testing.assert_array_equal(both[0].view(np.int64), other.view(np.int64))


# ---------------------------------------------------------------- F.* activations on float64
import flambeau.nn.functional as F  # noqa: E402

ACTS64 = {
    "sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "elu": F.elu, "selu": F.selu, "celu": lambda x: F.celu(x, 1.7), "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu, "mish": F.mish, "softplus": F.softplus, "softplus_b2_t3": lambda x: F.softplus(x, 2.0, 3.0),
    "softsign": F.softsign, "hardtanh": F.hardtanh, "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish,
    "hardshrink": F.hardshrink, "softshrink": F.softshrink, "tanhshrink": F.tanhshrink,
    "threshold": lambda x: F.threshold(x, 0.5, -3.0), "logsigmoid": F.logsigmoid,
}


def _act_fwd_bwd(fn, x, g):
    t = flambeau.from_numpy(x.copy()).requires_grad_()
    y = fn(t)
    y.backward(flambeau.from_numpy(g))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("name", sorted(ACTS64))
def test_activation_leaves_agree_and_stay_near_the_scalar_kernel(name, rng):
    x = np.concatenate([rng.uniform(-30, 30, 3001), rng.uniform(-1, 1, 1000), rng.uniform(-1e-8, 1e-8, 50),
                        [0.0, -0.0, 3.0, -3.0, 20.0, 0.5, -0.5, 700.0, -700.0, 800.0, -800.0]])
    g = rng.standard_normal(len(x))
    fn = ACTS64[name]
    scalar = with_cpu_capability("default", lambda: _act_fwd_bwd(fn, x, g))
    leaves = on_each_cpu_capability(CAPS, lambda: _act_fwd_bwd(fn, x, g))
    for k, what in enumerate(["forward", "backward"]):
        for other in leaves[1:]:
            np.testing.assert_array_equal(leaves[0][k].view(np.int64), other[k].view(np.int64), err_msg=f"{name} {what}")
        a, b = leaves[-1][k], scalar[k]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{name} {what}")
        fin = np.isfinite(b)
        np.testing.assert_array_equal(a[~fin], b[~fin], err_msg=f"{name} {what}")
        # A few ulp of the larger of the result and the terms it is formed from (x forward, g backward:
        # a difference such as tanhshrink's x - tanh(x) keeps the absolute error of its terms).
        scale = np.maximum(np.abs(b[fin]), np.abs((x, g)[k][fin]))
        err = np.abs(a[fin] - b[fin]) / np.spacing(scale)
        # gelu_tanh's and mish's gradients take 1 - tanh(u)^2 at tanh(u) near 1, where one ulp of tanh
        # (vector or libm) becomes tens of ulp of the result, in either kernel.
        bound = 64 if what == "backward" and name in ("gelu_tanh", "mish") else 8
        assert err.max() <= bound, f"{name} {what}: {err.max():.1f} ulp at x={x[fin][err.argmax()]!r}"


# ---------------------------------------------------------------- float32 pow through float64
def _pow(x, y):
    yy = flambeau.from_numpy(y) if isinstance(y, np.ndarray) else float(y)
    return (flambeau.from_numpy(x) ** yy).numpy()


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("y", [2.5, -1.5, 0.3, 1 / 3, 7.0, -3.0, 1e-3, 100.0, "tensor"])
def test_pow_float32_is_correctly_rounded(y, cap, rng):
    bits = rng.integers(0, 0x7F800000, 100000).astype(np.int32).view(np.float32)
    x = np.concatenate([bits, -bits, rng.uniform(-3, 3, 20000).astype(np.float32)])
    yv = rng.uniform(-4, 4, len(x)).astype(np.float32) if y == "tensor" else np.float32(y)
    with np.errstate(all="ignore"):
        ref = np.power(x.astype(np.float64), np.asarray(yv, np.float64))  # exact enough: 2^-50 relative
        r32 = ref.astype(np.float32)
    ours = with_cpu_capability(cap, lambda: _pow(x, yv))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(r32))
    fin = np.isfinite(ref) & np.isfinite(r32)
    ulp = np.abs(ours[fin].astype(np.float64) - ref[fin]) / np.spacing(np.abs(r32[fin])).astype(np.float64)
    assert ulp.max() <= 0.5 + 1e-6, f"x ** {y}: {ulp.max()} ulp at x={x[fin][ulp.argmax()]!r}"
    np.testing.assert_array_equal(ours[np.isinf(r32)], r32[np.isinf(r32)])


def test_pow_float32_special_values_and_leaves_agree():
    sp = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1e-45, -1e-45,
                   1e30, -1e30], np.float32)
    X, Y = (a.ravel() for a in np.meshgrid(sp, sp))
    with np.errstate(all="ignore"):
        ref = np.power(X, Y)  # C99's pow, as libm
    runs = on_each_cpu_capability(CAPS, lambda: _pow(X, Y))
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].view(np.int32), other.view(np.int32))
    ours = runs[-1]
    # 0, +-1, inf and NaN exactly as libm, the sign included; other values within libm's own error
    # (glibc's powf is not correctly rounded: 1e30 ** -1 is 9.999999e-31 there, 1e-30 here and exactly).
    special = ~np.isfinite(ref) | (ref == 0) | (np.abs(ref) == 1)
    same = ((ours == ref) & (np.signbit(ours) == np.signbit(ref))) | (np.isnan(ours) & np.isnan(ref))
    assert same[special].all(), list(zip(X[special & ~same], Y[special & ~same], ours[special & ~same]))
    np.testing.assert_array_max_ulp(ours[~special], ref[~special], maxulp=1)


def test_pow_float32_position_and_in_place(rng):
    x = np.abs(rng.standard_normal(300001)).astype(np.float32)
    y = rng.uniform(-2, 2, 300001).astype(np.float32)
    whole = _pow(x, y)
    for n in range(0, 20):
        np.testing.assert_array_equal(_pow(x[:n], y[:n]), whole[:n])
    np.testing.assert_array_equal((flambeau.from_numpy(x)[5:] ** flambeau.from_numpy(y)[5:]).numpy(), whole[5:])
    t = flambeau.from_numpy(x.copy())
    t.pow_(flambeau.from_numpy(y))
    np.testing.assert_array_equal(t.numpy(), whole)


@pytest.mark.skipif(not LONG, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_near_multiples_of_half_pi(name, cap):
    k = np.arange(-524288, 524288, 37, dtype=np.float64)
    x = k * (np.pi / 2)
    x = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])
    refl = getattr(np, name)(x.astype(np.longdouble))
    ref = refl.astype(np.float64)
    ours = with_cpu_capability(cap, lambda: _run(name, x))
    ok = ref != 0
    ulp = np.abs(ours[ok].astype(np.longdouble) - refl[ok]) / np.spacing(np.abs(ref[ok])).astype(np.longdouble)
    assert ulp.max() <= 1.0, f"{name}: {float(ulp.max())} ulp at x={x[ok][ulp.argmax()]!r}"


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_libm_lanes_in_long_calls(name, cap, rng):
    # Lanes beyond the vector reduction (|x| > 823549.6, inf, NaN) get libm's value after each chunk's
    # vector loop, from a copy of the input: in streamed (>= 4 MB, non-temporal) calls, in place and
    # in short calls alike, the element's bits only depend on its value.
    n = 600_001
    x = rng.uniform(-10, 10, n)
    at = rng.choice(n, 3000, replace=False)
    x[at[:1000]] = rng.uniform(-1e22, 1e22, 1000)
    x[at[1000:2000]] = np.array([np.inf, -np.inf, np.nan, 823549.7, -9e5])[rng.integers(0, 5, 1000)]
    x[at[2000:]] = rng.choice([0.0, -0.0, 823549.6, -823549.6], 1000)

    def run():
        whole = _run(name, x)
        t = flambeau.from_numpy(x.copy())
        getattr(t, name + "_")()
        return whole, t.numpy(), np.concatenate([_run(name, x[i:i + 4097]) for i in range(0, n, 4097)])

    whole, inplace, parts = with_cpu_capability(cap, run)
    np.testing.assert_array_equal(inplace.view(np.int64), whole.view(np.int64))
    np.testing.assert_array_equal(parts.view(np.int64), whole.view(np.int64))
    big = np.abs(x) > 823549.6
    with np.errstate(invalid="ignore"):
        ref = getattr(np, name)(x[big])  # libm's (numpy's own may differ in the last bit)
    np.testing.assert_array_equal(np.isnan(whole[big]), np.isnan(ref))
    fin = ~np.isnan(ref)
    assert np.all(np.abs(whole[big][fin] - ref[fin]) <= np.spacing(np.abs(ref[fin]))), name
    zero = x == 0
    if name == "sin":
        np.testing.assert_array_equal(np.signbit(whole[zero]), np.signbit(x[zero]))


# ---------------------------------------------------------------- atan2 (float64, float32 through it)
@pytest.mark.skipif(not LONG, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("cap", CAPS)
def test_atan2_accuracy(cap, rng):
    n = 60000
    sgn = lambda: rng.choice([-1.0, 1.0], n)  # noqa: E731
    y = np.concatenate([rng.integers(0, 0x7FF0000000000000, n, dtype=np.int64).view(np.float64) * sgn(),
                        rng.standard_normal(n), rng.standard_normal(n) * 1e-3])
    x = np.concatenate([rng.integers(0, 0x7FF0000000000000, n, dtype=np.int64).view(np.float64) * sgn(),
                        rng.standard_normal(n), rng.standard_normal(n)])
    refl = np.arctan2(y.astype(np.longdouble), x.astype(np.longdouble))
    ref = refl.astype(np.float64)
    ours = with_cpu_capability(cap, lambda: flambeau.atan2(flambeau.from_numpy(y), flambeau.from_numpy(x)).numpy())
    ok = ref != 0
    ulp = np.abs(ours[ok].astype(np.longdouble) - refl[ok]) / np.spacing(np.abs(ref[ok])).astype(np.longdouble)
    assert ulp.max() <= 1.5, f"{float(ulp.max())} ulp at y={y[ok][ulp.argmax()]!r}, x={x[ok][ulp.argmax()]!r}"
    # float32: computed in float64 (one division, exact map operands) and rounded once: correctly rounded
    with np.errstate(all="ignore"):
        y32, x32 = y.astype(np.float32), x.astype(np.float32)
        r64 = np.arctan2(y32.astype(np.float64), x32.astype(np.float64))
    o32 = with_cpu_capability(cap, lambda: flambeau.atan2(flambeau.from_numpy(y32), flambeau.from_numpy(x32)).numpy())
    big = np.abs(r64) >= np.finfo(np.float32).tiny
    ulp32 = np.abs(o32[big].astype(np.float64) - r64[big]) / np.spacing(np.abs(r64[big].astype(np.float32))).astype(np.float64)
    assert ulp32.max() <= 0.5 + 1e-6
    # (session 19, the float32 maps on |y| and |x| with one division: still correctly rounded on 4M
    # normal and wide-range pairs; PyTorch's (SLEEF's) bits differ on ~1.3% of them, up to 0.99 ulp.
    # Session 20: three maps and a degree-19 odd polynomial, ~2^-51 relative before the float32
    # rounding: correctly rounded on 4M pairs against atan2l, 2.3% of N(0,1) pairs differ from PyTorch.)
    # a scalar x broadcast
    got = with_cpu_capability(cap, lambda: flambeau.atan2(flambeau.from_numpy(y32), flambeau.tensor(-2.0)).numpy())
    np.testing.assert_array_max_ulp(got, np.arctan2(y32, np.float32(-2.0)), maxulp=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_atan2_special_values_and_leaves_agree(dtype):
    with np.errstate(over="ignore"):  # 3e300 is inf in float32
        sp = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-310, -2.5, 3e300, 1e-40]).astype(dtype)
    Y, X = (a.ravel() for a in np.meshgrid(sp, sp))
    runs = on_each_cpu_capability(
        CAPS, lambda: flambeau.atan2(flambeau.from_numpy(Y), flambeau.from_numpy(X)).numpy())
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].view(np.uint8), other.view(np.uint8))
    with np.errstate(all="ignore"):
        ref = np.arctan2(Y, X)
    ours = runs[-1]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    fin = ~np.isnan(ref)
    np.testing.assert_array_equal(np.signbit(ours[fin]), np.signbit(ref[fin]))
    np.testing.assert_array_max_ulp(ours[fin], ref[fin], maxulp=1)
