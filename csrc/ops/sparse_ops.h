// Sparse matrix times dense matrix (csrc/ops/sparse.cpp): PyTorch's argument checks and messages,
// layout, and dispatch to the CPU kernel of csrc/cpu/sparse.cpp. CUDA tensors go through the host
// (copied to the CPU, multiplied there, the result copied back): there is no CUDA kernel yet.
#pragma once
#include <optional>
#include "core/tensor.h"

namespace flambeau::ops {

// beta * input + alpha * (S @ dense) for the M x K sparse COO matrix S with int64 indices [2, nnz]
// (rows, cols) and values [nnz]; dense [K, N] of the values' dtype (float32 or float64); input
// broadcastable to [M, N] (absent: zeros). beta == 0 ignores input (NaN included), as PyTorch. The
// entries are added in their stored order (duplicates kept): PyTorch's CPU results bit for bit.
Tensor sparse_coo_addmm(const Tensor& indices, const Tensor& values, const Tensor& dense, int64_t M, int64_t K,
                        const std::optional<Tensor>& input, double beta, double alpha);

// The same for an M x K CSR matrix: crow_indices [M + 1], col_indices [nnz] (int64 or int32).
Tensor sparse_csr_addmm(const Tensor& crow_indices, const Tensor& col_indices, const Tensor& values,
                        const Tensor& dense, int64_t K, const std::optional<Tensor>& input, double beta, double alpha);

// The permutation that sorts the int64 keys [n] as PyTorch's CPU sort(0) does (cpu/sparse.h), for
// coalescing in PyTorch's order.
Tensor torch_sort_permutation(const Tensor& keys);

}  // namespace flambeau::ops
