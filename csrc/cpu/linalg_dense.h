// Dense linear algebra on the CPU: the entry points the op layer (csrc/ops/linalg_dense.cpp) calls,
// and the float64 routines on one matrix they are built from (shared between the files below).
//
//   cpu/linalg_dense.cpp     LU with partial pivoting, LU solve, triangular solve, Cholesky, matrix_exp
//   cpu/linalg_qr.cpp        Householder QR (LAPACK's reflector convention, so R's signs are torch's)
//   cpu/linalg_spectral.cpp  symmetric eigendecomposition (tridiagonalisation + implicit QL) and the
//                            SVD (one-sided Jacobi)
//
// Every tensor-level kernel takes contiguous [B, rows, cols] tensors (B = the product of the batch
// dims, possibly 1), float32 or float64, all of one dtype; int64 for pivots and info. Each matrix is
// copied into a float64 workspace, factored there and copied back: float32 results are then as
// accurate as float32 can hold (no float32 rounding inside the factorisation), and float64 work is
// what LAPACK does. The batch is split among OpenMP threads, one workspace per thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "core/tensor.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

// LU = P L U of each [m, n] matrix, in place in `lu` (a copy of A); piv [B, min(m, n)] int64 holds
// LAPACK's 1-based row interchanges, info [B] the 1-based index of the first zero pivot (0: none).
void linalg_lu_factor(const Tensor& lu, const Tensor& piv, const Tensor& info);
// x [B, n, k] holds the right-hand side on entry and the solution of A x = b (A^T x = b when
// adjoint) on exit, A given by its LU factors and pivots.
void linalg_lu_solve(const Tensor& x, const Tensor& lu, const Tensor& piv, bool adjoint);
// x [B, n, k]: b on entry, the solution of A x = b on exit, A [B, n, n] triangular (only the
// upper or lower triangle is read; unitriangular: the diagonal is taken as ones).
void linalg_triangular_solve(const Tensor& x, const Tensor& a, bool upper, bool unitriangular);
// l [B, n, n]: A on entry (the lower triangle read, or the upper one when upper), its Cholesky
// factor on exit (L lower, or U = L^T upper, the other triangle zero); info [B]: the order of the
// first leading minor that is not positive definite (0: none).
void linalg_cholesky(const Tensor& l, const Tensor& info, bool upper);
// out [B, n, n] = exp(a): scaling and squaring with Pade approximants (Higham 2005).
void linalg_matrix_exp(const Tensor& out, const Tensor& a);
// Householder QR of a [B, m, n]: mode 0 reduced (q [B, m, k], r [B, k, n]), 1 complete (q [B, m, m],
// r [B, m, n]), 2 r only (r [B, k, n]; q unused). k = min(m, n).
void linalg_qr(const Tensor& a, const Tensor& q, const Tensor& r, int mode);
// Eigenvalues (ascending) w [B, n] and, when compute_v, orthonormal eigenvectors v [B, n, n] (columns)
// of the symmetric matrices a [B, n, n], of which only the lower (or upper) triangle is read.
void linalg_eigh(const Tensor& a, const Tensor& w, const Tensor* v, bool upper);
// a [B, m, n] = u diag(s) vh with s [B, k] descending; u [B, m, m or k], vh [B, n or k, n] when given.
void linalg_svd(const Tensor& a, const Tensor* u, const Tensor& s, const Tensor* vh, bool full_matrices);

namespace dense {
// The float64 routines on one row-major matrix (column-major where said), used by the kernels above.
int64_t lu_factor(double* a, int64_t m, int64_t n, int64_t* piv);
void lu_solve(const double* lu, const int64_t* piv, double* b, int64_t n, int64_t k, bool adjoint);
// Householder QR in place on the column-major [m, n] matrix a: R in the upper triangle, the
// reflectors' vectors below it (v[0] = 1 implied), tau[min(m, n)] their scales.
void householder_qr(double* a, int64_t m, int64_t n, double* tau);
// The first ncols columns of Q = H_0 H_1 ... H_{k-1} (column-major [m, ncols]) from householder_qr's output.
void householder_q(const double* a, int64_t m, int64_t k, const double* tau, double* q, int64_t ncols);

// Copies between a tensor's elements and a float64 workspace.
template <class T>
void load(const T* src, double* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = (double)src[i];
}
template <class T>
void store(const double* src, T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = (T)src[i];
}

// f(b, workspace) for each matrix b < batch, the batch split among threads when the work (about
// `flops` per matrix) pays for it; each thread gets its own workspace of `ws` doubles.
template <class F>
void for_each_matrix(int64_t batch, int64_t flops, int64_t ws, F&& f) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, flops));
  parallel_for(batch, grain, [&](int64_t b0, int64_t b1) {
    std::vector<double> w((size_t)std::max<int64_t>(ws, 1));
    for (int64_t b = b0; b < b1; ++b) f(b, w.data());
  });
}

// f(T{}) with T the C++ type of a float32 / float64 dtype.
template <class F>
void float_dispatch(DType dt, F&& f) {
  if (dt == DType::Float32) f(float{});
  else f(double{});
}
}  // namespace dense

}  // namespace flambeau::cpu
