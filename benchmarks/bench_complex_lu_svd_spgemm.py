"""Session 17's complex factorisations and sparse @ sparse beside PyTorch, each library in its own process,
alternating (bench_isolated.py's method and child), 2 threads for both. Ratio = PyTorch time / ours
(above 1: we are faster). These are Python on the host (numpy index and Householder work, flambeau's
real Jacobi SVD for the bidiagonal), written for coverage and PyTorch's numbers rather than speed.

    PYTHONPATH=python python benchmarks/bench_complex_lu_svd_spgemm.py [rounds] [substring]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_isolated import main  # noqa: E402

CPLX = "a = m.randn({s}, dtype=m.complex128)"
# A random graph of 10k nodes, ~5 edges per node (50k nnz, coalesced): A @ A has ~250k entries.
ADJ = ("g = m.Generator().manual_seed(0); n = 10000; nnz = 50000; "
       "i = m.randint(0, n, (2, nnz), generator=g); v = m.rand(nnz, generator=g); "
       "s = m.sparse_coo_tensor(i, v, (n, n)).coalesce()")
ADJ_CSR = ADJ + "; c = s.to_sparse_csr()"
ADJ_GRAD = ADJ + "; s.requires_grad_()"


def same(name, setup, stmt):
    return (name, (setup, stmt), (setup, stmt))


CASES = [
    same("linalg.svd complex128 64x64", CPLX.format(s="64, 64"), "m.linalg.svd(a)"),
    same("linalg.svd complex128 256x256", CPLX.format(s="256, 256"), "m.linalg.svd(a)"),
    same("linalg.svd complex128 100x8x8", CPLX.format(s="100, 8, 8"), "m.linalg.svd(a)"),
    same("linalg.svdvals complex128 256x256", CPLX.format(s="256, 256"), "m.linalg.svdvals(a)"),
    same("lu_factor complex128 64x64", CPLX.format(s="64, 64"), "m.linalg.lu_factor(a)"),
    same("lu_factor complex128 256x256", CPLX.format(s="256, 256"), "m.linalg.lu_factor(a)"),
    same("lu_factor complex128 100x8x8", CPLX.format(s="100, 8, 8"), "m.linalg.lu_factor(a)"),
    same("det complex128 100x8x8", CPLX.format(s="100, 8, 8"), "m.linalg.det(a)"),
    same("sparse.mm COO @ COO [10k, 50k nnz]^2", ADJ, "m.sparse.mm(s, s)"),
    same("CSR @ CSR [10k, 50k nnz]^2", ADJ_CSR, "c @ c"),
    same("sparse.mm COO @ COO fwd+bwd", ADJ_GRAD, "m.sparse.sum(m.sparse.mm(s, s.detach())).backward()"),
]


if __name__ == "__main__":
    main(CASES, default_rounds=3)
