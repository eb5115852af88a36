// Dense linear algebra entry points (csrc/ops/linalg_dense.cpp): argument checks with PyTorch's
// messages, output allocation, dispatch to the CPU kernels of csrc/cpu/linalg_dense.h. Inputs are
// [..., rows, cols] tensors of any strides (float32 or float64); outputs are fresh contiguous tensors
// with the input's batch dims. Operands that pair up (LU and B, A and B) must already have the same
// batch dims: the Python layer broadcasts them. CPU only: CUDA tensors raise NotImplementedError.
#pragma once
#include <string>
#include <vector>
#include "core/tensor.h"

namespace flambeau::ops {

// {LU, pivots (int64, 1-based, [..., min(m, n)]), info (int64, [...])}: A = P L U, partial pivoting.
std::vector<Tensor> linalg_lu_factor(const Tensor& A);
// X with A X = B (A^T X = B when adjoint), A given by lu_factor's LU and pivots; B [..., n, k].
Tensor linalg_lu_solve(const Tensor& LU, const Tensor& pivots, const Tensor& B, bool adjoint);
// X with A X = B for triangular A [..., n, n] (one triangle read; unitriangular: unit diagonal).
Tensor linalg_solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool unitriangular);
// {L (or U = L^T when upper), info (int64 [...], the order of the first non-positive-definite leading minor)}.
std::vector<Tensor> linalg_cholesky(const Tensor& A, bool upper);
// {Q, R} for mode "reduced", "complete" or "r" (Q then empty).
std::vector<Tensor> linalg_qr(const Tensor& A, const std::string& mode);
// {eigenvalues ascending [..., n], eigenvectors [..., n, n] (empty unless compute_v)}; uplo 'L' or 'U'.
std::vector<Tensor> linalg_eigh(const Tensor& A, const std::string& uplo, bool compute_v);
// {eigenvalues, eigenvectors (empty unless compute_v), info}: complex128 whatever A's dtype (ops/linalg_eig.cpp)
std::vector<Tensor> linalg_eig(const Tensor& A, bool compute_v);
// {U, S, Vh} (U and Vh empty unless compute_uv), S descending [..., min(m, n)].
std::vector<Tensor> linalg_svd(const Tensor& A, bool full_matrices, bool compute_uv);
Tensor linalg_matrix_exp(const Tensor& A);

}  // namespace flambeau::ops
