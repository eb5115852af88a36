"""A fixed battery of ops (forward and gradients) used by test_cpu_capability.py.

`battery(lib)` runs with lib=torch (the reference, in the test process) or lib=flambeau (in a subprocess
with FLAMBEAU_CPU_CAPABILITY forced). Run as a script it imports flambeau, runs the battery and writes
the results to the .npz file named on the command line, and prints the active capability.
Sizes straddle every SIMD width (4/8/16 lanes) and unroll factor, and include strided inputs.
"""
import sys

import numpy as np

SIZES = [1, 7, 16, 17, 33, 255, 1000, 4099]


def _np(t):
    return np.array(t.detach().numpy(), copy=True)


def battery(lib):
    rng = np.random.default_rng(12345)
    out = {}
    for dtype in ("float32", "float64"):
        dt = getattr(lib, dtype)
        for n in SIZES:
            a = rng.uniform(-3, 3, n).astype(dtype)
            b = rng.uniform(-3, 3, n).astype(dtype)
            p = rng.uniform(0.1, 4, n).astype(dtype)
            g = rng.uniform(-1, 1, n).astype(dtype)
            A, B, P = lib.tensor(a, dtype=dt), lib.tensor(b, dtype=dt), lib.tensor(p, dtype=dt)
            ops = {
                "add": A + B, "sub": A - B, "mul": A * B, "div": A / P, "pow": P ** B, "pow2": A ** 2,
                "maximum": lib.maximum(A, B), "minimum": lib.minimum(A, B), "neg": -A, "abs": A.abs(),
                "exp": A.exp(), "log": P.log(), "sqrt": P.sqrt(), "sin": A.sin(), "cos": A.cos(),
                "tanh": A.tanh(), "sigmoid": A.sigmoid(), "clamp": A.clamp(-1, 1), "scalar": A * 2.5 + 1,
                "gt": A > B, "eq": (A * 0).eq(B * 0), "where": lib.where(A > B, A, B),
                "sum": A.sum(), "mean": A.mean(), "prod": (P ** 0.01).prod(), "max": A.max(), "min": A.min(),
                "argmax": A.argmax(), "argmin": A.argmin(), "logsumexp": A.logsumexp(0),
                "softmax": lib.softmax(A, 0), "log_softmax": lib.log_softmax(A, 0), "dot": A @ B,
                "all": (A > -2.9).all(), "any": (A > 2.9).any(),
            }
            if n > 1:
                ops["var"] = A.var()
                ops["std"] = A.std(correction=0)
            for k, v in ops.items():
                out[f"{dtype}/{n}/{k}"] = _np(v)
            # gradients
            for k, fn in {"exp": lambda x: x.exp(), "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(),
                          "softmax": lambda x: lib.softmax(x, 0), "log_softmax": lambda x: lib.log_softmax(x, 0),
                          "mul": lambda x: x * x, "abs": lambda x: x.abs(), "sqrt": lambda x: (x * x + 1).sqrt(),
                          "logsumexp": lambda x: x.logsumexp(0) * x}.items():
                X = lib.tensor(a, dtype=dt, requires_grad=True)
                fn(X).backward(lib.tensor(g, dtype=dt))
                out[f"{dtype}/{n}/grad_{k}"] = _np(X.grad)
        # 2-D: strided and broadcast inputs, reductions along each dim, matmul
        for (m, k, n) in [(5, 3, 7), (17, 33, 9), (64, 64, 64), (65, 129, 31)]:
            x = rng.uniform(-1, 1, (m, k)).astype(dtype)
            w = rng.uniform(-1, 1, (n, k)).astype(dtype)
            r = rng.uniform(-1, 1, (k,)).astype(dtype)
            X, W, R = lib.tensor(x, dtype=dt), lib.tensor(w, dtype=dt), lib.tensor(r, dtype=dt)
            key = f"{dtype}/{m}x{k}x{n}"
            out[key + "/mm"] = _np(X @ W.T)
            out[key + "/bcast"] = _np(X * R + X.T.T.exp())
            out[key + "/strided"] = _np(X.T[::2] + 1)
            out[key + "/sum0"] = _np(X.sum(0))
            out[key + "/sum1"] = _np(X.sum(1))
            out[key + "/max1"] = _np(X.max(1)[0])
            out[key + "/argmax0"] = _np(X.argmax(0))
            out[key + "/softmax1"] = _np(lib.softmax(X, 1))
            out[key + "/softmax0"] = _np(lib.softmax(X, 0))
            XG = lib.tensor(x, dtype=dt, requires_grad=True)
            WG = lib.tensor(w, dtype=dt, requires_grad=True)
            (XG @ WG.T).tanh().sum().backward()
            out[key + "/mm_grad_x"] = _np(XG.grad)
            out[key + "/mm_grad_w"] = _np(WG.grad)
    return out


if __name__ == "__main__":
    import flambeau

    res = battery(flambeau)
    np.savez(sys.argv[1], **{k.replace("/", "|"): v for k, v in res.items()})
    print("CAPABILITY=" + flambeau.backends.cpu.capability())
