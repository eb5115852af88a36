// The contract between the reductions (csrc/cpu/reduce.cpp, baseline x86-64) and the per-ISA builds
// of their inner loops (csrc/cpu/simd/reduce_avx2.cpp, reduce_avx512.cpp; the portable build is
// compiled inside reduce.cpp): one table of plain function pointers per dtype and instruction set.
// The loops are in reduce_body.h, which documents each; every build gives the same bits.
//
// Plain data and declarations only (no inline or template code), as gemm_kernels.h explains.
#pragma once
#include <cstdint>

namespace flambeau::cpu::sums {

template <class T>
struct Fns {
  double (*sum)(const T* x, int64_t n);                 // float64 sum of x[0..n), fixed order
  void (*sum_rows)(T* out, const T* x, int64_t nrows, int64_t n, double scale);  // out[r] = (T)(sum(row r) * scale)
  double (*sum_sq)(const T* x, int64_t n, double c);    // float64 sum of (x - c)^2, same order
  void (*add_rows)(double* acc, const T* x, int64_t ld, int64_t nrows, int64_t n);  // acc[j] += x[r*ld + j]
  T (*max_min)(const T* x, int64_t n, bool is_max, char* nan);  // max or min of x (n > 0); NaN seen: *nan = 1
  double (*prod)(const T* x, int64_t n, double s);      // s times the float64 product of x[0..n), fixed order
  int64_t (*arg_max_min)(const T* x, int64_t n, bool is_max);  // index of the first max / min (first NaN), n > 0
};

const Fns<float>* fns_f32_avx2();
const Fns<double>* fns_f64_avx2();
const Fns<float>* fns_f32_avx512();
const Fns<double>* fns_f64_avx512();

}  // namespace flambeau::cpu::sums
