"""Session 16's new kernels beside PyTorch, each library in its own process, alternating (bench_isolated.py's
method and child), 2 threads for both: sparse @ dense (COO and CSR; a GCN layer's shapes), the int8
quantized Linear/Conv2d and dynamic Linear, linalg.eig, hypot. Ratio = PyTorch time / ours (above 1: we
are faster).

    PYTHONPATH=python python benchmarks/bench_sparse_quant_eig.py [rounds] [substring]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_isolated import main  # noqa: E402

# A random graph of 10k nodes, ~20 edges per node (200k nnz, unsorted, coalesced), features 128 wide.
ADJ = ("g = m.Generator().manual_seed(0); n = 10000; nnz = 200000; "
       "i = m.randint(0, n, (2, nnz), generator=g); v = m.rand(nnz, generator=g); "
       "s = m.sparse_coo_tensor(i, v, (n, n)).coalesce(); d = m.randn(n, 128, generator=g)")
ADJ_CSR = ADJ + "; c = s.to_sparse_csr()"
ADJ_GRAD = ADJ + "; d.requires_grad_()"

QLIN = ("x = m.randn(256, 512); l = m.nn.Linear(512, 512).eval(); "
        "dq = m.ao.quantization.quantize_dynamic(m.nn.Sequential(l), {m.nn.Linear}, dtype=m.qint8)")
QSTATIC = ("from_float = m.ao.nn.quantized.Linear.from_float; l = m.nn.Linear(512, 512); "
           "l.qconfig = m.ao.quantization.default_qconfig; l.activation_post_process = l.qconfig.activation(); "
           "x = m.randn(256, 512); l.activation_post_process(l(x)); q = from_float(l); "
           "mo = m.ao.quantization.MinMaxObserver(); mo(x); sc, zp = mo.calculate_qparams(); "
           "qx = m.quantize_per_tensor(x, float(sc), int(zp), m.quint8)")
QCONV = ("c = m.nn.Conv2d(64, 64, 3, padding=1); c.qconfig = m.ao.quantization.default_qconfig; "
         "c.activation_post_process = c.qconfig.activation(); x = m.randn(8, 64, 32, 32); "
         "c.activation_post_process(c(x)); q = m.ao.nn.quantized.Conv2d.from_float(c); "
         "qx = m.quantize_per_tensor(x, 0.05, 128, m.quint8)")
EIG = "a = m.randn(4, {n}, {n}, dtype=m.float64)"
HYP = "a = m.randn(4194304); b = m.randn(4194304)"

CASES = [
    ("sparse.mm COO [10k x 10k, 200k nnz] @ [10k, 128]", (ADJ, "m.sparse.mm(s, d)"), (ADJ, "m.sparse.mm(s, d)")),
    ("CSR [10k x 10k, 200k nnz] @ [10k, 128]", (ADJ_CSR, "c @ d"), (ADJ_CSR, "c @ d")),
    ("sparse.mm COO fwd+bwd (dense grad)", (ADJ_GRAD, "m.sparse.mm(s, d).sum().backward()"),
     (ADJ_GRAD, "m.sparse.mm(s, d).sum().backward()")),
    ("dynamic int8 Linear 512->512, batch 256", (QLIN, "dq(x)"), (QLIN, "dq(x)")),
    ("static int8 Linear 512->512, batch 256", (QSTATIC, "q(qx)"), (QSTATIC, "q(qx)")),
    ("static int8 Conv2d 64->64 3x3, 8x32x32", (QCONV, "q(qx)"), (QCONV, "q(qx)")),
    ("quantize_per_tensor 4M", ("x = m.randn(4194304)", "m.quantize_per_tensor(x, 0.05, 128, m.quint8)"),
     ("x = m.randn(4194304)", "m.quantize_per_tensor(x, 0.05, 128, m.quint8)")),
    ("hypot 4M float32", (HYP, "m.hypot(a, b)"), (HYP, "m.hypot(a, b)")),
] + [
    (f"linalg.eig 4x{n}x{n} f64", (EIG.format(n=n), "m.linalg.eig(a)"), (EIG.format(n=n), "m.linalg.eig(a)"))
    for n in (16, 64, 256)
]


if __name__ == "__main__":
    main(CASES, default_rounds=3)
