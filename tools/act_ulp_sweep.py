"""Max ulp error of the float32 SIMD activations against a float64 reference, over a dense sweep
of float32 values (every STRIDE-th float32 bit pattern in [-LIM, LIM], both signs, plus the values
near zero and the tails).

    PYTHONPATH=python python tools/act_ulp_sweep.py [--stride 97] [--cap avx512] [--ops gelu,tanh]

ulp = |ours - ref| / spacing(float32(ref)), ref computed in float64 (scipy.special.erfc for gelu,
numpy for the rest). Values whose reference is below the smallest normal float32 are skipped (the
relative-error notion stops there).
"""
import argparse

import numpy as np
from scipy import special

from flambeau import _C
import flambeau
from flambeau._functions import activation as A


def sweep(lim, stride):
    hi = np.float32(lim).view(np.int32)
    bits = np.arange(0, int(hi) + 1, stride, dtype=np.int64).astype(np.int32)
    pos = bits.view(np.float32)
    return np.concatenate([pos, -pos])


REF = {
    "gelu": lambda x: x * 0.5 * special.erfc(-x / np.sqrt(2.0)),
    "tanh": np.tanh,
    "sigmoid": lambda x: special.expit(x),
    "silu": lambda x: x * special.expit(x),
}
OURS = {"gelu": A.gelu, "tanh": A.tanh, "sigmoid": A.sigmoid, "silu": A.silu}
LIM = {"gelu": 20.0, "tanh": 20.0, "sigmoid": 100.0, "silu": 85.0}  # silu: x sigmoid(x) has a subnormal factor below -87


def max_ulp(op, x):
    ref = REF[op](x.astype(np.float64))
    ours = np.empty_like(x)
    chunk = 1 << 22
    for i in range(0, x.size, chunk):
        ours[i:i + chunk] = A_np(op, x[i:i + chunk])
    r32 = ref.astype(np.float32)
    ok = np.isfinite(ref) & (np.abs(ref) >= np.finfo(np.float32).tiny)
    ulp = np.abs(ours.astype(np.float64) - ref)[ok] / np.spacing(np.abs(r32[ok])).astype(np.float64)
    i = int(ulp.argmax())
    return float(ulp[i]), float(x[ok][i]), int(ok.sum())


def A_np(op, x):
    return OURS[op](flambeau.from_numpy(np.ascontiguousarray(x))).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=97)
    ap.add_argument("--cap", default="")
    ap.add_argument("--ops", default="gelu,tanh")
    args = ap.parse_args()
    if args.cap:
        _C.set_cpu_capability(args.cap)
    for op in args.ops.split(","):
        x = sweep(LIM[op], args.stride)
        u, at, n = max_ulp(op, x)
        print(f"{op:8s} {_C.cpu_capability():8s} max {u:6.3f} ulp at x={at!r} over {n} values "
              f"(every {args.stride}th float32 in [-{LIM[op]}, {LIM[op]}])", flush=True)


if __name__ == "__main__":
    main()
