// Internal to the GEMM: the contract between the driver (csrc/cpu/gemm.cpp, baseline x86-64) and the
// register micro-kernels (csrc/cpu/simd/gemm_avx2.cpp, gemm_avx512.cpp, and the portable one in
// gemm.cpp). Callers of the GEMM include csrc/cpu/gemm.h, not this.
//
// This header holds only types and plain function declarations: no inline functions and no templates
// with code. The leaf files are compiled with ISA flags, and any inline or template function that both
// they and baseline files instantiated would be emitted twice under one name; the linker keeps one
// copy, possibly the AVX-512 one, for every caller (an illegal-instruction crash on older CPUs).
#pragma once
#include <cstdint>

namespace flambeau::cpu::gemm_detail {

// A micro-kernel computes one register tile of C from one packed A micro-panel and one packed B
// micro-panel:
//
//   acc[i][j] = sum_{k < kc} a[k*MR + i] * b[k*NR + j]          (i < m, j < NR)
//   C[i*ldc + j] = alpha*acc[i][j] + beta*C[i*ldc + j] + bias_n[j] + bias_m[i]     (i < m, j < n)
//
// MR and NR are the kernel set's register-tile sizes: the packed panels always have those strides
// (edge panels are zero-padded). The number of rows m is fixed by which table entry is called
// (kernel[m-1][..]); the number of columns n (1..NR) is an argument, and the second index picks a
// variant that computes only ceil(n / vector width) vectors. beta == 0 means C is not read (so NaNs
// already in C do not propagate); bias_n and bias_m may be null.
template <class T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int64_t n, T alpha,
                             T beta, const T* bias_n, const T* bias_m);

// The same tile with A read where it lies instead of from a packed panel: row i of the tile's A at
// a + i*lda, contiguous along k (a row-major A, lda its row stride). The same FMAs in the same order as
// the packed kernel, so the same bits; it saves the transposing copy of A for products small enough
// that their rows of A stay in cache between the kernel calls that reread them.
template <class T>
using MicroKernelRowA = void (*)(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, int64_t n,
                                 T alpha, T beta, const T* bias_n, const T* bias_m);

// A packer copies one micro-panel of P rows (P = MR for A, NR for B) into the layout above:
//
//   dst[k*P + i] = src[i*si + k*sk]     (i < m, k < kc);   dst[k*P + i] = 0 for m <= i < P
//
// For A, rows are A's rows (si = lda_row, sk = lda_col); for B, rows are B's columns (si = ldb_col,
// sk = ldb_row). sk == 1 is a transpose (row-major A, column-major B such as F.linear's weight),
// si == 1 a straight copy (row-major B, column-major A); any other strides are gathered. dst is
// 64-byte aligned.
template <class T>
using PackFn = void (*)(const T* src, int64_t si, int64_t sk, int64_t m, int64_t kc, T* dst);

constexpr int kMaxMR = 16;
constexpr int kMaxNV = 4;

// One instruction set's kernels and the cache blocking that suits them (see gemm.cpp for the loops).
template <class T>
struct KernelSet {
  const char* name;
  int mr, nr;      // register tile: mr rows of C by nr columns
  int vl;          // vector width in elements: kernel[m-1][v] computes (v+1)*vl columns
  int kc;          // depth of a packed block (K direction)
  int mc;          // rows of A packed at once (shared by the threads, lives in L3)
  int nc;          // columns of B packed at once (one per thread, lives in that core's L2)
  MicroKernel<T> kernel[kMaxMR][kMaxNV];
  MicroKernelRowA<T> kernel_row_a[kMaxMR][kMaxNV];  // null where the set has none (the driver packs A)
  PackFn<T> pack_a;  // P = mr
  PackFn<T> pack_b;  // P = nr
  // Products with one row or one column of C (cpu/simd/gemv_body.inc); null: the blocked path.
  //   gemv_dot:  y[i] = sum_k a[i*lda + k] x[k]           (i < m)
  //   gemv_axpy: y[j] = sum_k x[k*incx] b[k*ldb + j]      (j < n)
  void (*gemv_dot)(int64_t m, int64_t K, const T* a, int64_t lda, const T* x, T* y);
  void (*gemv_axpy)(int64_t n, int64_t K, const T* x, int64_t incx, const T* b, int64_t ldb, T* y);
};

// For benchmarks and experiments (benchmarks/gemm/bench_variants.cpp): run every float / double product
// with this kernel set instead of the one the capability selects, e.g. a copy of a real set with other
// blocking or other packers; nullptr goes back to normal. Not for library code.
void set_kernel_override(const KernelSet<float>* ks);
void set_kernel_override(const KernelSet<double>* ks);

}  // namespace flambeau::cpu::gemm_detail

namespace flambeau::cpu::gemm_avx512 {
const gemm_detail::KernelSet<float>* sgemm_kernels();
const gemm_detail::KernelSet<double>* dgemm_kernels();
}  // namespace flambeau::cpu::gemm_avx512

namespace flambeau::cpu::gemm_avx2 {
const gemm_detail::KernelSet<float>* sgemm_kernels();
const gemm_detail::KernelSet<double>* dgemm_kernels();
}  // namespace flambeau::cpu::gemm_avx2
