"""Fits the polynomial coefficients of the float32 vector asin/acos, atan, sinh and erfinv
(csrc/cpu/simd/unary_vec.inc): minimax in relative error of the function, by Lawson's iteratively
reweighted least squares on a dense grid (float64 / scipy references), then rounded to float32.

    python tools/fit_special_f32.py

Prints each set as C++ initialisers (highest degree first, the order of the Horner loops) and the
fit's max relative error before and after rounding the coefficients to float32.
"""
import numpy as np
from scipy import special


def lawson(t, f, weight, deg, iters=150):
    """Coefficients c (lowest first) of sum c_k t^k minimising max |weight (p - f)| on the grid."""
    # Chebyshev basis on [t0, t1] for conditioning, converted to monomials at the end.
    t0, t1 = t.min(), t.max()
    u = (2 * t - (t0 + t1)) / (t1 - t0)
    V = np.polynomial.chebyshev.chebvander(u, deg)
    lw = np.full(t.size, 1.0 / t.size)
    best = None
    for _ in range(iters):
        sw = np.sqrt(lw) * weight
        c, *_ = np.linalg.lstsq(V * sw[:, None], f * sw, rcond=None)
        err = np.abs(weight * (V @ c - f))
        m = err.max()
        if best is None or m < best[0]:
            best = (m, c)
        lw = lw * err
        lw /= lw.sum()
    cheb = np.polynomial.Chebyshev(best[1], domain=[t0, t1])
    return cheb.convert(kind=np.polynomial.Polynomial).coef


def lawson_cols(V, f, weight, iters=150):
    lw = np.full(f.size, 1.0 / f.size)
    best = None
    for _ in range(iters):
        sw = np.sqrt(lw) * weight
        c, *_ = np.linalg.lstsq(V * sw[:, None], f * sw, rcond=None)
        err = np.abs(weight * (V @ c - f))
        if best is None or err.max() < best[0]:
            best = (err.max(), c)
        lw = lw * err
        lw /= lw.sum()
    return best[1]


def fit_hilo(t, f, deg):
    """Relative-error minimax of degree deg, with the coefficients of degree 1.. rounded to float32 one at a
    time from degree 1 up, the constant term and the ones above refitted after each rounding; the
    constant is then kept in two float32 parts (hi + lo), since its rounding alone would cost up to
    0.7 ulp. Returns (coefficients lowest first with c[0] = hi + lo in float64, hi, lo)."""
    wt = 1.0 / f
    c = lawson(t, f, wt, deg)
    sc = np.abs(t).max()
    fixed = {}
    for k in range(1, deg + 1):
        fixed[k] = float(np.float32(c[k]))
        rest = f - sum(v * t ** j for j, v in fixed.items())
        cols = [0] + list(range(k + 1, deg + 1))
        V = np.stack([(t / sc) ** j for j in cols], axis=1)
        sub = lawson_cols(V, rest, wt) / sc ** np.array(cols)
        c = np.array([sub[0]] + [fixed[j] for j in range(1, k + 1)] + list(sub[1:]))
    hi = np.float32(c[0])
    lo = np.float32(c[0] - np.float64(hi))
    c[0] = float(hi) + float(lo)
    return c, hi, lo


def report_hilo(name, t, f, deg):
    c, hi, lo = fit_hilo(t, f, deg)
    e = np.abs((np.polynomial.polynomial.polyval(t, c) - f) / f).max()
    body = ", ".join(f"{float(v):.9e}f" for v in c.astype(np.float32)[::-1][:-1])
    print(f"// {name}: deg {deg}, max rel err with float32 coefficients {e:.3e} = {e / 2**-24:.3f} ulp")
    print(f"{{{body}}}  constant {{{float(hi):.9e}f, {float(lo):.9e}f}}")


def report(name, t, f, weight, coef):
    p64 = np.polynomial.polynomial.polyval(t, coef)
    c32 = coef.astype(np.float32).astype(np.float64)
    p32 = np.polynomial.polynomial.polyval(t, c32)
    e64 = np.abs(weight * (p64 - f)).max()
    e32 = np.abs(weight * (p32 - f)).max()
    body = ", ".join(f"{float(c):.9e}f" for c in coef.astype(np.float32)[::-1])
    print(f"// {name}: deg {coef.size - 1}, max rel err {e64:.3e} (float32 coefficients {e32:.3e} = {e32 / 2**-24:.3f} ulp)")
    print(f"{{{body}}}")


def main():
    import os
    if os.environ.get("ONLY_ERFINV"):
        return erfinv()
    # asin(x) = x + x^3 P(x^2) on |x| <= 1/2; relative error of asin.
    x = np.linspace(1e-4, 0.5, 20001)
    z = x * x
    g = (np.arcsin(x) - x) / x**3
    w = x**3 / np.arcsin(x)
    report("asin P(z), z in [0, 1/4]", z, g, w, lawson(z, g, w, 5))

    # atan(x) = x + x^3 P(x^2) on |x| <= 1.
    x = np.linspace(1e-4, 1.0, 20001)
    z = x * x
    g = (np.arctan(x) - x) / x**3
    w = x**3 / np.arctan(x)
    for d in (8,):
        report(f"atan P(z), z in [0, 1]", z, g, w, lawson(z, g, w, d))

    # sinh(x) = x + x^3 P(x^2) on |x| <= 1.
    x = np.linspace(1e-4, 1.0, 20001)
    z = x * x
    g = (np.sinh(x) - x) / x**3
    w = x**3 / np.sinh(x)
    report("sinh P(z), z in [0, 1]", z, g, w, lawson(z, g, w, 3))

    erfinv()


def erfinv():
    # erfinv(a) = a P(w - 2.5), w = -log(1 - a^2) in [0, 5]; relative error.
    wv = np.linspace(0.0, 5.0, 20001)
    a = np.sqrt(-np.expm1(-wv))
    a[0] = 1e-9
    f = special.erfinv(a) / a
    f[0] = np.sqrt(np.pi) / 2
    report_hilo("erfinv central P(w - 2.5)", wv - 2.5, f, 10)
    # Tail: erfinv(a) = a P(sqrt(w) - 3), w in [5, 16.7] (a up to 1 - 2^-24 and a bit).
    s = np.linspace(np.sqrt(5.0), np.sqrt(16.7), 20001)
    a = np.sqrt(-np.expm1(-s * s))
    report_hilo("erfinv tail P(sqrt(w) - 3)", s - 3, special.erfinv(a) / a, 10)


if __name__ == "__main__":
    main()
