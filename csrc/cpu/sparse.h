// Sparse (COO / CSR) matrix times dense matrix on the CPU: the kernels csrc/ops/sparse.cpp calls once
// it has checked the arguments and laid the tensors out as described here.
#pragma once
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cpu {

// A stable counting sort of COO row indices (each in [0, M)): row_ptr [M + 1] and order [nnz] such
// that the entries of row r are order[row_ptr[r]] .. order[row_ptr[r + 1] - 1], in their COO order.
void coo_rows_to_csr(const int64_t* rows, int64_t nnz, int64_t M, int64_t* row_ptr, int64_t* order);

// perm [n] such that keys[perm] is sorted, in the order PyTorch's CPU sort(0) gives (what its coalesce
// uses to group duplicate indices, which decides the order their values are summed in): below
// 32768 keys libstdc++'s std::sort of (key, position) pairs compared by key (stable only up to 16
// keys: introsort), from 32768 on a stable sort (PyTorch's radix sort).
void torch_sort_permutation(const int64_t* keys, int64_t n, int64_t* perm);

// out += alpha * S @ dense, S an M x K sparse matrix in CSR form: the entries of row r are
// e = order[p] (e = p when order is null) for p in [row_ptr[r], row_ptr[r + 1]), at column cols[e]
// (in [0, K)) with value values[e]. values [nnz], dense [K, N] and out [M, N] contiguous, all of one
// dtype (float32 or float64); out holds its initial value (zeros, or beta * input).
void sparse_csr_addmm_(const int64_t* row_ptr, const int64_t* order, const int64_t* cols, const Tensor& values,
                       const Tensor& dense, const Tensor& out, double alpha);

}  // namespace flambeau::cpu
