// CPU GEMM for float and double: C = alpha * A @ B + beta * C + bias_n[j] + bias_m[i].
//
// The one matrix-multiply routine behind matmul/mm/bmm/addmm/baddbmm, F.linear and the convolutions.
// Implementation: csrc/cpu/gemm.cpp (blocking, packing, OpenMP) and the register micro-kernels in
// csrc/cpu/simd/gemm_avx512.cpp, gemm_avx2.cpp, chosen by cpu::capability() on every call.
//
//   A is M x K: element (i, k) at A[i*lda_row + k*lda_col]   (any strides, including 0 and negative)
//   B is K x N: element (k, j) at B[k*ldb_row + j*ldb_col]
//   C is M x N, row-major: element (i, j) at C[i*ldc + j]
//   bias_n: N values added to every row (F.linear's bias), or null
//   bias_m: M values added to every column (a conv's bias when C is channels x pixels), or null
//
// Transposed operands need no copy: pass their strides (A^T of a row-major K x M matrix a is
// lda_row = 1, lda_col = M). The operands are packed into cache-sized panels anyway, and the packer
// reads any layout. For a C that is column-major (element (i, j) at C[i + j*ldc]), compute the
// transpose instead: gemm(N, M, K, alpha, B, ldb_col, ldb_row, A, lda_col, lda_row, beta, C, ldc,
// bias_m, bias_n).
//
// Semantics, as in BLAS: beta == 0 means C is write-only (NaN/Inf already in C do not propagate);
// alpha == 0 or K == 0 means A and B are not read (C = beta*C + biases). The biases are added with
// weight 1 on top of beta*C. M or N == 0 does nothing. C must not overlap A, B or the biases.
//
// Threads: OpenMP with omp_get_max_threads() threads when the product is big enough to pay for them;
// called from inside a parallel region it runs on the calling thread alone. Results are bitwise
// identical for any thread count (each element's sum runs in the same order: k blocks in order, and
// within a block the micro-kernel's fixed FMA chain).
#pragma once
#include <cstdint>

namespace flambeau::cpu {

template <class T>
struct gemm_identity {
  using type = T;
};

// T is float or double (explicitly instantiated in gemm.cpp). alpha and beta do not take part in
// deduction, so gemm(M, N, K, 1.0, a_float, ...) works.
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, typename gemm_identity<T>::type alpha, const T* A,
          int64_t lda_row, int64_t lda_col, const T* B, int64_t ldb_row, int64_t ldb_col,
          typename gemm_identity<T>::type beta, T* C, int64_t ldc, const T* bias_n = nullptr,
          const T* bias_m = nullptr);

// `batch` independent products: problem b uses A + b*stride_a, B + b*stride_b, C + b*stride_c (a
// stride of 0 broadcasts that operand, e.g. one weight matrix for every image) and the same biases.
// Parallel over the batch when the products are small, inside each product when they are large.
// The C matrices must not overlap each other.
template <class T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, typename gemm_identity<T>::type alpha,
                  const T* A, int64_t stride_a, int64_t lda_row, int64_t lda_col, const T* B, int64_t stride_b,
                  int64_t ldb_row, int64_t ldb_col, typename gemm_identity<T>::type beta, T* C,
                  int64_t stride_c, int64_t ldc, const T* bias_n = nullptr, const T* bias_m = nullptr);

// Name of the micro-kernel set the next float/double call would use, e.g. "avx512 14x32" (for
// benchmarks and backends.cpu introspection).
const char* gemm_kernel_name(bool is_double);

extern template void gemm<float>(int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                 const float*, int64_t, int64_t, float, float*, int64_t, const float*,
                                 const float*);
extern template void gemm<double>(int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                  const double*, int64_t, int64_t, double, double*, int64_t, const double*,
                                  const double*);
extern template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                         int64_t, int64_t, const float*, int64_t, int64_t, int64_t, float,
                                         float*, int64_t, int64_t, const float*, const float*);
extern template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, double, const double*,
                                          int64_t, int64_t, int64_t, const double*, int64_t, int64_t,
                                          int64_t, double, double*, int64_t, int64_t, const double*,
                                          const double*);

}  // namespace flambeau::cpu
