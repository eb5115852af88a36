"""The degree-6 polynomial of e^r used by gelu (cpu/simd/act_vec.inc, v_gelu_k):
e^r = 1 + r + r^2 (c0 + c1 r + c2 r^2 + c3 r^3 + c4 r^4) on |r| <= ln2/2 (1% slack), fitted for relative
error by Lawson-weighted least squares (converges to the minimax fit), then checked with the coefficients
rounded to float32 (prints 4.7e-9).

    python tools/fit_gelu_exp_poly.py
"""
import numpy as np, mpmath as mp
L = 0.3466 * 1.01
N = 4000
r = np.cos(np.pi*(np.arange(N)+0.5)/N) * L
f = np.array([float((mp.exp(mp.mpf(x)) - 1 - mp.mpf(x)) / mp.mpf(x)**2) for x in r])
ex = np.exp(r)
A = np.vstack([r**k for k in range(5)]).T
w = np.ones(N)
for it in range(200):
    W = np.sqrt(w)
    c, *_ = np.linalg.lstsq(A * (W * r**2 / ex)[:, None], f * W * r**2 / ex, rcond=None)
    err = (A @ c - f) * r**2 / ex
    w = w * np.abs(err); w /= w.sum()
print("float64 coeffs rel err", np.abs(err).max())
c32 = c.astype(np.float32)
# evaluate in float64 with float32 coefficients
rr = np.linspace(-L, L, 200001)
p = c32[0] + c32[1]*rr + c32[2]*rr**2 + c32[3]*rr**3 + c32[4]*rr**4
approx = 1 + rr + rr**2 * p
print("f32 coeff rel err", np.abs(approx/np.exp(rr) - 1).max())
print([repr(float(x)) for x in c32])
for k, x in enumerate(c32):
    print(k, np.float32(x), float(x).hex())
