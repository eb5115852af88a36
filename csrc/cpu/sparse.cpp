// Sparse matrix times dense matrix (torch.sparse.mm, torch.mm / addmm with a sparse mat1, CSR @ dense).
//
// For each stored entry (r, c, v) of S, row r of the output gets (alpha * v) * dense[c, :] added with
// one fused multiply-add per element: PyTorch's CPU kernel (s_addmm_out_sparse_dense_worker) walks
// the COO entries in their stored order and calls BLAS axpy, which rounds each multiply-add once.
// Walking the rows in CSR form, each row's entries in their stored order (COO rows are grouped by a
// stable counting sort, duplicates kept, never coalesced), adds the same terms in the same order to
// each output element, so the results are PyTorch's bit for bit; and each output row belongs to one
// row of S, so the rows can be split among OpenMP threads with no two threads writing one element
// and no dependence of the result on the thread count.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cpu/capability.h"
#include "cpu/parallel.h"
#include "cpu/simd/sparse_simd.h"
#include "cpu/sparse.h"

namespace flambeau::cpu {

namespace {

// The portable axpy: std::fma rounds once, as the AVX2 leaf's vfmadd does.
template <class T>
void axpy_portable(int64_t n, T a, const T* x, T* y) {
  for (int64_t j = 0; j < n; ++j) y[j] = std::fma(a, x[j], y[j]);
}

template <class T>
using AxpyFn = void (*)(int64_t, T, const T*, T*);

template <class T>
AxpyFn<T> pick_axpy() {
  if (capability() == Capability::Default) return &axpy_portable<T>;
  if constexpr (sizeof(T) == 4) return sparse_simd::axpy_f32_avx2();
  else return sparse_simd::axpy_f64_avx2();
}

template <class T>
void csr_addmm(const int64_t* row_ptr, const int64_t* order, const int64_t* cols, const T* values, const T* dense,
               T* out, int64_t M, int64_t N, T alpha) {
  if (N == 0 || M == 0) return;
  const AxpyFn<T> axpy = pick_axpy<T>();
  const int64_t nnz = row_ptr[M];
  // Work per row ~ (its entries) * N multiply-adds; the grain keeps small products on one thread.
  const int64_t per_row = std::max<int64_t>(1, (nnz / std::max<int64_t>(1, M)) * N);
  parallel_for(M, std::max<int64_t>(1, kGrain / per_row), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* y = out + r * N;
      for (int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) {
        const int64_t e = order ? order[p] : p;
        axpy(N, alpha * values[e], dense + cols[e] * N, y);  // alpha * v rounded first, as PyTorch
      }
    }
  });
}

}  // namespace

void coo_rows_to_csr(const int64_t* rows, int64_t nnz, int64_t M, int64_t* row_ptr, int64_t* order) {
  for (int64_t r = 0; r <= M; ++r) row_ptr[r] = 0;
  for (int64_t e = 0; e < nnz; ++e) ++row_ptr[rows[e] + 1];
  for (int64_t r = 0; r < M; ++r) row_ptr[r + 1] += row_ptr[r];
  std::vector<int64_t> next(row_ptr, row_ptr + M);
  for (int64_t e = 0; e < nnz; ++e) order[next[rows[e]]++] = e;
}

void torch_sort_permutation(const int64_t* keys, int64_t n, int64_t* perm) {
  std::vector<std::pair<int64_t, int64_t>> kp((size_t)n);
  for (int64_t i = 0; i < n; ++i) kp[i] = {keys[i], i};
  auto by_key = [](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
    return a.first < b.first;
  };
  if (n >= 32768) std::stable_sort(kp.begin(), kp.end(), by_key);
  else std::sort(kp.begin(), kp.end(), by_key);
  for (int64_t i = 0; i < n; ++i) perm[i] = kp[i].second;
}

void sparse_csr_addmm_(const int64_t* row_ptr, const int64_t* order, const int64_t* cols, const Tensor& values,
                       const Tensor& dense, const Tensor& out, double alpha) {
  const int64_t M = out.sizes[0], N = out.sizes[1];
  if (values.dtype == DType::Float32)
    csr_addmm<float>(row_ptr, order, cols, values.data<float>(), dense.data<float>(), out.data<float>(), M, N,
                     (float)alpha);
  else
    csr_addmm<double>(row_ptr, order, cols, values.data<double>(), dense.data<double>(), out.data<double>(), M, N,
                      alpha);
}

}  // namespace flambeau::cpu
