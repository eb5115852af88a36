"""Bitwise parity of flambeau's elementwise ops with PyTorch CPU on this machine: for each op and dtype, how many
results differ in their bits from PyTorch's and by how many ulps at most (with the worst input), over ~900K
inputs (normal at four scales, uniform, and special values). Ops that match bit for bit print nothing.
tools/accuracy_audit.py says which side is the more accurate one where they differ.

    PYTHONPATH=python python tools/bit_parity.py [op,op,...]
"""
import sys
import numpy as np
import torch
import flambeau as fl

torch.set_num_threads(2)
UNARY = ["abs", "neg", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
         "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "erf", "erfc", "erfinv",
         "lgamma", "digamma", "reciprocal", "floor", "ceil", "round", "trunc", "frac", "sign", "square", "i0",
         "special.expit", "special.ndtr", "special.ndtri", "special.log_ndtr", "special.erfcx", "special.i0e",
         "special.i1", "special.i1e", "special.entr", "special.sinc", "nn.functional.relu", "nn.functional.gelu",
         "nn.functional.silu", "nn.functional.mish", "nn.functional.softplus", "nn.functional.elu",
         "nn.functional.selu", "nn.functional.celu", "nn.functional.logsigmoid", "nn.functional.hardswish",
         "nn.functional.hardsigmoid", "nn.functional.softsign", "nn.functional.tanhshrink", "nn.functional.leaky_relu",
         "nn.functional.relu6", "nn.functional.hardtanh", "nn.functional.gelu:tanh"]


def get(mod, name):
    extra = {}
    if ":" in name:
        name, approx = name.split(":")
        extra = {"approximate": approx}
    f = mod
    for part in name.split("."):
        f = getattr(f, part)
    return (lambda x: f(x, **extra)) if extra else f


def inputs(dt):
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal(200000) * s for s in (0.1, 1, 4, 30)]
    parts.append(rng.uniform(-1, 1, 100000))
    parts.append(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e30, 88.5, -88.5, 709.0, 1e-310]))
    return np.concatenate(parts).astype(dt)


def ulp_diff(a, b, dt):
    ib = np.int64 if dt == np.float64 else np.int32
    ai, bi = a.view(ib).astype(np.int64), b.view(ib).astype(np.int64)
    ai = np.where(ai < 0, np.iinfo(ib).min - ai, ai)
    bi = np.where(bi < 0, np.iinfo(ib).min - bi, bi)
    both_nan = np.isnan(a) & np.isnan(b)
    d = np.abs(ai - bi)
    d[both_nan] = 0
    return d


ops = sys.argv[1].split(",") if len(sys.argv) > 1 else UNARY
for dt in (np.float32, np.float64):
    x = inputs(dt)
    for name in ops:
        try:
            t = get(torch, name)(torch.from_numpy(x)).numpy()
        except Exception as e:
            continue
        try:
            f = get(fl, name)(fl.from_numpy(x)).numpy()
        except Exception as e:
            print(f"{np.dtype(dt).name:8s} {name:28s} flambeau raises {type(e).__name__}: {str(e)[:60]}")
            continue
        if t.dtype != f.dtype:
            print(f"{np.dtype(dt).name:8s} {name:28s} dtype {f.dtype} vs {t.dtype}")
            continue
        d = ulp_diff(f, t, dt)
        n = int((d > 0).sum())
        if n:
            i = int(np.argmax(d))
            print(f"{np.dtype(dt).name:8s} {name:28s} differ {n:7d}/{len(x)} max {int(d.max())} ulp at x={x[i]!r} ours={f[i]!r} torch={t[i]!r}")
