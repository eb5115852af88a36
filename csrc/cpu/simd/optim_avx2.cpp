// Fused optimizer update loops with AVX2 + FMA registers (8 floats / 4 doubles), called by
// csrc/cpu/optimizer.cpp when the CPU has AVX2. The loops themselves are in optim_body.h; this file
// only supplies the vector wrapper. Same bits as the portable loops (see optim_body.h).
#include <immintrin.h>
#include <cstdint>
#include "cpu/simd/optim_simd.h"

namespace flambeau::cpu::optim {
namespace {

template <class T>
struct V256;

template <>
struct V256<float> {
  static constexpr int L = 8;
  __m256 v;
  static V256 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static V256 set1(float x) { return {_mm256_set1_ps(x)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  friend V256 operator+(V256 a, V256 b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend V256 operator-(V256 a, V256 b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend V256 operator*(V256 a, V256 b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend V256 operator/(V256 a, V256 b) { return {_mm256_div_ps(a.v, b.v)}; }
  V256 operator-() const { return {_mm256_xor_ps(v, _mm256_set1_ps(-0.0f))}; }
  static V256 sqrt(V256 a) { return {_mm256_sqrt_ps(a.v)}; }
  static V256 max_nan(V256 a, V256 b) {
    __m256 m = _mm256_max_ps(a.v, b.v);  // b when either is NaN
    return {_mm256_blendv_ps(m, a.v, _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q))};
  }
  static V256 fma(V256 a, V256 b, V256 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static V256 rounded(V256 a) {
    asm("" : "+x"(a.v));
    return a;
  }
};

template <>
struct V256<double> {
  static constexpr int L = 4;
  __m256d v;
  static V256 load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static V256 set1(double x) { return {_mm256_set1_pd(x)}; }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  friend V256 operator+(V256 a, V256 b) { return {_mm256_add_pd(a.v, b.v)}; }
  friend V256 operator-(V256 a, V256 b) { return {_mm256_sub_pd(a.v, b.v)}; }
  friend V256 operator*(V256 a, V256 b) { return {_mm256_mul_pd(a.v, b.v)}; }
  friend V256 operator/(V256 a, V256 b) { return {_mm256_div_pd(a.v, b.v)}; }
  V256 operator-() const { return {_mm256_xor_pd(v, _mm256_set1_pd(-0.0))}; }
  static V256 sqrt(V256 a) { return {_mm256_sqrt_pd(a.v)}; }
  static V256 max_nan(V256 a, V256 b) {
    __m256d m = _mm256_max_pd(a.v, b.v);
    return {_mm256_blendv_pd(m, a.v, _mm256_cmp_pd(a.v, a.v, _CMP_UNORD_Q))};
  }
  static V256 fma(V256 a, V256 b, V256 c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
  static V256 rounded(V256 a) {
    asm("" : "+x"(a.v));
    return a;
  }
};

#include "cpu/simd/optim_body.h"

}  // namespace

const Fns<float>* fns_f32_avx2() { return OptimTables<V256>::f32(); }
const Fns<double>* fns_f64_avx2() { return OptimTables<V256>::f64(); }

}  // namespace flambeau::cpu::optim
