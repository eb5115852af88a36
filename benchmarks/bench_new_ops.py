"""Session 12's new ops beside PyTorch, each library in its own process, alternating (bench_isolated.py's
method and child): the special functions, scatter_reduce, grid_sample and the dense linear algebra.
2 threads for both. Ratio = PyTorch time / ours (above 1: we are faster).

    PYTHONPATH=python python benchmarks/bench_new_ops.py [rounds] [substring]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_isolated import main  # noqa: E402

X1M = "x = m.rand(1048576) * 0.9 + 0.05"
X4MU = "x = m.rand(4194304) * 1.98 - 0.99"
XN1M = "x = m.randn(1048576) * 3"
XN4M = "x = m.randn(4194304) * 3"
XG1M = "x = m.rand(1048576) * 20 + 1"
SR = ("x = m.randn(1024, 256); s = m.randn(65536, 256); i = m.randint(0, 1024, (65536, 256))",
      "x.scatter_reduce(0, i, s, 'amax')")
GS = ("x = m.randn(8, 16, 64, 64); g = m.rand(8, 64, 64, 2) * 2 - 1", "F.grid_sample(x, g, align_corners=False)")
GSB = ("x = m.randn(8, 16, 64, 64, requires_grad=True); g = (m.rand(8, 64, 64, 2) * 2 - 1).requires_grad_()",
       "F.grid_sample(x, g, align_corners=False).sum().backward()")
LSB = ("x = m.randn(1024, 1024) * 3; y = m.log_softmax(x, -1); g = m.randn(1024, 1024)",
       "_C.log_softmax_backward(g._impl, y._impl, 1)", "m._log_softmax_backward_data(g, y, -1, m.float32)")


def spd(n):
    return f"a = m.randn(4, {n}, {n}, dtype=m.float64); a = a @ a.mT + {n} * m.eye({n}, dtype=m.float64)"


CASES = [
    ("asin 1M", (X1M, "m.asin(x)"), (X1M, "m.asin(x)")),
    ("acos 1M", (X1M, "m.acos(x)"), (X1M, "m.acos(x)")),
    ("atanh 1M", (X1M, "m.atanh(x)"), (X1M, "m.atanh(x)")),
    ("erfinv 1M", (X1M, "m.erfinv(x)"), (X1M, "m.erfinv(x)")),
    ("erfinv 4M", (X4MU, "m.erfinv(x)"), (X4MU, "m.erfinv(x)")),
] + [
    (f"{op} 1M", (XN1M, f"m.{op}(x)"), (XN1M, f"m.{op}(x)")) for op in ("atan", "sinh", "cosh", "asinh")
] + [
    ("acosh 1M", (XG1M, "m.acosh(x)"), (XG1M, "m.acosh(x)")),
    ("asin 4M", (X4MU, "m.asin(x)"), (X4MU, "m.asin(x)")),
    ("sinh 4M", (XN4M, "m.sinh(x)"), (XN4M, "m.sinh(x)")),
    ("lgamma 1M", (X1M, "m.lgamma(x)"), (X1M, "m.lgamma(x)")),
    ("digamma 1M", (X1M, "m.digamma(x)"), (X1M, "m.digamma(x)")),
    ("log_softmax backward [1024, 1024]", (LSB[0], LSB[1]), (LSB[0], LSB[2])),
    ("scatter_reduce amax [65536, 256]", SR, SR),
    ("grid_sample bilinear fwd", GS, GS),
    ("grid_sample bilinear fwd+bwd", GSB, GSB),
] + [
    (f"linalg.{op} 4x{n}x{n} f64", (spd(n), f"m.linalg.{op}(a)"), (spd(n), f"m.linalg.{op}(a)"))
    for op in ("inv", "cholesky", "eigh", "svd") for n in (64, 256)
]


if __name__ == "__main__":
    main(CASES, default_rounds=3)
