"""Accuracy of flambeau's elementwise math beside PyTorch's, both measured against a 40-digit mpmath reference:
max and mean error in ulps of the result's dtype, per op and dtype, on 3000 random inputs per case (seeded).
It tells "ours is off the last bit because PyTorch is correctly rounded and we are not" (fix ours) apart from
"PyTorch is the less accurate one" (keep ours), which a bitwise comparison with PyTorch cannot.

    PYTHONPATH=python python tools/accuracy_audit.py [op,op,...]      # ops as torch paths: erf, special.i0e

Session 22's run is in benchmarks/RESULTS.md.
"""
import sys

import mpmath as mp
import numpy as np
import torch

import flambeau as fl

mp.mp.dps = 40
REF = {"special.erfcx": lambda x: mp.exp(x*x)*mp.erfc(x), "digamma": mp.digamma, "lgamma": lambda x: mp.log(abs(mp.gamma(x))),
       "special.i0e": lambda x: mp.besseli(0,x)*mp.exp(-abs(x)), "special.i1e": lambda x: mp.besseli(1,x)*mp.exp(-abs(x)),
       "special.i1": lambda x: mp.besseli(1,x), "i0": lambda x: mp.besseli(0,x),
       "special.log_ndtr": lambda x: mp.log1p(-mp.ncdf(-x)) if x > 0 else mp.log(mp.ncdf(x)), "special.ndtri": lambda p: mp.sqrt(2)*mp.erfinv(2*p-1),
       "tanh": mp.tanh, "erfc": mp.erfc, "erf": mp.erf, "special.ndtr": mp.ncdf, "erfinv": mp.erfinv,
       "asinh": mp.asinh, "atanh": mp.atanh, "acosh": mp.acosh, "sigmoid": lambda x: 1/(1+mp.exp(-x)),
       "nn.functional.softplus": lambda x: mp.log(1+mp.exp(x)), "nn.functional.mish": lambda x: x*mp.tanh(mp.log(1+mp.exp(x))),
       "nn.functional.silu": lambda x: x/(1+mp.exp(-x)), "special.sinc": lambda x: mp.sinc(mp.pi*x) if x else mp.mpf(1),
       "expm1": mp.expm1, "exp": mp.exp, "exp2": lambda x: mp.power(2, x), "log": mp.log, "log2": lambda x: mp.log(x, 2),
       "log10": mp.log10, "sqrt": mp.sqrt, "rsqrt": lambda x: 1 / mp.sqrt(x), "sin": mp.sin, "cos": mp.cos,
       "tan": mp.tan, "atan": mp.atan, "cosh": mp.cosh, "nn.functional.gelu": lambda x: x * mp.ncdf(x), "log1p": mp.log1p, "sinh": mp.sinh, "special.entr": lambda x: -x*mp.log(x) if x > 0 else (0 if x == 0 else -mp.inf)}
def get(mod, name):
    f = mod
    for p in name.split("."): f = getattr(f, p)
    return f
rng = np.random.default_rng(1)
for name in (sys.argv[1].split(",") if len(sys.argv) > 1 else REF):
    for dt in (np.float32, np.float64):
        if name == "special.ndtri":
            x = rng.uniform(0, 1, 3000).astype(dt)
        elif name in ("acosh",):
            x = (1 + np.abs(rng.standard_normal(3000)) * 3).astype(dt)
        elif name in ("atanh", "erfinv"):
            x = rng.uniform(-1, 1, 3000).astype(dt)
        elif name == "log1p":
            x = np.concatenate([rng.uniform(-0.999, 1, 1500), np.abs(rng.standard_normal(1500)) * 30]).astype(dt)
        elif name in ("log", "log2", "log10", "sqrt", "rsqrt"):
            x = np.abs(rng.standard_normal(3000) * 30).astype(dt)
        elif name == "special.entr":
            x = np.abs(rng.standard_normal(3000) * 3).astype(dt)
        else:
            x = np.concatenate([rng.standard_normal(1500) * 4, rng.standard_normal(1500)]).astype(dt)
        ours = get(fl, name)(fl.from_numpy(x)).numpy().astype(np.float64)
        theirs = get(torch, name)(torch.from_numpy(x)).numpy().astype(np.float64)
        ref = np.array([float(mp.re(REF[name](mp.mpf(float(v))))) for v in x])
        with np.errstate(over="ignore"):
            sp = np.spacing(np.abs(ref).astype(dt)).astype(np.float64)
        ok = np.isfinite(ref) & (np.abs(ref) > np.finfo(dt).tiny) & (np.abs(ref) < np.finfo(dt).max)
        eo = np.abs(ours - ref)[ok] / sp[ok]; et = np.abs(theirs - ref)[ok] / sp[ok]
        print(f"{name:24s} {np.dtype(dt).name:8s} ours max {eo.max():9.2f} mean {eo.mean():.3f} | torch max {et.max():9.2f} mean {et.mean():.3f}")
