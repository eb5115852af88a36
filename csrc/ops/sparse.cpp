// Sparse matrix times dense matrix: checks (PyTorch's conditions and messages, with the shapes),
// host copies for CUDA operands, the COO-to-CSR row grouping, the initial value beta * input, and the
// call to cpu::sparse_csr_addmm_.
#include <vector>

#include "core/copy.h"
#include "cpu/sparse.h"
#include "ops/ops.h"
#include "ops/sparse_ops.h"

namespace flambeau::ops {

namespace {

const char* torch_type(DType t) { return t == DType::Float32 ? "Float" : t == DType::Float64 ? "Double" : dtype_name(t); }

// A contiguous CPU tensor of dtype dt holding t's values (t itself when it already is one).
Tensor host_contiguous(const Tensor& t, DType dt) {
  Tensor h = to(t, dt, cpu_device(), false);
  if (h.is_contiguous()) return h;
  Tensor c = empty(h.sizes, dt, cpu_device());
  copy_(c, h);
  return c;
}

void check_dense(const Tensor& values, const Tensor& dense, int64_t M, int64_t K) {
  FLB_CHECK(values.dim() == 1, RuntimeError, "addmm: sparse matrices with dense dimensions are not supported ",
            "(values of shape ", shape_str(values.sizes), ")");
  FLB_CHECK(values.dtype == DType::Float32 || values.dtype == DType::Float64, NotImplementedError,
            "addmm: sparse @ dense is not implemented for dtype ", dtype_name(values.dtype),
            " (float32 and float64 only)");
  FLB_CHECK(dense.dim() == 2, RuntimeError, "addmm: matrices expected, got ", dense.dim(), "D tensor (sparse ",
            shape_str({M, K}), " @ dense ", shape_str(dense.sizes), ")");
  FLB_CHECK(dense.dtype == values.dtype, RuntimeError, "expected scalar type ", torch_type(values.dtype),
            " but found ", torch_type(dense.dtype), " (sparse @ dense: sparse ", shape_str({M, K}), " ",
            dtype_name(values.dtype), ", dense ", shape_str(dense.sizes), " ", dtype_name(dense.dtype), ")");
  FLB_CHECK(dense.sizes[0] == K, RuntimeError, "addmm: Argument #3 (dense): Expected dim 0 size ", K, ", got ",
            dense.sizes[0], " (sparse ", shape_str({M, K}), " @ dense ", shape_str(dense.sizes), ")");
  FLB_CHECK(values.device() == dense.device(), RuntimeError,
            "addmm: expected the sparse and the dense matrix on one device, got ", values.device().str(), " and ",
            dense.device().str());
}

// out [M, N] (CPU, contiguous) = beta * input (broadcast), or zeros when beta == 0 or no input.
Tensor initial_output(const std::optional<Tensor>& input, DType dt, int64_t M, int64_t N, double beta) {
  Tensor out = empty({M, N}, dt, cpu_device());
  if (!input || beta == 0.0) {
    fill_(out, Scalar::from_double(0.0));
    return out;
  }
  const Tensor& t = *input;
  FLB_CHECK(t.dim() <= 2, RuntimeError, "addmm: input of shape ", shape_str(t.sizes),
            " can't be broadcast to the product's shape ", shape_str({M, N}));
  const Shape target{M, N};
  for (int64_t i = 0; i < t.dim(); ++i) {
    const int64_t d = 2 - t.dim() + i, s = t.sizes[i];
    FLB_CHECK(s == target[d] || s == 1, RuntimeError, "The expanded size of the tensor (", target[d],
              ") must match the existing size (", s, ") at non-singleton dimension ", d, ".  Target sizes: ",
              shape_str(target), ".  Tensor sizes: ", shape_str(t.sizes));
  }
  copy_(out, to(t, dt, cpu_device(), false));
  if (beta != 1.0) {
    const int64_t n = M * N;
    if (dt == DType::Float32) {
      float* p = out.data<float>();
      const float b = (float)beta;
      for (int64_t i = 0; i < n; ++i) p[i] *= b;
    } else {
      double* p = out.data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] *= beta;
    }
  }
  return out;
}

Tensor on_device_of(const Tensor& out, const Tensor& like) {
  return like.device().is_cpu() ? out : to(out, out.dtype, like.device(), false);
}

void check_index_range(const int64_t* idx, int64_t n, int64_t bound, const char* what, int64_t M, int64_t K) {
  for (int64_t e = 0; e < n; ++e)
    FLB_CHECK(idx[e] >= 0 && idx[e] < bound, RuntimeError, "addmm: sparse ", what, " index ", idx[e],
              " out of bounds for the sparse matrix of shape ", shape_str({M, K}));
}

}  // namespace

Tensor sparse_coo_addmm(const Tensor& indices, const Tensor& values, const Tensor& dense, int64_t M, int64_t K,
                        const std::optional<Tensor>& input, double beta, double alpha) {
  check_dense(values, dense, M, K);
  FLB_CHECK(indices.dim() == 2 && indices.sizes[0] == 2 && indices.sizes[1] == values.sizes[0], RuntimeError,
            "addmm: expected indices of shape [2, ", values.sizes[0], "] for a sparse matrix, got ",
            shape_str(indices.sizes));
  const DType dt = values.dtype;
  const int64_t nnz = values.sizes[0], N = dense.sizes[1];
  Tensor idx = host_contiguous(indices, DType::Int64), v = host_contiguous(values, dt),
         d = host_contiguous(dense, dt);
  Tensor out = initial_output(input, dt, M, N, beta);
  const int64_t* rows = idx.data<int64_t>();
  const int64_t* cols = rows + nnz;
  check_index_range(rows, nnz, M, "row", M, K);
  check_index_range(cols, nnz, K, "column", M, K);
  std::vector<int64_t> row_ptr(M + 1), order(nnz);
  cpu::coo_rows_to_csr(rows, nnz, M, row_ptr.data(), order.data());
  cpu::sparse_csr_addmm_(row_ptr.data(), order.data(), cols, v, d, out, alpha);
  return on_device_of(out, dense);
}

Tensor sparse_csr_addmm(const Tensor& crow_indices, const Tensor& col_indices, const Tensor& values,
                        const Tensor& dense, int64_t K, const std::optional<Tensor>& input, double beta, double alpha) {
  FLB_CHECK(crow_indices.dim() == 1 && crow_indices.sizes[0] >= 1, RuntimeError,
            "addmm: crow_indices must be a 1-D tensor of M + 1 entries, got shape ", shape_str(crow_indices.sizes));
  const int64_t M = crow_indices.sizes[0] - 1;
  check_dense(values, dense, M, K);
  FLB_CHECK(col_indices.dim() == 1 && col_indices.sizes[0] == values.sizes[0], RuntimeError,
            "addmm: col_indices of shape ", shape_str(col_indices.sizes), " do not match values of shape ",
            shape_str(values.sizes));
  const DType dt = values.dtype;
  const int64_t nnz = values.sizes[0], N = dense.sizes[1];
  Tensor crow = host_contiguous(crow_indices, DType::Int64), col = host_contiguous(col_indices, DType::Int64),
         v = host_contiguous(values, dt), d = host_contiguous(dense, dt);
  const int64_t* rp = crow.data<int64_t>();
  FLB_CHECK(rp[0] == 0 && rp[M] == nnz, RuntimeError, "addmm: crow_indices must start at 0 and end at nnz = ", nnz,
            ", got ", rp[0], " and ", rp[M]);
  for (int64_t r = 0; r < M; ++r)
    FLB_CHECK(rp[r] <= rp[r + 1], RuntimeError, "addmm: crow_indices must be non-decreasing (entry ", r + 1, ")");
  check_index_range(col.data<int64_t>(), nnz, K, "column", M, K);
  Tensor out = initial_output(input, dt, M, N, beta);
  cpu::sparse_csr_addmm_(rp, nullptr, col.data<int64_t>(), v, d, out, alpha);
  return on_device_of(out, dense);
}

Tensor torch_sort_permutation(const Tensor& keys) {
  FLB_CHECK(keys.dim() == 1 && keys.dtype == DType::Int64, RuntimeError,
            "torch_sort_permutation: expected a 1-D int64 tensor, got ", dtype_name(keys.dtype), " of shape ",
            shape_str(keys.sizes));
  Tensor k = host_contiguous(keys, DType::Int64);
  Tensor perm = empty({k.sizes[0]}, DType::Int64, cpu_device());
  cpu::torch_sort_permutation(k.data<int64_t>(), k.sizes[0], perm.data<int64_t>());
  return perm;
}

}  // namespace flambeau::ops
