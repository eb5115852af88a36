// Fused optimizer update loops with AVX-512 registers (16 floats / 8 doubles), called by
// csrc/cpu/optimizer.cpp when the CPU has AVX-512. The loops themselves are in optim_body.h; this
// file only supplies the vector wrapper. Same bits as the portable loops (see optim_body.h).
#include <immintrin.h>
#include <cstdint>
#include "cpu/simd/optim_simd.h"

namespace flambeau::cpu::optim {
namespace {

template <class T>
struct V512;

template <>
struct V512<float> {
  static constexpr int L = 16;
  __m512 v;
  static V512 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static V512 set1(float x) { return {_mm512_set1_ps(x)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  friend V512 operator+(V512 a, V512 b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend V512 operator-(V512 a, V512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend V512 operator*(V512 a, V512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend V512 operator/(V512 a, V512 b) { return {_mm512_div_ps(a.v, b.v)}; }
  V512 operator-() const {
    return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)))};
  }
  static V512 sqrt(V512 a) { return {_mm512_sqrt_ps(a.v)}; }
  static V512 max_nan(V512 a, V512 b) {
    __m512 m = _mm512_max_ps(a.v, b.v);  // b when either is NaN
    return {_mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q), a.v)};
  }
  static V512 fma(V512 a, V512 b, V512 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static V512 rounded(V512 a) {
    asm("" : "+v"(a.v));
    return a;
  }
};

template <>
struct V512<double> {
  static constexpr int L = 8;
  __m512d v;
  static V512 load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static V512 set1(double x) { return {_mm512_set1_pd(x)}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  friend V512 operator+(V512 a, V512 b) { return {_mm512_add_pd(a.v, b.v)}; }
  friend V512 operator-(V512 a, V512 b) { return {_mm512_sub_pd(a.v, b.v)}; }
  friend V512 operator*(V512 a, V512 b) { return {_mm512_mul_pd(a.v, b.v)}; }
  friend V512 operator/(V512 a, V512 b) { return {_mm512_div_pd(a.v, b.v)}; }
  V512 operator-() const {
    return {_mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), _mm512_set1_epi64(INT64_MIN)))};
  }
  static V512 sqrt(V512 a) { return {_mm512_sqrt_pd(a.v)}; }
  static V512 max_nan(V512 a, V512 b) {
    __m512d m = _mm512_max_pd(a.v, b.v);
    return {_mm512_mask_mov_pd(m, _mm512_cmp_pd_mask(a.v, a.v, _CMP_UNORD_Q), a.v)};
  }
  static V512 fma(V512 a, V512 b, V512 c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
  static V512 rounded(V512 a) {
    asm("" : "+v"(a.v));
    return a;
  }
};

#include "cpu/simd/optim_body.h"

}  // namespace

const Fns<float>* fns_f32_avx512() { return OptimTables<V512>::f32(); }
const Fns<double>* fns_f64_avx512() { return OptimTables<V512>::f64(); }

}  // namespace flambeau::cpu::optim
