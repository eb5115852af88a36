// The contract between the normalization kernels (csrc/cpu/normalization.cpp, baseline x86-64) and
// the per-ISA builds of their elementwise loops (csrc/cpu/simd/norm_avx2.cpp, norm_avx512.cpp; the
// portable build is compiled inside normalization.cpp): one table of plain function pointers per
// dtype and instruction set. The loops are in norm_body.h, which documents each.
//
// Plain data and declarations only (no inline or template code), as gemm_kernels.h explains.
#pragma once
#include <cstdint>

namespace flambeau::cpu::norm {

template <class T>
struct Fns {
  void (*affine_plane)(T* y, const T* x, int64_t n, T m, T a, T b);
  void (*affine_row)(T* y, const T* x, int64_t n, const T* m, const T* a, const T* b);
  void (*scale_plane)(T* dx, const T* dy, int64_t n, T a);
  void (*scale_row)(T* dx, const T* dy, int64_t n, const T* a);
  void (*bn_dx_plane)(T* dx, const T* dy, const T* x, int64_t n, T md, T k, T m, T a);
  void (*bn_dx_row)(T* dx, const T* dy, const T* x, int64_t n, const T* md, const T* k, const T* m, const T* a);
  void (*norm_dx)(T* dx, const T* g, const T* x, int64_t n, T a, T m, T bc, T cd);
  void (*mul_rows)(T* out, const T* a, const T* b, int64_t n);
  void (*param_grad_row)(const T* dy, const T* x, double m, double rs, double* pw, double* pb, int64_t n);
  void (*ln_row)(T* y, const T* x, const T* w, const T* b, int64_t n, T m, T ml, T a);
  void (*shifted_rows)(const T* x, int64_t ld, int64_t nrows, const T* K, double* pa, double* pb, int64_t n);
  void (*grad_rows)(const T* dy, const T* x, int64_t ld, int64_t nrows, const T* m, double* pa, double* pb,
                    int64_t n);
};

const Fns<float>* fns_f32_avx2();
const Fns<double>* fns_f64_avx2();
const Fns<float>* fns_f32_avx512();
const Fns<double>* fns_f64_avx512();

}  // namespace flambeau::cpu::norm
